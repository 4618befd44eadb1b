/* A session: activation and gradient buffers for one thread, the forward walk
 * over all nodes, and the backward walk over only the nodes between the
 * requested targets and the seeded tensor. */
#include "graph/internal.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IO 64

cc_status cc_session_fail(cc_session *s, int code, const char *msg)
{
    snprintf(s->err, sizeof s->err, "%s", msg);
    return (cc_status)code;
}

cc_status cc_session_new(const cc_model *m, cc_session **out)
{
    *out = NULL;
    if (!m || m->g.n_nodes == 0 || !m->g.tensor_op) return CC_ERR_ARG;
    const cc_graph *g = &m->g;
    cc_session *s = calloc(1, sizeof *s);
    if (!s) return CC_ERR_NOMEM;
    s->m = m;
    s->tap_node = s->tap_output = -1;
    size_t nt = (size_t)g->n_tensors;
    s->t = malloc(sizeof *s->t * nt);
    s->act = calloc(nt, sizeof *s->act);
    s->grad = calloc(nt, sizeof *s->grad);
    s->grad_cap = calloc(nt, sizeof *s->grad_cap);
    s->has_grad = calloc(nt, 1);
    if (!s->t || !s->act || !s->grad || !s->grad_cap || !s->has_grad) { cc_session_free(s); return CC_ERR_NOMEM; }
    memcpy(s->t, g->tensors, sizeof *s->t * nt);
    for (size_t i = 0; i < nt; i++) {
        cc_tensor *t = &s->t[i];
        if (t->is_const) continue;
        if (t->dtype != CC_DT_FLOAT) continue;
        s->act[i] = calloc(t->numel ? (size_t)t->numel : 1, sizeof(float));   /* lazily zero: cc_session_keep drops most */
        if (!s->act[i]) { cc_session_free(s); return CC_ERR_NOMEM; }
        t->data = s->act[i];
    }
    *out = s;
    return CC_OK;
}

static int node_is_const(const cc_session *s, const cc_node *n);

static void pool_free(cc_session *s)
{
    free(s->pool_arena);
    s->pool_arena = NULL;
    free(s->pool);
    s->pool = NULL;
    s->n_pool = 0;
    free(s->fuse);
    s->fuse = NULL;
    free(s->fuse_res);
    s->fuse_res = NULL;
    free(s->c16);
    s->c16 = NULL;
}

/* The node at whose turn node i runs: the one it is fused into, or itself. */
static int node_turn(const cc_session *s, int i)
{
    return s->fuse && s->fuse[i] <= -2 ? -2 - s->fuse[i] : i;
}

/* Whether tensors a and b have the same shape (no broadcast). */
static int same_shape(const cc_tensor *a, const cc_tensor *b)
{
    if (a->ndim != b->ndim || a->numel != b->numel) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->dims[d] != b->dims[d]) return 0;
    return 1;
}

/* Whether node n reads tensor t. */
static int reads(const cc_node *n, int t)
{
    for (int j = 0; j < n->n_in; j++)
        if (n->in[j] == t) return 1;
    return 0;
}

/* Whether t, a float activation, is read once, by a node the backward pass does not need it for. */
static int sole_reader(const cc_session *s, const unsigned char *need, const int *uses, int t)
{
    return !need[t] && uses[t] == 1 && s->t[t].dtype == CC_DT_FLOAT;
}

/* Whether node a is a Relu / Clip of t that a producer may apply (cc_post_of_node). */
static int is_activation(cc_session *s, const cc_node *a, int t)
{
    cc_tensor *in[MAX_IO];
    cc_post post;
    if (a->n_in < 1 || a->in[0] != t || a->n_out != 1) return 0;
    for (int k = 0; k < a->n_in; k++) in[k] = a->in[k] >= 0 ? &s->t[a->in[k]] : NULL;
    return cc_post_of_node(a, in, &post);
}

/* Conv or Add -> Relu / Clip as one node (cc_ctx_post) when the producer's
 * output is read by that activation alone and not needed otherwise (not kept,
 * not an input of a node the backward pass visits): the pre-activation values
 * are then never written, which saves a pass over memory per layer
 * (MobileNetV2: 35 pairs, ResNet-50: 49).  A Conv whose output only a
 * same-shape Add reads takes that Add too (and the activation after it, if
 * any): the Add's other input, computed before the Conv runs, is summed into
 * the Conv's output as it is written (ResNet-50: 16 blocks, MobileNetV2: 10);
 * an Add and its Relu took 4% of a ResNet-50 forward on their own.
 * need: the kept tensors of cc_session_keep. */
static int plan_fusion(cc_session *s, const unsigned char *need)
{
    const cc_graph *g = &s->m->g;
    int nt = g->n_tensors;
    int *uses = calloc((size_t)nt, sizeof *uses), *reader = malloc(sizeof(int) * (size_t)nt);
    s->fuse = malloc(sizeof(int) * (size_t)(g->n_nodes ? g->n_nodes : 1));
    s->fuse_res = malloc(sizeof(int) * (size_t)(g->n_nodes ? g->n_nodes : 1));
    if (!uses || !reader || !s->fuse || !s->fuse_res) { free(uses); free(reader); return -1; }
    for (int i = 0; i < g->n_nodes; i++) {
        s->fuse[i] = s->fuse_res[i] = -1;
        const cc_node *nd = &g->nodes[i];
        for (int j = 0; j < nd->n_in; j++)
            if (nd->in[j] >= 0) uses[nd->in[j]]++, reader[nd->in[j]] = i;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const cc_node *nd = &g->nodes[i];
        if (s->fuse[i] != -1 || !cc_op_fuses_post(nd->op) || nd->n_out != 1 || node_is_const(s, nd)) continue;
        int t = nd->out[0], last = -1;
        if (!sole_reader(s, need, uses, t)) continue;
        const cc_node *a = &g->nodes[reader[t]];
        if (!strcmp(nd->op_type, "Conv") && !strcmp(a->op_type, "Add") && a->n_in == 2 && a->n_out == 1) {
            /* the residual: the Add's other input, of the same shape, ready before this Conv runs */
            int r = a->in[0] == t ? a->in[1] : a->in[0], u = a->out[0];
            if (r >= 0 && r != t && s->t[r].dtype == CC_DT_FLOAT && s->t[u].dtype == CC_DT_FLOAT &&
                same_shape(&s->t[r], &s->t[t]) && same_shape(&s->t[u], &s->t[t]) && s->t[r].producer < i) {
                s->fuse_res[i] = r;
                last = reader[t];
                if (sole_reader(s, need, uses, u) && is_activation(s, &g->nodes[reader[u]], u)) {
                    s->fuse[last] = -2 - i;
                    last = reader[u];
                }
            }
        }
        if (last < 0 && is_activation(s, a, t)) last = reader[t];
        if (last < 0) continue;
        s->fuse[i] = last;
        s->fuse[last] = -2 - i;
    }
    free(uses);
    free(reader);
    return 0;
}

/* The tensor node i's turn writes: its own output, or the last fused node's. */
static int written(const cc_session *s, int i)
{
    const cc_node *nd = &s->m->g.nodes[s->fuse[i] >= 0 ? s->fuse[i] : i];
    return nd->n_out ? nd->out[0] : -1;
}

/* The CC_C16_* bits of node i's forward call under plan c. */
static int c16_bits(const cc_session *s, const unsigned char *c, int i)
{
    const cc_node *nd = &s->m->g.nodes[i];
    const int t = written(s, i);
    const int r = s->fuse_res ? s->fuse_res[i] : -1;
    return (nd->n_in && nd->in[0] >= 0 && c[nd->in[0]] ? CC_C16_IN : 0) | (t >= 0 && c[t] ? CC_C16_OUT : 0) |
           (r >= 0 && c[r] ? CC_C16_RES : 0);
}

/* Which activations to store channel-blocked (op.h): those that narrow
 * products write and only nodes able to read them blocked read, so the tiles
 * store whole vectors instead of transposing (ResNet-50: its block outputs,
 * each read by the next block's first 1x1, its shortcut and its residual
 * Add; the outputs of the 3x3 layers computed by narrow products; the first
 * layer's output, read by the max-pool).  A tensor qualifies when it is not
 * needed as it lies (kept, an output, or read by the backward pass: need),
 * is [1, C, H, W] with C % 16 == 0, and
 *   - the node whose turn writes it can write it blocked (cc_op_c16), with a
 *     fused residual that is blocked too;
 *   - every node reading it reads it as input 0 and can read it blocked
 *     (a 1x1 convolution, the max-pool), or is the residual Add fused into a
 *     convolution that can take it blocked (with its output blocked, or
 *     row-major where the output is kept: ResNet-50's last block, whose
 *     output is the explained layer).
 * Candidates that fail are dropped until the rest all pass (each drop can
 * only fail others).  The values computed are the same bits: the kernels
 * move them, not change them. */
static int plan_c16(cc_session *s, const unsigned char *need)
{
    const cc_graph *g = &s->m->g;
    const int nt = g->n_tensors;
    unsigned char *c = calloc((size_t)nt, 1);
    if (!c) return -1;
    int any = 0;
    for (int t = 0; t < nt; t++) {
        const cc_tensor *x = &s->t[t];
        const int pr = x->producer;
        c[t] = !need[t] && !x->is_const && x->dtype == CC_DT_FLOAT && x->ndim == 4 && x->dims[0] == 1 &&
               x->dims[1] % 16 == 0 && pr >= 0 && written(s, node_turn(s, pr)) == t;
        any |= c[t];
    }
    /* first the outputs no writer can store blocked whatever its input (a
     * max-pool's): else a reader asked with them still in the plan drops its
     * own input too (ResNet-50's first layer, read by the max-pool) */
    for (int i = 0; i < g->n_nodes; i++) {
        const int t = node_turn(s, i) == i && !node_is_const(s, &g->nodes[i]) ? written(s, i) : -1;
        if (t >= 0 && c[t] && !cc_op_c16(&g->nodes[i], c16_bits(s, c, i) & ~CC_C16_IN)) c[t] = 0;
    }
    for (int changed = any; changed;) {
        changed = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            const cc_node *nd = &g->nodes[i];
            if (node_is_const(s, nd)) continue;
            const int turn = node_turn(s, i);
            for (int j = 0; j < nd->n_in; j++) {
                const int t = nd->in[j];
                if (t < 0 || !c[t]) continue;
                int ok;
                if (turn != i) ok = s->fuse_res[turn] == t && cc_op_c16(&g->nodes[turn], c16_bits(s, c, turn));   /* the fused residual */
                else {
                    ok = j == 0 && cc_op_c16(nd, c16_bits(s, c, i));
                    for (int k = 1; k < nd->n_in; k++) ok &= nd->in[k] != t;
                }
                if (!ok) c[t] = 0, changed = 1;
            }
            if (turn != i) continue;
            const int t = written(s, i);   /* the writer */
            if (t >= 0 && c[t] && (!cc_op_c16(nd, c16_bits(s, c, i)) || (s->fuse_res[i] >= 0 && !c[s->fuse_res[i]])))
                c[t] = 0, changed = 1;
        }
    }
    any = 0;
    for (int t = 0; t < nt; t++) any |= c[t];
    if (any) s->c16 = c;
    else free(c);
    return 0;
}

void cc_session_free(cc_session *s)
{
    if (!s) return;
    pool_free(s);
    if (s->m) {
        for (int i = 0; i < s->m->g.n_tensors; i++) {
            if (s->act) free(s->act[i]);
            if (s->grad) free(s->grad[i]);
        }
    }
    free(s->t);
    free(s->act);
    free(s->grad);
    free(s->grad_cap);
    free(s->has_grad);
    cc_ctx_free(&s->ctx);
    free(s->tap.u);
    cc_head_pack_free(s->head_pack);
    free(s);
}

const char *cc_session_errmsg(const cc_session *s)
{
    return s ? s->err : "no session";
}

cc_status cc_session_set_input(cc_session *s, int tensor, const float *data, size_t numel)
{
    const cc_graph *g = &s->m->g;
    int ok = 0;
    for (int i = 0; i < g->n_inputs; i++) ok |= g->inputs[i] == tensor;
    if (!ok) return cc_session_fail(s, CC_ERR_NOTFOUND, "set_input: not a graph input");
    cc_tensor *t = &s->t[tensor];
    if ((int64_t)numel != t->numel) {
        char msg[256];
        snprintf(msg, sizeof msg, "input '%s' needs %lld values, got %zu", t->name, (long long)t->numel, numel);
        return cc_session_fail(s, CC_ERR_SHAPE, msg);
    }
    memcpy(t->data, data, numel * sizeof(float));
    s->forwarded = 0;
    return CC_OK;
}

/* Liveness-based sharing of activation memory (see contrastcam.h).  Kept: the
 * graph inputs and outputs, the named tensors, and every input and output of
 * the nodes a backward pass from the outputs to the named tensors visits (their
 * forward values are what the backward kernels read).  Every other float
 * activation gets a buffer from a pool, assigned once here in node order: a
 * buffer is taken for a node's output and handed back after the tensor's last
 * consumer has run (never during the node that produces it), so the forward
 * pass itself is unchanged; only its data pointers differ. */
cc_status cc_session_keep(cc_session *s, const int *tensors, int n)
{
    const cc_graph *g = &s->m->g;
    int nt = g->n_tensors;
    for (int i = 0; i < n; i++)
        if (!tensors || tensors[i] < 0 || tensors[i] >= nt) return cc_session_fail(s, CC_ERR_ARG, "keep: not a tensor of the model");
    /* back to one buffer per activation */
    for (int t = 0; t < nt; t++) {
        if (s->t[t].is_const || s->t[t].dtype != CC_DT_FLOAT) continue;
        if (!s->act[t] && !(s->act[t] = cc_alloc_huge(sizeof(float) * (size_t)s->t[t].numel, 1)))
            return cc_session_fail(s, CC_ERR_NOMEM, "out of memory");
        s->t[t].data = s->act[t];
    }
    pool_free(s);
    s->forwarded = 0;
    if (n == 0) return CC_OK;
    unsigned char *need = calloc((size_t)nt, 1), *dep = calloc((size_t)nt, 1), *reach = calloc((size_t)nt, 1);
    int *last = malloc(sizeof(int) * (size_t)nt), *owner = malloc(sizeof(int) * (size_t)nt);
    size_t *cap = NULL;
    unsigned char *busy = NULL, *moved = NULL;
    cc_status st = CC_OK;
    if (!need || !dep || !reach || !last || !owner) { st = cc_session_fail(s, CC_ERR_NOMEM, "out of memory"); goto out; }
    for (int i = 0; i < g->n_inputs; i++) need[g->inputs[i]] = 1;
    for (int i = 0; i < g->n_outputs; i++) need[g->outputs[i]] = reach[g->outputs[i]] = 1;
    for (int i = 0; i < n; i++) need[tensors[i]] = dep[tensors[i]] = 1;
    cc_graph_mark_downstream(g, dep);
    cc_graph_mark_upstream(g, reach);
    for (int i = 0; i < g->n_nodes; i++) {
        const cc_node *nd = &g->nodes[i];
        /* the backward pass runs a node when a gradient reaches one of its outputs
         * and one of its inputs leads back to a named tensor (cc_session_backward);
         * the node that produces a named tensor itself does not run */
        int on = 0, din = 0;
        for (int j = 0; j < nd->n_out; j++) on |= dep[nd->out[j]] && reach[nd->out[j]];
        for (int j = 0; j < nd->n_in; j++) din |= nd->in[j] >= 0 && dep[nd->in[j]];
        if (!on || !din) continue;
        for (int j = 0; j < nd->n_in; j++) if (nd->in[j] >= 0) need[nd->in[j]] = 1;
        for (int j = 0; j < nd->n_out; j++) need[nd->out[j]] = 1;
    }
    for (int t = 0; t < nt; t++) last[t] = -1, owner[t] = -1;
    cap = calloc((size_t)nt + 1, sizeof *cap);
    busy = calloc((size_t)nt + 1, 1);
    moved = calloc((size_t)nt + 1, 1);
    s->pool = calloc((size_t)nt + 1, sizeof *s->pool);
    if (!cap || !busy || !moved || !s->pool || plan_fusion(s, need) || plan_c16(s, need)) {
        st = cc_session_fail(s, CC_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < g->n_nodes; i++) {   /* a fused node reads its inputs at its producer's turn */
        const cc_node *nd = &g->nodes[i];
        for (int j = 0; j < nd->n_in; j++)
            if (nd->in[j] >= 0 && last[nd->in[j]] < node_turn(s, i)) last[nd->in[j]] = node_turn(s, i);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const cc_node *nd = &g->nodes[i];
        if (node_is_const(s, nd) || s->fuse[i] <= -2) continue;
        /* a fused pair writes the activation's output at the convolution's turn */
        const cc_node *wr = s->fuse[i] >= 0 ? &g->nodes[s->fuse[i]] : nd;
        for (int j = 0; j < wr->n_out; j++) {
            int t = wr->out[j], r = s->fuse_res[i];
            if (need[t] || s->t[t].is_const || s->t[t].dtype != CC_DT_FLOAT || owner[t] >= 0) continue;
            /* a residual that dies here, summed by a kernel that reads each value
             * before it writes the output at the same place: a large output (over
             * half a core's L2, so its lines are not in cache) takes over the
             * residual's buffer, which saves reading them in before they are
             * written (ResNet-50's layer1 and layer2: -0.3 ms a forward; MobileNetV2's
             * 100-300 KB ones measured 0.7% slower).  Not when the residual is the
             * convolution's input too: other tiles read it later. */
            if (j == 0 && r >= 0 && owner[r] >= 0 && last[r] == i && !reads(nd, r) && s->t[t].numel >= (1 << 18) &&
                cc_op_res_inplace(nd, s->c16 ? c16_bits(s, s->c16, i) : 0)) {
                owner[t] = owner[r];
                moved[r] = 1;   /* its buffer stays busy, now with t */
                continue;
            }
            size_t sz = s->t[t].numel ? (size_t)s->t[t].numel : 1;
            int best = -1;
            for (int b = 0; b < s->n_pool; b++)   /* the smallest free buffer that fits, else the largest free one */
                if (!busy[b] && (best < 0 || (cap[b] >= sz ? cap[best] < sz || cap[b] < cap[best] : cap[best] < sz && cap[b] > cap[best])))
                    best = b;
            if (best < 0) best = s->n_pool++;
            if (cap[best] < sz) cap[best] = sz;
            busy[best] = 1;
            owner[t] = best;
        }
        /* hand back the buffers whose tensors are dead after this node (outputs nobody reads included) */
        for (int t = 0; t < nt; t++)
            if (owner[t] >= 0 && !moved[t] && busy[owner[t]] && (last[t] == i || (last[t] < i && s->t[t].producer >= 0 && node_turn(s, s->t[t].producer) == i)))
                busy[owner[t]] = 0;
    }
    /* one arena for the shared buffers, in huge pages where the kernel offers
     * them: a 1x1 convolution's tile writes rows of 96 output planes at once,
     * and with 4 KB pages every plane is another TLB entry */
    size_t total = 0;
    for (int b = 0; b < s->n_pool; b++) total += (cap[b] + 15) / 16 * 16;
    if (s->n_pool && !(s->pool_arena = cc_alloc_huge(total * sizeof(float), 1))) st = cc_session_fail(s, CC_ERR_NOMEM, "out of memory");
    for (size_t b = 0, off = 0; st == CC_OK && b < (size_t)s->n_pool; off += (cap[b] + 15) / 16 * 16, b++)
        s->pool[b] = s->pool_arena + off;

    if (st == CC_OK) {
        for (int t = 0; t < nt; t++) {
            if (owner[t] < 0) continue;
            free(s->act[t]);
            s->act[t] = NULL;
            s->t[t].data = s->pool[owner[t]];
        }
        /* a fused node's own output is never written (only the last one's is): no memory of its own */
        for (int i = 0; i < g->n_nodes; i++) {
            const int f = node_turn(s, i);
            if (s->fuse[f] < 0 || s->fuse[f] == i) continue;   /* not fused, or the last of its chain */
            int t = g->nodes[i].out[0];
            free(s->act[t]);
            s->act[t] = NULL;
            s->t[t].data = s->t[g->nodes[s->fuse[f]].out[0]].data;
        }
    }
out:
    if (st) cc_session_keep(s, NULL, 0);
    free(need); free(dep); free(reach); free(last); free(owner); free(cap); free(busy); free(moved);
    return st;
}

static void node_io(cc_session *s, const cc_node *n, cc_tensor **in, cc_tensor **out)
{
    for (int j = 0; j < n->n_in; j++) in[j] = n->in[j] >= 0 ? &s->t[n->in[j]] : NULL;
    for (int j = 0; j < n->n_out; j++) out[j] = &s->t[n->out[j]];
}

static int node_is_const(const cc_session *s, const cc_node *n)
{
    for (int j = 0; j < n->n_out; j++)
        if (!s->t[n->out[j]].is_const) return 0;
    return 1;
}

cc_status cc_session_prepare_contrast(cc_session *s, int output)
{
    if (!s) return CC_ERR_ARG;
    const cc_graph *g = &s->m->g;
    s->tap_node = s->tap_output = -1;
    s->tap.done = 0;
    if (output < 0) return CC_OK;
    if (output >= g->n_tensors || s->t[output].dtype != CC_DT_FLOAT)
        return cc_session_fail(s, CC_ERR_ARG, "the seeded tensor is not a float tensor of the model");
    s->tap_output = output;
    /* a pull-back only where one row of constant weights per class computes the
     * output: a Gemm with transB, or a 1x1 convolution of one value per channel
     * (reached through Flatten / Reshape / Squeeze, which keep the values in
     * order); elsewhere the contrasts take their seeds as they are */
    int t = output, p = s->t[t].producer, steps = 0;
    while (p >= 0 && steps++ < 8) {
        const cc_node *r = &g->nodes[p];
        if (strcmp(r->op_type, "Flatten") && strcmp(r->op_type, "Reshape") && strcmp(r->op_type, "Squeeze")) break;
        if (r->n_in < 1 || r->in[0] < 0 || s->t[r->in[0]].numel != s->t[t].numel) return CC_OK;
        t = r->in[0];
        p = s->t[t].producer;
    }
    const cc_node *n = p >= 0 ? &g->nodes[p] : NULL;
    if (!n || n->n_in < 2 || n->in[1] < 0 || n->out[0] != t) return CC_OK;
    const cc_tensor *B = &s->t[n->in[1]], *Y = &s->t[t];
    int64_t k;
    if (!strcmp(n->op_type, "Gemm")) {
        if (cc_attr_int(n, "transB", 0) == 0 || !B->is_const || B->ndim != 2 || B->dtype != CC_DT_FLOAT) return CC_OK;
        k = B->dims[1];
    } else if (!strcmp(n->op_type, "Conv")) {
        if (!B->is_const || B->ndim != 4 || B->dtype != CC_DT_FLOAT || B->dims[2] != 1 || B->dims[3] != 1 ||
            cc_attr_int(n, "group", 1) != 1 || Y->ndim != 4 || Y->dims[0] != 1 || Y->dims[2] != 1 || Y->dims[3] != 1)
            return CC_OK;
        k = B->dims[1];
    } else {
        return CC_OK;
    }
    if (s->tap.k != k) {
        free(s->tap.u);
        s->tap.k = 0;
        if (!(s->tap.u = malloc(sizeof(float) * (size_t)k))) return cc_session_fail(s, CC_ERR_NOMEM, "out of memory");
        s->tap.k = k;
    }
    s->tap_node = p;
    return CC_OK;
}

/* Node n's forward on row-major copies of its blocked input / output (and
 * fused residual), for a node planned blocked that no longer can be (its
 * weights went live for training after cc_session_keep).  The copies are
 * 64-byte aligned as the session's own buffers: on a malloc'd output
 * OpenBLAS's sgemm gave ResNet-50's first layer other last bits. */
static int forward_unblocked(cc_session *s, const cc_node *n, cc_tensor **in, cc_tensor **out, int c16)
{
    cc_tensor x = *in[0], y = *out[0];
    float *xs = NULL, *ys = NULL, *rs = NULL, *dst = out[0]->data;
    int rc = CC_E_NOMEM;
    if (c16 & CC_C16_IN) {
        if (!(xs = cc_alloc_huge(sizeof(float) * (size_t)x.numel, 0))) goto done;
        cc_c16_unpack(x.data, x.dims[1], x.numel / x.dims[1], xs);
        x.data = xs;
        in[0] = &x;
    }
    if (c16 & CC_C16_OUT) {
        if (!(ys = cc_alloc_huge(sizeof(float) * (size_t)y.numel, 0))) goto done;
        y.data = ys;
        out[0] = &y;
    }
    if ((c16 & CC_C16_RES) && s->ctx.post.res) {
        if (!(rs = cc_alloc_huge(sizeof(float) * (size_t)y.numel, 0))) goto done;
        cc_c16_unpack(s->ctx.post.res + (dst - s->ctx.post.base), y.dims[1], y.numel / y.dims[1], rs);
        s->ctx.post.res = rs;
        s->ctx.post.base = y.data;
    }
    rc = n->op->forward(n, in, out, &s->ctx);
    if (!rc && ys) cc_c16_pack(ys, y.dims[1], y.numel / y.dims[1], dst);
done:
    free(xs);
    free(ys);
    free(rs);
    return rc;
}

cc_status cc_session_forward(cc_session *s)
{
    const cc_graph *g = &s->m->g;
    cc_tensor *in[MAX_IO], *out[MAX_IO];
    int thr = cc_threads_begin();
    s->tap.done = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const cc_node *n = &g->nodes[i];
        if (node_is_const(s, n)) continue;
        int fused = s->fuse ? s->fuse[i] : -1;
        if (fused <= -2) continue;   /* applied by its producer */
        node_io(s, n, in, out);
        const int c16 = s->c16 ? c16_bits(s, s->c16, i) : 0;   /* its blocked input / output / residual */
        if (fused >= 0) {            /* write the last fused node's output: residual added, activated */
            const cc_node *a = &g->nodes[fused];
            cc_tensor *ain[MAX_IO];
            node_io(s, a, ain, out);
            if (!cc_post_of_node(a, ain, &s->ctx.post)) s->ctx.post.kind = CC_POST_NONE;   /* the Add itself */
            if (s->fuse_res[i] >= 0) {
                const cc_tensor *r = &s->t[s->fuse_res[i]];
                const float *res = r->data;
                if (res == out[0]->data && !cc_op_res_inplace(n, c16)) {
                    /* planned in place, but the kernel changed since (a weight went
                     * live for training): the residual must outlive the first stores */
                    float *copy = cc_scratch(&s->ctx, 7, (size_t)r->numel);
                    if (!copy) { cc_threads_end(thr); return cc_session_fail(s, CC_ERR_NOMEM, "out of memory"); }
                    memcpy(copy, res, sizeof(float) * (size_t)r->numel);
                    res = copy;
                }
                s->ctx.post.res = res, s->ctx.post.base = out[0]->data;
            }
        }
        s->ctx.tap = i == s->tap_node ? &s->tap : NULL;
        int rc;
        if (c16 && !cc_op_c16(n, c16)) rc = forward_unblocked(s, n, in, out, c16);
        else s->ctx.c16 = c16, rc = n->op->forward(n, in, out, &s->ctx);
        s->ctx.c16 = 0;
        s->ctx.post.kind = CC_POST_NONE;
        s->ctx.post.res = s->ctx.post.base = NULL;
        s->ctx.tap = NULL;
        if (rc) {
            char msg[256];
            snprintf(msg, sizeof msg, "forward failed at node '%s' (%s)%s", n->name, n->op_type,
                     rc == CC_E_NOMEM ? ": out of memory" : "");
            cc_threads_end(thr);
            return cc_session_fail(s, rc, msg);
        }
    }
    cc_threads_end(thr);
    s->forwarded = 1;
    return CC_OK;
}

const float *cc_session_value(cc_session *s, int tensor, size_t *numel)
{
    if (tensor < 0 || tensor >= s->m->g.n_tensors || s->t[tensor].dtype != CC_DT_FLOAT) return NULL;
    if (numel) *numel = (size_t)s->t[tensor].numel;
    return s->t[tensor].data;
}

/* Make grad[t] a zeroed buffer of K * numel floats. */
static int grad_buffer(cc_session *s, int t, int K)
{
    size_t n = (size_t)K * (size_t)s->t[t].numel;
    if (s->grad_cap[t] < n) {
        free(s->grad[t]);
        s->grad[t] = malloc((n ? n : 1) * sizeof(float));
        if (!s->grad[t]) { s->grad_cap[t] = 0; return -1; }
        s->grad_cap[t] = n;
    }
    memset(s->grad[t], 0, n * sizeof(float));
    s->has_grad[t] = 1;
    return 0;
}

cc_status cc_session_backward(cc_session *s, int from, const float *seed, int K, const int *targets, int n_targets)
{
    const cc_graph *g = &s->m->g;
    int nt = g->n_tensors;
    char msg[512];
    if (!s->forwarded) return cc_session_fail(s, CC_ERR_ARG, "backward: run forward first");
    if (from < 0 || from >= nt || s->t[from].dtype != CC_DT_FLOAT)
        return cc_session_fail(s, CC_ERR_ARG, "backward: the seeded tensor is not a float tensor of the model");
    if (K < 1 || (uint64_t)K * (uint64_t)s->t[from].numel > ((uint64_t)1 << 34))
        return cc_session_fail(s, CC_ERR_ARG, "backward: the seed batch K must be >= 1 and not absurdly large");
    for (int i = 0; i < n_targets; i++)
        if (targets[i] < 0 || targets[i] >= nt || s->t[targets[i]].dtype != CC_DT_FLOAT)
            return cc_session_fail(s, CC_ERR_ARG, "backward: a target is not a float tensor of the model");
    unsigned char *dep = calloc((size_t)nt, 1), *reach = calloc((size_t)nt, 1);
    if (!dep || !reach) { free(dep); free(reach); return cc_session_fail(s, CC_ERR_NOMEM, "out of memory"); }
    memset(s->has_grad, 0, (size_t)nt);
    for (int i = 0; i < n_targets; i++) dep[targets[i]] = 1;
    cc_graph_mark_downstream(g, dep);
    reach[from] = 1;
    cc_graph_mark_upstream(g, reach);
    cc_status st = CC_OK;
    /* gradient buffers: tensors on a path target -> from, plus every target (zero if off-path) */
    for (int t = 0; t < nt && st == CC_OK; t++) {
        int need = (dep[t] && reach[t] && s->t[t].dtype == CC_DT_FLOAT);
        for (int i = 0; i < n_targets; i++) need |= targets[i] == t;
        if (need && grad_buffer(s, t, K)) st = cc_session_fail(s, CC_ERR_NOMEM, "backward: out of memory for gradient buffers");
    }
    if (st == CC_OK && dep[from]) memcpy(s->grad[from], seed, sizeof(float) * (size_t)K * (size_t)s->t[from].numel);
    cc_tensor *in[MAX_IO], *out[MAX_IO];
    float *gx[MAX_IO], *gy[MAX_IO];
    int last = s->t[from].producer;
    int thr = cc_threads_begin();
    for (int i = last; i >= 0 && st == CC_OK && dep[from]; i--) {
        const cc_node *n = &g->nodes[i];
        int active_out = 0, active_in = 0;
        for (int j = 0; j < n->n_out; j++) {
            int t = n->out[j];
            gy[j] = dep[t] && reach[t] ? s->grad[t] : NULL;
            active_out |= gy[j] != NULL;
        }
        for (int j = 0; j < n->n_in; j++) {
            int t = n->in[j];
            gx[j] = t >= 0 && dep[t] && reach[t] && s->t[t].dtype == CC_DT_FLOAT ? s->grad[t] : NULL;
            active_in |= gx[j] != NULL;
        }
        if (!active_out || !active_in) continue;
        if (!n->op->backward) {
            snprintf(msg, sizeof msg, "backward: op %s (node '%s') has no gradient; choose a target layer after it", n->op_type, n->name);
            st = cc_session_fail(s, CC_ERR_UNSUPPORTED, msg);
            break;
        }
        node_io(s, n, in, out);
        int rc = n->op->backward(n, in, out, gy, gx, K, &s->ctx);
        if (rc) {
            snprintf(msg, sizeof msg, "backward failed at node '%s' (%s)", n->name, n->op_type);
            st = cc_session_fail(s, rc, msg);
        }
    }
    cc_threads_end(thr);
    s->grad_K = K;
    free(dep);
    free(reach);
    return st;
}

const float *cc_session_grad(cc_session *s, int tensor, size_t *numel)
{
    if (tensor < 0 || tensor >= s->m->g.n_tensors || !s->has_grad[tensor]) return NULL;
    if (numel) *numel = (size_t)s->grad_K * (size_t)s->t[tensor].numel;
    return s->grad[tensor];
}
