"""End-to-end checks of the `contrastcam` CLI (run by tests/test_cli.sh).

Real pretrained models from ../shared/models: top-5 predictions against the
ONNX Runtime numbers in expected.json, explanations of the paper's examples
(files, JSON, maps not flat), and every documented error with its exit status.
Exit 0 = all passed, 1 = a check failed, 77 = ../shared missing (skip)."""
import json, os, shutil, subprocess, sys, tempfile

import numpy as np

from clicheck import CLI, SHARED, check, summary

MODELS = os.path.join(SHARED, "models")


def run(*args):
    p = subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def expect_error(args, code, words, what):
    rc, out, err = run(*args)
    lines = [l for l in err.strip().splitlines() if l]
    ok = rc == code and len(lines) >= 1 and all(w.lower() in err.lower() for w in words)
    check(ok, f"{what}: exit {rc} (want {code}), stderr: {err.strip()[:160]!r}")


def test_errors(tmp):
    m = os.path.join(MODELS, "mobilenet_v2_imagenet.onnx")
    img = os.path.join(MODELS, "images", "224", "cat.png")
    expect_error(["explain", os.path.join(tmp, "missing.onnx"), img], 3, ["cannot open model", "no such file"], "missing model")
    expect_error(["explain", tmp, img], 3, ["directory"], "model is a directory")
    expect_error(["explain", m, os.path.join(tmp, "missing.png")], 3, ["missing.png"], "missing image")
    txt = os.path.join(tmp, "notimage.png")
    open(txt, "w").write("this is not an image\n")
    expect_error(["explain", m, txt], 3, ["notimage.png"], "undecodable image")
    expect_error(["explain", m, img, "--layer", "no_such_layer"], 2, ["unknown layer", "no_such_layer"], "unknown layer")
    expect_error(["explain", m, img, "--layer", "logits"], 2, ["without spatial extent"], "layer without spatial extent")
    expect_error(["explain", m, img, "--contrast", "not a label"], 2, ["unknown label"], "unknown label")
    expect_error(["explain", m, img, "--class", "5000"], 2, ["out of range"], "class index out of range")
    expect_error(["explain", m, img, "--contrast", "-1"], 2, ["out of range"], "negative class index")
    expect_error(["explain", m, img, "--target-value", "0.5"], 2, ["single-output"], "--target-value on a classifier")
    expect_error(["explain", m, img, "--bogus"], 2, ["unknown option"], "unknown option")
    expect_error(["frobnicate"], 2, ["unknown command"], "unknown command")
    expect_error(["explain", m], 2, ["no input"], "no input")
    trunc = os.path.join(tmp, "trunc.onnx")
    data = open(m, "rb").read()
    open(trunc, "wb").write(data[: len(data) // 3])
    expect_error(["predict", trunc, img], 3, ["trunc.onnx"], "truncated model")
    bad_npy = os.path.join(tmp, "bad.npy")
    np.save(bad_npy, np.zeros((1, 3, 10, 10), np.float32))
    expect_error(["predict", m, "--input-npy", bad_npy], 3, ["needs"], "npy of the wrong size")
    nan_npy = os.path.join(tmp, "nan.npy")
    x = np.zeros((1, 3, 224, 224), np.float32); x[0, 0, 0, 0] = np.nan
    np.save(nan_npy, x)
    expect_error(["predict", m, "--input-npy", nan_npy], 3, ["nan"], "NaN in the input")
    for cmd in ("predict", "explain", "layers"):
        rc, out, _ = run(cmd, "--help")
        check(rc == 0 and "example" in out and "usage" in out, f"{cmd} --help")
    rc, out, _ = run("--help")
    check(rc == 0 and "exit status" in out, "contrastcam --help documents exit codes")
    # a failed run leaves no output folder / files behind
    outd = os.path.join(tmp, "never")
    run("explain", m, img, "--contrast", "not a label", "--out", outd)
    check(not os.path.exists(outd), "failed run creates no output folder")
    keep = os.path.join(tmp, "keep"); os.makedirs(keep); open(os.path.join(keep, "x"), "w").write("x")
    run("explain", m, img, "--class", "99999", "--out", keep)
    check(sorted(os.listdir(keep)) == ["x"], "failed run leaves an existing folder as it was")


def test_predict():
    exp = json.load(open(os.path.join(MODELS, "expected.json")))["models"]
    for name, spec in exp.items():
        model = os.path.join(MODELS, spec["onnx"])
        for case in spec["cases"]:
            rc, out, err = run("predict", model, os.path.join(MODELS, case["input_file"]), "--json", "--top", 5)
            if rc != 0:
                check(False, f"predict {name} {case['image']}: exit {rc} {err.strip()}")
                continue
            top = json.loads(out)["top"]
            ref = case["onnxruntime_top5"]
            same = [t["class"] for t in top] == [r["index"] for r in ref]
            dp = max(abs(t["prob"] - r["prob"]) for t, r in zip(top, ref))
            dl = max(abs(t["logit"] - r["logit"]) for t, r in zip(top, ref))
            check(same and dp <= 1e-3 and dl <= 1e-3 and top[0]["label"] == ref[0]["label"],
                  f"predict {name} {case['image']}: top-5 {'same' if same else 'DIFFERENT'}, max prob diff {dp:.2e}, logit diff {dl:.2e}")


def explain(tmp, tag, model, image, *extra):
    outd = os.path.join(tmp, tag)
    rc, out, err = run("explain", os.path.join(MODELS, model), image, "--out", outd, "--json", *extra)
    if rc != 0:
        check(False, f"explain {tag}: exit {rc}: {err.strip()}")
        return None, outd
    j = json.loads(out)
    j2 = json.load(open(os.path.join(outd, "explain.json")))
    check(j == j2, f"explain {tag}: --json equals explain.json")
    for key in ("model", "input", "layer", "P", "P_label", "P_prob", "top", "maps"):
        check(key in j, f"explain {tag}: explain.json has '{key}'")
    for mp in j["maps"]:
        arr = np.load(os.path.join(outd, mp["npy"]))
        png = os.path.join(outd, mp["png"])
        ok = (arr.dtype == np.float32 and arr.ndim == 2 and np.isfinite(arr).all() and arr.min() >= 0 and arr.max() <= 1
              and not mp["flat"] and arr.max() == 1.0 and os.path.getsize(png) > 1000
              and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n")
        check(ok, f"explain {tag}: {mp['kind']} Q={mp.get('Q')} map {arr.shape} in [0,1], not flat, png written")
    check(not [f for f in os.listdir(outd) if f.startswith(".")], f"explain {tag}: no staging leftovers")
    return j, outd


def test_explain(tmp):
    paper = os.path.join(SHARED, "images", "paper")
    j, _ = explain(tmp, "catdog", "mobilenet_v2_imagenet.onnx", os.path.join(paper, "cat_dog.png"), "--contrast", "boxer,top:2,244")
    if j:
        check(j["P_label"] == "bull mastiff" and abs(j["P_prob"] - 0.83) < 0.02, f"cat_dog: P = {j['P_label']} {j['P_prob']:.3f} (paper: bull mastiff 0.83)")
        check(j["top"][1]["label"] == "boxer" and abs(j["top"][1]["prob"] - 0.14) < 0.02, f"cat_dog: second = {j['top'][1]['label']} {j['top'][1]['prob']:.3f} (boxer 0.14)")
        qs = [m["Q"] for m in j["maps"] if m["kind"] == "contrast"]
        check(qs == [243, 255, 244], f"cat_dog: contrasts boxer, top:2 (deduplicated), Q=P: {qs}")
        check(j["layer"] == "out_relu", "cat_dog: default layer out_relu")
    j, _ = explain(tmp, "bird", "mobilenet_v2_inat_birds.onnx", os.path.join(MODELS, "images", "bird.png"), "--contrast", "Carolina Chickadee")
    if j:
        check("Black-capped" in j["P_label"] and "Carolina" in j["maps"][1]["Q_label"], f"bird: {j['P_label']} rather than {j['maps'][1]['Q_label']}")
    j, _ = explain(tmp, "waterbird", "mobilenet_v2_imagenet.onnx", os.path.join(paper, "water-bird.JPEG"), "--contrast", "flamingo")
    if j:
        check("spoonbill" in j["P_label"], f"water-bird: P = {j['P_label']} (spoonbill expected)")
    j, outd = explain(tmp, "seismic", "seismic_fault_cnn_f3_finetuned.onnx", os.path.join(MODELS, "images", "seismic", "fault_00.png"), "--contrast", "all")
    if j:
        check(j["P_label"] == "fault", f"seismic: P = {j['P_label']}")
        ac = j.get("all_contrasts", {})
        check(ac.get("count") == 1 and os.path.exists(os.path.join(outd, ac["mean"]["npy"])), "seismic: all-contrast mean written")
    j, outd = explain(tmp, "all", "mobilenet_v1_025_128_imagenet.onnx", os.path.join(MODELS, "images", "128", "cat.png"), "--contrast", "all", "--save-all")
    if j:
        ac = j["all_contrasts"]
        allm = np.load(os.path.join(outd, "contrast_all.npy"))
        P = j["P"]
        others = np.delete(allm, P, axis=0)
        mean = np.load(os.path.join(outd, ac["mean"]["npy"]))
        var = np.load(os.path.join(outd, ac["variance"]["npy"]))
        check(allm.shape == (1001, 128, 128) and ac["count"] == 1000, f"all-Q: {allm.shape} maps, {ac['count']} contrasts")
        check(np.abs(others.mean(0) - mean).max() < 1e-5 and np.abs(others.var(0) - var).max() < 1e-5, "all-Q: mean and variance agree with the saved maps")
        check(len(ac["most_informative"]) == 10, "all-Q: ranking of the most informative contrasts")


def main():
    if not os.path.isdir(MODELS):
        print(f"SKIP: {MODELS} not found (the shared models are needed for these tests)")
        return 77
    if not os.access(CLI, os.X_OK):
        print(f"FAIL: {CLI} not built")
        return 1
    tmp = tempfile.mkdtemp(prefix="cc-cli-")
    try:
        test_errors(tmp)
        test_predict()
        test_explain(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
