/* The AVX-512 max-pool kernel (src/ops/pool_max_direct.c: stride 2, 2x2 or
 * 3x3 windows, values only) against a scalar reference of pool.c's documented
 * rule (each window starts from its first tap inside the image, row-major,
 * then keeps v when v > best), bit for bit, over every padding the kernel
 * takes, plane sizes 1..40 x 1..70, floor and ceil output sizes, on data with
 * NaN, -inf and both signed zeros; and the same windows over a channel-blocked
 * input (cc_maxpool_c16_rows, 32 channels, each against the rule).  Exit 77 where the kernel is not built or
 * the CPU lacks AVX-512 (pool.c then keeps its scalar loop). */
#include "check.h"
#include "ops/conv_kernels.h"

#include <float.h>
#include <string.h>

static void reference(const float *x, int H, int W, int k, int p, float *y, int OH, int OW)
{
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            int first = 1;
            float best = -FLT_MAX;
            for (int kh = 0; kh < k; kh++) {
                int ih = 2 * oh - p + kh;
                if (ih < 0 || ih >= H) continue;
                for (int kw = 0; kw < k; kw++) {
                    int iw = 2 * ow - p + kw;
                    if (iw < 0 || iw >= W) continue;
                    float v = x[ih * W + iw];
                    if (first) best = v, first = 0;
                    else best = v > best ? v : best;
                }
            }
            y[oh * OW + ow] = best;
        }
}

int main(void)
{
    unsigned rs = 12345;
    int n = 0, taken = 0;
    for (int k = 2; k <= 3; k++)
        for (int p = 0; p < k; p++)
            for (int H = 1; H <= 40; H += 3)
                for (int W = 1; W <= 70; W += W < 20 ? 1 : 7)
                    for (int ceil = 0; ceil < 2; ceil++) {
                        int OH = (H + 2 * p - k + ceil) / 2 + 1, OW = (W + 2 * p - k + ceil) / 2 + 1;
                        if (H + 2 * p < k || W + 2 * p < k) continue;
                        /* ceil mode drops a window that would start in the end padding */
                        if (2 * (OH - 1) - p >= H) OH--;
                        if (2 * (OW - 1) - p >= W) OW--;
                        cc_window w;
                        memset(&w, 0, sizeof w);
                        w.nsp = 2;
                        w.in[0] = w.out[0] = w.k[0] = w.s[0] = w.d[0] = 1;
                        w.in[1] = H, w.in[2] = W, w.out[1] = OH, w.out[2] = OW;
                        w.k[1] = w.k[2] = k, w.s[1] = w.s[2] = 2, w.d[1] = w.d[2] = 1;
                        w.pb[1] = w.pb[2] = w.pe[1] = w.pe[2] = p;
                        n++;
                        if (!cc_maxpool_s2_ok(&w)) continue;
                        taken++;
                        float *x = malloc(sizeof(float) * (size_t)(H * W)), *y = malloc(sizeof(float) * (size_t)(OH * OW));
                        float *r = malloc(sizeof(float) * (size_t)(OH * OW));
                        for (int i = 0; i < H * W; i++) {
                            rs = rs * 1103515245u + 12345u;
                            int q = (int)(rs >> 16) % 20;
                            x[i] = q == 0 ? NAN : q == 1 ? -0.0f : q == 2 ? 0.0f : q == 3 ? -INFINITY : (float)((int)(rs >> 8) % 200 - 100) / 10;
                        }
                        cc_maxpool_s2_plane(&w, x, y, 0, OH / 2);   /* in two bands of rows, as pool.c may */
                        cc_maxpool_s2_plane(&w, x, y, OH / 2, OH);
                        reference(x, H, W, k, p, r, OH, OW);
                        CHECK(memcmp(y, r, sizeof(float) * (size_t)(OH * OW)) == 0, "k=%d pad=%d %dx%d ceil=%d: differs", k, p,
                              H, W, ceil);
                        /* the channel-blocked input (cc_maxpool_c16_rows): 32 channels, the
                         * plane above as channel 21, the others shifted copies of it */
                        float *xb = malloc(sizeof(float) * (size_t)(32 * H * W)), *yb = malloc(sizeof(float) * (size_t)(32 * OH * OW));
                        for (int c = 0; c < 32; c++)
                            for (int i = 0; i < H * W; i++) xb[(c / 16 * H * W + i) * 16 + c % 16] = x[(i + 7 * ((c + 11) % 32)) % (H * W)];
                        cc_maxpool_c16_rows(&w, xb, 0, yb, 0, OH / 2);
                        cc_maxpool_c16_rows(&w, xb, 0, yb, OH / 2, OH);
                        cc_maxpool_c16_rows(&w, xb, 1, yb, 0, OH);
                        CHECK(memcmp(yb + 21 * OH * OW, r, sizeof(float) * (size_t)(OH * OW)) == 0,
                              "k=%d pad=%d %dx%d ceil=%d: channel-blocked input differs", k, p, H, W, ceil);
                        int same = 1;
                        for (int c = 0; c < 32; c++) {
                            float *xc = malloc(sizeof(float) * (size_t)(H * W));
                            for (int i = 0; i < H * W; i++) xc[i] = xb[(c / 16 * H * W + i) * 16 + c % 16];
                            reference(xc, H, W, k, p, r, OH, OW);
                            same &= memcmp(yb + c * OH * OW, r, sizeof(float) * (size_t)(OH * OW)) == 0;
                            free(xc);
                        }
                        CHECK(same, "k=%d pad=%d %dx%d ceil=%d: channel-blocked input, some channel differs", k, p, H, W, ceil);
                        free(xb);
                        free(yb);
                        free(x);
                        free(y);
                        free(r);
                    }
    if (!taken) {
        printf("SKIP: the AVX-512 max-pool kernel is not available here (%d windows offered)\n", n);
        return 77;
    }
    printf("%d of %d windows through the kernel, bit-identical to the scalar rule\n", taken, n);
    return check_exit();
}
