/* Training small CNNs with the engine itself (internal API, not installed).
 *
 *   idx.c      IDX (MNIST-family) files, plain or gzip, fully validated; datasets
 *   rng.c      a fixed-seed PRNG (xoshiro256** seeded by splitmix64)
 *   sgd.c      optimisers: SGD with momentum, Adam (decoupled weight decay)
 *   net.c      a sequential conv net described by a short string, written as
 *              ONNX with src/onnx/writer.h at any batch size
 *   trainer.c  softmax cross-entropy, mini-batch training through
 *              cc_session_backward with the weights as targets, evaluation,
 *              confusion matrix, export at batch size 1
 *
 * The network is an ONNX graph built at batch size B and loaded with
 * cc_model_load_buffer; its weights are updated in place in the model
 * (cc_train_weight), which every session sees.  Nothing here prints. */
#ifndef CC_TRAIN_H
#define CC_TRAIN_H
#include <stddef.h>
#include <stdint.h>

#include "contrastcam.h"
#include "onnx/writer.h"
#include "ops/op.h"   /* CC_E_* codes */

/* ---- IDX files and datasets ------------------------------------------------- */

/* Format an error message into err (when given) and return code. */
int cc_train_errf(char *err, size_t errlen, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define CC_IDX_MAX_BYTES ((int64_t)1 << 31)   /* refuse larger files */

typedef struct cc_idx {
    int ndim;                 /* 1..4 */
    int64_t dims[4];
    int64_t numel;
    uint8_t *data;            /* numel unsigned bytes, malloc'd */
} cc_idx;

/* Read an IDX file of unsigned bytes (type 0x08), gzip-compressed or not.
 * Checks the magic, the rank, every dimension and that the payload is
 * exactly numel bytes.  Returns 0 or a CC_E_* code with a message in err. */
int cc_idx_load(const char *path, cc_idx *out, char *err, size_t errlen);
/* The same from bytes already in memory (uncompressed). */
int cc_idx_parse(const uint8_t *buf, size_t size, const char *what, cc_idx *out, char *err, size_t errlen);
void cc_idx_free(cc_idx *x);

typedef struct cc_dataset {
    int n, h, w;              /* n images of h x w, one channel */
    uint8_t *images;          /* n * h * w */
    uint8_t *labels;          /* n, each < n_classes */
    int n_classes;
} cc_dataset;

/* Images [N, H, W] and labels [N] with the same N, labels < n_classes; keeps
 * the first `limit` examples when limit > 0. */
int cc_dataset_load(const char *images_path, const char *labels_path, int n_classes, int limit,
                    cc_dataset *d, char *err, size_t errlen);
/* DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] */
int cc_dataset_load_dir(const char *dir, int test, int n_classes, int limit, cc_dataset *d, char *err, size_t errlen);
void cc_dataset_free(cc_dataset *d);

/* ---- PRNG -------------------------------------------------------------------- */

typedef struct cc_rng {
    uint64_t s[4];
} cc_rng;

void cc_rng_seed(cc_rng *r, uint64_t seed);
uint64_t cc_rng_next(cc_rng *r);
uint32_t cc_rng_below(cc_rng *r, uint32_t n);     /* uniform in [0, n), unbiased; n >= 1 */
double cc_rng_uniform(cc_rng *r);                 /* [0, 1) with 53 bits */
double cc_rng_normal(cc_rng *r);                  /* standard normal (Box-Muller) */
void cc_rng_shuffle(cc_rng *r, int *a, int n);    /* Fisher-Yates */

/* ---- optimisers -------------------------------------------------------------- */

typedef enum cc_opt_kind { CC_OPT_SGD = 0, CC_OPT_ADAM = 1 } cc_opt_kind;

typedef struct cc_optim {
    cc_opt_kind kind;
    float momentum;           /* SGD (0.9) */
    float beta1, beta2, eps;  /* Adam (0.9, 0.999, 1e-8) */
    float weight_decay;       /* decoupled, applied to params added with decay = 1 */
    int64_t t;                /* steps taken */
    int n, cap;
    float **param;
    int64_t *numel;
    unsigned char *decay;
    float **m, **v;           /* momentum / Adam moments */
} cc_optim;

void cc_optim_init(cc_optim *o, cc_opt_kind kind);
/* Register a parameter (updated in place); 0 or CC_E_NOMEM. */
int cc_optim_add(cc_optim *o, float *param, int64_t numel, int decay);
/* One update with learning rate lr; grads[i] matches the i-th parameter. */
void cc_optim_step(cc_optim *o, const float *const *grads, float lr);
void cc_optim_free(cc_optim *o);

/* ---- the network -------------------------------------------------------------- */

#define CC_NET_MAX_LAYERS 24
#define CC_NET_MAX_PARAMS (2 * CC_NET_MAX_LAYERS)

enum { CC_LAYER_CONV = 1, CC_LAYER_MAXPOOL, CC_LAYER_GAP, CC_LAYER_FC };

typedef struct cc_net_layer {
    int kind, units;          /* units: conv channels / fc outputs */
    int relu;                 /* followed by ReLU (all but the classifier) */
    int in_c, in_h, in_w;     /* per-image input shape (in_h = in_w = 0: a vector of in_c) */
    int out_c, out_h, out_w;
    char out_name[32];        /* tensor name of the layer's final output (after ReLU) */
} cc_net_layer;

typedef struct cc_net_param {
    char name[40];
    int ndim;
    int64_t dims[4];
    int64_t numel;
    int64_t fan_in;
    int is_bias;
    int layer;
} cc_net_param;

typedef struct cc_net {
    int in_c, in_h, in_w, n_classes;
    int n_layers;
    cc_net_layer layers[CC_NET_MAX_LAYERS];
    int n_params;
    cc_net_param params[CC_NET_MAX_PARAMS];
    char target[32];          /* last conv activation with spatial extent (Grad-CAM layer) */
    char arch[256];
} cc_net;

/* Parse an architecture: comma-separated hidden layers, then a Gemm to n_classes
 * is appended.  Tokens: cN conv 3x3 pad 1 with N channels + ReLU; p max-pool
 * 2x2 stride 2; g global average pool; fN fully connected N + ReLU (a Flatten
 * comes first when needed).  E.g. "c32,c32,p,c64,c64,p,f32". */
int cc_net_parse(cc_net *net, const char *arch, int in_c, int in_h, int in_w, int n_classes, char *err, size_t errlen);
/* He-normal weights for layers followed by ReLU, LeCun-normal for the classifier,
 * zero biases; params[i] must hold net->params[i].numel floats. */
void cc_net_init_weights(const cc_net *net, float *const *params, cc_rng *rng);
/* Add the whole network (input "input" [batch, C, H, W], output "logits"
 * [batch, classes]) with these weights to a writer. */
int cc_net_write(const cc_net *net, int batch, const float *const *params, cc_onnx_writer *w);

/* ---- training ------------------------------------------------------------------ */

/* A writable pointer to the float data of initializer `tensor` of a model loaded
 * with cc_model_load_buffer (NULL for anything else, e.g. weights mapped
 * read-only from a file).  Sessions see in-place updates. */
float *cc_train_weight(cc_model *m, int tensor, size_t *numel);

/* Mean softmax cross-entropy over the first n_valid of n_rows rows of logits
 * [n_rows, C]; seed (may be NULL) gets dL/dlogits (rows >= n_valid zero);
 * *correct (may be NULL) counts rows whose argmax is the label. */
double cc_softmax_xent(const float *logits, const uint8_t *labels, int n_valid, int n_rows, int C,
                       float *seed, int *correct);

typedef struct cc_train_epoch {
    int epoch, epochs;
    double loss, train_acc, test_acc;
    double seconds;           /* this epoch: training + evaluation */
} cc_train_epoch;

typedef struct cc_train_opts {
    const char *arch;         /* NULL: "c32,c32,p,c64,c64,p,f32" */
    int epochs, batch;
    float lr;                 /* peak; cosine decay to 0 over the run */
    int warmup_steps;         /* linear warm-up (at most a tenth of all steps) */
    cc_opt_kind optimizer;
    float weight_decay;
    uint64_t seed;
    int flip;                 /* random horizontal flips */
    float mean, std;          /* input = (pixel / 255 - mean) / std */
    void (*progress)(void *ctx, const cc_train_epoch *e);   /* after each epoch, may be NULL */
    void *ctx;
} cc_train_opts;

#define CC_TRAIN_MAX_CLASSES 64

typedef struct cc_trainer {
    cc_net net;
    cc_train_opts o;
    cc_model *m;              /* the batch-B training graph */
    cc_session *s;
    int input, output;
    int weight_t[CC_NET_MAX_PARAMS];
    float *weight[CC_NET_MAX_PARAMS];
    cc_optim opt;
    cc_rng rng;
    float *x, *seed;
    char err[512];
} cc_trainer;

void cc_train_defaults(cc_train_opts *o);
/* Build and load the network for data of shape [C=1, h, w] with n_classes. */
int cc_trainer_init(cc_trainer *t, const cc_train_opts *o, int h, int w, int n_classes);
void cc_trainer_free(cc_trainer *t);
/* Train for o.epochs over `train`, evaluating on `test` after each epoch. */
int cc_trainer_fit(cc_trainer *t, const cc_dataset *train, const cc_dataset *test, cc_train_epoch *last);
/* Accuracy on a dataset; confusion (may be NULL) gets n_classes^2 counts
 * [true][predicted]; loss (may be NULL) the mean cross-entropy. */
int cc_trainer_evaluate(cc_trainer *t, const cc_dataset *d, double *acc, double *loss, int64_t *confusion);
/* The trained network at batch size 1, serialized, with metadata_props:
 * preprocess.size/channels/scale/mean/std, gradcam.target and training.arch
 * are added to the caller's n_meta (key, value) pairs in meta. */
int cc_trainer_export(cc_trainer *t, const char *const *meta, int n_meta, uint8_t **buf, size_t *size);
#endif
