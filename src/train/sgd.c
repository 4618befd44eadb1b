/* Optimisers over float parameters updated in place:
 *   SGD:  m = mu m + g + wd w;  w -= lr m               (PyTorch's SGD, L2 decay)
 *   Adam: m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *         w -= lr (mhat / (sqrt(vhat) + eps) + wd w)     (AdamW: decoupled decay)
 * Weight decay applies only to parameters registered with decay = 1. */
#include "train/train.h"
#include "ops/op.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cc_optim_init(cc_optim *o, cc_opt_kind kind)
{
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->momentum = 0.9f;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
}

int cc_optim_add(cc_optim *o, float *param, int64_t numel, int decay)
{
    if (numel <= 0 || !param) return CC_E_ARG;
    if (o->n == o->cap) {
        int cap = o->cap ? 2 * o->cap : 16;
        float **p = realloc(o->param, sizeof *p * (size_t)cap);
        if (p) o->param = p;
        int64_t *ne = realloc(o->numel, sizeof *ne * (size_t)cap);
        if (ne) o->numel = ne;
        unsigned char *d = realloc(o->decay, (size_t)cap);
        if (d) o->decay = d;
        float **m = realloc(o->m, sizeof *m * (size_t)cap);
        if (m) o->m = m;
        float **v = realloc(o->v, sizeof *v * (size_t)cap);
        if (v) o->v = v;
        if (!p || !ne || !d || !m || !v) return CC_E_NOMEM;
        o->cap = cap;
    }
    float *m = calloc((size_t)numel, sizeof(float));
    float *v = o->kind == CC_OPT_ADAM ? calloc((size_t)numel, sizeof(float)) : NULL;
    if (!m || (o->kind == CC_OPT_ADAM && !v)) { free(m); free(v); return CC_E_NOMEM; }
    o->param[o->n] = param;
    o->numel[o->n] = numel;
    o->decay[o->n] = decay != 0;
    o->m[o->n] = m;
    o->v[o->n] = v;
    o->n++;
    return 0;
}

void cc_optim_step(cc_optim *o, const float *const *grads, float lr)
{
    o->t++;
    if (o->kind == CC_OPT_ADAM) {
        const float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
        const double c1 = 1.0 - pow(b1, (double)o->t), c2 = 1.0 - pow(b2, (double)o->t);
        const float step = (float)(lr / c1), rc2 = (float)(1.0 / sqrt(c2));
        for (int i = 0; i < o->n; i++) {
            float *w = o->param[i], *m = o->m[i], *v = o->v[i];
            const float *g = grads[i];
            const float wd = o->decay[i] ? lr * o->weight_decay : 0.0f;
            for (int64_t j = 0; j < o->numel[i]; j++) {
                m[j] = b1 * m[j] + (1.0f - b1) * g[j];
                v[j] = b2 * v[j] + (1.0f - b2) * g[j] * g[j];
                w[j] -= step * m[j] / (sqrtf(v[j]) * rc2 + eps) + wd * w[j];
            }
        }
        return;
    }
    const float mu = o->momentum;
    for (int i = 0; i < o->n; i++) {
        float *w = o->param[i], *m = o->m[i];
        const float *g = grads[i];
        const float wd = o->decay[i] ? o->weight_decay : 0.0f;
        for (int64_t j = 0; j < o->numel[i]; j++) {
            m[j] = mu * m[j] + g[j] + wd * w[j];
            w[j] -= lr * m[j];
        }
    }
}

void cc_optim_free(cc_optim *o)
{
    for (int i = 0; i < o->n; i++) {
        free(o->m[i]);
        free(o->v[i]);
    }
    free(o->param);
    free(o->numel);
    free(o->decay);
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}
