/* Trains models/iqa_fr.onnx: a small full-reference quality network of the
 * WaDIQaM-FR shape, trained with contrastcam's own engine (forward and
 * vector-Jacobian products through cc_session_backward with the weights as
 * targets, Adam from src/train) to predict SSIM on luminance.
 *
 * Data: the photographs Debian's darknet package ships
 * (/usr/share/darknet/data/{dog,eagle,horses,kite,scream,giraffe,person}.jpg),
 * scaled to at most 384 pixels on the long side (PIL bilinear).  dog, eagle,
 * horses, kite and scream train; giraffe and person are held out.  Each
 * photo gets synthetic distortions of random strength: Gaussian blur, white
 * Gaussian noise, JPEG compression (stb_image_write's encoder, decoded back
 * with stb_image), contrast reduction, and blur followed by noise.
 * Target: SSIM of the luminance (PIL "L") of reference and distorted image,
 * src/iqa/ssim.c (11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03).
 *
 * Network: as WaDIQaM-FR (ten 3x3 convs with ReLU, max-pool after every
 * second, features concat(f_d - f_r, f_d, f_r), FC heads for q and w with
 * w = ReLU(.) + 1e-6) but with a quarter of the channels
 * (3-8-8-16-16-32-32-64-64-128-128) and 64 hidden units, so that training
 * fits in minutes on two cores.  Training sample: a 128 x 128 region of a
 * distorted image = 16 non-overlapping patch pairs, scored like an image
 * (sum(q w)/sum(w)), loss (score - mean SSIM over the region)^2.
 *
 * usage: train_iqa OUT.onnx [--steps N] [--data DIR] [--seed S] [--threads T]
 * Prints progress and the held-out correlation; nothing else is written. */
#include "contrastcam_iqa.h"
#include "graph/internal.h"
#include "image/image.h"
#include "onnx/writer.h"
#include "train/train.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stb_image_write.h"

#define NCONV 10
static const int CH[NCONV + 1] = { 3, 8, 8, 16, 16, 32, 32, 64, 64, 128, 128 };
#define HIDDEN 64
#define PATCH 32
#define REGION 128            /* training region: 4 x 4 patches */
#define PPR ((REGION / PATCH) * (REGION / PATCH))
#define MAXSIDE 384

/* Single-threaded training: with 128 small images per batch the engine opens
 * an OpenMP region per image and layer, and on a busy two-core machine every
 * fork/join waits for a time slice (and Debian's pthread OpenBLAS keeps a
 * second pool of threads): 10x slower than one thread here. */
void openblas_set_num_threads(int n);

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- the network ------------------------------------------------------------ */

enum { NPARAM = 2 * NCONV + 8 };
typedef struct param { char name[32]; int ndim; int64_t dims[4]; int64_t numel, fan_in; } param;
static param PR[NPARAM];

static void params_init(void)
{
    int k = 0;
    for (int i = 0; i < NCONV; i++) {
        param *w = &PR[k++], *b = &PR[k++];
        snprintf(w->name, sizeof w->name, "conv%d.weight", i + 1);
        w->ndim = 4; w->dims[0] = CH[i + 1]; w->dims[1] = CH[i]; w->dims[2] = w->dims[3] = 3;
        w->fan_in = CH[i] * 9;
        snprintf(b->name, sizeof b->name, "conv%d.bias", i + 1);
        b->ndim = 1; b->dims[0] = CH[i + 1]; b->fan_in = 0;
    }
    const char *fc[4] = { "fc1_q", "fc2_q", "fc1_w", "fc2_w" };
    int F = 3 * CH[NCONV];
    for (int i = 0; i < 4; i++) {
        param *w = &PR[k++], *b = &PR[k++];
        int in = i % 2 ? HIDDEN : F, out = i % 2 ? 1 : HIDDEN;
        snprintf(w->name, sizeof w->name, "%s.weight", fc[i]);
        w->ndim = 2; w->dims[0] = out; w->dims[1] = in; w->fan_in = in;
        snprintf(b->name, sizeof b->name, "%s.bias", fc[i]);
        b->ndim = 1; b->dims[0] = out; b->fan_in = 0;
    }
    for (int i = 0; i < NPARAM; i++) {
        PR[i].numel = 1;
        for (int d = 0; d < PR[i].ndim; d++) PR[i].numel *= PR[i].dims[d];
    }
}

/* The graph at batch `batch` (< 0: symbolic N).  with_qw adds the output
 * "qw" = concat(q, w) the training backward starts from. */
static void net_write(cc_onnx_writer *w, int64_t batch, float *const *p, int with_qw)
{
    int64_t in[4] = { batch, 3, PATCH, PATCH }, o1[2] = { batch, 1 }, o2[2] = { batch, 2 };
    cc_ow_input(w, "dist", in, 4);
    cc_ow_input(w, "ref", in, 4);
    for (int i = 0; i < NPARAM; i++) cc_ow_initializer(w, PR[i].name, PR[i].dims, PR[i].ndim, p[i]);
    static const int64_t k3[2] = { 3, 3 }, s1[2] = { 1, 1 }, pad1[4] = { 1, 1, 1, 1 }, two[2] = { 2, 2 };
    const char *br[2] = { "dist", "ref" };
    char feat[2][32];
    for (int b = 0; b < 2; b++) {
        char x[48], y[48];
        snprintf(x, sizeof x, "%s", br[b]);
        for (int i = 0; i < NCONV; i++) {
            char wn[32], bn[32];
            snprintf(wn, sizeof wn, "conv%d.weight", i + 1);
            snprintf(bn, sizeof bn, "conv%d.bias", i + 1);
            snprintf(y, sizeof y, "%s_conv%d", br[b], i + 1);
            const char *ins[3] = { x, wn, bn }, *outs[1] = { y };
            cc_ow_node(w, "Conv", y, ins, 3, outs, 1);
            cc_ow_attr_ints(w, "kernel_shape", k3, 2);
            cc_ow_attr_ints(w, "pads", pad1, 4);
            cc_ow_attr_ints(w, "strides", s1, 2);
            char r[48];
            snprintf(r, sizeof r, "%s_relu%d", br[b], i + 1);
            const char *ri[1] = { y }, *ro[1] = { r };
            cc_ow_node(w, "Relu", r, ri, 1, ro, 1);
            snprintf(x, sizeof x, "%s", r);
            if (i % 2 == 1) {
                snprintf(y, sizeof y, "%s_pool%d", br[b], i / 2 + 1);
                const char *pi[1] = { x }, *po[1] = { y };
                cc_ow_node(w, "MaxPool", y, pi, 1, po, 1);
                cc_ow_attr_ints(w, "kernel_shape", two, 2);
                cc_ow_attr_ints(w, "strides", two, 2);
                snprintf(x, sizeof x, "%s", y);
            }
        }
        snprintf(feat[b], sizeof feat[b], "%s_feat", br[b]);
        const char *fi[1] = { x }, *fo[1] = { feat[b] };
        cc_ow_node(w, "Flatten", feat[b], fi, 1, fo, 1);
        cc_ow_attr_int(w, "axis", 1);
    }
    const char *si[2] = { feat[0], feat[1] }, *so[1] = { "feat_diff" };
    cc_ow_node(w, "Sub", "feat_diff", si, 2, so, 1);
    const char *ci[3] = { "feat_diff", feat[0], feat[1] }, *co[1] = { "feat" };
    cc_ow_node(w, "Concat", "feat", ci, 3, co, 1);
    cc_ow_attr_int(w, "axis", 1);
    const char *head[2] = { "q", "w" };
    for (int hh = 0; hh < 2; hh++) {
        char a[32], b[32], c[32], w1[32], b1[32], w2[32], b2[32];
        snprintf(w1, sizeof w1, "fc1_%s.weight", head[hh]); snprintf(b1, sizeof b1, "fc1_%s.bias", head[hh]);
        snprintf(w2, sizeof w2, "fc2_%s.weight", head[hh]); snprintf(b2, sizeof b2, "fc2_%s.bias", head[hh]);
        snprintf(a, sizeof a, "fc1_%s", head[hh]); snprintf(b, sizeof b, "fc1_%s_relu", head[hh]);
        snprintf(c, sizeof c, "%s", hh ? "fc2_w" : "q");
        const char *g1[3] = { "feat", w1, b1 }, *o_a[1] = { a }, *r1[1] = { a }, *o_b[1] = { b };
        cc_ow_node(w, "Gemm", a, g1, 3, o_a, 1);
        cc_ow_attr_int(w, "transB", 1);
        cc_ow_node(w, "Relu", b, r1, 1, o_b, 1);
        const char *g2[3] = { b, w2, b2 }, *o_c[1] = { c };
        cc_ow_node(w, "Gemm", c, g2, 3, o_c, 1);
        cc_ow_attr_int(w, "transB", 1);
        if (hh) {
            static const float eps = 1e-6f;
            static const int64_t d1[1] = { 1 };
            cc_ow_initializer(w, "w_eps", d1, 1, &eps);
            const char *ri[1] = { "fc2_w" }, *ro[1] = { "w_relu" };
            cc_ow_node(w, "Relu", "w_relu", ri, 1, ro, 1);
            const char *ai[2] = { "w_relu", "w_eps" }, *ao[1] = { "w" };
            cc_ow_node(w, "Add", "w", ai, 2, ao, 1);
        }
    }
    cc_ow_output(w, "q", o1, 2);
    cc_ow_output(w, "w", o1, 2);
    if (with_qw) {
        const char *qi[2] = { "q", "w" }, *qo[1] = { "qw" };
        cc_ow_node(w, "Concat", "qw", qi, 2, qo, 1);
        cc_ow_attr_int(w, "axis", 1);
        cc_ow_output(w, "qw", o2, 2);
    }
}

/* ---- images and distortions ---------------------------------------------------- */

typedef struct pair {
    cc_image ref, dist;       /* RGB */
    float *ssim_map;          /* (h-10) x (w-10) */
    double ssim;
    const char *kind;
    double level;
} pair;

static int load_photo(const char *path, cc_image *out)
{
    char err[512];
    cc_image raw, rgb;
    if (cc_image_load(path, &raw, err, sizeof err)) { fprintf(stderr, "train_iqa: %s\n", err); return 1; }
    int rc = cc_image_to_rgb(&raw, &rgb);
    cc_image_free(&raw);
    if (rc) return 1;
    int w = rgb.w, h = rgb.h, m = w > h ? w : h;
    if (m <= MAXSIDE) { *out = rgb; return 0; }
    int nw = (int)lround((double)w * MAXSIDE / m), nh = (int)lround((double)h * MAXSIDE / m);
    rc = cc_image_resize_bilinear_pil(&rgb, nw, nh, out);
    cc_image_free(&rgb);
    return rc;
}

static uint8_t clamp8(double v) { return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)lround(v); }

static void blur(const cc_image *src, cc_image *dst, double sigma)
{
    int r = (int)ceil(3 * sigma), W = src->w, H = src->h;
    double *k = malloc(sizeof(double) * (size_t)(2 * r + 1)), ks = 0;
    for (int i = -r; i <= r; i++) { k[i + r] = exp(-(double)i * i / (2 * sigma * sigma)); ks += k[i + r]; }
    for (int i = 0; i <= 2 * r; i++) k[i] /= ks;
    double *t = malloc(sizeof(double) * (size_t)W * H * 3);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) {
                double s = 0;
                for (int i = -r; i <= r; i++) {
                    int xx = x + i < 0 ? 0 : x + i >= W ? W - 1 : x + i;
                    s += k[i + r] * src->px[((size_t)y * W + xx) * 3 + c];
                }
                t[((size_t)y * W + x) * 3 + c] = s;
            }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) {
                double s = 0;
                for (int i = -r; i <= r; i++) {
                    int yy = y + i < 0 ? 0 : y + i >= H ? H - 1 : y + i;
                    s += k[i + r] * t[((size_t)yy * W + x) * 3 + c];
                }
                dst->px[((size_t)y * W + x) * 3 + c] = clamp8(s);
            }
    free(t);
    free(k);
}

typedef struct membuf { unsigned char *p; size_t n, cap; } membuf;
static void mem_write(void *ctx, void *data, int size)
{
    membuf *m = ctx;
    if (m->n + (size_t)size > m->cap) {
        size_t cap = (m->n + (size_t)size) * 2;
        unsigned char *p = realloc(m->p, cap);
        if (!p) return;
        m->p = p;
        m->cap = cap;
    }
    memcpy(m->p + m->n, data, (size_t)size);
    m->n += (size_t)size;
}

static int distort(const cc_image *ref, cc_image *dst, int kind, double level, cc_rng *rng)
{
    if (cc_image_alloc(dst, ref->w, ref->h, 3)) return 1;
    size_t n = (size_t)ref->w * ref->h * 3;
    switch (kind) {
    case 0: blur(ref, dst, level); break;
    case 1:
        for (size_t i = 0; i < n; i++) dst->px[i] = clamp8(ref->px[i] + level * cc_rng_normal(rng));
        break;
    case 2: {
        membuf m = { 0 };
        if (!stbi_write_jpg_to_func(mem_write, &m, ref->w, ref->h, 3, ref->px, (int)level)) { free(m.p); return 1; }
        cc_image dec, rgb;
        char err[256];
        int rc = cc_image_load_memory(m.p, m.n, &dec, err, sizeof err);
        free(m.p);
        if (rc || cc_image_to_rgb(&dec, &rgb)) { if (!rc) cc_image_free(&dec); return 1; }
        cc_image_free(&dec);
        memcpy(dst->px, rgb.px, n);
        cc_image_free(&rgb);
        break;
    }
    case 3: {
        double mean[3] = { 0, 0, 0 };
        for (size_t i = 0; i < n; i++) mean[i % 3] += ref->px[i];
        for (int c = 0; c < 3; c++) mean[c] /= (double)(n / 3);
        for (size_t i = 0; i < n; i++) dst->px[i] = clamp8(mean[i % 3] + level * (ref->px[i] - mean[i % 3]));
        break;
    }
    default:
        blur(ref, dst, level);
        for (size_t i = 0; i < n; i++) dst->px[i] = clamp8(dst->px[i] + 4 * level * cc_rng_normal(rng));
        break;
    }
    return 0;
}

static const char *KIND[5] = { "blur", "noise", "jpeg", "contrast", "blur+noise" };

static int make_pairs(const cc_image *ref, int count, cc_rng *rng, pair *out)
{
    cc_image gr;
    if (cc_image_to_gray(ref, &gr)) return 1;
    for (int i = 0; i < count; i++) {
        int kind = i % 5;
        double u = cc_rng_uniform(rng), level;
        switch (kind) {
        case 0: level = 0.4 + 3.6 * u; break;            /* sigma */
        case 1: level = 2 + 48 * u * u; break;           /* noise sigma (8-bit units) */
        case 2: level = 2 + (int)(60 * u * u); break;    /* JPEG quality */
        case 3: level = 0.15 + 0.8 * u; break;           /* contrast factor */
        default: level = 0.5 + 2 * u; break;             /* blur sigma, noise 4 sigma */
        }
        pair *p = &out[i];
        p->kind = KIND[kind];
        p->level = level;
        if (cc_image_alloc(&p->ref, ref->w, ref->h, 3)) return 1;
        memcpy(p->ref.px, ref->px, (size_t)ref->w * ref->h * 3);
        if (distort(ref, &p->dist, kind, level, rng)) return 1;
        cc_image gd;
        if (cc_image_to_gray(&p->dist, &gd)) return 1;
        p->ssim_map = malloc(sizeof(float) * (size_t)(ref->w - 10) * (size_t)(ref->h - 10));
        if (!p->ssim_map) return 1;
        p->ssim = cc_ssim_gray(gr.px, gd.px, ref->w, ref->h, p->ssim_map);
        cc_image_free(&gd);
    }
    cc_image_free(&gr);
    return 0;
}

static void patch_to(const cc_image *im, int y, int x, float *dst)
{
    for (int c = 0; c < 3; c++)
        for (int r = 0; r < PATCH; r++)
            for (int k = 0; k < PATCH; k++)
                dst[((size_t)c * PATCH + r) * PATCH + k] = (float)im->px[((size_t)(y + r) * im->w + x + k) * 3 + c] / 255.0f;
}

/* ---- statistics ---------------------------------------------------------------- */

static double pearson(const double *a, const double *b, int n)
{
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++) { ma += a[i]; mb += b[i]; }
    ma /= n; mb /= n;
    for (int i = 0; i < n; i++) { sab += (a[i] - ma) * (b[i] - mb); saa += (a[i] - ma) * (a[i] - ma); sbb += (b[i] - mb) * (b[i] - mb); }
    return sab / sqrt(saa * sbb);
}

static void ranks(const double *a, int n, double *r)
{
    for (int i = 0; i < n; i++) {
        double less = 0, eq = 0;
        for (int j = 0; j < n; j++) { if (a[j] < a[i]) less++; else if (a[j] == a[i]) eq++; }
        r[i] = less + (eq + 1) / 2;
    }
}

static double spearman(const double *a, const double *b, int n)
{
    double *ra = malloc(sizeof(double) * (size_t)n * 2), *rb = ra + n;
    ranks(a, n, ra);
    ranks(b, n, rb);
    double s = pearson(ra, rb, n);
    free(ra);
    return s;
}

/* Scores of pairs with a model file, via the library's IQA path. */
static int evaluate(const char *path, pair *ps, int n, double *pred)
{
    cc_iqa *q;
    if (cc_iqa_load(path, 64, NULL, &q)) { fprintf(stderr, "train_iqa: %s\n", cc_iqa_errmsg(q)); cc_iqa_free(q); return 1; }
    for (int i = 0; i < n; i++) {
        int W = ps[i].ref.w, H = ps[i].ref.h;
        float *xr = malloc(sizeof(float) * 3 * (size_t)W * H), *xd = malloc(sizeof(float) * 3 * (size_t)W * H);
        const float z[3] = { 0, 0, 0 }, o[3] = { 1, 1, 1 };
        cc_image_to_tensor(&ps[i].ref, z, o, 3, xr);
        cc_image_to_tensor(&ps[i].dist, z, o, 3, xd);
        int rc = cc_iqa_score(q, xd, xr, H, W, &pred[i], NULL, NULL);
        free(xr);
        free(xd);
        if (rc) { fprintf(stderr, "train_iqa: %s\n", cc_iqa_errmsg(q)); cc_iqa_free(q); return 1; }
    }
    cc_iqa_free(q);
    return 0;
}

static int save_model(const char *path, float *const *p, const char *const *meta, int n_meta)
{
    cc_onnx_writer *w = cc_ow_new("iqa_fr");
    if (!w) return 1;
    cc_ow_set_doc(w, "Small full-reference IQA network (WaDIQaM-FR shape, quarter channels) trained by contrastcam's "
                     "tools/train_iqa.c to predict luminance SSIM; see models/README.md");
    net_write(w, -1, p, 0);
    for (int i = 0; i + 1 < 2 * n_meta; i += 2) cc_ow_meta(w, meta[i], meta[i + 1]);
    int rc = cc_ow_save(w, path);
    if (rc) fprintf(stderr, "train_iqa: cannot write %s: %s\n", path, cc_ow_errmsg(w));
    cc_ow_free(w);
    return rc;
}

int main(int argc, char **argv)
{
    const char *out = NULL, *data = "/usr/share/darknet/data";
    int steps = 3000, threads = 0, per_image = 40;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--per-image") && i + 1 < argc) per_image = atoi(argv[++i]);
        else if (!out && argv[i][0] != '-') out = argv[i];
        else { fprintf(stderr, "usage: train_iqa OUT.onnx [--steps N] [--data DIR] [--seed S] [--per-image N]\n"); return 2; }
    }
    if (!out || steps < 0 || per_image < 5) { fprintf(stderr, "usage: train_iqa OUT.onnx [--steps N] [--data DIR] [--seed S]\n"); return 2; }
    (void)threads;
    openblas_set_num_threads(1);
    omp_set_num_threads(1);
    const char *train_names[5] = { "dog", "eagle", "horses", "kite", "scream" };
    const char *test_names[2] = { "giraffe", "person" };
    cc_rng rng;
    cc_rng_seed(&rng, seed);
    int ntr = 5 * per_image, nte = 2 * per_image;
    pair *tr = calloc((size_t)ntr, sizeof *tr), *te = calloc((size_t)nte, sizeof *te);
    double t0 = now();
    for (int set = 0; set < 2; set++) {
        int cnt = set ? 2 : 5;
        for (int i = 0; i < cnt; i++) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s.jpg", data, set ? test_names[i] : train_names[i]);
            cc_image ph;
            if (load_photo(path, &ph)) {
                fprintf(stderr, "train_iqa: cannot read %s (apt-get install darknet)\n", path);
                return 1;
            }
            if (make_pairs(&ph, per_image, &rng, (set ? te : tr) + i * per_image)) { fprintf(stderr, "train_iqa: out of memory\n"); return 1; }
            cc_image_free(&ph);
        }
    }
    printf("data: %d training pairs (5 photos), %d held-out pairs (2 photos), %.1f s\n", ntr, nte, now() - t0);

    /* network at batch B = G regions x 16 patches */
    const int G = 8, B = G * PPR;
    params_init();
    float *p[NPARAM];
    for (int i = 0; i < NPARAM; i++) {
        p[i] = calloc((size_t)PR[i].numel, sizeof(float));
        if (PR[i].fan_in) {
            double sd = sqrt(2.0 / (double)PR[i].fan_in);
            if (!strncmp(PR[i].name, "fc2", 3)) sd = sqrt(1.0 / (double)PR[i].fan_in) * 0.1;
            for (int64_t j = 0; j < PR[i].numel; j++) p[i][j] = (float)(sd * cc_rng_normal(&rng));
        }
    }
    p[NPARAM - 5][0] = 0.7f;   /* fc2_q.bias: start near the mean SSIM */
    p[NPARAM - 1][0] = 1.0f;   /* fc2_w.bias: weights start positive (alive through the ReLU) */
    cc_onnx_writer *w = cc_ow_new("iqa_fr_train");
    net_write(w, B, p, 1);
    uint8_t *buf;
    size_t size;
    if (cc_ow_serialize(w, &buf, &size)) { fprintf(stderr, "train_iqa: %s\n", cc_ow_errmsg(w)); return 1; }
    cc_ow_free(w);
    cc_model *m;
    if (cc_model_load_buffer(buf, size, NULL, &m)) { fprintf(stderr, "train_iqa: %s\n", cc_model_errmsg(m)); return 1; }
    free(buf);
    cc_session *s;
    if (cc_session_new(m, &s)) { fprintf(stderr, "train_iqa: cannot make a session\n"); return 1; }
    int wt[NPARAM];
    float *wp[NPARAM];
    cc_optim opt;
    cc_optim_init(&opt, CC_OPT_ADAM);
    opt.weight_decay = 1e-4f;
    for (int i = 0; i < NPARAM; i++) {
        size_t n;
        wt[i] = cc_model_find_tensor(m, PR[i].name);
        wp[i] = cc_train_weight(m, wt[i], &n);
        if (!wp[i] || (int64_t)n != PR[i].numel) { fprintf(stderr, "train_iqa: weight %s not writable\n", PR[i].name); return 1; }
        cc_optim_add(&opt, wp[i], PR[i].numel, PR[i].ndim > 1);
    }
    int in_d = cc_model_find_tensor(m, "dist"), in_r = cc_model_find_tensor(m, "ref"), o_qw = cc_model_find_tensor(m, "qw");
    size_t per = 3 * PATCH * PATCH;
    float *xd = malloc(sizeof(float) * per * B), *xr = malloc(sizeof(float) * per * B), *seed_buf = malloc(sizeof(float) * 2 * B);
    double tgt[64];
    const float *grads[NPARAM];
    double run_loss = 0, t1 = now();
    const float lr0 = 1e-3f;
    for (int step = 0; step < steps; step++) {
        for (int g = 0; g < G; g++) {
            const pair *pp = &tr[cc_rng_below(&rng, (uint32_t)ntr)];
            int W = pp->ref.w, H = pp->ref.h;
            int y0 = (int)cc_rng_below(&rng, (uint32_t)(H - REGION + 1)), x0 = (int)cc_rng_below(&rng, (uint32_t)(W - REGION + 1));
            for (int k = 0; k < PPR; k++) {
                int y = y0 + k / (REGION / PATCH) * PATCH, x = x0 + k % (REGION / PATCH) * PATCH;
                patch_to(&pp->dist, y, x, xd + per * (size_t)(g * PPR + k));
                patch_to(&pp->ref, y, x, xr + per * (size_t)(g * PPR + k));
            }
            /* the region's SSIM: the map's windows that lie inside it */
            double sum = 0;
            int cnt = 0, mw = W - 10;
            for (int y = y0; y <= y0 + REGION - 11; y++)
                for (int x = x0; x <= x0 + REGION - 11; x++) { sum += pp->ssim_map[(size_t)y * mw + x]; cnt++; }
            tgt[g] = sum / cnt;
        }
        cc_session_set_input(s, in_d, xd, per * B);
        cc_session_set_input(s, in_r, xr, per * B);
        if (cc_session_forward(s)) { fprintf(stderr, "train_iqa: %s\n", cc_session_errmsg(s)); return 1; }
        const float *qw = cc_session_value(s, o_qw, NULL);
        double loss = 0;
        for (int g = 0; g < G; g++) {
            double num = 0, den = 0;
            for (int k = 0; k < PPR; k++) { const float *r = qw + 2 * (g * PPR + k); num += (double)r[0] * r[1]; den += r[1]; }
            double S = num / den, e = S - tgt[g];
            loss += e * e / G;
            double dS = 2 * e / G;
            for (int k = 0; k < PPR; k++) {
                const float *r = qw + 2 * (g * PPR + k);
                seed_buf[2 * (g * PPR + k)] = (float)(dS * r[1] / den);
                seed_buf[2 * (g * PPR + k) + 1] = (float)(dS * (r[0] - S) / den);
            }
        }
        if (cc_session_backward(s, o_qw, seed_buf, 1, wt, NPARAM)) { fprintf(stderr, "train_iqa: %s\n", cc_session_errmsg(s)); return 1; }
        for (int i = 0; i < NPARAM; i++) grads[i] = cc_session_grad(s, wt[i], NULL);
        float lr = step < 100 ? lr0 * (float)(step + 1) / 100.0f : lr0 * 0.5f * (1.0f + cosf(3.14159265f * (float)(step - 100) / (float)(steps - 100 > 0 ? steps - 100 : 1)));
        cc_optim_step(&opt, grads, lr);
        run_loss = step ? 0.98 * run_loss + 0.02 * loss : loss;
        if ((step + 1) % 100 == 0 || step + 1 == steps) {
            printf("step %5d  loss %.5f (rms %.3f)  %.1f s\n", step + 1, run_loss, sqrt(run_loss), now() - t1);
            fflush(stdout);
        }
    }
    /* export, then evaluate through the IQA library */
    float *final[NPARAM];
    for (int i = 0; i < NPARAM; i++) final[i] = wp[i];
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.eval.tmp", out);
    if (save_model(tmp, final, NULL, 0)) return 1;
    double *pred = malloc(sizeof(double) * (size_t)(ntr + nte)), *truth = malloc(sizeof(double) * (size_t)(ntr + nte));
    if (evaluate(tmp, te, nte, pred) || evaluate(tmp, tr, ntr, pred + nte)) return 1;
    remove(tmp);
    for (int i = 0; i < nte; i++) truth[i] = te[i].ssim;
    for (int i = 0; i < ntr; i++) truth[nte + i] = tr[i].ssim;
    double plcc = pearson(pred, truth, nte), srcc = spearman(pred, truth, nte);
    double plcc_tr = pearson(pred + nte, truth + nte, ntr), srcc_tr = spearman(pred + nte, truth + nte, ntr);
    double mae = 0;
    for (int i = 0; i < nte; i++) mae += fabs(pred[i] - truth[i]) / nte;
    printf("held-out (giraffe, person; %d pairs): PLCC %.4f  SROCC %.4f  mean |score - SSIM| %.4f\n", nte, plcc, srcc, mae);
    printf("training (%d pairs): PLCC %.4f  SROCC %.4f\n", ntr, plcc_tr, srcc_tr);
    for (int k = 0; k < 5; k++) {
        double a[64], b[64];
        int n = 0;
        for (int i = 0; i < nte && n < 64; i++) if (te[i].kind == KIND[k]) { a[n] = pred[i]; b[n] = truth[i]; n++; }
        printf("  held-out %-10s n=%2d  PLCC %.3f  SROCC %.3f\n", KIND[k], n, pearson(a, b, n), spearman(a, b, n));
    }
    char v1[64], v2[64], v3[64], v4[64], v5[64];
    snprintf(v1, sizeof v1, "%.4f", plcc);
    snprintf(v2, sizeof v2, "%.4f", srcc);
    snprintf(v3, sizeof v3, "%d", steps);
    snprintf(v4, sizeof v4, "%llu", (unsigned long long)seed);
    snprintf(v5, sizeof v5, "%.4f", mae);
    const char *meta[] = { "iqa.target", "dist_conv10", "iqa.patch", "32", "iqa.kind", "full-reference",
                           "iqa.predicts", "SSIM of the luminance (11x11 Gaussian, sigma 1.5)",
                           "preprocess.scale", "1/255", "preprocess.mean", "0", "preprocess.std", "1",
                           "training.arch", "WaDIQaM-FR shape, convs 3-8-8-16-16-32-32-64-64-128-128, FC 384-64-1 (q and w)",
                           "training.data", "Debian darknet photos dog eagle horses kite scream; blur noise jpeg contrast blur+noise",
                           "training.steps", v3, "training.seed", v4,
                           "eval.heldout", "giraffe person", "eval.heldout.plcc", v1, "eval.heldout.srocc", v2, "eval.heldout.mae", v5 };
    if (save_model(out, final, meta, (int)(sizeof meta / sizeof meta[0] / 2))) return 1;
    printf("wrote %s (%.0f s in all)\n", out, now() - t0);
    cc_session_free(s);
    cc_model_free(m);
    cc_optim_free(&opt);
    return 0;
}
