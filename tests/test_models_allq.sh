#!/bin/sh
# All-Q contrastive maps (every class's weights from one evaluation, contrasts
# algebraically, maps as one product; the projected matrix chain where the tail
# allows it) against one-Q-at-a-time maps through the batched backward, and the
# mean / variance / ranking statistics against finishing every map, on the
# torchvision architectures of tests/test_models.sh (fixtures made there).
BUILD=${CC_BUILD:-build}
FIX=${CC_FIXTURES:-$BUILD/fixtures}/models
RUNNER="$BUILD/tests/cam_allq_runner"
[ -x "$RUNNER" ] || { echo "FAIL: $RUNNER not built (make all)"; exit 1; }
[ -f "$FIX/vgg11/model.onnx" ] || { echo "SKIP: no model fixtures in $FIX (tests/test_models.sh makes them)"; exit 77; }
fail=0 n=0
# model layer (- = default) Q's-one-at-a-time
for spec in "vgg11 features.19 8" "resnet18 layer4 12" "mobilenet_v2 features.18 12" "alexnet - 6" \
            "squeezenet1_1 - 6" "densenet121 features.denseblock4 6"; do
    set -- $spec
    [ -f "$FIX/$1/model.onnx" ] || { echo "skip $1 (no fixture)"; continue; }
    n=$((n+1))
    # Gemm heads after global pooling: one-Q contrasts must come from the forward's softmax pull-back
    case $1 in resnet18|mobilenet_v2) pb=CC_EXPECT_PULLBACK=1 ;; *) pb=CC_NONE=1 ;; esac
    env $pb "$RUNNER" "$FIX/$1/model.onnx" "$FIX/$1/input.npy" "$2" "$3" || fail=$((fail+1))
done
# the pooled head's maps through OpenBLAS instead of the packed tiles (CPUs without
# AVX-512 take this path)
if [ -f "$FIX/mobilenet_v2/model.onnx" ]; then
    n=$((n+1))
    CONTRASTCAM_NO_PACKED=1 CC_EXPECT_PULLBACK=1 "$RUNNER" "$FIX/mobilenet_v2/model.onnx" "$FIX/mobilenet_v2/input.npy" features.18 6 ||
        fail=$((fail+1))
fi
# a classifier written as a 1x1 convolution after global pooling (Keras exports,
# ../shared's MobileNetV2): its tail is a pooled head too, so the maps must come
# from the projected order, and agree with one Q at a time through the backward;
# its one-Q contrasts and all-Q maps must come from the forward's pull-back
SHM="${CC_SHARED:-../shared}/models/mobilenet_v2_imagenet.onnx"
if [ -f "$SHM" ]; then
    n=$((n+1))
    x="$BUILD/logs/allq_shared_input.npy"
    mkdir -p "$BUILD/logs"
    "${CC_PY:-/usr/bin/python3}" -c "import numpy as np, sys; np.save(sys.argv[1], np.random.default_rng(7).uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32))" "$x" &&
        CC_EXPECT_PULLBACK=1 "$RUNNER" "$SHM" "$x" - 6 > "$BUILD/logs/allq_shared.log" 2>&1
    rc=$?
    cat "$BUILD/logs/allq_shared.log"
    if [ $rc != 0 ] || ! grep -q "all-Q order projected" "$BUILD/logs/allq_shared.log"; then
        echo "FAIL: $SHM (the 1x1-convolution classifier should take the projected order)"
        fail=$((fail+1))
    fi
else
    echo "skip the 1x1-convolution classifier: $SHM not found"
fi
[ $fail = 0 ] || { echo "FAIL: $fail of $n runs"; exit 1; }
echo "all-Q = one-Q maps, summaries exact: $n runs"
