#!/usr/bin/python3
"""All-Q contrastive maps of `contrastcam explain --contrast all --save-all` against
the reference method run in PyTorch: one backward pass per Q with hooks (as the
published code does), Grad-CAM steps 3-6 of docs/method.md, then the pixel-wise
mean and variance over every Q != P.  Two small random CNNs: a VGG-like tail
(target ReLU -> MaxPool -> Flatten -> FC -> ReLU -> FC -> ReLU -> FC, the projected
matrix chain with ReLU masks) and a ResNet-like tail (target -> GlobalAveragePool
-> FC).  usage: allq_torch.py CONTRASTCAM WORKDIR.  Exit 0 = pass, 77 = skip."""
import json
import os
import subprocess
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    print(f"SKIP: needs numpy and torch ({e})")
    sys.exit(77)

CLI, WORK = sys.argv[1], sys.argv[2]
os.makedirs(WORK, exist_ok=True)
torch.manual_seed(7)
failures = 0


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    failures += 0 if ok else 1


class Net(nn.Module):
    def __init__(self, kind, classes):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.kind = kind
        if kind == "vgg":
            self.pool = nn.MaxPool2d(2)
            self.head = nn.Sequential(nn.Linear(16 * 6 * 6, 64), nn.ReLU(), nn.Dropout(),
                                      nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, classes))
        else:
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Linear(16, classes)

    def forward(self, x):
        a = self.features(x)
        return self.head(torch.flatten(self.pool(a), 1))


def reference(net, x, P):
    """The reference method: hooks on the target, one backward per Q."""
    store = {}
    target = net.features[4]
    target.register_forward_hook(lambda m, i, o: store.__setitem__("A", o))
    target.register_full_backward_hook(lambda m, gi, go: store.__setitem__("G", go[0]))
    z = net(x)
    C = z.shape[1]
    maps = []
    for q in range(C):
        net.zero_grad()
        loss = F.cross_entropy(z, torch.tensor([q]))
        loss.backward(retain_graph=True)
        A, G = store["A"][0], store["G"][0]
        alpha = G.mean(dim=(1, 2))
        m = torch.relu((alpha[:, None, None] * A).sum(0))[None, None]
        up = F.interpolate(m, size=x.shape[2:], mode="bilinear", align_corners=False)[0, 0]
        lo, hi = up.min(), up.max()
        maps.append(((up - lo) / (hi - lo)).detach().numpy() if hi > lo else np.zeros(up.shape, np.float32))
    maps = np.stack(maps)
    others = np.delete(maps, P, axis=0)
    return maps, others.mean(0), others.var(0)


for kind, classes in (("vgg", 37), ("resnet", 23)):
    net = Net(kind, classes).eval()
    x = torch.randn(1, 3, 24, 24)
    path = os.path.join(WORK, f"{kind}.onnx")
    torch.onnx.export(net, x, path, input_names=["input"], output_names=["logits"], opset_version=13)
    np.save(os.path.join(WORK, f"{kind}_x.npy"), x.numpy())
    out = os.path.join(WORK, f"{kind}_out")
    r = subprocess.run([CLI, "explain", path, "--input-npy", os.path.join(WORK, f"{kind}_x.npy"), "--contrast", "all",
                        "--save-all", "--out", out, "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        check(False, f"{kind}: explain exit {r.returncode}: {r.stderr.strip()}")
        continue
    j = json.loads(r.stdout)
    P = j["P"]
    with torch.no_grad():
        zt = net(x)[0]
    check(P == int(zt.argmax()), f"{kind}: P = {P} agrees with PyTorch")
    check(j["layer_shape"] == [1, 16, 12, 12], f"{kind}: target layer {j['layer']} {j['layer_shape']}")
    maps, mean, var = reference(net, x.clone().requires_grad_(False), P)
    ac = j["all_contrasts"]
    ours_all = np.load(os.path.join(out, ac["all_npy"]))
    ours_mean = np.load(os.path.join(out, ac["mean"]["npy"]))
    ours_var = np.load(os.path.join(out, ac["variance"]["npy"]))
    d_all = float(np.abs(ours_all - maps).max())
    d_mean = float(np.abs(ours_mean - mean).max())
    d_var = float(np.abs(ours_var - var).max())
    check(ac["count"] == classes - 1, f"{kind}: {ac['count']} contrasts in the summary")
    check(ac.get("evaluation") == "projected", f"{kind}: every class's weights by the projected matrix chain ({ac.get('evaluation')})")
    check(d_all <= 2e-3, f"{kind}: every normalised map vs the PyTorch loop, max |diff| {d_all:.2e} (tol 2e-3)")
    check(d_mean <= 1e-4, f"{kind}: pixel-wise mean vs the PyTorch loop, max |diff| {d_mean:.2e} (tol 1e-4)")
    check(d_var <= 1e-4, f"{kind}: pixel-wise variance vs the PyTorch loop, max |diff| {d_var:.2e} (tol 1e-4)")
    # the ranking: RMS difference of each normalised map from Grad-CAM(P)
    gc = np.load(os.path.join(out, j["maps"][0]["npy"]))
    rms = np.sqrt(((maps - gc[None]) ** 2).mean(axis=(1, 2)))
    rms[P] = -1
    want = [int(q) for q in np.argsort(-rms, kind="stable")[:len(ac["most_informative"])]]
    got = [m["Q"] for m in ac["most_informative"]]
    got_rms = np.array([m["rms_diff_from_gradcam"] for m in ac["most_informative"]])
    check(got == want or (sorted(got) == sorted(want) and np.abs(got_rms - rms[got]).max() <= 1e-3),
          f"{kind}: most informative Q's {got[:5]}... match PyTorch's ranking")
    files = sorted(os.listdir(out))
    check(not any(f.startswith("contrast_P") for f in files), f"{kind}: no per-Q PNGs written for --contrast all ({len(files)} files)")

print("FAILED" if failures else "passed")
sys.exit(1 if failures else 0)
