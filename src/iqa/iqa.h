/* Internal pieces of the IQA feature (public API: include/contrastcam_iqa.h). */
#ifndef CC_IQA_INTERNAL_H
#define CC_IQA_INTERNAL_H
#include "contrastcam_iqa.h"
#include "graph/internal.h"

#define CC_IQA_MAX_BATCH 4096

/* cc_model_load with every graph input's leading (batch) dimension set to
 * `batch` before the graph is built (src/iqa/load.c).  As cc_model_load, *out
 * may hold a handle with a message on failure. */
cc_status cc_iqa_model_load_batch(const char *path, int batch, cc_model **out);
#endif
