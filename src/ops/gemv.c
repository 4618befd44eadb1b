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
#include "conv_kernels.h"
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

/* The runs' shares of the merged pull-back: f_i = exp(m_i - M) / sum_j S_j exp(m_j - M),
 * M the largest m_i of the runs that saw rows (used, or all when NULL); 0 for the others. */
static void run_weights(const float *m, const double *S, const int *used, float *f)
{
    float M = -INFINITY;
    for (int i = 0; i < RUNS; i++)
        if ((!used || used[i]) && m[i] > M) M = m[i];
    double tot = 0, sc[RUNS];
    for (int i = 0; i < RUNS; i++) {
        sc[i] = (!used || used[i]) && S[i] > 0 ? exp((double)m[i] - (double)M) : 0.0;
        tot += S[i] * sc[i];
    }
    for (int i = 0; i < RUNS; i++) f[i] = (float)(sc[i] / tot);
}

static void tap_done(cc_softmax_tap *tap, const float *W, const float *Wp, const cc_packed *pk, int64_t n)
{
    tap->w = W;
    tap->wp = Wp;
    tap->pk = pk;
    tap->n = n;
    tap->done = 1;
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
        /* merge the runs in order: u = sum_i U_i f_i */
        float f[RUNS];
        run_weights(m, S, NULL, f);
        int any_nan = 0;
        for (int i = 0; i < RUNS; i++) any_nan |= nan[i];
        for (int64_t j = 0; j < k; j++) {
            float v = 0;
            for (int i = 0; i < RUNS; i++) v += U[(size_t)i * (size_t)k + (size_t)j] * f[i];
            tap->u[j] = any_nan ? NAN : v;
        }
        tap_done(tap, W, NULL, NULL, n);
    }
    free(heap);
    return CC_E_OK;
}

/* ---- packed rows --------------------------------------------------------------
 * The classifier's rows packed in panels (conv_packed.c's layout, made at load
 * by gemm.c): the forward's dots read the same bytes as the all-Q product of
 * every contrast map (cam.c), which then finds them in the caches instead of
 * reading a second 5 MB copy from memory.  A panel's column k is 16V contiguous
 * floats (V vectors of 16 rows); a dot runs in k order as four interleaved
 * partial sums (k mod 4), added as (p0 + p1) + (p2 + p3).  The pull-back keeps,
 * per run of panels, 16 lane sums per k (lane l: rows l, l + 16, ...), merged
 * over the runs and then across the lanes pairwise. */
#ifdef CC_AVX512
static inline __attribute__((always_inline)) AVX512 void panel_dots_v(int V, const float *restrict wp, int64_t K,
                                                                     const float *restrict x, float *restrict d)
{
    __m512 a[4][4];
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++)
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) a[q][v] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 4 <= K; k += 4)
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++) {
            const __m512 xb = _mm512_set1_ps(x[k + q]);
            const float *w = wp + (k + q) * 16 * V;
#pragma GCC unroll 4
            for (int v = 0; v < V; v++) a[q][v] = _mm512_fmadd_ps(_mm512_loadu_ps(w + 16 * v), xb, a[q][v]);
        }
    for (; k < K; k++) {
        const int q = (int)(k & 3);
        const __m512 xb = _mm512_set1_ps(x[k]);
        for (int v = 0; v < V; v++) a[q][v] = _mm512_fmadd_ps(_mm512_loadu_ps(wp + k * 16 * V + 16 * v), xb, a[q][v]);
    }
#pragma GCC unroll 4
    for (int v = 0; v < V; v++)
        _mm512_storeu_ps(d + 16 * v, _mm512_add_ps(_mm512_add_ps(a[0][v], a[1][v]), _mm512_add_ps(a[2][v], a[3][v])));
}

static AVX512 void panel_dots(int V, const float *wp, int64_t K, const float *x, float *d)
{
    switch (V) {
    case 1: panel_dots_v(1, wp, K, x, d); break;
    case 2: panel_dots_v(2, wp, K, x, d); break;
    case 3: panel_dots_v(3, wp, K, x, d); break;
    default: panel_dots_v(4, wp, K, x, d); break;
    }
}

/* U[16k + l] = (first ? 0 : U[16k + l]) + sum_v e[16v + l] * panel[k][16v + l] */
static AVX512 void panel_axpy(int V, const float *wp, int64_t K, const float *e, float *U, int first)
{
    __m512 ev[4];
    for (int v = 0; v < 4; v++) ev[v] = v < V ? _mm512_loadu_ps(e + 16 * v) : _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k++) {
        const float *w = wp + k * 16 * V;
        __m512 t = _mm512_mul_ps(ev[0], _mm512_loadu_ps(w));
        for (int v = 1; v < V; v++) t = _mm512_fmadd_ps(ev[v], _mm512_loadu_ps(w + 16 * v), t);
        if (!first) t = _mm512_add_ps(_mm512_loadu_ps(U + 16 * k), t);
        _mm512_storeu_ps(U + 16 * k, t);
    }
}

/* Panels [p0, p1): the dots into y, and with U the run's online softmax state
 * (m, S, lane sums U; *used when it saw a panel). */
static AVX512 void run_panels(const cc_packed *pk, const float *Wp, int64_t p0, int64_t p1, const float *x, float alpha,
                              float *y, float *U, float *m_out, double *S_out, int *nan_out, int *used)
{
    const int64_t R = pk->rows, K = pk->K, M = pk->M;
    const int V = (int)(R / 16);
    float m = -INFINITY;
    double S = 0;
    int nan = 0, first = 1;
    for (int64_t p = p0; p < p1; p++) {
        const float *wp = Wp + p * R * K;
        float d[64], e[64];
        panel_dots(V, wp, K, x, d);
        const int rows = (int)(M - p * R < R ? M - p * R : R);
        float *yp = y + p * R;
        float bm = m;
        for (int i = 0; i < rows; i++) {
            yp[i] = alpha * d[i] + yp[i];
            if (isnan(yp[i])) nan = 1;
            else if (yp[i] > bm) bm = yp[i];
        }
        if (!U) continue;
        if (bm > m) {   /* a new largest z: rescale what the run holds */
            if (!first) {
                const double f = exp((double)m - (double)bm);
                const __m512 fv = _mm512_set1_ps((float)f);
                S *= f;
                for (int64_t j = 0; j < 16 * K; j += 16) _mm512_storeu_ps(U + j, _mm512_mul_ps(_mm512_loadu_ps(U + j), fv));
            }
            m = bm;
        }
        for (int i = 0; i < (int)R; i++) {
            const double ei = i < rows ? exp((double)yp[i] - (double)m) : 0.0;   /* padding rows: none */
            S += ei;
            e[i] = (float)ei;
        }
        panel_axpy(V, wp, K, e, U, first);
        first = 0;
    }
    *m_out = m, *S_out = S, *nan_out = nan, *used = !first;
}

/* sum over the n used runs (index ui[j], factor fu[j]) of U_i[16k + l] f_i: lane l of column k */
static inline __attribute__((always_inline)) AVX512 __m512 merged_col(const float *U, int64_t K, const int *ui,
                                                                      const float *fu, int n, int64_t k)
{
    __m512 a = _mm512_setzero_ps();
    for (int j = 0; j < n; j++)
        a = _mm512_fmadd_ps(_mm512_loadu_ps(U + ((size_t)ui[j] * (size_t)K + (size_t)k) * 16), _mm512_set1_ps(fu[j]), a);
    return a;
}

/* u[k] = the 16 lanes of merged column k summed pairwise: l[j] += l[j + h] for
 * h = 8, 4, 2, 1.  Sixteen columns at a time run the same additions as a
 * transpose tree (each step pairs two vectors' halves, quarters, ...): one
 * column in scalar code is 15 dependent adds through memory, 80% of the
 * pull-back's time on one panel (ResNet-50: 2048 columns). */
static AVX512 void merge_lanes(const float *U, int64_t K, const float *f, const int *used, int64_t k0, int64_t k1, float *u)
{
    int ui[RUNS], n = 0;
    float fu[RUNS];
    for (int i = 0; i < RUNS; i++)
        if (used[i]) ui[n] = i, fu[n++] = f[i];
    int64_t k = k0;
    /* the tree leaves lane 4b + t holding column 4t + b */
    const __m512i order = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
    for (; k + 16 <= k1; k += 16) {
        __m512 c[8], e[4], g[2];
        for (int i = 0; i < 8; i++) {   /* h = 8: lanes 0-7 column 2i, 8-15 column 2i + 1 */
            const __m512 a = merged_col(U, K, ui, fu, n, k + 2 * i), b = merged_col(U, K, ui, fu, n, k + 2 * i + 1);
            c[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                                 _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
        }
        for (int i = 0; i < 4; i++)     /* h = 4: block b column 4i + b */
            e[i] = _mm512_add_ps(_mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
        for (int i = 0; i < 2; i++)     /* h = 2 */
            g[i] = _mm512_add_ps(_mm512_shuffle_ps(e[2 * i], e[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                                 _mm512_shuffle_ps(e[2 * i], e[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
        const __m512 r = _mm512_add_ps(_mm512_shuffle_ps(g[0], g[1], _MM_SHUFFLE(2, 0, 2, 0)),   /* h = 1 */
                                       _mm512_shuffle_ps(g[0], g[1], _MM_SHUFFLE(3, 1, 3, 1)));
        _mm512_storeu_ps(u + k, _mm512_permutexvar_ps(order, r));
    }
    for (; k < k1; k++) {
        float l[16];
        _mm512_storeu_ps(l, merged_col(U, K, ui, fu, n, k));
        for (int h = 8; h >= 1; h /= 2)
            for (int j = 0; j < h; j++) l[j] += l[j + h];
        u[k] = l[0];
    }
}
#endif

int cc_gemv_packed(const cc_packed *pk, const float *Wp, const float *W, const float *x, float alpha, float *y,
                   cc_softmax_tap *tap, cc_ctx *ctx)
{
#ifdef CC_AVX512
    const int64_t n = pk->M, k = pk->K, P = pk->panels;
    if (pk->rows % 16 || pk->rows > 64) return cc_gemv_rows(W, k, n, k, x, alpha, y, tap, ctx);
    if (tap && (tap->k != k || n < 1)) tap = NULL;
    if (tap) tap->done = 0;
    float *U = NULL, *heap = NULL;
    if (tap) {
        const size_t need = (size_t)RUNS * (size_t)k * 16;
        U = ctx ? cc_scratch(ctx, 0, need) : (heap = malloc(sizeof(float) * need));
        if (!U) return CC_E_NOMEM;
    }
    float m[RUNS], f[RUNS];
    double S[RUNS];
    int nan[RUNS], used[RUNS];
#pragma omp parallel if (n * k >= CC_PAR_MIN)
    {
#pragma omp for schedule(static)
        for (int i = 0; i < RUNS; i++)
            run_panels(pk, Wp, P * i / RUNS, P * (i + 1) / RUNS, x, alpha, y, U ? U + (size_t)i * (size_t)k * 16 : NULL,
                       &m[i], &S[i], &nan[i], &used[i]);
        if (U) {
#pragma omp single
            run_weights(m, S, used, f);
            int nt = 1, id = 0;
#ifdef _OPENMP
            nt = omp_get_num_threads(), id = omp_get_thread_num();
#endif
            merge_lanes(U, k, f, used, k * id / nt, k * (id + 1) / nt, tap->u);
        }
    }
    if (tap) {
        int any_nan = 0;
        for (int i = 0; i < RUNS; i++) any_nan |= nan[i];
        if (any_nan)
            for (int64_t j = 0; j < k; j++) tap->u[j] = NAN;
        tap_done(tap, W, Wp, pk, n);
    }
    free(heap);
    return CC_E_OK;
#else
    return cc_gemv_rows(W, pk->K, pk->M, pk->K, x, alpha, y, tap, ctx);
#endif
}
