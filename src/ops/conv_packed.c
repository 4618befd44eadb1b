/* Packed-weight products for the convolutions (conv.c): C = post(W B + bias)
 * with W (M x K) the layer's constant weights, repacked once at load, and B
 * (K x N, row stride ldb) the image (1x1) or its im2col matrix.
 *
 * Why not OpenBLAS here: a CNN's products are small (N = 49 or 196 output
 * positions late in the network, K = 16 or 24 early on), and OpenBLAS
 * repacks both operands on every call (14% of a ResNet-50 forward went to
 * packing the weights alone) and runs its edge kernels on a 49-wide output.
 * With the weights packed at load, two AVX-512 register tiles cover both
 * shapes, and the bias, a fused residual and the fused activation are
 * applied as the tile is stored, so the output is written once:
 *   - wide planes (N >= 784): a tile is rows x 4 vectors of 16 positions;
 *     the weights are broadcast, the image rows are loaded as they lie;
 *   - narrow planes: a tile is 1-4 vectors of 16 output channels x 6 or 7
 *     positions (tiles_six); the weights are loaded, the image is
 *     broadcast, and the tile is transposed on the way out, or stored as it
 *     is where the output is channel-blocked (cc_packed_gemm_c16).
 * Each output element is one sequential sum over k, computed by one tile
 * whatever the thread count, so results do not depend on threading.
 *
 * Only built where GCC targets x86-64; elsewhere, and on CPUs without
 * AVX-512, cc_packed_plan says no and conv.c keeps the OpenBLAS path. */
#include "avx512.h"
#include "conv_kernels.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

int cc_packed_plan(int64_t M, int64_t K, int64_t N, cc_packed *pk)
{
    memset(pk, 0, sizeof *pk);
#ifdef CC_AVX512
    if (!cc_own_kernels() || M < 1 || K < 1) return 0;
    pk->M = M;
    pk->K = K;
    pk->finite = 1;
    if (N >= CC_PACKED_WIDE_N) {
        pk->wide = 1;
        pk->rows = M % 6 && !(M % 8) ? 8 : 6;
    } else {
        /* 16-channel vectors per tile: the fewest padded channels, then the most vectors */
        int best = 4;
        int64_t waste = (M + 63) / 64 * 64 - M;
        for (int v = 3; v >= 1; v--) {
            int64_t wv = (M + 16 * v - 1) / (16 * v) * (16 * v) - M;
            if (wv < waste) { waste = wv; best = v; }
        }
        pk->rows = 16 * best;
    }
    pk->panels = (M + pk->rows - 1) / pk->rows;
    return 1;
#else
    (void)M; (void)K; (void)N;
    return 0;
#endif
}

/* A K x N input of a 1x1 convolution with K > 2N was written split between
 * the threads by channels: by a narrow product going by panels (packed_gemm
 * below), or by a depthwise layer going by planes (MobileNetV2); read by
 * columns, half of it comes from the other core's cache.
 * When it is also at least twice the output (K >= 2M), the product sums k in
 * two fixed halves instead (halves_gemm), and each core reads what it wrote.
 * Only sums that fit one block of k (panels up to 256 KB). */
int cc_packed_halves_ok(const cc_packed *pk, int64_t N)
{
    return !pk->wide && pk->K > 2 * N && pk->K >= 2 * pk->M && pk->rows * pk->K * 4 <= ((int64_t)256 << 10);
}

size_t cc_packed_floats(const cc_packed *pk)
{
    return (size_t)pk->panels * (size_t)pk->rows * (size_t)pk->K;
}

/* dst[p][k][r] = W[p*rows + r][k], zero past row M: a panel's k-th column is
 * one contiguous run, so the tiles read it with one load or broadcasts. */
void cc_packed_weights(cc_packed *pk, const float *W, float *dst)
{
    const int64_t R = pk->rows, K = pk->K;
    int finite = 1;
    for (int64_t i = 0; i < pk->M * K; i++) finite &= isfinite(W[i]) != 0;
    if (!finite) pk->finite = 0;
#pragma omp parallel for schedule(static) if (pk->panels * R * K >= CC_PAR_MIN)
    for (int64_t p = 0; p < pk->panels; p++)
        for (int64_t r = 0; r < R; r++) {
            const int64_t m = p * R + r;
            float *d = dst + p * R * K + r;
            if (m < pk->M) for (int64_t k = 0; k < K; k++) d[k * R] = W[m * K + k];
            else for (int64_t k = 0; k < K; k++) d[k * R] = 0.0f;
        }
}

#ifdef CC_AVX512

/* The all-Q epilogue (cc_packed_gemm_contrast): max(col - acc, 0), NaN -> 0. */
static inline __attribute__((always_inline)) AVX512 __m512 contrast16(__m512 col, __m512 acc)
{
    return _mm512_max_ps(_mm512_sub_ps(col, acc), _mm512_setzero_ps());
}

/* Wide tile: R rows x V vectors of 16 positions, the last vector masked to
 * ncols - 16(V-1) positions.  w: the panel (K x R), b: B at the tile's first
 * column, c: C at the tile's first row and column; next: B at the next
 * tile's first column, whose rows are fetched into L2 meanwhile (or NULL).
 * c may be the fused residual itself (cc_conv_res_inplace): each value is
 * read before the store to its place, and c is not restrict. */
static inline __attribute__((always_inline)) AVX512 void wide_tile(
    int R, int V, const float *restrict w, const float *restrict b, int64_t ldb, int64_t K, float *c,
    int64_t ldc, int mrows, int ncols, const float *bias, const cc_post *post, const float *col, const float *next)
{
    __m512 acc[8][4];
    const int tail = ncols - 16 * (V - 1);
    const __mmask16 last = tail >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << tail) - 1);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) acc[r][v] = _mm512_setzero_ps();
    const float *res = col ? NULL : cc_post_res(post, c);
    if (res)   /* a fused residual: fetched while the sums run */
        for (int r = 0; r < mrows; r++)
            for (int v = 0; v < V; v++) _mm_prefetch((const char *)(res + r * ldc + 16 * v), _MM_HINT_T0);
    for (int64_t k = 0; k < K; k++) {
        __m512 x[4];
        const float *bk = b + k * ldb, *wk = w + k * R;
        if (next)
#pragma GCC unroll 4
            for (int v = 0; v < V; v++)
                _mm_prefetch((const char *)((uintptr_t)next + sizeof(float) * (size_t)(k * ldb + 16 * v)), _MM_HINT_T1);
#pragma GCC unroll 4
        for (int v = 0; v < V; v++)
            x[v] = v == V - 1 ? _mm512_maskz_loadu_ps(last, bk + 16 * v) : _mm512_loadu_ps(bk + 16 * v);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const __m512 wr = _mm512_set1_ps(wk[r]);
#pragma GCC unroll 4
            for (int v = 0; v < V; v++) acc[r][v] = _mm512_fmadd_ps(wr, x[v], acc[r][v]);
        }
    }
    const int kind = post ? post->kind : CC_POST_NONE;
    const __m512 lo = _mm512_set1_ps(post ? post->lo : 0), hi = _mm512_set1_ps(post ? post->hi : 0);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        if (r >= mrows) break;
        const __m512 bv = _mm512_set1_ps(bias ? bias[r] : 0.0f);
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) {
            const __mmask16 m = v == V - 1 ? last : (__mmask16)0xffff;
            const __m512 o = col ? contrast16(_mm512_maskz_loadu_ps(m, col + 16 * v), acc[r][v])
                                 : cc_post16(cc_res16(_mm512_add_ps(acc[r][v], bv), res, r * ldc + 16 * v, m), kind, lo, hi);
            if (v == V - 1) _mm512_mask_storeu_ps(c + r * ldc + 16 * v, last, o);
            else _mm512_storeu_ps(c + r * ldc + 16 * v, o);
        }
    }
}

enum { AHEAD = 40 };   /* input positions ahead of a narrow tile that it prefetches */

/* Narrow tile: V vectors of 16 channels x NR positions; with `idx`, only the
 * K rows k = idx[0..K) of B (the others are zero across the tile), read from
 * b where they lie one after another, NR values each (zero_rows' copy); with
 * `off`, row k of B is read at b + off[k], its NR values os apart (a
 * convolution read straight from its input, cc_packed_conv).  The pfn cache
 * lines from pf on are prefetched into L2, one per k (two if pfn > K).  A
 * long sum goes in blocks of k (packed_gemm): `part` holds the tile's sums
 * between blocks; `first` starts them at zero, and only the `last` block
 * stores the tile.  With os = 16, B is channel-blocked (cc_packed_gemm_c16);
 * with BO, so is C (ldc = N): the tile's 16V x NR block is V x NR whole
 * vectors there, stored as they are with the bias, the fused residual (also
 * blocked) and the activation, instead of transposed; c may then be the
 * residual itself (cc_conv_res_inplace): each value is read before the store
 * to its place, and c is not restrict. */
static inline __attribute__((always_inline)) AVX512 void narrow_tile(
    int V, int NR, int BO, const float *restrict w, const float *restrict b, int64_t ldb, const int32_t *restrict idx,
    const int32_t *restrict off, int os, int64_t K, float *c, int64_t ldc, int mrows, const float *bias,
    const cc_post *post, const float *col, const char *pf, int64_t pfn, float *restrict part, int first, int last)
{
    __m512 acc[4][7];
#pragma GCC unroll 4
    for (int v = 0; v < V; v++)
#pragma GCC unroll 7
        for (int j = 0; j < NR; j++) acc[v][j] = first ? _mm512_setzero_ps() : _mm512_load_ps(part + (j * 4 + v) * 16);
    for (int64_t j = 0; j < K; j++) {
        __m512 wv[4];
        const int64_t k = idx ? idx[j] : j;
        const float *wk = w + k * 16 * V, *bk = idx ? b + j * NR : off ? b + off[k] : b + k * ldb;
        /* the next panel's lines, one per k while they last (two where a tile
         * has more lines than k): two per k through the first half of each
         * tile measured slower (this way ResNet-50's forward 31.5 -> 30.3 ms,
         * MobileNetV2's 3.34 -> 3.30, q1 of 10 alternating processes) */
        if (pfn <= K) {
            if (j < pfn) _mm_prefetch(pf + 64 * j, _MM_HINT_T1);
        } else if (2 * j < pfn) {
            _mm_prefetch(pf + 128 * j, _MM_HINT_T1);
            _mm_prefetch(pf + 128 * j + 64, _MM_HINT_T1);
        }
        /* the line of this input row that the tiles a few to the right will
         * read: a tile reads one line of each of K rows, N floats apart, a
         * pattern the hardware prefetchers do not follow, and the rows an
         * earlier layer wrote are in the other core's cache or in memory
         * (ResNet-50 forward -0.6 ms, min and q1 of 10 alternating processes) */
        if (idx)   /* the copy: 16 rows ahead */
            _mm_prefetch((const char *)((uintptr_t)bk + sizeof(float) * 16 * NR), _MM_HINT_T0);
        else if (os == 16)   /* blocked: a line holds 16 k of one position; 8 positions ahead per 16 k */
            _mm_prefetch((const char *)((uintptr_t)bk + sizeof(float) * (size_t)(16 * (AHEAD + (j & 7)))), _MM_HINT_T0);
        else
            _mm_prefetch((const char *)((uintptr_t)bk + sizeof(float) * (size_t)(off ? os : 1) * AHEAD), _MM_HINT_T0);
        if (!BO && last && j < mrows) {
            /* the tile's output lines, for writing, while the sums run: its
             * transposed store touches 16V rows, each line's ownership
             * fetched in turn otherwise (MobileNetV2 forward -1.5%, 1-Q -1%) */
            __builtin_prefetch(c + j * ldc, 1, 3);
            __builtin_prefetch(c + j * ldc + NR - 1, 1, 3);
        }
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) wv[v] = _mm512_loadu_ps(wk + 16 * v);
#pragma GCC unroll 7
        for (int n = 0; n < NR; n++) {
            const __m512 xn = _mm512_set1_ps(bk[off ? os * n : n]);
#pragma GCC unroll 4
            for (int v = 0; v < V; v++) acc[v][n] = _mm512_fmadd_ps(wv[v], xn, acc[v][n]);
        }
    }
    if (!last) {
#pragma GCC unroll 4
        for (int v = 0; v < V; v++)
#pragma GCC unroll 7
            for (int j = 0; j < NR; j++) _mm512_store_ps(part + (j * 4 + v) * 16, acc[v][j]);
        return;
    }
    float t[7][64] __attribute__((aligned(64)));
    if (BO) {
        /* every row live (M % 16 == 0); the residual after the bias, as
         * residual_rows.  Through t, as below: with the vectors stored from
         * the sums directly, GCC kept some sums on the stack through the k
         * loop (1024 x 256 x 196: 0.29 -> 0.50 ms) */
#pragma GCC unroll 4
        for (int v = 0; v < V; v++)
#pragma GCC unroll 7
            for (int j = 0; j < NR; j++) _mm512_store_ps(&t[j][16 * v], acc[v][j]);
        const float *res = cc_post_res(post, c);
        const int kind = post ? post->kind : CC_POST_NONE;
        const __m512 lo = _mm512_set1_ps(post ? post->lo : 0), hi = _mm512_set1_ps(post ? post->hi : 0);
        for (int v = 0; v < V; v++) {
            const __m512 bv = bias ? _mm512_loadu_ps(bias + 16 * v) : _mm512_setzero_ps();
            for (int j = 0; j < NR; j++)
                _mm512_storeu_ps(c + v * 16 * ldc + 16 * j,
                                 cc_post16(cc_res16(_mm512_add_ps(_mm512_load_ps(&t[j][16 * v]), bv), res, v * 16 * ldc + 16 * j, 0xffff),
                                           kind, lo, hi));
        }
        return;
    }
    /* bias and activation on whole vectors, then the 16V x NR tile goes out
     * transposed through a small buffer */
    const int kind = post ? post->kind : CC_POST_NONE;
    const __m512 lo = _mm512_set1_ps(post ? post->lo : 0), hi = _mm512_set1_ps(post ? post->hi : 0);
#pragma GCC unroll 4
    for (int v = 0; v < V; v++) {
        const int live = mrows - 16 * v;
        const __mmask16 m = live >= 16 ? (__mmask16)0xffff : live <= 0 ? (__mmask16)0 : (__mmask16)((1u << live) - 1);
        const __m512 bv = bias ? _mm512_maskz_loadu_ps(m, bias + 16 * v) : _mm512_setzero_ps();
#pragma GCC unroll 7
        for (int j = 0; j < NR; j++)
            _mm512_store_ps(&t[j][16 * v], col ? contrast16(_mm512_set1_ps(col[j]), acc[v][j])
                                               : cc_post16(_mm512_add_ps(acc[v][j], bv), kind, lo, hi));
    }
    for (int r = 0; r < mrows; r++)
#pragma GCC unroll 7
        for (int j = 0; j < NR; j++) c[r * ldc + j] = t[j][r];
}

/* One call per shape, so each tile is compiled with constant R, V, NR and
 * its loops fully unrolled into registers. */
#define WIDE(R, V) wide_tile(R, V, w, b, ldb, K, c, ldc, mrows, ncols, bias, post, col, next)
static AVX512 void wide_call(int R, const float *w, const float *b, int64_t ldb, int64_t K, float *c, int64_t ldc,
                             int mrows, int ncols, const float *bias, const cc_post *post, const float *col,
                             const float *next)
{
    const int V = (ncols + 15) / 16;
    if (R == 6) {
        if (V >= 4) WIDE(6, 4); else if (V == 3) WIDE(6, 3); else if (V == 2) WIDE(6, 2); else WIDE(6, 1);
    } else {
        if (V >= 3) WIDE(8, 3); else if (V == 2) WIDE(8, 2); else WIDE(8, 1);
    }
}
#undef WIDE

/* With `off` (cc_packed_conv), ldb is the stride of the taps' reads, 1 or 2. */
#define NARROW(V, NR)                                                                                       \
    do {                                                                                                    \
        if (idx) narrow_tile(V, NR, 0, w, b, ldb, idx, NULL, 1, K, c, ldc, mrows, bias, post, col, pf, pfn, part, first, last); \
        else if (off && ldb == 16 && blk) narrow_tile(V, NR, 1, w, b, ldb, NULL, off, 16, K, c, ldc, mrows, bias, post, col, pf, pfn, part, first, last); \
        else if (off && ldb == 16) narrow_tile(V, NR, 0, w, b, ldb, NULL, off, 16, K, c, ldc, mrows, bias, post, col, pf, pfn, part, first, last); \
        else if (off && ldb == 1 && blk) narrow_tile(V, NR, 1, w, b, ldb, NULL, off, 1, K, c, ldc, mrows, bias, post, col, pf, pfn, part, first, last); \
        else if (off && ldb == 1) narrow_tile(V, NR, 0, w, b, ldb, NULL, off, 1, K, c, ldc, mrows, bias, post, col, pf, pfn, part, first, last); \
        else if (off && blk) narrow_tile(V, NR, 1, w, b, ldb, NULL, off, 2, K, c, ldc, mrows, bias, post, col, pf, pfn, part, first, last); \
        else if (off) narrow_tile(V, NR, 0, w, b, ldb, NULL, off, 2, K, c, ldc, mrows, bias, post, col, pf, pfn, part, first, last); \
        else if (blk) narrow_tile(V, NR, 1, w, b, ldb, NULL, NULL, 1, K, c, ldc, mrows, bias, post, col, pf, pfn, part, first, last); \
        else narrow_tile(V, NR, 0, w, b, ldb, NULL, NULL, 1, K, c, ldc, mrows, bias, post, col, pf, pfn, part, first, last); \
    } while (0)
/* The rows of B (K x nr from b) with a nonzero (or NaN) among their nr values:
 * their k into idx, their values one after another into bc (nr each); returns
 * their number, or -1 when fewer than 1/8 are zero (the plain loop is then as
 * fast).  Read through the copy, the tile's B is one sequential stream: read
 * in place, the skipped rows break the 4 * ldb stride the hardware
 * prefetchers follow (MobileNetV2's all-Q product, 22% of rows skipped:
 * 0.255 -> 0.229 ms on two threads, the dense product 0.262).
 * With pb (cc_packed_gemm_pullback), the copy holds scale[k] B[k, .] (as
 * given), every row is listed (only the zero ones skipped, and only with
 * `skip`), and col gets the tile's pull-back sums; returns the count. */
static AVX512 int64_t zero_rows(const float *b, int64_t ldb, int64_t K, int nr, int32_t *idx, float *bc,
                                const cc_pullback *pb, int skip, float *col)
{
    const __mmask16 m = cc_live16(nr);
    int64_t n = 0;
    if (!pb) {
        for (int64_t k = 0; k < K; k++) {
            const __m512 v = _mm512_maskz_loadu_ps(m, b + k * ldb);
            idx[n] = (int32_t)k;
            _mm512_mask_storeu_ps(bc + n * nr, m, v);
            n += _mm512_mask_cmp_ps_mask(m, v, _mm512_setzero_ps(), _CMP_NEQ_UQ) != 0;
        }
        return n * 8 > K * 7 ? -1 : n;
    }
    /* col[i] = (float) sum_k (d[k] u[k]) B[k, i] in double, k ascending, a
     * product then a sum (as pull_back_map: the same bits); nr <= 7 */
    __m512d s = _mm512_setzero_pd();
    for (int64_t k = 0; k < K; k++) {
        __m512 v = _mm512_maskz_loadu_ps(m, b + k * ldb);
        const __m512d du = _mm512_set1_pd((double)pb->d[k] * pb->u[k]);
        s = _mm512_add_pd(s, _mm512_mul_pd(du, _mm512_cvtps_pd(_mm512_castps512_ps256(v))));
        if (pb->scale) v = _mm512_mul_ps(v, _mm512_set1_ps(pb->scale[k]));
        idx[n] = (int32_t)k;
        _mm512_mask_storeu_ps(bc + n * nr, m, v);
        n += !skip || _mm512_mask_cmp_ps_mask(m, v, _mm512_setzero_ps(), _CMP_NEQ_UQ) != 0;
    }
    _mm512_mask_storeu_ps(col, m, _mm512_castps256_ps512(_mm512_cvtpd_ps(s)));
    return n;
}

/* What narrow tiles apply as they store: post, or with a fused residual only
 * the bias (residual_rows adds it and the activation per task, over whole
 * rows; inside a tile's transposed store it cost more than the Add). */
static const cc_post *tile_post(const cc_post *post, const float *C)
{
    static const cc_post bias_only = { CC_POST_NONE, 0, 0, NULL, NULL };
    return cc_post_res(post, C) ? &bias_only : post;
}

/* c[r * ldc + j] = post(c[r * ldc + j] + residual) for r < rows, j < n: the
 * fused residual and activation of a block of narrow tiles (cc_post_apply). */
static AVX512 void residual_rows(float *c, int64_t ldc, int rows, int n, const cc_post *post)
{
    const float *res = cc_post_res(post, c);
    const __m512 lo = _mm512_set1_ps(post->lo), hi = _mm512_set1_ps(post->hi);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j += 16) {
            const __mmask16 m = cc_live16(n - j);
            const __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, c + r * ldc + j), _mm512_maskz_loadu_ps(m, res + r * ldc + j));
            _mm512_mask_storeu_ps(c + r * ldc + j, m, cc_post16(v, post->kind, lo, hi));
        }
}

/* The same with the residual channel-blocked (cc_packed_gemm_c16), N
 * positions a plane: value (m, j) of the row-major output pairs with the
 * residual's (m / 16) 16 N + 16 j + m % 16. */
static AVX512 void residual_rows_c16(float *c, int64_t ldc, int rows, int n, const cc_post *post, int64_t N)
{
    const int64_t o = c - post->base, m0 = o / N, j0 = o % N;
    const __m512 lo = _mm512_set1_ps(post->lo), hi = _mm512_set1_ps(post->hi);
    const __m512i lane16 = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                              _mm512_set1_epi32(16));
    for (int r = 0; r < rows; r++) {
        const int64_t m = m0 + r;
        const float *res = post->res + m / 16 * 16 * N + m % 16 + 16 * j0;
        for (int j = 0; j < n; j += 16) {
            const __mmask16 k = cc_live16(n - j);
            const __m512 rv = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k, lane16, res + 16 * j, 4);
            const __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(k, c + r * ldc + j), rv);
            _mm512_mask_storeu_ps(c + r * ldc + j, k, cc_post16(v, post->kind, lo, hi));
        }
    }
}

#define NARROW_ALL(V)                                                                                       \
    switch (nr) {                                                                                           \
    case 1: NARROW(V, 1); break; case 2: NARROW(V, 2); break; case 3: NARROW(V, 3); break;                  \
    case 4: NARROW(V, 4); break; case 5: NARROW(V, 5); break; case 6: NARROW(V, 6); break;                  \
    default: NARROW(V, 7); break;                                                                           \
    }
static AVX512 void narrow_call(int V, int nr, const float *w, const float *b, int64_t ldb, const int32_t *idx,
                               const int32_t *off, int64_t K, float *c, int64_t ldc, int mrows, const float *bias,
                               const cc_post *post, const float *col, const char *pf, int64_t pfn, float *part,
                               int first, int last, int blk)
{
    switch (V) {
    case 1: NARROW_ALL(1); break;
    case 2: NARROW_ALL(2); break;
    case 3: NARROW_ALL(3); break;
    default: NARROW_ALL(4); break;
    }
}
#undef NARROW_ALL
#undef NARROW

/* Narrow tiles over N positions: the first `six` 6 wide, the rest 7 wide (the
 * last one cut at N).  A 4 x 7 tile holds 28 sums, the four weight vectors
 * and the broadcast need 33 registers, so one weight vector is reloaded for
 * each of its 7 products; a 4 x 6 tile fits in 29: 256 x 1024 x 196 ran at
 * 73 GMAC/s with 7-wide tiles and 78 with 6-wide ones, on one core.  N =
 * 6 six + 7 (tiles - six) when N >= 30 (196 = 28 x 6 + 4 x 7, 49 = 7 x 6 + 7);
 * a narrower N keeps 7-wide tiles. */
static int64_t tiles_six(int64_t N)
{
    if (N < 30) return 0;
    for (int64_t b = 0; b < 6; b++)
        if ((N - 7 * b) % 6 == 0) return (N - 7 * b) / 6;
    return 0;   /* not reached: 7b runs through every residue mod 6 */
}
/* The first position of tile t, N past the last tile: tile t spans
 * [tile_at(t), tile_at(t + 1)). */
static int64_t tile_at(int64_t t, int64_t six, int64_t N)
{
    const int64_t n = t < six ? 6 * t : 6 * six + 7 * (t - six);
    return n < N ? n : N;
}
static int64_t tiles_count(int64_t N, int64_t six)
{
    return six + (N - 6 * six + 6) / 7;
}

/* C[r * ldc + j] = post(C[r * ldc + j] + H[r * ldh + j] + bias[r] (+ residual)) for r in [r0, r1), j < n. */
static void add_halves(float *C, int64_t ldc, const float *H, int64_t ldh, int64_t r0, int64_t r1, int64_t n,
                       const float *bias, const cc_post *post)
{
    for (int64_t r = r0; r < r1; r++) {
        float *c = C + r * ldc;
        const float *h = H + r * ldh;
#pragma omp simd
        for (int64_t j = 0; j < n; j++) c[j] += h[j];
        cc_post_apply(c, n, bias ? bias[r] : 0.0f, post);
    }
}

/* The same on channel-blocked C, H and residual (cc_packed_gemm_c16), blocks
 * [b0, b1) of 16 channels x n positions: the same operations in the same
 * order on each value (the bias only where nonzero before a residual, or
 * without an activation, as cc_post_apply), so the same bits. */
static AVX512 void add_halves_c16(float *C, const float *H, int64_t b0, int64_t b1, int64_t n, const float *bias,
                                  const cc_post *post)
{
    const int kind = post ? post->kind : CC_POST_NONE;
    const __m512 lo = _mm512_set1_ps(post ? post->lo : 0), hi = _mm512_set1_ps(post ? post->hi : 0);
    for (int64_t b = b0; b < b1; b++) {
        float *c = C + b * 16 * n;
        const float *h = H + b * 16 * n, *res = cc_post_res(post, c);
        const __m512 bv = bias ? _mm512_loadu_ps(bias + 16 * b) : _mm512_setzero_ps();
        const __mmask16 nz = res || kind == CC_POST_NONE ? _mm512_cmp_ps_mask(bv, _mm512_setzero_ps(), _CMP_NEQ_UQ) : 0xffff;
        for (int64_t j = 0; j < 16 * n; j += 16) {
            __m512 v = _mm512_add_ps(_mm512_loadu_ps(c + j), _mm512_loadu_ps(h + j));
            v = cc_res16(_mm512_mask_add_ps(v, nz, v, bv), res, j, 0xffff);
            _mm512_storeu_ps(c + j, cc_post16(v, kind, lo, hi));
        }
    }
}

/* The sum over k in two fixed halves, the first into C and the second into a
 * buffer, the threads taking the halves in turn (with two, one each), then
 * the two added with the bias, residual and activation.  ResNet-50's layer3
 * conv1s (1024 -> 256 at 14x14): 0.47 -> 0.39 ms each in the network, ONNX
 * Runtime 0.41.  The halves do not depend on the thread count: the same bits
 * for any.  Returns -1 when out of memory. */
static int halves_gemm(const cc_packed *pk, const float *Wp, const float *B, int64_t ldb, int64_t N, float *C,
                       int64_t ldc, const float *bias, const cc_post *post, const int32_t *boff, int bout)
{
    enum { TPC = 4 };
    const int64_t K = pk->K, M = pk->M, R = pk->rows, P = pk->panels, Kh = K / 2;
    const int64_t six = tiles_six(N), ntiles = tiles_count(N, six), nch = (ntiles + TPC - 1) / TPC, per = P * nch;
    float *H = aligned_alloc(64, ((size_t)(M * N) * sizeof(float) + 63) / 64 * 64);
    if (!H) return -1;
#pragma omp parallel if (M * N * K >= CC_PAR_MIN)
    {
        int64_t t0 = 0, t1 = 2 * per;
#ifdef _OPENMP
        const int64_t nth = omp_get_num_threads(), th = omp_get_thread_num();
        t0 = 2 * per * th / nth, t1 = 2 * per * (th + 1) / nth;
#endif
        for (int64_t t = t0; t < t1; t++) {
            const int64_t h = t / per, p = t % per / nch, i0 = t % nch * TPC, i1 = i0 + TPC < ntiles ? i0 + TPC : ntiles;
            const int64_t k0 = h ? Kh : 0, k1 = h ? K : Kh, ldd = h ? N : ldc;
            float *D = h ? H : C;
            const int mrows = (int)(M - p * R < R ? M - p * R : R);
            /* the next panel's half into L2 meanwhile, as packed_gemm */
            const int64_t np = p + 1 < P ? p + 1 : -1, nt = i1 - i0, lines = np >= 0 ? R * (k1 - k0) * 4 / 64 : 0;
            const char *pf = (const char *)(Wp + (np >= 0 ? np : p) * R * K + k0 * R);
            for (int64_t i = 0; i < nt; i++) {
                const int64_t n = tile_at(i0 + i, six, N), nr = tile_at(i0 + i + 1, six, N) - n;
                const int64_t l0 = lines * i / nt, l1 = lines * (i + 1) / nt;
                narrow_call((int)(R / 16), (int)nr, Wp + p * R * K + k0 * R, boff ? B + 16 * n : B + k0 * ldb + n,
                            boff ? 16 : ldb, NULL, boff ? boff + k0 : NULL, k1 - k0,
                            bout ? D + p * R * N + 16 * n : D + p * R * ldd + n, bout ? N : ldd, mrows, NULL, NULL, NULL,
                            pf + 64 * l0, l1 - l0, NULL, 1, 1, bout);
            }
        }
#pragma omp barrier
        int64_t r0 = 0, r1 = bout ? M / 16 : M;
#ifdef _OPENMP
        r0 = r1 * th / nth, r1 = r1 * (th + 1) / nth;
#endif
        if (bout) add_halves_c16(C, H, r0, r1, N, bias, post);
        else add_halves(C, ldc, H, N, r0, r1, N, bias, post);
    }
    free(H);
    return 0;
}

static int packed_gemm(const cc_packed *pk, const float *Wp, const float *B, int64_t ldb, int64_t N, float *C,
                       int64_t ldc, const float *bias, const cc_post *post, const float *col, const float *after,
                       const int32_t *boff, int c16, const cc_pullback *pb)
{
    const int bout = (c16 & CC_C16_OUT) != 0;
    const int64_t K = pk->K, M = pk->M, R = pk->rows, P = pk->panels;
    if (pk->wide) {
        /* tasks: one tile of columns (64 or 48) through a group of panels, tile by
         * tile, so a tile's image columns stay in L1 across its panels.  Panels
         * are split in groups only when there are few tiles for the threads (a
         * 28x28 plane is 13 tiles).  Every output is one tile's sum over k
         * whichever task computes it, so the split does not change values. */
        const int64_t tw = R == 6 ? 64 : 48, nt = (N + tw - 1) / tw;
        const int64_t nthr = omp_get_max_threads(), groups = nt >= 8 * nthr || P < 2 ? 1 : (P < 4 ? P : 4);
        const int64_t per = (P + groups - 1) / groups, tasks = nt * groups;
#pragma omp parallel for schedule(static) if (M * N * K >= CC_PAR_MIN)
        for (int64_t t = 0; t < tasks; t++) {
            const int64_t n = t / groups * tw, p0 = t % groups * per, p1 = p0 + per < P ? p0 + per : P;
            const int ncols = (int)(N - n < tw ? N - n : tw);
            for (int64_t p = p0; p < p1; p++) {
                const int mrows = (int)(M - p * R < R ? M - p * R : R);
                /* during its first panel, the next tile's image columns go to L2: K
                 * rows of 48-64 positions, N apart, which the hardware does not fetch
                 * ahead (MobileNetV2 forward -1.2%, 1-Q -1.4%; ResNet-50 -0.15 ms;
                 * into L1 instead, VGG-16's long sums lost ~1%) */
                wide_call((int)R, Wp + p * R * K, B + n, ldb, K, C + p * R * ldc + n, ldc, mrows, ncols,
                          bias ? bias + p * R : NULL, post, col ? col + n : NULL,
                          p == p0 && n + tw < N ? B + n + tw : NULL);
            }
        }
        return 0;
    }
    if (pk->halves && !col && !pb && !pk->skip_zeros && (bout || !(c16 & CC_C16_RES)) &&
        !halves_gemm(pk, Wp, B, ldb, N, C, ldc, bias, post, boff, bout))
        return 0;
    /* tasks: (panel, chunk of 4 tiles); consecutive tasks share a
     * panel, so a thread streams each panel's weights once per chunk run.
     * Long sums go in blocks of k: each thread takes its share of the tasks
     * through one block before the next, so a block's inputs (KB x N) stay in
     * L2 for all its tasks and each panel's weights come from L3 or memory
     * once, instead of every tile streaming the whole panel (ResNet-50's 3x3
     * layers at 7x7: K = 4608, a 1.2 MB panel, ran at half the FMA rate on a
     * 2 MB-L2 Xeon; blocked, at 90%).  A tile's sums wait in `part` between
     * blocks, each still one sequential sum over k: the same bits. */
    enum { TPC = 4, KB = 512 };
    const int64_t six = tiles_six(N), ntiles = tiles_count(N, six), nch = (ntiles + TPC - 1) / TPC, tasks = P * nch;
    /* With chunks enough for every thread, tasks go chunk by chunk instead
     * (all panels of a chunk, then the next): each thread then writes whole
     * columns, and the next layer's thread reads the columns its own core
     * wrote.  Split by panels, half of every input came from the other
     * core's cache: a 256 x 1024 x 196 product after a 1024 x 256 one took
     * 0.42-0.55 ms on two threads against 0.36-0.43 on an input nobody had
     * just written.  But by columns every thread streams all the weights
     * (M x K), by panels only its share, so only while the weights are at
     * most twice the input (K x N): ResNet-50's 1024 x 256 x 196 layers,
     * whose input the 3x3 layer before wrote split by channels anyway, go
     * by panels (forward -0.6 ms, 2 threads, 10 alternating processes). */
    const int bycol = nch >= 2 * (int64_t)omp_get_max_threads() && M <= 2 * N;
#define TASK_PANEL(t) (bycol ? (t) % P : (t) / nch)
#define TASK_CHUNK(t) (bycol ? (t) / P : (t) % nch)
    int64_t nkb = R * K * 4 > ((int64_t)256 << 10) ? (K + KB - 1) / KB : 1;
    /* Zero inputs: after a ReLU most inputs can be exactly 0 (the last layer of
     * a trained MobileNetV2: 85%, and 60% of its (k, 7-position) runs are all
     * zero).  Such a k adds w * 0 = +-0 to every sum of the tile, which leaves
     * the sum unchanged, so a tile may skip it: the same bits, less work.
     * Only with finite weights (inf * 0 is NaN); a tile with few zero rows
     * keeps the plain loop.  list[t]: the k of tile t (columns 7t..7t+6) to
     * add, cnt[t] of them, or -1 for all; bc: those rows' values, tile by tile
     * (a tile from n0 at bc + n0 K).  With pb the tiles always read the copy
     * (scaled, and with the pull-back's sums formed on the way: pcol). */
    const int skip = pk->skip_zeros && pk->finite;
    int32_t *list = (skip || pb) && !boff && K <= INT32_MAX ? malloc(sizeof(int32_t) * (size_t)(ntiles * K)) : NULL;
    int64_t *cnt = list ? malloc(sizeof(int64_t) * (size_t)ntiles) : NULL;
    float *bc = cnt ? malloc(sizeof(float) * (size_t)(N * K)) : NULL;
    float *pcol = pb ? malloc(sizeof(float) * (size_t)N) : NULL;
    if (!bc || (pb && !pcol)) {
        free(list), free(cnt), free(bc), free(pcol), list = NULL, cnt = NULL, bc = NULL;
        if (pb) return -1;
    }
    if (pb) col = pcol;
    float *part = nkb > 1 ? aligned_alloc(64, sizeof(float) * (size_t)(tasks * TPC * 7 * 64)) : NULL;
    /* in blocks, each tile's place in its zero list */
    int64_t *pos = list && part ? calloc((size_t)(tasks * TPC), sizeof(int64_t)) : NULL;
    if (!part || (list && !pos)) nkb = 1;
    const cc_post *tpost = bout ? post : tile_post(post, C);
#pragma omp parallel if (M * N * K >= CC_PAR_MIN)
    {
        if (list) {
#pragma omp for schedule(static)
            for (int64_t t = 0; t < ntiles; t++) {
                const int64_t n0 = tile_at(t, six, N), n1 = tile_at(t + 1, six, N);
                cnt[t] = zero_rows(B + n0, ldb, K, (int)(n1 - n0), list + t * K, bc + n0 * K, pb, skip, pcol + n0);
            }
        }
        /* each thread its share of the tasks, k block by k block: a block's
         * inputs serve all its tasks from L2, each panel's weights come from
         * L3 or memory once */
        int64_t t0 = 0, t1 = tasks;
#ifdef _OPENMP
        const int64_t nth = omp_get_num_threads(), th = omp_get_thread_num();
        t0 = tasks * th / nth, t1 = tasks * (th + 1) / nth;
#endif
        for (int64_t kb = 0; kb < nkb; kb++) {
            const int64_t k0 = K * kb / nkb, k1 = K * (kb + 1) / nkb;
            for (int64_t t = t0; t < t1; t++) {
                /* tiles [i0, i1) of the chunk, columns [c0, c1) */
                const int64_t p = TASK_PANEL(t), i0 = TASK_CHUNK(t) * TPC, i1 = i0 + TPC < ntiles ? i0 + TPC : ntiles;
                const int64_t c0 = tile_at(i0, six, N), c1 = tile_at(i1, six, N);
                const int mrows = (int)(M - p * R < R ? M - p * R : R);
                const float *wp = Wp + p * R * K;
                /* what this thread reads next into L2 while this task computes: the
                 * next panel's weights (its next block's, in blocks); the first
                 * tile through a panel would otherwise wait on memory (an all-Q
                 * classifier, 5 MB, is not in any cache after the forward) */
                int64_t np = -1, nk0 = k0, nk1 = k1;
                if (nkb == 1) np = p + 1 < P ? p + 1 : -1;
                else if (t + 1 < t1) np = TASK_PANEL(t + 1);
                else if (kb + 1 < nkb) np = TASK_PANEL(t0), nk0 = k1, nk1 = K * (kb + 2) / nkb;
                const int64_t nt = i1 - i0;
                int64_t lines = np >= 0 ? R * (nk1 - nk0) * 4 / 64 : 0;
                const char *pf = (const char *)(np >= 0 ? Wp + np * R * K + nk0 * R : Wp);
                if (np < 0 && after && nkb == 1 && t + 1 == t1) pf = (const char *)after, lines = R * K * 4 / 64;
                float *pt = part ? part + (t * TPC) * (7 * 64) : NULL;
                for (int64_t i = 0; i < nt; i++) {
                    const int64_t n = tile_at(i0 + i, six, N), nr = tile_at(i0 + i + 1, six, N) - n;
                    const int64_t nk = list ? cnt[i0 + i] : -1;
                    const int64_t l0 = lines * i / nt, l1 = lines * (i + 1) / nt;
                    const int32_t *idx = NULL;
                    int64_t kn = k1 - k0;
                    if (nk >= 0) {   /* the tile's listed k in [k0, k1): absolute, so w and b stay put */
                        const int32_t *l = list + (i0 + i) * K;
                        const int64_t at = nkb > 1 ? pos[t * TPC + i] : 0;
                        int64_t e = nk;   /* the last block takes the rest: no search */
                        if (kb + 1 < nkb) {
                            for (e = at; e < nk && l[e] < k1; e++) {}
                            pos[t * TPC + i] = e;
                        }
                        idx = l + at, kn = e - at;
                    }
                    narrow_call((int)(R / 16), (int)nr, idx ? wp : wp + k0 * R,
                                boff ? B + 16 * n : idx ? bc + n * K + (idx - (list + (i0 + i) * K)) * nr : B + k0 * ldb + n, boff ? 16 : ldb, idx,
                                boff ? boff + k0 : NULL, kn, bout ? C + p * R * N + 16 * n : C + p * R * ldc + n,
                                bout ? N : ldc, mrows, bias ? bias + p * R : NULL, tpost, col ? col + n : NULL,
                                pf + 64 * l0, l1 - l0, pt ? pt + i * (7 * 64) : NULL, kb == 0, kb == nkb - 1, bout);
                }
                if (tpost != post && kb == nkb - 1) {
                    if (c16 & CC_C16_RES) residual_rows_c16(C + p * R * ldc + c0, ldc, mrows, (int)(c1 - c0), post, N);
                    else residual_rows(C + p * R * ldc + c0, ldc, mrows, (int)(c1 - c0), post);
                }
            }
        }
    }
#undef TASK_PANEL
#undef TASK_CHUNK
    free(list);
    free(cnt);
    free(bc);
    free(pcol);
    free(part);
    free(pos);
    return 0;
}

void cc_packed_gemm(const cc_packed *pk, const float *Wp, const float *B, int64_t ldb, int64_t N, float *C,
                    int64_t ldc, const float *bias, const cc_post *post)
{
    packed_gemm(pk, Wp, B, ldb, N, C, ldc, bias, post, NULL, NULL, NULL, 0, NULL);
}

int cc_packed_c16_ok(const cc_packed *pk, int64_t K, int64_t N, int c16)
{
    if (pk->wide || pk->K != K || N < 1) return 0;
    if ((c16 & CC_C16_IN) && K % 16) return 0;
    if ((c16 & CC_C16_OUT) && pk->M % pk->rows) return 0;
    return !(c16 & CC_C16_RES) || (c16 & CC_C16_OUT) || (pk->M % 16 == 0 && !pk->halves);
}

void cc_packed_gemm_c16(const cc_packed *pk, const float *Wp, const float *B, const int32_t *boff, int64_t N, float *C,
                        int c16, const float *bias, const cc_post *post)
{
    packed_gemm(pk, Wp, B, N, N, C, N, bias, post, NULL, NULL, boff, c16, NULL);
}

void cc_packed_gemm_then(const cc_packed *pk, const float *Wp, const float *B, int64_t ldb, int64_t N, float *C,
                         int64_t ldc, const float *after)
{
    packed_gemm(pk, Wp, B, ldb, N, C, ldc, NULL, NULL, NULL, after, NULL, 0, NULL);
}

/* Tasks: (panel, output row).  Row-major where all the panels fit in L2
 * together and there are rows for every thread: each thread then writes
 * whole rows, which the next layer's thread reads from its own core (as
 * packed_gemm's column split).  Else panel-major, so each thread streams its
 * panels' weights once, and while a panel's rows run the next panel's
 * weights are prefetched into L2 a slice per row.  A tile is 6 or 7 output
 * positions of one row, so every position of a tile reads its taps at the
 * same offsets, sW apart. */
void cc_packed_conv(const cc_packed *pk, const float *Wp, const float *x, int64_t rowp, int64_t sH, int64_t sW,
                    const int32_t *off, int64_t OH, int64_t OW, float *C, const float *bias, const cc_post *post, int blk)
{
    const int64_t K = pk->K, M = pk->M, R = pk->rows, P = pk->panels, OHW = OH * OW, tasks = P * OH;
    const cc_post *tpost = blk ? post : tile_post(post, C);
    const int64_t lines = R * K * 4 / 64;
    const int byrow = P * R * K * 4 <= ((int64_t)1 << 20) && OH >= 2 * (int64_t)omp_get_max_threads();
#pragma omp parallel for schedule(static) if (M * OHW * K >= CC_PAR_MIN)
    for (int64_t t = 0; t < tasks; t++) {
        const int64_t p = byrow ? t % P : t / OH, oh = byrow ? t / P : t % OH, six = tiles_six(OW);
        const int64_t nt = tiles_count(OW, six);
        const int mrows = (int)(M - p * R < R ? M - p * R : R);
        const float *b = x + oh * sH * rowp;
        float *c = C + p * R * OHW + oh * OW * (blk ? 16 : 1);
        const int pnext = !byrow && p + 1 < P;
        const int64_t l0 = pnext ? lines * oh / OH : 0, l1 = pnext ? lines * (oh + 1) / OH : 0;
        const char *pf = (const char *)(Wp + (p + 1 < P ? p + 1 : p) * R * K);
        for (int64_t i = 0; i < nt; i++) {
            const int64_t ow = tile_at(i, six, OW), nr = tile_at(i + 1, six, OW) - ow;
            const int64_t a = l0 + (l1 - l0) * i / nt, z = l0 + (l1 - l0) * (i + 1) / nt;
            /* ldb carries the stride of the taps' reads: 1 or 2 */
            narrow_call((int)(R / 16), (int)nr, Wp + p * R * K, b + sW * ow, sW, NULL, off, K,
                        c + ow * (blk ? 16 : 1), OHW, mrows, bias ? bias + p * R : NULL, tpost, NULL, pf + 64 * a, z - a, NULL,
                        1, 1, blk);
        }
        if (tpost != post) residual_rows(c, OHW, mrows, (int)OW, post);
    }
}

void cc_packed_gemm_contrast(const cc_packed *pk, const float *Wp, const float *B, int64_t ldb, int64_t N, float *C,
                             int64_t ldc, const float *col)
{
    packed_gemm(pk, Wp, B, ldb, N, C, ldc, NULL, NULL, col, NULL, NULL, 0, NULL);
}

int cc_packed_gemm_pullback(const cc_packed *pk, const float *Wp, const float *B, int64_t ldb, int64_t N, float *C,
                            int64_t ldc, const cc_pullback *pb)
{
    if (pk->wide || pk->K > INT32_MAX) return 1;
    return packed_gemm(pk, Wp, B, ldb, N, C, ldc, NULL, NULL, NULL, NULL, NULL, 0, pb);
}

#else

void cc_packed_gemm(const cc_packed *pk, const float *Wp, const float *B, int64_t ldb, int64_t N, float *C,
                    int64_t ldc, const float *bias, const cc_post *post)
{
    (void)pk; (void)Wp; (void)B; (void)ldb; (void)N; (void)C; (void)ldc; (void)bias; (void)post;
}

void cc_packed_conv(const cc_packed *pk, const float *Wp, const float *x, int64_t rowp, int64_t sH, int64_t sW,
                    const int32_t *off, int64_t OH, int64_t OW, float *C, const float *bias, const cc_post *post, int blk)
{
    (void)pk; (void)Wp; (void)x; (void)rowp; (void)sH; (void)sW; (void)off; (void)OH; (void)OW; (void)C; (void)bias; (void)post;
    (void)blk;
}

void cc_packed_gemm_then(const cc_packed *pk, const float *Wp, const float *B, int64_t ldb, int64_t N, float *C,
                         int64_t ldc, const float *after)
{
    (void)pk; (void)Wp; (void)B; (void)ldb; (void)N; (void)C; (void)ldc; (void)after;
}

void cc_packed_gemm_contrast(const cc_packed *pk, const float *Wp, const float *B, int64_t ldb, int64_t N, float *C,
                             int64_t ldc, const float *col)
{
    (void)pk; (void)Wp; (void)B; (void)ldb; (void)N; (void)C; (void)ldc; (void)col;
}

int cc_packed_gemm_pullback(const cc_packed *pk, const float *Wp, const float *B, int64_t ldb, int64_t N, float *C,
                            int64_t ldc, const cc_pullback *pb)
{
    (void)pk; (void)Wp; (void)B; (void)ldb; (void)N; (void)C; (void)ldc; (void)pb;
    return 1;
}

int cc_packed_c16_ok(const cc_packed *pk, int64_t K, int64_t N, int c16)
{
    (void)pk; (void)K; (void)N; (void)c16;
    return 0;
}

void cc_packed_gemm_c16(const cc_packed *pk, const float *Wp, const float *B, const int32_t *boff, int64_t N, float *C,
                        int c16, const float *bias, const cc_post *post)
{
    (void)pk; (void)Wp; (void)B; (void)boff; (void)N; (void)C; (void)c16; (void)bias; (void)post;
}

#endif
