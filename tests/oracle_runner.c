/* Generic oracle runner: checks the engine against PyTorch-made fixtures.
 *
 *   oracle_runner ROOT [FILTER]
 *
 * ROOT holds one folder per case with model.onnx and case.txt (format in
 * tests/gen_op_cases.py): `input`, `output`, `grad` and `fd` lines.  For every
 * case: load, set the inputs, forward, compare the outputs, then one batched
 * backward per (from, seed) pair over all its targets and compare every
 * gradient.  Independently of PyTorch, gradients to graph inputs are also
 * checked by central finite differences of sum(seed_k * from) (double
 * accumulation) at a few elements, unless the case says `fd 0`.
 *
 * Used by tests/test_op_oracle.sh and tests/test_models.sh; named without the
 * test_ prefix because it needs a fixture root (tests/run.sh runs test_* bare).
 * Prints one line per case; exits 1 if any case fails or none was found.
 * FILTER (or $CC_ORACLE_FILTER) keeps only cases whose name contains it.
 * CC_ORACLE_KEEP=1 runs every case in the memory-saving mode instead
 * (cc_session_keep of the tensors the case reads: shared buffers, fused
 * Conv -> [Add ->] Relu / Clip), and checks that its outputs have the same
 * bits as a plain session's.
 */
#include "contrastcam.h"
#include "graph/internal.h"   /* c16: the tensors the memory-saving mode stores channel-blocked */
#include "train/train.h"
#include "util/fileio.h"
#include "util/npy.h"
#include "check.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAXL 64
#define NAMEL 512

typedef struct { char tensor[NAMEL], file[NAMEL]; double rtol; } io_line;
typedef struct { char from[NAMEL], seed[NAMEL], target[NAMEL], exp[NAMEL]; double rtol; } grad_line;

typedef struct {
    io_line in[MAXL], out[MAXL];
    grad_line gr[MAXL];
    int n_in, n_out, n_gr;
    double fd_eps;
} manifest;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int parse_manifest(const char *path, manifest *m, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) { snprintf(err, errlen, "cannot open %s", path); return -1; }
    memset(m, 0, sizeof *m);
    m->fd_eps = 1e-2;
    char line[4 * NAMEL], kw[32];
    int ln = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        if (sscanf(line, "%31s", kw) != 1 || kw[0] == '#') continue;
        int ok = 0;
        if (!strcmp(kw, "input") && m->n_in < MAXL) {
            io_line *l = &m->in[m->n_in];
            ok = sscanf(line, "%*s %511s %511s", l->tensor, l->file) == 2;
            m->n_in += ok;
        } else if (!strcmp(kw, "output") && m->n_out < MAXL) {
            io_line *l = &m->out[m->n_out];
            ok = sscanf(line, "%*s %511s %511s %lf", l->tensor, l->file, &l->rtol) == 3;
            m->n_out += ok;
        } else if (!strcmp(kw, "grad") && m->n_gr < MAXL) {
            grad_line *l = &m->gr[m->n_gr];
            ok = sscanf(line, "%*s %511s %511s %511s %511s %lf", l->from, l->seed, l->target, l->exp, &l->rtol) == 5;
            m->n_gr += ok;
        } else if (!strcmp(kw, "fd")) {
            ok = sscanf(line, "%*s %lf", &m->fd_eps) == 1;
        }
        if (!ok) { snprintf(err, errlen, "%s:%d: bad line", path, ln); fclose(f); return -1; }
    }
    fclose(f);
    return 0;
}

static int load_npy(const char *dir, const char *file, cc_npy *a, char *err, size_t errlen)
{
    char path[2 * NAMEL + 8], e[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (cc_npy_load(path, a, e, sizeof e) != 0) { snprintf(err, errlen, "npy %s: %s", file, e); return -1; }
    return 0;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s) { h ^= (unsigned char)*s++; h *= 1099511628211ull; }
    return h;
}

/* Per-case state. */
typedef struct {
    const char *dir, *name;
    manifest m;
    cc_model *model;
    cc_session *sess;
    cc_npy inputs[MAXL];
    int input_idx[MAXL];
    char err[4096];
    double worst_fwd, worst_grad, worst_fd;   /* error / tolerance, < 1 passes */
    int n_fd;
    int n_c16;                                /* tensors stored channel-blocked (keep mode) */
} ctx;

#define FAILF(c, ...) do { snprintf((c)->err, sizeof (c)->err, __VA_ARGS__); return -1; } while (0)

static int do_forward(ctx *c)
{
    cc_status st = cc_session_forward(c->sess);
    if (st != CC_OK) FAILF(c, "forward: %s: %s", cc_status_str(st), cc_session_errmsg(c->sess));
    return 0;
}

/* The model loaded from a copy in memory, so that every weight can be handed
 * out for writing (cc_train_weight refuses those read from a file mapping). */
static cc_status load_copied(const char *path, const char *dir, cc_model **m)
{
    unsigned char *buf = NULL;
    size_t n = 0;
    char err[256];
    if (cc_file_read(path, (size_t)1 << 30, &buf, &n, err, sizeof err)) return cc_model_load(path, m);   /* its error message */
    cc_status st = cc_model_load_buffer(buf, n, dir, m);
    free(buf);
    return st;
}

/* The memory-saving mode must not change a single bit: the outputs of a plain
 * session (one buffer per activation, nothing fused) on the same inputs. */
static int same_bits_as_plain(ctx *c)
{
    cc_session *plain = NULL;
    cc_status st = cc_session_new(c->model, &plain);
    for (int i = 0; i < c->m.n_in && st == CC_OK; i++)
        st = cc_session_set_input(plain, c->input_idx[i], c->inputs[i].data, (size_t)c->inputs[i].numel);
    if (st == CC_OK) st = cc_session_forward(plain);
    if (st != CC_OK) {
        snprintf(c->err, sizeof c->err, "plain session: %s: %s", cc_status_str(st), plain ? cc_session_errmsg(plain) : "");
        cc_session_free(plain);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < c->m.n_out && !rc; i++) {
        int t = cc_model_find_tensor(c->model, c->m.out[i].tensor);
        size_t n = 0, np = 0;
        const float *v = cc_session_value(c->sess, t, &n), *w = cc_session_value(plain, t, &np);
        if (!v || !w || n != np) { snprintf(c->err, sizeof c->err, "output %s: no value", c->m.out[i].tensor); rc = -1; break; }
        for (size_t j = 0; j < n; j++)
            if (memcmp(&v[j], &w[j], sizeof v[j])) {
                snprintf(c->err, sizeof c->err, "output %s[%zu]: %.9g with shared buffers and fusion, %.9g without",
                         c->m.out[i].tensor, j, v[j], w[j]);
                rc = -1;
                break;
            }
    }
    cc_session_free(plain);
    return rc;
}

static int input_slot(ctx *c, int tensor)
{
    for (int i = 0; i < c->m.n_in; i++)
        if (c->input_idx[i] == tensor) return i;
    return -1;
}

/* sum_j seed[k][j] * value(from)[j] for each k, in double. */
static int seeded_sums(ctx *c, int from, const float *seed, int K, double *out)
{
    size_t n = 0;
    const float *v = cc_session_value(c->sess, from, &n);
    if (!v) FAILF(c, "fd: no value for tensor %d", from);
    for (int k = 0; k < K; k++) {
        double s = 0;
        for (size_t j = 0; j < n; j++) s += (double)seed[(size_t)k * n + j] * (double)v[j];
        out[k] = s;
    }
    return 0;
}

/* Finite-difference check of the gradient g (K x numel of input slot) at a few elements. */
static int fd_check(ctx *c, int from, const float *seed, int K, int slot, const float *g, const char *tname)
{
    cc_npy *x = &c->inputs[slot];
    size_t n = (size_t)x->numel;
    if (n == 0) return 0;
    size_t pick[4];
    int np = 0;
    /* element with the largest |g| (over all rows), then pseudo-random ones */
    size_t best = 0;
    double bv = -1;
    for (size_t i = 0; i < (size_t)K * n; i++)
        if (fabs(g[i]) > bv) { bv = fabs(g[i]); best = i % n; }
    pick[np++] = best;
    uint64_t h = hash_str(c->name) ^ hash_str(tname);
    for (int r = 0; r < 2 && (size_t)np < n; r++) {
        h = h * 6364136223846793005ull + 1442695040888963407ull;
        pick[np++] = (size_t)((h >> 33) % n);
    }
    double *gmax = calloc((size_t)K, sizeof *gmax), fp[64], fm[64];
    if (K > 64) { free(gmax); FAILF(c, "fd: K too large"); }
    for (int k = 0; k < K; k++)
        for (size_t i = 0; i < n; i++) if (fabs(g[(size_t)k * n + i]) > gmax[k]) gmax[k] = fabs(g[(size_t)k * n + i]);
    int rc = 0;
    const double rtol = 2e-2;
    for (int p = 0; p < np && rc == 0; p++) {
        size_t i = pick[p];
        float orig = x->data[i];
        float xp = orig + (float)c->m.fd_eps, xm = orig - (float)c->m.fd_eps;
        double hstep = (double)xp - (double)xm;
        x->data[i] = xp;
        if (cc_session_set_input(c->sess, c->input_idx[slot], x->data, n) != CC_OK || do_forward(c) ||
            seeded_sums(c, from, seed, K, fp)) rc = -1;
        x->data[i] = xm;
        if (!rc && (cc_session_set_input(c->sess, c->input_idx[slot], x->data, n) != CC_OK || do_forward(c) ||
                    seeded_sums(c, from, seed, K, fm))) rc = -1;
        x->data[i] = orig;
        cc_session_set_input(c->sess, c->input_idx[slot], x->data, n);
        if (rc) { if (!c->err[0]) snprintf(c->err, sizeof c->err, "fd: set_input/forward failed: %s", cc_session_errmsg(c->sess)); break; }
        for (int k = 0; k < K; k++) {
            double fd = (fp[k] - fm[k]) / hstep, an = g[(size_t)k * n + i];
            double tol = rtol * (fabs(an) + 0.1 * gmax[k]) + 1e-5;
            double r = fabs(fd - an) / tol;
            if (!(r <= c->worst_fd)) c->worst_fd = isnan(r) ? INFINITY : r;
            c->n_fd++;
            if (!(fabs(fd - an) <= tol)) {
                snprintf(c->err, sizeof c->err, "fd mismatch d(seed_%d . %s)/d%s[%zu]: engine %.6g, finite difference %.6g (eps %g)",
                         k, "from", tname, i, an, fd, c->m.fd_eps);
                rc = -1;
                break;
            }
        }
    }
    free(gmax);
    return rc;
}

static int run_case(ctx *c)
{
    char path[2 * NAMEL + 16];
    snprintf(path, sizeof path, "%s/case.txt", c->dir);
    if (parse_manifest(path, &c->m, c->err, sizeof c->err)) return -1;
    snprintf(path, sizeof path, "%s/model.onnx", c->dir);
    const int live = getenv("CC_ORACLE_LIVE") && atoi(getenv("CC_ORACLE_LIVE"));
    cc_status st = live ? load_copied(path, c->dir, &c->model) : cc_model_load(path, &c->model);
    if (st != CC_OK) FAILF(c, "load: %s: %s", cc_status_str(st), c->model ? cc_model_errmsg(c->model) : "");
    st = cc_session_new(c->model, &c->sess);
    if (st != CC_OK) FAILF(c, "session: %s", cc_status_str(st));

    for (int i = 0; i < c->m.n_in; i++) {
        io_line *l = &c->m.in[i];
        int t = cc_model_find_tensor(c->model, l->tensor);
        if (t < 0) FAILF(c, "no input tensor %s", l->tensor);
        if (load_npy(c->dir, l->file, &c->inputs[i], c->err, sizeof c->err)) return -1;
        c->input_idx[i] = t;
        st = cc_session_set_input(c->sess, t, c->inputs[i].data, (size_t)c->inputs[i].numel);
        if (st != CC_OK) FAILF(c, "set_input %s: %s: %s", l->tensor, cc_status_str(st), cc_session_errmsg(c->sess));
    }
    const int keep_mode = getenv("CC_ORACLE_KEEP") && atoi(getenv("CC_ORACLE_KEEP"));
    if (keep_mode) {
        /* the memory-saving mode (shared buffers, Conv -> Relu / Clip fused):
         * keep every tensor a line reads, the rest may share or vanish */
        int keep[4 * MAXL], nk = 0;
        for (int i = 0; i < c->m.n_out; i++) keep[nk++] = cc_model_find_tensor(c->model, c->m.out[i].tensor);
        for (int i = 0; i < c->m.n_gr; i++) {
            keep[nk++] = cc_model_find_tensor(c->model, c->m.gr[i].from);
            keep[nk++] = cc_model_find_tensor(c->model, c->m.gr[i].target);
        }
        int nv = 0;
        for (int i = 0; i < nk; i++) if (keep[i] >= 0) keep[nv++] = keep[i];
        st = cc_session_keep(c->sess, keep, nv);
        if (st != CC_OK) FAILF(c, "keep: %s: %s", cc_status_str(st), cc_session_errmsg(c->sess));
        for (int t = 0; c->sess->c16 && t < cc_model_num_tensors(c->model); t++) c->n_c16 += c->sess->c16[t];
        /* CC_ORACLE_LIVE=1: every weight then handed out for writing, as training
         * does, so the convolutions leave the kernels the plan was made for (a
         * residual planned in place must still be read before it is overwritten) */
        if (live)
            for (int t = 0; t < cc_model_num_tensors(c->model); t++) (void)cc_train_weight(c->model, t, NULL);
    }
    if (do_forward(c)) return -1;
    if (keep_mode && same_bits_as_plain(c)) return -1;

    for (int i = 0; i < c->m.n_out; i++) {
        io_line *l = &c->m.out[i];
        int t = cc_model_find_tensor(c->model, l->tensor);
        if (t < 0) FAILF(c, "no output tensor %s", l->tensor);
        cc_npy ref;
        if (load_npy(c->dir, l->file, &ref, c->err, sizeof c->err)) return -1;
        size_t n = 0;
        const float *v = cc_session_value(c->sess, t, &n);
        if (!v || n != (size_t)ref.numel) { cc_npy_free(&ref); FAILF(c, "output %s: %zu values, expected %lld", l->tensor, v ? n : 0, (long long)ref.numel); }
        double d = check_maxdiff(v, ref.data, n), mx = check_maxabs(ref.data, n);
        double tol = l->rtol * (mx > 1 ? mx : 1);
        double r = d / tol;
        if (!(r <= c->worst_fwd)) c->worst_fwd = isnan(r) ? INFINITY : r;
        if (!(d <= tol)) {
            size_t at = 0;
            double w = -1;
            for (size_t j = 0; j < n; j++) { double e = fabs((double)v[j] - ref.data[j]); if (!(e <= w)) { w = isnan(e) ? INFINITY : e; at = j; } }
            snprintf(c->err, sizeof c->err, "output %s: max|diff| %.3g > tol %.3g (at %zu: got %.7g want %.7g; max|ref| %.3g)",
                     l->tensor, d, tol, at, v[at], ref.data[at], mx);
            cc_npy_free(&ref);
            return -1;
        }
        cc_npy_free(&ref);
    }

    /* Group the grad lines by (from, seed): one batched backward per group. */
    int done[MAXL] = {0};
    for (int gi = 0; gi < c->m.n_gr; gi++) {
        if (done[gi]) continue;
        grad_line *g0 = &c->m.gr[gi];
        int members[MAXL], nm = 0, targets[MAXL];
        for (int gj = gi; gj < c->m.n_gr; gj++)
            if (!done[gj] && !strcmp(c->m.gr[gj].from, g0->from) && !strcmp(c->m.gr[gj].seed, g0->seed)) {
                done[gj] = 1;
                members[nm] = gj;
                targets[nm] = cc_model_find_tensor(c->model, c->m.gr[gj].target);
                if (targets[nm] < 0) FAILF(c, "no grad target tensor %s", c->m.gr[gj].target);
                nm++;
            }
        int from = cc_model_find_tensor(c->model, g0->from);
        if (from < 0) FAILF(c, "no tensor %s", g0->from);
        size_t nfrom = 0;
        if (!cc_session_value(c->sess, from, &nfrom) || nfrom == 0) FAILF(c, "no value for %s", g0->from);
        cc_npy seed;
        if (load_npy(c->dir, g0->seed, &seed, c->err, sizeof c->err)) return -1;
        if ((size_t)seed.numel % nfrom) { cc_npy_free(&seed); FAILF(c, "seed %s: %lld values not a multiple of %zu", g0->seed, (long long)seed.numel, nfrom); }
        int K = (int)((size_t)seed.numel / nfrom);
        st = cc_session_backward(c->sess, from, seed.data, K, targets, nm);
        if (st != CC_OK) {
            cc_npy_free(&seed);
            FAILF(c, "backward from %s (K=%d, %d targets): %s: %s", g0->from, K, nm, cc_status_str(st), cc_session_errmsg(c->sess));
        }
        /* copy the gradients: the finite-difference forwards below may invalidate them */
        float *grads[MAXL] = {0};
        size_t gn[MAXL] = {0};
        int rc = 0;
        for (int q = 0; q < nm && !rc; q++) {
            const float *gp = cc_session_grad(c->sess, targets[q], &gn[q]);
            if (!gp) { snprintf(c->err, sizeof c->err, "no gradient for %s", c->m.gr[members[q]].target); rc = -1; break; }
            grads[q] = malloc(gn[q] * sizeof(float));
            memcpy(grads[q], gp, gn[q] * sizeof(float));
        }
        for (int q = 0; q < nm && !rc; q++) {
            grad_line *l = &c->m.gr[members[q]];
            cc_npy ex;
            if (load_npy(c->dir, l->exp, &ex, c->err, sizeof c->err)) { rc = -1; break; }
            if ((size_t)ex.numel != gn[q]) {
                snprintf(c->err, sizeof c->err, "grad %s: %zu values, expected %lld (K=%d)", l->target, gn[q], (long long)ex.numel, K);
                cc_npy_free(&ex); rc = -1; break;
            }
            double d = check_maxdiff(grads[q], ex.data, gn[q]), mx = check_maxabs(ex.data, gn[q]);
            double tol = l->rtol * mx + 1e-6, r = d / tol;
            if (!(r <= c->worst_grad)) c->worst_grad = isnan(r) ? INFINITY : r;
            if (!(d <= tol)) {
                size_t at = 0;
                double w = -1;
                for (size_t j = 0; j < gn[q]; j++) { double e = fabs((double)grads[q][j] - ex.data[j]); if (!(e <= w)) { w = isnan(e) ? INFINITY : e; at = j; } }
                snprintf(c->err, sizeof c->err, "grad d%s/d%s: max|diff| %.3g > tol %.3g (rel %.3g; at %zu: got %.7g want %.7g)",
                         l->from, l->target, d, tol, mx > 0 ? d / mx : d, at, grads[q][at], ex.data[at]);
                rc = -1;
            }
            cc_npy_free(&ex);
        }
        /* finite differences, for targets that are graph inputs */
        for (int q = 0; q < nm && !rc && c->m.fd_eps > 0; q++) {
            int slot = input_slot(c, targets[q]);
            if (slot < 0) continue;
            rc = fd_check(c, from, seed.data, K, slot, grads[q], c->m.gr[members[q]].target);
        }
        if (!rc && c->m.fd_eps > 0 && do_forward(c)) rc = -1;   /* restore the unperturbed state */
        for (int q = 0; q < nm; q++) free(grads[q]);
        cc_npy_free(&seed);
        if (rc) return -1;
    }
    return 0;
}

static void free_ctx(ctx *c)
{
    for (int i = 0; i < c->m.n_in; i++) cc_npy_free(&c->inputs[i]);
    if (c->sess) cc_session_free(c->sess);
    if (c->model) cc_model_free(c->model);
}

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE_ROOT [FILTER]\n", argv[0]);
        return 2;
    }
    const char *root = argv[1];
    const char *filter = argc > 2 ? argv[2] : getenv("CC_ORACLE_FILTER");
    DIR *d = opendir(root);
    if (!d) { printf("FAIL: cannot open fixture root %s\n", root); return 1; }
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (filter && *filter && !strstr(e->d_name, filter)) continue;
        char p[4096];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s/case.txt", root, e->d_name);
        if (stat(p, &sb) != 0) continue;
        if (n == cap) { cap = cap ? 2 * cap : 64; names = realloc(names, cap * sizeof *names); }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmpstr);
    int fails = 0;
    double t_all = now();
    for (int i = 0; i < n; i++) {
        ctx *c = calloc(1, sizeof *c);
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", root, names[i]);
        c->dir = dir;
        c->name = names[i];
        double t0 = now();
        int rc = run_case(c);
        double dt = now() - t0;
        if (rc == 0)
            printf("PASS %-40s err/tol: fwd %.2g  grad %.2g  fd %.2g (%d pts)  %.2fs%s\n", names[i], c->worst_fwd,
                   c->worst_grad, c->worst_fd, c->n_fd, dt, c->n_c16 ? "  (channel-blocked tensors)" : "");
        else {
            printf("FAIL %-40s %s\n", names[i], c->err);
            fails++;
        }
        fflush(stdout);
        free_ctx(c);
        free(c);
        free(names[i]);
    }
    free(names);
    if (n == 0) { printf("FAIL: no cases found under %s%s%s\n", root, filter ? " matching " : "", filter ? filter : ""); return 1; }
    printf("oracle %s: %d cases, %d passed, %d failed (%.1fs)\n", root, n, n - fails, fails, now() - t_all);
    return fails ? 1 : 0;
}
