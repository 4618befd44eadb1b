/* Shared pieces of the convolution / pooling family (conv.c, pool.c):
 * the sliding-window geometry read from the ONNX attributes (kernel_shape,
 * strides, dilations, pads, auto_pad, ceil_mode) and the valid-tap helper.
 *
 * Every spatial op works internally on a 3-D window (D, H, W); a model's 1-D
 * or 2-D op is padded at the front with size-1 axes (kernel 1, stride 1,
 * dilation 1, no padding), so one loop nest serves all three ranks. */
#ifndef CC_CONV_KERNELS_H
#define CC_CONV_KERNELS_H

#include "op.h"

#define CC_SP 3                 /* internal spatial rank (D, H, W) */

typedef struct cc_window {
    int nsp;                    /* spatial rank in the model: 1, 2 or 3 */
    int64_t in[CC_SP];          /* input spatial size */
    int64_t out[CC_SP];         /* output spatial size */
    int64_t k[CC_SP];           /* kernel */
    int64_t s[CC_SP];           /* stride */
    int64_t d[CC_SP];           /* dilation */
    int64_t pb[CC_SP], pe[CC_SP]; /* padding at the beginning / end, as resolved */
} cc_window;

/* Fill w from the node's attributes for input x (N, C, spatial...).  kernel:
 * the kernel's spatial sizes when known from elsewhere (Conv's W), NULL to
 * require the kernel_shape attribute.  ceil_ok: whether ceil_mode is read
 * (pooling).  Output sizes follow ONNX / PyTorch: with ceil_mode a last
 * window that would start in the end padding is dropped.  Returns 0 or a
 * CC_E_* code with a message in e (op_type prefixed). */
int cc_window_init(const cc_node *n, const cc_tensor *x, const int64_t *kernel,
                   int ceil_ok, cc_window *w, cc_err *e);

/* Valid taps of one window along one axis: taps t in [*t0, *t1) read input
 * index o*s - pb + t*d inside [0, in). */
static inline void cc_window_taps(int64_t o, int64_t s, int64_t pb, int64_t d, int64_t k,
                                  int64_t in, int64_t *t0, int64_t *t1)
{
    int64_t base = o * s - pb;
    int64_t a = base >= 0 ? 0 : (-base + d - 1) / d;
    int64_t b = base > in - 1 ? 0 : (in - 1 - base) / d + 1;
    if (b > k) b = k;
    if (b < a) b = a;
    *t0 = a;
    *t1 = b;
}

/* Output positions o in [*o0, *o1) (of out) for which input index
 * o*s + off lies in [0, in): the row range a (kernel tap, axis) touches. */
static inline void cc_window_range(int64_t off, int64_t s, int64_t in, int64_t out,
                                   int64_t *o0, int64_t *o1)
{
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = off > in - 1 ? 0 : (in - 1 - off) / s + 1;
    if (b > out) b = out;
    if (b < a) b = a;
    if (a > out) a = b = out;
    *o0 = a;
    *o1 = b;
}

/* Products with load-time packed weights (conv_packed.c): C (M x N, row
 * stride ldc) = post(W B + bias) for B (K x N, row stride ldb). */
/* Products at least this wide are planned with wide tiles, narrower ones with narrow tiles. */
#define CC_PACKED_WIDE_N 784
typedef struct cc_packed {
    int64_t M, K;
    int wide;                   /* tile shape: 1 = rows x 64 positions, 0 = rows channels x 6-7 positions */
    int64_t rows, panels;       /* rows per panel, panels = ceil(M / rows) */
    int finite;                 /* every packed weight is finite (cc_packed_weights) */
    int skip_zeros;             /* set by the caller: narrow tiles skip the k whose inputs in the tile are all 0 */
    int halves;                 /* set by the caller (cc_packed_halves_ok): a narrow product sums k in two halves */
} cc_packed;
/* Whether a narrow product of a 1x1 convolution straight from its input may sum
 * over k in two fixed halves (cc_packed_gemm): the input was written split by
 * channels between the threads, and it dwarfs the output. */
int cc_packed_halves_ok(const cc_packed *pk, int64_t N);
/* Plan the packing of an M x K weight matrix for outputs N positions wide;
 * returns 0 when this CPU / build has no packed kernels (or
 * CONTRASTCAM_NO_PACKED is set), so the caller keeps its BLAS path. */
int cc_packed_plan(int64_t M, int64_t K, int64_t N, cc_packed *pk);
size_t cc_packed_floats(const cc_packed *pk);
/* Packs W into dst; clears pk->finite when a weight is not finite. */
void cc_packed_weights(cc_packed *pk, const float *W, float *dst);
void cc_packed_gemm(const cc_packed *pk, const float *Wp, const float *B, int64_t ldb, int64_t N, float *C,
                    int64_t ldc, const float *bias, const cc_post *post);
/* The same product without bias or post, on one thread: its last task (the
 * last panel's) also fetches into L2 the first panel of the weights at
 * `after`, or NULL, the next of a run of products (conv_wino2.c). */
void cc_packed_gemm_then(const cc_packed *pk, const float *Wp, const float *B, int64_t ldb, int64_t N, float *C,
                         int64_t ldc, const float *after);
/* A convolution's product straight from its input, without an im2col matrix
 * (weights planned narrow: cc_packed_plan with N < 784): output (oh, ow) sums
 * over k = (c, kh, kw) W[m][k] * x[oh * sH * rowp + sW * ow + off[k]], sW 1 or
 * 2, with x the input, zero-padded so that every such read lies inside it,
 * and off[k] the tap's offset; C is M x (OH OW), or with blk channel-blocked
 * (below; whole panels, and the fused residual blocked too). */
void cc_packed_conv(const cc_packed *pk, const float *Wp, const float *x, int64_t rowp, int64_t sH, int64_t sW,
                    const int32_t *off, int64_t OH, int64_t OW, float *C, const float *bias, const cc_post *post, int blk);
/* The channel-blocked layout (c16) that cc_session_keep gives the tensors
 * narrow products write and only nodes able to take it read (ResNet-50's
 * block outputs, op.h): a C x N plane as C / 16 blocks of N positions x 16 channels,
 * value (c, n) at (c / 16) 16 N + 16 n + c % 16.  A narrow tile's 16V
 * channels x 6-7 positions are then V x 6-7 whole vectors there, stored as
 * they lie rather than transposed into 16V rows (1024 x 256 x 196 with a
 * residual: 0.354 -> 0.295 ms, 2 threads).
 * cc_packed_c16_ok: whether the narrow plan pk of a K x N product can take
 * the CC_C16_* bits (op.h) c16: a blocked B (IN, K % 16 == 0), a blocked C
 * and residual (OUT, whole panels), or a row-major C with a blocked residual
 * (RES alone: the last block before a kept tensor; not in halves).
 * cc_packed_gemm_c16: C = post(W B + bias) with B blocked when boff is given
 * (boff[k] = (k / 16) 16 N + k % 16, K entries), else K x N row-major, and C
 * and the residual as c16 says.  Each value is the same sum as
 * cc_packed_gemm's: the same bits, moved. */
int cc_packed_c16_ok(const cc_packed *pk, int64_t K, int64_t N, int c16);
void cc_packed_gemm_c16(const cc_packed *pk, const float *Wp, const float *B, const int32_t *boff, int64_t N, float *C,
                        int c16, const float *bias, const cc_post *post);
/* C = max(col[j] - (W B)[i, j], 0): every contrast map of a pooled head at
 * once, ReLU(p'B - B[Q]) with p'B given per column (src/explain/cam.c). */
void cc_packed_gemm_contrast(const cc_packed *pk, const float *Wp, const float *B, int64_t ldb, int64_t N, float *C,
                             int64_t ldc, const float *col);
/* The same with p'B formed on the way, in the pass that lists each tile's
 * nonzero rows (the activation read once, by both threads, instead of once
 * more by one thread before): C = max(col[j] - (W diag(scale) B)[i, j], 0)
 * with col[j] = (float) sum_k (double)(d[k] u[k]) B[k, j], k ascending, in
 * double, and each term a product then a sum: the sums pull_back_map in cam.c
 * forms, bit for bit.  scale NULL: B as it is.  Narrow plans only; returns
 * 1 for a plan it does not take, -1 when out of memory, else 0. */
typedef struct cc_pullback {
    const float *scale, *d, *u;
} cc_pullback;
int cc_packed_gemm_pullback(const cc_packed *pk, const float *Wp, const float *B, int64_t ldb, int64_t N, float *C,
                            int64_t ldc, const cc_pullback *pb);

/* Direct 3x3 convolution, stride 1 or 2, one group, C <= 4 input channels
 * (conv_direct.c): cc_conv_direct_ok says whether this CPU / build / shape
 * can take it; the weights (M x C x 3 x 3) are packed once by
 * cc_conv_direct_weights into cc_conv_direct_floats floats; one image
 * C x H x W -> M x OH x OW = post(correlation + bias). */
int cc_conv_direct_ok(int64_t C, int64_t kH, int64_t kW, int64_t sH, int64_t sW, int64_t dH, int64_t dW);
size_t cc_conv_direct_floats(int64_t M, int64_t C);
void cc_conv_direct_weights(const float *W, int64_t M, int64_t C, float *dst);
void cc_conv_direct(const float *x, int64_t C, int64_t H, int64_t W, const float *wp, int64_t M, int64_t s, int64_t pT,
                    int64_t pL, const float *bias, const cc_post *post, float *y, int64_t OH, int64_t OW);

/* Winograd F(4x4, 3x3) for 3x3 / stride 1 / padding 1 / one group (conv_wino4.c):
 * U = the transformed weights, 36 x M x C floats, or with pk (planned for
 * M x C weights and cc_wino4_band_tiles wide products) each tap's M x C
 * block packed by cc_packed_weights, one after another; the forward of one
 * image (C x H x W -> M x H x W) plus bias and the fused activation post. */
void cc_wino4_weights(const float *g, int64_t M, int64_t C, float *U);
/* The weight transform both use: U[n i + j][m][c] = (G g G')[i][j], G n x 3 (n <= 6). */
void cc_wino_weights(const double *G, int n, const float *g, int64_t M, int64_t C, float *U);
int64_t cc_wino4_band_tiles(int64_t C, int64_t H, int64_t W);
int cc_wino4_forward(const float *U, const cc_packed *pk, int64_t M, int64_t C, int64_t H, int64_t W, const float *x,
                     const float *bias, float *y, const cc_post *post, cc_ctx *ctx);

/* Winograd F(2x2, 3x3), same conditions, for narrow planes (conv_wino2.c):
 * U = 16 blocks of M x C transformed weights (cc_wino2_weights), each packed
 * by cc_packed_weights as pk says (planned for M x C weights and
 * cc_wino2_tiles narrow products), one after another; the forward of one
 * image plus bias and the fused activation post. */
void cc_wino2_weights(const float *g, int64_t M, int64_t C, float *U);
int64_t cc_wino2_tiles(int64_t H, int64_t W);
int cc_wino2_forward(const float *U, const cc_packed *pk, int64_t M, int64_t C, int64_t H, int64_t W, const float *x,
                     const float *bias, float *y, const cc_post *post, cc_ctx *ctx);

/* 2-D max-pool, stride 2, 2x2 or 3x3 windows, values only (pool_max_direct.c):
 * cc_maxpool_s2_ok says whether this CPU / build / window can take it. */
int cc_maxpool_s2_ok(const cc_window *w);
/* Output rows [oh0, oh1) of one plane. */
void cc_maxpool_s2_plane(const cc_window *w, const float *x, float *y, int64_t oh0, int64_t oh1);
/* The same pooling of a channel-blocked input (op.h; N = 1, C % 16 == 0, a
 * window cc_maxpool_s2_ok takes) into a row-major output: rows [oh0, oh1) of
 * channel block b. */
void cc_maxpool_c16_rows(const cc_window *w, const float *x, int64_t b, float *y, int64_t oh0, int64_t oh1);

/* Depthwise straight from the plane (conv_dw_direct.c): one H x W plane x
 * to one OH x OW plane y = post(bias + correlation with the kH x kW kernel
 * w, stride s, dilation d, padding pT / pL).  cc_dw_direct_ok says whether
 * this CPU / build / shape can take it (stride 1 with OW == W, or 3x3 at
 * stride 2 without dilation). */
int cc_dw_direct_ok(int64_t kH, int64_t kW, int64_t s, int64_t d, int64_t OW, int64_t W);
void cc_dw_direct_plane(const float *x, int64_t H, int64_t W, const float *w, int64_t kH, int64_t kW, int64_t s,
                        int64_t d, int64_t pT, int64_t pL, float bias, const cc_post *post, float *y, int64_t OH,
                        int64_t OW);

#endif
