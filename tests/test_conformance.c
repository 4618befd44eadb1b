/* ONNX backend conformance: runs the ONNX node tests listed in
 * tests/conformance.txt (Debian's libonnx-testdata, one test folder per line,
 * '#' comments) and compares every output with the backend tolerance
 * |got - want| <= 1e-7 + 1e-3 |want|, shapes included.
 *
 * How a test is loaded.  Shapes are static in this engine and integer tensors
 * are shape arithmetic, so they must be constants known at load.  Node tests,
 * however, often pass integer operands (Reshape's shape, Slice's starts, Pad's
 * pads, Pow's integer exponent, ...) as graph INPUTS whose values are in
 * test_data_set_K/input_N.pb, and the ONNX parser rejects non-float graph
 * inputs.  So the runner does not use cc_model_load; it goes through the
 * internal API instead:
 *   1. scan model.onnx for the graph inputs that are not initializers, in order,
 *      with their element types (input_N.pb belongs to the N-th of them);
 *   2. for every such input whose element type is not float32, decode
 *      input_N.pb and add it to a fresh cc_graph as a constant tensor of that
 *      name BEFORE cc_onnx_parse; the parser then treats the input as an
 *      initializer listed among the inputs (as old exporters do) and leaves it
 *      out of g->inputs, so it behaves exactly like a weight;
 *   3. cc_onnx_parse, then cc_graph_build (shape inference and constant folding
 *      now see the integer operands), inside a struct cc_model so the public
 *      session API runs it: cc_session_new, cc_session_set_input for the float
 *      inputs in order, cc_session_forward, cc_session_value per output.
 * Outputs that are integer tensors (Shape, ConstantOfShape) are load-time
 * constants here and are compared from the graph directly.
 *
 * Each test runs in a forked child, so a crashing kernel fails that test only
 * (CC_CONFORMANCE_NOFORK=1 runs in-process, for a debugger).
 *
 * Usage: test_conformance [TEST...]   (default: every test in the list)
 * Environment: CC_ONNX_TESTDATA (default /usr/share/libonnx-testdata/data),
 *              CC_CONFORMANCE_LIST (default tests/conformance.txt).
 * A list entry is a folder under data/node, or "category/test" for the other
 * categories (e.g. pytorch-converted/test_Conv2d).
 * Exit: 0 all listed tests pass, 77 test data absent, 1 otherwise. */
#include "graph/internal.h"
#include "onnx/pb.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RTOL 1e-3
#define ATOL 1e-7
#define MAX_GIN 64

static const char *data_root;

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 65536;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); return NULL; }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    fclose(f);
    *size = n;
    return buf;
}

/* ---- step 1: graph inputs (non-initializer) and their element types ---- */

typedef struct gin {
    char name[256];
    int elem;
} gin;

static void copy_name(char *dst, size_t cap, const pb_reader *r)
{
    size_t l = (size_t)(r->end - r->p);
    if (l >= cap) l = cap - 1;
    memcpy(dst, r->p, l);
    dst[l] = 0;
}

/* Returns the number of graph inputs that are not initializers, -1 if malformed. */
static int scan_inputs(const uint8_t *buf, size_t size, gin *out, int max)
{
    pb_reader r = { buf, buf + size }, graph = { 0, 0 };
    pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1)
        if (f.num == 7 && f.wt == PB_LEN) graph = f.sub;
    if (rc < 0 || !graph.p) return -1;
    int n = 0;
    pb_reader g = graph;
    while ((rc = pb_next(&g, &f)) == 1) {
        if (f.num != 11 || f.wt != PB_LEN) continue;
        pb_reader vi = f.sub;
        pb_field h;
        pb_reader name = { 0, 0 };
        int elem = 0;
        while (pb_next(&vi, &h) == 1) {
            if (h.num == 1 && h.wt == PB_LEN) name = h.sub;
            if (h.num == 2 && h.wt == PB_LEN) {          /* TypeProto */
                pb_reader tp = h.sub;
                pb_field k;
                while (pb_next(&tp, &k) == 1) {
                    if (k.num != 1 || k.wt != PB_LEN) continue;   /* tensor_type */
                    pb_reader tt = k.sub;
                    pb_field m;
                    while (pb_next(&tt, &m) == 1)
                        if (m.num == 1 && m.wt == PB_VARINT) elem = (int)m.v;
                }
            }
        }
        if (!name.p) return -1;
        /* initializer of the same name? then it is a weight, not a test input */
        int init = 0;
        pb_reader g2 = graph;
        pb_field h2;
        while (!init && pb_next(&g2, &h2) == 1) {
            if (h2.num != 5 || h2.wt != PB_LEN) continue;
            pb_reader tp = h2.sub;
            pb_field k;
            while (pb_next(&tp, &k) == 1)
                if (k.num == 8 && k.wt == PB_LEN && k.sub.end - k.sub.p == name.end - name.p &&
                    memcmp(k.sub.p, name.p, (size_t)(name.end - name.p)) == 0) init = 1;
        }
        if (init) continue;
        if (n >= max) return -1;
        copy_name(out[n].name, sizeof out[n].name, &name);
        out[n].elem = elem;
        n++;
    }
    return rc < 0 ? -1 : n;
}

/* ---- one test data set ---- */

typedef struct result {
    char msg[1024];
    double maxdiff;
    int n_out;
} result;

static int failf(result *res, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int failf(result *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->msg, sizeof res->msg, fmt, ap);
    va_end(ap);
    return 1;
}

static void fmt_dims(char *dst, size_t cap, const int64_t *dims, int nd)
{
    size_t len = 0;
    len += (size_t)snprintf(dst + len, cap - len, "[");
    for (int i = 0; i < nd && len < cap; i++) len += (size_t)snprintf(dst + len, cap - len, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (len < cap) snprintf(dst + len, cap - len, "]");
}

static void free_tensor(cc_tensor *t)
{
    free(t->data);
    free((char *)t->name);
    t->data = NULL;
    t->name = NULL;
}

/* Load <dir>/model.onnx with the integer inputs of <set> folded in, run, compare. */
static int run_set(const char *dir, const char *set, result *res)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    cc_model *m = calloc(1, sizeof *m);
    if (!m) return failf(res, "out of memory");
    cc_graph *g = &m->g;
    cc_session *s = NULL;
    int fail = 1, n_gin = 0;
    gin gins[MAX_GIN];
    cc_tensor inputs[MAX_GIN];
    memset(inputs, 0, sizeof inputs);
    size_t size = 0;
    uint8_t *buf = read_file(path, &size);
    if (!buf) { failf(res, "cannot read %s: %s", path, strerror(errno)); goto done; }
    if (!cc_graph_own(g, buf)) { failf(res, "out of memory"); goto done; }
    n_gin = scan_inputs(buf, size, gins, MAX_GIN);
    if (n_gin < 0) { n_gin = 0; failf(res, "cannot scan the graph inputs of %s", path); goto done; }

    cc_err e = { "" };
    for (int i = 0; i < n_gin; i++) {
        snprintf(path, sizeof path, "%s/%s/input_%d.pb", dir, set, i);
        int rc = cc_onnx_parse_tensor_file(path, &inputs[i], &e);
        if (rc) { failf(res, "test input %s: %s", path, e.msg); goto done; }
        if (gins[i].elem == 1) continue;
        /* step 2: a non-float input becomes a load-time constant */
        int idx = cc_graph_add_tensor(g, cc_graph_strdup(g, gins[i].name, strlen(gins[i].name)));
        if (idx < 0) { failf(res, "out of memory"); goto done; }
        cc_tensor *t = &g->tensors[idx];
        t->dtype = inputs[i].dtype;
        t->ndim = inputs[i].ndim;
        memcpy(t->dims, inputs[i].dims, sizeof t->dims);
        t->numel = inputs[i].numel;
        t->data = cc_graph_own(g, inputs[i].data);
        inputs[i].data = NULL;
        if (!t->data) { failf(res, "out of memory"); goto done; }
        t->is_const = 1;
        t->producer = -1;
    }
    /* step 3: parse and build */
    int rc = cc_onnx_parse(g, buf, size, dir, &e);
    if (!rc) rc = cc_graph_build(g, &e);
    if (rc) { failf(res, "load failed (%s): %s", cc_status_str((cc_status)rc), e.msg); goto done; }
    cc_status st = cc_session_new(m, &s);
    if (st) { failf(res, "cc_session_new: %s", cc_status_str(st)); goto done; }
    /* float inputs: g->inputs lists them in file order */
    for (int k = 0; k < g->n_inputs; k++) {
        int t = g->inputs[k], found = -1;
        for (int i = 0; i < n_gin && found < 0; i++)
            if (strcmp(gins[i].name, g->tensors[t].name) == 0) found = i;
        if (found < 0) { failf(res, "graph input '%s' has no test data", g->tensors[t].name); goto done; }
        const cc_tensor *d = &inputs[found];
        if (d->dtype != CC_DT_FLOAT) { failf(res, "input '%s': test data is not float", d->name); goto done; }
        st = cc_session_set_input(s, t, d->data, (size_t)d->numel);
        if (st) { failf(res, "set_input '%s': %s: %s", g->tensors[t].name, cc_status_str(st), cc_session_errmsg(s)); goto done; }
    }
    st = cc_session_forward(s);
    if (st) { failf(res, "forward: %s: %s", cc_status_str(st), cc_session_errmsg(s)); goto done; }

    res->n_out = g->n_outputs;
    for (int j = 0; j < g->n_outputs; j++) {
        int t = g->outputs[j];
        const cc_tensor *ot = &g->tensors[t];
        cc_tensor want;
        snprintf(path, sizeof path, "%s/%s/output_%d.pb", dir, set, j);
        if (cc_onnx_parse_tensor_file(path, &want, &e)) { failf(res, "expected output %s: %s", path, e.msg); goto done; }
        char sg[128], sw[128];
        fmt_dims(sg, sizeof sg, ot->dims, ot->ndim);
        fmt_dims(sw, sizeof sw, want.dims, want.ndim);
        if (ot->ndim != want.ndim || memcmp(ot->dims, want.dims, sizeof(int64_t) * (size_t)want.ndim)) {
            failf(res, "output %d '%s': shape %s, expected %s", j, ot->name, sg, sw);
            free_tensor(&want);
            goto done;
        }
        if (ot->dtype != want.dtype) {
            failf(res, "output %d '%s': %s tensor, expected %s", j, ot->name, ot->dtype == CC_DT_FLOAT ? "float" : "integer",
                  want.dtype == CC_DT_FLOAT ? "float" : "integer");
            free_tensor(&want);
            goto done;
        }
        if (want.dtype == CC_DT_FLOAT) {
            size_t n = 0;
            const float *got = cc_session_value(s, t, &n);
            if (!got || (int64_t)n != want.numel) {
                failf(res, "output %d '%s': no value (%zu values, expected %lld)", j, ot->name, n, (long long)want.numel);
                free_tensor(&want);
                goto done;
            }
            const float *w = want.data;
            int64_t bad = -1;
            for (int64_t i = 0; i < want.numel; i++) {
                double a = got[i], b = w[i], d = fabs(a - b);
                if (isnan(b) && isnan(a)) continue;   /* NaN expected and produced */
                if (!(d <= res->maxdiff)) res->maxdiff = isnan(d) ? INFINITY : d;
                if (!(d <= ATOL + RTOL * fabs(b)) && !(isinf(a) && a == b) && bad < 0) bad = i;
            }
            if (bad >= 0) {
                failf(res, "output %d '%s' %s: max diff %.3g, first mismatch at [%lld]: got %.9g, expected %.9g", j, ot->name, sw,
                      res->maxdiff, (long long)bad, (double)got[bad], (double)w[bad]);
                free_tensor(&want);
                goto done;
            }
        } else {
            if (!ot->is_const || (!ot->data && ot->numel)) {
                failf(res, "output %d '%s': integer output is not a load-time constant", j, ot->name);
                free_tensor(&want);
                goto done;
            }
            const int64_t *got = ot->data, *w = want.data;
            for (int64_t i = 0; i < want.numel; i++)
                if (got[i] != w[i]) {
                    failf(res, "output %d '%s' %s: integer mismatch at [%lld]: got %lld, expected %lld", j, ot->name, sw, (long long)i,
                          (long long)got[i], (long long)w[i]);
                    free_tensor(&want);
                    goto done;
                }
        }
        free_tensor(&want);
    }
    fail = 0;
done:
    for (int i = 0; i < n_gin; i++) free_tensor(&inputs[i]);
    cc_session_free(s);
    cc_model_free(m);
    return fail;
}

/* Runs every test_data_set_* of one test; prints its line.  0 = pass. */
static int run_test(const char *name)
{
    char dir[4096], set[64];
    if (strchr(name, '/')) snprintf(dir, sizeof dir, "%s/%s", data_root, name);
    else snprintf(dir, sizeof dir, "%s/node/%s", data_root, name);
    result res;
    memset(&res, 0, sizeof res);
    int n_sets = 0, fail = 0;
    for (int k = 0; !fail; k++) {
        char sd[4200];   /* dir (4096) + set (64) */
        snprintf(set, sizeof set, "test_data_set_%d", k);
        snprintf(sd, sizeof sd, "%s/%s", dir, set);
        if (!is_dir(sd)) break;
        n_sets++;
        fail = run_set(dir, set, &res);
    }
    if (!n_sets) {
        printf("FAIL %s: no test_data_set_0 in %s\n", name, dir);
        return 1;
    }
    if (fail) printf("FAIL %s (%s): %s\n", name, set, res.msg);
    else printf("PASS %s (%d output%s, %d data set%s, max diff %.3g)\n", name, res.n_out, res.n_out == 1 ? "" : "s", n_sets,
                n_sets == 1 ? "" : "s", res.maxdiff);
    return fail;
}

/* In a child process, so a crash fails only this test. */
static int run_isolated(const char *name)
{
    if (getenv("CC_CONFORMANCE_NOFORK")) return run_test(name);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return run_test(name);
    if (pid == 0) {
        int rc = run_test(name);
        fflush(stdout);
        _exit(rc ? 1 : 0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) { printf("FAIL %s: waitpid failed\n", name); return 1; }
    if (WIFSIGNALED(status)) {
        printf("FAIL %s: crashed (signal %d)\n", name, WTERMSIG(status));
        return 1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) > 1) {
        printf("FAIL %s: child exited with status %d\n", name, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return 1;
    }
    return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
    data_root = getenv("CC_ONNX_TESTDATA");
    if (!data_root || !*data_root) data_root = "/usr/share/libonnx-testdata/data";
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/node", data_root);
    if (!is_dir(probe)) {
        printf("skipped: ONNX node test data not found at %s (install libonnx-testdata)\n", probe);
        return 77;
    }
    int total = 0, passed = 0, failed = 0, missing = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            total++;
            if (run_isolated(argv[i])) failed++; else passed++;
        }
    } else {
        const char *list = getenv("CC_CONFORMANCE_LIST");
        if (!list || !*list) list = "tests/conformance.txt";
        FILE *f = fopen(list, "r");
        if (!f) {
            printf("cannot open the test list %s: %s\n", list, strerror(errno));
            return 1;
        }
        char line[1024];
        while (fgets(line, sizeof line, f)) {
            char *h = strchr(line, '#');
            if (h) *h = 0;
            char *p = line, *q;
            while (*p == ' ' || *p == '\t') p++;
            q = p + strlen(p);
            while (q > p && (q[-1] == '\n' || q[-1] == '\r' || q[-1] == ' ' || q[-1] == '\t')) *--q = 0;
            if (!*p) continue;
            char dir[4096];
            if (strchr(p, '/')) snprintf(dir, sizeof dir, "%s/%s", data_root, p);
            else snprintf(dir, sizeof dir, "%s/node/%s", data_root, p);
            if (!is_dir(dir)) {
                printf("MISSING %s (not in this version of the test data)\n", p);
                missing++;
                continue;
            }
            total++;
            if (run_isolated(p)) failed++; else passed++;
        }
        fclose(f);
    }
    if (total == 0) {
        printf("no conformance tests were run (empty list%s)\n", missing ? ", or every listed test is missing" : "");
        return 1;
    }
    if (missing) printf("%d listed tests are missing from the test data\n", missing);
    printf("%d ONNX backend tests: %d passed, %d failed\n", total, passed, failed);
    return failed ? 1 : 0;
}
