/* Pad (ONNX opsets 2-18), modes constant, reflect and edge, forward and backward.
 * Opset < 11 reads the pads / value attributes; opset >= 11 the pads input
 * (which must be a load-time constant: it fixes the output shape), the
 * optional constant_value input and, from opset 18, the optional axes input
 * (constant).  Negative pads crop.  Each output axis is described by a map
 * from output to input index (-1: the constant), built in prepare; backward
 * sends each output gradient back along the same map, so reflect and edge
 * accumulate into the border elements they copied. */
#include "op.h"

#include <stdlib.h>
#include <string.h>

enum { PAD_CONSTANT = 0, PAD_REFLECT = 1, PAD_EDGE = 2 };

typedef struct pad_params {
    int ndim, mode;
    float value;              /* from the attribute (opset < 11) or 0 */
    int value_input;          /* read constant_value from input 2 at run time */
    int64_t in[CC_MAX_DIMS], out[CC_MAX_DIMS], pb[CC_MAX_DIMS];
    int64_t in_stride[CC_MAX_DIMS];
    int64_t *map[CC_MAX_DIMS]; /* into maps[] */
    int64_t in_numel, out_numel;
    int64_t maps[];
} pad_params;

static int64_t pad_source(int64_t o, int64_t pb, int64_t in, int mode)
{
    int64_t i = o - pb;
    if (i >= 0 && i < in) return i;
    if (mode == PAD_CONSTANT) return -1;
    if (mode == PAD_EDGE) return i < 0 ? 0 : in - 1;
    if (in == 1) return 0;
    int64_t period = 2 * (in - 1);
    i %= period;
    if (i < 0) i += period;
    return i < in ? i : period - i;
}

static int pad_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    if (n->n_in < 1 || n->in[0] < 0 || !in[0]) return cc_errf(e, CC_E_PARSE, "Pad: needs input data");
    const cc_tensor *x = in[0];
    if (x->dtype != CC_DT_FLOAT && x->dtype != CC_DT_INT64)
        return cc_errf(e, CC_E_UNSUPPORTED, "Pad: only float and integer data are supported");
    const int nd = x->ndim;
    if (nd < 1) return cc_errf(e, CC_E_SHAPE, "Pad: input must have rank >= 1");
    const char *ms = cc_attr_str(n, "mode", "constant");
    int mode;
    if (strcmp(ms, "constant") == 0) mode = PAD_CONSTANT;
    else if (strcmp(ms, "reflect") == 0) mode = PAD_REFLECT;
    else if (strcmp(ms, "edge") == 0) mode = PAD_EDGE;
    else return cc_errf(e, CC_E_UNSUPPORTED, "Pad: mode '%s' not supported (constant, reflect, edge)", ms);

    int64_t pb[CC_MAX_DIMS] = { 0 }, pe[CC_MAX_DIMS] = { 0 };
    float value = 0.0f;
    int value_input = 0;
    /* opset < 11 (or an unknown opset with the attribute form) */
    const int use_attr = (n->opset > 0 && n->opset < 11) || (n->opset <= 0 && n->n_in < 2 && cc_attr_find(n, "pads"));
    if (use_attr) {
        int64_t pads[2 * CC_MAX_DIMS];
        int cnt = cc_attr_ints(n, "pads", pads, 2 * CC_MAX_DIMS);
        if (cnt != 2 * nd) return cc_errf(e, CC_E_PARSE, "Pad: attribute pads must list %d values", 2 * nd);
        for (int i = 0; i < nd; i++) { pb[i] = pads[i]; pe[i] = pads[i + nd]; }
        value = cc_attr_float(n, "value", 0.0f);
    } else {
        const cc_tensor *tp = n->n_in > 1 && n->in[1] >= 0 ? in[1] : NULL;
        if (!tp) return cc_errf(e, CC_E_PARSE, "Pad: the pads input is required from opset 11");
        if (!tp->is_const || !tp->data)
            return cc_errf(e, CC_E_UNSUPPORTED, "Pad: the pads input must be a constant (it fixes the output shape)");
        int axes[CC_MAX_DIMS], naxes = nd;
        const cc_tensor *ta = n->n_in > 3 && n->in[3] >= 0 ? in[3] : NULL;
        if (ta) {
            if (!ta->is_const || !ta->data) return cc_errf(e, CC_E_UNSUPPORTED, "Pad: the axes input must be a constant");
            if (ta->numel > nd) return cc_errf(e, CC_E_SHAPE, "Pad: more axes than the input has");
            naxes = (int)ta->numel;
            for (int i = 0; i < naxes; i++) {
                int64_t a = cc_tensor_geti(ta, i);
                if (a < 0) a += nd;
                if (a < 0 || a >= nd) return cc_errf(e, CC_E_SHAPE, "Pad: axis out of range");
                for (int j = 0; j < i; j++)
                    if (axes[j] == a) return cc_errf(e, CC_E_SHAPE, "Pad: repeated axis");
                axes[i] = (int)a;
            }
        } else {
            for (int i = 0; i < nd; i++) axes[i] = i;
        }
        if (tp->numel != 2 * naxes)
            return cc_errf(e, CC_E_SHAPE, "Pad: pads holds %lld values, expected %d", (long long)tp->numel, 2 * naxes);
        for (int i = 0; i < naxes; i++) {
            pb[axes[i]] = cc_tensor_geti(tp, i);
            pe[axes[i]] = cc_tensor_geti(tp, i + naxes);
        }
        const cc_tensor *tv = n->n_in > 2 && n->in[2] >= 0 ? in[2] : NULL;
        if (tv) {
            if (tv->dtype != x->dtype) return cc_errf(e, CC_E_SHAPE, "Pad: constant_value's type differs from the data's");
            value_input = 1;
        }
    }

    int64_t total_map = 0, outd[CC_MAX_DIMS];
    for (int i = 0; i < nd; i++) {
        if (pb[i] < -CC_MAX_DIM || pb[i] > CC_MAX_DIM || pe[i] < -CC_MAX_DIM || pe[i] > CC_MAX_DIM)
            return cc_errf(e, CC_E_LIMIT, "Pad: pads of axis %d (%lld, %lld) are out of range", i, (long long)pb[i], (long long)pe[i]);
        outd[i] = x->dims[i] + pb[i] + pe[i];
        if (outd[i] < 0) return cc_errf(e, CC_E_SHAPE, "Pad: negative pads crop more than axis %d holds", i);
        if (mode != PAD_CONSTANT && x->dims[i] == 0 && outd[i] > 0)
            return cc_errf(e, CC_E_SHAPE, "Pad: cannot %s-pad an empty axis", ms);
        if (outd[i] > CC_MAX_DIM) return cc_errf(e, CC_E_LIMIT, "Pad: output too large");
        total_map += outd[i];
    }
    /* the index maps hold one entry per output position along each axis: never
     * more than the output itself (unless it is empty), and bounded so that a
     * hostile pads value cannot make prepare allocate gigabytes before the
     * tensor size limit is checked */
    int64_t out_numel = cc_numel(outd, nd);
    if (out_numel < 0 || total_map > out_numel + 64 || total_map > ((int64_t)1 << 22))
        return cc_errf(e, CC_E_LIMIT, "Pad: output axes too long (%lld positions in all, at most %d supported)",
                       (long long)total_map, 1 << 22);
    pad_params *p = calloc(1, sizeof *p + (size_t)total_map * sizeof(int64_t));
    if (!p) return cc_errf(e, CC_E_NOMEM, "Pad: out of memory");
    p->ndim = nd;
    p->mode = mode;
    p->value = value;
    p->value_input = value_input;
    int64_t off = 0, stride = 1;
    for (int i = nd - 1; i >= 0; i--) {
        p->in_stride[i] = stride;
        stride *= x->dims[i];
    }
    for (int i = 0; i < nd; i++) {
        p->in[i] = x->dims[i];
        p->out[i] = outd[i];
        p->pb[i] = pb[i];
        p->map[i] = p->maps + off;
        for (int64_t o = 0; o < outd[i]; o++) p->map[i][o] = pad_source(o, pb[i], x->dims[i], mode);
        off += outd[i];
    }
    p->in_numel = cc_numel(p->in, nd);
    p->out_numel = cc_numel(p->out, nd);
    free(n->params);
    n->params = p;
    out[0]->dtype = x->dtype;
    out[0]->ndim = nd;
    for (int i = 0; i < nd; i++) out[0]->dims[i] = outd[i];
    return CC_E_OK;
}

/* Input offset of output row r (all axes but the last), -1 if the row lies
 * in constant padding. */
static int64_t pad_row_source(const pad_params *p, int64_t r)
{
    int64_t src = 0;
    for (int a = p->ndim - 2; a >= 0; a--) {
        int64_t o = r % p->out[a];
        r /= p->out[a];
        int64_t i = p->map[a][o];
        if (i < 0) return -1;
        src += i * p->in_stride[a];
    }
    return src;
}

/* One forward per element type (float activations; int64 shape data folded at load). */
#define PAD_FORWARD(NAME, T)                                                                        \
    static void NAME(const pad_params *p, const T *x, T *y, T v)                                    \
    {                                                                                               \
        const int64_t L = p->out[p->ndim - 1], rows = L ? p->out_numel / L : 0;                     \
        const int64_t *lm = p->map[p->ndim - 1];                                                    \
        /* the copied middle of each row: o in [m0, m1) maps to o - pb */                           \
        const int64_t pbl = p->pb[p->ndim - 1];                                                     \
        int64_t m0 = pbl > 0 ? pbl : 0, m1 = pbl + p->in[p->ndim - 1];                               \
        if (m0 > L) m0 = L;   /* a begin pad longer than the output (end pad negative) */           \
        if (m1 > L) m1 = L;                                                                         \
        if (m1 < m0) m1 = m0;                                                                       \
        _Pragma("omp parallel for schedule(static) if (p->out_numel >= CC_PAR_MIN)")                \
        for (int64_t r = 0; r < rows; r++) {                                                        \
            T *yr = y + r * L;                                                                      \
            int64_t src = pad_row_source(p, r);                                                     \
            if (src < 0) {                                                                          \
                for (int64_t o = 0; o < L; o++) yr[o] = v;                                          \
                continue;                                                                           \
            }                                                                                       \
            const T *xr = x + src;                                                                  \
            for (int64_t o = 0; o < m0; o++) yr[o] = lm[o] < 0 ? v : xr[lm[o]];                     \
            if (m1 > m0) memcpy(yr + m0, xr + (m0 - pbl), (size_t)(m1 - m0) * sizeof *yr);          \
            for (int64_t o = m1; o < L; o++) yr[o] = lm[o] < 0 ? v : xr[lm[o]];                     \
        }                                                                                           \
    }
PAD_FORWARD(pad_forward_f32, float)
PAD_FORWARD(pad_forward_i64, int64_t)

static int pad_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)ctx;
    const pad_params *p = n->params;
    const cc_tensor *tv = p->value_input && in[2]->numel > 0 ? in[2] : NULL;
    if (in[0]->dtype == CC_DT_INT64)
        pad_forward_i64(p, in[0]->data, out[0]->data, tv ? ((const int64_t *)tv->data)[0] : (int64_t)p->value);
    else
        pad_forward_f32(p, in[0]->data, out[0]->data, tv ? ((const float *)tv->data)[0] : p->value);
    return CC_E_OK;
}

static int pad_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy, float **gx, int K,
                        cc_ctx *ctx)
{
    (void)out; (void)ctx;
    const pad_params *p = n->params;
    if (!gy[0] || !gx[0] || K <= 0 || in[0]->dtype != CC_DT_FLOAT) return CC_E_OK;
    const int64_t L = p->out[p->ndim - 1], rows = L ? p->out_numel / L : 0;
    const int64_t *lm = p->map[p->ndim - 1];
    /* constant mode maps injectively, so rows may run in parallel; reflect and
     * edge send several rows to one input row, so only the seeds do */
    const int rows_par = p->mode == PAD_CONSTANT && p->out_numel >= CC_PAR_MIN;
    const int seeds_par = !rows_par && K > 1 && K * p->out_numel >= CC_PAR_MIN;
#pragma omp parallel for schedule(static) if (seeds_par)
    for (int k = 0; k < K; k++) {
        const float *g = gy[0] + k * p->out_numel;
        float *gxk = gx[0] + k * p->in_numel;
#pragma omp parallel for schedule(static) if (rows_par)
        for (int64_t r = 0; r < rows; r++) {
            int64_t src = pad_row_source(p, r);
            if (src < 0) continue;
            const float *gr = g + r * L;
            float *xr = gxk + src;
            for (int64_t o = 0; o < L; o++)
                if (lm[o] >= 0) xr[lm[o]] += gr[o];
        }
    }
    return CC_E_OK;
}

const cc_op cc_op_pad = { "Pad", 2, pad_prepare, pad_forward, pad_backward };
