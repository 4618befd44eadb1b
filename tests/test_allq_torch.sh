#!/bin/sh
# --contrast all (mean, variance, every map, ranking) against the reference
# method run in PyTorch, one backward pass per Q (tests/allq_torch.py).
BUILD=${CC_BUILD:-build}
PY=${CC_PY:-/usr/bin/python3}
FIX=${CC_FIXTURES:-$BUILD/fixtures}
[ -x "$BUILD/contrastcam" ] || { echo "FAIL: $BUILD/contrastcam not built"; exit 1; }
"$PY" -c 'import numpy, torch' >/dev/null 2>&1 || { echo "SKIP: $PY cannot import numpy and torch"; exit 77; }
rm -rf "$FIX/allq_torch"
mkdir -p "$FIX/allq_torch"
"$PY" tests/allq_torch.py "$BUILD/contrastcam" "$FIX/allq_torch" >"$FIX/allq_torch/log.txt" 2>&1
rc=$?
grep -v -i warn "$FIX/allq_torch/log.txt"
exit $rc
