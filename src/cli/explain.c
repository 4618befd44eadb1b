/* contrastcam explain: "Why P?" (Grad-CAM) and "Why P, rather than Q?" maps. */
#include "cli.h"
#include "image/image.h"
#include "outdir.h"
#include "util/npy.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

void cli_print_top(FILE *f, const cli_run *r, int k);

static const char *usage =
    "usage: contrastcam explain MODEL (IMAGE... | FOLDER | LIST.txt | --input-npy [NAME=]FILE)\n"
    "         [--layer NAME]\n"
    "         [--class P] [--contrast Q[,Q...] | --contrast top:K | --contrast all]\n"
    "         [--target-value q] [--out DIR] [--json] [--save-all]\n"
    "         [--labels FILE] [--size WxH] [--mean M] [--std S] [--gray]\n"
    "\n"
    "Writes into DIR (default out/explain), for every map, an overlay PNG (JET\n"
    "heat map added to the image, divided by its max), the map normalised to\n"
    "[0,1] at input resolution as float32 .npy, and explain.json.  Nothing is\n"
    "written unless every file could be made.\n"
    "\n"
    "Several images, a folder of images or a list file (.txt/.lst, one path a\n"
    "line, relative to the list's folder) are explained one after the other with\n"
    "the model loaded once, each into DIR/<image name>/; a progress line goes to\n"
    "stderr when it is a terminal.  A bad input is reported and skipped.\n"
    "\n"
    "  --layer NAME      target tensor (default: the model's gradcam.target metadata,\n"
    "                    else the last activation with spatial extent; see 'layers')\n"
    "  --class P         the class explained (index or label; default: the top class)\n"
    "  --contrast ...    Q classes for \"Why P, rather than Q?\": a list of indices or\n"
    "                    labels (Q = P means \"why not P with 100% confidence?\"),\n"
    "                    top:K = the K most likely classes other than P, or all =\n"
    "                    every Q != P, summarised by the pixel-wise mean and variance\n"
    "                    of the maps and a ranking of the most informative Q (one\n"
    "                    forward, one evaluation of every class's weights; no\n"
    "                    per-Q files unless --save-all)\n"
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

/* The listed maps in order: the contrasts through cc_cam_contrast (on a
 * pooled head their weights come from the forward's softmax pull-back), the
 * others from their seeds; two results are merged row by row. */
static cc_status spec_maps(cli_run *r, int layer, const map_spec *specs, int n, cc_cam *cam)
{
    const int C = r->n_classes;
    int nc = 0;
    for (int i = 0; i < n; i++) nc += !strcmp(specs[i].kind, "contrast");
    int *Q = malloc(sizeof(int) * (size_t)(nc + 1));
    float *seeds = calloc((size_t)(n - nc + 1) * (size_t)C, sizeof(float));
    cc_cam ca = { 0 }, cb = { 0 };
    cc_status st = Q && seeds ? CC_OK : CC_ERR_NOMEM;
    int no = 0;
    for (int i = 0, q = 0; i < n && !st; i++) {
        if (!strcmp(specs[i].kind, "contrast")) { Q[q++] = specs[i].Q; continue; }
        float *sd = seeds + (size_t)no++ * (size_t)C;
        if (!strcmp(specs[i].kind, "gradcam")) cc_seed_class(sd, C, specs[i].P);
        else sd[0] = 2.0f * (r->logits[0] - specs[i].target);
    }
    if (!st && nc) st = cc_cam_contrast(r->s, layer, r->output, Q, nc, nc == n ? cam : &ca);
    if (!st && no) st = cc_cam_compute(r->s, layer, r->output, seeds, no, nc ? &cb : cam);
    if (!st && nc && no) {
        const size_t lhw = (size_t)ca.h * (size_t)ca.w, ch = (size_t)ca.channels;
        *cam = ca;
        cam->K = n;
        cam->maps = malloc(sizeof(float) * lhw * (size_t)n);
        cam->alpha = malloc(sizeof(float) * ch * (size_t)n);
        if (!cam->maps || !cam->alpha) st = CC_ERR_NOMEM;
        for (int i = 0, a = 0, b = 0; i < n && !st; i++) {
            const int isc = !strcmp(specs[i].kind, "contrast"), j = isc ? a++ : b++;
            const cc_cam *src = isc ? &ca : &cb;
            memcpy(cam->maps + (size_t)i * lhw, src->maps + (size_t)j * lhw, sizeof(float) * lhw);
            memcpy(cam->alpha + (size_t)i * ch, src->alpha + (size_t)j * ch, sizeof(float) * ch);
        }
        if (st) cc_cam_free(cam);
    }
    cc_cam_free(&ca);
    cc_cam_free(&cb);
    free(Q);
    free(seeds);
    return st;
}

/* Every map for the input now in the session, written into dir.  *n_written
 * gets the number of maps written. */
static int explain_one(const cli_opts *o, cli_run *r, int layer, const char *dir, const char *input_name, int *n_written)
{
    int rc = 0;
    map_spec *specs = NULL;
    float *maps01 = NULL, *all01 = NULL;
    int *flat = NULL;
    unsigned char *skip = NULL;
    cc_cam cam = { 0 }, allc = { 0 };
    cc_map_stats stats = { 0 };
    outdir od = { 0 };
    int staged = 0, all = 0, n = 0, all_order = CC_CAM_AUTO;
    FILE *js = NULL;
    char *jsbuf = NULL;
    size_t jslen = 0;
    int C = r->n_classes, P = 0;
    for (int c = 1; c < C; c++) if (r->logits[c] > r->logits[P]) P = c;
    if (o->class_arg && (rc = cli_class_index(r, o->class_arg, &P))) goto done;
    specs = malloc(sizeof *specs * MAX_MAPS);
    if (!specs) { rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
    specs[n++] = (map_spec){ "gradcam", P, -1, 0 };
    if (o->have_target) {
        if (C != 1) { rc = cli_fail(EXIT_USAGE, "--target-value is for single-output (regression) models; this one has %d outputs", C); goto done; }
        specs[n++] = (map_spec){ "regression_contrast", 0, -1, o->target_value };
    }
    if (o->contrast_arg) {
        if (C < 2) { rc = cli_fail(EXIT_USAGE, "--contrast needs a classifier with at least 2 classes; use --target-value for a single output"); goto done; }
        if ((rc = parse_contrast(r, o->contrast_arg, P, specs, &n, &all))) goto done;
    }
    /* the listed maps (Grad-CAM, a few contrasts, top:K) */
    cc_status st = spec_maps(r, layer, specs, n, &cam);
    if (st) { rc = cli_fail(cli_status_exit(st), "%s", st == CC_ERR_NOMEM ? "out of memory" : cc_session_errmsg(r->s)); goto done; }
    int H = r->img_h, W = r->img_w;
    size_t hw = (size_t)H * (size_t)W, lhw = (size_t)cam.h * (size_t)cam.w;
    maps01 = malloc(sizeof(float) * hw * (size_t)n);
    flat = calloc((size_t)n, sizeof(int));
    if (!maps01 || !flat) { rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
    for (int k = 0; k < n; k++)
        flat[k] = cc_map_finish(cam.maps + (size_t)k * lhw, cam.h, cam.w, maps01 + (size_t)k * hw, H, W);
    if (all) {
        /* every Q: the Grad-CAM weights of every class in one evaluation (the
         * projected matrix chain where the layers after the target allow it),
         * the contrast weights algebraically, all maps as one matrix product,
         * and mean / variance / distances from the layer-resolution maps */
        skip = calloc((size_t)C, 1);
        if (!skip) { rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
        /* p = NULL: softmax(z), from the forward's pull-back where the head allows */
        if ((st = cc_cam_contrast_all_maps(r->s, layer, r->output, NULL, &allc))) { rc = cli_fail(cli_status_exit(st), "%s", cc_session_errmsg(r->s)); goto done; }
        all_order = cc_cam_last_order(r->s);
        skip[P] = 1;
        if ((st = cc_map_stats_compute(allc.maps, C, allc.h, allc.w, cam.maps, skip, H, W, &stats))) {
            rc = cli_fail(cli_status_exit(st), "cannot summarise the contrastive maps: %s", cc_status_str(st));
            goto done;
        }
    }
    /* outputs */
    if ((rc = outdir_open(&od, dir))) goto done;
    staged = 1;
    js = open_memstream(&jsbuf, &jslen);
    if (!js) { rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
    cc_tensor_info li;
    cc_model_tensor_info(r->m, layer, &li);
    fputs("{\"model\": ", js); json_str(js, o->model);
    fputs(", \"input\": ", js); json_str(js, input_name);
    fputs(", \"layer\": ", js); json_str(js, li.name);
    fprintf(js, ", \"layer_shape\": [%lld, %lld, %lld, %lld]", (long long)li.dims[0], (long long)li.dims[1], (long long)li.dims[2], (long long)li.dims[3]);
    fprintf(js, ", \"P\": %d, \"P_label\": ", P);
    if (cli_label(r, P)) json_str(js, cli_label(r, P)); else fputs("null", js);
    fprintf(js, ", \"P_prob\": %.6g, \"P_logit\": %.6g, \"top\": ", r->prob[P], r->logits[P]);
    cli_print_top(js, r, o->top < C ? o->top : C);
    fputs(", \"maps\": [", js);
    for (int i = 0; i < n; i++) {
        char base[256], npy[256], png[256];
        map_name(&specs[i], base, sizeof base);
        if ((rc = write_map(&od, r, base, maps01 + (size_t)i * hw, H, W, npy, png))) goto done;
        fprintf(js, "%s{\"kind\": \"%s\", \"P\": %d, ", i ? ", " : "", specs[i].kind, specs[i].P);
        if (!strcmp(specs[i].kind, "regression_contrast")) fprintf(js, "\"Q\": null, \"target\": %.6g, \"y\": %.6g, ", specs[i].target, r->logits[0]);
        else if (specs[i].Q >= 0) {
            fprintf(js, "\"Q\": %d, \"Q_label\": ", specs[i].Q);
            if (cli_label(r, specs[i].Q)) json_str(js, cli_label(r, specs[i].Q)); else fputs("null", js);
            fprintf(js, ", \"Q_prob\": %.6g, ", r->prob[specs[i].Q]);
        } else fputs("\"Q\": null, ", js);
        fputs("\"npy\": ", js); json_str(js, npy);
        fputs(", \"png\": ", js); json_str(js, png);
        fprintf(js, ", \"flat\": %s}", flat[i] ? "true" : "false");
    }
    fputs("]", js);
    if (all) {
        /* pixel-wise mean and variance over every Q != P (each map normalised) */
        char npy[256], png[256], path[4200], err[512];
        float *show = malloc(sizeof(float) * hw);
        if (!show) { rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
        const char *names[2] = { "contrast_mean", "contrast_variance" };
        int nflat = 0;
        for (int q = 0; q < C; q++) nflat += q != P && stats.flat[q];
        fprintf(js, ", \"all_contrasts\": {\"count\": %d, \"flat\": %d, \"evaluation\": \"%s\"", stats.count, nflat,
                all_order == CC_CAM_PROJECTED ? "projected" : "backward");
        for (int a = 0; a < 2 && !rc; a++) {
            /* .npy keeps the raw statistic; the PNG shows it normalised */
            const float *v = a ? stats.var : stats.mean;
            snprintf(npy, sizeof npy, "%s.npy", names[a]);
            int64_t dims[2] = { H, W };
            if (!outdir_path(&od, npy, path, sizeof path)) rc = cli_fail(EXIT_INTERNAL, "out of memory");
            else if (cc_npy_save(path, v, dims, 2, err, sizeof err)) rc = cli_fail(EXIT_INPUT, "%s", err);
            memcpy(show, v, sizeof(float) * hw);
            int fl;
            cc_minmax_normalize(show, hw, &fl);
            char b2[256], n2[256];
            snprintf(b2, sizeof b2, "%s_display", names[a]);
            if (!rc) rc = write_map(&od, r, b2, show, H, W, n2, png);
            if (!rc) {
                fprintf(js, ", \"%s\": {\"npy\": ", a ? "variance" : "mean");
                json_str(js, npy);
                fputs(", \"png\": ", js);
                json_str(js, png);
                fputs("}", js);
            }
        }
        free(show);
        if (!rc && o->save_all) {
            /* on request only: every normalised map at picture resolution (C x H x W) */
            int64_t dims[3] = { C, H, W };
            all01 = malloc(sizeof(float) * hw * (size_t)C);
            if (!all01) rc = cli_fail(EXIT_INTERNAL, "out of memory for %d maps of %dx%d", C, H, W);
            for (int q = 0; q < C && !rc; q++)
                cc_map_finish(allc.maps + (size_t)q * lhw, allc.h, allc.w, all01 + (size_t)q * hw, H, W);
            if (rc) { /* reported */ }
            else if (!outdir_path(&od, "contrast_all.npy", path, sizeof path)) rc = cli_fail(EXIT_INTERNAL, "out of memory");
            else if (cc_npy_save(path, all01, dims, 3, err, sizeof err)) rc = cli_fail(EXIT_INPUT, "%s", err);
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
                    if (q != P && !used[q] && (best < 0 || stats.rms[q] > stats.rms[best])) best = q;
                if (best < 0) break;
                used[best] = 1;
                fprintf(js, "%s{\"Q\": %d, \"label\": ", t ? ", " : "", best);
                if (cli_label(r, best)) json_str(js, cli_label(r, best)); else fputs("null", js);
                fprintf(js, ", \"rms_diff_from_gradcam\": %.6g}", stats.rms[best]);
            }
            free(used);
            fputs("]}", js);
        }
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
    if (o->json) fputs(jsbuf, stdout);
    *n_written = n + (all ? 2 : 0);
done:
    if (js) fclose(js);
    free(jsbuf);
    if (staged) outdir_abort(&od);
    cc_cam_free(&cam);
    cc_cam_free(&allc);
    cc_map_stats_free(&stats);
    free(specs);
    free(maps01);
    free(flat);
    free(all01);
    free(skip);
    return rc;
}

/* ---- several inputs: IMAGE IMAGE ..., a folder of images, or a list file -------- */

typedef struct strlist {
    char **v;
    int n, cap;
} strlist;

static int sl_add(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **nv = realloc(l->v, sizeof *nv * (size_t)cap);
        if (!nv) return -1;
        l->v = nv;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s))) return -1;
    l->n++;
    return 0;
}

static void sl_free(strlist *l)
{
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int has_ext(const char *name, const char *const *exts)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    for (int i = 0; exts[i]; i++)
        if (!strcasecmp(dot + 1, exts[i])) return 1;
    return 0;
}

static const char *const image_exts[] = { "png", "jpg", "jpeg", "bmp", "gif", "tga", "ppm", "pgm", "pnm", "psd", "hdr", "pic", NULL };
static const char *const list_exts[] = { "txt", "lst", "list", NULL };

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Expand one positional input into image paths; *expanded = 1 for a folder or list. */
static int expand_input(const char *arg, strlist *out, int *expanded)
{
    struct stat st;
    *expanded = 0;
    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
        DIR *d = opendir(arg);
        if (!d) return cli_fail(EXIT_INPUT, "cannot read folder '%s': %s", arg, strerror(errno));
        strlist names = { 0 };
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.' && has_ext(e->d_name, image_exts) && sl_add(&names, e->d_name)) break;
        closedir(d);
        if (names.n > 1) qsort(names.v, (size_t)names.n, sizeof *names.v, cmp_str);   /* v is NULL when empty */
        char path[4096];
        int rc = 0;
        for (int i = 0; i < names.n && !rc; i++) {
            snprintf(path, sizeof path, "%s/%s", arg, names.v[i]);
            if (sl_add(out, path)) rc = cli_fail(EXIT_INTERNAL, "out of memory");
        }
        if (!rc && names.n == 0) rc = cli_fail(EXIT_INPUT, "folder '%s' holds no images (%s)", arg, "png, jpg, bmp, gif, tga, ppm, pgm, ...");
        sl_free(&names);
        *expanded = 1;
        return rc;
    }
    if (has_ext(arg, list_exts)) {
        FILE *f = fopen(arg, "r");
        if (!f) return cli_fail(EXIT_INPUT, "cannot open list file '%s': %s", arg, strerror(errno));
        /* one path a line; blank lines and # comments skipped; relative paths from the list's folder */
        char line[4096], path[8300], base[4096];
        snprintf(base, sizeof base, "%s", arg);
        char *slash = strrchr(base, '/');
        if (slash) slash[1] = 0; else base[0] = 0;
        int rc = 0, count = 0;
        while (!rc && fgets(line, sizeof line, f)) {
            size_t l = strlen(line);
            while (l && (line[l - 1] == '\n' || line[l - 1] == '\r' || line[l - 1] == ' ' || line[l - 1] == '\t')) line[--l] = 0;
            char *p = line;
            while (*p == ' ' || *p == '\t') p++;
            if (!*p || *p == '#') continue;
            snprintf(path, sizeof path, "%s%s", *p == '/' ? "" : base, p);
            if (sl_add(out, path)) rc = cli_fail(EXIT_INTERNAL, "out of memory");
            count++;
        }
        fclose(f);
        if (!rc && !count) rc = cli_fail(EXIT_INPUT, "list file '%s' names no images", arg);
        *expanded = 1;
        return rc;
    }
    return sl_add(out, arg) ? cli_fail(EXIT_INTERNAL, "out of memory") : 0;
}

/* Output sub-folder for one input of a batch: its file name without extension, made unique. */
static void batch_subdir(const char *dir, const char *input, strlist *used, char *buf, size_t n)
{
    const char *b = strrchr(input, '/');
    b = b ? b + 1 : input;
    char stem[256];
    snprintf(stem, sizeof stem, "%s", b);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = 0;
    for (char *p = stem; *p; p++)
        if (*p == '/' || *p == '\\' || (unsigned char)*p < 32) *p = '_';
    char name[300];
    snprintf(name, sizeof name, "%s", stem[0] ? stem : "input");
    for (int k = 2;; k++) {
        int clash = 0;
        for (int i = 0; i < used->n; i++) clash |= !strcmp(used->v[i], name);
        if (!clash) break;
        snprintf(name, sizeof name, "%s_%d", stem, k);
    }
    sl_add(used, name);
    snprintf(buf, n, "%s/%s", dir, name);
}

/* Load the next input into the loaded model's session and run the forward pass. */
static int next_input(const cli_opts *o, cli_run *r)
{
    free(r->rgb);
    r->rgb = NULL;
    int rc = cli_prepare_input(o, r);
    if (rc) return rc;
    cc_status st = cc_session_forward(r->s);
    if (st) return cli_fail(cli_status_exit(st), "%s", cc_session_errmsg(r->s));
    r->logits = cc_session_value(r->s, r->output, NULL);
    for (int c = 0; c < r->n_classes; c++)
        if (!isfinite(r->logits[c])) return cli_fail(EXIT_INPUT, "the model produced a non-finite output (NaN or Inf in the input?)");
    cc_softmax(r->logits, r->n_classes, r->prob);
    return 0;
}

int cmd_explain(int argc, char **argv)
{
    /* the positional inputs after MODEL: one image (the classic call), or several
     * images, folders and list files, explained one after the other with the
     * model, session and buffers loaded once */
    /* the options that take a value (as src/cli/args.c), so their values are not taken for inputs */
    static const char *const valued[] = { "--layer", "--class", "--contrast", "--out", "--labels", "--input-npy",
                                          "--top", "--target-value", "--size", "--mean", "--std" };
    strlist inputs = { 0 }, used = { 0 };
    int npos = 0, first_pos = -1, batch = 0, rc = 0, help = 0;
    char **argv2 = malloc(sizeof(char *) * ((size_t)argc + 1));
    int argc2 = 0;
    if (!argv2) return cli_fail(EXIT_INTERNAL, "out of memory");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (i == 0) { argv2[argc2++] = argv[i]; continue; }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) help = 1;
        if (a[0] == '-' && a[1] == '-') {
            argv2[argc2++] = argv[i];
            int takes = 0;
            if (!strchr(a, '='))
                for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) takes |= !strcmp(a, valued[k]);
            if (takes && i + 1 < argc) argv2[argc2++] = argv[++i];
            continue;
        }
        if (npos++ == 0) { argv2[argc2++] = argv[i]; continue; }   /* MODEL */
        int expanded = 0;
        if (!help && (rc = expand_input(a, &inputs, &expanded))) goto out;
        batch |= expanded;
        if (first_pos < 0) { first_pos = argc2; argv2[argc2++] = argv[i]; }
    }
    batch |= inputs.n > 1;
    if (batch && inputs.n > 0) argv2[first_pos] = inputs.v[0];
    argv2[argc2] = NULL;
    cli_opts o;
    rc = cli_parse(argc2, argv2, &o, usage, 1);
    if (rc >= 0) goto out;
    rc = 0;
    if (batch && o.n_npy) { rc = cli_fail(EXIT_USAGE, "several inputs (or a folder / list) work with images, not with --input-npy"); goto out; }
    cli_run r;
    int layer = -1;
    const char *dir = o.out_dir ? o.out_dir : "out/explain";
    if (!batch) {
        int nw = 0;
        if (!(rc = cli_load_for(&o, &r, &layer)) &&
            !(rc = explain_one(&o, &r, layer, dir, o.image ? o.image : o.npy[0], &nw)) && !o.json)
            fprintf(stderr, "contrastcam: wrote %d map%s to %s/ (see explain.json)\n", nw, nw > 1 ? "s" : "", dir);
        cli_run_free(&r);
        goto out;
    }
    /* batch: the first input loads the model; a bad input is reported and skipped */
    rc = cli_load_for(&o, &r, &layer);
    int first_ok = rc == 0;
    if (rc && !r.s) { cli_run_free(&r); goto out; }   /* the model, labels or layer, not the input, failed */
    if (!r.prob && !(r.prob = malloc(sizeof(float) * (size_t)r.n_classes))) { rc = cli_fail(EXIT_INTERNAL, "out of memory"); cli_run_free(&r); goto out; }
    struct stat sd;
    if (stat(dir, &sd) != 0 && mkdir(dir, 0777)) { rc = cli_fail(EXIT_INPUT, "cannot create output folder '%s': %s", dir, strerror(errno)); cli_run_free(&r); goto out; }
    int tty = isatty(2), failed = 0, worst = 0, total_maps = 0;
    for (int i = 0; i < inputs.n; i++) {
        /* the progress line shows the input being explained; it is cleared before
         * anything else is printed, so error messages stand on their own lines */
        const char *b = strrchr(inputs.v[i], '/');
        if (tty) {
            fprintf(stderr, "\r\033[Kcontrastcam: explain [%d/%d] %s", i + 1, inputs.n, b ? b + 1 : inputs.v[i]);
            fflush(stderr);
        }
        o.image = inputs.v[i];
        int e = 0;
        if (i > 0) {
            if (tty) fputs("\r\033[K", stderr);
            e = next_input(&o, &r);
            if (tty && !e) fprintf(stderr, "\r\033[Kcontrastcam: explain [%d/%d] %s", i + 1, inputs.n, b ? b + 1 : inputs.v[i]);
        } else if (!first_ok) {
            e = EXIT_INPUT;   /* reported by cli_load_for */
        }
        char sub[4400];
        int nw = 0;
        if (!e) {
            batch_subdir(dir, inputs.v[i], &used, sub, sizeof sub);
            e = explain_one(&o, &r, layer, sub, inputs.v[i], &nw);
        }
        if (e) {
            failed++;
            if (!worst) worst = e;
            if (e == EXIT_USAGE) { worst = e; break; }   /* the same options would fail for every input */
            continue;
        }
        total_maps += nw;
    }
    if (tty) fputs("\r\033[K", stderr);
    if (!o.json || failed)
        fprintf(stderr, "contrastcam: explained %d of %d inputs (%d maps) into %s/<input name>/%s\n", inputs.n - failed, inputs.n,
                total_maps, dir, failed ? "; see the errors above" : "");
    rc = failed ? worst : 0;
    cli_run_free(&r);
out:
    sl_free(&inputs);
    sl_free(&used);
    free(argv2);
    return rc;
}
