/* The element-wise op family: activations, broadcast arithmetic, normalisation,
 * softmax.  The kernels live in activation.c, binary.c, norm.c and softmax.c. */
#include "ew.h"

#include <stddef.h>

const cc_op *const cc_ops_elementwise[] = {
    &cc_op_Relu, &cc_op_LeakyRelu, &cc_op_Clip, &cc_op_Sigmoid, &cc_op_Tanh,
    &cc_op_HardSigmoid, &cc_op_HardSwish, &cc_op_Elu, &cc_op_Selu, &cc_op_Softplus,
    &cc_op_Softsign, &cc_op_Mish, &cc_op_Exp, &cc_op_Log, &cc_op_Sqrt, &cc_op_Neg,
    &cc_op_Abs, &cc_op_Reciprocal, &cc_op_Erf, &cc_op_Floor, &cc_op_Ceil, &cc_op_Round,
    &cc_op_Sign, &cc_op_Identity, &cc_op_Dropout, &cc_op_Cast,
    &cc_op_Add, &cc_op_Sub, &cc_op_Mul, &cc_op_Div, &cc_op_Pow, &cc_op_PRelu,
    &cc_op_Sum, &cc_op_Mean, &cc_op_Max, &cc_op_Min,
    &cc_op_BatchNormalization, &cc_op_InstanceNormalization, &cc_op_LayerNormalization,
    &cc_op_Softmax, &cc_op_LogSoftmax,
    NULL
};
