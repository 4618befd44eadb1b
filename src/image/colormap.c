/* OpenCV's COLORMAP_JET and the reference overlay.
 *
 * How OpenCV (modules/imgproc/src/colormap.cpp, class Jet) builds the LUT:
 *  - Its base map is GNU Octave's jet(256) sampled at x_k = k/255,
 *    k = 0..255, stored as float32 constants:
 *      r(x) = 0 (x < 3/8), 4x - 3/2 (< 5/8), 1 (< 7/8), -4x + 9/2
 *      g(x) = 0 (x < 1/8), 4x - 1/2 (< 3/8), 1 (< 5/8), -4x + 7/2 (< 7/8), 0
 *      b(x) = 4x + 1/2 (x < 1/8), 1 (< 3/8), -4x + 5/2 (< 5/8), 0
 *    (the constants in its source are these values computed in double and
 *    printed with ~16 digits; rounding them to float gives the same floats as
 *    rounding the double values, which is what we do).
 *  - X = linspace(0, 1, 256) in float32 (step = 1.0f/255, X[i] = i*step), and
 *    the LUT is interp1(X, base, X) evaluated in float32: for i >= 1 the
 *    binary search gives low = i-1, high = i and
 *      y = Y[low] + (X[i] - X[low]) * (Y[high] - Y[low]) / (X[high] - X[low]),
 *    for i = 0 y = Y[0] (this is Y[i] up to float rounding; the rounding is
 *    reproduced because it matters below).
 *  - lut.convertTo(CV_8U, 255.): v = y * 255.0f in float32, then rounded to
 *    nearest with ties to even (cvRound) and saturated to 0..255.
 *  Every ramp value of jet(256) times 255 is a tie (4k - 382.5 etc.), so the
 *  float32 arithmetic decides the rounding; it is reproduced operation by
 *  operation here.  Spot values (RGB): 0 -> (0,0,128), 32 -> (0,0,255),
 *  96 -> (2,255,254), 128 -> (130,255,126), 160 -> (255,252,0),
 *  255 -> (128,0,0).  All 256 entries equal OpenCV 4.6.0's (checked by
 *  tests/test_image.sh when OpenCV's Python module is installed).
 *  OpenCV produces BGR; this table is RGB.
 */
#include "image/image.h"
#include "ops/op.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double jet_r(double x)
{
    return x < 3.0 / 8 ? 0.0 : x < 5.0 / 8 ? 4 * x - 1.5 : x < 7.0 / 8 ? 1.0 : -4 * x + 4.5;
}
static double jet_g(double x)
{
    return x < 1.0 / 8 ? 0.0 : x < 3.0 / 8 ? 4 * x - 0.5 : x < 5.0 / 8 ? 1.0 : x < 7.0 / 8 ? -4 * x + 3.5 : 0.0;
}
static double jet_b(double x)
{
    return x < 1.0 / 8 ? 4 * x + 0.5 : x < 3.0 / 8 ? 1.0 : x < 5.0 / 8 ? -4 * x + 2.5 : 0.0;
}

/* cvRound for float in the default rounding mode: nearest, ties to even. */
static uint8_t sat_round(float v)
{
    float r = nearbyintf(v);
    if (!(r > 0.0f)) return 0;
    if (r >= 255.0f) return 255;
    return (uint8_t)r;
}

void cc_colormap_jet(uint8_t lut[256][3])
{
    float X[256], Y[3][256];
    volatile float step = (1.0f - 0.0f) / (float)(256 - 1);
    for (int i = 0; i < 256; i++) {
        volatile float xi = 0.0f + (float)i * step;
        X[i] = xi;
        double x = i / 255.0; /* Octave's linspace(0, 1, 256) */
        Y[0][i] = (float)jet_r(x);
        Y[1][i] = (float)jet_g(x);
        Y[2][i] = (float)jet_b(x);
    }
    for (int ch = 0; ch < 3; ch++) {
        for (int i = 0; i < 256; i++) {
            float y;
            if (i == 0) {
                y = Y[ch][0];
            } else {
                /* Each step rounded to float32 as in OpenCV's interp1_<float>. */
                volatile float dx = X[i] - X[i - 1];
                volatile float dy = Y[ch][i] - Y[ch][i - 1];
                volatile float num = dx * dy;
                volatile float q = num / dx;
                volatile float s = Y[ch][i - 1] + q;
                y = 0.0f + s;
            }
            volatile float v = y * 255.0f;
            lut[i][ch] = sat_round(v);
        }
    }
}

static inline uint8_t map_to_u8(float m)
{
    /* np.uint8(255 * m) for m in [0, 1]: truncation.  NaN -> 0, clamped. */
    if (!(m > 0.0f)) return 0;
    if (m >= 1.0f) return 255;
    float v = 255.0f * m;
    return (uint8_t)v; /* v in [0, 255): truncation toward zero */
}

int cc_heatmap(const float *map01, int w, int h, cc_image *out)
{
    if (!out) return CC_E_ARG;
    out->w = out->h = out->c = 0;
    out->px = NULL;
    if (!map01) return CC_E_ARG;
    int rc = cc_image_alloc(out, w, h, 3);
    if (rc) return rc;
    uint8_t lut[256][3];
    cc_colormap_jet(lut);
    size_t n = (size_t)w * (size_t)h;
    for (size_t i = 0; i < n; i++) memcpy(out->px + 3 * i, lut[map_to_u8(map01[i])], 3);
    return 0;
}

int cc_overlay(const float *map01, const cc_image *rgb, cc_image *out)
{
    if (!out) return CC_E_ARG;
    out->w = out->h = out->c = 0;
    out->px = NULL;
    if (!map01 || !rgb || !rgb->px || (rgb->c != 1 && rgb->c != 3 && rgb->c != 4)) return CC_E_ARG;
    int rc = cc_image_alloc(out, rgb->w, rgb->h, 3);
    if (rc) return rc;
    size_t n = (size_t)rgb->w * (size_t)rgb->h;
    float *sum = malloc(n * 3 * sizeof(float));
    if (!sum) {
        cc_image_free(out);
        return CC_E_NOMEM;
    }
    uint8_t lut[256][3];
    cc_colormap_jet(lut);
    int c = rgb->c;
    float mx = 0.0f;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *heat = lut[map_to_u8(map01[i])];
        for (int k = 0; k < 3; k++) {
            uint8_t p = c == 1 ? rgb->px[i] : rgb->px[(size_t)c * i + (size_t)k];
            float s = (float)heat[k] / 255.0f + (float)p / 255.0f;
            sum[3 * i + (size_t)k] = s;
            if (s > mx) mx = s;
        }
    }
    /* mx > 0 always: jet's blue channel is never 0 where red is 0.  Guard anyway. */
    for (size_t i = 0; i < 3 * n; i++) {
        float v = mx > 0.0f ? 255.0f * (sum[i] / mx) : 0.0f;
        out->px[i] = v >= 255.0f ? 255 : v > 0.0f ? (uint8_t)v : 0;
    }
    free(sum);
    return 0;
}
