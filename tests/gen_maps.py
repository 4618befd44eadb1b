#!/usr/bin/python3
"""Reference explanation maps (docs/method.md) computed the way the reference
code does it: PyTorch forward / backward hooks on the target module, one
backward pass per class or contrast.

Usage: gen_maps.py MODELS_DIR OUT_DIR

MODELS_DIR is the fixture folder of tests/gen_models.py; every torchvision model
listed there is (re)generated there when missing or outdated, and their weights are rebuilt deterministically with
gen_models.build_model (checked against the stored logits).  A fourth case is
a small single-output regression CNN written here.

Output: OUT_DIR/<case>/maps.txt plus .npy files.  maps.txt, one directive per
line (names contain no spaces; `#` starts a comment):

  model  <path>                    the ONNX file, relative to this folder
  input  <tensor> <file.npy>       the network input, float32 1x3xHxW (for `explain --input-npy`)
  output <tensor>                  the output the seeds apply to (logits, or the single regression output)
  size   <H> <W>                   map size = input size
  top    <P> <z_P> <z_2nd>         P = argmax of the logits, with the runner-up logit (margin)
  gradcam        <layer> <P> <map.npy> <raw.npy>      "Why P?": seed onehot(P)
  contrast       <layer> <P> <Q> <map.npy> <raw.npy>  "Why P, rather than Q?": seed p - onehot(Q)
                                                       (cross-entropy gradient; Q = P included)
  counterfactual <layer> <P> <map.npy> <raw.npy>      "What if not P?": Grad-CAM weights negated
  contrast_mean  <layer> <P> <map.npy>                pixel-wise mean of the normalised contrast
                                                       maps over every Q != P
  contrast_var   <layer> <P> <map.npy>                pixel-wise population variance (divide by
                                                       C-1) of those maps
  regression     <layer> <q> <map.npy> <raw.npy>      single-output model, J = (y - q)^2, seed 2(y - q)
  tol    <abs>                     suggested max |difference| for the normalised maps

<layer> is the ONNX tensor name of the target layer (the torch module name;
gen_models.py gives the tensors those names).  map.npy: float32 H x W,
bilinear upsampling with half-pixel centres (F.interpolate, align_corners=False)
of the ReLU'd weighted sum, then min-max normalised to [0,1]; a flat map
(max == min, where the reference code divides by zero) is stored as zeros
and its line ends with the extra token `flat`.  raw.npy: float32 u x v, the
map after the ReLU, before upsampling and normalisation (for diagnosis).
Regression `gradcam` lines use P = 0 (the single output, seed 1).
"""
import hashlib
import os
import shutil
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import onnx
except ImportError as e:  # pragma: no cover
    print("SKIP: gen_maps.py needs numpy, torch and onnx (%s)" % e)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_models  # noqa: E402

CLASSIFIERS = list(gen_models.MODELS)
# The mean / variance over all Q costs C backward rows per layer: three architectures
# (plain, residual, depthwise) carry it; the others get Grad-CAM and a few contrasts.
ALLQ = {"resnet18", "vgg11", "mobilenet_v2"}
N_EXTRA_Q = 4          # contrasts written individually besides Q = P: runner-up, 3rd, last, a middle one
N_EXTRA_Q_LIGHT = 2    # runner-up and 3rd for the other architectures
BATCH = 100            # rows per batched tail pass for the mean / variance over all Q
DT = torch.float64


class Hooked:
    """Forward hook keeps the target module's output A, a tensor hook its gradient
    (like the reference implementation).  The hook hands the rest of the network a
    detached copy of A that requires grad, so each backward stops at A."""

    def __init__(self, m, layer):
        self.mod = dict(m.named_modules())[layer]
        self.A = None
        self.G = None
        self.h = self.mod.register_forward_hook(self._fwd)

    def _fwd(self, mod, inp, out):
        a = out.detach().requires_grad_(True)
        a.register_hook(self._bwd)
        self.A = a
        return a

    def _bwd(self, g):
        self.G = g

    def close(self):
        self.h.remove()


def cam(A, G, negate=False):
    """Steps 3-4: alpha = spatial mean of G, M = ReLU(sum_k alpha_k A_k)."""
    alpha = G[0].mean(dim=(1, 2))
    if negate:
        alpha = -alpha
    return F.relu((alpha[:, None, None] * A[0]).sum(0))


def upsample_norm(M, H, W):
    """Steps 5-6; flat maps become zeros."""
    U = F.interpolate(M[None, None], size=(H, W), mode="bilinear", align_corners=False)[0, 0]
    lo, hi = U.min(), U.max()
    if not (hi > lo):
        return torch.zeros_like(U), True
    return (U - lo) / (hi - lo), False


def save(d, fn, t):
    np.save(os.path.join(d, fn), np.ascontiguousarray(t.detach().numpy().astype(np.float32)))
    return fn


def all_contrasts(m, layer, x, p, P, H, W, keep):
    """Mean and population variance of the normalised contrast maps over every Q != P,
    running the part of the network after `layer` on a batch of copies of A (row i
    seeded p - onehot(Q_i)).  Also returns the maps for the classes in `keep`."""
    mod = dict(m.named_modules())[layer]
    with torch.no_grad():
        state = {}
        h = mod.register_forward_hook(lambda mm, i, o: state.__setitem__("A", o))
        m(x)
        h.remove()
    A = state["A"].detach()
    C = p.shape[0]
    Qs = [q for q in range(C) if q != P]
    s1 = torch.zeros((H, W), dtype=DT)
    s2 = torch.zeros((H, W), dtype=DT)
    kept = {}
    for s in range(0, len(Qs), BATCH):
        qs = Qs[s:s + BATCH]
        rep = A.repeat(len(qs), *([1] * (A.dim() - 1))).requires_grad_(True)
        h = mod.register_forward_hook(lambda mm, i, o: rep)
        z = m(x)      # the layers before `layer` run once; the rest sees the batch
        h.remove()
        seed = p[None, :].repeat(len(qs), 1)
        seed[torch.arange(len(qs)), torch.tensor(qs)] -= 1.0
        (G,) = torch.autograd.grad(z, rep, grad_outputs=seed)
        for i, q in enumerate(qs):
            mp = upsample_norm(cam(A, G[i:i + 1]), H, W)[0]
            s1 += mp
            s2 += mp * mp
            if q in keep:
                kept[q] = mp
    n = len(Qs)
    mean = s1 / n
    return mean, (s2 / n - mean * mean).clamp(min=0), kept


def classifier_case(models_dir, out, name):
    mdir, _ = gen_models.ensure_model(models_dir, name)
    m, _, _ = gen_models.build_model(name)
    m = m.to(DT).requires_grad_(False)
    x = torch.tensor(np.load(os.path.join(mdir, "input.npy"))).to(DT)
    zref = np.load(os.path.join(mdir, "out_logits.npy"))
    _, hw, _, layers, _ = gen_models.MODELS[name]
    H = W = hw
    d = os.path.join(out, name)
    os.makedirs(d)
    lines = ["model %s" % os.path.relpath(os.path.join(mdir, "model.onnx"), d),
             "input input %s" % save(d, "input.npy", x), "output logits", "size %d %d" % (H, W)]
    with torch.no_grad():
        z = m(x)[0]
    assert np.abs(z.numpy() - zref[0]).max() <= 1e-4 * float(z.max() - z.min()), "%s: rebuilt model differs" % name
    p = F.softmax(z, 0)
    order = torch.argsort(z, descending=True).tolist()
    P = order[0]
    lines.append("top %d %.6f %.6f" % (P, float(z[P]), float(z[order[1]])))
    C = z.shape[0]
    extra = [order[1], order[2], order[-1], order[C // 2]][:N_EXTRA_Q if name in ALLQ else N_EXTRA_Q_LIGHT]
    for layer in layers:
        hk = Hooked(m, layer)
        zz = m(x)
        tag = layer.replace("/", "_")

        def emit(kind, seedvec, fn_stub, head, negate=False):
            hk.G = None
            zz.backward(seedvec[None], retain_graph=True)
            raw = cam(hk.A.detach(), hk.G.detach(), negate)
            mp, flat = upsample_norm(raw, H, W)
            lines.append("%s %s %s %s%s" % (kind, head, save(d, fn_stub + ".npy", mp), save(d, fn_stub + "_raw.npy", raw),
                                            " flat" if flat else ""))
            return raw

        onehot = lambda q: F.one_hot(torch.tensor(q), C).to(DT)
        emit("gradcam", onehot(P), "gradcam_%s" % tag, "%s %d" % (layer, P))
        emit("counterfactual", onehot(P), "counterfactual_%s" % tag, "%s %d" % (layer, P), negate=True)
        for Q in [P] + extra:
            # cross-entropy to Q, backpropagated like the reference code
            hk.G = None
            zz2 = m(x)
            loss = F.cross_entropy(zz2, torch.tensor([Q]))
            loss.backward()
            raw = cam(hk.A.detach(), hk.G.detach())
            # the same through the explicit seed p - onehot(Q)
            raw2 = emit("contrast", p - onehot(Q), "contrast_%s_Q%d" % (tag, Q), "%s %d %d" % (layer, P, Q))
            assert torch.allclose(raw, raw2, rtol=1e-9, atol=1e-12 * float(raw.abs().max() + 1)), (name, layer, Q)
        hk.close()
        if name not in ALLQ:
            continue
        mean, var, kept = all_contrasts(m, layer, x, p.detach(), P, H, W, extra[:2])
        # the batched pass reproduces the per-Q backward
        for Q in extra[:2]:
            ref = np.load(os.path.join(d, "contrast_%s_Q%d.npy" % (tag, Q)))
            assert np.abs(kept[Q].numpy() - ref).max() < 1e-5, (name, layer, Q)
        lines.append("contrast_mean %s %d %s" % (layer, P, save(d, "contrast_mean_%s.npy" % tag, mean)))
        lines.append("contrast_var %s %d %s" % (layer, P, save(d, "contrast_var_%s.npy" % tag, var)))
    lines.append("tol 1e-3")
    with open(os.path.join(d, "maps.txt"), "w") as f:
        f.write("# %s: reference maps, generated by tests/gen_maps.py\n" % name)
        f.write("\n".join(lines) + "\n")


class RegressionCNN(nn.Module):
    """A small single-output CNN (quality-score style)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 1)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def regression_case(out):
    name = "regression_cnn"
    layers = ["features.8", "features.5"]
    H = W = 32
    torch.manual_seed(7)
    g = torch.Generator().manual_seed(7)
    m = RegressionCNN().eval()
    gen_models.reinit(m, g)
    x = torch.randn((1, 3, H, W), generator=g)
    with torch.no_grad():
        f = m.features(x).mean((2, 3))[0]
        m.fc.weight.mul_(0.3 / abs(float(m.fc.weight[0] @ f)))
        m.fc.bias.fill_(0.5)
    d = os.path.join(out, name)
    os.makedirs(d)
    tap = gen_models.Tap(m, layers)
    torch.onnx.export(tap, x, os.path.join(d, "model.onnx"), opset_version=13, input_names=["input"],
                      output_names=["score"] + layers)
    tap.close()
    mp = onnx.load(os.path.join(d, "model.onnx"))
    keep = [o for o in mp.graph.output if o.name == "score"]
    del mp.graph.output[:]
    mp.graph.output.extend(keep)
    onnx.checker.check_model(mp)
    onnx.save(mp, os.path.join(d, "model.onnx"))
    m = m.to(DT).requires_grad_(False)
    x = x.to(DT)
    lines = ["model model.onnx", "input input %s" % save(d, "input.npy", x), "output score", "size %d %d" % (H, W)]
    with torch.no_grad():
        y = float(m(x)[0, 0])
    np.save(os.path.join(d, "out_score.npy"), np.array([[y]], np.float32))
    lines.append("top 0 %.6f %.6f" % (y, y))
    for layer in layers:
        hk = Hooked(m, layer)
        tag = layer
        yy = m(x)
        hk.G = None
        yy.backward(torch.ones_like(yy), retain_graph=True)
        raw = cam(hk.A.detach(), hk.G.detach())
        mp_, flat = upsample_norm(raw, H, W)
        lines.append("gradcam %s 0 %s %s%s" % (layer, save(d, "gradcam_%s.npy" % tag, mp_),
                                               save(d, "gradcam_%s_raw.npy" % tag, raw), " flat" if flat else ""))
        for q in (0.75, round(y + 0.5, 3), round(y - 0.25, 3)):
            hk.G = None
            yy = m(x)
            loss = F.mse_loss(yy, torch.full_like(yy, q))      # J = (y - q)^2, dJ/dy = 2 (y - q)
            loss.backward()
            raw = cam(hk.A.detach(), hk.G.detach())
            mp_, flat = upsample_norm(raw, H, W)
            stub = "regression_%s_q%g" % (tag, q)
            lines.append("regression %s %g %s %s%s" % (layer, q, save(d, stub + ".npy", mp_), save(d, stub + "_raw.npy", raw),
                                                      " flat" if flat else ""))
        hk.close()
    lines.append("tol 1e-3")
    with open(os.path.join(d, "maps.txt"), "w") as f:
        f.write("# %s: single-output regression CNN (y = %.6f), generated by tests/gen_maps.py\n" % (name, y))
        f.write("\n".join(lines) + "\n")


def main():
    if len(sys.argv) != 3:
        print("usage: gen_maps.py MODELS_DIR OUT_DIR", file=sys.stderr)
        return 2
    models_dir, out = sys.argv[1], sys.argv[2]
    h = hashlib.sha256()
    for f in ("gen_maps.py", "gen_models.py"):
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), f), "rb") as fh:
            h.update(fh.read())
    h.update(torch.__version__.encode())
    st = h.hexdigest()
    sp = os.path.join(out, ".stamp")
    uptodate = os.path.exists(sp) and open(sp).read().strip() == st
    for n in CLASSIFIERS:   # the models may have been cleaned independently
        uptodate = uptodate and not gen_models.ensure_model(models_dir, n)[1]
    if uptodate:
        print("gen_maps: maps up to date in %s" % out)
        return 0
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for n in CLASSIFIERS:
        classifier_case(models_dir, tmp, n)
    regression_case(tmp)
    # model paths in maps.txt are relative to the final folder, which has the same depth as tmp
    with open(os.path.join(tmp, ".stamp"), "w") as f:
        f.write(st + "\n")
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    print("gen_maps: wrote %d cases to %s" % (len(CLASSIFIERS) + 1, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
