/* MaxPool, AveragePool (1-D to 3-D), GlobalMaxPool and GlobalAveragePool,
 * forward and backward.
 *
 * Semantics follow ONNX as PyTorch and onnxruntime implement it:
 *   - padded positions never win a max and, without count_include_pad, are
 *     not counted in an average;
 *   - with ceil_mode a window that would start in the end padding is dropped
 *     (cc_window_init), and count_include_pad counts the window clipped to the
 *     padded border, not the part that hangs past it (PyTorch's divisor);
 *   - MaxPool's backward routes each output gradient to the first maximum of
 *     its window in row-major order, as PyTorch does on ties.
 * MaxPool's optional Indices output (int64, flattened over N*C*spatial,
 * storage_order 0 row-major or 1 column-major) is produced by forward; it
 * carries no gradient. */
#include "conv_kernels.h"

#include <float.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef struct pool_params {
    cc_window w;
    int64_t N, C, in_plane, out_plane;
    int count_include_pad;
    int with_indices, storage_order;
    int direct;               /* MaxPool values through cc_maxpool_s2_plane */
} pool_params;

static int pool_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e, int is_max)
{
    const char *op = n->op_type;
    if (n->n_in < 1 || n->in[0] < 0 || !in[0]) return cc_errf(e, CC_E_PARSE, "%s: needs input X", op);
    const cc_tensor *x = in[0];
    if (x->dtype != CC_DT_FLOAT) return cc_errf(e, CC_E_UNSUPPORTED, "%s: only float input is supported", op);
    cc_window w;
    int rc = cc_window_init(n, x, NULL, 1, &w, e);
    if (rc) return rc;
    pool_params *p = calloc(1, sizeof *p);
    if (!p) return cc_errf(e, CC_E_NOMEM, "%s: out of memory", op);
    p->w = w;
    p->N = x->dims[0];
    p->C = x->dims[1];
    p->in_plane = w.in[0] * w.in[1] * w.in[2];
    p->out_plane = w.out[0] * w.out[1] * w.out[2];
    if (p->in_plane > INT32_MAX) {
        free(p);
        return cc_errf(e, CC_E_LIMIT, "%s: spatial plane too large", op);
    }
    if (is_max) {
        p->storage_order = (int)cc_attr_int(n, "storage_order", 0);
        p->direct = cc_maxpool_s2_ok(&w);
        p->with_indices = n->n_out > 1 && n->out[1] >= 0 && out[1] != NULL;
        if (p->storage_order != 0 && p->storage_order != 1) {
            free(p);
            return cc_errf(e, CC_E_PARSE, "%s: storage_order must be 0 or 1", op);
        }
    } else {
        p->count_include_pad = cc_attr_int(n, "count_include_pad", 0) != 0;
    }
    free(n->params);
    n->params = p;
    for (int j = 0; j < (p->with_indices ? 2 : 1); j++) {
        out[j]->dtype = j ? CC_DT_INT64 : CC_DT_FLOAT;
        out[j]->ndim = x->ndim;
        out[j]->dims[0] = p->N;
        out[j]->dims[1] = p->C;
        for (int i = 0; i < w.nsp; i++) out[j]->dims[2 + i] = w.out[CC_SP - w.nsp + i];
    }
    return CC_E_OK;
}

/* Taps of the window at output o along internal axis a. */
#define TAPS(a, o, t0, t1) cc_window_taps((o), w->s[a], w->pb[a], w->d[a], w->k[a], w->in[a], &(t0), &(t1))

/* One plane: the max of each window into y (if not NULL) and the in-plane
 * offset of its first maximum into arg (if not NULL; -1 for a window with
 * no input position, whose max is -FLT_MAX like onnxruntime's). */
/* The 2-D, undilated case (every CNN's max-pool): the same windows, taps and
 * tie rule as the general loop below, with the column taps worked out only for
 * the border columns (interior windows lie wholly inside the row). */
/* Values only (no argmax wanted): the columns whose window lies inside the row
 * [lo, hi), in one vectorised pass per output row; the same selects and tap
 * order as the general loop, so the same values (NaN handling included). */
CC_HOT_CLONES
static void maxpool_row_inner(const float *restrict xr, int64_t W, int64_t nrows, int64_t kw, int64_t sw, int64_t pw,
                              int64_t lo, int64_t hi, float *restrict yr)
{
#pragma omp simd
    for (int64_t ow = lo; ow < hi; ow++) {
        const float *p = xr + ow * sw - pw;
        float best = p[0];
        for (int64_t th = 0; th < nrows; th++)
            for (int64_t tw = th == 0 ? 1 : 0; tw < kw; tw++) {
                float v = p[th * W + tw];
                best = v > best ? v : best;
            }
        yr[ow] = best;
    }
}

static void maxpool_plane2d(const cc_window *w, const float *restrict x, float *restrict y, int32_t *restrict arg)
{
    const int64_t W = w->in[2], OW = w->out[2], kw = w->k[2], sw = w->s[2], pw = w->pb[2];
    int64_t lo = (pw + sw - 1) / sw, hi = W - kw + pw >= 0 ? (W - kw + pw) / sw + 1 : 0;
    if (hi > OW) hi = OW;
    if (lo > hi) lo = hi;
    int64_t o = 0;
    for (int64_t oh = 0; oh < w->out[1]; oh++) {
        int64_t h0, h1;
        TAPS(1, oh, h0, h1);
        const int64_t rb = oh * w->s[1] - w->pb[1];
        const int vec = !arg && y && h0 < h1 && lo < hi;
        if (vec) maxpool_row_inner(x + (rb + h0) * W, W, h1 - h0, kw, sw, pw, lo, hi, y + oh * OW);
        for (int64_t ow = 0; ow < OW; ow++, o++) {
            if (vec && ow == lo) { ow = hi - 1; o += hi - 1 - lo; continue; }
            int64_t w0 = 0, w1 = kw;
            if (ow < lo || ow >= hi) TAPS(2, ow, w0, w1);
            const int64_t cb = ow * sw - pw;
            float best = -FLT_MAX;
            int64_t bi = -1;
            if (h0 < h1 && w0 < w1) {
                /* start from the first tap, then keep strictly larger values:
                 * branch-free selects (random data mispredicts a branch half the time) */
                bi = (rb + h0) * W + cb + w0;
                best = x[bi];
                for (int64_t th = h0; th < h1; th++) {
                    const int64_t row = (rb + th) * W + cb;
                    for (int64_t tw = th == h0 ? w0 + 1 : w0; tw < w1; tw++) {
                        float v = x[row + tw];
                        int gt = v > best;
                        best = gt ? v : best;
                        bi = gt ? row + tw : bi;
                    }
                }
            }
            if (y) y[o] = best;
            if (arg) arg[o] = (int32_t)bi;
        }
    }
}

static void maxpool_plane(const cc_window *w, const float *restrict x, float *restrict y, int32_t *restrict arg)
{
    if (w->in[0] == 1 && w->out[0] == 1 && w->k[0] == 1 && w->pb[0] == 0 && w->d[1] == 1 && w->d[2] == 1) {
        maxpool_plane2d(w, x, y, arg);
        return;
    }
    const int64_t H = w->in[1], W = w->in[2];
    int64_t o = 0;
    for (int64_t od = 0; od < w->out[0]; od++) {
        int64_t d0, d1;
        TAPS(0, od, d0, d1);
        for (int64_t oh = 0; oh < w->out[1]; oh++) {
            int64_t h0, h1;
            TAPS(1, oh, h0, h1);
            for (int64_t ow = 0; ow < w->out[2]; ow++, o++) {
                int64_t w0, w1;
                TAPS(2, ow, w0, w1);
                const int64_t bw = ow * w->s[2] - w->pb[2];
                float best = -FLT_MAX;
                int64_t bi = -1;
                for (int64_t td = d0; td < d1; td++) {
                    int64_t id = od * w->s[0] - w->pb[0] + td * w->d[0];
                    for (int64_t th = h0; th < h1; th++) {
                        int64_t row = (id * H + oh * w->s[1] - w->pb[1] + th * w->d[1]) * W + bw;
                        for (int64_t tw = w0; tw < w1; tw++) {
                            float v = x[row + tw * w->d[2]];
                            if (v > best || bi < 0) { best = v; bi = row + tw * w->d[2]; }
                        }
                    }
                }
                if (y) y[o] = best;
                if (arg) arg[o] = (int32_t)bi;
            }
        }
    }
}

static int maxpool_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    return pool_prepare(n, in, out, e, 1);
}

static int maxpool_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    const pool_params *p = n->params;
    const float *x = in[0]->data;
    float *y = out[0]->data;
    int64_t *ind = p->with_indices ? out[1]->data : NULL;
    const int64_t planes = p->N * p->C, kvol = p->w.k[0] * p->w.k[1] * p->w.k[2];
    int32_t *arg = NULL;
    if (ind && !(arg = (int32_t *)cc_scratch(ctx, 0, (size_t)(planes * p->out_plane)))) return CC_E_NOMEM;
    if (cc_ctx_c16(ctx) & CC_C16_IN) {   /* the session asked cc_maxpool_c16: by bands of rows, as below */
        const int64_t OH = p->w.out[1], bands = omp_get_max_threads() < OH ? omp_get_max_threads() : OH, blocks = p->C / 16;
#pragma omp parallel for schedule(static) if (planes * p->out_plane * kvol >= CC_PAR_MIN)
        for (int64_t t = 0; t < bands * blocks; t++) {
            const int64_t b = t / blocks, k = t % blocks;
            cc_maxpool_c16_rows(&p->w, x, k, y, OH * b / bands, OH * (b + 1) / bands);
        }
        return CC_E_OK;
    }
    if (!ind && p->direct) {
        /* one band of rows of every plane per thread, not whole planes: the
         * layer before (a first convolution) wrote its output by rows, so each
         * core reads what it wrote (ResNet-50's 3.2 MB input, by planes half
         * from the other core's cache) */
        const int64_t OH = p->w.out[1], bands = omp_get_max_threads() < OH ? omp_get_max_threads() : OH;
#pragma omp parallel for schedule(static) if (planes * p->out_plane * kvol >= CC_PAR_MIN)
        for (int64_t t = 0; t < bands * planes; t++) {
            const int64_t b = t / planes, pl = t % planes;
            cc_maxpool_s2_plane(&p->w, x + pl * p->in_plane, y + pl * p->out_plane, OH * b / bands, OH * (b + 1) / bands);
        }
        return CC_E_OK;
    }
#pragma omp parallel for schedule(static) if (planes * p->out_plane * kvol >= CC_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        maxpool_plane(&p->w, x + pl * p->in_plane, y + pl * p->out_plane, arg ? arg + pl * p->out_plane : NULL);
        if (!ind) continue;
        const cc_window *w = &p->w;
        const int nsp = w->nsp;
        for (int64_t o = 0; o < p->out_plane; o++) {
            int64_t a = arg[pl * p->out_plane + o], idx;
            if (a < 0) { ind[pl * p->out_plane + o] = -1; continue; }
            if (p->storage_order == 0) {
                idx = a;
            } else {  /* column-major over the model's spatial axes */
                int64_t iw = a % w->in[2], ih = (a / w->in[2]) % w->in[1], id = a / (w->in[2] * w->in[1]);
                idx = nsp == 1 ? iw : nsp == 2 ? ih + iw * w->in[1] : id + ih * w->in[0] + iw * w->in[0] * w->in[1];
            }
            ind[pl * p->out_plane + o] = pl * p->in_plane + idx;
        }
    }
    return CC_E_OK;
}

static int maxpool_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy, float **gx, int K,
                            cc_ctx *ctx)
{
    (void)out;
    const pool_params *p = n->params;
    if (!gy[0] || !gx[0] || K <= 0) return CC_E_OK;
    const float *x = in[0]->data;
    const int64_t planes = p->N * p->C, OP = p->out_plane, IP = p->in_plane;
    const int64_t kvol = p->w.k[0] * p->w.k[1] * p->w.k[2];
    int32_t *arg = (int32_t *)cc_scratch(ctx, 0, (size_t)(planes * OP));
    if (!arg) return CC_E_NOMEM;
#pragma omp parallel for schedule(static) if (planes * OP * kvol >= CC_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) maxpool_plane(&p->w, x + pl * IP, NULL, arg + pl * OP);
    const float *g = gy[0];
    float *gxd = gx[0];
    const int64_t all = (int64_t)K * planes;
#pragma omp parallel for schedule(static) if (all * OP >= CC_PAR_MIN)
    for (int64_t pl = 0; pl < all; pl++) {
        const int32_t *a = arg + (pl % planes) * OP;
        const float *gp = g + pl * OP;
        float *xp = gxd + pl * IP;
        for (int64_t o = 0; o < OP; o++)
            if (a[o] >= 0) xp[a[o]] += gp[o];
    }
    return CC_E_OK;
}

/* A channel-blocked input (op.h) where the strided kernel runs and only values are asked for. */
int cc_maxpool_c16(const cc_node *n, int c16)
{
    const pool_params *p = n->params;
    return p && c16 == CC_C16_IN && p->direct && !p->with_indices && p->N == 1 && p->C % 16 == 0;
}

const cc_op cc_op_maxpool = { "MaxPool", 1, maxpool_prepare, maxpool_forward, maxpool_backward };

/* ---- AveragePool -------------------------------------------------------------- */

/* Divisor of the window at (od, oh, ow): its in-image taps, or with
 * count_include_pad its taps inside the padded border. */
static inline float avg_divisor(const cc_window *w, int cip, const int64_t *o, const int64_t *t0, const int64_t *t1)
{
    int64_t cnt = 1;
    for (int a = 0; a < CC_SP; a++) {
        if (cip) {
            int64_t base = o[a] * w->s[a] - w->pb[a], lim = w->in[a] + w->pe[a] - 1 - base;
            int64_t tp = lim < 0 ? 0 : lim / w->d[a] + 1;
            cnt *= tp < w->k[a] ? tp : w->k[a];
        } else {
            cnt *= t1[a] - t0[a];
        }
    }
    return (float)cnt;
}

/* forward (gx == NULL): y = window means of x.  backward: gx += spread of gy. */
static void avgpool_plane(const cc_window *w, int cip, const float *restrict x, float *restrict y,
                          const float *restrict gy, float *restrict gx)
{
    const int64_t H = w->in[1], W = w->in[2];
    int64_t o = 0, oo[CC_SP], t0[CC_SP], t1[CC_SP];
    for (oo[0] = 0; oo[0] < w->out[0]; oo[0]++) {
        TAPS(0, oo[0], t0[0], t1[0]);
        for (oo[1] = 0; oo[1] < w->out[1]; oo[1]++) {
            TAPS(1, oo[1], t0[1], t1[1]);
            for (oo[2] = 0; oo[2] < w->out[2]; oo[2]++, o++) {
                TAPS(2, oo[2], t0[2], t1[2]);
                float div = avg_divisor(w, cip, oo, t0, t1);
                const int64_t bw = oo[2] * w->s[2] - w->pb[2];
                float acc = 0, gv = gx && div > 0 ? gy[o] / div : 0;
                for (int64_t td = t0[0]; td < t1[0]; td++) {
                    int64_t id = oo[0] * w->s[0] - w->pb[0] + td * w->d[0];
                    for (int64_t th = t0[1]; th < t1[1]; th++) {
                        int64_t row = (id * H + oo[1] * w->s[1] - w->pb[1] + th * w->d[1]) * W + bw;
                        if (gx)
                            for (int64_t tw = t0[2]; tw < t1[2]; tw++) gx[row + tw * w->d[2]] += gv;
                        else
                            for (int64_t tw = t0[2]; tw < t1[2]; tw++) acc += x[row + tw * w->d[2]];
                    }
                }
                if (!gx) y[o] = div > 0 ? acc / div : 0.0f;
            }
        }
    }
}

static int avgpool_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    return pool_prepare(n, in, out, e, 0);
}

static int avgpool_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)ctx;
    const pool_params *p = n->params;
    const float *x = in[0]->data;
    float *y = out[0]->data;
    const int64_t planes = p->N * p->C, kvol = p->w.k[0] * p->w.k[1] * p->w.k[2];
#pragma omp parallel for schedule(static) if (planes * p->out_plane * kvol >= CC_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++)
        avgpool_plane(&p->w, p->count_include_pad, x + pl * p->in_plane, y + pl * p->out_plane, NULL, NULL);
    return CC_E_OK;
}

static int avgpool_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy, float **gx, int K,
                            cc_ctx *ctx)
{
    (void)in; (void)out; (void)ctx;
    const pool_params *p = n->params;
    if (!gy[0] || !gx[0] || K <= 0) return CC_E_OK;
    const int64_t all = (int64_t)K * p->N * p->C, kvol = p->w.k[0] * p->w.k[1] * p->w.k[2];
    const float *g = gy[0];
    float *gxd = gx[0];
#pragma omp parallel for schedule(static) if (all * p->out_plane * kvol >= CC_PAR_MIN)
    for (int64_t pl = 0; pl < all; pl++)
        avgpool_plane(&p->w, p->count_include_pad, NULL, NULL, g + pl * p->out_plane, gxd + pl * p->in_plane);
    return CC_E_OK;
}

const cc_op cc_op_averagepool = { "AveragePool", 1, avgpool_prepare, avgpool_forward, avgpool_backward };

/* ---- global pools -------------------------------------------------------------- */

typedef struct gpool_params {
    int64_t planes, S;
} gpool_params;

static int gpool_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    const char *op = n->op_type;
    if (n->n_in < 1 || n->in[0] < 0 || !in[0]) return cc_errf(e, CC_E_PARSE, "%s: needs input X", op);
    const cc_tensor *x = in[0];
    if (x->dtype != CC_DT_FLOAT) return cc_errf(e, CC_E_UNSUPPORTED, "%s: only float input is supported", op);
    if (x->ndim < 3) return cc_errf(e, CC_E_SHAPE, "%s: input must be N, C, spatial... (rank >= 3)", op);
    gpool_params *p = calloc(1, sizeof *p);
    if (!p) return cc_errf(e, CC_E_NOMEM, "%s: out of memory", op);
    p->planes = x->dims[0] * x->dims[1];
    p->S = cc_numel(x->dims + 2, x->ndim - 2);
    if (p->S < 1) {
        free(p);
        return cc_errf(e, CC_E_SHAPE, "%s: empty spatial extent", op);
    }
    free(n->params);
    n->params = p;
    out[0]->dtype = CC_DT_FLOAT;
    out[0]->ndim = x->ndim;
    out[0]->dims[0] = x->dims[0];
    out[0]->dims[1] = x->dims[1];
    for (int i = 2; i < x->ndim; i++) out[0]->dims[i] = 1;
    return CC_E_OK;
}

static int64_t plane_argmax(const float *x, int64_t S)
{
    int64_t bi = 0;
    float best = x[0];
    for (int64_t i = 1; i < S; i++)
        if (x[i] > best) { best = x[i]; bi = i; }
    return bi;
}

static int gmaxpool_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)ctx;
    const gpool_params *p = n->params;
    const float *x = in[0]->data;
    float *y = out[0]->data;
#pragma omp parallel for schedule(static) if (p->planes * p->S >= CC_PAR_MIN)
    for (int64_t pl = 0; pl < p->planes; pl++) {
        const float *xp = x + pl * p->S;
        y[pl] = xp[plane_argmax(xp, p->S)];
    }
    return CC_E_OK;
}

static int gmaxpool_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy, float **gx, int K,
                             cc_ctx *ctx)
{
    (void)out; (void)ctx;
    const gpool_params *p = n->params;
    if (!gy[0] || !gx[0] || K <= 0) return CC_E_OK;
    const float *x = in[0]->data, *g = gy[0];
    float *gxd = gx[0];
#pragma omp parallel for schedule(static) if (p->planes * p->S >= CC_PAR_MIN)
    for (int64_t pl = 0; pl < p->planes; pl++) {
        int64_t a = plane_argmax(x + pl * p->S, p->S);
        for (int64_t k = 0; k < K; k++) gxd[(k * p->planes + pl) * p->S + a] += g[k * p->planes + pl];
    }
    return CC_E_OK;
}

static int gavgpool_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)ctx;
    const gpool_params *p = n->params;
    const float *x = in[0]->data;
    float *y = out[0]->data;
#pragma omp parallel for schedule(static) if (p->planes * p->S >= CC_PAR_MIN)
    for (int64_t pl = 0; pl < p->planes; pl++) {
        const float *xp = x + pl * p->S;
        float s = 0;
#pragma omp simd reduction(+:s)
        for (int64_t i = 0; i < p->S; i++) s += xp[i];
        y[pl] = s / (float)p->S;
    }
    return CC_E_OK;
}

static int gavgpool_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy, float **gx, int K,
                             cc_ctx *ctx)
{
    (void)in; (void)out; (void)ctx;
    const gpool_params *p = n->params;
    if (!gy[0] || !gx[0] || K <= 0) return CC_E_OK;
    const int64_t all = (int64_t)K * p->planes;
    const float *g = gy[0];
    float *gxd = gx[0];
#pragma omp parallel for schedule(static) if (all * p->S >= CC_PAR_MIN)
    for (int64_t pl = 0; pl < all; pl++) {
        float v = g[pl] / (float)p->S, *xp = gxd + pl * p->S;
#pragma omp simd
        for (int64_t i = 0; i < p->S; i++) xp[i] += v;
    }
    return CC_E_OK;
}

const cc_op cc_op_globalmaxpool = { "GlobalMaxPool", 1, gpool_prepare, gmaxpool_forward, gmaxpool_backward };
const cc_op cc_op_globalaveragepool = { "GlobalAveragePool", 1, gpool_prepare, gavgpool_forward,
                                        gavgpool_backward };

/* Forward-mode derivative of MaxPool's output 0 for one tangent tx of the input
 * (used by the projected evaluation in src/explain/project.c): each output takes
 * the tangent at its window's first maximum, the position the backward routes
 * the gradient to, so the two stay exact transposes of each other; 0 for a
 * window with no input position. */
int cc_maxpool_jvp(const cc_node *n, const cc_tensor *x, const float *tx, float *ty)
{
    const pool_params *p = n->params;
    if (!p || !x || !tx || !ty) return CC_E_ARG;
    const int64_t planes = p->N * p->C, OP = p->out_plane, IP = p->in_plane;
    const int64_t kvol = p->w.k[0] * p->w.k[1] * p->w.k[2];
    int32_t *arg = malloc(sizeof(int32_t) * (size_t)(planes * OP > 0 ? planes * OP : 1));
    if (!arg) return CC_E_NOMEM;
    const float *xd = x->data;
#pragma omp parallel for schedule(static) if (planes * OP * kvol >= CC_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        int32_t *a = arg + pl * OP;
        maxpool_plane(&p->w, xd + pl * IP, NULL, a);
        for (int64_t o = 0; o < OP; o++) ty[pl * OP + o] = a[o] >= 0 ? tx[pl * IP + a[o]] : 0.0f;
    }
    free(arg);
    return CC_E_OK;
}
