/* What each fuzz harness does with one input.  Shared by the libFuzzer
 * harnesses (fuzz/fuzz_*.c, built by `make fuzz`) and by the regression test
 * tests/test_regress.c, which replays every input kept under tests/regress/
 * through the same code in the normal and the sanitizer builds.
 *
 * Contract checked here (a violation calls abort(), which both the fuzzer and
 * the test report): every rejected input comes with a non-empty, one-line
 * message; accepted values are self-consistent.  Memory errors are for the
 * sanitizers to find. */
#include "contrastcam.h"
#include "image/image.h"
#include "util/labels.h"
#include "util/npy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Larger graphs are loaded but not run, so one input stays fast. */
#define FUZZ_MAX_RUN_ELEMS (1 << 18)
/* Images above this are refused, so one input stays fast (the default limit
 * is checked by the same code path). */
#define FUZZ_MAX_PIXELS ((int64_t)1 << 22)
#define FUZZ_MAX_RESIZE ((int64_t)1 << 18)

/* each harness uses one target; the regression test uses all four */
#if defined(__GNUC__)
#define FUZZ_TARGET static __attribute__((unused))
#else
#define FUZZ_TARGET static
#endif

static volatile float fuzz_sink;

static void fuzz_require(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz contract violated: %s\n", what);
        abort();
    }
}

static void fuzz_check_msg(const char *msg)
{
    fuzz_require(msg && *msg, "failure without a message");
    fuzz_require(!strchr(msg, '\n'), "message spans several lines");
}

/* Load; when the model loaded and is small, run it forward on a constant
 * input and backward from output 0 to every graph input (K = 2). */
FUZZ_TARGET void fuzz_onnx(const uint8_t *data, size_t size)
{
    cc_model *m = NULL;
    /* a folder that does not exist: external-data references must fail cleanly */
    /* small limits: load-time constant folding of a 2 GiB tensor is allowed by
     * the defaults, but makes one input take seconds and gigabytes */
    cc_limits lim;
    cc_limits_default(&lim);
    lim.max_tensor_bytes = (uint64_t)16 << 20;
    lim.max_total_bytes = (uint64_t)64 << 20;
    lim.max_nodes = 4096;
    cc_status st = cc_model_load_buffer_ex(data, size, "/nonexistent-contrastcam-fuzz", &lim, &m);
    if (st != CC_OK) {
        fuzz_check_msg(cc_model_errmsg(m));
        cc_model_free(m);
        return;
    }
    int64_t total = 0;
    for (int t = 0; t < cc_model_num_tensors(m); t++) {
        cc_tensor_info ti;
        fuzz_require(cc_model_tensor_info(m, t, &ti) == CC_OK, "tensor_info of a valid index failed");
        fuzz_require(ti.rank >= 0 && ti.rank <= CC_MAX_RANK, "rank out of range");
        int64_t n = 1;
        for (int i = 0; i < ti.rank; i++) {
            fuzz_require(ti.dims[i] >= 0, "negative dimension in a loaded model");
            n = ti.dims[i] && n > FUZZ_MAX_RUN_ELEMS / ti.dims[i] ? FUZZ_MAX_RUN_ELEMS + 1 : n * ti.dims[i];
        }
        if (!ti.is_const) total += n;
        if (total > FUZZ_MAX_RUN_ELEMS) break;
    }
    (void)cc_default_layer(m);
    cc_session *s = NULL;
    if (total <= FUZZ_MAX_RUN_ELEMS && cc_session_new(m, &s) == CC_OK) {
        int ok = 1;
        for (int i = 0; i < cc_model_num_inputs(m) && ok; i++) {
            int t = cc_model_input(m, i);
            cc_tensor_info ti;
            cc_model_tensor_info(m, t, &ti);
            size_t n = 1;
            for (int k = 0; k < ti.rank; k++) n *= (size_t)ti.dims[k];
            float *x = malloc(n ? n * sizeof(float) : 1);
            if (!x) { ok = 0; break; }
            for (size_t k = 0; k < n; k++) x[k] = (float)((k * 37) % 17) / 8.0f - 1.0f;
            ok = cc_session_set_input(s, t, x, n) == CC_OK;
            free(x);
        }
        if (ok && cc_session_forward(s) == CC_OK && cc_model_num_outputs(m) > 0) {
            int out = cc_model_output(m, 0);
            size_t n = 0;
            const float *y = cc_session_value(s, out, &n);
            if (y && n && n <= FUZZ_MAX_RUN_ELEMS) {
                float *seed = malloc(2 * n * sizeof(float)), *y0 = malloc(n * sizeof(float));
                int targets[64], nt = 0;
                for (int i = 0; i < cc_model_num_inputs(m) && nt < 64; i++) targets[nt++] = cc_model_input(m, i);
                if (seed) {
                    for (size_t k = 0; k < 2 * n; k++) seed[k] = k % 3 ? 1.0f : -0.5f;
                    if (cc_session_backward(s, out, seed, 2, targets, nt) != CC_OK)
                        fuzz_check_msg(cc_session_errmsg(s));
                }
                /* the memory-saving mode (shared buffers, fused Conv -> Relu / Clip)
                 * must give the same output bit for bit, then a backward to the layer */
                int layer = cc_default_layer(m);
                if (y0 && layer >= 0) {
                    memcpy(y0, y, n * sizeof(float));
                    if (cc_session_keep(s, &layer, 1) == CC_OK) {
                        if (cc_session_forward(s) == CC_OK) {
                            size_t n2 = 0;
                            const float *y2 = cc_session_value(s, out, &n2);
                            fuzz_require(y2 && n2 == n && memcmp(y0, y2, n * sizeof(float)) == 0,
                                         "cc_session_keep changed the output");
                            if (seed && cc_session_backward(s, out, seed, 2, &layer, 1) != CC_OK)
                                fuzz_check_msg(cc_session_errmsg(s));
                        } else {
                            fuzz_check_msg(cc_session_errmsg(s));
                        }
                    } else {
                        fuzz_check_msg(cc_session_errmsg(s));
                    }
                }
                free(y0);
                free(seed);
            }
        } else if (ok) {
            fuzz_check_msg(cc_session_errmsg(s));
        }
    }
    cc_session_free(s);
    cc_model_free(m);
}

/* Decode with a small pixel limit; convert, resize to a size taken from the
 * input length, make the input tensor, and round-trip through the PNG encoder. */
FUZZ_TARGET void fuzz_image(const uint8_t *data, size_t size)
{
    cc_image img, rgb, gray, sized, back;
    char err[512] = "";
    int rc = cc_image_load_memory_limit(data, size, FUZZ_MAX_PIXELS, &img, err, sizeof err);
    if (rc) {
        fuzz_check_msg(err);
        fuzz_require(!img.px, "failed decode left pixels behind");
        return;
    }
    fuzz_require(img.px && img.w > 0 && img.h > 0 && (img.c == 1 || img.c == 3 || img.c == 4), "bad decoded image");
    /* resizing is exercised on images up to FUZZ_MAX_RESIZE pixels: above
     * that one input would take seconds (legitimate work, not a finding) */
    if ((int64_t)img.w * img.h > FUZZ_MAX_RESIZE) {
        cc_image_free(&img);
        return;
    }
    if (cc_image_to_rgb(&img, &rgb) == 0) {
        int w = 1 + (int)(size * 7 % 97), h = 1 + (int)(size * 13 % 89);
        if (cc_image_resize_bilinear_pil(&rgb, w, h, &sized) == 0) {
            float *x = malloc(sizeof(float) * 3 * (size_t)w * (size_t)h);
            const float mean[3] = { 0.485f, 0.456f, 0.406f }, sd[3] = { 0.229f, 0.224f, 0.225f };
            if (x) fuzz_require(cc_image_to_tensor(&sized, mean, sd, 3, x) == 0, "to_tensor failed");
            free(x);
            unsigned char *png = NULL;
            size_t n = 0;
            if (cc_image_encode_png(&sized, &png, &n, err, sizeof err) == 0) {
                fuzz_require(cc_image_load_memory(png, n, &back, err, sizeof err) == 0, "our own PNG does not decode");
                fuzz_require(back.w == w && back.h == h && back.c == 3 && !memcmp(back.px, sized.px, (size_t)w * (size_t)h * 3),
                             "PNG round trip changed the image");
                cc_image_free(&back);
            }
            free(png);
            cc_image_free(&sized);
        }
        cc_image_free(&rgb);
    }
    if (cc_image_to_gray(&img, &gray) == 0) {
        if (cc_image_resize_bilinear_pil(&gray, 1 + img.w / 3, 1 + img.h * 2, &sized) == 0) cc_image_free(&sized);
        cc_image_free(&gray);
    }
    cc_image_free(&img);
}

FUZZ_TARGET void fuzz_npy(const uint8_t *data, size_t size)
{
    cc_npy a;
    char err[512] = "";
    int rc = cc_npy_load_buffer(data, size, &a, err, sizeof err);
    if (rc) {
        fuzz_check_msg(err);
        fuzz_require(!a.data, "failed load left data behind");
        return;
    }
    int64_t n = 1;
    for (int i = 0; i < a.ndim; i++) {
        fuzz_require(a.dims[i] >= 0 && a.dims[i] <= INT32_MAX, "dimension out of range");
        if (a.dims[i] == 0) { n = 0; break; }
        n *= a.dims[i];   /* no overflow: non-zero dims multiply to the checked element count */
    }
    fuzz_require(a.data && n == a.numel, "element count does not match the shape");
    float sum = 0;
    for (int64_t i = 0; i < a.numel; i++) sum += a.data[i];   /* touch every value */
    fuzz_sink = sum;
    cc_npy_free(&a);
}

/* The input is split at the first two NUL bytes into: label text, a query
 * (class name), and a float list as in preprocess.mean. */
FUZZ_TARGET void fuzz_labels(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 3);
    if (!buf) return;
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = buf[size + 2] = 0;
    const char *text = buf;
    const char *query = text + strlen(text) + 1;
    if (query > buf + size) query = buf + size + 1;
    const char *floats = query + strlen(query) + 1;
    if (floats > buf + size + 1) floats = buf + size + 2;
    char **labels = NULL;
    int n = cc_labels_split(text, &labels);
    if (n >= 0) {
        for (int i = 0; i < n; i++) fuzz_require(!strchr(labels[i], '\n'), "a label holds a newline");
        int first, count;
        int c = cc_label_find(labels, n, query, &first, &count);
        fuzz_require(c >= -2 && c < n, "label index out of range");
        if (c == -2) fuzz_require(first >= 0 && first < n && count > 1, "ambiguous match without candidates");
        if (n > 0) (void)cc_label_matches(labels[0], query, 1);
        cc_labels_free(labels, n);
    }
    float v[4];
    int k = cc_parse_floats(floats, v, 4);
    fuzz_require(k >= -1 && k <= 4, "float count out of range");
    free(buf);
}
