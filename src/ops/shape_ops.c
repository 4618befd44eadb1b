/* Ops that only change the shape (Flatten, Reshape, Squeeze, Unsqueeze: a copy
 * forward, an add backward) and ops that make shape data (Shape, Size, Constant,
 * ConstantOfShape, Range).  All work on float and int64 data. */
#include "tensor_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- copy-like ------------------------------------------------------------- */

/* The graph is static, so a plain copy is enough (no aliasing tricks). */
static int copy_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)n; (void)ctx;
    if (out[0]->data != in[0]->data && in[0]->numel > 0)
        memcpy(out[0]->data, in[0]->data, (size_t)in[0]->numel * cct_esz(in[0]->dtype));
    return CC_E_OK;
}

static int copy_backward(const cc_node *n, cc_tensor **in, cc_tensor **out,
                         float **gy, float **gx, int K, cc_ctx *ctx)
{
    (void)n; (void)out; (void)ctx;
    if (gy[0] && gx[0]) cct_add(gx[0], gy[0], (int64_t)K * in[0]->numel);
    return CC_E_OK;
}

static int flatten_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    int bad = cct_need(n, in, 1, e);
    if (bad) return bad;
    const cc_tensor *x = in[0];
    int64_t axis = cc_attr_int(n, "axis", 1);
    if (axis < 0) axis += x->ndim;
    if (axis < 0 || axis > x->ndim)
        return cc_errf(e, CC_E_SHAPE, "Flatten '%s': axis %lld out of range for rank %d",
                       n->name, (long long)cc_attr_int(n, "axis", 1), x->ndim);
    out[0]->dtype = x->dtype;
    out[0]->ndim = 2;
    out[0]->dims[0] = cc_numel(x->dims, (int)axis);
    out[0]->dims[1] = cc_numel(x->dims + axis, x->ndim - (int)axis);
    return CC_E_OK;
}

static int reshape_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    int bad = cct_need(n, in, 1, e);
    if (bad) return bad;
    const cc_tensor *x = in[0];
    int64_t s[CC_MAX_DIMS];
    int cnt, rc;
    if (cct_has(n, in, 1)) {
        rc = cct_const_ints(n, in[1], "shape", s, CC_MAX_DIMS, &cnt, e);
        if (rc) return rc;
    } else {   /* opset < 5 kept the shape in an attribute */
        cnt = cc_attr_ints(n, "shape", s, CC_MAX_DIMS);
        if (cnt < 0) return cc_errf(e, CC_E_LIMIT, "Reshape '%s': shape has too many dims", n->name);
    }
    int allowzero = n->opset >= 14 && cc_attr_int(n, "allowzero", 0) != 0;
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < cnt; i++) {
        if (s[i] == 0 && !allowzero) {
            if (i >= x->ndim)
                return cc_errf(e, CC_E_SHAPE, "Reshape '%s': shape[%d] = 0 copies a dim the input lacks",
                               n->name, i);
            s[i] = x->dims[i];
        }
        if (s[i] == -1) {
            if (infer >= 0) return cc_errf(e, CC_E_SHAPE, "Reshape '%s': more than one -1 in shape", n->name);
            infer = i;
        } else if (s[i] < 0) {
            return cc_errf(e, CC_E_SHAPE, "Reshape '%s': invalid dim %lld", n->name, (long long)s[i]);
        } else {
            if (s[i] > CC_MAX_DIM || (s[i] && known > INT64_MAX / s[i]))
                return cc_errf(e, CC_E_LIMIT, "Reshape '%s': shape[%d] = %lld is too large", n->name, i, (long long)s[i]);
            known *= s[i];
        }
    }
    int64_t total = cc_numel(x->dims, x->ndim);
    if (infer >= 0) {
        if (known == 0 || total % known)
            return cc_errf(e, CC_E_SHAPE, "Reshape '%s': cannot infer -1 (%lld elements, %lld known)",
                           n->name, (long long)total, (long long)known);
        s[infer] = total / known;
        known *= s[infer];
    }
    if (known != total)
        return cc_errf(e, CC_E_SHAPE, "Reshape '%s': %lld elements cannot take a shape of %lld",
                       n->name, (long long)total, (long long)known);
    out[0]->dtype = x->dtype;
    out[0]->ndim = cnt;
    memcpy(out[0]->dims, s, (size_t)cnt * sizeof *s);
    return CC_E_OK;
}

static int squeeze_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    int bad = cct_need(n, in, 1, e);
    if (bad) return bad;
    const cc_tensor *x = in[0];
    int64_t ax[CC_MAX_DIMS];
    int cnt, rc = cct_axes(n, in, 13, 1, "axes", ax, CC_MAX_DIMS, &cnt, e);
    if (rc) return rc;
    int drop[CC_MAX_DIMS] = { 0 };
    if (cnt <= 0) {
        for (int k = 0; k < x->ndim; k++) drop[k] = x->dims[k] == 1;
    } else {
        for (int i = 0; i < cnt; i++) {
            int a = cct_axis(ax[i], x->ndim);
            if (a < 0 || x->dims[a] != 1)
                return cc_errf(e, CC_E_SHAPE, "Squeeze '%s': axis %lld is not a unit dim of a rank-%d input",
                               n->name, (long long)ax[i], x->ndim);
            drop[a] = 1;
        }
    }
    int r = 0;
    for (int k = 0; k < x->ndim; k++)
        if (!drop[k]) out[0]->dims[r++] = x->dims[k];
    out[0]->ndim = r;
    out[0]->dtype = x->dtype;
    return CC_E_OK;
}

static int unsqueeze_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    int bad = cct_need(n, in, 1, e);
    if (bad) return bad;
    const cc_tensor *x = in[0];
    int64_t ax[CC_MAX_DIMS];
    int cnt, rc = cct_axes(n, in, 13, 1, "axes", ax, CC_MAX_DIMS, &cnt, e);
    if (rc) return rc;
    if (cnt <= 0) return cc_errf(e, CC_E_ARG, "Unsqueeze '%s': axes are required", n->name);
    int r = x->ndim + cnt;
    if (r > CC_MAX_DIMS)
        return cc_errf(e, CC_E_LIMIT, "Unsqueeze '%s': rank %d exceeds %d", n->name, r, CC_MAX_DIMS);
    int ins[CC_MAX_DIMS] = { 0 };
    for (int i = 0; i < cnt; i++) {
        int a = cct_axis(ax[i], r);   /* axes index the output */
        if (a < 0 || ins[a])
            return cc_errf(e, CC_E_SHAPE, "Unsqueeze '%s': bad or repeated axis %lld for output rank %d",
                           n->name, (long long)ax[i], r);
        ins[a] = 1;
    }
    for (int k = 0, j = 0; k < r; k++) out[0]->dims[k] = ins[k] ? 1 : x->dims[j++];
    out[0]->ndim = r;
    out[0]->dtype = x->dtype;
    return CC_E_OK;
}

const cc_op cc_op_Flatten = { "Flatten", 1, flatten_prepare, copy_forward, copy_backward };
const cc_op cc_op_Reshape = { "Reshape", 1, reshape_prepare, copy_forward, copy_backward };
const cc_op cc_op_Squeeze = { "Squeeze", 1, squeeze_prepare, copy_forward, copy_backward };
const cc_op cc_op_Unsqueeze = { "Unsqueeze", 1, unsqueeze_prepare, copy_forward, copy_backward };

/* ---- Shape, Size: constants known from the static shape ------------------- */

static void shape_range(const cc_node *n, int r, int64_t *s0, int64_t *s1)
{
    int64_t a = 0, b = r;
    if (n->opset >= 15) {
        a = cc_attr_int(n, "start", 0);
        b = cc_attr_int(n, "end", r);
        if (a < 0) a += r;
        if (b < 0) b += r;
        a = a < 0 ? 0 : a > r ? r : a;
        b = b < 0 ? 0 : b > r ? r : b;
        if (b < a) b = a;
    }
    *s0 = a;
    *s1 = b;
}

static int shape_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)ctx;
    int64_t a, b;
    shape_range(n, in[0]->ndim, &a, &b);
    for (int64_t i = a; i < b; i++) ((int64_t *)out[0]->data)[i - a] = in[0]->dims[i];
    return CC_E_OK;
}

static int shape_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    int bad = cct_need(n, in, 1, e);
    if (bad) return bad;
    (void)e;
    int64_t a, b;
    shape_range(n, in[0]->ndim, &a, &b);
    out[0]->dtype = CC_DT_INT64;
    out[0]->ndim = 1;
    out[0]->dims[0] = b - a;
    int rc = cc_tensor_alloc(out[0]);
    if (rc) return cc_errf(e, rc, "Shape '%s': out of memory", n->name);
    out[0]->is_const = 1;
    return shape_forward(n, in, out, NULL);
}

static int size_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)n; (void)ctx;
    *(int64_t *)out[0]->data = cc_numel(in[0]->dims, in[0]->ndim);
    return CC_E_OK;
}

static int size_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    int bad = cct_need(n, in, 1, e);
    if (bad) return bad;
    out[0]->dtype = CC_DT_INT64;
    out[0]->ndim = 0;
    int rc = cc_tensor_alloc(out[0]);
    if (rc) return cc_errf(e, rc, "Size '%s': out of memory", n->name);
    out[0]->is_const = 1;
    return size_forward(n, in, out, NULL);
}

const cc_op cc_op_Shape = { "Shape", 1, shape_prepare, shape_forward, NULL };
const cc_op cc_op_Size = { "Size", 1, size_prepare, size_forward, NULL };

/* ---- Constant, ConstantOfShape --------------------------------------------- */

/* Element i of an attribute tensor as stored by the decoder (int32/double kept
 * narrow or wide there are converted here, to be safe). */
static double attr_tensor_get(const cc_tensor *t, int64_t i, int *is_float)
{
    switch (t->dtype) {
    case CC_DT_FLOAT: *is_float = 1; return ((const float *)t->data)[i];
    case CC_DT_DOUBLE: *is_float = 1; return ((const double *)t->data)[i];
    case CC_DT_INT32: *is_float = 0; return ((const int32_t *)t->data)[i];
    default: *is_float = 0; return (double)((const int64_t *)t->data)[i];
    }
}

static int constant_fill(const cc_node *n, cc_tensor *out, cc_err *e)
{
    const cc_attr *a = NULL;
    static const char *const names[] = { "value", "value_float", "value_floats", "value_int", "value_ints" };
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !a; i++) a = cc_attr_find(n, names[i]);
    if (!a)
        return cc_errf(e, CC_E_UNSUPPORTED, "Constant '%s': needs one of value, value_float(s), value_int(s)"
                       " (sparse and string values are not supported)", n->name);
    int rc;
    if (a->type == CC_ATTR_TENSOR && a->t) {
        const cc_tensor *t = a->t;
        if (t->dtype != CC_DT_FLOAT && t->dtype != CC_DT_DOUBLE && t->dtype != CC_DT_INT32 &&
            t->dtype != CC_DT_INT64 && t->dtype != CC_DT_BOOL)
            return cc_errf(e, CC_E_UNSUPPORTED, "Constant '%s': tensor data type %d not supported", n->name, t->dtype);
        out->ndim = t->ndim;
        memcpy(out->dims, t->dims, sizeof out->dims);
        out->dtype = t->dtype == CC_DT_FLOAT || t->dtype == CC_DT_DOUBLE ? CC_DT_FLOAT : CC_DT_INT64;
        if ((rc = cc_tensor_alloc(out))) return cc_errf(e, rc, "Constant '%s': out of memory", n->name);
        if (out->numel && !t->data)
            return cc_errf(e, CC_E_PARSE, "Constant '%s': value tensor has no data", n->name);
        for (int64_t i = 0; i < out->numel; i++) {
            int f;
            double v = attr_tensor_get(t, i, &f);
            if (out->dtype == CC_DT_FLOAT) ((float *)out->data)[i] = (float)v;
            else ((int64_t *)out->data)[i] = t->dtype == CC_DT_INT32 ? (int64_t)v : ((const int64_t *)t->data)[i];
        }
    } else if (a->type == CC_ATTR_FLOAT || a->type == CC_ATTR_INT) {
        out->ndim = 0;
        out->dtype = a->type == CC_ATTR_FLOAT ? CC_DT_FLOAT : CC_DT_INT64;
        if ((rc = cc_tensor_alloc(out))) return cc_errf(e, rc, "Constant '%s': out of memory", n->name);
        if (a->type == CC_ATTR_FLOAT) *(float *)out->data = a->f;
        else *(int64_t *)out->data = a->i;
    } else if (a->type == CC_ATTR_FLOATS || a->type == CC_ATTR_INTS) {
        out->ndim = 1;
        out->dims[0] = a->n;
        out->dtype = a->type == CC_ATTR_FLOATS ? CC_DT_FLOAT : CC_DT_INT64;
        if ((rc = cc_tensor_alloc(out))) return cc_errf(e, rc, "Constant '%s': out of memory", n->name);
        if (a->n) memcpy(out->data, a->type == CC_ATTR_FLOATS ? (void *)a->floats : (void *)a->ints,
                         (size_t)a->n * cct_esz(out->dtype));
    } else {
        return cc_errf(e, CC_E_PARSE, "Constant '%s': attribute '%s' has the wrong type", n->name, a->name);
    }
    out->is_const = 1;
    return CC_E_OK;
}

static int constant_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    (void)in;
    return constant_fill(n, out[0], e);
}

/* The value was written in prepare; nothing to do. */
static int noop_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)n; (void)in; (void)out; (void)ctx;
    return CC_E_OK;
}

const cc_op cc_op_Constant = { "Constant", 1, constant_prepare, noop_forward, NULL };

/* The fill value: attribute `value` (a 1-element tensor), default float 0. */
static int cos_value(const cc_node *n, int *dtype, double *v, cc_err *e)
{
    const cc_attr *a = cc_attr_find(n, "value");
    *dtype = CC_DT_FLOAT;
    *v = 0;
    if (!a) return CC_E_OK;
    if (a->type != CC_ATTR_TENSOR || !a->t || cc_numel(a->t->dims, a->t->ndim) != 1 || !a->t->data)
        return cc_errf(e, CC_E_PARSE, "ConstantOfShape '%s': value must be a one-element tensor", n->name);
    int f;
    *v = attr_tensor_get(a->t, 0, &f);
    *dtype = f ? CC_DT_FLOAT : CC_DT_INT64;   /* bool kept as int64 0/1 */
    return CC_E_OK;
}

static int cos_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    int bad = cct_need(n, in, 1, e);
    if (bad) return bad;
    int64_t s[CC_MAX_DIMS];
    int cnt, dt;
    double v;
    int rc = cct_const_ints(n, in[0], "shape", s, CC_MAX_DIMS, &cnt, e);
    if (rc) return rc;
    if ((rc = cos_value(n, &dt, &v, e))) return rc;
    for (int i = 0; i < cnt; i++)
        if (s[i] < 0) return cc_errf(e, CC_E_SHAPE, "ConstantOfShape '%s': negative dim", n->name);
    out[0]->dtype = dt;
    out[0]->ndim = cnt;
    memcpy(out[0]->dims, s, (size_t)cnt * sizeof *s);
    return CC_E_OK;
}

static int cos_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)in; (void)ctx;
    int dt;
    double v;
    if (cos_value(n, &dt, &v, NULL)) return CC_E_PARSE;
    int64_t cnt = out[0]->numel;
    if (dt == CC_DT_FLOAT) for (int64_t i = 0; i < cnt; i++) ((float *)out[0]->data)[i] = (float)v;
    else for (int64_t i = 0; i < cnt; i++) ((int64_t *)out[0]->data)[i] = (int64_t)v;
    return CC_E_OK;
}

const cc_op cc_op_ConstantOfShape = { "ConstantOfShape", 9, cos_prepare, cos_forward, NULL };

/* ---- Range ------------------------------------------------------------------ */

static int range_count(const cc_node *n, cc_tensor **in, int64_t *cnt, cc_err *e)
{
    for (int i = 0; i < 3; i++) {
        if (!in[i]->is_const || !in[i]->data)
            return cc_errf(e, CC_E_UNSUPPORTED, "Range '%s': start, limit and delta must be constants known at load",
                           n->name);
        if (cc_numel(in[i]->dims, in[i]->ndim) != 1 || in[i]->dtype != in[0]->dtype)
            return cc_errf(e, CC_E_SHAPE, "Range '%s': start, limit, delta must be scalars of one type", n->name);
    }
    double s, l, d;
    if (in[0]->dtype == CC_DT_FLOAT) {
        s = *(float *)in[0]->data; l = *(float *)in[1]->data; d = *(float *)in[2]->data;
    } else {
        s = (double)*(int64_t *)in[0]->data; l = (double)*(int64_t *)in[1]->data; d = (double)*(int64_t *)in[2]->data;
    }
    if (d == 0) return cc_errf(e, CC_E_ARG, "Range '%s': delta is zero", n->name);
    double c = ceil((l - s) / d);
    if (c != c) return cc_errf(e, CC_E_ARG, "Range '%s': start, limit or delta is not a number", n->name);
    if (c > (double)CC_MAX_DIM)
        return cc_errf(e, CC_E_LIMIT, "Range '%s': %g elements is too many", n->name, c);
    *cnt = c > 0 ? (int64_t)c : 0;
    return CC_E_OK;
}

static int range_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    int bad = cct_need(n, in, 3, e);
    if (bad) return bad;
    int64_t cnt = 0;
    int rc = range_count(n, in, &cnt, e);
    if (rc) return rc;
    out[0]->dtype = in[0]->dtype;
    out[0]->ndim = 1;
    out[0]->dims[0] = cnt;
    return CC_E_OK;
}

static int range_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)n; (void)ctx;
    int64_t cnt = out[0]->numel;
    if (in[0]->dtype == CC_DT_FLOAT) {
        /* start + i*delta, like the ONNX reference (no accumulated rounding) */
        float s = *(float *)in[0]->data, d = *(float *)in[2]->data;
        for (int64_t i = 0; i < cnt; i++) ((float *)out[0]->data)[i] = s + (float)i * d;
    } else {
        int64_t s = *(int64_t *)in[0]->data, d = *(int64_t *)in[2]->data;
        /* in uint64: wraps instead of overflowing; every value lies between start and limit */
        for (int64_t i = 0; i < cnt; i++) ((int64_t *)out[0]->data)[i] = (int64_t)((uint64_t)s + (uint64_t)i * (uint64_t)d);
    }
    return CC_E_OK;
}

const cc_op cc_op_Range = { "Range", 11, range_prepare, range_forward, NULL };
