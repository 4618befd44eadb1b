/* .npy reader/writer (NumPy format versions 1.0, 2.0, 3.0).
 *
 * Layout: "\x93NUMPY", major, minor, header length (uint16 LE for 1.0, uint32
 * LE for 2.0/3.0), then an ASCII (3.0: UTF-8) Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and ended by '\n', then the raw array data.
 * Reading accepts '<f4', '<f8', '<i8', '<i4' and '|u1' (also '<u1'), C order
 * only, and converts to float32.  Every length read from the file is checked
 * against what is left; the data size must equal prod(shape) * itemsize.
 * Writing produces float32 '<f4', version 1.0, with the header padded so the
 * data starts at a multiple of 64 bytes (as NumPy does), atomically. */
#include "util/npy.h"
#include "util/fileio.h"
#include "ops/op.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAX_FILE ((size_t)1 << 34) /* 16 GiB */

static int npy_err(char *err, size_t errlen, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static int npy_err(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        cc_msg_oneline(err);
    }
    return code;
}

/* ---- header dict parser -------------------------------------------------- */

typedef struct hdr_parser {
    const char *p, *end;
} hdr_parser;

static void skip_ws(hdr_parser *h)
{
    while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r')) h->p++;
}

static int accept_ch(hdr_parser *h, char c)
{
    skip_ws(h);
    if (h->p < h->end && *h->p == c) {
        h->p++;
        return 1;
    }
    return 0;
}

/* A quoted string ('...' or "..."), no escapes needed for the keys/values NumPy writes. */
static int parse_str(hdr_parser *h, const char **s, size_t *len)
{
    skip_ws(h);
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"')) return -1;
    char q = *h->p++;
    const char *start = h->p;
    while (h->p < h->end && *h->p != q) {
        if (*h->p == '\\') return -1;
        h->p++;
    }
    if (h->p >= h->end) return -1;
    *s = start;
    *len = (size_t)(h->p - start);
    h->p++;
    return 0;
}

static int match_word(hdr_parser *h, const char *w)
{
    skip_ws(h);
    size_t n = strlen(w);
    if ((size_t)(h->end - h->p) >= n && memcmp(h->p, w, n) == 0) {
        h->p += n;
        return 1;
    }
    return 0;
}

/* Returns 0, or -1 on syntax error, -2 on too many dims, -3 on a dim too large. */
static int parse_shape(hdr_parser *h, int *ndim, int64_t *dims)
{
    if (!accept_ch(h, '(')) return -1;
    *ndim = 0;
    for (;;) {
        if (accept_ch(h, ')')) return 0;
        skip_ws(h);
        if (h->p >= h->end || *h->p < '0' || *h->p > '9') return -1;
        int64_t v = 0;
        while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
            if (v > (INT64_MAX - 9) / 10) return -3;
            v = v * 10 + (*h->p - '0');
            h->p++;
        }
        if (h->p < h->end && *h->p == 'L') h->p++; /* Python 2 long suffix */
        if (*ndim >= 8) return -2;
        dims[(*ndim)++] = v;
        if (accept_ch(h, ',')) continue;
        if (accept_ch(h, ')')) return 0;
        return -1;
    }
}

enum { DT_F4, DT_F8, DT_I8, DT_I4, DT_U1 };

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

int cc_npy_load_buffer(const void *buf, size_t size, cc_npy *out, char *err, size_t errlen)
{
    if (!out) return npy_err(err, errlen, CC_E_ARG, "npy: NULL output");
    memset(out, 0, sizeof *out);
    if (!buf && size) return npy_err(err, errlen, CC_E_ARG, "npy: NULL buffer");
    const unsigned char *b = buf;
    if (size < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return npy_err(err, errlen, CC_E_PARSE, "not a .npy file (bad magic or shorter than 10 bytes)");
    int major = b[6], minor = b[7];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12) return npy_err(err, errlen, CC_E_PARSE, "npy: truncated header");
        hlen = rd32(b + 8);
        hstart = 12;
    } else {
        return npy_err(err, errlen, CC_E_UNSUPPORTED, "npy: format version %d.%d not supported (1.0, 2.0, 3.0 are)",
                       major, minor);
    }
    if (minor != 0)
        return npy_err(err, errlen, CC_E_UNSUPPORTED, "npy: format version %d.%d not supported", major, minor);
    if (hlen > size - hstart)
        return npy_err(err, errlen, CC_E_PARSE, "npy: truncated header (header says %zu bytes, %zu left)", hlen,
                       size - hstart);

    hdr_parser h = {(const char *)b + hstart, (const char *)b + hstart + hlen};
    int have_descr = 0, have_fortran = 0, have_shape = 0, dt = -1, fortran = 0;
    int ndim = 0;
    int64_t dims[8] = {0};
    char descr[16] = "";
    if (!accept_ch(&h, '{')) return npy_err(err, errlen, CC_E_PARSE, "npy: header is not a dict");
    for (;;) {
        if (accept_ch(&h, '}')) break;
        const char *k;
        size_t kl;
        if (parse_str(&h, &k, &kl) != 0 || !accept_ch(&h, ':'))
            return npy_err(err, errlen, CC_E_PARSE, "npy: malformed header dict");
        if (kl == 5 && memcmp(k, "descr", 5) == 0) {
            const char *v;
            size_t vl;
            skip_ws(&h);
            if (h.p < h.end && (*h.p == '[' || *h.p == '{'))
                return npy_err(err, errlen, CC_E_UNSUPPORTED, "npy: structured dtypes are not supported");
            if (parse_str(&h, &v, &vl) != 0) return npy_err(err, errlen, CC_E_PARSE, "npy: malformed 'descr'");
            if (vl >= sizeof descr) vl = sizeof descr - 1;
            memcpy(descr, v, vl);
            descr[vl] = 0;
            if (!strcmp(descr, "<f4")) dt = DT_F4;
            else if (!strcmp(descr, "<f8")) dt = DT_F8;
            else if (!strcmp(descr, "<i8")) dt = DT_I8;
            else if (!strcmp(descr, "<i4")) dt = DT_I4;
            else if (!strcmp(descr, "|u1") || !strcmp(descr, "<u1")) dt = DT_U1;
            have_descr = 1;
        } else if (kl == 13 && memcmp(k, "fortran_order", 13) == 0) {
            if (match_word(&h, "True")) fortran = 1;
            else if (match_word(&h, "False")) fortran = 0;
            else return npy_err(err, errlen, CC_E_PARSE, "npy: malformed 'fortran_order'");
            have_fortran = 1;
        } else if (kl == 5 && memcmp(k, "shape", 5) == 0) {
            int r = parse_shape(&h, &ndim, dims);
            if (r == -2) return npy_err(err, errlen, CC_E_UNSUPPORTED, "npy: more than 8 dimensions");
            if (r == -3) return npy_err(err, errlen, CC_E_LIMIT, "npy: a dimension is too large");
            if (r != 0) return npy_err(err, errlen, CC_E_PARSE, "npy: malformed 'shape'");
            have_shape = 1;
        } else {
            return npy_err(err, errlen, CC_E_PARSE, "npy: unknown header key '%.*s'", (int)(kl > 32 ? 32 : kl), k);
        }
        if (accept_ch(&h, ',')) continue;
        if (accept_ch(&h, '}')) break;
        return npy_err(err, errlen, CC_E_PARSE, "npy: malformed header dict");
    }
    if (!have_descr || !have_fortran || !have_shape)
        return npy_err(err, errlen, CC_E_PARSE, "npy: header lacks %s", !have_descr ? "'descr'"
                       : !have_fortran ? "'fortran_order'" : "'shape'");
    if (dt < 0)
        return npy_err(err, errlen, CC_E_UNSUPPORTED,
                       "npy: dtype '%s' not supported (<f4, <f8, <i8, <i4, |u1 are)", descr);
    if (fortran)
        return npy_err(err, errlen, CC_E_UNSUPPORTED, "npy: fortran_order True is not supported (C order only)");
    skip_ws(&h);
    if (h.p != h.end) return npy_err(err, errlen, CC_E_PARSE, "npy: garbage after the header dict");

    static const size_t isz[] = {4, 8, 8, 4, 1};
    size_t item = isz[dt];
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] > CC_MAX_DIM)   /* as for model tensors: no dimension above 2^31-1 */
            return npy_err(err, errlen, CC_E_LIMIT, "npy: dimension %d is %lld, more than %lld", i, (long long)dims[i],
                           (long long)CC_MAX_DIM);
        if (dims[i] != 0 && numel > UINT64_MAX / (uint64_t)dims[i])
            return npy_err(err, errlen, CC_E_LIMIT, "npy: shape too large (element count overflows)");
        numel *= (uint64_t)dims[i];
    }
    size_t avail = size - hstart - hlen;
    if (numel > (uint64_t)(SIZE_MAX / 8) || numel > (uint64_t)INT64_MAX / 8)
        return npy_err(err, errlen, CC_E_LIMIT, "npy: shape too large (%llu elements)", (unsigned long long)numel);
    if ((size_t)numel * item != avail)
        return npy_err(err, errlen, CC_E_PARSE,
                       "npy: data size mismatch: shape needs %llu bytes of %s, file has %zu",
                       (unsigned long long)numel * item, descr, avail);

    float *data = malloc(numel ? (size_t)numel * sizeof(float) : 1);
    if (!data) return npy_err(err, errlen, CC_E_NOMEM, "npy: out of memory for %llu floats", (unsigned long long)numel);
    const unsigned char *d = b + hstart + hlen;
    size_t n = (size_t)numel;
    switch (dt) {
    case DT_F4:
        for (size_t i = 0; i < n; i++) {
            uint32_t u = rd32(d + 4 * i);
            memcpy(&data[i], &u, 4);
        }
        break;
    case DT_F8:
        for (size_t i = 0; i < n; i++) {
            uint64_t u = rd64(d + 8 * i);
            double v;
            memcpy(&v, &u, 8);
            data[i] = (float)v;
        }
        break;
    case DT_I8:
        for (size_t i = 0; i < n; i++) data[i] = (float)(int64_t)rd64(d + 8 * i);
        break;
    case DT_I4:
        for (size_t i = 0; i < n; i++) data[i] = (float)(int32_t)rd32(d + 4 * i);
        break;
    default:
        for (size_t i = 0; i < n; i++) data[i] = (float)d[i];
        break;
    }
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++) out->dims[i] = dims[i];
    out->numel = (int64_t)numel;
    out->data = data;
    return 0;
}

int cc_npy_load(const char *path, cc_npy *out, char *err, size_t errlen)
{
    if (!out) return npy_err(err, errlen, CC_E_ARG, "npy: NULL output");
    memset(out, 0, sizeof *out);
    unsigned char *buf;
    size_t size;
    int rc = cc_file_read(path, NPY_MAX_FILE, &buf, &size, err, errlen);
    if (rc) return rc;
    char sub[400];
    rc = cc_npy_load_buffer(buf, size, out, sub, sizeof sub);
    free(buf);
    if (rc) npy_err(err, errlen, rc, "'%s': %s", path, sub);
    return rc;
}

int cc_npy_save(const char *path, const float *data, const int64_t *dims, int ndim, char *err, size_t errlen)
{
    if (ndim < 0 || ndim > 8) return npy_err(err, errlen, CC_E_ARG, "npy: ndim %d out of range 0..8", ndim);
    if (ndim > 0 && !dims) return npy_err(err, errlen, CC_E_ARG, "npy: NULL dims");
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0) return npy_err(err, errlen, CC_E_ARG, "npy: negative dimension %lld", (long long)dims[i]);
        if (dims[i] != 0 && numel > UINT64_MAX / (uint64_t)dims[i])
            return npy_err(err, errlen, CC_E_LIMIT, "npy: shape too large");
        numel *= (uint64_t)dims[i];
    }
    if (numel > SIZE_MAX / 4) return npy_err(err, errlen, CC_E_LIMIT, "npy: shape too large");
    if (numel && !data) return npy_err(err, errlen, CC_E_ARG, "npy: NULL data");

    char hdr[512];
    int len = snprintf(hdr + 10, sizeof hdr - 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < ndim; i++) /* NumPy style: (3,) (3, 4) () */
        len += snprintf(hdr + 10 + len, sizeof hdr - 10 - (size_t)len,
                        i + 1 < ndim ? "%lld, " : ndim == 1 ? "%lld," : "%lld", (long long)dims[i]);
    len += snprintf(hdr + 10 + len, sizeof hdr - 10 - (size_t)len, "), }");
    /* Pad with spaces + '\n' so that 10 + header length is a multiple of 64. */
    size_t total = (size_t)(10 + len + 1);
    total = (total + 63) / 64 * 64;
    size_t hl = total - 10;
    memset(hdr + 10 + len, ' ', hl - (size_t)len);
    hdr[total - 1] = '\n';
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    hdr[8] = (char)(hl & 0xff);
    hdr[9] = (char)(hl >> 8);

    size_t nbytes = (size_t)numel * 4;
    const void *payload = data;
    unsigned char *conv = NULL;
    const uint16_t one = 1;
    if (*(const unsigned char *)&one != 1) { /* big-endian host: write little-endian bytes */
        conv = malloc(nbytes ? nbytes : 1);
        if (!conv) return npy_err(err, errlen, CC_E_NOMEM, "npy: out of memory");
        for (size_t i = 0; i < (size_t)numel; i++) {
            uint32_t u;
            memcpy(&u, &data[i], 4);
            for (int k = 0; k < 4; k++) conv[4 * i + (size_t)k] = (unsigned char)(u >> (8 * k));
        }
        payload = conv;
    }
    const void *bufs[2] = {hdr, payload};
    size_t sizes[2] = {total, nbytes};
    int rc = cc_file_write_atomic(path, 2, bufs, sizes, err, errlen);
    free(conv);
    return rc;
}

void cc_npy_free(cc_npy *a)
{
    if (!a) return;
    free(a->data);
    a->data = NULL;
    a->numel = 0;
    a->ndim = 0;
}
