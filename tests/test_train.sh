#!/bin/sh
# A short training run on real data through the library trainer: 6000
# Fashion-MNIST training images, one epoch, default architecture; the accuracy
# on 2000 test images must be well above chance (>= 60%).
BUILD=${CC_BUILD:-build}
FIX=${CC_FIXTURES:-$BUILD/fixtures}
TOOL="$BUILD/tests/train_tool"
DATA=${CC_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
[ -x "$TOOL" ] || { echo "test_train.sh: $TOOL not built"; exit 1; }
if [ ! -f "$DATA/train-images-idx3-ubyte.gz" ]; then
    echo "skip: Fashion-MNIST not found in $DATA (apt-get install dataset-fashion-mnist)"; exit 77
fi
out=$("$TOOL" short "$DATA" 6000 2000 1 c32,c32,p,c64,c64,p,f32) || { echo "$out"; echo "training failed"; exit 1; }
echo "$out"
acc=$(echo "$out" | sed -n 's/^accuracy \([0-9.]*\).*/\1/p')
awk -v a="$acc" 'BEGIN { exit !(a >= 0.60) }' || { echo "accuracy $acc after a short run is below 0.60"; exit 1; }
echo "short training run: accuracy $acc on 2000 test images"
