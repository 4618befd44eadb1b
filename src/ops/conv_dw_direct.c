/* Depthwise convolution straight from the unpadded plane, on a CPU with
 * AVX-512 (conv.c's depthwise path): stride 1 when the output is as wide as
 * the input (the usual "same" padding), and 3x3 at stride 2.  Nothing reads
 * outside the plane and nothing needs a padded copy: taps that fall outside
 * the image are masked-off lanes of their loads.  The bias and the fused
 * activation are applied before the one store, so the plane is read once and
 * written once.  Each output is bias + its taps in (kh, kw) order, whatever
 * the thread count.
 *
 * 3x3 with dilation 1 (MobileNet's every depthwise layer, both strides):
 * column strips of 16 outputs, down the plane, with the input rows under an
 * output row held in registers and rolled down (dw_rows3, dw_rows3_s2).
 * Any other stride-1 kernel (dw_direct_any): output position i = oh*W + ow
 * reads input i + (kh*d - pT)*W + (kw*d - pL) for tap (kh, kw), one load of
 * 16 consecutive floats per 16 outputs, a row's wrap into the next masked
 * off. */
#include "avx512.h"
#include "conv_kernels.h"

enum { DW_MAX_K = 16 };

int cc_dw_direct_ok(int64_t kH, int64_t kW, int64_t s, int64_t d, int64_t OW, int64_t W)
{
#ifdef CC_AVX512
    if (W < 1 || !cc_own_kernels()) return 0;
    if (s == 1) return OW == W && kH <= DW_MAX_K && kW <= DW_MAX_K;
    return s == 2 && kH == 3 && kW == 3 && d == 1;
#else
    (void)kH; (void)kW; (void)s; (void)d; (void)OW; (void)W;
    return 0;
#endif
}

#ifdef CC_AVX512

/* Row and column (oh, ow) of the 16 positions from (oh0, ow0) on. */
static inline __attribute__((always_inline)) AVX512 void dw_lanes(int64_t oh0, int64_t ow0, int wraps, __m512i Wv,
                                                                    __m512i *oh, __m512i *ow)
{
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    *ow = _mm512_add_epi32(_mm512_set1_epi32((int)ow0), lane);
    *oh = _mm512_set1_epi32((int)oh0);
    for (int r = 0; r < wraps; r++) {
        const __mmask16 m = _mm512_cmpge_epi32_mask(*ow, Wv);
        *ow = _mm512_mask_sub_epi32(*ow, m, *ow, Wv);
        *oh = _mm512_mask_add_epi32(*oh, m, *oh, _mm512_set1_epi32(1));
    }
}

/* Lanes whose v + shift lies in [0, lim). */
static inline __attribute__((always_inline)) AVX512 __mmask16 dw_in(__m512i v, int64_t shift, __m512i lim)
{
    const __m512i t = _mm512_add_epi32(v, _mm512_set1_epi32((int)shift));
    return _mm512_mask_cmplt_epi32_mask(_mm512_cmpge_epi32_mask(t, _mm512_setzero_si512()), t, lim);
}

/* Any kernel size up to DW_MAX_K, one chunk of 16 at a time. */
static AVX512 void dw_direct_any(const float *x, int64_t H, int64_t W, const float *w, int64_t kH, int64_t kW,
                                 int64_t d, int64_t pT, int64_t pL, float bias, const cc_post *post, float *y,
                                 int64_t OH)
{
    const int64_t n = OH * W;
    const __m512i Wv = _mm512_set1_epi32((int)W), Hv = _mm512_set1_epi32((int)H);
    const int wraps = (int)((15 + W - 1) / W);   /* a lane is at most 15 past the chunk's first position */
    const int kind = post ? post->kind : CC_POST_NONE;
    const __m512 lo = _mm512_set1_ps(post ? post->lo : 0), hi = _mm512_set1_ps(post ? post->hi : 0);
    const float *res = cc_post_res(post, y);
    int64_t oh0 = 0, ow0 = 0;
    for (int64_t i0 = 0; i0 < n; i0 += 16) {
        __m512i oh, ow;
        dw_lanes(oh0, ow0, wraps, Wv, &oh, &ow);
        const __mmask16 live = cc_live16(n - i0);
        __mmask16 cols[DW_MAX_K];
        for (int64_t kw = 0; kw < kW; kw++) cols[kw] = dw_in(ow, kw * d - pL, Wv);
        __m512 acc = _mm512_set1_ps(bias);
        for (int64_t kh = 0; kh < kH; kh++) {
            const __mmask16 rm = live & dw_in(oh, kh * d - pT, Hv);
            const float *xr = x + i0 + (kh * d - pT) * W - pL;
            for (int64_t kw = 0; kw < kW; kw++)
                acc = _mm512_fmadd_ps(_mm512_set1_ps(w[kh * kW + kw]), _mm512_maskz_loadu_ps(rm & cols[kw], xr + kw * d),
                                      acc);
        }
        _mm512_mask_storeu_ps(y + i0, live, cc_post16(cc_res16(acc, res, i0, live), kind, lo, hi));
        ow0 += 16;
        while (ow0 >= W) { ow0 -= W; oh0++; }
    }
}

/* The first column strip walks down the plane two cache lines per input row:
 * a stride the prefetchers follow poorly when the plane comes from L3 or
 * memory (MobileNetV2's 96 x 112 x 112 stride-2 layer: 0.12 ms in the
 * network against 0.06 with its input in cache, AMD Zen 5).  So that strip
 * also prefetches, AHEAD output rows on, the whole input rows it is about to
 * need; the later strips then find the plane in L2.  (A plane one strip
 * wide reads each line once, in order: nothing to gain there.) */
enum { AHEAD = 2 };
static inline __attribute__((always_inline)) void dw_prefetch_row(const float *x, int64_t H, int64_t W, int64_t ih)
{
    if (ih >= 0 && ih < H) cc_prefetch_floats(x + ih * W, W);
}

/* bias + the nine taps in (kh, kw) order: rows p (top), c, n (bottom), columns
 * 0, 1, 2 (the broadcasts of w are loop-invariant: they stay in registers) */
static inline __attribute__((always_inline)) AVX512 __m512 dw_taps9(const float *w, __m512 b0, __m512 p0, __m512 p1,
                                                                    __m512 p2, __m512 c0, __m512 c1, __m512 c2,
                                                                    __m512 n0, __m512 n1, __m512 n2)
{
    __m512 a = _mm512_fmadd_ps(_mm512_set1_ps(w[0]), p0, b0);
    a = _mm512_fmadd_ps(_mm512_set1_ps(w[1]), p1, a);
    a = _mm512_fmadd_ps(_mm512_set1_ps(w[2]), p2, a);
    a = _mm512_fmadd_ps(_mm512_set1_ps(w[3]), c0, a);
    a = _mm512_fmadd_ps(_mm512_set1_ps(w[4]), c1, a);
    a = _mm512_fmadd_ps(_mm512_set1_ps(w[5]), c2, a);
    a = _mm512_fmadd_ps(_mm512_set1_ps(w[6]), n0, a);
    a = _mm512_fmadd_ps(_mm512_set1_ps(w[7]), n1, a);
    return _mm512_fmadd_ps(_mm512_set1_ps(w[8]), n2, a);
}

/* 3x3, stride 1, dilation 1: a column strip of 16 at a time, down the whole
 * plane, the three input rows under an output row held in registers and
 * rolled down by one row per output row.  So each input row is loaded once
 * per strip (three shifted loads, masked to the image's columns) and each
 * output costs nine multiply-adds and nothing else: a flat kernel like the one
 * above spends more on its lane arithmetic than on the taps (the flat 3x3 one
 * this replaced was 3-4x slower on MobileNetV2's planes).  Same sums in the
 * same order. */
static AVX512 void dw_rows3(const float *x, int64_t H, int64_t W, const float *w, int64_t pT, int64_t pL, float bias,
                            const cc_post *post, float *y, int64_t OH)
{
    const int kind = post ? post->kind : CC_POST_NONE;
    const __m512 lo = _mm512_set1_ps(post ? post->lo : 0), hi = _mm512_set1_ps(post ? post->hi : 0);
    const float *res = cc_post_res(post, y);
    const __m512 b0 = _mm512_set1_ps(bias), z = _mm512_setzero_ps();
    for (int64_t j = 0; j < W; j += 16) {
        /* lanes of column tap kw read input column j + l + kw - pL, valid in [0, W) */
        const __mmask16 live = cc_live16(W - j);
        const __mmask16 m0 = live & cc_live16(W - j + pL) & (__mmask16)~cc_live16(pL - j);
        const __mmask16 m1 = live & cc_live16(W - j + pL - 1) & (__mmask16)~cc_live16(pL - 1 - j);
        const __mmask16 m2 = live & cc_live16(W - j + pL - 2) & (__mmask16)~cc_live16(pL - 2 - j);
        const float *xc = x + j - pL;
#define ROW1(ih, t0, t1, t2)                                                                              \
        if ((ih) >= 0 && (ih) < H)                                                                        \
            t0 = _mm512_maskz_loadu_ps(m0, xc + (ih) * W), t1 = _mm512_maskz_loadu_ps(m1, xc + (ih) * W + 1), \
            t2 = _mm512_maskz_loadu_ps(m2, xc + (ih) * W + 2);                                            \
        else                                                                                              \
            t0 = t1 = t2 = z;
        /* rows ih = oh - pT + kh for kh = 0, 1, 2: (p*) top, (c*) middle, (n*) bottom */
        __m512 p0, p1, p2, c0, c1, c2;
        ROW1(-pT, p0, p1, p2)
        ROW1(1 - pT, c0, c1, c2)
        for (int64_t oh = 0; oh < OH; oh++) {
            if (j == 0 && W > 16) dw_prefetch_row(x, H, W, oh + AHEAD - pT + 2);
            __m512 n0, n1, n2;
            ROW1(oh - pT + 2, n0, n1, n2)
            const __m512 a = dw_taps9(w, b0, p0, p1, p2, c0, c1, c2, n0, n1, n2);
            _mm512_mask_storeu_ps(y + oh * W + j, live, cc_post16(cc_res16(a, res, oh * W + j, live), kind, lo, hi));
            p0 = c0, p1 = c1, p2 = c2, c0 = n0, c1 = n1, c2 = n2;
        }
#undef ROW1
    }
}

/* 3x3, stride 2, dilation 1, any padding: column strips of 16 outputs as
 * above, the inputs under a strip split into even and odd columns
 * (cc_s2_taps); output row oh reads input rows 2 oh + kh - pT, so its last
 * row is the next one's first and stays in registers. */
static AVX512 void dw_rows3_s2(const float *x, int64_t H, int64_t W, const float *w, int64_t pT, int64_t pL, float bias,
                               const cc_post *post, float *y, int64_t OH, int64_t OW)
{
    const int kind = post ? post->kind : CC_POST_NONE;
    const __m512 lo = _mm512_set1_ps(post ? post->lo : 0), hi = _mm512_set1_ps(post ? post->hi : 0);
    const float *res = cc_post_res(post, y);
    const __m512 b0 = _mm512_set1_ps(bias), z = _mm512_setzero_ps();
    for (int64_t ow0 = 0; ow0 < OW; ow0 += 16) {
        const int64_t base = 2 * ow0 - pL;
        const cc_s2strip m = cc_s2_strip(base, W);
        const __mmask16 live = cc_live16(OW - ow0);
        __m512 t[3];
#define ROW2(ih, t0, t1, t2)                                                  \
        if ((ih) >= 0 && (ih) < H)                                            \
            cc_s2_taps(x + (ih) * W + base, &m, 3, t), t0 = t[0], t1 = t[1], t2 = t[2]; \
        else                                                                  \
            t0 = t1 = t2 = z;
        __m512 p0, p1, p2;
        ROW2(-pT, p0, p1, p2)
        for (int64_t oh = 0; oh < OH; oh++) {
            if (ow0 == 0 && OW > 16) {
                dw_prefetch_row(x, H, W, 2 * (oh + AHEAD) - pT + 1);
                dw_prefetch_row(x, H, W, 2 * (oh + AHEAD) - pT + 2);
            }
            __m512 c0, c1, c2, n0, n1, n2;
            ROW2(2 * oh - pT + 1, c0, c1, c2)
            ROW2(2 * oh - pT + 2, n0, n1, n2)
            const __m512 a = dw_taps9(w, b0, p0, p1, p2, c0, c1, c2, n0, n1, n2);
            _mm512_mask_storeu_ps(y + oh * OW + ow0, live, cc_post16(cc_res16(a, res, oh * OW + ow0, live), kind, lo, hi));
            p0 = n0, p1 = n1, p2 = n2;
        }
#undef ROW2
    }
}

AVX512 void cc_dw_direct_plane(const float *x, int64_t H, int64_t W, const float *w, int64_t kH, int64_t kW, int64_t s,
                               int64_t d, int64_t pT, int64_t pL, float bias, const cc_post *post, float *y, int64_t OH,
                               int64_t OW)
{
    if (s == 2) dw_rows3_s2(x, H, W, w, pT, pL, bias, post, y, OH, OW);
    else if (kH == 3 && kW == 3 && d == 1) dw_rows3(x, H, W, w, pT, pL, bias, post, y, OH);
    else dw_direct_any(x, H, W, w, kH, kW, d, pT, pL, bias, post, y, OH);
}

#else

void cc_dw_direct_plane(const float *x, int64_t H, int64_t W, const float *w, int64_t kH, int64_t kW, int64_t s,
                        int64_t d, int64_t pT, int64_t pL, float bias, const cc_post *post, float *y, int64_t OH,
                        int64_t OW)
{
    (void)x; (void)H; (void)W; (void)w; (void)kH; (void)kW; (void)s; (void)d; (void)pT; (void)pL; (void)bias;
    (void)post; (void)y; (void)OH; (void)OW;
}

#endif
