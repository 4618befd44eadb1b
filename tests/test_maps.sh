#!/bin/sh
# Explanation maps against PyTorch: tests/gen_maps.py computes Grad-CAM, contrast
# maps (several Q, Q = P), the mean / variance over all Q and the regression
# contrast with hooks on the target module, as the reference code does, for the
# torchvision models of tests/gen_models.py (two target layers each) and a small
# regression CNN; tests/maps_check.py runs `contrastcam explain --input-npy` on
# the same inputs and compares the normalised .npy maps (max |diff| <= 2e-3).
BUILD=${CC_BUILD:-build}
PY=${CC_PY:-/usr/bin/python3}
FIX=${CC_FIXTURES:-$BUILD/fixtures}
if ! "$PY" -c 'import numpy, torch, torchvision, onnx' >/dev/null 2>&1; then
    echo "SKIP: $PY cannot import numpy, torch, torchvision and onnx (Debian: python3-torch python3-torchvision python3-onnx)"
    exit 77
fi
CLI="$BUILD/contrastcam"
[ -x "$CLI" ] || { echo "FAIL: $CLI not built (make all)"; exit 1; }
mkdir -p "$FIX"
"$PY" tests/gen_maps.py "$FIX/models" "$FIX/maps" >"$FIX/gen_maps.log" 2>&1
rc=$?
grep -v -i 'warn' "$FIX/gen_maps.log" | tail -n 3
[ $rc = 0 ] || { echo "FAIL: tests/gen_maps.py failed (exit $rc), see $FIX/gen_maps.log"; exit 1; }
WORK="$BUILD/maps_work"   # per build: make check and make check SAN=1 share $FIX
rm -rf "$WORK" && mkdir -p "$WORK" || exit 1
"$PY" tests/maps_check.py "$CLI" "$FIX/maps" "$WORK"
rc=$?
[ $rc = 0 ] && rm -rf "$WORK"
exit $rc
