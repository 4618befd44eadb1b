/* Bilinear map resampling with PyTorch's semantics and min-max normalisation.
 *
 * PyTorch (aten/src/ATen/native/UpSample.h and the CPU kernel), align_corners
 * False, output size given: per axis scale = (float)in / out; the source
 * coordinate src = scale * (d + 0.5) - 0.5 (evaluated in double, as the
 * double literal 0.5 makes it there), set to 0 when negative; i0 = (int)src,
 * lambda1 = (float)(src - i0), i1 = i0 + (i0 < in - 1), lambda0 = 1 - lambda1;
 * an axis whose size does not change is copied (i0 = i1 = d, lambda1 = 0).
 * value = h0 * (w0 * x[i0][j0] + w1 * x[i0][j1]) + h1 * (w0 * x[i1][j0] + w1 * x[i1][j1]),
 * accumulated in double and rounded once to float: against torch 1.13 (whose
 * AVX2 kernel fuses some of these products) this is within 1 ulp, and
 * bit-identical on 60-100% of the pixels. */
#include "image/image.h"
#include "ops/op.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define PAR_PIXELS ((int64_t)1 << 15)   /* a 224 x 224 map is worth two threads */

void cc_upsample_taps(int in, int out, cc_tap *a)
{
    float scale = (float)in / (float)out;
    for (int d = 0; d < out; d++) {
        if (in == out) {
            a[d].i0 = a[d].i1 = d;
            a[d].l0 = 1.0f;
            a[d].l1 = 0.0f;
            continue;
        }
        double src = (double)scale * ((double)d + 0.5) - 0.5;
        if (src < 0.0) src = 0.0;
        int i0 = (int)src;
        if (i0 > in - 1) i0 = in - 1;
        float l1 = (float)(src - (double)i0);
        if (l1 < 0.0f) l1 = 0.0f;
        if (l1 > 1.0f) l1 = 1.0f;
        a[d].i0 = i0;
        a[d].i1 = i0 + (i0 < in - 1 ? 1 : 0);
        a[d].l1 = l1;
        a[d].l0 = 1.0f - l1;
    }
}

int cc_upsample_bilinear(const float *src, int sh, int sw, float *dst, int dh, int dw)
{
    if (!src || !dst || sh < 1 || sw < 1 || dh < 1 || dw < 1) return CC_E_ARG;
    cc_tap *ay = malloc((size_t)dh * sizeof *ay), *ax = malloc((size_t)dw * sizeof *ax);
    if (!ay || !ax) {
        free(ay);
        free(ax);
        return CC_E_NOMEM;
    }
    cc_upsample_taps(sh, dh, ay);
    cc_upsample_taps(sw, dw, ax);
    /* the horizontal pass once per source row (a map has few), in double as
     * before, then each output row mixes two of them: the same operations in
     * the same order as per pixel, so the same bits */
    double *hr = malloc((size_t)sh * (size_t)dw * sizeof *hr);
    if (!hr) {
        free(ay);
        free(ax);
        return CC_E_NOMEM;
    }
    for (int r = 0; r < sh; r++) {
        const float *row = src + (size_t)r * (size_t)sw;
        double *h = hr + (size_t)r * (size_t)dw;
        for (int x = 0; x < dw; x++) {
            double w0 = ax[x].l0, w1 = ax[x].l1;
            h[x] = w0 * row[ax[x].i0] + w1 * row[ax[x].i1];
        }
    }
    /* rows in parallel for a picture-sized map (each row is computed alone: the
     * same bits whatever the thread count) */
#pragma omp parallel for schedule(static) if ((int64_t)dh * dw >= PAR_PIXELS)
    for (int y = 0; y < dh; y++) {
        const double *t0 = hr + (size_t)ay[y].i0 * (size_t)dw, *t1 = hr + (size_t)ay[y].i1 * (size_t)dw;
        const double h0 = ay[y].l0, h1 = ay[y].l1;
        float *o = dst + (size_t)y * (size_t)dw;
#pragma omp simd
        for (int x = 0; x < dw; x++) o[x] = (float)(h0 * t0[x] + h1 * t1[x]);
    }
    free(hr);
    free(ay);
    free(ax);
    return 0;
}

void cc_minmax_normalize(float *m, size_t n, int *flat)
{
    if (flat) *flat = 0;
    if (!m || n == 0) return;
    float lo = m[0], hi = m[0];
    int finite = 1;
    /* vectorised: v - v is NaN exactly for inf and NaN (which zero the map anyway,
     * so how min / max order them does not matter) */
#pragma omp parallel for simd schedule(static) reduction(min:lo) reduction(max:hi) reduction(&:finite) \
    if (n >= (size_t)PAR_PIXELS)
    for (size_t i = 0; i < n; i++) {
        float v = m[i];
        finite &= v - v == 0.0f;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    float range = hi - lo;
    if (!finite || !isfinite(range) || !(range > 0.0f)) {
        for (size_t i = 0; i < n; i++) m[i] = 0.0f;
        if (flat) *flat = 1;
        return;
    }
#pragma omp parallel for simd schedule(static) if (n >= (size_t)PAR_PIXELS)
    for (size_t i = 0; i < n; i++) m[i] = (m[i] - lo) / range;
}
