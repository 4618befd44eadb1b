#!/usr/bin/python3
"""The ways an ONNX file can store its weights, each loaded by contrastcam.

Usage: load_formats.py CONTRASTCAM WORK_DIR MODEL.onnx [MODEL.onnx ...]

For every model, writes variants with onnx (Debian python3-onnx) and checks that
`contrastcam predict --json` gives bit-identical logits for all of them:
  raw        initializers as raw_data (as exporters write them)
  typed      float_data / int64_data fields instead of raw_data
  external   every initializer in a side file (save_as_external_data), as
             exporters write models over 2 GB
  external2  one side file per initializer
  metadata   extra metadata_props entries (they must not disturb loading)
An int32_data initializer (Gather indices) is checked against NumPy, and
external data pointing outside the model's folder or past the end of the side
file must be refused with a message naming it.  Prints one line per check."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

fails = 0
checks = 0


def check(ok, what):
    global fails, checks
    checks += 1
    if not ok:
        fails += 1
    print("%s %s" % ("ok  " if ok else "FAIL", what))


def predict(cli, model, extra):
    r = subprocess.run([cli, "predict", model, "--top", "100000", "--json"] + extra, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    if r.returncode != 0:
        return None, r.stderr.strip()
    top = json.loads(r.stdout)["top"]
    z = np.zeros(len(top), np.float64)
    for e in top:
        z[e["class"]] = e["logit"]
    return z, ""


def to_typed(m):
    for t in m.graph.initializer:
        a = numpy_helper.to_array(t)
        if t.data_type == TensorProto.FLOAT:
            t.ClearField("raw_data")
            t.float_data.extend(a.ravel().tolist())
        elif t.data_type == TensorProto.INT64:
            t.ClearField("raw_data")
            t.int64_data.extend(a.ravel().tolist())
    return m


def input_args(m, work):
    """A fixed random input for the model's first input, as --input-npy."""
    inp = m.graph.input[0]
    dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    x = np.random.default_rng(5).standard_normal(dims).astype(np.float32)
    p = os.path.join(work, "x_%s.npy" % inp.name.replace("/", "_"))
    np.save(p, x)
    return ["--input-npy", "%s=%s" % (inp.name, p)]


def variants(src, work, tag):
    m = onnx.load(src)
    d = os.path.join(work, tag)
    os.makedirs(d, exist_ok=True)
    out = {}
    out["raw"] = os.path.join(d, "raw.onnx")
    onnx.save(m, out["raw"])
    out["typed"] = os.path.join(d, "typed.onnx")
    onnx.save(to_typed(onnx.load(src)), out["typed"])
    for name, one in (("external", True), ("external2", False)):
        sub = os.path.join(d, name)
        os.makedirs(sub, exist_ok=True)
        out[name] = os.path.join(sub, "model.onnx")
        onnx.save_model(onnx.load(src), out[name], save_as_external_data=True, all_tensors_to_one_file=one,
                        location="weights.bin" if one else None, size_threshold=0)
    mm = onnx.load(src)
    helper.set_model_props(mm, dict([(p.key, p.value) for p in mm.metadata_props] +
                                    [("note", "x" * 5000), ("empty", ""), ("unicode", "\u00e9\u4e2d")]))
    out["metadata"] = os.path.join(d, "metadata.onnx")
    onnx.save(mm, out["metadata"])
    return m, out


def int32_gather(cli, work):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    idx = helper.make_tensor("idx", TensorProto.INT32, [3], [5, 0, 3])   # stored in int32_data
    g = helper.make_graph([helper.make_node("Gather", ["x", "idx"], ["y"], axis=1)], "g", [x], [y], [idx])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    check(len(m.graph.initializer[0].int32_data) == 3 and not m.graph.initializer[0].raw_data,
          "int32 initializer stored in int32_data")
    p = os.path.join(work, "gather_int32.onnx")
    onnx.save(m, p)
    xv = np.arange(6, dtype=np.float32)[None] * 1.5 + 0.25
    np.save(os.path.join(work, "g.npy"), xv)
    z, err = predict(cli, p, ["--input-npy", os.path.join(work, "g.npy")])
    check(z is not None and np.array_equal(z, xv[0, [5, 0, 3]].astype(np.float64)),
          "int32_data Gather indices: %s (expected %s) %s" % (z, xv[0, [5, 0, 3]], err))


def hostile_external(cli, src, work):
    d = os.path.join(work, "hostile")
    os.makedirs(d, exist_ok=True)
    m = onnx.load(src)
    onnx.save_model(m, os.path.join(d, "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    base = onnx.load(os.path.join(d, "model.onnx"), load_external_data=False)
    for what, key, val, expect in (("a path outside the model's folder", "location", "../weights.bin", "relative path"),
                                   ("an absolute path", "location", "/etc/passwd", "relative path"),
                                   ("a range past the end of the file", "offset", str(1 << 40), "outside")):
        mm = onnx.ModelProto()
        mm.CopyFrom(base)
        t = max(mm.graph.initializer, key=lambda t: len(t.dims))
        for e in t.external_data:
            if e.key == key:
                e.value = val
        p = os.path.join(d, "bad.onnx")
        with open(p, "wb") as f:
            f.write(mm.SerializeToString())
        r = subprocess.run([cli, "layers", p], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        msg = r.stderr.strip()
        check(r.returncode == 3 and expect in msg and msg.count("\n") == 0,
              "external data with %s refused (exit %d: %s)" % (what, r.returncode, msg))


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    cli, work, models = sys.argv[1], sys.argv[2], sys.argv[3:]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    for i, src in enumerate(models):
        tag = "m%d" % i
        m, paths = variants(src, work, tag)
        args = input_args(m, work)
        ref, err = predict(cli, paths["raw"], args)
        check(ref is not None and np.isfinite(ref).all(), "%s raw_data: loads and runs %s" % (src, err))
        if ref is None:
            continue
        for k in ("typed", "external", "external2", "metadata"):
            z, err = predict(cli, paths[k], args)
            check(z is not None and np.array_equal(z, ref), "%s %s: same logits as raw_data %s" % (src, k, err))
        nside = len([f for f in os.listdir(os.path.dirname(paths["external2"])) if f != "model.onnx"])
        print("     %s external2: %d side files" % (src, nside))
    int32_gather(cli, work)
    hostile_external(cli, models[0], work)
    print("weight storage formats: %d checks, %d failed" % (checks, fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
