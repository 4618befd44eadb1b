/* SSIM (Wang, Bovik, Sheikh, Simoncelli, IEEE TIP 2004) on 8-bit gray
 * images: local statistics under an 11 x 11 Gaussian window (sigma 1.5,
 * normalised to sum 1), evaluated where the window lies inside the image,
 *   SSIM = (2 mu_a mu_b + C1)(2 sigma_ab + C2) /
 *          ((mu_a^2 + mu_b^2 + C1)(sigma_a^2 + sigma_b^2 + C2)),
 * C1 = (0.01 L)^2, C2 = (0.03 L)^2, L = 255; the image's SSIM is the mean of
 * the map.  Separable filtering in double precision. */
#include "contrastcam_iqa.h"

#include <math.h>
#include <stdlib.h>

double cc_ssim_gray(const uint8_t *a, const uint8_t *b, int w, int h, float *map)
{
    enum { WS = 11 };
    if (!a || !b || w < WS || h < WS) return NAN;
    double k[WS], ks = 0;
    for (int i = 0; i < WS; i++) { double d = i - WS / 2; k[i] = exp(-d * d / (2 * 1.5 * 1.5)); ks += k[i]; }
    for (int i = 0; i < WS; i++) k[i] /= ks;
    int ow = w - WS + 1, oh = h - WS + 1;
    /* horizontal pass of the five products, then vertical */
    size_t n = (size_t)h * (size_t)ow;
    double *hz = malloc(sizeof(double) * n * 5);
    if (!hz) return NAN;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < ow; x++) {
            double s[5] = { 0, 0, 0, 0, 0 };
            for (int i = 0; i < WS; i++) {
                double va = a[(size_t)y * w + x + i], vb = b[(size_t)y * w + x + i], kk = k[i];
                s[0] += kk * va;
                s[1] += kk * vb;
                s[2] += kk * va * va;
                s[3] += kk * vb * vb;
                s[4] += kk * va * vb;
            }
            for (int j = 0; j < 5; j++) hz[(size_t)j * n + (size_t)y * ow + x] = s[j];
        }
    const double C1 = (0.01 * 255) * (0.01 * 255), C2 = (0.03 * 255) * (0.03 * 255);
    double total = 0;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            double s[5] = { 0, 0, 0, 0, 0 };
            for (int i = 0; i < WS; i++)
                for (int j = 0; j < 5; j++) s[j] += k[i] * hz[(size_t)j * n + (size_t)(y + i) * ow + x];
            double ma = s[0], mb = s[1];
            double va = s[2] - ma * ma, vb = s[3] - mb * mb, cab = s[4] - ma * mb;
            double v = (2 * ma * mb + C1) * (2 * cab + C2) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
            if (map) map[(size_t)y * ow + x] = (float)v;
            total += v;
        }
    free(hz);
    return total / ((double)ow * oh);
}
