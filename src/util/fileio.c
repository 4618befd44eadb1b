/* Whole-file reads and atomic writes; see fileio.h. */
#include "util/fileio.h"
#include "ops/op.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, int code, const char *fmt, const char *path, const char *why)
{
    if (err && errlen) snprintf(err, errlen, fmt, path, why);
    return code;
}

int cc_file_read(const char *path, size_t max_size, unsigned char **data, size_t *size,
                 char *err, size_t errlen)
{
    *data = NULL;
    *size = 0;
    if (!path || !*path) return fail(err, errlen, CC_E_ARG, "%s%s", "", "empty file name");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);   /* a FIFO must not hang: refused below */
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return fail(err, errlen, CC_E_IO, "cannot open '%s': %s", path, "no such file");
        return fail(err, errlen, CC_E_IO, "cannot open '%s': %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fail(err, errlen, CC_E_IO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return fail(err, errlen, CC_E_IO, "cannot read '%s': %s", path, "it is a directory, not a file");
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, errlen, CC_E_IO, "cannot read '%s': %s", path, "not a regular file");
    }
    if (st.st_size < 0 || (unsigned long long)st.st_size > (unsigned long long)max_size) {
        close(fd);
        if (err && errlen)
            snprintf(err, errlen, "cannot read '%s': file is %lld bytes, larger than the limit of %zu",
                     path, (long long)st.st_size, max_size);
        return CC_E_LIMIT;
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return fail(err, errlen, CC_E_NOMEM, "cannot read '%s': %s", path, "out of memory");
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            free(buf);
            close(fd);
            return fail(err, errlen, CC_E_IO, "cannot read '%s': %s", path, strerror(e));
        }
        if (r == 0) break; /* file shrank while reading: take what is there */
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    *data = buf;
    *size = got;
    return 0;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int cc_file_write_atomic(const char *path, int n, const void *const *bufs, const size_t *sizes,
                         char *err, size_t errlen)
{
    if (!path || !*path) return fail(err, errlen, CC_E_ARG, "%s%s", "", "empty file name");
    size_t plen = strlen(path);
    static const char suffix[] = ".tmp.XXXXXX";
    char *tmp = malloc(plen + sizeof suffix);
    if (!tmp) return fail(err, errlen, CC_E_NOMEM, "cannot write '%s': %s", path, "out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, suffix, sizeof suffix);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return fail(err, errlen, CC_E_IO, "cannot create a temporary file next to '%s': %s", path,
                    strerror(e));
    }
    const char *what = "write";
    int e = 0;
    for (int i = 0; i < n && !e; i++)
        if (sizes[i] && write_all(fd, bufs[i], sizes[i]) != 0) e = errno ? errno : EIO;
    if (!e && fchmod(fd, 0644) != 0) { e = errno; what = "chmod"; }
    if (!e && fsync(fd) != 0) { e = errno; what = "fsync"; }
    if (close(fd) != 0 && !e) { e = errno; what = "close"; }
    if (!e && rename(tmp, path) != 0) { e = errno; what = "rename"; }
    if (e) {
        unlink(tmp);
        free(tmp);
        if (err && errlen) snprintf(err, errlen, "cannot write '%s' (%s): %s", path, what, strerror(e));
        return CC_E_IO;
    }
    /* Make the rename durable: fsync the folder (best effort). */
    char *dir = strdup(path);
    if (dir) {
        int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    free(tmp);
    return 0;
}
