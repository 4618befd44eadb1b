#!/usr/bin/python3
"""Seed corpora for the fuzz harnesses, from the repository's own files.

Usage: make_seeds.py OUT_DIR      (writes OUT_DIR/{onnx,image,npy,labels}/)

onnx:   small hand-built models (onnx.helper) covering the ops of our shipped
        models (models/fashion_cnn.onnx, models/iqa_fr.onnx: same graphs with
        fewer channels) and the shape/index ops, plus the small op-case models
        of the test fixtures and libonnx-testdata node models under 4 KiB when
        present.  (The shipped models themselves are 0.6-1.4 MB, mostly
        weights, larger than the harness's -max_len.)
image:  tiny PNG (gray, RGB, RGBA, gray+alpha, palette, 16-bit), JPEG
        (baseline, progressive, gray, 4:4:4/4:2:0) and BMP (1/8/24/32-bit).
npy:    every dtype the reader takes, versions 1.0/2.0/3.0, 0-d, empty and
        4-d shapes, and a few it refuses (big-endian, Fortran order).
labels: label texts as in the models' metadata, with a query and a float list
        (the three parts separated by NUL bytes, see fuzz/targets.c).
"""
import glob
import io
import os
import sys

import numpy as np


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def onnx_seeds(out):
    import onnx
    from onnx import TensorProto as TP, helper as h, numpy_helper as nh

    rng = np.random.default_rng(0)

    def w(name, *shape):
        return nh.from_array(rng.standard_normal(shape).astype(np.float32), name)

    def i64(name, vals):
        return nh.from_array(np.array(vals, dtype=np.int64), name)

    def model(name, nodes, inputs, outputs, inits=(), opset=13, meta=None):
        g = h.make_graph(nodes, name,
                         [h.make_tensor_value_info(n, TP.FLOAT, s) for n, s in inputs],
                         [h.make_tensor_value_info(n, TP.FLOAT, None) for n in outputs],
                         list(inits))
        m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)], producer_name="fuzz-seed")
        m.ir_version = 8
        for k, v in (meta or {}).items():
            e = m.metadata_props.add()
            e.key, e.value = k, v
        write(os.path.join(out, name + ".onnx"), m.SerializeToString())

    N = h.make_node
    # fashion_cnn's graph, 2 channels instead of 32/64
    model("fashion_small", [
        N("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        N("Relu", ["c1"], ["r1"]),
        N("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        N("Flatten", ["p1"], ["f"], axis=1),
        N("Gemm", ["f", "wg", "bg"], ["y"], transB=1)],
        [("x", [1, 1, 6, 6])], ["y"], [w("w1", 2, 1, 3, 3), w("b1", 2), w("wg", 3, 18), w("bg", 3)],
        meta={"labels": "a\nb\nc", "preprocess.mean": "0.5", "preprocess.std": "0.25", "gradcam.target": "r1"})
    # iqa_fr's graph shape: two inputs, shared conv, feature difference
    model("iqa_small", [
        N("Conv", ["ref", "w1"], ["a"], kernel_shape=[3, 3]), N("Conv", ["dist", "w1"], ["b"], kernel_shape=[3, 3]),
        N("Relu", ["a"], ["ra"]), N("Relu", ["b"], ["rb"]),
        N("Sub", ["ra", "rb"], ["d"]), N("Concat", ["ra", "rb", "d"], ["cat"], axis=1),
        N("MaxPool", ["cat"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]),
        N("Flatten", ["mp"], ["fl"]), N("Gemm", ["fl", "wg", "bg"], ["g"], transB=1),
        N("Add", ["g", "bg"], ["y"])],
        [("ref", [1, 3, 6, 6]), ("dist", [1, 3, 6, 6])], ["y"], [w("w1", 2, 3, 3, 3), w("wg", 1, 24), w("bg", 1)])
    model("bn_pool", [
        N("BatchNormalization", ["x", "s", "bb", "mu", "var"], ["bn"], epsilon=1e-5),
        N("AveragePool", ["bn"], ["ap"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]),
        N("LeakyRelu", ["ap"], ["lr"], alpha=0.1), N("GlobalAveragePool", ["lr"], ["gp"]),
        N("Sigmoid", ["gp"], ["sg"]), N("Mul", ["sg", "x"], ["mu2"]), N("GlobalMaxPool", ["mu2"], ["gm"]),
        N("Flatten", ["gm"], ["y0"]), N("Softmax", ["y0"], ["y"], axis=1)],
        [("x", [1, 3, 5, 5])], ["y"],
        [nh.from_array(np.ones(3, np.float32), "s"), w("bb", 3), w("mu", 3),
         nh.from_array(np.ones(3, np.float32), "var")])
    model("shape_chain", [
        N("Shape", ["x"], ["sh"]), N("Gather", ["sh", "zero"], ["n"], axis=0),
        N("Unsqueeze", ["n", "ax0"], ["n1"]), N("Concat", ["n1", "m1"], ["ns"], axis=0),
        N("Reshape", ["x", "ns"], ["flat"]), N("MatMul", ["flat", "wm"], ["mm"]),
        N("Tanh", ["mm"], ["t"]), N("Clip", ["t", "lo", "hi"], ["y"])],
        [("x", [1, 2, 3, 3])], ["y"],
        [i64("zero", 0), i64("ax0", [0]), i64("m1", [-1]), w("wm", 18, 4),
         nh.from_array(np.array(-0.5, np.float32), "lo"), nh.from_array(np.array(0.5, np.float32), "hi")])
    model("index_ops", [
        N("Transpose", ["x"], ["tr"], perm=[0, 1, 3, 2]),
        N("Slice", ["tr", "st", "en", "axs"], ["sl"]),
        N("Pad", ["sl", "pads"], ["pd"], mode="reflect"),
        N("Split", ["pd", "spl"], ["s1", "s2"], axis=1),
        N("Div", ["s1", "two"], ["dv"]), N("Concat", ["dv", "s2"], ["cc"], axis=1),
        N("ReduceMean", ["cc"], ["rm"], axes=[2, 3], keepdims=1),
        N("Squeeze", ["rm", "sq"], ["y"])],
        [("x", [1, 2, 6, 5])], ["y"],
        [i64("st", [1, 1]), i64("en", [5, 4]), i64("axs", [2, 3]), i64("pads", [0, 0, 1, 1, 0, 0, 1, 1]),
         i64("spl", [1, 1]), nh.from_array(np.array(2, np.float32), "two"), i64("sq", [2, 3])])
    model("misc_ops", [
        N("LRN", ["x"], ["l"], size=3), N("Dropout", ["l"], ["d"]), N("Identity", ["d"], ["i"]),
        N("Constant", [], ["cst"], value=nh.from_array(np.full((1, 1, 1, 1), 0.5, np.float32))),
        N("Sub", ["i", "cst"], ["s"]), N("Expand", ["cst", "esh"], ["e"]), N("Add", ["s", "e"], ["a"]),
        N("Tile", ["a", "reps"], ["tl"]), N("ReduceSum", ["tl", "rax"], ["rs"], keepdims=0),
        N("Softmax", ["rs"], ["y"], axis=-1)],
        [("x", [1, 3, 4, 4])], ["y"],
        [i64("esh", [1, 3, 4, 4]), i64("reps", [1, 1, 1, 2]), i64("rax", [2, 3])])
    model("opset11_ops", [
        N("ConstantOfShape", ["csh"], ["co"], value=nh.from_array(np.array([1.0], np.float32))),
        N("Range", ["r0", "r1", "r2"], ["rg"]), N("Cast", ["rg"], ["rgf"], to=1),
        N("Mul", ["x", "co"], ["m"]), N("Add", ["m", "rgf"], ["y0"]),
        N("Equal", ["y0", "y0"], ["eq"]), N("Where", ["eq", "y0", "co"], ["y1"]),
        N("ReduceMax", ["y1"], ["y"], axes=[1], keepdims=1)],
        [("x", [2, 4])], ["y"],
        [i64("csh", [2, 4]), i64("r0", 0), i64("r1", 4), i64("r2", 1)], opset=11)
    # a few deliberately faulty graphs, as starting points for the semantic checks
    model("fault_cycle", [N("Relu", ["x", ], ["a"]), N("Add", ["a", "c"], ["b"]), N("Relu", ["b"], ["c"]),
                          N("Identity", ["b"], ["y"])], [("x", [1, 2])], ["y"])
    model("fault_undefined", [N("Add", ["x", "nope"], ["y"])], [("x", [1, 2])], ["y"])
    model("fault_shape", [N("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3])], [("x", [1, 2, 4, 4])], ["y"],
          [w("w", 2, 3, 3, 3)])
    fx = os.environ.get("CC_FIXTURES", "build/fixtures")
    extra = sorted(glob.glob(os.path.join(fx, "ops", "*", "model.onnx")))
    extra += sorted(p for p in glob.glob("/usr/share/libonnx-testdata/data/node/*/model.onnx") if os.path.getsize(p) < 4096)[::4]
    for i, p in enumerate(extra):
        if os.path.getsize(p) <= 16384:
            with open(p, "rb") as f:
                write(os.path.join(out, "x%03d_%s.onnx" % (i, os.path.basename(os.path.dirname(p)))), f.read())


def image_seeds(out):
    from PIL import Image

    rng = np.random.default_rng(1)
    def arr(h, w, c=None):
        shape = (h, w) if c is None else (h, w, c)
        return rng.integers(0, 256, shape, dtype=np.uint8)
    imgs = {
        "gray": Image.fromarray(arr(7, 5)), "rgb": Image.fromarray(arr(9, 11, 3)),
        "rgba": Image.fromarray(arr(4, 6, 4), "RGBA"), "la": Image.fromarray(arr(5, 3, 2), "LA"),
        "one": Image.fromarray(arr(1, 1, 3)), "wide": Image.fromarray(arr(2, 33, 3)),
    }
    pal = Image.fromarray(arr(6, 6, 3)).convert("P", palette=Image.ADAPTIVE, colors=8)
    for k, im in imgs.items():
        b = io.BytesIO(); im.save(b, "PNG"); write(os.path.join(out, "png_%s.png" % k), b.getvalue())
    b = io.BytesIO(); pal.save(b, "PNG"); write(os.path.join(out, "png_palette.png"), b.getvalue())
    b = io.BytesIO(); Image.fromarray((arr(4, 4).astype(np.uint16) * 257), "I;16").save(b, "PNG")
    write(os.path.join(out, "png_16bit.png"), b.getvalue())
    for k in ("gray", "rgb", "one", "wide"):
        im = imgs[k]
        b = io.BytesIO(); im.save(b, "JPEG", quality=80); write(os.path.join(out, "jpg_%s.jpg" % k), b.getvalue())
    big = Image.fromarray(arr(17, 19, 3))
    b = io.BytesIO(); big.save(b, "JPEG", progressive=True); write(os.path.join(out, "jpg_progressive.jpg"), b.getvalue())
    b = io.BytesIO(); big.save(b, "JPEG", subsampling=0); write(os.path.join(out, "jpg_444.jpg"), b.getvalue())
    b = io.BytesIO(); big.save(b, "JPEG", subsampling=2); write(os.path.join(out, "jpg_420.jpg"), b.getvalue())
    for k, im in (("rgb", imgs["rgb"]), ("rgba", imgs["rgba"]), ("pal", pal), ("gray", imgs["gray"]),
                  ("1bit", imgs["gray"].convert("1"))):
        b = io.BytesIO(); im.save(b, "BMP"); write(os.path.join(out, "bmp_%s.bmp" % k), b.getvalue())


def npy_seeds(out):
    rng = np.random.default_rng(2)
    arrays = {
        "f4_4d": rng.standard_normal((1, 3, 4, 4)).astype(np.float32), "f8": rng.standard_normal(5),
        "i8": np.arange(6, dtype=np.int64).reshape(2, 3), "i4": np.arange(4, dtype=np.int32),
        "u1": np.arange(7, dtype=np.uint8), "scalar": np.array(3.5, np.float32),
        "empty": np.zeros((0, 3), np.float32), "nan": np.array([np.nan, np.inf, -np.inf], np.float32),
        "bigendian": np.arange(3, dtype=">f4"), "fortran": np.asfortranarray(np.ones((2, 3), np.float32)),
    }
    for k, a in arrays.items():
        b = io.BytesIO(); np.save(b, a); write(os.path.join(out, k + ".npy"), b.getvalue())
    for ver in ((2, 0), (3, 0)):
        b = io.BytesIO(); np.lib.format.write_array(b, arrays["f4_4d"][0, 0], version=ver)
        write(os.path.join(out, "v%d.npy" % ver[0]), b.getvalue())


def label_seeds(out):
    texts = {
        "fashion": ("T-shirt/top\nTrouser\nPullover\nDress\nCoat\nSandal\nShirt\nSneaker\nBag\nAnkle boot", "coat", "0.2860"),
        "imagenet": ("tench, Tinca tinca\ngoldfish, Carassius auratus\ngreat white shark (white shark)\r\n", "Goldfish", "0.485,0.456,0.406"),
        "dups": ("cat\ncat\nCat\ndog (hound)\n", "CAT", "1,2,3,4,5"),
        "empty": ("", "", ""),
        "odd": ("\n\n\r\n(,) ,\n((((", "(", "nan,inf,1e39"),
    }
    for k, (t, q, f) in texts.items():
        write(os.path.join(out, k + ".txt"), (t + "\0" + q + "\0" + f).encode())


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    onnx_seeds(os.path.join(out, "onnx"))
    image_seeds(os.path.join(out, "image"))
    npy_seeds(os.path.join(out, "npy"))
    label_seeds(os.path.join(out, "labels"))
    for t in ("onnx", "image", "npy", "labels"):
        print("seeds/%s: %d files" % (t, len(os.listdir(os.path.join(out, t)))))


if __name__ == "__main__":
    main()
