/* Malformed and unsupported models must fail cleanly: a non-OK status, a
 * non-empty message, no crash (the suite also runs under ASan/UBSan).
 *
 *  - every prefix of a small valid model (built here by hand, and
 *    node/test_relu from libonnx-testdata when installed): strict prefixes must
 *    all be rejected, the full file must load;
 *  - ~200 random prefixes and ~200 random 1-3 bit flips of larger models (the
 *    hand-built Conv/Relu/MaxPool/Reshape/Gemm/Softmax model with weights, and
 *    node/test_mvn_expanded): a prefix must fail; a flipped model may load (a
 *    flipped weight bit is still a valid model), and then it is run forward;
 *  - a file of zeros, random bytes, an empty file, a directory, a missing file;
 *  - hand-made graphs with semantic faults (unsupported ops, two distinct
 *    unsupported ops - the message must name both -, a custom-domain op, an
 *    out-of-range opset, an integer graph input, an undefined tensor, a cycle,
 *    an undeclared output, a duplicate initializer, raw_data of the wrong
 *    size, a symbolic spatial dimension, mismatched Conv channels).
 * Fixture files go to $CC_FIXTURES (a temporary folder when unset). */
#include "check.h"
#include "contrastcam.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- a tiny protobuf writer ---------------------------------------------------- */

typedef struct pbw {
    uint8_t *p;
    size_t n, cap;
} pbw;

static void w_bytes(pbw *w, const void *d, size_t n)
{
    if (w->n + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->n + n) cap *= 2;
        uint8_t *np = realloc(w->p, cap);
        if (!np) { printf("out of memory\n"); exit(1); }
        w->p = np;
        w->cap = cap;
    }
    if (n) memcpy(w->p + w->n, d, n);
    w->n += n;
}
static void w_varint(pbw *w, uint64_t v)
{
    uint8_t b[10];
    int k = 0;
    do {
        b[k] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) b[k] |= 0x80;
        k++;
    } while (v);
    w_bytes(w, b, (size_t)k);
}
static void w_tag(pbw *w, int num, int wt) { w_varint(w, ((uint64_t)num << 3) | (uint64_t)wt); }
static void w_int(pbw *w, int num, int64_t v) { w_tag(w, num, 0); w_varint(w, (uint64_t)v); }
static void w_len(pbw *w, int num, const void *d, size_t n) { w_tag(w, num, 2); w_varint(w, n); w_bytes(w, d, n); }
static void w_str(pbw *w, int num, const char *s) { w_len(w, num, s, strlen(s)); }
static void w_msg(pbw *w, int num, pbw *sub) { w_len(w, num, sub->p, sub->n); free(sub->p); memset(sub, 0, sizeof *sub); }
static void w_float(pbw *w, int num, float f) { w_tag(w, num, 5); w_bytes(w, &f, 4); }

/* TensorProto with float raw_data (fdata), packed float_data (fpacked) or packed int64_data. */
static void w_tensor(pbw *w, int num, const char *name, const int64_t *dims, int nd, int dt, const void *data, int64_t count, int as_raw)
{
    pbw t = { 0 };
    for (int i = 0; i < nd; i++) w_int(&t, 1, dims[i]);
    w_int(&t, 2, dt);
    w_str(&t, 8, name);
    if (dt == 1 && as_raw) w_len(&t, 9, data, (size_t)count * 4);
    else if (dt == 1) w_len(&t, 4, data, (size_t)count * 4);
    else {
        pbw pk = { 0 };
        for (int64_t i = 0; i < count; i++) w_varint(&pk, (uint64_t)((const int64_t *)data)[i]);
        w_msg(&t, 7, &pk);
    }
    w_msg(w, num, &t);
}

/* ValueInfoProto: name, tensor_type{elem_type, shape}; dims < 0 are symbolic ("N"). */
static void w_value_info(pbw *w, int num, const char *name, int elem, const int64_t *dims, int nd)
{
    pbw shape = { 0 }, tt = { 0 }, tp = { 0 }, vi = { 0 };
    for (int i = 0; i < nd; i++) {
        pbw d = { 0 };
        if (dims[i] >= 0) w_int(&d, 1, dims[i]);
        else w_str(&d, 2, "N");
        w_msg(&shape, 1, &d);
    }
    w_int(&tt, 1, elem);
    if (nd >= 0) w_msg(&tt, 2, &shape);
    else free(shape.p);
    w_msg(&tp, 1, &tt);
    w_str(&vi, 1, name);
    w_msg(&vi, 2, &tp);
    w_msg(w, num, &vi);
}

static void w_output(pbw *w, const char *name)
{
    pbw vi = { 0 };
    w_str(&vi, 1, name);
    w_msg(w, 12, &vi);
}

/* AttributeProto helpers (name 1, f 2, i 3, ints 8, type 20). */
static void a_int(pbw *attrs, const char *name, int64_t v)
{
    pbw a = { 0 };
    w_str(&a, 1, name);
    w_int(&a, 3, v);
    w_int(&a, 20, 2);
    w_msg(attrs, 5, &a);
}
static void a_ints(pbw *attrs, const char *name, const int64_t *v, int n)
{
    pbw a = { 0 };
    w_str(&a, 1, name);
    for (int i = 0; i < n; i++) w_int(&a, 8, v[i]);
    w_int(&a, 20, 7);
    w_msg(attrs, 5, &a);
}
static void a_float(pbw *attrs, const char *name, float f)
{
    pbw a = { 0 };
    w_str(&a, 1, name);
    w_float(&a, 2, f);
    w_int(&a, 20, 1);
    w_msg(attrs, 5, &a);
}

/* NodeProto: input 1, output 2, name 3, op_type 4, attribute 5, domain 7.
 * ins/outs: NULL-terminated.  attrs: prebuilt attribute fields (consumed). */
static void w_node(pbw *g, const char *op, const char *domain, const char *const *ins, const char *const *outs, pbw *attrs)
{
    static int counter;
    char name[32];
    snprintf(name, sizeof name, "n%d", counter++);
    pbw n = { 0 };
    for (; ins && *ins; ins++) w_str(&n, 1, *ins);
    for (; outs && *outs; outs++) w_str(&n, 2, *outs);
    w_str(&n, 3, name);
    w_str(&n, 4, op);
    if (attrs && attrs->n) w_bytes(&n, attrs->p, attrs->n);
    if (attrs) { free(attrs->p); memset(attrs, 0, sizeof *attrs); }
    if (domain) w_str(&n, 7, domain);
    w_msg(g, 1, &n);
}

/* ModelProto: ir_version, producer, metadata, graph, then opset_import last, so
 * every strict prefix lacks a complete opset_import. */
static pbw w_model(pbw *graph, int opset, int with_meta)
{
    pbw m = { 0 };
    w_int(&m, 1, 8);
    w_str(&m, 2, "contrastcam-tests");
    if (with_meta) {
        pbw kv = { 0 };
        w_str(&kv, 1, "gradcam.target");
        w_str(&kv, 2, "r");
        w_msg(&m, 14, &kv);
    }
    w_str(graph, 2, "g");
    w_msg(&m, 7, graph);
    pbw os = { 0 };
    w_str(&os, 1, "");
    w_int(&os, 2, opset);
    w_msg(&m, 8, &os);
    return m;
}

#define L(...) ((const char *const[]){ __VA_ARGS__, NULL })

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static float rndf(void) { return (float)((rnd() >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f; }

/* The "larger" valid model: x[1,3,8,8] -> Conv(4x3x3x3, pads 1, stride 2) -> Relu
 * -> MaxPool 2x2 -> Reshape [1,-1] -> Gemm(10x16, transB) -> Softmax -> y[1,10]. */
static pbw build_cnn(void)
{
    pbw g = { 0 }, a = { 0 };
    float W[4 * 3 * 3 * 3], B[4], FW[10 * 16], FB[10];
    for (size_t i = 0; i < sizeof W / sizeof W[0]; i++) W[i] = rndf();
    for (size_t i = 0; i < 4; i++) B[i] = rndf();
    for (size_t i = 0; i < sizeof FW / sizeof FW[0]; i++) FW[i] = rndf();
    for (size_t i = 0; i < 10; i++) FB[i] = rndf();
    int64_t shape[2] = { 1, -1 };
    w_tensor(&g, 5, "W", (const int64_t[]){ 4, 3, 3, 3 }, 4, 1, W, 108, 1);
    w_tensor(&g, 5, "B", (const int64_t[]){ 4 }, 1, 1, B, 4, 0);
    w_tensor(&g, 5, "shape", (const int64_t[]){ 2 }, 1, 7, shape, 2, 0);
    w_tensor(&g, 5, "FW", (const int64_t[]){ 10, 16 }, 2, 1, FW, 160, 1);
    w_tensor(&g, 5, "FB", (const int64_t[]){ 10 }, 1, 1, FB, 10, 0);
    w_value_info(&g, 11, "x", 1, (const int64_t[]){ 1, 3, 8, 8 }, 4);
    a_ints(&a, "kernel_shape", (const int64_t[]){ 3, 3 }, 2);
    a_ints(&a, "pads", (const int64_t[]){ 1, 1, 1, 1 }, 4);
    a_ints(&a, "strides", (const int64_t[]){ 2, 2 }, 2);
    w_node(&g, "Conv", NULL, L("x", "W", "B"), L("c"), &a);
    w_node(&g, "Relu", NULL, L("c"), L("r"), NULL);
    a_ints(&a, "kernel_shape", (const int64_t[]){ 2, 2 }, 2);
    a_ints(&a, "strides", (const int64_t[]){ 2, 2 }, 2);
    w_node(&g, "MaxPool", NULL, L("r"), L("p"), &a);
    w_node(&g, "Reshape", NULL, L("p", "shape"), L("f"), NULL);
    a_int(&a, "transB", 1);
    a_float(&a, "alpha", 1.0f);
    w_node(&g, "Gemm", NULL, L("f", "FW", "FB"), L("z"), &a);
    a_int(&a, "axis", 1);
    w_node(&g, "Softmax", NULL, L("z"), L("y"), &a);
    w_output(&g, "y");
    return w_model(&g, 13, 1);
}

/* ---- helpers ----------------------------------------------------------------- */

static char fixtures[4096];

static void write_file(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(d, 1, n, f) != n) || fclose(f)) {
        printf("cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(sz > 0 ? (size_t)sz : 1);
    if (b && sz > 0 && fread(b, 1, (size_t)sz, f) != (size_t)sz) { free(b); b = NULL; }
    fclose(f);
    *n = sz > 0 ? (size_t)sz : 0;
    return b;
}

/* Runs a model that loaded: zero inputs, forward.  Only if its tensors are modest. */
static void try_forward(const cc_model *m, const char *what)
{
    double total = 0;
    for (int t = 0; t < cc_model_num_tensors(m); t++) {
        cc_tensor_info ti;
        if (cc_model_tensor_info(m, t, &ti) != CC_OK) continue;
        double n = 1;
        for (int d = 0; d < ti.rank; d++) n *= (double)ti.dims[d];
        total += n;
    }
    if (total > (double)(1 << 24)) return;
    cc_session *s = NULL;
    cc_status st = cc_session_new(m, &s);
    if (st != CC_OK) { cc_session_free(s); return; }
    int ok = 1;
    for (int i = 0; i < cc_model_num_inputs(m) && ok; i++) {
        cc_tensor_info ti;
        cc_model_tensor_info(m, cc_model_input(m, i), &ti);
        size_t n = 1;
        for (int d = 0; d < ti.rank; d++) n *= (size_t)ti.dims[d];
        float *z = calloc(n ? n : 1, sizeof(float));
        if (!z) { ok = 0; break; }
        st = cc_session_set_input(s, cc_model_input(m, i), z, n);
        free(z);
        if (st != CC_OK) ok = 0;
    }
    if (ok) {
        st = cc_session_forward(s);
        if (st != CC_OK) CHECK(cc_session_errmsg(s)[0] != 0, "%s: forward failed with an empty message", what);
    }
    cc_session_free(s);
}

/* Loads from memory.  expect_fail: must be rejected; otherwise may load (then it runs). */
static int load_buf(const void *d, size_t n, int expect_fail, const char *what)
{
    cc_model *m = NULL;
    cc_status st = cc_model_load_buffer(d, n, NULL, &m);
    int failed = st != CC_OK;
    const char *msg = cc_model_errmsg(m);
    if (failed) CHECK(msg && msg[0], "%s: status %d with an empty message", what, (int)st);
    else if (expect_fail) CHECK(0, "%s: loaded (expected a failure)", what);
    else try_forward(m, what);
    cc_model_free(m);
    return failed;
}

/* Loads from a file; must fail with a message.  Returns the status. */
static cc_status load_path_fail(const char *path, const char *what)
{
    cc_model *m = NULL;
    cc_status st = cc_model_load(path, &m);
    CHECK(st != CC_OK, "%s: loaded (expected a failure)", what);
    const char *msg = cc_model_errmsg(m);
    CHECK(msg && msg[0], "%s: empty error message", what);
    cc_model_free(m);
    return st;
}

/* Every prefix [0, n) must fail; the whole must load. */
static void every_prefix(const uint8_t *d, size_t n, const char *what)
{
    int bad = 0;
    for (size_t k = 0; k < n; k++) {
        char w[256];
        snprintf(w, sizeof w, "%s: prefix of %zu/%zu bytes", what, k, n);
        int before = check_failures;
        load_buf(d, k, 1, w);
        if (check_failures != before) bad++;
    }
    cc_model *m = NULL;
    cc_status st = cc_model_load_buffer(d, n, NULL, &m);
    CHECK(st == CC_OK, "%s: the complete model does not load: %s", what, cc_model_errmsg(m));
    cc_model_free(m);
    printf("%s: %zu prefixes rejected cleanly%s\n", what, n - (size_t)bad, bad ? " (some were not, see above)" : "");
}

static void random_damage(const uint8_t *d, size_t n, const char *what)
{
    uint8_t *c = malloc(n);
    int loaded = 0;
    for (int it = 0; it < 200; it++) {
        size_t k = (size_t)(rnd() % n);
        char w[256];
        snprintf(w, sizeof w, "%s: random prefix of %zu/%zu bytes", what, k, n);
        load_buf(d, k, 1, w);
    }
    for (int it = 0; it < 200; it++) {
        memcpy(c, d, n);
        int flips = 1 + (int)(rnd() % 3);
        size_t first = 0;
        for (int f = 0; f < flips; f++) {
            size_t bit = (size_t)(rnd() % (n * 8));
            if (!f) first = bit;
            c[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        char w[256];
        snprintf(w, sizeof w, "%s: %d bit flip(s), first at bit %zu", what, flips, first);
        loaded += !load_buf(c, n, 0, w);
    }
    free(c);
    printf("%s: 200 random prefixes rejected, 200 bit-flipped copies (%d still loaded and ran)\n", what, loaded);
}

/* ---- hand-made semantic faults --------------------------------------------- */

/* Two unary nodes x -> a -> y with the given op types / domains. */
static pbw two_node_model(const char *op1, const char *dom1, const char *op2, const char *dom2, int opset)
{
    pbw g = { 0 };
    w_value_info(&g, 11, "x", 1, (const int64_t[]){ 1, 4 }, 2);
    w_node(&g, op1, dom1, L("x"), L("a"), NULL);
    w_node(&g, op2, dom2, L("a"), L("y"), NULL);
    w_output(&g, "y");
    return w_model(&g, opset, 0);
}

static void expect_fail_model(pbw *m, cc_status want, const char *const *needles, const char *file, const char *what)
{
    cc_model *h = NULL;
    cc_status st = cc_model_load_buffer(m->p, m->n, NULL, &h);
    const char *msg = cc_model_errmsg(h);
    CHECK(st != CC_OK, "%s: loaded (expected a failure)", what);
    CHECK(msg && msg[0], "%s: empty error message", what);
    if (want != CC_OK) CHECK(st == want, "%s: status %s, expected %s (message: %s)", what, cc_status_str(st), cc_status_str(want), msg);
    for (; needles && *needles; needles++)
        CHECK(msg && strstr(msg, *needles), "%s: message does not name '%s': %s", what, *needles, msg);
    if (st != CC_OK) printf("%s -> %s: %s\n", what, cc_status_str(st), msg);
    cc_model_free(h);
    if (file) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", fixtures, file);
        write_file(path, m->p, m->n);
        h = NULL;
        st = cc_model_load(path, &h);
        msg = cc_model_errmsg(h);
        CHECK(st != CC_OK && msg && msg[0], "%s (from file %s): status %d, message '%s'", what, path, (int)st, msg ? msg : "(null)");
        for (const char *const *p = needles; p && *p; p++)
            CHECK(msg && strstr(msg, *p), "%s (from file): message does not name '%s': %s", what, *p, msg);
        cc_model_free(h);
    }
    free(m->p);
    memset(m, 0, sizeof *m);
}

static void semantic_faults(void)
{
    pbw m;
    m = two_node_model("FooOp", NULL, "Relu", NULL, 13);
    expect_fail_model(&m, CC_ERR_UNSUPPORTED, L("FooOp"), "unsupported_op.onnx", "one unsupported op");
    m = two_node_model("FooOp", NULL, "BarOp", NULL, 13);
    expect_fail_model(&m, CC_ERR_UNSUPPORTED, L("FooOp", "BarOp"), "unsupported_two_ops.onnx", "two unsupported ops");
    m = two_node_model("Relu", NULL, "Baz", "com.example", 13);
    expect_fail_model(&m, CC_ERR_UNSUPPORTED, L("Baz"), NULL, "custom-domain op");
    m = two_node_model("Relu", NULL, "Relu", NULL, 99);
    expect_fail_model(&m, CC_ERR_UNSUPPORTED, L("99"), NULL, "opset 99");

    pbw g = { 0 };
    /* an integer graph input (not constant) */
    w_value_info(&g, 11, "x", 7, (const int64_t[]){ 4 }, 1);
    w_node(&g, "Relu", NULL, L("x"), L("y"), NULL);
    w_output(&g, "y");
    m = w_model(&g, 13, 0);
    expect_fail_model(&m, CC_OK, L("x"), NULL, "int64 graph input");
    /* a node reading a tensor nobody defines */
    w_value_info(&g, 11, "x", 1, (const int64_t[]){ 4 }, 1);
    w_node(&g, "Add", NULL, L("x", "ghost"), L("y"), NULL);
    w_output(&g, "y");
    m = w_model(&g, 13, 0);
    expect_fail_model(&m, CC_OK, L("ghost"), NULL, "undefined tensor");
    /* a cycle a -> b -> a */
    w_value_info(&g, 11, "x", 1, (const int64_t[]){ 4 }, 1);
    w_node(&g, "Add", NULL, L("x", "b"), L("a"), NULL);
    w_node(&g, "Relu", NULL, L("a"), L("b"), NULL);
    w_output(&g, "b");
    m = w_model(&g, 13, 0);
    expect_fail_model(&m, CC_OK, NULL, NULL, "cycle");
    /* an output no node produces */
    w_value_info(&g, 11, "x", 1, (const int64_t[]){ 4 }, 1);
    w_node(&g, "Relu", NULL, L("x"), L("y"), NULL);
    w_output(&g, "nowhere");
    m = w_model(&g, 13, 0);
    expect_fail_model(&m, CC_OK, L("nowhere"), NULL, "undeclared output");
    /* no outputs at all */
    w_value_info(&g, 11, "x", 1, (const int64_t[]){ 4 }, 1);
    w_node(&g, "Relu", NULL, L("x"), L("y"), NULL);
    m = w_model(&g, 13, 0);
    expect_fail_model(&m, CC_OK, NULL, NULL, "no graph outputs");
    /* duplicate initializer */
    float v[4] = { 1, 2, 3, 4 };
    w_tensor(&g, 5, "w", (const int64_t[]){ 4 }, 1, 1, v, 4, 1);
    w_tensor(&g, 5, "w", (const int64_t[]){ 4 }, 1, 1, v, 4, 1);
    w_value_info(&g, 11, "x", 1, (const int64_t[]){ 4 }, 1);
    w_node(&g, "Add", NULL, L("x", "w"), L("y"), NULL);
    w_output(&g, "y");
    m = w_model(&g, 13, 0);
    expect_fail_model(&m, CC_OK, L("w"), NULL, "duplicate initializer");
    /* raw_data shorter than the shape needs (dims say 8, 4 floats given) */
    w_tensor(&g, 5, "w", (const int64_t[]){ 8 }, 1, 1, v, 4, 1);
    w_value_info(&g, 11, "x", 1, (const int64_t[]){ 8 }, 1);
    w_node(&g, "Add", NULL, L("x", "w"), L("y"), NULL);
    w_output(&g, "y");
    m = w_model(&g, 13, 0);
    expect_fail_model(&m, CC_OK, L("w"), NULL, "raw_data of the wrong size");
    /* a symbolic spatial dimension */
    w_value_info(&g, 11, "x", 1, (const int64_t[]){ 1, 3, -1, 8 }, 4);
    w_node(&g, "Relu", NULL, L("x"), L("y"), NULL);
    w_output(&g, "y");
    m = w_model(&g, 13, 0);
    expect_fail_model(&m, CC_ERR_UNSUPPORTED, L("x"), NULL, "symbolic spatial dimension");
    /* Conv weights with the wrong channel count (input has 3, weights 5) */
    float W[2 * 5 * 3 * 3] = { 0 };
    w_tensor(&g, 5, "W", (const int64_t[]){ 2, 5, 3, 3 }, 4, 1, W, 90, 1);
    w_value_info(&g, 11, "x", 1, (const int64_t[]){ 1, 3, 8, 8 }, 4);
    w_node(&g, "Conv", NULL, L("x", "W"), L("y"), NULL);
    w_output(&g, "y");
    m = w_model(&g, 13, 0);
    expect_fail_model(&m, CC_OK, NULL, NULL, "Conv channel mismatch");
    /* Reshape to a shape with the wrong element count */
    int64_t sh[2] = { 3, 3 };
    w_tensor(&g, 5, "s", (const int64_t[]){ 2 }, 1, 7, sh, 2, 0);
    w_value_info(&g, 11, "x", 1, (const int64_t[]){ 2, 4 }, 2);
    w_node(&g, "Reshape", NULL, L("x", "s"), L("y"), NULL);
    w_output(&g, "y");
    m = w_model(&g, 13, 0);
    expect_fail_model(&m, CC_OK, NULL, NULL, "Reshape element count mismatch");
}

/* ---- files ------------------------------------------------------------------ */

static void bad_files(void)
{
    char path[4200];
    uint8_t buf[8192];

    snprintf(path, sizeof path, "%s/empty.onnx", fixtures);
    write_file(path, "", 0);
    load_path_fail(path, "empty file");
    load_buf("", 0, 1, "empty buffer");

    memset(buf, 0, sizeof buf);
    snprintf(path, sizeof path, "%s/zeros.onnx", fixtures);
    write_file(path, buf, 4096);
    load_path_fail(path, "file of 4096 zeros");
    for (size_t n = 1; n <= 64; n++) load_buf(buf, n, 1, "zeros");

    for (int k = 0; k < 50; k++) {
        size_t n = 1 + (size_t)(rnd() % sizeof buf);
        for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)rnd();
        char w[64];
        snprintf(w, sizeof w, "random bytes #%d (%zu bytes)", k, n);
        load_buf(buf, n, 1, w);
        if (k < 3) {
            snprintf(path, sizeof path, "%s/random%d.onnx", fixtures, k);
            write_file(path, buf, n);
            load_path_fail(path, w);
        }
    }
    /* random bytes behind a plausible header: ir_version then a graph field */
    for (int k = 0; k < 50; k++) {
        size_t n = 8 + (size_t)(rnd() % 1000);
        buf[0] = 0x08; buf[1] = 0x08; buf[2] = 0x3a;
        buf[3] = (uint8_t)((n - 5) & 0x7f) | 0x80; buf[4] = (uint8_t)((n - 5) >> 7);
        for (size_t i = 5; i < n; i++) buf[i] = (uint8_t)rnd();
        load_buf(buf, n, 1, "random graph body");
    }

    cc_status st = load_path_fail(fixtures, "a directory");
    CHECK(st == CC_ERR_IO, "a directory: status %s, expected I/O error", cc_status_str(st));
    snprintf(path, sizeof path, "%s/does-not-exist.onnx", fixtures);
    unlink(path);
    st = load_path_fail(path, "a missing file");
    CHECK(st == CC_ERR_IO, "a missing file: status %s, expected I/O error", cc_status_str(st));
    {
        cc_model *m = NULL;
        st = cc_model_load(path, &m);
        CHECK(strstr(cc_model_errmsg(m), "does-not-exist.onnx") != NULL, "missing file: message does not name the file: %s", cc_model_errmsg(m));
        cc_model_free(m);
    }
    printf("bad files: empty, zeros, random bytes, a directory and a missing file rejected\n");
}

int main(void)
{
    const char *fx = getenv("CC_FIXTURES");
    if (fx && *fx) {
        snprintf(fixtures, sizeof fixtures, "%s/model_errors", fx);
        mkdir(fx, 0777);
        mkdir(fixtures, 0777);
    } else {
        snprintf(fixtures, sizeof fixtures, "/tmp/cc_model_errors_XXXXXX");
        if (!mkdtemp(fixtures)) { printf("cannot make a temporary folder\n"); return 1; }
    }

    /* the hand-built model must load and run before its damaged copies mean anything */
    pbw cnn = build_cnn();
    {
        cc_model *m = NULL;
        cc_status st = cc_model_load_buffer(cnn.p, cnn.n, NULL, &m);
        CHECK(st == CC_OK, "hand-built CNN does not load: %s", cc_model_errmsg(m));
        if (st == CC_OK) try_forward(m, "hand-built CNN");
        cc_model_free(m);
        char path[4200];
        snprintf(path, sizeof path, "%s/cnn.onnx", fixtures);
        write_file(path, cnn.p, cnn.n);
    }
    every_prefix(cnn.p, cnn.n, "hand-built CNN");
    random_damage(cnn.p, cnn.n, "hand-built CNN");

    const char *root = getenv("CC_ONNX_TESTDATA");
    if (!root || !*root) root = "/usr/share/libonnx-testdata/data";
    char path[4200];
    size_t n = 0;
    snprintf(path, sizeof path, "%s/node/test_relu/model.onnx", root);
    uint8_t *small = read_all(path, &n);
    if (small && n) every_prefix(small, n, "node/test_relu");
    else printf("note: %s not found; testdata models skipped\n", path);
    free(small);
    snprintf(path, sizeof path, "%s/node/test_mvn_expanded/model.onnx", root);
    uint8_t *large = read_all(path, &n);
    if (large && n) {
        every_prefix(large, n, "node/test_mvn_expanded");
        random_damage(large, n, "node/test_mvn_expanded");
    }
    free(large);
    free(cnn.p);

    bad_files();
    semantic_faults();
    return check_exit();
}
