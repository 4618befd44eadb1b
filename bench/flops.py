#!/usr/bin/env python3
"""Count the multiply-add FLOPs (2 per MAC) of an ONNX model's Conv, Gemm and MatMul nodes.

usage: flops.py MODEL.onnx [TARGET_TENSOR]
Prints JSON: fwd_flops (whole forward), after_flops (the nodes downstream of
TARGET_TENSOR: what one seed's backward to the target costs, input gradients
only, same count as their forward), by_op.  Shapes come from ONNX shape
inference.  Run with /usr/bin/python3.
"""
import json
import sys

import onnx
from onnx import shape_inference


def dims(vi):
    return [d.dim_value for d in vi.type.tensor_type.shape.dim]


def main():
    path = sys.argv[1]
    target = sys.argv[2] if len(sys.argv) > 2 else None
    model = onnx.load(path, load_external_data=False)
    model = shape_inference.infer_shapes(model)
    g = model.graph
    shapes = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        shapes[vi.name] = dims(vi)
    for init in g.initializer:
        shapes[init.name] = list(init.dims)

    downstream = set([target]) if target else set()
    total, after, by_op = 0, 0, {}
    for n in g.node:  # exported graphs are topologically sorted
        f = 0
        if n.op_type == "Conv":
            w = shapes[n.input[1]]            # Cout, Cin/group, kh, kw
            y = shapes[n.output[0]]           # N, Cout, H, W
            macs = 1
            for d in y:
                macs *= d
            for d in w[1:]:
                macs *= d
            f = 2 * macs
        elif n.op_type == "Gemm":
            a, b = shapes[n.input[0]], shapes[n.input[1]]
            ta = next((at.i for at in n.attribute if at.name == "transA"), 0)
            tb = next((at.i for at in n.attribute if at.name == "transB"), 0)
            M, K = (a[1], a[0]) if ta else (a[0], a[1])
            N = b[0] if tb else b[1]
            f = 2 * M * N * K
        elif n.op_type == "MatMul":
            a, y = shapes[n.input[0]], shapes[n.output[0]]
            macs = a[-1]
            for d in y:
                macs *= d
            f = 2 * macs
        total += f
        if f:
            by_op[n.op_type] = by_op.get(n.op_type, 0) + f
        if any(i in downstream for i in n.input):
            downstream.update(n.output)
            after += f
    print(json.dumps({"model": path, "target": target, "fwd_flops": total, "after_flops": after,
                      "by_op": by_op}))


if __name__ == "__main__":
    main()
