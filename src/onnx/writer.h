/* A small ONNX ModelProto encoder: a builder for graphs of standard ops with
 * float (or int64) initializers stored as raw_data, static-shape float graph
 * inputs and outputs, node attributes (int, ints, float, floats, string) and
 * metadata_props.  It writes ir_version 7, the default-domain opset 13 (unless
 * changed) and producer "contrastcam".  Used to build the training network and
 * to export trained models; nothing here depends on the rest of the engine.
 *
 * Errors are sticky: the first failure (out of memory, bad argument) is kept,
 * later calls do nothing, and cc_ow_serialize / cc_ow_save report it. */
#ifndef CC_ONNX_WRITER_H
#define CC_ONNX_WRITER_H
#include <stddef.h>
#include <stdint.h>

typedef struct cc_onnx_writer cc_onnx_writer;

/* NULL on out-of-memory. */
cc_onnx_writer *cc_ow_new(const char *graph_name);
void cc_ow_free(cc_onnx_writer *w);
/* 0 or the first error's CC_E_* code; the message (empty if none). */
int cc_ow_error(const cc_onnx_writer *w);
const char *cc_ow_errmsg(const cc_onnx_writer *w);

void cc_ow_set_opset(cc_onnx_writer *w, int64_t opset);
void cc_ow_set_doc(cc_onnx_writer *w, const char *doc);

/* Initializers: the data (numel = product of dims) is copied now. */
int cc_ow_initializer(cc_onnx_writer *w, const char *name, const int64_t *dims, int ndim, const float *data);
int cc_ow_initializer_i64(cc_onnx_writer *w, const char *name, const int64_t *dims, int ndim, const int64_t *data);

/* Graph inputs / outputs: float tensors; a negative dim is written as the
 * symbolic dimension "N". */
int cc_ow_input(cc_onnx_writer *w, const char *name, const int64_t *dims, int ndim);
int cc_ow_output(cc_onnx_writer *w, const char *name, const int64_t *dims, int ndim);

/* A node (default domain).  name may be NULL or "" (the node then has none);
 * NULL or "" entries in inputs mean an absent optional input.  The attribute
 * calls below apply to the node added last. */
int cc_ow_node(cc_onnx_writer *w, const char *op_type, const char *name, const char *const *inputs, int n_in,
               const char *const *outputs, int n_out);
int cc_ow_attr_int(cc_onnx_writer *w, const char *name, int64_t v);
int cc_ow_attr_ints(cc_onnx_writer *w, const char *name, const int64_t *v, int n);
int cc_ow_attr_float(cc_onnx_writer *w, const char *name, float v);
int cc_ow_attr_floats(cc_onnx_writer *w, const char *name, const float *v, int n);
int cc_ow_attr_string(cc_onnx_writer *w, const char *name, const char *s);

/* metadata_props entry (keys are not checked for duplicates). */
int cc_ow_meta(cc_onnx_writer *w, const char *key, const char *value);

/* The serialized ModelProto in a malloc'd buffer (caller frees). */
int cc_ow_serialize(cc_onnx_writer *w, uint8_t **out, size_t *size);
/* Write to path through a temporary file in the same folder and rename(), so
 * a reader never sees a half-written model. */
int cc_ow_save(cc_onnx_writer *w, const char *path);
#endif
