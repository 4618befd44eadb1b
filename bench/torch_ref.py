#!/usr/bin/env python3
"""The reference method in PyTorch, timed (CPU, 2 threads).

usage: torch_ref.py MODEL_NAME [ITERS=5] [WARMUP=1] [NQ=20]
MODEL_NAME: vgg16 | resnet50 | mobilenet_v2 (same weights as export_models.py).

Like the reference Grad-CAM code: a forward hook on the target module keeps
its output A and registers a tensor hook that keeps dJ/dA; J = CrossEntropy(z, Q)
is backpropagated with loss.backward() (parameters require grad, as in the
reference, so the backward runs through the whole network); alpha = spatial
mean of the gradient, map = ReLU(sum_k alpha_k A_k).

  fwd_ms   : median forward alone (torch.no_grad)
  one_ms   : median forward + one contrastive explanation (Q = runner-up class)
  allq_ms  : EXTRAPOLATED: forward + C x (median time of one backward with
             retain_graph + map), the per-Q time measured over NQ classes.
Prints one JSON line.  Run with /usr/bin/python3.
"""
import json
import os
import resource
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_models  # noqa: E402

# target modules = the default target layers contrastcam picks in the exported graphs
TARGETS = {
    "vgg16": lambda m: m.features[29],        # last ReLU before the last max-pool
    "resnet50": lambda m: m.layer4,           # output of the last bottleneck (its final ReLU)
    "mobilenet_v2": lambda m: m.features[18],  # last 1x1 conv + BN + ReLU6
}


def bench_input():
    """xorshift32 (seed 12345) mapped to [-1, 1): identical to bench.c and ort.js."""
    n = 3 * 224 * 224
    out = np.empty(n, dtype=np.float32)
    s = 12345
    M = 0xFFFFFFFF
    for i in range(n):
        s ^= (s << 13) & M
        s ^= s >> 17
        s ^= (s << 5) & M
        out[i] = (s >> 8) / 16777216.0 * 2.0 - 1.0
    return torch.from_numpy(out.reshape(1, 3, 224, 224))


class Hook:
    def __init__(self, module):
        self.act = None
        self.grad = None
        module.register_forward_hook(self.fwd)

    def fwd(self, module, inp, out):
        self.act = out
        if out.requires_grad:
            out.register_hook(self.bwd)

    def bwd(self, g):
        self.grad = g


def cam(hook):
    alpha = hook.grad.mean(dim=(2, 3), keepdim=True)
    return F.relu((alpha * hook.act).sum(dim=1))


def main():
    name = sys.argv[1]
    iters = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    warm = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    nq = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    torch.set_num_threads(2)
    torch.manual_seed(0)
    idx = list(export_models.MODELS).index(name)
    model = export_models.reinit(export_models.MODELS[name](), 1234 + idx).eval()
    hook = Hook(TARGETS[name](model))
    x = bench_input()

    # (a) forward alone, inference mode
    t = []
    with torch.no_grad():
        for r in range(warm + iters):
            t0 = time.perf_counter()
            z = model(x)
            if r >= warm:
                t.append((time.perf_counter() - t0) * 1e3)
    fwd_ms = statistics.median(t)
    C = z.shape[1]
    order = torch.argsort(z[0], descending=True)
    P, Q = int(order[0]), int(order[1])

    # (b) one contrastive explanation: forward + CE(z, Q) backward + map
    t, tf = [], []
    for r in range(warm + iters):
        t0 = time.perf_counter()
        z = model(x)
        t1 = time.perf_counter()
        model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(z, torch.tensor([Q]))
        loss.backward()
        m = cam(hook)
        t2 = time.perf_counter()
        if r >= warm:
            t.append((t2 - t0) * 1e3)
            tf.append((t1 - t0) * 1e3)
    one_ms = statistics.median(t)
    fwd_grad_ms = statistics.median(tf)

    # (c) all Q, as the reference code does it: one forward, then one backward per Q
    #     with retain_graph; measured over NQ classes, extrapolated to C.
    z = model(x)
    per_q = []
    qs = [int(q) for q in order[:nq + 1] if int(q) != P][:nq]
    for i, q in enumerate([qs[0]] + qs):   # first one is a warm-up
        t0 = time.perf_counter()
        model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(z, torch.tensor([q]))
        loss.backward(retain_graph=True)
        m = cam(hook)
        if i > 0:
            per_q.append((time.perf_counter() - t0) * 1e3)
    per_q_ms = statistics.median(per_q)
    allq_ms = fwd_grad_ms + C * per_q_ms
    assert m.ndim == 3
    print(json.dumps({
        "model": name, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "iters": iters, "warmup": warm, "fwd_ms": round(fwd_ms, 3), "fwd_grad_ms": round(fwd_grad_ms, 3),
        "one_ms": round(one_ms, 3), "per_q_ms": round(per_q_ms, 3), "nq_measured": len(per_q),
        "allq_ms_extrapolated": round(allq_ms, 1), "classes": C, "P": P, "Q": Q,
        "logit0": float(z[0, 0]), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
