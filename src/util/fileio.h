/* Whole-file reading with distinct errors (missing / directory / unreadable /
 * too large) and atomic writing (temporary file in the same folder, fsync,
 * rename; the temporary is removed on failure).  Used by the .npy and image
 * I/O.  Never prints; messages go to err. */
#ifndef CC_FILEIO_H
#define CC_FILEIO_H
#include <stddef.h>

/* Reads all of path into a malloc'd buffer (*data, *size; one extra NUL byte
 * after the data so text parsers may rely on it).  Files larger than max_size
 * bytes are refused with CC_E_LIMIT.  Returns 0 or a CC_E_* code:
 * CC_E_NOTFOUND is never used; a missing file is CC_E_IO with "no such file". */
int cc_file_read(const char *path, size_t max_size, unsigned char **data, size_t *size,
                 char *err, size_t errlen);

/* Writes the concatenation of n buffers to path atomically: path.tmp.XXXXXX in
 * the same folder, written, fsync'd, closed, renamed over path (mode 0644).
 * On any failure the temporary file is removed and path is left untouched. */
int cc_file_write_atomic(const char *path, int n, const void *const *bufs, const size_t *sizes,
                         char *err, size_t errlen);
#endif
