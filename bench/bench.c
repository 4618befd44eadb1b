/* contrastcam benchmark driver (make bench; see bench/run.sh).
 *
 *   bench MODEL info                   default target layer, classes, load RSS
 *   bench MODEL fwd   ITERS WARMUP     forward pass
 *   bench MODEL one   ITERS WARMUP     one contrastive explanation: forward (prepared with
 *                                      cc_session_prepare_contrast) + cc_cam_contrast for
 *                                      Q = runner-up class (seed p - onehot(Q)) + cc_map_finish;
 *                                      BENCH_PARTS=1: the parts after the forward on stderr
 *   bench MODEL allq  ITERS WARMUP     forward + Grad-CAM(P) + every contrast's weights and map
 *                                      (cc_cam_contrast_all_maps) + the
 *                                      mean / variance / RMS ranking at the input size
 *                                      (cc_map_stats_compute): what `explain --contrast all` computes
 *   bench MODEL allq_bwd ITERS WARMUP  the previous all-Q: forward + cc_cam_compute with C seeds
 *                                      through the batched backward (order BACKWARD)
 *   bench MODEL profile ITERS          per-op time of forward, 1-Q backward and all-Q backward
 *                                      (wraps every node's kernels; uses internal headers), then
 *                                      alpha + maps (cc_cam_compute's tail, re-done here to time it)
 *   bench - gemm                       single-precision GEMM rate, 2048^3 (cblas_sgemm)
 *
 * Every mode prints one JSON object on stdout (profile prints a text table on
 * stderr as well).  Times are medians of ITERS runs after WARMUP runs; peak
 * RSS is getrusage(RUSAGE_SELF).ru_maxrss, so run one mode per process.
 * The input is the same fixed pseudo-random tensor as bench/ort.js and
 * bench/torch_ref.py use. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "contrastcam.h"
#include "graph/internal.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

static double cur_rss_mb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return rss * 4096.0 / (1024.0 * 1024.0);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* xorshift32 (seed 12345) mapped to [-1, 1): identical in ort.js and torch_ref.py. */
static void bench_input(float *x, size_t n)
{
    uint32_t s = 12345u;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        x[i] = (float)((s >> 8) / 16777216.0 * 2.0 - 1.0);
    }
}

static void die(const char *what, cc_status st, const char *msg)
{
    fprintf(stderr, "bench: %s: %s: %s\n", what, cc_status_str(st), msg ? msg : "");
    exit(1);
}

/* ---- GEMM rate --------------------------------------------------------------- */

static int run_gemm(void)
{
    const int n = 2048, reps = 5;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
    if (!a || !b || !c) return 1;
    bench_input(a, (size_t)n * n);
    bench_input(b, (size_t)n * n);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    double t[reps];
    for (int r = 0; r < reps; r++) {
        double t0 = now_ms();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        t[r] = now_ms() - t0;
    }
    double best = t[0];
    for (int r = 1; r < reps; r++) if (t[r] < best) best = t[r];
    double flop = 2.0 * n * (double)n * n;
    const char *core = openblas_get_corename();
    printf("{\"mode\":\"gemm\",\"n\":%d,\"median_ms\":%.3f,\"best_ms\":%.3f,\"gflops\":%.2f,\"gflops_best\":%.2f,"
           "\"core\":\"%s\",\"coretype_env\":\"%s\"}\n", n, median(t, reps), best, flop / (median(t, reps) * 1e6),
           flop / (best * 1e6), core ? core : "?", getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "");
    free(a);
    free(b);
    free(c);
    return 0;
}

/* ---- per-op profile (wraps node kernels) ------------------------------------- */

typedef struct {
    const cc_op *orig;
    double fwd_ms, bwd_ms;
    long fwd_n, bwd_n;
} prof_node;

static cc_graph *pg;
static prof_node *pn;
static cc_op *pops;

static int wrap_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    prof_node *p = &pn[n - pg->nodes];
    double t0 = now_ms();
    int rc = p->orig->forward(n, in, out, ctx);
    p->fwd_ms += now_ms() - t0;
    p->fwd_n++;
    return rc;
}

static int wrap_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy, float **gx, int K, cc_ctx *ctx)
{
    prof_node *p = &pn[n - pg->nodes];
    double t0 = now_ms();
    int rc = p->orig->backward(n, in, out, gy, gx, K, ctx);
    p->bwd_ms += now_ms() - t0;
    p->bwd_n++;
    return rc;
}

static void prof_install(cc_model *m)
{
    pg = &m->g;
    pn = calloc((size_t)pg->n_nodes, sizeof *pn);
    pops = calloc((size_t)pg->n_nodes, sizeof *pops);
    if (!pn || !pops) exit(1);
    for (int i = 0; i < pg->n_nodes; i++) {
        cc_node *n = &pg->nodes[i];
        pn[i].orig = n->op;
        pops[i] = *n->op;
        pops[i].forward = wrap_forward;
        pops[i].backward = n->op->backward ? wrap_backward : NULL;
        n->op = &pops[i];
    }
}

static void prof_reset(void)
{
    for (int i = 0; i < pg->n_nodes; i++) pn[i].fwd_ms = pn[i].bwd_ms = 0, pn[i].fwd_n = pn[i].bwd_n = 0;
}

/* Aggregate by op type; print "phase op calls ms/run share" lines, and a JSON fragment. */
static void prof_report(const char *phase, int bwd, int runs, double total_ms, FILE *json, int *first_json)
{
    const char *types[64];
    double ms[64];
    long calls[64];
    int nt = 0;
    double sum = 0;
    for (int i = 0; i < pg->n_nodes; i++) {
        double t = bwd ? pn[i].bwd_ms : pn[i].fwd_ms;
        long c = bwd ? pn[i].bwd_n : pn[i].fwd_n;
        if (!c) continue;
        const char *ty = pg->nodes[i].op_type;
        int k = 0;
        while (k < nt && strcmp(types[k], ty)) k++;
        if (k == nt) {
            if (nt == 64) continue;
            types[nt] = ty, ms[nt] = 0, calls[nt] = 0, nt++;
        }
        ms[k] += t / runs;
        calls[k] += c;
        sum += t / runs;
    }
    /* sort by time, descending */
    for (int i = 0; i < nt; i++)
        for (int j = i + 1; j < nt; j++)
            if (ms[j] > ms[i]) {
                double tm = ms[i]; ms[i] = ms[j]; ms[j] = tm;
                long tc = calls[i]; calls[i] = calls[j]; calls[j] = tc;
                const char *ts = types[i]; types[i] = types[j]; types[j] = ts;
            }
    fprintf(stderr, "  %-10s total %9.2f ms/run, in kernels %9.2f ms, outside kernels %8.2f ms\n", phase, total_ms, sum,
            total_ms - sum);
    for (int k = 0; k < nt; k++) {
        fprintf(stderr, "  %-10s %-20s %5ld nodes %9.2f ms %5.1f%%\n", phase, types[k], calls[k] / runs, ms[k],
                total_ms > 0 ? 100.0 * ms[k] / total_ms : 0);
        fprintf(json, "%s{\"phase\":\"%s\",\"op\":\"%s\",\"nodes\":%ld,\"ms\":%.3f}", *first_json ? "" : ",", phase,
                types[k], calls[k] / runs, ms[k]);
        *first_json = 0;
    }
    fprintf(json, "%s{\"phase\":\"%s\",\"op\":\"(outside kernels)\",\"nodes\":0,\"ms\":%.3f}", *first_json ? "" : ",",
            phase, total_ms - sum);
    *first_json = 0;
}

/* Top nodes by time for one phase. */
static void prof_top_nodes(const char *phase, int bwd, int runs, int top)
{
    int *idx = malloc(sizeof(int) * (size_t)pg->n_nodes);
    int n = 0;
    for (int i = 0; i < pg->n_nodes; i++)
        if ((bwd ? pn[i].bwd_n : pn[i].fwd_n) > 0) idx[n++] = i;
    for (int i = 0; i < n && i < top; i++)
        for (int j = i + 1; j < n; j++) {
            double a = bwd ? pn[idx[i]].bwd_ms : pn[idx[i]].fwd_ms, b = bwd ? pn[idx[j]].bwd_ms : pn[idx[j]].fwd_ms;
            if (b > a) { int t = idx[i]; idx[i] = idx[j]; idx[j] = t; }
        }
    for (int i = 0; i < n && i < top; i++) {
        const cc_node *nd = &pg->nodes[idx[i]];
        const cc_tensor *o = &pg->tensors[nd->out[0]];
        const cc_tensor *x = nd->n_in > 0 && nd->in[0] >= 0 ? &pg->tensors[nd->in[0]] : NULL;
        const cc_tensor *w = nd->n_in > 1 && nd->in[1] >= 0 ? &pg->tensors[nd->in[1]] : NULL;
        char sx[96] = "", sw[96] = "", so[96] = "";
        const cc_tensor *ts[3] = { x, w, o };
        char *bufs[3] = { sx, sw, so };
        for (int k = 0; k < 3; k++) {
            if (!ts[k]) continue;
            int len = 0;
            for (int d = 0; d < ts[k]->ndim && len < 80; d++)
                len += snprintf(bufs[k] + len, 96 - (size_t)len, "%s%lld", d ? "x" : "", (long long)ts[k]->dims[d]);
        }
        fprintf(stderr, "  %-10s #%-2d %-8s %-28.28s in %-16s w %-16s out %-16s %8.2f ms\n", phase, i + 1, nd->op_type,
                nd->name ? nd->name : "", sx, sw, so, (bwd ? pn[idx[i]].bwd_ms : pn[idx[i]].fwd_ms) / runs);
    }
    free(idx);
}

/* ---- main -------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    /* OpenBLAS's kernels as the CLI arranges them (src/cli/main.c): on a CPU
     * this OpenBLAS does not know, the kernels the CPU runs, not generic SSE */
    const char *core = cc_blas_core_hint();
    if (core && !setenv("OPENBLAS_CORETYPE", core, 1)) execv("/proc/self/exe", argv);
    if (argc < 3) {
        fprintf(stderr, "usage: bench MODEL {info|fwd|one|allq|profile} [ITERS] [WARMUP] | bench - gemm\n");
        return 2;
    }
    const char *path = argv[1], *mode = argv[2];
    int iters = argc > 3 ? atoi(argv[3]) : 10, warm = argc > 4 ? atoi(argv[4]) : 2;
    if (iters < 1) iters = 1;
    if (warm < 0) warm = 0;
    if (!strcmp(mode, "gemm")) return run_gemm();

    double rss0 = cur_rss_mb();
    double t0 = now_ms();
    cc_model *m = NULL;
    cc_status st = cc_model_load(path, &m);
    if (st) die("load", st, m ? cc_model_errmsg(m) : "");
    double load_ms = now_ms() - t0;
    if (!strcmp(mode, "profile")) prof_install(m);
    cc_session *s = NULL;
    st = cc_session_new(m, &s);
    if (st) die("session", st, s ? cc_session_errmsg(s) : "");
    int in = cc_model_input(m, 0), outp = cc_model_output(m, 0);
    int layer = cc_default_layer(m);
    if (layer < 0) die("default layer", CC_ERR_NOTFOUND, "none");
    cc_tensor_info ii, oi, li;
    cc_model_tensor_info(m, in, &ii);
    cc_model_tensor_info(m, outp, &oi);
    cc_model_tensor_info(m, layer, &li);
    size_t nin = 1;
    for (int d = 0; d < ii.rank; d++) nin *= (size_t)ii.dims[d];
    int C = 1;
    for (int d = 0; d < oi.rank; d++) C *= (int)oi.dims[d];
    float *x = malloc(sizeof(float) * nin);
    bench_input(x, nin);
    /* keep only what the backward pass to the target reads; the other activations
     * share buffers (BENCH_KEEP_ALL=1: one buffer per activation, as before) */
    if (!getenv("BENCH_KEEP_ALL") && strcmp(mode, "info") && (st = cc_session_keep(s, &layer, 1)))
        die("keep", st, cc_session_errmsg(s));
    st = cc_session_set_input(s, in, x, nin);
    if (st) die("set_input", st, cc_session_errmsg(s));
    double rss_load = cur_rss_mb();

    if (!strcmp(mode, "info")) {
        st = cc_session_forward(s);
        if (st) die("forward", st, cc_session_errmsg(s));
        const float *z = cc_session_value(s, outp, NULL);
        int P = 0;
        for (int i = 1; i < C; i++) if (z[i] > z[P]) P = i;
        printf("{\"mode\":\"info\",\"input\":\"%s\",\"output\":\"%s\",\"classes\":%d,\"layer\":\"%s\",\"layer_op\":\"%s\","
               "\"layer_dims\":[%lld,%lld,%lld,%lld],\"nodes\":%d,\"load_ms\":%.1f,\"rss_before_load_mb\":%.1f,"
               "\"rss_loaded_mb\":%.1f,\"peak_rss_mb\":%.1f,\"argmax\":%d,\"logit0\":%.6g}\n",
               ii.name, oi.name, C, li.name, li.op_type, (long long)li.dims[0], (long long)li.dims[1],
               (long long)li.dims[2], (long long)li.dims[3], m->g.n_nodes, load_ms, rss0, rss_load, peak_rss_mb(), P,
               z[0]);
        return 0;
    }

    int is_fwd = !strcmp(mode, "fwd"), is_one = !strcmp(mode, "one"), is_all = !strcmp(mode, "allq");
    int is_bwd = !strcmp(mode, "allq_bwd");
    int is_prof = !strcmp(mode, "profile");
    if (!is_fwd && !is_one && !is_all && !is_bwd && !is_prof) {
        fprintf(stderr, "bench: unknown mode %s\n", mode);
        return 2;
    }
    /* explanations: the softmax pull-back of their seeds is formed in the
     * forward, as `explain` does (BENCH_NO_TAP=1: without, for A/B) */
    if ((is_one || is_all) && !getenv("BENCH_NO_TAP") && (st = cc_session_prepare_contrast(s, outp)))
        die("prepare", st, cc_session_errmsg(s));
    int K = is_all || is_bwd ? C : 1;
    float *seeds = malloc(sizeof(float) * (size_t)C * (size_t)C);
    float *p = malloc(sizeof(float) * (size_t)C);
    double *tt = malloc(sizeof(double) * (size_t)iters), *tf = malloc(sizeof(double) * (size_t)iters),
           *tc = malloc(sizeof(double) * (size_t)iters);
    if (!seeds || !p || !tt || !tf || !tc) die("alloc", CC_ERR_NOMEM, "");

    if (is_prof) {
        /* forward, 1-Q backward and all-Q backward, each ITERS times after one warm-up */
        FILE *json = stdout;
        int first = 1;
        printf("{\"mode\":\"profile\",\"runs\":%d,\"ops\":[", iters);
        double tot_f = 0, tot_1 = 0, tot_a = 0, post_1 = 0, post_a = 0;
        cc_cam cam;
        for (int phase = 0; phase < 3; phase++) {
            int k = phase == 2 ? C : 1;
            for (int r = -1; r < iters; r++) {
                if (r == 0) prof_reset();
                double a = now_ms();
                st = cc_session_forward(s);
                if (st) die("forward", st, cc_session_errmsg(s));
                double b = now_ms();
                if (phase == 0) { if (r >= 0) tot_f += b - a; continue; }
                const float *z = cc_session_value(s, outp, NULL);
                cc_softmax(z, C, p);
                int P = 0, Q = -1;
                for (int i = 1; i < C; i++) if (z[i] > z[P]) P = i;
                for (int i = 0; i < C; i++) if (i != P && (Q < 0 || z[i] > z[Q])) Q = i;
                for (int q = 0; q < k; q++) {
                    memcpy(seeds + (size_t)q * C, p, sizeof(float) * (size_t)C);
                    seeds[(size_t)q * C + (k == 1 ? Q : q)] -= 1.0f;
                }
                /* cc_cam_compute split in two: the backward walk, then alpha + maps */
                st = cc_session_backward(s, outp, seeds, k, &layer, 1);
                if (st) die("backward", st, cc_session_errmsg(s));
                double c = now_ms();
                const float *gr = cc_session_grad(s, layer, NULL);
                int Cl = (int)li.dims[1];
                size_t hw = (size_t)(li.dims[2] * li.dims[3]);
                float *alpha = malloc(sizeof(float) * (size_t)k * (size_t)Cl);
                for (size_t kc = 0; kc < (size_t)k * (size_t)Cl; kc++) {
                    double sum = 0;
                    for (size_t i = 0; i < hw; i++) sum += gr[kc * hw + i];
                    alpha[kc] = (float)(sum / (double)hw);
                }
                st = cc_cam_maps(s, layer, alpha, k, &cam);
                if (st) die("cam", st, cc_session_errmsg(s));
                cc_cam_free(&cam);
                free(alpha);
                if (r >= 0) {
                    *(phase == 1 ? &tot_1 : &tot_a) += c - b;
                    *(phase == 1 ? &post_1 : &post_a) += now_ms() - c;
                }
            }
            if (phase == 0) prof_report("forward", 0, iters, tot_f / iters, json, &first);
            if (phase == 1) prof_report("bwd-1Q", 1, iters, tot_1 / iters, json, &first);
            if (phase == 2) prof_report("bwd-allQ", 1, iters, tot_a / iters, json, &first);
            if (phase == 1) fprintf(stderr, "  %-10s alpha (spatial mean of the gradient) + maps: %.2f ms\n", "post-1Q", post_1 / iters);
            if (phase == 2) fprintf(stderr, "  %-10s alpha (spatial mean of the gradient) + maps: %.2f ms\n", "post-allQ", post_a / iters);
            if (phase == 0) prof_top_nodes("forward", 0, iters, getenv("BENCH_TOP") ? atoi(getenv("BENCH_TOP")) : 8);
            if (phase == 2) prof_top_nodes("bwd-allQ", 1, iters, 8);
        }
        printf("],\"forward_ms\":%.3f,\"bwd1_ms\":%.3f,\"bwdall_ms\":%.3f,\"post1_ms\":%.3f,\"postall_ms\":%.3f,"
               "\"peak_rss_mb\":%.1f}\n", tot_f / iters, tot_1 / iters, tot_a / iters, post_1 / iters, post_a / iters,
               peak_rss_mb());
        return 0;
    }

    int P = -1, Q = -1;
    if (is_bwd) cc_cam_set_order(s, CC_CAM_BACKWARD);
    int lh = (int)li.dims[2], lw = (int)li.dims[3];
    int H = ii.rank == 4 ? (int)ii.dims[2] : 224, W = ii.rank == 4 ? (int)ii.dims[3] : 224;
    float *map01 = malloc(sizeof(float) * (size_t)H * (size_t)W);
    unsigned char *skip = calloc((size_t)C, 1);
    if (!map01 || !skip) die("alloc", CC_ERR_NOMEM, "");
    int order = 0;
    double macs = 0;
    for (int r = -warm; r < iters; r++) {
        double a = now_ms();
        st = cc_session_forward(s);
        if (st) die("forward", st, cc_session_errmsg(s));
        double b = now_ms();
        if (!is_fwd) {
            const float *z = cc_session_value(s, outp, NULL);
            cc_cam cam, gc;
            P = 0, Q = -1;
            for (int i = 1; i < C; i++) if (z[i] > z[P]) P = i;
            for (int i = 0; i < C; i++) if (i != P && (Q < 0 || z[i] > z[Q])) Q = i;
            if (is_one) {
                /* one explanation: Q = the runner-up class ("why P, rather than the next best?"),
                 * the map upsampled and normalised to the input size */
                double t0 = now_ms();
                st = cc_cam_contrast(s, layer, outp, &Q, 1, &cam);
                if (st) die("cam", st, cc_session_errmsg(s));
                double t1 = now_ms();
                cc_map_finish(cam.maps, cam.h, cam.w, map01, H, W);
                cc_cam_free(&cam);
                if (getenv("BENCH_PARTS"))
                    fprintf(stderr, "argmax %.3f cam %.3f finish %.3f\n", t0 - b, t1 - t0, now_ms() - t1);
            } else if (is_bwd) {
                /* the previous all-Q: C seed rows p - onehot(Q) through the batched backward */
                cc_softmax(z, C, p);
                for (int q = 0; q < C; q++) {
                    memcpy(seeds + (size_t)q * C, p, sizeof(float) * (size_t)C);
                    seeds[(size_t)q * C + q] -= 1.0f;
                }
                st = cc_cam_compute(s, layer, outp, seeds, K, &cam);
                if (st) die("cam", st, cc_session_errmsg(s));
                cc_cam_free(&cam);
            } else {
                /* all-Q as `explain --contrast all` does it: Grad-CAM(P), every class's
                 * weights in one evaluation, the contrasts algebraically, every map as one
                 * product, then mean, variance and RMS distances at the input size */
                double t0 = now_ms();
                cc_seed_class(seeds, C, P);
                st = cc_cam_compute(s, layer, outp, seeds, 1, &gc);
                if (st) die("gradcam", st, cc_session_errmsg(s));
                cc_map_finish(gc.maps, gc.h, gc.w, map01, H, W);
                double t1 = now_ms();
                st = cc_cam_contrast_all_maps(s, layer, outp, NULL, &cam);   /* p = softmax(z) */
                if (st) die("contrast all", st, cc_session_errmsg(s));
                double t2 = now_ms();
                order = cc_cam_last_order(s);
                macs = s->cam_macs;
                memset(skip, 0, (size_t)C);
                skip[P] = 1;
                cc_map_stats ms;
                st = cc_map_stats_compute(cam.maps, C, lh, lw, gc.maps, skip, H, W, &ms);
                if (st) die("stats", st, "");
                double t3 = now_ms();
                if (getenv("BENCH_PARTS")) fprintf(stderr, "gradcam %.3f contrast_all %.3f stats %.3f\n", t1 - t0, t2 - t1, t3 - t2);
                cc_map_stats_free(&ms);
                cc_cam_free(&cam);
                cc_cam_free(&gc);
            }
        }
        double c = now_ms();
        if (r >= 0) tt[r] = c - a, tf[r] = b - a, tc[r] = c - b;
    }
    const float *z = cc_session_value(s, outp, NULL);
    int am = 0;
    for (int i = 1; i < C; i++) if (z[i] > z[am]) am = i;
    double mt = median(tt, iters), mf = median(tf, iters), mc = median(tc, iters), mn = tt[0];
    printf("{\"mode\":\"%s\",\"model\":\"%s\",\"K\":%d,\"iters\":%d,\"warmup\":%d,\"median_ms\":%.3f,\"min_ms\":%.3f,"
           "\"fwd_part_ms\":%.3f,\"cam_part_ms\":%.3f,\"layer\":\"%s\",\"P\":%d,\"Q\":%d,\"argmax\":%d,\"logit0\":%.6g,"
           "\"load_ms\":%.1f,\"rss_loaded_mb\":%.1f,\"peak_rss_mb\":%.1f,\"order\":\"%s\",\"proj_macs\":%.0f}\n",
           mode, path, is_fwd ? 0 : K, iters, warm, mt, mn, mf, is_fwd ? 0.0 : mc, li.name, P, Q, am, z[0], load_ms,
           rss_load, peak_rss_mb(), is_bwd ? "backward" : order == CC_CAM_PROJECTED ? "projected" : is_all ? "backward" : "auto", macs);
    free(map01);
    free(skip);
    free(x);
    free(seeds);
    free(p);
    free(tt);
    free(tf);
    free(tc);
    cc_session_free(s);
    cc_model_free(m);
    return 0;
}
