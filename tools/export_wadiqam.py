#!/usr/bin/python3
"""Export a WaDIQaM-FR network (Bosse et al., IEEE TIP 2018) to ONNX for
`contrastcam iqa`.  Test-only tool: the CLI never runs Python.

Recipe (docs/method.md, "Image quality assessment"):
  - one feature extractor shared by both branches: ten 3x3 convolutions
    (padding 1), channels 3-32-32-64-64-128-128-256-256-512-512, ReLU after
    each, a 2x2 max-pool after every second one (32x32 patch -> 512 features);
  - f = concat(f_d - f_r, f_d, f_r) (1536 values);
  - h = FC 1536-512, ReLU, dropout, FC 512-1        (patch quality, output "q")
  - w = FC 1536-512, ReLU, dropout, FC 512-1, ReLU, + 1e-6   (patch weight, output "w")
  - image quality = sum(h * w) / sum(w) over the patches (done by contrastcam).
Parameter names follow lidq92/WaDIQaM's FRnet (conv1..conv10, fc1_q, fc2_q,
fc1_w, fc2_w), so `--checkpoint FILE` loads a trained state_dict of that
code; without it the weights are random under torch.manual_seed(--seed):
PyTorch's default initialisation, then (--init he, the default) the
convolutions re-drawn He-normal (fan-in, ReLU gain) with N(0, 0.01) biases,
so that activations keep their scale through the ten layers and patch
qualities differ from patch to patch (with --init torch they are nearly
constant: the default init shrinks the signal at every layer).  Dropout is inference pass-through (the
reference code calls F.dropout without training=False, so its "eval" scores
are themselves random; contrastcam does not reproduce that).

The graph: inputs "dist" and "ref", each [N, 3, 32, 32] float32 in [0, 1]
(torchvision to_tensor of RGB pixels, no normalisation), N symbolic (or
--batch B fixed); outputs "q" [N, 1] and "w" [N, 1].  The feature extractor
is called twice, once per branch, with the same weights (the initializers are
shared), so each branch's tensors are distinct.  Tensors are renamed
"dist_convK" / "ref_convK" (the K-th convolution's output, before its ReLU);
"dist_conv10" (2 x 2 spatial) is the target layer and is recorded in the
metadata key "iqa.target", with "iqa.patch" = 32.

usage: /usr/bin/python3 tools/export_wadiqam.py OUT.onnx [--seed 0] [--init he|torch]
                                   [--batch B] [--checkpoint STATE_DICT]
"""
import argparse
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

CHANNELS = [3, 32, 32, 64, 64, 128, 128, 256, 256, 512, 512]


class WaDIQaMFR(nn.Module):
    def __init__(self, channels=CHANNELS, hidden=512):
        super().__init__()
        for i in range(10):
            setattr(self, "conv%d" % (i + 1), nn.Conv2d(channels[i], channels[i + 1], 3, padding=1))
        feat = channels[10]
        self.feat = feat
        self.fc1_q = nn.Linear(3 * feat, hidden)
        self.fc2_q = nn.Linear(hidden, 1)
        self.fc1_w = nn.Linear(3 * feat, hidden)
        self.fc2_w = nn.Linear(hidden, 1)

    def features(self, x, keep=None):
        """The shared extractor; keep (a dict) gets each conv output before its ReLU."""
        h = x
        for i in range(10):
            h = getattr(self, "conv%d" % (i + 1))(h)
            if keep is not None:
                keep["conv%d" % (i + 1)] = h
            h = F.relu(h)
            if i % 2 == 1:
                h = F.max_pool2d(h, 2)
        return h.view(-1, self.feat)

    def head(self, fd, fr):
        f = torch.cat((fd - fr, fd, fr), 1)
        q = self.fc2_q(F.relu(self.fc1_q(f)))
        w = F.relu(self.fc2_w(F.relu(self.fc1_w(f)))) + 0.000001
        return q, w

    def forward(self, dist, ref):
        fd = self.features(dist)       # distorted branch first (its nodes come first)
        fr = self.features(ref)
        return self.head(fd, fr)


def make_model(seed=0, init="he"):
    """The random-weight network the tests use (deterministic for a seed)."""
    torch.manual_seed(seed)
    m = WaDIQaMFR()
    if init == "he":
        for k in range(1, 11):
            c = getattr(m, "conv%d" % k)
            nn.init.kaiming_normal_(c.weight, nonlinearity="relu")
            nn.init.normal_(c.bias, std=0.01)
    return m.eval()


def rename_branches(model_proto):
    """Name every Conv output by branch: dist_convK / ref_convK."""
    g = model_proto.graph
    producer = {}
    for n in g.node:
        for o in n.output:
            producer[o] = n
    memo = {}

    def branch(t):
        if t in ("dist", "ref"):
            return t
        if t in memo:
            return memo[t]
        n = producer.get(t)
        res = None
        if n is not None:
            for i in n.input:
                b = branch(i)
                if b:
                    res = b if res in (None, b) else "both"
        memo[t] = res
        return res

    renames = {}
    for n in g.node:
        if n.op_type != "Conv":
            continue
        wname = n.input[1]
        k = wname.split(".")[0]            # "conv7.weight" -> "conv7"
        b = branch(n.input[0])
        if b in ("dist", "ref") and k.startswith("conv"):
            renames[n.output[0]] = "%s_%s" % (b, k)
    for n in g.node:
        for i, x in enumerate(n.input):
            if x in renames:
                n.input[i] = renames[x]
        for i, x in enumerate(n.output):
            if x in renames:
                n.output[i] = renames[x]
    for vi in list(g.value_info):
        if vi.name in renames:
            vi.name = renames[vi.name]
    return renames


def export(model, path, batch=None, opset=13, meta=None):
    import onnx
    model.eval()
    n = batch or 1
    dist = torch.rand(n, 3, 32, 32)
    ref = torch.rand(n, 3, 32, 32)
    dyn = None if batch else {"dist": {0: "N"}, "ref": {0: "N"}, "q": {0: "N"}, "w": {0: "N"}}
    tmp = path + ".tmp"
    torch.onnx.export(model, (dist, ref), tmp, input_names=["dist", "ref"], output_names=["q", "w"],
                      dynamic_axes=dyn, opset_version=opset, do_constant_folding=True)
    mp = onnx.load(tmp)
    renames = rename_branches(mp)
    if "dist_conv10" not in renames.values():
        sys.exit("export_wadiqam: could not find the distorted branch's tenth convolution")
    kv = {"iqa.target": "dist_conv10", "iqa.patch": "32", "iqa.kind": "full-reference",
          "preprocess.scale": "1/255", "preprocess.mean": "0", "preprocess.std": "1"}
    kv.update(meta or {})
    for k, v in kv.items():
        p = mp.metadata_props.add()
        p.key, p.value = k, str(v)
    onnx.checker.check_model(mp)
    onnx.save(mp, path)
    import os
    os.remove(tmp)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=0, help="fixed batch size (default: symbolic N)")
    ap.add_argument("--init", choices=["he", "torch"], default="he")
    ap.add_argument("--checkpoint", help="a state_dict of lidq92/WaDIQaM's FRnet")
    a = ap.parse_args()
    m = make_model(a.seed, a.init)
    if a.checkpoint:
        m.load_state_dict(torch.load(a.checkpoint, map_location="cpu"))
    export(m, a.out, batch=a.batch or None,
           meta={"iqa.weights": "checkpoint" if a.checkpoint else "random, torch.manual_seed(%d), init %s" % (a.seed, a.init)})


if __name__ == "__main__":
    main()
