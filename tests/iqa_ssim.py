"""SSIM check (run by tests/test_iqa_ssim.sh): contrastcam's C SSIM against a
NumPy SSIM written from Wang et al. 2004 (eq. 13, 11x11 Gaussian window,
sigma 1.5, normalised; K1 = 0.01, K2 = 0.03, L = 255; statistics where the
window lies inside the image; the image's SSIM is the mean of the map) on
8-bit luminance (PIL convert('L')).  Pairs: synthetic images with noise,
blur, a contrast change, JPEG compression, and the shared TID2013 pair when
present.  Tolerance 1e-6 on every map value."""
import io
import os
import subprocess
import sys

import numpy as np
from PIL import Image, ImageFilter


def ssim_numpy(a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    x = np.arange(11) - 5
    g = np.exp(-x * x / (2 * 1.5 ** 2))
    win = np.outer(g, g)
    win /= win.sum()
    H, W = a.shape
    oh, ow = H - 10, W - 10
    from numpy.lib.stride_tricks import sliding_window_view as swv

    def filt(img):
        return np.einsum("ijkl,kl->ij", swv(img, (11, 11)), win)
    mu_a, mu_b = filt(a), filt(b)
    saa = filt(a * a) - mu_a ** 2
    sbb = filt(b * b) - mu_b ** 2
    sab = filt(a * b) - mu_a * mu_b
    C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    m = ((2 * mu_a * mu_b + C1) * (2 * sab + C2)) / ((mu_a ** 2 + mu_b ** 2 + C1) * (saa + sbb + C2))
    assert m.shape == (oh, ow)
    return m


def main():
    runner, fix, shared = sys.argv[1:4]
    rng = np.random.RandomState(3)
    yy, xx = np.mgrid[0:61, 0:83]
    base = (127 + 60 * np.sin(xx / 7.0) * np.cos(yy / 5.0) + rng.randint(-20, 20, (61, 83))).clip(0, 255).astype(np.uint8)
    ref = Image.fromarray(np.stack([base, np.roll(base, 3, 1), 255 - base], -1))
    buf = io.BytesIO()
    ref.save(buf, "JPEG", quality=10)
    pairs = {
        "noise": Image.fromarray((np.asarray(ref, np.int16) + rng.randint(-40, 40, (61, 83, 3))).clip(0, 255).astype(np.uint8)),
        "blur": ref.filter(ImageFilter.GaussianBlur(2)),
        "contrast": Image.fromarray((128 + 0.4 * (np.asarray(ref, np.float64) - 128)).astype(np.uint8)),
        "jpeg": Image.open(io.BytesIO(buf.getvalue())).convert("RGB"),
        "same": ref,
    }
    items = [(k, ref, v) for k, v in pairs.items()]
    tid = os.path.join(shared, "iqa")
    if os.path.exists(os.path.join(tid, "reference", "I21.BMP")):
        items.append(("TID2013 I21/i21_21_5", Image.open(os.path.join(tid, "reference", "I21.BMP")),
                      Image.open(os.path.join(tid, "distorted", "i21_21_5.bmp"))))
    fails = 0
    for name, a, b in items:
        pa, pb, po = (os.path.join(fix, "ssim_%s" % f) for f in ("a.png", "b.png", "map.npy"))
        a.save(pa)
        b.save(pb)
        r = subprocess.run([runner, "--ssim", pa, pb, po], capture_output=True, text=True)
        if r.returncode:
            print("FAIL %s: runner: %s" % (name, r.stderr))
            fails += 1
            continue
        ours = np.load(po)
        want = ssim_numpy(np.asarray(a.convert("L")), np.asarray(b.convert("L")))
        d = np.abs(ours - want).max()
        dm = abs(float(r.stdout) - want.mean())
        ok = d <= 1e-6 and dm <= 1e-9
        print("%s %-22s SSIM %.6f (numpy %.6f)  max|map diff| %.2e" % ("ok  " if ok else "FAIL", name, float(r.stdout), want.mean(), d))
        fails += not ok
    print("%d checks, %d failed" % (len(items), fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
