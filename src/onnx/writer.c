/* ONNX ModelProto encoder (see writer.h).  Field numbers from onnx.proto:
 *   ModelProto: ir_version 1, producer_name 2, producer_version 3, doc_string 6,
 *               graph 7, opset_import 8, metadata_props 14
 *   GraphProto: node 1, name 2, initializer 5, doc_string 10, input 11, output 12
 *   NodeProto: input 1, output 2, name 3, op_type 4, attribute 5, domain 7
 *   AttributeProto: name 1, f 2, i 3, s 4, floats 7, ints 8, type 20
 *   TensorProto: dims 1, data_type 2, name 8, raw_data 9
 *   ValueInfoProto: name 1, type 2 -> TypeProto.tensor_type 1 -> elem_type 1,
 *               shape 2 -> dim 1 -> dim_value 1 / dim_param 2
 * onnx.proto is proto2, so repeated scalars are written unpacked, as the
 * reference implementation does.  Raw data is little-endian. */
#include "onnx/writer.h"
#include "ops/op.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct obuf {
    uint8_t *p;
    size_t n, cap;
} obuf;

struct cc_onnx_writer {
    int err;
    char msg[256];
    int64_t opset;
    char *graph_name, *doc;
    obuf inits, inputs, outputs, meta;
    obuf *nodes;              /* one encoded NodeProto each: attributes are appended to the last */
    int n_nodes, cap_nodes;
};

enum { WT_VARINT = 0, WT_LEN = 2, WT_I32 = 5 };

static int fail(cc_onnx_writer *w, int code, const char *fmt, ...)
{
    if (w->err) return w->err;
    w->err = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof w->msg, fmt, ap);
    va_end(ap);
    return code;
}

static int grow(cc_onnx_writer *w, obuf *b, size_t extra)
{
    if (w->err) return w->err;
    if (extra > SIZE_MAX / 2 - b->n) return fail(w, CC_E_LIMIT, "model too large");
    if (b->n + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) return fail(w, CC_E_NOMEM, "out of memory");
    b->p = p;
    b->cap = cap;
    return 0;
}

static void put_raw(cc_onnx_writer *w, obuf *b, const void *data, size_t len)
{
    if (grow(w, b, len)) return;
    if (len) memcpy(b->p + b->n, data, len);
    b->n += len;
}

static void put_varint(cc_onnx_writer *w, obuf *b, uint64_t v)
{
    uint8_t tmp[10];
    int n = 0;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        tmp[n++] = (uint8_t)(byte | (v ? 0x80 : 0));
    } while (v);
    put_raw(w, b, tmp, (size_t)n);
}

static void put_tag(cc_onnx_writer *w, obuf *b, unsigned field, int wt)
{
    put_varint(w, b, ((uint64_t)field << 3) | (unsigned)wt);
}

static void put_int(cc_onnx_writer *w, obuf *b, unsigned field, int64_t v)
{
    put_tag(w, b, field, WT_VARINT);
    put_varint(w, b, (uint64_t)v);   /* negative int64: ten-byte two's complement, as protobuf does */
}

static void put_bytes(cc_onnx_writer *w, obuf *b, unsigned field, const void *data, size_t len)
{
    put_tag(w, b, field, WT_LEN);
    put_varint(w, b, len);
    put_raw(w, b, data, len);
}

static void put_str(cc_onnx_writer *w, obuf *b, unsigned field, const char *s)
{
    put_bytes(w, b, field, s, strlen(s));
}

static void put_msg(cc_onnx_writer *w, obuf *b, unsigned field, const obuf *sub)
{
    put_bytes(w, b, field, sub->p, sub->n);
}

static void put_f32(cc_onnx_writer *w, obuf *b, unsigned field, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint8_t le[4] = { (uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24) };
    put_tag(w, b, field, WT_I32);
    put_raw(w, b, le, 4);
}

static char *dupstr(cc_onnx_writer *w, const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) fail(w, CC_E_NOMEM, "out of memory");
    return d;
}

cc_onnx_writer *cc_ow_new(const char *graph_name)
{
    cc_onnx_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->opset = 13;
    w->graph_name = strdup(graph_name && *graph_name ? graph_name : "graph");
    if (!w->graph_name) { free(w); return NULL; }
    return w;
}

void cc_ow_free(cc_onnx_writer *w)
{
    if (!w) return;
    free(w->graph_name);
    free(w->doc);
    free(w->inits.p);
    free(w->inputs.p);
    free(w->outputs.p);
    free(w->meta.p);
    for (int i = 0; i < w->n_nodes; i++) free(w->nodes[i].p);
    free(w->nodes);
    free(w);
}

int cc_ow_error(const cc_onnx_writer *w) { return w->err; }
const char *cc_ow_errmsg(const cc_onnx_writer *w) { return w->msg; }

void cc_ow_set_opset(cc_onnx_writer *w, int64_t opset)
{
    if (opset < 1) { fail(w, CC_E_ARG, "opset must be >= 1"); return; }
    w->opset = opset;
}

void cc_ow_set_doc(cc_onnx_writer *w, const char *doc)
{
    free(w->doc);
    w->doc = dupstr(w, doc);
}

static int check_name(cc_onnx_writer *w, const char *what, const char *name)
{
    if (w->err) return w->err;
    if (!name || !*name) return fail(w, CC_E_ARG, "%s needs a name", what);
    return 0;
}

static int check_dims(cc_onnx_writer *w, const char *name, const int64_t *dims, int ndim, int allow_symbolic, size_t *numel)
{
    if (ndim < 0 || ndim > CC_MAX_DIMS || (ndim > 0 && !dims))
        return fail(w, CC_E_ARG, "'%s': rank %d is not supported", name, ndim);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0 && allow_symbolic) continue;
        if (dims[i] < 0) return fail(w, CC_E_ARG, "'%s': negative dimension", name);
        if (dims[i] && n > SIZE_MAX / 8 / (size_t)dims[i]) return fail(w, CC_E_LIMIT, "'%s': too many elements", name);
        n *= (size_t)dims[i];
    }
    if (numel) *numel = n;
    return 0;
}

static int add_tensor(cc_onnx_writer *w, const char *name, const int64_t *dims, int ndim, const void *data,
                      int dtype, size_t esz)
{
    size_t numel;
    if (check_name(w, "initializer", name) || check_dims(w, name, dims, ndim, 0, &numel)) return w->err;
    if (numel && !data) return fail(w, CC_E_ARG, "initializer '%s' has no data", name);
    obuf t = { 0, 0, 0 };
    for (int i = 0; i < ndim; i++) put_int(w, &t, 1, dims[i]);
    put_int(w, &t, 2, dtype);
    put_str(w, &t, 8, name);
    /* raw_data, little-endian */
    put_tag(w, &t, 9, WT_LEN);
    put_varint(w, &t, numel * esz);
    if (!grow(w, &t, numel * esz)) {
        const uint8_t *src = data;
        uint8_t *dst = t.p + t.n;
        for (size_t i = 0; i < numel; i++) {
            uint64_t v = 0;
            if (esz == 4) { uint32_t u; memcpy(&u, src + i * 4, 4); v = u; }
            else memcpy(&v, src + i * 8, 8);
            for (size_t b = 0; b < esz; b++) dst[i * esz + b] = (uint8_t)(v >> (8 * b));
        }
        t.n += numel * esz;
    }
    put_msg(w, &w->inits, 5, &t);
    free(t.p);
    return w->err;
}

int cc_ow_initializer(cc_onnx_writer *w, const char *name, const int64_t *dims, int ndim, const float *data)
{
    return add_tensor(w, name, dims, ndim, data, CC_DT_FLOAT, 4);
}

int cc_ow_initializer_i64(cc_onnx_writer *w, const char *name, const int64_t *dims, int ndim, const int64_t *data)
{
    return add_tensor(w, name, dims, ndim, data, CC_DT_INT64, 8);
}

static int value_info(cc_onnx_writer *w, obuf *dst, unsigned field, const char *name, const int64_t *dims, int ndim)
{
    if (check_name(w, "graph input/output", name) || check_dims(w, name, dims, ndim, 1, NULL)) return w->err;
    obuf shape = { 0, 0, 0 }, tt = { 0, 0, 0 }, tp = { 0, 0, 0 }, vi = { 0, 0, 0 }, dim = { 0, 0, 0 };
    for (int i = 0; i < ndim; i++) {
        dim.n = 0;
        if (dims[i] >= 0) put_int(w, &dim, 1, dims[i]);
        else put_str(w, &dim, 2, "N");
        put_msg(w, &shape, 1, &dim);
    }
    put_int(w, &tt, 1, CC_DT_FLOAT);
    put_msg(w, &tt, 2, &shape);
    put_msg(w, &tp, 1, &tt);
    put_str(w, &vi, 1, name);
    put_msg(w, &vi, 2, &tp);
    put_msg(w, dst, field, &vi);
    free(dim.p);
    free(shape.p);
    free(tt.p);
    free(tp.p);
    free(vi.p);
    return w->err;
}

int cc_ow_input(cc_onnx_writer *w, const char *name, const int64_t *dims, int ndim)
{
    return value_info(w, &w->inputs, 11, name, dims, ndim);
}

int cc_ow_output(cc_onnx_writer *w, const char *name, const int64_t *dims, int ndim)
{
    return value_info(w, &w->outputs, 12, name, dims, ndim);
}

int cc_ow_node(cc_onnx_writer *w, const char *op_type, const char *name, const char *const *inputs, int n_in,
               const char *const *outputs, int n_out)
{
    if (check_name(w, "node op_type", op_type)) return w->err;
    if (n_in < 0 || n_out < 1 || (n_in && !inputs) || !outputs)
        return fail(w, CC_E_ARG, "node %s: needs at least one output", op_type);
    for (int i = 0; i < n_out; i++)
        if (!outputs[i] || !*outputs[i]) return fail(w, CC_E_ARG, "node %s: output %d has no name", op_type, i);
    if (w->n_nodes == w->cap_nodes) {
        int cap = w->cap_nodes ? 2 * w->cap_nodes : 16;
        obuf *nn = realloc(w->nodes, sizeof *nn * (size_t)cap);
        if (!nn) return fail(w, CC_E_NOMEM, "out of memory");
        w->nodes = nn;
        w->cap_nodes = cap;
    }
    obuf *b = &w->nodes[w->n_nodes++];
    memset(b, 0, sizeof *b);
    for (int i = 0; i < n_in; i++) put_str(w, b, 1, inputs[i] ? inputs[i] : "");
    for (int i = 0; i < n_out; i++) put_str(w, b, 2, outputs[i]);
    if (name && *name) put_str(w, b, 3, name);
    put_str(w, b, 4, op_type);
    return w->err;
}

/* Start an attribute on the last node: returns the buffer to fill, or NULL. */
static obuf *attr_begin(cc_onnx_writer *w, const char *name, obuf *a)
{
    if (check_name(w, "attribute", name)) return NULL;
    if (w->n_nodes == 0) { fail(w, CC_E_ARG, "attribute '%s' before any node", name); return NULL; }
    memset(a, 0, sizeof *a);
    put_str(w, a, 1, name);
    return a;
}

static int attr_end(cc_onnx_writer *w, obuf *a, int type)
{
    put_int(w, a, 20, type);
    put_msg(w, &w->nodes[w->n_nodes - 1], 5, a);
    free(a->p);
    return w->err;
}

int cc_ow_attr_int(cc_onnx_writer *w, const char *name, int64_t v)
{
    obuf a;
    if (!attr_begin(w, name, &a)) return w->err;
    put_int(w, &a, 3, v);
    return attr_end(w, &a, CC_ATTR_INT);
}

int cc_ow_attr_ints(cc_onnx_writer *w, const char *name, const int64_t *v, int n)
{
    obuf a;
    if (n < 0 || (n && !v)) return fail(w, CC_E_ARG, "attribute '%s': bad list", name ? name : "");
    if (!attr_begin(w, name, &a)) return w->err;
    for (int i = 0; i < n; i++) put_int(w, &a, 8, v[i]);
    return attr_end(w, &a, CC_ATTR_INTS);
}

int cc_ow_attr_float(cc_onnx_writer *w, const char *name, float v)
{
    obuf a;
    if (!attr_begin(w, name, &a)) return w->err;
    put_f32(w, &a, 2, v);
    return attr_end(w, &a, CC_ATTR_FLOAT);
}

int cc_ow_attr_floats(cc_onnx_writer *w, const char *name, const float *v, int n)
{
    obuf a;
    if (n < 0 || (n && !v)) return fail(w, CC_E_ARG, "attribute '%s': bad list", name ? name : "");
    if (!attr_begin(w, name, &a)) return w->err;
    for (int i = 0; i < n; i++) put_f32(w, &a, 7, v[i]);
    return attr_end(w, &a, CC_ATTR_FLOATS);
}

int cc_ow_attr_string(cc_onnx_writer *w, const char *name, const char *s)
{
    obuf a;
    if (!s) return fail(w, CC_E_ARG, "attribute '%s': NULL string", name ? name : "");
    if (!attr_begin(w, name, &a)) return w->err;
    put_str(w, &a, 4, s);
    return attr_end(w, &a, CC_ATTR_STRING);
}

int cc_ow_meta(cc_onnx_writer *w, const char *key, const char *value)
{
    if (check_name(w, "metadata entry", key)) return w->err;
    obuf kv = { 0, 0, 0 };
    put_str(w, &kv, 1, key);
    put_str(w, &kv, 2, value ? value : "");
    put_msg(w, &w->meta, 14, &kv);
    free(kv.p);
    return w->err;
}

int cc_ow_serialize(cc_onnx_writer *w, uint8_t **out, size_t *size)
{
    *out = NULL;
    *size = 0;
    if (w->err) return w->err;
    if (w->n_nodes == 0) return fail(w, CC_E_ARG, "the graph has no nodes");
    if (w->outputs.n == 0) return fail(w, CC_E_ARG, "the graph has no outputs");
    obuf g = { 0, 0, 0 }, m = { 0, 0, 0 }, op = { 0, 0, 0 };
    for (int i = 0; i < w->n_nodes; i++) put_msg(w, &g, 1, &w->nodes[i]);
    put_str(w, &g, 2, w->graph_name);
    put_raw(w, &g, w->inits.p, w->inits.n);
    if (w->doc) put_str(w, &g, 10, w->doc);
    put_raw(w, &g, w->inputs.p, w->inputs.n);
    put_raw(w, &g, w->outputs.p, w->outputs.n);
    put_int(w, &m, 1, 7);                       /* ir_version 7 (ONNX 1.8+) */
    put_str(w, &m, 2, "contrastcam");
    put_str(w, &m, 3, "0.1");
    put_msg(w, &m, 7, &g);
    put_str(w, &op, 1, "");
    put_int(w, &op, 2, w->opset);
    put_msg(w, &m, 8, &op);
    put_raw(w, &m, w->meta.p, w->meta.n);
    free(g.p);
    free(op.p);
    if (w->err) { free(m.p); return w->err; }
    *out = m.p;
    *size = m.n;
    return 0;
}

int cc_ow_save(cc_onnx_writer *w, const char *path)
{
    uint8_t *buf;
    size_t n;
    int rc = cc_ow_serialize(w, &buf, &n);
    if (rc) return rc;
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    if (!tmp) { free(buf); return fail(w, CC_E_NOMEM, "out of memory"); }
    snprintf(tmp, pl + 32, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = fail(w, CC_E_IO, "cannot create '%s': %s", tmp, strerror(errno));
    } else {
        int bad = fwrite(buf, 1, n, f) != n;
        bad |= fflush(f) != 0;
        bad |= fclose(f) != 0;
        if (bad) rc = fail(w, CC_E_IO, "cannot write '%s'", tmp);
        else if (rename(tmp, path)) rc = fail(w, CC_E_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        if (rc) remove(tmp);
    }
    free(tmp);
    free(buf);
    return rc;
}
