#!/bin/sh
# make bench: contrastcam vs ONNX Runtime (forward) vs the PyTorch reference method.
# Builds bench/bench.c, exports the models (once), installs onnxruntime-node (once),
# runs every measurement in its own process, prints one table and writes it to
# build/bench/results.md (raw JSON lines in build/bench/raw.jsonl).
#
# Environment: BUILD (library build folder, default build), PY (default /usr/bin/python3),
# BENCH_MODELS (default "mobilenet_v2 resnet50 vgg16"), BENCH_QUICK=1 (1 iteration each),
# BENCH_PROFILE=0 (skip the per-op profile), BENCH_PROBE=0 (skip the thread probes),
# BENCH_TORCH=0 / BENCH_ORT=0 / BENCH_ALLQ_BWD=0 (skip those), BENCH_ROUNDS (default 5:
# ONNX Runtime and ours alternate that many times; the report takes each one's best round).
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
# idle OpenMP threads spin briefly, then sleep, as the contrastcam CLI arranges for itself
[ -n "$OMP_WAIT_POLICY$GOMP_SPINCOUNT" ] || export GOMP_SPINCOUNT=10000
PY=${PY:-/usr/bin/python3}
OUT=build/bench
MODELS=${BENCH_MODELS:-"mobilenet_v2 resnet50 vgg16"}
mkdir -p "$OUT" "$BUILD/bench"
RAW=$OUT/raw.jsonl
: > "$RAW"
log() { echo "bench: $*" >&2; }

# --- build ---------------------------------------------------------------------
[ -x "$BUILD/bench/bench" ] || make BUILD="$BUILD" "$BUILD/bench/bench" >&2
BIN=$BUILD/bench/bench

# --- ONNX Runtime (npm package with its own native build) ------------------------
ORT=${BENCH_ORT:-1}
if [ "$ORT" = 1 ] && [ ! -d bench/node_modules/onnxruntime-node ]; then
    if command -v npm >/dev/null 2>&1; then
        log "installing onnxruntime-node into bench/node_modules"
        (cd bench && npm ci --ignore-scripts --no-audit --no-fund >&2) || ORT=0
    else
        log "npm not found: no ONNX Runtime column"; ORT=0
    fi
fi
[ "$ORT" = 1 ] && ! command -v node >/dev/null 2>&1 && ORT=0

# --- models --------------------------------------------------------------------
"$PY" bench/export_models.py "$OUT" $MODELS 2>&1 | grep -v -i warn >&2 || true

iters() {  # model -> "fwd one allq ort torch nq" iteration counts
    if [ "${BENCH_QUICK:-0}" = 1 ]; then echo "1 1 1 1 1 3"; return; fi
    case "$1" in
        mobilenet_v2) echo "40 40 40 40 5 20" ;;
        resnet50)     echo "10 10 5 10 3 20" ;;
        vgg16)        echo "4 4 3 5 2 5" ;;
        *)            echo "3 3 2 5 2 5" ;;
    esac
}

echo "{\"kind\":\"machine\",\"nproc\":$(nproc),\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')\",\"loadavg_start\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >> "$RAW"
log "GEMM rate"
"$BIN" - gemm | sed 's/^{/{"kind":"gemm",/' >> "$RAW"
# The FLOP-bound limits want the machine's rate.  Where the environment names
# OpenBLAS's kernels (one machine here had OPENBLAS_CORETYPE=Haswell on an
# AVX-512 CPU: half the rate), measure OpenBLAS's own choice too; the report
# takes the faster.  Our runs keep the environment as it is.
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
    log "GEMM rate with OpenBLAS's own choice of kernels (the environment sets OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE)"
    env -u OPENBLAS_CORETYPE "$BIN" - gemm | sed 's/^{/{"kind":"gemm",/' >> "$RAW"
fi

for m in $MODELS; do
    f=$OUT/$m.onnx
    set -- $(iters "$m")
    nf=$1 n1=$2 na=$3 no=$4 nt=$5 nq=$6
    log "$m: info + FLOPs"
    info=$("$BIN" "$f" info)
    echo "$info" | sed "s/^{/{\"kind\":\"info\",\"name\":\"$m\",/" >> "$RAW"
    layer=$(echo "$info" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["layer"])')
    "$PY" bench/flops.py "$f" "$layer" | sed "s/^{/{\"kind\":\"flops\",\"name\":\"$m\",/" >> "$RAW"
    # side by side: ONNX Runtime and ours alternate, BENCH_ROUNDS times (the
    # report takes each one's best round: other jobs on a shared machine only
    # ever make a run slower)
    for round in $(seq "${BENCH_ROUNDS:-5}"); do
        if [ "$ORT" = 1 ]; then
            log "$m: round $round: ONNX Runtime forward x$no"
            node bench/ort.js "$f" "$no" 2 | sed "s/^{/{\"kind\":\"ort\",\"name\":\"$m\",/" >> "$RAW"
        fi
        log "$m: round $round: ours forward x$nf, 1-Q explanation x$n1, all-Q explanation x$na"
        "$BIN" "$f" fwd "$nf" 1 | sed "s/^{/{\"kind\":\"ours\",\"name\":\"$m\",/" >> "$RAW"
        "$BIN" "$f" one "$n1" 1 | sed "s/^{/{\"kind\":\"ours\",\"name\":\"$m\",/" >> "$RAW"
        "$BIN" "$f" allq "$na" 1 | sed "s/^{/{\"kind\":\"ours\",\"name\":\"$m\",/" >> "$RAW"
    done
    if [ "${BENCH_ALLQ_BWD:-1}" = 1 ]; then
        log "$m: ours all-Q the previous way (C seeds through the batched backward) x1"
        "$BIN" "$f" allq_bwd 1 1 | sed "s/^{/{\"kind\":\"ours\",\"name\":\"$m\",/" >> "$RAW"
    fi
    if [ "${BENCH_PROBE:-1}" = 1 ]; then
        # how much of the forward time is OpenMP threads waiting on each other / on OpenBLAS's threads
        log "$m: ours forward x$nf with GOMP_SPINCOUNT=0, and with OMP_NUM_THREADS=1"
        GOMP_SPINCOUNT=0 "$BIN" "$f" fwd "$nf" 1 | sed "s/^{/{\"kind\":\"probe_spin0\",\"name\":\"$m\",/" >> "$RAW"
        OMP_NUM_THREADS=1 "$BIN" "$f" fwd "$nf" 1 | sed "s/^{/{\"kind\":\"probe_1thr\",\"name\":\"$m\",/" >> "$RAW"
    fi
    if [ "${BENCH_PROFILE:-1}" = 1 ]; then
        # single-threaded (OpenMP and OpenBLAS), so waits between threads do not blur the per-op split
        log "$m: per-op profile (1 thread)"
        OMP_NUM_THREADS=1 "$BIN" "$f" profile "${BENCH_PROFILE_RUNS:-3}" 2> "$OUT/profile_$m.txt" | sed "s/^{/{\"kind\":\"profile\",\"name\":\"$m\",/" >> "$RAW"
    fi
    if [ "${BENCH_TORCH:-1}" = 1 ]; then
        log "$m: PyTorch reference x$nt (all-Q extrapolated from $nq Q's)"
        "$PY" bench/torch_ref.py "$m" "$nt" 1 "$nq" 2>/dev/null | sed "s/^{/{\"kind\":\"torch\",\"name\":\"$m\",/" >> "$RAW"
    fi
done
echo "{\"kind\":\"end\",\"loadavg_end\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >> "$RAW"

"$PY" bench/report.py "$RAW" "$OUT/results.md" "$OUT"
