#!/bin/sh
# Image I/O against PIL, torch and (when installed) OpenCV: the generator
# writes images and reference outputs, then the C test compares.
BUILD=${CC_BUILD:-build}
PY=${CC_PY:-/usr/bin/python3}
FIX=${CC_FIXTURES:-$BUILD/fixtures}/image
BIN="$BUILD/tests/test_image"
[ -x "$BIN" ] || { echo "test_image.sh: $BIN not built"; exit 1; }
if ! "$PY" -c "import numpy, PIL, torch" 2>/dev/null; then
    echo "skip: $PY lacks numpy, PIL (python3-pil) or torch"; exit 77
fi
rm -rf "$FIX" && mkdir -p "$FIX" || exit 1
"$PY" tests/gen_image_fixtures.py "$FIX" || { echo "fixture generation failed"; exit 1; }
"$BIN" "$FIX"
