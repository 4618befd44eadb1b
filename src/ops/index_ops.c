/* Ops that move elements around: Transpose, Slice, Expand, Tile (all strided
 * views of the input, see cct_view), Concat, Split and Gather.  Forward works on
 * float and int64 (shape chains); backward scatters / sums the gradient. */
#include "tensor_util.h"

#include <string.h>

/* ---- view ops --------------------------------------------------------------- */

typedef int (*view_fn)(const cc_node *n, cc_tensor **in, cct_view *v, int64_t *odims, int *ond, cc_err *e);

static int view_forward(view_fn mk, const cc_node *n, cc_tensor **in, cc_tensor **out)
{
    cct_view v;
    int64_t od[CC_MAX_DIMS];
    int ond;
    int rc = mk(n, in, &v, od, &ond, NULL);
    if (rc) return rc;
    cct_view_simplify(&v);
    cct_view_copy(&v, out[0]->data, in[0]->data, cct_esz(in[0]->dtype));
    return CC_E_OK;
}

static int view_backward(view_fn mk, const cc_node *n, cc_tensor **in, cc_tensor **out,
                         float **gy, float **gx, int K)
{
    if (!gy[0] || !gx[0]) return CC_E_OK;
    cct_view v;
    int64_t od[CC_MAX_DIMS];
    int ond;
    int rc = mk(n, in, &v, od, &ond, NULL);
    if (rc) return rc;
    cct_view_simplify(&v);
    cct_view_add_back(&v, gx[0], gy[0], in[0]->numel, out[0]->numel, K);
    return CC_E_OK;
}

static int view_prepare(view_fn mk, int nreq, cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    int rc = cct_need(n, in, nreq, e);
    if (rc) return rc;
    cct_view v;
    rc = mk(n, in, &v, out[0]->dims, &out[0]->ndim, e);
    if (rc) return rc;
    out[0]->dtype = in[0]->dtype;
    return CC_E_OK;
}

#define VIEW_OP(mk, nreq)                                                                       \
    static int mk##_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)            \
    { return view_prepare(mk, nreq, n, in, out, e); }                                           \
    static int mk##_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)    \
    { (void)ctx; return view_forward(mk, n, in, out); }                                         \
    static int mk##_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy,     \
                             float **gx, int K, cc_ctx *ctx)                                    \
    { (void)ctx; return view_backward(mk, n, in, out, gy, gx, K); }

static int transpose_view(const cc_node *n, cc_tensor **in, cct_view *v, int64_t *od, int *ond, cc_err *e)
{
    const cc_tensor *x = in[0];
    int r = x->ndim;
    int64_t perm[CC_MAX_DIMS], str[CC_MAX_DIMS];
    int cnt = cc_attr_ints(n, "perm", perm, CC_MAX_DIMS);
    if (cnt == 0 && !cc_attr_find(n, "perm"))
        for (int k = 0; k < r; k++) perm[k] = r - 1 - k;   /* default: reverse */
    else if (cnt != r)
        return cc_errf(e, CC_E_SHAPE, "Transpose '%s': perm has %d entries for rank %d", n->name, cnt, r);
    int seen[CC_MAX_DIMS] = { 0 };
    cct_strides(x->dims, r, str);
    for (int k = 0; k < r; k++) {
        int p = cct_axis(perm[k], r);
        if (p < 0 || seen[p]) return cc_errf(e, CC_E_SHAPE, "Transpose '%s': perm is not a permutation", n->name);
        seen[p] = 1;
        od[k] = v->dims[k] = x->dims[p];
        v->str[k] = str[p];
    }
    v->nd = *ond = r;
    v->base = 0;
    return CC_E_OK;
}
VIEW_OP(transpose_view, 1)

/* Slice: opset < 10 takes starts/ends/axes attributes; >= 10 takes inputs
 * starts, ends, axes, steps (constants).  Bounds clamp as in the ONNX spec. */
static int slice_view(const cc_node *n, cc_tensor **in, cct_view *v, int64_t *od, int *ond, cc_err *e)
{
    const cc_tensor *x = in[0];
    int r = x->ndim;
    int64_t st[CC_MAX_DIMS], en[CC_MAX_DIMS], ax[CC_MAX_DIMS], sp[CC_MAX_DIMS], str[CC_MAX_DIMS];
    int ns, ne, na = -1, np = -1, rc;
    if (n->opset < 10) {
        ns = cc_attr_ints(n, "starts", st, CC_MAX_DIMS);
        ne = cc_attr_ints(n, "ends", en, CC_MAX_DIMS);
        if (cc_attr_find(n, "axes")) na = cc_attr_ints(n, "axes", ax, CC_MAX_DIMS);
    } else {
        if (n->n_in < 3) return cc_errf(e, CC_E_ARG, "Slice '%s': starts and ends inputs are required", n->name);
        if ((rc = cct_const_ints(n, in[1], "starts", st, CC_MAX_DIMS, &ns, e))) return rc;
        if ((rc = cct_const_ints(n, in[2], "ends", en, CC_MAX_DIMS, &ne, e))) return rc;
        if (cct_has(n, in, 3) && (rc = cct_const_ints(n, in[3], "axes", ax, CC_MAX_DIMS, &na, e))) return rc;
        if (cct_has(n, in, 4) && (rc = cct_const_ints(n, in[4], "steps", sp, CC_MAX_DIMS, &np, e))) return rc;
    }
    if (ns < 0 || ns != ne || (na >= 0 && na != ns) || (np >= 0 && np != ns))
        return cc_errf(e, CC_E_SHAPE, "Slice '%s': starts, ends, axes, steps differ in length", n->name);
    cct_strides(x->dims, r, str);
    int64_t b[CC_MAX_DIMS], step[CC_MAX_DIMS];
    int seen[CC_MAX_DIMS] = { 0 };
    for (int k = 0; k < r; k++) { b[k] = 0; step[k] = 1; od[k] = x->dims[k]; }
    for (int i = 0; i < ns; i++) {
        int a = cct_axis(na >= 0 ? ax[i] : i, r);
        if (a < 0 || seen[a]) return cc_errf(e, CC_E_SHAPE, "Slice '%s': bad or repeated axis", n->name);
        seen[a] = 1;
        int64_t d = x->dims[a], s = st[i], t = en[i], p = np >= 0 ? sp[i] : 1;
        if (p == 0) return cc_errf(e, CC_E_ARG, "Slice '%s': step 0", n->name);
        /* |step| >= d takes at most one element: clamping keeps the arithmetic
         * below (t - s + p, str * step) far from overflowing */
        if (p > CC_MAX_DIM) p = CC_MAX_DIM;
        if (p < -CC_MAX_DIM) p = -CC_MAX_DIM;
        if (s < 0) s += d;   /* negative = counted from the end; no overflow as d >= 0 */
        if (t < 0) t += d;
        if (p > 0) {
            s = s < 0 ? 0 : s > d ? d : s;
            t = t < 0 ? 0 : t > d ? d : t;
            od[a] = t > s ? (t - s + p - 1) / p : 0;
        } else {
            s = s < 0 ? 0 : s > d - 1 ? d - 1 : s;
            t = t < -1 ? -1 : t > d - 1 ? d - 1 : t;
            od[a] = s > t ? (s - t + (-p) - 1) / (-p) : 0;
        }
        b[a] = s;
        step[a] = od[a] > 1 ? p : 1;   /* with one element or none the step is irrelevant */
    }
    v->nd = *ond = r;
    v->base = 0;
    for (int k = 0; k < r; k++) {
        v->dims[k] = od[k];
        v->str[k] = str[k] * step[k];
        if (od[k] > 0) v->base += b[k] * str[k];
    }
    return CC_E_OK;
}
VIEW_OP(slice_view, 1)

/* Expand: bidirectional broadcast of the input against a constant shape. */
static int expand_view(const cc_node *n, cc_tensor **in, cct_view *v, int64_t *od, int *ond, cc_err *e)
{
    const cc_tensor *x = in[0];
    int64_t s[CC_MAX_DIMS];
    int cnt, rc = cct_const_ints(n, in[1], "shape", s, CC_MAX_DIMS, &cnt, e);
    if (rc) return rc;
    cc_tensor st = { 0 };
    st.ndim = cnt;
    memcpy(st.dims, s, (size_t)cnt * sizeof *s);
    int nd;
    if (cc_broadcast_shape(x, &st, &nd, od))
        return cc_errf(e, CC_E_SHAPE, "Expand '%s': input does not broadcast to the shape", n->name);
    cct_bcast_strides(x, nd, v->str);
    memcpy(v->dims, od, (size_t)nd * sizeof *od);
    v->nd = *ond = nd;
    v->base = 0;
    return CC_E_OK;
}
VIEW_OP(expand_view, 2)

/* Tile: output axis k of length rep*d is a (rep, d) pair with strides (0, stride_k). */
static int tile_view(const cc_node *n, cc_tensor **in, cct_view *v, int64_t *od, int *ond, cc_err *e)
{
    const cc_tensor *x = in[0];
    int64_t rep[CC_MAX_DIMS], str[CC_MAX_DIMS];
    int cnt, rc = cct_const_ints(n, in[1], "repeats", rep, CC_MAX_DIMS, &cnt, e);
    if (rc) return rc;
    if (cnt != x->ndim)
        return cc_errf(e, CC_E_SHAPE, "Tile '%s': %d repeats for rank %d", n->name, cnt, x->ndim);
    cct_strides(x->dims, x->ndim, str);
    for (int k = 0; k < x->ndim; k++) {
        if (rep[k] < 0) return cc_errf(e, CC_E_ARG, "Tile '%s': negative repeat", n->name);
        if (rep[k] > CC_MAX_DIM || (x->dims[k] && rep[k] > CC_MAX_DIM / x->dims[k]))
            return cc_errf(e, CC_E_LIMIT, "Tile '%s': repeat %lld makes axis %d too long", n->name, (long long)rep[k], k);
        od[k] = rep[k] * x->dims[k];
        v->dims[2 * k] = rep[k];
        v->str[2 * k] = 0;
        v->dims[2 * k + 1] = x->dims[k];
        v->str[2 * k + 1] = str[k];
    }
    v->nd = 2 * x->ndim;
    *ond = x->ndim;
    v->base = 0;
    return CC_E_OK;
}
VIEW_OP(tile_view, 2)

const cc_op cc_op_Transpose = { "Transpose", 1, transpose_view_prepare, transpose_view_forward, transpose_view_backward };
const cc_op cc_op_Slice = { "Slice", 1, slice_view_prepare, slice_view_forward, slice_view_backward };
const cc_op cc_op_Expand = { "Expand", 8, expand_view_prepare, expand_view_forward, expand_view_backward };
const cc_op cc_op_Tile = { "Tile", 6, tile_view_prepare, tile_view_forward, tile_view_backward };

/* ---- Concat, Split: blocks of outer x (dim * inner) ------------------------- */

static int concat_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    int rc = n->n_in < 1 ? cct_need(n, in, 1, e) : cct_need(n, in, n->n_in, e);
    if (rc) return rc;
    const cc_tensor *x0 = in[0];
    int r = x0->ndim;
    int a = cct_axis(cc_attr_int(n, "axis", 0), r);
    if (a < 0 || !cc_attr_find(n, "axis"))
        return cc_errf(e, CC_E_SHAPE, "Concat '%s': missing or bad axis for rank %d", n->name, r);
    cct_same_shape(out[0], x0);
    out[0]->dims[a] = 0;
    for (int i = 0; i < n->n_in; i++) {
        const cc_tensor *x = in[i];
        if (x->ndim != r || x->dtype != x0->dtype)
            return cc_errf(e, CC_E_SHAPE, "Concat '%s': input %d differs in rank or type", n->name, i);
        for (int k = 0; k < r; k++)
            if (k != a && x->dims[k] != x0->dims[k])
                return cc_errf(e, CC_E_SHAPE, "Concat '%s': input %d differs in dim %d", n->name, i, k);
        out[0]->dims[a] += x->dims[a];
    }
    return CC_E_OK;
}

/* outer = product of dims before axis, inner = product after. */
static void outer_inner(const cc_tensor *t, int a, int64_t *outer, int64_t *inner)
{
    *outer = cc_numel(t->dims, a);
    *inner = cc_numel(t->dims + a + 1, t->ndim - a - 1);
}

static int concat_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)ctx;
    const cc_tensor *y = out[0];
    int a = cct_axis(cc_attr_int(n, "axis", 0), y->ndim);
    size_t es = cct_esz(y->dtype);
    int64_t outer, inner;
    outer_inner(y, a, &outer, &inner);
    int64_t row = y->dims[a] * inner, off = 0;
    for (int i = 0; i < n->n_in; i++) {
        int64_t chunk = in[i]->dims[a] * inner;
        if (chunk == 0) continue;
#pragma omp parallel for schedule(static) if (outer * chunk > CC_PAR_MIN && outer > 1)
        for (int64_t o = 0; o < outer; o++)
            memcpy((char *)y->data + (size_t)(o * row + off) * es,
                   (const char *)in[i]->data + (size_t)(o * chunk) * es, (size_t)chunk * es);
        off += chunk;
    }
    return CC_E_OK;
}

static int concat_backward(const cc_node *n, cc_tensor **in, cc_tensor **out,
                           float **gy, float **gx, int K, cc_ctx *ctx)
{
    (void)ctx;
    if (!gy[0]) return CC_E_OK;
    const cc_tensor *y = out[0];
    int a = cct_axis(cc_attr_int(n, "axis", 0), y->ndim);
    int64_t outer, inner;
    outer_inner(y, a, &outer, &inner);
    int64_t row = y->dims[a] * inner, off = 0;
    for (int i = 0; i < n->n_in; i++) {
        int64_t chunk = in[i]->dims[a] * inner;
        if (gx[i])
            for (int k = 0; k < K; k++)
                for (int64_t o = 0; o < outer; o++)
                    cct_add(gx[i] + k * in[i]->numel + o * chunk, gy[0] + k * y->numel + o * row + off, chunk);
        off += chunk;
    }
    return CC_E_OK;
}

const cc_op cc_op_Concat = { "Concat", 4, concat_prepare, concat_forward, concat_backward };

/* Split sizes: the `split` attribute (< 13) or input (>= 13), else num_outputs
 * (18, last part smaller) or equal parts. */
static int split_sizes(const cc_node *n, cc_tensor **in, int a, int64_t *sz, cc_err *e)
{
    const cc_tensor *x = in[0];
    int64_t d = x->dims[a];
    int cnt = -1, rc, m = n->n_out;
    int64_t tmp[64];
    if (m > 64) return cc_errf(e, CC_E_LIMIT, "Split '%s': more than 64 outputs", n->name);
    if (n->opset >= 13) {
        if (cct_has(n, in, 1) && (rc = cct_const_ints(n, in[1], "split", tmp, 64, &cnt, e))) return rc;
    } else if (cc_attr_find(n, "split")) {
        cnt = cc_attr_ints(n, "split", tmp, 64);
    }
    if (cnt >= 0) {
        if (cnt != m) return cc_errf(e, CC_E_SHAPE, "Split '%s': %d sizes for %d outputs", n->name, cnt, m);
        int64_t s = 0;
        for (int i = 0; i < m; i++) {
            if (tmp[i] < 0) return cc_errf(e, CC_E_SHAPE, "Split '%s': negative size", n->name);
            if (tmp[i] > d) return cc_errf(e, CC_E_SHAPE, "Split '%s': size %lld is longer than the axis (%lld)", n->name, (long long)tmp[i], (long long)d);
            sz[i] = tmp[i];
            s += tmp[i];
        }
        if (s != d) return cc_errf(e, CC_E_SHAPE, "Split '%s': sizes do not add up to %lld", n->name, (long long)d);
        return CC_E_OK;
    }
    if (n->opset >= 18 && cc_attr_find(n, "num_outputs")) {
        int64_t no = cc_attr_int(n, "num_outputs", m);
        if (no != m || m < 1) return cc_errf(e, CC_E_SHAPE, "Split '%s': num_outputs %lld but %d outputs", n->name, (long long)no, m);
        int64_t c = (d + m - 1) / m;
        for (int i = 0; i < m; i++) { int64_t left = d - i * c; sz[i] = left < 0 ? 0 : left < c ? left : c; }
        if (c * (m - 1) >= d && d > 0)
            return cc_errf(e, CC_E_SHAPE, "Split '%s': %lld cannot be cut into %d parts", n->name, (long long)d, m);
        return CC_E_OK;
    }
    if (m < 1 || d % m)
        return cc_errf(e, CC_E_SHAPE, "Split '%s': dim %lld does not split into %d equal parts", n->name, (long long)d, m);
    for (int i = 0; i < m; i++) sz[i] = d / m;
    return CC_E_OK;
}

static int split_axis(const cc_node *n, const cc_tensor *x)
{
    return cct_axis(cc_attr_int(n, "axis", 0), x->ndim);
}

static int split_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    int bad = cct_need(n, in, 1, e);
    if (bad) return bad;
    int a = split_axis(n, in[0]);
    if (a < 0) return cc_errf(e, CC_E_SHAPE, "Split '%s': bad axis for rank %d", n->name, in[0]->ndim);
    int64_t sz[64];
    int rc = split_sizes(n, in, a, sz, e);
    if (rc) return rc;
    for (int i = 0; i < n->n_out; i++) {
        cct_same_shape(out[i], in[0]);
        out[i]->dims[a] = sz[i];
    }
    return CC_E_OK;
}

static int split_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)ctx;
    const cc_tensor *x = in[0];
    int a = split_axis(n, x);
    size_t es = cct_esz(x->dtype);
    int64_t outer, inner;
    outer_inner(x, a, &outer, &inner);
    int64_t row = x->dims[a] * inner, off = 0;
    for (int i = 0; i < n->n_out; i++) {
        int64_t chunk = out[i]->dims[a] * inner;
        if (chunk == 0) continue;
#pragma omp parallel for schedule(static) if (outer * chunk > CC_PAR_MIN && outer > 1)
        for (int64_t o = 0; o < outer; o++)
            memcpy((char *)out[i]->data + (size_t)(o * chunk) * es,
                   (const char *)x->data + (size_t)(o * row + off) * es, (size_t)chunk * es);
        off += chunk;
    }
    return CC_E_OK;
}

static int split_backward(const cc_node *n, cc_tensor **in, cc_tensor **out,
                          float **gy, float **gx, int K, cc_ctx *ctx)
{
    (void)ctx;
    if (!gx[0]) return CC_E_OK;
    const cc_tensor *x = in[0];
    int a = split_axis(n, x);
    int64_t outer, inner;
    outer_inner(x, a, &outer, &inner);
    int64_t row = x->dims[a] * inner, off = 0;
    for (int i = 0; i < n->n_out; i++) {
        int64_t chunk = out[i]->dims[a] * inner;
        if (gy[i])
            for (int k = 0; k < K; k++)
                for (int64_t o = 0; o < outer; o++)
                    cct_add(gx[0] + k * x->numel + o * row + off, gy[i] + k * out[i]->numel + o * chunk, chunk);
        off += chunk;
    }
    return CC_E_OK;
}

const cc_op cc_op_Split = { "Split", 2, split_prepare, split_forward, split_backward };

/* ---- Gather ----------------------------------------------------------------- */

static int gather_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    int bad = cct_need(n, in, 2, e);
    if (bad) return bad;
    const cc_tensor *x = in[0], *idx = in[1];
    int a = cct_axis(cc_attr_int(n, "axis", 0), x->ndim);
    if (a < 0) return cc_errf(e, CC_E_SHAPE, "Gather '%s': bad axis for rank %d", n->name, x->ndim);
    if (idx->dtype == CC_DT_FLOAT)
        return cc_errf(e, CC_E_ARG, "Gather '%s': indices must be integers", n->name);
    int r = x->ndim - 1 + idx->ndim;
    if (r > CC_MAX_DIMS) return cc_errf(e, CC_E_LIMIT, "Gather '%s': output rank %d too large", n->name, r);
    if (idx->is_const && idx->data)
        for (int64_t i = 0; i < cc_numel(idx->dims, idx->ndim); i++) {
            int64_t v = ((const int64_t *)idx->data)[i];
            if (v < -x->dims[a] || v >= x->dims[a])
                return cc_errf(e, CC_E_ARG, "Gather '%s': index %lld out of range [-%lld, %lld)",
                               n->name, (long long)v, (long long)x->dims[a], (long long)x->dims[a]);
        }
    int k = 0;
    for (int j = 0; j < a; j++) out[0]->dims[k++] = x->dims[j];
    for (int j = 0; j < idx->ndim; j++) out[0]->dims[k++] = idx->dims[j];
    for (int j = a + 1; j < x->ndim; j++) out[0]->dims[k++] = x->dims[j];
    out[0]->ndim = r;
    out[0]->dtype = x->dtype;
    return CC_E_OK;
}

/* Normalised index i, or -1 when out of range. */
static int64_t gather_index(const cc_tensor *idx, int64_t i, int64_t d)
{
    int64_t v = ((const int64_t *)idx->data)[i];
    if (v < 0) v += d;
    return v < 0 || v >= d ? -1 : v;
}

static int gather_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)ctx;
    const cc_tensor *x = in[0], *idx = in[1];
    int a = cct_axis(cc_attr_int(n, "axis", 0), x->ndim);
    size_t es = cct_esz(x->dtype);
    int64_t outer, inner, d = x->dims[a], ni = idx->numel;
    outer_inner(x, a, &outer, &inner);
    for (int64_t i = 0; i < ni; i++)
        if (gather_index(idx, i, d) < 0) return CC_E_ARG;
#pragma omp parallel for schedule(static) if (outer * ni * inner > CC_PAR_MIN)
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < ni; i++)
            memcpy((char *)out[0]->data + (size_t)((o * ni + i) * inner) * es,
                   (const char *)x->data + (size_t)((o * d + gather_index(idx, i, d)) * inner) * es,
                   (size_t)inner * es);
    return CC_E_OK;
}

static int gather_backward(const cc_node *n, cc_tensor **in, cc_tensor **out,
                           float **gy, float **gx, int K, cc_ctx *ctx)
{
    (void)ctx; (void)out;
    if (!gy[0] || !gx[0]) return CC_E_OK;
    const cc_tensor *x = in[0], *idx = in[1];
    int a = cct_axis(cc_attr_int(n, "axis", 0), x->ndim);
    int64_t outer, inner, d = x->dims[a], ni = idx->numel;
    outer_inner(x, a, &outer, &inner);
    /* Repeated indices add up: parallel only across (seed, outer) blocks. */
#pragma omp parallel for collapse(2) schedule(static) if ((int64_t)K * outer * ni * inner > CC_PAR_MIN)
    for (int k = 0; k < K; k++)
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < ni; i++) {
                int64_t j = gather_index(idx, i, d);
                if (j < 0) continue;
                float *g = gx[0] + k * x->numel + (o * d + j) * inner;
                const float *s = gy[0] + k * out[0]->numel + (o * ni + i) * inner;
                for (int64_t t = 0; t < inner; t++) g[t] += s[t];
            }
    return CC_E_OK;
}

const cc_op cc_op_Gather = { "Gather", 1, gather_prepare, gather_forward, gather_backward };
