#!/bin/sh
# Valgrind memcheck on the CLI's main paths: predict, explain (Grad-CAM,
# contrastive and all-Q maps written to a folder) and a failing load, on the
# shipped models/fashion_cnn.onnx with a 28x28 input.  Any invalid access,
# use of uninitialised memory or definite/indirect leak fails the test.
# Skipped (77) when valgrind is not installed or under the sanitizer build.
BUILD=${CC_BUILD:-build}
PY=${CC_PY:-/usr/bin/python3}
CLI=$BUILD/contrastcam
command -v valgrind >/dev/null 2>&1 || { echo "skip: valgrind not installed"; exit 77; }
case "$BUILD" in *san*) echo "skip: valgrind does not run ASan builds"; exit 77;; esac
[ -x "$CLI" ] || { echo "FAIL: $CLI not built"; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
"$PY" -c "
import numpy as np, sys
from PIL import Image
y, x = np.mgrid[0:28, 0:28]
Image.fromarray(((x * 9 + y * 5) % 256).astype(np.uint8)).save(sys.argv[1])
np.save(sys.argv[2], np.full((1, 1, 28, 28), 0.25, np.float32))
" "$tmp/in.png" "$tmp/in.npy" || { echo "skip: numpy/PIL missing"; exit 77; }
printf 'not a model' >"$tmp/bad.onnx"
# one thread: valgrind serialises threads anyway, and libgomp's pool threads
# would only add "possibly lost" thread stacks
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# the CLI runs itself again with OPENBLAS_CORETYPE set where OpenBLAS fell back
# to generic kernels (cc_blas_core_hint); that second run would escape
# valgrind, so the variable is set here (generic SSE3 kernels: any x86-64)
[ "$(uname -m)" = x86_64 ] && export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Prescott}"
VG="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect --track-origins=yes"
fail=0
run() {   # want_exit name args...
    want=$1 name=$2
    shift 2
    $VG "$CLI" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
    rc=$?
    if [ $rc != "$want" ]; then
        echo "FAIL: $name: exit $rc (want $want)"
        sed 's/^/    /' "$tmp/$name.err" | head -40
        fail=1
    else
        echo "ok   $name (exit $rc, no memcheck errors)"
    fi
}
run 0 predict predict models/fashion_cnn.onnx "$tmp/in.png" --top 3
run 0 predict-npy predict models/fashion_cnn.onnx --input-npy "$tmp/in.npy" --json
run 0 explain explain models/fashion_cnn.onnx "$tmp/in.png" --contrast top:2 --out "$tmp/out1"
run 0 explain-all explain models/fashion_cnn.onnx "$tmp/in.png" --contrast all --save-all --out "$tmp/out2"
run 0 layers layers models/fashion_cnn.onnx
run 3 bad-model predict "$tmp/bad.onnx" "$tmp/in.png"
run 3 bad-image predict models/fashion_cnn.onnx "$tmp/bad.onnx"
run 2 bad-label explain models/fashion_cnn.onnx "$tmp/in.png" --contrast no_such_label --out "$tmp/out3"
[ $fail = 0 ] && echo "valgrind memcheck: 8 CLI runs, no invalid access, no leak"
exit $fail
