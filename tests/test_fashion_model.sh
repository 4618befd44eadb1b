#!/bin/sh
# The shipped default model, models/fashion_cnn.onnx (trained by `contrastcam
# train`), on all 10,000 Fashion-MNIST test images: our engine's accuracy must
# be >= 91%; ONNX Runtime (bench/node_modules/onnxruntime-node, when installed)
# must predict the same class for >= 99.9% of the images; onnx.checker, the
# metadata, and a PyTorch re-implementation's logits on 100 images must agree.
BUILD=${CC_BUILD:-build}
PY=${CC_PY:-/usr/bin/python3}
FIX=${CC_FIXTURES:-$BUILD/fixtures}/fashion_model
TOOL="$BUILD/tests/train_tool"
DATA=${CC_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
MODEL=models/fashion_cnn.onnx
[ -x "$TOOL" ] || { echo "test_fashion_model.sh: $TOOL not built"; exit 1; }
[ -f "$MODEL" ] || { echo "test_fashion_model.sh: $MODEL is missing (see models/README.md)"; exit 1; }
if [ ! -f "$DATA/t10k-images-idx3-ubyte.gz" ]; then
    echo "skip: Fashion-MNIST not found in $DATA (apt-get install dataset-fashion-mnist)"; exit 77
fi
rm -rf "$FIX" && mkdir -p "$FIX" || exit 1
out=$("$TOOL" eval "$MODEL" "$DATA" "$FIX") || { echo "$out"; echo "evaluation failed"; exit 1; }
echo "$out"
acc=$(echo "$out" | sed -n 's/.*accuracy \([0-9.]*\).*/\1/p' | tail -n 1)
awk -v a="$acc" 'BEGIN { exit !(a >= 0.91) }' || { echo "accuracy $acc is below 0.91"; exit 1; }
note=""
if "$PY" -c "import numpy, torch, onnx" 2>/dev/null; then
    "$PY" tests/train_check.py model "$MODEL" "$DATA" "$FIX" || exit 1
else
    note="$note; PyTorch check skipped ($PY lacks numpy/torch/onnx)"
fi
if [ -d bench/node_modules/onnxruntime-node ] && command -v node >/dev/null 2>&1; then
    node tests/ort_fashion.js "$MODEL" "$DATA" "$FIX" || { echo "ONNX Runtime disagrees with contrastcam"; exit 1; }
else
    note="$note; ONNX Runtime check skipped (bench/node_modules/onnxruntime-node or node missing)"
fi
echo "shipped model: accuracy $acc on 10000 test images$note"
