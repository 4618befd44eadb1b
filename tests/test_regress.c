/* Replays every input kept under tests/regress/<harness>/ (inputs the fuzzers
 * found, see tests/regress/README.md) through the same code the libFuzzer
 * harnesses run (fuzz/targets.c).  A regression shows as a crash, a sanitizer
 * report (in the SAN build) or an abort() with "fuzz contract violated". */
#include "../fuzz/targets.c"
#include "check.h"

#include <dirent.h>
#include <string.h>

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0;
    *n = 0;
    for (;;) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 65536;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); return NULL; }
            buf = nb;
        }
        size_t got = fread(buf + *n, 1, cap - *n, f);
        *n += got;
        if (!got) break;
    }
    fclose(f);
    return buf;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(void)
{
    static const struct { const char *dir; void (*fn)(const uint8_t *, size_t); } targets[] = {
        { "onnx", fuzz_onnx }, { "image", fuzz_image }, { "npy", fuzz_npy }, { "labels", fuzz_labels },
    };
    const char *root = getenv("CC_REGRESS") ? getenv("CC_REGRESS") : "tests/regress";
    int total = 0;
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", root, targets[t].dir);
        DIR *d = opendir(dir);
        if (!d) continue;   /* git keeps no empty folders */
        char *names[4096];
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d)) && n < 4096)
            if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
        closedir(d);
        qsort(names, (size_t)n, sizeof names[0], cmp_str);
        for (int i = 0; i < n; i++) {
            char path[2048];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            size_t len;
            unsigned char *buf = slurp(path, &len);
            CHECK(buf != NULL, "cannot read %s", path);
            if (buf) {
                printf("replay %s (%zu bytes)\n", path, len);
                fflush(stdout);
                targets[t].fn(buf, len);
                total++;
            }
            free(buf);
            free(names[i]);
        }
    }
    CHECK(total > 0, "no regression inputs found under %s", root);
    printf("%d regression inputs replayed\n", total);
    return check_exit();
}
