/* The model input: an image (decoded, resized, normalised with flags or the
 * model's metadata) or a raw float32 NCHW .npy. */
#include "cli.h"
#include "image/image.h"
#include "util/npy.h"
#include "util/labels.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The picture used under overlays: the resized RGB image, or for .npy inputs
 * a gray rendering of the input's channel mean. */
static int picture_from_tensor(cli_run *r, const float *x, int C, int H, int W)
{
    r->rgb = malloc((size_t)H * (size_t)W * 3);
    if (!r->rgb) return cli_fail(EXIT_INTERNAL, "out of memory");
    float lo = 0, hi = 0;
    for (size_t i = 0; i < (size_t)H * (size_t)W; i++) {
        float m = 0;
        for (int c = 0; c < C; c++) m += x[(size_t)c * (size_t)H * (size_t)W + i];
        m /= (float)C;
        if (i == 0 || m < lo) lo = m;
        if (i == 0 || m > hi) hi = m;
    }
    for (size_t i = 0; i < (size_t)H * (size_t)W; i++) {
        float m = 0;
        for (int c = 0; c < C; c++) m += x[(size_t)c * (size_t)H * (size_t)W + i];
        m /= (float)C;
        float v = hi > lo ? (m - lo) / (hi - lo) : 0.5f;
        if (!(v >= 0)) v = 0;
        unsigned char b = (unsigned char)(255.0f * (v > 1 ? 1 : v));
        r->rgb[3 * i] = r->rgb[3 * i + 1] = r->rgb[3 * i + 2] = b;
    }
    r->img_w = W;
    r->img_h = H;
    return 0;
}

static int set_npy(const cli_opts *o, cli_run *r, const char *arg, int *first_done)
{
    const char *eq = strchr(arg, '=');
    const char *file = arg;
    int tensor = cc_model_input(r->m, 0);
    if (eq && cc_model_num_inputs(r->m) > 0) {
        char name[512];
        size_t l = (size_t)(eq - arg);
        if (l < sizeof name) {
            memcpy(name, arg, l);
            name[l] = 0;
            int t = cc_model_find_tensor(r->m, name);
            int is_input = 0;
            for (int i = 0; i < cc_model_num_inputs(r->m); i++) is_input |= cc_model_input(r->m, i) == t;
            if (is_input) { tensor = t; file = eq + 1; }
            else if (t >= 0 || strchr(name, '/') == NULL)
                return cli_fail(EXIT_USAGE, "--input-npy %s: '%s' is not an input of the model", arg, name);
        }
    }
    (void)o;
    cc_npy a;
    char err[512];
    int rc = cc_npy_load(file, &a, err, sizeof err);
    if (rc) return cli_fail(EXIT_INPUT, "%s", err);
    cc_tensor_info ti;
    cc_model_tensor_info(r->m, tensor, &ti);
    int64_t need = 1;
    for (int i = 0; i < ti.rank; i++) need *= ti.dims[i];
    if (a.numel != need) {
        cc_npy_free(&a);
        return cli_fail(EXIT_INPUT, "'%s' holds %lld values; input '%s' needs %lld", file, (long long)a.numel, ti.name, (long long)need);
    }
    for (int64_t i = 0; i < a.numel; i++)
        if (!(a.data[i] == a.data[i]) || a.data[i] > 3.4e38f || a.data[i] < -3.4e38f) {
            cc_npy_free(&a);
            return cli_fail(EXIT_INPUT, "'%s' contains NaN or infinite values", file);
        }
    cc_session_set_input(r->s, tensor, a.data, (size_t)a.numel);
    if (!*first_done && tensor == cc_model_input(r->m, 0) && ti.rank == 4) {
        rc = picture_from_tensor(r, a.data, (int)ti.dims[1], (int)ti.dims[2], (int)ti.dims[3]);
        *first_done = 1;
    }
    cc_npy_free(&a);
    return rc;
}

int cli_prepare_input(const cli_opts *o, cli_run *r)
{
    int in0 = cc_model_input(r->m, 0);
    cc_tensor_info ti;
    if (in0 < 0) return cli_fail(EXIT_INPUT, "the model has no inputs");
    cc_model_tensor_info(r->m, in0, &ti);
    if (ti.rank == 4) { r->in_h = (int)ti.dims[2]; r->in_w = (int)ti.dims[3]; }
    if (o->n_npy) {
        int done = 0;
        for (int i = 0; i < o->n_npy; i++) {
            int rc = set_npy(o, r, o->npy[i], &done);
            if (rc) return rc;
        }
        return 0;
    }
    if (!o->image) return cli_fail(EXIT_USAGE, "no input: give an IMAGE or --input-npy FILE");
    if (cc_model_num_inputs(r->m) != 1) return cli_fail(EXIT_USAGE, "this model has %d inputs; give each with --input-npy NAME=FILE", cc_model_num_inputs(r->m));
    if (ti.rank != 4 || ti.dims[0] != 1 || (ti.dims[1] != 1 && ti.dims[1] != 3))
        return cli_fail(EXIT_USAGE, "input '%s' is not a [1, 1 or 3, H, W] image tensor; use --input-npy", ti.name);
    int C = (int)ti.dims[1];
    /* preprocessing: flags, else metadata, else pixel/255 */
    float mean[3] = { 0, 0, 0 }, std[3] = { 1, 1, 1 };
    int nm = 0, ns = 0;
    const char *mm = cc_model_metadata(r->m, "preprocess.mean"), *ms = cc_model_metadata(r->m, "preprocess.std");
    if (o->n_mean) { nm = o->n_mean; memcpy(mean, o->mean, sizeof(float) * (size_t)(nm > 3 ? 3 : nm)); }
    else if (mm && (nm = cc_parse_floats(mm, mean, 3)) < 0) return cli_fail(EXIT_INPUT, "model metadata preprocess.mean '%s' is malformed", mm);
    if (o->n_std) { ns = o->n_std; memcpy(std, o->std, sizeof(float) * (size_t)(ns > 3 ? 3 : ns)); }
    else if (ms && (ns = cc_parse_floats(ms, std, 3)) < 0) return cli_fail(EXIT_INPUT, "model metadata preprocess.std '%s' is malformed", ms);
    if (nm == 1) mean[1] = mean[2] = mean[0];
    if (ns == 1) std[1] = std[2] = std[0];
    if ((nm && nm != 1 && nm != C) || (ns && ns != 1 && ns != C))
        return cli_fail(EXIT_USAGE, "--mean/--std need 1 or %d values", C);
    for (int c = 0; c < 3; c++)
        if (!(std[c] != 0)) return cli_fail(EXIT_USAGE, "--std values must be non-zero");
    int W = r->in_w, H = r->in_h;
    if (o->size_w) {
        if (o->size_w != W || o->size_h != H)
            return cli_fail(EXIT_USAGE, "--size %dx%d differs from the model's input %dx%d", o->size_w, o->size_h, W, H);
    }
    const char *chan = cc_model_metadata(r->m, "preprocess.channels");
    int gray = o->gray || C == 1 || (chan && !strcmp(chan, "gray"));
    if (gray && C != 1 && o->gray) { /* gray picture replicated into 3 channels */ }
    cc_image img, conv, sized;
    char err[512];
    uint64_t max_pixels;
    int rc = cli_env_limit("CONTRASTCAM_MAX_IMAGE_PIXELS", (uint64_t)CC_IMAGE_MAX_PIXELS, &max_pixels);
    if (rc) return rc;
    rc = cc_image_load_limit(o->image, max_pixels > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)max_pixels, &img, err, sizeof err);
    if (rc) return cli_fail(EXIT_INPUT, "%s", err);
    rc = gray ? cc_image_to_gray(&img, &conv) : cc_image_to_rgb(&img, &conv);
    cc_image_free(&img);
    if (rc) return cli_fail(EXIT_INTERNAL, "out of memory");
    rc = cc_image_resize_bilinear_pil(&conv, W, H, &sized);
    cc_image_free(&conv);
    if (rc) return cli_fail(EXIT_INTERNAL, "cannot resize the image");
    float *x = malloc(sizeof(float) * (size_t)C * (size_t)W * (size_t)H);
    cc_image rgb;
    if (!x || cc_image_to_rgb(&sized, &rgb)) { free(x); cc_image_free(&sized); return cli_fail(EXIT_INTERNAL, "out of memory"); }
    rc = cc_image_to_tensor(&sized, mean, std, C, x);
    cc_image_free(&sized);
    if (!rc) cc_session_set_input(r->s, in0, x, (size_t)C * (size_t)W * (size_t)H);
    free(x);
    r->rgb = rgb.px;
    r->img_w = rgb.w;
    r->img_h = rgb.h;
    if (rc) return cli_fail(EXIT_USAGE, "invalid preprocessing values");
    return 0;
}
