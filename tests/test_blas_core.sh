#!/bin/sh
# OpenBLAS's kernels under the CLI (cc_blas_core_hint, src/cli/main.c): where
# the loaded OpenBLAS falls back to its generic SSE kernels on a CPU with AVX2
# (Debian 12's 0.3.21 on 5th-gen Xeons), the CLI runs itself again with
# OPENBLAS_CORETYPE set, so the kernels in use are not generic; a value the
# user set is kept; --help still prints once.  OpenBLAS names its kernels on
# stderr with OPENBLAS_VERBOSE=2.  Skipped (77) off x86-64 or where OpenBLAS
# does not name them (not a DYNAMIC_ARCH build).
BUILD=${CC_BUILD:-build}
CLI=$BUILD/contrastcam
[ -x "$CLI" ] || { echo "FAIL: $CLI not built"; exit 1; }
[ "$(uname -m)" = x86_64 ] || { echo "skip: not x86-64"; exit 77; }
unset OPENBLAS_CORETYPE
out=$(GOMP_SPINCOUNT=10000 OPENBLAS_VERBOSE=2 "$CLI" --help 2>&1)
cores=$(printf '%s\n' "$out" | sed -n 's/^Core: //p')
[ -n "$cores" ] || { echo "skip: OpenBLAS does not name its kernels"; exit 77; }
generic='^(Prescott|Core2|Penryn|Dunnington|Nehalem|Atom|Katmai|Coppermine|Northwood|Banias|Athlon|Opteron|Opteron_SSE3|Barcelona|Bobcat|Nano)$'
first=$(printf '%s\n' "$cores" | head -1) last=$(printf '%s\n' "$cores" | tail -1) n=$(printf '%s\n' "$cores" | wc -l)
fail=0
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
    if printf '%s\n' "$last" | grep -Eqi "$generic"; then
        echo "FAIL: the CLI runs OpenBLAS's generic kernels ($cores) on a CPU with AVX2"; fail=1
    else
        echo "ok   kernels in use: $last (OpenBLAS chose $first; runs: $n)"
    fi
else
    echo "ok   no AVX2: OpenBLAS's own choice $first kept"
fi
if printf '%s\n' "$first" | grep -Eqi "$generic"; then
    [ "$n" = 2 ] || { echo "FAIL: expected one second run after a generic choice, got $n"; fail=1; }
else
    [ "$n" = 1 ] || { echo "FAIL: ran itself again although OpenBLAS knew the CPU ($cores)"; fail=1; }
fi
[ "$(printf '%s\n' "$out" | grep -c '^threads:')" = 1 ] || { echo "FAIL: --help printed more than once"; fail=1; }
u=$(GOMP_SPINCOUNT=10000 OPENBLAS_VERBOSE=2 OPENBLAS_CORETYPE=Prescott "$CLI" --help 2>&1 | sed -n 's/^Core: //p')
[ "$u" = Prescott ] || { echo "FAIL: OPENBLAS_CORETYPE=Prescott set by the user gave: $u"; fail=1; }
[ $fail = 0 ] && echo "ok   OPENBLAS_CORETYPE set by the user is kept"
exit $fail
