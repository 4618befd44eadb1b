/* Small helpers shared by the op implementations: attribute access, sizes,
 * broadcasting, load-time constant allocation. */
#include "op.h"
#include "avx512.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cc_msg_oneline(char *msg)
{
    for (unsigned char *p = (unsigned char *)msg; *p; p++)
        if (*p < 0x20 || *p == 0x7f) *p = '?';
}

int cc_errf(cc_err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        cc_msg_oneline(e->msg);
    }
    return code;
}

const cc_attr *cc_attr_find(const cc_node *n, const char *name)
{
    for (int i = 0; i < n->n_attr; i++)
        if (strcmp(n->attr[i].name, name) == 0) return &n->attr[i];
    return NULL;
}

int64_t cc_attr_int(const cc_node *n, const char *name, int64_t dflt)
{
    const cc_attr *a = cc_attr_find(n, name);
    return a && a->type == CC_ATTR_INT ? a->i : dflt;
}

float cc_attr_float(const cc_node *n, const char *name, float dflt)
{
    const cc_attr *a = cc_attr_find(n, name);
    if (!a) return dflt;
    if (a->type == CC_ATTR_FLOAT) return a->f;
    if (a->type == CC_ATTR_INT) return (float)a->i;
    return dflt;
}

const char *cc_attr_str(const cc_node *n, const char *name, const char *dflt)
{
    const cc_attr *a = cc_attr_find(n, name);
    return a && a->type == CC_ATTR_STRING ? a->s : dflt;
}

int cc_attr_ints(const cc_node *n, const char *name, int64_t *dst, int max)
{
    const cc_attr *a = cc_attr_find(n, name);
    if (!a || a->type != CC_ATTR_INTS) return 0;
    if (a->n > max) return -1;
    memcpy(dst, a->ints, (size_t)a->n * sizeof *dst);
    return a->n;
}

int64_t cc_numel(const int64_t *dims, int ndim)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0 || dims[i] > CC_MAX_DIM) return -1;
        if (dims[i] != 0 && n > INT64_MAX / dims[i]) return -1;
        n *= dims[i];
    }
    return n;
}

int cc_tensor_alloc(cc_tensor *t)
{
    t->numel = cc_numel(t->dims, t->ndim);
    if (t->numel < 0) return CC_E_LIMIT;
    size_t esz = t->dtype == CC_DT_FLOAT ? sizeof(float) : sizeof(int64_t);
    if ((uint64_t)t->numel > SIZE_MAX / esz) return CC_E_LIMIT;
    free(t->data);
    t->data = calloc(t->numel ? (size_t)t->numel : 1, esz);
    return t->data ? CC_E_OK : CC_E_NOMEM;
}

int64_t cc_tensor_geti(const cc_tensor *t, int64_t i)
{
    if (t->dtype == CC_DT_FLOAT) {
        /* saturating: a NaN or out-of-range float in a shape-like input must
         * not be undefined behaviour (the op then refuses the value) */
        float f = ((const float *)t->data)[i];
        if (f != f) return 0;
        if (f >= 9223372036854775808.0f) return INT64_MAX;
        if (f < -9223372036854775808.0f) return INT64_MIN;
        return (int64_t)f;
    }
    return ((const int64_t *)t->data)[i];
}

int cc_broadcast_shape(const cc_tensor *a, const cc_tensor *b, int *ndim, int64_t *dims)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < nd; i++) {
        int ia = i - (nd - a->ndim), ib = i - (nd - b->ndim);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) return -1;
        dims[i] = da == 1 ? db : da;
    }
    *ndim = nd;
    return 0;
}

CC_HOT_CLONES
void cc_post_apply(float *restrict y, int64_t n, float bias, const cc_post *post)
{
    const int kind = post ? post->kind : CC_POST_NONE;
    const float lo = post ? post->lo : 0, hi = post ? post->hi : 0;
    const float *restrict r = cc_post_res(post, y);
    if (r) {
        /* the bias first, only where the unfused product adds one, then the residual */
        if (bias != 0.0f) {
#pragma omp simd
            for (int64_t i = 0; i < n; i++) y[i] += bias;
        }
        if (kind == CC_POST_RELU) {
#pragma omp simd
            for (int64_t i = 0; i < n; i++) { float v = y[i] + r[i]; y[i] = isgreater(v, 0.0f) ? v : 0.0f; }
        } else if (kind == CC_POST_CLIP) {
#pragma omp simd
            for (int64_t i = 0; i < n; i++) { float v = y[i] + r[i]; y[i] = isless(v, lo) ? lo : isgreater(v, hi) ? hi : v; }
        } else {
#pragma omp simd
            for (int64_t i = 0; i < n; i++) y[i] += r[i];
        }
        return;
    }
    /* quiet comparisons (isgreater, isless): the same values as > and <, NaN
     * included, but GCC if-converts them under -ftrapping-math, so these vectorise */
    if (kind == CC_POST_RELU) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) { float v = y[i] + bias; y[i] = isgreater(v, 0.0f) ? v : 0.0f; }
    } else if (kind == CC_POST_CLIP) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) { float v = y[i] + bias; y[i] = isless(v, lo) ? lo : isgreater(v, hi) ? hi : v; }
    } else if (bias != 0.0f) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] += bias;
    }
}

void cc_c16_pack(const float *x, int64_t C, int64_t N, float *y)
{
#pragma omp parallel for schedule(static) if (C * N >= CC_PAR_MIN)
    for (int64_t b = 0; b < C / 16; b++)
        for (int64_t n = 0; n < N; n++)
            for (int64_t l = 0; l < 16; l++) y[(b * N + n) * 16 + l] = x[(b * 16 + l) * N + n];
}

void cc_c16_unpack(const float *x, int64_t C, int64_t N, float *y)
{
#pragma omp parallel for schedule(static) if (C * N >= CC_PAR_MIN)
    for (int64_t b = 0; b < C / 16; b++)
        for (int64_t l = 0; l < 16; l++)
            for (int64_t n = 0; n < N; n++) y[(b * 16 + l) * N + n] = x[(b * N + n) * 16 + l];
}

void cc_post_rows(float *y, int64_t rows, int64_t len, const float *bias, const cc_post *post)
{
    if (!cc_post_any(post) && !bias) return;
#pragma omp parallel for schedule(static) if (rows * len >= CC_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) cc_post_apply(y + r * len, len, bias ? bias[r] : 0.0f, post);
}

int cc_own_kernels(void)
{
#ifdef CC_AVX512
    const char *off = getenv("CONTRASTCAM_NO_PACKED");
    return !(off && strcmp(off, "0") != 0) && __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}
