/* Internal: the projected (matrix-chain) evaluation of Grad-CAM channel weights,
 * see src/explain/project.c. */
#ifndef CC_EXPLAIN_PROJECT_H
#define CC_EXPLAIN_PROJECT_H
#include "graph/internal.h"

/* alpha (K x channels of `layer`) for K seeds at `output`: either identity rows
 * (rows[q] = class index, seeds NULL) or dense seeds (K x numel(output), rows NULL).
 * Needs a forward pass.  Returns CC_OK, -1 when the tail after the layer is not
 * supported or (unless force) the batched backward is estimated cheaper, or a
 * cc_status error. */
int cc_proj_weights(cc_session *s, int layer, int output, const int *rows, const float *seeds, int K, float *alpha,
                    int force);
#endif
