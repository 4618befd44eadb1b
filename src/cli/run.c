/* Loading a model for the CLI: labels, class names, the forward pass. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

/* Split text into lines (labels); trailing empty line dropped. */
static int split_labels(const char *text, char ***out)
{
    int n = 0, cap = 0;
    char **v = NULL;
    const char *p = text;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len && p[len - 1] == '\r') len--;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = realloc(v, sizeof *nv * (size_t)cap);
            if (!nv) goto oom;
            v = nv;
        }
        v[n] = malloc(len + 1);
        if (!v[n]) goto oom;
        memcpy(v[n], p, len);
        v[n][len] = 0;
        n++;
        if (!e) break;
        p = e + 1;
    }
    *out = v;
    return n;
oom:
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
    return -1;
}

static int load_labels(const cli_opts *o, cli_run *r)
{
    char *text = NULL;
    if (o->labels_file) {
        FILE *f = fopen(o->labels_file, "rb");
        if (!f) return cli_fail(EXIT_INPUT, "cannot open labels file '%s': %s", o->labels_file, strerror(errno));
        size_t cap = 1 << 16, n = 0, got;
        text = malloc(cap + 1);
        while (text && (got = fread(text + n, 1, cap - n, f)) > 0) {
            n += got;
            if (n == cap) {
                if (cap > (64u << 20)) { free(text); fclose(f); return cli_fail(EXIT_INPUT, "labels file '%s' is too large", o->labels_file); }
                char *nt = realloc(text, 2 * cap + 1);
                if (!nt) { free(text); text = NULL; break; }
                text = nt;
                cap *= 2;
            }
        }
        fclose(f);
        if (!text) return cli_fail(EXIT_INTERNAL, "out of memory");
        text[n] = 0;
        if (memchr(text, 0, n)) { free(text); return cli_fail(EXIT_INPUT, "labels file '%s' is not a text file", o->labels_file); }
    } else {
        const char *meta = cc_model_metadata(r->m, "labels");
        if (!meta) return 0;
        text = strdup(meta);
        if (!text) return cli_fail(EXIT_INTERNAL, "out of memory");
    }
    r->n_labels = split_labels(text, &r->labels);
    free(text);
    if (r->n_labels < 0) { r->n_labels = 0; return cli_fail(EXIT_INTERNAL, "out of memory"); }
    if (r->n_labels != r->n_classes) {
        int n = r->n_labels;
        for (int i = 0; i < n; i++) free(r->labels[i]);
        free(r->labels);
        r->labels = NULL;
        r->n_labels = 0;
        if (o->labels_file)
            return cli_fail(EXIT_USAGE, "labels file '%s' has %d labels, the model has %d classes", o->labels_file, n, r->n_classes);
    }
    return 0;
}

const char *cli_label(const cli_run *r, int c)
{
    return r->labels && c >= 0 && c < r->n_labels ? r->labels[c] : NULL;
}

/* Does `name` match a label: exactly, case-insensitively, or one of its
 * comma-separated synonyms / its parenthesised common name? */
static int label_matches(const char *label, const char *name, int loose)
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

int cli_class_index(const cli_run *r, const char *arg, int *idx)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (*arg && !*end && !errno) {
        if (v < 0 || v >= r->n_classes)
            return cli_fail(EXIT_USAGE, "class index %ld is out of range: the model has %d classes (0..%d)", v, r->n_classes, r->n_classes - 1);
        *idx = (int)v;
        return 0;
    }
    if (!r->labels) return cli_fail(EXIT_USAGE, "'%s' is not a class index, and the model has no labels (give --labels FILE)", arg);
    for (int loose = 0; loose < 2; loose++) {
        int found = -1, count = 0;
        for (int c = 0; c < r->n_labels; c++)
            if (label_matches(r->labels[c], arg, loose)) { if (found < 0) found = c; count++; }
        if (count == 1 || (count > 1 && !loose)) { *idx = found; return 0; }
        if (count > 1) return cli_fail(EXIT_USAGE, "label '%s' is ambiguous: it matches %d classes (e.g. %d '%s'); give the index", arg, count, found, r->labels[found]);
    }
    return cli_fail(EXIT_USAGE, "unknown label '%s' (labels are matched exactly, case-insensitively, or by a comma-separated synonym)", arg);
}

void cli_top(const cli_run *r, int *idx, int k)
{
    for (int i = 0; i < k; i++) idx[i] = -1;
    for (int c = 0; c < r->n_classes; c++) {
        float v = r->logits[c];
        int pos = k;
        while (pos > 0 && (idx[pos - 1] < 0 || v > r->logits[idx[pos - 1]])) pos--;
        if (pos >= k) continue;
        memmove(idx + pos + 1, idx + pos, sizeof(int) * (size_t)(k - pos - 1));
        idx[pos] = c;
    }
}

int cli_load(const cli_opts *o, cli_run *r)
{
    memset(r, 0, sizeof *r);
    cc_status st = cc_model_load(o->model, &r->m);
    if (st) return cli_fail(cli_status_exit(st) == EXIT_USAGE ? EXIT_INPUT : cli_status_exit(st), "%s", cc_model_errmsg(r->m));
    r->output = cc_model_output(r->m, 0);
    cc_tensor_info ti;
    cc_model_tensor_info(r->m, r->output, &ti);
    int64_t n = 1;
    for (int i = 0; i < ti.rank; i++) n *= ti.dims[i];
    if (n < 1 || n > (1 << 24)) return cli_fail(EXIT_INPUT, "model output '%s' has an unusable size", ti.name);
    r->n_classes = (int)n;
    int rc = load_labels(o, r);
    if (rc) return rc;
    if ((st = cc_session_new(r->m, &r->s))) return cli_fail(EXIT_INTERNAL, "cannot create a session: %s", cc_status_str(st));
    if ((rc = cli_prepare_input(o, r))) return rc;
    if ((st = cc_session_forward(r->s))) return cli_fail(cli_status_exit(st), "%s", cc_session_errmsg(r->s));
    r->logits = cc_session_value(r->s, r->output, NULL);
    r->prob = malloc(sizeof(float) * (size_t)r->n_classes);
    if (!r->prob) return cli_fail(EXIT_INTERNAL, "out of memory");
    for (int c = 0; c < r->n_classes; c++)
        if (!isfinite(r->logits[c])) return cli_fail(EXIT_INPUT, "the model produced a non-finite output (NaN or Inf in the input?)");
    cc_softmax(r->logits, r->n_classes, r->prob);
    return 0;
}

void cli_run_free(cli_run *r)
{
    for (int i = 0; i < r->n_labels; i++) free(r->labels[i]);
    free(r->labels);
    free(r->prob);
    free(r->rgb);
    cc_session_free(r->s);
    cc_model_free(r->m);
    memset(r, 0, sizeof *r);
}
