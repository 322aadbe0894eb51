"""Train the 2D -> 3D lifter shipped as posesearch/view/lift_weights.npz (issue 20). Needs the ``train`` extra
(torch CPU): ``pip install -e ".[train]"``. The shipped weights were made by two commands (one thread each,
fixed seed; ~20 + ~8 minutes on a busy 2-core machine):

    python scripts/train_lift.py --out base.npz            # 16000 batches of 256 (the first shipped weights)
    python scripts/train_lift.py --init base.npz --steps 9000 --lr 3e-4 --lean 30 --bend 0.5 --bend-upper 70 --bend-lower 60

(the second fine-tunes the first on bolder poses; the weights' meta records its ``init`` checksum).

Data: the shared CMU motion capture (``../shared/data/cmu_mocap/bvh``), 3D COCO-17 joints from
:func:`posesearch.corpus.readers.bvh_coco3d.load_coco3d`. Subjects 1, 2, 3 train; subject 5 is held out
(validation figures go to the weights' ``meta``). Every batch is drawn afresh (fixed seed):

* the pose mirrored left/right with p = 0.5 (another valid pose: doubles the variety of 3 subjects), tilted
  by up to 10 deg about a random horizontal axis (leaning), limbs bent (:func:`bend_limbs`: new poses the
  three subjects never made, e.g. a leg raised high), bone-length jitter (each bone x N(1, 0.07), the
  head as one piece), then a random virtual camera: yaw
  0-360 deg, pitch -20..30 deg, distance 2.5-8 m, perspective (focal 1000) or orthographic (half each),
  aimed at the pelvis +-10 cm;
* 2D noise: Gaussian, sigma up to 4% of the pose's RMS radius, larger for low confidences; confidences
  uniform 0.3-1;
* missing joints: each with p = 0.05, the whole face with p = 0.25 (corpora of layout cmu19 have none),
  one arm or leg chain with p = 0.1 (at least 6 joints stay).

Target: the 3D pose in the camera's yaw frame (X image right, Y up, Z towards the camera), root-centred, RMS
radius 1 (:func:`posesearch.view.lift.normalize3d`). Network: Martinez et al. (2017) residual MLP without
batch norm (51 -> H, B residual blocks of two H x H layers, -> 51), ReLU, Adam, cosine learning rate.
The embedding basis (metric ``view``): top 34 right singular vectors of the training poses' canonical forms.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from posesearch.corpus.readers.bvh_coco3d import load_coco3d  # noqa: E402
from posesearch.poses.layouts import COCO17  # noqa: E402
from posesearch.view import lift as L  # noqa: E402

SEED = 20
DATA = ROOT.parent / "shared" / "data" / "cmu_mocap" / "bvh"
TRAIN_SUBJECTS = (1, 2, 3)
VAL_SUBJECTS = (5,)
_C = {n: i for i, n in enumerate(COCO17.joints)}
FACE = [_C[n] for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
CHAINS = [[_C[f"{s}_{p}"] for p in parts] for s in ("left", "right")
          for parts in (("elbow", "wrist"), ("knee", "ankle"))]
# bones for the length jitter: (parent, child); -1 = pelvis (hip midpoint), -2 = neck (shoulder midpoint)
BONES = [(-1, _C["left_hip"]), (-1, _C["right_hip"]), (-1, -2), (-2, _C["left_shoulder"]), (-2, _C["right_shoulder"]),
         (_C["left_shoulder"], _C["left_elbow"]), (_C["left_elbow"], _C["left_wrist"]),
         (_C["right_shoulder"], _C["right_elbow"]), (_C["right_elbow"], _C["right_wrist"]),
         (_C["left_hip"], _C["left_knee"]), (_C["left_knee"], _C["left_ankle"]),
         (_C["right_hip"], _C["right_knee"]), (_C["right_knee"], _C["right_ankle"])]


def load_subjects(subjects, every: int) -> np.ndarray:
    """(T, 17, 3) metres of every file of ``subjects``, every ``every``-th frame."""
    out = [load_coco3d(p, every=every) for p in sorted(DATA.glob("*.bvh")) if int(p.stem.split("_")[0]) in subjects]
    return np.concatenate(out)


def jitter_bones(p: np.ndarray, rng: np.random.Generator, sigma: float = 0.07) -> np.ndarray:
    """Scale each bone by N(1, sigma), moving its subtree with it (the face moves with the neck)."""
    n = len(p)
    pos = {-1: 0.5 * (p[:, _C["left_hip"]] + p[:, _C["right_hip"]]),
           -2: 0.5 * (p[:, _C["left_shoulder"]] + p[:, _C["right_shoulder"]])}
    new = {-1: pos[-1]}
    for parent, child in BONES:
        src = pos[child] if child < 0 else p[:, child]
        ppos = pos[parent] if parent < 0 else p[:, parent]
        f = 1.0 + sigma * rng.standard_normal((n, 1))
        new[child] = new[parent] + f * (src - ppos)
    out = np.empty_like(p)
    for j in range(17):
        if j in new:
            out[:, j] = new[j]
    for j in FACE:
        out[:, j] = new[-2] + (p[:, j] - pos[-2])
    return out


FLIP = np.asarray(COCO17.flip)


def mirror_tilt(p: np.ndarray, rng: np.random.Generator, max_tilt: float = 10.0) -> np.ndarray:
    """Mirror half the poses (x -> -x, left <-> right) and tilt each about a random horizontal axis through
    its pelvis by up to ``max_tilt`` degrees."""
    p = p.copy()
    m = rng.random(len(p)) < 0.5
    p[m] = p[m][:, FLIP] * [-1.0, 1.0, 1.0]
    root = 0.5 * (p[:, _C["left_hip"]] + p[:, _C["right_hip"]])[:, None, :]
    az = rng.uniform(0, 2 * np.pi, len(p))
    axis = np.stack([np.cos(az), np.zeros_like(az), np.sin(az)], axis=-1)
    ang = np.radians(rng.uniform(0, max_tilt, len(p)))
    return _rodrigues(p - root, axis, ang) + root


LIMBS = [(_C[f"{s}_{a}"], _C[f"{s}_{b}"], _C[f"{s}_{c}"]) for s in ("left", "right")
         for a, b, c in (("shoulder", "elbow", "wrist"), ("hip", "knee", "ankle"))]


def _rodrigues(v: np.ndarray, axis: np.ndarray, ang: np.ndarray) -> np.ndarray:
    """Rotate vectors v (N, ..., 3) about unit axes (N, 3) by angles (N,) radians."""
    shape = (len(v),) + (1,) * (v.ndim - 2) + (3,)
    k = axis.reshape(shape)
    c = np.cos(ang).reshape(shape[:-1] + (1,))
    s = np.sin(ang).reshape(shape[:-1] + (1,))
    return v * c + np.cross(k, v) * s + k * (v * k).sum(-1, keepdims=True) * (1 - c)


UPPER = [_C[n] for n in COCO17.joints if not n.endswith(("hip", "knee", "ankle"))]


def lean_torso(p: np.ndarray, rng: np.random.Generator, max_lean: float) -> np.ndarray:
    """New poses from old: half the poses get their upper body (shoulders, arms, head) turned about a random
    horizontal axis through the hip midpoint by up to ``max_lean`` degrees (bows, arabesques, side bends)."""
    p = p.copy()
    m = rng.random(len(p)) < 0.5
    k = int(m.sum())
    if not k:
        return p
    q = p[m]
    root = 0.5 * (q[:, _C["left_hip"]] + q[:, _C["right_hip"]])[:, None, :]
    az = rng.uniform(0, 2 * np.pi, k)
    axis = np.stack([np.cos(az), np.zeros_like(az), np.sin(az)], axis=-1)
    q[:, UPPER] = _rodrigues(q[:, UPPER] - root, axis, np.radians(rng.uniform(0, max_lean, k))) + root
    p[m] = q
    return p


def _random_axes(rng: np.random.Generator, n: int) -> np.ndarray:
    a = rng.standard_normal((n, 3))
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def bend_limbs(p: np.ndarray, rng: np.random.Generator, prob: float = 0.3, upper: float = 50.0,
               lower: float = 35.0) -> np.ndarray:
    """New poses from old: each arm and leg, with probability ``prob``, turned about its shoulder / hip by
    up to ``upper`` degrees (random axis) and its forearm / shin about the elbow / knee by up to ``lower``."""
    p = p.copy()
    n = len(p)
    for root, mid, end in LIMBS:
        m = rng.random(n) < prob
        k = int(m.sum())
        if not k:
            continue
        q = p[m]
        a1 = np.radians(rng.uniform(0, upper, k))
        seg = _rodrigues(q[:, [mid, end]] - q[:, root][:, None], _random_axes(rng, k), a1)
        q[:, mid], q[:, end] = q[:, root] + seg[:, 0], q[:, root] + seg[:, 1]
        a2 = np.radians(rng.uniform(0, lower, k))
        q[:, end] = q[:, mid] + _rodrigues((q[:, end] - q[:, mid])[:, None], _random_axes(rng, k), a2)[:, 0]
        p[m] = q
    return p


def virtual_views(p: np.ndarray, rng: np.random.Generator, *, yaw=None, pitch=None, distance=None,
                  perspective=None, noise: bool = True, missing: bool = True):
    """Random cameras of poses ``p`` (N, 17, 3) metres -> (network input (N, 51), target (N, 17, 3))."""
    n = len(p)
    th = np.radians(rng.uniform(0, 360, n) if yaw is None else np.broadcast_to(yaw, n))
    ph = np.radians(rng.uniform(-20, 30, n) if pitch is None else np.broadcast_to(pitch, n))
    dist = rng.uniform(2.5, 8.0, n) if distance is None else np.broadcast_to(distance, n)
    persp = rng.random(n) < 0.5 if perspective is None else np.broadcast_to(perspective, n)
    root = 0.5 * (p[:, _C["left_hip"]] + p[:, _C["right_hip"]])
    rel = p - (root + rng.uniform(-0.1, 0.1, (n, 3)) * noise)[:, None, :]
    ct, st, cp, sp = np.cos(th)[:, None], np.sin(th)[:, None], np.cos(ph)[:, None], np.sin(ph)[:, None]
    x, y, z = rel[..., 0], rel[..., 1], rel[..., 2]
    X = ct * x - st * z                      # camera right (bvh_kinematics.camera_axes)
    Zh = st * x + ct * z                     # horizontal towards the camera
    up = -sp * Zh + cp * y                   # camera up = fwd x right, pitched
    depth = dist[:, None] - (cp * Zh + sp * y)
    scale = np.where(persp[:, None], 1000.0 / np.maximum(depth, 0.05 * dist[:, None]), 1000.0 / dist[:, None])
    kp = np.stack([X * scale, -up * scale], axis=-1)
    target = L.normalize3d(np.stack([X, y, Zh], axis=-1))
    conf = np.ones((n, 17))
    if noise:
        conf = rng.uniform(0.3, 1.0, (n, 17))
        rms = np.sqrt(((kp - kp.mean(axis=1, keepdims=True)) ** 2).sum(axis=(1, 2)) / 17)
        sig = rng.uniform(0, 0.04, n)[:, None, None] * rms[:, None, None] * (1.3 - conf[..., None])
        kp = kp + sig * rng.standard_normal(kp.shape)
    if missing:
        drop = rng.random((n, 17)) < 0.05
        drop[:, FACE] |= (rng.random(n) < 0.25)[:, None]
        which = rng.integers(0, len(CHAINS), n)
        chain = rng.random(n) < 0.1
        for c, joints in enumerate(CHAINS):
            drop[np.ix_(chain & (which == c), joints)] = True
        keep = (~drop).sum(axis=1) >= 6
        drop[~keep] = False
        conf = np.where(drop, 0.0, conf)
    return L.normalize2d(kp, conf), target


def build_model(torch, hidden: int, blocks: int):
    nn = torch.nn

    class Lifter(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(51, hidden)
            self.blocks = nn.ModuleList(nn.ModuleList([nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)])
                                        for _ in range(blocks))
            self.out = nn.Linear(hidden, 51)

        def forward(self, x):
            h = torch.relu(self.inp(x))
            for a, b in self.blocks:
                h = h + torch.relu(b(torch.relu(a(h))))
            return self.out(h)

    return Lifter()


def to_arrays(model, blocks: int) -> dict[str, np.ndarray]:
    """The model's weights as the numpy arrays :func:`posesearch.view.lift.forward` reads (float32)."""
    f = lambda t: t.detach().cpu().numpy().astype(np.float32)  # noqa: E731
    out = {"w_in": f(model.inp.weight), "b_in": f(model.inp.bias), "w_out": f(model.out.weight),
           "b_out": f(model.out.bias), "blocks": np.int64(blocks)}
    for i, (a, b) in enumerate(model.blocks):
        out[f"w{i}a"], out[f"b{i}a"], out[f"w{i}b"], out[f"b{i}b"] = f(a.weight), f(a.bias), f(b.weight), f(b.bias)
    return out


def from_arrays(torch, model, arrays: dict[str, np.ndarray]) -> None:
    """Load :func:`to_arrays`' arrays into ``model`` (same hidden size and blocks)."""
    with torch.no_grad():
        for layer, w, b in [(model.inp, "w_in", "b_in"), (model.out, "w_out", "b_out")] + [
                (lay, f"w{i}{s}", f"b{i}{s}") for i, pair in enumerate(model.blocks) for lay, s in zip(pair, "ab")]:
            layer.weight.copy_(torch.tensor(arrays[w]))
            layer.bias.copy_(torch.tensor(arrays[b]))


def val_set(poses: np.ndarray, seed: int):
    """The fixed validation views (random cameras, noise and missing joints from ``seed``) and the 3D truth
    in metres in the yaw frame."""
    rng = np.random.default_rng(seed)
    x, t = virtual_views(poses, rng)
    return x, t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=16000, help="training steps (batches)")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bend", type=float, default=0.3, help="probability of bending each limb (bend_limbs)")
    ap.add_argument("--bend-upper", type=float, default=50.0, help="largest turn of an arm / leg (degrees)")
    ap.add_argument("--bend-lower", type=float, default=35.0, help="largest turn of a forearm / shin (degrees)")
    ap.add_argument("--lean", type=float, default=0.0, help="largest bend of the upper body at the hips (degrees)")
    ap.add_argument("--lr", type=float, default=1e-3, help="initial learning rate (cosine schedule to 0)")
    ap.add_argument("--init", default="", help="start from these weights (an npz this script wrote) instead of "
                                               "random ones: fine-tuning; their checksum goes to the new meta")
    ap.add_argument("--out", default=str(L.WEIGHTS_PATH))
    a = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        print('train_lift.py needs the \'train\' extra: pip install -e ".[train]"', file=sys.stderr)
        return 2
    torch.manual_seed(SEED)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(SEED)
    t0 = time.time()
    train = load_subjects(TRAIN_SUBJECTS, every=1)
    val = load_subjects(VAL_SUBJECTS, every=4)
    print(f"data: {len(train)} training poses (subjects {TRAIN_SUBJECTS}), {len(val)} validation poses "
          f"(subjects {VAL_SUBJECTS}) in {time.time() - t0:.1f} s", file=sys.stderr)
    vx, vt = val_set(val, SEED + 1)
    vx_t = torch.tensor(vx, dtype=torch.float32)
    model = build_model(torch, a.hidden, a.blocks)
    init = None
    if a.init:
        arrays0 = L.load_weights(a.init)
        init = {"checksum": str(arrays0["checksum"]), "meta": json.loads(str(arrays0["meta"]))}
        from_arrays(torch, model, arrays0)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    step, t_start, losses = 0, time.time(), []
    lr0 = a.lr
    while step < a.steps:
        frac, elapsed = step / a.steps, time.time() - t_start
        for g in opt.param_groups:
            g["lr"] = lr0 * 0.5 * (1 + np.cos(np.pi * frac)) + 1e-5
        idx = rng.integers(0, len(train), a.batch)
        poses = lean_torso(mirror_tilt(train[idx], rng), rng, a.lean) if a.lean > 0 else mirror_tilt(train[idx], rng)
        poses = bend_limbs(poses, rng, a.bend, a.bend_upper, a.bend_lower)
        x, t = virtual_views(jitter_bones(poses, rng), rng)
        pred = model(torch.tensor(x, dtype=torch.float32))
        loss = ((pred - torch.tensor(t.reshape(len(t), -1), dtype=torch.float32)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if step % 1000 == 0:
            with torch.no_grad():
                vp = model(vx_t).numpy().reshape(-1, 17, 3)
            # PA-MPJPE in metres: the 3D truth is normalised, scale it back by each pose's RMS radius
            err = L.procrustes_mpjpe(vt, vp).mean()
            print(f"step {step}: loss {np.mean(losses[-1000:]):.4f}, val PA-MPJPE (normalised) {err:.4f}, "
                  f"{elapsed:.0f} s", file=sys.stderr)
    arrays = to_arrays(model, a.blocks)
    # validation in metres: the truth before normalisation, per view
    vrng = np.random.default_rng(SEED + 2)
    res = {}
    for yaw in (0, 45, 90, 135, 180):
        x, t = virtual_views(val, vrng, yaw=yaw, pitch=0.0, distance=4.0, perspective=False, noise=False,
                             missing=False)
        radius = _radius(val)
        pred = L.forward(x, arrays).reshape(-1, 17, 3)
        res[f"yaw{yaw}"] = round(float((L.procrustes_mpjpe(t * radius[:, None, None], pred)).mean() * 1000), 1)
    x, t = val_set(val, SEED + 3)
    pred = L.forward(x, arrays).reshape(-1, 17, 3)
    res["random_views_noisy"] = round(float((L.procrustes_mpjpe(t * _radius(val)[:, None, None], pred)).mean()
                                            * 1000), 1)
    # embedding basis: canonical training poses
    can = L.canonicalize(train[::2]).reshape(-1, 51) / np.sqrt(17)
    _, sv, vt_ = np.linalg.svd(can, full_matrices=False)
    arrays["basis"] = np.ascontiguousarray(vt_[:L.EMBED_DIM].T.astype(np.float64))
    energy = float((sv[:L.EMBED_DIM] ** 2).sum() / (sv ** 2).sum())
    meta = {"format": L.FORMAT, "version": L.FORMAT_VERSION, "seed": SEED, "hidden": a.hidden, "blocks": a.blocks,
            "steps": step, "batch": a.batch, "train_seconds": round(time.time() - t_start, 1), "train_subjects": list(TRAIN_SUBJECTS),
            "val_subjects": list(VAL_SUBJECTS), "lr": a.lr,
            "augment": {"bend": a.bend, "bend_upper": a.bend_upper, "bend_lower": a.bend_lower, "lean": a.lean}, "train_poses": int(len(train)),
            "val_pa_mpjpe_mm": res, "basis_energy": round(energy, 5),
            "script": "scripts/train_lift.py", "init": init}
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    arrays["checksum"] = np.array(L.arrays_checksum(arrays))
    out = Path(a.out)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)
    print(json.dumps(meta, indent=1))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)", file=sys.stderr)
    return 0


def _radius(p: np.ndarray) -> np.ndarray:
    """(N,) RMS joint distance from the hip midpoint, metres (what normalize3d divides by)."""
    c = p - 0.5 * (p[:, _C["left_hip"]] + p[:, _C["right_hip"]])[:, None, :]
    return np.sqrt((c * c).sum(axis=(1, 2)) / 17)


if __name__ == "__main__":
    sys.exit(main())
