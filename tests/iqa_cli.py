"""End-to-end checks of `contrastcam iqa` (run by tests/test_iqa_cli.sh): a
run on a crop of the shared TID2013 pair (or a synthetic pair) with the
shipped models/iqa_fr.onnx (files, JSON, score = weighted patch mean, map
shapes, both compositings) and every error case with its exit status.
Exit 0 = all passed, 1 = a check failed, 77 = model or Python modules missing."""
import json, os, shutil, subprocess, sys, tempfile

import numpy as np
from PIL import Image

from clicheck import CLI, SHARED, check, summary

MODEL = "models/iqa_fr.onnx"


def run(*args):
    p = subprocess.run([CLI, "iqa"] + [str(a) for a in args], capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def expect_error(args, code, words, what):
    rc, out, err = run(*args)
    ok = rc == code and all(w.lower() in err.lower() for w in words)
    check(ok, f"{what}: exit {rc} (want {code}), stderr: {err.strip()[:170]!r}")


def one_input_model(path):
    import onnx
    from onnx import helper, TensorProto
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 32, 32])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "one", [x], [y])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


def main():
    if not os.path.exists(MODEL):
        print(f"skip: {MODEL} missing (train it: make BUILD=... all && build/tools/train_iqa {MODEL})")
        return 77
    tmp = tempfile.mkdtemp(prefix="cc-iqa-")
    try:
        tid = os.path.join(SHARED, "iqa")
        if os.path.exists(os.path.join(tid, "reference", "I21.BMP")):
            r = Image.open(os.path.join(tid, "reference", "I21.BMP")).convert("RGB").crop((180, 100, 280, 172))
            d = Image.open(os.path.join(tid, "distorted", "i21_21_5.bmp")).convert("RGB").crop((180, 100, 280, 172))
        else:
            rng = np.random.RandomState(0)
            yy, xx = np.mgrid[0:72, 0:100]
            a = (127 + 80 * np.sin(xx / 6.0) * np.cos(yy / 9.0)).astype(np.uint8)
            r = Image.fromarray(np.stack([a, a[::-1], 255 - a], -1))
            d = Image.fromarray((np.asarray(r, np.int16) + rng.randint(-30, 30, (72, 100, 3))).clip(0, 255).astype(np.uint8))
        rp, dp = os.path.join(tmp, "ref.png"), os.path.join(tmp, "dist.png")
        r.save(rp); d.save(dp)
        outd = os.path.join(tmp, "out")
        rc, out, err = run(MODEL, "--ref", rp, "--dist", dp, "--stride", "8", "--target", "0.9", "--out", outd, "--json")
        check(rc == 0, f"iqa on a 100x72 pair: exit {rc} {err.strip()[:200]}")
        if rc == 0:
            j = json.loads(out)
            files = ["why.npy", "why.png", "why_rather_than.npy", "why_rather_than.png", "window_scores.npy",
                     "patch_scores.npy", "patch_weights.npy", "iqa.json"]
            check(all(os.path.exists(os.path.join(outd, f)) for f in files), "all output files written")
            check(not [f for f in os.listdir(outd) if f.startswith(".")], "no staging leftovers")
            pq, pw = np.load(os.path.join(outd, "patch_scores.npy")), np.load(os.path.join(outd, "patch_weights.npy"))
            check(pq.shape == (2, 3) and j["n_patches"] == 6, f"patch grid {pq.shape} (range(0, h-32, 32)): 2x3")
            s = float((pq.astype(np.float64) * pw).sum() / pw.sum())
            check(abs(s - j["score"]) <= 1e-5 * max(1, abs(s)), f"score {j['score']} = weighted patch mean {s:.6f}")
            ws = np.load(os.path.join(outd, "window_scores.npy"))
            check(ws.shape == (8, 12) and j["windows"]["count"] == 96, f"window grid {ws.shape}: 8x12 at stride 8")
            for name in ("why", "why_rather_than"):
                m = np.load(os.path.join(outd, name + ".npy"))
                png = Image.open(os.path.join(outd, name + ".png"))
                check(m.shape == (72, 100) and m.min() >= 0 and np.isfinite(m).all() and png.size == (100, 72),
                      f"{name}: map {m.shape}, min {m.min():.3g}, max {m.max():.3g}, png {png.size}")
            check(j["target"] == 0.9 and j["layer"] == "dist_conv10" and j["composite"] == "mean" and "ssim_luminance" in j,
                  "iqa.json fields")
        rc, out, err = run(MODEL, "--ref", rp, "--dist", dp, "--stride", "16", "--composite", "reference", "--batch", "7",
                           "--out", os.path.join(tmp, "out2"))
        check(rc == 0 and json.load(open(os.path.join(tmp, "out2", "iqa.json")))["composite"] == "reference",
              f"--composite reference --batch 7: exit {rc}")
        if rc == 0 and os.path.exists(os.path.join(outd, "iqa.json")):
            a = json.load(open(os.path.join(outd, "iqa.json")))["score"]
            b = json.load(open(os.path.join(tmp, "out2", "iqa.json")))["score"]
            check(abs(a - b) <= 1e-5, f"score independent of batch size and stride: {a} vs {b}")
        # errors
        small = os.path.join(tmp, "small.png"); r.crop((0, 0, 32, 40)).save(small)
        small2 = os.path.join(tmp, "small2.png"); d.crop((0, 0, 32, 40)).save(small2)
        other = os.path.join(tmp, "other.png"); r.crop((0, 0, 90, 72)).save(other)
        never = os.path.join(tmp, "never")
        expect_error([MODEL, "--ref", rp, "--dist", other, "--out", never], 3, ["differ in size", "100x72", "90x72"], "images of different sizes")
        check(not os.path.exists(never), "nothing written after an error")
        expect_error([MODEL, "--ref", small, "--dist", small2], 3, ["too small", "33x33"], "images no larger than a patch")
        one = os.path.join(tmp, "one_input.onnx")
        one_input_model(one)
        expect_error([one, "--ref", rp, "--dist", dp], 3, ["not a full-reference", "two"], "one-input model")
        expect_error([os.path.join(tmp, "missing.onnx"), "--ref", rp, "--dist", dp], 3, ["cannot open model"], "missing model")
        expect_error([MODEL, "--ref", rp, "--dist", os.path.join(tmp, "nope.png")], 3, ["distorted image", "nope.png"], "missing image")
        expect_error([MODEL, "--ref", rp], 2, ["--dist"], "no --dist")
        expect_error([MODEL, "--dist", dp], 2, ["--ref"], "no --ref")
        expect_error(["--ref", rp, "--dist", dp], 2, ["model"], "no model")
        expect_error([MODEL, "--ref", rp, "--dist", dp, "--composite", "max"], 2, ["--composite"], "bad --composite")
        expect_error([MODEL, "--ref", rp, "--dist", dp, "--stride", "0"], 2, ["--stride"], "--stride 0")
        expect_error([MODEL, "--ref", rp, "--dist", dp, "--target", "abc"], 2, ["--target"], "bad --target")
        expect_error([MODEL, "--ref", rp, "--dist", dp, "--patch", "16"], 2, ["--patch", "32"], "--patch differs from the model")
        expect_error([MODEL, "--ref", rp, "--dist", dp, "--layer", "nope"], 2, ["nope"], "unknown --layer")
        expect_error([MODEL, "--ref", rp, "--dist", dp, "--bogus"], 2, ["unknown option"], "unknown option")
        rc, out, err = run("--help")
        check(rc == 0 and "--composite" in out, "--help")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
