/* Winograd F(4x4, 3x3) (Lavin & Gray 2016, interpolation points 0, +-1, +-2)
 * for the 3x3 convolutions conv.c sends here (stride 1, dilation 1, padding 1,
 * one group, constant weights, >= 64 input channels): the output in 4x4 tiles,
 * each from a 6x6 input tile, Y = A' [(G g G') . (B' d B)] A, i.e. 36 GEMMs of
 * M x C x tiles instead of one of M x 9C x pixels: 4x fewer multiply-adds
 * (F(2x2, 3x3): 2.25x) and 2.25 transformed values per output pixel instead
 * of 4.  The price is rounding: the transforms have entries up to 8 (A') and
 * 5 (B'), and a layer's output differs from the exact convolution by up to
 * ~1.5e-5 of its range in float32 (F(2x2, 3x3): ~2e-6), against PyTorch in
 * float64 (tests/test_conv_winograd.sh); whole networks stay ~1e-5 of the
 * logit range (tests/test_models.sh).  VGG-16's forward: 148 -> 127 ms on
 * two threads (bench/README.md).  Only the forward pass uses it; the backward
 * pass keeps the im2col path. */
#include "conv_kernels.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

/* U[x][m][c], x = n i + j: G g G' with g = W[m][c] (3x3) and G n x 3 (row-major),
 * in double then rounded: the weight transform of F(4x4, 3x3) (n = 6, below) and
 * F(2x2, 3x3) (n = 4, conv_wino2.c). */
void cc_wino_weights(const double *G, int n, const float *g, int64_t M, int64_t C, float *U)
{
    const size_t MC = (size_t)M * (size_t)C;
    /* at load: ~0.1 s of VGG-16's, so both threads */
#pragma omp parallel for schedule(static) if (M * C >= 4096)
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < C; c++) {
            const float *k = g + (m * C + c) * 9;
            double t[6][3];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < 3; j++)
                    t[i][j] = G[i * 3] * k[j] + G[i * 3 + 1] * k[3 + j] + G[i * 3 + 2] * k[6 + j];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    U[(size_t)(i * n + j) * MC + (size_t)(m * C + c)] =
                        (float)(t[i][0] * G[j * 3] + t[i][1] * G[j * 3 + 1] + t[i][2] * G[j * 3 + 2]);
        }
}

void cc_wino4_weights(const float *g, int64_t M, int64_t C, float *U)
{
    static const double G[6 * 3] = { 1.0 / 4,  0,         0,         -1.0 / 6, -1.0 / 6, -1.0 / 6,
                                     -1.0 / 6, 1.0 / 6,   -1.0 / 6,  1.0 / 24, 1.0 / 12, 1.0 / 6,
                                     1.0 / 24, -1.0 / 12, 1.0 / 6,   0,        0,        1 };
    cc_wino_weights(G, 6, g, M, C, U);
}

/* B' applied to six values (rows of a tile, or columns): the sparse 6x6 matrix
 *   [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1] */
#define BT6(d0, d1, d2, d3, d4, d5, o0, o1, o2, o3, o4, o5) \
    do { \
        float s_ = (d4) - 4.0f * (d2), u_ = (d3) - 4.0f * (d1), p_ = (d4) - (d2), q_ = 2.0f * ((d3) - (d1)); \
        o0 = 4.0f * (d0) - 5.0f * (d2) + (d4); \
        o1 = s_ + u_; \
        o2 = s_ - u_; \
        o3 = p_ + q_; \
        o4 = p_ - q_; \
        o5 = 4.0f * (d1) - 5.0f * (d3) + (d5); \
    } while (0)

/* Input tiles of tile row ti for one channel: V[x][t] at V + x * CT + o + tj. */
CC_HOT_CLONES
static void wino4_in_row(const float *restrict xc, int64_t H, int64_t W, int64_t ti, int64_t tw, float *restrict rb,
                         float *restrict V, size_t CT, size_t o)
{
    const int64_t Wp = 4 * tw + 2;
    float *r[6], *t[6];
    for (int a = 0; a < 6; a++) {
        r[a] = rb + a * Wp;
        t[a] = rb + (6 + a) * Wp;
        int64_t row = 4 * ti - 1 + a;
        memset(r[a], 0, sizeof(float) * (size_t)Wp);
        if (row >= 0 && row < H) memcpy(r[a] + 1, xc + row * W, sizeof(float) * (size_t)W);
    }
    {
        const float *restrict r0 = r[0], *restrict r1 = r[1], *restrict r2 = r[2], *restrict r3 = r[3];
        const float *restrict r4 = r[4], *restrict r5 = r[5];
        float *restrict t0 = t[0], *restrict t1 = t[1], *restrict t2 = t[2], *restrict t3 = t[3];
        float *restrict t4 = t[4], *restrict t5 = t[5];
#pragma omp simd
        for (int64_t j = 0; j < Wp; j++) BT6(r0[j], r1[j], r2[j], r3[j], r4[j], r5[j], t0[j], t1[j], t2[j], t3[j], t4[j], t5[j]);
    }
    for (int a = 0; a < 6; a++) {
        const float *restrict ta = t[a];
        float *restrict v0 = V + (size_t)(a * 6 + 0) * CT + o, *restrict v1 = V + (size_t)(a * 6 + 1) * CT + o;
        float *restrict v2 = V + (size_t)(a * 6 + 2) * CT + o, *restrict v3 = V + (size_t)(a * 6 + 3) * CT + o;
        float *restrict v4 = V + (size_t)(a * 6 + 4) * CT + o, *restrict v5 = V + (size_t)(a * 6 + 5) * CT + o;
#pragma omp simd
        for (int64_t tj = 0; tj < tw; tj++) {
            const float *d = ta + 4 * tj;
            BT6(d[0], d[1], d[2], d[3], d[4], d[5], v0[tj], v1[tj], v2[tj], v3[tj], v4[tj], v5[tj]);
        }
    }
}

/* A' applied to six values: [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1] */
#define AT6(z0, z1, z2, z3, z4, z5, o0, o1, o2, o3) \
    do { \
        float a_ = (z1) + (z2), b_ = (z1) - (z2), c_ = (z3) + (z4), d_ = (z3) - (z4); \
        o0 = (z0) + a_ + c_; \
        o1 = b_ + 2.0f * d_; \
        o2 = a_ + 4.0f * c_; \
        o3 = b_ + 8.0f * d_ + (z5); \
    } while (0)

/* Output tiles of tile row ti for one output channel: rows 4 ti .. 4 ti + 3
 * (those below H dropped) of y, plus the bias; s: 24 * tw floats of scratch. */
CC_HOT_CLONES
static void wino4_out_row(const float *restrict Z, size_t MT, size_t o, int64_t tw, int64_t H, int64_t W, int64_t ti,
                          float bv, float *restrict ym, float *restrict s)
{
    const float *z[36];
    for (int k = 0; k < 36; k++) z[k] = Z + (size_t)k * MT + o;
    /* A' along the tile rows: s[r][c][tj] = sum_k A'[r][k] z[6k + c][tj] */
    for (int c = 0; c < 6; c++) {
        const float *restrict z0 = z[c], *restrict z1 = z[6 + c], *restrict z2 = z[12 + c], *restrict z3 = z[18 + c];
        const float *restrict z4 = z[24 + c], *restrict z5 = z[30 + c];
        float *restrict s0 = s + (size_t)(0 * 6 + c) * (size_t)tw, *restrict s1 = s + (size_t)(1 * 6 + c) * (size_t)tw;
        float *restrict s2 = s + (size_t)(2 * 6 + c) * (size_t)tw, *restrict s3 = s + (size_t)(3 * 6 + c) * (size_t)tw;
#pragma omp simd
        for (int64_t tj = 0; tj < tw; tj++) AT6(z0[tj], z1[tj], z2[tj], z3[tj], z4[tj], z5[tj], s0[tj], s1[tj], s2[tj], s3[tj]);
    }
    /* ... then along the tile columns, into y */
    const int64_t full = W / 4;
    for (int r = 0; r < 4; r++) {
        int64_t row = 4 * ti + r;
        if (row >= H) break;
        float *restrict yr = ym + row * W;
        const float *restrict q0 = s + (size_t)(r * 6 + 0) * (size_t)tw, *restrict q1 = s + (size_t)(r * 6 + 1) * (size_t)tw;
        const float *restrict q2 = s + (size_t)(r * 6 + 2) * (size_t)tw, *restrict q3 = s + (size_t)(r * 6 + 3) * (size_t)tw;
        const float *restrict q4 = s + (size_t)(r * 6 + 4) * (size_t)tw, *restrict q5 = s + (size_t)(r * 6 + 5) * (size_t)tw;
#pragma omp simd
        for (int64_t tj = 0; tj < full; tj++) {
            float o0, o1, o2, o3;
            AT6(q0[tj], q1[tj], q2[tj], q3[tj], q4[tj], q5[tj], o0, o1, o2, o3);
            yr[4 * tj] = o0 + bv;
            yr[4 * tj + 1] = o1 + bv;
            yr[4 * tj + 2] = o2 + bv;
            yr[4 * tj + 3] = o3 + bv;
        }
        if (full < tw) {   /* the last tile of a width that is not a multiple of 4 */
            float o4[4];
            int64_t tj = full;
            AT6(q0[tj], q1[tj], q2[tj], q3[tj], q4[tj], q5[tj], o4[0], o4[1], o4[2], o4[3]);
            for (int64_t q = 0; 4 * tj + q < W; q++) yr[4 * tj + q] = o4[q] + bv;
        }
    }
}

/* Tile rows [r0, r0 + nr) of one image: input transform, the 36 products,
 * output transform.  V: 36 x C x (nr tw), Z: 36 x M x (nr tw), rb: row scratch.
 * pk: NULL, or U is packed per tap (conv_packed.c), blocks of cc_packed_floats. */
static void wino4_rows(const float *U, const cc_packed *pk, int64_t M, int64_t C, int64_t H, int64_t W, const float *x,
                       const float *bias, float *y, const cc_post *post, int64_t r0, int64_t nr, float *V, float *Z,
                       float *rb, int par)
{
    const int64_t tw = (W + 3) / 4, T = nr * tw, Wp = 4 * tw + 2;
    const size_t CT = (size_t)C * (size_t)T, MT = (size_t)M * (size_t)T, MC = (size_t)M * (size_t)C;
    const size_t per = (size_t)(12 * Wp > 24 * tw ? 12 * Wp : 24 * tw);
#pragma omp parallel for schedule(static) if (par && C * T >= 1024)
    for (int64_t c = 0; c < C; c++) {
        float *b = rb + (size_t)omp_get_thread_num() * per;
        for (int64_t i = 0; i < nr; i++)
            wino4_in_row(x + c * H * W, H, W, r0 + i, tw, b, V, CT, (size_t)c * (size_t)T + (size_t)(i * tw));
    }
    /* the 36 products are independent: on several threads each takes whole
     * products (OpenBLAS threads a 64 x 196 product poorly) */
    if (pk) {
        const size_t per_tap = cc_packed_floats(pk);
#pragma omp parallel for schedule(static) if (par && M * T * C >= CC_PAR_MIN)
        for (int k = 0; k < 36; k++)
            cc_packed_gemm(pk, U + (size_t)k * per_tap, V + (size_t)k * CT, T, T, Z + (size_t)k * MT, T, NULL, NULL);
    } else {
#pragma omp parallel for schedule(static) if (par && M * T * C >= CC_PAR_MIN)
    for (int k = 0; k < 36; k++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)T, (int)C, 1.0f, U + (size_t)k * MC, (int)C,
                    V + (size_t)k * CT, (int)T, 0.0f, Z + (size_t)k * MT, (int)T);
    }
#pragma omp parallel for schedule(static) if (par && M * T >= 1024)
    for (int64_t m = 0; m < M; m++) {
        float *s = rb + (size_t)omp_get_thread_num() * per, *ym = y + m * H * W, bv = bias ? bias[m] : 0.0f;
        for (int64_t i = 0; i < nr; i++) wino4_out_row(Z, MT, (size_t)m * (size_t)T + (size_t)(i * tw), tw, H, W, r0 + i, bv, ym, s);
        int64_t y0 = 4 * r0, y1 = 4 * (r0 + nr) < H ? 4 * (r0 + nr) : H;
        cc_post_apply(ym + y0 * W, (y1 - y0) * W, 0.0f, post);
    }
}

/* The image in bands of tile rows whose transformed input (36 x C x tiles)
 * stays near 1 MB: one whole-plane product per tap would stream ~100 MB
 * through memory per VGG layer, and OpenBLAS's packing of it cost as much as
 * the multiply-adds.  With enough bands for every thread, each thread takes
 * whole bands (single-threaded products inside one parallel region); else
 * bands go one after another with threaded products.  The band height does
 * not depend on the thread count, so neither do the results. */
/* Tile rows per band: at least 512 tiles (narrower products run slower),
 * else as many as keep V near 4 MB. */
static int64_t wino4_band_rows(int64_t C, int64_t H, int64_t W)
{
    const int64_t th = (H + 3) / 4, tw = (W + 3) / 4;
    int64_t nr = ((int64_t)1 << 20) / (36 * C * tw), nmin = (512 + tw - 1) / tw;
    if (nr < nmin) nr = nmin;
    if (nr > th) nr = th;
    return nr;
}

int64_t cc_wino4_band_tiles(int64_t C, int64_t H, int64_t W)
{
    return wino4_band_rows(C, H, W) * ((W + 3) / 4);
}

int cc_wino4_forward(const float *U, const cc_packed *pk, int64_t M, int64_t C, int64_t H, int64_t W, const float *x,
                     const float *bias, float *y, const cc_post *post, cc_ctx *ctx)
{
    const int64_t th = (H + 3) / 4, tw = (W + 3) / 4, Wp = 4 * tw + 2;
    const int64_t nr = wino4_band_rows(C, H, W);
    const int64_t bands = (th + nr - 1) / nr;
    const int nthr = omp_get_max_threads(), par_bands = nthr > 1 && bands >= 2 * nthr;
    const int slots = par_bands ? nthr : 1;
    const size_t per = (size_t)(12 * Wp > 24 * tw ? 12 * Wp : 24 * tw);
    const size_t vsz = (size_t)(36 * C * nr * tw), zsz = (size_t)(36 * M * nr * tw);
    float *V = cc_scratch(ctx, 0, vsz * (size_t)slots), *Z = cc_scratch(ctx, 1, zsz * (size_t)slots);
    float *rbuf = cc_scratch(ctx, 2, per * (size_t)nthr);
    if (!V || !Z || !rbuf) return CC_E_NOMEM;
    if (!par_bands) {
        for (int64_t b = 0; b < bands; b++) {
            int64_t r0 = b * nr, n = th - r0 < nr ? th - r0 : nr;
            wino4_rows(U, pk, M, C, H, W, x, bias, y, post, r0, n, V, Z, rbuf, 1);
        }
        return CC_E_OK;
    }
#pragma omp parallel for schedule(dynamic)
    for (int64_t b = 0; b < bands; b++) {
        const int t = omp_get_thread_num();
        int64_t r0 = b * nr, n = th - r0 < nr ? th - r0 : nr;
        wino4_rows(U, pk, M, C, H, W, x, bias, y, post, r0, n, V + (size_t)t * vsz, Z + (size_t)t * zsz,
                   rbuf + (size_t)t * per, 0);
    }
    return CC_E_OK;
}
