/* contrastcam figure: the published figure for one image, as one PNG —
 * input, "Why P?", a representative image of Q, "Why P, rather than Q?" for
 * the most likely alternatives, "Why not P with 100% confidence?", and the
 * pixel-wise mean and variance of all contrastive maps. */
#include "cli.h"
#include "image/draw.h"
#include "image/image.h"

#include <stdlib.h>
#include <string.h>


static const char *usage =
    "usage: contrastcam figure MODEL IMAGE [--out FILE.png] [--class P] [--contrast Q[,Q...] | top:K]\n"
    "         [--q-image FILE] [--title TEXT] [--panel PX] [--font FILE.ttf] [--layer NAME]\n"
    "         [--labels FILE] [--size WxH] [--mean M] [--std S] [--gray]\n"
    "\n"
    "Draws the figure of the paper for one image: the input, Grad-CAM \"Why P?\",\n"
    "a representative image of the first Q (--q-image, optional), \"Why P, rather\n"
    "than Q?\" for each Q (default: top:3, the three most likely alternatives),\n"
    "\"Why not P with 100% confidence?\", and the pixel-wise mean and variance of\n"
    "the contrastive maps over every Q != P (each shown normalised to [0,1]).\n"
    "Panels are PX pixels square (default 224), captions below each panel.\n"
    "\n"
    "example:\n"
    "  contrastcam figure mobilenet_v2_imagenet.onnx cat_dog.png --contrast boxer --out fig.png\n";

static char *title_of(const char *path)
{
    const char *b = strrchr(path, '/');
    return strdup(b ? b + 1 : path);
}

int cmd_figure(int argc, char **argv)
{
    /* figure-only options are taken out before the shared parser sees the rest */
    const char *out = "figure.png", *qimg = NULL, *title = NULL, *font_path = CC_FONT_DEFAULT;
    int panel = 224;
    char **args = malloc(sizeof(char *) * (size_t)(argc + 1));
    if (!args) return cli_fail(EXIT_INTERNAL, "out of memory");
    int na = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--q-image") && has) qimg = argv[++i];
        else if (!strcmp(a, "--title") && has) title = argv[++i];
        else if (!strcmp(a, "--font") && has) font_path = argv[++i];
        else if (!strcmp(a, "--out") && has && i > 0) out = argv[++i];
        else if (!strcmp(a, "--panel") && has) {
            panel = atoi(argv[++i]);
            if (panel < 32 || panel > 2048) { free(args); return cli_fail(EXIT_USAGE, "--panel needs a size between 32 and 2048"); }
        } else args[na++] = argv[i];
    }
    args[na] = NULL;
    cli_opts o;
    int rc = cli_parse(na, args, &o, usage, 1);
    free(args);
    if (rc >= 0) return rc;
    if (!o.image) return cli_fail(EXIT_USAGE, "figure needs an IMAGE");
    size_t ol = strlen(out);
    if (ol < 5 || strcmp(out + ol - 4, ".png")) return cli_fail(EXIT_USAGE, "--out must name a .png file");
    cc_font *font = NULL;
    char err[512];
    if (cc_font_load(font_path, &font, err, sizeof err)) return cli_fail(EXIT_INPUT, "%s", err);
    cli_run r;
    cc_cam cam = { 0 }, gc = { 0 }, all = { 0 };
    cc_map_stats stats = { 0 };
    float *seeds = NULL, *maps = NULL;
    unsigned char *skip = NULL;
    int *qs = NULL;
    cc_image canvas = { 0 }, base = { 0 }, qpic = { 0 };
    char *autotitle = NULL;
    int layer = -1;
    if ((rc = cli_load_for(&o, &r, &layer))) goto done;
    int C = r.n_classes;
    if (C < 2) { rc = cli_fail(EXIT_USAGE, "figure needs a classifier with at least 2 classes"); goto done; }
    int P = 0;
    for (int c = 1; c < C; c++) if (r.logits[c] > r.logits[P]) P = c;
    if (o.class_arg && (rc = cli_class_index(&r, o.class_arg, &P))) goto done;
    /* the Q columns */
    qs = malloc(sizeof(int) * (size_t)(C + 1));   /* and P after them */
    if (!qs) { rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
    int nq = 0;
    const char *ca = o.contrast_arg ? o.contrast_arg : "top:3";
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", ca);
    for (char *tok = strtok(buf, ","); tok && nq < 8; tok = strtok(NULL, ",")) {
        if (!strncmp(tok, "top:", 4)) {
            int k = atoi(tok + 4);
            if (k < 1) { rc = cli_fail(EXIT_USAGE, "--contrast top:K needs a positive K"); goto done; }
            int *idx = malloc(sizeof(int) * (size_t)C);
            if (!idx) { rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
            cli_top(&r, idx, C);
            for (int i = 0, t = 0; i < C && t < k && nq < 8; i++)
                if (idx[i] != P) {
                    int dup = 0;
                    for (int j = 0; j < nq; j++) dup |= qs[j] == idx[i];
                    if (!dup) qs[nq++] = idx[i];
                    t++;
                }
            free(idx);
        } else {
            int q;
            if ((rc = cli_class_index(&r, tok, &q))) goto done;
            int dup = q == P;
            for (int j = 0; j < nq; j++) dup |= qs[j] == q;
            if (!dup) qs[nq++] = q;
        }
    }
    /* Grad-CAM(P); the chosen contrasts and Q = P in one cc_cam_contrast; every
     * contrast's map for the mean and variance, as explain --contrast all makes
     * them (one product, then the statistics at panel size from the layer maps) */
    qs[nq] = P;
    cc_status st = CC_OK;
    seeds = calloc((size_t)C, sizeof(float));
    skip = calloc((size_t)C, 1);
    if (!seeds || !skip) { rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
    cc_seed_class(seeds, C, P);
    skip[P] = 1;
    if ((st = cc_cam_compute(r.s, layer, r.output, seeds, 1, &gc)) ||
        (st = cc_cam_contrast(r.s, layer, r.output, qs, nq + 1, &cam)) ||
        (st = cc_cam_contrast_all_maps(r.s, layer, r.output, NULL, &all))) {   /* p = softmax(z) */
        rc = cli_fail(cli_status_exit(st), "%s", cc_session_errmsg(r.s));
        goto done;
    }
    if ((st = cc_map_stats_compute(all.maps, C, all.h, all.w, gc.maps, skip, panel, panel, &stats))) {
        rc = cli_fail(cli_status_exit(st), "cannot summarise the contrastive maps: %s", cc_status_str(st));
        goto done;
    }
    size_t hw = (size_t)panel * (size_t)panel, lhw = (size_t)cam.h * (size_t)cam.w;
    /* maps: Grad-CAM, the nq chosen Q, Q = P (the mean and variance stay in stats) */
    maps = malloc(sizeof(float) * hw * (size_t)(nq + 2));
    if (!maps) { rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
    /* a flat map (no positive evidence at this layer) is drawn empty: say so in its caption */
    const int flat_P = cc_map_finish(gc.maps, gc.h, gc.w, maps, panel, panel);
    int flat_PP = 0;
    for (int k = 0; k <= nq; k++) {
        int flat = cc_map_finish(cam.maps + (size_t)k * lhw, cam.h, cam.w, maps + (size_t)(1 + k) * hw, panel, panel);
        if (k == nq) flat_PP = flat;
    }
    const char *FLAT = " (flat: no positive evidence)";
    float *mean = stats.mean, *var = stats.var;
    cc_minmax_normalize(mean, hw, NULL);
    cc_minmax_normalize(var, hw, NULL);
    /* the picture under the maps, at panel size */
    cc_image small = { r.img_w, r.img_h, 3, r.rgb };
    if (cc_image_resize_bilinear_pil(&small, panel, panel, &base)) { rc = cli_fail(EXIT_INTERNAL, "cannot resize"); goto done; }
    if (qimg) {
        cc_image raw, rgb;
        if (cc_image_load(qimg, &raw, err, sizeof err)) { rc = cli_fail(EXIT_INPUT, "%s", err); goto done; }
        int e2 = cc_image_to_rgb(&raw, &rgb);
        cc_image_free(&raw);
        if (e2 || cc_image_resize_bilinear_pil(&rgb, panel, panel, &qpic)) { cc_image_free(&rgb); rc = cli_fail(EXIT_INTERNAL, "cannot resize the Q image"); goto done; }
        cc_image_free(&rgb);
    }
    /* layout: one row of panels with captions */
    int npanels = 2 + (qimg ? 1 : 0) + nq + 3, gap = panel / 16, cap_px = panel / 11.0f < 12 ? 12 : panel / 11;
    int cap_h = (int)(cap_px * 1.25f) * 3 + gap;
    int W = npanels * panel + (npanels + 1) * gap, H = panel + cap_h + 2 * gap;
    if (cc_image_alloc(&canvas, W, H, 3)) { rc = cli_fail(EXIT_INTERNAL, "out of memory"); goto done; }
    memset(canvas.px, 255, (size_t)W * (size_t)H * 3);
    const uint8_t black[3] = { 0, 0, 0 };
    const char *pl = cli_label(&r, P);
    char pname[160], caption[512];
    if (pl) snprintf(pname, sizeof pname, "%s", pl); else snprintf(pname, sizeof pname, "class %d", P);
    int x = gap, y = gap;
    if (!title) title = autotitle = title_of(o.image);
    #define PANEL(img, ...) do { cc_paste(&canvas, (img), x, y); snprintf(caption, sizeof caption, __VA_ARGS__); \
        cc_draw_caption(&canvas, font, caption, (float)cap_px, x, y + panel + gap / 2, panel, black); x += panel + gap; } while (0)
    cc_image ov;
    PANEL(&base, "%s: %s (%.0f%%)", title, pname, 100.0 * r.prob[P]);
    if (cc_overlay(maps, &base, &ov)) { rc = cli_fail(EXIT_INTERNAL, "overlay failed"); goto done; }
    PANEL(&ov, "Grad-CAM: Why %s?%s", pname, flat_P ? FLAT : "");
    cc_image_free(&ov);
    if (qimg) {
        const char *ql = cli_label(&r, qs[0]);
        PANEL(&qpic, "Representative %s image", ql ? ql : "Q");
    }
    for (int i = 0; i < nq; i++) {
        const char *ql = cli_label(&r, qs[i]);
        char qn[160];
        if (ql) snprintf(qn, sizeof qn, "%s", ql); else snprintf(qn, sizeof qn, "class %d", qs[i]);
        if (cc_overlay(maps + (size_t)(1 + i) * hw, &base, &ov)) { rc = cli_fail(EXIT_INTERNAL, "overlay failed"); goto done; }
        PANEL(&ov, "Why %s, rather than %s? (%.0f%%)", pname, qn, 100.0 * r.prob[qs[i]]);
        cc_image_free(&ov);
    }
    if (cc_overlay(maps + (size_t)(1 + nq) * hw, &base, &ov)) { rc = cli_fail(EXIT_INTERNAL, "overlay failed"); goto done; }
    PANEL(&ov, "Why not %s with 100%% confidence?%s", pname, flat_PP ? FLAT : "");
    cc_image_free(&ov);
    if (cc_overlay(mean, &base, &ov)) { rc = cli_fail(EXIT_INTERNAL, "overlay failed"); goto done; }
    if (C > 2) PANEL(&ov, "Mean of all %d contrastive maps", C - 1);
    else PANEL(&ov, "Mean of the contrastive maps (one Q)");
    cc_image_free(&ov);
    if (cc_overlay(var, &base, &ov)) { rc = cli_fail(EXIT_INTERNAL, "overlay failed"); goto done; }
    if (C > 2) PANEL(&ov, "Variance of all %d contrastive maps", C - 1);
    else PANEL(&ov, "Variance of the contrastive maps (one Q: zero)");
    cc_image_free(&ov);
    #undef PANEL
    if (cc_image_save_png(out, &canvas, err, sizeof err)) { rc = cli_fail(EXIT_INPUT, "%s", err); goto done; }
    fprintf(stderr, "contrastcam: wrote %s (%dx%d)\n", out, W, H);
done:
    free(autotitle);
    cc_image_free(&canvas);
    cc_image_free(&base);
    cc_image_free(&qpic);
    cc_cam_free(&cam);
    cc_cam_free(&gc);
    cc_cam_free(&all);
    cc_map_stats_free(&stats);
    free(seeds);
    free(skip);
    free(maps);
    free(qs);
    cc_font_free(font);
    if (o.model) cli_run_free(&r);
    return rc;
}
