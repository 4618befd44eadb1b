/* Grad-CAM channel weights for many seeds without a K-seed backward pass.
 *
 * What is needed.  For seed rows S (K x C at the output z) the channel weights
 * at the target A ([1, ch, h, w]) are alpha = S . J . P, where J = dz/dA is the
 * Jacobian of the fixed forward pass (the backward pass is linear in the seed:
 * ReLU and max-pool decisions are fixed by the forward values) and P
 * (numel(A) x ch) is the spatial mean, P[(c,i,j), c] = 1/hw.  The batched
 * backward evaluates this product from the left: K rows through every layer
 * after A, then the mean.  For VGG-16 and K = 1000 (every class) that is
 * 1000 x (25088x4096 + 4096x4096 + 4096x1000) = 123 G multiply-adds, almost all
 * of it the input gradient of the first fully connected layer, plus K x numel(A)
 * gradient buffers (400 MB).
 *
 * The cheaper order.  P is tiny from the other side: pushed forward (Jacobian-
 * vector products) through the layers between A and the first Gemm/MatMul, every
 * column of P stays inside its own channel, because those layers (ReLU, Clip,
 * MaxPool, AveragePool, GlobalAveragePool, Dropout, reshapes) act channel by
 * channel.  So all ch tangents travel as ONE tensor shaped like the activation,
 * T0 (n0 values, n0 = ch x s), whose element k belongs to channel k / s.  For
 * VGG-16 (A = features.29, 512x14x14) T0 is the max-pool JVP of the constant
 * tangent (25088 values, 49 per channel); for ResNet-50 and MobileNetV2 (global
 * average pooling, which is linear) it is just 2048 / 1280 constants.
 * W1 . T0 is then a block contraction (each W1 row summed in 512 blocks of 49
 * with T0's weights): one pass over W1 (n0 x d1 multiply-adds) instead of K.
 * What remains is a plain matrix chain
 *     S . W_L . D_{L-1} . W_{L-1} ... D_1 . (W_1 T0)      (D_i = ReLU masks)
 * whose masks let us drop the inactive rows/columns of every W_i (about half of
 * them for ReLU), evaluated in the cheapest association order found by the
 * classic matrix-chain dynamic programme.  For VGG-16 and every class this is
 * about 2048x2048x512 + 1000x2048x512 = 3.2 G multiply-adds (right to left, the
 * side where the 512 channels keep the matrices small), ~40x less than the
 * batched backward, and no K x numel buffers at all.  For ResNet-50 / MobileNetV2
 * the whole tail is W_fc scaled per column: C x ch multiply-adds.
 *
 * Scope.  The tail from A to the output must be a single chain of the ops above
 * followed by Gemm/MatMul with constant weights (or a one-tap Conv of a
 * [1, C, 1, 1] tensor, which is the same thing), with ReLU/Clip masks, Dropout,
 * Identity, reshapes and constant bias Add/Sub between them (the classifier
 * heads of VGG, AlexNet, ResNet, MobileNet, DenseNet, EfficientNet-style nets
 * after their last activation).  Anything else (a Conv after the target, a
 * branch, Softmax inside the graph) declines, and the caller runs the batched
 * backward, which handles every differentiable graph.  In auto mode the
 * projected order is also declined when its multiply-add estimate is not below
 * the backward's (e.g. one seed through a tail without masks). */
#include "explain/project.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define MAX_STEPS 64
#define MAX_IO 64

typedef struct lin {
    const float *w;
    int64_t din, dout;
    int trans;                /* 0: W(r,k) = w[r*din + k] (row-major dout x din); 1: W(r,k) = w[k*dout + r] */
    float scale;
    unsigned char *mask;      /* active outputs after this layer (NULL = all); owned */
} lin;

typedef struct plan {
    int ch;
    int64_t s, n0;
    float *t;                 /* T0: n0 values, element k belongs to channel k / s */
    lin L[MAX_STEPS];
    int nL;
    double spatial_cost;      /* per-seed cost of the backward through the spatial part */
} plan;

static void plan_free(plan *p)
{
    free(p->t);
    for (int i = 0; i < p->nL; i++) free(p->L[i].mask);
    memset(p, 0, sizeof *p);
}

static int is_op(const cc_node *n, const char *op) { return !strcmp(n->op_type, op); }

/* Make T0 (all ones until now) when its values are needed. */
static int plan_ones(plan *p)
{
    if (p->t) return 0;
    if (!(p->t = malloc(sizeof(float) * (size_t)(p->n0 > 0 ? p->n0 : 1)))) return -2;
    for (int64_t k = 0; k < p->n0; k++) p->t[k] = 1.0f;
    return 0;
}

/* Apply an elementwise mask (from the node's forward values) to the tangent, or
 * record it on the last linear layer's outputs. */
static int add_mask(plan *p, const cc_tensor *X, const cc_tensor *Y, int relu)
{
    const float *x = X->data, *y = Y->data;
    int64_t n = X->numel;
    if (p->nL == 0) {
        if (n != p->n0) return -1;
        for (int64_t k = 0; k < n; k++) {
            int on = relu ? x[k] > 0 : y[k] == x[k];
            if (!on) p->t[k] = 0.0f;
        }
        return 0;
    }
    lin *l = &p->L[p->nL - 1];
    if (n != l->dout) return -1;
    if (!l->mask) {
        l->mask = malloc((size_t)n);
        if (!l->mask) return -2;
        memset(l->mask, 1, (size_t)n);
    }
    for (int64_t k = 0; k < n; k++) {
        int on = relu ? x[k] > 0 : y[k] == x[k];
        if (!on) l->mask[k] = 0;
    }
    return 0;
}

/* Walk the chain from the target to the output and push the spatial-mean
 * tangent through it.  Returns 0 = plan ready, -1 = not supported, -2 = out of memory. */
static int plan_build(cc_session *s, int layer, int output, plan *p)
{
    memset(p, 0, sizeof *p);
    const cc_graph *g = &s->m->g;
    int nt = g->n_tensors;
    unsigned char *reach = calloc((size_t)nt, 1);
    if (!reach) return -2;
    reach[output] = 1;
    cc_graph_mark_upstream(g, reach);
    int rc = -1;
    const cc_tensor *A = &s->t[layer];
    if (!reach[layer]) goto out;
    p->ch = (int)A->dims[1];
    p->s = A->dims[2] * A->dims[3];
    p->n0 = A->numel;
    /* T0 starts as all ones, made only when something needs its values: global
     * average pooling of ones is ones, one per channel, so a pooled head never
     * builds the activation-sized tangent (MobileNetV2: 250 KB per call) */
    p->t = NULL;
    int cur = layer, spatial = 1, steps = 0;
    while (cur != output) {
        if (++steps > MAX_STEPS) goto out;
        int cn = -1, cnt = 0, pos = -1;
        for (int i = 0; i < g->n_nodes; i++) {
            const cc_node *n = &g->nodes[i];
            int uses = 0, r = 0, at = -1;
            for (int j = 0; j < n->n_in; j++) if (n->in[j] == cur) uses++, at = j;
            if (!uses) continue;
            for (int j = 0; j < n->n_out; j++) r |= reach[n->out[j]];
            if (!r) continue;
            if (uses > 1) goto out;
            cnt++, cn = i, pos = at;
        }
        if (cnt != 1) goto out;
        const cc_node *n = &g->nodes[cn];
        int nxt = -1;
        for (int j = 0; j < n->n_out; j++)
            if (reach[n->out[j]]) {
                if (j != 0) goto out;
                nxt = n->out[j];
            }
        if (nxt < 0) goto out;
        for (int j = 0; j < n->n_in; j++)
            if (j != pos && n->in[j] >= 0 && !s->t[n->in[j]].is_const) goto out;
        const cc_tensor *X = &s->t[cur], *Y = &s->t[nxt];
        if (X->dtype != CC_DT_FLOAT || Y->dtype != CC_DT_FLOAT) goto out;
        int same = X->numel == Y->numel;
        if (is_op(n, "Relu") || is_op(n, "Clip")) {
            if (pos != 0 || !same) goto out;
            int m = p->nL == 0 ? plan_ones(p) : 0;
            if (!m) m = add_mask(p, X, Y, is_op(n, "Relu"));
            if (m) { rc = m; goto out; }
            p->spatial_cost += p->nL ? 0 : (double)X->numel;
        } else if (is_op(n, "Dropout") || is_op(n, "Identity")) {
            if (pos != 0 || !same) goto out;
        } else if (is_op(n, "Flatten") || is_op(n, "Reshape") || is_op(n, "Squeeze") || is_op(n, "Unsqueeze")) {
            /* memory order unchanged: element k still belongs to channel k / s */
            if (pos != 0 || !same) goto out;
            spatial = 0;
        } else if (is_op(n, "Add") || is_op(n, "Sub")) {
            /* a constant bias: the derivative is the identity */
            if ((is_op(n, "Sub") && pos != 0) || !same) goto out;
        } else if (is_op(n, "MaxPool") || is_op(n, "AveragePool") || is_op(n, "GlobalAveragePool")) {
            if (!spatial || pos != 0 || X->ndim != 4 || Y->ndim != 4 || Y->dims[0] != 1 || Y->dims[1] != p->ch) goto out;
            float *ty = malloc(sizeof(float) * (size_t)(Y->numel ? Y->numel : 1));
            if (!ty) { rc = -2; goto out; }
            int e = 0;
            if (!p->t && is_op(n, "GlobalAveragePool")) {
                for (int64_t k = 0; k < Y->numel; k++) ty[k] = 1.0f;
            } else if (plan_ones(p)) {
                free(ty);
                rc = -2;
                goto out;
            } else if (is_op(n, "MaxPool")) {
                e = cc_maxpool_jvp(n, X, p->t, ty);
            } else {
                /* linear: the JVP is the op itself applied to the tangent */
                cc_tensor tin = *X, tout = *Y, *in[MAX_IO], *ou[MAX_IO];
                if (n->n_in > MAX_IO || n->n_out > MAX_IO) { free(ty); goto out; }
                tin.data = p->t;
                tout.data = ty;
                for (int j = 0; j < n->n_in; j++) in[j] = n->in[j] >= 0 ? &s->t[n->in[j]] : NULL;
                for (int j = 0; j < n->n_out; j++) ou[j] = &s->t[n->out[j]];
                in[0] = &tin;
                ou[0] = &tout;
                e = n->op->forward(n, in, ou, &s->ctx);
            }
            if (e) { free(ty); rc = e == CC_E_NOMEM ? -2 : -1; goto out; }
            free(p->t);
            p->t = ty;
            p->spatial_cost += (double)X->numel;
            p->n0 = Y->numel;
            p->s = Y->numel / p->ch;
        } else if (is_op(n, "Gemm") || is_op(n, "MatMul")) {
            if (pos != 0 || n->n_in < 2 || n->in[1] < 0 || p->nL >= MAX_STEPS) goto out;
            const cc_tensor *B = &s->t[n->in[1]];
            if (B->ndim != 2 || B->dtype != CC_DT_FLOAT || !B->data) goto out;
            lin *l = &p->L[p->nL];
            memset(l, 0, sizeof *l);
            l->w = B->data;
            l->scale = 1.0f;
            if (is_op(n, "Gemm")) {
                int tb = cc_attr_int(n, "transB", 0) != 0;
                l->scale = cc_attr_float(n, "alpha", 1.0f);
                l->din = tb ? B->dims[1] : B->dims[0];
                l->dout = tb ? B->dims[0] : B->dims[1];
                l->trans = !tb;
            } else {
                if (X->dims[X->ndim - 1] != B->dims[0]) goto out;
                l->din = B->dims[0];
                l->dout = B->dims[1];
                l->trans = 1;
            }
            /* a single input row: x is [1, din] (or a vector); y has dout values */
            if (X->numel != l->din || Y->numel != l->dout) goto out;
            if (p->nL == 0 && l->din != p->n0) goto out;
            p->nL++;
            spatial = 0;
        } else if (is_op(n, "Conv")) {
            /* a one-tap convolution of one value per channel, [1, C, 1, 1] -> [1, M, 1, 1]
             * (a classifier written as a convolution after global pooling, as Keras
             * exports do) is a fully connected layer: W is M x C row-major */
            if (pos != 0 || n->n_in < 2 || n->in[1] < 0 || p->nL >= MAX_STEPS) goto out;
            const cc_tensor *B = &s->t[n->in[1]];
            if (B->ndim < 3 || B->dtype != CC_DT_FLOAT || !B->data || cc_attr_int(n, "group", 1) != 1) goto out;
            int64_t taps = 1;
            for (int i = 2; i < B->ndim; i++) taps *= B->dims[i];
            if (taps != 1 || X->numel != B->dims[1] || Y->numel != B->dims[0]) goto out;
            if (p->nL == 0 && B->dims[1] != p->n0) goto out;
            lin *l = &p->L[p->nL];
            memset(l, 0, sizeof *l);
            l->w = B->data;
            l->scale = 1.0f;
            l->din = B->dims[1];
            l->dout = B->dims[0];
            p->nL++;
            spatial = 0;
        } else {
            goto out;
        }
        cur = nxt;
    }
    if (p->nL == 0 && p->n0 != s->t[output].numel) goto out;
    if (plan_ones(p)) { rc = -2; goto out; }
    rc = 0;
out:
    free(reach);
    if (rc) plan_free(p);
    return rc;
}

/* ---- linear algebra helpers ---------------------------------------------------- */

static float lin_w(const lin *l, int64_t r, int64_t k)
{
    return l->trans ? l->w[k * l->dout + r] : l->w[r * l->din + k];
}

/* X (n x ch) with X[i, c] = scale * sum over block c of W(rows[i], k) t[k]; rows[i] < 0: zero row. */
static int block_contract(const lin *l, const int *rows, int n, const float *t, int ch, int64_t s, float *X)
{
    if (!l->trans && s == 1) {
        /* one value per channel (after global average pooling): X = W[rows] diag(t) */
#pragma omp parallel for schedule(static) if ((int64_t)n * l->din >= ((int64_t)1 << 18))
        for (int i = 0; i < n; i++) {
            float *xr = X + (size_t)i * (size_t)ch;
            if (rows[i] < 0) { memset(xr, 0, sizeof(float) * (size_t)ch); continue; }
            const float *restrict w = l->w + (int64_t)rows[i] * l->din;
            const float sc = l->scale;
#pragma omp simd
            for (int c = 0; c < ch; c++) xr[c] = w[c] * t[c] * sc;
        }
        return 0;
    }
    if (!l->trans) {
#pragma omp parallel for schedule(static) if ((int64_t)n * l->din >= CC_PAR_MIN)
        for (int i = 0; i < n; i++) {
            float *xr = X + (size_t)i * (size_t)ch;
            if (rows[i] < 0) { memset(xr, 0, sizeof(float) * (size_t)ch); continue; }
            const float *w = l->w + (int64_t)rows[i] * l->din;
            for (int c = 0; c < ch; c++) {
                const float *wc = w + c * s, *tc = t + c * s;
                float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
                for (int64_t k = 0; k < s; k++) acc += wc[k] * tc[k];
                xr[c] = acc * l->scale;
            }
        }
        return 0;
    }
    /* W stored transposed (din x dout): per channel, sum the block's rows of w */
    float *xt = malloc(sizeof(float) * (size_t)n * (size_t)ch);
    if (!xt) return -2;
#pragma omp parallel for schedule(static) if ((int64_t)n * l->din >= CC_PAR_MIN)
    for (int c = 0; c < ch; c++) {
        float *acc = xt + (size_t)c * (size_t)n;
        for (int i = 0; i < n; i++) acc[i] = 0.0f;
        for (int64_t k = c * s; k < (c + 1) * s; k++) {
            float tk = t[k];
            if (tk == 0.0f) continue;
            const float *row = l->w + k * l->dout;
            for (int i = 0; i < n; i++)
                if (rows[i] >= 0) acc[i] += tk * row[rows[i]];
        }
    }
    for (int i = 0; i < n; i++)
        for (int c = 0; c < ch; c++) X[(size_t)i * (size_t)ch + (size_t)c] = xt[(size_t)c * (size_t)n + (size_t)i] * l->scale;
    free(xt);
    return 0;
}

/* Dense nr x nc copy of W[rows, cols] (scaled); rows[i] < 0 gives a zero row. */
static float *gather(const lin *l, const int *rows, int nr, const int *cols, int nc)
{
    float *d = malloc(sizeof(float) * ((size_t)nr * (size_t)nc + 1));
    if (!d) return NULL;
#pragma omp parallel for schedule(static) if ((int64_t)nr * nc >= CC_PAR_MIN)
    for (int i = 0; i < nr; i++) {
        float *o = d + (size_t)i * (size_t)nc;
        if (rows[i] < 0) { memset(o, 0, sizeof(float) * (size_t)nc); continue; }
        if (!l->trans) {
            const float *w = l->w + (int64_t)rows[i] * l->din;
            for (int j = 0; j < nc; j++) o[j] = w[cols[j]] * l->scale;
        } else {
            for (int j = 0; j < nc; j++) o[j] = lin_w(l, rows[i], cols[j]) * l->scale;
        }
    }
    return d;
}

/* Active output indices of layer i (all of them without a mask). */
static int *active(const lin *l, int *n)
{
    int *a = malloc(sizeof(int) * (size_t)(l->dout + 1));
    if (!a) return NULL;
    int m = 0;
    for (int64_t k = 0; k < l->dout; k++)
        if (!l->mask || l->mask[k]) a[m++] = (int)k;
    *n = m;
    return a;
}

/* ---- matrix chain ---------------------------------------------------------------- */

#define MAX_CHAIN (MAX_STEPS + 2)

typedef struct chain {
    int n;
    int64_t d[MAX_CHAIN + 1];        /* matrix i is d[i] x d[i+1] */
    const float *m[MAX_CHAIN];
    double cost[MAX_CHAIN][MAX_CHAIN];
    int split[MAX_CHAIN][MAX_CHAIN];
} chain;

/* The classic O(n^3) matrix-chain order: cost[i][j] = cheapest multiply-add count
 * for the product of matrices i..j. */
static double chain_order(chain *c)
{
    for (int i = 0; i < c->n; i++) c->cost[i][i] = 0;
    for (int len = 2; len <= c->n; len++)
        for (int i = 0; i + len - 1 < c->n; i++) {
            int j = i + len - 1;
            c->cost[i][j] = -1;
            for (int k = i; k < j; k++) {
                double v = c->cost[i][k] + c->cost[k + 1][j] + (double)c->d[i] * (double)c->d[k + 1] * (double)c->d[j + 1];
                if (c->cost[i][j] < 0 || v < c->cost[i][j]) c->cost[i][j] = v, c->split[i][j] = k;
            }
        }
    return c->cost[0][c->n - 1];
}

/* Product of matrices i..j into a new buffer (or a leaf, *owned = 0). */
static float *chain_eval(const chain *c, int i, int j, int *owned)
{
    if (i == j) { *owned = 0; return (float *)c->m[i]; }
    int k = c->split[i][j], oa, ob;
    float *a = chain_eval(c, i, k, &oa);
    if (!a) return NULL;
    float *b = chain_eval(c, k + 1, j, &ob);
    if (!b) { if (oa) free(a); return NULL; }
    int64_t M = c->d[i], K = c->d[k + 1], N = c->d[j + 1];
    float *r = malloc(sizeof(float) * ((size_t)M * (size_t)N + 1));
    if (r) {
        if (K > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, a, (int)K, b, (int)N, 0.0f,
                        r, (int)N);
        else
            memset(r, 0, sizeof(float) * (size_t)M * (size_t)N);
    }
    if (oa) free(a);
    if (ob) free(b);
    *owned = 1;
    return r;
}

/* ---- the pooled head: one fully connected layer after one value per channel ---- */

/* ResNet, MobileNet, EfficientNet, DenseNet end in global average pooling and one
 * fully connected layer.  Then X1 = W1 T0 is W1 with column c scaled by
 * d[c] = T0[c] (the pooling's tangent) x the layer's alpha x 1/hw, and nothing
 * needs it materialised: seeds multiply W1 in place, and cam.c makes every
 * contrast map from W1 itself (cc_proj_head). */
static int is_head(const plan *p)
{
    return p->nL == 1 && p->s == 1 && !p->L[0].trans && p->L[0].din == p->ch;
}

static void head_scale(const plan *p, double inv_hw, float *d)
{
    const float sc = (float)(p->L[0].scale * inv_hw);
    for (int c = 0; c < p->ch; c++) d[c] = p->t[c] * sc;
}

/* alpha (K x ch) = S W1 diag(d) over the unmasked outputs.  Dense seeds (a
 * contrast: p - onehot(Q)) go to BLAS; sparse ones (Grad-CAM: onehot(P)) add
 * just their rows of W1, the threads splitting the channels so that each sum
 * runs in the same order whatever their number.  Returns -2 when out of memory. */
static int head_seeds(const lin *l, const float *d, int ch, const float *seeds, int64_t Cout, int K, float *alpha,
                      int64_t nnz)
{
    if (nnz * 4 > (int64_t)K * Cout) {
        const float *S = seeds;
        float *m = NULL;
        if (l->mask) {
            if (!(m = malloc(sizeof(float) * (size_t)K * (size_t)Cout))) return -2;
            for (int64_t i = 0; i < (int64_t)K * Cout; i++) m[i] = l->mask[i % Cout] ? seeds[i] : 0.0f;
            S = m;
        }
        if (K == 1)
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)Cout, ch, 1.0f, l->w, (int)l->din, S, 1, 0.0f, alpha, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, ch, (int)Cout, 1.0f, S, (int)Cout, l->w,
                        (int)l->din, 0.0f, alpha, ch);
        free(m);
        for (int q = 0; q < K; q++)
            for (int c = 0; c < ch; c++) alpha[(size_t)q * (size_t)ch + (size_t)c] *= d[c];
        return 0;
    }
#pragma omp parallel if (nnz * ch >= CC_PAR_MIN)
    {
        int nt = 1, id = 0;
#ifdef _OPENMP
        nt = omp_get_num_threads(), id = omp_get_thread_num();
#endif
        const int c0 = (int)((int64_t)ch * id / nt), c1 = (int)((int64_t)ch * (id + 1) / nt);
        for (int q = 0; q < K; q++) memset(alpha + (size_t)q * (size_t)ch + c0, 0, sizeof(float) * (size_t)(c1 - c0));
        for (int64_t j = 0; j < Cout; j++) {
            if (l->mask && !l->mask[j]) continue;
            const float *restrict w = l->w + j * l->din;
            for (int q = 0; q < K; q++) {
                const float v = seeds[(size_t)q * (size_t)Cout + (size_t)j];
                if (v == 0.0f) continue;
                float *restrict a = alpha + (size_t)q * (size_t)ch;
#pragma omp simd
                for (int c = c0; c < c1; c++) a[c] += v * w[c];
            }
        }
        for (int q = 0; q < K; q++) {
            float *restrict a = alpha + (size_t)q * (size_t)ch;
#pragma omp simd
            for (int c = c0; c < c1; c++) a[c] *= d[c];
        }
    }
    return 0;
}

int cc_proj_head(cc_session *s, int layer, int output, const float **W, float *d)
{
    plan p;
    int rc = plan_build(s, layer, output, &p);
    if (rc) return rc == -2 ? CC_ERR_NOMEM : -1;
    rc = -1;
    if (is_head(&p) && !p.L[0].mask && p.L[0].dout == s->t[output].numel) {
        *W = p.L[0].w;
        head_scale(&p, 1.0 / (double)(s->t[layer].dims[2] * s->t[layer].dims[3]), d);
        s->cam_macs = (double)p.L[0].dout * (double)p.ch;
        rc = CC_OK;
    }
    plan_free(&p);
    return rc;
}

/* ---- entry point ------------------------------------------------------------------- */

int cc_proj_weights(cc_session *s, int layer, int output, const int *rows, const float *seeds, int K, float *alpha,
                    int force)
{
    plan p;
    int rc = plan_build(s, layer, output, &p);
    if (rc == -2) return CC_ERR_NOMEM;
    if (rc) return -1;
    const int ch = p.ch;
    const int64_t n0 = p.n0, s_blk = p.s;
    const int64_t Cout = s->t[output].numel;
    const double inv_hw = 1.0 / (double)(s->t[layer].dims[2] * s->t[layer].dims[3]);
    /* cost of the batched backward, per seed: every linear layer's input gradient
     * plus the spatial part (scatter and mean) */
    double bwd = p.spatial_cost + (double)n0;
    for (int i = 0; i < p.nL; i++) bwd += (double)p.L[i].din * (double)p.L[i].dout;
    bwd *= K;
    int st = CC_OK;
    int *act[MAX_STEPS] = { 0 }, nact[MAX_STEPS] = { 0 };
    int *rl = NULL;
    float *left = NULL, *X1 = NULL, *mid[MAX_STEPS] = { 0 }, *res = NULL;
    chain *c = NULL;
    int owned = 0;
    if (p.nL == 0) {
        /* the spatial part alone reaches the output: alpha[q, c] = sum_k S[q,k] T0[k] over block c */
        if (!force && (double)K * (double)n0 >= bwd) { st = -1; goto done; }
        s->cam_macs = (double)K * (double)n0;
        memset(alpha, 0, sizeof(float) * (size_t)K * (size_t)ch);
        for (int q = 0; q < K; q++)
            for (int64_t k = 0; k < n0; k++) {
                float v = rows ? (rows[q] == k ? 1.0f : 0.0f) : seeds[(size_t)q * (size_t)Cout + (size_t)k];
                alpha[(size_t)q * (size_t)ch + (size_t)(k / s_blk)] += v * p.t[k];
            }
        goto scale;
    }
    if (seeds && is_head(&p) && p.L[0].dout == Cout) {
        /* seeds into the pooled head: no K x ch chain, no materialised W1 T0 */
        int64_t nnz = 0;
        for (int q = 0; q < K; q++)
            for (int64_t j = 0; j < Cout; j++)
                nnz += seeds[(size_t)q * (size_t)Cout + (size_t)j] != 0.0f && (!p.L[0].mask || p.L[0].mask[j]);
        double cost = (double)nnz * ch + (double)K * ch;
        if (!force && cost >= bwd) { st = -1; goto done; }
        float *d = malloc(sizeof(float) * (size_t)ch);
        if (!d) { st = CC_ERR_NOMEM; goto done; }
        head_scale(&p, inv_hw, d);
        int thr = cc_threads_begin();
        int e = head_seeds(&p.L[0], d, ch, seeds, Cout, K, alpha, nnz);
        cc_threads_end(thr);
        free(d);
        if (e) { st = CC_ERR_NOMEM; goto done; }
        s->cam_macs = cost;
        st = CC_OK;
        goto done;
    }
    for (int i = 0; i < p.nL; i++)
        if (!(act[i] = active(&p.L[i], &nact[i]))) { st = CC_ERR_NOMEM; goto done; }
    const int top = p.nL - 1;
    /* rows of the top layer: the requested classes (inactive outputs -> zero rows),
     * or the active outputs when dense seeds multiply from the left */
    int nrl = rows ? K : nact[top];
    rl = malloc(sizeof(int) * (size_t)(nrl + 1));
    if (!rl) { st = CC_ERR_NOMEM; goto done; }
    if (rows) {
        for (int q = 0; q < K; q++) {
            int r = rows[q];
            rl[q] = r >= 0 && r < Cout && (!p.L[top].mask || p.L[top].mask[r]) ? r : -1;
        }
    } else {
        memcpy(rl, act[top], sizeof(int) * (size_t)nrl);
    }
    /* cost estimate of the projected order: the block contraction (one pass over
     * the used rows of W1), the gathers of the masked middle matrices, the chain */
    c = calloc(1, sizeof *c);
    if (!c) { st = CC_ERR_NOMEM; goto done; }
    int nm = 0;
    if (!rows) c->d[nm] = K, c->m[nm] = NULL, nm++;            /* seeds[:, active top] */
    for (int i = top; i >= 1; i--) {
        c->d[nm] = i == top ? nrl : nact[i];
        c->m[nm] = NULL;
        nm++;
    }
    c->d[nm] = p.nL == 1 ? nrl : nact[0];                     /* X1 = W1[rows] T0 */
    nm++;
    c->d[nm] = ch;
    c->n = nm;
    double proj = (double)c->d[nm - 1] * (double)n0 + chain_order(c);
    for (int i = top; i >= 1; i--) proj += (double)(i == top ? nrl : nact[i]) * (double)nact[i - 1];
    if (!force && proj >= bwd) { st = -1; goto done; }
    s->cam_macs = proj;
    /* the leaves */
    int li = 0;
    if (!rows) {
        left = malloc(sizeof(float) * ((size_t)K * (size_t)nrl + 1));
        if (!left) { st = CC_ERR_NOMEM; goto done; }
        for (int q = 0; q < K; q++)
            for (int j = 0; j < nrl; j++) left[(size_t)q * (size_t)nrl + (size_t)j] = seeds[(size_t)q * (size_t)Cout + (size_t)rl[j]];
        c->m[li++] = left;
    }
    for (int i = top; i >= 1; i--) {
        const int *r = i == top ? rl : act[i];
        int nr = i == top ? nrl : nact[i];
        if (!(mid[i] = gather(&p.L[i], r, nr, act[i - 1], nact[i - 1]))) { st = CC_ERR_NOMEM; goto done; }
        c->m[li++] = mid[i];
    }
    {
        /* the spatial mean's 1/hw rides on W1's scale; with nothing left to
         * multiply (one layer, class rows) X1 is the answer and goes straight into alpha */
        const int *r = p.nL == 1 ? rl : act[0];
        int nr = p.nL == 1 ? nrl : nact[0];
        lin l0 = p.L[0];
        l0.scale = (float)(l0.scale * inv_hw);
        float *dst = c->n == 1 ? alpha : (X1 = malloc(sizeof(float) * ((size_t)nr * (size_t)ch + 1)));
        if (!dst || block_contract(&l0, r, nr, p.t, ch, s_blk, dst)) { st = CC_ERR_NOMEM; goto done; }
        c->m[li++] = dst;
    }
    if (c->n > 1) {
        res = chain_eval(c, 0, c->n - 1, &owned);
        if (!res) { st = CC_ERR_NOMEM; goto done; }
        memcpy(alpha, res, sizeof(float) * (size_t)K * (size_t)ch);
    }
    st = CC_OK;
    goto done;
scale:
    for (size_t i = 0; i < (size_t)K * (size_t)ch; i++) alpha[i] = (float)(alpha[i] * inv_hw);
    st = CC_OK;
done:
    if (owned) free(res);
    for (int i = 0; i < MAX_STEPS; i++) { free(act[i]); free(mid[i]); }
    free(rl);
    free(left);
    free(X1);
    free(c);
    plan_free(&p);
    return st;
}
