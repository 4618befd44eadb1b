/* contrastcam iqa: "Why does this image score s?" and "Why s, rather than
 * q?" for full-reference image quality networks (WaDIQaM-FR family). */
#include "cli.h"
#include "contrastcam_iqa.h"
#include "image/image.h"
#include "outdir.h"
#include "util/npy.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *usage =
    "usage: contrastcam iqa MODEL --ref REF --dist DIST [--target q] [--stride S]\n"
    "         [--patch P] [--composite mean|reference] [--batch B] [--threads T]\n"
    "         [--layer NAME] [--out DIR] [--json]\n"
    "\n"
    "Scores the distorted image DIST against the reference REF with a\n"
    "full-reference quality network (inputs \"dist\" and \"ref\", [N, 3, P, P] RGB in\n"
    "[0,1]; outputs \"q\", the patch quality, and \"w\", the patch weight) and explains\n"
    "the score s: image score = sum(q*w)/sum(w) over non-overlapping P x P patches\n"
    "(rows and columns 0, P, ... strictly below size - P).  A P x P window slides\n"
    "with stride S over the image (windows past the border see zeros); per window,\n"
    "\"Why s?\" is the Grad-CAM map of the window's quality h at the distorted\n"
    "branch's last convolution and \"Why s, rather than q?\" the regression contrast\n"
    "(seed 2 (h - q)), each ReLU'd and upsampled to P x P, not normalised.  The\n"
    "window maps are composited into one map per question.\n"
    "\n"
    "Writes into DIR (default out/iqa): why.npy and why_rather_than.npy (the\n"
    "composited maps, float32, not normalised), why.png and why_rather_than.png\n"
    "(the map normalised to [0,1], JET, added to the reference image),\n"
    "window_scores.npy (each window's h), patch_scores.npy and patch_weights.npy\n"
    "(the score's patches) and iqa.json.  Nothing is written unless every file\n"
    "could be made.\n"
    "\n"
    "  --target q        the contrast score q (default 0.75, the published example)\n"
    "  --stride S        window stride in pixels (default 4)\n"
    "  --patch P         check that the model's patch size is P (default: the model's)\n"
    "  --composite MODE  mean (default): per pixel, the mean of the maps of every\n"
    "                    window covering it; reference: the reference code's paste,\n"
    "                    in scan order, each window map over what is there with a\n"
    "                    blurred copy of itself (Gaussian sigma 2, divided by its\n"
    "                    max) as the mask, so later windows cover earlier ones\n"
    "  --batch B         windows per forward pass (default 64): the model is loaded\n"
    "                    with batch size B (its graph must not fix the batch size)\n"
    "  --threads T       worker threads, each with its own session (default: all cores)\n"
    "  --layer NAME      target tensor (default: metadata iqa.target, else dist_conv10)\n"
    "  --json            also print iqa.json to stdout\n"
    "\n"
    "example:\n"
    "  contrastcam iqa models/iqa_fr.onnx --ref I21.BMP --dist i21_21_5.bmp --target 0.75\n";

typedef struct iqa_opts {
    const char *model, *ref, *dist, *out_dir, *layer;
    float target;
    int stride, patch, batch, threads, json;
    cc_iqa_composite composite;
} iqa_opts;

static int parse_int(const char *name, const char *v, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long k = strtol(v, &end, 10);
    if (end == v || *end || errno || k < lo || k > hi)
        return cli_fail(EXIT_USAGE, "%s needs an integer in %d..%d, got '%s'", name, lo, hi, v);
    *out = (int)k;
    return 0;
}

/* -1 to go on, else an exit code. */
static int parse(int argc, char **argv, iqa_opts *o)
{
    memset(o, 0, sizeof *o);
    o->target = 0.75f;
    o->stride = 4;
    o->batch = 64;
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(usage, stdout); return EXIT_OK; }
        if (!strcmp(a, "--json")) { o->json = 1; continue; }
        if (a[0] == '-' && a[1] == '-') {
            char name[64];
            const char *v = NULL;
            static const char *const valued[] = { "--ref", "--dist", "--target", "--stride", "--patch", "--out",
                                                  "--composite", "--batch", "--threads", "--layer", NULL };
            int orc = cli_option(argc, argv, &i, valued, name, sizeof name, &v);
            if (orc >= 0) return orc;
            if (!strcmp(name, "--ref")) o->ref = v;
            else if (!strcmp(name, "--dist")) o->dist = v;
            else if (!strcmp(name, "--out")) o->out_dir = v;
            else if (!strcmp(name, "--layer")) o->layer = v;
            else if (!strcmp(name, "--target")) {
                char *end;
                errno = 0;
                o->target = strtof(v, &end);
                if (end == v || *end || errno || !isfinite(o->target)) return cli_fail(EXIT_USAGE, "--target needs a number, got '%s'", v);
            } else if (!strcmp(name, "--stride")) { if ((rc = parse_int("--stride", v, 1, 4096, &o->stride))) return rc; }
            else if (!strcmp(name, "--patch")) { if ((rc = parse_int("--patch", v, 1, 4096, &o->patch))) return rc; }
            else if (!strcmp(name, "--batch")) { if ((rc = parse_int("--batch", v, 1, 4096, &o->batch))) return rc; }
            else if (!strcmp(name, "--threads")) { if ((rc = parse_int("--threads", v, 1, 64, &o->threads))) return rc; }
            else if (!strcmp(name, "--composite")) {
                if (!strcmp(v, "mean")) o->composite = CC_IQA_COMPOSITE_MEAN;
                else if (!strcmp(v, "reference")) o->composite = CC_IQA_COMPOSITE_REFERENCE;
                else return cli_fail(EXIT_USAGE, "--composite must be mean or reference, got '%s'", v);
            } else return cli_fail(EXIT_USAGE, "unknown option %s (see contrastcam iqa --help)", name);
            continue;
        }
        if (o->model) return cli_fail(EXIT_USAGE, "unexpected argument '%s' (one MODEL; images go with --ref and --dist)", a);
        o->model = a;
    }
    if (!o->model) { fputs(usage, stderr); return cli_fail(EXIT_USAGE, "iqa needs a MODEL"); }
    if (!o->ref || !o->dist) return cli_fail(EXIT_USAGE, "iqa needs both --ref REF and --dist DIST");
    return -1;
}

static int load_rgb(const char *path, const char *what, cc_image *img)
{
    char err[512];
    cc_image raw;
    int rc = cc_image_load(path, &raw, err, sizeof err);
    if (rc) return cli_fail(rc == (int)CC_ERR_NOMEM ? EXIT_INTERNAL : EXIT_INPUT, "%s image: %s", what, err);
    rc = cc_image_to_rgb(&raw, img);
    cc_image_free(&raw);
    if (rc) return cli_fail(EXIT_INTERNAL, "out of memory");
    return 0;
}

static int save_npy(outdir *od, const char *name, const float *data, const int64_t *dims, int nd)
{
    char path[4200], err[512];
    if (!outdir_path(od, name, path, sizeof path)) return cli_fail(EXIT_INTERNAL, "out of memory");
    if (cc_npy_save(path, data, dims, nd, err, sizeof err)) return cli_fail(EXIT_INPUT, "%s", err);
    return 0;
}

static int save_overlay(outdir *od, const char *name, const float *map, const cc_image *rgb, int *flat, float *mx)
{
    size_t n = (size_t)rgb->w * (size_t)rgb->h;
    float *m01 = malloc(sizeof(float) * n);
    if (!m01) return cli_fail(EXIT_INTERNAL, "out of memory");
    memcpy(m01, map, sizeof(float) * n);
    *mx = 0;
    for (size_t i = 0; i < n; i++) if (map[i] > *mx) *mx = map[i];
    cc_minmax_normalize(m01, n, flat);
    cc_image ov;
    int rc = cc_overlay(m01, rgb, &ov);
    free(m01);
    if (rc) return cli_fail(EXIT_INTERNAL, "cannot draw the overlay");
    char path[4200], err[512];
    if (!outdir_path(od, name, path, sizeof path)) { cc_image_free(&ov); return cli_fail(EXIT_INTERNAL, "out of memory"); }
    rc = cc_image_save_png(path, &ov, err, sizeof err);
    cc_image_free(&ov);
    if (rc) return cli_fail(EXIT_INPUT, "%s", err);
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int cmd_iqa(int argc, char **argv)
{
    iqa_opts o;
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    cc_image ref = { 0 }, dist = { 0 }, gref = { 0 }, gdist = { 0 };
    float *xr = NULL, *xd = NULL;
    cc_iqa *q = NULL;
    cc_iqa_result res = { 0 };
    outdir od = { 0 };
    int staged = 0;
    FILE *js = NULL;
    char *jsbuf = NULL;
    size_t jslen = 0;
    double t0 = now();
    if ((rc = load_rgb(o.ref, "reference", &ref)) || (rc = load_rgb(o.dist, "distorted", &dist))) goto done;
    if (ref.w != dist.w || ref.h != dist.h) {
        rc = cli_fail(EXIT_INPUT, "the reference (%dx%d) and distorted (%dx%d) images differ in size; a full-reference score"
                      " compares the same pixels", ref.w, ref.h, dist.w, dist.h);
        goto done;
    }
    int H = ref.h, W = ref.w;
    cc_status st = cc_iqa_load(o.model, o.batch, o.layer, &q);
    if (st) { rc = cli_fail(cli_status_exit(st), "%s", cc_iqa_errmsg(q)); goto done; }
    if (o.threads && (st = cc_iqa_set_threads(q, o.threads))) { rc = cli_fail(cli_status_exit(st), "%s", cc_iqa_errmsg(q)); goto done; }
    int P = cc_iqa_patch(q);
    if (o.patch && o.patch != P) {
        rc = cli_fail(EXIT_USAGE, "--patch %d, but the model takes %d x %d patches", o.patch, P, P);
        goto done;
    }
    if (H <= P || W <= P) {
        rc = cli_fail(EXIT_INPUT, "the images (%dx%d) are too small for %dx%d patches: the score needs at least one patch"
                      " starting strictly below size - %d, i.e. at least %dx%d pixels", W, H, P, P, P, P + 1, P + 1);
        goto done;
    }
    size_t hw = (size_t)H * (size_t)W;
    xr = malloc(sizeof(float) * 3 * hw);
    xd = malloc(sizeof(float) * 3 * hw);
    if (!xr || !xd) { rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
    const float zero[3] = { 0, 0, 0 }, one[3] = { 1, 1, 1 };
    cc_image_to_tensor(&ref, zero, one, 3, xr);
    cc_image_to_tensor(&dist, zero, one, 3, xd);
    double t1 = now();
    st = cc_iqa_explain(q, xd, xr, H, W, o.stride, o.target, o.composite, &res);
    if (st) { rc = cli_fail(cli_status_exit(st), "%s", cc_iqa_errmsg(q)); goto done; }
    double t2 = now();
    /* the luminance SSIM of the pair, for reference */
    double ssim = NAN;
    if (!cc_image_to_gray(&ref, &gref) && !cc_image_to_gray(&dist, &gdist))
        ssim = cc_ssim_gray(gref.px, gdist.px, W, H, NULL);

    const char *dir = o.out_dir ? o.out_dir : "out/iqa";
    if ((rc = outdir_open(&od, dir))) goto done;
    staged = 1;
    int64_t dims[2] = { H, W };
    int flat[2];
    float mx[2];
    if ((rc = save_npy(&od, "why.npy", res.why, dims, 2)) ||
        (rc = save_npy(&od, "why_rather_than.npy", res.contrast, dims, 2)) ||
        (rc = save_overlay(&od, "why.png", res.why, &ref, &flat[0], &mx[0])) ||
        (rc = save_overlay(&od, "why_rather_than.png", res.contrast, &ref, &flat[1], &mx[1])))
        goto done;
    int64_t wd[2] = { res.win_rows, res.win_cols };
    if ((rc = save_npy(&od, "window_scores.npy", res.window_q, wd, 2))) goto done;
    int prow, pcol;
    cc_iqa_patch_grid(H, W, P, &prow, &pcol);
    int64_t pd[2] = { prow, pcol };
    if ((rc = save_npy(&od, "patch_scores.npy", res.patch_q, pd, 2)) ||
        (rc = save_npy(&od, "patch_weights.npy", res.patch_w, pd, 2)))
        goto done;
    int nw = res.win_rows * res.win_cols;
    double hmin = INFINITY, hmax = -INFINITY, hsum = 0;
    for (int i = 0; i < nw; i++) {
        double v = res.window_q[i];
        if (v < hmin) hmin = v;
        if (v > hmax) hmax = v;
        hsum += v;
    }
    js = open_memstream(&jsbuf, &jslen);
    if (!js) { rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
    const cc_model *m = cc_iqa_model(q);
    cc_tensor_info li;
    cc_model_tensor_info(m, cc_iqa_layer(q), &li);
    fputs("{\"model\": ", js); json_str(js, o.model);
    fputs(", \"ref\": ", js); json_str(js, o.ref);
    fputs(", \"dist\": ", js); json_str(js, o.dist);
    fprintf(js, ", \"width\": %d, \"height\": %d, \"score\": %.6g, \"n_patches\": %d, \"patch_grid\": [%d, %d]",
            W, H, res.score, res.n_patches, prow, pcol);
    fprintf(js, ", \"weighted\": %s", cc_iqa_has_weights(q) ? "true" : "false");
    if (isfinite(ssim)) fprintf(js, ", \"ssim_luminance\": %.6g", ssim);
    fputs(", \"layer\": ", js); json_str(js, li.name);
    fprintf(js, ", \"layer_shape\": [%lld, %lld, %lld]", (long long)li.dims[1], (long long)li.dims[2], (long long)li.dims[3]);
    fprintf(js, ", \"patch\": %d, \"stride\": %d, \"batch\": %d, \"threads\": %d, \"composite\": \"%s\", \"target\": %.6g",
            P, o.stride, o.batch, cc_iqa_threads(q), o.composite == CC_IQA_COMPOSITE_MEAN ? "mean" : "reference", o.target);
    fprintf(js, ", \"windows\": {\"rows\": %d, \"cols\": %d, \"count\": %d, \"h_min\": %.6g, \"h_max\": %.6g, \"h_mean\": %.6g, "
            "\"npy\": \"window_scores.npy\"}", res.win_rows, res.win_cols, nw, hmin, hmax, nw ? hsum / nw : 0.0);
    fputs(", \"patches\": {\"scores\": \"patch_scores.npy\", \"weights\": \"patch_weights.npy\"}", js);
    char qs[128];
    snprintf(qs, sizeof qs, "Why %.2f?", res.score);
    fputs(", \"maps\": [{\"kind\": \"why\", \"question\": ", js); json_str(js, qs);
    fprintf(js, ", \"npy\": \"why.npy\", \"png\": \"why.png\", \"max\": %.6g, \"flat\": %s}", mx[0], flat[0] ? "true" : "false");
    snprintf(qs, sizeof qs, "Why %.2f, rather than %g?", res.score, o.target);
    fputs(", {\"kind\": \"why_rather_than\", \"question\": ", js); json_str(js, qs);
    fprintf(js, ", \"target\": %.6g, \"npy\": \"why_rather_than.npy\", \"png\": \"why_rather_than.png\", \"max\": %.6g, \"flat\": %s}]",
            o.target, mx[1], flat[1] ? "true" : "false");
    fprintf(js, ", \"seconds\": {\"load\": %.3f, \"explain\": %.3f}}\n", t1 - t0, t2 - t1);
    fclose(js);
    js = NULL;
    {
        char path[4200];
        if (!outdir_path(&od, "iqa.json", path, sizeof path)) { rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(jsbuf, 1, jslen, f) != jslen || fclose(f)) {
            if (f) fclose(f);
            rc = cli_fail(EXIT_INPUT, "cannot write '%s'", path);
            goto done;
        }
    }
    staged = 0;
    if ((rc = outdir_commit(&od))) goto done;
    if (o.json) fputs(jsbuf, stdout);
    else fprintf(stderr, "contrastcam: score %.4f (%d patches); %d windows explained in %.1f s; wrote %s/ (see iqa.json)\n",
                 res.score, res.n_patches, nw, t2 - t1, dir);
done:
    if (js) fclose(js);
    free(jsbuf);
    if (staged) outdir_abort(&od);
    cc_iqa_result_free(&res);
    cc_iqa_free(q);
    free(xr);
    free(xd);
    cc_image_free(&ref);
    cc_image_free(&dist);
    cc_image_free(&gref);
    cc_image_free(&gdist);
    return rc;
}
