/* contrastcam explain: "Why P?" (Grad-CAM) and "Why P, rather than Q?" maps. */
#include "cli.h"
#include "image/image.h"
#include "outdir.h"
#include "util/npy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int cli_parse(int argc, char **argv, cli_opts *o, const char *usage, int want_image);
void cli_print_top(FILE *f, const cli_run *r, int k);

static const char *usage =
    "usage: contrastcam explain MODEL (IMAGE | --input-npy [NAME=]FILE) [--layer NAME]\n"
    "         [--class P] [--contrast Q[,Q...] | --contrast top:K | --contrast all]\n"
    "         [--target-value q] [--out DIR] [--json] [--save-all]\n"
    "         [--labels FILE] [--size WxH] [--mean M] [--std S] [--gray]\n"
    "\n"
    "Writes into DIR (default out/explain), for every map, an overlay PNG (JET\n"
    "heat map added to the image, divided by its max), the map normalised to\n"
    "[0,1] at input resolution as float32 .npy, and explain.json.  Nothing is\n"
    "written unless every file could be made.\n"
    "\n"
    "  --layer NAME      target tensor (default: the model's gradcam.target metadata,\n"
    "                    else the last activation with spatial extent; see 'layers')\n"
    "  --class P         the class explained (index or label; default: the top class)\n"
    "  --contrast ...    Q classes for \"Why P, rather than Q?\": a list of indices or\n"
    "                    labels (Q = P means \"why not P with 100%% confidence?\"),\n"
    "                    top:K = the K most likely classes other than P, or all =\n"
    "                    every Q != P, summarised by the pixel-wise mean and variance\n"
    "                    of the maps and a ranking of the most informative Q\n"
    "  --save-all        with --contrast all: also write every map (contrast_all.npy)\n"
    "  --target-value q  single-output (regression) models: \"Why y, rather than q?\"\n"
    "  --json            also print explain.json to stdout\n"
    "\n"
    "examples:\n"
    "  contrastcam explain mobilenet_v2_imagenet.onnx cat_dog.png --contrast boxer --out out/\n"
    "  contrastcam explain model.onnx x.png --class 3 --contrast top:3,3 --layer conv5\n";

typedef struct map_spec {
    const char *kind;          /* gradcam, contrast, regression_contrast */
    int P, Q;                  /* Q = -1 for none */
    float target;
} map_spec;

#define MAX_MAPS 4096

static int has_contrast(const map_spec *specs, int n, int q)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(specs[i].kind, "contrast") && specs[i].Q == q) return 1;
    return 0;
}

static int parse_contrast(const cli_run *r, const char *arg, int P, map_spec *specs, int *n, int *all)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", arg);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (!strcmp(tok, "all")) { *all = 1; continue; }
        if (!strncmp(tok, "top:", 4)) {
            char *end;
            long k = strtol(tok + 4, &end, 10);
            if (*end || k < 1) return cli_fail(EXIT_USAGE, "--contrast top:K needs a positive K, got '%s'", tok);
            if (k > r->n_classes - 1) k = r->n_classes - 1;
            int *idx = malloc(sizeof(int) * (size_t)(k + 1));
            if (!idx) return cli_fail(EXIT_INTERNAL, "out of memory");
            cli_top(r, idx, (int)k + 1);
            for (int i = 0, taken = 0; i <= k && taken < k; i++) {
                if (idx[i] == P || idx[i] < 0) continue;
                if (*n >= MAX_MAPS) break;
                if (!has_contrast(specs, *n, idx[i])) specs[(*n)++] = (map_spec){ "contrast", P, idx[i], 0 };
                taken++;
            }
            free(idx);
            continue;
        }
        int q;
        int rc = cli_class_index(r, tok, &q);
        if (rc) return rc;
        if (*n >= MAX_MAPS) return cli_fail(EXIT_USAGE, "too many contrasts");
        if (!has_contrast(specs, *n, q)) specs[(*n)++] = (map_spec){ "contrast", P, q, 0 };
    }
    return 0;
}

static void map_name(const map_spec *m, char *buf, size_t n)
{
    if (!strcmp(m->kind, "gradcam")) snprintf(buf, n, "gradcam_P%d", m->P);
    else if (!strcmp(m->kind, "contrast")) snprintf(buf, n, "contrast_P%d_Q%d", m->P, m->Q);
    else snprintf(buf, n, "regression_P%d_q%g", m->P, m->target);
}

/* Write the map (.npy) and its overlay (.png) into the staging folder. */
static int write_map(outdir *od, const cli_run *r, const char *base, const float *map01, int H, int W, char *npy_name, char *png_name)
{
    char path[4200], err[512];
    snprintf(npy_name, 256, "%s.npy", base);
    snprintf(png_name, 256, "%s.png", base);
    int64_t dims[2] = { H, W };
    if (!outdir_path(od, npy_name, path, sizeof path)) return cli_fail(EXIT_INTERNAL, "out of memory");
    if (cc_npy_save(path, map01, dims, 2, err, sizeof err)) return cli_fail(EXIT_INPUT, "%s", err);
    cc_image pic = { r->img_w, r->img_h, 3, r->rgb }, ov;
    if (cc_overlay(map01, &pic, &ov)) return cli_fail(EXIT_INTERNAL, "cannot draw the overlay");
    if (!outdir_path(od, png_name, path, sizeof path)) { cc_image_free(&ov); return cli_fail(EXIT_INTERNAL, "out of memory"); }
    int rc = cc_image_save_png(path, &ov, err, sizeof err);
    cc_image_free(&ov);
    if (rc) return cli_fail(EXIT_INPUT, "%s", err);
    return 0;
}

int cmd_explain(int argc, char **argv)
{
    cli_opts o;
    int rc = cli_parse(argc, argv, &o, usage, 1);
    if (rc >= 0) return rc;
    cli_run r;
    map_spec *specs = NULL;
    float *seeds = NULL, *maps01 = NULL, *extra = NULL;
    int *flat = NULL;
    cc_cam cam = { 0 };
    outdir od = { 0 };
    int staged = 0, all = 0, n = 0;
    FILE *js = NULL;
    char *jsbuf = NULL;
    size_t jslen = 0;
    if ((rc = cli_load(&o, &r))) goto done;
    /* target layer */
    int layer;
    if (o.layer) {
        layer = cc_model_find_tensor(r.m, o.layer);
        if (layer < 0) { rc = cli_fail(EXIT_USAGE, "unknown layer '%s' (list candidates with: contrastcam layers %s)", o.layer, o.model); goto done; }
        if (!cc_is_spatial_layer(r.m, layer)) {
            cc_tensor_info ti;
            cc_model_tensor_info(r.m, layer, &ti);
            char shape[128] = "";
            size_t l = 0;
            for (int i = 0; i < ti.rank && l < sizeof shape - 24; i++) l += (size_t)snprintf(shape + l, sizeof shape - l, "%s%lld", i ? ", " : "", (long long)ti.dims[i]);
            rc = cli_fail(EXIT_USAGE, "layer '%s' has shape [%s], without spatial extent: a target layer must be a [1, C, h, w] activation (see contrastcam layers)", o.layer, shape);
            goto done;
        }
    } else if ((layer = cc_default_layer(r.m)) < 0) {
        rc = cli_fail(EXIT_USAGE, "the model has no activation with spatial extent to explain");
        goto done;
    }
    int C = r.n_classes, P = 0;
    for (int c = 1; c < C; c++) if (r.logits[c] > r.logits[P]) P = c;
    if (o.class_arg && (rc = cli_class_index(&r, o.class_arg, &P))) goto done;
    specs = malloc(sizeof *specs * MAX_MAPS);
    if (!specs) { rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
    specs[n++] = (map_spec){ "gradcam", P, -1, 0 };
    if (o.have_target) {
        if (C != 1) { rc = cli_fail(EXIT_USAGE, "--target-value is for single-output (regression) models; this one has %d outputs", C); goto done; }
        specs[n++] = (map_spec){ "regression_contrast", 0, -1, o.target_value };
    }
    if (o.contrast_arg) {
        if (C < 2) { rc = cli_fail(EXIT_USAGE, "--contrast needs a classifier with at least 2 classes; use --target-value for a single output"); goto done; }
        if ((rc = parse_contrast(&r, o.contrast_arg, P, specs, &n, &all))) goto done;
    }
    int nall = all ? C : 0;
    int K = n + nall;
    /* seeds: listed maps, then (for all) the contrast for every Q */
    seeds = calloc((size_t)K * (size_t)C, sizeof(float));
    if (!seeds) { rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
    for (int i = 0; i < n; i++) {
        float *sd = seeds + (size_t)i * (size_t)C;
        if (!strcmp(specs[i].kind, "gradcam")) cc_seed_class(sd, C, specs[i].P);
        else if (!strcmp(specs[i].kind, "contrast")) cc_seed_contrast(sd, r.logits, C, specs[i].Q);
        else sd[0] = 2.0f * (r.logits[0] - specs[i].target);
    }
    for (int q = 0; q < nall; q++) cc_seed_contrast(seeds + (size_t)(n + q) * (size_t)C, r.logits, C, q);
    cc_status st = cc_cam_compute(r.s, layer, r.output, seeds, K, &cam);
    if (st) { rc = cli_fail(cli_status_exit(st), "%s", cc_session_errmsg(r.s)); goto done; }
    int H = r.img_h, W = r.img_w;
    size_t hw = (size_t)H * (size_t)W;
    maps01 = malloc(sizeof(float) * hw * (size_t)K);
    flat = calloc((size_t)K, sizeof(int));
    if (!maps01 || !flat) { rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
    for (int k = 0; k < K; k++)
        flat[k] = cc_map_finish(cam.maps + (size_t)k * (size_t)cam.h * (size_t)cam.w, cam.h, cam.w, maps01 + (size_t)k * hw, H, W);
    /* outputs */
    const char *dir = o.out_dir ? o.out_dir : "out/explain";
    if ((rc = outdir_open(&od, dir))) goto done;
    staged = 1;
    js = open_memstream(&jsbuf, &jslen);
    if (!js) { rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
    cc_tensor_info li;
    cc_model_tensor_info(r.m, layer, &li);
    fputs("{\"model\": ", js); json_str(js, o.model);
    fputs(", \"input\": ", js); json_str(js, o.image ? o.image : o.npy[0]);
    fputs(", \"layer\": ", js); json_str(js, li.name);
    fprintf(js, ", \"layer_shape\": [%lld, %lld, %lld, %lld]", (long long)li.dims[0], (long long)li.dims[1], (long long)li.dims[2], (long long)li.dims[3]);
    fprintf(js, ", \"P\": %d, \"P_label\": ", P);
    if (cli_label(&r, P)) json_str(js, cli_label(&r, P)); else fputs("null", js);
    fprintf(js, ", \"P_prob\": %.6g, \"P_logit\": %.6g, \"top\": ", r.prob[P], r.logits[P]);
    cli_print_top(js, &r, o.top < C ? o.top : C);
    fputs(", \"maps\": [", js);
    for (int i = 0; i < n; i++) {
        char base[256], npy[256], png[256];
        map_name(&specs[i], base, sizeof base);
        if ((rc = write_map(&od, &r, base, maps01 + (size_t)i * hw, H, W, npy, png))) goto done;
        fprintf(js, "%s{\"kind\": \"%s\", \"P\": %d, ", i ? ", " : "", specs[i].kind, specs[i].P);
        if (!strcmp(specs[i].kind, "regression_contrast")) fprintf(js, "\"Q\": null, \"target\": %.6g, \"y\": %.6g, ", specs[i].target, r.logits[0]);
        else if (specs[i].Q >= 0) {
            fprintf(js, "\"Q\": %d, \"Q_label\": ", specs[i].Q);
            if (cli_label(&r, specs[i].Q)) json_str(js, cli_label(&r, specs[i].Q)); else fputs("null", js);
            fprintf(js, ", \"Q_prob\": %.6g, ", r.prob[specs[i].Q]);
        } else fputs("\"Q\": null, ", js);
        fputs("\"npy\": ", js); json_str(js, npy);
        fputs(", \"png\": ", js); json_str(js, png);
        fprintf(js, ", \"flat\": %s}", flat[i] ? "true" : "false");
    }
    fputs("]", js);
    if (nall) {
        /* pixel-wise mean and variance over every Q != P (each map normalised) */
        extra = calloc(hw * 2, sizeof(float));
        double *acc = calloc(hw * 2, sizeof(double));
        float *dist = malloc(sizeof(float) * (size_t)C);
        if (!extra || !acc || !dist) { free(acc); free(dist); rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
        const float *gc = maps01;   /* Grad-CAM(P) is specs[0] */
        int cnt = 0;
        for (int q = 0; q < C; q++) {
            const float *mq = maps01 + (size_t)(n + q) * hw;
            double d = 0;
            for (size_t i = 0; i < hw; i++) { double v = (double)mq[i] - gc[i]; d += v * v; }
            dist[q] = (float)sqrt(d / (double)hw);
            if (q == P) continue;
            cnt++;
            for (size_t i = 0; i < hw; i++) { acc[i] += mq[i]; acc[hw + i] += (double)mq[i] * mq[i]; }
        }
        for (size_t i = 0; i < hw; i++) {
            double mean = cnt ? acc[i] / cnt : 0, var = cnt ? acc[hw + i] / cnt - mean * mean : 0;
            extra[i] = (float)mean;
            extra[hw + i] = (float)(var > 0 ? var : 0);
        }
        free(acc);
        char npy[256], png[256], path[4200], err[512];
        float *show = malloc(sizeof(float) * hw);
        if (!show) { free(dist); rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
        const char *names[2] = { "contrast_mean", "contrast_variance" };
        fprintf(js, ", \"all_contrasts\": {\"count\": %d", cnt);
        for (int a = 0; a < 2 && !rc; a++) {
            /* .npy keeps the raw statistic; the PNG shows it normalised */
            snprintf(npy, sizeof npy, "%s.npy", names[a]);
            int64_t dims[2] = { H, W };
            if (!outdir_path(&od, npy, path, sizeof path)) rc = cli_fail(EXIT_INTERNAL, "out of memory");
            else if (cc_npy_save(path, extra + (size_t)a * hw, dims, 2, err, sizeof err)) rc = cli_fail(EXIT_INPUT, "%s", err);
            memcpy(show, extra + (size_t)a * hw, sizeof(float) * hw);
            int fl;
            cc_minmax_normalize(show, hw, &fl);
            char b2[256], n2[256];
            snprintf(b2, sizeof b2, "%s_display", names[a]);
            if (!rc) rc = write_map(&od, &r, b2, show, H, W, n2, png);
            if (!rc) {
                fprintf(js, ", \"%s\": {\"npy\": ", a ? "variance" : "mean");
                json_str(js, npy);
                fputs(", \"png\": ", js);
                json_str(js, png);
                fputs("}", js);
            }
        }
        free(show);
        if (!rc && o.save_all) {
            int64_t dims[3] = { C, H, W };
            if (!outdir_path(&od, "contrast_all.npy", path, sizeof path)) rc = cli_fail(EXIT_INTERNAL, "out of memory");
            else if (cc_npy_save(path, maps01 + (size_t)n * hw, dims, 3, err, sizeof err)) rc = cli_fail(EXIT_INPUT, "%s", err);
            else fputs(", \"all_npy\": \"contrast_all.npy\"", js);
        }
        if (!rc) {
            /* the most informative contrasts: maps farthest from Grad-CAM(P) (RMS difference) */
            int top = C - 1 < 10 ? C - 1 : 10;
            fputs(", \"most_informative\": [", js);
            unsigned char *used = calloc((size_t)C, 1);
            for (int t = 0; t < top && used; t++) {
                int best = -1;
                for (int q = 0; q < C; q++)
                    if (q != P && !used[q] && (best < 0 || dist[q] > dist[best])) best = q;
                if (best < 0) break;
                used[best] = 1;
                fprintf(js, "%s{\"Q\": %d, \"label\": ", t ? ", " : "", best);
                if (cli_label(&r, best)) json_str(js, cli_label(&r, best)); else fputs("null", js);
                fprintf(js, ", \"rms_diff_from_gradcam\": %.6g}", dist[best]);
            }
            free(used);
            fputs("]}", js);
        }
        free(dist);
        if (rc) goto done;
    }
    fputs("}\n", js);
    fclose(js);
    js = NULL;
    {
        char path[4200];
        if (!outdir_path(&od, "explain.json", path, sizeof path)) { rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(jsbuf, 1, jslen, f) != jslen || fclose(f)) {
            if (f) fclose(f);
            rc = cli_fail(EXIT_INPUT, "cannot write '%s'", path);
            goto done;
        }
    }
    if ((rc = outdir_commit(&od))) { staged = 0; goto done; }
    staged = 0;
    if (o.json) fputs(jsbuf, stdout);
    else fprintf(stderr, "contrastcam: wrote %d map%s to %s/ (see explain.json)\n", n + (nall ? 2 : 0), n + (nall ? 2 : 0) > 1 ? "s" : "", dir);
done:
    if (js) fclose(js);
    free(jsbuf);
    if (staged) outdir_abort(&od);
    cc_cam_free(&cam);
    free(specs);
    free(seeds);
    free(maps01);
    free(flat);
    free(extra);
    cli_run_free(&r);
    return rc;
}
