/* One loaded model shared by several threads, each with its own session,
 * gives the same maps as a single thread, bit for bit: 4 threads x 50
 * explanations (forward, a Grad-CAM and two contrastive maps at the default
 * layer, upsampled and normalised) on the shipped models/fashion_cnn.onnx,
 * compared with the same 50 explanations computed first in one thread. */
#include "check.h"
#include "contrastcam.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define N_EXPL 50
#define N_THREADS 4
#define K 3

static cc_model *model;
static int layer, output, in_tensor, n_classes, lh, lw;
static size_t in_numel, map_numel;
static float *reference;          /* N_EXPL x K x map_numel */

/* Input #i: a deterministic pattern, different for every i. */
static void make_input(int i, float *x)
{
    uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    for (size_t k = 0; k < in_numel; k++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        x[k] = (float)(s >> 40) / (float)(1u << 24);
    }
}

/* Explanation #i into maps (K x map_numel); 0 on success. */
static int explain(cc_session *s, int i, float *x, float *maps)
{
    make_input(i, x);
    if (cc_session_set_input(s, in_tensor, x, in_numel) || cc_session_forward(s)) return -1;
    const float *z = cc_session_value(s, output, NULL);
    int P = 0;
    for (int c = 1; c < n_classes; c++) if (z[c] > z[P]) P = c;
    float seeds[K * 64];
    cc_seed_class(seeds, n_classes, P);
    cc_seed_contrast(seeds + n_classes, z, n_classes, (P + 1) % n_classes);
    cc_seed_contrast(seeds + 2 * n_classes, z, n_classes, (P + 2 + i) % n_classes);
    cc_cam cam;
    memset(&cam, 0, sizeof cam);
    if (cc_cam_compute(s, layer, output, seeds, K, &cam)) return -1;
    for (int k = 0; k < K; k++)
        cc_map_finish(cam.maps + (size_t)k * (size_t)(cam.h * cam.w), cam.h, cam.w, maps + (size_t)k * map_numel, lh, lw);
    cc_cam_free(&cam);
    return 0;
}

typedef struct job { int id, mismatches, failures; } job;

static void *worker(void *arg)
{
    job *j = arg;
    cc_session *s = NULL;
    float *x = malloc(in_numel * sizeof(float)), *maps = malloc(K * map_numel * sizeof(float));
    if (!x || !maps || cc_session_new(model, &s)) { j->failures++; goto done; }
    for (int r = 0; r < N_EXPL; r++) {
        int i = (r * 7 + j->id * 13) % N_EXPL;       /* each thread in its own order */
        if (explain(s, i, x, maps)) { j->failures++; continue; }
        if (memcmp(maps, reference + (size_t)i * K * map_numel, K * map_numel * sizeof(float))) j->mismatches++;
    }
done:
    cc_session_free(s);
    free(x);
    free(maps);
    return NULL;
}

int main(void)
{
    cc_status st = cc_model_load("models/fashion_cnn.onnx", &model);
    CHECK(st == CC_OK, "load models/fashion_cnn.onnx: %s", cc_model_errmsg(model));
    if (st) return check_exit();
    layer = cc_default_layer(model);
    output = cc_model_output(model, 0);
    in_tensor = cc_model_input(model, 0);
    cc_tensor_info ti, to;
    cc_model_tensor_info(model, in_tensor, &ti);
    cc_model_tensor_info(model, output, &to);
    in_numel = 1;
    for (int i = 0; i < ti.rank; i++) in_numel *= (size_t)ti.dims[i];
    n_classes = (int)to.dims[to.rank - 1];
    lh = (int)ti.dims[2];
    lw = (int)ti.dims[3];
    map_numel = (size_t)lh * (size_t)lw;
    CHECK(layer >= 0 && n_classes <= 64, "default layer %d, %d classes", layer, n_classes);

    reference = malloc(N_EXPL * K * map_numel * sizeof(float));
    float *x = malloc(in_numel * sizeof(float));
    cc_session *s = NULL;
    CHECK(reference && x && cc_session_new(model, &s) == CC_OK, "single-thread session");
    int flat_all = 1;
    for (int i = 0; i < N_EXPL && s; i++) {
        CHECK(explain(s, i, x, reference + (size_t)i * K * map_numel) == 0, "single-thread explanation %d: %s", i, cc_session_errmsg(s));
        for (size_t k = 0; k < K * map_numel; k++) if (reference[(size_t)i * K * map_numel + k] != 0) flat_all = 0;
    }
    CHECK(!flat_all, "the reference maps are not all zero");
    cc_session_free(s);
    free(x);

    pthread_t th[N_THREADS];
    job jobs[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        jobs[t] = (job){ t, 0, 0 };
        CHECK(pthread_create(&th[t], NULL, worker, &jobs[t]) == 0, "pthread_create %d", t);
    }
    for (int t = 0; t < N_THREADS; t++) {
        pthread_join(th[t], NULL);
        CHECK(jobs[t].failures == 0, "thread %d: %d explanations failed", t, jobs[t].failures);
        CHECK(jobs[t].mismatches == 0, "thread %d: %d of %d explanations differ from the single-thread maps", t,
              jobs[t].mismatches, N_EXPL);
    }
    printf("%d threads x %d explanations (K=%d maps each) on one shared model: compared bit for bit\n", N_THREADS, N_EXPL, K);
    free(reference);
    cc_model_free(model);
    return check_exit();
}
