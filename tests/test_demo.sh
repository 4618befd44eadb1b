#!/bin/sh
# make demo's job (tools/demo.sh) into a scratch folder, then its outputs
# checked: the index files, every figure decodes with a sane size, every
# explain.json names non-flat maps that exist, the quality example when
# Debian's darknet photos are installed, and the last line says where to look.
BUILD=${CC_BUILD:-build}
PY=${CC_PY:-/usr/bin/python3}
FIX=${CC_FIXTURES:-$BUILD/fixtures}
DATA=/usr/share/datasets/fashion-mnist
[ -f "$DATA/t10k-images-idx3-ubyte.gz" ] || { echo "SKIP: Fashion-MNIST not found in $DATA (apt-get install dataset-fashion-mnist)"; exit 77; }
"$PY" -c 'import PIL' 2>/dev/null || { echo "SKIP: $PY cannot import PIL (python3-pil)"; exit 77; }
OUT="$BUILD/demo_out"   # per build: make check SAN=1 shares $FIX
rm -rf "$OUT"
log=$(DEMO_OUT="$OUT" BUILD="$BUILD" sh tools/demo.sh 2>&1) || { echo "$log" | tail -n 20; echo "FAIL: tools/demo.sh failed"; exit 1; }
last=$(echo "$log" | tail -n 1)
exec "$PY" - "$OUT" "$last" <<'PYEOF'
import json, os, re, sys
from PIL import Image
out, last = sys.argv[1], sys.argv[2]
n = bad = 0
def check(ok, what):
    global n, bad
    n += 1
    if not ok:
        bad += 1
        print("FAIL", what)
check(re.search(r"Look at \S*index\.html", last) is not None, "last line says where to look: %r" % last)
for f in ("index.md", "index.html"):
    check(os.path.getsize(os.path.join(out, f)) > 200 if os.path.exists(os.path.join(out, f)) else False, f + " written")
figs = sorted(f for f in os.listdir(out) if re.match(r"figure_\d+\.png$", f))
check(len(figs) >= 4, "at least 4 figures (got %d)" % len(figs))
md = open(os.path.join(out, "index.md")).read()
for f in figs:
    im = Image.open(os.path.join(out, f))
    im.load()
    check(im.size[0] >= 1000 and 200 <= im.size[1] <= 2000, "%s size %s" % (f, im.size))
    check(len(set(im.convert("L").getdata())) > 50, "%s is a picture, not a flat image" % f)
    check("(%s)" % f in md, "%s listed in index.md" % f)
    i = f[len("figure_"):-4]
    j = json.load(open(os.path.join(out, "explain_%s" % i, "explain.json")))
    kinds = [m["kind"] for m in j["maps"]]
    check("gradcam" in kinds and kinds.count("contrast") >= 3, "explain_%s has Grad-CAM and >= 3 contrasts (%s)" % (i, kinds))
    for m in j["maps"]:
        p = os.path.join(out, "explain_%s" % i, m["npy"])
        check(os.path.exists(p) and os.path.exists(os.path.join(out, "explain_%s" % i, m["png"])), "%s files exist" % m["npy"])
        if m["kind"] == "gradcam":
            check(not m["flat"], "explain_%s Grad-CAM is not flat" % i)
if os.path.exists("/usr/share/darknet/data/giraffe.jpg"):
    q = json.load(open(os.path.join(out, "iqa", "iqa.json")))
    check(0 < q["score"] < 2 and q["windows"]["count"] > 1000, "quality example score %s" % q["score"])
    for f in ("why.png", "why_rather_than.png"):
        im = Image.open(os.path.join(out, "iqa", f))
        im.load()
        check(im.size == (q["width"], q["height"]), "iqa/%s size %s" % (f, im.size))
    note = ""
else:
    note = " (no quality example: darknet photos not installed)"
print("demo outputs: %d figures, %d checks, %d failed%s" % (len(figs), n, bad, note))
sys.exit(1 if bad else 0)
PYEOF
