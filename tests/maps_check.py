#!/usr/bin/python3
"""Compare `contrastcam explain` maps with the PyTorch reference maps of
tests/gen_maps.py (format documented at the top of that file).

Usage: maps_check.py CONTRASTCAM MAPS_DIR WORK_DIR

For every case and target layer, runs the CLI on the case's input through
`--input-npy` (one run for Grad-CAM and the listed contrasts, one with
`--contrast all` where the reference has the mean and variance, one per
regression target) and compares every normalised .npy map with the
reference: max |difference| <= the case's tol (2e-3 at most).  Also checks
that the CLI picked the same P and flagged flat maps the same way.  Prints
one line per comparison, a summary line last; exit 1 on any mismatch."""
import json
import os
import subprocess
import sys

import numpy as np

MAX_TOL = 2e-3


def parse(case_dir):
    d = {"maps": [], "tol": MAX_TOL}
    with open(os.path.join(case_dir, "maps.txt")) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            k, a = line[0], line[1:]
            if k == "model":
                d["model"] = os.path.join(case_dir, a[0])
            elif k == "input":
                d["input"] = (a[0], os.path.join(case_dir, a[1]))
            elif k == "top":
                d["P"] = int(a[0])
            elif k == "tol":
                d["tol"] = min(float(a[0]), MAX_TOL)
            elif k in ("gradcam", "contrast", "contrast_mean", "contrast_var", "regression"):
                d["maps"].append((k, a))
    return d


def run(cli, args, out):
    r = subprocess.run([cli, "explain"] + args + ["--out", out], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    if r.returncode != 0:
        raise RuntimeError("contrastcam explain %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    with open(os.path.join(out, "explain.json")) as f:
        return json.load(f)


class Checker:
    def __init__(self):
        self.n = 0
        self.bad = 0

    def compare(self, what, got_path, ref_path, tol, ref_flat=None, got_flat=None):
        self.n += 1
        got, ref = np.load(got_path), np.load(ref_path)
        if got.shape != ref.shape:
            self.bad += 1
            print("FAIL %s: shape %s, reference %s" % (what, got.shape, ref.shape))
            return
        diff = float(np.max(np.abs(got.astype(np.float64) - ref)))
        ok = diff <= tol   # NaN fails
        if ref_flat is not None and got_flat is not None and bool(ref_flat) != bool(got_flat):
            ok = False
            what += " (flat flag %s, reference %s)" % (got_flat, ref_flat)
        if not ok:
            self.bad += 1
        print("%s %s: max |diff| %.2e (tol %.0e)" % ("ok  " if ok else "FAIL", what, diff, tol))


def check_case(cli, case_dir, work, ck):
    name = os.path.basename(case_dir)
    c = parse(case_dir)
    tname, npy = c["input"]
    base = ["--input-npy", "%s=%s" % (tname, npy)]
    layers = []
    for k, a in c["maps"]:
        if a[0] not in layers:
            layers.append(a[0])
    for li, layer in enumerate(layers):
        mine = [(k, a) for k, a in c["maps"] if a[0] == layer]
        tag = "%s %s" % (name, layer)
        if any(k == "regression" for k, _ in mine):
            for k, a in mine:
                if k == "gradcam":
                    out = os.path.join(work, "%s_%d_g" % (name, li))
                    j = run(cli, [c["model"]] + base + ["--layer", layer], out)
                    m = [e for e in j["maps"] if e["kind"] == "gradcam"][0]
                    ck.compare("%s gradcam" % tag, os.path.join(out, m["npy"]), os.path.join(case_dir, a[2]), c["tol"],
                               "flat" in a, m["flat"])
                elif k == "regression":
                    q = a[1]
                    out = os.path.join(work, "%s_%d_q%s" % (name, li, q))
                    j = run(cli, [c["model"]] + base + ["--layer", layer, "--target-value", q], out)
                    m = [e for e in j["maps"] if e["kind"] == "regression_contrast"]
                    if len(m) != 1 or abs(float(m[0]["target"]) - float(q)) > 1e-6:
                        ck.n += 1
                        ck.bad += 1
                        print("FAIL %s: no regression_contrast map for q=%s in explain.json" % (tag, q))
                        continue
                    ck.compare("%s regression q=%s" % (tag, q), os.path.join(out, m[0]["npy"]),
                               os.path.join(case_dir, a[2]), c["tol"], "flat" in a, m[0]["flat"])
            continue
        qs = [int(a[2]) for k, a in mine if k == "contrast"]
        out = os.path.join(work, "%s_%d" % (name, li))
        j = run(cli, [c["model"]] + base + ["--layer", layer, "--contrast", ",".join(map(str, qs))], out)
        ck.n += 1
        if j["P"] != c["P"]:
            ck.bad += 1
            print("FAIL %s: P = %s, reference %d" % (tag, j["P"], c["P"]))
            continue
        for k, a in mine:
            if k == "gradcam":
                m = [e for e in j["maps"] if e["kind"] == "gradcam"]
                ck.compare("%s gradcam P=%s" % (tag, a[1]), os.path.join(out, m[0]["npy"]),
                           os.path.join(case_dir, a[2]), c["tol"], "flat" in a, m[0]["flat"])
            elif k == "contrast":
                q = int(a[2])
                m = [e for e in j["maps"] if e["kind"] == "contrast" and e["Q"] == q]
                if len(m) != 1:
                    ck.n += 1
                    ck.bad += 1
                    print("FAIL %s: no contrast map for Q=%d in explain.json" % (tag, q))
                    continue
                ck.compare("%s contrast P=%s Q=%d" % (tag, a[1], q), os.path.join(out, m[0]["npy"]),
                           os.path.join(case_dir, a[3]), c["tol"], "flat" in a, m[0]["flat"])
        allq = [(k, a) for k, a in mine if k in ("contrast_mean", "contrast_var")]
        if allq:
            out = os.path.join(work, "%s_%d_all" % (name, li))
            j = run(cli, [c["model"]] + base + ["--layer", layer, "--contrast", "all"], out)
            ac = j["all_contrasts"]
            for k, a in allq:
                key = "mean" if k == "contrast_mean" else "variance"
                ck.compare("%s all-Q %s" % (tag, key), os.path.join(out, ac[key]["npy"]),
                           os.path.join(case_dir, a[2]), c["tol"])


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    cli, maps, work = sys.argv[1:]
    ck = Checker()
    cases = sorted(d for d in os.listdir(maps) if os.path.isfile(os.path.join(maps, d, "maps.txt")))
    if not cases:
        print("no cases in %s" % maps)
        return 1
    for case in cases:
        try:
            check_case(cli, os.path.join(maps, case), work, ck)
        except (RuntimeError, KeyError, IndexError, OSError) as e:
            ck.n += 1
            ck.bad += 1
            print("FAIL %s: %s" % (case, e))
    print("explanation maps vs PyTorch: %d cases, %d comparisons, %d failed" % (len(cases), ck.n, ck.bad))
    return 1 if ck.bad else 0


if __name__ == "__main__":
    sys.exit(main())
