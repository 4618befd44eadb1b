/* The loaded model: tensors and nodes indexed by integers, nodes in
 * topological order, shapes inferred and load-time constants folded.
 * Immutable after loading, so sessions in several threads can share it. */
#ifndef CC_GRAPH_H
#define CC_GRAPH_H
#include "ops/op.h"

typedef struct cc_graph {
    int n_tensors, cap_tensors;
    cc_tensor *tensors;
    char **tensor_op;         /* op_type of the producer, borrowed strings */
    int n_nodes, cap_nodes;
    cc_node *nodes;           /* topological order once built */
    int n_inputs, n_outputs;
    int *inputs, *outputs;    /* graph inputs (non-initializer) and outputs */
    int n_meta;
    char **meta_key, **meta_val;
    int opset;                /* default domain */
    int ir_version;
    /* name -> tensor index (open addressing) */
    int hash_cap;
    int *hash;
    /* backing storage: strings and owned buffers freed with the graph */
    void **owned;
    int n_owned, cap_owned;
    /* file mappings that zero-copy weights point into */
    struct cc_map { void *addr; size_t size; char *path; } *maps;
    int n_maps, cap_maps;
    int src_mapped;           /* the model bytes are a read-only file mapping */
    /* resource limits (cc_limits); 0 = the default */
    uint64_t max_tensor_bytes, max_total_bytes;
    int64_t max_nodes;
    int weights_live;         /* some weight was handed out to be written in place (training) */
} cc_graph;

/* The limits in force for g (defaults filled in). */
uint64_t cc_graph_max_tensor_bytes(const cc_graph *g);
uint64_t cc_graph_max_total_bytes(const cc_graph *g);
int64_t cc_graph_max_nodes(const cc_graph *g);
/* 0, or CC_E_LIMIT with a message when a tensor of numel elements of esz
 * bytes exceeds the tensor limit (what: e.g. "initializer 'w'"). */
int cc_graph_check_size(const cc_graph *g, int64_t numel, size_t esz, const char *what, cc_err *e);

/* Lookup / creation by name. */
int cc_graph_find(const cc_graph *g, const char *name);
/* In place, over the nodes in order: mark every tensor that a marked tensor
 * depends on (upstream: the inputs of any node with a marked output), or that
 * depends on a marked tensor (downstream: the outputs of any node with a
 * marked input).  mark has one byte per tensor. */
void cc_graph_mark_upstream(const cc_graph *g, unsigned char *mark);
void cc_graph_mark_downstream(const cc_graph *g, unsigned char *mark);
/* Initializer `tensor` is about to be written in place (training): every
 * node reading it stops using copies its prepare derived from it. */
void cc_graph_weights_live(cc_graph *g, int tensor);
int cc_graph_add_tensor(cc_graph *g, const char *name);  /* -1 on OOM */
void *cc_graph_own(cc_graph *g, void *p);                /* register for free(); returns p (NULL stays NULL) */
char *cc_graph_strdup(cc_graph *g, const char *s, size_t n);
int cc_graph_add_map(cc_graph *g, void *addr, size_t size, const char *path);
void cc_graph_free(cc_graph *g);

/* Parse ONNX bytes into g (src/onnx/onnx.c).  base_dir for external data.
 * Returns 0 or CC_E_*, message in e. */
int cc_onnx_parse(cc_graph *g, const uint8_t *buf, size_t size, const char *base_dir, cc_err *e);
/* Decode one serialized TensorProto (e.g. ONNX test data .pb files) into a
 * malloc'd tensor (caller frees t->data and t->name). */
int cc_onnx_parse_tensor_file(const char *path, cc_tensor *t, cc_err *e);

/* Resolve ops, sort, infer shapes, fold constants (src/graph/build.c). */
int cc_graph_build(cc_graph *g, cc_err *e);

/* Scratch memory for kernels (src/graph/ctx.c). */
struct cc_ctx {
    struct { float *p; size_t cap; } slot[8];
    cc_post post;             /* set by the session around a fused node's forward call */
    cc_softmax_tap *tap;      /* set by the session around the tapped node's forward call */
    int c16;                  /* set by the session around a forward call: CC_C16_IN / CC_C16_OUT */
};
void cc_ctx_free(cc_ctx *c);
#endif
