#!/bin/sh
# IQA oracle: the C library against PyTorch WaDIQaM-FR and the method.md
# algorithm (tests/iqa_oracle.py).  Skips (77) without the shared images or
# without Python's torch.
BUILD=${CC_BUILD:-build}
PY=${CC_PY:-/usr/bin/python3}
SHARED=${CC_SHARED:-../shared}
FIX=${CC_FIXTURES:-$BUILD/fixtures}
if [ ! -f "$SHARED/iqa/reference/I21.BMP" ] || [ ! -f "$SHARED/iqa/distorted/i21_21_5.bmp" ]; then
    echo "skip: the shared TID2013 images are not in $SHARED/iqa (set CC_SHARED)"; exit 77
fi
if ! "$PY" -c "import torch, onnx, PIL, numpy" 2>/dev/null; then
    echo "skip: $PY lacks torch/onnx/PIL/numpy"; exit 77
fi
if [ ! -x "$BUILD/tests/iqa_runner" ]; then echo "FAIL: $BUILD/tests/iqa_runner not built"; exit 1; fi
mkdir -p "$FIX"
exec "$PY" tests/iqa_oracle.py "$BUILD/tests/iqa_runner" "$FIX" "$SHARED"
