/* Internal to the element-wise op family (activation.c, binary.c, norm.c,
 * softmax.c): the cc_op objects that elementwise.c lists, and small helpers. */
#ifndef CC_EW_H
#define CC_EW_H

#include "op.h"

/* Input i when present (optional inputs may be absent: index -1). */
static inline cc_tensor *ew_in(const cc_node *n, cc_tensor **in, int i)
{
    return i < n->n_in && n->in[i] >= 0 ? in[i] : NULL;
}
/* Output j when the graph uses it. */
static inline cc_tensor *ew_out(const cc_node *n, cc_tensor **out, int j)
{
    return j < n->n_out && n->out[j] >= 0 ? out[j] : NULL;
}
static inline void ew_copy_shape(cc_tensor *dst, const cc_tensor *src)
{
    dst->ndim = src->ndim;
    for (int i = 0; i < src->ndim; i++) dst->dims[i] = src->dims[i];
}

/* activation.c */
extern const cc_op cc_op_Relu, cc_op_LeakyRelu, cc_op_Clip, cc_op_Sigmoid, cc_op_Tanh,
    cc_op_HardSigmoid, cc_op_HardSwish, cc_op_Elu, cc_op_Selu, cc_op_Softplus, cc_op_Softsign,
    cc_op_Mish, cc_op_Exp, cc_op_Log, cc_op_Sqrt, cc_op_Neg, cc_op_Abs, cc_op_Reciprocal,
    cc_op_Erf, cc_op_Floor, cc_op_Ceil, cc_op_Round, cc_op_Sign, cc_op_Identity, cc_op_Dropout,
    cc_op_Cast;
/* binary.c */
extern const cc_op cc_op_Add, cc_op_Sub, cc_op_Mul, cc_op_Div, cc_op_Pow, cc_op_PRelu,
    cc_op_Sum, cc_op_Mean, cc_op_Max, cc_op_Min;
/* norm.c */
extern const cc_op cc_op_BatchNormalization, cc_op_InstanceNormalization,
    cc_op_LayerNormalization;
/* softmax.c */
extern const cc_op cc_op_Softmax, cc_op_LogSoftmax;

#endif
