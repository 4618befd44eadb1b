/* Labels and small metadata text fields; see labels.h. */
#include "util/labels.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void cc_labels_free(char **labels, int n)
{
    for (int i = 0; i < n; i++) free(labels[i]);
    free(labels);
}

int cc_labels_split(const char *text, char ***out)
{
    int n = 0, cap = 0;
    char **v = NULL;
    const char *p = text;
    *out = NULL;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len && p[len - 1] == '\r') len--;
        if (n == cap) {
            if (cap >= CC_LABELS_MAX) goto fail;
            cap = cap ? cap * 2 : 64;
            char **nv = realloc(v, sizeof *nv * (size_t)cap);
            if (!nv) goto fail;
            v = nv;
        }
        v[n] = malloc(len + 1);
        if (!v[n]) goto fail;
        memcpy(v[n], p, len);
        v[n][len] = 0;
        n++;
        if (!e) break;
        p = e + 1;
    }
    *out = v;
    return n;
fail:
    cc_labels_free(v, n);
    return -1;
}

int cc_label_matches(const char *label, const char *name, int loose)
{
    if (!loose) return strcmp(label, name) == 0;
    if (!strcasecmp(label, name)) return 1;
    size_t nl = strlen(name);
    const char *p = label;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '(') p++;
        const char *e = p;
        while (*e && *e != ',' && *e != '(' && *e != ')') e++;
        const char *t = e;
        while (t > p && t[-1] == ' ') t--;
        if ((size_t)(t - p) == nl && !strncasecmp(p, name, nl)) return 1;
        p = *e ? e + 1 : e;
    }
    return 0;
}

int cc_label_find(char *const *labels, int n, const char *name, int *first, int *count)
{
    *first = -1;
    *count = 0;
    for (int loose = 0; loose < 2; loose++) {
        int found = -1, c = 0;
        for (int i = 0; i < n; i++)
            if (cc_label_matches(labels[i], name, loose)) { if (found < 0) found = i; c++; }
        *first = found;
        *count = c;
        if (c == 1 || (c > 1 && !loose)) return found;
        if (c > 1) return -2;
    }
    return -1;
}

int cc_parse_floats(const char *s, float *v, int max)
{
    int n = 0;
    while (s && *s) {
        char *end;
        errno = 0;
        float x = strtof(s, &end);
        if (end == s || errno || n >= max || !isfinite(x)) return -1;
        v[n++] = x;
        s = end;
        if (*s == ',') s++;
        else if (*s) return -1;
    }
    return n;
}
