#!/usr/bin/python3
"""Generate the single-op (and tiny multi-op) ONNX oracle fixtures.

Usage: gen_op_cases.py OUT_DIR

Every case is a folder OUT_DIR/<case>/ holding `model.onnx` (built with
onnx.helper), .npy files and a manifest `case.txt` (read by
tests/oracle_runner.c), one directive per line:

  input  <tensor> <file.npy>                       float32 value fed with cc_session_set_input
  output <tensor> <file.npy> <rtol>                forward check: max|a-b| <= rtol*max(1,max|ref|)
  grad   <from> <seed.npy> <target> <expected.npy> <rtol>
                                                   seed is K x shape(from), expected K x shape(target);
                                                   check max|a-b| <= rtol*max|expected| + 1e-6
  fd     <eps>                                     finite-difference step for the runner's own
                                                   check of grads to graph inputs (0 = no FD check)

Expected values come from PyTorch (torch.nn.functional where torch has the op),
evaluated in float64 on the float32 inputs, and gradients from torch.autograd,
one backward per seed row (K = 3), to every float graph input (weights are
graph inputs here, so weight gradients are covered) plus, in the multi-op
cases, to some initializers and activations.  Inputs are drawn so that no
element sits near a kink (ReLU at 0, Clip bounds, ...) and pooling windows
have no ties.  Deterministic (fixed seeds); a stamp file with the hash of this
script skips regeneration when nothing changed.
"""
import hashlib
import math
import os
import shutil
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    import onnx
    from onnx import helper, TensorProto, numpy_helper
except ImportError as e:  # pragma: no cover
    print("SKIP: gen_op_cases.py needs numpy, torch and onnx (%s)" % e)
    sys.exit(77)

K = 3
DT = torch.float64
RTOL_F = 2e-5      # default forward tolerance
RTOL_G = 1e-4      # default gradient tolerance


# ----------------------------------------------------------------------------- inputs

class Rng:
    def __init__(self, seed):
        self.r = np.random.RandomState(seed)

    def normal(self, shape, scale=1.0):
        return (self.r.standard_normal(shape) * scale).astype(np.float32)

    def uniform(self, shape, lo, hi):
        return self.r.uniform(lo, hi, shape).astype(np.float32)

    def distinct(self, shape, lo=-2.0, hi=2.0, avoid=(), margin=0.0):
        """A permutation of evenly spaced distinct values (no ties), none within
        `margin` of any point in `avoid`."""
        n = int(np.prod(shape)) if len(shape) else 1
        vals = np.linspace(lo, hi, n + 8 * len(avoid) * max(1, n // 16) + 1)
        keep = np.ones(len(vals), bool)
        for a in avoid:
            keep &= np.abs(vals - a) >= margin
        vals = vals[keep]
        vals = self.r.permutation(vals)[:n]
        assert len(vals) == n
        return vals.reshape(shape).astype(np.float32)

    def kinkfree(self, shape, avoid=(0.0,), margin=0.05, scale=1.0):
        """Normal values pushed away from the kinks by at least margin."""
        v = self.r.standard_normal(shape) * scale
        for a in avoid:
            d = v - a
            close = np.abs(d) < margin
            v[close] = a + np.where(d[close] >= 0, margin, -margin) + d[close]
        return v.astype(np.float32)

    def ints(self, shape, lo, hi):
        return self.r.randint(lo, hi, shape).astype(np.int64)


# ----------------------------------------------------------------------------- case builder

CASES = []


def case(name, opset, nodes, inputs, outputs, fn, inits=None, rtol_f=RTOL_F, rtol_g=RTOL_G,
         grad_targets=None, extra_targets=(), fd=1e-2, seed_from=None, value_info_shapes=True, seeds=K):
    """inputs: list of (name, np.float32 array) graph inputs.
    inits: list of (name, np array) initializers (float or int64).
    outputs: graph output names.
    fn(t): t maps input/initializer names to float64 torch tensors (float ones
    require grad); returns a dict name -> tensor holding at least every output
    (and every activation named in extra_targets).
    grad_targets: names of float graph inputs to differentiate (default all).
    extra_targets: initializer / activation names also differentiated.
    seed_from: outputs to seed (default all graph outputs, one group each).
    seeds: seed rows per output (K; 1 takes the single-seed paths)."""
    CASES.append(dict(name=name, opset=opset, nodes=nodes, inputs=inputs, outputs=outputs, fn=fn,
                      inits=inits or [], rtol_f=rtol_f, rtol_g=rtol_g, grad_targets=grad_targets,
                      extra_targets=list(extra_targets), fd=fd, seed_from=seed_from, seeds=seeds))


def np_dtype_to_onnx(a):
    return {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int64): TensorProto.INT64,
            np.dtype(np.float64): TensorProto.DOUBLE, np.dtype(np.int32): TensorProto.INT32}[a.dtype]


def build_case(c, root, rng):
    d = os.path.join(root, c["name"])
    os.makedirs(d)
    # torch tensors
    t = {}
    float_names = []
    for n, a in c["inputs"]:
        assert a.dtype == np.float32, (c["name"], n)
        t[n] = torch.tensor(a.astype(np.float64), dtype=DT, requires_grad=True)
        float_names.append(n)
    for n, a in c["inits"]:
        if a.dtype == np.float32:
            t[n] = torch.tensor(a.astype(np.float64), dtype=DT, requires_grad=True)
        else:
            t[n] = torch.tensor(a)
    res = c["fn"](t)
    for o in c["outputs"]:
        assert o in res, (c["name"], o)

    # model
    g_inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(a.shape)) for n, a in c["inputs"]]
    g_outputs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, list(res[o].shape)) for o in c["outputs"]]
    g_inits = [numpy_helper.from_array(a, n) for n, a in c["inits"]]
    graph = helper.make_graph(c["nodes"], c["name"], g_inputs, g_outputs, g_inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", c["opset"])],
                              producer_name="contrastcam-gen_op_cases")
    model.ir_version = 8 if c["opset"] <= 17 else 8
    if c["opset"] <= 17:
        onnx.checker.check_model(model)
        # Cross-check the fixture's torch semantics against ONNX shape inference.
        inf = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        for vi in inf.graph.output:
            dims = [x.dim_value for x in vi.type.tensor_type.shape.dim]
            want = list(res[vi.name].shape)
            assert dims == want, "%s: ONNX infers %s for %s, torch gives %s" % (c["name"], dims, vi.name, want)
        for vi in inf.graph.value_info:
            if vi.name in res:
                dims = [x.dim_value for x in vi.type.tensor_type.shape.dim]
                assert dims == list(res[vi.name].shape), (c["name"], vi.name, dims)
    onnx.save(model, os.path.join(d, "model.onnx"))

    lines = []
    for n, a in c["inputs"]:
        fn = "in_%s.npy" % n
        np.save(os.path.join(d, fn), np.ascontiguousarray(a))
        lines.append("input %s %s" % (n, fn))
    for o in c["outputs"]:
        fn = "out_%s.npy" % o
        np.save(os.path.join(d, fn), np.ascontiguousarray(res[o].detach().numpy().astype(np.float32)))
        lines.append("output %s %s %g" % (o, fn, c["rtol_f"]))

    targets = c["grad_targets"] if c["grad_targets"] is not None else float_names
    targets = list(targets) + c["extra_targets"]
    seeds_from = c["seed_from"] if c["seed_from"] is not None else c["outputs"]
    for o in seeds_from if targets else []:   # no targets: a forward-only case
        y = res[o]
        seed = rng.normal((c["seeds"],) + tuple(y.shape))
        sfn = "seed_%s.npy" % o
        np.save(os.path.join(d, sfn), np.ascontiguousarray(seed))
        tt = [t[n] if n in t else res[n] for n in targets]
        grads = [[] for _ in tt]
        for k in range(c["seeds"]):
            gs = torch.autograd.grad(y, tt, grad_outputs=torch.tensor(seed[k].astype(np.float64)),
                                     retain_graph=True, allow_unused=True)
            for i, gk in enumerate(gs):
                grads[i].append(torch.zeros_like(tt[i]) if gk is None else gk)
        for n, gl in zip(targets, grads):
            G = np.ascontiguousarray(torch.stack(gl).detach().numpy().astype(np.float32))
            gfn = "grad_%s_%s.npy" % (o, n)
            np.save(os.path.join(d, gfn), G)
            lines.append("grad %s %s %s %s %g" % (o, sfn, n, gfn, c["rtol_g"]))
    lines.append("fd %g" % c["fd"])
    with open(os.path.join(d, "case.txt"), "w") as f:
        f.write("# %s (opset %d), generated by tests/gen_op_cases.py\n" % (c["name"], c["opset"]))
        f.write("\n".join(lines) + "\n")


def node(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


def i64(*v):
    return np.array(v, dtype=np.int64)


def f32(*v):
    return np.array(v, dtype=np.float32)


# ----------------------------------------------------------------------------- torch helpers with ONNX semantics

def tpad(pads):
    """ONNX pads [b1..bn, e1..en] -> torch F.pad tuple (last dim first)."""
    n = len(pads) // 2
    out = []
    for i in reversed(range(n)):
        out += [int(pads[i]), int(pads[i + n])]
    while len(out) > 4 and out[-1] == 0 and out[-2] == 0:   # torch's non-constant modes want 2 dims only
        out = out[:-2]
    return tuple(out)


def same_pads(in_sz, k, s, d, upper=True):
    pads_b, pads_e = [], []
    for i in range(len(in_sz)):
        out = -(-in_sz[i] // s[i])
        total = max(0, (out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - in_sz[i])
        small = total // 2
        b, e = (small, total - small) if upper else (total - small, small)
        pads_b.append(b)
        pads_e.append(e)
    return pads_b + pads_e


def conv_ref(x, w, b, pads, stride=(1, 1), dil=(1, 1), groups=1):
    if pads[0] == pads[2] and pads[1] == pads[3]:
        return F.conv2d(x, w, b, stride=stride, padding=(pads[0], pads[1]), dilation=dil, groups=groups)
    return F.conv2d(F.pad(x, tpad([0, 0] + list(pads[:2]) + [0, 0] + list(pads[2:]))), w, b,
                    stride=stride, dilation=dil, groups=groups)


def avgpool_general(x, k, s, pads, ceil_mode, count_include_pad):
    """AveragePool with possibly asymmetric pads: window sums / window counts."""
    p = tpad([0, 0] + list(pads[:2]) + [0, 0] + list(pads[2:]))
    xs = F.pad(x, p)
    ssum = F.avg_pool2d(xs, k, s, ceil_mode=ceil_mode, divisor_override=1)
    ones = torch.ones_like(x[:1, :1])
    cnt = F.avg_pool2d(F.pad(ones, p, value=1.0 if count_include_pad else 0.0), k, s, ceil_mode=ceil_mode,
                       divisor_override=1)
    return ssum / cnt


def lrn_ref(x, size, alpha, beta, bias):
    if size % 2 == 1:
        return F.local_response_norm(x, size, alpha, beta, bias)
    # ONNX window: [c - floor((size-1)/2), c + ceil((size-1)/2)]
    front, back = (size - 1) // 2, size - 1 - (size - 1) // 2
    sq = F.pad(x * x, (0, 0, 0, 0, front, back))
    C = x.shape[1]
    ssum = sum(sq[:, i:i + C] for i in range(size))
    return x / (bias + alpha / size * ssum) ** beta


def slice_ref(x, starts, ends, axes=None, steps=None):
    axes = list(range(len(starts))) if axes is None else list(axes)
    steps = [1] * len(starts) if steps is None else list(steps)
    y = x
    for st, en, ax, sp in zip(starts, ends, axes, steps):
        ax = ax + x.dim() if ax < 0 else ax
        dim = x.shape[ax]
        st = st + dim if st < 0 else st
        en = en + dim if en < 0 else en
        if sp > 0:
            st, en = min(max(st, 0), dim), min(max(en, 0), dim)
        else:
            st, en = min(max(st, 0), dim - 1), min(max(en, -1), dim - 1)
        idx = list(range(st, en, sp))
        y = torch.index_select(y, ax, torch.tensor(idx, dtype=torch.long))
    return y


def gather_ref(x, idx, axis):
    axis = axis + x.dim() if axis < 0 else axis
    idx = torch.as_tensor(idx)
    flat = torch.where(idx < 0, idx + x.shape[axis], idx).reshape(-1)
    y = torch.index_select(x, axis, flat)
    return y.reshape(tuple(x.shape[:axis]) + tuple(idx.shape) + tuple(x.shape[axis + 1:]))


def softmax_v11(x, axis, log=False):
    axis = axis + x.dim() if axis < 0 else axis
    shp = x.shape
    x2 = x.reshape(int(np.prod(shp[:axis])), -1)
    y = F.log_softmax(x2, dim=1) if log else F.softmax(x2, dim=1)
    return y.reshape(shp)


# ----------------------------------------------------------------------------- the cases

def define_cases():
    R = Rng(1234)

    # ---------------- Conv
    def conv_case(name, xs, ws, bias=True, pads=(0, 0, 0, 0), strides=(1, 1), dil=(1, 1), groups=1,
                  auto_pad=None, opset=11, give_kernel_shape=True, const_w=False):
        """const_w: weights and bias as initializers (the packed / direct forward
        paths need constant weights), their gradients checked as extra targets."""
        x = R.normal(xs)
        w = R.normal(ws, 1.0 / math.sqrt(np.prod(ws[1:])))
        ins = [("x", x), ("w", w)]
        names = ["x", "w"]
        if bias:
            ins.append(("b", R.normal((ws[0],), 0.5)))
            names.append("b")
        inits, extra = [], []
        if const_w:
            inits, ins = ins[1:], ins[:1]
            extra = [n for n, _ in inits]
        attrs = dict(strides=list(strides), dilations=list(dil), group=groups)
        if give_kernel_shape:
            attrs["kernel_shape"] = list(ws[2:])
        if auto_pad:
            attrs["auto_pad"] = auto_pad
            if auto_pad == "VALID":
                p = [0, 0, 0, 0]
            else:
                p = same_pads(xs[2:], ws[2:], strides, dil, upper=(auto_pad == "SAME_UPPER"))
        else:
            attrs["pads"] = list(pads)
            p = list(pads)

        def fn(t):
            return {"y": conv_ref(t["x"], t["w"], t["b"] if bias else None, p, strides, dil, groups)}
        case(name, opset, [node("Conv", names, ["y"], **attrs)], ins, ["y"], fn, inits=inits, extra_targets=extra,
             rtol_f=1e-4, rtol_g=1e-4)

    conv_case("conv_basic_p1", (1, 3, 7, 7), (4, 3, 3, 3), pads=(1, 1, 1, 1))
    conv_case("conv_batch2_s2_nobias", (2, 3, 9, 8), (5, 3, 3, 3), bias=False, strides=(2, 2), opset=13)
    conv_case("conv_groups2_rect_asympad", (1, 4, 7, 8), (6, 2, 3, 2), groups=2, pads=(0, 1, 1, 2))
    conv_case("conv_depthwise_s2", (1, 4, 9, 9), (4, 1, 3, 3), groups=4, strides=(2, 2), pads=(1, 1, 1, 1))
    conv_case("conv_depthwise_mult2", (1, 3, 6, 6), (6, 1, 3, 3), groups=3, pads=(1, 1, 1, 1), opset=13)
    conv_case("conv_dilation2", (1, 2, 9, 10), (3, 2, 3, 3), dil=(2, 2), pads=(2, 2, 2, 2))
    conv_case("conv_dilation_stride_mixed", (1, 2, 11, 9), (3, 2, 3, 2), dil=(2, 1), strides=(2, 1),
              pads=(1, 0, 2, 1), opset=17)
    conv_case("conv_autopad_same_upper_s2", (1, 3, 8, 7), (4, 3, 3, 3), strides=(2, 2), auto_pad="SAME_UPPER")
    conv_case("conv_autopad_same_lower_s2", (1, 3, 8, 7), (4, 3, 3, 3), strides=(2, 2), auto_pad="SAME_LOWER")
    conv_case("conv_autopad_valid", (1, 3, 8, 7), (4, 3, 3, 3), strides=(2, 1), auto_pad="VALID")
    conv_case("conv_1x1", (1, 8, 5, 5), (4, 8, 1, 1), opset=13, give_kernel_shape=False)
    conv_case("conv_k5_s3_p2", (1, 2, 13, 12), (3, 2, 5, 5), strides=(3, 3), pads=(2, 2, 2, 2), opset=14)
    conv_case("conv_k7_s2_p3_noks", (1, 3, 16, 16), (8, 3, 7, 7), strides=(2, 2), pads=(3, 3, 3, 3),
              give_kernel_shape=False)

    # ---------------- MaxPool (distinct values: no ties)
    def maxpool_case(name, xs, k, s=None, pads=(0, 0, 0, 0), ceil=0, dil=None, opset=11, fd=1e-3):
        x = R.distinct(xs)
        s = s or [1, 1]
        attrs = dict(kernel_shape=list(k), strides=list(s), pads=list(pads))
        if ceil:
            attrs["ceil_mode"] = 1
        if dil:
            attrs["dilations"] = list(dil)

        def fn(t):
            xx = t["x"]
            if pads[0] == pads[2] and pads[1] == pads[3]:
                y = F.max_pool2d(xx, k, s, padding=(pads[0], pads[1]), dilation=dil or 1, ceil_mode=bool(ceil))
            else:
                xx = F.pad(xx, tpad([0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]]), value=-math.inf)
                y = F.max_pool2d(xx, k, s, dilation=dil or 1, ceil_mode=bool(ceil))
            return {"y": y}
        case(name, opset, [node("MaxPool", ["x"], ["y"], **attrs)], [("x", x)], ["y"], fn, fd=fd)

    maxpool_case("maxpool_k2_s2", (1, 3, 8, 8), (2, 2), (2, 2))
    maxpool_case("maxpool_k3_s2_p1", (2, 2, 9, 9), (3, 3), (2, 2), pads=(1, 1, 1, 1), opset=12)
    maxpool_case("maxpool_k3_s2_ceil", (1, 3, 8, 8), (3, 3), (2, 2), ceil=1)
    maxpool_case("maxpool_k3_s2_p1_ceil", (1, 2, 10, 10), (3, 3), (2, 2), pads=(1, 1, 1, 1), ceil=1, opset=12)
    maxpool_case("maxpool_k3_s1_p1", (1, 2, 6, 7), (3, 3), (1, 1), pads=(1, 1, 1, 1))
    maxpool_case("maxpool_asympad", (1, 2, 8, 8), (3, 3), (2, 2), pads=(0, 0, 1, 1))
    maxpool_case("maxpool_rect_stride", (1, 2, 7, 9), (2, 3), (1, 2), opset=12)
    maxpool_case("maxpool_dilation2", (1, 2, 9, 9), (2, 2), (1, 1), dil=(2, 2), opset=12)

    # ---------------- AveragePool
    def avgpool_case(name, xs, k, s, pads=(0, 0, 0, 0), cip=0, ceil=0, opset=11):
        x = R.normal(xs)
        attrs = dict(kernel_shape=list(k), strides=list(s), pads=list(pads), count_include_pad=cip)
        if ceil:
            attrs["ceil_mode"] = 1

        def fn(t):
            if pads[0] == pads[2] and pads[1] == pads[3]:
                y = F.avg_pool2d(t["x"], k, s, padding=(pads[0], pads[1]), ceil_mode=bool(ceil),
                                 count_include_pad=bool(cip))
                y2 = avgpool_general(t["x"], k, s, pads, bool(ceil), bool(cip))
                assert torch.allclose(y, y2), name
            else:
                y = avgpool_general(t["x"], k, s, pads, bool(ceil), bool(cip))
            return {"y": y}
        case(name, opset, [node("AveragePool", ["x"], ["y"], **attrs)], [("x", x)], ["y"], fn)

    avgpool_case("avgpool_k2_s2", (1, 3, 8, 8), (2, 2), (2, 2))
    avgpool_case("avgpool_k3_s1_p1_excl", (1, 2, 6, 7), (3, 3), (1, 1), pads=(1, 1, 1, 1), cip=0)
    avgpool_case("avgpool_k3_s1_p1_incl", (1, 2, 6, 7), (3, 3), (1, 1), pads=(1, 1, 1, 1), cip=1)
    avgpool_case("avgpool_k3_s2_p1_excl", (2, 2, 9, 9), (3, 3), (2, 2), pads=(1, 1, 1, 1), cip=0)
    avgpool_case("avgpool_k3_s2_ceil_excl", (1, 2, 8, 8), (3, 3), (2, 2), ceil=1, cip=0)
    avgpool_case("avgpool_k3_s2_ceil_incl", (1, 2, 8, 8), (3, 3), (2, 2), ceil=1, cip=1)
    avgpool_case("avgpool_k3_s2_p1_ceil_incl", (1, 2, 10, 10), (3, 3), (2, 2), pads=(1, 1, 1, 1), ceil=1, cip=1)
    avgpool_case("avgpool_asympad_excl", (1, 2, 8, 8), (3, 3), (2, 2), pads=(0, 1, 1, 0), cip=0)
    avgpool_case("avgpool_asympad_incl", (1, 2, 8, 8), (3, 3), (2, 2), pads=(0, 1, 1, 0), cip=1)
    avgpool_case("avgpool_k1_s1_v13", (1, 3, 7, 7), (1, 1), (1, 1), opset=13)

    case("globalavgpool", 11, [node("GlobalAveragePool", ["x"], ["y"])], [("x", R.normal((2, 3, 5, 6)))], ["y"],
         lambda t: {"y": F.adaptive_avg_pool2d(t["x"], 1)})
    case("globalmaxpool", 11, [node("GlobalMaxPool", ["x"], ["y"])], [("x", R.distinct((2, 3, 5, 6)))], ["y"],
         lambda t: {"y": F.adaptive_max_pool2d(t["x"], 1)}, fd=1e-3)

    # ---------------- LRN
    for nm, size, alpha, beta, bias in [("lrn_s5_alexnet", 5, 1e-4, 0.75, 1.0), ("lrn_s3_strong", 3, 0.5, 0.75, 2.0),
                                        ("lrn_s4_even", 4, 0.3, 0.6, 1.5)]:
        x = R.normal((1, 7, 4, 5), 1.5)
        case(nm, 13, [node("LRN", ["x"], ["y"], size=size, alpha=alpha, beta=beta, bias=bias)], [("x", x)], ["y"],
             (lambda s, a, b, c: lambda t: {"y": lrn_ref(t["x"], s, a, b, c)})(size, alpha, beta, bias),
             rtol_f=1e-4, rtol_g=2e-4)

    # ---------------- Pad
    x = R.normal((1, 2, 4, 5))
    case("pad_constant_v11", 11, [node("Pad", ["x", "pads", "cval"], ["y"], mode="constant")], [("x", x)], ["y"],
         lambda t: {"y": F.pad(t["x"], tpad([0, 1, 1, 2, 0, 0, 2, 1]), value=0.5)},
         inits=[("pads", i64(0, 1, 1, 2, 0, 0, 2, 1)), ("cval", f32(0.5).reshape(()))])
    case("pad_constant_noval_v13", 13, [node("Pad", ["x", "pads"], ["y"])], [("x", x)], ["y"],
         lambda t: {"y": F.pad(t["x"], tpad([0, 0, 1, 0, 0, 0, 0, 3]))}, inits=[("pads", i64(0, 0, 1, 0, 0, 0, 0, 3))])
    case("pad_constant_negative_v13", 13, [node("Pad", ["x", "pads"], ["y"])], [("x", x)], ["y"],
         lambda t: {"y": F.pad(t["x"], tpad([0, 0, -1, 2, 0, 0, 1, -2]))},
         inits=[("pads", i64(0, 0, -1, 2, 0, 0, 1, -2))])
    case("pad_reflect_v11", 11, [node("Pad", ["x", "pads"], ["y"], mode="reflect")], [("x", x)], ["y"],
         lambda t: {"y": F.pad(t["x"], tpad([0, 0, 2, 1, 0, 0, 1, 3]), mode="reflect")},
         inits=[("pads", i64(0, 0, 2, 1, 0, 0, 1, 3))])
    case("pad_edge_v13", 13, [node("Pad", ["x", "pads"], ["y"], mode="edge")], [("x", x)], ["y"],
         lambda t: {"y": F.pad(t["x"], tpad([0, 0, 2, 1, 0, 0, 1, 3]), mode="replicate")},
         inits=[("pads", i64(0, 0, 2, 1, 0, 0, 1, 3))])
    case("pad_attr_v10", 10, [node("Pad", ["x"], ["y"], mode="constant", pads=[0, 0, 1, 1, 0, 0, 1, 1], value=-1.0)],
         [("x", x)], ["y"], lambda t: {"y": F.pad(t["x"], (1, 1, 1, 1), value=-1.0)})
    case("pad_reflect_attr_v10", 10, [node("Pad", ["x"], ["y"], mode="reflect", pads=[0, 0, 1, 2, 0, 0, 3, 0])],
         [("x", x)], ["y"], lambda t: {"y": F.pad(t["x"], tpad([0, 0, 1, 2, 0, 0, 3, 0]), mode="reflect")})
    case("pad_axes_v18", 18, [node("Pad", ["x", "pads", "", "axes"], ["y"], mode="edge")], [("x", x)], ["y"],
         lambda t: {"y": F.pad(t["x"], (2, 1, 0, 3), mode="replicate")},
         inits=[("pads", i64(0, 2, 3, 1)), ("axes", i64(-2, -1))])

    # ---------------- element-wise activations
    xs = (2, 3, 4, 5)
    case("relu", 13, [node("Relu", ["x"], ["y"])], [("x", R.kinkfree(xs))], ["y"], lambda t: {"y": F.relu(t["x"])})
    case("relu_v7", 7, [node("Relu", ["x"], ["y"])], [("x", R.kinkfree(xs))], ["y"], lambda t: {"y": F.relu(t["x"])})
    case("leakyrelu", 11, [node("LeakyRelu", ["x"], ["y"], alpha=0.1)], [("x", R.kinkfree(xs))], ["y"],
         lambda t: {"y": F.leaky_relu(t["x"], 0.1)})
    case("leakyrelu_default", 16, [node("LeakyRelu", ["x"], ["y"])], [("x", R.kinkfree(xs))], ["y"],
         lambda t: {"y": F.leaky_relu(t["x"], 0.01)})
    kc = R.kinkfree(xs, avoid=(-0.5, 0.8), margin=0.05)
    case("clip_attr_v9", 9, [node("Clip", ["x"], ["y"], min=-0.5, max=0.8)], [("x", kc)], ["y"],
         lambda t: {"y": torch.clamp(t["x"], -0.5, 0.8)})
    case("clip_inputs_v11", 11, [node("Clip", ["x", "lo", "hi"], ["y"])], [("x", kc)], ["y"],
         lambda t: {"y": torch.clamp(t["x"], -0.5, 0.8)}, inits=[("lo", f32(-0.5).reshape(())), ("hi", f32(0.8).reshape(()))],
         grad_targets=["x"])
    k6 = R.kinkfree(xs, avoid=(0.0, 6.0), margin=0.05, scale=4.0)
    case("clip_relu6_v13", 13, [node("Clip", ["x", "lo", "hi"], ["y"])], [("x", k6)], ["y"],
         lambda t: {"y": torch.clamp(t["x"], 0.0, 6.0)}, inits=[("lo", f32(0.0).reshape(())), ("hi", f32(6.0).reshape(()))],
         grad_targets=["x"])
    case("clip_min_only_v13", 13, [node("Clip", ["x", "lo"], ["y"])], [("x", kc)], ["y"],
         lambda t: {"y": torch.clamp(t["x"], min=-0.5)}, inits=[("lo", f32(-0.5).reshape(()))], grad_targets=["x"])
    case("clip_max_only_v13", 13, [node("Clip", ["x", "", "hi"], ["y"])], [("x", kc)], ["y"],
         lambda t: {"y": torch.clamp(t["x"], max=0.8)}, inits=[("hi", f32(0.8).reshape(()))], grad_targets=["x"])
    case("clip_none_v13", 13, [node("Clip", ["x"], ["y"])], [("x", kc)], ["y"], lambda t: {"y": t["x"] * 1.0})
    case("sigmoid", 13, [node("Sigmoid", ["x"], ["y"])], [("x", R.normal(xs, 3.0))], ["y"],
         lambda t: {"y": torch.sigmoid(t["x"])})
    case("tanh", 13, [node("Tanh", ["x"], ["y"])], [("x", R.normal(xs, 2.0))], ["y"], lambda t: {"y": torch.tanh(t["x"])})
    hs = R.kinkfree(xs, avoid=(-2.5, 2.5), margin=0.05, scale=2.5)
    case("hardsigmoid_default", 7, [node("HardSigmoid", ["x"], ["y"])], [("x", hs)], ["y"],
         lambda t: {"y": torch.clamp(0.2 * t["x"] + 0.5, 0, 1)})
    hs3 = R.kinkfree(xs, avoid=(-3.0, 3.0), margin=0.05, scale=3.0)
    case("hardsigmoid_torch", 13, [node("HardSigmoid", ["x"], ["y"], alpha=1.0 / 6, beta=0.5)], [("x", hs3)], ["y"],
         lambda t: {"y": F.hardsigmoid(t["x"])})
    case("hardswish", 14, [node("HardSwish", ["x"], ["y"])], [("x", hs3)], ["y"], lambda t: {"y": F.hardswish(t["x"])})
    case("erf", 13, [node("Erf", ["x"], ["y"])], [("x", R.normal(xs, 1.5))], ["y"], lambda t: {"y": torch.erf(t["x"])})
    case("sqrt", 13, [node("Sqrt", ["x"], ["y"])], [("x", R.uniform(xs, 0.2, 4.0))], ["y"],
         lambda t: {"y": torch.sqrt(t["x"])}, fd=1e-3)
    case("pow_tensor", 13, [node("Pow", ["x", "p"], ["y"])], [("x", R.uniform(xs, 0.3, 2.0)), ("p", R.uniform((5,), -1.5, 2.5))],
         ["y"], lambda t: {"y": torch.pow(t["x"], t["p"])}, rtol_f=1e-4, rtol_g=2e-4, fd=1e-3)
    case("pow_square_negbase", 13, [node("Pow", ["x", "p"], ["y"])], [("x", R.normal(xs))], ["y"],
         lambda t: {"y": torch.pow(t["x"], t["p"])}, inits=[("p", f32(2.0).reshape(()))], grad_targets=["x"])
    case("pow_cube_v7", 7, [node("Pow", ["x", "p"], ["y"])], [("x", R.normal(xs))], ["y"],
         lambda t: {"y": torch.pow(t["x"], t["p"])}, inits=[("p", f32(3.0))], grad_targets=["x"], rtol_f=1e-4)
    case("pow_sqrt", 15, [node("Pow", ["x", "p"], ["y"])], [("x", R.uniform(xs, 0.2, 3.0))], ["y"],
         lambda t: {"y": torch.pow(t["x"], t["p"])}, inits=[("p", f32(0.5).reshape(()))], grad_targets=["x"], fd=1e-3)
    case("dropout_v11", 11, [node("Dropout", ["x"], ["y"], ratio=0.3)], [("x", R.normal(xs))], ["y"],
         lambda t: {"y": F.dropout(t["x"], 0.3, training=False)})
    case("dropout_v13_ratio_input", 13, [node("Dropout", ["x", "r"], ["y"])], [("x", R.normal(xs))], ["y"],
         lambda t: {"y": F.dropout(t["x"], 0.5, training=False)}, inits=[("r", f32(0.5).reshape(()))], grad_targets=["x"])
    case("identity", 13, [node("Identity", ["x"], ["y"])], [("x", R.normal(xs))], ["y"], lambda t: {"y": t["x"] * 1.0})

    # ---------------- binary arithmetic with broadcasting
    shapes = [((2, 3, 4, 5), (2, 3, 4, 5), "same"), ((2, 3, 4, 5), (3, 1, 1), "chan"),
              ((1, 3, 1, 5), (2, 1, 4, 1), "both"), ((2, 3, 4, 5), (), "scalar"), ((5,), (2, 3, 4, 5), "vecleft")]
    for op, tf in [("Add", torch.add), ("Sub", torch.sub), ("Mul", torch.mul), ("Div", torch.div)]:
        for sa, sb, tag in shapes:
            if op in ("Add", "Mul") or tag in ("chan", "both", "scalar", "vecleft"):
                a = R.normal(sa)
                if op == "Div":
                    b = (R.uniform(sb, 0.5, 2.0) * np.where(R.uniform(sb, 0, 1) < 0.5, -1, 1)).astype(np.float32)
                else:
                    b = R.normal(sb)
                case("%s_%s" % (op.lower(), tag), 13 if tag != "same" else 7, [node(op, ["a", "b"], ["y"])],
                     [("a", a), ("b", b)], ["y"], (lambda f: lambda t: {"y": f(t["a"], t["b"])})(tf), fd=1e-3)
    case("mul_self", 13, [node("Mul", ["a", "a"], ["y"])], [("a", R.normal((3, 4)))], ["y"],
         lambda t: {"y": t["a"] * t["a"]})

    # ---------------- BatchNormalization
    def bn_case(name, opset, attrs, targets=None, xs=(2, 3, 4, 5)):
        C = xs[1]
        ins = [("x", R.normal(xs, 2.0)), ("scale", R.uniform((C,), 0.5, 1.5)), ("B", R.normal((C,), 0.5)),
               ("mean", R.normal((C,), 0.5)), ("var", R.uniform((C,), 0.5, 1.5))]
        eps = attrs.get("epsilon", 1e-5)

        def fn(t):
            y = F.batch_norm(t["x"], t["mean"].detach(), t["var"].detach(), t["scale"], t["B"], False, 0.0, eps)
            sh = (1, -1) + (1,) * (len(xs) - 2)
            y2 = (t["x"] - t["mean"].reshape(sh)) / torch.sqrt(t["var"].reshape(sh) + eps) * t["scale"].reshape(sh) \
                + t["B"].reshape(sh)
            assert torch.allclose(y, y2)
            return {"y": y2}
        case(name, opset, [node("BatchNormalization", ["x", "scale", "B", "mean", "var"], ["y"], **attrs)], ins, ["y"],
             fn, grad_targets=targets, rtol_f=1e-4)
    bn_case("batchnorm_v9", 9, dict(epsilon=1e-5), targets=["x", "scale", "B"])
    bn_case("batchnorm_v14_eps", 14, dict(epsilon=1e-3, training_mode=0), targets=["x", "scale", "B"])
    bn_case("batchnorm_v15_2d", 15, dict(epsilon=1e-5), targets=["x", "scale", "B"], xs=(4, 6))
    bn_case("batchnorm_stats_grad", 15, dict(epsilon=1e-5))   # gradients to running mean / var too

    # ---------------- Softmax / LogSoftmax
    x4 = R.normal((2, 3, 4, 5), 2.0)
    for op, log in [("Softmax", False), ("LogSoftmax", True)]:
        nm = op.lower()
        case(nm + "_v11_axis1", 11, [node(op, ["x"], ["y"], axis=1)], [("x", x4)], ["y"],
             (lambda l: lambda t: {"y": softmax_v11(t["x"], 1, l)})(log), rtol_g=2e-4)
        case(nm + "_v11_default", 11, [node(op, ["x"], ["y"])], [("x", x4)], ["y"],
             (lambda l: lambda t: {"y": softmax_v11(t["x"], 1, l)})(log), rtol_g=2e-4)
        case(nm + "_v11_2d", 11, [node(op, ["x"], ["y"])], [("x", R.normal((3, 10), 2.0))], ["y"],
             (lambda l: lambda t: {"y": (F.log_softmax if l else F.softmax)(t["x"], dim=1)})(log))
        case(nm + "_v13_axis1", 13, [node(op, ["x"], ["y"], axis=1)], [("x", x4)], ["y"],
             (lambda l: lambda t: {"y": (F.log_softmax if l else F.softmax)(t["x"], dim=1)})(log))
        case(nm + "_v13_default", 13, [node(op, ["x"], ["y"])], [("x", x4)], ["y"],
             (lambda l: lambda t: {"y": (F.log_softmax if l else F.softmax)(t["x"], dim=-1)})(log))
        case(nm + "_v13_axism2", 13, [node(op, ["x"], ["y"], axis=-2)], [("x", x4)], ["y"],
             (lambda l: lambda t: {"y": (F.log_softmax if l else F.softmax)(t["x"], dim=-2)})(log))

    # ---------------- Gemm / MatMul
    def gemm_case(name, M, Kd, N, ta=0, tb=0, alpha=1.0, beta=1.0, cshape="vec", opset=11, seeds=K):
        A = R.normal((Kd, M) if ta else (M, Kd))
        B = R.normal((N, Kd) if tb else (Kd, N))
        ins = [("A", A), ("B", B)]
        cs = {"vec": (N,), "row": (1, N), "col": (M, 1), "full": (M, N), "scalar": (), "none": None}[cshape]
        names = ["A", "B"]
        if cs is not None:
            ins.append(("C", R.normal(cs)))
            names.append("C")

        def fn(t):
            a = t["A"].t() if ta else t["A"]
            b = t["B"].t() if tb else t["B"]
            y = alpha * (a @ b)
            if cs is not None:
                y = y + beta * t["C"]
            return {"y": y}
        attrs = dict(alpha=alpha, beta=beta)
        if ta:
            attrs["transA"] = 1
        if tb:
            attrs["transB"] = 1
        case(name, opset, [node("Gemm", names, ["y"], **attrs)], ins, ["y"], fn, rtol_f=1e-4, fd=1e-2, seeds=seeds)
    gemm_case("gemm_basic", 3, 4, 5)
    gemm_case("gemm_transB_linear", 2, 6, 4, tb=1, cshape="vec", opset=13)
    gemm_case("gemm_transA", 3, 4, 5, ta=1, cshape="full")
    gemm_case("gemm_transAB_alpha_beta", 3, 4, 5, ta=1, tb=1, alpha=0.7, beta=-1.3, cshape="row")
    gemm_case("gemm_col_bias", 3, 4, 5, alpha=2.0, beta=0.5, cshape="col", opset=13)
    gemm_case("gemm_scalar_c", 3, 4, 5, cshape="scalar", opset=13)
    gemm_case("gemm_no_c", 3, 4, 5, tb=1, cshape="none", opset=13)
    gemm_case("gemm_v7_bias", 1, 7, 3, tb=1, cshape="vec", opset=7)

    for nm, sa, sb in [("matmul_2d", (3, 4), (4, 5)), ("matmul_batched", (2, 3, 4), (2, 4, 5)),
                       ("matmul_bcast", (2, 1, 3, 4), (3, 4, 5)), ("matmul_bcast_rhs2d", (2, 3, 4), (4, 5)),
                       ("matmul_vec_mat", (4,), (4, 5)), ("matmul_mat_vec", (3, 4), (4,))]:
        case(nm, 13, [node("MatMul", ["a", "b"], ["y"])], [("a", R.normal(sa)), ("b", R.normal(sb))], ["y"],
             lambda t: {"y": torch.matmul(t["a"], t["b"])}, rtol_f=1e-4)

    # ---------------- shape ops
    x = R.normal((2, 3, 4, 5))
    for ax in (0, 1, 2, -1):
        case("flatten_axis%s" % str(ax).replace("-", "m"), 13, [node("Flatten", ["x"], ["y"], axis=ax)], [("x", x)], ["y"],
             (lambda a, shp: lambda t: {"y": t["x"].reshape(int(np.prod(shp[:a])) if a != 0 else 1, -1)})(ax, x.shape))
    case("flatten_default_v11", 11, [node("Flatten", ["x"], ["y"])], [("x", x)], ["y"],
         lambda t: {"y": t["x"].reshape(2, -1)})
    case("reshape_zero_minus1", 13, [node("Reshape", ["x", "s"], ["y"])], [("x", x)], ["y"],
         lambda t: {"y": t["x"].reshape(2, 3, -1)}, inits=[("s", i64(0, 0, -1))])
    case("reshape_explicit", 14, [node("Reshape", ["x", "s"], ["y"])], [("x", x)], ["y"],
         lambda t: {"y": t["x"].reshape(6, 2, 10)}, inits=[("s", i64(6, 2, 10))])
    case("reshape_v7_minus1_first", 7, [node("Reshape", ["x", "s"], ["y"])], [("x", x)], ["y"],
         lambda t: {"y": t["x"].reshape(-1, 20)}, inits=[("s", i64(-1, 20))])
    case("transpose_nhwc", 13, [node("Transpose", ["x"], ["y"], perm=[0, 2, 3, 1])], [("x", x)], ["y"],
         lambda t: {"y": t["x"].permute(0, 2, 3, 1)})
    case("transpose_default", 13, [node("Transpose", ["x"], ["y"])], [("x", x)], ["y"],
         lambda t: {"y": t["x"].permute(3, 2, 1, 0)})
    case("transpose_3d", 11, [node("Transpose", ["x"], ["y"], perm=[1, 0, 2])], [("x", R.normal((3, 4, 2)))], ["y"],
         lambda t: {"y": t["x"].permute(1, 0, 2)})
    xq = R.normal((1, 3, 1, 5))
    case("squeeze_attr_v11", 11, [node("Squeeze", ["x"], ["y"], axes=[0, -2])], [("x", xq)], ["y"],
         lambda t: {"y": t["x"].reshape(3, 5)})
    case("squeeze_input_v13", 13, [node("Squeeze", ["x", "ax"], ["y"])], [("x", xq)], ["y"],
         lambda t: {"y": t["x"].reshape(1, 3, 5)}, inits=[("ax", i64(2))])
    case("squeeze_all_v13", 13, [node("Squeeze", ["x"], ["y"])], [("x", xq)], ["y"], lambda t: {"y": t["x"].reshape(3, 5)})
    xu = R.normal((3, 5))
    case("unsqueeze_attr_v11", 11, [node("Unsqueeze", ["x"], ["y"], axes=[0, 3])], [("x", xu)], ["y"],
         lambda t: {"y": t["x"].reshape(1, 3, 5, 1)})
    case("unsqueeze_input_v13", 13, [node("Unsqueeze", ["x", "ax"], ["y"])], [("x", xu)], ["y"],
         lambda t: {"y": t["x"].reshape(3, 1, 5, 1)}, inits=[("ax", i64(-1, 1))])
    a, b, c3 = R.normal((2, 3, 4)), R.normal((2, 1, 4)), R.normal((2, 2, 4))
    case("concat_axis1", 11, [node("Concat", ["a", "b", "c"], ["y"], axis=1)], [("a", a), ("b", b), ("c", c3)], ["y"],
         lambda t: {"y": torch.cat([t["a"], t["b"], t["c"]], 1)})
    case("concat_axism1", 13, [node("Concat", ["a", "b"], ["y"], axis=-1)], [("a", R.normal((2, 3))), ("b", R.normal((2, 5)))],
         ["y"], lambda t: {"y": torch.cat([t["a"], t["b"]], -1)})
    case("concat_same_twice", 13, [node("Concat", ["a", "a"], ["y"], axis=0)], [("a", R.normal((2, 3)))], ["y"],
         lambda t: {"y": torch.cat([t["a"], t["a"]], 0)})
    xs6 = R.normal((2, 6, 3))
    case("split_attr_v11", 11, [node("Split", ["x"], ["y0", "y1", "y2"], axis=1, split=[1, 2, 3])], [("x", xs6)],
         ["y0", "y1", "y2"], lambda t: dict(zip(["y0", "y1", "y2"], torch.split(t["x"], [1, 2, 3], 1))))
    case("split_equal_v11", 11, [node("Split", ["x"], ["y0", "y1"], axis=-1)], [("x", R.normal((2, 3, 4)))], ["y0", "y1"],
         lambda t: dict(zip(["y0", "y1"], torch.split(t["x"], 2, -1))))
    case("split_input_v13", 13, [node("Split", ["x", "sp"], ["y0", "y1"], axis=1)], [("x", xs6)], ["y0", "y1"],
         lambda t: dict(zip(["y0", "y1"], torch.split(t["x"], [4, 2], 1))), inits=[("sp", i64(4, 2))])
    case("split_one_output_seeded_v13", 13, [node("Split", ["x"], ["y0", "y1", "y2"], axis=1)], [("x", xs6)],
         ["y0", "y1", "y2"], lambda t: dict(zip(["y0", "y1", "y2"], torch.split(t["x"], 2, 1))), seed_from=["y1"])
    case("split_num_outputs_v18", 18, [node("Split", ["x"], ["y0", "y1", "y2"], axis=1, num_outputs=3)],
         [("x", R.normal((2, 7, 3)))], ["y0", "y1", "y2"],
         lambda t: dict(zip(["y0", "y1", "y2"], torch.split(t["x"], 3, 1))))
    xs = R.normal((3, 6, 5))
    case("slice_attr_v9", 9, [node("Slice", ["x"], ["y"], starts=[1, 0], ends=[3, 4], axes=[1, 2])], [("x", xs)], ["y"],
         lambda t: {"y": slice_ref(t["x"], [1, 0], [3, 4], [1, 2])})
    case("slice_v11_neg_steps2", 11, [node("Slice", ["x", "st", "en", "ax", "sp"], ["y"])], [("x", xs)], ["y"],
         lambda t: {"y": slice_ref(t["x"], [-5, 0], [6, 100], [1, -1], [2, 3])},
         inits=[("st", i64(-5, 0)), ("en", i64(6, 100)), ("ax", i64(1, -1)), ("sp", i64(2, 3))])
    case("slice_v13_reverse", 13, [node("Slice", ["x", "st", "en", "ax", "sp"], ["y"])], [("x", xs)], ["y"],
         lambda t: {"y": slice_ref(t["x"], [-1], [-(2 ** 63)], [1], [-1])},
         inits=[("st", i64(-1)), ("en", i64(-(2 ** 63))), ("ax", i64(1)), ("sp", i64(-1))])
    case("slice_v13_neg_step2", 13, [node("Slice", ["x", "st", "en", "ax", "sp"], ["y"])], [("x", xs)], ["y"],
         lambda t: {"y": slice_ref(t["x"], [4, 10], [0, -10], [2, 1], [-2, -3])},
         inits=[("st", i64(4, 10)), ("en", i64(0, -10)), ("ax", i64(2, 1)), ("sp", i64(-2, -3))])
    case("slice_v13_noaxes", 13, [node("Slice", ["x", "st", "en"], ["y"])], [("x", xs)], ["y"],
         lambda t: {"y": slice_ref(t["x"], [1, 2], [2 ** 63 - 1, -1])},
         inits=[("st", i64(1, 2)), ("en", i64(2 ** 63 - 1, -1))])
    xg = R.normal((5, 4, 3))
    case("gather_axis0_dups", 13, [node("Gather", ["x", "i"], ["y"], axis=0)], [("x", xg)], ["y"],
         lambda t: {"y": gather_ref(t["x"], t["i"], 0)}, inits=[("i", i64(3, 0, 3, -1))])
    case("gather_axis1_2d_idx", 11, [node("Gather", ["x", "i"], ["y"], axis=1)], [("x", xg)], ["y"],
         lambda t: {"y": gather_ref(t["x"], t["i"], 1)}, inits=[("i", np.array([[0, 2], [3, 2], [-4, 1]], np.int64))])
    case("gather_scalar_axism1", 13, [node("Gather", ["x", "i"], ["y"], axis=-1)], [("x", xg)], ["y"],
         lambda t: {"y": gather_ref(t["x"], t["i"], -1)}, inits=[("i", np.array(1, np.int64))])
    x = R.normal((2, 3, 4, 5))
    case("reducemean_v11_keep", 11, [node("ReduceMean", ["x"], ["y"], axes=[2, 3])], [("x", x)], ["y"],
         lambda t: {"y": t["x"].mean((2, 3), keepdim=True)})
    case("reducemean_v13_nokeep", 13, [node("ReduceMean", ["x"], ["y"], axes=[-1, 1], keepdims=0)], [("x", x)], ["y"],
         lambda t: {"y": t["x"].mean((1, 3))})
    case("reducemean_v13_all", 13, [node("ReduceMean", ["x"], ["y"], keepdims=0)], [("x", x)], ["y"],
         lambda t: {"y": t["x"].mean()})
    case("reducemean_v18_axes_input", 18, [node("ReduceMean", ["x", "ax"], ["y"])], [("x", x)], ["y"],
         lambda t: {"y": t["x"].mean(0, keepdim=True)}, inits=[("ax", i64(0))])
    case("reducemean_v18_noaxes", 18, [node("ReduceMean", ["x"], ["y"], keepdims=1)], [("x", x)], ["y"],
         lambda t: {"y": t["x"].mean((0, 1, 2, 3), keepdim=True)})

    # ---------------- tiny multi-op graphs (engine: fan-out, initializer and activation targets, Constant/Shape)
    x = R.kinkfree((1, 3, 8, 8))
    w1 = R.normal((4, 3, 3, 3), 0.3)
    b1 = R.normal((4,), 0.1)
    W2 = R.normal((5, 64), 0.2)

    def chain(t):
        c = conv_ref(t["x"], t["w1"], t["b1"], [1, 1, 1, 1])
        r = F.relu(c)
        p = F.max_pool2d(r, 2, 2)
        f = p.reshape(1, -1)
        return {"c1": c, "r1": r, "p1": p, "y": f @ t["W2"].t()}
    res = chain({k: torch.tensor(v.astype(np.float64)) for k, v in [("x", x), ("w1", w1), ("b1", b1), ("W2", W2)]})
    # keep conv outputs and pooling windows away from kinks / ties (checked, not assumed)
    c1 = res["c1"].numpy()
    assert np.abs(c1).min() > 1e-3, np.abs(c1).min()
    case("chain_conv_relu_pool_gemm", 13,
         [node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]), node("Relu", ["c1"], ["r1"]),
          node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]), node("Flatten", ["p1"], ["f1"]),
          node("Gemm", ["f1", "W2"], ["y"], transB=1)],
         [("x", x), ("W2", W2)], ["y"], chain, inits=[("w1", w1), ("b1", b1)], extra_targets=["w1", "b1", "r1", "c1"],
         rtol_f=1e-4, rtol_g=1e-4, fd=1e-4)

    def fanout(t):
        a = F.relu(t["x"])
        b = t["x"] * t["x"]
        c = a + b
        d = torch.sigmoid(t["x"])
        return {"y": c * d, "a": a}
    case("fanout_accumulate", 13,
         [node("Relu", ["x"], ["a"]), node("Mul", ["x", "x"], ["b"]), node("Add", ["a", "b"], ["c"]),
          node("Sigmoid", ["x"], ["d"]), node("Mul", ["c", "d"], ["y"])],
         [("x", R.kinkfree((2, 3, 4)))], ["y"], fanout, extra_targets=["a"], fd=1e-3)

    def two_outputs(t):
        r = F.relu(t["x"])
        return {"r": r, "y": r * t["w"]}
    case("output_also_consumed", 13, [node("Relu", ["x"], ["r"]), node("Mul", ["r", "w"], ["y"])],
         [("x", R.kinkfree((2, 5))), ("w", R.normal((5,)))], ["r", "y"], two_outputs, fd=1e-3)

    C = 4
    xr = R.normal((1, C, 6, 6))
    wa, wb = R.normal((C, C, 3, 3), 0.25), R.normal((C, C, 3, 3), 0.25)
    bn = [(nm, arr) for i in "ab" for nm, arr in [("s" + i, R.uniform((C,), 0.5, 1.5)), ("o" + i, R.normal((C,), 0.3)),
                                                  ("m" + i, R.normal((C,), 0.3)), ("v" + i, R.uniform((C,), 0.5, 1.5))]]

    def resblock(t):
        h = F.conv2d(t["x"], t["wa"], padding=1)
        h = F.batch_norm(h, t["ma"].detach(), t["va"].detach(), t["sa"], t["oa"], False, 0.0, 1e-5)
        h1 = F.relu(h)
        h = F.conv2d(h1, t["wb"], padding=1)
        h = F.batch_norm(h, t["mb"].detach(), t["vb"].detach(), t["sb"], t["ob"], False, 0.0, 1e-5)
        s = h + t["x"]
        return {"h1": h1, "s": s, "y": F.relu(s)}
    case("residual_block", 13,
         [node("Conv", ["x", "wa"], ["ca"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
          node("BatchNormalization", ["ca", "sa", "oa", "ma", "va"], ["ba"]), node("Relu", ["ba"], ["h1"]),
          node("Conv", ["h1", "wb"], ["cb"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
          node("BatchNormalization", ["cb", "sb", "ob", "mb", "vb"], ["bb"]), node("Add", ["bb", "x"], ["s"]),
          node("Relu", ["s"], ["y"])],
         [("x", xr), ("wa", wa)], ["y"], resblock, inits=[("wb", wb)] + bn, extra_targets=["wb", "h1", "s"],
         rtol_f=1e-4, rtol_g=2e-4, fd=0)

    def gelu(t):
        return {"y": 0.5 * t["x"] * (1.0 + torch.erf(t["x"] / math.sqrt(2.0)))}
    case("gelu_erf_constants", 13,
         [node("Constant", [], ["sq2"], value=numpy_helper.from_array(f32(math.sqrt(2.0)).reshape(()), "sq2v")),
          node("Div", ["x", "sq2"], ["d"]), node("Erf", ["d"], ["e"]), node("Add", ["e", "one"], ["e1"]),
          node("Mul", ["x", "e1"], ["m"]), node("Mul", ["m", "half"], ["y"])],
         [("x", R.normal((2, 8), 1.5))], ["y"], gelu, inits=[("one", f32(1.0).reshape(())), ("half", f32(0.5).reshape(()))])

    # torch.onnx-style dynamic flatten: Shape -> Gather -> Unsqueeze -> Concat -> Reshape, then MatMul + Add
    for opset in (11, 13):
        uns = node("Unsqueeze", ["n"], ["nu"], axes=[0]) if opset == 11 else node("Unsqueeze", ["n", "ax0"], ["nu"])
        inits = [("i0", np.array(0, np.int64)), ("m1", i64(-1)), ("bias", R.normal((3,)))]
        if opset == 13:
            inits.append(("ax0", i64(0)))
        xw = R.normal((1, 2, 3, 4))
        Wm = R.normal((24, 3), 0.3)
        case("dynamic_flatten_matmul_v%d" % opset, opset,
             [node("Shape", ["x"], ["sh"]), node("Gather", ["sh", "i0"], ["n"], axis=0), uns,
              node("Concat", ["nu", "m1"], ["ns"], axis=0), node("Reshape", ["x", "ns"], ["f"]),
              node("MatMul", ["f", "W"], ["mm"]), node("Add", ["mm", "bias"], ["y"])],
             [("x", xw), ("W", Wm)], ["y"], lambda t: {"y": t["x"].reshape(1, -1) @ t["W"] + t["bias"]},
             inits=inits, extra_targets=["bias"], rtol_f=1e-4)

    def head(t):
        z = t["x"] @ t["W"].t() + t["b"]
        return {"y": F.softmax(z, dim=-1)}
    case("gemm_softmax_head", 13, [node("Gemm", ["x", "W", "b"], ["z"], transB=1), node("Softmax", ["z"], ["y"])],
         [("x", R.normal((1, 6))), ("W", R.normal((4, 6))), ("b", R.normal((4,)))], ["y"], head)

    # Conv -> Relu / Clip pairs that the memory-saving mode runs fused (tests/test_op_oracle.sh
    # runs every case again with CC_ORACLE_KEEP=1): the gradient goes from y only down to h,
    # so the first pair is not on the backward path and its pre-activation is never written.
    # One case per forward path: batched small planes (images side by side), depthwise with
    # stride 2 and an opset-9 Clip, Winograd with a Relu.
    def fused_case(name, opset, x, w1, b1, conv_attrs, act, groups=1):
        lo, hi = 0.0, 6.0
        c1 = F.conv2d(torch.tensor(x.astype(np.float64)), torch.tensor(w1.astype(np.float64)),
                      torch.tensor(b1.astype(np.float64)), stride=conv_attrs.get("strides", [1, 1])[0],
                      padding=conv_attrs.get("pads", [0, 0, 0, 0])[0], groups=groups).numpy()
        for v in ((lo,) if act == "Relu" else (lo, hi)):   # away from the kinks (checked, not assumed)
            assert np.abs(c1 - v).min() > 1e-3, (name, np.abs(c1 - v).min())
        m = w1.shape[0]
        w2 = R.normal((3, m, 1, 1), 0.3)
        if act == "Relu":
            a = node("Relu", ["c1"], ["h"])
            extra = []
        elif opset >= 11:
            a = node("Clip", ["c1", "lo", "hi"], ["h"])
            extra = [("lo", f32(lo).reshape(())), ("hi", f32(hi).reshape(()))]
        else:
            a = node("Clip", ["c1"], ["h"], min=lo, max=hi)
            extra = []

        def fn(t):
            c = F.conv2d(t["x"], t["w1"], t["b1"], stride=conv_attrs.get("strides", [1, 1])[0],
                         padding=conv_attrs.get("pads", [0, 0, 0, 0])[0], groups=groups)
            h = F.relu(c) if act == "Relu" else torch.clamp(c, lo, hi)
            return {"h": h, "y": F.conv2d(h, t["w2"])}
        case(name, opset, [node("Conv", ["x", "w1", "b1"], ["c1"], group=groups, **conv_attrs), a,
                           node("Conv", ["h", "w2"], ["y"])],
             [("x", x)], ["y"], fn, inits=[("w1", w1), ("b1", b1), ("w2", w2)] + extra,
             grad_targets=[], extra_targets=["h"], rtol_f=1e-4, fd=0)

    fused_case("fused_conv_clip_batch2", 13, R.normal((2, 4, 5, 5)), R.normal((6, 4, 3, 3), 0.4), R.normal((6,), 2.0),
               dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]), "Clip")
    fused_case("fused_depthwise_s2_clip_v9", 9, R.normal((1, 8, 9, 9)), R.normal((8, 1, 3, 3), 1.0), R.normal((8,), 2.0),
               dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]), "Clip", groups=8)
    # Add -> Relu (a residual block's end) and a broadcast Add -> Clip, fused the same way
    def fused_add_case(name, x, w1, b2, act):
        c = F.conv2d(torch.tensor(x.astype(np.float64)), torch.tensor(w1.astype(np.float64)), padding=1)
        s_ = (c + torch.tensor(x.astype(np.float64)) if b2 is None else c + torch.tensor(b2.astype(np.float64))).numpy()
        srt = np.sort(s_.ravel())   # Clip bounds in the middle of gaps between the sums, about a quarter in
        lo_, hi_ = [float(np.float32((srt[k] + srt[k + 1]) / 2)) for k in (len(srt) // 4, 3 * len(srt) // 4)]
        for v in ((0.0,) if act == "Relu" else (lo_, hi_)):
            assert np.abs(s_ - v).min() > 1e-3, (name, np.abs(s_ - v).min())
        w2 = R.normal((3, x.shape[1], 1, 1), 0.3)
        other = "x" if b2 is None else "b2"
        a = node("Relu", ["s"], ["h"]) if act == "Relu" else node("Clip", ["s", "lo", "hi"], ["h"])

        def fn(t):
            sm = F.conv2d(t["x"], t["w1"], padding=1) + t[other]
            h = F.relu(sm) if act == "Relu" else torch.clamp(sm, lo_, hi_)
            return {"h": h, "y": F.conv2d(h, t["w2"])}
        inits = [("w1", w1), ("w2", w2)] + ([] if b2 is None else [("b2", b2)])
        if act != "Relu":
            inits += [("lo", f32(lo_).reshape(())), ("hi", f32(hi_).reshape(()))]
        case(name, 13, [node("Conv", ["x", "w1"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]), node("Add", ["c", other], ["s"]), a,
                        node("Conv", ["h", "w2"], ["y"])],
             [("x", x)], ["y"], fn, inits=inits, grad_targets=[], extra_targets=["h"], rtol_f=1e-4, fd=0)

    fused_add_case("fused_add_relu", R.normal((1, 4, 6, 6)), R.normal((4, 4, 3, 3), 0.3), None, "Relu")
    fused_add_case("fused_add_broadcast_clip", R.normal((1, 4, 6, 6)), R.normal((4, 4, 3, 3), 0.1),
                   R.normal((4, 1, 1), 0.3), "Clip")

    # 6400 outputs: biases of +-2..3 against a spread of ~0.25 keep every one away from 0
    signs = np.where(np.arange(64) % 2 == 0, 1.0, -1.0).astype(np.float32)
    fused_case("fused_winograd_relu", 13, R.normal((1, 64, 10, 10)), R.normal((64, 64, 3, 3), 0.01),
               (R.uniform((64,), 2.0, 3.0) * signs).astype(np.float32), dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]), "Relu")
    # a wide packed product (900 positions) with a Relu, and a narrow one (49) with a Clip
    fused_case("fused_packed_wide_relu", 13, R.normal((1, 4, 30, 30)), R.normal((8, 4, 3, 3), 0.05),
               (R.uniform((8,), 2.0, 3.0) * signs[:8]).astype(np.float32), dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
               "Relu")
    fused_case("fused_packed_narrow_clip", 13, R.normal((1, 16, 7, 7)), R.normal((40, 16, 1, 1), 0.4),
               R.normal((40,), 2.0), dict(kernel_shape=[1, 1]), "Clip")
    fused_case("fused_depthwise_s1_clip", 13, R.normal((1, 8, 9, 9)), R.normal((8, 1, 3, 3), 1.0), R.normal((8,), 2.0),
               dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]), "Clip", groups=8)

    # (Appended last: new cases must not shift the random draws of the ones above.)
    # Constant weights: on an AVX-512 CPU these take the packed-weight products (conv_packed.c:
    # wide tiles from 784 output positions on, narrow ones below; padded panels, partial
    # tiles) and the direct stride-1 depthwise kernel (conv_dw_direct.c: 3x3 and any size,
    # asymmetric padding, dilation, channel multiplier, planes narrower than a vector).
    conv_case("conv_const_1x1_wide", (1, 24, 30, 30), (20, 24, 1, 1), const_w=True)
    conv_case("conv_const_1x1_narrow_batch2", (2, 40, 7, 7), (70, 40, 1, 1), const_w=True, opset=13)
    conv_case("conv_const_3x3_s2_narrow", (1, 8, 9, 9), (33, 8, 3, 3), strides=(2, 2), pads=(1, 1, 1, 1), const_w=True)
    conv_case("conv_const_k5_wide", (1, 3, 40, 41), (10, 3, 5, 5), pads=(2, 2, 2, 2), const_w=True)
    conv_case("dw_direct_3x3_batch2", (2, 5, 7, 19), (5, 1, 3, 3), groups=5, pads=(1, 1, 1, 1), const_w=True)
    conv_case("dw_direct_asympad", (1, 4, 6, 10), (4, 1, 3, 3), groups=4, pads=(0, 0, 2, 2), const_w=True)
    conv_case("dw_direct_dil2_mult2", (1, 3, 9, 9), (6, 1, 3, 3), groups=3, dil=(2, 2), pads=(2, 2, 2, 2),
              const_w=True)
    conv_case("dw_direct_k5_nobias", (1, 4, 7, 7), (4, 1, 5, 5), groups=4, pads=(2, 2, 2, 2), bias=False,
              const_w=True)
    conv_case("dw_direct_tiny", (1, 3, 1, 2), (3, 1, 3, 3), groups=3, pads=(1, 1, 1, 1), const_w=True)
    conv_case("dw_direct_k3x1", (1, 4, 5, 6), (4, 1, 3, 1), groups=4, pads=(1, 0, 1, 0), const_w=True)
    # 3x3 depthwise at stride 2 (even / odd column split): planes wider than one step of 16
    # outputs, the asymmetric "same" padding of TensorFlow exports, no padding, a multiplier
    conv_case("dw_direct_s2_wide_batch2", (2, 3, 11, 70), (3, 1, 3, 3), groups=3, strides=(2, 2), pads=(1, 1, 1, 1),
              const_w=True)
    conv_case("dw_direct_s2_asympad", (1, 4, 8, 36), (4, 1, 3, 3), groups=4, strides=(2, 2), pads=(0, 0, 1, 1),
              const_w=True)
    conv_case("dw_direct_s2_nopad_mult2", (1, 2, 7, 9), (4, 1, 3, 3), groups=2, strides=(2, 2), const_w=True)

    # One row, one seed: Gemm's matrix-vector paths (forward and input gradient), every layout
    gemm_case("gemm_row_seed1", 1, 6, 5, seeds=1)
    gemm_case("gemm_row_transB_seed1", 1, 7, 4, tb=1, seeds=1)
    gemm_case("gemm_row_transA_seed1", 1, 5, 3, ta=1, alpha=0.6, cshape="scalar", seeds=1)
    gemm_case("gemm_row_transAB_beta", 1, 4, 6, ta=1, tb=1, alpha=1.5, beta=-0.5, cshape="row")
    # the own row kernel (ops/gemv.c): whole 16-lane steps and a tail, row blocks of 4 and a partial one
    gemm_case("gemm_row_transB_blocks", 1, 37, 11, tb=1, alpha=0.8, beta=1.5, cshape="vec", seeds=1)

    # 3x3 depthwise in column strips with rolled rows (conv_dw_direct.c): several
    # strips with a partial last one, padding shifted to one side, and at stride 2
    # an odd width with no left padding
    conv_case("dw_rows_shifted_pads", (1, 3, 9, 37), (3, 1, 3, 3), groups=3, pads=(2, 2, 0, 0), const_w=True)
    conv_case("dw_rows_s2_odd_width", (1, 2, 13, 67), (2, 1, 3, 3), groups=2, strides=(2, 2), pads=(1, 0, 1, 1),
              const_w=True)
    # a strided 7x7 first layer big enough for the banded im2col product (conv.c: bands of
    # output rows, the last one shorter), bias and all
    conv_case("conv_im2col_bands", (1, 3, 66, 66), (8, 3, 7, 7), strides=(2, 2), pads=(3, 3, 3, 3), const_w=True)
    # 3x3 over at most 4 input channels (a first layer), direct (conv_direct.c): 16-channel
    # groups with a partial last one, 16-column strips with a partial last one, padding on
    # one side only or wider than the kernel's reach, stride 1 and 2, batch 2, fused Clip
    conv_case("conv_direct_s2_partial", (1, 3, 35, 37), (20, 3, 3, 3), strides=(2, 2), pads=(1, 1, 1, 1),
              const_w=True)
    conv_case("conv_direct_s1_asympad_nobias", (2, 2, 9, 40), (17, 2, 3, 3), pads=(0, 2, 2, 1), bias=False,
              const_w=True)
    conv_case("conv_direct_s2_c4_nopad", (1, 4, 10, 33), (16, 4, 3, 3), strides=(2, 2), const_w=True)
    conv_case("conv_direct_s2_pad2", (1, 1, 12, 21), (5, 1, 3, 3), strides=(2, 2), pads=(2, 2, 2, 2), const_w=True)
    fused_case("fused_direct_s2_clip", 13, R.normal((1, 3, 5, 34)), R.normal((18, 3, 3, 3), 0.5),
               R.normal((18,), 3.0), dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]), "Clip")

    # Conv -> Add -> [Relu / Clip] with the Add's other input of the same shape: the memory-
    # saving mode runs the three as one node, the residual summed into the convolution's
    # output as it is written (session.c), on every forward path: packed narrow (49
    # positions) and wide (900) products, Winograd, direct first-layer and depthwise
    # kernels, batch 2, the residual as the Add's first input, and a downsampling block
    # whose Add takes two convolutions (fused into the later one; the earlier one's output
    # is the residual).  Biases of +-2..3 against small spreads keep the sums off the kinks.
    def residual_case(name, x, convs, add_in, act, grad=True):
        """convs: (out name, input, w, b, attrs, groups); the Add sums add_in (two names).
        grad=False: forward only, so the memory-saving mode keeps only y."""
        def conv_of(t, inp, w, b, attrs, groups):
            return F.conv2d(t[inp], t[w], t[b] if b else None, stride=attrs.get("strides", [1, 1])[0],
                            padding=attrs.get("pads", [0, 0, 0, 0])[0], groups=groups)
        inits, nodes = [], []
        for out, inp, (wn, w), (bn_, b), attrs, groups in convs:
            inits += [(wn, w)] + ([(bn_, b)] if b is not None else [])
            nodes.append(node("Conv", [inp, wn] + ([bn_] if b is not None else []), [out], group=groups, **attrs))
        nodes.append(node("Add", list(add_in), ["s"]))
        lo, hi = 0.0, 6.0
        if act == "Relu":
            nodes.append(node("Relu", ["s"], ["h"]))
        elif act == "Clip":
            nodes.append(node("Clip", ["s", "lo", "hi"], ["h"]))
            inits += [("lo", f32(lo).reshape(())), ("hi", f32(hi).reshape(()))]
        hname = "h" if act else "s"
        m = convs[-1][2][1].shape[0]
        w2 = R.normal((3, m, 1, 1), 0.3)
        nodes.append(node("Conv", [hname, "w2"], ["y"]))
        inits.append(("w2", w2))

        def sums(t):
            v = {"x": t["x"]}
            for out, inp, (wn, _), (bn_, b), attrs, groups in convs:
                v[out] = conv_of(dict(t, **v), inp, wn, bn_ if b is not None else None, attrs, groups)
            return v[add_in[0]] + v[add_in[1]]

        def fn(t):
            sm = sums(t)
            h = F.relu(sm) if act == "Relu" else torch.clamp(sm, lo, hi) if act == "Clip" else sm
            return {hname: h, "y": F.conv2d(h, t["w2"])}
        if act:   # the sums away from the kinks (checked, not assumed)
            with torch.no_grad():
                sm = sums({k: torch.tensor(a.astype(np.float64)) for k, a in [("x", x)] + inits}).numpy()
            for k in ((lo,) if act == "Relu" else (lo, hi)):
                assert np.abs(sm - k).min() > 1e-3, (name, np.abs(sm - k).min())
        case(name, 13, nodes, [("x", x)], ["y"], fn, inits=inits, grad_targets=[],
             extra_targets=[hname] if grad else [], rtol_f=1e-4, fd=0)

    def pm(n, lo=2.0, hi=3.0):   # biases of alternating sign, lo..hi in size
        return (R.uniform((n,), lo, hi) * np.where(np.arange(n) % 2 == 0, 1.0, -1.0)).astype(np.float32)
    residual_case("fused_residual_1x1_narrow_relu", R.normal((1, 16, 7, 7), 0.1),
                  [("c", "x", ("w1", R.normal((16, 16, 1, 1), 0.05)), ("b1", pm(16)), dict(kernel_shape=[1, 1]), 1)],
                  ("c", "x"), "Relu")
    residual_case("fused_residual_1x1_wide_linear_first", R.normal((1, 8, 30, 30), 0.1),
                  [("c", "x", ("w1", R.normal((8, 8, 1, 1), 0.05)), ("b1", pm(8)), dict(kernel_shape=[1, 1]), 1)],
                  ("x", "c"), None)
    residual_case("fused_residual_winograd_relu", R.normal((1, 64, 10, 10), 0.1),
                  [("c", "x", ("w1", R.normal((64, 64, 3, 3), 0.01)), ("b1", pm(64)),
                    dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]), 1)], ("c", "x"), "Relu")
    residual_case("fused_residual_direct_batch2_clip", R.normal((2, 4, 6, 20), 0.1),
                  [("c", "x", ("w1", R.normal((4, 4, 3, 3), 0.05)), ("b1", pm(4)),
                    dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]), 1)], ("c", "x"), "Clip")
    residual_case("fused_residual_depthwise_relu", R.normal((1, 8, 9, 21), 0.1),
                  [("c", "x", ("w1", R.normal((8, 1, 3, 3), 0.1)), ("b1", pm(8)),
                    dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]), 8)], ("x", "c"), "Relu")
    residual_case("fused_residual_downsample_relu", R.normal((1, 8, 12, 12), 0.1),
                  [("ca", "x", ("wa", R.normal((16, 8, 3, 3), 0.05)), ("ba", pm(16)),
                    dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]), 1),
                   ("cd", "x", ("wd", R.normal((16, 8, 1, 1), 0.05)), ("bd", None), dict(kernel_shape=[1, 1], strides=[2, 2]), 1)],
                  ("ca", "cd"), "Relu")
    # the residual computed in the case (ca) and dead after the Add: a wide product (4096 and
    # 3136 positions) writes its output over it when that is 2^18 values or more
    # (cc_conv_res_inplace, cc_session_keep); a narrow one (729 positions) may not, nor one
    # whose own input is the residual.  Forward only, so that in the memory-saving mode only
    # y is kept.
    def one(o, i, w, b, ci, co, k=1, bias=(2.0, 3.0)):
        return (o, i, (w, R.normal((co, ci, k, k), 0.05)), (b, pm(co, *bias)),
                dict(kernel_shape=[k, k], pads=[k // 2] * 4), 1)
    residual_case("fused_residual_wide_inplace_relu", R.normal((1, 8, 64, 64), 0.1),
                  [one("ca", "x", "wa", "ba", 8, 64), one("cm", "x", "wm", "bm", 8, 64),
                   one("cb", "cm", "wb", "bb", 64, 64, bias=(0.5, 1.0))], ("cb", "ca"), "Relu", grad=False)
    residual_case("fused_residual_wide_inplace_batch2_clip", R.normal((2, 4, 56, 56), 0.1),
                  [one("ca", "x", "wa", "ba", 4, 48, 3, bias=(1.0, 1.5)), one("cm", "x", "wm", "bm", 4, 48),
                   one("cb", "cm", "wb", "bb", 48, 48, bias=(1.0, 1.5))], ("ca", "cb"), "Clip", grad=False)
    residual_case("fused_residual_wide_own_input_relu", R.normal((1, 8, 64, 64), 0.1),
                  [one("ca", "x", "wa", "ba", 8, 64), one("cb", "ca", "wb", "bb", 64, 64, bias=(0.5, 1.0))],
                  ("cb", "ca"), "Relu", grad=False)
    residual_case("fused_residual_narrow_not_inplace_relu", R.normal((1, 16, 27, 27), 0.1),
                  [one("ca", "x", "wa", "ba", 16, 360), one("cm", "x", "wm", "bm", 16, 360),
                   one("cb", "cm", "wb", "bb", 360, 360, bias=(0.5, 1.0))], ("cb", "ca"), "Relu", grad=False)

    # 1x1 convolutions whose input dwarfs their output and has over twice as many channels as
    # positions sum k in two fixed halves (cc_packed_halves_ok): batch 2 with an odd K, and a
    # fused residual (another such convolution's output) with Relu
    conv_case("conv_1x1_halves_batch2", (2, 201, 9, 9), (48, 201, 1, 1), const_w=True)
    residual_case("fused_residual_1x1_halves_relu", R.normal((1, 160, 8, 8), 0.1),
                  [one("ca", "x", "wa", "ba", 160, 40), one("cb", "x", "wb", "bb", 160, 40, bias=(0.5, 1.0))],
                  ("cb", "ca"), "Relu")

    # Stride-2 convolutions read straight from the input (cc_packed_conv, conv.c): a 7x7
    # first layer, rows of 7-position tiles with a partial last one (and narrower than one
    # tile), the input used in place (no padding, taps inside it) or through a zero-padded
    # copy (padding on one side, at the end only, reaching past the end), row strides 1 and
    # 3, dilation 2, a partial panel of channels, batch 2, SAME_UPPER
    conv_case("conv_taps_7x7_s2", (1, 3, 40, 37), (24, 3, 7, 7), strides=(2, 2), pads=(3, 3, 3, 3), const_w=True)
    conv_case("conv_taps_3x3_s2_endpad_batch2", (2, 9, 10, 15), (20, 9, 3, 3), strides=(2, 2), pads=(0, 0, 1, 1),
              const_w=True)
    conv_case("conv_taps_1x1_s2_inplace", (1, 12, 13, 30), (40, 12, 1, 1), strides=(2, 2), const_w=True)
    conv_case("conv_taps_3x3_s2_inplace_narrow", (1, 6, 9, 11), (17, 6, 3, 3), strides=(2, 2), bias=False, const_w=True)
    conv_case("conv_taps_rowstride1", (1, 5, 8, 31), (18, 5, 3, 3), strides=(1, 2), pads=(1, 2, 1, 0), const_w=True)
    conv_case("conv_taps_rowstride3_dil2", (1, 7, 17, 29), (33, 7, 3, 3), strides=(3, 2), dil=(2, 2), pads=(2, 1, 0, 2),
              const_w=True)
    conv_case("conv_taps_same_upper", (1, 8, 11, 12), (16, 8, 3, 3), strides=(2, 2), auto_pad="SAME_UPPER",
              const_w=True)
    # ... and at stride 1 on narrow planes (under 784 outputs), instead of im2col: a 14x14
    # 3x3 layer with 48 input channels (from 64, F(2x2,3x3) takes it), a 5x5 in place with
    # partial tiles, dilation 2 with padding on every side and batch 2
    conv_case("conv_taps_3x3_s1_14x14", (1, 48, 14, 14), (64, 48, 3, 3), pads=(1, 1, 1, 1), const_w=True)
    conv_case("conv_taps_5x5_s1_inplace", (1, 5, 12, 17), (20, 5, 5, 5), const_w=True)
    conv_case("conv_taps_3x3_s1_dil2_batch2", (2, 6, 11, 10), (18, 6, 3, 3), dil=(2, 2), pads=(2, 1, 2, 1), bias=False,
              const_w=True)

    # F(2x2,3x3) on narrow planes (conv_wino2.c; its backward is im2col's): ResNet-50's
    # 14x14 shape scaled down; fused, 14x14 with a residual and Relu, and batch 2 of 11x13
    # with a residual (an earlier convolution's output) and Clip
    conv_case("conv_winograd2_14x14", (1, 64, 14, 14), (64, 64, 3, 3), pads=(1, 1, 1, 1), const_w=True)
    residual_case("fused_residual_winograd2_relu", R.normal((1, 64, 14, 14), 0.1),
                  [("c", "x", ("w1", R.normal((64, 64, 3, 3), 0.01)), ("b1", pm(64)),
                    dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]), 1)], ("c", "x"), "Relu")
    residual_case("fused_residual_winograd2_batch2_clip", R.normal((2, 64, 11, 13), 0.1),
                  [("d", "x", ("w2d", R.normal((80, 64, 1, 1), 0.05)), ("b2d", None), dict(kernel_shape=[1, 1]), 1),
                   ("c", "x", ("w1", R.normal((80, 64, 3, 3), 0.01)), ("b1", pm(80)),
                    dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]), 1)],
                  ("d", "c"), "Clip")

def main():
    if len(sys.argv) != 2:
        print("usage: gen_op_cases.py OUT_DIR", file=sys.stderr)
        return 2
    root = sys.argv[1]
    with open(os.path.abspath(__file__), "rb") as f:
        h = hashlib.sha256(f.read() + torch.__version__.encode() + onnx.__version__.encode()).hexdigest()
    stamp = os.path.join(root, ".stamp")
    if os.path.exists(stamp) and open(stamp).read().strip() == h:
        print("gen_op_cases: fixtures up to date in %s" % root)
        return 0
    torch.manual_seed(0)
    define_cases()
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    tmp = root + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    rng = Rng(99)
    for c in CASES:
        build_case(c, tmp, rng)
    with open(os.path.join(tmp, ".stamp"), "w") as f:
        f.write(h + "\n")
    shutil.rmtree(root, ignore_errors=True)
    os.rename(tmp, root)
    print("gen_op_cases: wrote %d cases to %s" % (len(CASES), root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
