#!/usr/bin/env python3
"""Export the benchmark models (random weights, fixed seed) to ONNX.

VGG-16, ResNet-50 and MobileNetV2 from torchvision, re-initialised so that the
signal survives the depth (He-normal convs and linears, random BatchNorm
statistics, eval mode), exported with opset 13, input `input` 1x3x224x224,
output `logits`.  Files go to build/bench/<name>.onnx; existing files are kept.

Run with /usr/bin/python3 (torch 1.13, torchvision 0.14, onnx 1.12).
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torchvision

MODELS = {
    "vgg16": lambda: torchvision.models.vgg16(weights=None),
    "resnet50": lambda: torchvision.models.resnet50(weights=None),
    "mobilenet_v2": lambda: torchvision.models.mobilenet_v2(weights=None),
}


def reinit(model, seed):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(2.0 / fan_in))
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.01)
        elif isinstance(m, nn.Linear):
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(2.0 / m.in_features))
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.01)
        elif isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            with torch.no_grad():
                m.weight.copy_(1.0 + 0.1 * torch.randn(n, generator=g))
                m.bias.copy_(0.1 * torch.randn(n, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                m.running_var.copy_(1.0 + 0.5 * torch.rand(n, generator=g))
    # Residual sums double the variance per block; damp the last BN of every
    # bottleneck so ResNet-50's logits stay O(1) (softmax not saturated).
    for m in model.modules():
        if isinstance(m, torchvision.models.resnet.Bottleneck):
            with torch.no_grad():
                m.bn3.weight.mul_(0.5)
                m.bn3.bias.mul_(0.5)
    return model


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build", "bench")
    names = sys.argv[2:] or list(MODELS)
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(0)
    for i, name in enumerate(names):
        path = os.path.join(outdir, name + ".onnx")
        if os.path.exists(path) and os.path.getsize(path) > 0:
            print(f"export: {path} present, skipped")
            continue
        model = reinit(MODELS[name](), 1234 + i).eval()
        x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(7))
        with torch.no_grad():
            z = model(x)
        tmp = path + ".tmp"
        torch.onnx.export(model, x, tmp, opset_version=13, input_names=["input"],
                          output_names=["logits"], do_constant_folding=True)
        os.replace(tmp, path)
        print(f"export: {path} ({os.path.getsize(path) / 1e6:.0f} MB), "
              f"logit std {z.std().item():.3g}, top p {torch.softmax(z, 1).max().item():.3g}")


if __name__ == "__main__":
    main()
