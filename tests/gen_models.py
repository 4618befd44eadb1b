#!/usr/bin/python3
"""Generate torchvision-architecture oracle fixtures (random weights).

Usage: gen_models.py OUT_DIR [MODEL ...]      (default: every model below)
       gen_models.py --stats [MODEL ...]      (print signal statistics, write nothing)

For each architecture: build it with torchvision, re-initialise the weights so
that signals survive (He-normal conv / linear weights, random BatchNorm running
statistics and affine parameters, the last layer scaled so the logits have a
standard deviation of about 4), export it with torch.onnx.export (opsets
11-17, see MODELS) and write OUT_DIR/<model>/ in the format of
tests/gen_op_cases.py (`case.txt`, read by tests/oracle_runner.c):

  input  input input.npy
  output logits out_logits.npy <rtol>          1e-4 of the logit range
  grad   logits seed_logits.npy <layer> grad_<layer>.npy 1e-3
  fd 0

The two target layers are torch module outputs (e.g. `layer3`, `features.19`).
The export wraps the model so that it also returns those module outputs as
graph outputs named after the module; afterwards the extra graph outputs are
removed again, so model.onnx is a plain single-output classifier (`input` ->
`logits`) in which the target tensors keep those readable names.  The
reference values are computed in float64 from the same weights; the seed at
`logits` has K = 2 rows.  An input is accepted only when float32 and float64
PyTorch agree well within the tolerances (no ReLU / max-pool decision within
rounding distance), so an engine that is right does not fail on a near-tie.

Regeneration is skipped per model when its stamp (hash of this script, the
torch version and the model name) matches.  tests/gen_maps.py imports
build_model() / ensure_model() from here.
"""
import hashlib
import os
import shutil
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torchvision
    import onnx
except ImportError as e:  # pragma: no cover
    print("SKIP: gen_models.py needs numpy, torch, torchvision and onnx (%s)" % e)
    sys.exit(77)

K = 2
GRAD_RTOL = 1e-3
LOGIT_RANGE_RTOL = 1e-4

# name: (constructor, input HxW, opset, [target modules], extra grad to the input?)
MODELS = {
    "alexnet": (lambda: torchvision.models.alexnet(), 224, 11, ["features.11", "features.7"], False),
    "vgg11": (lambda: torchvision.models.vgg11(), 224, 13, ["features.19", "features.17"], False),
    "vgg11_bn": (lambda: torchvision.models.vgg11_bn(), 224, 17, ["features.27", "features.24"], False),
    "resnet18": (lambda: torchvision.models.resnet18(), 160, 11, ["layer4", "layer3"], False),
    "resnet50": (lambda: torchvision.models.resnet50(), 160, 14, ["layer4", "layer4.1"], False),
    "densenet121": (lambda: torchvision.models.densenet121(), 160, 13,
                    ["features.denseblock4", "features.denseblock4.denselayer14"], False),
    "squeezenet1_1": (lambda: torchvision.models.squeezenet1_1(), 160, 16, ["features.12", "features.10"], False),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(), 160, 11, ["features.18", "features.14"], False),
    "mobilenet_v3_small": (lambda: torchvision.models.mobilenet_v3_small(), 160, 14,
                           ["features.12", "features.10"], False),
    "mobilenet_v3_small_op13": (lambda: torchvision.models.mobilenet_v3_small(), 128, 13,
                                ["features.11", "features.9"], False),
    "googlenet": (lambda: torchvision.models.googlenet(aux_logits=False, transform_input=False, init_weights=False),
                  160, 17, ["inception5b", "inception5a"], False),
    # SiLU / sigmoid only: no kinks anywhere, so the gradient to the input is checked here
    "efficientnet_b0": (lambda: torchvision.models.efficientnet_b0(), 160, 13, ["features.8", "features.6"], True),
}


def model_seed(name):
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)


def reinit(m, g):
    """He-normal conv/linear weights, random BN statistics and affine parameters
    (build_model then calibrates the BN statistics, see calibrate_bn)."""
    def normal(t, std):
        with torch.no_grad():
            t.copy_(torch.randn(t.shape, generator=g) * std)

    def uniform(t, lo, hi):
        with torch.no_grad():
            t.copy_(torch.rand(t.shape, generator=g) * (hi - lo) + lo)
    for mod in m.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            fan_in = mod.weight[0].numel()
            normal(mod.weight, (2.0 / fan_in) ** 0.5)
            if mod.bias is not None:
                normal(mod.bias, 0.05)
        elif isinstance(mod, nn.BatchNorm2d):
            normal(mod.running_mean, 0.2)
            uniform(mod.running_var, 0.5, 1.5)
            uniform(mod.weight, 0.5, 1.5)
            normal(mod.bias, 0.2)


def damp_residuals(m, factor=0.3):
    """Scale the last BatchNorm gamma of every residual branch (ResNet blocks, inverted
    residuals with a skip connection) by `factor`, as trained residual nets tend to have.
    With full-size branches the random nets are chaotic: float32 rounding grows to 6e-4
    of the activations' scale by ResNet-50's layer4 (4e-6 with damping), and a float32
    engine then takes the other side of some ReLU kinks than the float64 reference."""
    for mod in m.modules():
        bn = None
        if isinstance(mod, torchvision.models.resnet.Bottleneck):
            bn = mod.bn3
        elif isinstance(mod, torchvision.models.resnet.BasicBlock):
            bn = mod.bn2
        elif getattr(mod, "use_res_connect", False):
            bns = [b for b in mod.modules() if isinstance(b, nn.BatchNorm2d)]
            bn = bns[-1] if bns else None
        if bn is not None:
            with torch.no_grad():
                bn.weight.mul_(factor)


def calibrate_bn(m, xcal, g):
    """Set every BatchNorm's running statistics from the statistics of its actual input
    (one forward pass, in order, so each BN sees already-calibrated layers), then
    perturb them randomly: mean + N(0, 0.2) std, var * U(0.5, 1.5).  With purely random
    statistics the pre-activations of deep nets (MobileNet V2) drift far from their
    BN's assumptions and float32 rounding reaches 3e-4 of their scale, so ReLU6 / ReLU
    decisions of a float32 engine and the float64 reference would differ."""
    def pre(mod, inp):
        a = inp[0].detach().double()
        dims = [0] + list(range(2, a.dim()))
        mean, var = a.mean(dims), a.var(dims, unbiased=False) + 1e-3
        with torch.no_grad():
            mod.running_mean.copy_(mean + torch.randn(mean.shape, generator=g).double() * 0.2 * var.sqrt())
            mod.running_var.copy_(var * (torch.rand(var.shape, generator=g).double() + 0.5))
    hs = [mod.register_forward_pre_hook(pre) for mod in m.modules() if isinstance(mod, nn.BatchNorm2d)]
    with torch.no_grad():
        m(xcal)
    for h in hs:
        h.remove()


def last_layer(m):
    last = None
    for mod in m.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            last = mod
    return last


class Tap(nn.Module):
    """Runs the model and also returns the outputs of the named submodules."""

    def __init__(self, m, names):
        super().__init__()
        self.m = m
        self.names = names
        self.got = {}
        mods = dict(m.named_modules())
        self.handles = [mods[n].register_forward_hook(self._hook(n)) for n in names]

    def close(self):
        for h in self.handles:
            h.remove()

    def _hook(self, n):
        def h(mod, inp, out):
            self.got[n] = out
        return h

    def forward(self, x):
        self.got = {}
        y = self.m(x)
        return (y,) + tuple(self.got[n] for n in self.names)


def build_model(name):
    """Deterministic float32 model (eval mode, re-initialised) and its input."""
    ctor, hw, opset, targets, _ = MODELS[name]
    seed = model_seed(name)
    torch.manual_seed(seed)
    m = ctor().eval()
    g = torch.Generator().manual_seed(seed)
    reinit(m, g)
    damp_residuals(m)
    if any(isinstance(mod, nn.BatchNorm2d) for mod in m.modules()):
        calibrate_bn(m, torch.randn((2, 3, hw, hw), generator=g), g)
    x = torch.randn((1, 3, hw, hw), generator=g)
    # scale the last layer so the logits spread over a few units
    ll = last_layer(m)
    with torch.no_grad():
        if ll.bias is not None:
            ll.bias.zero_()
        z = m(x)
        s = float(z.std())
        ll.weight.mul_(4.0 / s)
        if ll.bias is not None:
            ll.bias.copy_(torch.randn(ll.bias.shape, generator=g) * 0.5)
        z = m(x)
    std = float(z.std())
    assert 1.0 <= std <= 20.0, "%s: logit std %.3g outside [1, 20]" % (name, std)
    return m, x, g


class KinkMonitor:
    """Counts, while armed, elements within `delta` (relative to the tensor's std)
    of a ReLU / ReLU6 / HardSwish / HardSigmoid kink, and max-pool windows whose
    two largest values are that close: places where a float32 engine may
    legitimately decide differently from the float64 reference."""
    PATCH = ("relu", "hardtanh", "hardswish", "hardsigmoid", "max_pool2d")

    def __init__(self, delta):
        self.delta = delta
        self.armed = False
        self.near = 0
        self.where = []
        self.saved = {}

    def _count(self, what, dist, scale):
        # exact ties / zeros (gap 0: e.g. all-zero ReLU outputs in a pooling window) are
        # decided the same way by every implementation (first maximum), so they are not counted
        n = int(((dist > 0) & (dist < self.delta * scale)).sum())
        if n:
            self.near += n
            self.where.append("%s x%d" % (what, n))

    def __enter__(self):
        Fm = torch.nn.functional
        for nm in self.PATCH:
            self.saved[nm] = getattr(Fm, nm)
        mon = self

        def relu(x, inplace=False):
            if mon.armed:
                mon._count("relu", x.abs(), float(x.std()))
            return mon.saved["relu"](x, inplace=inplace)

        def hardtanh(x, min_val=-1.0, max_val=1.0, inplace=False):
            if mon.armed:
                mon._count("hardtanh", torch.minimum((x - min_val).abs(), (x - max_val).abs()), float(x.std()))
            return mon.saved["hardtanh"](x, min_val, max_val, inplace)

        def hard3(name):
            def f(x, inplace=False):
                if mon.armed:
                    mon._count(name, torch.minimum((x - 3).abs(), (x + 3).abs()), float(x.std()))
                return mon.saved[name](x, inplace=inplace)
            return f

        def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
            y = mon.saved["max_pool2d"](x, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
            if mon.armed:
                pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)
                k, st, p, d = pair(kernel_size), pair(stride if stride else kernel_size), pair(padding), pair(dilation)
                out = y[0] if return_indices else y
                oh, ow = out.shape[-2:]
                H, W = x.shape[-2:]
                need_h = (oh - 1) * st[0] + (k[0] - 1) * d[0] + 1
                need_w = (ow - 1) * st[1] + (k[1] - 1) * d[1] + 1
                xp = torch.nn.functional.pad(
                    x, (p[1], max(0, need_w - W - p[1]), p[0], max(0, need_h - H - p[0])), value=-float("inf"))
                N, C = xp.shape[:2]
                cols = torch.nn.functional.unfold(xp.reshape(N * C, 1, *xp.shape[-2:]), k, dilation=d, stride=st)
                cols = cols[:, :, :oh * ow]
                top2 = torch.topk(cols, 2, dim=1).values
                gap = (top2[:, 0] - top2[:, 1])
                self_scale = float(x[torch.isfinite(x)].std())
                mon._count("maxpool", gap, self_scale)
            return y

        Fm.relu, Fm.hardtanh, Fm.max_pool2d = relu, hardtanh, max_pool2d
        Fm.hardswish, Fm.hardsigmoid = hard3("hardswish"), hard3("hardsigmoid")
        return self

    def __exit__(self, *a):
        for nm, f in self.saved.items():
            setattr(torch.nn.functional, nm, f)


def kink_count(m, x, name, delta):
    """Near-kinks downstream of the first target (of the input if its gradient is wanted)."""
    _, _, _, targets, want_input = MODELS[name]
    tap = Tap(m.double(), targets)
    mods = dict(m.named_modules())
    with KinkMonitor(delta) as mon:
        mon.armed = want_input
        hs = [mods[t].register_forward_hook(lambda *a: setattr(mon, "armed", True)) for t in targets]
        with torch.no_grad():
            tap(x.double())
        for h in hs:
            h.remove()
    tap.close()
    m.float()
    return mon.near, mon.where


def reference(m, x, targets, seed, want_input, dtype):
    """Logits, target activations and K gradients (one backward per seed row)."""
    md = Tap(m.to(dtype), targets)
    xd = x.to(dtype).clone().requires_grad_(want_input)
    outs = md(xd)
    z = outs[0]
    feats = list(outs[1:])
    wrt = feats + ([xd] if want_input else [])
    grads = [[] for _ in wrt]
    for k in range(seed.shape[0]):
        gs = torch.autograd.grad(z, wrt, grad_outputs=torch.tensor(seed[k:k + 1]).to(dtype), retain_graph=True)
        for i, gk in enumerate(gs):
            grads[i].append(gk.detach().double().numpy())
    md.close()
    m.float()
    return (z.detach().double().numpy(), [f.detach().double().numpy() for f in feats],
            [np.concatenate(gl, 0) for gl in grads])


def relerr(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


# relative to the tensor's std.  Above a float32 engine's own rounding: with Winograd F(4x4)
# a VGG's 9th layer is off by ~1e-5 std (rms), so at 1e-5 (the old value) a chosen input
# kept a max-pool window whose two largest values were 1.8e-5 std apart, and which one the
# engine picked was down to the order of its sums.
KINK_DELTA = 4e-5
N_DRAWS = 12


def choose_input(name, m, x, g):
    """Pick, among a few random inputs, one with the fewest ReLU / ReLU6 / max-pool decisions
    downstream of the targets within KINK_DELTA of a kink or tie, on which float32 and
    float64 PyTorch agree well within the tolerances.  (float32 rounding in deep nets
    reaches ~1e-4 of a tensor's scale, so a float32 engine may take the other side of
    such a kink: the fewer there are, the less likely a right engine fails.)"""
    _, hw, _, targets, want_input = MODELS[name]
    cands = []
    for attempt in range(N_DRAWS):
        if attempt:
            x = torch.randn(x.shape, generator=g)
        near, where = kink_count(m, x, name, KINK_DELTA)
        cands.append((near, attempt, x, where))
        if near == 0:
            break
    cands.sort(key=lambda c: (c[0], c[1]))
    seed = torch.randn((K, 1000), generator=g).numpy().astype(np.float32)
    for near, attempt, x, where in cands:
        z64, f64, g64 = reference(m, x, targets, seed, want_input, torch.float64)
        z32, f32, g32 = reference(m, x, targets, seed, want_input, torch.float32)
        zr = float(z64.max() - z64.min())
        ez = float(np.abs(z32 - z64).max()) / zr
        eg = max(relerr(a, b) for a, b in zip(g32, g64))
        if ez < LOGIT_RANGE_RTOL / 10 and eg < GRAD_RTOL / 10:
            return x, seed, (z64, f64, g64), (ez, eg, attempt, near)
        print("  %s: input %d (%d near-kinks): float32 vs float64 torch differ: logits %.2g, grads %.2g"
              % (name, attempt, near, ez, eg))
    raise RuntimeError("%s: no input on which float32 and float64 torch agree" % name)


def export(m, x, name, path):
    _, hw, opset, targets, _ = MODELS[name]
    tap = Tap(m, targets)
    torch.onnx.export(tap, x, path, opset_version=opset, input_names=["input"],
                      output_names=["logits"] + targets, do_constant_folding=True)
    tap.close()
    mp = onnx.load(path)
    produced = {o for n in mp.graph.node for o in n.output}
    for t in targets:
        assert t in produced, "%s: target %s is not a node output after export" % (name, t)
    keep = [o for o in mp.graph.output if o.name == "logits"]
    del mp.graph.output[:]
    mp.graph.output.extend(keep)
    mp.producer_name = "contrastcam-gen_models"
    onnx.checker.check_model(mp)
    onnx.save(mp, path)
    return {n.op_type for n in mp.graph.node}, len(mp.graph.node)


def stamp_of(name):
    with open(os.path.abspath(__file__), "rb") as f:
        src = f.read()
    return hashlib.sha256(src + torch.__version__.encode() + torchvision.__version__.encode() +
                          onnx.__version__.encode() + name.encode()).hexdigest()


def ensure_model(root, name):
    """Write root/name unless its stamp is current.  Returns the case folder."""
    d = os.path.join(root, name)
    st = stamp_of(name)
    sp = os.path.join(d, ".stamp")
    if os.path.exists(sp) and open(sp).read().strip() == st:
        return d, False
    t0 = time.time()
    m, x, g = build_model(name)
    x, seed, (z, feats, grads), (ez, eg, att, near) = choose_input(name, m, x, g)
    tmp = d + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    ops, nn_ = export(m, x, name, os.path.join(tmp, "model.onnx"))
    _, hw, opset, targets, want_input = MODELS[name]
    f32 = lambda a: np.ascontiguousarray(a.astype(np.float32))
    np.save(os.path.join(tmp, "input.npy"), f32(x.numpy()))
    np.save(os.path.join(tmp, "out_logits.npy"), f32(z))
    np.save(os.path.join(tmp, "seed_logits.npy"), f32(seed.reshape(K, 1, 1000)))
    zr = float(z.max() - z.min())
    rtol = LOGIT_RANGE_RTOL * zr / max(1.0, float(np.abs(z).max()))
    lines = ["# %s (opset %d, %dx%d input, %d nodes), generated by tests/gen_models.py" % (name, opset, hw, hw, nn_),
             "# ops: %s" % " ".join(sorted(ops)),
             "# logit std %.3g range %.3g; float32-vs-float64 torch: logits %.2g, grads %.2g (input draw %d)"
             % (float(z.std()), zr, ez, eg, att),
             "# %d ReLU/ReLU6/max-pool decisions downstream of the targets lie within %g std of a kink or tie"
             % (near, KINK_DELTA),
             "input input input.npy",
             "output logits out_logits.npy %.6g" % rtol]
    wrt = targets + (["input"] if want_input else [])
    for t, gr in zip(wrt, grads):
        fn = "grad_%s.npy" % t
        np.save(os.path.join(tmp, fn), f32(gr))
        lines.append("grad logits seed_logits.npy %s %s %g" % (t, fn, GRAD_RTOL))
    for t, f in zip(targets, feats):
        frac = float((f > 0).mean())
        lines.append("# %s: shape %s, std %.3g, positive fraction %.2f" % (t, "x".join(map(str, f.shape)),
                                                                          float(f.std()), frac))
    lines.append("fd 0")
    with open(os.path.join(tmp, "case.txt"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    with open(os.path.join(tmp, ".stamp"), "w") as fh:
        fh.write(st + "\n")
    shutil.rmtree(d, ignore_errors=True)
    os.rename(tmp, d)
    print("gen_models: %s (opset %d) written in %.1fs" % (name, opset, time.time() - t0))
    return d, True


def stats(names):
    for name in names:
        m, x, g = build_model(name)
        _, hw, opset, targets, _ = MODELS[name]
        tap = Tap(m, targets)
        with torch.no_grad():
            outs = tap(x)
        tap.close()
        z = outs[0]
        print("%-22s logits std %.3g range %.3g top2 %s" % (name, float(z.std()), float(z.max() - z.min()),
                                                           torch.topk(z[0], 2).values.numpy()))
        for t, f in zip(targets, outs[1:]):
            print("   %-22s %s std %.3g pos %.2f" % (t, tuple(f.shape), float(f.std()), float((f > 0).float().mean())))
        for delta in (3e-6, 1e-5):
            n, where = kink_count(m, x, name, delta)
            print("   near-kinks within %g std: %d %s" % (delta, n, " ".join(where[:8])))


def main():
    args = sys.argv[1:]
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    if args and args[0] == "--stats":
        stats(args[1:] or list(MODELS))
        return 0
    if not args:
        print("usage: gen_models.py OUT_DIR [MODEL ...]", file=sys.stderr)
        return 2
    root = args[0]
    names = args[1:] or list(MODELS)
    os.makedirs(root, exist_ok=True)
    for n in names:
        if n not in MODELS:
            print("unknown model %s" % n, file=sys.stderr)
            return 2
    # drop folders of models no longer in the list
    for d in os.listdir(root):
        if d not in MODELS and not d.startswith("."):
            shutil.rmtree(os.path.join(root, d), ignore_errors=True)
    fresh = 0
    for n in names:
        fresh += ensure_model(root, n)[1]
    print("gen_models: %d models in %s (%d regenerated)" % (len(names), root, fresh))
    return 0


if __name__ == "__main__":
    sys.exit(main())
