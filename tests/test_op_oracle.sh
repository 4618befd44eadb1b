#!/bin/sh
# Op-level PyTorch oracle: tests/gen_op_cases.py writes one tiny ONNX model per
# op configuration (forward values and K=3 vector-Jacobian products from
# PyTorch) under $CC_FIXTURES/ops, then tests/oracle_runner.c checks the engine
# against them, plus its own finite-difference check of input gradients.
BUILD=${CC_BUILD:-build}
PY=${CC_PY:-/usr/bin/python3}
FIX=${CC_FIXTURES:-$BUILD/fixtures}
if ! "$PY" -c 'import numpy, torch, onnx' >/dev/null 2>&1; then
    echo "SKIP: $PY cannot import numpy, torch and onnx (Debian: python3-torch python3-onnx)"
    exit 77
fi
RUNNER="$BUILD/tests/oracle_runner"
# the memory-saving passes compare bits with a plain session: one thread count for both
# (tests/run.sh sets this too; without it the count follows the load, and OpenBLAS may
# split a product differently between the two sessions)
export CONTRASTCAM_ADAPTIVE_THREADS=0
[ -x "$RUNNER" ] || { echo "FAIL: $RUNNER not built (make all)"; exit 1; }
"$PY" tests/gen_op_cases.py "$FIX/ops" || { echo "FAIL: tests/gen_op_cases.py failed"; exit 1; }
"$RUNNER" "$FIX/ops" || exit 1
# again with the OpenBLAS convolutions that CPUs without AVX-512 (and non-constant weights) use
echo "without the packed / direct AVX-512 convolution kernels:"
CONTRASTCAM_NO_PACKED=1 "$RUNNER" "$FIX/ops" || exit 1
# again with shared buffers and fused Conv -> [Add ->] Relu / Clip (cc_session_keep of what
# each case reads), whose outputs must also have the same bits as a plain session's; with
# both kernel sets, since each applies the fused residual in its own epilogues
echo "memory-saving mode:"
CC_ORACLE_KEEP=1 "$RUNNER" "$FIX/ops" || exit 1
# weights handed out for writing after the plan (training): the fused-residual cases,
# two of them planned to write their outputs over their residuals
echo "memory-saving mode, weights made writable after the plan:"
CC_ORACLE_KEEP=1 CC_ORACLE_LIVE=1 "$RUNNER" "$FIX/ops" fused_residual || exit 1
echo "memory-saving mode without the AVX-512 convolution kernels:"
CONTRASTCAM_NO_PACKED=1 CC_ORACLE_KEEP=1 exec "$RUNNER" "$FIX/ops"
