/* Grad-CAM machinery shared by every "Why P?" / "Why P, rather than Q?" map:
 * one batched backward to the target layer, spatially averaged gradients as
 * channel weights, and all K maps as a single matrix product. */
#include "graph/internal.h"
#include "explain/project.h"
#include "ops/conv_kernels.h"
#include "util/mem.h"

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
    cc_graph_mark_upstream(g, reach);
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

/* maps (K x hw) = L (K x C) R (C x hw), ReLU'd unless `raw`.  Row blocks of a
 * fixed size, one single-threaded product each (OpenBLAS inside a parallel
 * region): with a 7x7 layer the maps are only 49 columns wide, which
 * OpenBLAS's own threading hardly splits, and a block size that does not
 * follow the thread count keeps the maps bit-identical across thread counts. */
#define CAM_ROWS 128   /* maps per product */
#define FEW_MAPS 4     /* up to this many maps: one pass over R each, no OpenBLAS */

/* A few maps (one explanation, Grad-CAM of P): row k accumulates L[k][c] R[c]
 * over c in order, vectorised along the map.  The product is tiny (MobileNetV2:
 * 63 k multiply-adds a map), and OpenBLAS's call, threading and packing cost
 * more than it (0.05 ms a map; on a CPU OpenBLAS does not know, its generic
 * kernels too).  One thread, one order: the same bits for any thread count. */
typedef float v16f __attribute__((vector_size(64), aligned(4)));

/* One map of hw <= 64 positions: the sums in NV vectors of 16 (registers, not
 * the map in memory: a store and a reload per channel cost 5 of MobileNetV2's
 * 7 us a map), each still m[i] += L[c] R[c][i] over c in order, a product then
 * a sum: the same bits.  Rows are read 16 NV wide, past hw into the next row
 * (lanes that are dropped); the last rows, whose reads would leave R, go
 * through a zero-padded copy.  NV a constant in each call: the sums stay in
 * registers. */
static inline __attribute__((always_inline)) void one_map_nv(const int NV, const float *restrict l, const float *R, int C,
                                                             int hw, float *restrict m)
{
    v16f acc[4] = { { 0 } };
    int c = 0;
    for (; c < C && (size_t)c * (size_t)hw + 16 * (size_t)NV <= (size_t)C * (size_t)hw; c++) {
        const float *r = R + (size_t)c * (size_t)hw;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[v] += l[c] * *(const v16f *)(r + 16 * v);
    }
    for (; c < C; c++) {
        float pad[64] = { 0 };
        memcpy(pad, R + (size_t)c * (size_t)hw, sizeof(float) * (size_t)hw);
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[v] += l[c] * *(const v16f *)(pad + 16 * v);
    }
    float out[64];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) memcpy(out + 16 * v, &acc[v], sizeof acc[v]);
    memcpy(m, out, sizeof(float) * (size_t)hw);
}

CC_HOT_CLONES
static void one_map_small(const float *restrict l, const float *R, int C, int hw, float *restrict m)
{
    switch ((hw + 15) / 16) {
    case 1: one_map_nv(1, l, R, C, hw, m); break;
    case 2: one_map_nv(2, l, R, C, hw, m); break;
    case 3: one_map_nv(3, l, R, C, hw, m); break;
    default: one_map_nv(4, l, R, C, hw, m); break;
    }
}

CC_HOT_CLONES
static void few_maps(const float *L, const float *R, int K, int C, int hw, float *maps, int raw)
{
    for (int k = 0; k < K; k++) {
        float *restrict m = maps + (size_t)k * (size_t)hw;
        if (hw <= 64) {
            one_map_small(L + (size_t)k * (size_t)C, R, C, hw, m);
            if (!raw)
#pragma omp simd
                for (int i = 0; i < hw; i++) m[i] = isgreater(m[i], 0.0f) ? m[i] : 0.0f;   /* ReLU; NaN becomes 0 too */
            continue;
        }
        memset(m, 0, sizeof(float) * (size_t)hw);
        for (int c = 0; c < C; c++) {
            const float a = L[(size_t)k * (size_t)C + (size_t)c];
            const float *restrict r = R + (size_t)c * (size_t)hw;
#pragma omp simd
            for (int i = 0; i < hw; i++) m[i] += a * r[i];
        }
        if (raw) continue;
#pragma omp simd
        for (int i = 0; i < hw; i++) m[i] = isgreater(m[i], 0.0f) ? m[i] : 0.0f;   /* ReLU; NaN becomes 0 too */
    }
}

static void maps_product(const float *L, const float *R, int K, int C, int hw, float *maps, int raw)
{
    if (K <= FEW_MAPS) {
        few_maps(L, R, K, C, hw, maps, raw);
        return;
    }
    int thr = cc_threads_begin();
    const int nblk = (K + CAM_ROWS - 1) / CAM_ROWS;
#pragma omp parallel for schedule(dynamic) if (nblk > 1 && (int64_t)K * hw * C >= ((int64_t)1 << 22))
    for (int b = 0; b < nblk; b++) {
        const int r0 = b * CAM_ROWS, nr = K - r0 < CAM_ROWS ? K - r0 : CAM_ROWS;
        float *mp = maps + (size_t)r0 * (size_t)hw;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, hw, C, 1.0f, L + (size_t)r0 * (size_t)C, C, R, hw, 0.0f,
                    mp, hw);
        if (raw) continue;
        const size_t nm = (size_t)nr * (size_t)hw;
#pragma omp simd
        for (size_t i = 0; i < nm; i++) mp[i] = isgreater(mp[i], 0.0f) ? mp[i] : 0.0f;   /* ReLU; NaN becomes 0 too */
    }
    cc_threads_end(thr);
}

/* maps (K x hw) = ReLU(alpha (K x C) A (C x hw)); out->alpha takes `owned` when
 * given (no copy), else a copy of alpha. */
static cc_status cam_maps(cc_session *s, int layer, const float *alpha, float *owned, int K, cc_cam *out)
{
    memset(out, 0, sizeof *out);
    if (!cc_is_spatial_layer(s->m, layer)) {
        free(owned);
        return cc_session_fail(s, CC_ERR_ARG, "the target layer must be a [1, C, h, w] activation with spatial extent");
    }
    const cc_tensor *t = &s->t[layer];
    int C = (int)t->dims[1], hw = (int)(t->dims[2] * t->dims[3]);
    out->K = K;
    out->channels = C;
    out->h = (int)t->dims[2];
    out->w = (int)t->dims[3];
    out->alpha = owned ? owned : malloc(sizeof(float) * (size_t)K * (size_t)C);
    out->maps = malloc(sizeof(float) * (size_t)K * (size_t)hw);
    if (!out->alpha || !out->maps) { cc_cam_free(out); return cc_session_fail(s, CC_ERR_NOMEM, "out of memory"); }
    if (!owned) memcpy(out->alpha, alpha, sizeof(float) * (size_t)K * (size_t)C);
    maps_product(out->alpha, (const float *)t->data, K, C, hw, out->maps, 0);
    return CC_OK;
}

cc_status cc_cam_maps(cc_session *s, int layer, const float *alpha, int K, cc_cam *out)
{
    return cam_maps(s, layer, alpha, NULL, K, out);
}

/* Channel weights from the batched backward: K seed rows from the output to
 * the layer, then the spatial mean.  Seeds go in chunks, so the K x numel
 * gradient buffers stay bounded whatever K is (every class = 1000 seeds). */
#define BWD_CHUNK 128
static cc_status weights_backward(cc_session *s, int layer, int output, const float *seeds, const int *rows, int K,
                                  float *alpha)
{
    const cc_tensor *t = &s->t[layer];
    const int C = (int)t->dims[1];
    const size_t hw = (size_t)(t->dims[2] * t->dims[3]);
    const size_t nout = (size_t)s->t[output].numel;
    float *chunk = NULL;
    if (rows) {
        chunk = calloc((size_t)(K < BWD_CHUNK ? K : BWD_CHUNK) * nout, sizeof(float));
        if (!chunk) return cc_session_fail(s, CC_ERR_NOMEM, "out of memory");
    }
    cc_status st = CC_OK;
    for (int k0 = 0; k0 < K && st == CC_OK; k0 += BWD_CHUNK) {
        int kn = K - k0 < BWD_CHUNK ? K - k0 : BWD_CHUNK;
        const float *sd = seeds + (size_t)k0 * nout;
        if (rows) {
            memset(chunk, 0, sizeof(float) * (size_t)kn * nout);
            for (int q = 0; q < kn; q++)
                if (rows[k0 + q] >= 0 && (size_t)rows[k0 + q] < nout) chunk[(size_t)q * nout + (size_t)rows[k0 + q]] = 1.0f;
            sd = chunk;
        }
        st = cc_session_backward(s, output, sd, kn, &layer, 1);
        if (st) break;
        const float *gr = cc_session_grad(s, layer, NULL);
        float *al = alpha + (size_t)k0 * (size_t)C;
        const int64_t rowsn = (int64_t)kn * C;
#pragma omp parallel for schedule(static) if (rowsn * (int64_t)hw >= 32768)
        for (int64_t kc = 0; kc < rowsn; kc++) {
            const float *gp = gr + (size_t)kc * hw;
            double sum = 0;
#pragma omp simd reduction(+ : sum)
            for (size_t i = 0; i < hw; i++) sum += gp[i];
            al[kc] = (float)(sum / (double)hw);
        }
    }
    free(chunk);
    return st;
}

static cc_status weights_any(cc_session *s, int layer, int output, const float *seeds, const int *rows, int K, float *alpha)
{
    if (!cc_is_spatial_layer(s->m, layer))
        return cc_session_fail(s, CC_ERR_ARG, "the target layer must be a [1, C, h, w] activation with spatial extent");
    if (!s->forwarded) return cc_session_fail(s, CC_ERR_ARG, "run forward first");
    if (output < 0 || output >= s->m->g.n_tensors || s->t[output].dtype != CC_DT_FLOAT)
        return cc_session_fail(s, CC_ERR_ARG, "the seeded tensor is not a float tensor of the model");
    if (K < 1 || !alpha || (!seeds && !rows)) return cc_session_fail(s, CC_ERR_ARG, "no seeds");
    if (s->cam_order != CC_CAM_BACKWARD) {
        int thr = cc_threads_begin();
        int rc = cc_proj_weights(s, layer, output, rows, seeds, K, alpha, s->cam_order == CC_CAM_PROJECTED);
        cc_threads_end(thr);
        if (rc == CC_OK) { s->cam_last = CC_CAM_PROJECTED; return CC_OK; }
        if (rc > 0) return cc_session_fail(s, rc, rc == CC_ERR_NOMEM ? "out of memory" : "projected channel weights failed");
    }
    s->cam_last = CC_CAM_BACKWARD;
    return weights_backward(s, layer, output, seeds, rows, K, alpha);
}

cc_status cc_cam_weights(cc_session *s, int layer, int output, const float *seeds, int K, float *alpha)
{
    if (!seeds) return cc_session_fail(s, CC_ERR_ARG, "no seeds");
    return weights_any(s, layer, output, seeds, NULL, K, alpha);
}

cc_status cc_cam_class_weights(cc_session *s, int layer, int output, float *G)
{
    if (output < 0 || output >= s->m->g.n_tensors || s->t[output].dtype != CC_DT_FLOAT)
        return cc_session_fail(s, CC_ERR_ARG, "the seeded tensor is not a float tensor of the model");
    int64_t C = s->t[output].numel;
    if (C < 1 || C > (1 << 24)) return cc_session_fail(s, CC_ERR_ARG, "the output is too large for one weight row per class");
    int *rows = malloc(sizeof(int) * (size_t)C);
    if (!rows) return cc_session_fail(s, CC_ERR_NOMEM, "out of memory");
    for (int c = 0; c < (int)C; c++) rows[c] = c;
    cc_status st = weights_any(s, layer, output, NULL, rows, (int)C, G);
    free(rows);
    return st;
}

/* dJ_Q/dz = p - onehot(Q), and the weights are linear in the seed:
 * alpha(Q) = sum_c p_c G[c] - G[Q]; pg = G' p as one matrix-vector product.
 * alpha may be G (in place).  Returns -1 when out of memory. */
static int contrast_weights(const float *G, const float *p, int C, int channels, float *alpha)
{
    float *pg = malloc(sizeof(float) * (size_t)(channels > 0 ? channels : 1));
    if (!pg) return -1;
    int thr = cc_threads_begin();
    cblas_sgemv(CblasRowMajor, CblasTrans, C, channels, 1.0f, G, channels, p, 1, 0.0f, pg, 1);
#pragma omp parallel for schedule(static) if ((int64_t)C * channels >= ((int64_t)1 << 18))
    for (int q = 0; q < C; q++) {
        const float *g = G + (size_t)q * (size_t)channels;
        float *a = alpha + (size_t)q * (size_t)channels;
#pragma omp simd
        for (int k = 0; k < channels; k++) a[k] = pg[k] - g[k];
    }
    cc_threads_end(thr);
    free(pg);
    return 0;
}

void cc_contrast_weights(const float *G, const float *p, int C, int channels, float *alpha)
{
    if (contrast_weights(G, p, C, channels, alpha))   /* no status to return: leave no stale weights */
        memset(alpha, 0, sizeof(float) * (size_t)C * (size_t)(channels > 0 ? channels : 0));
}

/* The pooled head's weights, scaled by the pooling's per-channel factor d and
 * packed for the register-tile products (conv_packed.c; (W diag(d)) A is a 1x1
 * convolution with C outputs over hw positions), kept by the session: this
 * product is most of an all-Q explanation (MobileNetV2: 63 M multiply-adds),
 * and OpenBLAS repacks W on every call.  Not once a weight of the model has
 * been handed out for writing (training, cc_graph_weights_live). */
struct cc_head_pack {
    const float *src;
    int64_t C, ch, hw;
    float *d;                   /* the scale it was packed with */
    cc_packed pk;
    float *w;
};

void cc_head_pack_free(struct cc_head_pack *hp)
{
    if (hp) free(hp->w), free(hp->d);
    free(hp);
}

static const struct cc_head_pack *head_pack(cc_session *s, const float *W, const float *d, int64_t C, int64_t ch, int64_t hw)
{
    struct cc_head_pack *hp = s->head_pack;
    if (hp && hp->src == W && hp->C == C && hp->ch == ch && hp->hw == hw && !memcmp(hp->d, d, sizeof(float) * (size_t)ch) &&
        !s->m->g.weights_live)
        return hp;
    cc_head_pack_free(hp);
    s->head_pack = hp = s->m->g.weights_live ? NULL : calloc(1, sizeof *hp);
    if (!hp) return NULL;
    float *Wd = NULL;
    int ok = cc_packed_plan(C, ch, hw, &hp->pk) && (hp->w = cc_alloc_huge(sizeof(float) * cc_packed_floats(&hp->pk), 0)) &&
             (hp->d = malloc(sizeof(float) * (size_t)ch)) && (Wd = malloc(sizeof(float) * (size_t)C * (size_t)ch));
    if (!ok) {
        free(Wd);
        cc_head_pack_free(hp);
        s->head_pack = NULL;
        return NULL;   /* no packed kernels here (or no memory for them): BLAS */
    }
    /* A is the layer after its activation, mostly zeros in a trained network */
    hp->pk.skip_zeros = 1;
    for (int64_t c = 0; c < C; c++)
        for (int64_t k = 0; k < ch; k++) Wd[c * ch + k] = W[c * ch + k] * d[k];
    cc_packed_weights(&hp->pk, Wd, hp->w);
    free(Wd);
    memcpy(hp->d, d, sizeof(float) * (size_t)ch);
    hp->src = W, hp->C = C, hp->ch = ch, hp->hw = hw;
    return hp;
}

/* p'B[i] = sum_k d[k] u[k] A[k, i] (A: ch x hw), in double, channel by channel;
 * pbf: the same rounded to float; Ad (when not NULL): d[k] A[k, i]. */
CC_HOT_CLONES
static void pull_back_map(const float *A, const float *d, const float *u, int ch, int hw, double *restrict pb,
                          float *restrict pbf, float *restrict Ad)
{
    for (int i = 0; i < hw; i++) pb[i] = 0;
    for (int k = 0; k < ch; k++) {
        const double du = (double)d[k] * u[k];
        const float dk = d[k];
        const float *restrict ak = A + (size_t)k * (size_t)hw;
#pragma omp simd
        for (int i = 0; i < hw; i++) pb[i] += du * ak[i];
        if (Ad) {
            float *restrict o = Ad + (size_t)k * (size_t)hw;
#pragma omp simd
            for (int i = 0; i < hw; i++) o[i] = dk * ak[i];
        }
    }
    for (int i = 0; i < hw; i++) pbf[i] = (float)pb[i];
}

/* Every contrast on a pooled head (G[c] = W[c] * d, cc_proj_head), straight
 * from the model's weights W: B = (W diag(d)) A holds every class's Grad-CAM
 * map before the ReLU (B[c] = G[c] A), and since alpha(Q) = p.G - G[Q] the
 * contrast map of Q is ReLU(p'B - B[Q]).  Neither G nor the C x channels
 * contrast weights are needed for the maps (for MobileNetV2 four passes over
 * 5 MB fewer); they are formed only when asked for.  The product reads the
 * rows the forward's classifier product has just streamed when that product
 * packed them (gemm.c; d then scales A): a second packed copy would come from
 * memory (0.07 ms of MobileNetV2's all-Q).  Otherwise W diag(d) is packed once
 * per session (head_pack); without packed kernels, d scales A instead.
 * p'B = (d * W'p)'A: with u = W'p from the forward (the softmax tap) it is one
 * pass over A, known before B, so the product's tiles store ReLU(p'B - B[Q])
 * directly; with packed kernels that pass is the product's own first one
 * (cc_packed_gemm_pullback: A read once, by both threads, and not copied
 * scaled beforehand: MobileNetV2 -0.01 ms); otherwise p'B is summed from B
 * afterwards (p: the probabilities, not read when u is given). */
static cc_status head_contrast_all(cc_session *s, int layer, const float *W, const float *d, const float *p,
                                   const float *u, int C, int want_alpha, cc_cam *out)
{
    const cc_tensor *t = &s->t[layer];
    const int ch = (int)t->dims[1], hw = (int)(t->dims[2] * t->dims[3]);
    out->K = C;
    out->channels = ch;
    out->h = (int)t->dims[2];
    out->w = (int)t->dims[3];
    out->maps = malloc(sizeof(float) * (size_t)C * (size_t)hw);
    double *pb = malloc(sizeof(double) * (size_t)hw);
    float *pbf = malloc(sizeof(float) * (size_t)hw);
    if (want_alpha) out->alpha = malloc(sizeof(float) * (size_t)C * (size_t)ch);
    if (!out->maps || !pb || !pbf || (want_alpha && !out->alpha)) {
        free(pb), free(pbf);
        cc_cam_free(out);
        return cc_session_fail(s, CC_ERR_NOMEM, "out of memory");
    }
    const float *A = t->data;
    /* the forward's classifier product read W's rows packed (gemm.c): the same
     * bytes serve here, still in the caches, with d moved onto A */
    const int fwd_pack = u && s->tap.wp && s->tap.pk && s->tap.w == W && s->tap.pk->M == C && s->tap.pk->K == ch;
    const struct cc_head_pack *hp = fwd_pack ? NULL : head_pack(s, W, d, C, ch, hw);
    int thr = cc_threads_begin();
    /* p'B and the scaled copy of A in the product's own first pass (both
     * threads, A read once): 1 when the plan is not one it takes */
    int rc = 1;
    if (fwd_pack) {
        cc_packed pk = *s->tap.pk;
        pk.skip_zeros = 1;   /* A is the layer after its activation, mostly zeros in a trained network */
        rc = cc_packed_gemm_pullback(&pk, s->tap.wp, A, hw, hw, out->maps, hw, &(cc_pullback){ d, d, u });
    } else if (hp && u) {
        rc = cc_packed_gemm_pullback(&hp->pk, hp->w, A, hw, hw, out->maps, hw, &(cc_pullback){ NULL, d, u });
    }
    float *Ad = rc > 0 && fwd_pack ? malloc(sizeof(float) * (size_t)ch * (size_t)hw) : NULL;
    if (rc < 0 || (rc > 0 && fwd_pack && !Ad)) {
        cc_threads_end(thr);
        free(pb), free(pbf);
        cc_cam_free(out);
        return cc_session_fail(s, CC_ERR_NOMEM, "out of memory");
    }
    if (rc > 0 && u) pull_back_map(A, d, u, ch, hw, pb, pbf, Ad);
    if (rc == 0) {
        /* done */
    } else if (fwd_pack) {
        cc_packed pk = *s->tap.pk;
        pk.skip_zeros = 1;
        cc_packed_gemm_contrast(&pk, s->tap.wp, Ad, hw, hw, out->maps, hw, pbf);
        free(Ad);
    } else if (hp && u) {
        cc_packed_gemm_contrast(&hp->pk, hp->w, A, hw, hw, out->maps, hw, pbf);
    } else {
        if (hp) {
            cc_packed_gemm(&hp->pk, hp->w, A, hw, hw, out->maps, hw, NULL, cc_ctx_post(NULL));
        } else {
            float *Ad = malloc(sizeof(float) * (size_t)ch * (size_t)hw);
            if (!Ad) {
                cc_threads_end(thr);
                free(pb), free(pbf);
                cc_cam_free(out);
                return cc_session_fail(s, CC_ERR_NOMEM, "out of memory");
            }
            for (int k = 0; k < ch; k++)
                for (int i = 0; i < hw; i++) Ad[(size_t)k * (size_t)hw + (size_t)i] = d[k] * A[(size_t)k * (size_t)hw + (size_t)i];
            maps_product(W, Ad, C, ch, hw, out->maps, 1);
            free(Ad);
        }
        if (!u) {
            /* p'B in double, class by class: the same sum whatever the thread count */
            for (int i = 0; i < hw; i++) pb[i] = 0;
            for (int c = 0; c < C; c++) {
                const float *bc = out->maps + (size_t)c * (size_t)hw;
                for (int i = 0; i < hw; i++) pb[i] += (double)p[c] * bc[i];
            }
            for (int i = 0; i < hw; i++) pbf[i] = (float)pb[i];
        }
#pragma omp parallel for schedule(static) if ((int64_t)C * hw >= CC_PAR_MIN)
        for (int c = 0; c < C; c++) {
            float *bc = out->maps + (size_t)c * (size_t)hw;
#pragma omp simd
            for (int i = 0; i < hw; i++) {
                float v = pbf[i] - bc[i];
                bc[i] = isgreater(v, 0.0f) ? v : 0.0f;   /* v > 0 ? v : 0, as a quiet comparison: it vectorises */
            }
        }
    }
    free(pb);
    free(pbf);
    if (want_alpha) {
        /* alpha[Q] = pg - W[Q] * d with pg = d * (W'p) = d * u */
        float *pg = malloc(sizeof(float) * (size_t)ch);
        if (!pg) {
            cc_threads_end(thr);
            cc_cam_free(out);
            return cc_session_fail(s, CC_ERR_NOMEM, "out of memory");
        }
        if (u) memcpy(pg, u, sizeof(float) * (size_t)ch);
        else cblas_sgemv(CblasRowMajor, CblasTrans, C, ch, 1.0f, W, ch, p, 1, 0.0f, pg, 1);
        for (int k = 0; k < ch; k++) pg[k] *= d[k];
#pragma omp parallel for schedule(static) if ((int64_t)C * ch >= ((int64_t)1 << 18))
        for (int q = 0; q < C; q++) {
            const float *restrict w = W + (size_t)q * (size_t)ch;
            float *restrict a = out->alpha + (size_t)q * (size_t)ch;
#pragma omp simd
            for (int k = 0; k < ch; k++) a[k] = pg[k] - w[k] * d[k];
        }
        free(pg);
    }
    cc_threads_end(thr);
    return CC_OK;
}

/* softmax(z) of the output (a new buffer), or NULL when out of memory. */
static float *softmax_of(cc_session *s, int output)
{
    float *p = malloc(sizeof(float) * (size_t)s->t[output].numel);
    if (p) cc_softmax(s->t[output].data, (int)s->t[output].numel, p);
    return p;
}

static cc_status contrast_all(cc_session *s, int layer, int output, const float *p, int want_alpha, cc_cam *out)
{
    memset(out, 0, sizeof *out);
    if (!cc_is_spatial_layer(s->m, layer))
        return cc_session_fail(s, CC_ERR_ARG, "the target layer must be a [1, C, h, w] activation with spatial extent");
    if (output < 0 || output >= s->m->g.n_tensors || s->t[output].dtype != CC_DT_FLOAT)
        return cc_session_fail(s, CC_ERR_ARG, "the seeded tensor is not a float tensor of the model");
    int64_t C = s->t[output].numel;
    int ch = (int)s->t[layer].dims[1];
    if (C < 1 || C > (1 << 24)) return cc_session_fail(s, CC_ERR_ARG, "the output is too large for one weight row per class");
    if (!s->forwarded) return cc_session_fail(s, CC_ERR_ARG, "run forward first");
    s->cam_pullback = 0;
    float *pown = NULL;
    cc_status st = CC_OK;
    if (s->cam_order != CC_CAM_BACKWARD) {
        float *d = malloc(sizeof(float) * (size_t)ch);
        const float *W = NULL;
        int rc = d ? cc_proj_head(s, layer, output, &W, d) : CC_ERR_NOMEM;
        if (rc == CC_OK) {
            s->cam_last = CC_CAM_PROJECTED;
            /* p = softmax(z) asked for, and the forward formed W' softmax(z) */
            const float *u = !p && s->tap.done && s->tap_output == output && s->tap.w == W && s->tap.k == ch &&
                                     s->tap.n == C ? s->tap.u : NULL;
            if (!u && !p && !(p = pown = softmax_of(s, output))) st = cc_session_fail(s, CC_ERR_NOMEM, "out of memory");
            if (!st) st = head_contrast_all(s, layer, W, d, p, u, (int)C, want_alpha, out);
            s->cam_pullback = u && !st;
            free(d);
            free(pown);
            return st;
        }
        free(d);
        if (rc > 0) return cc_session_fail(s, rc, "out of memory");
    }
    if (!p && !(p = pown = softmax_of(s, output))) return cc_session_fail(s, CC_ERR_NOMEM, "out of memory");
    /* G in the buffer that becomes alpha: alpha[Q] = p.G - G[Q], in place */
    float *a = malloc(sizeof(float) * (size_t)C * (size_t)ch);
    if (!a) st = cc_session_fail(s, CC_ERR_NOMEM, "out of memory");
    if (!st) st = cc_cam_class_weights(s, layer, output, a);
    if (!st && contrast_weights(a, p, (int)C, ch, a)) st = cc_session_fail(s, CC_ERR_NOMEM, "out of memory");
    free(pown);
    if (st) { free(a); return st; }
    st = cam_maps(s, layer, NULL, a, (int)C, out);
    if (st == CC_OK && !want_alpha) {
        free(out->alpha);
        out->alpha = NULL;
    }
    return st;
}

cc_status cc_cam_contrast_all(cc_session *s, int layer, int output, const float *p, cc_cam *out)
{
    return contrast_all(s, layer, output, p, 1, out);
}

cc_status cc_cam_contrast_all_maps(cc_session *s, int layer, int output, const float *p, cc_cam *out)
{
    return contrast_all(s, layer, output, p, 0, out);
}

void cc_cam_set_order(cc_session *s, cc_cam_order order)
{
    if (s) s->cam_order = order;
}

cc_cam_order cc_cam_last_order(const cc_session *s)
{
    return s ? (cc_cam_order)s->cam_last : CC_CAM_AUTO;
}

cc_status cc_cam_compute(cc_session *s, int layer, int output, const float *seeds, int K, cc_cam *out)
{
    memset(out, 0, sizeof *out);
    if (!cc_is_spatial_layer(s->m, layer))
        return cc_session_fail(s, CC_ERR_ARG, "the target layer must be a [1, C, h, w] activation with spatial extent");
    if (K < 1) return cc_session_fail(s, CC_ERR_ARG, "the seed batch K must be >= 1");
    int C = (int)s->t[layer].dims[1];
    float *alpha = malloc(sizeof(float) * (size_t)K * (size_t)C);
    if (!alpha) return cc_session_fail(s, CC_ERR_NOMEM, "out of memory");
    cc_status st = cc_cam_weights(s, layer, output, seeds, K, alpha);
    if (st == CC_OK) st = cc_cam_maps(s, layer, alpha, K, out);
    free(alpha);
    return st;
}

cc_status cc_cam_contrast(cc_session *s, int layer, int output, const int *Q, int K, cc_cam *out)
{
    memset(out, 0, sizeof *out);
    if (!cc_is_spatial_layer(s->m, layer))
        return cc_session_fail(s, CC_ERR_ARG, "the target layer must be a [1, C, h, w] activation with spatial extent");
    if (output < 0 || output >= s->m->g.n_tensors || s->t[output].dtype != CC_DT_FLOAT)
        return cc_session_fail(s, CC_ERR_ARG, "the seeded tensor is not a float tensor of the model");
    if (!s->forwarded) return cc_session_fail(s, CC_ERR_ARG, "run forward first");
    const int64_t C = s->t[output].numel;
    if (K < 1 || !Q) return cc_session_fail(s, CC_ERR_ARG, "no contrast classes");
    for (int k = 0; k < K; k++)
        if (Q[k] < 0 || Q[k] >= C) return cc_session_fail(s, CC_ERR_ARG, "a contrast class is out of range");
    const int ch = (int)s->t[layer].dims[1];
    s->cam_pullback = 0;
    if (s->tap.done && s->tap_output == output && s->tap.k == ch && s->tap.n == C && s->cam_order != CC_CAM_BACKWARD) {
        /* alpha(Q) = d * (W'(p - onehot(Q))) = d * (u - W[Q]), u from the forward */
        float *d = malloc(sizeof(float) * (size_t)ch), *alpha = malloc(sizeof(float) * (size_t)K * (size_t)ch);
        const float *W = NULL;
        int rc = d && alpha ? cc_proj_head(s, layer, output, &W, d) : CC_ERR_NOMEM;
        if (rc == CC_OK && W == s->tap.w) {
            for (int k = 0; k < K; k++) {
                const float *w = W + (size_t)Q[k] * (size_t)ch;
                float *a = alpha + (size_t)k * (size_t)ch;
                for (int c = 0; c < ch; c++) a[c] = d[c] * (s->tap.u[c] - w[c]);
            }
            free(d);
            s->cam_last = CC_CAM_PROJECTED;
            s->cam_macs = (double)K * ch;
            s->cam_pullback = 1;
            return cam_maps(s, layer, NULL, alpha, K, out);
        }
        free(d);
        free(alpha);
        if (rc > 0) return cc_session_fail(s, rc, "out of memory");
    }
    float *seeds = malloc(sizeof(float) * (size_t)K * (size_t)C);
    if (!seeds) return cc_session_fail(s, CC_ERR_NOMEM, "out of memory");
    cc_softmax(s->t[output].data, (int)C, seeds);   /* once; every seed is p - onehot(Q[k]) */
    for (int k = 1; k < K; k++) memcpy(seeds + (size_t)k * (size_t)C, seeds, sizeof(float) * (size_t)C);
    for (int k = 0; k < K; k++) seeds[(size_t)k * (size_t)C + (size_t)Q[k]] -= 1.0f;
    cc_status st = cc_cam_compute(s, layer, output, seeds, K, out);
    free(seeds);
    return st;
}

void cc_softmax(const float *z, int C, float *p)
{
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < C; i++) if (z[i] > mx) mx = z[i];
    double *e = malloc(sizeof(double) * (size_t)(C > 0 ? C : 1));   /* each exp once (without memory: twice) */
    for (int i = 0; i < C; i++) {
        double v = exp((double)z[i] - mx);
        if (e) e[i] = v;
        sum += v;
    }
    for (int i = 0; i < C; i++) p[i] = (float)((e ? e[i] : exp((double)z[i] - mx)) / sum);
    free(e);
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
