"""Hostile and malformed inputs to the `contrastcam` command (run by
tests/test_hostile.sh, also against the sanitizer build: BUILD=build-san).

Every case must end with the documented exit status (3 = bad input, 2 =
usage) and exactly one line on stderr, "contrastcam: ...", that names the
problem; a sanitizer report (several lines, exit 1) fails it.  The corpus is
made here from models/fashion_cnn.onnx and generated files: truncated and
bit-flipped models, wrong magic, empty files, directories and FIFOs given as
files, huge dimensions, cyclic graphs, duplicate names, initializers whose
data does not match their shape, negative dimensions, attributes of the wrong
type, tensors above the configured size limit, corrupt and truncated
PNG/JPEG/BMP, a 100000x100000 PNG header, NaN and Inf inputs, labels files
that are directories or binary.  Finally, a failing `explain` leaves the
output folder exactly as it was.  Exit 0 = all passed, 1 = a check failed,
77 = skipped (numpy/PIL/onnx missing)."""
import os, shutil, struct, subprocess, sys, tempfile, zlib

try:
    import numpy as np
    from PIL import Image
    import onnx
    from onnx import TensorProto as TP, helper as h, numpy_helper as nh
except ImportError as e:
    print(f"skip: {e}")
    sys.exit(77)

from clicheck import CLI, check, summary

MODEL = "models/fashion_cnn.onnx"


def run(args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True, timeout=300, env=e)
    return p.returncode, p.stdout, p.stderr


def expect(args, code, words, what, env=None):
    rc, out, err = run(args, env)
    lines = err.splitlines()
    one = len(lines) == 1 and lines[0].startswith("contrastcam: ")
    named = all(w.lower() in err.lower() for w in words)
    check(rc == code and one and named,
          f"{what}: exit {rc} (want {code}), {len(lines)} stderr line(s): {err.strip()[:300]!r}")


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)


def tiny_model(path, nodes, inputs, outputs, inits=(), opset=13, tweak=None):
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info(n, TP.FLOAT, s) for n, s in inputs],
                     [h.make_tensor_value_info(n, TP.FLOAT, None) for n in outputs], list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 8
    if tweak:
        tweak(m)
    return write(path, m.SerializeToString())


def main():
    if not os.path.exists(CLI):
        print(f"FAIL: {CLI} not built")
        return 1
    tmp = tempfile.mkdtemp(prefix="cc_hostile_")
    try:
        return cases(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cases(tmp):
    P = lambda name: os.path.join(tmp, name)
    img = P("shirt.png")
    Image.fromarray((np.arange(28 * 28) % 251).astype(np.uint8).reshape(28, 28)).save(img)
    rc, out, err = run(["predict", MODEL, img])
    check(rc == 0, f"control: predict on a valid model and image works (exit {rc})")
    data = open(MODEL, "rb").read()

    # ---- models ----
    for frac in (0.0005, 0.3, 0.999):
        t = write(P(f"trunc{frac}.onnx"), data[: int(len(data) * frac)])
        expect(["predict", t, img], 3, [os.path.basename(t)], f"model truncated to {frac:.2%}")
    flipped = bytearray(data)
    flipped[0] ^= 0xFF                      # the first field tag: wire type 7 does not exist
    expect(["predict", write(P("flip0.onnx"), bytes(flipped)), img], 3, ["not a valid onnx model"], "bit-flipped model header")
    flipped = bytearray(data)
    for i in range(1, 200, 7):             # many flips in the graph structure
        flipped[i] ^= 0x40
    rc, out, err = run(["predict", write(P("flips.onnx"), bytes(flipped)), img])
    check(rc in (0, 3) and (rc == 0 or (len(err.splitlines()) == 1 and "flips.onnx" in err)),
          f"model with 29 flipped bytes: exit {rc}, {err.strip()[:200]!r}")
    expect(["predict", img, img], 3, ["not a valid onnx model"], "wrong magic (a PNG given as the model)")
    expect(["predict", write(P("empty.onnx"), b""), img], 3, ["empty"], "empty model file")
    expect(["predict", write(P("zeros.onnx"), bytes(4096)), img], 3, ["zeros.onnx"], "model of zero bytes")
    expect(["predict", tmp, img], 3, ["directory"], "directory given as the model")
    expect(["predict", P("missing.onnx"), img], 3, ["no such file"], "missing model")
    fifo = P("fifo.onnx")
    os.mkfifo(fifo)
    expect(["predict", fifo, img], 3, ["not a regular file"], "FIFO given as the model (must not hang)")

    x = [("x", [1, 1, 28, 28])]
    relu = [h.make_node("Relu", ["x"], ["y"])]
    def w(name, *shape):
        return nh.from_array(np.ones(shape, np.float32), name)
    expect(["predict", tiny_model(P("huge_in.onnx"), relu, [("x", [1, 1, 100000, 100000])], ["y"]), img], 3,
           ["size limit", "x"], "graph input of 100000x100000 (40 GB)")
    def huge_init(m):
        t = m.graph.initializer.add()
        t.name, t.data_type = "big", TP.FLOAT
        t.dims.extend([1 << 40, 1 << 40])
    expect(["predict", tiny_model(P("huge_dims.onnx"), relu, x, ["y"], tweak=huge_init), img], 3,
           ["big", "too large"], "initializer with dims 2^40 x 2^40")
    def neg_init(m):
        t = m.graph.initializer.add()
        t.name, t.data_type = "neg", TP.FLOAT
        t.dims.extend([2, -3])
    expect(["predict", tiny_model(P("neg_dims.onnx"), relu, x, ["y"], tweak=neg_init), img], 3,
           ["neg", "negative dimension"], "initializer with a negative dimension")
    expect(["predict", tiny_model(P("zero_dim.onnx"), relu, [("x", [1, 0, 28, 28])], ["y"]), img], 3,
           ["zero or negative dimension"], "graph input with a zero dimension")
    def short_raw(m):
        t = m.graph.initializer.add()
        t.name, t.data_type = "w", TP.FLOAT
        t.dims.extend([4, 4])
        t.raw_data = bytes(60)
    expect(["predict", tiny_model(P("short_raw.onnx"), relu, x, ["y"], tweak=short_raw), img], 3,
           ["raw_data holds 60 bytes", "needs 64"], "initializer shorter than its shape")
    cyc = [h.make_node("Add", ["x", "c"], ["a"]), h.make_node("Relu", ["a"], ["b"]),
           h.make_node("Relu", ["b"], ["c"]), h.make_node("Identity", ["b"], ["y"])]
    expect(["predict", tiny_model(P("cycle.onnx"), cyc, x, ["y"]), img], 3, ["cycle"], "cyclic graph")
    expect(["predict", tiny_model(P("dup_init.onnx"), relu, x, ["y"], inits=[w("k", 2), w("k", 2)]), img], 3,
           ["'k' defined twice"], "two initializers with the same name")
    twice = [h.make_node("Relu", ["x"], ["y"]), h.make_node("Sigmoid", ["x"], ["y"])]
    expect(["predict", tiny_model(P("dup_out.onnx"), twice, x, ["y"]), img], 3, ["produced twice"], "tensor produced by two nodes")
    expect(["predict", tiny_model(P("dup_gout.onnx"), relu, x, ["y", "y"]), img], 3, ["'y' declared twice"],
           "graph output declared twice")
    expect(["predict", tiny_model(P("noname_in.onnx"), relu, x + [("", [1])], ["y"]), img], 3, ["input without a name"],
           "graph input without a name")
    expect(["predict", tiny_model(P("undef.onnx"), [h.make_node("Add", ["x", "ghost"], ["y"])], x, ["y"]), img], 3,
           ["ghost"], "node input that nothing defines")
    expect(["predict", tiny_model(P("noout.onnx"), relu, x, ["nothing"]), img], 3, ["nothing"], "graph output nothing produces")
    bad_attr = [h.make_node("Conv", ["x", "cw"], ["y"], kernel_shape=3.5)]
    expect(["predict", tiny_model(P("attr_type.onnx"), bad_attr, x, ["y"], inits=[w("cw", 1, 1, 3, 3)]), img], 3,
           ["kernel_shape", "type"], "attribute of the wrong type (kernel_shape given as a float)")
    expect(["predict", tiny_model(P("opset.onnx"), relu, x, ["y"], opset=99), img], 3, ["opset 99"], "opset out of range")
    deep = [h.make_node("Relu", ["x" if i == 0 else f"t{i}"], [f"t{i + 1}"]) for i in range(64)]
    deep.append(h.make_node("Identity", ["t64"], ["y"]))
    expect(["predict", tiny_model(P("deep.onnx"), deep, x, ["y"]), img], 3, ["more than 32 nodes"],
           "graph deeper than the configured node limit", env={"CONTRASTCAM_MAX_NODES": "32"})
    expect(["predict", MODEL, img], 3, ["size limit", "CONTRASTCAM_MAX_TENSOR_BYTES"],
           "weights above CONTRASTCAM_MAX_TENSOR_BYTES=1000", env={"CONTRASTCAM_MAX_TENSOR_BYTES": "1000"})
    expect(["predict", MODEL, img], 2, ["CONTRASTCAM_MAX_TENSOR_BYTES"], "malformed limit variable",
           env={"CONTRASTCAM_MAX_TENSOR_BYTES": "lots"})

    # ---- images ----
    png = open(img, "rb").read()
    expect(["predict", MODEL, write(P("trunc.png"), png[: len(png) // 2])], 3, ["trunc.png", "png"], "truncated PNG")
    bad = bytearray(png)
    for i in range(60, len(bad) - 12, 3):
        bad[i] ^= 0x5A
    expect(["predict", MODEL, write(P("corrupt.png"), bytes(bad))], 3, ["corrupt.png"], "corrupt PNG data")
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + png_chunk(b"IEND", b"")
    expect(["predict", MODEL, write(P("bomb.png"), bomb)], 3, ["100000x100000", "limit"], "PNG header of 100000x100000 (decompression bomb)")
    expect(["predict", MODEL, img], 3, ["28x28", "limit of 100"], "image above CONTRASTCAM_MAX_IMAGE_PIXELS=100",
           env={"CONTRASTCAM_MAX_IMAGE_PIXELS": "100"})
    jpg = P("ok.jpg")
    Image.open(img).convert("RGB").save(jpg, quality=90)
    jd = open(jpg, "rb").read()
    expect(["predict", MODEL, write(P("trunc.jpg"), jd[:200])], 3, ["trunc.jpg", "jpeg"], "truncated JPEG")
    expect(["predict", MODEL, write(P("dht.jpg"), open("tests/regress/image/jpeg-dht-over-256-codes.jpg", "rb").read())], 3,
           ["huffman"], "JPEG whose DHT declares more than 256 codes (fuzz finding)")
    bmp = P("ok.bmp")
    Image.open(img).save(bmp)
    bd = open(bmp, "rb").read()
    expect(["predict", MODEL, write(P("trunc.bmp"), bd[:40])], 3, ["trunc.bmp"], "truncated BMP")
    bb = bytearray(bd)
    bb[18:22] = struct.pack("<i", 100000)
    bb[22:26] = struct.pack("<i", 100000)
    expect(["predict", MODEL, write(P("big.bmp"), bytes(bb))], 3, ["100000x100000", "limit"], "BMP header of 100000x100000")
    expect(["predict", MODEL, write(P("empty.png"), b"")], 3, ["empty"], "empty image file")
    expect(["predict", MODEL, write(P("text.png"), b"hello\n")], 3, ["not a png/jpeg/bmp"], "text file given as the image")
    expect(["predict", MODEL, tmp], 3, ["directory"], "directory given as the image")
    expect(["predict", MODEL, fifo], 3, ["not a regular file"], "FIFO given as the image (must not hang)")
    expect(["predict", MODEL, "--input-npy", fifo], 3, ["not a regular file"], "FIFO given as the .npy (must not hang)")

    # ---- .npy inputs ----
    for name, val in (("nan", np.nan), ("inf", np.inf), ("ninf", -np.inf)):
        a = np.zeros((1, 1, 28, 28), np.float32)
        a[0, 0, 3, 4] = val
        f = P(name + ".npy")
        np.save(f, a)
        expect(["predict", MODEL, "--input-npy", f], 3, ["nan or infinite"], f"{name} in an .npy input")
    good = P("good.npy")
    np.save(good, np.zeros((1, 1, 28, 28), np.float32))
    gd = open(good, "rb").read()
    expect(["predict", MODEL, "--input-npy", write(P("trunc.npy"), gd[:-10])], 3, ["data size mismatch"], "truncated .npy")
    expect(["predict", MODEL, "--input-npy", write(P("magic.npy"), b"\x93NUMPX" + gd[6:])], 3, ["not a .npy"], ".npy with wrong magic")
    expect(["predict", MODEL, "--input-npy", write(P("empty.npy"), b"")], 3, ["not a .npy"], "empty .npy")
    expect(["predict", MODEL, "--input-npy", tmp], 3, ["directory"], "directory given as the .npy")
    hdr = b"{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 100000, 100000, 100000), }"
    hdr = hdr + b" " * (118 - len(hdr)) + b"\n"
    expect(["predict", MODEL, "--input-npy", write(P("huge.npy"), b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr)], 3,
           ["too large"], ".npy header with 10^25 elements")

    # ---- labels ----
    expect(["predict", MODEL, img, "--labels", tmp], 3, ["labels", "directory"], "directory given as the labels file")
    expect(["predict", MODEL, img, "--labels", write(P("bin.txt"), b"a\0b\n")], 3, ["not a text file"], "binary labels file")
    expect(["predict", MODEL, img, "--labels", P("nolabels.txt")], 3, ["no such file"], "missing labels file")

    # ---- a failing explain leaves the output folder as it was ----
    out = P("out")
    rc, _, err = run(["explain", MODEL, img, "--out", out, "--contrast", "top:1"])
    check(rc == 0, f"explain into a fresh folder works (exit {rc}, {err.strip()[:200]!r})")
    def snapshot(d):
        res = {}
        for root, dirs, files in os.walk(d):
            for f in dirs + files:
                p = os.path.join(root, f)
                res[os.path.relpath(p, d)] = open(p, "rb").read() if os.path.isfile(p) else None
        return res
    before = snapshot(out)
    os.remove(os.path.join(out, "explain.json"))
    os.mkdir(os.path.join(out, "explain.json"))          # a folder where a file goes: the move must fail
    open(os.path.join(out, "explain.json", "keep"), "w").write("x")
    before = snapshot(out)
    expect(["explain", MODEL, img, "--out", out, "--contrast", "top:2"], 3, ["explain.json", "nothing was written"],
           "explain whose output name is taken by a folder")
    check(snapshot(out) == before, "the output folder is unchanged after that failure (no staging folder left)")
    out2 = P("out2")
    expect(["explain", MODEL, img, "--out", out2, "--contrast", "no_such_label"], 2, ["unknown label"], "explain with a bad label")
    check(not os.path.exists(out2), "a failed explain does not leave a new output folder behind")
    expect(["explain", MODEL, img, "--out", img], 2, ["not a folder"], "--out names a file")

    return summary()


if __name__ == "__main__":
    sys.exit(main())
