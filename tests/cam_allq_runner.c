/* All-Q contrastive maps against one-Q-at-a-time maps (run by tests/test_models_allq.sh).
 *
 *   cam_allq_runner MODEL.onnx INPUT.npy [LAYER] [NQ]
 *
 * Forward once (with cc_session_keep: activations the backward pass does not
 * read share memory), then
 *   - every class's Grad-CAM weights G (cc_cam_class_weights, default order:
 *     the projected matrix chain where the tail allows it), every contrast
 *     alpha(Q) = p.G - G[Q] (cc_contrast_weights) and all maps (cc_cam_maps);
 *   - for NQ classes Q (P, the runner-up, the last class and a spread of the
 *     rest): the contrastive map from its own seed p - onehot(Q) through the
 *     batched backward (order BACKWARD), one Q at a time;
 * and checks max |difference| <= 1e-4 on the maps before normalisation (also
 * printed relative to the largest map value) and <= 2e-3 after upsampling to
 * the input size and min-max normalisation (cc_map_finish).  Then the summary
 * statistics of all Q != P (cc_map_stats_compute: pixel-wise mean and variance
 * of the normalised maps, RMS difference from Grad-CAM(P), all from the
 * layer-resolution maps) against finishing each of the C maps at input
 * resolution and accumulating them directly (<= 1e-5).  Exit 0 = pass. */
#include "contrastcam.h"
#include "graph/internal.h"   /* cam_pullback: which way cc_cam_contrast went */
#include "util/npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures;

static void check(int ok, const char *what, double v, double tol)
{
    printf("%s %-58s %.3g (tol %.3g)\n", ok ? "ok  " : "FAIL", what, v, tol);
    if (!ok) failures++;
}

/* max |a - b| over n values; a NaN makes it NaN, which fails every check */
static double maxdiff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= m)) m = e;
    }
    return m;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: cam_allq_runner MODEL.onnx INPUT.npy [LAYER] [NQ]\n");
        return 2;
    }
    cc_model *m = NULL;
    cc_status st = cc_model_load(argv[1], &m);
    if (st) { fprintf(stderr, "load: %s\n", m ? cc_model_errmsg(m) : cc_status_str(st)); return 1; }
    cc_session *s = NULL;
    if (cc_session_new(m, &s)) return 1;
    cc_npy x;
    char err[256];
    if (cc_npy_load(argv[2], &x, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    int in = cc_model_input(m, 0), out = cc_model_output(m, 0);
    int layer = argc > 3 && strcmp(argv[3], "-") ? cc_model_find_tensor(m, argv[3]) : cc_default_layer(m);
    if (layer < 0) { fprintf(stderr, "no layer\n"); return 1; }
    /* only the activations the backward pass to the layer reads keep their own buffers */
    if (cc_session_keep(s, &layer, 1)) { fprintf(stderr, "keep: %s\n", cc_session_errmsg(s)); return 1; }
    /* one-Q contrasts from the forward's softmax pull-back where the head allows */
    if (cc_session_prepare_contrast(s, out)) { fprintf(stderr, "prepare: %s\n", cc_session_errmsg(s)); return 1; }
    if (cc_session_set_input(s, in, x.data, (size_t)x.numel) || cc_session_forward(s)) {
        fprintf(stderr, "forward: %s\n", cc_session_errmsg(s));
        return 1;
    }
    int nq = argc > 4 ? atoi(argv[4]) : 12;
    cc_tensor_info li, ii;
    cc_model_tensor_info(m, layer, &li);
    cc_model_tensor_info(m, in, &ii);
    int ch = (int)li.dims[1], h = (int)li.dims[2], w = (int)li.dims[3], hw = h * w;
    int H = (int)ii.dims[2], W = (int)ii.dims[3];
    size_t nz;
    const float *z = cc_session_value(s, out, &nz);
    int C = (int)nz;
    float *p = malloc(sizeof(float) * (size_t)C);
    cc_softmax(z, C, p);
    int P = 0, R = -1;
    for (int c = 1; c < C; c++) if (z[c] > z[P]) P = c;
    for (int c = 0; c < C; c++) if (c != P && (R < 0 || z[c] > z[R])) R = c;

    /* all Q at once */
    double t0 = now_ms();
    float *G = malloc(sizeof(float) * (size_t)C * (size_t)ch), *alpha = malloc(sizeof(float) * (size_t)C * (size_t)ch);
    if (!G || !alpha) return 1;
    if ((st = cc_cam_class_weights(s, layer, out, G))) { fprintf(stderr, "class weights: %s\n", cc_session_errmsg(s)); return 1; }
    int order = cc_cam_last_order(s);
    cc_contrast_weights(G, p, C, ch, alpha);
    cc_cam all;
    if ((st = cc_cam_maps(s, layer, alpha, C, &all))) { fprintf(stderr, "maps: %s\n", cc_session_errmsg(s)); return 1; }
    double t_all = now_ms() - t0;
    printf("model %s layer %s (%dx%dx%d), C = %d, P = %d, all-Q order %s, %.1f ms\n", argv[1], li.name, ch, h, w, C, P,
           order == CC_CAM_PROJECTED ? "projected" : "backward", t_all);

    /* one Q at a time through the batched backward */
    cc_cam_set_order(s, CC_CAM_BACKWARD);
    float *seed = malloc(sizeof(float) * (size_t)C);
    float *fa = malloc(sizeof(float) * (size_t)H * (size_t)W), *fb = malloc(sizeof(float) * (size_t)H * (size_t)W);
    double d_raw = 0, d_norm = 0, scale = 0;
    for (size_t i = 0; i < (size_t)C * (size_t)hw; i++) if (all.maps[i] > scale) scale = all.maps[i];
    double t_one = 0;
    int done = 0;
    for (int i = 0; i < nq && i < C; i++) {
        int q = i == 0 ? P : i == 1 ? R : i == 2 ? C - 1 : (int)(((long long)(i - 3) * 7919 + 13) % C);
        cc_seed_contrast(seed, z, C, q);
        cc_cam one;
        double a = now_ms();
        if ((st = cc_cam_compute(s, layer, out, seed, 1, &one))) { fprintf(stderr, "one: %s\n", cc_session_errmsg(s)); return 1; }
        t_one += now_ms() - a;
        if (cc_cam_last_order(s) != CC_CAM_BACKWARD) { fprintf(stderr, "order not honoured\n"); return 1; }
        const float *ma = all.maps + (size_t)q * (size_t)hw;
        for (int k = 0; k < hw; k++) {
            double d = fabs((double)ma[k] - one.maps[k]);
            if (!(d <= d_raw)) d_raw = d;
        }
        cc_map_finish(ma, h, w, fa, H, W);
        cc_map_finish(one.maps, h, w, fb, H, W);
        for (int k = 0; k < H * W; k++) {
            double d = fabs((double)fa[k] - fb[k]);
            if (!(d <= d_norm)) d_norm = d;
        }
        cc_cam_free(&one);
        done++;
    }
    printf("     %d Q's one at a time: %.1f ms each; largest map value %.4g\n", done, t_one / (done ? done : 1), scale);
    check(d_raw <= 1e-4, "all-Q vs one-Q maps, max |diff| before normalisation", d_raw, 1e-4);
    check(d_raw <= 1e-5 * (scale > 1 ? scale : 1), "  same, relative to the largest map value", d_raw / (scale > 1 ? scale : 1), 1e-5);
    check(d_norm <= 2e-3, "all-Q vs one-Q maps, max |diff| after normalisation", d_norm, 2e-3);

    /* the library's own all-Q entry points (default order: on a pooled head the
     * maps come straight from the classifier's weights, cam.c) against the
     * composed maps above, and their contrast weights against cc_contrast_weights */
    cc_cam_set_order(s, CC_CAM_AUTO);
    cc_cam lib, libm;
    if ((st = cc_cam_contrast_all(s, layer, out, p, &lib)) || (st = cc_cam_contrast_all_maps(s, layer, out, p, &libm))) {
        fprintf(stderr, "contrast all: %s\n", cc_session_errmsg(s));
        return 1;
    }
    printf("     cc_cam_contrast_all order %s\n", cc_cam_last_order(s) == CC_CAM_PROJECTED ? "projected" : "backward");
    const size_t nmaps = (size_t)C * (size_t)hw, nalpha = (size_t)C * (size_t)ch;
    const double d_lib = maxdiff(lib.maps, all.maps, nmaps), d_libm = maxdiff(libm.maps, all.maps, nmaps);
    const double d_alpha = maxdiff(lib.alpha, alpha, nalpha);
    double amax = 1e-30;
    for (size_t i = 0; i < nalpha; i++)
        if (fabs(alpha[i]) > amax) amax = fabs(alpha[i]);
    double mscale = scale > 1 ? scale : 1;
    check(lib.K == C && libm.K == C && lib.alpha && !libm.alpha, "cc_cam_contrast_all(_maps): shapes, alpha only when asked", 0, 0);
    check(d_lib <= 1e-5 * mscale, "cc_cam_contrast_all maps vs composed (relative)", d_lib / mscale, 1e-5);
    check(d_libm <= 1e-5 * mscale, "cc_cam_contrast_all_maps maps vs composed (relative)", d_libm / mscale, 1e-5);
    check(d_alpha <= 1e-5 * amax, "cc_cam_contrast_all weights vs cc_contrast_weights (relative)", d_alpha / amax, 1e-5);
    cc_cam_free(&lib);
    cc_cam_free(&libm);

    /* p = NULL: the softmax of the output; on a prepared pooled head p'B then
     * comes from the forward's W' softmax(z) and the product stores the maps */
    {
        cc_cam ln, lnm;
        if ((st = cc_cam_contrast_all(s, layer, out, NULL, &ln))) { fprintf(stderr, "contrast all: %s\n", cc_session_errmsg(s)); return 1; }
        int pull = s->cam_pullback;
        if ((st = cc_cam_contrast_all_maps(s, layer, out, NULL, &lnm))) { fprintf(stderr, "contrast all: %s\n", cc_session_errmsg(s)); return 1; }
        pull = pull && s->cam_pullback;
        const double dn = maxdiff(ln.maps, all.maps, nmaps), dnm = maxdiff(lnm.maps, all.maps, nmaps);
        const double dna = maxdiff(ln.alpha, alpha, nalpha);
        printf("     p = NULL: %s\n", pull ? "p'B from the forward's softmax pull-back" : "the softmax computed");
        check(ln.K == C && lnm.K == C && !lnm.alpha, "p = NULL: shapes", 0, 0);
        check(dn <= 1e-5 * mscale, "cc_cam_contrast_all, p = NULL: maps vs composed (relative)", dn / mscale, 1e-5);
        check(dnm <= 1e-5 * mscale, "cc_cam_contrast_all_maps, p = NULL: maps vs composed (relative)", dnm / mscale, 1e-5);
        check(dna <= 1e-5 * amax, "cc_cam_contrast_all, p = NULL: weights (relative)", dna / amax, 1e-5);
        if (getenv("CC_EXPECT_PULLBACK")) check(pull, "all-Q with p = NULL took the softmax pull-back", pull, 1);
        cc_cam_free(&ln);
        cc_cam_free(&lnm);
    }

    /* one seed in the default order (on a pooled head: the seed times the
     * classifier's weights, skipping zero seeds) against the batched backward:
     * Grad-CAM(P) (one nonzero seed) and the contrast with the runner-up (dense) */
    double d_auto = 0, gscale = 1e-30;
    for (int i = 0; i < 2; i++) {
        if (i == 0) cc_seed_class(seed, C, P); else cc_seed_contrast(seed, z, C, R);
        cc_cam ca, cb;
        cc_cam_set_order(s, CC_CAM_AUTO);
        if (cc_cam_compute(s, layer, out, seed, 1, &ca)) return 1;
        cc_cam_set_order(s, CC_CAM_BACKWARD);
        if (cc_cam_compute(s, layer, out, seed, 1, &cb)) return 1;
        for (int k = 0; k < ch; k++) {
            double e = fabs((double)ca.alpha[k] - cb.alpha[k]);
            if (!(e <= d_auto)) d_auto = e;
            if (fabs(cb.alpha[k]) > gscale) gscale = fabs(cb.alpha[k]);
        }
        cc_cam_free(&ca);
        cc_cam_free(&cb);
    }
    check(d_auto <= 1e-5 * gscale, "one seed, default order vs backward: weights (relative)", d_auto / gscale, 1e-5);

    /* cc_cam_contrast for several Q at once (default order: on a prepared Gemm
     * head, u - W[Q] from the forward's W' softmax(z)) against each Q's own seed
     * through the batched backward: weights and maps */
    {
        int nk = nq < C ? nq : C;
        int *qs = malloc(sizeof(int) * (size_t)nk);
        for (int i = 0; i < nk; i++) qs[i] = i == 0 ? R : i == 1 ? P : (int)(((long long)i * 7919 + 5) % C);
        cc_cam cq;
        cc_cam_set_order(s, CC_CAM_AUTO);
        if ((st = cc_cam_contrast(s, layer, out, qs, nk, &cq))) { fprintf(stderr, "contrast: %s\n", cc_session_errmsg(s)); return 1; }
        int pull = s->cam_pullback;
        double d_w = 0, d_m = 0, wscale = 1e-30;
        cc_cam_set_order(s, CC_CAM_BACKWARD);
        for (int i = 0; i < nk; i++) {
            cc_seed_contrast(seed, z, C, qs[i]);
            cc_cam cb;
            if (cc_cam_compute(s, layer, out, seed, 1, &cb)) return 1;
            for (int k = 0; k < ch; k++) {
                double e = fabs((double)cq.alpha[(size_t)i * (size_t)ch + (size_t)k] - cb.alpha[k]);
                if (!(e <= d_w)) d_w = e;
                if (fabs(cb.alpha[k]) > wscale) wscale = fabs(cb.alpha[k]);
            }
            for (int k = 0; k < hw; k++) {
                double e = fabs((double)cq.maps[(size_t)i * (size_t)hw + (size_t)k] - cb.maps[k]);
                if (!(e <= d_m)) d_m = e;
            }
            cc_cam_free(&cb);
        }
        cc_cam_free(&cq);
        free(qs);
        printf("     cc_cam_contrast: %d Q's, %s\n", nk, pull ? "from the forward's softmax pull-back" : "from the seeds");
        check(d_w <= 1e-5 * wscale, "cc_cam_contrast vs one seed each, backward: weights (relative)", d_w / wscale, 1e-5);
        check(d_m <= 1e-5 * mscale, "cc_cam_contrast vs one seed each, backward: maps (relative)", d_m / mscale, 1e-5);
        if (getenv("CC_EXPECT_PULLBACK")) check(pull, "cc_cam_contrast took the softmax pull-back", pull, 1);
    }

    /* summary statistics from the layer-resolution maps vs finishing every map */
    unsigned char *skip = calloc((size_t)C, 1);
    skip[P] = 1;
    cc_map_stats ms;
    t0 = now_ms();
    if ((st = cc_map_stats_compute(all.maps, C, h, w, all.maps + (size_t)P * (size_t)hw, skip, H, W, &ms))) {
        fprintf(stderr, "stats: %s\n", cc_status_str(st));
        return 1;
    }
    double t_stats = now_ms() - t0;
    size_t HW = (size_t)H * (size_t)W;
    double *acc = calloc(HW * 2, sizeof(double));
    float *g01 = malloc(sizeof(float) * HW);
    cc_map_finish(all.maps + (size_t)P * (size_t)hw, h, w, g01, H, W);
    double d_rms = 0;
    int cnt = 0, flat_mismatch = 0;
    t0 = now_ms();
    for (int q = 0; q < C; q++) {
        int fl = cc_map_finish(all.maps + (size_t)q * (size_t)hw, h, w, fa, H, W);
        flat_mismatch += fl != ms.flat[q];
        double d2 = 0;
        for (size_t k = 0; k < HW; k++) { double v = (double)fa[k] - g01[k]; d2 += v * v; }
        double rms = sqrt(d2 / (double)HW), e = fabs(rms - ms.rms[q]);
        if (!(e <= d_rms)) d_rms = e;
        if (q == P) continue;
        cnt++;
        for (size_t k = 0; k < HW; k++) { acc[k] += fa[k]; acc[HW + k] += (double)fa[k] * fa[k]; }
    }
    double t_brute = now_ms() - t0, d_mean = 0, d_var = 0;
    for (size_t k = 0; k < HW; k++) {
        double mean = acc[k] / cnt, var = acc[HW + k] / cnt - mean * mean;
        double e1 = fabs(mean - ms.mean[k]), e2 = fabs(var - ms.var[k]);
        if (!(e1 <= d_mean)) d_mean = e1;
        if (!(e2 <= d_var)) d_var = e2;
    }
    printf("     summary of %d maps at %dx%d: %.2f ms from the layer-resolution maps, %.1f ms finishing every map\n", cnt, H, W,
           t_stats, t_brute);
    check(ms.count == cnt && !flat_mismatch, "summary: count and flat flags", (double)flat_mismatch, 0);
    check(d_mean <= 1e-5, "summary: pixel-wise mean vs finished maps", d_mean, 1e-5);
    check(d_var <= 1e-5, "summary: pixel-wise variance vs finished maps", d_var, 1e-5);
    check(d_rms <= 1e-5, "summary: RMS difference from Grad-CAM(P)", d_rms, 1e-5);
    cc_map_stats_free(&ms);

    /* cc_session_keep changes buffers, not values: logits and Grad-CAM(P) as in a session without it */
    cc_session *s2 = NULL;
    if (cc_session_new(m, &s2) || cc_session_set_input(s2, in, x.data, (size_t)x.numel) || cc_session_forward(s2)) return 1;
    const float *z2 = cc_session_value(s2, out, NULL);
    double d_logit = 0, d_gc = 0;
    for (int c = 0; c < C; c++) if (!(fabs((double)z2[c] - z[c]) <= d_logit)) d_logit = fabs((double)z2[c] - z[c]);
    cc_cam g1, g2;
    cc_seed_class(seed, C, P);
    cc_cam_set_order(s, CC_CAM_AUTO);
    if (cc_cam_compute(s, layer, out, seed, 1, &g1) || cc_cam_compute(s2, layer, out, seed, 1, &g2)) return 1;
    for (int k = 0; k < hw; k++) if (!(fabs((double)g1.maps[k] - g2.maps[k]) <= d_gc)) d_gc = fabs((double)g1.maps[k] - g2.maps[k]);
    /* equal up to the summation order of a different thread count (the library
     * drops to one thread while the machine is oversubscribed) */
    double zmax = 1, gmax = 1e-30;
    for (int c = 0; c < C; c++) if (fabs(z[c]) > zmax) zmax = fabs(z[c]);
    for (int k = 0; k < hw; k++) if (fabs(g2.maps[k]) > gmax) gmax = fabs(g2.maps[k]);
    double rel = d_logit / zmax > d_gc / gmax ? d_logit / zmax : d_gc / gmax;
    check(rel <= 1e-5, "cc_session_keep: logits and Grad-CAM(P) unchanged (relative)", rel, 1e-5);
    cc_cam_free(&g1);
    cc_cam_free(&g2);
    cc_session_free(s2);
    cc_cam_free(&all);
    free(acc); free(g01); free(skip); free(seed); free(fa); free(fb); free(G); free(alpha); free(p);
    cc_npy_free(&x);
    cc_session_free(s);
    cc_model_free(m);
    printf("%s\n", failures ? "FAILED" : "passed");
    return failures ? 1 : 0;
}
