"""Fixtures for tests/test_image.c, written into the folder argv[1]:
decoding references made and decoded by PIL, PIL BILINEAR resizes, the
torchvision-style input tensor, F.interpolate(bilinear, align_corners=False)
upsamplings, and the reference overlay (cv2.applyColorMap when OpenCV is
installed, else an independent NumPy re-derivation of OpenCV's JET table).
Arrays are .npy (uint8 pixels as H x W x C, floats as float32)."""
import os
import sys

import numpy as np
from PIL import Image

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(20240607)


def P(name):
    return os.path.join(out, name)


def smooth_rgb(h, w, noise=40):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([255 * x / max(w - 1, 1), 255 * y / max(h - 1, 1), 128 + 100 * np.sin(x / 3 + y / 5)], -1)
    return np.clip(base + rng.normal(0, noise, (h, w, 3)), 0, 255).astype(np.uint8)


# ---- decoding -----------------------------------------------------------
rgb = smooth_rgb(23, 37)
alpha = rng.integers(0, 256, (23, 37), dtype=np.uint8)
im_rgb = Image.fromarray(rgb, "RGB")
im_l = im_rgb.convert("L")
im_rgba = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
im_la = Image.merge("LA", [im_l, Image.fromarray(alpha, "L")])
im_p = im_rgb.quantize(16)

cases = []  # (file, PIL image to compare with, tolerance)
im_rgb.save(P("rgb.png")); cases.append(("rgb.png", im_rgb, 0))
im_l.save(P("gray.png")); cases.append(("gray.png", im_l, 0))
im_rgba.save(P("rgba.png")); cases.append(("rgba.png", im_rgba, 0))
im_la.save(P("la.png")); cases.append(("la.png", im_la.convert("RGBA"), 0))
im_p.save(P("pal.png")); cases.append(("pal.png", im_p.convert("RGB"), 0))
im_rgb.save(P("rgb.bmp")); cases.append(("rgb.bmp", im_rgb, 0))
im_l.save(P("gray.bmp")); cases.append(("gray.bmp", im_l, 0))
im_rgb.save(P("rgb.jpg"), quality=95); cases.append(("rgb.jpg", Image.open(P("rgb.jpg")).convert("RGB"), 8))
im_l.save(P("gray.jpg"), quality=95); cases.append(("gray.jpg", Image.open(P("gray.jpg")).convert("L"), 8))
im_rgb.save(P("prog.jpg"), quality=90, progressive=True)
cases.append(("prog.jpg", Image.open(P("prog.jpg")).convert("RGB"), 8))
# 16-bit gray: the decoder keeps the high byte.
g16 = (rng.integers(0, 65536, (9, 11))).astype(np.uint16)
Image.fromarray(g16.astype(np.int32), "I").convert("I;16").save(P("gray16.png"))
ok16 = np.array(Image.open(P("gray16.png")), dtype=np.int64)
assert np.array_equal(ok16, g16), "PIL did not write the 16-bit PNG as given"
np.save(P("gray16.png.npy"), (g16 >> 8).astype(np.uint8)[:, :, None])

with open(P("decode_cases.txt"), "w") as f:
    for name, ref, tol in cases:
        a = np.asarray(ref)
        if a.ndim == 2:
            a = a[:, :, None]
        np.save(P(name + ".npy"), a)
        f.write("%s %d\n" % (name, tol))
    f.write("gray16.png 0\n")

# Conversions, as PIL does them.
np.save(P("conv_rgb_L.npy"), np.asarray(im_rgb.convert("L"))[:, :, None])
np.save(P("conv_rgba_L.npy"), np.asarray(im_rgba.convert("L"))[:, :, None])
np.save(P("conv_rgba_RGB.npy"), np.asarray(im_rgba.convert("RGB")))
np.save(P("conv_gray_RGB.npy"), np.asarray(im_l.convert("RGB")))

# ---- resize -------------------------------------------------------------
src = smooth_rgb(61, 97, noise=90)
Image.fromarray(src, "RGB").save(P("rs_src_rgb.png"))
Image.fromarray(src, "RGB").convert("L").save(P("rs_src_l.png"))
sizes = [(224, 224), (13, 7), (300, 200), (97, 30), (40, 61), (1, 1), (5, 200), (96, 60), (98, 62), (33, 170)]
with open(P("resize_cases.txt"), "w") as f:
    for mode in ("rgb", "l"):
        im = Image.open(P("rs_src_%s.png" % mode))
        for (w, h) in sizes:
            r = np.asarray(im.resize((w, h), Image.BILINEAR))
            if r.ndim == 2:
                r = r[:, :, None]
            name = "rs_%s_%dx%d.npy" % (mode, w, h)
            np.save(P(name), r)
            f.write("rs_src_%s.png %d %d %s\n" % (mode, w, h, name))

# ---- input tensor -------------------------------------------------------
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

mean = [0.485, 0.456, 0.406]
std = [0.229, 0.224, 0.225]
x = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float().div(255)
x = (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
np.save(P("tensor_rgb.npy"), x[None].numpy().astype(np.float32))
xg = torch.from_numpy(np.asarray(im_l).copy())[None].float().div(255)
xg = (xg - 0.5) / 0.5
np.save(P("tensor_gray.npy"), xg[None].numpy().astype(np.float32))

# ---- upsampling ---------------------------------------------------------
pairs = [((7, 7), (224, 224)), ((4, 4), (128, 128)), ((2, 2), (32, 32)), ((14, 14), (224, 224)),
         ((3, 5), (17, 40)), ((16, 16), (45, 45)), ((10, 6), (4, 3)), ((5, 9), (5, 27)), ((1, 1), (8, 8)),
         ((2, 2), (2, 2)), ((7, 7), (512, 341))]
with open(P("upsample_cases.txt"), "w") as f:
    for (sh, sw), (dh, dw) in pairs:
        a = torch.randn(1, 1, sh, sw) * 3
        b = F.interpolate(a, size=(dh, dw), mode="bilinear", align_corners=False)
        name = "up_%dx%d_%dx%d" % (sh, sw, dh, dw)
        np.save(P(name + "_in.npy"), a[0, 0].numpy())
        np.save(P(name + "_out.npy"), b[0, 0].numpy())
        f.write("%s %d %d %d %d\n" % (name, sh, sw, dh, dw))

# ---- JET and the overlay ------------------------------------------------
def jet_numpy():
    """OpenCV's Jet class re-derived in float32 (see src/image/colormap.c)."""
    k = np.arange(256) / 255.0
    r = np.select([k < 3 / 8, k < 5 / 8, k < 7 / 8], [0 * k, 4 * k - 1.5, 0 * k + 1], -4 * k + 4.5)
    g = np.select([k < 1 / 8, k < 3 / 8, k < 5 / 8, k < 7 / 8], [0 * k, 4 * k - 0.5, 0 * k + 1, -4 * k + 3.5], 0 * k)
    b = np.select([k < 1 / 8, k < 3 / 8, k < 5 / 8], [4 * k + 0.5, 0 * k + 1, -4 * k + 2.5], 0 * k)
    step = np.float32(1) / np.float32(255)
    X = (np.arange(256, dtype=np.float32) * step).astype(np.float32)
    lut = np.zeros((256, 3), np.uint8)
    for c, Y in enumerate([r.astype(np.float32), g.astype(np.float32), b.astype(np.float32)]):
        y = np.empty(256, np.float32)
        y[0] = Y[0]
        dx = X[1:] - X[:-1]
        y[1:] = Y[:-1] + (dx * (Y[1:] - Y[:-1])) / dx
        lut[:, c] = np.clip(np.rint(y * np.float32(255)), 0, 255).astype(np.uint8)
    return lut


try:
    import cv2
    lut = cv2.applyColorMap(np.arange(256, dtype=np.uint8).reshape(256, 1), cv2.COLORMAP_JET)[:, 0, ::-1].copy()
    assert np.array_equal(lut, jet_numpy()), "NumPy re-derivation of JET differs from OpenCV"
    src_name = "OpenCV " + cv2.__version__
except ImportError:
    lut = jet_numpy()
    src_name = "NumPy re-derivation (OpenCV not installed)"
np.save(P("jet_lut.npy"), lut)
with open(P("jet_source.txt"), "w") as f:
    f.write(src_name + "\n")

# A smooth map in [0,1] with exact 0 and 1, plus values at the truncation edges.
m = F.interpolate(torch.rand(1, 1, 4, 6), size=(23, 37), mode="bilinear", align_corners=False)[0, 0].numpy()
m = (m - m.min()) / (m.max() - m.min())
m = m.astype(np.float32)
m[0, 0], m[0, 1], m[0, 2], m[0, 3] = 0.0, 1.0, np.float32(0.5), np.float32(254.9 / 255)
np.save(P("ov_map.npy"), m)
mask8 = np.uint8(255 * m)  # truncation, as the reference
heat = np.float32(lut[mask8]) / 255
cam = heat + np.float32(rgb) / 255
cam = cam / np.max(cam)
np.save(P("ov_expected.npy"), np.uint8(255 * cam))
np.save(P("heat_expected.npy"), lut[mask8])
print("fixtures written to %s (JET from %s)" % (out, src_name))
