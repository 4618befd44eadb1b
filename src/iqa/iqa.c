/* Full-reference IQA explanations (docs/method.md, "Image quality
 * assessment"): the image score over non-overlapping patches, and per
 * sliding window the Grad-CAM map of the window's quality h ("Why s?") and
 * the regression contrast with J = (h - q)^2 ("Why s, rather than q?"),
 * composited into image-sized maps.
 *
 * Windows run B at a time through a model loaded at batch B.  One backward
 * with the seed 1 for every row gives each window's dh/dA (batch rows are
 * independent).  The contrast seed 2 (h - q) is a scalar per window, and the
 * backward is linear in the seed, so its channel weights are 2 (h - q) times
 * the Grad-CAM ones: both maps come from one forward and one backward. */
#include "iqa/iqa.h"
#include "image/image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

/* Debian's OpenBLAS (the library links -lopenblas). */
int openblas_get_num_threads(void);
void openblas_set_num_threads(int n);

/* One worker per thread: its own session and input buffers over the shared
 * model (sessions are independent, the model is read-only). */
typedef struct iqa_worker {
    cc_session *s;
    float *xd, *xr, *seed, *pm;
    char err[512];
} iqa_worker;

struct cc_iqa {
    cc_model *m;
    int in_dist, in_ref, out_q, out_w, layer;
    int B, P, C, u, v;
    int T;                    /* workers (threads) */
    iqa_worker *wk;
    char err[1024];
};

const char *cc_iqa_errmsg(const cc_iqa *q) { return q ? q->err : "out of memory"; }
const cc_model *cc_iqa_model(const cc_iqa *q) { return q->m; }
int cc_iqa_patch(const cc_iqa *q) { return q->P; }
int cc_iqa_batch(const cc_iqa *q) { return q->B; }
int cc_iqa_layer(const cc_iqa *q) { return q->layer; }
int cc_iqa_has_weights(const cc_iqa *q) { return q->out_w >= 0; }
void cc_iqa_layer_size(const cc_iqa *q, int *u, int *v) { *u = q->u; *v = q->v; }

void cc_iqa_free(cc_iqa *q)
{
    if (!q) return;
    for (int t = 0; t < q->T; t++) {
        cc_session_free(q->wk[t].s);
        free(q->wk[t].xd);
        free(q->wk[t].xr);
        free(q->wk[t].seed);
        free(q->wk[t].pm);
    }
    free(q->wk);
    cc_model_free(q->m);
    free(q);
}

static int find_named(const cc_model *m, const char *name, int is_input)
{
    int n = is_input ? cc_model_num_inputs(m) : cc_model_num_outputs(m);
    for (int i = 0; i < n; i++) {
        int t = is_input ? cc_model_input(m, i) : cc_model_output(m, i);
        if (t >= 0 && !strcmp(m->g.tensors[t].name, name)) return t;
    }
    return -1;
}

cc_status cc_iqa_load(const char *path, int batch, const char *layer, cc_iqa **out)
{
    cc_iqa *q = calloc(1, sizeof *q);
    *out = q;
    if (!q) return CC_ERR_NOMEM;
    q->in_dist = q->in_ref = q->out_q = q->out_w = q->layer = -1;
    cc_status st = cc_iqa_model_load_batch(path, batch, &q->m);
    if (st) {
        snprintf(q->err, sizeof q->err, "%s", cc_model_errmsg(q->m));
        return st;
    }
    const cc_model *m = q->m;
    const cc_graph *g = &m->g;
    if (g->n_inputs != 2) {
        snprintf(q->err, sizeof q->err, "%s: not a full-reference IQA model: it has %d graph input%s; iqa needs two "
                 "(the distorted and the reference patch, named \"dist\" and \"ref\")", path, g->n_inputs, g->n_inputs == 1 ? "" : "s");
        return CC_ERR_UNSUPPORTED;
    }
    q->in_dist = find_named(m, "dist", 1);
    q->in_ref = find_named(m, "ref", 1);
    if (q->in_dist < 0 || q->in_ref < 0 || q->in_dist == q->in_ref) { q->in_dist = g->inputs[0]; q->in_ref = g->inputs[1]; }
    const cc_tensor *td = &g->tensors[q->in_dist], *tr = &g->tensors[q->in_ref];
    if (td->ndim != 4 || td->dims[1] != 3 || td->dims[2] != td->dims[3] || td->dims[2] < 2) {
        snprintf(q->err, sizeof q->err, "%s: input '%s' must be [N, 3, P, P] (RGB square patches)", path, td->name);
        return CC_ERR_UNSUPPORTED;
    }
    if (tr->ndim != 4 || memcmp(td->dims, tr->dims, sizeof(int64_t) * 4)) {
        snprintf(q->err, sizeof q->err, "%s: inputs '%s' and '%s' must have the same shape", path, td->name, tr->name);
        return CC_ERR_UNSUPPORTED;
    }
    q->B = batch;
    q->P = (int)td->dims[2];
    q->out_q = find_named(m, "q", 0);
    if (q->out_q < 0) q->out_q = g->outputs[0];
    q->out_w = find_named(m, "w", 0);
    if (q->out_w < 0 && g->n_outputs > 1) q->out_w = g->outputs[1] == q->out_q ? g->outputs[0] : g->outputs[1];
    if (g->tensors[q->out_q].numel != batch) {
        snprintf(q->err, sizeof q->err, "%s: output '%s' must hold one quality per patch ([N, 1]); it has %lld values at batch %d",
                 path, g->tensors[q->out_q].name, (long long)g->tensors[q->out_q].numel, batch);
        return CC_ERR_UNSUPPORTED;
    }
    if (q->out_w >= 0 && g->tensors[q->out_w].numel != batch) q->out_w = -1;
    const char *ln = layer ? layer : cc_model_metadata(m, "iqa.target");
    if (!ln) ln = "dist_conv10";
    q->layer = cc_model_find_tensor(m, ln);
    if (q->layer < 0) {
        snprintf(q->err, sizeof q->err, "%s: no tensor named '%s' to explain (give the distorted branch's last convolution"
                 " with --layer; see contrastcam layers)", path, ln);
        return CC_ERR_NOTFOUND;
    }
    const cc_tensor *tl = &g->tensors[q->layer];
    if (tl->is_const || tl->dtype != CC_DT_FLOAT || tl->ndim != 4 || tl->dims[0] != batch) {
        snprintf(q->err, sizeof q->err, "%s: layer '%s' is not a [N, C, h, w] activation", path, ln);
        return CC_ERR_ARG;
    }
    q->C = (int)tl->dims[1];
    q->u = (int)tl->dims[2];
    q->v = (int)tl->dims[3];
    return cc_iqa_set_threads(q, 0);
}

cc_status cc_iqa_set_threads(cc_iqa *q, int threads)
{
    if (threads < 1) threads = omp_get_max_threads();
    if (threads > 64) threads = 64;
    iqa_worker *wk = calloc((size_t)threads, sizeof *wk);
    if (!wk) { snprintf(q->err, sizeof q->err, "out of memory"); return CC_ERR_NOMEM; }
    size_t n = (size_t)q->B * 3 * (size_t)q->P * (size_t)q->P;
    cc_status st = CC_OK;
    for (int t = 0; t < threads && !st; t++) {
        wk[t].xd = malloc(sizeof(float) * n);
        wk[t].xr = malloc(sizeof(float) * n);
        wk[t].seed = malloc(sizeof(float) * (size_t)q->B);
        wk[t].pm = malloc(sizeof(float) * (size_t)q->u * (size_t)q->v * 2);
        if (!wk[t].xd || !wk[t].xr || !wk[t].seed || !wk[t].pm) { snprintf(q->err, sizeof q->err, "out of memory"); st = CC_ERR_NOMEM; break; }
        st = cc_session_new(q->m, &wk[t].s);
        if (st) snprintf(q->err, sizeof q->err, "%s", wk[t].s ? cc_session_errmsg(wk[t].s) : "out of memory");
    }
    /* swap in the new set (the old one is freed either way) */
    iqa_worker *old = q->wk;
    int told = q->T;
    q->wk = wk;
    q->T = threads;
    for (int t = 0; t < told; t++) {
        cc_session_free(old[t].s);
        free(old[t].xd); free(old[t].xr); free(old[t].seed); free(old[t].pm);
    }
    free(old);
    return st;
}

int cc_iqa_threads(const cc_iqa *q) { return q->T; }

/* ---- geometry ------------------------------------------------------------- */

void cc_iqa_patch_grid(int h, int w, int patch, int *rows, int *cols)
{
    /* range(0, h - P, P): rows 0, P, ... strictly below h - P */
    *rows = h > patch && patch > 0 ? (h - patch + patch - 1) / patch : 0;
    *cols = w > patch && patch > 0 ? (w - patch + patch - 1) / patch : 0;
}

void cc_iqa_window_grid(int h, int w, int stride, int *rows, int *cols)
{
    *rows = h > stride && stride > 0 ? (h - stride + stride - 1) / stride : 0;
    *cols = w > stride && stride > 0 ? (w - stride + stride - 1) / stride : 0;
}

/* Copy the P x P window at (y, x) of a 3 x h x w image into dst, zeros outside. */
static void crop(const float *img, int h, int w, int y, int x, int P, float *dst)
{
    for (int c = 0; c < 3; c++)
        for (int r = 0; r < P; r++) {
            float *d = dst + ((size_t)c * P + r) * P;
            int yy = y + r;
            if (yy < 0 || yy >= h) { memset(d, 0, sizeof(float) * (size_t)P); continue; }
            const float *s = img + ((size_t)c * h + yy) * w;
            int x0 = x < 0 ? -x : 0, x1 = x + P > w ? w - x : P;
            if (x1 < x0) x1 = x0;
            if (x0) memset(d, 0, sizeof(float) * (size_t)x0);
            if (x1 > x0) memcpy(d + x0, s + x + x0, sizeof(float) * (size_t)(x1 - x0));
            if (x1 < P) memset(d + x1, 0, sizeof(float) * (size_t)(P - x1));
        }
}

/* Load n windows into a worker's input buffers and run the forward. */
static cc_status run_batch(const cc_iqa *q, iqa_worker *wk, const float *dist, const float *ref, int h, int w,
                           const int *ys, const int *xs, int n)
{
    size_t per = 3 * (size_t)q->P * (size_t)q->P;
    for (int b = 0; b < q->B; b++) {
        if (b < n) {
            crop(dist, h, w, ys[b], xs[b], q->P, wk->xd + per * (size_t)b);
            crop(ref, h, w, ys[b], xs[b], q->P, wk->xr + per * (size_t)b);
        } else {
            memset(wk->xd + per * (size_t)b, 0, sizeof(float) * per);
            memset(wk->xr + per * (size_t)b, 0, sizeof(float) * per);
        }
    }
    size_t numel = per * (size_t)q->B;
    cc_status st = cc_session_set_input(wk->s, q->in_dist, wk->xd, numel);
    if (!st) st = cc_session_set_input(wk->s, q->in_ref, wk->xr, numel);
    if (!st) st = cc_session_forward(wk->s);
    if (st) snprintf(wk->err, sizeof wk->err, "%s", cc_session_errmsg(wk->s));
    return st;
}

static int check_images(cc_iqa *q, const float *dist, const float *ref, int h, int w)
{
    if (!dist || !ref || h < 1 || w < 1) {
        snprintf(q->err, sizeof q->err, "no image given");
        return 1;
    }
    return 0;
}

/* The per-chunk jobs: chunk c holds windows [c B, min(n, (c + 1) B)). */
typedef struct job {
    const float *dist, *ref;
    int h, w, n;
    const int *ys, *xs;
    /* windows */
    float target, *hq, *premap, *why, *contrast;
    /* score */
    float *pq, *pw;
} job;

static cc_status chunk_score(const cc_iqa *q, iqa_worker *wk, const job *j, int i0, int nb)
{
    cc_status st = run_batch(q, wk, j->dist, j->ref, j->h, j->w, j->ys + i0, j->xs + i0, nb);
    if (st) return st;
    const float *hv = cc_session_value(wk->s, q->out_q, NULL);
    const float *wv = q->out_w >= 0 ? cc_session_value(wk->s, q->out_w, NULL) : NULL;
    for (int b = 0; b < nb; b++) {
        j->pq[i0 + b] = hv[b];
        j->pw[i0 + b] = wv ? wv[b] : 1.0f;
    }
    return CC_OK;
}

static cc_status chunk_windows(const cc_iqa *q, iqa_worker *wk, const job *j, int i0, int nb)
{
    cc_status st = run_batch(q, wk, j->dist, j->ref, j->h, j->w, j->ys + i0, j->xs + i0, nb);
    if (st) return st;
    for (int b = 0; b < q->B; b++) wk->seed[b] = b < nb ? 1.0f : 0.0f;
    st = cc_session_backward(wk->s, q->out_q, wk->seed, 1, &q->layer, 1);
    if (st) { snprintf(wk->err, sizeof wk->err, "%s", cc_session_errmsg(wk->s)); return st; }
    const float *hv = cc_session_value(wk->s, q->out_q, NULL);
    const float *A = cc_session_value(wk->s, q->layer, NULL);
    const float *G = cc_session_grad(wk->s, q->layer, NULL);
    if (!hv || !A || !G) { snprintf(wk->err, sizeof wk->err, "no gradient at the target layer"); return CC_ERR_INTERNAL; }
    const int P = q->P, C = q->C, uv = q->u * q->v;
    float *pm = wk->pm, *relu = wk->pm + uv;
    for (int b = 0; b < nb; b++) {
        const int i = i0 + b;
        j->hq[i] = hv[b];
        const float *Ab = A + (size_t)b * C * uv, *Gb = G + (size_t)b * C * uv;
        /* alpha_c = mean of dh/dA_c over the layer's positions; premap = sum_c alpha_c A_c */
        for (int p = 0; p < uv; p++) pm[p] = 0;
        for (int p0 = 0; p0 < uv; p0 += 16) {
            const int pn = uv - p0 < 16 ? uv - p0 : 16;
            double acc[16] = { 0 };
            for (int c = 0; c < C; c++) {
                const float *g = Gb + (size_t)c * uv, *a = Ab + (size_t)c * uv;
                double al = 0;
                for (int p = 0; p < uv; p++) al += g[p];
                al /= uv;
                for (int p = 0; p < pn; p++) acc[p] += al * a[p0 + p];
            }
            for (int p = 0; p < pn; p++) pm[p0 + p] = (float)acc[p];
        }
        if (j->premap) memcpy(j->premap + (size_t)i * uv, pm, sizeof(float) * (size_t)uv);
        if (j->why) {
            for (int p = 0; p < uv; p++) relu[p] = pm[p] > 0 ? pm[p] : 0;
            cc_upsample_bilinear(relu, q->u, q->v, j->why + (size_t)i * P * P, P, P);
        }
        if (j->contrast) {
            const float s = 2.0f * (hv[b] - j->target);
            for (int p = 0; p < uv; p++) { float x = s * pm[p]; relu[p] = x > 0 ? x : 0; }
            cc_upsample_bilinear(relu, q->u, q->v, j->contrast + (size_t)i * P * P, P, P);
        }
    }
    return CC_OK;
}

/* Run every chunk, spread over the workers: one thread per worker, each
 * running its session single-threaded (OpenBLAS is set to one thread for
 * the duration, and the kernels' own OpenMP loops are nested, hence serial),
 * which beats one session with threaded kernels for B small images. */
static cc_status run_chunks(cc_iqa *q, const job *j, int windows)
{
    const int nch = (windows + q->B - 1) / q->B;
    const int T = q->T < nch ? q->T : nch;
    if (nch <= 0) return CC_OK;
    int blas = 0;
    if (T > 1) { blas = openblas_get_num_threads(); openblas_set_num_threads(1); }
    cc_status first = CC_OK;
    int bad = -1;
#pragma omp parallel for schedule(dynamic, 1) num_threads(T) if (T > 1)
    for (int c = 0; c < nch; c++) {
        int t = omp_get_thread_num();
        int done;
#pragma omp atomic read
        done = bad;
        if (done >= 0) continue;
        int i0 = c * q->B, nb = windows - i0 < q->B ? windows - i0 : q->B;
        cc_status st = j->hq ? chunk_windows(q, &q->wk[t], j, i0, nb) : chunk_score(q, &q->wk[t], j, i0, nb);
        if (st) {
#pragma omp critical(cc_iqa_err)
            if (first == CC_OK) {
                first = st;
                snprintf(q->err, sizeof q->err, "%s", q->wk[t].err);
#pragma omp atomic write
                bad = t;
            }
        }
    }
    if (T > 1) openblas_set_num_threads(blas);
    return first;
}

cc_status cc_iqa_score(cc_iqa *q, const float *dist, const float *ref, int h, int w,
                       double *score, float *patch_q, float *patch_w)
{
    if (check_images(q, dist, ref, h, w)) return CC_ERR_ARG;
    int rows, cols;
    cc_iqa_patch_grid(h, w, q->P, &rows, &cols);
    if (rows < 1 || cols < 1) {
        snprintf(q->err, sizeof q->err, "the images (%d x %d) must be larger than one %d x %d patch in both directions"
                 " (patches start at 0, %d, ... strictly below size - %d)", w, h, q->P, q->P, q->P, q->P);
        return CC_ERR_SHAPE;
    }
    int n = rows * cols;
    int *ys = malloc(sizeof(int) * (size_t)n * 2);
    float *pq = malloc(sizeof(float) * (size_t)n * 2);
    if (!ys || !pq) { free(ys); free(pq); snprintf(q->err, sizeof q->err, "out of memory"); return CC_ERR_NOMEM; }
    int *xs = ys + n;
    for (int i = 0; i < n; i++) { ys[i] = i / cols * q->P; xs[i] = i % cols * q->P; }
    job j = { .dist = dist, .ref = ref, .h = h, .w = w, .n = n, .ys = ys, .xs = xs, .pq = pq, .pw = pq + n };
    cc_status st = run_chunks(q, &j, n);
    double num = 0, den = 0;
    for (int i = 0; i < n && !st; i++) {
        num += (double)j.pq[i] * j.pw[i];
        den += j.pw[i];
        if (patch_q) patch_q[i] = j.pq[i];
        if (patch_w) patch_w[i] = j.pw[i];
    }
    free(ys);
    free(pq);
    if (st) return st;
    if (!(den > 0) || !isfinite(num)) {
        snprintf(q->err, sizeof q->err, "the patch weights sum to %g: no score", den);
        return CC_ERR_INTERNAL;
    }
    *score = num / den;
    return CC_OK;
}

cc_status cc_iqa_windows(cc_iqa *q, const float *dist, const float *ref, int h, int w,
                         const int *ys, const int *xs, int n, float target,
                         float *hq, float *premap, float *why, float *contrast)
{
    if (check_images(q, dist, ref, h, w)) return CC_ERR_ARG;
    if (n < 0 || (n && (!ys || !xs || !hq))) { snprintf(q->err, sizeof q->err, "bad window list"); return CC_ERR_ARG; }
    job j = { .dist = dist, .ref = ref, .h = h, .w = w, .n = n, .ys = ys, .xs = xs,
              .target = target, .hq = hq, .premap = premap, .why = why, .contrast = contrast };
    return run_chunks(q, &j, n);
}

/* ---- compositing ---------------------------------------------------------- */

void cc_iqa_paste_mask(const float *map, int P, float *mask)
{
    enum { R = 6 };
    const double sigma = 2.0;
    double k[2 * R + 1], ks = 0;
    for (int i = -R; i <= R; i++) { k[i + R] = exp(-(double)(i * i) / (2 * sigma * sigma)); ks += k[i + R]; }
    for (int i = 0; i <= 2 * R; i++) k[i] /= ks;
    double *tmp = malloc(sizeof(double) * (size_t)P * (size_t)P);
    if (!tmp) { memset(mask, 0, sizeof(float) * (size_t)P * (size_t)P); return; }
    for (int y = 0; y < P; y++)
        for (int x = 0; x < P; x++) {
            double s = 0;
            for (int i = -R; i <= R; i++) {
                int xx = x + i < 0 ? 0 : x + i >= P ? P - 1 : x + i;
                s += k[i + R] * map[y * P + xx];
            }
            tmp[y * P + x] = s;
        }
    double mx = 0;
    for (int y = 0; y < P; y++)
        for (int x = 0; x < P; x++) {
            double s = 0;
            for (int i = -R; i <= R; i++) {
                int yy = y + i < 0 ? 0 : y + i >= P ? P - 1 : y + i;
                s += k[i + R] * tmp[yy * P + x];
            }
            mask[y * P + x] = (float)s;
            if (s > mx) mx = s;
        }
    for (int i = 0; i < P * P; i++) mask[i] = mx > 0 ? (float)(mask[i] / mx) : 0.0f;
    free(tmp);
}

void cc_iqa_result_free(cc_iqa_result *r)
{
    if (!r) return;
    free(r->window_q);
    free(r->why);
    free(r->contrast);
    free(r->patch_q);
    free(r->patch_w);
    memset(r, 0, sizeof *r);
}

cc_status cc_iqa_explain(cc_iqa *q, const float *dist, const float *ref, int h, int w,
                         int stride, float target, cc_iqa_composite composite, cc_iqa_result *out)
{
    memset(out, 0, sizeof *out);
    if (stride < 1 || stride > 4096) { snprintf(q->err, sizeof q->err, "stride %d out of range 1..4096", stride); return CC_ERR_ARG; }
    if (composite != CC_IQA_COMPOSITE_MEAN && composite != CC_IQA_COMPOSITE_REFERENCE) {
        snprintf(q->err, sizeof q->err, "unknown compositing mode %d", (int)composite);
        return CC_ERR_ARG;
    }
    if (!isfinite(target)) { snprintf(q->err, sizeof q->err, "the target q must be a finite number"); return CC_ERR_ARG; }
    int prow, pcol;
    cc_iqa_patch_grid(h, w, q->P, &prow, &pcol);
    size_t hw = (size_t)h * (size_t)w;
    int P = q->P;
    cc_status st = CC_OK;
    out->patch_q = malloc(sizeof(float) * (size_t)(prow * pcol > 0 ? prow * pcol : 1));
    out->patch_w = malloc(sizeof(float) * (size_t)(prow * pcol > 0 ? prow * pcol : 1));
    if (!out->patch_q || !out->patch_w) { st = CC_ERR_NOMEM; goto nomem; }
    if ((st = cc_iqa_score(q, dist, ref, h, w, &out->score, out->patch_q, out->patch_w))) goto fail;
    out->n_patches = prow * pcol;
    cc_iqa_window_grid(h, w, stride, &out->win_rows, &out->win_cols);
    int nw = out->win_rows * out->win_cols;
    out->window_q = malloc(sizeof(float) * (size_t)nw);
    out->why = calloc(hw, sizeof(float));
    out->contrast = calloc(hw, sizeof(float));
    int chunk = q->B * q->T;
    float *mw = malloc(sizeof(float) * (size_t)chunk * P * P);
    float *mc = malloc(sizeof(float) * (size_t)chunk * P * P);
    float *mask = malloc(sizeof(float) * (size_t)P * P);
    int *ys = malloc(sizeof(int) * (size_t)chunk), *xs = malloc(sizeof(int) * (size_t)chunk);
    float *cnt = composite == CC_IQA_COMPOSITE_MEAN ? calloc(hw, sizeof(float)) : NULL;
    if (!out->window_q || !out->why || !out->contrast || !mw || !mc || !mask || !ys || !xs ||
        (composite == CC_IQA_COMPOSITE_MEAN && !cnt)) {
        free(mw); free(mc); free(mask); free(ys); free(xs); free(cnt);
        st = CC_ERR_NOMEM;
        goto nomem;
    }
    for (int i0 = 0; i0 < nw && !st; i0 += chunk) {
        int nb = nw - i0 < chunk ? nw - i0 : chunk;
        for (int b = 0; b < nb; b++) { ys[b] = (i0 + b) / out->win_cols * stride; xs[b] = (i0 + b) % out->win_cols * stride; }
        st = cc_iqa_windows(q, dist, ref, h, w, ys, xs, nb, target, out->window_q + i0, NULL, mw, mc);
        if (st) break;
        for (int b = 0; b < nb; b++) {
            int y0 = ys[b], x0 = xs[b];
            int r1 = y0 + P > h ? h - y0 : P, c1 = x0 + P > w ? w - x0 : P;
            for (int k = 0; k < 2; k++) {
                const float *m = (k ? mc : mw) + (size_t)b * P * P;
                float *dst = k ? out->contrast : out->why;
                if (composite == CC_IQA_COMPOSITE_MEAN) {
                    for (int r = 0; r < r1; r++)
                        for (int c = 0; c < c1; c++) dst[(size_t)(y0 + r) * w + x0 + c] += m[r * P + c];
                } else {
                    cc_iqa_paste_mask(m, P, mask);
                    for (int r = 0; r < r1; r++)
                        for (int c = 0; c < c1; c++) {
                            float a = mask[r * P + c];
                            float *d = &dst[(size_t)(y0 + r) * w + x0 + c];
                            *d = *d * (1.0f - a) + m[r * P + c] * a;
                        }
                }
            }
            if (cnt)
                for (int r = 0; r < r1; r++)
                    for (int c = 0; c < c1; c++) cnt[(size_t)(y0 + r) * w + x0 + c] += 1.0f;
        }
    }
    if (!st && cnt)
        for (size_t i = 0; i < hw; i++)
            if (cnt[i] > 0) { out->why[i] /= cnt[i]; out->contrast[i] /= cnt[i]; }
    free(mw); free(mc); free(mask); free(ys); free(xs); free(cnt);
    if (st) goto fail;
    return CC_OK;
nomem:
    snprintf(q->err, sizeof q->err, "out of memory");
fail:
    cc_iqa_result_free(out);
    return st;
}
