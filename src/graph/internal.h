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
    int cam_order;            /* cc_cam_order requested by cc_cam_set_order (0 = auto) */
    int cam_last;             /* cc_cam_order the last channel-weight computation used */
    double cam_macs;          /* its multiply-add estimate when projected (for bench/) */
    int cam_pullback;         /* the last cc_cam_contrast used the forward's softmax pull-back (tests) */
    float **pool;             /* cc_session_keep: shared buffers of the activations not kept ... */
    float *pool_arena;        /* ... carved from this one allocation (cc_alloc_huge) */
    int n_pool;
    struct cc_head_pack *head_pack; /* cam.c: the pooled head's weights packed for all-Q, or NULL */
    int *fuse;                /* cc_session_keep, per node: the last node fused into it (an activation, or a
                                 residual Add with or without one), whose output it writes; -2 - i for
                                 the nodes so absorbed by node i (skipped); -1 otherwise; NULL: no fusion */
    int *fuse_res;            /* per node: the residual tensor its fused Add adds, or -1 */
    unsigned char *c16;       /* cc_session_keep, per tensor: stored channel-blocked (plan_c16), or NULL */
    cc_ctx ctx;
    cc_softmax_tap tap;       /* cc_session_prepare_contrast: u = W' softmax(z), filled by the forward */
    int tap_node, tap_output; /* the node that fills it and the output it belongs to; -1: none */
    char err[1024];
};

cc_status cc_session_fail(cc_session *s, int code, const char *msg);
void cc_head_pack_free(struct cc_head_pack *hp);
/* Thread count for one library call (single-threaded while the machine is
 * oversubscribed, see threads.c); returns what cc_threads_end restores. */
int cc_threads_begin(void);
void cc_threads_end(int prev);
#endif
