#!/bin/sh
# make demo: explains the embedded Fashion-MNIST model on interesting test
# images and draws the paper's figure for each, into out/demo/.
set -e
BUILD=${BUILD:-build}
CLI="$BUILD/contrastcam"
MODEL=models/fashion_cnn.onnx
DATA=/usr/share/datasets/fashion-mnist
OUT=out/demo
rm -rf "$OUT"
mkdir -p "$OUT/inputs"
"$BUILD/tools/demo_pick" "$MODEL" "$DATA" "$OUT/inputs"
{
    echo "# contrastcam demo: Why P, rather than Q? on Fashion-MNIST"
    echo
    echo "Model: \`$MODEL\` (trained with contrastcam itself; see models/README.md)."
    echo "Each figure: the input, Grad-CAM \"Why P?\", a representative training image of Q,"
    echo "\"Why P, rather than Q?\" for Q and the two most likely alternatives, \"Why not P"
    echo "with 100% confidence?\", and the mean and variance of all contrastive maps."
    echo
} > "$OUT/index.md"
i=0
while read -r img qimg idx label P Q; do
    i=$((i + 1))
    fig="figure_$i.png"
    qopt=""
    [ "$qimg" != "-" ] && qopt="--q-image $qimg"
    "$CLI" figure "$MODEL" "$img" --class "$P" --contrast "$Q,top:2" $qopt \
        --title "Fashion-MNIST test #$idx" --out "$OUT/$fig"
    "$CLI" explain "$MODEL" "$img" --class "$P" --contrast "$Q,$P,top:2" --out "$OUT/explain_$i" > /dev/null 2>&1
    truth=$(sed -n "$((label + 1))p" models/fashion_cnn.labels.txt 2>/dev/null || echo "$label")
    echo "## $i. test image #$idx (true class: $truth)" >> "$OUT/index.md"
    echo >> "$OUT/index.md"
    echo "![figure $i]($fig)" >> "$OUT/index.md"
    echo "" >> "$OUT/index.md"
    echo "Maps as numbers: [explain_$i/explain.json](explain_$i/explain.json)" >> "$OUT/index.md"
    echo >> "$OUT/index.md"
done < "$OUT/inputs/plan.txt"
# a plain HTML index too, for a browser
{
    echo "<!doctype html><meta charset=utf-8><title>contrastcam demo</title><body style='font-family:sans-serif'>"
    echo "<h1>contrastcam demo: Why P, rather than Q?</h1>"
    for f in "$OUT"/figure_*.png; do b=$(basename "$f"); echo "<p><img src='$b' style='max-width:100%'></p>"; done
    echo "</body>"
} > "$OUT/index.html"
echo "demo: $i figures written. Look at $OUT/index.html (or $OUT/index.md)"
