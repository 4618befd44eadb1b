/* contrastcam — full-reference image quality assessment (IQA) explanations:
 * "Why does this image score s?" and "Why s, rather than q?" for networks of
 * the WaDIQaM-FR family (docs/method.md, "Image quality assessment").
 *
 * The model: two float inputs, the distorted and the reference patch
 * ([N, 3, P, P] each; named "dist" and "ref", else taken in that order), an
 * output "q" [N, 1] (patch quality h) and optionally "w" [N, 1] (patch weight;
 * without it every patch weighs 1).  Batch items must be independent.  The
 * model is loaded once with its batch dimension replaced by B, so B windows
 * run as one forward (big GEMMs) and one backward with a [B, 1] seed.
 *
 * Images are planar float RGB in [0, 1] (3 x h x w, as torchvision's
 * to_tensor), the same size for the reference and the distorted image.
 *
 * Like the rest of the library: every fallible call returns a cc_status, the
 * handle keeps a message (cc_iqa_errmsg), nothing prints. */
#ifndef CONTRASTCAM_IQA_H
#define CONTRASTCAM_IQA_H

#include "contrastcam.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cc_iqa cc_iqa;

/* Load `path` with its graph inputs' batch dimension set to `batch` (1..4096).
 * layer: the target tensor (NULL: metadata "iqa.target", else "dist_conv10").
 * Fails with CC_ERR_UNSUPPORTED when the model is not a two-input FR-IQA
 * model (message says why).  On failure *out may hold a handle whose
 * cc_iqa_errmsg explains; free it with cc_iqa_free. */
cc_status cc_iqa_load(const char *path, int batch, const char *layer, cc_iqa **out);
void cc_iqa_free(cc_iqa *q);
const char *cc_iqa_errmsg(const cc_iqa *q);
/* The loaded model (borrowed) and its geometry. */
const cc_model *cc_iqa_model(const cc_iqa *q);
int cc_iqa_patch(const cc_iqa *q);        /* P */
int cc_iqa_batch(const cc_iqa *q);        /* B */
int cc_iqa_layer(const cc_iqa *q);        /* target tensor index */
int cc_iqa_has_weights(const cc_iqa *q);  /* the model has a "w" output */
/* Worker threads (default, and threads < 1: omp_get_max_threads()).  Each
 * worker has its own session (memory: one batch-B forward each) and runs it
 * single-threaded, B windows at a time; while workers run, OpenBLAS is set
 * to one thread (process-wide) and restored afterwards. */
cc_status cc_iqa_set_threads(cc_iqa *q, int threads);
int cc_iqa_threads(const cc_iqa *q);

/* Image score: non-overlapping P x P patches at rows 0, P, ... strictly below
 * h - P and columns likewise (the reference's rule), score = sum(h*w)/sum(w).
 * patch_q / patch_w (may be NULL) get the per-patch values, row-major over
 * the patch grid (rows x cols, see cc_iqa_patch_grid). */
void cc_iqa_patch_grid(int h, int w, int patch, int *rows, int *cols);
cc_status cc_iqa_score(cc_iqa *q, const float *dist, const float *ref, int h, int w,
                       double *score, float *patch_q, float *patch_w);

/* Per-window explanation for n windows with top-left corners (ys[i], xs[i])
 * (pixels past the image border read as 0):
 *   hq[i]       the window's quality h;
 *   premap      (may be NULL) n x u x v: sum_c alpha_c A_c at the layer,
 *               before the ReLU, alpha = spatial mean of dh/dA;
 *   why, contrast (may be NULL) n x P x P: ReLU(premap) and
 *               ReLU(2 (h - target) premap) upsampled bilinearly (half-pixel
 *               centres) to P x P, not normalised.
 * One forward and one backward (seed 1 for every window: the contrast seed
 * 2 (h - q) is a per-window scalar, so its gradient is that multiple of the
 * Grad-CAM gradient) per batch of B windows. */
cc_status cc_iqa_windows(cc_iqa *q, const float *dist, const float *ref, int h, int w,
                         const int *ys, const int *xs, int n, float target,
                         float *hq, float *premap, float *why, float *contrast);
/* The spatial size of the target layer (u x v). */
void cc_iqa_layer_size(const cc_iqa *q, int *u, int *v);

typedef enum cc_iqa_composite {
    CC_IQA_COMPOSITE_MEAN = 0,       /* per pixel, the mean of every window map covering it */
    CC_IQA_COMPOSITE_REFERENCE = 1   /* paste in scan order with a blurred copy of the map as mask */
} cc_iqa_composite;

typedef struct cc_iqa_result {
    double score;             /* image score (non-overlapping patches) */
    int n_patches;
    int win_rows, win_cols;   /* the sliding-window grid */
    float *window_q;          /* win_rows x win_cols: each window's h */
    float *why;               /* h x w composited "Why s?" map, not normalised */
    float *contrast;          /* h x w composited "Why s, rather than q?" map */
    float *patch_q, *patch_w; /* the score's patches (rows x cols of cc_iqa_patch_grid) */
} cc_iqa_result;

/* Windows at rows 0, stride, ... < h - stride and columns 0, stride, ... <
 * w - stride (method.md); both maps composited over the image. */
void cc_iqa_window_grid(int h, int w, int stride, int *rows, int *cols);
cc_status cc_iqa_explain(cc_iqa *q, const float *dist, const float *ref, int h, int w,
                         int stride, float target, cc_iqa_composite composite, cc_iqa_result *out);
void cc_iqa_result_free(cc_iqa_result *r);

/* Mask of the reference compositing for one P x P window map: Gaussian blur
 * (sigma 2, radius 6, edges replicated) divided by its maximum (all zeros
 * for an all-zero map).  Exposed for tests. */
void cc_iqa_paste_mask(const float *map, int P, float *mask);

/* SSIM (Wang et al. 2004) of two 8-bit gray images of w x h: 11 x 11
 * Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, over the "valid"
 * positions (the window inside the image).  map (may be NULL) gets the
 * (h-10) x (w-10) SSIM map; returns its mean, or NaN when the image is
 * smaller than 11 x 11. */
double cc_ssim_gray(const uint8_t *a, const uint8_t *b, int w, int h, float *map);

#ifdef __cplusplus
}
#endif
#endif
