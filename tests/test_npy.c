/* .npy reader/writer: round trip, malformed headers (truncated, bad magic,
 * huge dims, size mismatch, fortran order, bad syntax), and, when given a
 * folder of NumPy-written files (tests/test_npy.sh), interop with NumPy. */
#include "check.h"
#include "ops/op.h"
#include "util/npy.h"

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

static char tmpdir[256];

/* Builds a v1.0 file from a header dict and a payload. */
static size_t make_npy(unsigned char *buf, size_t cap, const char *dict, const void *data, size_t nbytes)
{
    size_t dl = strlen(dict);
    size_t hl = dl + 1;
    if (10 + hl + nbytes > cap) return 0;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hl & 0xff);
    buf[9] = (unsigned char)(hl >> 8);
    memcpy(buf + 10, dict, dl);
    buf[10 + dl] = '\n';
    if (nbytes) memcpy(buf + 10 + hl, data, nbytes);
    return 10 + hl + nbytes;
}

static int load_buf(const char *dict, const void *data, size_t nbytes, cc_npy *a, char *err, size_t el)
{
    static unsigned char buf[4096];
    size_t n = make_npy(buf, sizeof buf, dict, data, nbytes);
    if (!n) return -100;
    return cc_npy_load_buffer(buf, n, a, err, el);
}

static void test_malformed(void)
{
    char err[512];
    cc_npy a;
    float f[6] = {1, 2, 3, 4, 5, 6};
    int rc;

    rc = load_buf("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f, 24, &a, err, sizeof err);
    CHECK(rc == 0 && a.ndim == 2 && a.dims[0] == 2 && a.dims[1] == 3 && a.numel == 6 && a.data[5] == 6.0f,
          "valid hand-made file: rc %d %s", rc, err);
    cc_npy_free(&a);
    /* Keys in another order, double quotes, no trailing comma, extra spaces. */
    rc = load_buf("{ \"shape\" : ( 6 , ) , \"fortran_order\":False,\"descr\":\"<f4\"}", f, 24, &a, err, sizeof err);
    CHECK(rc == 0 && a.ndim == 1 && a.dims[0] == 6 && a.data[0] == 1.0f, "reordered keys: rc %d %s", rc, err);
    cc_npy_free(&a);

    struct { const char *dict; size_t nbytes; int want; const char *what; } bad[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", 24, CC_E_PARSE, "data shorter than shape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 24, CC_E_PARSE, "data longer than shape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000,), }", 24, CC_E_LIMIT, "huge dim (above 2^31-1)"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904), }", 24,
         CC_E_LIMIT, "dims product overflows"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", 24, CC_E_LIMIT,
         "dim overflows int64"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,6), }", 24, CC_E_UNSUPPORTED, "9 dims"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24, CC_E_UNSUPPORTED, "fortran order"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 24, CC_E_UNSUPPORTED, "big-endian"},
        {"{'descr': '<f2', 'fortran_order': False, 'shape': (12,), }", 24, CC_E_UNSUPPORTED, "float16"},
        {"{'descr': '<f4', 'shape': (2, 3), }", 24, CC_E_PARSE, "missing fortran_order"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", 24, CC_E_PARSE, "negative dim"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, }", 24, CC_E_PARSE, "unclosed tuple"},
        {"{'descr: '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24, CC_E_PARSE, "unterminated string"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", 24, CC_E_PARSE, "unknown key"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } junk", 24, CC_E_PARSE, "trailing junk"},
        {"['descr', '<f4']", 24, CC_E_PARSE, "not a dict"},
        {"", 24, CC_E_PARSE, "empty header"},
        {"{'descr': '<f4', 'fortran_order': Fals", 24, CC_E_PARSE, "truncated dict"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        rc = load_buf(bad[i].dict, f, bad[i].nbytes, &a, err, sizeof err);
        CHECK(rc == bad[i].want && a.data == NULL && err[0], "%s: rc %d (want %d) '%s'", bad[i].what, rc,
              bad[i].want, err);
        printf("  refused (%s): %s\n", bad[i].what, err);
        cc_npy_free(&a);
    }

    /* Byte-level damage: truncated at every length, bad magic, version, header length. */
    unsigned char buf[256];
    size_t n = make_npy(buf, sizeof buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f, 24);
    int all_refused = 1;
    for (size_t cut = 0; cut < n; cut++) {
        rc = cc_npy_load_buffer(buf, cut, &a, err, sizeof err);
        if (rc == 0 || a.data) all_refused = 0;
        cc_npy_free(&a);
    }
    CHECK(all_refused, "every truncation of a valid file is refused");
    rc = cc_npy_load_buffer(NULL, 0, &a, err, sizeof err);
    CHECK(rc == CC_E_PARSE, "empty buffer: rc %d", rc);
    unsigned char b2[256];
    memcpy(b2, buf, n);
    b2[1] = 'M';
    rc = cc_npy_load_buffer(b2, n, &a, err, sizeof err);
    CHECK(rc == CC_E_PARSE, "bad magic: rc %d %s", rc, err);
    memcpy(b2, buf, n);
    b2[6] = 4;
    rc = cc_npy_load_buffer(b2, n, &a, err, sizeof err);
    CHECK(rc == CC_E_UNSUPPORTED, "version 4.0: rc %d %s", rc, err);
    memcpy(b2, buf, n);
    b2[8] = 0xff;
    b2[9] = 0xff;
    rc = cc_npy_load_buffer(b2, n, &a, err, sizeof err);
    CHECK(rc == CC_E_PARSE, "header length past the end: rc %d %s", rc, err);
    /* v2 header with a 4 GB length field. */
    unsigned char v2[16] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0xff, 0xff, 0xff, 0xff, '{', '}', '\n', 0};
    rc = cc_npy_load_buffer(v2, 15, &a, err, sizeof err);
    CHECK(rc == CC_E_PARSE, "v2 huge header length: rc %d %s", rc, err);
}

static void test_roundtrip(void)
{
    char err[512], path[400];
    float v[2 * 3 * 5];
    for (int i = 0; i < 30; i++) v[i] = (float)i * 0.25f - 3.0f;
    v[7] = -0.0f;
    v[8] = 1e-40f; /* subnormal */
    int64_t dims[3] = {2, 3, 5};
    snprintf(path, sizeof path, "%s/rt.npy", tmpdir);
    int rc = cc_npy_save(path, v, dims, 3, err, sizeof err);
    CHECK(rc == 0, "save: %s", err);
    cc_npy a;
    rc = cc_npy_load(path, &a, err, sizeof err);
    CHECK(rc == 0 && a.ndim == 3 && a.dims[0] == 2 && a.dims[1] == 3 && a.dims[2] == 5 && a.numel == 30,
          "load back: rc %d %s", rc, err);
    if (rc == 0) CHECK(memcmp(a.data, v, sizeof v) == 0, "round trip is bit-exact");
    cc_npy_free(&a);
    /* Header alignment. */
    FILE *f = fopen(path, "rb");
    unsigned char h[10] = {0};
    CHECK(f && fread(h, 1, 10, f) == 10, "reread header");
    if (f) fclose(f);
    CHECK((10 + (h[8] | h[9] << 8)) % 64 == 0 && h[6] == 1 && h[7] == 0, "v1.0, header 64-aligned");

    /* 0-d, 1-d and empty arrays. */
    float s = 42.5f;
    snprintf(path, sizeof path, "%s/rt0.npy", tmpdir);
    rc = cc_npy_save(path, &s, NULL, 0, err, sizeof err);
    CHECK(rc == 0, "save scalar: %s", err);
    rc = cc_npy_load(path, &a, err, sizeof err);
    CHECK(rc == 0 && a.ndim == 0 && a.numel == 1 && a.data[0] == 42.5f, "scalar back: %s", err);
    cc_npy_free(&a);
    int64_t d0[2] = {0, 7};
    snprintf(path, sizeof path, "%s/rte.npy", tmpdir);
    rc = cc_npy_save(path, NULL, d0, 2, err, sizeof err);
    CHECK(rc == 0, "save empty: %s", err);
    rc = cc_npy_load(path, &a, err, sizeof err);
    CHECK(rc == 0 && a.ndim == 2 && a.numel == 0 && a.dims[1] == 7 && a.data, "empty back: %s", err);
    cc_npy_free(&a);

    /* Overwrite keeps working; no temp files are left behind. */
    snprintf(path, sizeof path, "%s/rt.npy", tmpdir);
    rc = cc_npy_save(path, v, dims, 2, err, sizeof err);
    CHECK(rc == 0, "overwrite: %s", err);
    DIR *dir = opendir(tmpdir);
    int leftovers = 0;
    for (struct dirent *e; dir && (e = readdir(dir));)
        if (strstr(e->d_name, ".tmp.")) leftovers++;
    if (dir) closedir(dir);
    CHECK(leftovers == 0, "no temporary files left (%d)", leftovers);

    /* Failures: missing folder, a directory as the target, bad args. */
    rc = cc_npy_save("/nonexistent-dir-cc/x.npy", v, dims, 3, err, sizeof err);
    CHECK(rc == CC_E_IO, "save into a missing folder: rc %d %s", rc, err);
    rc = cc_npy_save(tmpdir, v, dims, 3, err, sizeof err);
    CHECK(rc == CC_E_IO, "save over a directory: rc %d %s", rc, err);
    printf("  refused save over a directory: %s\n", err);
    dir = opendir(tmpdir);
    leftovers = 0;
    for (struct dirent *e; dir && (e = readdir(dir));)
        if (strstr(e->d_name, ".tmp.")) leftovers++;
    if (dir) closedir(dir);
    CHECK(leftovers == 0, "failed save removes its temporary file (%d left)", leftovers);
    int64_t neg[1] = {-1};
    CHECK(cc_npy_save(path, v, neg, 1, err, sizeof err) == CC_E_ARG, "negative dim refused");
    CHECK(cc_npy_save(path, v, dims, 9, err, sizeof err) == CC_E_ARG, "ndim 9 refused");

    /* Loading: missing file vs directory vs empty file. */
    rc = cc_npy_load("/nonexistent-dir-cc/x.npy", &a, err, sizeof err);
    CHECK(rc == CC_E_IO && strstr(err, "no such file"), "missing file: rc %d %s", rc, err);
    rc = cc_npy_load(tmpdir, &a, err, sizeof err);
    CHECK(rc == CC_E_IO && strstr(err, "directory"), "directory: rc %d %s", rc, err);
    snprintf(path, sizeof path, "%s/empty.npy", tmpdir);
    f = fopen(path, "wb");
    if (f) fclose(f);
    rc = cc_npy_load(path, &a, err, sizeof err);
    CHECK(rc == CC_E_PARSE && a.data == NULL, "empty file: rc %d %s", rc, err);
}

/* Reads NAME.txt (expected values written by NumPy) and compares. */
static void check_numpy_file(const char *dir, const char *name)
{
    char path[600], err[512];
    snprintf(path, sizeof path, "%s/%s.txt", dir, name);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "open %s", path);
    if (!f) return;
    int ndim = -1;
    int64_t dims[8] = {0};
    CHECK(fscanf(f, "%d", &ndim) == 1 && ndim >= 0 && ndim <= 8, "%s: ndim", name);
    for (int i = 0; i < ndim && i < 8; i++) {
        long long d = -1;
        if (fscanf(f, "%lld", &d) != 1) d = -1;
        dims[i] = d;
    }
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    cc_npy a;
    int rc = cc_npy_load(path, &a, err, sizeof err);
    CHECK(rc == 0, "%s: %s", name, err);
    if (rc == 0) {
        int same = a.ndim == ndim;
        for (int i = 0; same && i < ndim; i++) same = a.dims[i] == dims[i];
        CHECK(same, "%s: shape", name);
        int64_t bad = 0, k = 0;
        char tok[64];
        while (fscanf(f, "%63s", tok) == 1) {
            float want = strtof(tok, NULL);
            if (k >= a.numel) { bad++; break; }
            float got = a.data[k++];
            if (!(got == want || (isnan(got) && isnan(want))) || signbit(got) != signbit(want)) bad++;
        }
        CHECK(bad == 0 && k == a.numel, "%s: %lld of %lld values differ (read %lld)", name, (long long)bad,
              (long long)a.numel, (long long)k);
        printf("  numpy %s: ndim %d numel %lld ok\n", name, a.ndim, (long long)a.numel);
    }
    cc_npy_free(&a);
    fclose(f);
}

static void test_numpy(const char *dir)
{
    const char *good[] = {"f4_2d", "f4_4d", "f4_special", "f8_1d", "i8_2d", "i4_1d", "u1_3d", "scalar", "empty",
                          "v2", "v3"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) check_numpy_file(dir, good[i]);
    const char *bad[] = {"bad_fortran", "bad_bigendian", "bad_bool", "bad_complex"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[600], err[512] = "";
        snprintf(path, sizeof path, "%s/%s.npy", dir, bad[i]);
        cc_npy a;
        int rc = cc_npy_load(path, &a, err, sizeof err);
        CHECK(rc == CC_E_UNSUPPORTED && a.data == NULL, "%s: rc %d %s", bad[i], rc, err);
        printf("  refused %s: %s\n", bad[i], err);
    }
    /* Files for NumPy to read back (checked by tests/test_npy.sh). */
    char path[600], err[512];
    float v[30];
    for (int i = 0; i < 30; i++) v[i] = (float)i * 0.25f - 3.0f;
    int64_t dims[3] = {2, 3, 5};
    snprintf(path, sizeof path, "%s/c_written.npy", dir);
    CHECK(cc_npy_save(path, v, dims, 3, err, sizeof err) == 0, "%s", err);
    int64_t d1[1] = {4}, d2[2] = {0, 2};
    snprintf(path, sizeof path, "%s/c_written_0.npy", dir);
    CHECK(cc_npy_save(path, v, NULL, 0, err, sizeof err) == 0, "%s", err);
    snprintf(path, sizeof path, "%s/c_written_1.npy", dir);
    CHECK(cc_npy_save(path, v, d1, 1, err, sizeof err) == 0, "%s", err);
    snprintf(path, sizeof path, "%s/c_written_2.npy", dir);
    CHECK(cc_npy_save(path, v, d2, 2, err, sizeof err) == 0, "%s", err);
}

int main(int argc, char **argv)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cc_test_npy_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        printf("cannot make a temporary folder\n");
        return 1;
    }
    test_malformed();
    test_roundtrip();
    if (argc > 1) test_numpy(argv[1]);
    else printf("  (NumPy interop runs from tests/test_npy.sh)\n");
    /* Clean up. */
    const char *names[] = {"rt.npy", "rt0.npy", "rte.npy", "empty.npy"};
    char path[400];
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    rmdir(tmpdir);
    return check_exit();
}
