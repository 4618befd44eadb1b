/* ReduceSum / ReduceMean / ReduceMax / ReduceMin / ReduceSumSquare over any set
 * of axes, and ArgMax.  The
 * input dims are grouped into runs of kept and reduced dims, so a reduction is
 * "for each output: walk the reduced offsets" with a contiguous inner loop in
 * the common cases (global pooling, last-axis sums). */
#include "tensor_util.h"

#include <math.h>
#include <string.h>

enum { R_SUM, R_MEAN, R_MAX, R_MIN, R_SUMSQ };

typedef struct {
    int nk, nr;
    int64_t kd[CC_MAX_DIMS], ks[CC_MAX_DIMS];   /* kept runs: dims, input strides */
    int64_t rd[CC_MAX_DIMS], rs[CC_MAX_DIMS];   /* reduced runs */
    int64_t nout, nred;
} red_plan;

/* Which axes are reduced: axes as input from opset 13 (ReduceSum) or 18 (others),
 * else the attribute; none given = all, unless noop_with_empty_axes. */
static int red_mask(const cc_node *n, cc_tensor **in, int kind, int *mask, cc_err *e)
{
    const cc_tensor *x = in[0];
    int64_t ax[CC_MAX_DIMS];
    int cnt, rc = cct_axes(n, in, kind == R_SUM ? 13 : 18, 1, "axes", ax, CC_MAX_DIMS, &cnt, e);
    if (rc) return rc;
    if (x->dtype != CC_DT_FLOAT)
        return cc_errf(e, CC_E_UNSUPPORTED, "%s '%s': only float input is supported", n->op_type, n->name);
    int noop = cc_attr_int(n, "noop_with_empty_axes", 0) != 0;
    for (int k = 0; k < x->ndim; k++) mask[k] = cnt <= 0 && !noop;
    for (int i = 0; i < cnt; i++) {
        int a = cct_axis(ax[i], x->ndim);
        if (a < 0) return cc_errf(e, CC_E_SHAPE, "%s '%s': axis %lld out of range for rank %d",
                                  n->op_type, n->name, (long long)ax[i], x->ndim);
        mask[a] = 1;
    }
    return CC_E_OK;
}

static void red_make_plan(const cc_tensor *x, const int *mask, red_plan *p)
{
    int64_t str[CC_MAX_DIMS];
    cct_strides(x->dims, x->ndim, str);
    p->nk = p->nr = 0;
    p->nout = p->nred = 1;
    int last = -1;   /* kind of the previous non-unit dim, to merge runs */
    for (int k = 0; k < x->ndim; k++) {
        int64_t d = x->dims[k];
        if (mask[k]) p->nred *= d; else p->nout *= d;
        if (d == 1) continue;
        int64_t *dd = mask[k] ? p->rd : p->kd, *ss = mask[k] ? p->rs : p->ks;
        int *cnt = mask[k] ? &p->nr : &p->nk;
        if (last == mask[k]) {
            dd[*cnt - 1] *= d;
            ss[*cnt - 1] = str[k];
        } else {
            dd[*cnt] = d;
            ss[*cnt] = str[k];
            (*cnt)++;
        }
        last = mask[k];
    }
    if (!p->nk) { p->kd[0] = 1; p->ks[0] = 0; p->nk = 1; }
    if (!p->nr) { p->rd[0] = 1; p->rs[0] = 0; p->nr = 1; }
}

static int red_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e, int kind)
{
    int bad = cct_need(n, in, 1, e);
    if (bad) return bad;
    const cc_tensor *x = in[0];
    int mask[CC_MAX_DIMS];
    int rc = red_mask(n, in, kind, mask, e);
    if (rc) return rc;
    int keep = cc_attr_int(n, "keepdims", 1) != 0, r = 0;
    for (int k = 0; k < x->ndim; k++) {
        if (!mask[k]) out[0]->dims[r++] = x->dims[k];
        else if (keep) out[0]->dims[r++] = 1;
    }
    out[0]->ndim = r;
    out[0]->dtype = CC_DT_FLOAT;
    return CC_E_OK;
}

/* Calls body(off) for every input offset reduced into output o. */
#define RED_WALK(p, o, body)                                                           \
    do {                                                                              \
        int64_t base_ = cct_unravel((o), (p)->nk, (p)->kd, (p)->ks);                 \
        int64_t in_ = (p)->rd[(p)->nr - 1], is_ = (p)->rs[(p)->nr - 1];              \
        for (int64_t row_ = 0; row_ < (p)->nred / (in_ ? in_ : 1) && in_; row_++) {  \
            int64_t r0_ = base_ + cct_unravel(row_, (p)->nr - 1, (p)->rd, (p)->rs);  \
            for (int64_t j_ = 0; j_ < in_; j_++) { int64_t off = r0_ + j_ * is_; body; } \
        }                                                                             \
    } while (0)

static int red_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, int kind)
{
    int mask[CC_MAX_DIMS];
    if (red_mask(n, in, kind, mask, NULL)) return CC_E_SHAPE;
    red_plan p;
    red_make_plan(in[0], mask, &p);
    const float *x = in[0]->data;
    float *y = out[0]->data;
#pragma omp parallel for schedule(static) if (p.nout * p.nred > CC_PAR_MIN && p.nout > 1)
    for (int64_t o = 0; o < p.nout; o++) {
        if (kind == R_MAX || kind == R_MIN) {   /* NaN wins, as in NumPy */
            float m = kind == R_MAX ? -INFINITY : INFINITY;
            if (kind == R_MAX) RED_WALK(&p, o, { float v = x[off]; if (!isnan(m) && (v > m || isnan(v))) m = v; });
            else RED_WALK(&p, o, { float v = x[off]; if (!isnan(m) && (v < m || isnan(v))) m = v; });
            y[o] = m;
        } else if (kind == R_SUMSQ) {
            double s = 0;
            RED_WALK(&p, o, s += (double)x[off] * x[off]);
            y[o] = (float)s;
        } else {
            double s = 0;
            RED_WALK(&p, o, s += x[off]);
            y[o] = (float)(kind == R_MEAN ? s / (double)p.nred : s);
        }
    }
    return CC_E_OK;
}

static int red_backward(const cc_node *n, cc_tensor **in, cc_tensor **out,
                        float **gy, float **gx, int K, int kind)
{
    if (!gy[0] || !gx[0]) return CC_E_OK;
    int mask[CC_MAX_DIMS];
    if (red_mask(n, in, kind, mask, NULL)) return CC_E_SHAPE;
    red_plan p;
    red_make_plan(in[0], mask, &p);
    const float *x = in[0]->data, *y = out[0]->data;
    int64_t nx = in[0]->numel;
    float scale = kind == R_MEAN && p.nred ? 1.0f / (float)p.nred : 1.0f;
    /* Each output owns a disjoint set of inputs: parallel over outputs is safe. */
#pragma omp parallel for schedule(static) if ((int64_t)K * p.nout * p.nred > CC_PAR_MIN && p.nout > 1)
    for (int64_t o = 0; o < p.nout; o++) {
        if (kind == R_MAX || kind == R_MIN) {   /* all of the gradient to the first extremum */
            int64_t at = -1;
            float m = y[o];
            RED_WALK(&p, o, { if (at < 0 && (x[off] == m || (isnan(m) && isnan(x[off])))) at = off; });
            if (at >= 0)
                for (int k = 0; k < K; k++) gx[0][k * nx + at] += gy[0][k * p.nout + o];
        } else if (kind == R_SUMSQ) {
            for (int k = 0; k < K; k++) {
                float g = 2.0f * gy[0][k * p.nout + o];
                float *gk = gx[0] + k * nx;
                RED_WALK(&p, o, gk[off] += g * x[off]);
            }
        } else {
            for (int k = 0; k < K; k++) {
                float g = gy[0][k * p.nout + o] * scale;
                float *gk = gx[0] + k * nx;
                RED_WALK(&p, o, gk[off] += g);
            }
        }
    }
    return CC_E_OK;
}

#define REDUCE_OP(Name, kind)                                                                   \
    static int Name##_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)          \
    { return red_prepare(n, in, out, e, kind); }                                                \
    static int Name##_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)  \
    { (void)ctx; return red_forward(n, in, out, kind); }                                        \
    static int Name##_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy,   \
                               float **gx, int K, cc_ctx *ctx)                                  \
    { (void)ctx; return red_backward(n, in, out, gy, gx, K, kind); }                            \
    const cc_op cc_op_##Name = { #Name, 1, Name##_prepare, Name##_forward, Name##_backward };

REDUCE_OP(ReduceSum, R_SUM)
REDUCE_OP(ReduceMean, R_MEAN)
REDUCE_OP(ReduceMax, R_MAX)
REDUCE_OP(ReduceMin, R_MIN)
REDUCE_OP(ReduceSumSquare, R_SUMSQ)

/* ---- ArgMax (int64 output, not differentiable) ------------------------------ */

static int argmax_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    int bad = cct_need(n, in, 1, e);
    if (bad) return bad;
    const cc_tensor *x = in[0];
    int a = cct_axis(cc_attr_int(n, "axis", 0), x->ndim);
    if (a < 0) return cc_errf(e, CC_E_SHAPE, "ArgMax '%s': bad axis for rank %d", n->name, x->ndim);
    if (x->dtype != CC_DT_FLOAT)
        return cc_errf(e, CC_E_UNSUPPORTED, "ArgMax '%s': only float input is supported", n->name);
    if (x->dims[a] == 0) return cc_errf(e, CC_E_SHAPE, "ArgMax '%s': empty axis", n->name);
    cct_same_shape(out[0], x);
    out[0]->dtype = CC_DT_INT64;
    if (cc_attr_int(n, "keepdims", 1)) {
        out[0]->dims[a] = 1;
    } else {
        for (int k = a; k < x->ndim - 1; k++) out[0]->dims[k] = x->dims[k + 1];
        out[0]->ndim--;
    }
    return CC_E_OK;
}

static int argmax_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)ctx;
    const cc_tensor *t = in[0];
    int a = cct_axis(cc_attr_int(n, "axis", 0), t->ndim);
    int last = n->opset >= 12 && cc_attr_int(n, "select_last_index", 0);
    int64_t outer = cc_numel(t->dims, a), d = t->dims[a], inner = cc_numel(t->dims + a + 1, t->ndim - a - 1);
    const float *x = t->data;
    int64_t *y = out[0]->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *v = x + o * d * inner + i;
            int64_t best = 0;
            for (int64_t j = 1; j < d; j++)
                if (v[j * inner] > v[best * inner] || (last && v[j * inner] == v[best * inner])) best = j;
            y[o * inner + i] = best;
        }
    return CC_E_OK;
}

const cc_op cc_op_ArgMax = { "ArgMax", 1, argmax_prepare, argmax_forward, NULL };
