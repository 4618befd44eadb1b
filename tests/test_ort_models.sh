#!/bin/sh
# ONNX Runtime as the second whole-model oracle: the torchvision models of
# tests/gen_models.py (made by test_models.sh) run in onnxruntime-node must give
# PyTorch's logits and ours (contrastcam predict --json, all classes) within
# 1e-4 of the logit range.  Skips when node or onnxruntime-node is missing
# (tools/deps.sh installs it into bench/node_modules with npm).
BUILD=${CC_BUILD:-build}
PY=${CC_PY:-/usr/bin/python3}
FIX=${CC_FIXTURES:-$BUILD/fixtures}
command -v node >/dev/null 2>&1 || { echo "SKIP: node not found"; exit 77; }
[ -d bench/node_modules/onnxruntime-node ] || { echo "SKIP: bench/node_modules/onnxruntime-node missing (cd bench && npm ci --ignore-scripts)"; exit 77; }
"$PY" -c 'import numpy, torch, torchvision, onnx' >/dev/null 2>&1 || { echo "SKIP: $PY lacks numpy/torch/torchvision/onnx"; exit 77; }
mkdir -p "$FIX"
"$PY" tests/gen_models.py "$FIX/models" >"$FIX/gen_models.log" 2>&1 || { echo "FAIL: tests/gen_models.py failed, see $FIX/gen_models.log"; exit 1; }
OURS="$BUILD/ort_ours"   # per build: make check SAN=1 shares $FIX
rm -rf "$OURS" && mkdir -p "$OURS" || exit 1
for d in "$FIX"/models/*/; do
    [ -f "$d/model.onnx" ] || continue
    n=$(basename "$d")
    "$BUILD/contrastcam" predict "$d/model.onnx" --input-npy "$d/input.npy" --top 100000 --json > "$OURS/$n.json" ||
        { echo "FAIL: contrastcam predict on $n"; exit 1; }
    "$PY" -c 'import json, sys, numpy as np
t = json.load(open(sys.argv[1]))["top"]
z = np.zeros((1, len(t)), np.float32)
for e in t: z[0, e["class"]] = e["logit"]
np.save(sys.argv[2], z)' "$OURS/$n.json" "$OURS/$n.npy" || exit 1
done
exec node tests/ort_models.js "$FIX/models" "$OURS"
