#!/usr/bin/env python3
"""Turn bench/run.sh's raw JSON lines into the results table (stdout + Markdown file).

usage: report.py RAW.jsonl RESULTS.md [PROFILE_DIR]
"""
import json
import os
import sys


def ms(v):
    if v is None:
        return "n/a"
    if v >= 10000:
        return f"{v / 1000:.1f} s"
    if v >= 100:
        return f"{v:.0f} ms"
    return f"{v:.1f} ms"


def ratio(a, b, suffix="x"):
    if a is None or b is None or b == 0:
        return "n/a"
    r = a / b
    return f"{r:.2f}{suffix}" if r < 10 else f"{r:.0f}{suffix}"


def main():
    raw, md_path = sys.argv[1], sys.argv[2]
    prof_dir = sys.argv[3] if len(sys.argv) > 3 else None
    rows = [json.loads(l) for l in open(raw) if l.strip().startswith("{")]
    machine = next((r for r in rows if r["kind"] == "machine"), {})
    end = next((r for r in rows if r["kind"] == "end"), {})
    gemms = [r for r in rows if r["kind"] == "gemm"]
    gemm = max(gemms, key=lambda r: r["gflops"]) if gemms else None  # the machine's rate: the faster kernels
    rate = gemm["gflops"] if gemm else None  # GFLOP/s, median of 5
    names = []
    for r in rows:
        if r.get("name") and r["name"] not in names:
            names.append(r["name"])

    def get(name, kind, mode=None):
        # several rounds (BENCH_ROUNDS): the round with the lowest median, the
        # one least disturbed by other work on a shared machine
        best = None
        for r in rows:
            if r.get("name") == name and r["kind"] == kind and (mode is None or r.get("mode") == mode):
                if best is None or r.get("median_ms", 0) < best.get("median_ms", 0):
                    best = r
        return best

    def rounds(name, kind, mode=None):
        # every round's record in run order (run.sh alternates ONNX Runtime and ours)
        return [r for r in rows if r.get("name") == name and r["kind"] == kind and (mode is None or r.get("mode") == mode)]

    def paired(name):
        # round by round: ours / ONNX Runtime from the same round, minutes apart at most;
        # how widely these spread says how much a best-round ratio can be trusted
        ort = rounds(name, "ort")
        out = {}
        for mode in ("fwd", "one"):
            ours = rounds(name, "ours", mode)
            out[mode] = [o["median_ms"] / r["median_ms"] for o, r in zip(ours, ort) if r.get("median_ms")]
        return out

    def spread(v):
        if not v:
            return "n/a"
        w = sorted(v)
        med = w[len(w) // 2] if len(w) % 2 else 0.5 * (w[len(w) // 2 - 1] + w[len(w) // 2])
        return f"{w[0]:.2f}-{w[-1]:.2f}x (median {med:.2f}x, {sum(x <= 1.0 for x in v)} of {len(v)} rounds <= 1)"

    head = ["model", "ours fwd", "ORT fwd", "ours/ORT", "ours 1-Q explain", "1-Q / ORT fwd",
            "ours all-Q", "all-Q / 1-Q", "same-forward all-Q / 1-Q", "PyTorch fwd", "PyTorch 1-Q", "PyTorch all-Q (extrap.)",
            "speed-up vs PyTorch fwd / 1-Q / all-Q", "peak RSS fwd / 1-Q / all-Q",
            "FLOP-bound fwd / 1-Q / all-Q"]
    table = []
    details = []
    for n in names:
        info, fl = get(n, "info"), get(n, "flops")
        ort, th = get(n, "ort"), get(n, "torch")
        f, o, a = get(n, "ours", "fwd"), get(n, "ours", "one"), get(n, "ours", "allq")
        C = info["classes"] if info else 1000
        of = f and f["median_ms"]
        oo = o and o["median_ms"]
        oa = a and a["median_ms"]
        rf = ort and ort["median_ms"]
        tf = th and th["fwd_ms"]
        to = th and th["one_ms"]
        ta = th and th["allq_ms_extrapolated"]
        if fl and rate:
            bf = fl["fwd_flops"] / rate / 1e6
            b1 = (fl["fwd_flops"] + fl["after_flops"]) / rate / 1e6
            # all-Q: the forward, every class's weights (the projected chain's multiply-adds
            # when it ran, else C seeds through the layers after the target) and the C maps
            ld = info["layer_dims"] if info else [1, 0, 0, 0]
            maps_flops = 2 * C * ld[1] * ld[2] * ld[3]
            if a and a.get("order") == "projected":
                ba = (fl["fwd_flops"] + 2 * a["proj_macs"] + maps_flops) / rate / 1e6
            else:
                ba = (fl["fwd_flops"] + C * fl["after_flops"] + maps_flops) / rate / 1e6
            bound = f"{ms(bf)} / {ms(b1)} / {ms(ba)}"
        else:
            bound = "n/a"
        rss = " / ".join(f"{x['peak_rss_mb']:.0f}" if x else "n/a" for x in (f, o, a)) + " MB"
        # all-Q's extra work over one explanation, with the 1-Q run's own forward: the
        # separate processes' forward passes differ by more than the extra work on a busy machine
        sf = (o["fwd_part_ms"] + a["cam_part_ms"]) if (o and a) else None
        table.append([n, ms(of), ms(rf), ratio(of, rf), ms(oo), ratio(oo, rf), ms(oa), ratio(oa, oo), ratio(sf, oo),
                      ms(tf), ms(to), ms(ta),
                      f"{ratio(tf, of)} / {ratio(to, oo)} / {ratio(ta, oa)}", rss, bound])
        if info and fl:
            details.append(
                f"- **{n}**: target layer `{info['layer']}` ({info['layer_op']}, "
                f"{'x'.join(str(d) for d in info['layer_dims'])}); "
                f"{fl['fwd_flops'] / 1e9:.2f} GFLOP forward (Conv/Gemm/MatMul), "
                f"{fl['after_flops'] / 1e6:.1f} MFLOP per seed after the target; "
                f"argmax ours {f['argmax'] if f else '?'} / ORT {ort['argmax'] if ort else '?'}"
                + (f" / PyTorch P {th['P']}" if th else "") + "; "
                + (f"ours 1-Q = {ms(o['fwd_part_ms'])} forward + {ms(o['cam_part_ms'])} backward+map; " if o else "")
                + (f"all-Q = {ms(a['fwd_part_ms'])} forward + {ms(a['cam_part_ms'])} every class's weights "
                   f"({a.get('order', '?')}, {a.get('proj_macs', 0) / 1e9:.2f} G multiply-adds) + {C} maps + mean/variance/ranking; "
                   if a else "")
                + (f"all-Q the previous way (C seeds through the batched backward): {ms(get(n, 'ours', 'allq_bwd')['median_ms'])}, "
                   f"peak RSS {get(n, 'ours', 'allq_bwd')['peak_rss_mb']:.0f} MB; " if get(n, 'ours', 'allq_bwd') else "")
                + (f"PyTorch: grad-mode forward {ms(th['fwd_grad_ms'])}, one backward per Q {ms(th['per_q_ms'])} "
                   f"(median of {th['nq_measured']} Q's, x{C} + forward = the extrapolated all-Q); " if th else "")
                + (f"ours forward with GOMP_SPINCOUNT=0: {ms(get(n, 'probe_spin0')['median_ms'])}, "
                   f"single-threaded (OMP_NUM_THREADS=1): {ms(get(n, 'probe_1thr')['median_ms'])}; "
                   if get(n, 'probe_spin0') and get(n, 'probe_1thr') else "")
                + f"model load {info['load_ms']:.0f} ms, RSS after load {info['rss_loaded_mb']:.0f} MB.")

    def md_table(head, rows):
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out)

    lines = ["# contrastcam benchmark", ""]
    lines.append(f"Machine: {machine.get('nproc', '?')} cores, {machine.get('cpu', '?')}; load average at start "
                 f"{machine.get('loadavg_start', '?')}, at end {end.get('loadavg_end', '?')} "
                 "(other work on the machine inflates every column).")
    if gemm:
        lines.append(f"Single-precision GEMM rate (cblas_sgemm, OpenBLAS, 2048^3): {gemm['gflops']:.1f} GFLOP/s "
                     f"median, {gemm['gflops_best']:.1f} best, OpenBLAS kernels {gemm.get('core', '?')}; the FLOP-bound "
                     "limits use the median.")
        for g in gemms:
            if g is not gemm:
                lines.append(f"With the environment's OPENBLAS_CORETYPE={g.get('coretype_env', '?')} (kernels "
                             f"{g.get('core', '?')}, which our runs used wherever they call OpenBLAS): "
                             f"{g['gflops']:.1f} GFLOP/s median.")
    ortv = next((r.get("runtime") for r in rows if r["kind"] == "ort"), None)
    thv = next((r.get("torch") for r in rows if r["kind"] == "torch"), None)
    lines.append(f"Anchors: {ortv or 'ONNX Runtime not run'} (CPU EP, intraOpNumThreads 2, default graph "
                 f"optimisations); PyTorch {thv or 'not run'} (2 threads, hooks as in the reference Grad-CAM code).")
    lines.append("")
    lines.append("Times are medians after warm-up, ONNX Runtime's and ours the best of BENCH_ROUNDS alternating "
                 "rounds (default 5), input 1x3x224x224, C = 1000 classes. "
                 "1-Q = forward + one contrastive map (seed p - onehot(Q), Q = runner-up) upsampled and normalised "
                 "to 224x224; all-Q = forward + Grad-CAM(P) + the maps of every Q with their pixel-wise mean, "
                 "variance and ranking at 224x224 (ours: every class's channel weights in one evaluation, the "
                 "projected matrix chain of src/explain/project.c where the layers after the target allow it; "
                 "PyTorch: one backward per Q with retain_graph, **extrapolated** from the per-Q median). "
                 "same-forward all-Q / 1-Q = (the 1-Q run's forward + all-Q's work after the forward) / 1-Q. "
                 "Speed-up = PyTorch time / ours. Peak RSS = ru_maxrss of a separate process per mode. "
                 "FLOP-bound = Conv/Gemm/MatMul FLOPs / GEMM rate: forward; plus one seed's input-gradient FLOPs "
                 "after the target (1-Q); plus the projected chain's multiply-adds x 2 and the C maps (all-Q).")
    lines.append("")
    lines.append(md_table(head, table))
    lines.append("")
    lines += details
    pr_rows = []
    for n in names:
        pv = paired(n)
        if pv["fwd"] or pv["one"]:
            pr_rows.append([n, spread(pv["fwd"]), spread(pv["one"])])
    if pr_rows:
        lines += ["", "### Round by round: ours / ONNX Runtime within each round", "",
                  "Each round runs ONNX Runtime's forward, then ours (forward, 1-Q, all-Q), each in its own process; "
                  "the ratios of the same round, lowest to highest. The table above divides each side's best round.", "",
                  md_table(["model", "forward / ORT", "1-Q / ORT"], pr_rows)]
    probe = []
    for n in names:
        f, s0, s1, ort = get(n, "ours", "fwd"), get(n, "probe_spin0"), get(n, "probe_1thr"), get(n, "ort")
        if f and s0 and s1:
            probe.append([n, ms(f["median_ms"]), ms(s0["median_ms"]), ms(s1["median_ms"]),
                          ms(ort and ort["median_ms"]), ratio(s1["median_ms"], ort and ort["median_ms"])])
    if probe:
        lines += ["", "### Threading probe: our forward under three thread settings", "",
                  "Default = OpenMP (libgomp, idle threads spin briefly: GOMP_SPINCOUNT=10000 as the CLI sets it; OpenBLAS's OpenMP build shares the pool), 2 threads, "
                  "dropping to 1 thread for a call while the machine has more runnable tasks than cores "
                  "(src/graph/threads.c, cc_threads_begin). GOMP_SPINCOUNT=0 = idle OpenMP threads sleep at once. "
                  "OMP_NUM_THREADS=1 = OpenMP and OpenBLAS single-threaded.", "",
                  md_table(["model", "default", "GOMP_SPINCOUNT=0", "OMP_NUM_THREADS=1", "ORT fwd (2 threads)",
                            "1 thread / ORT"], probe)]
    if prof_dir:
        for n in names:
            p = os.path.join(prof_dir, f"profile_{n}.txt")
            pr = get(n, "profile")
            if os.path.exists(p):
                runs = pr["runs"] if pr else "?"
                lines += ["", f"### Per-op profile, {n} (single-threaded, mean of {runs} runs of each phase, "
                          "wall ms per op type)", "", "```",
                          open(p).read().rstrip(), "```"]
    text = "\n".join(lines) + "\n"
    with open(md_path, "w") as fh:
        fh.write(text)
    # terminal: the table only
    widths = [max(len(h), *(len(r[i]) for r in table)) if table else len(h) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    for r in pr_rows:
        print(f"{r[0]} round by round: forward / ORT {r[1]}; 1-Q / ORT {r[2]}")
    if gemm:
        others = "".join(f" ({g['gflops']:.1f} with OPENBLAS_CORETYPE={g.get('coretype_env')})" for g in gemms if g is not gemm)
        print(f"GEMM {gemm['gflops']:.1f} GFLOP/s, kernels {gemm.get('core', '?')}{others}; load average {machine.get('loadavg_start')} -> "
              f"{end.get('loadavg_end')}; details and per-op profiles in {md_path}")


if __name__ == "__main__":
    main()
