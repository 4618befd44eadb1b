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

/* When the layers after `layer` are a channel-wise pooling to one value per
 * channel and one fully connected layer (nothing masked), the Grad-CAM weights
 * of class c are G[c] = W[c] * d elementwise: sets *W (numel(output) x channels,
 * row-major, the model's own weights) and d (channels values) and returns CC_OK;
 * -1 when the tail has another form, or a cc_status error. */
int cc_proj_head(cc_session *s, int layer, int output, const float **W, float *d);
#endif
