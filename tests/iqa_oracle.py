#!/usr/bin/python3
"""Oracle test of `contrastcam iqa`'s library: a random-weight WaDIQaM-FR
(tools/export_wadiqam.py, seed 0, He init) and the method.md algorithm in
PyTorch (tools/iqa_reference.py, one window at a time, one backward pass per
map) against the C library (tests/iqa_runner.c, batched windows, one
backward for both maps) on the shared TID2013 pair I21 / i21_21_5:
  - the image score and every patch's h and w;
  - for 24 windows (corners, borders, past the border, random interior): h,
    the pre-ReLU map at dist_conv10, the "Why s?" and "Why s, rather than
    q?" maps (32 x 32), for q = 0.75 (above every window's h: the contrast
    is the negated, scaled map) and q = -1 (below every h: the scaled
    Grad-CAM map), each PyTorch map from its own backward pass;
  - on a 96 x 80 crop at stride 8: the crop score, every window's h and both
    composited maps, for the mean and the reference (blurred-mask) compositing.
Tolerance: 1e-3 relative (maps: of the largest value of the oracle's maps).
usage: iqa_oracle.py RUNNER FIXTURES_DIR SHARED_DIR
"""
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import iqa_reference as ref  # noqa: E402
from export_wadiqam import export, make_model  # noqa: E402

fails = 0
checks = 0


def check(name, ours, want, scale=None, tol=1e-3):
    global fails, checks
    checks += 1
    ours = np.asarray(ours, np.float64)
    want = np.asarray(want, np.float64)
    if ours.shape != want.shape:
        print("FAIL %s: shape %s, oracle %s" % (name, ours.shape, want.shape))
        fails += 1
        return
    s = scale if scale is not None else max(np.abs(want).max(), 1e-6)
    d = np.abs(ours - want).max() if ours.size else 0.0
    ok = d <= tol * s
    print("%s %-34s max|diff| %.3g (scale %.3g, rel %.2e)" % ("ok  " if ok else "FAIL", name, d, s, d / s))
    if not ok:
        fails += 1


def main():
    runner, fix, shared = sys.argv[1:4]
    torch.set_num_threads(1)
    model = make_model(0, "he")
    onnx_path = os.path.join(fix, "wadiqam_fr_seed0_he.onnx")
    if not os.path.exists(onnx_path):
        export(model, onnx_path, meta={"iqa.weights": "random, torch.manual_seed(0), init he"})
    rp = os.path.join(shared, "iqa", "reference", "I21.BMP")
    dp = os.path.join(shared, "iqa", "distorted", "i21_21_5.bmp")
    rpil, _ = ref.load_rgb(rp)
    dpil, _ = ref.load_rgb(dp)
    w, h = dpil.size
    rng = np.random.RandomState(1)
    wins = [(0, 0), (0, 508), (380, 0), (380, 508), (376, 256), (100, 500), (200, 3), (352, 480)]
    while len(wins) < 24:
        wins.append((4 * rng.randint(0, 95), 4 * rng.randint(0, 127)))
    wnp = os.path.join(fix, "iqa_windows.npy")
    np.save(wnp, np.array(wins, np.float32))
    crop = (200, 150, 96, 80, 8)   # x, y, w, h, stride

    for target in (0.75, -1.0):
        out = os.path.join(fix, "iqa_out_%g" % target)
        os.makedirs(out, exist_ok=True)
        # batch 5 (windows do not fill the last batch), 2 worker threads
        cmd = [runner, onnx_path, rp, dp, out, repr(target), wnp, "5", "2"] + [str(v) for v in crop]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print("FAIL runner exit %d: %s" % (r.returncode, r.stderr))
            return 1
        print(r.stdout.strip())
        L = lambda n: np.load(os.path.join(out, n))  # noqa: E731
        if target == 0.75:
            s, pq, pw = ref.image_score(model, dpil, rpil)
            check("image score", L("score.npy")[0], s, scale=abs(s))
            check("patch h", L("patch_q.npy").reshape(-1), pq)
            check("patch w", L("patch_w.npy").reshape(-1), pw)
        hs, pre, why, con = [], [], [], []
        for y, x in wins:
            a, b, c, d = ref.window(model, dpil, rpil, y, x, target)
            hs.append(a); pre.append(b); why.append(c); con.append(d)
        tag = " (q=%g)" % target
        check("window h" + tag, L("h.npy"), hs)
        check("window pre-ReLU map" + tag, L("premap.npy"), pre)
        sw = max(np.abs(why).max(), 1e-12)
        sc = max(np.abs(con).max(), 1e-12)
        check("window Why s?" + tag, L("why.npy"), why, scale=sw)
        check("window Why s, rather than q?" + tag, L("contrast.npy"), con, scale=sc)
        nz = sum(1 for m in con if m.max() > 0)
        print("     (%d of %d contrast maps non-zero, %d of %d Grad-CAM maps)" % (nz, len(con), sum(1 for m in why if m.max() > 0), len(why)))
        # the crop: score, windows, composites
        cx, cy, cw, chh, st = crop
        rc, dc = rpil.crop((cx, cy, cx + cw, cy + chh)), dpil.crop((cx, cy, cx + cw, cy + chh))
        pos = ref.grid(chh, cw, st)
        res = [ref.window(model, dc, rc, y, x, target) for y, x in pos]
        cs, _, _ = ref.image_score(model, dc, rc)
        check("crop score" + tag, L("crop_score.npy")[0], cs, scale=abs(cs))
        check("crop window h" + tag, L("crop_window_q.npy").reshape(-1), [t[0] for t in res])
        for mode, fname in (("mean", "mean"), ("reference", "ref")):
            for k, kind in ((2, "why"), (3, "contrast")):
                want = ref.composite([t[k] for t in res], pos, chh, cw, mode)
                check("composite %s %s%s" % (mode, kind, tag), L("comp_%s_%s.npy" % (fname, kind)), want,
                      scale=max(np.abs(want).max(), 1e-12))
    print("%d checks, %d failed" % (checks, fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
