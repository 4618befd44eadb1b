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
#ifdef _OPENMP
#include <omp.h>
#endif

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

/* Output rows [y0, y1): each mixes two horizontally interpolated source rows
 * (hr, in double), rounded once.  Its own function so that the vector
 * clones serve the threads too (an OpenMP region's body is compiled apart). */
CC_HOT_CLONES
static void vertical_rows(const double *hr, const cc_tap *ay, int dw, float *dst, int y0, int y1)
{
    for (int y = y0; y < y1; y++) {
        const double *t0 = hr + (size_t)ay[y].i0 * (size_t)dw, *t1 = hr + (size_t)ay[y].i1 * (size_t)dw;
        const double h0 = ay[y].l0, h1 = ay[y].l1;
        float *o = dst + (size_t)y * (size_t)dw;
#pragma omp simd
        for (int x = 0; x < dw; x++) o[x] = (float)(h0 * t0[x] + h1 * t1[x]);
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
#pragma omp parallel if ((int64_t)dh * dw >= PAR_PIXELS)
    {
        int nt = 1, id = 0;
#ifdef _OPENMP
        nt = omp_get_num_threads(), id = omp_get_thread_num();
#endif
        vertical_rows(hr, ay, dw, dst, (int)((int64_t)dh * id / nt), (int)((int64_t)dh * (id + 1) / nt));
    }
    free(hr);
    free(ay);
    free(ax);
    return 0;
}

/* The extremes of m[i0, i1) into lo / hi; clears *finite at an inf or NaN:
 * v - v is NaN exactly for those (which zero the map anyway, so how min / max
 * order them does not matter). */
CC_HOT_CLONES
static void extremes(const float *m, size_t i0, size_t i1, float *lo_out, float *hi_out, int *finite_out)
{
    float lo = m[i0], hi = m[i0];
    int finite = 1;
#pragma omp simd reduction(min:lo) reduction(max:hi) reduction(&:finite)
    for (size_t i = i0; i < i1; i++) {
        float v = m[i];
        finite &= v - v == 0.0f;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    *lo_out = lo, *hi_out = hi, *finite_out = finite;
}

CC_HOT_CLONES
static void rescale(float *m, size_t i0, size_t i1, float lo, float range)
{
#pragma omp simd
    for (size_t i = i0; i < i1; i++) m[i] = (m[i] - lo) / range;
}

void cc_minmax_normalize(float *m, size_t n, int *flat)
{
    if (flat) *flat = 0;
    if (!m || n == 0) return;
    float lo = m[0], hi = m[0], range = 0;
    int finite = 1;
    /* one region: each thread the extremes of its share, combined (min and max
     * in any order: the same values), then its share rescaled */
#pragma omp parallel if (n >= (size_t)PAR_PIXELS)
    {
        size_t nt = 1, id = 0;
#ifdef _OPENMP
        nt = (size_t)omp_get_num_threads(), id = (size_t)omp_get_thread_num();
#endif
        const size_t i0 = n * id / nt, i1 = n * (id + 1) / nt;
        if (i1 > i0) {
            float l, h;
            int f;
            extremes(m, i0, i1, &l, &h, &f);
#pragma omp critical(cc_minmax)
            {
                lo = l < lo ? l : lo;
                hi = h > hi ? h : hi;
                finite &= f;
            }
        }
#pragma omp barrier
#pragma omp single
        range = hi - lo;
        /* the single's barrier: every thread sees range */
        if (finite && isfinite(range) && range > 0.0f && i1 > i0) rescale(m, i0, i1, lo, range);
    }
    if (!finite || !isfinite(range) || !(range > 0.0f)) {
        for (size_t i = 0; i < n; i++) m[i] = 0.0f;
        if (flat) *flat = 1;
    }
}
