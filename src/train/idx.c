/* IDX files (the MNIST family's format): a big-endian header
 *   0x00 0x00 <type> <rank>  then rank uint32 dimensions  then the payload,
 * read through zlib so .gz and plain files both work.  Only unsigned-byte
 * payloads (type 0x08) are accepted, and the payload must be exactly the size
 * the header promises: a truncated, padded or corrupt file is an error. */
#include "train/train.h"
#include "ops/op.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

int cc_train_errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

int cc_idx_parse(const uint8_t *buf, size_t size, const char *what, cc_idx *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!what) what = "IDX data";
    if (size < 4) return cc_train_errf(err, errlen, CC_E_PARSE, "%s: too short for an IDX header (%zu bytes)", what, size);
    if (buf[0] != 0 || buf[1] != 0)
        return cc_train_errf(err, errlen, CC_E_PARSE, "%s: not an IDX file (bad magic %02x %02x)", what, buf[0], buf[1]);
    if (buf[2] != 0x08)
        return cc_train_errf(err, errlen, CC_E_UNSUPPORTED, "%s: IDX element type 0x%02x; only unsigned bytes (0x08) are supported",
                    what, buf[2]);
    int ndim = buf[3];
    if (ndim < 1 || ndim > 4) return cc_train_errf(err, errlen, CC_E_UNSUPPORTED, "%s: IDX rank %d (need 1 to 4)", what, ndim);
    size_t hdr = 4 + 4 * (size_t)ndim;
    if (size < hdr) return cc_train_errf(err, errlen, CC_E_PARSE, "%s: truncated IDX header", what);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        const uint8_t *p = buf + 4 + 4 * i;
        uint32_t d = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
        if (d == 0) return cc_train_errf(err, errlen, CC_E_PARSE, "%s: dimension %d is zero", what, i);
        if (d > (uint32_t)INT32_MAX || numel > CC_IDX_MAX_BYTES / (int64_t)d)
            return cc_train_errf(err, errlen, CC_E_LIMIT, "%s: IDX data larger than %lld bytes", what, (long long)CC_IDX_MAX_BYTES);
        out->dims[i] = d;
        numel *= d;
    }
    if ((uint64_t)(size - hdr) != (uint64_t)numel)
        return cc_train_errf(err, errlen, CC_E_PARSE, "%s: header promises %lld bytes of data, the file holds %zu (%s)", what,
                    (long long)numel, size - hdr, (uint64_t)(size - hdr) < (uint64_t)numel ? "truncated" : "trailing bytes");
    out->data = malloc((size_t)numel);
    if (!out->data) return cc_train_errf(err, errlen, CC_E_NOMEM, "%s: out of memory", what);
    memcpy(out->data, buf + hdr, (size_t)numel);
    out->ndim = ndim;
    out->numel = numel;
    return 0;
}

int cc_idx_load(const char *path, cc_idx *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st)) return cc_train_errf(err, errlen, CC_E_IO, "cannot open '%s': %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return cc_train_errf(err, errlen, CC_E_IO, "'%s' is not a regular file", path);
    gzFile f = gzopen(path, "rb");
    if (!f) return cc_train_errf(err, errlen, CC_E_IO, "cannot open '%s': %s", path, errno ? strerror(errno) : "out of memory");
    gzbuffer(f, 1 << 17);
    size_t n = 0, cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    int rc = 0;
    if (!buf) rc = cc_train_errf(err, errlen, CC_E_NOMEM, "out of memory reading '%s'", path);
    while (!rc) {
        if (n == cap) {
            if ((int64_t)cap > CC_IDX_MAX_BYTES) {
                rc = cc_train_errf(err, errlen, CC_E_LIMIT, "'%s': more than %lld bytes", path, (long long)CC_IDX_MAX_BYTES);
                break;
            }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) { rc = cc_train_errf(err, errlen, CC_E_NOMEM, "out of memory reading '%s'", path); break; }
            buf = nb;
            cap *= 2;
        }
        size_t want = cap - n > (1u << 30) ? (1u << 30) : cap - n;
        int got = gzread(f, buf + n, (unsigned)want);
        if (got < 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            rc = cc_train_errf(err, errlen, CC_E_PARSE, "'%s': corrupt or truncated gzip data (%s)", path, msg ? msg : "?");
            break;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    int zc = gzclose(f);
    if (!rc && zc != Z_OK && zc != Z_BUF_ERROR)
        rc = cc_train_errf(err, errlen, CC_E_PARSE, "'%s': gzip stream error on close (%d)", path, zc);
    if (!rc && zc == Z_BUF_ERROR)
        rc = cc_train_errf(err, errlen, CC_E_PARSE, "'%s': truncated gzip stream", path);
    if (!rc) rc = cc_idx_parse(buf, n, path, out, err, errlen);
    free(buf);
    return rc;
}

void cc_idx_free(cc_idx *x)
{
    if (!x) return;
    free(x->data);
    memset(x, 0, sizeof *x);
}

int cc_dataset_load(const char *images_path, const char *labels_path, int n_classes, int limit,
                    cc_dataset *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    if (n_classes < 2 || n_classes > 256) return cc_train_errf(err, errlen, CC_E_ARG, "bad class count %d", n_classes);
    cc_idx im, lb;
    int rc = cc_idx_load(images_path, &im, err, errlen);
    if (rc) return rc;
    rc = cc_idx_load(labels_path, &lb, err, errlen);
    if (rc) { cc_idx_free(&im); return rc; }
    if (im.ndim != 3) rc = cc_train_errf(err, errlen, CC_E_SHAPE, "'%s': images must be [N, H, W], got rank %d", images_path, im.ndim);
    else if (lb.ndim != 1) rc = cc_train_errf(err, errlen, CC_E_SHAPE, "'%s': labels must be [N], got rank %d", labels_path, lb.ndim);
    else if (im.dims[0] != lb.dims[0])
        rc = cc_train_errf(err, errlen, CC_E_SHAPE, "'%s' holds %lld images but '%s' holds %lld labels", images_path,
                  (long long)im.dims[0], labels_path, (long long)lb.dims[0]);
    else if (im.dims[0] > INT32_MAX / 2 || im.dims[1] > 4096 || im.dims[2] > 4096)
        rc = cc_train_errf(err, errlen, CC_E_LIMIT, "'%s': too many or too large images", images_path);
    for (int64_t i = 0; !rc && i < lb.numel; i++)
        if (lb.data[i] >= n_classes)
            rc = cc_train_errf(err, errlen, CC_E_PARSE, "'%s': label %d at index %lld is not below %d", labels_path, lb.data[i],
                      (long long)i, n_classes);
    if (rc) { cc_idx_free(&im); cc_idx_free(&lb); return rc; }
    d->n = (int)im.dims[0];
    d->h = (int)im.dims[1];
    d->w = (int)im.dims[2];
    if (limit > 0 && limit < d->n) d->n = limit;
    d->images = im.data;
    d->labels = lb.data;
    d->n_classes = n_classes;
    return 0;
}

int cc_dataset_load_dir(const char *dir, int test, int n_classes, int limit, cc_dataset *d, char *err, size_t errlen)
{
    const char *pre = test ? "t10k" : "train";
    char ip[4096], lp[4096];
    struct stat st;
    snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte.gz", dir, pre);
    if (stat(ip, &st)) snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte", dir, pre);
    snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte.gz", dir, pre);
    if (stat(lp, &st)) snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte", dir, pre);
    return cc_dataset_load(ip, lp, n_classes, limit, d, err, errlen);
}

void cc_dataset_free(cc_dataset *d)
{
    if (!d) return;
    free(d->images);
    free(d->labels);
    memset(d, 0, sizeof *d);
}
