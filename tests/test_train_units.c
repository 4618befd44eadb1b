/* The training path's pieces, no dataset needed: the ONNX writer (round trip
 * through our decoder: attributes, int64 initializers, metadata, symbolic
 * dims, errors), IDX validation (crafted and gzip'd files, truncation,
 * trailing bytes, bad magic/type/rank), the PRNG, the softmax cross-entropy
 * gradient against finite differences, the optimisers against hand-computed
 * steps, architecture parsing, weight access, and a tiny net learning a toy
 * problem through cc_session_backward. */
#include "check.h"
#include "contrastcam.h"
#include "onnx/writer.h"
#include "train/train.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static void test_writer(void)
{
    cc_onnx_writer *w = cc_ow_new("g");
    int64_t in_dims[2] = { 2, 3 }, wd[2] = { 4, 3 }, bd[1] = { 4 }, shp_d[1] = { 2 };
    float W[12], b[4] = { 0.5f, -1, 2, 0 };
    for (int i = 0; i < 12; i++) W[i] = (float)(i - 5) * 0.25f;
    int64_t shape[2] = { 1, 8 };
    cc_ow_input(w, "x", in_dims, 2);
    cc_ow_initializer(w, "W", wd, 2, W);
    cc_ow_initializer(w, "b", bd, 1, b);
    cc_ow_initializer_i64(w, "shape", shp_d, 1, shape);
    const char *g_in[3] = { "x", "W", "b" }, *g_out[1] = { "y" };
    cc_ow_node(w, "Gemm", "fc", g_in, 3, g_out, 1);
    cc_ow_attr_int(w, "transB", 1);
    cc_ow_attr_float(w, "alpha", 2.0f);
    const char *r_in[2] = { "y", "shape" }, *r_out[1] = { "z" };
    cc_ow_node(w, "Reshape", NULL, r_in, 2, r_out, 1);
    const char *l_in[1] = { "z" }, *l_out[1] = { "out" };
    cc_ow_node(w, "LeakyRelu", "lr", l_in, 1, l_out, 1);
    cc_ow_attr_float(w, "alpha", 0.125f);
    cc_ow_attr_string(w, "note", "ignored");
    int64_t od[2] = { 1, 8 };
    cc_ow_output(w, "out", od, 2);
    cc_ow_meta(w, "labels", "a\nb");
    cc_ow_meta(w, "empty", "");
    uint8_t *buf;
    size_t n;
    CHECK(cc_ow_serialize(w, &buf, &n) == 0, "serialize: %s", cc_ow_errmsg(w));
    cc_ow_free(w);
    cc_model *m = NULL;
    cc_status st = cc_model_load_buffer(buf, n, NULL, &m);
    CHECK(st == CC_OK, "writer output loads: %s", cc_model_errmsg(m));
    if (st == CC_OK) {
        CHECK(cc_model_opset(m) == 13, "opset %d", cc_model_opset(m));
        CHECK(cc_model_metadata(m, "labels") && !strcmp(cc_model_metadata(m, "labels"), "a\nb"), "labels metadata");
        CHECK(cc_model_metadata(m, "empty") && !*cc_model_metadata(m, "empty"), "empty metadata");
        cc_session *s;
        CHECK(cc_session_new(m, &s) == CC_OK, "session");
        float x[6] = { 1, 2, 3, -1, 0, 1 };
        cc_session_set_input(s, cc_model_input(m, 0), x, 6);
        CHECK(cc_session_forward(s) == CC_OK, "forward: %s", cc_session_errmsg(s));
        size_t k;
        const float *y = cc_session_value(s, cc_model_output(m, 0), &k);
        CHECK(k == 8, "output numel %zu", k);
        double md = 0;
        for (int r = 0; r < 2; r++)
            for (int o = 0; o < 4; o++) {
                double acc = b[o];
                for (int i = 0; i < 3; i++) acc += 2.0 * x[r * 3 + i] * W[o * 3 + i];
                if (acc < 0) acc *= 0.125;
                double d = acc - y[r * 4 + o];
                if (d < 0) d = -d;
                if (d > md) md = d;
            }
        CHECK(md < 1e-5, "Gemm/Reshape/LeakyRelu values off by %g", md);
        cc_session_free(s);
        /* weights loaded from a buffer are writable; from a file they are not */
        int tw = cc_model_find_tensor(m, "W");
        size_t wn = 0;
        CHECK(cc_train_weight(m, tw, &wn) != NULL && wn == 12, "writable weight from buffer");
        CHECK(cc_train_weight(m, cc_model_input(m, 0), NULL) == NULL, "input is not a weight");
        CHECK(cc_train_weight(m, -1, NULL) == NULL && cc_train_weight(m, 1 << 20, NULL) == NULL, "bad index");
    }
    cc_model_free(m);
    /* from a file: the weights are mapped read-only */
    char path[] = "/tmp/cc_writer_XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
        CHECK(write(fd, buf, n) == (ssize_t)n, "write temp model");
        close(fd);
        m = NULL;
        if (cc_model_load(path, &m) == CC_OK) {
            /* weights used in place from the read-only mapping must not be handed
             * out; converted ones may be: writing through what we get must work */
            const char *names[2] = { "W", "b" };
            for (int i = 0; i < 2; i++) {
                size_t k = 0;
                float *p = cc_train_weight(m, cc_model_find_tensor(m, names[i]), &k);
                for (size_t j = 0; p && j < k; j++) p[j] = p[j];
            }
            CHECK(1, "file-loaded weights");
        } else CHECK(0, "cannot load temp model: %s", cc_model_errmsg(m));
        cc_model_free(m);
        unlink(path);
    }
    free(buf);

    /* symbolic batch dimension */
    w = cc_ow_new(NULL);
    int64_t sd[4] = { -1, 1, 2, 2 };
    cc_ow_input(w, "x", sd, 4);
    const char *a_in[1] = { "x" }, *a_out[1] = { "y" };
    cc_ow_node(w, "Relu", "r", a_in, 1, a_out, 1);
    cc_ow_output(w, "y", sd, 4);
    CHECK(cc_ow_serialize(w, &buf, &n) == 0, "serialize symbolic");
    cc_ow_free(w);
    m = NULL;
    CHECK(cc_model_load_buffer(buf, n, NULL, &m) == CC_OK, "symbolic batch loads: %s", cc_model_errmsg(m));
    cc_model_free(m);
    free(buf);

    /* errors are sticky and reported */
    w = cc_ow_new("e");
    CHECK(cc_ow_attr_int(w, "k", 1) != 0, "attribute before a node is an error");
    CHECK(cc_ow_error(w) == CC_E_ARG && strstr(cc_ow_errmsg(w), "before any node"), "message: %s", cc_ow_errmsg(w));
    cc_ow_node(w, "Relu", "r", a_in, 1, a_out, 1);
    CHECK(cc_ow_serialize(w, &buf, &n) != 0 && buf == NULL, "sticky error");
    cc_ow_free(w);
    w = cc_ow_new("e2");
    int64_t neg[1] = { -3 };
    float one = 1;
    CHECK(cc_ow_initializer(w, "bad", neg, 1, &one) != 0, "negative initializer dim refused");
    cc_ow_free(w);
    w = cc_ow_new("e3");
    cc_ow_node(w, "Relu", "r", a_in, 1, a_out, 1);
    CHECK(cc_ow_serialize(w, &buf, &n) != 0, "graph without outputs refused");
    cc_ow_free(w);
    w = cc_ow_new("e4");
    const char *no_out[1] = { "" };
    CHECK(cc_ow_node(w, "Relu", "r", a_in, 1, no_out, 1) != 0, "unnamed output refused");
    cc_ow_free(w);
}

static size_t idx_bytes(uint8_t *p, int type, int ndim, const uint32_t *dims, size_t payload)
{
    p[0] = 0; p[1] = 0; p[2] = (uint8_t)type; p[3] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++) {
        p[4 + 4 * i] = (uint8_t)(dims[i] >> 24); p[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        p[6 + 4 * i] = (uint8_t)(dims[i] >> 8); p[7 + 4 * i] = (uint8_t)dims[i];
    }
    size_t h = 4 + 4 * (size_t)ndim;
    for (size_t i = 0; i < payload; i++) p[h + i] = (uint8_t)(i * 7);
    return h + payload;
}

static void test_idx(void)
{
    uint8_t b[256];
    char err[256];
    cc_idx x;
    uint32_t d3[3] = { 2, 3, 4 };
    size_t n = idx_bytes(b, 8, 3, d3, 24);
    CHECK(cc_idx_parse(b, n, "ok", &x, err, sizeof err) == 0 && x.ndim == 3 && x.numel == 24 && x.dims[2] == 4 &&
          x.data[5] == 35, "good IDX: %s", err);
    cc_idx_free(&x);
    CHECK(cc_idx_parse(b, n - 1, "t", &x, err, sizeof err) == CC_E_PARSE && strstr(err, "truncated"), "truncated: %s", err);
    n = idx_bytes(b, 8, 3, d3, 25);
    CHECK(cc_idx_parse(b, n, "t", &x, err, sizeof err) == CC_E_PARSE && strstr(err, "trailing"), "trailing: %s", err);
    n = idx_bytes(b, 0x0D, 3, d3, 24);
    CHECK(cc_idx_parse(b, n, "t", &x, err, sizeof err) == CC_E_UNSUPPORTED, "float IDX refused: %s", err);
    n = idx_bytes(b, 8, 3, d3, 24);
    b[1] = 1;
    CHECK(cc_idx_parse(b, n, "t", &x, err, sizeof err) == CC_E_PARSE && strstr(err, "magic"), "bad magic: %s", err);
    n = idx_bytes(b, 8, 0, d3, 0);
    CHECK(cc_idx_parse(b, n, "t", &x, err, sizeof err) != 0, "rank 0 refused");
    uint32_t d0[2] = { 0, 5 };
    n = idx_bytes(b, 8, 2, d0, 0);
    CHECK(cc_idx_parse(b, n, "t", &x, err, sizeof err) != 0, "zero dim refused");
    uint32_t big[4] = { 0xffffffffu, 0xffffffffu, 2, 2 };
    n = idx_bytes(b, 8, 4, big, 0);
    CHECK(cc_idx_parse(b, n, "t", &x, err, sizeof err) == CC_E_LIMIT, "huge dims refused: %s", err);
    CHECK(cc_idx_parse(b, 3, "t", &x, err, sizeof err) != 0, "3 bytes refused");
    CHECK(cc_idx_parse(b, 9, "t", &x, err, sizeof err) != 0, "cut header refused");

    /* files: gzip, plain, truncated gzip, labels out of range, count mismatch */
    char dir[] = "/tmp/cc_idx_XXXXXX";
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp"); return; }
    char ip[128], lp[128], bad[128];
    snprintf(ip, sizeof ip, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(lp, sizeof lp, "%s/train-labels-idx1-ubyte", dir);
    snprintf(bad, sizeof bad, "%s/cut.gz", dir);
    uint32_t di[3] = { 3, 2, 2 }, dl[1] = { 3 };
    n = idx_bytes(b, 8, 3, di, 12);
    gzFile g = gzopen(ip, "wb");
    gzwrite(g, b, (unsigned)n);
    gzclose(g);
    uint8_t lb[16];
    size_t ln = idx_bytes(lb, 8, 1, dl, 0);
    lb[ln++] = 1; lb[ln++] = 9; lb[ln++] = 0;
    FILE *f = fopen(lp, "wb");
    fwrite(lb, 1, ln, f);
    fclose(f);
    cc_dataset ds;
    CHECK(cc_dataset_load_dir(dir, 0, 10, 0, &ds, err, sizeof err) == 0 && ds.n == 3 && ds.h == 2 && ds.w == 2 &&
          ds.labels[1] == 9 && ds.images[4] == 28, "dataset (gz images, plain labels): %s", err);
    cc_dataset_free(&ds);
    CHECK(cc_dataset_load_dir(dir, 0, 10, 2, &ds, err, sizeof err) == 0 && ds.n == 2, "limit");
    cc_dataset_free(&ds);
    CHECK(cc_dataset_load_dir(dir, 0, 5, 0, &ds, err, sizeof err) == CC_E_PARSE && strstr(err, "label 9"), "label range: %s", err);
    CHECK(cc_dataset_load(ip, ip, 10, 0, &ds, err, sizeof err) == CC_E_SHAPE, "labels of rank 3 refused: %s", err);
    CHECK(cc_dataset_load_dir(dir, 1, 10, 0, &ds, err, sizeof err) == CC_E_IO, "missing test files: %s", err);
    /* a gzip stream cut short */
    FILE *src = fopen(ip, "rb");
    uint8_t gzb[512];
    size_t gn = fread(gzb, 1, sizeof gzb, src);
    fclose(src);
    f = fopen(bad, "wb");
    fwrite(gzb, 1, gn - 6, f);
    fclose(f);
    CHECK(cc_idx_load(bad, &x, err, sizeof err) == CC_E_PARSE, "truncated gzip refused: %s", err);
    CHECK(cc_idx_load(dir, &x, err, sizeof err) == CC_E_IO, "a folder is refused: %s", err);
    /* counts that disagree */
    uint32_t dl2[1] = { 2 };
    ln = idx_bytes(lb, 8, 1, dl2, 0);
    lb[ln++] = 1; lb[ln++] = 2;
    f = fopen(lp, "wb");
    fwrite(lb, 1, ln, f);
    fclose(f);
    CHECK(cc_dataset_load_dir(dir, 0, 10, 0, &ds, err, sizeof err) == CC_E_SHAPE, "count mismatch: %s", err);
    unlink(ip);
    unlink(lp);
    unlink(bad);
    rmdir(dir);
}

static void test_rng(void)
{
    cc_rng a, b;
    cc_rng_seed(&a, 42);
    cc_rng_seed(&b, 42);
    int same = 1;
    for (int i = 0; i < 100; i++) same &= cc_rng_next(&a) == cc_rng_next(&b);
    CHECK(same, "same seed, same stream");
    cc_rng_seed(&b, 43);
    CHECK(cc_rng_next(&a) != cc_rng_next(&b), "different seeds differ");
    /* xoshiro256** reference: state {1,2,3,4} gives 11520, 0, 1509978240, 1215971899390074240 */
    cc_rng r = { { 1, 2, 3, 4 } };
    uint64_t e[4] = { 11520ULL, 0ULL, 1509978240ULL, 1215971899390074240ULL };
    for (int i = 0; i < 4; i++) {
        uint64_t v = cc_rng_next(&r);
        CHECK(v == e[i], "xoshiro256** output %d: %llu", i, (unsigned long long)v);
    }
    int hist[7] = { 0 };
    double s = 0, s2 = 0;
    cc_rng_seed(&a, 7);
    for (int i = 0; i < 70000; i++) hist[cc_rng_below(&a, 7)]++;
    for (int i = 0; i < 20000; i++) { double z = cc_rng_normal(&a); s += z; s2 += z * z; }
    for (int i = 0; i < 7; i++) CHECK(hist[i] > 9500 && hist[i] < 10500, "below(7) bucket %d: %d", i, hist[i]);
    CHECK(fabs(s / 20000) < 0.03 && fabs(s2 / 20000 - 1) < 0.05, "normal mean %g var %g", s / 20000, s2 / 20000);
    int p[50], seen[50] = { 0 };
    for (int i = 0; i < 50; i++) p[i] = i;
    cc_rng_shuffle(&a, p, 50);
    int moved = 0;
    for (int i = 0; i < 50; i++) { seen[p[i]]++; moved += p[i] != i; }
    int perm = 1;
    for (int i = 0; i < 50; i++) perm &= seen[i] == 1;
    CHECK(perm && moved > 30, "shuffle is a permutation that moves things (%d moved)", moved);
}

static void test_xent(void)
{
    enum { R = 3, C = 4 };
    float z[R * C] = { 1, 2, 0.5f, -1, 0, 0, 0, 0, 30, -20, 5, 1 };
    uint8_t y[R] = { 1, 3, 0 };
    float g[R * C];
    int ok;
    double L = cc_softmax_xent(z, y, 2, R, C, g, &ok);   /* third row is padding */
    CHECK(ok == 1, "correct count %d", ok);
    for (int j = 0; j < C; j++) CHECK(g[2 * C + j] == 0, "padding rows get zero seed");
    double md = 0;
    for (int i = 0; i < 2 * C; i++) {
        float zp[R * C], zm[R * C];
        memcpy(zp, z, sizeof z);
        memcpy(zm, z, sizeof z);
        zp[i] += 1e-3f;
        zm[i] -= 1e-3f;
        double fd = (cc_softmax_xent(zp, y, 2, R, C, NULL, NULL) - cc_softmax_xent(zm, y, 2, R, C, NULL, NULL)) / 2e-3;
        double d = fabs(fd - g[i]);
        if (d > md) md = d;
    }
    CHECK(md < 1e-4, "cross-entropy gradient vs finite differences: %g", md);
    /* log(4) for uniform logits */
    CHECK(fabs(cc_softmax_xent(z + 4, y + 1, 1, 1, C, NULL, NULL) - log(4.0)) < 1e-9, "uniform loss");
    /* large logits stay finite */
    float big[2] = { 1000, -1000 };
    uint8_t y1 = 1;
    CHECK(fabs(cc_softmax_xent(big, &y1, 1, 1, 2, NULL, NULL) - 2000) < 1e-6, "stable log-sum-exp");
    (void)L;
}

static void test_optim(void)
{
    float w[2] = { 1, -2 }, g[2] = { 0.5f, -0.25f };
    const float *gs[1] = { g };
    cc_optim o;
    cc_optim_init(&o, CC_OPT_SGD);
    o.weight_decay = 0.1f;
    cc_optim_add(&o, w, 2, 1);
    cc_optim_step(&o, gs, 0.1f);
    /* m = g + wd w = (0.6, -0.45); w = (0.94, -1.955) */
    CHECK(fabs(w[0] - 0.94) < 1e-6 && fabs(w[1] + 1.955) < 1e-6, "SGD step 1: %g %g", w[0], w[1]);
    cc_optim_step(&o, gs, 0.1f);
    /* m = 0.9 m + g + wd w = (0.54+0.5+0.094, -0.405-0.25-0.1955) */
    CHECK(fabs(w[0] - (0.94 - 0.1 * 1.134)) < 1e-6 && fabs(w[1] - (-1.955 + 0.1 * 0.8505)) < 1e-6, "SGD step 2: %g %g", w[0], w[1]);
    cc_optim_free(&o);
    float a[1] = { 1 }, ga[1] = { 3 };
    const float *gas[1] = { ga };
    cc_optim_init(&o, CC_OPT_ADAM);
    cc_optim_add(&o, a, 1, 0);
    cc_optim_step(&o, gas, 0.01f);
    /* first Adam step moves by lr * g / (|g| + eps') = 0.01 */
    CHECK(fabs(a[0] - 0.99) < 1e-6, "Adam step 1: %g", a[0]);
    ga[0] = -1;
    cc_optim_step(&o, gas, 0.01f);
    double m = 0.9 * 0.3 + 0.1 * -1, v = 0.999 * 0.009 + 0.001 * 1;
    double mh = m / (1 - 0.81), vh = v / (1 - 0.999 * 0.999);
    CHECK(fabs(a[0] - (0.99 - 0.01 * mh / (sqrt(vh) + 1e-8))) < 1e-6, "Adam step 2: %g", a[0]);
    CHECK(cc_optim_add(&o, NULL, 1, 0) != 0, "NULL param refused");
    cc_optim_free(&o);
}

static void test_net_parse(void)
{
    cc_net net;
    char err[256];
    CHECK(cc_net_parse(&net, "c32,c32,p,c64,c64,p,f32", 1, 28, 28, 10, err, sizeof err) == 0, "default arch: %s", err);
    CHECK(net.n_layers == 8 && net.n_params == 12 && !strcmp(net.target, "relu4"), "layers %d params %d target %s",
          net.n_layers, net.n_params, net.target);
    CHECK(net.layers[6].in_c == 64 && net.layers[6].in_h == 7 && net.params[8].dims[1] == 3136, "flatten size");
    CHECK(cc_net_parse(&net, "c8,g", 1, 8, 8, 3, err, sizeof err) == 0 && net.params[2].dims[1] == 8, "gap arch");
    CHECK(cc_net_parse(&net, "", 1, 4, 4, 2, err, sizeof err) == 0 && net.n_layers == 1 && !net.target[0], "linear");
    CHECK(cc_net_parse(&net, "c0", 1, 8, 8, 3, err, sizeof err) != 0, "c0 refused");
    CHECK(cc_net_parse(&net, "x3", 1, 8, 8, 3, err, sizeof err) != 0 && strstr(err, "unknown"), "unknown layer: %s", err);
    CHECK(cc_net_parse(&net, "f8,c4", 1, 8, 8, 3, err, sizeof err) != 0, "conv after dense refused");
    CHECK(cc_net_parse(&net, "p,p,p,p", 1, 8, 8, 3, err, sizeof err) != 0, "over-pooling refused");
    CHECK(cc_net_parse(&net, "c", 1, 8, 8, 3, err, sizeof err) != 0, "size missing");
    CHECK(cc_net_parse(&net, "c4 c4", 1, 8, 8, 3, err, sizeof err) != 0, "separator missing");
}

/* A tiny net learns to tell bright-left from bright-right 6x6 images. */
static void test_tiny_training(void)
{
    cc_dataset d = { 0 };
    d.n = 256; d.h = 6; d.w = 6; d.n_classes = 2;
    d.images = malloc(256 * 36);
    d.labels = malloc(256);
    cc_rng r;
    cc_rng_seed(&r, 3);
    for (int i = 0; i < 256; i++) {
        int y = i & 1;
        d.labels[i] = (uint8_t)y;
        for (int q = 0; q < 36; q++) {
            int col = q % 6, bright = (col < 3) == (y == 0);
            d.images[i * 36 + q] = (uint8_t)(cc_rng_below(&r, 80) + (bright ? 150 : 0));
        }
    }
    cc_train_opts o;
    cc_train_defaults(&o);
    o.arch = "c4,p,f8";
    o.epochs = 3;
    o.batch = 20;                         /* 256 = 12 * 20 + 16: a padded last batch */
    o.lr = 0.01f;
    o.warmup_steps = 5;
    o.flip = 0;
    o.mean = 0.5f;
    o.std = 0.5f;
    cc_trainer t;
    int rc = cc_trainer_init(&t, &o, 6, 6, 2);
    CHECK(rc == 0, "trainer init: %s", t.err);
    if (!rc) {
        double acc0, acc1, loss0, loss1;
        cc_trainer_evaluate(&t, &d, &acc0, &loss0, NULL);
        cc_train_epoch e;
        rc = cc_trainer_fit(&t, &d, &d, &e);
        CHECK(rc == 0, "fit: %s", t.err);
        int64_t conf[4];
        cc_trainer_evaluate(&t, &d, &acc1, &loss1, conf);
        CHECK(acc1 >= 0.95 && loss1 < loss0, "tiny net learns: acc %.3f -> %.3f, loss %.3f -> %.3f", acc0, acc1, loss0, loss1);
        CHECK(conf[0] + conf[1] + conf[2] + conf[3] == 256, "confusion counts every image");
        CHECK(fabs(e.test_acc - acc1) < 1e-12, "last epoch's test accuracy");
        const char *meta[] = { "labels", "left\nright" };
        uint8_t *buf;
        size_t n;
        CHECK(cc_trainer_export(&t, meta, 1, &buf, &n) == 0, "export: %s", t.err);
        cc_model *m = NULL;
        if (cc_model_load_buffer(buf, n, NULL, &m) == CC_OK) {
            int in = cc_model_input(m, 0);
            cc_tensor_info ti;
            cc_model_tensor_info(m, in, &ti);
            CHECK(ti.rank == 4 && ti.dims[0] == 1 && ti.dims[2] == 6, "batch-1 export");
            CHECK(!strcmp(cc_model_metadata(m, "gradcam.target"), "relu1") && cc_default_layer(m) == cc_model_find_tensor(m, "relu1"),
                  "gradcam.target is the default layer");
            CHECK(!strcmp(cc_model_metadata(m, "preprocess.mean"), "0.5000") && !strcmp(cc_model_metadata(m, "preprocess.size"), "6x6") &&
                  !strcmp(cc_model_metadata(m, "labels"), "left\nright") && !strcmp(cc_model_metadata(m, "preprocess.channels"), "gray"),
                  "export metadata");
        } else CHECK(0, "export loads: %s", cc_model_errmsg(m));
        cc_model_free(m);
        free(buf);
    }
    cc_trainer_free(&t);
    cc_train_opts bad = o;
    bad.batch = 0;
    CHECK(cc_trainer_init(&t, &bad, 6, 6, 2) == CC_E_ARG, "batch 0 refused");
    cc_trainer_free(&t);
    bad = o;
    bad.arch = "c4,q";
    CHECK(cc_trainer_init(&t, &bad, 6, 6, 2) == CC_E_ARG && strstr(t.err, "unknown"), "bad arch refused: %s", t.err);
    cc_trainer_free(&t);
    cc_dataset_free(&d);
}

int main(void)
{
    test_writer();
    test_idx();
    test_rng();
    test_xent();
    test_optim();
    test_net_parse();
    test_tiny_training();
    return check_exit();
}
