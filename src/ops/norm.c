/* Normalisation: BatchNormalization (inference mode: running statistics),
 * InstanceNormalization, LayerNormalization.  Statistics and reductions are
 * accumulated in double. */
#include "ew.h"

#include <math.h>
#include <string.h>

static int all_float(const cc_node *n, cc_tensor **in, int first, int count, int64_t want, cc_err *e)
{
    for (int i = first; i < first + count; i++) {
        const cc_tensor *t = ew_in(n, in, i);
        if (!t) continue;
        if (t->dtype != CC_DT_FLOAT)
            return cc_errf(e, CC_E_UNSUPPORTED, "%s '%s': input '%s' must be float", n->op_type, n->name, t->name);
        if (want >= 0 && cc_numel(t->dims, t->ndim) != want)
            return cc_errf(e, CC_E_SHAPE, "%s '%s': input '%s' has %lld elements, expected %lld", n->op_type,
                           n->name, t->name, (long long)cc_numel(t->dims, t->ndim), (long long)want);
    }
    return CC_E_OK;
}

/* ---- BatchNormalization: y = a[c] x + b[c], a = scale / sqrt(var + eps) ---- */

static int bn_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    const cc_tensor *x = ew_in(n, in, 0);
    for (int i = 0; i < 5; i++)
        if (!ew_in(n, in, i)) return cc_errf(e, CC_E_PARSE, "BatchNormalization '%s': needs 5 inputs", n->name);
    if (x->ndim < 2) return cc_errf(e, CC_E_SHAPE, "BatchNormalization '%s': input must have at least 2 dims", n->name);
    if (n->opset < 9 && cc_attr_int(n, "spatial", 1) == 0)
        return cc_errf(e, CC_E_UNSUPPORTED, "BatchNormalization '%s': spatial=0 is not supported", n->name);
    int training = cc_attr_int(n, "training_mode", 0) != 0;
    for (int j = 1; j < n->n_out; j++) training |= ew_out(n, out, j) != NULL;
    if (training)
        return cc_errf(e, CC_E_UNSUPPORTED, "BatchNormalization '%s': training mode (batch statistics, "
                       "running-stat outputs) is not supported; export the model in eval mode", n->name);
    int rc = all_float(n, in, 0, 1, -1, e);
    if (!rc) rc = all_float(n, in, 1, 4, x->dims[1], e);
    if (rc) return rc;
    out[0]->dtype = CC_DT_FLOAT;
    ew_copy_shape(out[0], x);
    return CC_E_OK;
}

static int bn_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)ctx;
    const cc_tensor *x = in[0];
    const float *px = x->data, *scale = in[1]->data, *bias = in[2]->data, *mean = in[3]->data, *var = in[4]->data;
    float *py = out[0]->data, eps = cc_attr_float(n, "epsilon", 1e-5f);
    int64_t C = x->dims[1], planes = x->dims[0] * C, S = planes ? x->numel / planes : 0;
#pragma omp parallel for if(x->numel > CC_PAR_MIN) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        int64_t c = p % C;
        float inv = 1.0f / sqrtf(var[c] + eps), a = scale[c] * inv, b = bias[c] - mean[c] * a;
        const float *xp = px + p * S;
        float *yp = py + p * S;
#pragma omp simd
        for (int64_t s = 0; s < S; s++) yp[s] = xp[s] * a + b;
    }
    return CC_E_OK;
}

static int bn_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy, float **gx,
                       int K, cc_ctx *ctx)
{
    (void)out; (void)ctx;
    if (!gy[0]) return CC_E_OK;
    const cc_tensor *x = in[0];
    const float *px = x->data, *scale = in[1]->data, *mean = in[3]->data, *var = in[4]->data;
    float eps = cc_attr_float(n, "epsilon", 1e-5f);
    int64_t N = x->dims[0], C = x->dims[1], planes = N * C, S = planes ? x->numel / planes : 0, m = x->numel;
    if (gx[0]) {
        float *d = gx[0];
        const float *g = gy[0];
#pragma omp parallel for if((int64_t)K * m > CC_PAR_MIN) schedule(static)
        for (int64_t p = 0; p < K * planes; p++) {
            int64_t c = p % C;
            float a = scale[c] / sqrtf(var[c] + eps);
#pragma omp simd
            for (int64_t s = 0; s < S; s++) d[p * S + s] += g[p * S + s] * a;
        }
    }
    if (!gx[1] && !gx[2] && !gx[3] && !gx[4]) return CC_E_OK;
#pragma omp parallel for if((int64_t)K * m > CC_PAR_MIN) schedule(static)
    for (int64_t kc = 0; kc < K * C; kc++) {
        int64_t k = kc / C, c = kc % C;
        double sg = 0, sgx = 0;   /* sum g, sum g (x - mean) */
        for (int64_t i = 0; i < N; i++) {
            const float *g = gy[0] + k * m + (i * C + c) * S, *xp = px + (i * C + c) * S;
            for (int64_t s = 0; s < S; s++) { sg += g[s]; sgx += (double)g[s] * (xp[s] - mean[c]); }
        }
        double inv = 1.0 / sqrt((double)var[c] + eps);
        if (gx[1]) gx[1][kc] += (float)(sgx * inv);
        if (gx[2]) gx[2][kc] += (float)sg;
        if (gx[3]) gx[3][kc] += (float)(-sg * scale[c] * inv);
        if (gx[4]) gx[4][kc] += (float)(-0.5 * sgx * scale[c] * inv * inv * inv);
    }
    return CC_E_OK;
}

const cc_op cc_op_BatchNormalization = { "BatchNormalization", 7, bn_prepare, bn_forward, bn_backward };

/* ---- Row statistics shared by Instance/LayerNormalization -------------------- */

static void row_stats(const float *x, int64_t m, float eps, double *mean, double *rstd)
{
    double s = 0, v = 0;
    for (int64_t j = 0; j < m; j++) s += x[j];
    s /= (double)m;
    for (int64_t j = 0; j < m; j++) v += (x[j] - s) * (x[j] - s);
    *mean = s;
    *rstd = 1.0 / sqrt(v / (double)m + eps);
}

/* gx += rstd * (gh - mean(gh) - xhat * mean(gh * xhat)), gh = g * gamma (gamma per
 * element when gs == 1, one value when gs == 0); returns sum g and sum g*xhat. */
static void row_backward(const float *x, const float *g, float *gx, int64_t m, double mean, double rstd,
                         const float *gamma, int64_t gs, double *sg_out, double *sgx_out)
{
    double sh = 0, shx = 0, sg = 0, sgx = 0;
    for (int64_t j = 0; j < m; j++) {
        double xh = (x[j] - mean) * rstd, gh = (double)g[j] * gamma[j * gs];
        sh += gh; shx += gh * xh; sg += g[j]; sgx += g[j] * xh;
    }
    if (gx) {
        sh /= (double)m; shx /= (double)m;
        for (int64_t j = 0; j < m; j++) {
            double xh = (x[j] - mean) * rstd, gh = (double)g[j] * gamma[j * gs];
            gx[j] += (float)(rstd * (gh - sh - xh * shx));
        }
    }
    *sg_out = sg;
    *sgx_out = sgx;
}

/* ---- InstanceNormalization: per (n, c) over the spatial dims ----------------- */

static int in_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    const cc_tensor *x = ew_in(n, in, 0);
    for (int i = 0; i < 3; i++)
        if (!ew_in(n, in, i)) return cc_errf(e, CC_E_PARSE, "InstanceNormalization '%s': needs 3 inputs", n->name);
    if (x->ndim < 3) return cc_errf(e, CC_E_SHAPE, "InstanceNormalization '%s': input must have at least 3 dims", n->name);
    int rc = all_float(n, in, 0, 1, -1, e);
    if (!rc) rc = all_float(n, in, 1, 2, x->dims[1], e);
    if (rc) return rc;
    out[0]->dtype = CC_DT_FLOAT;
    ew_copy_shape(out[0], x);
    return CC_E_OK;
}

static int in_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)ctx;
    const cc_tensor *x = in[0];
    const float *px = x->data, *scale = in[1]->data, *bias = in[2]->data;
    float *py = out[0]->data, eps = cc_attr_float(n, "epsilon", 1e-5f);
    int64_t C = x->dims[1], planes = x->dims[0] * C, S = planes ? x->numel / planes : 0;
    if (S == 0) return CC_E_OK;
#pragma omp parallel for if(x->numel > CC_PAR_MIN) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        int64_t c = p % C;
        double mean, rstd;
        row_stats(px + p * S, S, eps, &mean, &rstd);
        float a = (float)(scale[c] * rstd), b = (float)(bias[c] - mean * scale[c] * rstd);
#pragma omp simd
        for (int64_t s = 0; s < S; s++) py[p * S + s] = px[p * S + s] * a + b;
    }
    return CC_E_OK;
}

static int in_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy, float **gx,
                       int K, cc_ctx *ctx)
{
    (void)out; (void)ctx;
    if (!gy[0] || (!gx[0] && !gx[1] && !gx[2])) return CC_E_OK;
    const cc_tensor *x = in[0];
    const float *px = x->data, *scale = in[1]->data;
    float eps = cc_attr_float(n, "epsilon", 1e-5f);
    int64_t N = x->dims[0], C = x->dims[1], planes = N * C, S = planes ? x->numel / planes : 0, m = x->numel;
    if (S == 0) return CC_E_OK;
    /* One task per (seed, channel): it owns that channel's planes and parameter grads. */
#pragma omp parallel for if((int64_t)K * m > CC_PAR_MIN) schedule(static)
    for (int64_t kc = 0; kc < K * C; kc++) {
        int64_t k = kc / C, c = kc % C;
        double tg = 0, tgx = 0;
        for (int64_t i = 0; i < N; i++) {
            int64_t off = (i * C + c) * S;
            double mean, rstd, sg, sgx;
            row_stats(px + off, S, eps, &mean, &rstd);
            row_backward(px + off, gy[0] + k * m + off, gx[0] ? gx[0] + k * m + off : NULL, S, mean, rstd,
                         scale + c, 0, &sg, &sgx);
            tg += sg; tgx += sgx;
        }
        if (gx[1]) gx[1][kc] += (float)tgx;
        if (gx[2]) gx[2][kc] += (float)tg;
    }
    return CC_E_OK;
}

const cc_op cc_op_InstanceNormalization = { "InstanceNormalization", 6, in_prepare, in_forward, in_backward };

/* ---- LayerNormalization (opset 17): over dims[axis:] ------------------------- */

static int ln_axis(const cc_node *n, const cc_tensor *x)
{
    int64_t a = cc_attr_int(n, "axis", -1);
    return (int)(a < 0 ? a + x->ndim : a);
}

static int ln_prepare(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e)
{
    const cc_tensor *x = ew_in(n, in, 0);
    if (!x || !ew_in(n, in, 1)) return cc_errf(e, CC_E_PARSE, "LayerNormalization '%s': needs X and Scale", n->name);
    int axis = ln_axis(n, x);
    if (axis < 0 || axis >= x->ndim) return cc_errf(e, CC_E_ARG, "LayerNormalization '%s': axis out of range", n->name);
    int64_t M = cc_numel(x->dims + axis, x->ndim - axis);
    int rc = all_float(n, in, 0, 1, -1, e);
    if (!rc) rc = all_float(n, in, 1, 2, M, e);
    if (rc) return rc;
    out[0]->dtype = CC_DT_FLOAT;
    ew_copy_shape(out[0], x);
    for (int j = 1; j <= 2; j++) {
        cc_tensor *t = ew_out(n, out, j);
        if (!t) continue;
        t->dtype = CC_DT_FLOAT;
        ew_copy_shape(t, x);
        for (int i = axis; i < x->ndim; i++) t->dims[i] = 1;
    }
    return CC_E_OK;
}

static int ln_forward(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx)
{
    (void)ctx;
    const cc_tensor *x = in[0], *bt = ew_in(n, in, 2);
    int axis = ln_axis(n, x);
    int64_t M = cc_numel(x->dims + axis, x->ndim - axis), rows = M ? x->numel / M : 0;
    const float *px = x->data, *scale = in[1]->data, *bias = bt ? bt->data : NULL;
    float *py = out[0]->data, eps = cc_attr_float(n, "epsilon", 1e-5f);
    cc_tensor *tm = ew_out(n, out, 1), *tr = ew_out(n, out, 2);
#pragma omp parallel for if(x->numel > CC_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        double mean, rstd;
        row_stats(px + r * M, M, eps, &mean, &rstd);
        for (int64_t j = 0; j < M; j++)
            py[r * M + j] = (float)((px[r * M + j] - mean) * rstd) * scale[j] + (bias ? bias[j] : 0);
        if (tm) ((float *)tm->data)[r] = (float)mean;
        if (tr) ((float *)tr->data)[r] = (float)rstd;
    }
    return CC_E_OK;
}

static int ln_backward(const cc_node *n, cc_tensor **in, cc_tensor **out, float **gy, float **gx,
                       int K, cc_ctx *ctx)
{
    (void)out; (void)ctx;
    const cc_tensor *x = in[0];
    if (!gy[0]) return CC_E_OK;
    int axis = ln_axis(n, x);
    int64_t M = cc_numel(x->dims + axis, x->ndim - axis), rows = M ? x->numel / M : 0, m = x->numel;
    const float *px = x->data, *scale = in[1]->data;
    float eps = cc_attr_float(n, "epsilon", 1e-5f);
    if (gx[0]) {
#pragma omp parallel for if((int64_t)K * m > CC_PAR_MIN) schedule(static)
        for (int64_t t = 0; t < K * rows; t++) {
            int64_t k = t / rows, r = t % rows;
            double mean, rstd, sg, sgx;
            row_stats(px + r * M, M, eps, &mean, &rstd);
            row_backward(px + r * M, gy[0] + k * m + r * M, gx[0] + k * m + r * M, M, mean, rstd, scale, 1, &sg, &sgx);
        }
    }
    /* Parameter grads (rarely wanted): one task per seed walks the rows. */
    float *gs = n->n_in > 1 ? gx[1] : NULL, *gb = n->n_in > 2 ? gx[2] : NULL;
    if (!gs && !gb) return CC_E_OK;
#pragma omp parallel for if(K > 1) schedule(static)
    for (int k = 0; k < K; k++)
        for (int64_t r = 0; r < rows; r++) {
            double mean, rstd;
            const float *xr = px + r * M, *g = gy[0] + k * m + r * M;
            row_stats(xr, M, eps, &mean, &rstd);
            for (int64_t j = 0; j < M; j++) {
                if (gs) gs[k * M + j] += (float)(g[j] * (xr[j] - mean) * rstd);
                if (gb) gb[k * M + j] += g[j];
            }
        }
    return CC_E_OK;
}

const cc_op cc_op_LayerNormalization = { "LayerNormalization", 17, ln_prepare, ln_forward, ln_backward };
