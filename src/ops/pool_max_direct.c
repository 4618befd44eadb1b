/* 2-D max-pool at stride 2 with 2x2 or 3x3 windows (VGG, ResNet, AlexNet,
 * GoogLeNet, SqueezeNet), values only, on a CPU with AVX-512 (pool.c's
 * forward when no indices are asked for).
 *
 * Column strips of 16 outputs, as the depthwise kernels (conv_dw_direct.c):
 * the 32 (+2) inputs under a strip are loaded as they lie, masked to the
 * image's columns, and split into even and odd columns with one permute
 * each, so tap kw = 0, 1, 2 of every lane is one vector.  Rows outside the
 * image are skipped.  Each lane starts from its window's first tap inside
 * the image and then keeps v when v > best, tap by tap in row-major order:
 * the selects of pool.c's scalar loop, so the same values, NaN and signed
 * zeros included. */
#include "avx512.h"
#include "conv_kernels.h"

int cc_maxpool_s2_ok(const cc_window *w)
{
#ifdef CC_AVX512
    if (!cc_own_kernels()) return 0;
    if (w->in[0] != 1 || w->out[0] != 1 || w->k[0] != 1) return 0;
    for (int a = 1; a < 3; a++) {
        /* every window starts inside the image: the first tap of each lane exists */
        if (w->s[a] != 2 || w->d[a] != 1 || (w->k[a] != 2 && w->k[a] != 3) || w->pb[a] >= w->k[a] || w->out[a] < 1 ||
            2 * (w->out[a] - 1) - w->pb[a] > w->in[a] - 1 || w->in[a] > (1 << 24))
            return 0;
    }
    return 1;
#else
    (void)w;
    return 0;
#endif
}

#ifdef CC_AVX512

AVX512 void cc_maxpool_s2_plane(const cc_window *w, const float *x, float *y, int64_t oh0, int64_t oh1)
{
    const int64_t H = w->in[1], W = w->in[2], OW = w->out[2];
    const int64_t kH = w->k[1], kW = w->k[2], pT = w->pb[1], pL = w->pb[2];
    for (int64_t ow0 = 0; ow0 < OW; ow0 += 16) {
        const int64_t base = 2 * ow0 - pL;
        const cc_s2strip m = cc_s2_strip(base, W);
        const __mmask16 live = cc_live16(OW - ow0);
        /* lanes whose tap kw lies in the image: column base + 2l + kw in [0, W) */
        __mmask16 v[3] = { 0, 0, 0 };
        for (int l = 0; l < 16; l++)
            for (int kw = 0; kw < kW; kw++) {
                const int64_t c = base + 2 * l + kw;
                if (c >= 0 && c < W) v[kw] |= (__mmask16)(1u << l);
            }
        for (int64_t oh = oh0; oh < oh1; oh++) {
            __m512 best = _mm512_setzero_ps();
            int first = 1;
            for (int64_t kh = 0; kh < kH; kh++) {
                const int64_t ih = 2 * oh - pT + kh;
                if (ih < 0 || ih >= H) continue;
                __m512 t[3];
                cc_s2_taps(x + ih * W + base, &m, (int)kW, t);
                if (first) {
                    /* each lane's first tap in the image: kw = 0, else 1, else 2 */
                    best = _mm512_mask_mov_ps(t[1], v[0], t[0]);
                    if (kW == 3) best = _mm512_mask_mov_ps(best, (__mmask16)~(v[0] | v[1]), t[2]);
                    first = 0;
                }
                /* vmaxps(t, best) = t > best ? t : best, lanes whose tap is in the image */
                for (int kw = 0; kw < kW; kw++) best = _mm512_mask_max_ps(best, v[kw], t[kw], best);
            }
            _mm512_mask_storeu_ps(y + oh * OW + ow0, live, best);
        }
    }
}

/* The same windows over a channel-blocked input (op.h), one vector per
 * position holding its 16 channels, into the row-major output: output rows
 * [oh0, oh1) of channel block b.  No strips or masks: each window's taps are
 * whole vectors, visited in the same row-major order from the first one in
 * the image, so the same values (ResNet-50's max-pool after its first layer,
 * which then stores whole vectors too). */
AVX512 void cc_maxpool_c16_rows(const cc_window *w, const float *x, int64_t b, float *y, int64_t oh0, int64_t oh1)
{
    const int64_t H = w->in[1], W = w->in[2], OH = w->out[1], OW = w->out[2];
    const int64_t kH = w->k[1], kW = w->k[2], sH = w->s[1], sW = w->s[2], pT = w->pb[1], pL = w->pb[2];
    const float *xb = x + b * 16 * H * W;
    float *yb = y + b * 16 * OH * OW;
    float t[64][16] __attribute__((aligned(64)));
    for (int64_t oh = oh0; oh < oh1; oh++)
        for (int64_t ow0 = 0; ow0 < OW; ow0 += 64) {
            const int64_t n = OW - ow0 < 64 ? OW - ow0 : 64;
            for (int64_t j = 0; j < n; j++) {
                __m512 best = _mm512_setzero_ps();
                int first = 1;
                for (int64_t kh = 0; kh < kH; kh++) {
                    const int64_t ih = oh * sH - pT + kh;
                    if (ih < 0 || ih >= H) continue;
                    for (int64_t kw = 0; kw < kW; kw++) {
                        const int64_t iw = (ow0 + j) * sW - pL + kw;
                        if (iw < 0 || iw >= W) continue;
                        const __m512 v = _mm512_loadu_ps(xb + (ih * W + iw) * 16);
                        best = first ? v : _mm512_max_ps(v, best);   /* v > best ? v : best */
                        first = 0;
                    }
                }
                _mm512_store_ps(t[j], best);
            }
            for (int l = 0; l < 16; l++) {
                float *yr = yb + l * OH * OW + oh * OW + ow0;
                for (int64_t j = 0; j < n; j++) yr[j] = t[j][l];
            }
        }
}

#else

void cc_maxpool_s2_plane(const cc_window *w, const float *x, float *y, int64_t oh0, int64_t oh1)
{
    (void)w; (void)x; (void)y; (void)oh0; (void)oh1;
}

void cc_maxpool_c16_rows(const cc_window *w, const float *x, int64_t b, float *y, int64_t oh0, int64_t oh1)
{
    (void)w; (void)x; (void)b; (void)y; (void)oh0; (void)oh1;
}

#endif
