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
#include <stdlib.h>

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
    for (int y = 0; y < dh; y++) {
        const float *r0 = src + (size_t)ay[y].i0 * (size_t)sw, *r1 = src + (size_t)ay[y].i1 * (size_t)sw;
        double h0 = ay[y].l0, h1 = ay[y].l1;
        float *o = dst + (size_t)y * (size_t)dw;
        for (int x = 0; x < dw; x++) {
            int j0 = ax[x].i0, j1 = ax[x].i1;
            double w0 = ax[x].l0, w1 = ax[x].l1;
            double t0 = w0 * r0[j0] + w1 * r0[j1];
            double t1 = w0 * r1[j0] + w1 * r1[j1];
            o[x] = (float)(h0 * t0 + h1 * t1);
        }
    }
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
    for (size_t i = 0; i < n; i++) {
        float v = m[i];
        if (!isfinite(v)) finite = 0;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    float range = hi - lo;
    if (!finite || !isfinite(range) || !(range > 0.0f)) {
        for (size_t i = 0; i < n; i++) m[i] = 0.0f;
        if (flat) *flat = 1;
        return;
    }
    for (size_t i = 0; i < n; i++) m[i] = (m[i] - lo) / range;
}
