/* IQA library unit tests that need neither Python nor shared files: window
 * and patch geometry (the reference's rules), the paste mask, SSIM basics,
 * and, on tiny full-reference models written with the ONNX writer: windows
 * give the same results at any batch size and thread count (batch items are
 * independent; padding rows do not leak), a window past the border equals an
 * explicitly zero-padded one, the image score is the weighted patch average,
 * the contrast map is ReLU(2 (h - q) premap) upsampled, and the errors for a
 * one-input model, a graph that fixes its batch size, and a missing layer. */
#include "check.h"
#include "contrastcam_iqa.h"
#include "onnx/writer.h"

#include <string.h>
#include <unistd.h>

static char dir[256];

/* dist, ref [N,3,8,8] -> conv 3x3 (pad 1, 4 ch, "dist_conv") -> relu -> maxpool 2 ->
 * flatten (64) ; feat = concat(fd - fr, fd, fr) (192) -> gemm 1 -> q; gemm 1 -> relu + 1e-6 -> w.
 * fixed_batch: flatten replaced by Reshape to [1, 64] (batch fixed in the graph). */
static int write_fr(const char *path, int one_input, int fixed_batch)
{
    cc_onnx_writer *w = cc_ow_new("tiny_fr");
    int64_t in[4] = { -1, 3, 8, 8 }, o1[2] = { -1, 1 };
    cc_ow_input(w, "dist", in, 4);
    if (!one_input) cc_ow_input(w, "ref", in, 4);
    float cw[4 * 3 * 9], cb[4], gw[192], gb[1] = { 0.1f }, ww[192], wb[1] = { 0.5f };
    for (int i = 0; i < 108; i++) cw[i] = (float)sin(0.7 * i + 0.3);
    for (int i = 0; i < 4; i++) cb[i] = 0.05f * (float)(i - 1);
    for (int i = 0; i < 192; i++) { gw[i] = 0.1f * (float)cos(0.37 * i); ww[i] = 0.05f * (float)sin(0.21 * i + 1); }
    int64_t dcw[4] = { 4, 3, 3, 3 }, dcb[1] = { 4 }, dg[2] = { 1, 192 }, d1[1] = { 1 }, shp[2] = { 1, 64 }, d2[1] = { 2 };
    cc_ow_initializer(w, "cw", dcw, 4, cw);
    cc_ow_initializer(w, "cb", dcb, 1, cb);
    cc_ow_initializer(w, "gw", dg, 2, gw);
    cc_ow_initializer(w, "gb", d1, 1, gb);
    cc_ow_initializer(w, "ww", dg, 2, ww);
    cc_ow_initializer(w, "wb", d1, 1, wb);
    float eps = 1e-6f;
    cc_ow_initializer(w, "eps", d1, 1, &eps);
    cc_ow_initializer_i64(w, "shape", d2, 1, shp);
    static const int64_t k3[2] = { 3, 3 }, pad1[4] = { 1, 1, 1, 1 }, two[2] = { 2, 2 };
    const char *br[2] = { "dist", "ref" };
    for (int b = 0; b < (one_input ? 1 : 2); b++) {
        char c[32], r[32], p[32], f[32];
        snprintf(c, sizeof c, "%s_conv", br[b]); snprintf(r, sizeof r, "%s_relu", br[b]);
        snprintf(p, sizeof p, "%s_pool", br[b]); snprintf(f, sizeof f, "%s_feat", br[b]);
        const char *ci[3] = { br[b], "cw", "cb" }, *co[1] = { c };
        cc_ow_node(w, "Conv", c, ci, 3, co, 1);
        cc_ow_attr_ints(w, "kernel_shape", k3, 2);
        cc_ow_attr_ints(w, "pads", pad1, 4);
        const char *ri[1] = { c }, *ro[1] = { r };
        cc_ow_node(w, "Relu", r, ri, 1, ro, 1);
        const char *pi[1] = { r }, *po[1] = { p };
        cc_ow_node(w, "MaxPool", p, pi, 1, po, 1);
        cc_ow_attr_ints(w, "kernel_shape", two, 2);
        cc_ow_attr_ints(w, "strides", two, 2);
        if (fixed_batch) {
            const char *fi[2] = { p, "shape" }, *fo[1] = { f };
            cc_ow_node(w, "Reshape", f, fi, 2, fo, 1);
        } else {
            const char *fi[1] = { p }, *fo[1] = { f };
            cc_ow_node(w, "Flatten", f, fi, 1, fo, 1);
            cc_ow_attr_int(w, "axis", 1);
        }
    }
    if (one_input) {
        const char *si[3] = { "dist_feat", "dist_feat", "dist_feat" }, *so[1] = { "feat" };
        cc_ow_node(w, "Concat", "feat", si, 3, so, 1);
    } else {
        const char *si[2] = { "dist_feat", "ref_feat" }, *so[1] = { "diff" };
        cc_ow_node(w, "Sub", "diff", si, 2, so, 1);
        const char *ci[3] = { "diff", "dist_feat", "ref_feat" }, *co[1] = { "feat" };
        cc_ow_node(w, "Concat", "feat", ci, 3, co, 1);
    }
    cc_ow_attr_int(w, "axis", 1);
    const char *qi[3] = { "feat", "gw", "gb" }, *qo[1] = { "q" };
    cc_ow_node(w, "Gemm", "q", qi, 3, qo, 1);
    cc_ow_attr_int(w, "transB", 1);
    const char *wi[3] = { "feat", "ww", "wb" }, *wo[1] = { "wpre" };
    cc_ow_node(w, "Gemm", "wpre", wi, 3, wo, 1);
    cc_ow_attr_int(w, "transB", 1);
    const char *ri[1] = { "wpre" }, *ro[1] = { "wrelu" };
    cc_ow_node(w, "Relu", "wrelu", ri, 1, ro, 1);
    const char *ai[2] = { "wrelu", "eps" }, *ao[1] = { "w" };
    cc_ow_node(w, "Add", "w", ai, 2, ao, 1);
    cc_ow_output(w, "q", o1, 2);
    cc_ow_output(w, "w", o1, 2);
    cc_ow_meta(w, "iqa.target", "dist_conv");
    int rc = cc_ow_save(w, path);
    if (rc) printf("writer: %s\n", cc_ow_errmsg(w));
    cc_ow_free(w);
    return rc;
}

static void test_geometry(void)
{
    int r, c;
    cc_iqa_patch_grid(384, 512, 32, &r, &c);
    CHECK(r == 11 && c == 15, "patch grid of 512x384: %dx%d, want 11x15 (range(0, h-32, 32))", r, c);
    cc_iqa_patch_grid(64, 65, 32, &r, &c);
    CHECK(r == 1 && c == 2, "patch grid of 65x64: %dx%d, want 1x2", r, c);
    cc_iqa_patch_grid(32, 100, 32, &r, &c);
    CHECK(r == 0, "an image of height 32 has no patch row (got %d)", r);
    cc_iqa_window_grid(384, 512, 4, &r, &c);
    CHECK(r == 95 && c == 127, "window grid of 512x384 at stride 4: %dx%d, want 95x127", r, c);
    cc_iqa_window_grid(10, 9, 4, &r, &c);
    CHECK(r == 2 && c == 2, "window grid of 9x10 at stride 4: %dx%d, want 2x2", r, c);
}

static void test_mask_and_ssim(void)
{
    float m[64], k[64];
    for (int i = 0; i < 64; i++) m[i] = 0;
    cc_iqa_paste_mask(m, 8, k);
    CHECK(check_maxabs(k, 64) == 0, "all-zero map -> all-zero mask");
    m[3 * 8 + 4] = 5;
    cc_iqa_paste_mask(m, 8, k);
    float mx = 0;
    int arg = 0;
    for (int i = 0; i < 64; i++) if (k[i] > mx) { mx = k[i]; arg = i; }
    CHECK(fabsf(mx - 1) < 1e-6f && arg == 3 * 8 + 4, "mask peaks at 1 at the map's peak (max %g at %d)", mx, arg);
    CHECK(k[0] > 0 && k[0] < k[3 * 8 + 3], "mask is blurred: %g %g", k[0], k[3 * 8 + 3]);
    uint8_t a[40 * 30], b[40 * 30];
    for (int i = 0; i < 1200; i++) { a[i] = (uint8_t)((i * 37) % 251); b[i] = (uint8_t)(255 - a[i] / 2); }
    float map[30 * 20];
    double s = cc_ssim_gray(a, a, 40, 30, map);
    CHECK(fabs(s - 1) < 1e-12, "SSIM(a, a) = %.15g, want 1", s);
    double s1 = cc_ssim_gray(a, b, 40, 30, NULL), s2 = cc_ssim_gray(b, a, 40, 30, NULL);
    CHECK(fabs(s1 - s2) < 1e-12 && s1 < 0.9, "SSIM symmetric and < 1 for different images: %g %g", s1, s2);
    CHECK(isnan(cc_ssim_gray(a, b, 10, 10, NULL)), "SSIM of an image smaller than 11x11 is NaN");
}

static void fill(float *x, int n, double f)
{
    for (int i = 0; i < n; i++) x[i] = (float)(0.5 + 0.5 * sin(f * i + 0.1 * (i % 7)));
}

static void test_model(void)
{
    char fr[512], one[512], fixed[512];
    snprintf(fr, sizeof fr, "%s/tiny_fr.onnx", dir);
    snprintf(one, sizeof one, "%s/tiny_one_input.onnx", dir);
    snprintf(fixed, sizeof fixed, "%s/tiny_fixed_batch.onnx", dir);
    if (write_fr(fr, 0, 0) || write_fr(one, 1, 0) || write_fr(fixed, 0, 1)) { CHECK(0, "cannot write the tiny models"); return; }
    const int H = 21, W = 26, P = 8;
    float *ref = malloc(sizeof(float) * 3 * H * W), *dist = malloc(sizeof(float) * 3 * H * W);
    fill(ref, 3 * H * W, 0.37);
    fill(dist, 3 * H * W, 0.41);
    /* windows: interior, border, past the border (zeros) */
    int ys[7] = { 0, 4, 13, 16, 20, 8, 2 }, xs[7] = { 0, 5, 18, 22, 25, 8, 17 };
    const int n = 7;
    float h1[7], pm1[7 * 16], why1[7 * 64], con1[7 * 64];
    cc_iqa *q = NULL;
    cc_status st = cc_iqa_load(fr, 1, NULL, &q);
    CHECK(st == CC_OK, "load tiny FR model at batch 1: %s", cc_iqa_errmsg(q));
    if (st) { cc_iqa_free(q); free(ref); free(dist); return; }
    int u, v;
    cc_iqa_layer_size(q, &u, &v);
    CHECK(cc_iqa_patch(q) == P && u == 8 && v == 8 && cc_iqa_has_weights(q), "geometry P=%d layer %dx%d", cc_iqa_patch(q), u, v);
    cc_iqa_set_threads(q, 1);
    float pmb[7 * 64];
    st = cc_iqa_windows(q, dist, ref, H, W, ys, xs, n, 0.25f, h1, pmb, why1, con1);
    CHECK(st == CC_OK, "windows at batch 1: %s", cc_iqa_errmsg(q));
    (void)pm1;
    /* contrast = upsample(ReLU(2 (h - q) premap)) (here u = P: the identity) */
    double dmax = 0;
    for (int i = 0; i < n; i++)
        for (int p = 0; p < 64; p++) {
            float c = 2.0f * (h1[i] - 0.25f) * pmb[i * 64 + p];
            double d = fabs((c > 0 ? c : 0) - con1[i * 64 + p]);
            if (d > dmax) dmax = d;
            float g = pmb[i * 64 + p] > 0 ? pmb[i * 64 + p] : 0;
            d = fabs(g - why1[i * 64 + p]);
            if (d > dmax) dmax = d;
        }
    CHECK(dmax < 1e-6, "maps are ReLU(premap) and ReLU(2 (h - q) premap): max diff %g", dmax);
    double score1;
    float pq[8], pw[8];
    st = cc_iqa_score(q, dist, ref, H, W, &score1, pq, pw);
    int pr, pc;
    cc_iqa_patch_grid(H, W, P, &pr, &pc);
    double num = 0, den = 0;
    for (int i = 0; i < pr * pc; i++) { num += (double)pq[i] * pw[i]; den += pw[i]; }
    CHECK(st == CC_OK && pr * pc == 6 && fabs(score1 - num / den) < 1e-9, "score = weighted patch mean (%g vs %g, %d patches)", score1, num / den, pr * pc);
    /* a window past the border equals the zero-padded crop placed in a bigger image */
    {
        int Hb = H + 8, Wb = W + 8;
        float *rb = calloc((size_t)3 * Hb * Wb, sizeof(float)), *db = calloc((size_t)3 * Hb * Wb, sizeof(float));
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < H; y++) {
                memcpy(rb + ((size_t)c * Hb + y) * Wb, ref + ((size_t)c * H + y) * W, sizeof(float) * W);
                memcpy(db + ((size_t)c * Hb + y) * Wb, dist + ((size_t)c * H + y) * W, sizeof(float) * W);
            }
        float hb;
        int y = ys[4], x = xs[4];
        cc_iqa_windows(q, db, rb, Hb, Wb, &y, &x, 1, 0.25f, &hb, NULL, NULL, NULL);
        CHECK(fabsf(hb - h1[4]) < 1e-6f, "window past the border sees zeros: %g vs %g", hb, h1[4]);
        free(rb);
        free(db);
    }
    cc_iqa_free(q);
    /* batch 3 (a partial last batch) and 2 threads give the same numbers */
    for (int t = 1; t <= 2; t++) {
        q = NULL;
        st = cc_iqa_load(fr, 3, NULL, &q);
        CHECK(st == CC_OK, "load at batch 3: %s", cc_iqa_errmsg(q));
        if (st) { cc_iqa_free(q); break; }
        cc_iqa_set_threads(q, t);
        float h3[7], why3[7 * 64], con3[7 * 64];
        st = cc_iqa_windows(q, dist, ref, H, W, ys, xs, n, 0.25f, h3, NULL, why3, con3);
        double s3;
        cc_status st2 = cc_iqa_score(q, dist, ref, H, W, &s3, NULL, NULL);
        CHECK(st == CC_OK && st2 == CC_OK, "windows at batch 3, %d threads", t);
        /* same up to float rounding: OpenBLAS may block the sums by batch
         * size (its Haswell kernels do, e.g. on AMD Zen), so allow a few
         * ulps of each value's magnitude (h and the score are ~1-6 here) */
        double th = 1e-6 * (1 + check_maxabs(h1, 7)), tw = 1e-6 * (1 + check_maxabs(why1, 7 * 64)),
               tc = 1e-6 * (1 + check_maxabs(con1, 7 * 64)), ts = 1e-6 * (1 + fabs(score1));
        CHECK(check_maxdiff(h1, h3, 7) <= th && check_maxdiff(why1, why3, 7 * 64) <= tw &&
              check_maxdiff(con1, con3, 7 * 64) <= tc && fabs(s3 - score1) <= ts,
              "batch 3 / %d threads = batch 1: h %g, why %g, contrast %g, score %g", t, check_maxdiff(h1, h3, 7),
              check_maxdiff(why1, why3, 7 * 64), check_maxdiff(con1, con3, 7 * 64), fabs(s3 - score1));
        /* explain: both compositings run, maps non-negative */
        for (int k = 0; k < 2; k++) {
            cc_iqa_result r;
            st = cc_iqa_explain(q, dist, ref, H, W, 3, 0.25f, k ? CC_IQA_COMPOSITE_REFERENCE : CC_IQA_COMPOSITE_MEAN, &r);
            CHECK(st == CC_OK && r.win_rows == 6 && r.win_cols == 8 && fabs(r.score - score1) <= ts,
                  "explain (%s): grid %dx%d, score %g", k ? "reference" : "mean", r.win_rows, r.win_cols, r.score);
            if (st == CC_OK) {
                float mn = 0;
                for (int i = 0; i < H * W; i++) { if (r.why[i] < mn) mn = r.why[i]; if (r.contrast[i] < mn) mn = r.contrast[i]; }
                CHECK(mn >= 0, "composited maps are non-negative (min %g)", mn);
            }
            cc_iqa_result_free(&r);
        }
        cc_iqa_free(q);
    }
    /* errors */
    q = NULL;
    st = cc_iqa_load(one, 4, NULL, &q);
    CHECK(st == CC_ERR_UNSUPPORTED && strstr(cc_iqa_errmsg(q), "two"), "one-input model refused: %d %s", st, cc_iqa_errmsg(q));
    cc_iqa_free(q);
    q = NULL;
    st = cc_iqa_load(fixed, 4, NULL, &q);
    CHECK(st != CC_OK && strstr(cc_iqa_errmsg(q), "batch"), "graph with a fixed batch size at batch 4: %d %s", st, cc_iqa_errmsg(q));
    cc_iqa_free(q);
    q = NULL;
    st = cc_iqa_load(fixed, 1, NULL, &q);
    CHECK(st == CC_OK, "the same graph at batch 1 loads: %s", cc_iqa_errmsg(q));
    cc_iqa_free(q);
    q = NULL;
    st = cc_iqa_load(fr, 2, "no_such_tensor", &q);
    CHECK(st == CC_ERR_NOTFOUND && strstr(cc_iqa_errmsg(q), "no_such_tensor"), "unknown layer: %d %s", st, cc_iqa_errmsg(q));
    cc_iqa_free(q);
    q = NULL;
    st = cc_iqa_load(fr, 0, NULL, &q);
    CHECK(st == CC_ERR_ARG, "batch 0 refused: %d", st);
    cc_iqa_free(q);
    q = NULL;
    cc_iqa_load(fr, 2, NULL, &q);
    double s;
    st = cc_iqa_score(q, dist, ref, 8, 30, &s, NULL, NULL);
    CHECK(st == CC_ERR_SHAPE && strstr(cc_iqa_errmsg(q), "larger"), "image as tall as a patch: %d %s", st, cc_iqa_errmsg(q));
    cc_iqa_free(q);
    free(ref);
    free(dist);
}

int main(void)
{
    const char *fx = getenv("CC_FIXTURES");
    snprintf(dir, sizeof dir, "%s", fx ? fx : "/tmp");
    test_geometry();
    test_mask_and_ssim();
    test_model();
    return check_exit();
}
