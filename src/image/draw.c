/* Figures: canvas, pasting and captions.  Text goes through stb_truetype so
 * captions are anti-aliased and readable at any size. */
#include "image/draw.h"
#include "ops/op.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stb_truetype.h>

struct cc_font {
    stbtt_fontinfo info;
    unsigned char *data;
};

int cc_font_load(const char *path, cc_font **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "cannot open font '%s': %s (install fonts-dejavu-core or give --font FILE)", path, strerror(errno));
        return CC_E_IO;
    }
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    if (n <= 0 || n > (64L << 20)) {
        fclose(fp);
        snprintf(err, errlen, "font '%s' has an unusable size", path);
        return CC_E_PARSE;
    }
    cc_font *f = calloc(1, sizeof *f);
    unsigned char *d = malloc((size_t)n);
    if (!f || !d || fread(d, 1, (size_t)n, fp) != (size_t)n) {
        fclose(fp);
        free(f);
        free(d);
        snprintf(err, errlen, "cannot read font '%s'", path);
        return CC_E_IO;
    }
    fclose(fp);
    int off = stbtt_GetFontOffsetForIndex(d, 0);
    if (off < 0 || !stbtt_InitFont(&f->info, d, off)) {
        free(f);
        free(d);
        snprintf(err, errlen, "'%s' is not a TrueType font", path);
        return CC_E_PARSE;
    }
    f->data = d;
    *out = f;
    return 0;
}

void cc_font_free(cc_font *f)
{
    if (!f) return;
    free(f->data);
    free(f);
}

int cc_text_width(const cc_font *f, const char *text, float px)
{
    float scale = stbtt_ScaleForPixelHeight(&f->info, px), x = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        int adv, lsb;
        stbtt_GetCodepointHMetrics(&f->info, *p, &adv, &lsb);
        x += (float)adv * scale;
        if (p[1]) x += scale * (float)stbtt_GetCodepointKernAdvance(&f->info, p[0], p[1]);
    }
    return (int)(x + 0.5f);
}

void cc_draw_text(cc_image *cv, const cc_font *f, const char *text, float px, int x0, int y0, const uint8_t rgb[3])
{
    float scale = stbtt_ScaleForPixelHeight(&f->info, px), x = (float)x0;
    int asc, desc, gap;
    stbtt_GetFontVMetrics(&f->info, &asc, &desc, &gap);
    int base = y0 + (int)((float)asc * scale + 0.5f);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        int w, h, xo, yo, adv, lsb;
        unsigned char *bm = stbtt_GetCodepointBitmap(&f->info, scale, scale, *p, &w, &h, &xo, &yo);
        stbtt_GetCodepointHMetrics(&f->info, *p, &adv, &lsb);
        for (int j = 0; bm && j < h; j++)
            for (int i = 0; i < w; i++) {
                int cx = (int)x + xo + i, cy = base + yo + j;
                if (cx < 0 || cy < 0 || cx >= cv->w || cy >= cv->h) continue;
                unsigned a = bm[j * w + i];
                uint8_t *d = cv->px + ((size_t)cy * (size_t)cv->w + (size_t)cx) * (size_t)cv->c;
                for (int c = 0; c < cv->c && c < 3; c++) d[c] = (uint8_t)((d[c] * (255 - a) + rgb[c] * a + 127) / 255);
            }
        stbtt_FreeBitmap(bm, NULL);
        x += (float)adv * scale;
        if (p[1]) x += scale * (float)stbtt_GetCodepointKernAdvance(&f->info, p[0], p[1]);
    }
}

int cc_draw_caption(cc_image *cv, const cc_font *f, const char *text, float px, int x, int y, int width, const uint8_t rgb[3])
{
    char line[512];
    const char *p = text;
    int used = 0, lh = (int)(px * 1.25f + 0.5f);
    while (*p) {
        /* the longest prefix of whole words that fits (a newline forces a break) */
        size_t best = 0, i = 0;
        while (p[i] && p[i] != '\n' && i < sizeof line - 1) {
            size_t j = i;
            while (p[j] && p[j] != ' ' && p[j] != '\n' && j < sizeof line - 1) j++;
            memcpy(line, p, j);
            line[j] = 0;
            if (best && cc_text_width(f, line, px) > width) break;
            best = j;
            i = j;
            while (p[i] == ' ') i++;
        }
        if (!best) best = i ? i : 1;
        memcpy(line, p, best);
        line[best] = 0;
        int tw = cc_text_width(f, line, px);
        cc_draw_text(cv, f, line, px, x + (width - tw) / 2, y + used, rgb);
        used += lh;
        p += best;
        while (*p == ' ' || *p == '\n') p++;
    }
    return used;
}

void cc_paste(cc_image *cv, const cc_image *src, int x, int y)
{
    for (int j = 0; j < src->h; j++)
        for (int i = 0; i < src->w; i++) {
            int cx = x + i, cy = y + j;
            if (cx < 0 || cy < 0 || cx >= cv->w || cy >= cv->h) continue;
            const uint8_t *s = src->px + ((size_t)j * (size_t)src->w + (size_t)i) * (size_t)src->c;
            uint8_t *d = cv->px + ((size_t)cy * (size_t)cv->w + (size_t)cx) * (size_t)cv->c;
            for (int c = 0; c < 3 && c < cv->c; c++) d[c] = src->c >= 3 ? s[c] : s[0];
        }
}

void cc_fill_rect(cc_image *cv, int x, int y, int w, int h, const uint8_t rgb[3])
{
    for (int j = y; j < y + h; j++)
        for (int i = x; i < x + w; i++) {
            if (i < 0 || j < 0 || i >= cv->w || j >= cv->h) continue;
            uint8_t *d = cv->px + ((size_t)j * (size_t)cv->w + (size_t)i) * (size_t)cv->c;
            for (int c = 0; c < 3 && c < cv->c; c++) d[c] = rgb[c];
        }
}
