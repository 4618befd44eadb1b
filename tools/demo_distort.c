/* demo_distort: makes the image pair of make demo's quality example.
 *
 *   demo_distort IN MAXSIDE JPEG_QUALITY REF.png DIST.png
 *
 * Scales IN (PIL-exact bilinear) so its long side is at most MAXSIDE, writes
 * it as REF.png, and writes DIST.png: the same image after JPEG compression at
 * JPEG_QUALITY (1-100), one of the distortions the shipped quality model was
 * trained on (models/README.md). */
#include "image/image.h"

#include <stb_image_write.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { unsigned char *p; size_t n, cap; int failed; } membuf;

static void mem_write(void *ctx, void *data, int size)
{
    membuf *m = ctx;
    if (m->failed || size <= 0) return;
    if (m->n + (size_t)size > m->cap) {
        size_t cap = (m->cap ? m->cap * 2 : 65536) + (size_t)size;
        unsigned char *p = realloc(m->p, cap);
        if (!p) { m->failed = 1; return; }
        m->p = p;
        m->cap = cap;
    }
    memcpy(m->p + m->n, data, (size_t)size);
    m->n += (size_t)size;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: demo_distort IN MAXSIDE JPEG_QUALITY REF.png DIST.png\n");
        return 2;
    }
    int maxside = atoi(argv[2]), quality = atoi(argv[3]);
    if (maxside < 33 || quality < 1 || quality > 100) {
        fprintf(stderr, "demo_distort: MAXSIDE must be > 32 and JPEG_QUALITY in 1..100\n");
        return 2;
    }
    char err[256];
    cc_image in = { 0 }, rgb = { 0 }, ref = { 0 }, dist = { 0 };
    if (cc_image_load(argv[1], &in, err, sizeof err) || cc_image_to_rgb(&in, &rgb)) {
        fprintf(stderr, "demo_distort: %s: %s\n", argv[1], err);
        return 3;
    }
    int w = rgb.w, h = rgb.h;
    if (w > maxside || h > maxside) {
        double s = (double)maxside / (w > h ? w : h);
        w = (int)(w * s + 0.5);
        h = (int)(h * s + 0.5);
    }
    membuf m = { 0 };
    int rc = 1;
    if (cc_image_resize_bilinear_pil(&rgb, w, h, &ref)) { fprintf(stderr, "demo_distort: resize failed\n"); goto out; }
    if (!stbi_write_jpg_to_func(mem_write, &m, ref.w, ref.h, 3, ref.px, quality) || m.failed) {
        fprintf(stderr, "demo_distort: JPEG encoding failed\n");
        goto out;
    }
    if (cc_image_load_memory(m.p, m.n, &dist, err, sizeof err)) { fprintf(stderr, "demo_distort: %s\n", err); goto out; }
    if (cc_image_save_png(argv[4], &ref, err, sizeof err) || cc_image_save_png(argv[5], &dist, err, sizeof err)) {
        fprintf(stderr, "demo_distort: %s\n", err);
        goto out;
    }
    rc = 0;
out:
    free(m.p);
    cc_image_free(&in);
    cc_image_free(&rgb);
    cc_image_free(&ref);
    cc_image_free(&dist);
    return rc;
}
