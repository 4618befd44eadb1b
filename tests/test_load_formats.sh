#!/bin/sh
# Weight storage formats: raw_data, typed fields (float/int64/int32), external
# data in one side file or one per tensor, metadata_props — same logits from
# every variant of the shipped model and of a torchvision model; hostile
# external-data locations refused (tests/load_formats.py).
BUILD=${CC_BUILD:-build}
PY=${CC_PY:-/usr/bin/python3}
FIX=${CC_FIXTURES:-$BUILD/fixtures}
"$PY" -c 'import numpy, onnx' >/dev/null 2>&1 || { echo "SKIP: $PY cannot import numpy and onnx (python3-onnx)"; exit 77; }
models="models/fashion_cnn.onnx"
# the torchvision model too; its fixture (shared with test_models.sh, which runs
# later in the alphabet) is made here when missing, so a clean checkout tests it
if "$PY" -c 'import torch, torchvision' >/dev/null 2>&1 && [ ! -f "$FIX/models/mobilenet_v2/model.onnx" ]; then
    mkdir -p "$FIX"
    "$PY" tests/gen_models.py "$FIX/models" mobilenet_v2 >"$FIX/gen_models_mobilenet.log" 2>&1 ||
        { echo "FAIL: tests/gen_models.py mobilenet_v2 failed, see $FIX/gen_models_mobilenet.log"; exit 1; }
fi
[ -f "$FIX/models/mobilenet_v2/model.onnx" ] && models="$models $FIX/models/mobilenet_v2/model.onnx"
exec "$PY" tests/load_formats.py "$BUILD/contrastcam" "$BUILD/load_formats" $models
