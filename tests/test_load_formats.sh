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
[ -f "$FIX/models/mobilenet_v2/model.onnx" ] && models="$models $FIX/models/mobilenet_v2/model.onnx"
exec "$PY" tests/load_formats.py "$BUILD/contrastcam" "$BUILD/load_formats" $models
