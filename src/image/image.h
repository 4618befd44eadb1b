/* Images and explanation-map pixels: decoding (PNG/JPEG/BMP via stb_image),
 * colour conversion as PIL does it, PIL-exact bilinear resizing, the
 * normalised NCHW input tensor, PyTorch-exact bilinear upsampling of maps,
 * min-max normalisation, OpenCV's JET colormap, the reference overlay, and
 * atomic PNG writing.
 *
 * Every fallible function returns 0 or a CC_E_* code (src/ops/op.h); those
 * taking err/errlen write a message there (err may be NULL).  Nothing here
 * prints, exits or keeps global state; all functions are thread-safe. */
#ifndef CC_IMAGE_H
#define CC_IMAGE_H
#include <stddef.h>
#include <stdint.h>

/* Interleaved 8-bit pixels, row-major, c = 1 (gray), 3 (RGB) or 4 (RGBA).
 * px holds w*h*c bytes, malloc'd; free with cc_image_free. */
typedef struct cc_image {
    int w, h, c;
    uint8_t *px;
} cc_image;

/* Images whose decoded size exceeds this many pixels are refused (CC_E_LIMIT)
 * by cc_image_load / cc_image_load_memory, before any pixel is decoded. */
#define CC_IMAGE_MAX_PIXELS 100000000LL

/* Allocates a w x h x c image (pixels zeroed).  CC_E_ARG for bad sizes. */
int cc_image_alloc(cc_image *img, int w, int h, int c);
void cc_image_free(cc_image *img);

/* Decodes a PNG, JPEG or BMP file.  The image keeps the file's channels:
 * gray -> c=1, RGB -> 3, RGBA -> 4 (gray+alpha becomes RGBA, palettes are
 * expanded, 16-bit PNG samples keep their high byte).  Errors: a missing file
 * or a directory -> CC_E_IO; a file that is not PNG/JPEG/BMP ->
 * CC_E_UNSUPPORTED; a corrupt or truncated one -> CC_E_PARSE; more than
 * max_pixels pixels -> CC_E_LIMIT (checked from the header before decoding).
 * EXIF orientation is ignored, as by PIL's Image.open. */
int cc_image_load(const char *path, cc_image *img, char *err, size_t errlen);
int cc_image_load_memory(const void *data, size_t size, cc_image *img, char *err, size_t errlen);
int cc_image_load_limit(const char *path, int64_t max_pixels, cc_image *img, char *err, size_t errlen);
int cc_image_load_memory_limit(const void *data, size_t size, int64_t max_pixels, cc_image *img,
                               char *err, size_t errlen);

/* New RGB image, as PIL's convert('RGB'): gray is replicated, alpha dropped. */
int cc_image_to_rgb(const cc_image *src, cc_image *dst);
/* New gray image, as PIL's convert('L'):
 * L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16 (alpha ignored). */
int cc_image_to_gray(const cc_image *src, cc_image *dst);

/* Resizes to w x h exactly as PIL's Image.resize(size, Image.BILINEAR) on an
 * "L" or "RGB" image: separable triangle filter whose support is widened by
 * the scale factor when shrinking (antialias), coefficients in fixed point
 * with 22 fractional bits, horizontal pass first with 8-bit rounding in
 * between.  Channels are filtered independently (for RGBA, PIL would
 * premultiply alpha first: convert to RGB before resizing). */
int cc_image_resize_bilinear_pil(const cc_image *src, int w, int h, cc_image *dst);

/* Writes out[ch*h*w + y*w + x] = (pixel/255 - mean[ch]) / std[ch] (NCHW, N=1;
 * out holds channels*h*w floats, mean and std one value per channel)
 * in float32, as torchvision's ToTensor + Normalize.  channels is 1 or 3; the
 * image is converted on the fly (RGB/RGBA to gray with the PIL "L" formula,
 * gray replicated to RGB, alpha dropped).  std must be non-zero and finite. */
int cc_image_to_tensor(const cc_image *img, const float *mean, const float *std, int channels, float *out);

/* Writes a PNG atomically (temporary file in the same folder, fsync, rename). */
int cc_image_save_png(const char *path, const cc_image *img, char *err, size_t errlen);
/* Encodes a PNG into a malloc'd buffer (*png, *size). */
int cc_image_encode_png(const cc_image *img, unsigned char **png, size_t *size, char *err, size_t errlen);

/* ---- maps ------------------------------------------------------------------ */

/* Bilinear upsampling (or downsampling) of a sh x sw float map to dh x dw with
 * PyTorch's F.interpolate(mode='bilinear', align_corners=False) semantics:
 * source coordinate (d + 0.5) * in/out - 0.5, clamped at 0, the right/bottom
 * neighbour clamped at the edge; within 1 ulp of torch's float32 output.
 * Returns CC_E_ARG for sizes < 1, CC_E_NOMEM. */
int cc_upsample_bilinear(const float *src, int sh, int sw, float *dst, int dh, int dw);
/* The taps of that upsampling along one axis: output d = l0 * in[i0] + l1 * in[i1]. */
typedef struct cc_tap {
    int i0, i1;
    float l0, l1;
} cc_tap;
void cc_upsample_taps(int in, int out, cc_tap *a);

/* In place: m = (m - min) / (max - min) in float32, so values lie in [0, 1].
 * When max - min is 0 or not finite (including any NaN or infinity in m) the
 * map is set to all zeros and *flat = 1 (else 0); never produces NaN.
 * flat may be NULL. */
void cc_minmax_normalize(float *m, size_t n, int *flat);

/* OpenCV's COLORMAP_JET lookup table for uint8 input, in RGB order
 * (lut[v][0] = red), identical to cv::applyColorMap(..., COLORMAP_JET). */
void cc_colormap_jet(uint8_t lut[256][3]);

/* The JET heat map of a map in [0,1] (w*h floats, row-major): pixel =
 * jet(uint8(255 * m)) with truncation as np.uint8 does; values are clamped
 * to [0,1] first and NaN counts as 0.  Allocates a w x h RGB image. */
int cc_heatmap(const float *map01, int w, int h, cc_image *out);

/* The reference overlay: heat = jet(uint8(255*m)) / 255 (RGB in [0,1]),
 * overlay = heat + rgb/255, divided by its maximum over all pixels and
 * channels, then uint8(255 * overlay) with truncation, as the reference's
 * np.uint8(255 * cam) does; all arithmetic in float32 as there.  map01 has
 * rgb->w * rgb->h values; rgb may be gray, RGB or RGBA (converted as PIL
 * convert('RGB')).  Allocates an RGB image in out. */
int cc_overlay(const float *map01, const cc_image *rgb, cc_image *out);

#endif
