#!/bin/sh
# torchvision architectures (random, re-initialised weights) exported to ONNX at
# opsets 11-17: tests/gen_models.py writes logits and K=2 gradients at two
# intermediate layers per model (PyTorch, float64) under $CC_FIXTURES/models,
# then tests/oracle_runner.c checks the engine against them.  Generation runs
# once (per-model stamps); later runs take a few seconds.
BUILD=${CC_BUILD:-build}
PY=${CC_PY:-/usr/bin/python3}
FIX=${CC_FIXTURES:-$BUILD/fixtures}
if ! "$PY" -c 'import numpy, torch, torchvision, onnx' >/dev/null 2>&1; then
    echo "SKIP: $PY cannot import numpy, torch, torchvision and onnx (Debian: python3-torch python3-torchvision python3-onnx)"
    exit 77
fi
RUNNER="$BUILD/tests/oracle_runner"
[ -x "$RUNNER" ] || { echo "FAIL: $RUNNER not built (make all)"; exit 1; }
mkdir -p "$FIX"
"$PY" tests/gen_models.py "$FIX/models" >"$FIX/gen_models.log" 2>&1
rc=$?
grep -v -i 'warn' "$FIX/gen_models.log"
[ $rc = 0 ] || { echo "FAIL: tests/gen_models.py failed (exit $rc), see $FIX/gen_models.log"; exit 1; }
"$RUNNER" "$FIX/models" || exit 1
# again with shared buffers and fused Conv -> [Add ->] Relu / Clip (cc_session_keep), the
# outputs also bit for bit against a plain session's
echo "memory-saving mode:"
out=$(CC_ORACLE_KEEP=1 "$RUNNER" "$FIX/models") || { echo "$out"; exit 1; }
echo "$out"
# there the block outputs of ResNet-50 and MobileNetV2 that only 1x1 convolutions read
# are stored channel-blocked (session.c, plan_c16) where the AVX-512 kernels run
if grep -q avx512f /proc/cpuinfo 2>/dev/null && [ -z "$CONTRASTCAM_NO_PACKED" ]; then
    for m in resnet50 mobilenet_v2; do
        echo "$out" | grep "^PASS $m" | grep -q "channel-blocked" ||
            { echo "FAIL: $m: no channel-blocked tensors planned in the memory-saving mode"; exit 1; }
    done
fi
# and with every weight made writable after the plan (training): the blocked nodes
# then run their row-major kernels on converted copies (session.c, forward_unblocked)
echo "memory-saving mode, weights made writable after the plan:"
CC_ORACLE_KEEP=1 CC_ORACLE_LIVE=1 exec "$RUNNER" "$FIX/models" resnet50
