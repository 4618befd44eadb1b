/* Option parsing shared by the commands. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int floats(const char *s, float *v, int max)
{
    int n = 0;
    while (*s) {
        char *end;
        errno = 0;
        float x = strtof(s, &end);
        if (end == s || errno || n >= max) return -1;
        v[n++] = x;
        s = end;
        if (*s == ',') s++;
        else if (*s) return -1;
    }
    return n;
}

/* argv[*i] is "--name=value" or "--name" followed by its value (a name in the
 * NULL-terminated list `valued`): the name goes to name, the value to *v, and *i
 * past what was used.  Returns -1 to go on, else an exit code (unknown option,
 * missing value); an unknown "--name=value" is left to the caller. */
int cli_option(int argc, char **argv, int *i, const char *const *valued, char *name, size_t name_len, const char **v)
{
    const char *a = argv[*i], *eq = strchr(a, '=');
    if (eq && (size_t)(eq - a) < name_len) {
        memcpy(name, a, (size_t)(eq - a));
        name[eq - a] = 0;
        *v = eq + 1;
        return -1;
    }
    snprintf(name, name_len, "%s", a);
    int known = 0;
    for (size_t k = 0; valued[k]; k++) known |= !strcmp(name, valued[k]);
    if (!known) return cli_fail(EXIT_USAGE, "unknown option %s (see --help)", name);
    if (*i + 1 >= argc) return cli_fail(EXIT_USAGE, "option %s needs a value (see --help)", a);
    *v = argv[++*i];
    return -1;
}

/* Returns -1 to continue, else an exit code (0 after --help). */
int cli_parse(int argc, char **argv, cli_opts *o, const char *usage, int want_image)
{
    memset(o, 0, sizeof *o);
    o->top = 5;
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(usage, stdout); return EXIT_OK; }
        if (!strcmp(a, "--json")) { o->json = 1; continue; }
        if (!strcmp(a, "--gray")) { o->gray = 1; continue; }
        if (!strcmp(a, "--save-all")) { o->save_all = 1; continue; }
        if (a[0] == '-' && a[1] == '-') {
            const char *v = NULL;
            char name[64];
            static const char *const valued[] = { "--layer", "--class", "--contrast", "--out", "--labels", "--input-npy",
                                                  "--top", "--target-value", "--size", "--mean", "--std", NULL };
            int rc = cli_option(argc, argv, &i, valued, name, sizeof name, &v);
            if (rc >= 0) return rc;
            if (!strcmp(name, "--layer")) o->layer = v;
            else if (!strcmp(name, "--class")) o->class_arg = v;
            else if (!strcmp(name, "--contrast")) o->contrast_arg = v;
            else if (!strcmp(name, "--out")) o->out_dir = v;
            else if (!strcmp(name, "--labels")) o->labels_file = v;
            else if (!strcmp(name, "--input-npy")) {
                if (o->n_npy >= 8) return cli_fail(EXIT_USAGE, "at most 8 --input-npy options");
                o->npy[o->n_npy++] = v;
            } else if (!strcmp(name, "--top")) {
                char *end;
                long k = strtol(v, &end, 10);
                if (*end || k < 1 || k > 100000) return cli_fail(EXIT_USAGE, "--top needs a positive integer, got '%s'", v);
                o->top = (int)k;
            } else if (!strcmp(name, "--target-value")) {
                char *end;
                o->target_value = strtof(v, &end);
                if (*end || end == v || o->target_value != o->target_value) return cli_fail(EXIT_USAGE, "--target-value needs a number, got '%s'", v);
                o->have_target = 1;
            } else if (!strcmp(name, "--size")) {
                if (sscanf(v, "%dx%d", &o->size_w, &o->size_h) != 2 || o->size_w < 1 || o->size_h < 1 || o->size_w > 16384 || o->size_h > 16384)
                    return cli_fail(EXIT_USAGE, "--size needs WxH, e.g. 224x224, got '%s'", v);
            } else if (!strcmp(name, "--mean")) {
                if ((o->n_mean = floats(v, o->mean, 4)) < 1) return cli_fail(EXIT_USAGE, "--mean needs 1 or 3 comma-separated numbers, got '%s'", v);
            } else if (!strcmp(name, "--std")) {
                if ((o->n_std = floats(v, o->std, 4)) < 1) return cli_fail(EXIT_USAGE, "--std needs 1 or 3 comma-separated numbers, got '%s'", v);
            } else return cli_fail(EXIT_USAGE, "unknown option %s (see --help)", name);
            continue;
        }
        if (npos == 0) o->model = a;
        else if (npos == 1 && want_image) o->image = a;
        else return cli_fail(EXIT_USAGE, "unexpected argument '%s' (see --help)", a);
        npos++;
    }
    if (!o->model) return cli_fail(EXIT_USAGE, "no MODEL given (see --help)");
    if (want_image && !o->image && !o->n_npy) return cli_fail(EXIT_USAGE, "no input: give an IMAGE or --input-npy FILE (see --help)");
    if (o->image && o->n_npy) return cli_fail(EXIT_USAGE, "give either an IMAGE or --input-npy, not both");
    return -1;
}
