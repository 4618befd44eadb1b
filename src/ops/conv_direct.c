/* Direct 3x3 convolution for few input channels: a network's first layer
 * (MobileNet's 3 -> 32 at stride 2, VGG's 3 -> 64).  Through im2col, its 27
 * columns of the picture were written out and read back (MobileNetV2: 1.35
 * MB) for a product only 27 deep.  Here a tile of 16 output channels x 16
 * output columns stays in 16 registers while the 9 C taps of one output row
 * stream by: per (channel, kernel row) the 16 inputs under each tap are one
 * masked load (stride 1) or two loads split into even and odd columns
 * (stride 2, cc_s2_taps), and each is multiplied into the 16 channels with
 * broadcast weights.  Each output is the sum over (c, kh, kw) in that order,
 * then + bias, then the fused activation: the order of the packed im2col
 * product (conv_packed.c), padding taps multiplied in as zeros as there. */
#include "avx512.h"
#include "conv_kernels.h"

#include <omp.h>
#include <string.h>

enum { CO = 16, MAX_TAPS = 36 };

int cc_conv_direct_ok(int64_t C, int64_t kH, int64_t kW, int64_t sH, int64_t sW, int64_t dH, int64_t dW)
{
#ifdef CC_AVX512
    return cc_own_kernels() && kH == 3 && kW == 3 && sH == sW && (sH == 1 || sH == 2) && dH == 1 && dW == 1 &&
           C >= 1 && C * 9 <= MAX_TAPS;
#else
    (void)C; (void)kH; (void)kW; (void)sH; (void)sW; (void)dH; (void)dW;
    return 0;
#endif
}

size_t cc_conv_direct_floats(int64_t M, int64_t C)
{
    return (size_t)((M + CO - 1) / CO) * (size_t)C * 9 * CO;
}

/* dst[g][c][kh][kw][j] = W[g*16 + j][c][kh][kw], zero past channel M. */
void cc_conv_direct_weights(const float *W, int64_t M, int64_t C, float *dst)
{
    const int64_t groups = (M + CO - 1) / CO;
    for (int64_t g = 0; g < groups; g++)
        for (int64_t t = 0; t < C * 9; t++)
            for (int64_t j = 0; j < CO; j++) {
                const int64_t m = g * CO + j;
                dst[(g * C * 9 + t) * CO + j] = m < M ? W[m * C * 9 + t] : 0.0f;
            }
}

#ifdef CC_AVX512

/* One output row oh of channels g*16 .. g*16+15 (rows past M not stored). */
static AVX512 void direct_row(const float *x, int64_t C, int64_t H, int64_t W, const float *wg, int64_t s,
                              int64_t pT, int64_t pL, const float *bias, int64_t nm, const cc_post *post, float *y,
                              int64_t OHW, int64_t oh, int64_t OW)
{
    const int kind = post ? post->kind : CC_POST_NONE;
    const __m512 lo = _mm512_set1_ps(post ? post->lo : 0), hi = _mm512_set1_ps(post ? post->hi : 0);
    const float *res = cc_post_res(post, y);
    /* The input rows that output row oh + AHEAD adds (the rows it shares with
     * the row before are read already).  A first layer reads the picture cold
     * (written once, then a whole network passed through the caches), through
     * 3C row streams at stride 2: the hardware prefetchers left MobileNetV2's
     * first layer waiting on memory, 0.54 ms at 1 thread against 0.14 with
     * its input in cache (AMD Zen 5). */
    enum { AHEAD = 2 };
    for (int64_t kh = 3 - s; kh < 3 && (oh + AHEAD) * OW < OHW; kh++) {
        const int64_t ih = (oh + AHEAD) * s - pT + kh;
        if (ih < 0 || ih >= H) continue;
        for (int64_t c = 0; c < C; c++) cc_prefetch_floats(x + (c * H + ih) * W, W);
    }
    for (int64_t ow0 = 0; ow0 < OW; ow0 += 16) {
        __m512 acc[CO];
#pragma GCC unroll 16
        for (int j = 0; j < CO; j++) acc[j] = _mm512_setzero_ps();
        const int64_t base = s * ow0 - pL;
        const __mmask16 live = cc_live16(OW - ow0);
        cc_s2strip m2 = { 0, 0, 0, 0 };
        __mmask16 m1[3] = { 0, 0, 0 };
        if (s == 2) {
            m2 = cc_s2_strip(base, W);
        } else {
            for (int kw = 0; kw < 3; kw++) {   /* columns base + kw + l in [0, W), lanes l < OW - ow0 */
                const int64_t b = base + kw;
                m1[kw] = live & cc_live16(W - b) & (__mmask16)~cc_live16(-b);
            }
        }
        for (int64_t c = 0; c < C; c++)
            for (int64_t kh = 0; kh < 3; kh++) {
                const int64_t ih = oh * s - pT + kh;
                const float *xr = x + (c * H + (ih < 0 ? 0 : ih < H ? ih : H - 1)) * W + base;
                __m512 t[3];
                if (ih < 0 || ih >= H) {   /* padding rows: zeros multiplied in, as im2col does (0 x inf is NaN) */
                    t[0] = t[1] = t[2] = _mm512_setzero_ps();
                } else if (s == 2) {
                    cc_s2_taps(xr, &m2, 3, t);
                } else {
#pragma GCC unroll 3
                    for (int kw = 0; kw < 3; kw++) t[kw] = _mm512_maskz_loadu_ps(m1[kw], xr + kw);
                }
                const float *wk = wg + (c * 3 + kh) * 3 * CO;
#pragma GCC unroll 3
                for (int kw = 0; kw < 3; kw++)
#pragma GCC unroll 16
                    for (int j = 0; j < CO; j++) acc[j] = _mm512_fmadd_ps(t[kw], _mm512_set1_ps(wk[kw * CO + j]), acc[j]);
            }
#pragma GCC unroll 16
        for (int j = 0; j < CO; j++) {
            if (j >= nm) break;
            __m512 v = acc[j];
            if (bias) v = _mm512_add_ps(v, _mm512_set1_ps(bias[j]));
            v = cc_res16(v, res, j * OHW + oh * OW + ow0, live);
            _mm512_mask_storeu_ps(y + j * OHW + oh * OW + ow0, live, cc_post16(v, kind, lo, hi));
        }
    }
}

void cc_conv_direct(const float *x, int64_t C, int64_t H, int64_t W, const float *wp, int64_t M, int64_t s, int64_t pT,
                    int64_t pL, const float *bias, const cc_post *post, float *y, int64_t OH, int64_t OW)
{
    /* tasks group-major, so with the usual 2-4 groups each thread keeps to its
     * own output channels (the next layer, often depthwise, splits by channel) */
    const int64_t groups = (M + CO - 1) / CO, tasks = groups * OH, OHW = OH * OW;
#pragma omp parallel for schedule(static) if (M * OHW * C * 9 >= CC_PAR_MIN)
    for (int64_t t = 0; t < tasks; t++) {
        const int64_t g = t / OH, oh = t % OH, m0 = g * CO, nm = M - m0 < CO ? M - m0 : CO;
        direct_row(x, C, H, W, wp + g * C * 9 * CO, s, pT, pL, bias ? bias + m0 : NULL, nm, post, y + m0 * OHW, OHW,
                   oh, OW);
    }
}

#else

void cc_conv_direct(const float *x, int64_t C, int64_t H, int64_t W, const float *wp, int64_t M, int64_t s, int64_t pT,
                    int64_t pL, const float *bias, const cc_post *post, float *y, int64_t OH, int64_t OW)
{
    (void)x; (void)C; (void)H; (void)W; (void)wp; (void)M; (void)s; (void)pT; (void)pL; (void)bias; (void)post;
    (void)y; (void)OH; (void)OW;
}

#endif
