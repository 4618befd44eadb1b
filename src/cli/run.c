/* Loading a model for the CLI: labels, class names, the forward pass. */
#include "cli.h"
#include "util/labels.h"
#include "util/fileio.h"
#include "ops/op.h"

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

static int load_labels(const cli_opts *o, cli_run *r)
{
    char *text = NULL;
    if (o->labels_file) {
        unsigned char *buf;
        size_t n;
        char err[600];
        int rc = cc_file_read(o->labels_file, (size_t)64 << 20, &buf, &n, err, sizeof err);
        if (rc) return cli_fail(rc == CC_E_NOMEM ? EXIT_INTERNAL : EXIT_INPUT, "labels file: %s", err);
        text = (char *)buf;   /* NUL-terminated by cc_file_read */
        if (memchr(text, 0, n)) { free(text); return cli_fail(EXIT_INPUT, "labels file '%s' is not a text file", o->labels_file); }
    } else {
        const char *meta = cc_model_metadata(r->m, "labels");
        if (!meta) return 0;
        text = strdup(meta);
        if (!text) return cli_fail(EXIT_INTERNAL, "out of memory");
    }
    r->n_labels = cc_labels_split(text, &r->labels);
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
    int first, count, c = cc_label_find(r->labels, r->n_labels, arg, &first, &count);
    if (c >= 0) { *idx = c; return 0; }
    if (c == -2) return cli_fail(EXIT_USAGE, "label '%s' is ambiguous: it matches %d classes (e.g. %d '%s'); give the index", arg, count, first, r->labels[first]);
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

int cli_env_limit(const char *name, uint64_t dflt, uint64_t *out)
{
    const char *v = getenv(name);
    *out = dflt;
    if (!v || !*v) return 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    uint64_t mul = 1;
    if (*end == 'k' || *end == 'K') mul = (uint64_t)1 << 10;
    else if (*end == 'M') mul = (uint64_t)1 << 20;
    else if (*end == 'G') mul = (uint64_t)1 << 30;
    if (mul > 1) end++;
    if (end == v || *end || errno || x == 0 || v[0] == '-' || x > UINT64_MAX / mul)
        return cli_fail(EXIT_USAGE, "environment variable %s='%s' is not a positive integer (optionally with k, M or G)", name, v);
    *out = (uint64_t)x * mul;
    return 0;
}

int cli_pick_layer(const cli_opts *o, const cli_run *r, int *layer)
{
    if (o->layer) {
        *layer = cc_model_find_tensor(r->m, o->layer);
        if (*layer < 0) return cli_fail(EXIT_USAGE, "unknown layer '%s' (list candidates with: contrastcam layers %s)", o->layer, o->model);
        if (!cc_is_spatial_layer(r->m, *layer)) {
            cc_tensor_info ti;
            cc_model_tensor_info(r->m, *layer, &ti);
            char shape[128] = "";
            size_t l = 0;
            for (int i = 0; i < ti.rank && l < sizeof shape - 24; i++) l += (size_t)snprintf(shape + l, sizeof shape - l, "%s%lld", i ? ", " : "", (long long)ti.dims[i]);
            return cli_fail(EXIT_USAGE, "layer '%s' has shape [%s], without spatial extent: a target layer must be a [1, C, h, w] activation (see contrastcam layers)", o->layer, shape);
        }
    } else if ((*layer = cc_default_layer(r->m)) < 0) {
        return cli_fail(EXIT_USAGE, "the model has no activation with spatial extent to explain");
    }
    return 0;
}

static int load(const cli_opts *o, cli_run *r, int *layer)
{
    memset(r, 0, sizeof *r);
    cc_limits lim;
    cc_limits_default(&lim);
    uint64_t nodes;
    int lrc = cli_env_limit("CONTRASTCAM_MAX_TENSOR_BYTES", lim.max_tensor_bytes, &lim.max_tensor_bytes);
    if (!lrc) lrc = cli_env_limit("CONTRASTCAM_MAX_TOTAL_BYTES", lim.max_total_bytes, &lim.max_total_bytes);
    if (!lrc) lrc = cli_env_limit("CONTRASTCAM_MAX_NODES", (uint64_t)lim.max_nodes, &nodes);
    if (lrc) return lrc;
    lim.max_nodes = nodes > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)nodes;
    cc_status st = cc_model_load_ex(o->model, &lim, &r->m);
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
    if (layer) {
        /* known before the forward pass: activations the backward pass does not
         * read share memory, and Conv -> Relu / Clip pairs run fused */
        if ((rc = cli_pick_layer(o, r, layer)) || (st = cc_session_keep(r->s, layer, 1))) {
            if (!rc) rc = cli_fail(cli_status_exit(st), "%s", cc_session_errmsg(r->s));
            cc_session_free(r->s);
            r->s = NULL;
            return rc;
        }
        /* contrasts (explain --contrast, figure): each forward also forms the
         * classifier's softmax pull-back, a pass over W the contrasts then skip */
        if ((st = cc_session_prepare_contrast(r->s, r->output)))
            return cli_fail(cli_status_exit(st), "%s", cc_session_errmsg(r->s));
    }
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

int cli_load(const cli_opts *o, cli_run *r) { return load(o, r, NULL); }

int cli_load_for(const cli_opts *o, cli_run *r, int *layer) { return load(o, r, layer); }

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
