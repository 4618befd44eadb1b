#!/bin/sh
# The same explain command gives bit-identical .npy maps run after run with
# the same thread count (OMP_NUM_THREADS 1 and 2, three runs each).  Whether
# the maps for 1 and 2 threads are identical too is reported, not required
# (see docs/reliability.md).  Uses the shipped models/fashion_cnn.onnx, and
# mobilenet_v2 from ../shared when present.
BUILD=${CC_BUILD:-build}
PY=${CC_PY:-/usr/bin/python3}
CLI=$BUILD/contrastcam
[ -x "$CLI" ] || { echo "FAIL: $CLI not built"; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
"$PY" -c "
import numpy as np, sys
from PIL import Image
y, x = np.mgrid[0:28, 0:28]
Image.fromarray(((x * 9 + y * 5) % 256).astype(np.uint8)).save(sys.argv[1])
" "$tmp/in.png" || { echo "skip: numpy/PIL missing"; exit 77; }
fail=0
for th in 1 2; do
    for run in 1 2 3; do
        OMP_NUM_THREADS=$th "$CLI" explain models/fashion_cnn.onnx "$tmp/in.png" --contrast all --save-all \
            --out "$tmp/t$th-r$run" 2>"$tmp/err" || { echo "FAIL: explain (threads $th, run $run): $(cat "$tmp/err")"; fail=1; }
    done
    n=0
    for f in "$tmp/t$th-r1"/*.npy; do
        b=$(basename "$f")
        n=$((n + 1))
        for run in 2 3; do
            cmp -s "$f" "$tmp/t$th-r$run/$b" || { echo "FAIL: $b differs between run 1 and run $run with $th thread(s)"; fail=1; }
        done
    done
    [ $n -gt 0 ] || { echo "FAIL: no .npy maps written with $th thread(s)"; fail=1; }
    echo "threads $th: $n .npy maps, identical in 3 runs"
done
# a real network where the OpenMP/OpenBLAS paths are taken (../shared)
SHARED=${CC_SHARED:-../shared}
MV2=$SHARED/models/mobilenet_v2_imagenet.onnx
CAT=$SHARED/models/images/224/cat.png
if [ -f "$MV2" ] && [ -f "$CAT" ]; then
    for run in 1 2; do
        OMP_NUM_THREADS=2 "$CLI" explain "$MV2" "$CAT" --contrast top:3 --out "$tmp/mv2-r$run" 2>"$tmp/err" ||
            { echo "FAIL: explain mobilenet_v2 (run $run): $(cat "$tmp/err")"; fail=1; }
    done
    for f in "$tmp/mv2-r1"/*.npy; do
        cmp -s "$f" "$tmp/mv2-r2/$(basename "$f")" || { echo "FAIL: mobilenet_v2 $(basename "$f") differs between two runs with 2 threads"; fail=1; }
    done
    echo "mobilenet_v2 (2 threads): $(ls "$tmp/mv2-r1"/*.npy | wc -l) .npy maps identical in 2 runs"
else
    echo "note: $MV2 absent, the real-network part was skipped"
fi
same=0 diff=0
for f in "$tmp/t1-r1"/*.npy; do
    if cmp -s "$f" "$tmp/t2-r1/$(basename "$f")"; then same=$((same + 1)); else diff=$((diff + 1)); fi
done
echo "1 vs 2 threads: $same maps identical, $diff differ (allowed)"
[ $fail = 0 ] && echo "maps bit-identical run after run at 1 and 2 threads ($same/$((same + diff)) also identical across thread counts)"
exit $fail
