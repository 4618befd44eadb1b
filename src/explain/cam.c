/* Grad-CAM machinery shared by every "Why P?" / "Why P, rather than Q?" map:
 * one batched backward to the target layer, spatially averaged gradients as
 * channel weights, and all K maps as a single matrix product. */
#include "graph/internal.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int cc_is_spatial_layer(const cc_model *m, int tensor)
{
    if (tensor < 0 || tensor >= m->g.n_tensors) return 0;
    const cc_tensor *t = &m->g.tensors[tensor];
    return !t->is_const && t->dtype == CC_DT_FLOAT && t->ndim == 4 && t->dims[0] == 1 && t->dims[2] * t->dims[3] > 1;
}

static int is_pool(const char *op)
{
    return !strcmp(op, "MaxPool") || !strcmp(op, "AveragePool") || !strcmp(op, "LpPool");
}

int cc_default_layer(const cc_model *m)
{
    const cc_graph *g = &m->g;
    const char *meta = cc_model_metadata(m, "gradcam.target");
    if (meta) {
        int t = cc_graph_find(g, meta);
        if (cc_is_spatial_layer(m, t)) return t;
    }
    if (g->n_outputs < 1) return -1;
    /* tensors that reach the first output */
    unsigned char *reach = calloc((size_t)g->n_tensors + 1, 1);
    if (!reach) return -1;
    reach[g->outputs[0]] = 1;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        const cc_node *n = &g->nodes[i];
        int r = 0;
        for (int j = 0; j < n->n_out; j++) r |= reach[n->out[j]];
        if (r) for (int j = 0; j < n->n_in; j++) if (n->in[j] >= 0) reach[n->in[j]] = 1;
    }
    int best = -1;
    for (int i = g->n_nodes - 1; i >= 0 && best < 0; i--) {
        const cc_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_out; j++)
            if (reach[n->out[j]] && cc_is_spatial_layer(m, n->out[j])) { best = n->out[j]; break; }
    }
    /* step back over pooling: explain the features before they are pooled away */
    while (best >= 0) {
        int p = g->tensors[best].producer;
        if (p < 0 || !is_pool(g->nodes[p].op_type) || g->nodes[p].in[0] < 0) break;
        int prev = g->nodes[p].in[0];
        if (!cc_is_spatial_layer(m, prev)) break;
        best = prev;
    }
    free(reach);
    return best;
}

void cc_cam_free(cc_cam *c)
{
    if (!c) return;
    free(c->alpha);
    free(c->maps);
    memset(c, 0, sizeof *c);
}

cc_status cc_cam_maps(cc_session *s, int layer, const float *alpha, int K, cc_cam *out)
{
    memset(out, 0, sizeof *out);
    if (!cc_is_spatial_layer(s->m, layer))
        return cc_session_fail(s, CC_ERR_ARG, "the target layer must be a [1, C, h, w] activation with spatial extent");
    const cc_tensor *t = &s->t[layer];
    int C = (int)t->dims[1], hw = (int)(t->dims[2] * t->dims[3]);
    out->K = K;
    out->channels = C;
    out->h = (int)t->dims[2];
    out->w = (int)t->dims[3];
    out->alpha = malloc(sizeof(float) * (size_t)K * (size_t)C);
    out->maps = malloc(sizeof(float) * (size_t)K * (size_t)hw);
    if (!out->alpha || !out->maps) { cc_cam_free(out); return cc_session_fail(s, CC_ERR_NOMEM, "out of memory"); }
    memcpy(out->alpha, alpha, sizeof(float) * (size_t)K * (size_t)C);
    /* maps (K x hw) = alpha (K x C) * A (C x hw) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, hw, C, 1.0f, alpha, C, (const float *)t->data, hw, 0.0f,
                out->maps, hw);
    for (size_t i = 0; i < (size_t)K * (size_t)hw; i++)
        if (!(out->maps[i] > 0)) out->maps[i] = 0;   /* ReLU; NaN becomes 0 too */
    return CC_OK;
}

cc_status cc_cam_compute(cc_session *s, int layer, int output, const float *seeds, int K, cc_cam *out)
{
    memset(out, 0, sizeof *out);
    if (!cc_is_spatial_layer(s->m, layer))
        return cc_session_fail(s, CC_ERR_ARG, "the target layer must be a [1, C, h, w] activation with spatial extent");
    cc_status st = cc_session_backward(s, output, seeds, K, &layer, 1);
    if (st) return st;
    const cc_tensor *t = &s->t[layer];
    int C = (int)t->dims[1];
    size_t hw = (size_t)(t->dims[2] * t->dims[3]);
    const float *gr = cc_session_grad(s, layer, NULL);
    float *alpha = malloc(sizeof(float) * (size_t)K * (size_t)C);
    if (!alpha) return cc_session_fail(s, CC_ERR_NOMEM, "out of memory");
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C; c++) {
            const float *gp = gr + ((size_t)k * (size_t)C + (size_t)c) * hw;
            double sum = 0;
            for (size_t i = 0; i < hw; i++) sum += gp[i];
            alpha[(size_t)k * (size_t)C + (size_t)c] = (float)(sum / (double)hw);
        }
    st = cc_cam_maps(s, layer, alpha, K, out);
    free(alpha);
    return st;
}

void cc_softmax(const float *z, int C, float *p)
{
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < C; i++) if (z[i] > mx) mx = z[i];
    for (int i = 0; i < C; i++) sum += exp((double)z[i] - mx);
    for (int i = 0; i < C; i++) p[i] = (float)(exp((double)z[i] - mx) / sum);
}

void cc_seed_class(float *seed, int C, int P)
{
    memset(seed, 0, sizeof(float) * (size_t)C);
    if (P >= 0 && P < C) seed[P] = 1.0f;
}

void cc_seed_contrast(float *seed, const float *logits, int C, int Q)
{
    cc_softmax(logits, C, seed);
    if (Q >= 0 && Q < C) seed[Q] -= 1.0f;
}
