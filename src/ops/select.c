/* Equal and Where, for the shape chains some exporters emit (e.g. Reshape
 * targets built with Where(Equal(shape, 0), ...)) and for masking.  Broadcast
 * by strides; small sizes, so a plain per-element index walk. */
#include "tensor_util.h"

static int equal_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    int bad = cct_need(n, in, 2, e);
    if (bad) return bad;
    if ((in[0]->dtype == CC_DT_FLOAT) != (in[1]->dtype == CC_DT_FLOAT))
        return cc_errf(e, CC_E_UNSUPPORTED, "Equal '%s': inputs differ in type", n->name);
    if (cc_broadcast_shape(in[0], in[1], &out[0]->ndim, out[0]->dims))
        return cc_errf(e, CC_E_SHAPE, "Equal '%s': shapes do not broadcast", n->name);
    out[0]->dtype = CC_DT_INT64;   /* bool as int64 0/1: the graph keeps only float and int64 */
    return CC_E_OK;
}

static int equal_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)n; (void)ctx;
    const cc_tensor *y = out[0];
    int64_t sa[CC_MAX_DIMS], sb[CC_MAX_DIMS];
    cct_bcast_strides(in[0], y->ndim, sa);
    cct_bcast_strides(in[1], y->ndim, sb);
    int fl = in[0]->dtype == CC_DT_FLOAT;
    for (int64_t o = 0; o < y->numel; o++) {
        int64_t ia = cct_unravel(o, y->ndim, y->dims, sa), ib = cct_unravel(o, y->ndim, y->dims, sb);
        ((int64_t *)y->data)[o] = fl ? ((const float *)in[0]->data)[ia] == ((const float *)in[1]->data)[ib]
                                     : ((const int64_t *)in[0]->data)[ia] == ((const int64_t *)in[1]->data)[ib];
    }
    return CC_E_OK;
}

const cc_op cc_op_Equal = { "Equal", 7, equal_prepare, equal_forward, NULL };

static int where_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    int bad = cct_need(n, in, 3, e);
    if (bad) return bad;
    if (in[0]->dtype == CC_DT_FLOAT)
        return cc_errf(e, CC_E_ARG, "Where '%s': condition must be bool", n->name);
    if (in[1]->dtype != in[2]->dtype)
        return cc_errf(e, CC_E_SHAPE, "Where '%s': X and Y differ in type", n->name);
    cc_tensor t = { 0 };
    if (cc_broadcast_shape(in[1], in[2], &t.ndim, t.dims) ||
        cc_broadcast_shape(in[0], &t, &out[0]->ndim, out[0]->dims))
        return cc_errf(e, CC_E_SHAPE, "Where '%s': shapes do not broadcast", n->name);
    out[0]->dtype = in[1]->dtype;
    return CC_E_OK;
}

static void where_strides(cc_tensor **in, const cc_tensor *y, int64_t s[3][CC_MAX_DIMS])
{
    for (int i = 0; i < 3; i++) cct_bcast_strides(in[i], y->ndim, s[i]);
}

static int where_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)n; (void)ctx;
    const cc_tensor *y = out[0];
    int64_t s[3][CC_MAX_DIMS];
    where_strides(in, y, s);
    const int64_t *c = in[0]->data;
    int fl = y->dtype == CC_DT_FLOAT;
    for (int64_t o = 0; o < y->numel; o++) {
        int take_x = c[cct_unravel(o, y->ndim, y->dims, s[0])] != 0;
        int64_t src = cct_unravel(o, y->ndim, y->dims, s[take_x ? 1 : 2]);
        const cc_tensor *t = in[take_x ? 1 : 2];
        if (fl) ((float *)y->data)[o] = ((const float *)t->data)[src];
        else ((int64_t *)y->data)[o] = ((const int64_t *)t->data)[src];
    }
    return CC_E_OK;
}

static int where_backward(const cc_node *n, cc_tensor **in, cc_tensor **out,
                          float **gy, float **gx, int K, cc_ctx *ctx)
{
    (void)n; (void)ctx;
    if (!gy[0] || (!gx[1] && !gx[2])) return CC_E_OK;
    const cc_tensor *y = out[0];
    int64_t s[3][CC_MAX_DIMS];
    where_strides(in, y, s);
    const int64_t *c = in[0]->data;
    /* Broadcast inputs gather from many outputs: parallel over seeds only. */
#pragma omp parallel for schedule(static) if ((int64_t)K * y->numel > CC_PAR_MIN && K > 1)
    for (int k = 0; k < K; k++)
        for (int64_t o = 0; o < y->numel; o++) {
            int w = c[cct_unravel(o, y->ndim, y->dims, s[0])] != 0 ? 1 : 2;
            if (gx[w])
                gx[w][k * in[w]->numel + cct_unravel(o, y->ndim, y->dims, s[w])] += gy[0][k * y->numel + o];
        }
    return CC_E_OK;
}

const cc_op cc_op_Where = { "Where", 9, where_prepare, where_forward, where_backward };
