"""Writes .npy files with NumPy for tests/test_npy.c into the folder argv[1].

For each NAME.npy a NAME.txt holds the expected float32 values the C reader
must produce: first line "ndim d0 d1 ...", then one value per line (repr of
float32(x), i.e. exact).  Files meant to be refused have no .txt; their names
start with "bad_"."""
import os
import sys

import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def save(name, a, version=None):
    path = os.path.join(out, name + ".npy")
    if version is None:
        np.save(path, a)
    else:
        with open(path, "wb") as f:
            np.lib.format.write_array(f, a, version=version)
    if not name.startswith("bad_"):
        exp = np.asarray(a).astype(np.float32).ravel(order="C")
        with open(os.path.join(out, name + ".txt"), "w") as f:
            f.write(" ".join(str(v) for v in [a.ndim] + list(a.shape)) + "\n")
            for v in exp:
                f.write("%r\n" % float(v))


rng = np.random.default_rng(1234)
save("f4_2d", rng.standard_normal((3, 5)).astype(np.float32))
save("f4_4d", rng.standard_normal((1, 3, 4, 2)).astype(np.float32))
save("f4_special", np.array([0.0, -0.0, 1e-45, 3.4028235e38, -1.5, np.inf, -np.inf], dtype=np.float32))
save("f8_1d", rng.standard_normal(7) * 1e3)
save("i8_2d", np.arange(-6, 6, dtype=np.int64).reshape(3, 4) * 1000003)
save("i4_1d", np.array([-2147483648, -1, 0, 1, 2147483647, 16777217], dtype=np.int32))
save("u1_3d", np.arange(24, dtype=np.uint8).reshape(2, 3, 4) * 10)
save("scalar", np.array(3.25, dtype=np.float32))
save("empty", np.zeros((0, 3), dtype=np.float32))
save("v2", rng.standard_normal((2, 3)).astype(np.float32), version=(2, 0))
save("v3", rng.standard_normal((4,)).astype(np.float32), version=(3, 0))
save("bad_fortran", np.asfortranarray(rng.standard_normal((3, 4)).astype(np.float32)))
save("bad_bigendian", np.arange(4, dtype=">f4"))
save("bad_bool", np.array([True, False]))
save("bad_complex", np.array([1 + 2j], dtype=np.complex64))
