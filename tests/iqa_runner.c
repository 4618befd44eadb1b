/* Test helper for tests/test_iqa_oracle.sh: runs the IQA library on the
 * shared TID2013 images and writes what the PyTorch oracle checks.
 *
 * usage: iqa_runner MODEL REF DIST OUTDIR TARGET WINDOWS.npy BATCH THREADS
 *                   [CROP_X CROP_Y CROP_W CROP_H STRIDE]
 * writes OUTDIR/score.npy [1] and patch_q.npy, patch_w.npy; for the windows
 * ([n, 2] rows of (y, x)): h.npy [n], premap.npy [n, u, v], why.npy and
 * contrast.npy [n, P, P]; with a crop: crop_score.npy, crop_window_q.npy and
 * the composited maps comp_{mean,ref}_{why,contrast}.npy of the crop.
 *
 * usage: iqa_runner --ssim A B OUT.npy
 * writes the luminance SSIM map of images A and B (PIL "L") and prints its mean. */
#include "contrastcam_iqa.h"
#include "image/image.h"
#include "util/npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int load(const char *path, float **x, int *w, int *h)
{
    char err[512];
    cc_image raw, rgb;
    if (cc_image_load(path, &raw, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    int rc = cc_image_to_rgb(&raw, &rgb);
    cc_image_free(&raw);
    if (rc) return 1;
    *w = rgb.w;
    *h = rgb.h;
    *x = malloc(sizeof(float) * 3 * (size_t)rgb.w * (size_t)rgb.h);
    const float zero[3] = { 0, 0, 0 }, one[3] = { 1, 1, 1 };
    rc = !*x || cc_image_to_tensor(&rgb, zero, one, 3, *x);
    cc_image_free(&rgb);
    return rc;
}

static int save(const char *dir, const char *name, const float *d, const int64_t *dims, int nd)
{
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (cc_npy_save(path, d, dims, nd, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    return 0;
}

static int ssim_mode(const char *pa, const char *pb, const char *out)
{
    char err[512];
    cc_image a, b, ga, gb;
    if (cc_image_load(pa, &a, err, sizeof err) || cc_image_load(pb, &b, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    if (a.w != b.w || a.h != b.h || cc_image_to_gray(&a, &ga) || cc_image_to_gray(&b, &gb)) return 1;
    float *map = malloc(sizeof(float) * (size_t)(a.w - 10) * (size_t)(a.h - 10));
    double s = cc_ssim_gray(ga.px, gb.px, a.w, a.h, map);
    int64_t dims[2] = { a.h - 10, a.w - 10 };
    if (cc_npy_save(out, map, dims, 2, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    printf("%.10f\n", s);
    free(map);
    cc_image_free(&a); cc_image_free(&b); cc_image_free(&ga); cc_image_free(&gb);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "--ssim")) return ssim_mode(argv[2], argv[3], argv[4]);
    if (argc != 9 && argc != 14) {
        fprintf(stderr, "usage: iqa_runner MODEL REF DIST OUTDIR TARGET WINDOWS.npy BATCH THREADS [CX CY CW CH STRIDE]\n");
        return 2;
    }
    const char *out = argv[4];
    float target = strtof(argv[5], NULL);
    int batch = atoi(argv[7]), threads = atoi(argv[8]);
    float *xr, *xd;
    int w, h, w2, h2;
    if (load(argv[2], &xr, &w, &h) || load(argv[3], &xd, &w2, &h2) || w != w2 || h != h2) return 1;
    cc_iqa *q;
    if (cc_iqa_load(argv[1], batch, NULL, &q)) { fprintf(stderr, "%s\n", cc_iqa_errmsg(q)); return 1; }
    if (cc_iqa_set_threads(q, threads)) { fprintf(stderr, "%s\n", cc_iqa_errmsg(q)); return 1; }
    int P = cc_iqa_patch(q), u, v;
    cc_iqa_layer_size(q, &u, &v);
    /* score */
    int pr, pc;
    cc_iqa_patch_grid(h, w, P, &pr, &pc);
    float *pq = malloc(sizeof(float) * (size_t)(pr * pc)), *pw = malloc(sizeof(float) * (size_t)(pr * pc));
    double score;
    if (cc_iqa_score(q, xd, xr, h, w, &score, pq, pw)) { fprintf(stderr, "%s\n", cc_iqa_errmsg(q)); return 1; }
    float s1 = (float)score;
    int64_t one = 1, pd[2] = { pr, pc };
    if (save(out, "score.npy", &s1, &one, 1) || save(out, "patch_q.npy", pq, pd, 2) || save(out, "patch_w.npy", pw, pd, 2)) return 1;
    /* windows */
    cc_npy win;
    char err[512];
    if (cc_npy_load(argv[6], &win, err, sizeof err) || win.ndim != 2 || win.dims[1] != 2) { fprintf(stderr, "windows: %s\n", err); return 1; }
    int n = (int)win.dims[0];
    int *ys = malloc(sizeof(int) * (size_t)n), *xs = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) { ys[i] = (int)win.data[2 * i]; xs[i] = (int)win.data[2 * i + 1]; }
    float *hq = malloc(sizeof(float) * (size_t)n), *pm = malloc(sizeof(float) * (size_t)n * (size_t)(u * v));
    float *why = malloc(sizeof(float) * (size_t)n * (size_t)(P * P)), *con = malloc(sizeof(float) * (size_t)n * (size_t)(P * P));
    if (cc_iqa_windows(q, xd, xr, h, w, ys, xs, n, target, hq, pm, why, con)) { fprintf(stderr, "%s\n", cc_iqa_errmsg(q)); return 1; }
    int64_t d1 = n, d3[3] = { n, u, v }, dp[3] = { n, P, P };
    if (save(out, "h.npy", hq, &d1, 1) || save(out, "premap.npy", pm, d3, 3) || save(out, "why.npy", why, dp, 3) ||
        save(out, "contrast.npy", con, dp, 3))
        return 1;
    if (argc == 14) {
        int cx = atoi(argv[9]), cy = atoi(argv[10]), cw = atoi(argv[11]), ch = atoi(argv[12]), stride = atoi(argv[13]);
        if (cx < 0 || cy < 0 || cw < 1 || ch < 1 || cx + cw > w || cy + ch > h) { fprintf(stderr, "bad crop\n"); return 1; }
        float *cr = malloc(sizeof(float) * 3 * (size_t)(cw * ch)), *cd = malloc(sizeof(float) * 3 * (size_t)(cw * ch));
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < ch; y++) {
                memcpy(cr + ((size_t)c * ch + y) * cw, xr + ((size_t)c * h + cy + y) * w + cx, sizeof(float) * (size_t)cw);
                memcpy(cd + ((size_t)c * ch + y) * cw, xd + ((size_t)c * h + cy + y) * w + cx, sizeof(float) * (size_t)cw);
            }
        const char *names[2] = { "mean", "ref" };
        for (int k = 0; k < 2; k++) {
            cc_iqa_result r;
            if (cc_iqa_explain(q, cd, cr, ch, cw, stride, target, k ? CC_IQA_COMPOSITE_REFERENCE : CC_IQA_COMPOSITE_MEAN, &r)) {
                fprintf(stderr, "%s\n", cc_iqa_errmsg(q));
                return 1;
            }
            char a[64], b[64];
            int64_t dm[2] = { ch, cw }, dw[2] = { r.win_rows, r.win_cols };
            float cs = (float)r.score;
            snprintf(a, sizeof a, "comp_%s_why.npy", names[k]);
            snprintf(b, sizeof b, "comp_%s_contrast.npy", names[k]);
            if (save(out, a, r.why, dm, 2) || save(out, b, r.contrast, dm, 2) || save(out, "crop_window_q.npy", r.window_q, dw, 2) ||
                save(out, "crop_score.npy", &cs, &one, 1))
                return 1;
            cc_iqa_result_free(&r);
        }
        free(cr);
        free(cd);
    }
    printf("score %.6f, %d windows, batch %d, %d threads\n", score, n, batch, cc_iqa_threads(q));
    cc_npy_free(&win);
    free(ys); free(xs); free(hq); free(pm); free(why); free(con); free(pq); free(pw); free(xr); free(xd);
    cc_iqa_free(q);
    return 0;
}
