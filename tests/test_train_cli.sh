#!/bin/sh
# `contrastcam train`: --help, argument errors (exit 2 / 3), and a tiny run
# (1000 images, one epoch) that prints the epoch line and the confusion matrix
# and writes a model that `contrastcam layers` reads.
BUILD=${CC_BUILD:-build}
FIX=${CC_FIXTURES:-$BUILD/fixtures}/train_cli
BIN="$BUILD/contrastcam"
DATA=${CC_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
[ -x "$BIN" ] || { echo "test_train_cli.sh: $BIN not built"; exit 1; }
if ! "$BIN" train --help >/dev/null 2>&1; then
    echo "skip: this build's contrastcam has no train command (src/cli/main.c does not dispatch to cmd_train)"; exit 77
fi
fail() { echo "FAIL: $*"; exit 1; }
"$BIN" train --help | grep -q "example:" || fail "--help has no example"
"$BIN" train --epochs x >/dev/null 2>&1; [ $? = 2 ] || fail "bad --epochs is not a usage error (2)"
"$BIN" train --bogus >/dev/null 2>&1; [ $? = 2 ] || fail "unknown option is not a usage error (2)"
"$BIN" train --arch c4,zz --limit-train 10 --data "$FIX/none" >/dev/null 2>&1; [ $? = 3 ] || fail "missing data is not an input error (3)"
if [ ! -f "$DATA/train-images-idx3-ubyte.gz" ]; then
    echo "skip: Fashion-MNIST not found in $DATA (apt-get install dataset-fashion-mnist)"; exit 77
fi
rm -rf "$FIX" && mkdir -p "$FIX" || exit 1
"$BIN" train --arch c32,c32,p,c64,c64,p,f32 --arch zz --limit-train 64 --data "$DATA" --out "$FIX/x.onnx" >/dev/null 2>&1
[ $? = 2 ] || fail "bad --arch is not a usage error (2)"
"$BIN" train --data "$DATA" --out "$FIX/m.onnx" --epochs 1 --limit-train 1000 --limit-test 500 --arch c8,p,c16,p,f32 --seed 3 \
    >"$FIX/log" 2>&1 || { cat "$FIX/log"; fail "training run failed"; }
cat "$FIX/log"
grep -q "^epoch 1/1  loss" "$FIX/log" || fail "no per-epoch line"
grep -q "Ankle boot |" "$FIX/log" || fail "no confusion matrix"
[ -s "$FIX/m.onnx" ] || fail "no model written"
"$BIN" layers "$FIX/m.onnx" >"$FIX/layers" 2>&1 || { cat "$FIX/layers"; fail "layers cannot read the model"; }
grep -q relu2 "$FIX/layers" || fail "layers does not list relu2"
echo "contrastcam train: tiny run wrote a loadable model"
