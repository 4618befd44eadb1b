/* .npy files (NumPy format 1.0/2.0/3.0): read float32/float64/int64/int32/uint8
 * arrays into float32, write float32 arrays atomically (temp file + rename). */
#ifndef CC_NPY_H
#define CC_NPY_H
#include <stddef.h>
#include <stdint.h>

typedef struct cc_npy {
    int ndim;
    int64_t dims[8];
    int64_t numel;
    float *data;             /* malloc'd, C order */
} cc_npy;

/* Returns 0 on success; on failure a non-zero CC_E_* code and a message in err. */
int cc_npy_load(const char *path, cc_npy *out, char *err, size_t errlen);
int cc_npy_load_buffer(const void *buf, size_t size, cc_npy *out, char *err, size_t errlen);
/* Writes path atomically: a temporary file in the same folder, then rename(). */
int cc_npy_save(const char *path, const float *data, const int64_t *dims, int ndim,
                char *err, size_t errlen);
void cc_npy_free(cc_npy *a);
#endif
