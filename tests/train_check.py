#!/usr/bin/env python3
"""PyTorch references for the training tests.

  train_check.py grad DIR
      DIR holds what `train_tool gradcheck` wrote.  Rebuilds the ONNX graph
      (model.onnx, initial weights) as a torch computation, checks the logits,
      the mean softmax cross-entropy and every weight gradient against autograd,
      then two optimiser steps against torch.optim (AdamW or SGD with momentum).
  train_check.py model MODEL DATA_DIR OUT_DIR
      onnx.checker on the shipped model, its metadata, and the logits of the
      first 100 Fashion-MNIST test images from a torch re-implementation against
      OUT_DIR/logits100.bin (our engine's, from `train_tool eval`).
"""
import gzip
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def run_graph(model, x, weights):
    """Forward of a graph of Conv/Relu/MaxPool/GlobalAveragePool/Flatten/Gemm in torch."""
    env = dict(weights)
    env[model.graph.input[0].name] = x
    for n in model.graph.node:
        a = attrs(n)
        i = [env[name] for name in n.input]
        if n.op_type == "Conv":
            p = list(a.get("pads", [0, 0, 0, 0]))
            assert p[0] == p[2] and p[1] == p[3]
            y = F.conv2d(i[0], i[1], i[2] if len(i) > 2 else None, stride=tuple(a.get("strides", [1, 1])),
                         padding=(p[0], p[1]))
        elif n.op_type == "Relu":
            y = F.relu(i[0])
        elif n.op_type == "MaxPool":
            y = F.max_pool2d(i[0], tuple(a["kernel_shape"]), tuple(a.get("strides", a["kernel_shape"])))
        elif n.op_type == "GlobalAveragePool":
            y = i[0].mean(dim=(2, 3), keepdim=True)
        elif n.op_type == "Flatten":
            y = torch.flatten(i[0], a.get("axis", 1))
        elif n.op_type == "Gemm":
            assert a.get("transB", 0) == 1 and a.get("transA", 0) == 0
            y = F.linear(i[0], i[1], i[2] if len(i) > 2 else None)
        else:
            raise SystemExit("unexpected op %s" % n.op_type)
        env[n.output[0]] = y
    return env[model.graph.output[0].name]


def load_bin(path, shape, dtype=np.float32):
    return np.fromfile(path, dtype=dtype).reshape(shape)


def close(name, got, ref, atol, rtol):
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    err = np.abs(got - ref)
    tol = atol + rtol * np.abs(ref).max()
    ok = bool(np.all(err <= tol))
    print("%-28s max |diff| %.3g (max |ref| %.3g, tol %.3g) %s" % (name, err.max(), np.abs(ref).max(), tol,
                                                                  "ok" if ok else "FAIL"))
    return ok


def grad_check(d):
    model = onnx.load(os.path.join(d, "model.onnx"))
    onnx.checker.check_model(model)
    assert model.ir_version == 7 and model.producer_name == "contrastcam", (model.ir_version, model.producer_name)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [13]
    dims = [d_.dim_value for d_ in model.graph.input[0].type.tensor_type.shape.dim]
    B = dims[0]
    opt, lr, wd = open(os.path.join(d, "hyper.txt")).read().split()
    lr, wd = float(lr), float(wd)
    inits = {t.name: torch.tensor(numpy_helper.to_array(t).copy(), dtype=torch.float32, requires_grad=True)
             for t in model.graph.initializer}
    x = torch.tensor(load_bin(os.path.join(d, "x.bin"), dims))
    y = torch.tensor(np.fromfile(os.path.join(d, "y.bin"), dtype=np.uint8).astype(np.int64))
    ok = True
    z = run_graph(model, x, inits)
    C = z.shape[1]
    ok &= close("logits", load_bin(os.path.join(d, "logits.bin"), (B, C)), z.detach().numpy(), 1e-5, 1e-5)
    loss = F.cross_entropy(z, y)
    ours = float(open(os.path.join(d, "loss.txt")).read())
    ok &= close("loss", [ours], [loss.item()], 1e-6, 1e-5)
    loss.backward()
    for name, p in inits.items():
        ok &= close("grad " + name, load_bin(os.path.join(d, "grad_%s.bin" % name), p.shape), p.grad.numpy(), 1e-6, 1e-4)
    # two optimiser steps: decay on weights only
    params = {k: torch.tensor(numpy_helper.to_array(t).copy(), dtype=torch.float32, requires_grad=True)
              for k, t in ((t.name, t) for t in model.graph.initializer)}
    groups = [{"params": [p for k, p in params.items() if not k.endswith(".bias")], "weight_decay": wd},
              {"params": [p for k, p in params.items() if k.endswith(".bias")], "weight_decay": 0.0}]
    if opt == "adam":
        o = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    else:
        o = torch.optim.SGD(groups, lr=lr, momentum=0.9)
    for _ in range(2):
        o.zero_grad()
        F.cross_entropy(run_graph(model, x, params), y).backward()
        o.step()
    for name, p in params.items():
        ok &= close("%s step 2 %s" % (opt, name), load_bin(os.path.join(d, "step2_%s.bin" % name), p.shape),
                    p.detach().numpy(), 1e-5, 1e-4)
    if not ok:
        raise SystemExit("gradient check against PyTorch failed in %s" % d)
    print("weights, gradients and %s steps match PyTorch (%s)" % (opt, d))


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    nd = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def model_check(path, data, out):
    model = onnx.load(path)
    onnx.checker.check_model(model)
    meta = {p.key: p.value for p in model.metadata_props}
    labels = meta["labels"].split("\n")
    assert labels == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"], labels
    for k in ("preprocess.size", "preprocess.channels", "preprocess.mean", "preprocess.std", "preprocess.scale",
              "gradcam.target", "source", "training.test_accuracy"):
        assert k in meta, "metadata %s missing" % k
    assert meta["preprocess.size"] == "28x28" and meta["preprocess.channels"] == "gray"
    assert abs(float(meta["preprocess.scale"]) - 1 / 255) < 1e-12
    assert float(meta["training.test_accuracy"]) >= 0.91, meta["training.test_accuracy"]
    assert meta["gradcam.target"] in [o for n in model.graph.node for o in n.output]
    mean, std = float(meta["preprocess.mean"]), float(meta["preprocess.std"])
    images = read_idx(os.path.join(data, "t10k-images-idx3-ubyte.gz"))[:100]
    x = torch.tensor(((images.astype(np.float32) / np.float32(255) - np.float32(mean)) / np.float32(std))[:, None])
    weights = {t.name: torch.tensor(numpy_helper.to_array(t).copy()) for t in model.graph.initializer}
    with torch.no_grad():
        z = torch.cat([run_graph(model, x[i:i + 1], weights) for i in range(100)]).numpy()
    ours = load_bin(os.path.join(out, "logits100.bin"), (100, 10))
    ok = close("logits of 100 test images", ours, z, 1e-4, 1e-5)
    agree = int((ours.argmax(1) == z.argmax(1)).sum())
    print("PyTorch re-implementation agrees on %d/100 predictions" % agree)
    if not ok or agree < 100:
        raise SystemExit("the shipped model's logits differ from PyTorch's")
    print("onnx.checker, metadata and PyTorch logits: ok (%s, %d bytes)" % (path, os.path.getsize(path)))


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    if len(sys.argv) == 3 and sys.argv[1] == "grad":
        grad_check(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "model":
        model_check(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        raise SystemExit(__doc__)
