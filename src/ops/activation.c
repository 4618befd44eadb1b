/* Unary element-wise ops: activations and simple math, plus Identity, Dropout
 * (inference: a copy) and Cast.  Each kernel is one forward expression of x and
 * one backward expression of x, y = f(x) and the incoming gradient g; al and be
 * are the op's two scalar parameters (alpha/beta, or min/max for Clip).
 * Boundary conventions follow PyTorch's autograd (Relu: x > 0; Clip: lo <= x <= hi). */
#include "ew.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static inline float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }
/* log(1 + e^x) without overflow for large x. */
static inline float softplus(float x) { return x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x)); }
static inline float mish_grad(float x, float g)
{
    float t = tanhf(softplus(x));
    return g * (t + x * sigm(x) * (1 - t * t));
}

/* X(Name, since, int64 forward?, forward(x, al, be), backward(x, y, g, al, be)) */
#define UNARY_LIST(X) \
    X(Relu, 6, 1, (x > 0 ? x : 0), (x > 0 ? g : 0)) \
    X(LeakyRelu, 6, 0, (x > 0 ? x : al * x), (x > 0 ? g : al * g)) \
    X(Clip, 6, 1, (x < al ? al : x > be ? be : x), (x >= al && x <= be ? g : 0)) \
    X(Sigmoid, 6, 0, sigm(x), g * y * (1 - y)) \
    X(Tanh, 6, 0, tanhf(x), g * (1 - y * y)) \
    X(HardSigmoid, 6, 0, fminf(fmaxf(al * x + be, 0), 1), \
      (al * x + be > 0 && al * x + be < 1 ? al * g : 0)) \
    X(HardSwish, 14, 0, x * fminf(fmaxf(x + 3, 0), 6) / 6, \
      (x < -3 ? 0 : x <= 3 ? g * (x / 3 + 0.5f) : g)) \
    X(Elu, 6, 0, (x > 0 ? x : al * expm1f(x)), (x > 0 ? g : g * (y + al))) \
    X(Selu, 6, 0, (x > 0 ? be * x : be * al * expm1f(x)), (x > 0 ? g * be : g * (y + be * al))) \
    X(Softplus, 1, 0, softplus(x), g * sigm(x)) \
    X(Softsign, 1, 0, x / (1 + fabsf(x)), g / ((1 + fabsf(x)) * (1 + fabsf(x)))) \
    X(Mish, 18, 0, x * tanhf(softplus(x)), mish_grad(x, g)) \
    X(Exp, 6, 0, expf(x), g * y) \
    X(Log, 6, 0, logf(x), g / x) \
    X(Sqrt, 6, 0, sqrtf(x), g / (2 * y)) \
    X(Neg, 6, 1, -x, -g) \
    X(Abs, 6, 1, fabsf(x), (x > 0 ? g : x < 0 ? -g : 0)) \
    X(Reciprocal, 6, 0, 1 / x, -g * y * y) \
    X(Erf, 9, 0, erff(x), g * 1.1283791670955126f * expf(-x * x)) \
    X(Floor, 6, 0, floorf(x), 0) \
    X(Ceil, 6, 0, ceilf(x), 0) \
    X(Round, 11, 0, nearbyintf(x), 0) \
    X(Sign, 9, 1, (float)((x > 0) - (x < 0)), 0)

enum {
#define X_ENUM(NAME, SINCE, INTS, F, B) U_##NAME,
    UNARY_LIST(X_ENUM)
#undef X_ENUM
    U_COUNT
};

typedef void (*unary_fwd_fn)(int64_t n, const float *px, float *py, float al, float be);
typedef void (*unary_bwd_fn)(int64_t n, const float *px, const float *py, const float *pg,
                             float *pgx, float al, float be);

#define X_KERNELS(NAME, SINCE, INTS, F, B) \
    static void NAME##_fwd(int64_t n, const float *px, float *py, float al, float be) \
    { \
        (void)al; (void)be; \
        _Pragma("omp parallel for simd if(parallel: n > CC_PAR_MIN) schedule(static)") \
        for (int64_t i = 0; i < n; i++) { float x = px[i]; py[i] = (F); } \
    } \
    static void NAME##_bwd(int64_t n, const float *px, const float *py, const float *pg, \
                           float *pgx, float al, float be) \
    { \
        (void)al; (void)be; \
        _Pragma("omp parallel for simd if(parallel: n > CC_PAR_MIN) schedule(static)") \
        for (int64_t i = 0; i < n; i++) { \
            float x = px[i], y = py[i], g = pg[i]; \
            (void)x; (void)y; (void)g; \
            pgx[i] += (B); \
        } \
    }
UNARY_LIST(X_KERNELS)
#undef X_KERNELS

static const struct {
    unary_fwd_fn fwd;
    unary_bwd_fn bwd;
    int ints;
} ukern[U_COUNT] = {
#define X_TAB(NAME, SINCE, INTS, F, B) { NAME##_fwd, NAME##_bwd, INTS },
    UNARY_LIST(X_TAB)
#undef X_TAB
};

/* Clip bound from an optional scalar input (opset >= 11) or an attribute (< 11). */
static float clip_bound(const cc_node *n, cc_tensor **in, int i, const char *attr, float dflt)
{
    if (n->opset < 11) return cc_attr_float(n, attr, dflt);
    const cc_tensor *t = ew_in(n, in, i);
    if (!t || !t->data) return dflt;
    return t->dtype == CC_DT_FLOAT ? ((const float *)t->data)[0] : (float)cc_tensor_geti(t, 0);
}

static void unary_params(const cc_node *n, cc_tensor **in, int kind, float *al, float *be)
{
    *al = *be = 0;
    switch (kind) {
    case U_LeakyRelu: *al = cc_attr_float(n, "alpha", 0.01f); break;
    case U_Elu: *al = cc_attr_float(n, "alpha", 1.0f); break;
    case U_Selu:
        *al = cc_attr_float(n, "alpha", 1.67326319217681884765625f);
        *be = cc_attr_float(n, "gamma", 1.05070102214813232421875f);
        break;
    case U_HardSigmoid:
        *al = cc_attr_float(n, "alpha", 0.2f);
        *be = cc_attr_float(n, "beta", 0.5f);
        break;
    case U_Clip:
        *al = clip_bound(n, in, 1, "min", -INFINITY);
        *be = clip_bound(n, in, 2, "max", INFINITY);
        break;
    }
}

int cc_post_of_node(const cc_node *n, cc_tensor **in, cc_post *post)
{
    const cc_tensor *x = ew_in(n, in, 0);
    if (!x || x->dtype != CC_DT_FLOAT || n->n_out != 1) return 0;
    if (!strcmp(n->op->op_type, "Relu")) {
        post->kind = CC_POST_RELU;
        post->lo = post->hi = 0;
        return 1;
    }
    if (strcmp(n->op->op_type, "Clip")) return 0;
    for (int i = 1; i < n->n_in && i <= 2; i++) {
        const cc_tensor *t = ew_in(n, in, i);
        if (t && !(t->is_const && t->data)) return 0;
    }
    post->kind = CC_POST_CLIP;
    unary_params(n, in, U_Clip, &post->lo, &post->hi);
    return 1;
}

static int unary_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e, int kind)
{
    const cc_tensor *x = ew_in(n, in, 0);
    if (!x || n->n_out < 1) return cc_errf(e, CC_E_PARSE, "%s '%s': needs one input and one output", n->op_type, n->name);
    if (x->dtype != CC_DT_FLOAT && !ukern[kind].ints)
        return cc_errf(e, CC_E_UNSUPPORTED, "%s '%s': input '%s' must be float (got data type %d)",
                       n->op_type, n->name, x->name, x->dtype);
    if (kind == U_Clip && n->opset >= 11)
        for (int i = 1; i <= 2; i++) {
            const cc_tensor *t = ew_in(n, in, i);
            if (t && cc_numel(t->dims, t->ndim) != 1)
                return cc_errf(e, CC_E_SHAPE, "Clip '%s': %s must be a scalar", n->name, i == 1 ? "min" : "max");
        }
    out[0]->dtype = x->dtype;
    ew_copy_shape(out[0], x);
    return CC_E_OK;
}

/* int64 forward for the few ops that appear in shape arithmetic; unsigned math
 * keeps INT64_MIN well defined. */
static void unary_forward_int(const cc_node *n, cc_tensor **in, const cc_tensor *x, cc_tensor *y, int kind)
{
    const int64_t *px = x->data;
    int64_t *py = y->data, lo = INT64_MIN, hi = INT64_MAX;
    if (kind == U_Clip) {
        if (n->opset < 11) {
            const cc_attr *a = cc_attr_find(n, "min"), *b = cc_attr_find(n, "max");
            if (a) lo = (int64_t)cc_attr_float(n, "min", 0);
            if (b) hi = (int64_t)cc_attr_float(n, "max", 0);
        } else {
            const cc_tensor *a = ew_in(n, in, 1), *b = ew_in(n, in, 2);
            if (a && a->data) lo = cc_tensor_geti(a, 0);
            if (b && b->data) hi = cc_tensor_geti(b, 0);
        }
    }
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t v = px[i];
        switch (kind) {
        case U_Relu: v = v > 0 ? v : 0; break;
        case U_Clip: v = v < lo ? lo : v > hi ? hi : v; break;
        case U_Neg: v = (int64_t)(0 - (uint64_t)v); break;
        case U_Abs: v = v < 0 ? (int64_t)(0 - (uint64_t)v) : v; break;
        case U_Sign: v = (v > 0) - (v < 0); break;
        }
        py[i] = v;
    }
}

static int unary_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, int kind)
{
    const cc_tensor *x = in[0];
    if (x->dtype != CC_DT_FLOAT) {
        if (!ukern[kind].ints) return CC_E_UNSUPPORTED;
        unary_forward_int(n, in, x, out[0], kind);
        return CC_E_OK;
    }
    float al, be;
    unary_params(n, in, kind, &al, &be);
    ukern[kind].fwd(x->numel, x->data, out[0]->data, al, be);
    return CC_E_OK;
}

static int unary_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy,
                          float **gx, int K, int kind)
{
    const cc_tensor *x = in[0];
    if (!gy[0] || x->dtype != CC_DT_FLOAT) return CC_E_OK;
    float al, be;
    unary_params(n, in, kind, &al, &be);
    const float *px = x->data, *py = out[0]->data;
    int64_t m = x->numel;
    if (gx[0])
        for (int k = 0; k < K; k++)
            ukern[kind].bwd(m, px, py, gy[0] + k * m, gx[0] + k * m, al, be);
    /* Clip's bounds receive the gradient of the elements they clamp. */
    if (kind == U_Clip)
        for (int i = 1; i <= 2; i++) {
            if (i >= n->n_in || !gx[i] || !ew_in(n, in, i)) continue;
            for (int k = 0; k < K; k++) {
                const float *g = gy[0] + k * m;
                double s = 0;
                for (int64_t j = 0; j < m; j++)
                    if (i == 1 ? px[j] < al : px[j] > be) s += g[j];
                gx[i][k] += (float)s;
            }
        }
    return CC_E_OK;
}

#define X_OPS(NAME, SINCE, INTS, F, B) \
    static int NAME##_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e) \
    { return unary_prepare(n, in, out, e, U_##NAME); } \
    static int NAME##_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx) \
    { (void)ctx; return unary_forward(n, in, out, U_##NAME); } \
    static int NAME##_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy, \
                               float **gx, int K, cc_ctx *ctx) \
    { (void)ctx; return unary_backward(n, in, out, gy, gx, K, U_##NAME); } \
    const cc_op cc_op_##NAME = { #NAME, SINCE, NAME##_prepare, NAME##_forward, NAME##_backward };
UNARY_LIST(X_OPS)
#undef X_OPS

/* ---- Identity, Dropout (inference), Cast ------------------------------------ */

static size_t elsize(int dtype) { return dtype == CC_DT_FLOAT ? sizeof(float) : sizeof(int64_t); }

static void grad_pass(const cc_tensor *x, float **gy, float **gx, int K)
{
    if (!gy[0] || !gx[0] || x->dtype != CC_DT_FLOAT) return;
    int64_t m = (int64_t)K * x->numel;
    const float *g = gy[0];
    float *d = gx[0];
#pragma omp parallel for simd if(parallel: m > CC_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < m; i++) d[i] += g[i];
}

static int identity_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    const cc_tensor *x = ew_in(n, in, 0);
    if (!x || n->n_out < 1) return cc_errf(e, CC_E_PARSE, "%s '%s': needs one input and one output", n->op_type, n->name);
    out[0]->dtype = x->dtype;
    ew_copy_shape(out[0], x);
    return CC_E_OK;
}

static int identity_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)n; (void)ctx;
    if (out[0]->data != in[0]->data && in[0]->numel)
        memcpy(out[0]->data, in[0]->data, (size_t)in[0]->numel * elsize(in[0]->dtype));
    return CC_E_OK;
}

static int identity_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy,
                             float **gx, int K, cc_ctx *ctx)
{
    (void)n; (void)out; (void)ctx;
    grad_pass(in[0], gy, gx, K);
    return CC_E_OK;
}

const cc_op cc_op_Identity = { "Identity", 1, identity_prepare, identity_forward, identity_backward };

/* Dropout is the identity at inference.  The optional mask output is all true:
 * a load-time constant of int64 ones (bool is stored as int64 here). */
static int dropout_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    int rc = identity_prepare(n, in, out, e);
    if (rc) return rc;
    int training = 0;
    const cc_tensor *tm = ew_in(n, in, 2);
    if (n->opset >= 12 && tm) {
        if (!tm->is_const || !tm->data)
            return cc_errf(e, CC_E_UNSUPPORTED, "Dropout '%s': training_mode must be a constant", n->name);
        training = cc_tensor_geti(tm, 0) != 0;
    }
    if (training)
        return cc_errf(e, CC_E_UNSUPPORTED, "Dropout '%s': training mode is not supported (inference only)", n->name);
    cc_tensor *mask = ew_out(n, out, 1);
    if (mask) {
        mask->dtype = CC_DT_INT64;
        ew_copy_shape(mask, in[0]);
        if (cc_tensor_alloc(mask)) return cc_errf(e, CC_E_NOMEM, "Dropout '%s': out of memory", n->name);
        for (int64_t i = 0; i < mask->numel; i++) ((int64_t *)mask->data)[i] = 1;
        mask->is_const = 1;
    }
    return CC_E_OK;
}

static int dropout_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    identity_forward(n, in, out, ctx);
    cc_tensor *mask = ew_out(n, out, 1);
    if (mask && mask->data && !mask->is_const)
        for (int64_t i = 0; i < mask->numel; i++) ((int64_t *)mask->data)[i] = 1;
    return CC_E_OK;
}

const cc_op cc_op_Dropout = { "Dropout", 1, dropout_prepare, dropout_forward, identity_backward };

/* Cast between float and int64 storage: every ONNX integer type and bool are
 * held as int64, double as float. */
static int cast_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    const cc_tensor *x = ew_in(n, in, 0);
    if (!x || n->n_out < 1) return cc_errf(e, CC_E_PARSE, "Cast '%s': needs one input and one output", n->name);
    const cc_attr *a = cc_attr_find(n, "to");
    if (!a || a->type != CC_ATTR_INT) return cc_errf(e, CC_E_PARSE, "Cast '%s': missing integer attribute 'to'", n->name);
    switch (a->i) {
    case 1: case 11: out[0]->dtype = CC_DT_FLOAT; break;            /* float, double */
    case 2: case 3: case 4: case 5: case 6: case 7: case 9: case 12: case 13:
        out[0]->dtype = CC_DT_INT64; break;                         /* integers, bool */
    default:
        return cc_errf(e, CC_E_UNSUPPORTED, "Cast '%s': target data type %lld is not supported",
                       n->name, (long long)a->i);
    }
    ew_copy_shape(out[0], x);
    return CC_E_OK;
}

static int cast_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    const cc_tensor *x = in[0];
    cc_tensor *y = out[0];
    int to_bool = cc_attr_int(n, "to", 1) == 9;
    if (x->dtype == y->dtype && !to_bool) return identity_forward(n, in, out, ctx);
    int64_t m = x->numel;
    if (y->dtype == CC_DT_FLOAT) {
        const int64_t *px = x->data;
        float *py = y->data;
        for (int64_t i = 0; i < m; i++) py[i] = (float)px[i];
    } else if (x->dtype == CC_DT_FLOAT) {
        const float *px = x->data;
        int64_t *py = y->data;
        for (int64_t i = 0; i < m; i++) {
            float v = px[i];
            /* Truncate toward zero; NaN and out-of-range values (undefined in C) become 0. */
            py[i] = to_bool ? v != 0 : (v > -9.2e18f && v < 9.2e18f) ? (int64_t)v : 0;
        }
    } else {
        const int64_t *px = x->data;
        int64_t *py = y->data;
        for (int64_t i = 0; i < m; i++) py[i] = px[i] != 0;
    }
    return CC_E_OK;
}

static int cast_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy,
                         float **gx, int K, cc_ctx *ctx)
{
    (void)n; (void)ctx;
    if (out[0]->dtype == CC_DT_FLOAT) grad_pass(in[0], gy, gx, K);
    return CC_E_OK;
}

const cc_op cc_op_Cast = { "Cast", 6, cast_prepare, cast_forward, cast_backward };
