/* A bounds-checked reader for the protobuf wire format: just what ONNX needs.
 * Every length is checked against the bytes that remain; nothing is trusted. */
#ifndef CC_PB_H
#define CC_PB_H
#include <stddef.h>
#include <stdint.h>

typedef struct pb_reader {
    const uint8_t *p, *end;
} pb_reader;

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

typedef struct pb_field {
    uint32_t num;
    int wt;
    uint64_t v;              /* varint / fixed value */
    pb_reader sub;           /* PB_LEN payload */
} pb_field;

/* Next field: 1 = got one, 0 = end of message, -1 = malformed. */
int pb_next(pb_reader *r, pb_field *f);
/* Count / decode a repeated scalar field occurrence (packed payload or single value). */
int64_t pb_count_packed_varint(const pb_reader *r);   /* -1 on malformed */
int pb_read_varint(pb_reader *r, uint64_t *v);
#endif
