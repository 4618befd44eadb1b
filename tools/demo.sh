#!/bin/sh
# make demo: explains the embedded Fashion-MNIST model on interesting test
# images and draws the paper's figure for each, into out/demo/.
set -e
BUILD=${BUILD:-build}
# idle OpenMP threads spin briefly, then sleep, as the contrastcam CLI arranges for itself
[ -n "$OMP_WAIT_POLICY$GOMP_SPINCOUNT" ] || export GOMP_SPINCOUNT=10000
CLI="$BUILD/contrastcam"
MODEL=models/fashion_cnn.onnx
DATA=/usr/share/datasets/fashion-mnist
OUT=${DEMO_OUT:-out/demo}
# the class names stored in the model's metadata (models/README.md)
LABELS="T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot"
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
    truth=$(echo "$LABELS" | cut -d, -f$((label + 1)))
    echo "## $i. test image #$idx (true class: $truth)" >> "$OUT/index.md"
    echo >> "$OUT/index.md"
    echo "![figure $i]($fig)" >> "$OUT/index.md"
    echo "" >> "$OUT/index.md"
    echo "Maps as numbers: [explain_$i/explain.json](explain_$i/explain.json)" >> "$OUT/index.md"
    echo >> "$OUT/index.md"
done < "$OUT/inputs/plan.txt"
# Image quality: "Why does this image score s, rather than q?" with the shipped
# quality model on a held-out Debian photo (darknet's giraffe), JPEG-compressed.
PHOTO=/usr/share/darknet/data/giraffe.jpg
iqa=""
if [ -f "$PHOTO" ]; then
    "$BUILD/tools/demo_distort" "$PHOTO" 384 10 "$OUT/inputs/giraffe_ref.png" "$OUT/inputs/giraffe_jpeg10.png"
    "$CLI" iqa models/iqa_fr.onnx --ref "$OUT/inputs/giraffe_ref.png" --dist "$OUT/inputs/giraffe_jpeg10.png" \
        --target 0.9 --out "$OUT/iqa" > /dev/null
    score=$(sed -n 's/.*"score": \([0-9.]*\).*/\1/p' "$OUT/iqa/iqa.json" | head -n 1)
    {
        echo "## Image quality: why $score, rather than 0.9?"
        echo
        echo "\`models/iqa_fr.onnx\` (trained with contrastcam on Debian's darknet photos; this one was held out)"
        echo "scores the JPEG-compressed photo against its original. Left: the distorted image; middle: \"Why $score?\";"
        echo "right: \"Why $score, rather than 0.9?\" (the evidence that keeps the score below 0.9)."
        echo
        echo "![distorted](inputs/giraffe_jpeg10.png) ![why](iqa/why.png) ![why rather than](iqa/why_rather_than.png)"
        echo
        echo "Numbers: [iqa/iqa.json](iqa/iqa.json)"
    } >> "$OUT/index.md"
    iqa="<h2>Image quality: why $score, rather than 0.9?</h2><p><img src='inputs/giraffe_jpeg10.png'> <img src='iqa/why.png'> <img src='iqa/why_rather_than.png'></p>"
else
    echo "demo: $PHOTO not found (apt-get install darknet): no image-quality example" >&2
fi
# a plain HTML index too, for a browser
{
    echo "<!doctype html><meta charset=utf-8><title>contrastcam demo</title><body style='font-family:sans-serif'>"
    echo "<h1>contrastcam demo: Why P, rather than Q?</h1>"
    for f in "$OUT"/figure_*.png; do b=$(basename "$f"); echo "<p><img src='$b' style='max-width:100%'></p>"; done
    echo "$iqa"
    echo "</body>"
} > "$OUT/index.html"
echo "demo: $i figures written. Look at $OUT/index.html (or $OUT/index.md)"
