#!/bin/sh
# .npy interop with NumPy: NumPy writes files (all dtypes, versions 1-3, and
# ones to refuse), the C test reads them; the C test writes a file that NumPy
# must read back with the right values, dtype and a 64-byte aligned header.
BUILD=${CC_BUILD:-build}
PY=${CC_PY:-/usr/bin/python3}
FIX=${CC_FIXTURES:-$BUILD/fixtures}/npy
BIN="$BUILD/tests/test_npy"
[ -x "$BIN" ] || { echo "test_npy.sh: $BIN not built"; exit 1; }
if ! "$PY" -c "import numpy" 2>/dev/null; then echo "skip: $PY has no numpy"; exit 77; fi
rm -rf "$FIX" && mkdir -p "$FIX" || exit 1
"$PY" tests/gen_npy_fixtures.py "$FIX" || { echo "fixture generation failed"; exit 1; }
"$BIN" "$FIX" || exit 1
"$PY" - "$FIX/c_written.npy" <<'PYEOF' || exit 1
import sys
import numpy as np
path = sys.argv[1]
raw = open(path, "rb").read()
hl = raw[8] | raw[9] << 8
assert raw[:8] == b"\x93NUMPY\x01\x00", raw[:8]
assert (10 + hl) % 64 == 0, "header not 64-byte aligned: %d" % (10 + hl)
a = np.load(path)
assert a.dtype == np.float32 and a.shape == (2, 3, 5), (a.dtype, a.shape)
exp = (np.arange(30, dtype=np.float32) * np.float32(0.25) - np.float32(3)).reshape(2, 3, 5)
assert np.array_equal(a, exp), "values differ"
for shape in [(), (4,), (0, 2)]:
    p = path.replace("c_written", "c_written_%d" % len(shape))
    b = np.load(p)
    assert b.shape == shape and b.dtype == np.float32, (p, b.shape, b.dtype)
print("numpy reads the C-written files: ok")
PYEOF
echo "npy interop with numpy: ok"
