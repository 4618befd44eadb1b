#!/bin/sh
# Install the Debian packages the build and the tests need, only when missing;
# extra packages may be named as arguments.  darknet: only for its sample photos
# (the quality model was trained on them; make demo and its test use one).
set -e
PKGS="$* build-essential libopenblas-openmp-dev libstb-dev fonts-dejavu-core python3 python3-numpy python3-pil python3-torch python3-torchvision python3-onnx libonnx-testdata zlib1g-dev dataset-fashion-mnist darknet valgrind"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps: installing$missing"
    if [ "$(id -u)" != 0 ]; then echo "deps: need root to apt-get install$missing" >&2; exit 1; fi
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null
fi
# ONNX Runtime from the npm registry (onnxruntime-node ships its native CPU build;
# --ignore-scripts skips its GPU download): the second oracle of the model tests
# and the anchor of make bench.  Tests skip their ONNX Runtime part without it.
cd "$(dirname "$0")/.."
if [ ! -d bench/node_modules/onnxruntime-node ] && command -v npm >/dev/null 2>&1; then
    echo "deps: installing onnxruntime-node into bench/node_modules"
    (cd bench && npm ci --ignore-scripts --no-audit --no-fund >/dev/null 2>&1) ||
        echo "deps: npm could not install onnxruntime-node; ONNX Runtime checks will be skipped" >&2
fi
