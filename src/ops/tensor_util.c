/* Helpers of the tensor op family: constant-input reading, strided views
 * (copy and its scatter-add backward), broadcast strides. */
#include "tensor_util.h"

#include <string.h>

void cct_strides(const int64_t *dims, int nd, int64_t *str)
{
    int64_t s = 1;
    for (int k = nd - 1; k >= 0; k--) {
        str[k] = s;
        s *= dims[k];
    }
}

int cct_need(const cc_node *n, cc_tensor **in, int k, cc_err *e)
{
    for (int i = 0; i < k; i++)
        if (!cct_has(n, in, i))
            return cc_errf(e, CC_E_PARSE, "%s '%s': needs %d input%s, input %d is missing",
                           n->op_type, n->name, k, k > 1 ? "s" : "", i);
    return CC_E_OK;
}

int cct_const_ints(const cc_node *n, const cc_tensor *t, const char *what,
                   int64_t *dst, int max, int *count, cc_err *e)
{
    if (!t) return cc_errf(e, CC_E_PARSE, "%s '%s': the %s input is missing", n->op_type, n->name, what);
    if (!t->is_const || !t->data)
        return cc_errf(e, CC_E_UNSUPPORTED,
                       "%s '%s': input '%s' (%s) must be a constant known at load time",
                       n->op_type, n->name, t->name ? t->name : "?", what);
    int64_t cnt = cc_numel(t->dims, t->ndim);
    if (cnt < 0 || cnt > max)
        return cc_errf(e, CC_E_LIMIT, "%s '%s': input '%s' (%s) has %lld values, at most %d supported",
                       n->op_type, n->name, t->name ? t->name : "?", what, (long long)cnt, max);
    for (int64_t i = 0; i < cnt; i++) dst[i] = cc_tensor_geti(t, i);
    *count = (int)cnt;
    return CC_E_OK;
}

int cct_axes(const cc_node *n, cc_tensor **in, int since, int idx, const char *name,
             int64_t *dst, int max, int *count, cc_err *e)
{
    *count = -1;
    if (n->opset >= since) {
        if (!cct_has(n, in, idx)) return CC_E_OK;
        return cct_const_ints(n, in[idx], name, dst, max, count, e);
    }
    if (!cc_attr_find(n, name)) return CC_E_OK;
    int c = cc_attr_ints(n, name, dst, max);
    if (c < 0) return cc_errf(e, CC_E_LIMIT, "%s '%s': too many %s", n->op_type, n->name, name);
    *count = c;
    return CC_E_OK;
}

void cct_view_simplify(cct_view *v)
{
    int m = 0;
    for (int k = 0; k < v->nd; k++) {
        if (v->dims[k] == 0) { v->nd = 1; v->dims[0] = 0; v->str[0] = 1; return; }
        if (v->dims[k] == 1) continue;
        if (m > 0 && v->str[m - 1] == v->str[k] * v->dims[k]) {
            v->dims[m - 1] *= v->dims[k];
            v->str[m - 1] = v->str[k];
        } else {
            v->dims[m] = v->dims[k];
            v->str[m] = v->str[k];
            m++;
        }
    }
    if (m == 0) { v->dims[0] = 1; v->str[0] = 1; m = 1; }
    v->nd = m;
}

static int64_t view_numel(const cct_view *v)
{
    int64_t t = 1;
    for (int k = 0; k < v->nd; k++) t *= v->dims[k];
    return t;
}

void cct_view_copy(const cct_view *v, void *dst, const void *src, size_t esz)
{
    int64_t total = view_numel(v);
    if (total == 0) return;
    int nd = v->nd;
    int64_t inner = v->dims[nd - 1], is = v->str[nd - 1], rows = total / inner;
#pragma omp parallel for schedule(static) if (total > CC_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int64_t off = v->base + cct_unravel(r, nd - 1, v->dims, v->str);
        if (is == 1) {
            memcpy((char *)dst + (size_t)(r * inner) * esz, (const char *)src + (size_t)off * esz,
                   (size_t)inner * esz);
        } else if (esz == sizeof(float)) {
            float *d = (float *)dst + r * inner;
            const float *s = (const float *)src + off;
            for (int64_t j = 0; j < inner; j++) d[j] = s[j * is];
        } else {
            int64_t *d = (int64_t *)dst + r * inner;
            const int64_t *s = (const int64_t *)src + off;
            for (int64_t j = 0; j < inner; j++) d[j] = s[j * is];
        }
    }
}

/* One seed's scatter-add; parallel over rows only when rows hit distinct elements. */
static void view_add_one(const cct_view *v, float *g, const float *gy, int par)
{
    int nd = v->nd;
    int64_t total = view_numel(v);
    int64_t inner = v->dims[nd - 1], is = v->str[nd - 1], rows = total / inner;
#pragma omp parallel for schedule(static) if (par && total > CC_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        float *d = g + v->base + cct_unravel(r, nd - 1, v->dims, v->str);
        const float *s = gy + r * inner;
        for (int64_t j = 0; j < inner; j++) d[j * is] += s[j];
    }
}

void cct_view_add_back(const cct_view *v, float *gsrc, const float *gy, int64_t src_numel,
                       int64_t out_numel, int K)
{
    if (view_numel(v) == 0) return;
    int unique = 1;
    for (int k = 0; k < v->nd; k++)
        if (v->str[k] == 0 && v->dims[k] > 1) unique = 0;
    if (unique || K == 1) {
        for (int k = 0; k < K; k++) view_add_one(v, gsrc + k * src_numel, gy + k * out_numel, unique);
        return;
    }
    /* Several seeds write disjoint slices: parallel over seeds instead. */
#pragma omp parallel for schedule(static) if ((int64_t)K * out_numel > CC_PAR_MIN)
    for (int k = 0; k < K; k++) view_add_one(v, gsrc + k * src_numel, gy + k * out_numel, 0);
}

void cct_add(float *gx, const float *gy, int64_t n)
{
#pragma omp parallel for simd schedule(static) if (n > CC_PAR_MIN)
    for (int64_t i = 0; i < n; i++) gx[i] += gy[i];
}

void cct_bcast_strides(const cc_tensor *t, int nd, int64_t *str)
{
    int64_t ts[CC_MAX_DIMS];
    cct_strides(t->dims, t->ndim, ts);
    for (int k = 0; k < nd; k++) {
        int tk = k - (nd - t->ndim);
        str[k] = (tk >= 0 && t->dims[tk] != 1) ? ts[tk] : 0;
    }
}

void cct_same_shape(cc_tensor *out, const cc_tensor *in)
{
    out->dtype = in->dtype;
    out->ndim = in->ndim;
    memcpy(out->dims, in->dims, sizeof out->dims);
}
