/* The op registry: joins the per-family tables.  Lookup is by op_type only;
 * each entry states the lowest opset it implements (checked at load). */
#include "op.h"

#include <string.h>

static const cc_op *const *const families[] = { cc_ops_conv, cc_ops_elementwise, cc_ops_tensor };

const cc_op *cc_op_find(const char *op_type)
{
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const cc_op *const *p = families[f]; *p; p++)
            if (strcmp((*p)->op_type, op_type) == 0) return *p;
    return NULL;
}

/* By name, so that a wrapped copy of the op (bench/'s profiler) still fuses. */
int cc_op_fuses_post(const cc_op *op)
{
    return op && (strcmp(op->op_type, "Conv") == 0 || strcmp(op->op_type, "Add") == 0);
}

void cc_op_weights_live(cc_node *n)
{
    if (n->op && strcmp(n->op->op_type, "Conv") == 0) cc_conv_weights_live(n);
    if (n->op && strcmp(n->op->op_type, "Gemm") == 0) cc_gemm_weights_live(n);
}

int cc_op_res_inplace(const cc_node *n, int c16)
{
    return n->op && strcmp(n->op->op_type, "Conv") == 0 && cc_conv_res_inplace(n, c16);
}

int cc_op_c16(const cc_node *n, int c16)
{
    if (n->op && strcmp(n->op->op_type, "MaxPool") == 0) return cc_maxpool_c16(n, c16);
    return n->op && strcmp(n->op->op_type, "Conv") == 0 && cc_conv_c16(n, c16);
}
