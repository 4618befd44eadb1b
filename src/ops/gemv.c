/* One row through a fully connected layer, y = alpha W x + y, W's rows the
 * outputs (Gemm with transB, the classifier of every torchvision CNN).
 *
 * Why not OpenBLAS's sgemv: on one image this product only streams W (5 MB
 * for MobileNetV2's classifier) from memory, so any tidy kernel is as fast;
 * owning it gives a dot order that does not depend on the thread count, and
 * lets an explanation fold in the softmax pull-back u = W' softmax(z) while
 * each row is still in L1 (cc_softmax_tap): a contrast's seed is
 * softmax(z) - onehot(Q), and without the tap its weights read W once more.
 *
 * The pull-back runs as an online softmax: rows go in runs; each run keeps
 * its largest z so far, m, the sum S of exp(z - m) and U = sum exp(z - m) W[r],
 * rescaling both when m grows (a few times per run).  The runs are fixed
 * (not one per thread) and merged in order, so u is the same for any thread
 * count. */
#include "avx512.h"
#include "op.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define RUNS 8        /* runs of rows for the threads and the pull-back */
#define ROWS 4        /* rows per dot block */

#ifdef CC_AVX512
/* d[r] = W[r] . x for r < nr (1..4): 16 lanes per row, summed across at the end. */
static AVX512 void dot_rows(const float *W, int64_t ldw, int nr, int64_t k, const float *x, float *d)
{
    const float *w[ROWS];
    for (int r = 0; r < ROWS; r++) w[r] = W + (r < nr ? r : nr - 1) * ldw;
    __m512 a[ROWS];
#pragma GCC unroll 4
    for (int r = 0; r < ROWS; r++) a[r] = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j + 16 <= k; j += 16) {
        const __m512 xv = _mm512_loadu_ps(x + j);
#pragma GCC unroll 4
        for (int r = 0; r < ROWS; r++) a[r] = _mm512_fmadd_ps(_mm512_loadu_ps(w[r] + j), xv, a[r]);
    }
    if (j < k) {
        const __mmask16 m = cc_live16(k - j);
        const __m512 xv = _mm512_maskz_loadu_ps(m, x + j);
#pragma GCC unroll 4
        for (int r = 0; r < ROWS; r++) a[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w[r] + j), xv, a[r]);
    }
    for (int r = 0; r < nr; r++) d[r] = _mm512_reduce_add_ps(a[r]);
}

/* U += sum_r e[r] W[r] for r < nr */
static AVX512 void axpy_rows(const float *W, int64_t ldw, int nr, int64_t k, const float *e, float *U)
{
    const float *w[ROWS];
    __m512 ev[ROWS];
    for (int r = 0; r < ROWS; r++) {
        w[r] = W + (r < nr ? r : nr - 1) * ldw;
        ev[r] = _mm512_set1_ps(r < nr ? e[r] : 0.0f);
    }
    for (int64_t j = 0; j < k; j += 16) {
        const __mmask16 m = cc_live16(k - j);
        __m512 u = _mm512_maskz_loadu_ps(m, U + j);
#pragma GCC unroll 4
        for (int r = 0; r < ROWS; r++) u = _mm512_fmadd_ps(ev[r], _mm512_maskz_loadu_ps(m, w[r] + j), u);
        _mm512_mask_storeu_ps(U + j, m, u);
    }
}
#endif

/* The same sums in plain C: 16 lanes, then the lanes pairwise. */
static void dot_rows_c(const float *W, int64_t ldw, int nr, int64_t k, const float *x, float *d)
{
    for (int r = 0; r < nr; r++) {
        const float *w = W + r * ldw;
        float a[16] = { 0 };
        for (int64_t j = 0; j < k; j++) a[j % 16] += w[j] * x[j];
        for (int h = 8; h >= 1; h /= 2)
            for (int l = 0; l < h; l++) a[l] += a[l + h];
        d[r] = a[0];
    }
}

static void axpy_rows_c(const float *W, int64_t ldw, int nr, int64_t k, const float *e, float *U)
{
    for (int r = 0; r < nr; r++) {
        const float *w = W + r * ldw;
        for (int64_t j = 0; j < k; j++) U[j] += e[r] * w[j];
    }
}

/* One run of rows [r0, r1): the dots, and with U the run's online softmax
 * state (m, S, U; nan set when a z is NaN). */
static void run_rows(const float *W, int64_t ldw, int64_t r0, int64_t r1, int64_t k, const float *x, float alpha,
                     float *y, float *U, float *m_out, double *S_out, int *nan_out, int own)
{
    float m = -INFINITY;
    double S = 0;
    int nan = 0;
    for (int64_t r = r0; r < r1; r += ROWS) {
        const int nr = (int)(r1 - r < ROWS ? r1 - r : ROWS);
        const float *w = W + r * ldw;
        float d[ROWS];
#ifdef CC_AVX512
        if (own) dot_rows(w, ldw, nr, k, x, d);
        else
#endif
            dot_rows_c(w, ldw, nr, k, x, d);
        float bm = m;
        for (int i = 0; i < nr; i++) {
            y[r + i] = alpha * d[i] + y[r + i];
            if (isnan(y[r + i])) nan = 1;
            else if (y[r + i] > bm) bm = y[r + i];
        }
        if (!U) continue;
        if (bm > m) {   /* a new largest z: rescale what the run holds */
            const double f = exp((double)m - (double)bm);
            S *= f;
            for (int64_t j = 0; j < k; j++) U[j] *= (float)f;
            m = bm;
        }
        float e[ROWS];
        for (int i = 0; i < nr; i++) {
            const double ei = exp((double)y[r + i] - (double)m);
            S += ei;
            e[i] = (float)ei;
        }
#ifdef CC_AVX512
        if (own) axpy_rows(w, ldw, nr, k, e, U);
        else
#endif
            axpy_rows_c(w, ldw, nr, k, e, U);
    }
    *m_out = m, *S_out = S, *nan_out = nan;
}

int cc_gemv_rows(const float *W, int64_t ldw, int64_t n, int64_t k, const float *x, float alpha, float *y,
                 cc_softmax_tap *tap, cc_ctx *ctx)
{
    if (tap && (tap->k != k || n < 1)) tap = NULL;
    if (tap) tap->done = 0;
    float *U = NULL, *heap = NULL;
    if (tap) {
        const size_t need = (size_t)RUNS * (size_t)k;
        U = ctx ? cc_scratch(ctx, 0, need) : (heap = malloc(sizeof(float) * need));
        if (!U) return CC_E_NOMEM;
        memset(U, 0, sizeof(float) * need);
    }
    float m[RUNS];
    double S[RUNS];
    int nan[RUNS];
#ifdef CC_AVX512
    const int own = cc_own_kernels();
#else
    const int own = 0;
#endif
#pragma omp parallel for schedule(static) if (n * k >= CC_PAR_MIN)
    for (int i = 0; i < RUNS; i++)
        run_rows(W, ldw, n * i / RUNS, n * (i + 1) / RUNS, k, x, alpha, y, U ? U + (size_t)i * (size_t)k : NULL, &m[i],
                 &S[i], &nan[i], own);
    if (tap) {
        /* merge the runs in order: u = sum_i U_i exp(m_i - M) / sum_i S_i exp(m_i - M) */
        float M = -INFINITY;
        int any_nan = 0;
        for (int i = 0; i < RUNS; i++) {
            any_nan |= nan[i];
            if (m[i] > M) M = m[i];
        }
        double tot = 0, sc[RUNS];
        for (int i = 0; i < RUNS; i++) {
            sc[i] = S[i] > 0 ? exp((double)m[i] - (double)M) : 0.0;
            tot += S[i] * sc[i];
        }
        for (int64_t j = 0; j < k; j++) {
            float v = 0;
            for (int i = 0; i < RUNS; i++) v += U[(size_t)i * (size_t)k + (size_t)j] * (float)(sc[i] / tot);
            tap->u[j] = any_nan ? NAN : v;
        }
        tap->w = W;
        tap->n = n;
        tap->done = 1;
    }
    free(heap);
    return CC_E_OK;
}
