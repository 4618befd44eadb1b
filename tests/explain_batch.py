"""`contrastcam explain` on several inputs (issue 5, item 5), run by
tests/test_explain_batch.sh: images on the command line, a folder, a list
file; one output sub-folder per input, each byte for byte what a one-image run
writes (so the reused model, session and buffers carry nothing from one input
to the next, also when the inputs differ in size); name clashes; a bad input
reported and skipped, first or in the middle; the progress line only on a
terminal.  Uses the embedded models/fashion_cnn.onnx and generated images.
Exit 0 = all passed, 1 = a check failed, 77 = skipped (numpy/PIL missing)."""
import json, os, pty, select, shutil, subprocess, sys, tempfile

try:
    import numpy as np
    from PIL import Image
except ImportError as e:
    print(f"skip: {e}")
    sys.exit(77)

from clicheck import CLI, check, summary

MODEL = "models/fashion_cnn.onnx"


def run(args):
    p = subprocess.run([CLI] + args, capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def tree(d):
    """{relative path: bytes} of every file under d; explain.json parsed, without its "input" (the path as given)."""
    res = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            data = open(p, "rb").read()
            if f == "explain.json":
                data = json.loads(data)
                data.pop("input", None)
            res[os.path.relpath(p, d)] = data
    return res


def single(tmp, img, opts, tag):
    """What a one-image run writes."""
    os.makedirs(os.path.join(tmp, "single"), exist_ok=True)
    out = os.path.join(tmp, "single", tag)
    rc, _, err = run(["explain", MODEL, img, "--out", out] + opts)
    check(rc == 0, f"one-image explain of {tag} (exit {rc}, {err.strip()[:200]!r})")
    return tree(out)


def same_as_single(tmp, out, sub, img, opts):
    t = tree(os.path.join(out, sub))
    want = single(tmp, img, opts, sub + "_" + os.path.basename(out))
    diff = sorted(k for k in set(t) | set(want) if t.get(k) != want.get(k))
    check(len(t) >= 3 and not diff, f"{os.path.basename(out)}/{sub}: {len(t)} files, the same as a one-image run"
          + (f" (differ: {diff[:4]})" if diff else ""))


def tty_stderr(args):
    """Runs the CLI with stderr on a pseudo-terminal; returns (exit, what the terminal got)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([CLI] + args, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    got = b""
    while True:
        r, _, _ = select.select([master], [], [], 60)
        if not r:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:   # the terminal's other end closed
            break
        if not chunk:
            break
        got += chunk
    os.close(master)
    return p.wait(timeout=60), got.decode(errors="replace")


def main():
    tmp = tempfile.mkdtemp(prefix="cc_batch_")
    try:
        return cases(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cases(tmp):
    P = lambda *a: os.path.join(tmp, *a)
    os.makedirs(P("imgs"))
    os.makedirs(P("other"))
    # different sizes and contents; the larger one first, so later inputs reuse its buffers
    sizes = {"a": 40, "b": 28, "c": 33}
    for i, (n, s) in enumerate(sizes.items()):
        Image.fromarray(np.random.RandomState(i).randint(0, 256, (s, s), np.uint8)).save(P("imgs", n + ".png"))
    Image.fromarray((np.arange(28 * 28) % 251).astype(np.uint8).reshape(28, 28)).save(P("other", "a.png"))
    open(P("imgs", "notes.md"), "w").write("not an image\n")
    open(P("imgs", ".hidden.png"), "wb").write(b"not a png")
    bad = P("bad.png")
    open(bad, "wb").write(b"\x89PNG\r\n\x1a\n garbage")

    # ---- several images on the command line: --contrast all with every map ----
    allq = ["--contrast", "all", "--save-all"]
    out = P("cmd")
    imgs = [P("imgs", n + ".png") for n in sizes]
    rc, so, err = run(["explain", MODEL] + imgs + ["--out", out] + allq)
    check(rc == 0 and "explained 3 of 3 inputs" in err, f"three images: exit {rc}, {err.strip()[:200]!r}")
    check(sorted(os.listdir(out)) == ["a", "b", "c"], f"three images: one folder each ({sorted(os.listdir(out))})")
    check("\r" not in err and "[1/3]" not in err, "no progress line when stderr is not a terminal")
    for n, img in zip(sizes, imgs):
        same_as_single(tmp, out, n, img, allq)
    ta, tb = tree(os.path.join(out, "a")), tree(os.path.join(out, "b"))
    check(ta.get("contrast_all.npy") not in (None, tb.get("contrast_all.npy")), "different images give different maps")

    # ---- a folder: images only, hidden files and other files left out, in name order ----
    top = ["--contrast", "top:2"]
    out = P("dir")
    rc, _, err = run(["explain", MODEL, P("imgs"), "--out", out] + top)
    check(rc == 0 and "explained 3 of 3 inputs" in err, f"folder: exit {rc}, {err.strip()[:200]!r}")
    check(sorted(os.listdir(out)) == ["a", "b", "c"], f"folder: the three images only ({sorted(os.listdir(out))})")
    for n in sizes:
        same_as_single(tmp, out, n, P("imgs", n + ".png"), top)

    # ---- a list file: relative to its folder, absolute paths, blank lines and comments; a name clash ----
    lst = P("other", "list.txt")
    open(lst, "w").write(f"# two images called a\n\n../imgs/a.png\n  {P('other', 'a.png')}  \n../imgs/c.png\n")
    out = P("lst")
    rc, _, err = run(["explain", MODEL, lst, "--out", out])
    check(rc == 0 and "explained 3 of 3 inputs" in err, f"list file: exit {rc}, {err.strip()[:200]!r}")
    check(sorted(os.listdir(out)) == ["a", "a_2", "c"], f"list file: a clash becomes a_2 ({sorted(os.listdir(out))})")
    same_as_single(tmp, out, "a", P("imgs", "a.png"), [])
    same_as_single(tmp, out, "a_2", P("other", "a.png"), [])

    # ---- a bad input is reported and skipped, in the middle or first ----
    for order, tag in (([imgs[0], bad, imgs[1]], "mid"), ([bad, imgs[0], imgs[1]], "first")):
        out = P("bad_" + tag)
        rc, _, err = run(["explain", MODEL] + order + ["--out", out] + allq)
        lines = err.strip().splitlines()
        check(rc == 3 and "explained 2 of 3 inputs" in err and any("bad.png" in l for l in lines),
              f"bad input {tag}: exit {rc} (want 3), the others explained, the bad one named: {err.strip()[:300]!r}")
        check(sorted(os.listdir(out)) == ["a", "b"], f"bad input {tag}: no folder for it ({sorted(os.listdir(out))})")
        same_as_single(tmp, out, "b", imgs[1], allq)

    # ---- the progress line on a terminal ----
    rc, got = tty_stderr(["explain", MODEL] + imgs + ["--out", P("tty")])
    check(rc == 0 and "explain [1/3] a.png" in got and "explain [3/3] c.png" in got and "explained 3 of 3" in got,
          f"terminal: a progress line per input, then the summary (exit {rc}, {got[-300:]!r})")
    last = got.split("\x1b[K")[-1]
    check(last.startswith("contrastcam: explained"), f"terminal: the progress line is cleared before the summary ({last!r})")

    # ---- usage and empty inputs ----
    rc, _, err = run(["explain", MODEL, imgs[0], imgs[1], "--input-npy", P("x.npy")])
    check(rc == 2 and "input-npy" in err, f"several images with --input-npy: exit {rc} (want 2), {err.strip()[:200]!r}")
    os.makedirs(P("empty"))
    rc, _, err = run(["explain", MODEL, P("empty"), "--out", P("o_empty")])
    check(rc == 3 and "no images" in err and not os.path.exists(P("o_empty")),
          f"empty folder: exit {rc} (want 3), nothing written, {err.strip()[:200]!r}")
    open(P("empty.txt"), "w").write("# nothing\n\n")
    rc, _, err = run(["explain", MODEL, P("empty.txt"), "--out", P("o_empty")])
    check(rc == 3 and "no images" in err and not os.path.exists(P("o_empty")),
          f"empty list file: exit {rc} (want 3), nothing written, {err.strip()[:200]!r}")
    return summary()


if __name__ == "__main__":
    sys.exit(main())
