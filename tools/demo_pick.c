/* demo_pick: chooses the interesting Fashion-MNIST test images for `make demo`
 * — for each pair of classes that people confuse (shirt / T-shirt, pullover /
 * coat, sneaker / sandal, ...) the correctly classified test image on which the
 * model hesitated most, plus its most confident mistake — and, for each
 * contrast class Q, a representative training image (the one the model finds
 * most clearly Q).  Images whose Grad-CAM map is flat at the default layer
 * (no channel speaks for P there: a legitimate answer, but an empty picture)
 * are passed over.  Writes PNGs and a plan file for tools/demo.sh.
 *
 * usage: demo_pick MODEL DATASET_DIR OUT_DIR */
#include "contrastcam.h"
#include "image/image.h"
#include "train/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int classify(cc_session *s, int in, int out, const uint8_t *px, int n, float mean, float std, float *prob, int C)
{
    float x[28 * 28];
    for (int i = 0; i < n; i++) x[i] = ((float)px[i] / 255.0f - mean) / std;
    if (cc_session_set_input(s, in, x, (size_t)n) || cc_session_forward(s)) return -1;
    cc_softmax(cc_session_value(s, out, NULL), C, prob);
    int best = 0;
    for (int c = 1; c < C; c++) if (prob[c] > prob[best]) best = c;
    return best;
}

/* 1 when Grad-CAM of P at `layer` has some positive evidence (the session holds
 * the image's forward pass), 0 when the map is flat, -1 on error. */
static int gradcam_positive(cc_session *s, int layer, int out, int P, int C)
{
    float seed[16];
    cc_cam cam = { 0 };
    if (C > 16) return -1;
    cc_seed_class(seed, C, P);
    if (cc_cam_compute(s, layer, out, seed, 1, &cam)) return -1;
    int pos = 0;
    for (int i = 0; i < cam.h * cam.w; i++) pos |= cam.maps[i] > 0;
    cc_cam_free(&cam);
    return pos;
}

static int save_gray(const char *path, const uint8_t *px, int w, int h)
{
    cc_image img;
    char err[256];
    if (cc_image_alloc(&img, w, h, 1)) return -1;
    memcpy(img.px, px, (size_t)w * (size_t)h);
    int rc = cc_image_save_png(path, &img, err, sizeof err);
    if (rc) fprintf(stderr, "demo_pick: %s\n", err);
    cc_image_free(&img);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 4) { fprintf(stderr, "usage: demo_pick MODEL DATASET_DIR OUT_DIR\n"); return 2; }
    char err[512];
    cc_model *m;
    if (cc_model_load(argv[1], &m)) { fprintf(stderr, "demo_pick: %s\n", cc_model_errmsg(m)); cc_model_free(m); return 3; }
    cc_dataset test, train;
    if (cc_dataset_load_dir(argv[2], 1, 10, 0, &test, err, sizeof err) ||
        cc_dataset_load_dir(argv[2], 0, 10, 12000, &train, err, sizeof err)) {
        fprintf(stderr, "demo_pick: %s\n", err);
        return 3;
    }
    const char *ms = cc_model_metadata(m, "preprocess.mean"), *ss = cc_model_metadata(m, "preprocess.std");
    float mean = ms ? strtof(ms, NULL) : 0, std = ss ? strtof(ss, NULL) : 1;
    if (!(std != 0)) std = 1;
    cc_session *s;
    if (cc_session_new(m, &s)) return 1;
    int in = cc_model_input(m, 0), out = cc_model_output(m, 0), C = 10, n = test.h * test.w;
    float *pt = malloc(sizeof(float) * (size_t)test.n * C), *pr = malloc(sizeof(float) * (size_t)train.n * C);
    int *pred = malloc(sizeof(int) * (size_t)test.n);
    if (!pt || !pr || !pred) return 1;
    for (int i = 0; i < test.n; i++) pred[i] = classify(s, in, out, test.images + (size_t)i * n, n, mean, std, pt + (size_t)i * C, C);
    for (int i = 0; i < train.n; i++) classify(s, in, out, train.images + (size_t)i * n, n, mean, std, pr + (size_t)i * C, C);
    /* (P, Q): shirt/T-shirt, T-shirt/shirt, pullover/coat, coat/pullover, sneaker/sandal, ankle boot/sneaker */
    static const int pairs[][2] = { { 6, 0 }, { 0, 6 }, { 2, 4 }, { 4, 2 }, { 7, 5 }, { 9, 7 } };
    char path[4096];
    snprintf(path, sizeof path, "%s/plan.txt", argv[3]);
    FILE *plan = fopen(path, "w");
    if (!plan) { fprintf(stderr, "demo_pick: cannot write %s\n", path); return 3; }
    int correct = 0;
    for (int i = 0; i < test.n; i++) correct += pred[i] == test.labels[i];
    fprintf(stderr, "demo_pick: model accuracy on the %d test images: %.2f%%\n", test.n, 100.0 * correct / test.n);
    int layer = cc_default_layer(m);
    unsigned char *skip = calloc((size_t)test.n, 1);
    if (layer < 0 || !skip) { fprintf(stderr, "demo_pick: no target layer\n"); return 3; }
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0] + 1; k++) {
        int best = -1, P = 0, Q = 0;
        for (int tries = 0; tries < 50; tries++) {
            best = -1;
            if (k < sizeof pairs / sizeof pairs[0]) {
                P = pairs[k][0];
                Q = pairs[k][1];
                for (int i = 0; i < test.n; i++)
                    if (!skip[i] && test.labels[i] == P && pred[i] == P &&
                        (best < 0 || pt[(size_t)i * C + Q] > pt[(size_t)best * C + Q])) best = i;
            } else {
                /* the most confident mistake */
                for (int i = 0; i < test.n; i++)
                    if (!skip[i] && pred[i] != test.labels[i] &&
                        (best < 0 || pt[(size_t)i * C + pred[i]] > pt[(size_t)best * C + pred[best]])) best = i;
                if (best >= 0) { P = pred[best]; Q = test.labels[best]; }
            }
            if (best < 0) break;
            float tmp[10];
            if (classify(s, in, out, test.images + (size_t)best * n, n, mean, std, tmp, C) < 0) return 1;
            int pos = gradcam_positive(s, layer, out, P, C);
            if (pos < 0) { fprintf(stderr, "demo_pick: Grad-CAM failed\n"); return 1; }
            if (pos) break;
            skip[best] = 1;
            best = -1;
        }
        if (best < 0) continue;
        int rep = -1;
        for (int i = 0; i < train.n; i++)
            if (train.labels[i] == Q && (rep < 0 || pr[(size_t)i * C + Q] > pr[(size_t)rep * C + Q])) rep = i;
        char img[4200], qimg[4200];
        snprintf(img, sizeof img, "%s/test_%05d.png", argv[3], best);
        snprintf(qimg, sizeof qimg, "%s/train_%05d_class%d.png", argv[3], rep, Q);
        if (save_gray(img, test.images + (size_t)best * n, test.w, test.h) || (rep >= 0 && save_gray(qimg, train.images + (size_t)rep * n, train.w, train.h)))
            return 3;
        fprintf(plan, "%s %s %d %d %d %d\n", img, rep >= 0 ? qimg : "-", best, test.labels[best], P, Q);
    }
    fclose(plan);
    free(pt); free(pr); free(pred); free(skip);
    cc_session_free(s);
    cc_model_free(m);
    cc_dataset_free(&test);
    cc_dataset_free(&train);
    return 0;
}
