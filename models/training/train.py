#!/usr/bin/python3
"""
Trains the reference model vcf-unet-ref: a small 2D U-Net that segments vertebral bodies on curved
sagittal slabs (3 channels: parasagittal planes at -4, 0, +4 mm, 1 mm pixels) into
0 background / 1 vertebral body T1-L5 / 2 S1 body, and exports it to ONNX with its model card.

Data: models/training/export-dataset.ts (phantoms from the project's own generator) and
models/training/export-real.ts (a real CT with published body masks, `source: "real"`: --real-fraction of
each batch, never validation).
Run (full):  npm run train   (exports the slabs, runs this script, checks the ONNX export: models/training/train.ts)
Run (CI):    /usr/bin/python3 models/training/train.py --smoke --data DIR --out DIR
Seeded; uses 2 CPU threads; stops at --minutes even if --steps is not reached.
"""
import argparse
import glob
import hashlib
import json
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# The contract shared with src/inference (and written into the model card).
HU_MIN, HU_MAX, HU_CENTER, HU_SCALE = -250.0, 1250.0, 250.0, 500.0
OFFSETS_MM = [-4, 0, 4]
CLASSES = ["background", "vertebral-body", "s1-body"]


def normalise(hu):
    return (np.clip(hu, HU_MIN, HU_MAX) - HU_CENTER) / HU_SCALE


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.net(x)


class UNet(nn.Module):
    """Four resolutions (stride 8 at the bottom; inputs must be multiples of 16 to be safe)."""

    def __init__(self, cin=3, ncls=3, w=(16, 32, 48, 64)):
        super().__init__()
        self.e0 = Block(cin, w[0])
        self.e1 = Block(w[0], w[1])
        self.e2 = Block(w[1], w[2])
        self.b = Block(w[2], w[3])
        self.u2 = Block(w[3] + w[2], w[2])
        self.u1 = Block(w[2] + w[1], w[1])
        self.u0 = Block(w[1] + w[0], w[0])
        self.head = nn.Conv2d(w[0], ncls, 1)

    def forward(self, x):
        x0 = self.e0(x)
        x1 = self.e1(F.max_pool2d(x0, 2))
        x2 = self.e2(F.max_pool2d(x1, 2))
        b = self.b(F.max_pool2d(x2, 2))
        y = self.u2(torch.cat([F.interpolate(b, scale_factor=2.0, mode="nearest"), x2], 1))
        y = self.u1(torch.cat([F.interpolate(y, scale_factor=2.0, mode="nearest"), x1], 1))
        y = self.u0(torch.cat([F.interpolate(y, scale_factor=2.0, mode="nearest"), x0], 1))
        return self.head(y)


class Exported(nn.Module):
    """What the service runs: HU-normalised input in, class probabilities out."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, image):
        return torch.softmax(self.net(image), dim=1)


def load(data_dir):
    entries = []
    for p in sorted(glob.glob(os.path.join(data_dir, "index-*.json"))):
        with open(p) as f:
            entries += json.load(f)
    samples = []
    for e in entries:
        img = np.fromfile(os.path.join(data_dir, e["id"] + ".img"), dtype=np.int16).reshape(e["channels"], e["rows"], e["cols"])
        lab = np.fromfile(os.path.join(data_dir, e["id"] + ".lab"), dtype=np.uint8).reshape(e["rows"], e["cols"])
        samples.append((e, normalise(img.astype(np.float32)).astype(np.float32), lab.astype(np.int64)))
    return samples


def crop(sample, h, w, rng):
    _, img, lab = sample
    _, H, W = img.shape
    rows = np.nonzero(lab.any(axis=1))[0]
    if len(rows) and rng.random() < 0.85:
        r0 = int(rng.choice(rows)) - h // 2 + rng.randint(-h // 4, h // 4)
    else:
        r0 = rng.randint(0, max(0, H - h))
    r0 = max(0, min(H - h, r0))
    cols = np.nonzero(lab.any(axis=0))[0]
    c0 = (int(cols.mean()) if len(cols) else W // 2) - w // 2 + rng.randint(-w // 5, w // 5)
    c0 = max(0, min(W - w, c0)) if W >= w else 0
    x = np.full((img.shape[0], h, w), normalise(np.float32(-1024)), np.float32)
    y = np.zeros((h, w), np.int64)
    hh, ww = min(h, H - r0), min(w, W - c0)
    x[:, :hh, :ww] = img[:, r0:r0 + hh, c0:c0 + ww]
    y[:hh, :ww] = lab[r0:r0 + hh, c0:c0 + ww]
    return x, y


OUTSIDE_HU = -1024.0


def box_rows(hu, k):
    """Mean over k consecutive rows (z): the slice profile of a k-mm reconstruction."""
    c = np.cumsum(np.pad(hu, ((0, 0), (k // 2 + 1, k - k // 2 - 1), (0, 0)), mode="edge"), axis=1)
    return (c[:, k:] - c[:, :-k]) / k


def thick_slices(hu, rng):
    """What the service's trilinear resampling makes of a scan with thick slices: the rows are averaged
    over the slice thickness, kept every `s` mm and linearly interpolated in between (real CT: 0.5-8 mm)."""
    s = rng.choice([2, 3, 4, 5, 6, 8])
    rows = hu.shape[1]
    phase = rng.randrange(s)
    slices = box_rows(hu, s)[:, phase::s]
    t = np.maximum(np.arange(rows) - phase, 0) / s
    i0 = np.minimum(np.floor(t).astype(int), slices.shape[1] - 1)
    i1 = np.minimum(i0 + 1, slices.shape[1] - 1)
    f = (t - np.floor(t)).astype(np.float32)[None, :, None]
    return slices[:, i0] * (1 - f) + slices[:, i1] * f


def blur_cols(hu, k):
    c = np.cumsum(np.pad(hu, ((0, 0), (0, 0), (k // 2 + 1, k - k // 2 - 1)), mode="edge"), axis=2)
    return (c[:, :, k:] - c[:, :, :-k]) / k


def body_at(y, rng):
    """One vertebral body (label 1) of a slab's target, as a boolean mask: the 4-connected component of a
    random body pixel. None when the slab has no body, or the one drawn is too small to collapse."""
    pts = np.argwhere(y == 1)
    if len(pts) == 0:
        return None
    r0, c0 = (int(v) for v in pts[rng.randrange(len(pts))])
    mask = np.zeros(y.shape, bool)
    mask[r0, c0] = True
    stack = [(r0, c0)]
    H, W = y.shape
    while stack:
        r, c = stack.pop()
        for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= rr < H and 0 <= cc < W and not mask[rr, cc] and y[rr, cc] == 1:
                mask[rr, cc] = True
                stack.append((rr, cc))
    rows = np.nonzero(mask.any(axis=1))[0]
    cols = np.nonzero(mask.any(axis=0))[0]
    if rows[-1] - rows[0] < 12 or cols[-1] - cols[0] < 12 or rows[0] == 0 or rows[-1] == H - 1:
        return None
    return mask


def insert_fracture(hu, y, rng):
    """A compression fracture inserted into a real vertebral body by a local deformation along the slab's
    rows (the body's axis), with a known Genant shape: wedge (anterior loss), biconcave (central loss of
    both endplates) or crush (uniform), height loss 15-55%. Per column, the body between its endplates is
    compressed onto the shortened span and the discs above and below are stretched to close the gap; the
    target moves with the pixels. Often a dense band of compacted trabeculae under the collapsed endplate.
    Real positives are scarce: this puts real bone texture, real noise and real neighbours around a
    collapsed body. Columns: anterior is column 0."""
    mask = body_at(y, rng)
    if mask is None:
        return hu, y
    cols = np.nonzero(mask.any(axis=0))[0]
    ca, cp = int(cols[0]), int(cols[-1])
    shape = rng.choice(["wedge", "wedge", "biconcave", "crush"])
    loss = rng.uniform(0.15, 0.55)
    top_share = {"wedge": 0.7, "biconcave": 0.5, "crush": 0.5}[shape]
    band = rng.uniform(60, 220) if rng.random() < 0.5 else 0.0
    D = 10
    H = hu.shape[1]
    hu, y = hu.copy(), y.copy()
    src_hu = hu.copy()
    src_y = y.copy()
    rows_all = np.arange(H, dtype=np.float32)
    for c in range(max(0, ca - 3), min(hu.shape[2], cp + 4)):
        # Outside the body's columns the edge column's collapse tapers off over 3 px.
        ce = min(max(c, ca), cp)
        taper = 1.0 - min(1.0, abs(c - ce) / 3.0)
        rs = np.nonzero(mask[:, ce])[0]
        if len(rs) < 4:
            continue
        top, bot = float(rs[0]), float(rs[-1])
        t = (ce - ca) / max(1, cp - ca)  # 0 anterior, 1 posterior
        f = {"wedge": 1 - t, "biconcave": 1 - (2 * t - 1) ** 2, "crush": 1.0}[shape]
        delta = loss * f * (bot - top) * taper
        if delta < 0.3:
            continue
        ntop, nbot = top + top_share * delta, bot - (1 - top_share) * delta
        lo, hi = max(0.0, top - D), min(H - 1.0, bot + D)
        # Destination row -> source row: piecewise linear through (lo, lo) (ntop, top) (nbot, bot) (hi, hi),
        # the identity outside [lo, hi].
        src = np.interp(rows_all, [0.0, lo, ntop, nbot, hi, H - 1.0], [0.0, lo, top, bot, hi, H - 1.0]).astype(np.float32)
        i0 = np.clip(np.floor(src).astype(int), 0, H - 1)
        i1 = np.clip(i0 + 1, 0, H - 1)
        w = src - np.floor(src)
        hu[:, :, c] = src_hu[:, i0, c] * (1 - w) + src_hu[:, i1, c] * w
        y[:, c] = src_y[np.clip(np.round(src).astype(int), 0, H - 1), c]
        if band and shape != "biconcave":
            r = slice(int(round(ntop)), int(round(ntop)) + 4)
            hu[:, r, c] += band * (y[r, c] == 1)
    return hu, y


def augment(x, y, rng, real=False, inserted_fractures=0.0):
    """Removes the phantom's tells: on real slabs, a share `inserted_fractures` with a fracture inserted
    (insert_fracture; off by default, see models/README.md); calibration and osteopenic bone, correlated noise, row streaks, thick
    slices and soft in-plane kernels, bone-masked backgrounds, fields of view that cut through the spine,
    zoom (body size). Labels follow only where pixels leave the scan (they become background)."""
    hu = x * HU_SCALE + HU_CENTER
    # No draw unless asked for: the default run keeps the committed model's random sequence.
    if real and inserted_fractures > 0 and rng.random() < inserted_fractures:
        hu, y = insert_fracture(hu, y, rng)
    inside = hu > OUTSIDE_HU + 1
    hu = hu * rng.uniform(0.8, 1.2) + rng.uniform(-50, 50)
    if rng.random() < 0.3:
        # Osteopenic bone: the cancellous body loses density, the cortex much less.
        body = (y > 0)[None] & (hu < 400)
        hu = np.where(body, hu * rng.uniform(0.4, 0.85), hu)
    if rng.random() < 0.3:
        hu = thick_slices(hu, rng)
    if rng.random() < 0.3:
        hu = blur_cols(hu, rng.choice([2, 3]))
    # Noise with a CT-like (correlated) spectrum, not white: white noise blurred over 1-3 pixels.
    sigma = rng.uniform(0, 35)
    n = np.random.normal(0, 1, hu.shape).astype(np.float32)
    k = rng.choice([1, 2, 3])
    if k > 1:
        n = blur_cols(box_rows(n, k), k) * k
    hu = hu + sigma * n
    if rng.random() < 0.2:
        # Slice-to-slice streaks (beam hardening, photon starvation show up as rows in a sagittal view).
        hu = hu + np.random.normal(0, rng.uniform(5, 40), (1, hu.shape[1], 1)).astype(np.float32)
    if rng.random() < 0.15:
        # Bone-masked or segmented exports: everything below a bone threshold set to one value.
        hu = np.where(hu < rng.uniform(100, 250), rng.choice([OUTSIDE_HU, -1000.0, 0.0, rng.uniform(-200, 100)]), hu)
    hu = np.where(inside, hu, OUTSIDE_HU)
    y = y.copy()
    if rng.random() < 0.12:
        # A field of view that cuts through the spine laterally: a side channel lies outside the scan.
        hu[rng.choice([[0], [2]])] = OUTSIDE_HU
    if rng.random() < 0.12:
        # ... or in front or behind: those columns are outside, and so is their label.
        c = rng.randrange(hu.shape[2] // 4, 3 * hu.shape[2] // 4)
        sl = np.s_[c:] if rng.random() < 0.5 else np.s_[:c]
        hu[:, :, sl] = OUTSIDE_HU
        y[:, sl] = 0
    if rng.random() < 0.15:
        # ... or above or below, through a body.
        r = rng.randrange(hu.shape[1] // 5, 4 * hu.shape[1] // 5)
        sl = np.s_[r:] if rng.random() < 0.5 else np.s_[:r]
        hu[:, sl, :] = OUTSIDE_HU
        y[sl, :] = 0
    x = ((np.clip(hu, HU_MIN, HU_MAX) - HU_CENTER) / HU_SCALE).astype(np.float32)
    xt = torch.from_numpy(x)[None]
    yt = torch.from_numpy(y)[None, None].float()
    if rng.random() < 0.5:
        s = rng.uniform(0.85, 1.15)
        h, w = xt.shape[-2:]
        xs = F.interpolate(xt, scale_factor=s, mode="bilinear", align_corners=False)
        ys = F.interpolate(yt, scale_factor=s, mode="nearest")
        out = torch.full_like(xt, float(normalise(np.float32(OUTSIDE_HU))))
        oy = torch.zeros_like(yt)
        hh, ww = min(h, xs.shape[-2]), min(w, xs.shape[-1])
        out[..., :hh, :ww] = xs[..., :hh, :ww]
        oy[..., :hh, :ww] = ys[..., :hh, :ww]
        xt, yt = out, oy
    return xt[0].numpy(), yt[0, 0].long().numpy()


def dice(pred, y, cls):
    p = pred == cls
    t = y == cls
    denom = p.sum() + t.sum()
    return float(2 * (p & t).sum() / denom) if denom else 1.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="models/training/data")
    ap.add_argument("--out", default="models/vcf-unet-ref")
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--minutes", type=float, default=28.0)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--crop", type=int, nargs=2, default=[160, 128])
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--val-seeds", type=int, default=6, help="phantom seeds held out for validation")
    ap.add_argument("--version", default="0.2.0")
    ap.add_argument("--parity", type=int, default=4, help="validation slabs whose outputs are kept for the ONNX parity check")
    ap.add_argument("--real-fraction", type=float, default=0.2, help="share of each batch drawn from real CT slabs (when there are any)")
    ap.add_argument("--inserted-fractures", type=float, default=0.0,
                    help="share of real slabs given an inserted fracture (insert_fracture); measured at 0.5 and not adopted (models/README.md)")
    ap.add_argument("--smoke", action="store_true", help="a few steps on whatever data is there (CI)")
    a = ap.parse_args()
    if a.smoke:
        a.steps, a.minutes, a.batch, a.val_seeds, a.parity = 6, 2.0, 4, 1, 1

    torch.set_num_threads(2)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    rng = random.Random(a.seed)

    samples = load(a.data)
    if not samples:
        raise SystemExit(f"no samples in {a.data}: run models/training/export-dataset.ts first")
    # Real CT slabs (export-real.ts) always train; validation is on held-out phantoms, the real scans that
    # did not train are measured by bench:detection --real.
    real = [s for s in samples if s[0].get("source") == "real"]
    phantoms = [s for s in samples if s[0].get("source") != "real"]
    seeds = sorted({s[0]["seed"] for s in phantoms})
    val_seeds = set(seeds[-a.val_seeds:]) if len(seeds) > a.val_seeds else set(seeds[-1:])
    train = [s for s in phantoms if s[0]["seed"] not in val_seeds] or phantoms
    val = [s for s in phantoms if s[0]["seed"] in val_seeds and s[0]["dxMm"] == 0]
    real_cases = sorted({s[0]["case"] for s in real})
    print(f"samples: {len(train)} train ({len(seeds) - len(val_seeds)} phantoms), {len(real)} real ({', '.join(real_cases) or 'none'}), {len(val)} validation", flush=True)

    # Channels-last convolutions: 0.42 s a step against 0.65 on this 2-core Debian torch (no MKL), which
    # keeps the 2,500 steps within `npm run train`'s 30 minutes; the same arithmetic up to rounding.
    net = UNet().to(memory_format=torch.channels_last)
    nparams = sum(p.numel() for p in net.parameters())
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
    cls_w = torch.tensor([1.0, 1.0, 2.0])
    h, w = a.crop
    t0 = time.time()
    step = 0
    losses = []
    while step < a.steps and (time.time() - t0) < a.minutes * 60:
        # Cosine over steps, so a seeded run gives the same weights on any machine; --minutes only caps a
        # slow machine (and says so below), it does not reshape the schedule.
        lr = a.lr * 0.5 * (1 + math.cos(math.pi * step / a.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        xs, ys = [], []
        for _ in range(a.batch):
            from_real = bool(real) and rng.random() < a.real_fraction
            pool = real if from_real else train
            x, y = crop(pool[rng.randrange(len(pool))], h, w, rng)
            x, y = augment(x, y, rng, real=from_real, inserted_fractures=a.inserted_fractures)
            xs.append(x)
            ys.append(y)
        x = torch.from_numpy(np.stack(xs)).contiguous(memory_format=torch.channels_last)
        y = torch.from_numpy(np.stack(ys))
        net.train()
        logits = net(x)
        ce = F.cross_entropy(logits, y, weight=cls_w)
        prob = torch.softmax(logits, 1)
        fg = prob[:, 1] + prob[:, 2]
        tfg = (y > 0).float()
        soft_dice = 1 - (2 * (fg * tfg).sum() + 1) / (fg.sum() + tfg.sum() + 1)
        loss = ce + soft_dice
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
        step += 1
        if step % 50 == 0 or a.smoke:
            print(f"step {step} loss {np.mean(losses[-50:]):.4f} lr {lr:.5f} {time.time() - t0:.0f}s", flush=True)
    train_s = time.time() - t0
    if step < a.steps:
        print(f"WARNING: stopped by --minutes {a.minutes} at step {step} of {a.steps}: the schedule did not finish", flush=True)

    net = net.to(memory_format=torch.contiguous_format)
    net.eval()
    dices = {1: [], 2: []}
    with torch.no_grad():
        for e, img, lab in val:
            pred = net(torch.from_numpy(img)[None]).argmax(1)[0].numpy()
            for c in (1, 2):
                dices[c].append(dice(pred, lab, c))
    metrics = {
        "validationPhantoms": len(val_seeds),
        "diceVertebralBody": round(float(np.mean(dices[1])), 4) if dices[1] else None,
        "diceS1": round(float(np.mean(dices[2])), 4) if dices[2] else None,
    }
    print("validation", metrics, flush=True)

    # Reference outputs for the ONNX parity check (models/training/parity.ts): the trainer's own
    # probabilities on whole validation slabs, which onnxruntime-node must reproduce from the export.
    parity_dir = os.path.join(a.data, "parity")
    os.makedirs(parity_dir, exist_ok=True)
    parity = []
    with torch.no_grad():
        for e, img, _ in val[: a.parity]:
            prob = Exported(net)(torch.from_numpy(img)[None])[0].numpy().astype(np.float32)
            prob.tofile(os.path.join(parity_dir, e["id"] + ".f32"))
            parity.append({"id": e["id"], "channels": e["channels"], "rows": e["rows"], "cols": e["cols"], "classes": len(CLASSES)})
    with open(os.path.join(parity_dir, "parity.json"), "w") as f:
        json.dump(parity, f)

    os.makedirs(a.out, exist_ok=True)
    onnx_path = os.path.join(a.out, "model.onnx")
    dummy = torch.zeros(1, 3, 64, 64)
    torch.onnx.export(
        Exported(net), dummy, onnx_path, opset_version=13, input_names=["image"], output_names=["probabilities"],
        dynamic_axes={"image": {2: "rows", 3: "cols"}, "probabilities": {2: "rows", 3: "cols"}},
        do_constant_folding=True,
    )
    with open(onnx_path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    card_path = os.path.join(a.out, "model.card.json")
    card = {
        "schema": "vcf-sentinel/model-card@1",
        "name": "vcf-unet-ref",
        "version": a.version + ("-smoke" if a.smoke else ""),
        "sha256": sha,
        "file": "model.onnx",
        "intendedUse": "not for clinical use: research reference model trained on synthetic phantoms"
                       + (f" and {len(real_cases)} public real CT ({', '.join(real_cases)})" if real_cases else " only"),
        "task": "vertebral-body-segmentation",
        "input": {
            "name": "image",
            "layout": "NCHW",
            "shape": [1, 3, "rows", "cols"],
            "multipleOf": 16,
            "view": "curved-sagittal",
            "rows": "patient superior to inferior",
            "cols": "patient anterior to posterior",
            "spacingMm": 1.0,
            "channelOffsetsMm": OFFSETS_MM,
            "orientation": "LPS",
            "hu": {"min": HU_MIN, "max": HU_MAX, "center": HU_CENTER, "scale": HU_SCALE,
                   "formula": "(clip(HU, min, max) - center) / scale"},
            "outsideHu": -1024,
        },
        "output": {"name": "probabilities", "layout": "NCHW", "activation": "softmax", "classes": CLASSES},
        "training": {
            "data": "vcf-sentinel phantom generator (src/imaging/phantom, formatVersion 1), curved sagittal slabs; "
                    "recipe trainingPhantomOptions(seed) = randomPhantomOptions(seed) at 380 mm FOV, pixel spacing 0.8-1.6 mm, no contrast"
                    + (f"; real CT with published body masks (models/training/export-real.ts): {', '.join(real_cases)}, {a.real_fraction:.0%} of each batch"
                       + (f", {a.inserted_fractures:.0%} of those with a fracture inserted into one of its bodies (insert_fracture)" if a.inserted_fractures else "") if real_cases else "")
                    + "; augmentation (train.py augment): calibration, osteopenic bone, correlated noise, row streaks, 2-8 mm slices, "
                    "soft kernels, bone-masked backgrounds, fields of view cutting the spine, zoom",
            "realCases": real_cases,
            "phantomSeeds": [min(seeds), max(seeds)],
            "phantoms": len(seeds) - len(val_seeds),
            "validationSeeds": sorted(val_seeds),
            "samples": len(train),
            "steps": step,
            "stepsPlanned": a.steps,
            "batch": a.batch,
            "crop": [h, w],
            "seconds": round(train_s),
            "threads": 2,
            "seed": a.seed,
            "framework": f"torch {torch.__version__}, onnx opset 13",
            "parameters": nparams,
        },
        # A new network makes the previous bench numbers meaningless: `npm run bench:detection -- --update-card` adds them back.
        "metrics": {"validation": metrics},
    }
    with open(card_path, "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    print(f"wrote {onnx_path} ({os.path.getsize(onnx_path)} bytes, sha256 {sha}) and {card_path}; {step} steps in {train_s:.0f}s", flush=True)


if __name__ == "__main__":
    main()
