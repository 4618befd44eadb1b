#include "pb.h"

int pb_read_varint(pb_reader *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return -1;
        uint8_t b = *r->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) { *v = x; return 0; }
    }
    return -1;
}

int pb_next(pb_reader *r, pb_field *f)
{
    if (r->p >= r->end) return 0;
    uint64_t key;
    if (pb_read_varint(r, &key)) return -1;
    f->num = (uint32_t)(key >> 3);
    f->wt = (int)(key & 7);
    if (f->num == 0) return -1;
    switch (f->wt) {
    case PB_VARINT:
        return pb_read_varint(r, &f->v) ? -1 : 1;
    case PB_I64:
        if (r->end - r->p < 8) return -1;
        f->v = 0;
        for (int i = 7; i >= 0; i--) f->v = (f->v << 8) | r->p[i];
        r->p += 8;
        return 1;
    case PB_I32:
        if (r->end - r->p < 4) return -1;
        f->v = (uint64_t)r->p[0] | (uint64_t)r->p[1] << 8 | (uint64_t)r->p[2] << 16 | (uint64_t)r->p[3] << 24;
        r->p += 4;
        return 1;
    case PB_LEN: {
        uint64_t len;
        if (pb_read_varint(r, &len)) return -1;
        if (len > (uint64_t)(r->end - r->p)) return -1;
        f->sub.p = r->p;
        f->sub.end = r->p + len;
        r->p += len;
        return 1;
    }
    default:
        return -1;           /* groups (3, 4) are not used by ONNX */
    }
}

int64_t pb_count_packed_varint(const pb_reader *r)
{
    pb_reader t = *r;
    int64_t n = 0;
    uint64_t v;
    while (t.p < t.end) {
        if (pb_read_varint(&t, &v)) return -1;
        n++;
    }
    return n;
}
