#!/bin/sh
# End-to-end tests of `contrastcam iqa` (tests/iqa_cli.py).  Skips (77)
# without Python's numpy/PIL/onnx or without models/iqa_fr.onnx.
PY=${CC_PY:-/usr/bin/python3}
if ! "$PY" -c "import numpy, PIL, onnx" 2>/dev/null; then echo "skip: $PY lacks numpy/PIL/onnx"; exit 77; fi
exec "$PY" tests/iqa_cli.py
