/* Helper for the training tests (not a test itself: run by test_*.sh).
 *
 *   train_tool gradcheck DIR ARCH adam|sgd
 *       A tiny net (ARCH, 1x8x8 input, 3 classes) at batch 4 with fixed inputs:
 *       writes DIR/model.onnx (initial weights), DIR/x.bin, DIR/y.bin, the loss
 *       and logits of step 1 (DIR/loss.txt, DIR/logits.bin), the weight
 *       gradients of step 1 (DIR/grad_NAME.bin) and the weights after two
 *       optimiser steps (DIR/step2_NAME.bin), for tests/train_check.py.
 *   train_tool eval MODEL DATA_DIR OUT_DIR [N]
 *       Runs MODEL (batch 1) on the first N (default all) test images with the
 *       model's preprocess.mean/std; prints the accuracy and writes
 *       OUT_DIR/pred.bin (int32 per image) and OUT_DIR/logits100.bin (the first
 *       100 images' logits).
 *   train_tool short DATA_DIR N_TRAIN N_TEST EPOCHS ARCH
 *       Trains on a subset and prints "accuracy A" on N_TEST test images. */
#include "contrastcam.h"
#include "train/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int save(const char *dir, const char *name, const void *p, size_t bytes)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, bytes, f) != bytes) { fprintf(stderr, "cannot write %s\n", path); if (f) fclose(f); return 1; }
    return fclose(f) != 0;
}

static int gradcheck(const char *dir, const char *arch, const char *opt)
{
    enum { B = 4, H = 8, W = 8, C = 3 };
    cc_train_opts o;
    cc_train_defaults(&o);
    o.arch = arch;
    o.batch = B;
    o.seed = 11;
    o.optimizer = !strcmp(opt, "sgd") ? CC_OPT_SGD : CC_OPT_ADAM;
    o.weight_decay = 0.01f;
    cc_trainer t;
    if (cc_trainer_init(&t, &o, H, W, C)) { fprintf(stderr, "init: %s\n", t.err); return 1; }
    /* the initial weights, as a batch-B model file */
    cc_onnx_writer *w = cc_ow_new("gradcheck");
    char path[1024];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    cc_net_write(&t.net, B, (const float *const *)t.weight, w);
    cc_ow_meta(w, "optimizer", opt);
    if (cc_ow_save(w, path)) { fprintf(stderr, "save: %s\n", cc_ow_errmsg(w)); return 1; }
    cc_ow_free(w);
    float x[B * H * W];
    uint8_t y[B] = { 2, 0, 1, 2 };
    cc_rng r;
    cc_rng_seed(&r, 5);
    for (int i = 0; i < B * H * W; i++) x[i] = (float)cc_rng_normal(&r);
    float lr = o.optimizer == CC_OPT_SGD ? 0.05f : 0.01f;
    for (int step = 0; step < 2; step++) {
        if (cc_session_set_input(t.s, t.input, x, B * H * W) || cc_session_forward(t.s)) { fprintf(stderr, "forward\n"); return 1; }
        const float *z = cc_session_value(t.s, t.output, NULL);
        double loss = cc_softmax_xent(z, y, B, B, C, t.seed, NULL);
        if (step == 0) {
            FILE *f;
            snprintf(path, sizeof path, "%s/loss.txt", dir);
            if ((f = fopen(path, "w"))) { fprintf(f, "%.9g\n", loss); fclose(f); }
            save(dir, "logits.bin", z, sizeof(float) * B * C);
        }
        if (cc_session_backward(t.s, t.output, t.seed, 1, t.weight_t, t.net.n_params)) {
            fprintf(stderr, "backward: %s\n", cc_session_errmsg(t.s));
            return 1;
        }
        const float *g[CC_NET_MAX_PARAMS];
        for (int i = 0; i < t.net.n_params; i++) {
            size_t n;
            g[i] = cc_session_grad(t.s, t.weight_t[i], &n);
            if (!g[i] || (int64_t)n != t.net.params[i].numel) { fprintf(stderr, "no grad for %s\n", t.net.params[i].name); return 1; }
            char name[96];
            snprintf(name, sizeof name, "grad_%s.bin", t.net.params[i].name);
            if (step == 0 && save(dir, name, g[i], sizeof(float) * n)) return 1;
        }
        cc_optim_step(&t.opt, g, lr);
    }
    for (int i = 0; i < t.net.n_params; i++) {
        char name[96];
        snprintf(name, sizeof name, "step2_%s.bin", t.net.params[i].name);
        if (save(dir, name, t.weight[i], sizeof(float) * (size_t)t.net.params[i].numel)) return 1;
    }
    save(dir, "x.bin", x, sizeof x);
    save(dir, "y.bin", y, sizeof y);
    snprintf(path, sizeof path, "%s/hyper.txt", dir);
    FILE *f = fopen(path, "w");
    if (f) { fprintf(f, "%s %g %g\n", opt, lr, o.weight_decay); fclose(f); }
    cc_trainer_free(&t);
    printf("gradcheck files for %s (%s) in %s\n", arch, opt, dir);
    return 0;
}

static int eval(const char *model, const char *data, const char *out, int limit)
{
    cc_model *m = NULL;
    cc_session *s = NULL;
    if (cc_model_load(model, &m) || cc_session_new(m, &s)) { fprintf(stderr, "cannot load %s: %s\n", model, cc_model_errmsg(m)); return 1; }
    cc_dataset d;
    char err[512];
    if (cc_dataset_load_dir(data, 1, 10, limit, &d, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    const char *ms = cc_model_metadata(m, "preprocess.mean"), *ss = cc_model_metadata(m, "preprocess.std");
    float mean = ms ? strtof(ms, NULL) : 0, sd = ss ? strtof(ss, NULL) : 1;
    const int hw = d.h * d.w, in = cc_model_input(m, 0), outt = cc_model_output(m, 0);
    float *x = malloc(sizeof(float) * (size_t)hw), *l100 = calloc(100 * 10, sizeof(float));
    int32_t *pred = malloc(sizeof(int32_t) * (size_t)d.n);
    int right = 0;
    int64_t conf[100] = { 0 };
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < d.n; i++) {
        for (int q = 0; q < hw; q++) x[q] = ((float)d.images[(size_t)i * hw + q] / 255.0f - mean) / sd;
        if (cc_session_set_input(s, in, x, (size_t)hw) || cc_session_forward(s)) { fprintf(stderr, "forward: %s\n", cc_session_errmsg(s)); return 1; }
        size_t n;
        const float *z = cc_session_value(s, outt, &n);
        if (n != 10) { fprintf(stderr, "model has %zu outputs, expected 10\n", n); return 1; }
        int a = 0;
        for (int j = 1; j < 10; j++)
            if (z[j] > z[a]) a = j;
        pred[i] = a;
        right += a == d.labels[i];
        conf[d.labels[i] * 10 + a]++;
        if (i < 100) memcpy(l100 + i * 10, z, sizeof(float) * 10);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    save(out, "pred.bin", pred, sizeof(int32_t) * (size_t)d.n);
    save(out, "logits100.bin", l100, sizeof(float) * 1000);
    char pp[1024];
    snprintf(pp, sizeof pp, "%s/preprocess.txt", out);
    FILE *pf = fopen(pp, "w");
    if (pf) { fprintf(pf, "%.9g %.9g\n", mean, sd); fclose(pf); }
    printf("confusion matrix (rows true, columns predicted):\n");
    for (int i = 0; i < 10; i++) {
        for (int j = 0; j < 10; j++) printf(" %5lld", (long long)conf[i * 10 + j]);
        printf("\n");
    }
    printf("images %d correct %d accuracy %.4f (%.2f ms per image)\n", d.n, right, (double)right / d.n, 1e3 * secs / d.n);
    free(x);
    free(l100);
    free(pred);
    cc_dataset_free(&d);
    cc_session_free(s);
    cc_model_free(m);
    return 0;
}

static int short_run(const char *data, int ntrain, int ntest, int epochs, const char *arch)
{
    cc_dataset tr, te;
    char err[512];
    if (cc_dataset_load_dir(data, 0, 10, ntrain, &tr, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    if (cc_dataset_load_dir(data, 1, 10, ntest, &te, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    cc_train_opts o;
    cc_train_defaults(&o);
    o.arch = arch;
    o.epochs = epochs;
    o.warmup_steps = 20;
    cc_trainer t;
    if (cc_trainer_init(&t, &o, tr.h, tr.w, 10)) { fprintf(stderr, "%s\n", t.err); return 1; }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cc_train_epoch e;
    if (cc_trainer_fit(&t, &tr, &te, &e)) { fprintf(stderr, "%s\n", t.err); return 1; }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("trained %s on %d images for %d epoch(s) in %.1f s: loss %.4f, train acc %.4f\n", arch, tr.n, epochs,
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec), e.loss, e.train_acc);
    printf("accuracy %.4f on %d test images\n", e.test_acc, te.n);
    cc_trainer_free(&t);
    cc_dataset_free(&tr);
    cc_dataset_free(&te);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "gradcheck")) return gradcheck(argv[2], argv[3], argv[4]);
    if ((argc == 5 || argc == 6) && !strcmp(argv[1], "eval")) return eval(argv[2], argv[3], argv[4], argc == 6 ? atoi(argv[5]) : 0);
    if (argc == 7 && !strcmp(argv[1], "short")) return short_run(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), argv[6]);
    fprintf(stderr, "usage: train_tool gradcheck DIR ARCH adam|sgd | eval MODEL DATA OUT [N] | short DATA NTRAIN NTEST EPOCHS ARCH\n");
    return 2;
}
