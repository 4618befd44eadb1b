/* LRN (local response normalisation across channels), ONNX opsets 1-13:
 *   s[c] = bias + alpha/size * sum of x[i]^2 over i in [c - floor((size-1)/2), c + ceil((size-1)/2)]
 *   y[c] = x[c] * s[c]^-beta
 * Backward:
 *   gx[j] = gy[j] s[j]^-beta - 2 beta alpha/size x[j] * sum over the c whose window holds j
 *           of gy[c] x[c] s[c]^(-beta-1). */
#include "op.h"

#include <math.h>
#include <stdlib.h>

typedef struct lrn_params {
    int64_t N, C, S;          /* S: product of the spatial sizes */
    int64_t lo, hi;           /* window c-lo .. c+hi */
    float alpha_n, beta, bias; /* alpha_n = alpha / size */
} lrn_params;

static int lrn_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    if (n->n_in < 1 || n->in[0] < 0 || !in[0]) return cc_errf(e, CC_E_PARSE, "LRN: needs input X");
    const cc_tensor *x = in[0];
    if (x->dtype != CC_DT_FLOAT) return cc_errf(e, CC_E_UNSUPPORTED, "LRN: only float input is supported");
    if (x->ndim < 2) return cc_errf(e, CC_E_SHAPE, "LRN: input must be N, C, ... (rank >= 2)");
    int64_t size = cc_attr_int(n, "size", 0);
    if (size < 1) return cc_errf(e, CC_E_PARSE, "LRN: attribute size (>= 1) is required");
    lrn_params *p = calloc(1, sizeof *p);
    if (!p) return cc_errf(e, CC_E_NOMEM, "LRN: out of memory");
    p->N = x->dims[0];
    p->C = x->dims[1];
    p->S = cc_numel(x->dims + 2, x->ndim - 2);
    p->lo = (size - 1) / 2;
    p->hi = size - 1 - p->lo;
    p->alpha_n = cc_attr_float(n, "alpha", 1e-4f) / (float)size;
    p->beta = cc_attr_float(n, "beta", 0.75f);
    p->bias = cc_attr_float(n, "bias", 1.0f);
    free(n->params);
    n->params = p;
    out[0]->dtype = CC_DT_FLOAT;
    out[0]->ndim = x->ndim;
    for (int i = 0; i < x->ndim; i++) out[0]->dims[i] = x->dims[i];
    return CC_E_OK;
}

/* s = bias + alpha/size * windowed channel sum of x^2, for all N*C planes. */
static void lrn_scale(const lrn_params *p, const float *x, float *s)
{
    const int64_t planes = p->N * p->C, S = p->S;
#pragma omp parallel for schedule(static) if (planes * S * (p->lo + p->hi + 1) >= CC_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        int64_t img = pl / p->C, c = pl % p->C;
        int64_t i0 = c - p->lo < 0 ? 0 : c - p->lo, i1 = c + p->hi > p->C - 1 ? p->C - 1 : c + p->hi;
        float *sp = s + pl * S;
        for (int64_t q = 0; q < S; q++) sp[q] = 0;
        for (int64_t i = i0; i <= i1; i++) {
            const float *xi = x + (img * p->C + i) * S;
#pragma omp simd
            for (int64_t q = 0; q < S; q++) sp[q] += xi[q] * xi[q];
        }
        for (int64_t q = 0; q < S; q++) sp[q] = p->bias + p->alpha_n * sp[q];
    }
}

static int lrn_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    const lrn_params *p = n->params;
    const float *x = in[0]->data;
    float *y = out[0]->data;
    const int64_t total = p->N * p->C * p->S;
    lrn_scale(p, x, y);   /* y holds s, then the output */
#pragma omp parallel for schedule(static) if (total >= CC_PAR_MIN)
    for (int64_t i = 0; i < total; i++) y[i] = x[i] * powf(y[i], -p->beta);
    (void)ctx;
    return CC_E_OK;
}

static int lrn_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy, float **gx, int K,
                        cc_ctx *ctx)
{
    (void)out;
    const lrn_params *p = n->params;
    if (!gy[0] || !gx[0] || K <= 0) return CC_E_OK;
    const float *x = in[0]->data;
    const int64_t total = p->N * p->C * p->S, planes = p->N * p->C, S = p->S;
    float *s = cc_scratch(ctx, 0, (size_t)total);     /* s, then s^-beta */
    float *r = cc_scratch(ctx, 1, (size_t)total);     /* x s^(-beta-1) */
    float *t = cc_scratch(ctx, 2, (size_t)total);     /* gy x s^(-beta-1) for one seed */
    if (!s || !r || !t) return CC_E_NOMEM;
    lrn_scale(p, x, s);
#pragma omp parallel for schedule(static) if (total >= CC_PAR_MIN)
    for (int64_t i = 0; i < total; i++) {
        float sb = powf(s[i], -p->beta);
        r[i] = x[i] * sb / s[i];
        s[i] = sb;
    }
    const float coef = 2.0f * p->beta * p->alpha_n;
    for (int64_t k = 0; k < K; k++) {
        const float *g = gy[0] + k * total;
        float *gxk = gx[0] + k * total;
#pragma omp parallel for schedule(static) if (total >= CC_PAR_MIN)
        for (int64_t i = 0; i < total; i++) t[i] = g[i] * r[i];
#pragma omp parallel for schedule(static) if (planes * S * (p->lo + p->hi + 1) >= CC_PAR_MIN)
        for (int64_t pl = 0; pl < planes; pl++) {
            int64_t img = pl / p->C, j = pl % p->C;
            /* the c whose window [c-lo, c+hi] holds j: c in [j-hi, j+lo] */
            int64_t c0 = j - p->hi < 0 ? 0 : j - p->hi, c1 = j + p->lo > p->C - 1 ? p->C - 1 : j + p->lo;
            const float *xp = x + pl * S, *gp = g + pl * S, *sp = s + pl * S;
            float *op = gxk + pl * S;
            for (int64_t q = 0; q < S; q++) op[q] += gp[q] * sp[q];
            for (int64_t c = c0; c <= c1; c++) {
                const float *tc = t + (img * p->C + c) * S;
#pragma omp simd
                for (int64_t q = 0; q < S; q++) op[q] -= coef * xp[q] * tc[q];
            }
        }
    }
    return CC_E_OK;
}

const cc_op cc_op_lrn = { "LRN", 1, lrn_prepare, lrn_forward, lrn_backward };
