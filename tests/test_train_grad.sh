#!/bin/sh
# The training path against PyTorch autograd: for tiny nets at batch 4 (conv,
# ReLU, max-pool, global average pool, flatten, Gemm), the logits, the mean
# cross-entropy, every weight gradient from cc_session_backward (weights as
# targets) and the weights after two optimiser steps (AdamW, SGD momentum)
# match torch; the written model.onnx passes onnx.checker.
BUILD=${CC_BUILD:-build}
PY=${CC_PY:-/usr/bin/python3}
FIX=${CC_FIXTURES:-$BUILD/fixtures}/train_grad
TOOL="$BUILD/tests/train_tool"
[ -x "$TOOL" ] || { echo "test_train_grad.sh: $TOOL not built"; exit 1; }
if ! "$PY" -c "import numpy, torch, onnx" 2>/dev/null; then
    echo "skip: $PY lacks numpy, torch or onnx (python3-torch, python3-onnx)"; exit 77
fi
rm -rf "$FIX" && mkdir -p "$FIX" || exit 1
i=0
for spec in "c4,c4,p,c6,p,f8 adam" "c5,p,c4,g sgd" "c3,p,f6 sgd" "c6,g adam"; do
    set -- $spec
    i=$((i + 1))
    mkdir -p "$FIX/$i" || exit 1
    "$TOOL" gradcheck "$FIX/$i" "$1" "$2" || { echo "train_tool gradcheck $1 $2 failed"; exit 1; }
    "$PY" tests/train_check.py grad "$FIX/$i" || exit 1
done
echo "weight gradients and optimiser steps match PyTorch for 4 tiny nets"
