/* Mini-batch training with the engine's own backward pass.
 *
 * The network is written as ONNX at batch size B, loaded from memory, and one
 * session runs every step:  set_input -> forward -> softmax cross-entropy and
 * its gradient dL/dlogits (mean over the batch) as the seed -> backward with
 * every weight as a target -> optimiser update of the weights in place.  A
 * last partial batch is padded with blank images whose seed rows are zero, so
 * they contribute nothing.  Evaluation pads the same way and ignores the pad. */
#include "train/train.h"
#include "graph/internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int tfail(cc_trainer *t, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->err, sizeof t->err, fmt, ap);
    va_end(ap);
    return code;
}

float *cc_train_weight(cc_model *m, int tensor, size_t *numel)
{
    if (!m || tensor < 0 || tensor >= m->g.n_tensors) return NULL;
    cc_tensor *t = &m->g.tensors[tensor];
    if (!t->is_initializer || t->dtype != CC_DT_FLOAT || !t->data || t->numel <= 0) return NULL;
    /* weights used in place from a read-only file mapping cannot be written */
    const char *d = t->data;
    for (int i = 0; i < m->g.n_maps; i++) {
        const char *a = m->g.maps[i].addr;
        if (a && d >= a && d < a + m->g.maps[i].size) return NULL;
    }
    cc_graph_weights_live(&m->g, tensor);   /* e.g. Conv's packed / Winograd copies would go stale */
    if (numel) *numel = (size_t)t->numel;
    return t->data;
}

double cc_softmax_xent(const float *logits, const uint8_t *labels, int n_valid, int n_rows, int C, float *seed,
                       int *correct)
{
    double total = 0;
    int ok = 0;
    for (int i = 0; i < n_rows; i++) {
        const float *z = logits + (size_t)i * (size_t)C;
        float *g = seed ? seed + (size_t)i * (size_t)C : NULL;
        if (i >= n_valid) {
            if (g) memset(g, 0, sizeof(float) * (size_t)C);
            continue;
        }
        int y = labels[i], arg = 0;
        double mx = z[0];
        for (int j = 1; j < C; j++)
            if (z[j] > mx) { mx = z[j]; arg = j; }
        ok += arg == y;
        double sum = 0;
        for (int j = 0; j < C; j++) sum += exp((double)z[j] - mx);
        double lse = mx + log(sum);
        total += lse - (double)z[y];
        if (g)
            for (int j = 0; j < C; j++)
                g[j] = (float)((exp((double)z[j] - lse) - (j == y ? 1.0 : 0.0)) / (double)n_valid);
    }
    if (correct) *correct = ok;
    return n_valid > 0 ? total / n_valid : 0.0;
}

void cc_train_defaults(cc_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->arch = "c32,c32,p,c64,c64,p,f32";
    o->epochs = 4;
    o->batch = 64;
    o->lr = 1e-3f;
    o->warmup_steps = 100;
    o->optimizer = CC_OPT_ADAM;
    o->weight_decay = 0.0f;
    o->seed = 1;
    o->flip = 1;
    o->mean = 0.2860f;
    o->std = 0.3530f;
}

/* Serialize the network at `batch` with the given weights. */
static int write_net(cc_trainer *t, int batch, const float *const *w, const char *const *meta, int n_meta,
                     uint8_t **buf, size_t *size)
{
    cc_onnx_writer *ow = cc_ow_new("contrastcam_cnn");
    if (!ow) return tfail(t, CC_E_NOMEM, "out of memory");
    cc_net_write(&t->net, batch, w, ow);
    for (int i = 0; i + 1 < 2 * n_meta; i += 2) cc_ow_meta(ow, meta[i], meta[i + 1]);
    int rc = cc_ow_serialize(ow, buf, size);
    if (rc) tfail(t, rc, "cannot write the network: %s", cc_ow_errmsg(ow));
    cc_ow_free(ow);
    return rc;
}

int cc_trainer_init(cc_trainer *t, const cc_train_opts *o, int h, int w, int n_classes)
{
    memset(t, 0, sizeof *t);
    t->o = *o;
    if (!t->o.arch) t->o.arch = "c32,c32,p,c64,c64,p,f32";
    if (o->batch < 1 || o->batch > 4096) return tfail(t, CC_E_ARG, "batch size must be 1..4096");
    if (o->epochs < 0 || o->epochs > 10000) return tfail(t, CC_E_ARG, "epochs must be 0..10000");
    if (!(o->lr > 0) || !(o->lr < 100)) return tfail(t, CC_E_ARG, "learning rate must be in (0, 100)");
    if (!(o->std > 0) || !isfinite(o->mean)) return tfail(t, CC_E_ARG, "std must be > 0");
    if (n_classes > CC_TRAIN_MAX_CLASSES) return tfail(t, CC_E_LIMIT, "more than %d classes", CC_TRAIN_MAX_CLASSES);
    int rc = cc_net_parse(&t->net, t->o.arch, 1, h, w, n_classes, t->err, sizeof t->err);
    if (rc) return rc;
    cc_rng_seed(&t->rng, o->seed);
    /* initial weights, then the batch-B graph */
    float *init[CC_NET_MAX_PARAMS] = { 0 };
    for (int i = 0; i < t->net.n_params && !rc; i++)
        if (!(init[i] = malloc(sizeof(float) * (size_t)t->net.params[i].numel))) rc = tfail(t, CC_E_NOMEM, "out of memory");
    uint8_t *buf = NULL;
    size_t size = 0;
    if (!rc) {
        cc_net_init_weights(&t->net, init, &t->rng);
        rc = write_net(t, o->batch, (const float *const *)init, NULL, 0, &buf, &size);
    }
    for (int i = 0; i < t->net.n_params; i++) free(init[i]);
    if (rc) return rc;
    cc_status st = cc_model_load_buffer(buf, size, NULL, &t->m);
    free(buf);
    if (st) return tfail(t, st, "cannot load the training network: %s", cc_model_errmsg(t->m));
    if ((st = cc_session_new(t->m, &t->s))) return tfail(t, st, "cannot create a session");
    t->input = cc_model_input(t->m, 0);
    t->output = cc_model_output(t->m, 0);
    for (int i = 0; i < t->net.n_params; i++) {
        size_t n = 0;
        t->weight_t[i] = cc_model_find_tensor(t->m, t->net.params[i].name);
        t->weight[i] = cc_train_weight(t->m, t->weight_t[i], &n);
        if (!t->weight[i] || (int64_t)n != t->net.params[i].numel)
            return tfail(t, CC_E_INTERNAL, "weight '%s' is not writable in the loaded model", t->net.params[i].name);
    }
    cc_optim_init(&t->opt, o->optimizer);
    t->opt.weight_decay = o->weight_decay;
    for (int i = 0; i < t->net.n_params; i++)
        if (cc_optim_add(&t->opt, t->weight[i], t->net.params[i].numel, !t->net.params[i].is_bias))
            return tfail(t, CC_E_NOMEM, "out of memory");
    t->x = malloc(sizeof(float) * (size_t)o->batch * (size_t)h * (size_t)w);
    t->seed = malloc(sizeof(float) * (size_t)o->batch * (size_t)n_classes);
    if (!t->x || !t->seed) return tfail(t, CC_E_NOMEM, "out of memory");
    return 0;
}

void cc_trainer_free(cc_trainer *t)
{
    cc_session_free(t->s);
    cc_model_free(t->m);
    cc_optim_free(&t->opt);
    free(t->x);
    free(t->seed);
    t->s = NULL;
    t->m = NULL;
    t->x = t->seed = NULL;
}

/* Fill the input with images idx[0..n) (padding rows zero), flipping
 * horizontally where flip != NULL says so; labels copied to lab. */
static void fill_batch(cc_trainer *t, const cc_dataset *d, const int *idx, int n, cc_rng *flip, uint8_t *lab)
{
    const int B = t->o.batch, hw = d->h * d->w;
    const float scale = 1.0f / (255.0f * t->o.std), shift = -t->o.mean / t->o.std;
    float lut[256];
    for (int v = 0; v < 256; v++) lut[v] = (float)v * scale + shift;
    for (int b = 0; b < B; b++) {
        float *x = t->x + (size_t)b * (size_t)hw;
        if (b >= n) { for (int q = 0; q < hw; q++) x[q] = shift; lab[b] = 0; continue; }
        const uint8_t *img = d->images + (size_t)idx[b] * (size_t)hw;
        lab[b] = d->labels[idx[b]];
        int fl = flip && (cc_rng_next(flip) >> 63);
        for (int r = 0; r < d->h; r++) {
            const uint8_t *src = img + r * d->w;
            float *dst = x + r * d->w;
            if (fl) for (int c = 0; c < d->w; c++) dst[c] = lut[src[d->w - 1 - c]];
            else for (int c = 0; c < d->w; c++) dst[c] = lut[src[c]];
        }
    }
}

int cc_trainer_evaluate(cc_trainer *t, const cc_dataset *d, double *acc, double *loss, int64_t *confusion)
{
    const int B = t->o.batch, C = t->net.n_classes;
    if (d->h != t->net.in_h || d->w != t->net.in_w) return tfail(t, CC_E_SHAPE, "dataset images are %dx%d, the network takes %dx%d", d->h, d->w, t->net.in_h, t->net.in_w);
    if (d->n_classes > C) return tfail(t, CC_E_ARG, "dataset has %d classes, the network %d", d->n_classes, C);
    if (confusion) memset(confusion, 0, sizeof(int64_t) * (size_t)C * (size_t)C);
    int *idx = malloc(sizeof(int) * (size_t)B);
    uint8_t *lab = malloc((size_t)B);
    if (!idx || !lab) { free(idx); free(lab); return tfail(t, CC_E_NOMEM, "out of memory"); }
    int64_t right = 0;
    double total = 0;
    int rc = 0;
    for (int i0 = 0; i0 < d->n && !rc; i0 += B) {
        int n = d->n - i0 < B ? d->n - i0 : B;
        for (int b = 0; b < n; b++) idx[b] = i0 + b;
        fill_batch(t, d, idx, n, NULL, lab);
        cc_status st = cc_session_set_input(t->s, t->input, t->x, (size_t)B * (size_t)d->h * (size_t)d->w);
        if (!st) st = cc_session_forward(t->s);
        if (st) { rc = tfail(t, st, "forward failed: %s", cc_session_errmsg(t->s)); break; }
        const float *z = cc_session_value(t->s, t->output, NULL);
        int ok = 0;
        total += cc_softmax_xent(z, lab, n, B, C, NULL, &ok) * n;
        right += ok;
        if (confusion)
            for (int b = 0; b < n; b++) {
                int arg = 0;
                for (int j = 1; j < C; j++)
                    if (z[b * C + j] > z[b * C + arg]) arg = j;
                confusion[lab[b] * C + arg]++;
            }
    }
    free(idx);
    free(lab);
    if (rc) return rc;
    if (acc) *acc = d->n ? (double)right / d->n : 0;
    if (loss) *loss = d->n ? total / d->n : 0;
    return 0;
}

int cc_trainer_fit(cc_trainer *t, const cc_dataset *train, const cc_dataset *test, cc_train_epoch *last)
{
    const int B = t->o.batch, C = t->net.n_classes, hw = train->h * train->w;
    if (train->h != t->net.in_h || train->w != t->net.in_w || train->n < 1)
        return tfail(t, CC_E_SHAPE, "training images are %dx%d, the network takes %dx%d", train->h, train->w, t->net.in_h, t->net.in_w);
    if (train->n_classes != C) return tfail(t, CC_E_ARG, "dataset has %d classes, the network %d", train->n_classes, C);
    int *order = malloc(sizeof(int) * (size_t)train->n);
    uint8_t *lab = malloc((size_t)B);
    if (!order || !lab) { free(order); free(lab); return tfail(t, CC_E_NOMEM, "out of memory"); }
    const float *grads[CC_NET_MAX_PARAMS];
    const int64_t steps_per_epoch = (train->n + B - 1) / B, total_steps = steps_per_epoch * t->o.epochs;
    /* warm-up: at most a tenth of the run */
    const int64_t warmup = t->o.warmup_steps < total_steps / 10 ? t->o.warmup_steps : total_steps / 10;
    int64_t step = 0;
    int rc = 0;
    cc_rng flip_rng;
    cc_rng_seed(&flip_rng, t->o.seed ^ 0x5eedf11bULL);
    for (int i = 0; i < train->n; i++) order[i] = i;
    for (int ep = 0; ep < t->o.epochs && !rc; ep++) {
        double t0 = now_s(), loss_sum = 0;
        int64_t right = 0;
        cc_rng_shuffle(&t->rng, order, train->n);
        for (int i0 = 0; i0 < train->n && !rc; i0 += B, step++) {
            int n = train->n - i0 < B ? train->n - i0 : B;
            fill_batch(t, train, order + i0, n, t->o.flip ? &flip_rng : NULL, lab);
            cc_status st = cc_session_set_input(t->s, t->input, t->x, (size_t)B * (size_t)hw);
            if (!st) st = cc_session_forward(t->s);
            if (st) { rc = tfail(t, st, "forward failed: %s", cc_session_errmsg(t->s)); break; }
            const float *z = cc_session_value(t->s, t->output, NULL);
            int ok = 0;
            double loss = cc_softmax_xent(z, lab, n, B, C, t->seed, &ok);
            if (!isfinite(loss)) { rc = tfail(t, CC_E_INTERNAL, "the loss diverged at epoch %d step %lld (lower --lr)", ep + 1, (long long)step); break; }
            loss_sum += loss * n;
            right += ok;
            st = cc_session_backward(t->s, t->output, t->seed, 1, t->weight_t, t->net.n_params);
            if (st) { rc = tfail(t, st, "backward failed: %s", cc_session_errmsg(t->s)); break; }
            for (int i = 0; i < t->net.n_params; i++) {
                size_t gn = 0;
                grads[i] = cc_session_grad(t->s, t->weight_t[i], &gn);
                if (!grads[i] || (int64_t)gn != t->net.params[i].numel) {
                    rc = tfail(t, CC_E_INTERNAL, "no gradient for weight '%s'", t->net.params[i].name);
                    break;
                }
            }
            if (rc) break;
            /* linear warm-up, then cosine decay to zero */
            double lr = t->o.lr;
            if (step < warmup) lr *= (double)(step + 1) / (double)(warmup + 1);
            else if (total_steps > warmup)
                lr *= 0.5 * (1.0 + cos(3.141592653589793 * (double)(step - warmup) / (double)(total_steps - warmup)));
            cc_optim_step(&t->opt, grads, (float)lr);
        }
        if (rc) break;
        cc_train_epoch e = { ep + 1, t->o.epochs, loss_sum / train->n, (double)right / train->n, NAN, 0 };
        if (test && test->n > 0 && (rc = cc_trainer_evaluate(t, test, &e.test_acc, NULL, NULL))) break;
        e.seconds = now_s() - t0;
        if (last) *last = e;
        if (t->o.progress) t->o.progress(t->o.ctx, &e);
    }
    free(order);
    free(lab);
    return rc;
}

int cc_trainer_export(cc_trainer *t, const char *const *meta, int n_meta, uint8_t **buf, size_t *size)
{
    char mean[32], sd[32], sz[32];
    snprintf(mean, sizeof mean, "%.4f", t->o.mean);
    snprintf(sd, sizeof sd, "%.4f", t->o.std);
    snprintf(sz, sizeof sz, "%dx%d", t->net.in_w, t->net.in_h);
    const char *std_meta[] = {
        "preprocess.size", sz, "preprocess.channels", "gray", "preprocess.scale", "0.00392156862745098",
        "preprocess.mean", mean, "preprocess.std", sd, "gradcam.target", t->net.target, "training.arch", t->net.arch,
    };
    int n_std = (int)(sizeof std_meta / sizeof std_meta[0] / 2) - (t->net.target[0] ? 0 : 1);
    if (!t->net.target[0]) {   /* no conv layer: drop gradcam.target (keep arch) */
        std_meta[10] = std_meta[12];
        std_meta[11] = std_meta[13];
    }
    int n_all = n_std + (n_meta > 0 ? n_meta : 0);
    const char **all = malloc(sizeof(char *) * (size_t)(2 * n_all + 1));
    if (!all) return tfail(t, CC_E_NOMEM, "out of memory");
    memcpy(all, std_meta, sizeof(char *) * (size_t)(2 * n_std));
    if (n_meta > 0) memcpy(all + 2 * n_std, meta, sizeof(char *) * (size_t)(2 * n_meta));
    int rc = write_net(t, 1, (const float *const *)t->weight, all, n_all, buf, size);
    free(all);
    return rc;
}
