/* Winograd F(2x2, 3x3) (Lavin & Gray 2016) for the 3x3 layers on narrow
 * planes (conv.c: stride 1, dilation 1, padding 1, one group, constant
 * weights, >= 64 channels, under 784 outputs and 30+ tiles: ResNet-50's 14x14
 * layers): the output in 2x2 tiles, each from a 4x4 input tile,
 * Y = A' [(G g G') . (B' d B)] A, i.e. 16 products M x C x tiles.
 *
 * Why here and not F(4x4, 3x3) (conv_wino4.c) or the per-tap reads
 * (cc_packed_conv): at 14x14, F(4x4) has 16 tiles per product and 36 weight
 * blocks (4x the kernel's weights), which came from memory at every layer;
 * the direct product does 2.25x the multiply-adds.  F(2x2) has 49 tiles (the
 * narrow kernel's full 6- and 7-wide tiles) and 16 blocks (16/9 of the
 * kernel's weights), and the smallest rounding of the Winograd family: its
 * transforms only add and subtract, and G halves.
 *
 * One parallel region: the input transform split by channels, then each
 * thread its panels of output channels through all 16 products (the panels'
 * sums: one tile's sequential sum over C whatever the thread count), then the
 * output transform of those channels, which no other thread wrote. */
#include "avx512.h"
#include "conv_kernels.h"

#include <omp.h>
#include <string.h>

void cc_wino2_weights(const float *g, int64_t M, int64_t C, float *U)
{
    static const double G[4 * 3] = { 1, 0, 0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0, 0, 1 };
    cc_wino_weights(G, 4, g, M, C, U);
}

int64_t cc_wino2_tiles(int64_t H, int64_t W)
{
    return ((H + 1) / 2) * ((W + 1) / 2);
}

#ifdef CC_AVX512

/* B' applied to four vectors: [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] */
static inline __attribute__((always_inline)) AVX512 void bt4(__m512 d0, __m512 d1, __m512 d2, __m512 d3, __m512 o[4])
{
    o[0] = _mm512_sub_ps(d0, d2);
    o[1] = _mm512_add_ps(d1, d2);
    o[2] = _mm512_sub_ps(d2, d1);
    o[3] = _mm512_sub_ps(d1, d3);
}

/* A' applied to four vectors: [1 1 1 0; 0 1 -1 -1] */
static inline __attribute__((always_inline)) AVX512 void at4(__m512 z0, __m512 z1, __m512 z2, __m512 z3, __m512 *o0, __m512 *o1)
{
    *o0 = _mm512_add_ps(_mm512_add_ps(z0, z1), z2);
    *o1 = _mm512_sub_ps(_mm512_sub_ps(z1, z2), z3);
}

/* The input tiles of one channel: V[x][t] at V + x * CT, t = ti tw + tj, in
 * runs of 16 tile columns.  B' along each input row first: tile column tj
 * reads columns 2 tj - 1 .. 2 tj + 2, i.e. the even and odd columns from
 * 2 tj - 1 and from 2 tj + 1 (two masked loads and a permute each, zero past
 * the plane); into rb[row][b] (16 lanes each, rows 2 th + 2 with the
 * padding).  Then B' down the rows, one tile row at a time. */
static AVX512 void in_tiles(const float *xc, int64_t H, int64_t W, int64_t th, int64_t tw, __m512 *rb, float *V, size_t CT)
{
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    for (int64_t j0 = 0; j0 < tw; j0 += 16) {
        const int64_t base = 2 * j0 - 1;
        const cc_s2strip m = cc_s2_strip(base, W);
        for (int64_t rr = 0; rr < 2 * th + 2; rr++) {
            const int64_t row = rr - 1;
            __m512 *q = rb + rr * 4;
            if (row < 0 || row >= H) {
                q[0] = q[1] = q[2] = q[3] = _mm512_setzero_ps();
                continue;
            }
            const float *xr = xc + row * W + base;
            const __m512 a = _mm512_maskz_loadu_ps(m.a, xr), b = _mm512_maskz_loadu_ps(m.b, xr + 16);
            const __m512 c = _mm512_maskz_loadu_ps(m.c, xr + 2), d = _mm512_maskz_loadu_ps(m.d, xr + 18);
            bt4(_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b), _mm512_permutex2var_ps(c, even, d),
                _mm512_permutex2var_ps(c, odd, d), q);
        }
        const __mmask16 live = cc_live16(tw - j0);
        for (int64_t ti = 0; ti < th; ti++) {
            const __m512 *r = rb + 2 * ti * 4;
            for (int b = 0; b < 4; b++) {
                __m512 v[4];
                bt4(r[b], r[4 + b], r[8 + b], r[12 + b], v);
                for (int a = 0; a < 4; a++) _mm512_mask_storeu_ps(V + (size_t)(4 * a + b) * CT + ti * tw + j0, live, v[a]);
            }
        }
    }
}

/* One output channel from its tiles (Z[x][t] at Z + x * MT), plus the bias:
 * A' along the tile rows and then the columns, 16 tiles at a time, into
 * o[r][q][t] (4 runs of T, from o); then each output row from two of them,
 * interleaved (columns past the plane dropped). */
static AVX512 void out_tiles(const float *Z, size_t MT, int64_t T, int64_t th, int64_t tw, int64_t H, int64_t W, float bv,
                             float *o, float *ym)
{
    const __m512 bias = _mm512_set1_ps(bv);
    for (int64_t t = 0; t < T; t += 16) {
        const __mmask16 live = cc_live16(T - t);
        __m512 s0[4], s1[4];
        for (int b = 0; b < 4; b++)
            at4(_mm512_maskz_loadu_ps(live, Z + (size_t)b * MT + t), _mm512_maskz_loadu_ps(live, Z + (size_t)(4 + b) * MT + t),
                _mm512_maskz_loadu_ps(live, Z + (size_t)(8 + b) * MT + t), _mm512_maskz_loadu_ps(live, Z + (size_t)(12 + b) * MT + t),
                &s0[b], &s1[b]);
        __m512 y00, y01, y10, y11;
        at4(s0[0], s0[1], s0[2], s0[3], &y00, &y01);
        at4(s1[0], s1[1], s1[2], s1[3], &y10, &y11);
        _mm512_storeu_ps(o + t, _mm512_add_ps(y00, bias));
        _mm512_storeu_ps(o + T + 16 + t, _mm512_add_ps(y01, bias));
        _mm512_storeu_ps(o + 2 * (T + 16) + t, _mm512_add_ps(y10, bias));
        _mm512_storeu_ps(o + 3 * (T + 16) + t, _mm512_add_ps(y11, bias));
    }
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    for (int64_t ti = 0; ti < th; ti++)
        for (int r = 0; r < 2 && 2 * ti + r < H; r++) {
            const float *e = o + 2 * r * (T + 16) + ti * tw, *f = e + T + 16;   /* columns 2 tj and 2 tj + 1 */
            float *yr = ym + (2 * ti + r) * W;
            for (int64_t j0 = 0; j0 < tw; j0 += 16) {
                const __m512 a = _mm512_loadu_ps(e + j0), b = _mm512_loadu_ps(f + j0);
                _mm512_mask_storeu_ps(yr + 2 * j0, cc_live16(W - 2 * j0), _mm512_permutex2var_ps(a, lo, b));
                _mm512_mask_storeu_ps(yr + 2 * j0 + 16, cc_live16(W - 2 * j0 - 16), _mm512_permutex2var_ps(a, hi, b));
            }
        }
}


int cc_wino2_forward(const float *U, const cc_packed *pk, int64_t M, int64_t C, int64_t H, int64_t W, const float *x,
                     const float *bias, float *y, const cc_post *post, cc_ctx *ctx)
{
    const int64_t th = (H + 1) / 2, tw = (W + 1) / 2, T = th * tw, R = pk->rows, P = pk->panels;
    const size_t CT = (size_t)C * (size_t)T, MT = (size_t)M * (size_t)T, per_tap = cc_packed_floats(pk);
    /* per thread: a channel's row transforms (16 lanes x 4 per padded row), or
     * an output channel's 4 runs of T (+16: the interleave reads whole vectors) */
    const size_t rin = (size_t)((2 * th + 2) * 4 * 16), rout = (size_t)(4 * (T + 16) + 16);
    const size_t rbs = ((rin > rout ? rin : rout) + 15) / 16 * 16;
    const int nthr = omp_get_max_threads();
    float *V = cc_scratch(ctx, 0, 16 * CT), *Z = cc_scratch(ctx, 1, 16 * MT);
    float *rbuf = cc_scratch(ctx, 2, rbs * (size_t)nthr);
    if (!V || !Z || !rbuf) return CC_E_NOMEM;
#pragma omp parallel if (16 * M * C * T >= CC_PAR_MIN)
    {
        const int64_t nth = omp_get_num_threads(), id = omp_get_thread_num();
        float *rb = rbuf + (size_t)id * rbs;
        for (int64_t c = C * id / nth; c < C * (id + 1) / nth; c++)
            in_tiles(x + c * H * W, H, W, th, tw, (__m512 *)rb, V + (size_t)(c * T), CT);
#pragma omp barrier
        /* this thread's panels, through every tap: a product on this thread alone */
        const int64_t p0 = P * id / nth, p1 = P * (id + 1) / nth, m0 = p0 * R, m1 = p1 * R < M ? p1 * R : M;
        if (p1 > p0) {
            cc_packed sub = *pk;
            sub.M = m1 - m0;
            sub.panels = p1 - p0;
            /* each product's last task fetches the next one's first panel: else
             * 16 times a layer a panel would come from memory on demand (ResNet-50's
             * 14x14 layers -0.01-0.03 ms each) */
            for (int k = 0; k < 16; k++) {
                const float *w = U + (size_t)k * per_tap + (size_t)(m0 * C);
                cc_packed_gemm_then(&sub, w, V + (size_t)k * CT, T, T, Z + (size_t)k * MT + (size_t)(m0 * T), T,
                                    k < 15 ? w + per_tap : NULL);
            }
        }
        for (int64_t m = m0; m < m1; m++) {
            float *ym = y + m * H * W;
            out_tiles(Z + (size_t)(m * T), MT, T, th, tw, H, W, bias ? bias[m] : 0.0f, rb, ym);
            cc_post_apply(ym, H * W, 0.0f, post);
        }
    }
    return CC_E_OK;
}

#else

int cc_wino2_forward(const float *U, const cc_packed *pk, int64_t M, int64_t C, int64_t H, int64_t W, const float *x,
                     const float *bias, float *y, const cc_post *post, cc_ctx *ctx)
{
    (void)U; (void)pk; (void)M; (void)C; (void)H; (void)W; (void)x; (void)bias; (void)y; (void)post; (void)ctx;
    return CC_E_UNSUPPORTED;
}

#endif
