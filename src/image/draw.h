/* Drawing figures: a white RGB canvas, pasted panels and anti-aliased text
 * (stb_truetype with a TrueType font file, DejaVu Sans by default). */
#ifndef CC_DRAW_H
#define CC_DRAW_H
#include "image/image.h"

typedef struct cc_font cc_font;

/* Default font path (Debian's fonts-dejavu-core). */
#define CC_FONT_DEFAULT "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

int cc_font_load(const char *path, cc_font **out, char *err, size_t errlen);
void cc_font_free(cc_font *f);

/* Width in pixels of text at pixel height px. */
int cc_text_width(const cc_font *f, const char *text, float px);
/* Draws text (UTF-8 treated as Latin-1 beyond ASCII) with its top-left at (x, y),
 * blending `rgb` over the canvas by the glyph coverage; clipped to the canvas. */
void cc_draw_text(cc_image *canvas, const cc_font *f, const char *text, float px, int x, int y, const uint8_t rgb[3]);
/* Word-wraps text into lines no wider than width and draws them centred in
 * [x, x+width), starting at y.  Returns the height used. */
int cc_draw_caption(cc_image *canvas, const cc_font *f, const char *text, float px, int x, int y, int width, const uint8_t rgb[3]);
/* Copies src (RGB or gray) into the canvas at (x, y), clipped. */
void cc_paste(cc_image *canvas, const cc_image *src, int x, int y);
/* Fills a rectangle. */
void cc_fill_rect(cc_image *canvas, int x, int y, int w, int h, const uint8_t rgb[3]);
#endif
