#!/bin/sh
# Runs every test: the compiled tests/test_*.c binaries and the tests/test_*.sh
# scripts.  Exit 0 = pass, 77 = skip, anything else = fail.  Prints one line per
# test and the closing "N passed, N failed, N skipped" line.
BUILD=${BUILD:-build}
# idle OpenMP threads spin briefly, then sleep, as the contrastcam CLI arranges for itself
[ -n "$OMP_WAIT_POLICY$GOMP_SPINCOUNT" ] || export GOMP_SPINCOUNT=10000
# tests compare runs bit for bit: the thread count must not follow the load
export CONTRASTCAM_ADAPTIVE_THREADS="${CONTRASTCAM_ADAPTIVE_THREADS:-0}"
export CC_BUILD="$BUILD" CC_PY="${PY:-/usr/bin/python3}"
export CC_SHARED="${CC_SHARED:-$(cd .. && pwd)/shared}"
# Generated fixtures (torch exports, oracle values) do not depend on the
# build flavour: the sanitizer build may share the normal build's
# (make check SAN=1 sets CC_FIXTURES=build/fixtures).
export CC_FIXTURES="${CC_FIXTURES:-$BUILD/fixtures}"
mkdir -p "$CC_FIXTURES" "$BUILD/logs"
pass=0 fail=0 skip=0 failed=""
for t in $(ls "$BUILD"/tests/test_* tests/test_*.sh 2>/dev/null | sort); do
    case "$t" in *.c|*.o|*.d) continue;; esac
    [ -x "$t" ] || [ "${t%.sh}" != "$t" ] || continue
    name=$(basename "$t")
    log="$BUILD/logs/$name.log"
    if [ "${t%.sh}" != "$t" ]; then sh "$t" >"$log" 2>&1; else "$t" >"$log" 2>&1; fi
    rc=$?
    if [ $rc = 0 ]; then pass=$((pass+1)); echo "PASS $name  ($(tail -n 1 "$log"))"
    elif [ $rc = 77 ]; then skip=$((skip+1)); echo "SKIP $name  ($(tail -n 1 "$log"))"
    else fail=$((fail+1)); failed="$failed $name"; echo "FAIL $name (exit $rc), last lines of $log:"; tail -n 15 "$log" | sed 's/^/    /'
    fi
done
echo "$pass passed, $fail failed, $skip skipped"
[ $fail = 0 ]
