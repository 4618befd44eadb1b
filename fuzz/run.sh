#!/bin/sh
# Runs each fuzz harness for FUZZ_SECONDS, one after the other (one fuzzing
# process at a time, in-process mode: no -jobs/-workers), on its seed corpus
# plus the kept regressions.
# The growing corpus stays in $FUZZ_BUILD/corpus/<target>, crash inputs go to
# $FUZZ_BUILD/crashes/<target>/, logs to $FUZZ_BUILD/logs/.  Exit 1 when any
# harness found a crash.
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS="${ASAN_OPTIONS:-allocator_may_return_null=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
for t in "$@"; do
    corpus=$FUZZ_BUILD/corpus/$t
    crashes=$FUZZ_BUILD/crashes/$t
    mkdir -p "$corpus" "$crashes" "$FUZZ_BUILD/logs"
    case $t in
        onnx) extra="-max_len=65536 -rss_limit_mb=2048 -timeout=20 -dict=fuzz/onnx.dict" ;;
        image) extra="-max_len=65536 -rss_limit_mb=2048 -timeout=20" ;;
        npy) extra="-max_len=4096 -rss_limit_mb=2048 -timeout=20" ;;
        *) extra="-max_len=4096 -timeout=20" ;;
    esac
    regress=""
    [ -d tests/regress/$t ] && regress=tests/regress/$t
    log=$FUZZ_BUILD/logs/$t.log
    echo "fuzz_$t: ${FUZZ_SECONDS}s (log $log)"
    "$FUZZ_BUILD/fuzz_$t" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
        -artifact_prefix="$crashes/" $extra "$corpus" "$FUZZ_BUILD/seeds/$t" $regress >"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    echo "fuzz_$t: exit $rc, ${execs:-?} executions, $cov, corpus $(ls "$corpus" | wc -l) files, crashes $(ls "$crashes" | wc -l)"
    [ $rc = 0 ] || status=1
done
exit $status
