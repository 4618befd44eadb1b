/* Conv (ONNX opsets 1-18, 1-D and 2-D) with its vector-Jacobian product, the
 * sliding-window geometry shared with the pooling ops, and the family table.
 *
 * Forward paths, chosen once in prepare:
 *   - depthwise (one input channel per group, any channel multiplier, equal
 *     strides and dilations on both axes): direct kernels, one (image,
 *     channel) plane per task, over a copy of the padded plane split by
 *     stride phase, so every tap is one contiguous vectorised run; on an
 *     AVX-512 CPU at stride 1 with "same" width, or 3x3 at stride 2,
 *     straight from the unpadded plane with masked loads instead
 *     (conv_dw_direct.c);
 *   - 3x3, stride 1, padding 1, one group, >= 64 channels in and out, constant
 *     weights: Winograd F(4x4, 3x3) (conv_wino4.c); on a narrow plane (under
 *     784 outputs) with 30+ 2x2 tiles and packed kernels, F(2x2, 3x3)
 *     (conv_wino2.c), on smaller ones the per-tap path below;
 *   - 3x3 at stride 1 or 2 over at most 4 input channels (a first layer),
 *     one group, constant weights, on an AVX-512 CPU: a direct kernel
 *     (conv_direct.c);
 *   - 1x1, stride 1, no padding: the image is already the GEMM operand;
 *   - everything else: im2col, then one cblas_sgemm per group;
 *   - one group and constant weights, on a CPU with AVX-512: the 1x1 and
 *     im2col products use weights packed at load (conv_packed.c) instead;
 *     large im2col planes go in bands of output rows, each band's columns
 *     built and multiplied by one thread while they are in cache; a
 *     kernel larger than 1x1 at stride 2, or at stride 1 on a narrow plane,
 *     skips im2col and reads its (padded) input through per-tap offsets
 *     (cc_packed_conv, taps_plan).
 *   - a 1x1 kernel on one image whose input or output the session stores
 *     channel-blocked (cc_session_keep's plan, op.h): narrow packed tiles on
 *     that layout (cc_packed_gemm_c16), wide planes through a second, narrow
 *     packing of the weights; per-tap reads may store their output blocked.
 * The bias, a fused residual Add and a fused Relu / Clip (cc_ctx_post) are
 * applied as the output is written.
 * Several images (batch N > 1 forward, K*N seeds backward) with a small output
 * plane are packed side by side into one wider GEMM, so a late layer with a
 * 7x7 or 1x1 map and K = 1000 seeds is a few large GEMMs, not 1000 GEMVs.
 *
 * Backward (all accumulate, +=): input gradient as W^T dY then col2im
 * (depthwise: stride 1 is the forward kernel run on dY with the flipped
 * kernel, larger strides gather per column phase); weight gradient as
 * dY im2col(X)^T per seed (the K seeds of a one-image, one-group conv are a
 * single GEMM); bias gradient as plane sums. */
#include "conv_kernels.h"

#include <cblas.h>
#include <limits.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---- geometry shared with pool.c ------------------------------------------ */

int cc_window_init(const cc_node *n, const cc_tensor *x, const int64_t *kernel,
                   int ceil_ok, cc_window *w, cc_err *e)
{
    const char *op = n->op_type;
    if (x->ndim < 3 || x->ndim > 2 + CC_SP)
        return cc_errf(e, CC_E_UNSUPPORTED, "%s: input rank %d not supported (need N, C and 1 to 3 spatial axes)",
                       op, x->ndim);
    int nsp = x->ndim - 2;
    int64_t k[CC_SP], s[CC_SP], d[CC_SP], pads[2 * CC_SP];
    int cnt;
    cnt = cc_attr_ints(n, "kernel_shape", k, CC_SP);
    if (kernel) {
        for (int i = 0; i < nsp; i++)
            if (cnt > 0 && (cnt != nsp || k[i] != kernel[i]))
                return cc_errf(e, CC_E_SHAPE, "%s: kernel_shape attribute disagrees with the weight's shape", op);
        for (int i = 0; i < nsp; i++) k[i] = kernel[i];
    } else if (cnt != nsp) {
        return cc_errf(e, CC_E_PARSE, "%s: kernel_shape must list %d values, got %d", op, nsp, cnt);
    }
    cnt = cc_attr_ints(n, "strides", s, CC_SP);
    if (cnt == 0) for (int i = 0; i < nsp; i++) s[i] = 1;
    else if (cnt != nsp) return cc_errf(e, CC_E_PARSE, "%s: strides must list %d values", op, nsp);
    cnt = cc_attr_ints(n, "dilations", d, CC_SP);
    if (cnt == 0) for (int i = 0; i < nsp; i++) d[i] = 1;
    else if (cnt != nsp) return cc_errf(e, CC_E_PARSE, "%s: dilations must list %d values", op, nsp);
    cnt = cc_attr_ints(n, "pads", pads, 2 * CC_SP);
    if (cnt == 0) for (int i = 0; i < 2 * nsp; i++) pads[i] = 0;
    else if (cnt != 2 * nsp) return cc_errf(e, CC_E_PARSE, "%s: pads must list %d values", op, 2 * nsp);
    const char *ap = cc_attr_str(n, "auto_pad", "NOTSET");
    int same_upper = 0, same_lower = 0, valid = 0;
    if (strcmp(ap, "SAME_UPPER") == 0) same_upper = 1;
    else if (strcmp(ap, "SAME_LOWER") == 0) same_lower = 1;
    else if (strcmp(ap, "VALID") == 0) valid = 1;
    else if (strcmp(ap, "NOTSET") != 0 && ap[0] != '\0')
        return cc_errf(e, CC_E_UNSUPPORTED, "%s: unknown auto_pad '%s'", op, ap);
    int64_t ceil_mode = ceil_ok ? cc_attr_int(n, "ceil_mode", 0) : 0;

    w->nsp = nsp;
    for (int j = 0; j < CC_SP; j++) {
        w->in[j] = w->out[j] = w->k[j] = w->s[j] = w->d[j] = 1;
        w->pb[j] = w->pe[j] = 0;
    }
    for (int i = 0; i < nsp; i++) {
        int j = CC_SP - nsp + i;
        int64_t in = x->dims[2 + i];
        if (k[i] < 1 || s[i] < 1 || d[i] < 1 || pads[i] < 0 || pads[i + nsp] < 0)
            return cc_errf(e, CC_E_PARSE, "%s: kernel, strides and dilations must be >= 1 and pads >= 0", op);
        if (in < 1) return cc_errf(e, CC_E_SHAPE, "%s: empty spatial axis %d", op, i);
        if (k[i] > INT_MAX || s[i] > INT_MAX || d[i] > INT_MAX || pads[i] > INT_MAX || pads[i + nsp] > INT_MAX)
            return cc_errf(e, CC_E_LIMIT, "%s: window attribute too large", op);
        int64_t effk = (k[i] - 1) * d[i] + 1, pb = pads[i], pe = pads[i + nsp], out;
        if (same_upper || same_lower) {
            out = (in + s[i] - 1) / s[i];
            int64_t total = (out - 1) * s[i] + effk - in;
            if (total < 0) total = 0;
            pb = same_upper ? total / 2 : total - total / 2;
            pe = total - pb;
        } else {
            if (valid) pb = pe = 0;
            int64_t num = in + pb + pe - effk;
            if (num < 0)
                return cc_errf(e, CC_E_SHAPE, "%s: window %lld (dilated) larger than the padded input %lld on spatial axis %d",
                               op, (long long)effk, (long long)(in + pb + pe), i);
            out = ceil_mode ? (num + s[i] - 1) / s[i] + 1 : num / s[i] + 1;
            if (ceil_mode && (out - 1) * s[i] >= in + pb) out--;   /* last window starts in the end padding */
        }
        w->in[j] = in; w->out[j] = out; w->k[j] = k[i]; w->s[j] = s[i]; w->d[j] = d[i];
        w->pb[j] = pb; w->pe[j] = pe;
    }
    return CC_E_OK;
}

/* ---- Conv ------------------------------------------------------------------- */

enum { CONV_IM2COL = 0, CONV_1X1 = 1, CONV_DW = 2, CONV_WINO = 3 };

typedef struct conv_params {
    int64_t N, C, M, G, Cg, Mg;
    int64_t H, W, OH, OW, HW, OHW;
    int64_t kH, kW, sH, sW, dH, dW, pT, pL, kk;
    int kind;
    int has_bias;
    float *wino;              /* CONV_WINO: the transformed weights U, 36 x M x C (same allocation) */
    int wino_packed;          /* ... each tap's block packed as pk says (conv_packed.c) */
    int wino2;                /* ... F(2x2, 3x3) instead: 16 packed blocks (conv_wino2.c) */
    int dw_direct;            /* CONV_DW through cc_dw_direct_plane (cc_dw_direct_ok) */
    float *packed;            /* CONV_1X1 / CONV_IM2COL with packed weights (conv_packed.c), same allocation */
    cc_packed pk;
    float *direct;            /* CONV_IM2COL through cc_conv_direct (few input channels), its weights, same allocation */
    int32_t *taps;            /* CONV_IM2COL through cc_packed_conv (taps_plan): each k's offset in the
                                 (padded) input, same allocation; NULL: im2col */
    int64_t tH, tW;           /* ... the input it reads: H x W itself, or a zero-padded tH x tW copy */
    int tcopy;
    int32_t *boff;            /* CONV_1X1, one image, C % 16 == 0: each k's offset in a channel-blocked
                                 input (cc_packed_gemm_c16), same allocation; NULL: none */
    float *packed16;          /* a 1x1 kernel on one wide plane (pk.wide): the weights packed for narrow
                                 tiles as well (pk16), for a blocked input or output; same allocation */
    cc_packed pk16;
} conv_params;

/* The weight copies after the parameters are read with whole-vector loads: the
 * block moves to a 64-byte boundary (realloc gives 16), its pointers with it. */
static conv_params *aligned_params(conv_params *p, size_t size)
{
    void *a = NULL;
    if (size <= sizeof *p || posix_memalign(&a, 64, size)) return p;   /* no copies, or no memory: as it is */
    memcpy(a, p, size);
    conv_params *q = a;
    float **f[4] = { &q->wino, &q->packed, &q->direct, &q->packed16 };
    for (int i = 0; i < 4; i++)
        if (*f[i]) *f[i] = (float *)((char *)q + ((char *)*f[i] - (char *)p));
    if (q->taps) q->taps = (int32_t *)((char *)q + ((char *)q->taps - (char *)p));
    if (q->boff) q->boff = (int32_t *)((char *)q + ((char *)q->boff - (char *)p));
    free(p);
    return q;
}

/* Whether the product reads its input through per-tap offsets (cc_packed_conv)
 * instead of an im2col matrix, and its narrow plan (pk): kernels over 1x1 at
 * stride 2, or at stride 1 on a narrow plane, with a panel of weights that
 * stays in L2 (<= 1 MB); the input is zero-padded into a copy where the taps
 * reach past it.
 *   - Stride 2: ResNet-50's 7x7 first layer built a 7.4 MB column matrix and
 *     its stride-2 3x3 layers 1.8-3.6 MB ones, and ran 30-50% slower than
 *     ONNX Runtime's direct kernels.
 *   - Stride 1, narrow planes without F(2x2, 3x3) (7x7, fewer channels):
 *     here instead of F(4x4, 3x3), whose 36 transformed weight blocks (9.4 MB
 *     for 256 channels, 4x the kernel's) served 16 tiles each at 14x14 and
 *     came from memory at every layer.
 *   - Not 1x1 (the stride-2 shortcuts): each k would read another plane, and
 *     the subsampled copy im2col makes is small; 10-40% slower that way. */
static int taps_plan(const conv_params *p, int64_t M, cc_packed *pk)
{
    const int64_t CKK = p->C * p->kk;
    if (p->kk == 1 || p->G != 1 || !(p->sW == 2 || (p->sW == 1 && cc_packed_plan(M, CKK, p->OHW, pk) && !pk->wide)))
        return 0;
    /* N = 1 plans the narrow tiles cc_packed_conv runs */
    return cc_packed_plan(M, CKK, 1, pk) && pk->rows * CKK * (int64_t)sizeof(float) <= ((int64_t)1 << 20);
}

static int conv_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    if (n->n_in < 2 || n->in[0] < 0 || n->in[1] < 0 || !in[0] || !in[1])
        return cc_errf(e, CC_E_PARSE, "Conv: needs inputs X and W");
    const cc_tensor *x = in[0], *wt = in[1];
    const cc_tensor *b = n->n_in > 2 && n->in[2] >= 0 ? in[2] : NULL;
    if (x->dtype != CC_DT_FLOAT || wt->dtype != CC_DT_FLOAT || (b && b->dtype != CC_DT_FLOAT))
        return cc_errf(e, CC_E_UNSUPPORTED, "Conv: only float tensors are supported");
    if (x->ndim != 3 && x->ndim != 4)
        return cc_errf(e, CC_E_UNSUPPORTED, "Conv: only 1-D and 2-D convolution (input rank 3 or 4) is implemented, got rank %d",
                       x->ndim);
    if (wt->ndim != x->ndim)
        return cc_errf(e, CC_E_SHAPE, "Conv: weight rank %d does not match input rank %d", wt->ndim, x->ndim);
    int64_t G = cc_attr_int(n, "group", 1);
    int64_t C = x->dims[1], M = wt->dims[0], Cg = wt->dims[1];
    if (G < 1 || Cg < 1 || M < 1 || C != Cg * G || M % G != 0)
        return cc_errf(e, CC_E_SHAPE, "Conv: input channels %lld, weight [%lld, %lld, ...] and group %lld do not agree",
                       (long long)C, (long long)M, (long long)Cg, (long long)G);
    if (b && (b->ndim != 1 || b->dims[0] != M))
        return cc_errf(e, CC_E_SHAPE, "Conv: bias must have shape [%lld]", (long long)M);

    cc_window w;
    int rc = cc_window_init(n, x, wt->dims + 2, 0, &w, e);
    if (rc) return rc;

    conv_params *p = calloc(1, sizeof *p);
    size_t psize = sizeof *p;   /* with the weight copies appended below */
    if (!p) return cc_errf(e, CC_E_NOMEM, "Conv: out of memory");
    p->N = x->dims[0]; p->C = C; p->M = M; p->G = G; p->Cg = Cg; p->Mg = M / G;
    p->H = w.in[1]; p->W = w.in[2]; p->OH = w.out[1]; p->OW = w.out[2];
    p->HW = p->H * p->W; p->OHW = p->OH * p->OW;
    p->kH = w.k[1]; p->kW = w.k[2]; p->sH = w.s[1]; p->sW = w.s[2];
    p->dH = w.d[1]; p->dW = w.d[2]; p->pT = w.pb[1]; p->pL = w.pb[2];
    p->kk = p->kH * p->kW;
    if (w.nsp == 1) { p->sH = p->sW; p->dH = p->dW; }   /* one output row, one tap row: harmless, and 1-D depthwise qualifies */
    p->has_bias = b != NULL;
    if (Cg == 1 && p->sH == p->sW && p->dH == p->dW) p->kind = CONV_DW;   /* depthwise kernels take one stride / dilation */
    else if (p->kk == 1 && p->sH == 1 && p->sW == 1 && p->pT == 0 && p->pL == 0 && w.pe[1] == 0 && w.pe[2] == 0)
        p->kind = CONV_1X1;
    else p->kind = CONV_IM2COL;
    /* cblas takes int sizes; the largest operand is the column matrix. */
    if (C * p->kk > INT_MAX / (p->OHW > 0 ? p->OHW : 1) || M * p->OHW > INT_MAX || C * p->HW > INT_MAX || M * Cg * p->kk > INT_MAX) {
        free(p);
        return cc_errf(e, CC_E_LIMIT, "Conv: tensor too large");
    }
    const int wino_shape = p->kind == CONV_IM2COL && G == 1 && w.nsp == 2 && p->kH == 3 && p->kW == 3 && p->sH == 1 &&
                           p->sW == 1 && p->dH == 1 && p->dW == 1 && p->pT == 1 && p->pL == 1 && p->OH == p->H &&
                           p->OW == p->W && C >= 64 && M >= 64 && wt->is_const && wt->data && 36 * M * C <= INT_MAX;
    cc_packed w2pk;
    if (wino_shape && cc_wino2_tiles(p->H, p->W) >= 30 && cc_packed_plan(M, C, p->OHW, &w2pk) && !w2pk.wide &&
        cc_packed_plan(M, C, cc_wino2_tiles(p->H, p->W), &w2pk)) {
        /* F(2x2, 3x3) on a narrow plane with 30+ tiles (conv_wino2.c): its 16
         * products with packed weights.  ResNet-50's 14x14 layers: 0.82 ->
         * 0.63-0.65 ms each (per-tap reads before; ONNX Runtime 0.755); on 28x28
         * planes F(4x4) stays ahead (0.57 against 0.64), and at 7x7 (16 tiles)
         * the 16 blocks, 16.8 MB for 512 channels, come from memory. */
        const size_t head = (sizeof *p + 63) / 64 * 64, MC = (size_t)M * (size_t)C, per_tap = cc_packed_floats(&w2pk);
        conv_params *q = realloc(p, head + sizeof(float) * 16 * per_tap);
        if (q) p = q, psize = head + sizeof(float) * 16 * per_tap;
        float *U0 = q ? malloc(sizeof(float) * 16 * MC) : NULL;
        if (U0) {   /* out of memory: the other paths still work */
            float *U = (float *)((char *)p + head);
            cc_wino2_weights(wt->data, M, C, U0);
            for (int k = 0; k < 16; k++) cc_packed_weights(&w2pk, U0 + k * MC, U + k * per_tap);
            p->pk = w2pk;
            p->wino = U;
            p->wino_packed = 1;
            p->wino2 = 1;
            p->kind = CONV_WINO;
        }
        free(U0);
    }
    if (wino_shape && p->kind == CONV_IM2COL && p->OHW >= 64 && !taps_plan(p, M, &(cc_packed){ 0 })) {
        /* the 36 per-tap products with packed weights where the CPU has them */
        cc_packed wpk;
        const int wpacked = cc_packed_plan(M, C, cc_wino4_band_tiles(C, p->H, p->W), &wpk);
        const size_t head = (sizeof *p + 63) / 64 * 64, MC = (size_t)M * (size_t)C;
        const size_t per_tap = wpacked ? cc_packed_floats(&wpk) : MC;
        conv_params *q = realloc(p, head + sizeof(float) * 36 * per_tap);
        if (q) p = q, psize = head + sizeof(float) * 36 * per_tap;
        float *U0 = q && wpacked ? malloc(sizeof(float) * 36 * MC) : NULL;
        if (q && (!wpacked || U0)) {   /* out of memory: the im2col path still works */
            float *U = (float *)((char *)p + head);
            if (wpacked) {
                cc_wino4_weights(wt->data, M, C, U0);
                for (int k = 0; k < 36; k++) cc_packed_weights(&wpk, U0 + k * MC, U + k * per_tap);
                p->pk = wpk;
            } else {
                cc_wino4_weights(wt->data, M, C, U);
            }
            p->wino = U;
            p->wino_packed = wpacked;
            p->kind = CONV_WINO;
        }
        free(U0);
    }
    p->dw_direct = p->kind == CONV_DW && cc_dw_direct_ok(p->kH, p->kW, p->sH, p->dH, p->OW, p->W);
    if (p->kind == CONV_IM2COL && G == 1 && w.nsp == 2 && wt->is_const && wt->data &&
        cc_conv_direct_ok(C, p->kH, p->kW, p->sH, p->sW, p->dH, p->dW)) {
        size_t head = (sizeof *p + 63) / 64 * 64;
        conv_params *q = realloc(p, head + sizeof(float) * cc_conv_direct_floats(M, C));
        if (q) {   /* out of memory: the im2col paths still work */
            p = q;
            psize = head + sizeof(float) * cc_conv_direct_floats(M, C);
            p->direct = (float *)((char *)p + head);
            cc_conv_direct_weights(wt->data, M, C, p->direct);
        }
    }
    cc_packed pk;
    const int64_t CKK = C * p->kk, tH = (p->OH - 1) * p->sH + (p->kH - 1) * p->dH + 1,
                  tW = (p->OW - 1) * p->sW + (p->kW - 1) * p->dW + 1;
    const int tcopy = p->pT || p->pL || tH > p->H || tW > p->W;
    const int packable = (p->kind == CONV_1X1 || p->kind == CONV_IM2COL) && !p->direct && G == 1 && wt->is_const && wt->data;
    const int taps = packable && p->kind == CONV_IM2COL && w.nsp == 2 && C * (tcopy ? tH * tW : p->HW) <= INT32_MAX &&
                     taps_plan(p, M, &pk);
    if (taps || (packable && cc_packed_plan(M, CKK, p->OHW, &pk))) {
        const size_t head = (sizeof *p + 63) / 64 * 64, wbytes = sizeof(float) * cc_packed_floats(&pk);
        /* a 1x1 kernel on one wide plane with 16k channels in or out: narrow
         * tiles on blocked activations beat the wide ones on row-major planes
         * (ResNet-50's 256 x 64 x 3136 with a residual: 0.42 -> 0.36 ms, 2
         * threads), so its weights are packed both ways */
        cc_packed pk16 = { 0 };
        const int one = !taps && p->kk == 1 && p->N == 1 && p->OHW > 1 && C * p->HW <= INT32_MAX;
        const int dual = one && pk.wide && (C % 16 == 0 || M % 16 == 0) && cc_packed_plan(M, CKK, CC_PACKED_WIDE_N - 1, &pk16);
        const size_t wbytes16 = dual ? sizeof(float) * cc_packed_floats(&pk16) : 0;
        const int boff = one && p->kind == CONV_1X1 && C % 16 == 0 && (!pk.wide || dual);
        const size_t extra = sizeof(int32_t) * (size_t)(taps ? CKK : boff ? C : 0);
        conv_params *q = realloc(p, head + wbytes + wbytes16 + extra);
        if (q) {   /* out of memory: the OpenBLAS path still works */
            p = q;
            psize = head + wbytes + wbytes16 + extra;
            if (boff) {
                p->boff = (int32_t *)((char *)p + head + wbytes + wbytes16);
                for (int64_t k = 0; k < C; k++) p->boff[k] = (int32_t)(k / 16 * 16 * p->HW + k % 16);
            }
            if (dual) {
                p->pk16 = pk16;
                p->packed16 = (float *)((char *)p + head + wbytes);
                cc_packed_weights(&p->pk16, wt->data, p->packed16);
            }
            p->pk = pk;
            p->pk.halves = p->kind == CONV_1X1 && cc_packed_halves_ok(&pk, p->OHW);
            p->packed = (float *)((char *)p + head);
            cc_packed_weights(&p->pk, wt->data, p->packed);
            if (taps) {
                p->tH = tcopy ? tH : p->H, p->tW = tcopy ? tW : p->W, p->tcopy = tcopy;
                p->taps = (int32_t *)((char *)p + head + wbytes);
                for (int64_t r = 0; r < CKK; r++) {   /* k = (c, kh, kw), the im2col row order the weights keep */
                    const int64_t c = r / p->kk, kh = r % p->kk / p->kW, kw = r % p->kW;
                    p->taps[r] = (int32_t)(c * p->tH * p->tW + kh * p->dH * p->tW + kw * p->dW);
                }
            }
        }
    }
    p = aligned_params(p, psize);
    free(n->params);
    n->params = p;

    out[0]->dtype = CC_DT_FLOAT;
    out[0]->ndim = x->ndim;
    out[0]->dims[0] = p->N;
    out[0]->dims[1] = M;
    for (int i = 0; i < w.nsp; i++) out[0]->dims[2 + i] = w.out[CC_SP - w.nsp + i];
    return CC_E_OK;
}

/* Images packed side by side into one GEMM: 1 when the output plane is large
 * enough for a GEMM of its own, else as many as fit in a 16 MiB buffer. */
static int64_t conv_chunk(const conv_params *p, int64_t images)
{
    if (images <= 1 || p->OHW >= 1024) return 1;
    int64_t rows = p->C * p->kk > p->M ? p->C * p->kk : p->M;
    int64_t nb = ((int64_t)1 << 22) / (rows * p->OHW);
    if (nb < 1) nb = 1;
    if (nb > images) nb = images;
    return nb;
}

/* Row r = (c, kh, kw) of the column matrix for output rows [oh0, oh1): that
 * tap's input for each of those positions (zero outside the image). */
static inline void im2col_row(const conv_params *p, const float *x, int64_t r, float *dst, int64_t oh0, int64_t oh1)
{
    const int64_t OW = p->OW, c = r / p->kk, t = r % p->kk, kh = t / p->kW, kw = t % p->kW;
    int64_t off = kw * p->dW - p->pL, ow0, ow1;
    cc_window_range(off, p->sW, p->W, OW, &ow0, &ow1);
    const float *xc = x + c * p->HW;
    for (int64_t oh = oh0; oh < oh1; oh++, dst += OW) {
        int64_t ih = oh * p->sH - p->pT + kh * p->dH;
        if (ih < 0 || ih >= p->H) { memset(dst, 0, (size_t)OW * sizeof *dst); continue; }
        const float *xr = xc + ih * p->W + off;
        for (int64_t ow = 0; ow < ow0; ow++) dst[ow] = 0;
        if (p->sW == 1) {
            memcpy(dst + ow0, xr + ow0, (size_t)(ow1 - ow0) * sizeof *dst);
        } else {
            const int64_t sw = p->sW;
#pragma omp simd
            for (int64_t ow = ow0; ow < ow1; ow++) dst[ow] = xr[ow * sw];
        }
        for (int64_t ow = ow1; ow < OW; ow++) dst[ow] = 0;
    }
}

/* The column matrix of one image: row r = (c, kh, kw) starts at col + r*ld
 * and holds that tap's input for every output position.  ld > OHW packs
 * several images side by side. */
CC_HOT_CLONES
static void conv_im2col(const conv_params *p, const float *x, float *col, int64_t ld)
{
    const int64_t rows = p->C * p->kk;
#pragma omp parallel for schedule(static) if (rows * p->OHW >= CC_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) im2col_row(p, x, r, col + r * ld, 0, p->OH);
}

/* Output rows [oh0, oh1) of the column matrix, on the calling thread: row r
 * at col + r*ld holds that tap's input for those (oh1 - oh0) * OW positions. */
CC_HOT_CLONES
static void conv_im2col_band(const conv_params *p, const float *x, float *col, int64_t ld, int64_t oh0, int64_t oh1)
{
    for (int64_t r = 0; r < p->C * p->kk; r++) im2col_row(p, x, r, col + r * ld, oh0, oh1);
}

/* Output rows per band of the banded im2col product (0: one band): the band's
 * column matrix stays in cache (~256 KB), and the threads' shares of the bands
 * (schedule static) hold as nearly the same number of rows as can be, with
 * the fewest bands (each band streams all the weights).  ResNet-50's 56x56 ->
 * 28x28 shortcut: 7 bands of 4 rows, 16 rows against 12, became 4 bands of 7. */
static int64_t conv_band_rows(const conv_params *p)
{
    if (p->kind != CONV_IM2COL || !p->pk.wide) return 0;
    const int64_t per_row = p->C * p->kk * p->OW * (int64_t)sizeof(float), OH = p->OH;
    int64_t top = ((int64_t)256 << 10) / (per_row ? per_row : 1);
    if (top > OH - 1) top = OH - 1;
    const int64_t nthr = omp_get_max_threads();
    int64_t best = 0, cost = 0;
    for (int64_t R = top; R >= 1 && R * p->OW >= 64; R--) {
        const int64_t bands = (OH + R - 1) / R;
        int64_t worst = 0;   /* the most rows any thread's share holds */
        for (int64_t t = 0; t < nthr; t++) {
            const int64_t b0 = bands * t / nthr, b1 = bands * (t + 1) / nthr;
            const int64_t rows = (b1 * R < OH ? b1 * R : OH) - (b0 * R < OH ? b0 * R : OH);
            if (rows > worst) worst = rows;
        }
        if (!best || worst < cost) best = R, cost = worst;
    }
    return best;
}

/* gx += col2im(col): the adjoint of conv_im2col.  One channel per task, so
 * the scattered adds never race. */
static void conv_col2im_add(const conv_params *p, const float *col, int64_t ld, float *gx)
{
    const int64_t OH = p->OH, OW = p->OW;
#pragma omp parallel for schedule(static) if (p->C * p->kk * p->OHW >= CC_PAR_MIN)
    for (int64_t c = 0; c < p->C; c++) {
        float *gc = gx + c * p->HW;
        for (int64_t t = 0; t < p->kk; t++) {
            int64_t kh = t / p->kW, kw = t % p->kW;
            int64_t off = kw * p->dW - p->pL, ow0, ow1;
            cc_window_range(off, p->sW, p->W, OW, &ow0, &ow1);
            const float *src = col + (c * p->kk + t) * ld;
            for (int64_t oh = 0; oh < OH; oh++, src += OW) {
                int64_t ih = oh * p->sH - p->pT + kh * p->dH;
                if (ih < 0 || ih >= p->H) continue;
                float *gr = gc + ih * p->W + off;
                if (p->sW == 1) {
#pragma omp simd
                    for (int64_t ow = ow0; ow < ow1; ow++) gr[ow] += src[ow];
                } else {
                    for (int64_t ow = ow0; ow < ow1; ow++) gr[ow * p->sW] += src[ow];
                }
            }
        }
    }
}

/* ---- depthwise direct kernels ------------------------------------------------ */

/* The depthwise kernels read a zero-padded copy of each plane (one per
 * thread, from scratch slot 2), so their inner loops carry no bounds tests;
 * a plane that needs no padding is read in place. */

/* dst (Hp x Wp, row stride Wp) = src (h x w) moved down by top and right by
 * left (negative: cropped), zeros elsewhere. */
static void dw_pad_plane(const float *src, int64_t h, int64_t w, int64_t top, int64_t left, float *dst,
                         int64_t Hp, int64_t Wp)
{
    int64_t c0 = left > 0 ? left : 0, c1 = left + w < Wp ? left + w : Wp;
    if (c0 > Wp) c0 = Wp;
    if (c1 < c0) c1 = c0;
    for (int64_t r = 0; r < Hp; r++) {
        float *d = dst + r * Wp;
        int64_t sr = r - top;
        if (sr < 0 || sr >= h) { memset(d, 0, (size_t)Wp * sizeof *d); continue; }
        memset(d, 0, (size_t)c0 * sizeof *d);
        memcpy(d + c0, src + sr * w + (c0 - left), (size_t)(c1 - c0) * sizeof *d);
        memset(d + c1, 0, (size_t)(Wp - c1) * sizeof *d);
    }
}

/* y (OH x OW) += sum over taps of w[kh][kw] * xp[(oh*s + kh*d) * ld + ow*s + kw*d]:
 * a correlation over an already padded plane, no bounds tests.  3x3 with
 * dilation 1 and stride 1 or 2 read all nine taps in one pass. */
CC_HOT_CLONES
static void dw_plane(const float *restrict xp, int64_t ld, const float *restrict w, int64_t kH, int64_t kW,
                     int64_t s, int64_t d, float *restrict y, int64_t OH, int64_t OW)
{
    if (kH == 3 && kW == 3 && d == 1 && (s == 1 || s == 2)) {
        const float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7], w8 = w[8];
        for (int64_t oh = 0; oh < OH; oh++) {
            const float *r0 = xp + oh * s * ld, *r1 = r0 + ld, *r2 = r1 + ld;
            float *restrict yr = y + oh * OW;
            if (s == 1) {
#pragma omp simd
                for (int64_t ow = 0; ow < OW; ow++)
                    yr[ow] += w0 * r0[ow] + w1 * r0[ow + 1] + w2 * r0[ow + 2] + w3 * r1[ow] + w4 * r1[ow + 1] +
                              w5 * r1[ow + 2] + w6 * r2[ow] + w7 * r2[ow + 1] + w8 * r2[ow + 2];
            } else {
#pragma omp simd
                for (int64_t ow = 0; ow < OW; ow++)
                    yr[ow] += w0 * r0[2 * ow] + w1 * r0[2 * ow + 1] + w2 * r0[2 * ow + 2] + w3 * r1[2 * ow] +
                              w4 * r1[2 * ow + 1] + w5 * r1[2 * ow + 2] + w6 * r2[2 * ow] + w7 * r2[2 * ow + 1] +
                              w8 * r2[2 * ow + 2];
            }
        }
        return;
    }
    for (int64_t oh = 0; oh < OH; oh++) {
        float *restrict yr = y + oh * OW;
        for (int64_t kh = 0; kh < kH; kh++) {
            const float *xr = xp + (oh * s + kh * d) * ld;
            for (int64_t kw = 0; kw < kW; kw++) {
                const float wv = w[kh * kW + kw], *xs = xr + kw * d;
                if (s == 1) {
#pragma omp simd
                    for (int64_t ow = 0; ow < OW; ow++) yr[ow] += wv * xs[ow];
                } else {
                    for (int64_t ow = 0; ow < OW; ow++) yr[ow] += wv * xs[ow * s];
                }
            }
        }
    }
}

/* Extent of the padded input plane the output reads (stride s, dilation d). */
static void dw_padded_dims(const conv_params *p, int64_t *Hp, int64_t *Wp)
{
    *Hp = (p->OH - 1) * p->sH + (p->kH - 1) * p->dH + 1;
    *Wp = (p->OW - 1) * p->sW + (p->kW - 1) * p->dW + 1;
}

/* One float buffer of `each` floats per OpenMP thread (scratch slot 2). */
static float *dw_thread_buffers(cc_ctx *ctx, int64_t each)
{
    return cc_scratch(ctx, 2, (size_t)(each * omp_get_max_threads()));
}

/* Forward, one plane at a time, vectorised even for 7x7 planes.  The padded
 * input is split by row and column phase modulo the stride s into s*s planes
 * P[a][b][r][j] = padded(s*r + a, s*j + b), each R x J with R = OH + (kH-1)d/s
 * and J = OW + (kW-1)d/s.  Tap (kh, kw) of output (oh, ow) then reads plane
 * ((kh*d) mod s, (kw*d) mod s) at flat index i + ((kh*d)/s)*J + (kw*d)/s with
 * i = oh*J + ow, so every tap is one contiguous run over i in [0, OH*J): one
 * long loop per plane instead of OH loops of OW (a 960-channel 7x7 layer went
 * from 5 to well over 10 GFLOP/s).  The J - OW columns past each row are
 * computed and dropped when the plane is copied out. */
static void dw_phase_dims(const conv_params *p, int64_t *R, int64_t *J, int64_t *ld)
{
    const int64_t s = p->sH, d = p->dH;
    *R = p->OH + (p->kH - 1) * d / s;
    *J = p->OW + (p->kW - 1) * d / s;
    *ld = (*R + 1) * *J;            /* the last row's taps read up to (kW-1)d/s < J past R*J */
}

CC_HOT_CLONES
static void dw_phase_planes(const conv_params *p, const float *x, float *P)
{
    const int64_t s = p->sH;
    int64_t R, J, ld;
    dw_phase_dims(p, &R, &J, &ld);
    for (int64_t a = 0; a < s; a++)
        for (int64_t b = 0; b < s; b++) {
            float *dst = P + (a * s + b) * ld;
            int64_t j0, j1;
            cc_window_range(b - p->pL, s, p->W, J, &j0, &j1);
            for (int64_t r = 0; r < R; r++) {
                float *dr = dst + r * J;
                int64_t ih = s * r + a - p->pT;
                if (ih < 0 || ih >= p->H) {
                    for (int64_t j = 0; j < J; j++) dr[j] = 0;
                    continue;
                }
                const float *restrict xr = x + ih * p->W + b - p->pL;
                for (int64_t j = 0; j < j0; j++) dr[j] = 0;
                if (s == 1) {
#pragma omp simd
                    for (int64_t j = j0; j < j1; j++) dr[j] = xr[j];
                } else if (s == 2) {
#pragma omp simd
                    for (int64_t j = j0; j < j1; j++) dr[j] = xr[2 * j];
                } else {
                    for (int64_t j = j0; j < j1; j++) dr[j] = xr[s * j];
                }
                for (int64_t j = j1; j < J; j++) dr[j] = 0;
            }
            memset(dst + R * J, 0, (size_t)J * sizeof *dst);
        }
}

/* flat[i] = bias + sum over taps (kh, kw) of w[kh][kw] * (tap's phase plane)[i + its offset], i < OH*J. */
CC_HOT_CLONES
static void dw_flat_taps(const conv_params *p, const float *P, const float *w, float bias, float *restrict flat)
{
    const int64_t s = p->sH, d = p->dH;
    int64_t R, J, ld;
    dw_phase_dims(p, &R, &J, &ld);
    const int64_t n = p->OH * J;
#define TAP(kh, kw) (P + ((kh) * d % s * s + (kw) * d % s) * ld + (kh) * d / s * J + (kw) * d / s)
    if (p->kH == 3 && p->kW == 3) {
        const float *restrict p0 = TAP(0, 0), *restrict p1 = TAP(0, 1), *restrict p2 = TAP(0, 2);
        const float *restrict p3 = TAP(1, 0), *restrict p4 = TAP(1, 1), *restrict p5 = TAP(1, 2);
        const float *restrict p6 = TAP(2, 0), *restrict p7 = TAP(2, 1), *restrict p8 = TAP(2, 2);
        const float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7], w8 = w[8];
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            flat[i] = bias + (w0 * p0[i] + w1 * p1[i] + w2 * p2[i] + w3 * p3[i] + w4 * p4[i] + w5 * p5[i] +
                              w6 * p6[i] + w7 * p7[i] + w8 * p8[i]);
        return;
    }
    for (int64_t i = 0; i < n; i++) flat[i] = bias;
    for (int64_t kh = 0; kh < p->kH; kh++)
        for (int64_t kw = 0; kw < p->kW; kw++) {
            const float wv = w[kh * p->kW + kw], *restrict q = TAP(kh, kw);
#pragma omp simd
            for (int64_t i = 0; i < n; i++) flat[i] += wv * q[i];
        }
#undef TAP
}

static int dw_forward(const conv_params *p, const float *x, const float *w, const float *bias, float *y, cc_ctx *ctx)
{
    const int64_t inplanes = p->N * p->C, mult = p->Mg, OH = p->OH, OW = p->OW, s = p->sH;
    const cc_post *post = cc_ctx_post(ctx);
    if (p->dw_direct) {
        const int64_t planes = inplanes * mult;
#pragma omp parallel for schedule(static) if (planes * p->OHW * p->kk >= CC_PAR_MIN)
        for (int64_t q = 0; q < planes; q++) {
            const int64_t img = q / p->M, m = q % p->M, c = m / mult;
            cc_dw_direct_plane(x + (img * p->C + c) * p->HW, p->H, p->W, w + m * p->kk, p->kH, p->kW, p->sH, p->dH,
                               p->pT, p->pL, bias ? bias[m] : 0.0f, post, y + q * p->OHW, OH, OW);
        }
        return CC_E_OK;
    }
    int64_t R, J, ld;
    dw_phase_dims(p, &R, &J, &ld);
    const int64_t each = s * s * ld + OH * J;   /* per thread: the phase planes and the flat output */
    float *buf = dw_thread_buffers(ctx, each);
    if (!buf) return CC_E_NOMEM;
#pragma omp parallel for schedule(static) if (inplanes * mult * p->OHW * p->kk >= CC_PAR_MIN)
    for (int64_t ip = 0; ip < inplanes; ip++) {
        int64_t img = ip / p->C, c = ip % p->C;
        float *P = buf + omp_get_thread_num() * each, *flat = P + s * s * ld;
        dw_phase_planes(p, x + ip * p->HW, P);
        for (int64_t j = 0; j < mult; j++) {   /* a channel multiplier > 1 reuses the split input */
            int64_t m = c * mult + j;
            dw_flat_taps(p, P, w + m * p->kk, bias ? bias[m] : 0.0f, flat);
            float *yp = y + (img * p->M + m) * p->OHW;
            for (int64_t oh = 0; oh < OH; oh++) memcpy(yp + oh * OW, flat + oh * J, (size_t)OW * sizeof *yp);
            cc_post_apply(yp, p->OHW, 0.0f, post);
        }
    }
    return CC_E_OK;
}

/* Stride s >= 2: gx (one plane, H x W) += the transposed taps of one gy
 * plane.  The padded input columns q = s*j + phi are split by phase phi
 * into s planes G_phi[r][j]; tap (kh, kw) of output (oh, ow) lands on
 * G_{kw*d mod s}[oh*s + kh*d][ow + kw*d div s], so each tap is one
 * contiguous axpy of a gy row, and one interleaving pass adds the phases
 * back into gx.  tb: s * Hp * Jp floats (dw_strided_dims). */
static void dw_strided_dims(const conv_params *p, int64_t *Hp, int64_t *Jp)
{
    *Hp = (p->OH - 1) * p->sH + (p->kH - 1) * p->dH + 1;
    *Jp = p->OW + (p->kW - 1) * p->dW / p->sW;
}

CC_HOT_CLONES
static void dw_plane_backward_strided(const conv_params *p, const float *restrict gyp, const float *restrict wm,
                                      float *restrict gxp, float *restrict tb)
{
    const int64_t s = p->sH, d = p->dH, OH = p->OH, OW = p->OW, H = p->H, W = p->W;
    int64_t Hp, Jp;
    dw_strided_dims(p, &Hp, &Jp);
    memset(tb, 0, (size_t)(s * Hp * Jp) * sizeof *tb);
    for (int64_t kw = 0; kw < p->kW; kw++) {
        const int64_t phi = kw * d % s, e = kw * d / s;
        for (int64_t kh = 0; kh < p->kH; kh++) {
            const float wv = wm[kh * p->kW + kw];
            float *g = tb + (phi * Hp + kh * d) * Jp + e;
            for (int64_t oh = 0; oh < OH; oh++) {
                float *restrict dst = g + oh * s * Jp;
                const float *restrict src = gyp + oh * OW;
#pragma omp simd
                for (int64_t ow = 0; ow < OW; ow++) dst[ow] += wv * src[ow];
            }
        }
    }
    /* gx[ih][iw] += G_phi[ih + pT][j] where iw + pL = s*j + phi */
    const int64_t h1 = Hp - p->pT < H ? Hp - p->pT : H;
    for (int64_t ih = 0; ih < h1; ih++) {
        for (int64_t phi = 0; phi < s; phi++) {
            int64_t j0 = p->pL > phi ? (p->pL - phi + s - 1) / s : 0;  /* first j with iw >= 0 */
            int64_t j1 = (W - 1 + p->pL - phi) / s + 1;                  /* past the last with iw < W */
            if (j1 > Jp) j1 = Jp;
            const float *g = tb + (phi * Hp + ih + p->pT) * Jp;
            float *gxr = gxp + ih * W;
            for (int64_t j = j0; j < j1; j++) gxr[s * j + phi - p->pL] += g[j];
        }
    }
}

/* gx (one input plane) += the transposed taps of its mult output planes.
 * Stride 1: a correlation, with the flipped kernel, of gy padded so that it
 * lines up (the forward kernel serves).  Larger strides: by column phase, above. */
static int dw_backward_data(const conv_params *p, const float *gy, const float *w, float *gx, int64_t images,
                            cc_ctx *ctx)
{
    const int64_t planes = images * p->C, mult = p->Mg, kk = p->kk, s = p->sH, d = p->dH;
    const int64_t H = p->H, W = p->W;
    const int64_t Hq = H + (p->kH - 1) * d, Wq = W + (p->kW - 1) * d;
    int64_t Hp, Jp;
    dw_strided_dims(p, &Hp, &Jp);
    const int64_t each = s == 1 ? Hq * Wq + kk : s * Hp * Jp;
    float *buf = dw_thread_buffers(ctx, each);
    if (!buf) return CC_E_NOMEM;
#pragma omp parallel for schedule(static) if (planes * mult * p->OHW * kk >= CC_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        int64_t img = pl / p->C, c = pl % p->C;
        float *tb = buf + omp_get_thread_num() * each, *wf = tb + Hq * Wq;
        for (int64_t j = 0; j < mult; j++) {
            int64_t m = c * mult + j;
            const float *wm = w + m * kk, *gyp = gy + (img * p->M + m) * p->OHW;
            if (s != 1) {
                dw_plane_backward_strided(p, gyp, wm, gx + pl * p->HW, tb);
                continue;
            }
            for (int64_t t = 0; t < kk; t++) wf[t] = wm[kk - 1 - t];
            dw_pad_plane(gyp, p->OH, p->OW, (p->kH - 1) * d - p->pT, (p->kW - 1) * d - p->pL, tb, Hq, Wq);
            dw_plane(tb, Wq, wf, p->kH, p->kW, 1, d, gx + pl * p->HW, H, W);
        }
    }
    return CC_E_OK;
}

/* acc[tap] += sum over the plane of gy * (the input the tap reads) */
CC_HOT_CLONES
static void dw_weight_taps(const float *restrict gy, int64_t OH, int64_t OW, const float *restrict xp, int64_t ld,
                           int64_t kH, int64_t kW, int64_t s, int64_t d, double *restrict acc)
{
    if (kH == 3 && kW == 3 && d == 1 && (s == 1 || s == 2)) {
        for (int64_t oh = 0; oh < OH; oh++) {
            const float *g = gy + oh * OW, *r0 = xp + oh * s * ld, *r1 = r0 + ld, *r2 = r1 + ld;
            float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0;
            if (s == 1) {
#pragma omp simd reduction(+:a0,a1,a2,a3,a4,a5,a6,a7,a8)
                for (int64_t ow = 0; ow < OW; ow++) {
                    const float v = g[ow];
                    a0 += v * r0[ow]; a1 += v * r0[ow + 1]; a2 += v * r0[ow + 2];
                    a3 += v * r1[ow]; a4 += v * r1[ow + 1]; a5 += v * r1[ow + 2];
                    a6 += v * r2[ow]; a7 += v * r2[ow + 1]; a8 += v * r2[ow + 2];
                }
            } else {
#pragma omp simd reduction(+:a0,a1,a2,a3,a4,a5,a6,a7,a8)
                for (int64_t ow = 0; ow < OW; ow++) {
                    const float v = g[ow];
                    a0 += v * r0[2 * ow]; a1 += v * r0[2 * ow + 1]; a2 += v * r0[2 * ow + 2];
                    a3 += v * r1[2 * ow]; a4 += v * r1[2 * ow + 1]; a5 += v * r1[2 * ow + 2];
                    a6 += v * r2[2 * ow]; a7 += v * r2[2 * ow + 1]; a8 += v * r2[2 * ow + 2];
                }
            }
            acc[0] += a0; acc[1] += a1; acc[2] += a2; acc[3] += a3; acc[4] += a4;
            acc[5] += a5; acc[6] += a6; acc[7] += a7; acc[8] += a8;
        }
        return;
    }
    for (int64_t t = 0; t < kH * kW; t++) {
        const int64_t kh = t / kW, kw = t % kW;
        for (int64_t oh = 0; oh < OH; oh++) {
            const float *g = gy + oh * OW, *xs = xp + (oh * s + kh * d) * ld + kw * d;
            float sum = 0;
            if (s == 1) {
#pragma omp simd reduction(+:sum)
                for (int64_t ow = 0; ow < OW; ow++) sum += g[ow] * xs[ow];
            } else {
#pragma omp simd reduction(+:sum)
                for (int64_t ow = 0; ow < OW; ow++) sum += g[ow] * xs[ow * s];
            }
            acc[t] += sum;
        }
    }
}

/* gW[k][m][tap] += sum over the N images of seed k of gy . shifted padded x.
 * One output channel per task; its input plane is padded once per image. */
static int dw_backward_weight(const conv_params *p, const float *x, const float *gy, float *gw, int K, cc_ctx *ctx)
{
    const int64_t mult = p->Mg, kk = p->kk;
    int64_t Hp, Wp;
    dw_padded_dims(p, &Hp, &Wp);
    const int unpadded = p->pT == 0 && p->pL == 0 && Hp <= p->H && Wp <= p->W;
    /* per thread: a padded plane, then K * kk double accumulators */
    const int64_t plane = (Hp * Wp + 1) & ~(int64_t)1, each = plane + 2 * (int64_t)K * kk;   /* even: doubles stay aligned */
    float *buf = dw_thread_buffers(ctx, each);
    if (!buf) return CC_E_NOMEM;
#pragma omp parallel for schedule(static) if ((int64_t)K * p->N * p->M * p->OHW * kk >= CC_PAR_MIN)
    for (int64_t m = 0; m < p->M; m++) {
        float *tb = buf + omp_get_thread_num() * each;
        double *acc = (double *)(void *)(tb + plane);
        const int64_t c = m / mult;
        memset(acc, 0, sizeof(double) * (size_t)(K * kk));
        for (int64_t img = 0; img < p->N; img++) {
            const float *xp = x + (img * p->C + c) * p->HW;
            int64_t ld = p->W;
            if (!unpadded) {
                dw_pad_plane(xp, p->H, p->W, p->pT, p->pL, tb, Hp, Wp);
                xp = tb;
                ld = Wp;
            }
            for (int64_t k = 0; k < K; k++)
                dw_weight_taps(gy + ((k * p->N + img) * p->M + m) * p->OHW, p->OH, p->OW, xp, ld, p->kH, p->kW,
                               p->sH, p->dH, acc + k * kk);
        }
        for (int64_t k = 0; k < K; k++)
            for (int64_t t = 0; t < kk; t++) gw[(k * p->M + m) * kk + t] += (float)acc[k * kk + t];
    }
    return CC_E_OK;
}

/* ---- GEMM paths ------------------------------------------------------------- */

/* y[r][i] = bias[r] */
static void conv_fill_rows(float *y, int64_t rows, int64_t len, const float *bias)
{
#pragma omp parallel for schedule(static) if (rows * len >= CC_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        float *restrict yr = y + r * len;
        const float b = bias[r];
#pragma omp simd
        for (int64_t i = 0; i < len; i++) yr[i] = b;
    }
}

/* dst (C x tH x tW) = the image x moved down by pT and right by pL, zero
 * around it (and cut where it reaches past tH / tW): cc_packed_conv's input. */
static void conv_pad_copy(const conv_params *p, const float *x, float *dst)
{
    const int64_t tH = p->tH, tW = p->tW;
    const int64_t c0 = p->pL < tW ? p->pL : tW, c1 = p->pL + p->W < tW ? p->pL + p->W : tW;
    /* row by row of every channel: three channels (a first layer) split evenly, and
     * each thread copies the rows the convolution's rows of its share read */
#pragma omp parallel for schedule(static) if (p->C * tH * tW >= CC_PAR_MIN)
    for (int64_t t = 0; t < tH * p->C; t++) {
        const int64_t i = t / p->C, c = t % p->C;
        float *d = dst + (c * tH + i) * tW;
        const int64_t ih = i - p->pT;
        if (ih < 0 || ih >= p->H) { memset(d, 0, sizeof(float) * (size_t)tW); continue; }
        memset(d, 0, sizeof(float) * (size_t)c0);
        if (c1 > c0) memcpy(d + c0, x + (c * p->H + ih) * p->W + (c0 - p->pL), sizeof(float) * (size_t)(c1 - c0));
        memset(d + c1, 0, sizeof(float) * (size_t)(tW - c1));
    }
}

static int conv_gemm_forward(const conv_params *p, const float *x, const float *w, const float *bias,
                             float *y, cc_ctx *ctx)
{
    const cc_post *post = cc_ctx_post(ctx);
    const int64_t C = p->C, M = p->M, Mg = p->Mg, CKK = C * p->kk, CgKK = p->Cg * p->kk, OHW = p->OHW;
    if (p->packed && p->taps) {
        float *xp = p->tcopy ? cc_scratch(ctx, 0, (size_t)(C * p->tH * p->tW)) : NULL;
        if (p->tcopy && !xp) return CC_E_NOMEM;
        for (int64_t i = 0; i < p->N; i++) {
            const float *xi = x + i * C * p->HW;
            if (xp) {
                conv_pad_copy(p, xi, xp);
                xi = xp;
            }
            cc_packed_conv(&p->pk, p->packed, xi, p->tW, p->sH, p->sW, p->taps, p->OH, p->OW, y + i * M * OHW, bias, post, 0);
        }
        return CC_E_OK;
    }
    if (p->packed) {
        const int64_t R = conv_band_rows(p);
        if (R) {
            /* im2col and product band by band, each band's column matrix built and
             * consumed in cache by one thread (ResNet-50's first layer: 7.4 MB of
             * columns otherwise written out and read back).  Every output is still
             * one tile's sum over k in the same order: the same values. */
            const int64_t nthr = omp_get_max_threads(), bands = (p->OH + R - 1) / R, each = CKK * R * p->OW;
            float *cols = cc_scratch(ctx, 0, (size_t)(each * nthr));
            if (!cols) return CC_E_NOMEM;
            for (int64_t i = 0; i < p->N; i++) {
                const float *xi = x + i * C * p->HW;
                float *yi = y + i * M * OHW;
#pragma omp parallel for schedule(static)
                for (int64_t b = 0; b < bands; b++) {
                    const int64_t oh0 = b * R, oh1 = oh0 + R < p->OH ? oh0 + R : p->OH, n = (oh1 - oh0) * p->OW;
                    float *col = cols + omp_get_thread_num() * each;
                    conv_im2col_band(p, xi, col, n, oh0, oh1);
                    cc_packed_gemm(&p->pk, p->packed, col, n, n, yi + oh0 * p->OW, OHW, bias, post);
                }
            }
            return CC_E_OK;
        }
        if (p->kind == CONV_1X1 && OHW == 1 && p->G == 1) {
            /* one value per channel in, one per channel out: a classifier written as
             * a 1x1 convolution after global pooling (Keras exports).  Always the
             * classifier's row product (gemv.c), whose dot order does not depend on
             * whether an explanation asked it for the softmax pull-back as well */
            for (int64_t i = 0; i < p->N; i++) {
                float *yi = y + i * M;
                for (int64_t m = 0; m < M; m++) yi[m] = bias ? bias[m] : 0.0f;
                int rc = cc_gemv_packed(&p->pk, p->packed, w, x + i * C, 1.0f, yi, p->N == 1 ? cc_ctx_tap(ctx) : NULL, ctx);
                if (rc) return rc;
                if (cc_post_any(post)) cc_post_rows(yi, M, 1, NULL, post);
            }
            return CC_E_OK;
        }
        float *col = NULL;
        if (p->kind != CONV_1X1 && !(col = cc_scratch(ctx, 0, (size_t)(CKK * OHW)))) return CC_E_NOMEM;
        for (int64_t i = 0; i < p->N; i++) {
            const float *src = x + i * C * p->HW;
            if (col) { conv_im2col(p, src, col, OHW); src = col; }
            cc_packed_gemm(&p->pk, p->packed, src, OHW, OHW, y + i * M * OHW, OHW, bias, post);
        }
        return CC_E_OK;
    }
    const int64_t nb = conv_chunk(p, p->N);
    if (nb == 1) {
        float *col = NULL;
        if (p->kind != CONV_1X1 && !(col = cc_scratch(ctx, 0, (size_t)(CKK * OHW)))) return CC_E_NOMEM;
        for (int64_t i = 0; i < p->N; i++) {
            const float *src = x + i * C * p->HW;
            float *yi = y + i * M * OHW;
            if (col) { conv_im2col(p, src, col, OHW); src = col; }
            /* OpenBLAS clears C when beta = 0: starting from the bias costs the same pass */
            if (bias) conv_fill_rows(yi, M, OHW, bias);
            for (int64_t g = 0; g < p->G; g++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Mg, (int)OHW, (int)CgKK, 1.0f,
                            w + g * Mg * CgKK, (int)CgKK, src + g * CgKK * OHW, (int)OHW, bias ? 1.0f : 0.0f,
                            yi + g * Mg * OHW, (int)OHW);
            cc_post_rows(yi, M, OHW, NULL, post);
        }
        return CC_E_OK;
    }
    float *col = cc_scratch(ctx, 0, (size_t)(CKK * nb * OHW));
    float *ybuf = cc_scratch(ctx, 1, (size_t)(M * nb * OHW));
    if (!col || !ybuf) return CC_E_NOMEM;
    for (int64_t i0 = 0; i0 < p->N; i0 += nb) {
        const int64_t cnt = p->N - i0 < nb ? p->N - i0 : nb, ld = cnt * OHW;
        for (int64_t j = 0; j < cnt; j++) conv_im2col(p, x + (i0 + j) * C * p->HW, col + j * OHW, ld);
        for (int64_t g = 0; g < p->G; g++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Mg, (int)ld, (int)CgKK, 1.0f,
                        w + g * Mg * CgKK, (int)CgKK, col + g * CgKK * ld, (int)ld, 0.0f, ybuf + g * Mg * ld, (int)ld);
#pragma omp parallel for schedule(static) if (cnt * M * OHW >= CC_PAR_MIN)
        for (int64_t r = 0; r < cnt * M; r++) {
            int64_t j = r / M, m = r % M;
            const float *src = ybuf + m * ld + j * OHW;
            float *dst = y + ((i0 + j) * M + m) * OHW, bv = bias ? bias[m] : 0.0f;
            for (int64_t q = 0; q < OHW; q++) dst[q] = src[q];
            cc_post_apply(dst, OHW, bv, post);
        }
    }
    return CC_E_OK;
}

static int conv_gemm_backward_data(const conv_params *p, const float *gy, const float *w, float *gx,
                                   int64_t images, cc_ctx *ctx)
{
    const int64_t C = p->C, M = p->M, Mg = p->Mg, Cg = p->Cg, CKK = C * p->kk, CgKK = Cg * p->kk;
    const int64_t OHW = p->OHW, HW = p->HW;
    const int64_t nb = conv_chunk(p, images);
    if (nb == 1) {
        float *col = NULL;
        if (p->kind != CONV_1X1 && !(col = cc_scratch(ctx, 0, (size_t)(CKK * OHW)))) return CC_E_NOMEM;
        for (int64_t b = 0; b < images; b++) {
            const float *gyb = gy + b * M * OHW;
            float *gxb = gx + b * C * HW;
            for (int64_t g = 0; g < p->G; g++) {
                if (col)
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)CgKK, (int)OHW, (int)Mg, 1.0f,
                                w + g * Mg * CgKK, (int)CgKK, gyb + g * Mg * OHW, (int)OHW, 0.0f,
                                col + g * CgKK * OHW, (int)OHW);
                else
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Cg, (int)OHW, (int)Mg, 1.0f,
                                w + g * Mg * Cg, (int)Cg, gyb + g * Mg * OHW, (int)OHW, 1.0f,
                                gxb + g * Cg * HW, (int)HW);
            }
            if (col) conv_col2im_add(p, col, OHW, gxb);
        }
        return CC_E_OK;
    }
    float *col = cc_scratch(ctx, 0, (size_t)(CKK * nb * OHW));
    float *gbuf = cc_scratch(ctx, 1, (size_t)(M * nb * OHW));
    if (!col || !gbuf) return CC_E_NOMEM;
    for (int64_t b0 = 0; b0 < images; b0 += nb) {
        const int64_t cnt = images - b0 < nb ? images - b0 : nb, ld = cnt * OHW;
#pragma omp parallel for schedule(static) if (cnt * M * OHW >= CC_PAR_MIN)
        for (int64_t r = 0; r < cnt * M; r++) {
            int64_t j = r / M, m = r % M;
            memcpy(gbuf + m * ld + j * OHW, gy + ((b0 + j) * M + m) * OHW, (size_t)OHW * sizeof *gbuf);
        }
        for (int64_t g = 0; g < p->G; g++)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)CgKK, (int)ld, (int)Mg, 1.0f,
                        w + g * Mg * CgKK, (int)CgKK, gbuf + g * Mg * ld, (int)ld, 0.0f, col + g * CgKK * ld, (int)ld);
        if (p->kind == CONV_1X1) {
#pragma omp parallel for schedule(static) if (cnt * C * HW >= CC_PAR_MIN)
            for (int64_t r = 0; r < cnt * C; r++) {
                int64_t j = r / C, c = r % C;
                const float *src = col + c * ld + j * OHW;
                float *dst = gx + ((b0 + j) * C + c) * HW;
#pragma omp simd
                for (int64_t q = 0; q < HW; q++) dst[q] += src[q];
            }
        } else {
            for (int64_t j = 0; j < cnt; j++) conv_col2im_add(p, col + j * OHW, ld, gx + (b0 + j) * C * HW);
        }
    }
    return CC_E_OK;
}

static int conv_gemm_backward_weight(const conv_params *p, const float *x, const float *gy, float *gw,
                                     int K, cc_ctx *ctx)
{
    const int64_t C = p->C, M = p->M, Mg = p->Mg, CKK = C * p->kk, CgKK = p->Cg * p->kk, OHW = p->OHW;
    float *col = NULL;
    if (p->kind != CONV_1X1 && !(col = cc_scratch(ctx, 0, (size_t)(CKK * OHW)))) return CC_E_NOMEM;
    for (int64_t i = 0; i < p->N; i++) {
        const float *src = x + i * C * p->HW;
        if (col) { conv_im2col(p, src, col, OHW); src = col; }
        if (p->N == 1 && p->G == 1 && (int64_t)K * M <= INT_MAX) {
            /* the K seeds' [M, OHW] blocks are contiguous: one GEMM for all */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(K * M), (int)CKK, (int)OHW, 1.0f,
                        gy, (int)OHW, src, (int)OHW, 1.0f, gw, (int)CKK);
            continue;
        }
        for (int64_t k = 0; k < K; k++) {
            const float *gyk = gy + (k * p->N + i) * M * OHW;
            float *gwk = gw + k * M * CgKK;
            for (int64_t g = 0; g < p->G; g++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)Mg, (int)CgKK, (int)OHW, 1.0f,
                            gyk + g * Mg * OHW, (int)OHW, src + g * CgKK * OHW, (int)OHW, 1.0f,
                            gwk + g * Mg * CgKK, (int)CgKK);
        }
    }
    return CC_E_OK;
}

/* ---- the channel-blocked layout (op.h, cc_packed_gemm_c16) ------------------- */

/* Whether the forward can take the CC_C16_* bits (a blocked input, output,
 * residual): a narrow packed product on one image; a blocked input only for
 * a 1x1 kernel, at stride 1 straight from it (boff), or at a larger stride
 * through the subsampled copy, which c16_subsample makes from it. */
/* The narrow plan and weights the blocked forward runs, or NULL. */
static const cc_packed *c16_plan(const conv_params *p, const float **w)
{
    *w = p->pk.wide ? p->packed16 : p->packed;
    return *w ? (p->pk.wide ? &p->pk16 : &p->pk) : NULL;
}

static int conv_c16_can(const conv_params *p, int c16)
{
    const float *w;
    const cc_packed *pk = c16_plan(p, &w);
    if (p->taps)   /* per-tap reads of a row-major (padded) input; a blocked output with its residual */
        return p->packed && p->N == 1 && !(c16 & CC_C16_IN) && (c16 & CC_C16_OUT) && cc_packed_c16_ok(&p->pk, p->pk.K, 1, c16);
    if (!pk || p->direct || p->N != 1 || p->G != 1 || p->OHW < 2 || (p->kind != CONV_1X1 && p->kind != CONV_IM2COL))
        return 0;
    if ((c16 & CC_C16_IN) && (p->kk != 1 || p->C % 16 || (p->kind == CONV_1X1 && !p->boff) ||
                              (p->kind == CONV_IM2COL && (p->pT || p->pL || (p->OH - 1) * p->sH >= p->H ||
                                                          (p->OW - 1) * p->sW >= p->W))))
        return 0;
    /* on a wide plane, narrow tiles that store row-major (transposed) win only
     * over long sums: 64 x 256 x 3136 0.37 -> 0.34 ms, but 192 x 32 x 784 0.046
     * -> 0.085 (MobileNetV2's expansions, 2 threads) */
    if (p->pk.wide && !(c16 & CC_C16_OUT) && p->C < 256) return 0;
    return cc_packed_c16_ok(pk, p->C * p->kk, p->OHW, c16 & ~CC_C16_IN);
}

int cc_conv_c16(const cc_node *n, int c16)
{
    return n->params && conv_c16_can(n->params, c16);
}

/* col (C x OHW) = the 1x1 kernel's strided samples of a blocked input */
static void c16_subsample(const conv_params *p, const float *x, float *col)
{
#pragma omp parallel for schedule(static) if (p->C * p->OHW >= CC_PAR_MIN)
    for (int64_t b = 0; b < p->C / 16; b++)
        for (int64_t oh = 0; oh < p->OH; oh++)
            for (int64_t ow = 0; ow < p->OW; ow++) {
                const float *src = x + (b * p->HW + oh * p->sH * p->W + ow * p->sW) * 16;
                for (int64_t l = 0; l < 16; l++) col[(b * 16 + l) * p->OHW + oh * p->OW + ow] = src[l];
            }
}

static int conv_c16_forward(const conv_params *p, const float *x, const float *bias, float *y, cc_ctx *ctx, int c16)
{
    const float *src = x;
    if (p->taps) {
        float *xp = p->tcopy ? cc_scratch(ctx, 0, (size_t)(p->C * p->tH * p->tW)) : NULL;
        if (p->tcopy && !xp) return CC_E_NOMEM;
        if (xp) conv_pad_copy(p, x, xp);
        cc_packed_conv(&p->pk, p->packed, xp ? xp : x, p->tW, p->sH, p->sW, p->taps, p->OH, p->OW, y, bias,
                       cc_ctx_post(ctx), 1);
        return CC_E_OK;
    }
    if (p->kind != CONV_1X1) {
        float *col = cc_scratch(ctx, 0, (size_t)(p->C * p->kk * p->OHW));
        if (!col) return CC_E_NOMEM;
        if (c16 & CC_C16_IN) c16_subsample(p, x, col);
        else conv_im2col(p, x, col, p->OHW);
        src = col;
    }
    const float *w;
    const cc_packed *pk = c16_plan(p, &w);
    cc_packed_gemm_c16(pk, w, src, (c16 & CC_C16_IN) && p->kind == CONV_1X1 ? p->boff : NULL, p->OHW, y, c16, bias,
                       cc_ctx_post(ctx));
    return CC_E_OK;
}

static int conv_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    const conv_params *p = n->params;
    const float *x = in[0]->data, *w = in[1]->data, *bias = p->has_bias ? in[2]->data : NULL;
    float *y = out[0]->data;
    if (cc_ctx_c16(ctx)) return conv_c16_forward(p, x, bias, y, ctx, cc_ctx_c16(ctx));   /* the session asked cc_conv_c16 */
    if (p->kind == CONV_DW) return dw_forward(p, x, w, bias, y, ctx);
    if (p->direct) {
        for (int64_t i = 0; i < p->N; i++)
            cc_conv_direct(x + i * p->C * p->HW, p->C, p->H, p->W, p->direct, p->M, p->sH, p->pT, p->pL, bias,
                           cc_ctx_post(ctx), y + i * p->M * p->OHW, p->OH, p->OW);
        return CC_E_OK;
    }
    if (p->kind == CONV_WINO) {
        for (int64_t i = 0; i < p->N; i++) {
            int rc = p->wino2 ? cc_wino2_forward(p->wino, &p->pk, p->M, p->C, p->H, p->W, x + i * p->C * p->HW, bias,
                                                 y + i * p->M * p->HW, cc_ctx_post(ctx), ctx)
                              : cc_wino4_forward(p->wino, p->wino_packed ? &p->pk : NULL, p->M, p->C, p->H, p->W, x + i * p->C * p->HW, bias, y + i * p->M * p->HW,
                                      cc_ctx_post(ctx), ctx);
            if (rc) return rc;
        }
        return CC_E_OK;
    }
    return conv_gemm_forward(p, x, w, bias, y, ctx);
}

static int conv_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy, float **gx, int K,
                         cc_ctx *ctx)
{
    (void)out;
    const conv_params *p = n->params;
    const float *g = gy[0];
    if (!g || K <= 0) return CC_E_OK;
    const int64_t images = (int64_t)K * p->N;
    const float *x = in[0]->data, *w = in[1]->data;
    float *gb = p->has_bias && n->n_in > 2 ? gx[2] : NULL;
    if (gb) {
        const int64_t tasks = (int64_t)K * p->M;
#pragma omp parallel for schedule(static) if (images * p->M * p->OHW >= CC_PAR_MIN)
        for (int64_t t = 0; t < tasks; t++) {
            int64_t k = t / p->M, m = t % p->M;
            double acc = 0;
            for (int64_t i = 0; i < p->N; i++) {
                const float *gp = g + ((k * p->N + i) * p->M + m) * p->OHW;
                float s = 0;
#pragma omp simd reduction(+:s)
                for (int64_t q = 0; q < p->OHW; q++) s += gp[q];
                acc += s;
            }
            gb[t] += (float)acc;
        }
    }
    int rc = CC_E_OK;
    if (p->kind == CONV_DW) {
        if (gx[0] && (rc = dw_backward_data(p, g, w, gx[0], images, ctx))) return rc;
        if (gx[1] && (rc = dw_backward_weight(p, x, g, gx[1], K, ctx))) return rc;
        return CC_E_OK;
    }
    if (gx[0] && (rc = conv_gemm_backward_data(p, g, w, gx[0], images, ctx))) return rc;
    if (gx[1] && (rc = conv_gemm_backward_weight(p, x, g, gx[1], K, ctx))) return rc;
    return CC_E_OK;
}

/* The weights will be written in place (training): drop the load-time copies
 * (the memory stays with the params) and read the weights themselves. */
void cc_conv_weights_live(cc_node *n)
{
    conv_params *p = n->params;
    if (!p) return;
    if (p->kind == CONV_WINO) p->kind = CONV_IM2COL;
    p->packed = NULL;
    p->packed16 = NULL;
    p->direct = NULL;
}

/* Whether the forward (under the CC_C16_* bits c16) reads each fused residual
 * value before it writes the output value at the same place (wide packed
 * tiles do, cc_packed_gemm, and narrow ones storing blocked), so the output
 * may overwrite its residual.  The other kernels store sums first and add the
 * residual in a later pass. */
int cc_conv_res_inplace(const cc_node *n, int c16)
{
    const conv_params *p = n->params;
    const float *w;
    if (p && c16)   /* blocked tiles read their residual as they store, not in halves (the first half stores first) */
        return (c16 & CC_C16_OUT) && conv_c16_can(p, c16) && !c16_plan(p, &w)->halves;
    return p && p->packed && p->pk.wide && !p->taps && p->kind != CONV_WINO && p->kind != CONV_DW && !p->direct;
}

const cc_op cc_op_conv = { "Conv", 1, conv_prepare, conv_forward, conv_backward };

/* ---- the family table ------------------------------------------------------- */

extern const cc_op cc_op_maxpool, cc_op_averagepool, cc_op_globalmaxpool, cc_op_globalaveragepool;
extern const cc_op cc_op_lrn, cc_op_pad;

const cc_op *const cc_ops_conv[] = {
    &cc_op_conv, &cc_op_maxpool, &cc_op_averagepool, &cc_op_globalmaxpool, &cc_op_globalaveragepool,
    &cc_op_lrn, &cc_op_pad, NULL,
};
