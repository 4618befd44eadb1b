/* contrastcam — contrastive explanations ("Why P, rather than Q?") for ONNX CNNs on the CPU.
 *
 * The public C API.  Handles are opaque.  Every fallible call returns a
 * cc_status; the handle it acts on keeps a message for the last failure
 * (cc_model_errmsg / cc_session_errmsg).  The library never prints and never
 * exits.  One loaded cc_model may be shared by many threads, each with its own
 * cc_session.
 */
#ifndef CONTRASTCAM_H
#define CONTRASTCAM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cc_status {
    CC_OK = 0,
    CC_ERR_IO = 1,           /* file missing or unreadable */
    CC_ERR_PARSE = 2,        /* malformed model / data */
    CC_ERR_UNSUPPORTED = 3,  /* op or feature not implemented */
    CC_ERR_SHAPE = 4,        /* inconsistent shapes */
    CC_ERR_ARG = 5,          /* bad argument from the caller */
    CC_ERR_NOMEM = 6,
    CC_ERR_NOTFOUND = 7,     /* unknown tensor / input / output name */
    CC_ERR_LIMIT = 8,        /* a size limit was exceeded */
    CC_ERR_INTERNAL = 9
} cc_status;

const char *cc_status_str(cc_status s);

typedef struct cc_model cc_model;
typedef struct cc_session cc_session;

#define CC_MAX_RANK 8

/* A tensor of the graph, for choosing a target layer. */
typedef struct cc_tensor_info {
    const char *name;        /* borrowed from the model */
    const char *op_type;     /* op of the producing node; "input" or "initializer" otherwise */
    int rank;
    int64_t dims[CC_MAX_RANK];
    int is_const;            /* weight or load-time constant (not an activation) */
} cc_tensor_info;

/* ---- models ---------------------------------------------------------------- */

/* Load a model file (external-data initializers are read relative to its
 * folder).  On failure *out may still hold a handle whose cc_model_errmsg
 * explains; free it with cc_model_free.  Large weights are mapped, not copied. */
cc_status cc_model_load(const char *path, cc_model **out);
/* Load from memory; the buffer is copied.  base_dir is used for external data (may be NULL). */
cc_status cc_model_load_buffer(const void *data, size_t size, const char *base_dir, cc_model **out);
void cc_model_free(cc_model *m);
const char *cc_model_errmsg(const cc_model *m);

int cc_model_num_inputs(const cc_model *m);
int cc_model_num_outputs(const cc_model *m);
/* Index of the i-th graph input / output as a tensor index. */
int cc_model_input(const cc_model *m, int i);
int cc_model_output(const cc_model *m, int i);
int cc_model_num_tensors(const cc_model *m);
cc_status cc_model_tensor_info(const cc_model *m, int tensor, cc_tensor_info *info);
/* Tensor index by name, -1 if none. */
int cc_model_find_tensor(const cc_model *m, const char *name);
/* metadata_props value for a key, or NULL (borrowed). */
const char *cc_model_metadata(const cc_model *m, const char *key);
/* The opset of the default domain. */
int cc_model_opset(const cc_model *m);

/* ---- resource limits ------------------------------------------------------- */

/* What a model may ask for; a model that exceeds a limit fails to load with
 * CC_ERR_LIMIT and a message naming the tensor and the limit.  Sizes are
 * computed with overflow checks; a zero field means the default. */
#define CC_DEFAULT_MAX_TENSOR_BYTES ((uint64_t)2 << 30)    /* 2 GiB: any one weight, input or activation */
#define CC_DEFAULT_MAX_TOTAL_BYTES ((uint64_t)8 << 30)     /* 8 GiB: all activations of one session */
#define CC_DEFAULT_MAX_NODES ((int64_t)1 << 20)            /* nodes in the graph */
typedef struct cc_limits {
    uint64_t max_tensor_bytes;
    uint64_t max_total_bytes;
    int64_t max_nodes;
} cc_limits;
/* The defaults above. */
void cc_limits_default(cc_limits *l);
/* cc_model_load / cc_model_load_buffer with limits (NULL = the defaults). */
cc_status cc_model_load_ex(const char *path, const cc_limits *limits, cc_model **out);
cc_status cc_model_load_buffer_ex(const void *data, size_t size, const char *base_dir, const cc_limits *limits,
                                  cc_model **out);

/* ---- sessions -------------------------------------------------------------- */

cc_status cc_session_new(const cc_model *m, cc_session **out);
void cc_session_free(cc_session *s);
const char *cc_session_errmsg(const cc_session *s);

/* Copy numel floats into graph input `tensor` (size must match its shape). */
cc_status cc_session_set_input(cc_session *s, int tensor, const float *data, size_t numel);
/* Memory: declare the tensors later backward passes will go to (e.g. the target
 * layer).  The following forward passes then keep the forward values only of
 * what such a backward pass reads (these tensors, the nodes between them and the
 * graph outputs, graph inputs and outputs); every other activation shares
 * buffers with tensors already dead, so cc_session_value on it is undefined.
 * Speed: a Conv or Add whose output only a Relu or Clip reads, and that is not
 * kept, then runs fused with that activation (the pre-activation is never
 * written); a Conv whose output only a same-shape Add reads runs with that Add
 * (and its Relu / Clip), summing the Add's other input in.  Same values.
 * n = 0 restores the default (every value kept).  Invalidates the last forward. */
cc_status cc_session_keep(cc_session *s, const int *tensors, int n);
/* One-Q contrasts (cc_cam_contrast) without a second pass over the classifier:
 * declare the output whose softmax their seeds use.  Where that output is one
 * fully connected layer's on one image (Gemm with transposed constant weights,
 * or a 1x1 convolution of one value per channel as Keras exports write it,
 * also through Flatten / Reshape / Squeeze), the following forward passes also
 * form W' softmax(z) while they read W.
 * output < 0 turns it off.  Optional: without it the contrasts are the same. */
cc_status cc_session_prepare_contrast(cc_session *s, int output);
/* Run the whole graph forward. */
cc_status cc_session_forward(cc_session *s);
/* Forward value of any float tensor (activation, input, output or weight):
 * pointer borrowed, valid until the next forward or cc_session_free. */
const float *cc_session_value(cc_session *s, int tensor, size_t *numel);

/* Backward pass (vector-Jacobian products).  `seed` holds K stacked vectors,
 * each shaped like tensor `from` (usually the output): K * numel(from) floats.
 * Gradients are computed only for the nodes between the `targets` and `from`;
 * targets may be activations, graph inputs or weights (weight gradients).
 * Requires a prior cc_session_forward. */
cc_status cc_session_backward(cc_session *s, int from, const float *seed, int K,
                              const int *targets, int n_targets);
/* Gradient of a target after cc_session_backward: K * numel floats (borrowed). */
const float *cc_session_grad(cc_session *s, int tensor, size_t *numel);


/* ---- explanations (Grad-CAM and contrastive maps, see docs in README) ---- */

/* Grad-CAM style maps at one target layer for K seeds at once.
 * Channel weights alpha[k][c] = spatial mean of dJ_k/dA[c]; map_k = ReLU(sum_c alpha[k][c] A[c]). */
typedef struct cc_cam {
    int K, channels, h, w;
    float *alpha;             /* K x channels */
    float *maps;              /* K x h x w, ReLU'd, at the layer's resolution, not normalised */
} cc_cam;

/* The seeded backward from `output` to `layer` (a [1, C, h, w] activation) for K
 * seed vectors (K x numel(output)), then weights and maps.  Needs a forward first. */
cc_status cc_cam_compute(cc_session *s, int layer, int output, const float *seeds, int K, cc_cam *out);
/* Maps from given channel weights (K x C) at the layer, as one matrix product. */
cc_status cc_cam_maps(cc_session *s, int layer, const float *alpha, int K, cc_cam *out);
void cc_cam_free(cc_cam *c);

/* "Why the prediction, rather than Q[k]?" for k < K: what cc_cam_compute gives
 * for the seeds softmax(z) - onehot(Q[k]), z = output's value (method.md).  On a
 * pooled head prepared with cc_session_prepare_contrast the weights come from
 * the forward's W' softmax(z), one row of W per Q. */
cc_status cc_cam_contrast(cc_session *s, int layer, int output, const int *Q, int K, cc_cam *out);
/* The channel weights alone (K x channels), as cc_cam_compute computes them. */
cc_status cc_cam_weights(cc_session *s, int layer, int output, const float *seeds, int K, float *alpha);
/* Grad-CAM weights of every class c (seed onehot(c)): G, numel(output) x channels.
 * Every contrast follows from G without another pass (cc_contrast_weights). */
cc_status cc_cam_class_weights(cc_session *s, int layer, int output, float *G);
/* Contrast weights for every Q from G and p = softmax(z):
 * alpha[Q] = sum_c p_c G[c] - G[Q]  (the seed p - onehot(Q) of method.md). */
void cc_contrast_weights(const float *G, const float *p, int C, int channels, float *alpha);
/* Every contrast Q = 0..C-1 at once ("why P, rather than Q?" for all Q; the seed
 * of Q is p - onehot(Q), p = softmax(z)): cc_cam_class_weights, the contrast
 * weights in place, and all C maps as one product (out: K = C).  p = NULL:
 * softmax(z) of the output's value (on a pooled head prepared with
 * cc_session_prepare_contrast, from the forward's W' softmax(z): the fastest). */
cc_status cc_cam_contrast_all(cc_session *s, int layer, int output, const float *p, cc_cam *out);
/* The same maps without the C x channels contrast weights (out->alpha is NULL):
 * what the summary of every contrast needs.  On a pooled head (global average
 * pooling and one fully connected layer, as ResNet and MobileNet end) the maps
 * then come straight from the layer's weights, never forming the weights. */
cc_status cc_cam_contrast_all_maps(cc_session *s, int layer, int output, const float *p, cc_cam *out);

/* How the channel weights are evaluated.  BACKWARD: the seeds go backward from
 * the output to the layer (any differentiable graph).  PROJECTED: the spatial
 * mean is pushed forward from the layer and the layers after it are multiplied
 * as a matrix chain in the cheapest order (only for a tail of pooling, ReLU,
 * reshapes and fully connected layers; see src/explain/project.c).  AUTO (the
 * default) takes PROJECTED where it applies and is estimated cheaper. */
typedef enum cc_cam_order { CC_CAM_AUTO = 0, CC_CAM_BACKWARD = 1, CC_CAM_PROJECTED = 2 } cc_cam_order;
void cc_cam_set_order(cc_session *s, cc_cam_order order);
/* The order the last channel-weight computation of this session used. */
cc_cam_order cc_cam_last_order(const cc_session *s);

/* Seeds dJ/dz for the method's losses (method.md):
 *   Grad-CAM of class P: onehot(P);  contrast Q: softmax(z) - onehot(Q);
 *   regression contrast to target q: 2 (y - q). */
void cc_seed_class(float *seed, int C, int P);
void cc_seed_contrast(float *seed, const float *logits, int C, int Q);
void cc_softmax(const float *z, int C, float *p);

/* Upsample a h x w map to oh x ow (bilinear, half-pixel centres, as PyTorch's
 * align_corners=False) and min-max normalise to [0,1].  Returns 1 when the map
 * is flat (then `out` is all zeros), 0 otherwise. */
int cc_map_finish(const float *map, int h, int w, float *out, int oh, int ow);

/* Statistics of n layer-resolution maps (n x h x w, e.g. every contrast Q) as the
 * user sees them, i.e. each upsampled to oh x ow and normalised by cc_map_finish,
 * computed without upsampling each map (src/explain/stats.c). */
typedef struct cc_map_stats {
    int n, h, w;              /* maps summarised; output size oh x ow */
    int count;                /* maps in the mean and variance (not skipped) */
    float *mean, *var;        /* h x w: pixel-wise mean and (population) variance */
    float *rms;               /* n: RMS difference of each normalised map from the normalised ref (0 without ref) */
    unsigned char *flat;      /* n: 1 where cc_map_finish reports a flat map (all zeros) */
} cc_map_stats;
/* ref: an h x w map to compare with (e.g. Grad-CAM of P), or NULL; skip: n flags
 * of maps left out of mean and variance (e.g. Q = P), or NULL. */
cc_status cc_map_stats_compute(const float *maps, int n, int h, int w, const float *ref, const unsigned char *skip,
                               int oh, int ow, cc_map_stats *out);
void cc_map_stats_free(cc_map_stats *st);

/* OPENBLAS_CORETYPE for this CPU when the loaded OpenBLAS fell back to its
 * generic SSE kernels on a CPU it does not know (Debian 12's 0.3.21 on 5th-gen
 * Xeons: GEMM 6x slower), else NULL (also when the variable is already set).
 * OpenBLAS reads the variable only when it is loaded: a program that wants the
 * fix sets it and re-executes itself, as the contrastcam CLI does. */
const char *cc_blas_core_hint(void);

/* The default target layer: metadata "gradcam.target" if valid, else the last
 * activation with spatial extent before the network pools it away.  -1 if none. */
int cc_default_layer(const cc_model *m);
/* Whether a tensor can be a target layer: float activation of shape [1, C, h, w]. */
int cc_is_spatial_layer(const cc_model *m, int tensor);

#ifdef __cplusplus
}
#endif
#endif
