/* The structs behind the public handles. */
#ifndef CC_INTERNAL_H
#define CC_INTERNAL_H
#include "contrastcam.h"
#include "graph/graph.h"

struct cc_model {
    cc_graph g;
    char err[1024];
};

struct cc_session {
    const cc_model *m;
    cc_tensor *t;             /* per-session view of every tensor: data points to session buffers or model constants */
    float **act;              /* owned activation buffers (NULL for constants) */
    float **grad;             /* gradient buffers, K * numel */
    size_t *grad_cap;
    unsigned char *has_grad;
    int grad_K;
    int forwarded;
    cc_ctx ctx;
    char err[1024];
};

cc_status cc_session_fail(cc_session *s, int code, const char *msg);
#endif
