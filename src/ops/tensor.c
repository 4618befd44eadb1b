/* The tensor / shape / matrix op family: matrix products (gemm.c), shape-only
 * and shape-data ops (shape_ops.c), element movers (index_ops.c), reductions
 * (reduce.c), Equal/Where (select.c). */
#include "op.h"

#include <stddef.h>

extern const cc_op cc_op_Gemm, cc_op_MatMul;
extern const cc_op cc_op_Flatten, cc_op_Reshape, cc_op_Squeeze, cc_op_Unsqueeze;
extern const cc_op cc_op_Shape, cc_op_Size, cc_op_Constant, cc_op_ConstantOfShape, cc_op_Range;
extern const cc_op cc_op_Transpose, cc_op_Slice, cc_op_Expand, cc_op_Tile;
extern const cc_op cc_op_Concat, cc_op_Split, cc_op_Gather;
extern const cc_op cc_op_ReduceSum, cc_op_ReduceMean, cc_op_ReduceMax, cc_op_ReduceMin,
    cc_op_ReduceSumSquare, cc_op_ArgMax;
extern const cc_op cc_op_Equal, cc_op_Where;

const cc_op *const cc_ops_tensor[] = {
    &cc_op_Gemm, &cc_op_MatMul,
    &cc_op_Flatten, &cc_op_Reshape, &cc_op_Squeeze, &cc_op_Unsqueeze,
    &cc_op_Shape, &cc_op_Size, &cc_op_Constant, &cc_op_ConstantOfShape, &cc_op_Range,
    &cc_op_Transpose, &cc_op_Slice, &cc_op_Expand, &cc_op_Tile,
    &cc_op_Concat, &cc_op_Split, &cc_op_Gather,
    &cc_op_ReduceSum, &cc_op_ReduceMean, &cc_op_ReduceMax, &cc_op_ReduceMin, &cc_op_ReduceSumSquare, &cc_op_ArgMax,
    &cc_op_Equal, &cc_op_Where,
    NULL
};
