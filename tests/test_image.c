/* Image I/O and map pixels: decoding (PNG/JPEG/BMP, gray/RGB/RGBA), clean
 * errors on missing/corrupt/truncated/huge files, PIL conversions, PIL-exact
 * bilinear resize (against the shared model inputs made with PIL), the input
 * tensor, OpenCV's JET table, the reference overlay, PyTorch bilinear
 * upsampling and min-max normalisation.  With a fixture folder argument (made
 * by tests/gen_image_fixtures.py via tests/test_image.sh) it also compares
 * with PIL, torch and OpenCV outputs number by number. */
#include "check.h"
#include "image/image.h"
#include "ops/op.h"
#include "util/npy.h"

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image_write.h>

static char tmpdir[256];

/* ---- helpers -------------------------------------------------------------- */

typedef struct mem {
    unsigned char *p;
    size_t n, cap;
} mem;
static void mem_write(void *ctx, void *data, int size)
{
    mem *m = ctx;
    if (m->n + (size_t)size > m->cap) {
        m->cap = (m->n + (size_t)size) * 2;
        m->p = realloc(m->p, m->cap);
        if (!m->p) abort();
    }
    memcpy(m->p + m->n, data, (size_t)size);
    m->n += (size_t)size;
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    if (n) fwrite(p, 1, n, f);
    fclose(f);
}

static uint32_t crc32_png(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}
static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* A PNG with a valid IHDR claiming w x h and a tiny IDAT. */
static size_t fake_png(unsigned char *b, uint32_t w, uint32_t h)
{
    size_t n = 0;
    memcpy(b, "\x89PNG\r\n\x1a\n", 8);
    n = 8;
    be32(b + n, 13);
    memcpy(b + n + 4, "IHDR", 4);
    be32(b + n + 8, w);
    be32(b + n + 12, h);
    b[n + 16] = 8;  /* bit depth */
    b[n + 17] = 2;  /* RGB */
    b[n + 18] = b[n + 19] = b[n + 20] = 0;
    be32(b + n + 21, crc32_png(b + n + 4, 17));
    n += 25;
    /* zlib, one stored block of 4 zero bytes (filter byte + one RGB pixel), adler32. */
    static const unsigned char idat[] = {0x78, 0x01, 0x01, 0x04, 0x00, 0xfb, 0xff, 0, 0, 0, 0, 0x00, 0x04, 0x00, 0x01};
    be32(b + n, sizeof idat);
    memcpy(b + n + 4, "IDAT", 4);
    memcpy(b + n + 8, idat, sizeof idat);
    be32(b + n + 8 + sizeof idat, crc32_png(b + n + 4, 4 + sizeof idat));
    n += 12 + sizeof idat;
    be32(b + n, 0);
    memcpy(b + n + 4, "IEND", 4);
    be32(b + n + 8, crc32_png(b + n + 4, 4));
    return n + 12;
}

static void make_test_image(cc_image *img, int w, int h, int c)
{
    if (cc_image_alloc(img, w, h, c)) abort();
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++)
                img->px[((size_t)y * w + x) * c + k] = (uint8_t)((x * 37 + y * 11 + k * 71 + (x * y) % 13) & 255);
}

static int max_pixel_diff(const cc_image *a, const cc_image *b)
{
    if (a->w != b->w || a->h != b->h || a->c != b->c) return 999;
    int m = 0;
    for (size_t i = 0; i < (size_t)a->w * a->h * a->c; i++) {
        int d = abs((int)a->px[i] - (int)b->px[i]);
        if (d > m) m = d;
    }
    return m;
}

/* ---- self-contained tests ------------------------------------------------- */

static void test_roundtrip_formats(void)
{
    char err[512], path[400];
    int cs[3] = {1, 3, 4};
    for (int i = 0; i < 3; i++) {
        cc_image a, b;
        make_test_image(&a, 29, 17, cs[i]);
        snprintf(path, sizeof path, "%s/rt%d.png", tmpdir, cs[i]);
        int rc = cc_image_save_png(path, &a, err, sizeof err);
        CHECK(rc == 0, "save png c=%d: %s", cs[i], err);
        rc = cc_image_load(path, &b, err, sizeof err);
        CHECK(rc == 0 && b.c == cs[i] && max_pixel_diff(&a, &b) == 0, "png round trip c=%d: rc %d %s", cs[i], rc,
              err);
        cc_image_free(&b);
        /* In memory, and BMP (stb writes 24-bit or 32-bit BMPs). */
        mem m = {0};
        CHECK(stbi_write_bmp_to_func(mem_write, &m, a.w, a.h, a.c, a.px), "bmp encode");
        rc = cc_image_load_memory(m.p, m.n, &b, err, sizeof err);
        cc_image ref;
        if (a.c == 1) cc_image_to_rgb(&a, &ref); else { ref = a; ref.px = malloc((size_t)a.w * a.h * a.c); memcpy(ref.px, a.px, (size_t)a.w * a.h * a.c); }
        CHECK(rc == 0 && max_pixel_diff(&ref, &b) == 0, "bmp round trip c=%d: rc %d %s (got c=%d)", cs[i], rc, err,
              b.c);
        cc_image_free(&ref);
        cc_image_free(&b);
        free(m.p);
        /* JPEG (lossy): close, and the channel count (gray stays gray). */
        if (cs[i] != 4) {
            mem j = {0};
            CHECK(stbi_write_jpg_to_func(mem_write, &j, a.w, a.h, a.c, a.px, 100), "jpg encode");
            snprintf(path, sizeof path, "%s/rt%d.jpg", tmpdir, cs[i]);
            write_file(path, j.p, j.n);
            rc = cc_image_load(path, &b, err, sizeof err);
            /* stb's JPEG writer always writes 3 components. */
            CHECK(rc == 0 && b.w == a.w && b.h == a.h && b.c == 3, "jpeg load c=%d: %s", cs[i], err);
            cc_image a3;
            if (a.c == 3 && rc == 0) {
                CHECK(max_pixel_diff(&a, &b) <= 40, "jpeg q100 close: %d", max_pixel_diff(&a, &b));
            } else if (rc == 0 && cc_image_to_rgb(&a, &a3) == 0) {
                CHECK(max_pixel_diff(&a3, &b) <= 40, "jpeg q100 close: %d", max_pixel_diff(&a3, &b));
                cc_image_free(&a3);
            }
            cc_image_free(&b);
            free(j.p);
        }
        cc_image_free(&a);
    }
}

static void test_errors(void)
{
    char err[512], path[400];
    cc_image img;
    int rc = cc_image_load("/nonexistent-cc-dir/none.png", &img, err, sizeof err);
    CHECK(rc == CC_E_IO && strstr(err, "no such file") && img.px == NULL, "missing file: rc %d %s", rc, err);
    printf("  missing: %s\n", err);
    rc = cc_image_load(tmpdir, &img, err, sizeof err);
    CHECK(rc == CC_E_IO && strstr(err, "directory"), "directory: rc %d %s", rc, err);
    printf("  directory: %s\n", err);
    snprintf(path, sizeof path, "%s/empty.png", tmpdir);
    write_file(path, "", 0);
    rc = cc_image_load(path, &img, err, sizeof err);
    CHECK(rc == CC_E_PARSE && strstr(err, "empty"), "empty file: rc %d %s", rc, err);
    printf("  empty: %s\n", err);
    snprintf(path, sizeof path, "%s/text.png", tmpdir);
    write_file(path, "hello, I am not an image at all\n", 32);
    rc = cc_image_load(path, &img, err, sizeof err);
    CHECK(rc == CC_E_UNSUPPORTED && strstr(err, "not a PNG/JPEG/BMP"), "text file: rc %d %s", rc, err);
    printf("  text: %s\n", err);
    rc = cc_image_load_memory(NULL, 0, &img, err, sizeof err);
    CHECK(rc == CC_E_PARSE, "empty buffer: rc %d", rc);

    /* Decompression bombs: refused from the header, before decoding. */
    unsigned char b[128];
    size_t n = fake_png(b, 100000, 100000);
    snprintf(path, sizeof path, "%s/bomb.png", tmpdir);
    write_file(path, b, n);
    rc = cc_image_load(path, &img, err, sizeof err);
    CHECK(rc == CC_E_LIMIT && img.px == NULL, "100000x100000 PNG: rc %d %s", rc, err);
    printf("  bomb: %s\n", err);
    n = fake_png(b, 12000, 9000); /* 108 MP: over the default limit */
    rc = cc_image_load_memory(b, n, &img, err, sizeof err);
    CHECK(rc == CC_E_LIMIT, "108 MP PNG: rc %d %s", rc, err);
    n = fake_png(b, 1, 1); /* a valid 1x1 image */
    rc = cc_image_load_memory(b, n, &img, err, sizeof err);
    CHECK(rc == 0 && img.w == 1 && img.h == 1 && img.c == 3, "1x1 PNG: rc %d %s", rc, err);
    cc_image_free(&img);
    rc = cc_image_load_memory_limit(b, n, 0, &img, err, sizeof err);
    CHECK(rc == CC_E_LIMIT, "pixel limit 0: rc %d", rc);
    n = fake_png(b, 0x7fffffffu, 3);
    rc = cc_image_load_memory(b, n, &img, err, sizeof err);
    CHECK(rc != 0 && img.px == NULL, "2^31-1 wide PNG: rc %d %s", rc, err);
    /* A BMP header claiming 60000 x 60000. */
    unsigned char bmp[54] = {'B', 'M'};
    bmp[10] = 54;
    bmp[14] = 40;
    bmp[18] = 0x60; bmp[19] = 0xea; /* 60000 */
    bmp[22] = 0x60; bmp[23] = 0xea;
    bmp[26] = 1;
    bmp[28] = 24;
    rc = cc_image_load_memory(bmp, sizeof bmp, &img, err, sizeof err);
    CHECK(rc == CC_E_LIMIT, "60000x60000 BMP: rc %d %s", rc, err);

    /* Truncations and corruptions of real files: clean errors or sane images. */
    cc_image a;
    make_test_image(&a, 31, 19, 3);
    mem fmt[3] = {{0}, {0}, {0}};
    stbi_write_png_to_func(mem_write, &fmt[0], a.w, a.h, 3, a.px, a.w * 3);
    stbi_write_jpg_to_func(mem_write, &fmt[1], a.w, a.h, 3, a.px, 90);
    stbi_write_bmp_to_func(mem_write, &fmt[2], a.w, a.h, 3, a.px);
    const char *names[3] = {"PNG", "JPEG", "BMP"};
    for (int f = 0; f < 3; f++) {
        int bad = 0, refused = 0;
        for (size_t cut = 0; cut < fmt[f].n; cut += (cut < 64 ? 1 : 7)) {
            rc = cc_image_load_memory(fmt[f].p, cut, &img, err, sizeof err);
            if (rc == 0) {
                if (img.w != a.w || img.h != a.h || !img.px) bad++;
            } else {
                refused++;
                if (img.px || !err[0]) bad++;
            }
            cc_image_free(&img);
        }
        CHECK(bad == 0 && refused > 0, "%s truncations: %d bad results, %d refused", names[f], bad, refused);
        unsigned char *cp = malloc(fmt[f].n);
        uint32_t seed = 12345u + (uint32_t)f;
        bad = 0;
        for (int t = 0; t < 300; t++) {
            memcpy(cp, fmt[f].p, fmt[f].n);
            for (int k = 0; k < 4; k++) {
                seed = seed * 1664525u + 1013904223u;
                size_t pos = (seed >> 8) % fmt[f].n;
                seed = seed * 1664525u + 1013904223u;
                cp[pos] = (unsigned char)(seed >> 24);
            }
            rc = cc_image_load_memory_limit(cp, fmt[f].n, 4000000, &img, err, sizeof err);
            if (rc == 0 && (img.w <= 0 || img.h <= 0 || (int64_t)img.w * img.h > 4000000 || !img.px)) bad++;
            if (rc != 0 && img.px) bad++;
            cc_image_free(&img);
        }
        CHECK(bad == 0, "%s random corruptions: %d bad results", names[f], bad);
        free(cp);
    }
    /* A truncated PNG file on disk gives a decode error naming the file. */
    snprintf(path, sizeof path, "%s/trunc.png", tmpdir);
    write_file(path, fmt[0].p, fmt[0].n / 2);
    rc = cc_image_load(path, &img, err, sizeof err);
    CHECK(rc == CC_E_PARSE && strstr(err, "trunc.png"), "half a PNG: rc %d %s", rc, err);
    printf("  truncated: %s\n", err);
    for (int f = 0; f < 3; f++) free(fmt[f].p);

    /* Saving: missing folder, directory target; nothing left behind. */
    rc = cc_image_save_png("/nonexistent-cc-dir/x.png", &a, err, sizeof err);
    CHECK(rc == CC_E_IO, "save into missing folder: rc %d %s", rc, err);
    rc = cc_image_save_png(tmpdir, &a, err, sizeof err);
    CHECK(rc == CC_E_IO, "save over a directory: rc %d %s", rc, err);
    cc_image z = {0, 0, 0, NULL};
    rc = cc_image_save_png(path, &z, err, sizeof err);
    CHECK(rc == CC_E_ARG, "save an empty image: rc %d", rc);
    cc_image_free(&a);

    CHECK(cc_image_alloc(&img, 0, 5, 3) == CC_E_ARG, "alloc 0 wide");
    CHECK(cc_image_alloc(&img, 5, 5, 2) == CC_E_ARG, "alloc c=2");
    CHECK(cc_image_alloc(&img, 0x7fffffff, 0x7fffffff, 4) != 0, "alloc huge");
}

static void test_conversions(void)
{
    cc_image a, g, r;
    cc_image_alloc(&a, 5, 1, 4);
    const uint8_t px[5][4] = {{255, 0, 0, 9}, {0, 255, 0, 0}, {0, 0, 255, 255}, {255, 255, 255, 1}, {10, 200, 77, 3}};
    memcpy(a.px, px, sizeof px);
    CHECK(cc_image_to_gray(&a, &g) == 0 && g.c == 1, "to_gray");
    /* (r*19595 + g*38470 + b*7471 + 0x8000) >> 16 by hand: */
    CHECK(g.px[0] == 76 && g.px[1] == 150 && g.px[2] == 29 && g.px[3] == 255 && g.px[4] == 129,
          "PIL L values: %d %d %d %d %d", g.px[0], g.px[1], g.px[2], g.px[3], g.px[4]);
    CHECK(cc_image_to_rgb(&a, &r) == 0 && r.c == 3 && r.px[0] == 255 && r.px[1] == 0 && r.px[14] == 77,
          "RGBA to RGB drops alpha");
    cc_image r2;
    CHECK(cc_image_to_rgb(&g, &r2) == 0 && r2.px[3] == 150 && r2.px[4] == 150 && r2.px[5] == 150, "gray to RGB");
    cc_image_free(&r2);

    /* The input tensor. */
    float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f}, t[15], tg[5];
    CHECK(cc_image_to_tensor(&a, mean, sd, 3, t) == 0, "to_tensor rgb");
    CHECK(!(fabs(t[0] - (1.0 - 0.485) / 0.229) > 1e-5) && !(fabs(t[5 + 1] - (1.0 - 0.456) / 0.224) > 1e-5) &&
              !(fabs(t[10 + 4] - (77 / 255.0 - 0.406) / 0.225) > 1e-5),
          "tensor values %g %g %g", t[0], t[6], t[14]);
    float m1 = 0.5f, s1 = 0.5f;
    CHECK(cc_image_to_tensor(&a, &m1, &s1, 1, tg) == 0 && !(fabs(tg[0] - (76 / 255.0 - 0.5) / 0.5) > 1e-6),
          "to_tensor gray from RGBA uses the PIL L value");
    float s0 = 0.0f;
    CHECK(cc_image_to_tensor(&a, &m1, &s0, 1, tg) == CC_E_ARG, "std 0 refused");
    CHECK(cc_image_to_tensor(&a, &m1, &s1, 2, tg) == CC_E_ARG, "2 channels refused");
    cc_image_free(&a);
    cc_image_free(&g);
    cc_image_free(&r);
}

static void test_resize_basic(void)
{
    cc_image a, b;
    make_test_image(&a, 13, 9, 3);
    CHECK(cc_image_resize_bilinear_pil(&a, 13, 9, &b) == 0 && max_pixel_diff(&a, &b) == 0, "same size = copy");
    cc_image_free(&b);
    memset(a.px, 77, 13 * 9 * 3);
    int ok = 1;
    int sz[][2] = {{1, 1}, {5, 3}, {40, 30}, {13, 2}, {2, 9}, {100, 1}};
    for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++) {
        if (cc_image_resize_bilinear_pil(&a, sz[i][0], sz[i][1], &b) != 0) { ok = 0; continue; }
        for (size_t k = 0; k < (size_t)b.w * b.h * 3; k++) if (b.px[k] != 77) ok = 0;
        cc_image_free(&b);
    }
    CHECK(ok, "a constant image stays constant at every size");
    CHECK(cc_image_resize_bilinear_pil(&a, 0, 5, &b) == CC_E_ARG && b.px == NULL, "0 wide refused");
    CHECK(cc_image_resize_bilinear_pil(NULL, 5, 5, &b) == CC_E_ARG, "NULL source refused");
    cc_image_free(&a);
}

/* The shared model inputs were made with PIL BILINEAR: bit-exact from PNG
 * sources; from JPEG sources the decoders differ (stb vs libjpeg) by a level. */
static int test_resize_shared(void)
{
    const char *sh = check_shared();
    char a[600], b[600], err[512];
    snprintf(a, sizeof a, "%s/models/images/cat.png", sh);
    if (access(a, R_OK) != 0) {
        printf("  (shared images not found under %s: PIL comparison on shared images skipped)\n", sh);
        return 0;
    }
    struct { const char *src; const char *dir; int size; int gray; int tol; } cases[] = {
        {"cat.png", "224", 224, 0, 0}, {"cat.png", "128", 128, 0, 0}, {"bird.png", "224", 224, 0, 0},
        {"bird.png", "128", 128, 0, 0}, {"dragonfly.png", "224", 224, 0, 0}, {"grace_hopper.png", "224", 224, 0, 0},
        {"grace_hopper.png", "128", 128, 0, 0}, {"owl.jpg", "224", 224, 0, 1}, {"parrot.jpg", "224", 224, 0, 1},
        {"parrot.jpg", "128", 128, 0, 1},
        {"faces/face_left.png", "64", 64, 1, 0}, {"faces/face_right.png", "64", 64, 1, 0},
        {"faces/grace_hopper_face.png", "64", 64, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(a, sizeof a, "%s/models/images/%s", sh, cases[i].src);
        const char *base = strrchr(cases[i].src, '/') ? strrchr(cases[i].src, '/') + 1 : cases[i].src;
        char stem[100];
        snprintf(stem, sizeof stem, "%.*s", (int)(strrchr(base, '.') - base), base);
        snprintf(b, sizeof b, "%s/models/images/%s/%s.png", sh, cases[i].dir, stem);
        cc_image s, r, d, g;
        int rc = cc_image_load(a, &s, err, sizeof err);
        CHECK(rc == 0, "%s", err);
        rc |= cc_image_load(b, &r, err, sizeof err);
        CHECK(rc == 0, "%s", err);
        if (rc) continue;
        if (cases[i].gray) {
            cc_image_to_gray(&s, &g);
            cc_image_free(&s);
            s = g;
        }
        rc = cc_image_resize_bilinear_pil(&s, cases[i].size, cases[i].size, &d);
        int md = rc ? 999 : max_pixel_diff(&d, &r);
        CHECK(md <= cases[i].tol, "%s -> %d vs %s: max diff %d (tol %d)", cases[i].src, cases[i].size, b, md,
              cases[i].tol);
        printf("  PIL resize %s -> %dx%d: max abs diff %d\n", cases[i].src, cases[i].size, cases[i].size, md);
        cc_image_free(&s);
        cc_image_free(&r);
        cc_image_free(&d);
    }
    return 1;
}

static void test_jet_overlay_basic(void)
{
    uint8_t lut[256][3];
    cc_colormap_jet(lut);
    /* Entries of cv::applyColorMap(COLORMAP_JET), RGB.  Derivation for a few:
     * v = 0: b = 0.5 -> 127.5 -> ties-to-even... the float32 value of the
     * chain is 127.50001 -> 128.  v = 32: b = 1 -> 255.  v = 96: r = 4*96/255
     * - 1.5 = 1.5/255 -> 1.5 -> 2 (even); b = 2.5 - 4*96/255 -> 253.5 -> 254.
     * v = 128: r = 4*128/255 - 1.5 -> 129.5 -> 130 (float chain rounds up),
     * b = 125.5 -> 126.  v = 255: r = 4.5 - 4 = 0.5 -> 127.5 -> 128.
     * All 256 entries were checked against OpenCV 4.6.0 (tests/test_image.sh
     * repeats that when OpenCV's Python module is installed). */
    static const struct { int v; uint8_t rgb[3]; } want[] = {
        {0, {0, 0, 128}},     {1, {0, 0, 132}},     {31, {0, 0, 252}},    {32, {0, 0, 255}},
        {33, {0, 4, 255}},    {63, {0, 124, 255}},  {64, {0, 128, 255}},  {95, {0, 252, 255}},
        {96, {2, 255, 254}},  {97, {6, 255, 250}},  {127, {126, 255, 130}}, {128, {130, 255, 126}},
        {159, {254, 255, 1}}, {160, {255, 252, 0}}, {191, {255, 128, 0}}, {192, {255, 124, 0}},
        {223, {255, 0, 0}},   {224, {252, 0, 0}},   {254, {132, 0, 0}},   {255, {128, 0, 0}},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (memcmp(lut[want[i].v], want[i].rgb, 3) != 0) {
            bad++;
            printf("  jet[%d] = (%d,%d,%d), want (%d,%d,%d)\n", want[i].v, lut[want[i].v][0], lut[want[i].v][1],
                   lut[want[i].v][2], want[i].rgb[0], want[i].rgb[1], want[i].rgb[2]);
        }
    CHECK(bad == 0, "JET entries (%d wrong)", bad);

    /* Overlay: all-zero map on a black image -> heat (0,0,128)/255, max 128/255 -> (0,0,255). */
    cc_image blk, ov;
    cc_image_alloc(&blk, 4, 3, 3);
    float m[12] = {0};
    m[5] = NAN;
    CHECK(cc_overlay(m, &blk, &ov) == 0 && ov.c == 3, "overlay");
    int ok = 1;
    for (int i = 0; i < 12; i++) ok &= ov.px[3 * i] == 0 && ov.px[3 * i + 1] == 0 && ov.px[3 * i + 2] == 255;
    CHECK(ok, "overlay of a zero (and NaN) map on black is pure blue");
    cc_image_free(&ov);
    /* White image, map 1 at one pixel: sum max = 128/255 + 1 (red) -> that pixel's R = 255. */
    memset(blk.px, 255, 36);
    m[5] = 1.0f;
    m[6] = 7.0f; /* clamped to 1 */
    CHECK(cc_overlay(m, &blk, &ov) == 0, "overlay white");
    float mx = 128.0f / 255.0f + 1.0f;
    CHECK(ov.px[15] == 255 && ov.px[18] == 255 && ov.px[17] == (uint8_t)(255.0f * (1.0f / mx)),
          "overlay white values %d %d %d", ov.px[15], ov.px[17], ov.px[18]);
    cc_image_free(&ov);
    cc_image heat;
    CHECK(cc_heatmap(m, 4, 3, &heat) == 0 && heat.px[15] == 128 && heat.px[0] == 0 && heat.px[2] == 128,
          "heatmap pixels");
    cc_image_free(&heat);
    CHECK(cc_overlay(NULL, &blk, &ov) == CC_E_ARG && ov.px == NULL, "overlay NULL map refused");
    cc_image_free(&blk);
}

static void test_upsample_basic(void)
{
    float s[2] = {0, 1}, d[4];
    CHECK(cc_upsample_bilinear(s, 1, 2, d, 1, 4) == 0, "1x2 -> 1x4");
    CHECK(d[0] == 0.0f && d[1] == 0.25f && d[2] == 0.75f && d[3] == 1.0f, "values %g %g %g %g", d[0], d[1], d[2], d[3]);
    float c[6] = {2.5f, 2.5f, 2.5f, 2.5f, 2.5f, 2.5f}, o[7 * 11];
    cc_upsample_bilinear(c, 2, 3, o, 7, 11);
    int ok = 1;
    /* lambda0 = 1 - lambda1 in float32 (as torch) need not sum to exactly 1. */
    for (int i = 0; i < 77; i++) ok &= !(fabsf(o[i] - 2.5f) > 5e-7f);
    CHECK(ok, "constant map stays constant");
    float one = 3.0f;
    cc_upsample_bilinear(&one, 1, 1, o, 5, 5);
    ok = 1;
    for (int i = 0; i < 25; i++) ok &= !(fabsf(o[i] - 3.0f) > 5e-7f);
    CHECK(ok && o[0] == 3.0f, "1x1 map");
    float id[6] = {1, 2, 3, 4, 5, 6};
    cc_upsample_bilinear(id, 2, 3, o, 2, 3);
    CHECK(memcmp(o, id, sizeof id) == 0, "same size = copy");
    CHECK(cc_upsample_bilinear(id, 0, 3, o, 2, 3) == CC_E_ARG, "0 rows refused");

    /* min-max */
    float v[4] = {1, 3, 2, 5};
    int flat = -1;
    cc_minmax_normalize(v, 4, &flat);
    CHECK(flat == 0 && v[0] == 0.0f && v[1] == 0.5f && v[2] == 0.25f && v[3] == 1.0f, "minmax values");
    float f[3] = {4, 4, 4};
    cc_minmax_normalize(f, 3, &flat);
    CHECK(flat == 1 && f[0] == 0.0f && f[2] == 0.0f, "flat map -> zeros, flat=1");
    float nn[3] = {1, NAN, 2};
    cc_minmax_normalize(nn, 3, &flat);
    CHECK(flat == 1 && nn[1] == 0.0f && nn[0] == 0.0f, "NaN -> zeros, never NaN");
    float inf[3] = {1, INFINITY, 2};
    cc_minmax_normalize(inf, 3, &flat);
    CHECK(flat == 1 && inf[1] == 0.0f, "inf -> zeros");
    float big[2] = {-3e38f, 3e38f};
    cc_minmax_normalize(big, 2, &flat);
    CHECK(flat == 1 && big[0] == 0.0f && big[1] == 0.0f, "range overflow -> zeros");
    cc_minmax_normalize(NULL, 0, NULL);
    float neg[3] = {-5, -1, -3};
    cc_minmax_normalize(neg, 3, NULL);
    CHECK(neg[0] == 0.0f && neg[1] == 1.0f && neg[2] == 0.5f, "negative maps");
}

/* ---- fixture comparisons (PIL, torch, OpenCV) ---------------------------- */

static const char *fix;

static int load_npy(const char *name, cc_npy *a)
{
    char path[700], err[512];
    snprintf(path, sizeof path, "%s/%s", fix, name);
    int rc = cc_npy_load(path, a, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    return rc;
}

/* Max |image - npy(H,W,C uint8)|, or 999 on a shape mismatch. */
static int diff_npy(const cc_image *img, const cc_npy *a)
{
    if (a->ndim != 3 || a->dims[0] != img->h || a->dims[1] != img->w || a->dims[2] != img->c) return 999;
    int m = 0;
    for (int64_t i = 0; i < a->numel; i++) {
        int d = abs((int)img->px[i] - (int)a->data[i]);
        if (d > m) m = d;
    }
    return m;
}

static void fixture_decode(void)
{
    char path[700], name[200], err[512];
    snprintf(path, sizeof path, "%s/decode_cases.txt", fix);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "open %s", path);
    if (!f) return;
    int tol, n = 0;
    while (fscanf(f, "%199s %d", name, &tol) == 2) {
        snprintf(path, sizeof path, "%s/%s", fix, name);
        cc_image img;
        int rc = cc_image_load(path, &img, err, sizeof err);
        CHECK(rc == 0, "%s: %s", name, err);
        char nn[260];
        snprintf(nn, sizeof nn, "%s.npy", name);
        cc_npy a;
        if (rc == 0 && load_npy(nn, &a) == 0) {
            /* A BMP with a gray palette is "L" for PIL and RGB (r=g=b) for stb:
             * the same pixels once converted; compare in the reference's mode. */
            if (a.ndim == 3 && a.dims[2] == 1 && img.c == 3) {
                cc_image g;
                if (cc_image_to_gray(&img, &g) == 0) {
                    cc_image_free(&img);
                    img = g;
                }
            }
            int md = diff_npy(&img, &a);
            CHECK(md <= tol, "%s: max diff %d vs PIL (tol %d), decoded %dx%dx%d", name, md, tol, img.w, img.h, img.c);
            printf("  decode %-10s %dx%d c=%d: max abs diff vs PIL %d\n", name, img.w, img.h, img.c, md);
            cc_npy_free(&a);
        }
        cc_image_free(&img);
        n++;
    }
    fclose(f);
    CHECK(n >= 10, "decode cases read: %d", n);

    /* Conversions. */
    cc_image rgb, rgba, gray, t;
    snprintf(path, sizeof path, "%s/rgb.png", fix);
    int rc = cc_image_load(path, &rgb, err, sizeof err);
    snprintf(path, sizeof path, "%s/rgba.png", fix);
    rc |= cc_image_load(path, &rgba, err, sizeof err);
    snprintf(path, sizeof path, "%s/gray.png", fix);
    rc |= cc_image_load(path, &gray, err, sizeof err);
    CHECK(rc == 0, "conversion sources: %s", err);
    if (rc) return;
    struct { const cc_image *src; int to_gray; const char *ref; } conv[] = {
        {&rgb, 1, "conv_rgb_L.npy"}, {&rgba, 1, "conv_rgba_L.npy"}, {&rgba, 0, "conv_rgba_RGB.npy"},
        {&gray, 0, "conv_gray_RGB.npy"}};
    for (int i = 0; i < 4; i++) {
        cc_npy a;
        rc = conv[i].to_gray ? cc_image_to_gray(conv[i].src, &t) : cc_image_to_rgb(conv[i].src, &t);
        if (rc == 0 && load_npy(conv[i].ref, &a) == 0) {
            CHECK(diff_npy(&t, &a) == 0, "%s differs from PIL", conv[i].ref);
            cc_npy_free(&a);
        }
        cc_image_free(&t);
    }
    /* The input tensor vs torch. */
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    cc_npy a;
    if (load_npy("tensor_rgb.npy", &a) == 0) {
        float *o = malloc(sizeof(float) * (size_t)a.numel);
        CHECK(a.numel == 3LL * rgb.w * rgb.h && cc_image_to_tensor(&rgb, mean, sd, 3, o) == 0, "tensor rgb");
        double md = check_maxdiff(o, a.data, (size_t)a.numel);
        CHECK(md <= 1e-6, "tensor rgb vs torch: max diff %g", md);
        printf("  input tensor (rgb, ImageNet mean/std) vs torch: max abs diff %.3g\n", md);
        free(o);
        cc_npy_free(&a);
    }
    if (load_npy("tensor_gray.npy", &a) == 0) {
        float *o = malloc(sizeof(float) * (size_t)a.numel), h = 0.5f;
        CHECK(a.numel == (int64_t)rgb.w * rgb.h && cc_image_to_tensor(&rgb, &h, &h, 1, o) == 0, "tensor gray");
        double md = check_maxdiff(o, a.data, (size_t)a.numel);
        CHECK(md <= 1e-6, "tensor gray (from RGB via PIL L) vs torch: max diff %g", md);
        free(o);
        cc_npy_free(&a);
    }
    cc_image_free(&rgb);
    cc_image_free(&rgba);
    cc_image_free(&gray);
}

static void fixture_resize(void)
{
    char path[700], src[200], ref[200], err[512];
    snprintf(path, sizeof path, "%s/resize_cases.txt", fix);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "open %s", path);
    if (!f) return;
    int w, h, n = 0, worst = 0;
    while (fscanf(f, "%199s %d %d %199s", src, &w, &h, ref) == 4) {
        snprintf(path, sizeof path, "%s/%s", fix, src);
        cc_image s, d;
        cc_npy a;
        if (cc_image_load(path, &s, err, sizeof err) != 0) {
            CHECK(0, "%s", err);
            continue;
        }
        int rc = cc_image_resize_bilinear_pil(&s, w, h, &d);
        if (rc == 0 && load_npy(ref, &a) == 0) {
            int md = diff_npy(&d, &a);
            CHECK(md == 0, "%s -> %dx%d: max diff %d vs PIL", src, w, h, md);
            if (md > worst) worst = md;
            cc_npy_free(&a);
        }
        cc_image_free(&s);
        cc_image_free(&d);
        n++;
    }
    fclose(f);
    CHECK(n >= 10, "resize cases read: %d", n);
    printf("  PIL BILINEAR resize, %d noisy cases (shrink, enlarge, one axis, 1x1): max abs diff %d\n", n, worst);
}

static void fixture_upsample(void)
{
    char path[700], name[200], nm[260];
    snprintf(path, sizeof path, "%s/upsample_cases.txt", fix);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "open %s", path);
    if (!f) return;
    int sh, sw, dh, dw, n = 0;
    double worst = 0;
    while (fscanf(f, "%199s %d %d %d %d", name, &sh, &sw, &dh, &dw) == 5) {
        cc_npy in, out;
        snprintf(nm, sizeof nm, "%s_in.npy", name);
        if (load_npy(nm, &in)) continue;
        snprintf(nm, sizeof nm, "%s_out.npy", name);
        if (load_npy(nm, &out)) { cc_npy_free(&in); continue; }
        float *o = malloc(sizeof(float) * (size_t)dh * (size_t)dw);
        int rc = cc_upsample_bilinear(in.data, sh, sw, o, dh, dw);
        CHECK(rc == 0 && out.numel == (int64_t)dh * dw, "%s", name);
        double md = rc ? INFINITY : check_maxdiff(o, out.data, (size_t)out.numel);
        double scale = check_maxabs(out.data, (size_t)out.numel);
        /* within ~2 ulp of the largest value (torch fuses some products) */
        CHECK(md <= 2.5e-7 * (1 + scale), "%s vs torch: max diff %g (max |value| %g)", name, md, scale);
        printf("  upsample %-18s vs F.interpolate: max abs diff %.3g\n", name, md);
        if (md > worst) worst = md;
        free(o);
        cc_npy_free(&in);
        cc_npy_free(&out);
        n++;
    }
    fclose(f);
    CHECK(n >= 8, "upsample cases read: %d", n);
}

static void fixture_jet_overlay(void)
{
    cc_npy lut, map, ov, heat;
    char path[700], srcname[200] = "?";
    snprintf(path, sizeof path, "%s/jet_source.txt", fix);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(srcname, sizeof srcname, f)) srcname[0] = 0;
        srcname[strcspn(srcname, "\n")] = 0;
        fclose(f);
    }
    if (load_npy("jet_lut.npy", &lut) == 0) {
        uint8_t mine[256][3];
        cc_colormap_jet(mine);
        int bad = 0;
        for (int i = 0; i < 768 && lut.numel == 768; i++) bad += mine[i / 3][i % 3] != (uint8_t)lut.data[i];
        CHECK(lut.numel == 768 && bad == 0, "JET LUT vs %s: %d of 768 values differ", srcname, bad);
        printf("  JET LUT vs %s: %d of 768 values differ\n", srcname, bad);
        cc_npy_free(&lut);
    }
    if (load_npy("ov_map.npy", &map) || load_npy("ov_expected.npy", &ov) || load_npy("heat_expected.npy", &heat))
        return;
    char err[512];
    cc_image rgb, out, hm;
    snprintf(path, sizeof path, "%s/rgb.png", fix);
    if (cc_image_load(path, &rgb, err, sizeof err) == 0 && map.numel == (int64_t)rgb.w * rgb.h) {
        CHECK(cc_overlay(map.data, &rgb, &out) == 0, "overlay");
        int md = diff_npy(&out, &ov);
        CHECK(md == 0, "overlay vs the reference (NumPy + %s): max diff %d", srcname, md);
        printf("  overlay vs reference np.uint8(255*cam): max abs diff %d\n", md);
        CHECK(cc_heatmap(map.data, rgb.w, rgb.h, &hm) == 0 && diff_npy(&hm, &heat) == 0, "heatmap vs reference");
        cc_image_free(&out);
        cc_image_free(&hm);
    } else {
        CHECK(0, "overlay fixture: %s", err);
    }
    cc_image_free(&rgb);
    cc_npy_free(&map);
    cc_npy_free(&ov);
    cc_npy_free(&heat);
}

int main(int argc, char **argv)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cc_test_image_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        printf("cannot make a temporary folder\n");
        return 1;
    }
    test_roundtrip_formats();
    test_errors();
    test_conversions();
    test_resize_basic();
    test_resize_shared();
    test_jet_overlay_basic();
    test_upsample_basic();
    if (argc > 1) {
        fix = argv[1];
        fixture_decode();
        fixture_resize();
        fixture_upsample();
        fixture_jet_overlay();
    } else {
        printf("  (PIL/torch/OpenCV comparisons run from tests/test_image.sh)\n");
    }
    const char *files[] = {"rt1.png", "rt3.png", "rt4.png", "rt1.jpg", "rt3.jpg", "empty.png", "text.png",
                           "bomb.png", "trunc.png"};
    char path[400];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
    if (rmdir(tmpdir) != 0) printf("  note: %s not empty\n", tmpdir);
    return check_exit();
}
