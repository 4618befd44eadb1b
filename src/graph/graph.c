/* Graph storage: tensor table with a name index, owned allocations, mappings. */
#include "graph/graph.h"

#include "contrastcam.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

int cc_graph_find(const cc_graph *g, const char *name)
{
    if (!g->hash_cap) return -1;
    for (uint64_t i = hash_str(name) & (uint64_t)(g->hash_cap - 1);; i = (i + 1) & (uint64_t)(g->hash_cap - 1)) {
        int t = g->hash[i];
        if (t < 0) return -1;
        if (strcmp(g->tensors[t].name, name) == 0) return t;
    }
}

static int rehash(cc_graph *g, int cap)
{
    int *h = malloc(sizeof(int) * (size_t)cap);
    if (!h) return -1;
    for (int i = 0; i < cap; i++) h[i] = -1;
    for (int t = 0; t < g->n_tensors; t++) {
        uint64_t i = hash_str(g->tensors[t].name) & (uint64_t)(cap - 1);
        while (h[i] >= 0) i = (i + 1) & (uint64_t)(cap - 1);
        h[i] = t;
    }
    free(g->hash);
    g->hash = h;
    g->hash_cap = cap;
    return 0;
}

int cc_graph_add_tensor(cc_graph *g, const char *name)
{
    if (g->n_tensors == g->cap_tensors) {
        int cap = g->cap_tensors ? 2 * g->cap_tensors : 256;
        cc_tensor *nt = realloc(g->tensors, sizeof *nt * (size_t)cap);
        if (!nt) return -1;
        g->tensors = nt;
        g->cap_tensors = cap;
    }
    if ((g->n_tensors + 1) * 2 > g->hash_cap && rehash(g, g->hash_cap ? 2 * g->hash_cap : 512)) return -1;
    int idx = g->n_tensors++;
    cc_tensor *t = &g->tensors[idx];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->producer = -1;
    uint64_t i = hash_str(name) & (uint64_t)(g->hash_cap - 1);
    while (g->hash[i] >= 0) i = (i + 1) & (uint64_t)(g->hash_cap - 1);
    g->hash[i] = idx;
    return idx;
}

void *cc_graph_own(cc_graph *g, void *p)
{
    if (!p) return NULL;
    if (g->n_owned == g->cap_owned) {
        int cap = g->cap_owned ? 2 * g->cap_owned : 256;
        void **no = realloc(g->owned, sizeof *no * (size_t)cap);
        if (!no) { free(p); return NULL; }
        g->owned = no;
        g->cap_owned = cap;
    }
    g->owned[g->n_owned++] = p;
    return p;
}

char *cc_graph_strdup(cc_graph *g, const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return cc_graph_own(g, d);
}

/* Record a file mapping the graph's weights point into (unmapped by cc_graph_free).
 * The path is copied; returns the mapping's index or -1 when out of memory. */
int cc_graph_add_map(cc_graph *g, void *addr, size_t size, const char *path)
{
    if (g->n_maps == g->cap_maps) {
        int cap = g->cap_maps ? 2 * g->cap_maps : 4;
        struct cc_map *m = realloc(g->maps, sizeof *m * (size_t)cap);
        if (!m) return -1;
        g->maps = m;
        g->cap_maps = cap;
    }
    char *p = cc_graph_strdup(g, path, strlen(path));
    if (!p) return -1;
    g->maps[g->n_maps].addr = addr;
    g->maps[g->n_maps].size = size;
    g->maps[g->n_maps].path = p;
    return g->n_maps++;
}

void cc_graph_free(cc_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) free(g->nodes[i].params);
    for (int i = 0; i < g->n_owned; i++) free(g->owned[i]);
    for (int i = 0; i < g->n_maps; i++)
        if (g->maps[i].addr) munmap(g->maps[i].addr, g->maps[i].size);
    free(g->maps);
    free(g->owned);
    free(g->tensors);
    free(g->tensor_op);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(g->meta_key);
    free(g->meta_val);
    free(g->hash);
    memset(g, 0, sizeof *g);
}

float *cc_scratch(cc_ctx *ctx, int slot, size_t n)
{
    if (slot < 0 || slot >= 8) return NULL;
    if (ctx->slot[slot].cap < n) {   /* contents need not survive: a fresh aligned block */
        float *p = cc_alloc_huge((n ? n : 1) * sizeof(float), 0);
        if (!p) return NULL;
        free(ctx->slot[slot].p);
        ctx->slot[slot].p = p;
        ctx->slot[slot].cap = n;
    }
    return ctx->slot[slot].p;
}

void cc_graph_mark_upstream(const cc_graph *g, unsigned char *mark)
{
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        const cc_node *n = &g->nodes[i];
        int r = 0;
        for (int j = 0; j < n->n_out; j++) r |= mark[n->out[j]];
        if (r) for (int j = 0; j < n->n_in; j++) if (n->in[j] >= 0) mark[n->in[j]] = 1;
    }
}

void cc_graph_mark_downstream(const cc_graph *g, unsigned char *mark)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const cc_node *n = &g->nodes[i];
        int d = 0;
        for (int j = 0; j < n->n_in; j++) d |= n->in[j] >= 0 && mark[n->in[j]];
        if (d) for (int j = 0; j < n->n_out; j++) mark[n->out[j]] = 1;
    }
}

void cc_graph_weights_live(cc_graph *g, int tensor)
{
    g->weights_live = 1;   /* and cam.c keeps no packed copy of any (its writes come later, unannounced) */
    for (int i = 0; i < g->n_nodes; i++) {
        cc_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j] == tensor) { cc_op_weights_live(n); break; }
    }
}

const cc_post *cc_ctx_post(const cc_ctx *ctx)
{
    static const cc_post none = { CC_POST_NONE, 0, 0, NULL, NULL };
    return ctx ? &ctx->post : &none;   /* kernels may be called without a context (unit tests) */
}

cc_softmax_tap *cc_ctx_tap(const cc_ctx *ctx)
{
    return ctx ? ctx->tap : NULL;
}

int cc_ctx_c16(const cc_ctx *ctx)
{
    return ctx ? ctx->c16 : 0;
}

void cc_ctx_free(cc_ctx *c)
{
    for (int i = 0; i < 8; i++) free(c->slot[i].p);
    memset(c, 0, sizeof *c);
}

uint64_t cc_graph_max_tensor_bytes(const cc_graph *g) { return g->max_tensor_bytes ? g->max_tensor_bytes : CC_DEFAULT_MAX_TENSOR_BYTES; }
uint64_t cc_graph_max_total_bytes(const cc_graph *g) { return g->max_total_bytes ? g->max_total_bytes : CC_DEFAULT_MAX_TOTAL_BYTES; }
int64_t cc_graph_max_nodes(const cc_graph *g) { return g->max_nodes > 0 ? g->max_nodes : CC_DEFAULT_MAX_NODES; }

int cc_graph_check_size(const cc_graph *g, int64_t numel, size_t esz, const char *what, cc_err *e)
{
    uint64_t lim = cc_graph_max_tensor_bytes(g);
    if (numel < 0 || (uint64_t)numel > lim / esz)
        return cc_errf(e, CC_E_LIMIT, "%s: %s%lld elements of %zu bytes exceed the tensor size limit of %llu bytes (cc_limits.max_tensor_bytes, CLI: CONTRASTCAM_MAX_TENSOR_BYTES)",
                       what, numel < 0 ? "more than " : "", (long long)(numel < 0 ? INT64_MAX : numel), esz, (unsigned long long)lim);
    return 0;
}
