/* PIL-exact bilinear resizing (Pillow's libImaging/Resample.c, 8 bits per
 * channel), written from its algorithm:
 *
 *  For each output axis of in -> out samples: scale = in/out (double),
 *  filterscale = max(scale, 1), support = 1.0 * filterscale (the triangle
 *  filter's support, widened when shrinking = antialias), ksize =
 *  2*ceil(support)+1.  Output sample i is centred at (i + 0.5) * scale; it
 *  reads inputs xmin = (int)(center - support + 0.5) clamped at 0, up to
 *  xmax = (int)(center + support + 0.5) clamped at in, with weights
 *  tri((x + xmin - center + 0.5) / filterscale), tri(t) = max(0, 1 - |t|),
 *  divided by their sum.  The weights become fixed point with 22 fractional
 *  bits (round half away from zero), each output is
 *  clip8((2^21 + sum pixel * weight) >> 22), clip8 saturating to 0..255.
 *  The horizontal pass runs first (on the rows the vertical pass needs) into
 *  an 8-bit image, then the vertical pass; a pass whose size does not change
 *  is skipped. */
#include "image/image.h"
#include "ops/op.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)

typedef struct coeffs {
    int ksize;
    int *bounds; /* per output: xmin, count */
    int32_t *k;  /* per output: ksize fixed-point weights */
} coeffs;

static double tri(double x)
{
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static int precompute(int in_size, int out_size, coeffs *c)
{
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    double ksz = ceil(support) * 2 + 1;
    if (ksz > (double)(INT_MAX / 2) || (size_t)out_size > SIZE_MAX / sizeof(double) / (size_t)ksz) return CC_E_LIMIT;
    int ksize = (int)ksz;
    double *kk = malloc((size_t)out_size * (size_t)ksize * sizeof(double));
    c->bounds = malloc((size_t)out_size * 2 * sizeof(int));
    c->k = malloc((size_t)out_size * (size_t)ksize * sizeof(int32_t));
    if (!kk || !c->bounds || !c->k) {
        free(kk);
        free(c->bounds);
        free(c->k);
        c->bounds = NULL;
        c->k = NULL;
        return CC_E_NOMEM;
    }
    c->ksize = ksize;
    double ss = 1.0 / filterscale;
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale;
        double ww = 0.0;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        if (xmax > ksize) xmax = ksize; /* cannot happen; keeps the reads in bounds */
        double *k = &kk[(size_t)xx * (size_t)ksize];
        int x;
        for (x = 0; x < xmax; x++) {
            double w = tri((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0) k[x] /= ww;
        for (; x < ksize; x++) k[x] = 0;
        c->bounds[2 * xx] = xmin;
        c->bounds[2 * xx + 1] = xmax;
    }
    for (size_t i = 0; i < (size_t)out_size * (size_t)ksize; i++)
        c->k[i] = kk[i] < 0 ? (int32_t)(-0.5 + kk[i] * (1 << PRECISION_BITS))
                            : (int32_t)(0.5 + kk[i] * (1 << PRECISION_BITS));
    free(kk);
    return 0;
}

static inline uint8_t clip8(int64_t in)
{
    if (in >= ((int64_t)1 << PRECISION_BITS << 8)) return 255;
    if (in <= 0) return 0;
    return (uint8_t)(in >> PRECISION_BITS);
}

/* out (ow x rows x nc) from rows [y0, y0+rows) of in (iw wide). */
static void horizontal(uint8_t *out, int ow, const uint8_t *in, int iw, int y0, int rows, int nc, const coeffs *c)
{
    for (int yy = 0; yy < rows; yy++) {
        const uint8_t *row = in + (size_t)(y0 + yy) * (size_t)iw * (size_t)nc;
        uint8_t *orow = out + (size_t)yy * (size_t)ow * (size_t)nc;
        for (int xx = 0; xx < ow; xx++) {
            int xmin = c->bounds[2 * xx], xmax = c->bounds[2 * xx + 1];
            const int32_t *k = &c->k[(size_t)xx * (size_t)c->ksize];
            for (int ch = 0; ch < nc; ch++) {
                int64_t ss = (int64_t)1 << (PRECISION_BITS - 1);
                for (int x = 0; x < xmax; x++) ss += (int64_t)row[(size_t)(x + xmin) * (size_t)nc + (size_t)ch] * k[x];
                orow[(size_t)xx * (size_t)nc + (size_t)ch] = clip8(ss);
            }
        }
    }
}

/* out (w x oh) from in (w wide); the bounds are relative to in's first row. */
static void vertical(uint8_t *out, int oh, const uint8_t *in, int w, int nc, const coeffs *c, int shift)
{
    size_t stride = (size_t)w * (size_t)nc;
    for (int yy = 0; yy < oh; yy++) {
        int ymin = c->bounds[2 * yy] - shift, ymax = c->bounds[2 * yy + 1];
        const int32_t *k = &c->k[(size_t)yy * (size_t)c->ksize];
        uint8_t *orow = out + (size_t)yy * stride;
        for (size_t i = 0; i < stride; i++) {
            int64_t ss = (int64_t)1 << (PRECISION_BITS - 1);
            for (int y = 0; y < ymax; y++) ss += (int64_t)in[(size_t)(y + ymin) * stride + i] * k[y];
            orow[i] = clip8(ss);
        }
    }
}

int cc_image_resize_bilinear_pil(const cc_image *src, int w, int h, cc_image *dst)
{
    if (!dst) return CC_E_ARG;
    dst->w = dst->h = dst->c = 0;
    dst->px = NULL;
    if (!src || !src->px || (src->c != 1 && src->c != 3 && src->c != 4) || src->w <= 0 || src->h <= 0 || w <= 0 ||
        h <= 0)
        return CC_E_ARG;
    int nc = src->c;
    int need_h = w != src->w, need_v = h != src->h;
    coeffs ch = {0}, cv = {0};
    int rc = cc_image_alloc(dst, w, h, nc); /* first: it refuses absurd sizes */
    if (!rc) rc = precompute(src->w, w, &ch);
    if (!rc) rc = precompute(src->h, h, &cv);
    uint8_t *tmp = NULL;
    if (!rc) {
        /* Rows of the source that the vertical pass reads. */
        int yfirst = need_v ? cv.bounds[0] : 0;
        int ylast = need_v ? cv.bounds[2 * h - 2] + cv.bounds[2 * h - 1] : src->h;
        if (need_h && need_v) {
            tmp = malloc((size_t)w * (size_t)(ylast - yfirst) * (size_t)nc);
            if (!tmp) rc = CC_E_NOMEM;
            else {
                horizontal(tmp, w, src->px, src->w, yfirst, ylast - yfirst, nc, &ch);
                vertical(dst->px, h, tmp, w, nc, &cv, yfirst);
            }
        } else if (need_h) {
            horizontal(dst->px, w, src->px, src->w, 0, h, nc, &ch);
        } else if (need_v) {
            vertical(dst->px, h, src->px, w, nc, &cv, 0);
        } else {
            memcpy(dst->px, src->px, (size_t)w * (size_t)h * (size_t)nc);
        }
    }
    free(tmp);
    free(ch.bounds);
    free(ch.k);
    free(cv.bounds);
    free(cv.k);
    if (rc) cc_image_free(dst);
    return rc;
}
