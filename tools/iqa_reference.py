#!/usr/bin/python3
"""The method.md IQA algorithm in PyTorch, window by window, as the reference
code does it: the oracle of tests/test_iqa_oracle.sh and the baseline of the
speed comparison.  Test-only (the CLI never runs Python).

  - images: PIL convert('RGB'), to_tensor (pixels / 255, float32, CHW);
  - image score: non-overlapping 32 x 32 patches at rows 0, 32, ... strictly
    below h - 32 (columns likewise), score = sum(h w) / sum(w);
  - per window (PIL crop, zeros past the border), one forward of that patch
    pair; "Why s?": autograd of h to the distorted branch's conv10 output A,
    alpha = spatial mean, map = ReLU(sum alpha A), bilinear (align_corners
    False) to 32 x 32, not normalised; "Why s, rather than q?": the same with
    J = (h - q)^2 (its own backward pass, as the reference does);
  - compositing: mean of the overlapping window maps, or the paste with a
    blurred mask (contrastcam's reading of the reference, docs/iqa.md:
    Gaussian sigma 2, radius 6, edges replicated, divided by its max;
    out = out (1 - a) + map a, in scan order).

usage: /usr/bin/python3 tools/iqa_reference.py --time N REF DIST
  times N windows of the per-window loop (both maps) at the WaDIQaM-FR size
  and extrapolates to the whole stride-4 grid.
"""
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_wadiqam import make_model  # noqa: E402


def load_rgb(path):
    im = Image.open(path).convert("RGB")
    return im, torch.from_numpy(np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / np.float32(255.0))


def crop(pil, y, x, p=32):
    a = np.asarray(pil.crop((x, y, x + p, y + p)), dtype=np.float32)
    return torch.from_numpy(a.transpose(2, 0, 1).copy() / np.float32(255.0)).unsqueeze(0)


def image_score(model, dpil, rpil, p=32):
    w, h = dpil.size
    pos = [(i, j) for i in range(0, h - p, p) for j in range(0, w - p, p)]
    d = torch.cat([crop(dpil, i, j, p) for i, j in pos])
    r = torch.cat([crop(rpil, i, j, p) for i, j in pos])
    with torch.no_grad():
        q, wt = model(d, r)
    return float((q * wt).sum() / wt.sum()), q.numpy().reshape(-1), wt.numpy().reshape(-1)


def window(model, dpil, rpil, y, x, target, p=32):
    """h, premap (u x v), why (p x p), contrast (p x p) of one window."""
    d, r = crop(dpil, y, x, p), crop(rpil, y, x, p)
    keep = {}
    fd = model.features(d, keep)
    fr = model.features(r)
    h, _ = model.head(fd, fr)
    A = keep["conv10"]
    h = h[0, 0]
    out = [float(h)]
    maps = []
    for k, J in enumerate((h, (h - target) ** 2)):
        G = torch.autograd.grad(J, A, retain_graph=True)[0]
        alpha = G.mean(dim=(2, 3), keepdim=True)
        pre = (alpha * A).sum(1, keepdim=True)
        if k == 0:
            out.append(pre[0, 0].detach().numpy())
        m = F.interpolate(F.relu(pre), size=(p, p), mode="bilinear", align_corners=False)
        maps.append(m[0, 0].detach().numpy())
    return out[0], out[1], maps[0], maps[1]


def paste_mask(m):
    r, sigma = 6, 2.0
    k = np.exp(-np.arange(-r, r + 1, dtype=np.float64) ** 2 / (2 * sigma * sigma))
    k /= k.sum()
    p = m.shape[0]
    idx = np.clip(np.arange(p)[:, None] + np.arange(-r, r + 1)[None, :], 0, p - 1)  # p x 13
    t = (m.astype(np.float64)[:, idx] * k).sum(-1)           # along x
    t = (t[idx, :] * k[None, :, None]).sum(1)                # along y
    mx = t.max()
    return (t / mx).astype(np.float32) if mx > 0 else np.zeros_like(m, dtype=np.float32)


def composite(maps, positions, h, w, mode, p=32):
    out = np.zeros((h, w), np.float64 if mode == "mean" else np.float32)
    cnt = np.zeros((h, w))
    for m, (y, x) in zip(maps, positions):
        r1, c1 = min(p, h - y), min(p, w - x)
        mm = m[:r1, :c1]
        if mode == "mean":
            out[y:y + r1, x:x + c1] += mm
            cnt[y:y + r1, x:x + c1] += 1
        else:
            a = paste_mask(m)[:r1, :c1]
            out[y:y + r1, x:x + c1] = out[y:y + r1, x:x + c1] * (np.float32(1) - a) + mm * a
    if mode == "mean":
        out = np.where(cnt > 0, out / np.maximum(cnt, 1), 0)
    return out.astype(np.float32)


def grid(h, w, stride):
    return [(y, x) for y in range(0, h - stride, stride) for x in range(0, w - stride, stride)]


def main():
    if len(sys.argv) != 5 or sys.argv[1] != "--time":
        sys.exit(__doc__)
    n = int(sys.argv[2])
    torch.set_num_threads(os.cpu_count() or 1)
    model = make_model(0, "he")
    rpil, _ = load_rgb(sys.argv[3])
    dpil, _ = load_rgb(sys.argv[4])
    w, h = dpil.size
    pos = grid(h, w, 4)
    t0 = time.time()
    for y, x in pos[:n]:
        window(model, dpil, rpil, y, x, 0.75)
    dt = time.time() - t0
    print("PyTorch per-window loop: %d windows in %.2f s (%.1f ms/window, %d threads); "
          "the %d windows of the %dx%d image at stride 4: about %.0f s"
          % (n, dt, 1000 * dt / n, torch.get_num_threads(), len(pos), w, h, dt / n * len(pos)))


if __name__ == "__main__":
    main()
