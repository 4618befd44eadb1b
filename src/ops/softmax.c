/* Softmax and LogSoftmax.  Before opset 13 the input is coerced to 2-D at
 * `axis` (default 1) and normalised over the flattened trailing block; from
 * opset 13 over the single dim `axis` (default -1).  Either way a row is L
 * values spaced `inner` apart, so one kernel serves both. */
#include "ew.h"

#include <math.h>

typedef struct { int64_t outer, L, inner; } sm_shape;

static int sm_shape_of(const cc_node *n, const cc_tensor *x, sm_shape *s)
{
    int old = n->opset < 13;
    int64_t axis = cc_attr_int(n, "axis", old ? 1 : -1);
    if (axis < 0) axis += x->ndim;
    if (axis < 0 || axis >= (x->ndim ? x->ndim : 1)) return -1;
    if (x->ndim == 0) { s->outer = s->L = s->inner = 1; return 0; }
    s->outer = cc_numel(x->dims, (int)axis);
    if (old) {
        s->L = cc_numel(x->dims + axis, x->ndim - (int)axis);
        s->inner = 1;
    } else {
        s->L = x->dims[axis];
        s->inner = cc_numel(x->dims + axis + 1, x->ndim - (int)axis - 1);
    }
    return 0;
}

static int sm_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    const cc_tensor *x = ew_in(n, in, 0);
    sm_shape s;
    if (!x || n->n_out < 1) return cc_errf(e, CC_E_PARSE, "%s '%s': needs one input and one output", n->op_type, n->name);
    if (x->dtype != CC_DT_FLOAT) return cc_errf(e, CC_E_UNSUPPORTED, "%s '%s': input must be float", n->op_type, n->name);
    if (sm_shape_of(n, x, &s))
        return cc_errf(e, CC_E_ARG, "%s '%s': axis %lld out of range for rank %d", n->op_type, n->name,
                       (long long)cc_attr_int(n, "axis", 0), x->ndim);
    out[0]->dtype = CC_DT_FLOAT;
    ew_copy_shape(out[0], x);
    return CC_E_OK;
}

/* Subtract the row max so exp never overflows. */
static int sm_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, int logsm)
{
    sm_shape s;
    sm_shape_of(n, in[0], &s);
    const float *px = in[0]->data;
    float *py = out[0]->data;
    int64_t L = s.L, st = s.inner;
    if (L == 0) return CC_E_OK;
#pragma omp parallel for if(in[0]->numel > CC_PAR_MIN) schedule(static)
    for (int64_t t = 0; t < s.outer * s.inner; t++) {
        int64_t base = (t / st) * L * st + t % st;
        const float *x = px + base;
        float *y = py + base;
        float mx = x[0];
        for (int64_t j = 1; j < L; j++) mx = x[j * st] > mx ? x[j * st] : mx;
        double sum = 0;
        if (logsm) {
            for (int64_t j = 0; j < L; j++) sum += expf(x[j * st] - mx);
            float lse = mx + (float)log(sum);
            for (int64_t j = 0; j < L; j++) y[j * st] = x[j * st] - lse;
        } else {
            for (int64_t j = 0; j < L; j++) { float v = expf(x[j * st] - mx); y[j * st] = v; sum += v; }
            float inv = (float)(1.0 / sum);
            for (int64_t j = 0; j < L; j++) y[j * st] *= inv;
        }
    }
    return CC_E_OK;
}

/* Softmax: gx = y (g - sum g y).  LogSoftmax: gx = g - exp(y) sum g. */
static int sm_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy, float **gx,
                       int K, int logsm)
{
    if (!gy[0] || !gx[0]) return CC_E_OK;
    sm_shape s;
    sm_shape_of(n, in[0], &s);
    const float *py = out[0]->data;
    int64_t L = s.L, st = s.inner, m = in[0]->numel, rows = s.outer * s.inner;
    if (L == 0) return CC_E_OK;
#pragma omp parallel for if((int64_t)K * m > CC_PAR_MIN) schedule(static)
    for (int64_t t = 0; t < K * rows; t++) {
        int64_t k = t / rows, r = t % rows, base = (r / st) * L * st + r % st;
        const float *y = py + base, *g = gy[0] + k * m + base;
        float *d = gx[0] + k * m + base;
        double dot = 0;
        if (logsm) {
            for (int64_t j = 0; j < L; j++) dot += g[j * st];
            for (int64_t j = 0; j < L; j++) d[j * st] += g[j * st] - expf(y[j * st]) * (float)dot;
        } else {
            for (int64_t j = 0; j < L; j++) dot += (double)g[j * st] * y[j * st];
            for (int64_t j = 0; j < L; j++) d[j * st] += y[j * st] * (g[j * st] - (float)dot);
        }
    }
    return CC_E_OK;
}

static int softmax_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{ (void)ctx; return sm_forward(n, in, out, 0); }
static int softmax_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy, float **gx, int K, cc_ctx *ctx)
{ (void)ctx; return sm_backward(n, in, out, gy, gx, K, 0); }
static int logsoftmax_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{ (void)ctx; return sm_forward(n, in, out, 1); }
static int logsoftmax_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy, float **gx, int K, cc_ctx *ctx)
{ (void)ctx; return sm_backward(n, in, out, gy, gx, K, 1); }

const cc_op cc_op_Softmax = { "Softmax", 1, sm_prepare, softmax_forward, softmax_backward };
const cc_op cc_op_LogSoftmax = { "LogSoftmax", 1, sm_prepare, logsoftmax_forward, logsoftmax_backward };
