#!/bin/sh
# SSIM of src/iqa/ssim.c against an independent NumPy implementation written
# from the paper's formula (tests/iqa_ssim.py).  Skips (77) without NumPy/PIL.
BUILD=${CC_BUILD:-build}
PY=${CC_PY:-/usr/bin/python3}
FIX=${CC_FIXTURES:-$BUILD/fixtures}
if ! "$PY" -c "import numpy, PIL" 2>/dev/null; then echo "skip: $PY lacks numpy/PIL"; exit 77; fi
mkdir -p "$FIX"
exec "$PY" tests/iqa_ssim.py "$BUILD/tests/iqa_runner" "$FIX" "${CC_SHARED:-../shared}"
