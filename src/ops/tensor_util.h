/* Shared helpers of the tensor / shape / matrix op family (tensor.c, gemm.c,
 * shape_ops.c, index_ops.c, reduce.c, select.c).  Internal to src/ops. */
#ifndef CC_TENSOR_UTIL_H
#define CC_TENSOR_UTIL_H

#include "op.h"

/* Storage bytes per element: float is 4, every integer/bool tensor is int64
 * storage (matches cc_tensor_alloc). */
static inline size_t cct_esz(int dtype) { return dtype == CC_DT_FLOAT ? sizeof(float) : sizeof(int64_t); }

/* Whether optional input i is present. */
static inline int cct_has(const cc_node *n, cc_tensor **in, int i)
{
    return i < n->n_in && n->in[i] >= 0 && in[i] != NULL;
}

/* Fails (naming the node) unless the first k inputs are present. */
int cct_need(const cc_node *n, cc_tensor **in, int k, cc_err *e);

/* Normalise axis a of a rank-r tensor into [0, r); -1 if outside [-r, r). */
static inline int cct_axis(int64_t a, int r)
{
    if (a < -r || a >= r) return -1;
    return (int)(a < 0 ? a + r : a);
}

/* Row-major element strides of dims. */
void cct_strides(const int64_t *dims, int nd, int64_t *str);

/* Read the values of an integer (or float) input that must be known at load.
 * Fails with a message naming the node when it is not constant or has more than
 * max values.  *count receives the number of values. */
int cct_const_ints(const cc_node *n, const cc_tensor *t, const char *what,
                   int64_t *dst, int max, int *count, cc_err *e);

/* Axes from the attribute `name` (opset < since) or from input `idx` (opset >= since).
 * *count = -1 when neither is given. */
int cct_axes(const cc_node *n, cc_tensor **in, int since, int idx, const char *name,
             int64_t *dst, int max, int *count, cc_err *e);

/* A strided view of a source buffer: output element (i_0..i_{nd-1}), in row-major
 * order over dims, is src[base + sum_k i_k * str_k].  Transpose, Slice, Expand and
 * Tile are all such views, so one copy and one scatter-add serve them all. */
typedef struct cct_view {
    int nd;
    int64_t dims[2 * CC_MAX_DIMS];
    int64_t str[2 * CC_MAX_DIMS];
    int64_t base;
} cct_view;

/* Drop unit dims and merge dims that are contiguous in the source (fewer, longer rows). */
void cct_view_simplify(cct_view *v);
/* dst[o] = src[view(o)] for every output element; esz is 4 or 8. */
void cct_view_copy(const cct_view *v, void *dst, const void *src, size_t esz);
/* Backward of a view for K seeds: gsrc[k][view(o)] += gy[k][o]; src_numel and
 * out_numel are the per-seed sizes.  Handles repeated source elements (stride 0). */
void cct_view_add_back(const cct_view *v, float *gsrc, const float *gy, int64_t src_numel,
                       int64_t out_numel, int K);

/* gx[i] += gy[i] for n values (backward of a plain copy). */
void cct_add(float *gx, const float *gy, int64_t n);

/* Strides of tensor t aligned right to an output of rank nd and dims od:
 * 0 where t is broadcast.  The shapes must be compatible. */
void cct_bcast_strides(const cc_tensor *t, int nd, int64_t *str);
/* Offset of flat output index o under dims d (rank nd) and strides s. */
static inline int64_t cct_unravel(int64_t o, int nd, const int64_t *d, const int64_t *s)
{
    int64_t off = 0;
    for (int k = nd - 1; k >= 0; k--) {
        int64_t q = o / d[k];
        off += (o - q * d[k]) * s[k];
        o = q;
    }
    return off;
}

/* Set out's shape to in's (dtype, ndim, dims). */
void cct_same_shape(cc_tensor *out, const cc_tensor *in);

#endif
