/* The op interface: every ONNX op is one table entry with a prepare (attribute
 * parsing + shape inference), a forward and an optional backward (vector-Jacobian
 * product).  Kernels see plain tensors; they never allocate activations
 * themselves and never print. */
#ifndef CC_OP_H
#define CC_OP_H

#include <stddef.h>
#include <stdint.h>

#define CC_MAX_DIMS 8
/* No single dimension may exceed this (cc_numel refuses it), so that sums and
 * products of a few dimensions in shape inference cannot overflow int64. */
#define CC_MAX_DIM ((int64_t)INT32_MAX)

/* ONNX TensorProto.DataType codes we handle. */
enum { CC_DT_FLOAT = 1, CC_DT_INT32 = 6, CC_DT_INT64 = 7, CC_DT_BOOL = 9, CC_DT_DOUBLE = 11 };

typedef struct cc_tensor {
    const char *name;
    int dtype;              /* CC_DT_FLOAT or CC_DT_INT64 once loaded (int32 is widened) */
    int ndim;
    int64_t dims[CC_MAX_DIMS];
    int64_t numel;
    void *data;             /* float* or int64_t*; NULL until allocated */
    int is_const;           /* initializer or folded at load: data valid for the model's life */
    int is_initializer;     /* a weight (candidate for weight gradients) */
    int producer;           /* index of the node that writes it, -1 for graph inputs/initializers */
} cc_tensor;

/* Attributes as stored in the file (ONNX AttributeProto), decoded. */
enum { CC_ATTR_FLOAT = 1, CC_ATTR_INT = 2, CC_ATTR_STRING = 3, CC_ATTR_TENSOR = 4,
       CC_ATTR_FLOATS = 6, CC_ATTR_INTS = 7, CC_ATTR_STRINGS = 8 };

typedef struct cc_attr {
    const char *name;
    int type;
    float f;
    int64_t i;
    const char *s;           /* NUL-terminated copy */
    int n;                   /* element count for FLOATS / INTS */
    float *floats;
    int64_t *ints;
    cc_tensor *t;            /* for TENSOR (e.g. Constant.value) */
} cc_attr;

struct cc_op;

typedef struct cc_node {
    const char *name;
    const char *op_type;
    const char *domain;
    int opset;               /* the model's opset for this node's domain */
    int n_in, n_out;
    int *in;                 /* tensor indices; -1 = optional input absent */
    int *out;
    int n_attr;
    cc_attr *attr;
    const struct cc_op *op;
    void *params;            /* op-specific, made by prepare, freed with free() */
} cc_node;

/* Per-call context: scratch memory owned by the session, so kernels stay
 * re-entrant across threads that use separate sessions. */
typedef struct cc_ctx cc_ctx;
/* Returns a buffer of at least n floats, valid until the next cc_scratch call
 * with the same slot in this kernel call; NULL on out-of-memory. */
float *cc_scratch(cc_ctx *ctx, int slot, size_t n);

/* An activation fused into the op that produces its input: the session runs
 * Conv -> Relu / Clip as one node when nothing reads the pre-activation
 * (src/graph/session.c), and the producer applies it while its output is
 * still in cache, instead of one more pass over memory.  The expressions are
 * the Relu / Clip forward ones, NaN handling included. */
/* A convolution may also take a residual Add (Conv -> Add -> [Relu / Clip],
 * the end of a ResNet or MobileNetV2 block): `res` is the Add's other input,
 * of the output's shape, and the output element at y pairs with
 * res[y - base].  The sum comes after the bias and before the activation,
 * as the unfused nodes compute it: the same bits. */
enum { CC_POST_NONE = 0, CC_POST_RELU = 1, CC_POST_CLIP = 2 };
typedef struct cc_post {
    int kind;
    float lo, hi;             /* CC_POST_CLIP bounds */
    const float *res;         /* the residual to add, or NULL */
    const float *base;        /* the output tensor's data, which res lines up with */
} cc_post;
/* The activation the current forward call must apply to its first output
 * (kind CC_POST_NONE and no residual when none, or when ctx is NULL). */
const cc_post *cc_ctx_post(const cc_ctx *ctx);
/* Whether post changes anything (an activation or a residual). */
static inline int cc_post_any(const cc_post *post)
{
    return post && (post->kind != CC_POST_NONE || post->res);
}
/* The residual values that pair with output element y, or NULL. */
static inline const float *cc_post_res(const cc_post *post, const float *y)
{
    return post && post->res ? post->res + (y - post->base) : NULL;
}
/* y[i] = post(y[i] + bias (+ residual)) for i < n, on the calling thread. */
void cc_post_apply(float *y, int64_t n, float bias, const cc_post *post);
/* y[r * len + i] = post(y[r * len + i] + (bias ? bias[r] : 0)) for r < rows:
 * the epilogue of a product that wrote y without its bias. */
void cc_post_rows(float *y, int64_t rows, int64_t len, const float *bias, const cc_post *post);
/* Whether node n (with its inputs) is an activation the session may fuse: a
 * float Relu, or a float Clip whose bounds are absent or constant. */
int cc_post_of_node(const cc_node *n, cc_tensor **in, cc_post *post);

/* A softmax pull-back formed during the forward: when asked to (the session
 * sets it around the forward call of the one node whose output the next
 * contrasts seed, cc_session_prepare_contrast), a Gemm that computes one row
 * z = alpha W x + c with W's rows the classes also forms u = W' softmax(z)
 * while W is read for z.  A contrast's seed softmax(z) - onehot(Q) then needs
 * u - W[Q], not a second pass over the classifier (5 MB for MobileNetV2). */
struct cc_packed;
typedef struct cc_softmax_tap {
    float *u;                 /* k floats (the session's) */
    int64_t k;
    const float *w;           /* set by the op: the rows u was formed from (N x k, row-major) */
    int64_t n;
    int done;                 /* set by the op when u holds this forward's value */
    const float *wp;          /* set by the op: the same rows packed in panels (pk), or NULL */
    const struct cc_packed *pk;
} cc_softmax_tap;
/* The tap the current forward call should fill, or NULL. */
cc_softmax_tap *cc_ctx_tap(const cc_ctx *ctx);

/* The channel-blocked layout (c16): a [1, C, H, W] activation stored as C / 16
 * blocks of H W positions x 16 channels, value (c, n) at (c / 16) 16 HW +
 * 16 n + c % 16.  cc_session_keep gives it to the tensors that narrow
 * products write and only nodes able to take it read (cc_op_c16), so that
 * the tiles store whole vectors (conv_kernels.h, cc_packed_gemm_c16).  The current forward
 * call's input 0 is blocked when bit CC_C16_IN is set, its output when
 * CC_C16_OUT is, its fused residual when CC_C16_RES is (always with OUT). */
enum { CC_C16_IN = 1, CC_C16_OUT = 2, CC_C16_RES = 4 };
int cc_ctx_c16(const cc_ctx *ctx);
/* Whether node n's forward can take those bits now. */
int cc_op_c16(const cc_node *n, int c16);
int cc_conv_c16(const cc_node *n, int c16);
int cc_maxpool_c16(const cc_node *n, int c16);
/* x (C x N, row-major) to the blocked layout (C % 16 == 0) in y, and back. */
void cc_c16_pack(const float *x, int64_t C, int64_t N, float *y);
void cc_c16_unpack(const float *x, int64_t C, int64_t N, float *y);

/* y[r] = alpha (W[r] . x) + y[r] for r < n (W: n rows of k floats, stride ldw).
 * Each dot is one fixed-order sum computed by one thread, whatever their
 * number.  With tap (tap->k == k): also tap->u = W' softmax(y) after the update,
 * in the same pass over W (src/ops/gemv.c).  Returns CC_E_OK or CC_E_NOMEM. */
int cc_gemv_rows(const float *W, int64_t ldw, int64_t n, int64_t k, const float *x, float alpha, float *y,
                 cc_softmax_tap *tap, cc_ctx *ctx);
/* The same product with the n x k rows W also packed in panels (Wp, pk:
 * cc_packed_weights's layout, AVX-512 only): each dot in k order, as four
 * interleaved partial sums.  The tap, when given, is formed from the panels
 * and records W, Wp and pk, so that the all-Q maps read the rows this
 * forward has just brought into the caches (src/explain/cam.c). */
int cc_gemv_packed(const struct cc_packed *pk, const float *Wp, const float *W, const float *x, float alpha, float *y,
                   cc_softmax_tap *tap, cc_ctx *ctx);

/* Status codes returned by prepare/forward/backward; message in err. */
typedef struct cc_err {
    char msg[512];
} cc_err;
/* Messages are one line: control characters (e.g. a newline inside a tensor
 * name read from a hostile file) are replaced by '?'. */
void cc_msg_oneline(char *msg);
int cc_errf(cc_err *e, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

typedef struct cc_op {
    const char *op_type;
    int since;               /* lowest opset version implemented */
    /* Validate attributes and input shapes, fill output dtype/ndim/dims (numel is
     * computed by the caller).  Inputs carry data when is_const.  An op whose
     * outputs are known at load (Shape, Constant) may set out[i]->is_const and fill
     * data it allocates with cc_tensor_alloc.  Returns 0 or a CC_E* code. */
    int (*prepare)(cc_node *n, cc_tensor **in, cc_tensor **out, cc_err *e);
    /* Compute outputs; all input data valid, outputs allocated. */
    int (*forward)(const cc_node *n, cc_tensor **in, cc_tensor **out, cc_ctx *ctx);
    /* Vector-Jacobian product for a batch of K seeds.  gy[j] holds K * out[j]->numel
     * floats (K stacked copies of output j's shape), NULL if output j carries no
     * gradient (treat as zero).  gx[i] holds K * in[i]->numel floats and must be
     * ACCUMULATED into (+=); NULL means that input's gradient is not wanted.  Forward
     * values of in and out are valid.  NULL backward = not differentiable here. */
    int (*backward)(const cc_node *n, cc_tensor **in, cc_tensor **out,
                    float **gy, float **gx, int K, cc_ctx *ctx);
} cc_op;

/* Error codes shared with the public API (see include/contrastcam.h). */
enum { CC_E_OK = 0, CC_E_IO = 1, CC_E_PARSE = 2, CC_E_UNSUPPORTED = 3, CC_E_SHAPE = 4,
       CC_E_ARG = 5, CC_E_NOMEM = 6, CC_E_NOTFOUND = 7, CC_E_LIMIT = 8, CC_E_INTERNAL = 9 };

/* Helpers for op implementations (src/ops/op_util.c). */
const cc_attr *cc_attr_find(const cc_node *n, const char *name);
int64_t cc_attr_int(const cc_node *n, const char *name, int64_t dflt);
float cc_attr_float(const cc_node *n, const char *name, float dflt);
const char *cc_attr_str(const cc_node *n, const char *name, const char *dflt);
/* Copies up to max ints; returns count found (0 if absent), -1 if more than max. */
int cc_attr_ints(const cc_node *n, const char *name, int64_t *dst, int max);
int64_t cc_numel(const int64_t *dims, int ndim);
/* Allocate (malloc) data for a tensor whose dtype/dims are set; used for load-time constants. */
int cc_tensor_alloc(cc_tensor *t);
/* Read element i of a constant int tensor (int64) as int64. */
int64_t cc_tensor_geti(const cc_tensor *t, int64_t i);
/* NumPy-style broadcast of two shapes; returns 0 or -1 if incompatible. */
int cc_broadcast_shape(const cc_tensor *a, const cc_tensor *b, int *ndim, int64_t *dims);

/* The direct (non-BLAS) inner loops are built for baseline x86-64, AVX2
 * (x86-64-v3) and AVX-512 (x86-64-v4), and the best one the CPU runs is
 * picked when the library loads. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define CC_HOT_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CC_HOT_CLONES
#endif

/* Parallel-for over [0, n) with OpenMP when worth it (n * cost large). */
#define CC_PAR_MIN 32768

/* Registry: look up an op by type (domain "" or "ai.onnx"). */
const cc_op *cc_op_find(const char *op_type);
/* Whether op's forward applies cc_ctx_post() to its first output (Conv, Add). */
int cc_op_fuses_post(const cc_op *op);
/* Node n's constant inputs (weights) will be changed in place (training):
 * from now on it reads them as they are, not copies its prepare derived from
 * them (Conv's Winograd and packed weights, Gemm's packed rows; other ops keep none). */
void cc_op_weights_live(cc_node *n);
void cc_conv_weights_live(cc_node *n);
void cc_gemm_weights_live(cc_node *n);
/* Whether node n, given a fused residual and the CC_C16_* bits c16 (below),
 * may write its output over it (cc_session_keep): it reads each residual
 * value before it writes there. */
int cc_op_res_inplace(const cc_node *n, int c16);
int cc_conv_res_inplace(const cc_node *n, int c16);
/* Each op family file exports a NULL-terminated table (src/ops/registry.c joins them). */
extern const cc_op *const cc_ops_conv[];      /* Conv, ConvTranspose?, MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, LRN, Pad */
extern const cc_op *const cc_ops_elementwise[]; /* activations, binary broadcast arithmetic, BatchNormalization, Dropout, Identity, Softmax, LogSoftmax */
extern const cc_op *const cc_ops_tensor[];    /* Gemm, MatMul, Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Concat, Split, Slice, Constant, Shape, Gather, ReduceMean, Cast, ... */

/* Forward-mode derivative of a MaxPool node's first output for one tangent of its
 * input x (src/ops/pool.c); the exact transpose of its backward. */
int cc_maxpool_jvp(const cc_node *n, const cc_tensor *x, const float *tx, float *ty);

#endif
