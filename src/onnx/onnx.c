/* ONNX ModelProto -> cc_graph.  A hand-written decoder for the few messages
 * ONNX uses (see pb.h): no generated code, every length checked, and weights
 * stored as raw_data are used in place (zero-copy) when suitably aligned. */
#include "graph/graph.h"
#include "onnx/pb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BAD(e, ...) cc_errf(e, CC_E_PARSE, __VA_ARGS__)

static char *dup_bytes(cc_graph *g, const pb_reader *r)
{
    return cc_graph_strdup(g, (const char *)r->p, (size_t)(r->end - r->p));
}

/* Element size of a stored data type, and what we widen it to. */
static int stored_size(int dt)
{
    switch (dt) {
    case 1: case 6: return 4;          /* float, int32 */
    case 7: case 11: return 8;         /* int64, double */
    case 2: case 3: case 9: return 1;  /* uint8, int8, bool */
    case 4: case 5: return 2;          /* uint16, int16 */
    default: return 0;
    }
}

typedef struct ext_info {
    pb_reader location;
    int64_t offset, length;
    int has_location;
} ext_info;

/* Map an external data file (relative to base_dir, no absolute paths or "..")
 * and return a view of [offset, offset+length). */
static int map_external(cc_graph *g, const char *base_dir, const ext_info *x, const char *tname,
                        const uint8_t **out, size_t need, cc_err *e)
{
    size_t llen = (size_t)(x->location.end - x->location.p);
    char loc[1024];
    if (!x->has_location || llen == 0 || llen >= sizeof loc)
        return BAD(e, "initializer '%s': external data without a valid location", tname);
    memcpy(loc, x->location.p, llen);
    loc[llen] = 0;
    if (memchr(loc, 0, llen) || loc[0] == '/' || strstr(loc, ".."))
        return BAD(e, "initializer '%s': external data location '%s' must be a relative path inside the model's folder", tname, loc);
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", base_dir && *base_dir ? base_dir : ".", loc);
    /* one mapping per file: exporters write one file for all weights, or (the
     * default of onnx.save_model) one file per tensor */
    int mi = -1;
    for (int i = g->n_maps - 1; i >= 0 && mi < 0; i--)
        if (strcmp(g->maps[i].path, path) == 0) mi = i;
    if (mi < 0) {
        if (g->n_maps >= 65536)
            return cc_errf(e, CC_E_LIMIT, "initializer '%s': more than 65536 external data files", tname);
        int fd = open(path, O_RDONLY | O_NONBLOCK);   /* a FIFO must not hang the load */
        if (fd < 0) return cc_errf(e, CC_E_IO, "initializer '%s': cannot open external data file '%s': %s", tname, path, strerror(errno));
        struct stat st;
        if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
            close(fd);
            return cc_errf(e, CC_E_IO, "initializer '%s': external data '%s' is not a regular file", tname, path);
        }
        size_t msize = (size_t)st.st_size;
        void *addr = NULL;
        if (msize) {
            addr = mmap(NULL, msize, PROT_READ, MAP_PRIVATE, fd, 0);
            if (addr == MAP_FAILED) addr = NULL;
        }
        close(fd);
        if (msize && !addr) return cc_errf(e, CC_E_IO, "initializer '%s': cannot map '%s'", tname, path);
        mi = cc_graph_add_map(g, addr, msize, path);
        if (mi < 0) {
            if (addr) munmap(addr, msize);
            return CC_E_NOMEM;
        }
    }
    size_t size = g->maps[mi].size;
    void *addr = g->maps[mi].addr;
    int64_t len = x->length >= 0 ? x->length : (int64_t)size - x->offset;
    if (x->offset < 0 || (uint64_t)x->offset > size || len < 0 || (uint64_t)len > size - (uint64_t)x->offset)
        return BAD(e, "initializer '%s': external data range [%lld, +%lld) is outside '%s' (%zu bytes)", tname,
                   (long long)x->offset, (long long)len, path, size);
    if ((size_t)len != need)
        return BAD(e, "initializer '%s': external data holds %lld bytes, its shape needs %zu", tname, (long long)len, need);
    *out = (const uint8_t *)addr + x->offset;
    return 0;
}

/* Tell the kernel we are done with a read-only file mapping range. */
static void drop_pages(const uint8_t *p, size_t n)
{
    uintptr_t ps = 4096, a = ((uintptr_t)p + ps - 1) & ~(ps - 1), b = ((uintptr_t)p + n) & ~(ps - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

/* Store one typed-field value, converting to the tensor's dtype. */
static void store_value(cc_tensor *t, int64_t k, int dt, double fv, int64_t iv)
{
    if (t->dtype == CC_DT_FLOAT) ((float *)t->data)[k] = (dt == 1 || dt == 11) ? (float)fv : (float)iv;
    else ((int64_t *)t->data)[k] = (dt == 1 || dt == 11) ? (int64_t)fv : iv;
}

/* Decode a TensorProto.  persistent: the bytes outlive the graph (mapped file),
 * so aligned float raw_data can be used in place. */
static int parse_tensor(cc_graph *g, pb_reader r, cc_tensor *t, int persistent, const char *base_dir, cc_err *e)
{
    pb_field f;
    pb_reader start = r;
    int rc, dt = 0, ext = 0;
    pb_reader raw = { 0, 0 };
    int typed_field = 0, typed_packed = 0;
    int64_t typed_count = 0;
    ext_info x = { { 0, 0 }, 0, -1, 0 };
    memset(t, 0, sizeof *t);
    t->producer = -1;
    t->name = "";
    while ((rc = pb_next(&r, &f)) == 1) {
        switch (f.num) {
        case 1:
            if (t->ndim >= CC_MAX_DIMS) return BAD(e, "tensor has more than %d dimensions", CC_MAX_DIMS);
            if (f.wt == PB_VARINT) t->dims[t->ndim++] = (int64_t)f.v;
            else if (f.wt == PB_LEN) {
                uint64_t v;
                while (f.sub.p < f.sub.end) {
                    if (pb_read_varint(&f.sub, &v)) return BAD(e, "bad packed dims");
                    if (t->ndim >= CC_MAX_DIMS) return BAD(e, "tensor has more than %d dimensions", CC_MAX_DIMS);
                    t->dims[t->ndim++] = (int64_t)v;
                }
            }
            break;
        case 2: dt = (int)f.v; break;
        case 8: if (f.wt == PB_LEN) t->name = dup_bytes(g, &f.sub); break;
        case 9: if (f.wt == PB_LEN) raw = f.sub; break;
        case 4: case 5: case 7: case 10: /* float_data, int32_data, int64_data, double_data */
            if (typed_field && typed_field != (int)f.num) return BAD(e, "tensor '%s' mixes typed data fields", t->name);
            typed_field = (int)f.num;
            if (f.wt == PB_LEN) {
                if (typed_count && !typed_packed) return BAD(e, "tensor '%s': mixed packed and unpacked data", t->name);
                if (typed_packed) return BAD(e, "tensor '%s': repeated packed data blocks are not supported", t->name);
                typed_packed = 1;
                if (f.num == 4) typed_count = (f.sub.end - f.sub.p) / 4;
                else if (f.num == 10) typed_count = (f.sub.end - f.sub.p) / 8;
                else typed_count = pb_count_packed_varint(&f.sub);
                if (typed_count < 0) return BAD(e, "tensor '%s': malformed packed data", t->name);
            } else {
                if (typed_packed) return BAD(e, "tensor '%s': mixed packed and unpacked data", t->name);
                typed_count++;   /* unpacked: re-scan the message below */
            }
            break;
        case 13: if (f.wt == PB_LEN) { /* external_data entries */
                pb_reader kv = f.sub;
                pb_field h;
                pb_reader key = { 0, 0 }, val = { 0, 0 };
                int r2;
                while ((r2 = pb_next(&kv, &h)) == 1) {
                    if (h.num == 1 && h.wt == PB_LEN) key = h.sub;
                    if (h.num == 2 && h.wt == PB_LEN) val = h.sub;
                }
                if (r2 < 0 || !key.p || !val.p) return BAD(e, "tensor '%s': malformed external_data entry", t->name);
                size_t kl = (size_t)(key.end - key.p), vl = (size_t)(val.end - val.p);
                char num[32];
                if (kl == 8 && !memcmp(key.p, "location", 8)) { x.location = val; x.has_location = 1; }
                else if ((kl == 6 && !memcmp(key.p, "offset", 6)) || (kl == 6 && !memcmp(key.p, "length", 6))) {
                    if (vl == 0 || vl >= sizeof num) return BAD(e, "tensor '%s': bad external data %.*s", t->name, (int)kl, key.p);
                    memcpy(num, val.p, vl);
                    num[vl] = 0;
                    char *end;
                    long long v = strtoll(num, &end, 10);
                    if (*end || v < 0) return BAD(e, "tensor '%s': bad external data %.*s '%s'", t->name, (int)kl, key.p, num);
                    if (key.p[0] == 'o') x.offset = v; else x.length = v;
                }
            }
            break;
        case 14: ext = f.v == 1; break;
        default: break;
        }
    }
    if (rc < 0) return BAD(e, "malformed TensorProto '%s'", t->name);
    int esz = stored_size(dt);
    if (!esz) return cc_errf(e, CC_E_UNSUPPORTED, "tensor '%s' has unsupported data type %d", t->name, dt);
    for (int i = 0; i < t->ndim; i++)
        if (t->dims[i] < 0) return BAD(e, "tensor '%s' has a negative dimension", t->name);
    t->numel = cc_numel(t->dims, t->ndim);
    if (t->numel < 0 || (uint64_t)t->numel > (SIZE_MAX / 8)) return cc_errf(e, CC_E_LIMIT, "tensor '%s': shape too large (a dimension above 2^31-1, or the element count overflows)", t->name);
    {
        char what[300];
        snprintf(what, sizeof what, "tensor '%.200s'", t->name);
        int lrc = cc_graph_check_size(g, t->numel, (dt == 1 || dt == 11) ? 4 : 8, what, e);
        if (lrc) return lrc;
    }
    t->dtype = (dt == 1 || dt == 11) ? CC_DT_FLOAT : CC_DT_INT64;
    t->is_const = 1;
    size_t need = (size_t)t->numel * (size_t)esz;
    const uint8_t *src = NULL;
    if (ext) {
        if (map_external(g, base_dir, &x, t->name, &src, need, e)) return CC_E_PARSE;
        persistent = 1;
    } else if (raw.p) {
        if ((size_t)(raw.end - raw.p) != need)
            return BAD(e, "tensor '%s': raw_data holds %zu bytes, its shape needs %zu", t->name, (size_t)(raw.end - raw.p), need);
        src = raw.p;
    }
    size_t osz = t->dtype == CC_DT_FLOAT ? 4 : 8;
    if (src) {
        if (dt == 1 && persistent && ((uintptr_t)src % 4) == 0) {
            t->data = (void *)src;               /* zero-copy: points into the mapped file */
            return 0;
        }
        void *d = cc_graph_own(g, malloc(need / (size_t)esz * osz + 1));
        if (!d) return CC_E_NOMEM;
        if (dt == 1) {
            memcpy(d, src, need);
            /* a misaligned weight is copied once; drop the mapped pages we read so
             * they are not resident twice (they stay in the page cache) */
            if (ext || g->src_mapped) drop_pages(src, need);
            t->data = d;
            return 0;
        }
        for (int64_t i = 0; i < t->numel; i++) {
            const uint8_t *s = src + (size_t)i * (size_t)esz;
            switch (dt) {
            case 1: memcpy((float *)d + i, s, 4); break;
            case 11: { double v; memcpy(&v, s, 8); ((float *)d)[i] = (float)v; } break;
            case 7: memcpy((int64_t *)d + i, s, 8); break;
            case 6: { int32_t v; memcpy(&v, s, 4); ((int64_t *)d)[i] = v; } break;
            case 5: { int16_t v; memcpy(&v, s, 2); ((int64_t *)d)[i] = v; } break;
            case 4: { uint16_t v; memcpy(&v, s, 2); ((int64_t *)d)[i] = v; } break;
            case 3: ((int64_t *)d)[i] = (int8_t)s[0]; break;
            default: ((int64_t *)d)[i] = s[0]; break;
            }
        }
        t->data = d;
        return 0;
    }
    /* typed fields (or empty tensor) */
    if (typed_count != t->numel)
        return BAD(e, "tensor '%s': holds %lld values, its shape needs %lld", t->name, (long long)typed_count, (long long)t->numel);
    void *d = cc_graph_own(g, malloc((size_t)t->numel * osz + 1));
    if (!d) return CC_E_NOMEM;
    t->data = d;
    if (t->numel == 0) return 0;
    int64_t k = 0;
    pb_reader rs = start;
    while (pb_next(&rs, &f) == 1 && k < t->numel) {
        if ((int)f.num != typed_field) continue;
        pb_reader vals = f.sub;
        int packed = f.wt == PB_LEN;
        do {
            uint64_t v = f.v;
            if (packed) {
                if (typed_field == 4 || typed_field == 10) {
                    int w = typed_field == 4 ? 4 : 8;
                    if (vals.end - vals.p < w) break;
                    v = 0;
                    for (int b = w - 1; b >= 0; b--) v = (v << 8) | vals.p[b];
                    vals.p += w;
                } else if (pb_read_varint(&vals, &v)) {
                    return BAD(e, "tensor '%s': malformed packed data", t->name);
                }
            }
            if (typed_field == 4) { uint32_t u = (uint32_t)v; float fv; memcpy(&fv, &u, 4); store_value(t, k, dt, fv, 0); }
            else if (typed_field == 10) { double dv; memcpy(&dv, &v, 8); store_value(t, k, dt, dv, 0); }
            else store_value(t, k, dt, 0, typed_field == 5 ? (int64_t)(int32_t)v : (int64_t)v);
            k++;
        } while (packed && vals.p < vals.end && k < t->numel);
    }
    if (k != t->numel) return BAD(e, "tensor '%s': typed data shorter than its shape", t->name);
    return 0;
}

static int parse_attr(cc_graph *g, pb_reader r, cc_attr *a, const char *node, cc_err *e)
{
    pb_field f;
    int rc, type = 0;
    memset(a, 0, sizeof *a);
    a->name = "";
    /* first pass: name, type and counts */
    pb_reader start = r;
    int64_t nf = 0, ni = 0;
    int seen = 0;
    while ((rc = pb_next(&r, &f)) == 1) {
        switch (f.num) {
        case 1: if (f.wt == PB_LEN) a->name = dup_bytes(g, &f.sub); break;
        case 20: type = (int)f.v; break;
        case 2: seen = seen ? seen : CC_ATTR_FLOAT; break;
        case 3: seen = seen ? seen : CC_ATTR_INT; break;
        case 4: seen = seen ? seen : CC_ATTR_STRING; break;
        case 5: seen = seen ? seen : CC_ATTR_TENSOR; break;
        case 6: seen = seen ? seen : 5; break;
        case 7: nf += f.wt == PB_LEN ? (f.sub.end - f.sub.p) / 4 : 1; seen = seen ? seen : CC_ATTR_FLOATS; break;
        case 8: {
            int64_t c = f.wt == PB_LEN ? pb_count_packed_varint(&f.sub) : 1;
            if (c < 0) return BAD(e, "node '%s': malformed ints attribute", node);
            ni += c;
            seen = seen ? seen : CC_ATTR_INTS;
        } break;
        case 9: seen = seen ? seen : CC_ATTR_STRINGS; break;
        default: break;
        }
    }
    if (rc < 0 || !a->name) return BAD(e, "node '%s': malformed attribute", node);
    a->type = type ? type : seen;
    if (nf > (1 << 24) || ni > (1 << 24)) return cc_errf(e, CC_E_LIMIT, "node '%s': attribute '%s' is too long", node, a->name);
    if (a->type == CC_ATTR_FLOATS) a->floats = cc_graph_own(g, calloc((size_t)nf + 1, sizeof(float)));
    if (a->type == CC_ATTR_INTS) a->ints = cc_graph_own(g, calloc((size_t)ni + 1, sizeof(int64_t)));
    if ((a->type == CC_ATTR_FLOATS && !a->floats) || (a->type == CC_ATTR_INTS && !a->ints)) return CC_E_NOMEM;
    r = start;
    while (pb_next(&r, &f) == 1) {
        if (f.num == 2 && f.wt == PB_I32) { uint32_t u = (uint32_t)f.v; memcpy(&a->f, &u, 4); }
        else if (f.num == 3 && f.wt == PB_VARINT) a->i = (int64_t)f.v;
        else if (f.num == 4 && f.wt == PB_LEN) a->s = dup_bytes(g, &f.sub);
        else if (f.num == 5 && f.wt == PB_LEN && a->type == CC_ATTR_TENSOR) {
            a->t = cc_graph_own(g, calloc(1, sizeof *a->t));
            if (!a->t) return CC_E_NOMEM;
            int rc2 = parse_tensor(g, f.sub, a->t, 0, NULL, e);
            if (rc2) return rc2;
        } else if (f.num == 7 && a->type == CC_ATTR_FLOATS) {
            if (f.wt == PB_LEN) {
                for (const uint8_t *p = f.sub.p; p + 4 <= f.sub.end && a->n < nf; p += 4) memcpy(&a->floats[a->n++], p, 4);
            } else if (f.wt == PB_I32 && a->n < nf) { uint32_t u = (uint32_t)f.v; memcpy(&a->floats[a->n++], &u, 4); }
        } else if (f.num == 8 && a->type == CC_ATTR_INTS) {
            if (f.wt == PB_LEN) {
                uint64_t v;
                pb_reader s = f.sub;
                while (s.p < s.end && a->n < ni && !pb_read_varint(&s, &v)) a->ints[a->n++] = (int64_t)v;
            } else if (f.wt == PB_VARINT && a->n < ni) a->ints[a->n++] = (int64_t)f.v;
        }
    }
    if (a->type == CC_ATTR_STRING && !a->s) a->s = "";
    return 0;
}

static int parse_node(cc_graph *g, pb_reader r, int opset, cc_err *e)
{
    if (g->n_nodes >= cc_graph_max_nodes(g))
        return cc_errf(e, CC_E_LIMIT, "the graph has more than %lld nodes (cc_limits.max_nodes, CLI: CONTRASTCAM_MAX_NODES)", (long long)cc_graph_max_nodes(g));
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 64;
        cc_node *nn = realloc(g->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return CC_E_NOMEM;
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    cc_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->name = "";
    n->op_type = "";
    n->domain = "";
    n->opset = opset;
    pb_field f;
    int rc, ni = 0, no = 0, na = 0;
    pb_reader start = r;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.wt != PB_LEN) continue;
        if (f.num == 1) ni++;
        else if (f.num == 2) no++;
        else if (f.num == 5) na++;
        else if (f.num == 3) n->name = dup_bytes(g, &f.sub);
        else if (f.num == 4) n->op_type = dup_bytes(g, &f.sub);
        else if (f.num == 7) n->domain = dup_bytes(g, &f.sub);
    }
    if (rc < 0 || !n->name || !n->op_type || !n->domain) return BAD(e, "malformed NodeProto (node #%d)", g->n_nodes);
    g->n_nodes++;     /* counted now so its arrays are freed with the graph */
    if (!*n->name) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s_%d", n->op_type, g->n_nodes - 1);
        n->name = cc_graph_strdup(g, buf, strlen(buf));
        if (!n->name) return CC_E_NOMEM;
    }
    n->in = cc_graph_own(g, malloc(((size_t)ni + 1) * sizeof(int)));
    n->out = cc_graph_own(g, malloc(((size_t)no + 1) * sizeof(int)));
    n->attr = cc_graph_own(g, calloc((size_t)na + 1, sizeof(cc_attr)));
    if (!n->in || !n->out || !n->attr) return CC_E_NOMEM;
    r = start;
    while (pb_next(&r, &f) == 1) {
        if (f.wt != PB_LEN) continue;
        if (f.num == 1 || f.num == 2) {
            size_t len = (size_t)(f.sub.end - f.sub.p);
            int idx = -1;
            if (len) {
                char *nm = dup_bytes(g, &f.sub);
                if (!nm) return CC_E_NOMEM;
                idx = cc_graph_find(g, nm);
                if (idx < 0) idx = cc_graph_add_tensor(g, nm);
                if (idx < 0) return CC_E_NOMEM;
            }
            if (f.num == 1) n->in[n->n_in++] = idx;
            else {
                if (idx < 0) { n->out[n->n_out++] = -1; continue; }
                if (g->tensors[idx].producer != -1 || g->tensors[idx].is_const)
                    return BAD(e, "tensor '%s' is produced twice (again by node '%s')", g->tensors[idx].name, n->name);
                g->tensors[idx].producer = g->n_nodes - 1;
                n->out[n->n_out++] = idx;
            }
        } else if (f.num == 5) {
            int rc2 = parse_attr(g, f.sub, &n->attr[n->n_attr], n->name, e);
            if (rc2) return rc2;
            n->n_attr++;
        }
    }
    return 0;
}

/* ValueInfoProto of a graph input: name and static shape. */
static int parse_input(cc_graph *g, pb_reader r, cc_err *e)
{
    pb_field f;
    char *name = NULL;
    int elem = 0, ndim = 0, has_shape = 0;
    int64_t dims[CC_MAX_DIMS];
    int rc;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.num == 1 && f.wt == PB_LEN) name = dup_bytes(g, &f.sub);
        if (f.num == 2 && f.wt == PB_LEN) {
            pb_reader tp = f.sub;
            pb_field h;
            while (pb_next(&tp, &h) == 1) {
                if (h.num != 1 || h.wt != PB_LEN) continue;   /* tensor_type */
                pb_reader tt = h.sub;
                pb_field k;
                while (pb_next(&tt, &k) == 1) {
                    if (k.num == 1) elem = (int)k.v;
                    if (k.num == 2 && k.wt == PB_LEN) {
                        has_shape = 1;
                        pb_reader sh = k.sub;
                        pb_field d;
                        while (pb_next(&sh, &d) == 1) {
                            if (d.num != 1 || d.wt != PB_LEN) continue;
                            if (ndim >= CC_MAX_DIMS) return BAD(e, "input has more than %d dimensions", CC_MAX_DIMS);
                            pb_reader dm = d.sub;
                            pb_field v;
                            int64_t val = -1;
                            while (pb_next(&dm, &v) == 1)
                                if (v.num == 1 && v.wt == PB_VARINT) val = (int64_t)v.v;
                            dims[ndim++] = val;
                        }
                    }
                }
            }
        }
    }
    if (rc < 0 || !name) return BAD(e, "malformed graph input");
    if (!*name) return BAD(e, "graph input without a name");
    int idx = cc_graph_find(g, name);
    if (idx >= 0 && g->tensors[idx].is_const) return 0;   /* old exporters list initializers as inputs */
    if (idx >= 0) return BAD(e, "graph input '%s' declared twice", name);
    if (elem != 1) return cc_errf(e, CC_E_UNSUPPORTED, "graph input '%s' has element type %d; only float32 inputs are supported", name, elem);
    if (!has_shape) return cc_errf(e, CC_E_UNSUPPORTED, "graph input '%s' has no shape; a static shape is required", name);
    for (int i = 0; i < ndim; i++) {
        if (dims[i] == 0 || dims[i] < -1) return BAD(e, "graph input '%s' has a zero or negative dimension", name);
        /* a symbolic batch dimension is taken as 1; any other must be static */
        if (dims[i] < 0) {
            if (i != 0) return cc_errf(e, CC_E_UNSUPPORTED, "graph input '%s': dimension %d is symbolic; a static shape is required", name, i);
            dims[i] = 1;
        }
    }
    idx = cc_graph_add_tensor(g, name);
    if (idx < 0) return CC_E_NOMEM;
    cc_tensor *t = &g->tensors[idx];
    t->dtype = CC_DT_FLOAT;
    t->ndim = ndim;
    memcpy(t->dims, dims, sizeof(int64_t) * (size_t)ndim);
    t->numel = cc_numel(dims, ndim);
    if (t->numel <= 0) return cc_errf(e, CC_E_LIMIT, "graph input '%s': shape too large (a dimension above 2^31-1, or the element count overflows)", name);
    {
        char what[300];
        snprintf(what, sizeof what, "graph input '%.200s'", name);
        int lrc = cc_graph_check_size(g, t->numel, 4, what, e);
        if (lrc) return lrc;
    }
    int *ni = realloc(g->inputs, sizeof(int) * (size_t)(g->n_inputs + 1));
    if (!ni) return CC_E_NOMEM;
    g->inputs = ni;
    g->inputs[g->n_inputs++] = idx;
    return 0;
}

static int parse_graph(cc_graph *g, pb_reader r, const char *base_dir, int persistent, cc_err *e)
{
    pb_field f;
    int rc;
    /* initializers first, then inputs, then nodes, then outputs: field order in the file is free */
    for (int pass = 0; pass < 4; pass++) {
        pb_reader s = r;
        while ((rc = pb_next(&s, &f)) == 1) {
            if (f.wt != PB_LEN) continue;
            if (pass == 0 && f.num == 15) return cc_errf(e, CC_E_UNSUPPORTED, "sparse initializers are not supported");
            if (pass == 0 && f.num == 5) {
                cc_tensor t;
                int rc2 = parse_tensor(g, f.sub, &t, persistent, base_dir, e);
                if (rc2) return rc2;
                if (!*t.name) return BAD(e, "initializer without a name");
                if (cc_graph_find(g, t.name) >= 0) return BAD(e, "initializer '%s' defined twice", t.name);
                int idx = cc_graph_add_tensor(g, t.name);
                if (idx < 0) return CC_E_NOMEM;
                t.is_initializer = 1;
                g->tensors[idx] = t;
            } else if (pass == 1 && f.num == 11) {
                int rc2 = parse_input(g, f.sub, e);
                if (rc2) return rc2;
            } else if (pass == 2 && f.num == 1) {
                int rc2 = parse_node(g, f.sub, g->opset, e);
                if (rc2) return rc2;
            } else if (pass == 3 && f.num == 12) {
                pb_reader vi = f.sub;
                pb_field h;
                char *name = NULL;
                while (pb_next(&vi, &h) == 1)
                    if (h.num == 1 && h.wt == PB_LEN) name = dup_bytes(g, &h.sub);
                if (!name || !*name) return BAD(e, "graph output without a name");
                int idx = cc_graph_find(g, name);
                if (idx < 0) return BAD(e, "graph output '%s' is not produced by any node", name);
                for (int k = 0; k < g->n_outputs; k++)
                    if (g->outputs[k] == idx) return BAD(e, "graph output '%s' declared twice", name);
                int *no = realloc(g->outputs, sizeof(int) * (size_t)(g->n_outputs + 1));
                if (!no) return CC_E_NOMEM;
                g->outputs = no;
                g->outputs[g->n_outputs++] = idx;
            }
        }
        if (rc < 0) return BAD(e, "malformed GraphProto");
    }
    return 0;
}

int cc_onnx_parse(cc_graph *g, const uint8_t *buf, size_t size, const char *base_dir, cc_err *e)
{
    pb_reader r = { buf, buf + size };
    pb_field f;
    int rc, have_graph = 0;
    pb_reader graph = { 0, 0 };
    g->opset = -1;
    if (size == 0) return BAD(e, "empty model file");
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.num == 1 && f.wt == PB_VARINT) g->ir_version = (int)f.v;
        else if (f.num == 7 && f.wt == PB_LEN) { graph = f.sub; have_graph = 1; }
        else if (f.num == 8 && f.wt == PB_LEN) {
            pb_reader os = f.sub;
            pb_field h;
            int is_default = 1;
            int64_t ver = -1;
            while (pb_next(&os, &h) == 1) {
                if (h.num == 1 && h.wt == PB_LEN) {
                    size_t l = (size_t)(h.sub.end - h.sub.p);
                    is_default = l == 0 || (l == 7 && !memcmp(h.sub.p, "ai.onnx", 7));
                }
                if (h.num == 2 && h.wt == PB_VARINT) ver = (int64_t)h.v;
            }
            if (is_default) g->opset = (int)ver;
        } else if (f.num == 14 && f.wt == PB_LEN) {
            pb_reader kv = f.sub;
            pb_field h;
            char *k = NULL, *v = NULL;
            while (pb_next(&kv, &h) == 1) {
                if (h.num == 1 && h.wt == PB_LEN) k = dup_bytes(g, &h.sub);
                if (h.num == 2 && h.wt == PB_LEN) v = dup_bytes(g, &h.sub);
            }
            if (!k) continue;
            char **nk = realloc(g->meta_key, sizeof(char *) * (size_t)(g->n_meta + 1));
            if (!nk) return CC_E_NOMEM;
            g->meta_key = nk;
            char **nv = realloc(g->meta_val, sizeof(char *) * (size_t)(g->n_meta + 1));
            if (!nv) return CC_E_NOMEM;
            g->meta_val = nv;
            g->meta_key[g->n_meta] = k;
            g->meta_val[g->n_meta] = v ? v : "";
            g->n_meta++;
        }
    }
    if (rc < 0) return BAD(e, "not a valid ONNX model: the file is truncated or is not a protobuf ModelProto");
    if (!have_graph) return BAD(e, "not a valid ONNX model: no graph found");
    if (g->opset < 0) return BAD(e, "model declares no default-domain opset");
    if (g->opset < 7 || g->opset > 18)
        return cc_errf(e, CC_E_UNSUPPORTED, "model opset %d is outside the supported range 7..18", g->opset);
    return parse_graph(g, graph, base_dir, 1, e);
}

int cc_onnx_parse_tensor_file(const char *path, cc_tensor *t, cc_err *e)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return cc_errf(e, CC_E_IO, "cannot open '%s': %s", path, strerror(errno));
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 65536;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(fp); return CC_E_NOMEM; }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) break;
    }
    fclose(fp);
    cc_graph tmp;
    memset(&tmp, 0, sizeof tmp);
    pb_reader r = { buf, buf + n };
    cc_tensor tt;
    int rc = parse_tensor(&tmp, r, &tt, 0, NULL, e);
    if (!rc) {
        *t = tt;
        size_t esz = t->dtype == CC_DT_FLOAT ? 4 : 8;
        void *d = malloc((size_t)t->numel * esz + 1);
        char *nm = strdup(t->name ? t->name : "");
        if (!d || !nm) { free(d); free(nm); rc = CC_E_NOMEM; }
        else {
            memcpy(d, tt.data, (size_t)t->numel * esz);
            t->data = d;
            t->name = nm;
        }
    }
    cc_graph_free(&tmp);
    free(buf);
    return rc;
}
