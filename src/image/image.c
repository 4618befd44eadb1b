/* Image decoding (stb_image), conversions, the input tensor and PNG writing.
 * See image.h. */
#include "image/image.h"
#include "ops/op.h"
#include "util/fileio.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>
#include <stb_image_write.h>

/* No image buffer above 16 GiB (far above the 100-megapixel load limit). */
#define CC_IMAGE_MAX_BYTES ((size_t)1 << 34)

static int img_err(char *err, size_t errlen, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static int img_err(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        cc_msg_oneline(err);
    }
    return code;
}

/* w*h*c as size_t, or 0 if any is out of range or the product overflows. */
static size_t img_bytes(int w, int h, int c)
{
    if (w <= 0 || h <= 0 || c <= 0) return 0;
    size_t n = (size_t)w;
    if (n > SIZE_MAX / (size_t)h) return 0;
    n *= (size_t)h;
    if (n > SIZE_MAX / (size_t)c) return 0;
    return n * (size_t)c;
}

int cc_image_alloc(cc_image *img, int w, int h, int c)
{
    if (!img) return CC_E_ARG;
    img->w = img->h = img->c = 0;
    img->px = NULL;
    if (c != 1 && c != 3 && c != 4) return CC_E_ARG;
    size_t n = img_bytes(w, h, c);
    if (!n) return CC_E_ARG;
    if (n > CC_IMAGE_MAX_BYTES) return CC_E_LIMIT;
    img->px = calloc(n, 1);
    if (!img->px) return CC_E_NOMEM;
    img->w = w;
    img->h = h;
    img->c = c;
    return 0;
}

void cc_image_free(cc_image *img)
{
    if (!img) return;
    free(img->px);
    img->px = NULL;
    img->w = img->h = img->c = 0;
}

static int valid(const cc_image *img)
{
    return img && img->px && (img->c == 1 || img->c == 3 || img->c == 4) && img_bytes(img->w, img->h, img->c);
}

/* ---- decoding ------------------------------------------------------------- */

enum { FMT_UNKNOWN, FMT_PNG, FMT_JPEG, FMT_BMP };
static const char *const fmt_name[] = {"image", "PNG", "JPEG", "BMP"};

static int sniff(const unsigned char *b, size_t n)
{
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return FMT_PNG;
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return FMT_JPEG;
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return FMT_BMP;
    return FMT_UNKNOWN;
}

/* Width and height from a PNG or BMP header (stb_image refuses some very
 * large images with a generic error, so the limit is checked here first).
 * Returns 1 when known. */
static int peek_size(int fmt, const unsigned char *b, size_t n, int64_t *w, int64_t *h)
{
    if (fmt == FMT_PNG && n >= 24 && memcmp(b + 12, "IHDR", 4) == 0) {
        *w = (int64_t)b[16] << 24 | (int64_t)b[17] << 16 | (int64_t)b[18] << 8 | b[19];
        *h = (int64_t)b[20] << 24 | (int64_t)b[21] << 16 | (int64_t)b[22] << 8 | b[23];
        return 1;
    }
    if (fmt == FMT_BMP && n >= 26) {
        uint32_t hsz = (uint32_t)b[14] | (uint32_t)b[15] << 8 | (uint32_t)b[16] << 16 | (uint32_t)b[17] << 24;
        if (hsz == 12) {
            *w = b[18] | b[19] << 8;
            *h = b[20] | b[21] << 8;
            return 1;
        }
        int32_t ww = (int32_t)((uint32_t)b[18] | (uint32_t)b[19] << 8 | (uint32_t)b[20] << 16 | (uint32_t)b[21] << 24);
        int32_t hh = (int32_t)((uint32_t)b[22] | (uint32_t)b[23] << 8 | (uint32_t)b[24] << 16 | (uint32_t)b[25] << 24);
        *w = ww < 0 ? -(int64_t)ww : ww;
        *h = hh < 0 ? -(int64_t)hh : hh;
        return 1;
    }
    return 0;
}

/* The system's stb_image (v2.27) writes past its Huffman tables when a JPEG
 * DHT segment declares more than 256 codes (found by fuzz/fuzz_image.c; later
 * stb versions check this).  This walks the JPEG's marker segments the way
 * stb does - junk bytes between segments skipped one by one, fill 0xFF bytes
 * skipped, entropy-coded data skipped up to the next marker other than a
 * stuffed 0xFF00 or a restart marker - and checks every DHT table that stb
 * could read.  Returns NULL when fine, else what is wrong. */
static const char *jpeg_precheck(const unsigned char *b, size_t n)
{
    size_t pos = 2;
    unsigned defined = 0;          /* bit th: DC table th defined; bit 4 + th: AC table th */
    int progressive = 0;
    while (pos < n) {
        if (b[pos] != 0xff) { pos++; continue; }
        while (pos < n && b[pos] == 0xff) pos++;
        if (pos >= n) break;
        int m = b[pos++];
        if (m == 0xd9) break;                                   /* EOI */
        if (m == 0x00 || m == 0x01 || (m >= 0xd0 && m <= 0xd7)) continue;
        if (n - pos < 2) break;
        size_t len = (size_t)b[pos] << 8 | b[pos + 1];
        if (len < 2) break;                                     /* stb refuses it */
        if (m == 0xc4) {
            /* DHT: tables of 1 + 16 + count bytes, read as stb does - while the
             * declared length is not used up, even past the segment's end
             * (stb reads 0 past the end of the file) */
            size_t q = pos + 2;
            int64_t left = (int64_t)len - 2;
            while (left > 0) {
                unsigned count = 0;
                for (size_t i = 1; i <= 16; i++) count += q + i < n ? b[q + i] : 0;
                if (count > 256) return "a Huffman table (DHT) declares more than 256 codes";
                unsigned tc = q < n ? b[q] >> 4 : 0, th = q < n ? b[q] & 15 : 0;
                if (tc <= 1 && th <= 3) defined |= 1u << (tc * 4 + th);
                q += 17 + count;
                left -= 17 + (int64_t)count;
            }
        }
        if (m == 0xc2) progressive = 1;
        /* SOS: stb does not check that the tables a scan uses were defined, and
         * then decodes with uninitialised tables (reads far out of bounds) */
        if (m == 0xda && pos + 3 <= n) {
            size_t ns = b[pos + 2];
            if (ns >= 1 && ns <= 4 && len == 6 + 2 * ns && pos + 2 + len <= n) {
                const unsigned char *c = b + pos + 3;
                unsigned ss = c[2 * ns], ah = c[2 * ns + 2] >> 4;
                for (size_t i = 0; i < ns; i++) {
                    unsigned td = c[2 * i + 1] >> 4, ta = c[2 * i + 1] & 15;
                    int need_dc = !progressive || (ss == 0 && ah == 0), need_ac = !progressive || ss > 0;
                    if ((need_dc && td <= 3 && !(defined & (1u << td))) || (need_ac && ta <= 3 && !(defined & (1u << (4 + ta)))))
                        return "a scan uses a Huffman table that was never defined";
                }
            }
        }
        pos += len;
        if (m == 0xda) {                                        /* SOS: skip the entropy-coded data */
            while (pos + 1 < n && !(b[pos] == 0xff && b[pos + 1] != 0x00 && !(b[pos + 1] >= 0xd0 && b[pos + 1] <= 0xd7)))
                pos++;
        }
    }
    return NULL;
}

/* stb_image reads zeros past the end of a BMP, so a truncated uncompressed
 * BMP would decode as an image with black rows.  Returns the number of bytes
 * an uncompressed BMP needs (0 when not known: compressed or odd headers). */
static uint64_t bmp_needed(const unsigned char *b, size_t n)
{
    if (n < 30) return 0;
    uint32_t off = (uint32_t)b[10] | (uint32_t)b[11] << 8 | (uint32_t)b[12] << 16 | (uint32_t)b[13] << 24;
    uint32_t hsz = (uint32_t)b[14] | (uint32_t)b[15] << 8 | (uint32_t)b[16] << 16 | (uint32_t)b[17] << 24;
    int64_t w, h;
    unsigned bpp;
    if (hsz == 12) {
        w = b[18] | b[19] << 8;
        h = b[20] | b[21] << 8;
        bpp = (unsigned)(b[24] | b[25] << 8);
    } else {
        if (n < 34) return 0;
        uint32_t comp = (uint32_t)b[30] | (uint32_t)b[31] << 8 | (uint32_t)b[32] << 16 | (uint32_t)b[33] << 24;
        if (comp != 0 && comp != 3) return 0;
        int32_t ww = (int32_t)((uint32_t)b[18] | (uint32_t)b[19] << 8 | (uint32_t)b[20] << 16 | (uint32_t)b[21] << 24);
        int32_t hh = (int32_t)((uint32_t)b[22] | (uint32_t)b[23] << 8 | (uint32_t)b[24] << 16 | (uint32_t)b[25] << 24);
        w = ww < 0 ? -(int64_t)ww : ww;
        h = hh < 0 ? -(int64_t)hh : hh;
        bpp = (unsigned)(b[28] | b[29] << 8);
    }
    if (w <= 0 || h <= 0 || w > (1 << 24) || h > (1 << 24) || !bpp || bpp > 32) return 0;
    uint64_t row = ((uint64_t)w * bpp + 31) / 32 * 4;
    return (uint64_t)off + row * (uint64_t)h;
}

static int decode(const char *name, const void *data, size_t size, int64_t max_pixels, cc_image *img, char *err,
                  size_t errlen)
{
    if (!img) return img_err(err, errlen, CC_E_ARG, "image: NULL output");
    img->w = img->h = img->c = 0;
    img->px = NULL;
    if (!data && size) return img_err(err, errlen, CC_E_ARG, "image: NULL buffer");
    if (size == 0) return img_err(err, errlen, CC_E_PARSE, "cannot decode '%s': the file is empty", name);
    int fmt = sniff(data, size);
    if (fmt == FMT_UNKNOWN)
        return img_err(err, errlen, CC_E_UNSUPPORTED, "cannot decode '%s': not a PNG/JPEG/BMP image", name);
    if (fmt == FMT_JPEG) {
        const char *why = jpeg_precheck(data, size);
        if (why) return img_err(err, errlen, CC_E_PARSE, "cannot decode '%s': corrupt JPEG: %s", name, why);
    }
    if (size > (size_t)INT_MAX)
        return img_err(err, errlen, CC_E_LIMIT, "cannot decode '%s': %zu bytes is more than the decoder takes", name,
                       size);
    int w = 0, h = 0, comp = 0;
    int64_t pw, ph;
    /* pw, ph < 2^32: compare by division, the product may not fit in int64 */
    if (peek_size(fmt, data, size, &pw, &ph) && pw > 0 && ph > 0 && (pw > max_pixels || ph > max_pixels / pw))
        return img_err(err, errlen, CC_E_LIMIT,
                       "cannot decode '%s': %lldx%lld is %.0f pixels, more than the limit of %lld", name,
                       (long long)pw, (long long)ph, (double)pw * (double)ph, (long long)max_pixels);
    if (fmt == FMT_BMP) {
        uint64_t need = bmp_needed(data, size);
        if (need > size)
            return img_err(err, errlen, CC_E_PARSE, "cannot decode '%s': truncated BMP (its header needs %llu bytes, the file has %zu)",
                           name, (unsigned long long)need, size);
    }
    if (!stbi_info_from_memory(data, (int)size, &w, &h, &comp))
        return img_err(err, errlen, CC_E_PARSE, "cannot decode '%s': corrupt or unsupported %s header (stb: %s)", name,
                       fmt_name[fmt], stbi_failure_reason() ? stbi_failure_reason() : "?");
    if (w <= 0 || h <= 0)
        return img_err(err, errlen, CC_E_PARSE, "cannot decode '%s': %s header gives size %dx%d", name,
                       fmt_name[fmt], w, h);
    if ((int64_t)w * (int64_t)h > max_pixels)
        return img_err(err, errlen, CC_E_LIMIT,
                       "cannot decode '%s': %dx%d is %lld pixels, more than the limit of %lld", name, w, h,
                       (long long)w * h, (long long)max_pixels);
    if (!img_bytes(w, h, 4))
        return img_err(err, errlen, CC_E_LIMIT, "cannot decode '%s': %dx%d is too large", name, w, h);
    int x = 0, y = 0, n = 0;
    unsigned char *px = stbi_load_from_memory(data, (int)size, &x, &y, &n, 0);
    if (!px) {
        const char *why = stbi_failure_reason() ? stbi_failure_reason() : "?";
        int oom = strcmp(why, "outofmem") == 0;
        return img_err(err, errlen, oom ? CC_E_NOMEM : CC_E_PARSE, "cannot decode '%s': %s %s (stb: %s)", name,
                       oom ? "out of memory decoding" : "corrupt or truncated", fmt_name[fmt], why);
    }
    if (x != w || y != h || n < 1 || n > 4) {
        stbi_image_free(px);
        return img_err(err, errlen, CC_E_PARSE, "cannot decode '%s': inconsistent %s size", name, fmt_name[fmt]);
    }
    int c = n == 2 ? 4 : n;
    size_t npix = (size_t)w * (size_t)h;
    uint8_t *out = malloc(npix * (size_t)c);
    if (!out) {
        stbi_image_free(px);
        return img_err(err, errlen, CC_E_NOMEM, "cannot decode '%s': out of memory", name);
    }
    if (n == 2) {
        for (size_t i = 0; i < npix; i++) {
            out[4 * i] = out[4 * i + 1] = out[4 * i + 2] = px[2 * i];
            out[4 * i + 3] = px[2 * i + 1];
        }
    } else {
        memcpy(out, px, npix * (size_t)c);
    }
    stbi_image_free(px);
    img->w = w;
    img->h = h;
    img->c = c;
    img->px = out;
    return 0;
}

int cc_image_load_memory_limit(const void *data, size_t size, int64_t max_pixels, cc_image *img, char *err,
                               size_t errlen)
{
    return decode("<memory>", data, size, max_pixels, img, err, errlen);
}

int cc_image_load_memory(const void *data, size_t size, cc_image *img, char *err, size_t errlen)
{
    return decode("<memory>", data, size, CC_IMAGE_MAX_PIXELS, img, err, errlen);
}

int cc_image_load_limit(const char *path, int64_t max_pixels, cc_image *img, char *err, size_t errlen)
{
    if (img) {
        img->w = img->h = img->c = 0;
        img->px = NULL;
    }
    if (!img) return img_err(err, errlen, CC_E_ARG, "image: NULL output");
    unsigned char *buf;
    size_t size;
    int rc = cc_file_read(path, (size_t)INT_MAX, &buf, &size, err, errlen);
    if (rc) return rc;
    rc = decode(path, buf, size, max_pixels, img, err, errlen);
    free(buf);
    return rc;
}

int cc_image_load(const char *path, cc_image *img, char *err, size_t errlen)
{
    return cc_image_load_limit(path, CC_IMAGE_MAX_PIXELS, img, err, errlen);
}

/* ---- conversions ---------------------------------------------------------- */

static inline uint8_t pil_l(unsigned r, unsigned g, unsigned b)
{
    return (uint8_t)((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}

int cc_image_to_rgb(const cc_image *src, cc_image *dst)
{
    if (!dst) return CC_E_ARG;
    dst->w = dst->h = dst->c = 0;
    dst->px = NULL;
    if (!valid(src)) return CC_E_ARG;
    int rc = cc_image_alloc(dst, src->w, src->h, 3);
    if (rc) return rc;
    size_t n = (size_t)src->w * (size_t)src->h;
    const uint8_t *s = src->px;
    uint8_t *d = dst->px;
    if (src->c == 1)
        for (size_t i = 0; i < n; i++) d[3 * i] = d[3 * i + 1] = d[3 * i + 2] = s[i];
    else if (src->c == 3)
        memcpy(d, s, 3 * n);
    else
        for (size_t i = 0; i < n; i++) {
            d[3 * i] = s[4 * i];
            d[3 * i + 1] = s[4 * i + 1];
            d[3 * i + 2] = s[4 * i + 2];
        }
    return 0;
}

int cc_image_to_gray(const cc_image *src, cc_image *dst)
{
    if (!dst) return CC_E_ARG;
    dst->w = dst->h = dst->c = 0;
    dst->px = NULL;
    if (!valid(src)) return CC_E_ARG;
    int rc = cc_image_alloc(dst, src->w, src->h, 1);
    if (rc) return rc;
    size_t n = (size_t)src->w * (size_t)src->h;
    const uint8_t *s = src->px;
    uint8_t *d = dst->px;
    int c = src->c;
    if (c == 1)
        memcpy(d, s, n);
    else
        for (size_t i = 0; i < n; i++) d[i] = pil_l(s[c * i], s[c * i + 1], s[c * i + 2]);
    return 0;
}

int cc_image_to_tensor(const cc_image *img, const float *mean, const float *std, int channels, float *out)
{
    if (!valid(img) || !mean || !std || !out || (channels != 1 && channels != 3)) return CC_E_ARG;
    for (int ch = 0; ch < channels; ch++)
        if (!(std[ch] != 0.0f) || !isfinite(std[ch]) || !isfinite(mean[ch])) return CC_E_ARG;
    size_t n = (size_t)img->w * (size_t)img->h;
    int c = img->c;
    const uint8_t *s = img->px;
    for (int ch = 0; ch < channels; ch++) {
        float m = mean[ch], sd = std[ch];
        float *o = out + (size_t)ch * n;
        for (size_t i = 0; i < n; i++) {
            unsigned v;
            if (channels == 1)
                v = c == 1 ? s[i] : pil_l(s[c * i], s[c * i + 1], s[c * i + 2]);
            else
                v = c == 1 ? s[i] : s[(size_t)c * i + (size_t)ch];
            float x = (float)v / 255.0f;
            o[i] = (x - m) / sd;
        }
    }
    return 0;
}

/* ---- PNG writing ---------------------------------------------------------- */

typedef struct membuf {
    unsigned char *p;
    size_t n, cap;
    int failed;
} membuf;

static void membuf_write(void *ctx, void *data, int size)
{
    membuf *m = ctx;
    if (m->failed || size <= 0) return;
    size_t need = m->n + (size_t)size;
    if (need < m->n) { m->failed = 1; return; }
    if (need > m->cap) {
        size_t cap = m->cap ? m->cap : 65536;
        while (cap < need) {
            if (cap > SIZE_MAX / 2) { cap = need; break; }
            cap *= 2;
        }
        unsigned char *q = realloc(m->p, cap);
        if (!q) { m->failed = 1; return; }
        m->p = q;
        m->cap = cap;
    }
    memcpy(m->p + m->n, data, (size_t)size);
    m->n = need;
}

int cc_image_encode_png(const cc_image *img, unsigned char **png, size_t *size, char *err, size_t errlen)
{
    if (!png || !size) return img_err(err, errlen, CC_E_ARG, "png: NULL output");
    *png = NULL;
    *size = 0;
    if (!valid(img)) return img_err(err, errlen, CC_E_ARG, "png: invalid image");
    if ((size_t)img->w * (size_t)img->c > (size_t)INT_MAX / 2 || img_bytes(img->w, img->h, img->c) > (size_t)INT_MAX)
        return img_err(err, errlen, CC_E_LIMIT, "png: image %dx%d too large for the encoder", img->w, img->h);
    membuf m = {0};
    int ok = stbi_write_png_to_func(membuf_write, &m, img->w, img->h, img->c, img->px, img->w * img->c);
    if (!ok || m.failed) {
        free(m.p);
        return img_err(err, errlen, m.failed ? CC_E_NOMEM : CC_E_INTERNAL, "png: encoding failed%s",
                       m.failed ? " (out of memory)" : "");
    }
    *png = m.p;
    *size = m.n;
    return 0;
}

int cc_image_save_png(const char *path, const cc_image *img, char *err, size_t errlen)
{
    unsigned char *png;
    size_t size;
    int rc = cc_image_encode_png(img, &png, &size, err, errlen);
    if (rc) return rc;
    const void *bufs[1] = {png};
    rc = cc_file_write_atomic(path, 1, bufs, &size, err, errlen);
    free(png);
    return rc;
}
