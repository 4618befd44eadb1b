#!/bin/sh
# Conv's Winograd forward paths against PyTorch (float64) on layer shapes that
# take them: F(4x4,3x3) with sizes not a multiple of 4, with / without bias, and
# one image cut into bands; F(2x2,3x3) on narrow planes (tests/gen_wino_cases.py);
# with and without the packed AVX-512 kernels, which F(2x2,3x3) needs.
BUILD=${CC_BUILD:-build}
PY=${CC_PY:-/usr/bin/python3}
FIX=${CC_FIXTURES:-$BUILD/fixtures}/wino
RUNNER="$BUILD/tests/oracle_runner"
[ -x "$RUNNER" ] || { echo "FAIL: $RUNNER not built (make all)"; exit 1; }
"$PY" -c 'import numpy, torch, onnx' >/dev/null 2>&1 || { echo "SKIP: $PY cannot import numpy, torch and onnx"; exit 77; }
mkdir -p "$FIX"
"$PY" tests/gen_wino_cases.py "$FIX" >/dev/null || { echo "FAIL: tests/gen_wino_cases.py"; exit 1; }
"$RUNNER" "$FIX" || exit 1
# without the packed kernels Winograd takes the narrow planes too (cblas products)
echo "without the packed / direct AVX-512 convolution kernels:"
CONTRASTCAM_NO_PACKED=1 exec "$RUNNER" "$FIX"
