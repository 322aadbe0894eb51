"""The camera angle in scoring: which view mode, and the reference as the user's camera saw it.

``ScoreSettings.view`` (:data:`~.score.VIEWS`):

* ``"2d"`` — the poses are compared as filmed (the frame distance tolerates in-image rotation up to
  ``max_rotation`` and the user may be mirrored, but a camera that moved around the person is not undone);
* ``"3d-fit"`` — the reference has 3D joints (:attr:`Sequence.points3d`): one orthographic camera
  (yaw, pitch, scale, translation) is fitted to the user's 2D sequence
  (:func:`posesearch.view.camera.fit_sequence_camera`: a coarse camera grid, each aligned in time by DTW,
  then refined on the aligned frames), once with the user as recorded and once mirrored when ``mirror``
  allows it; the reference seen from the better camera replaces its 2D keypoints and is scored as usual
  (so every other step — smoothing, resampling, DTW, mirroring, the 0-100 curve — is the 2D scorer's);
* ``"lifted"`` — a 2D-only reference is first lifted to 3D by the learned model
  (:func:`posesearch.view.lift.lift`, in the camera's yaw frame: x right, Y up, Z towards the camera,
  which is the world frame of a camera at yaw 0), then as ``"3d-fit"``;
* ``"auto"`` (default) — ``"3d-fit"`` when the reference has 3D joints, otherwise ``"2d"``; when
  :data:`AUTO_USES_LIFT` is on and the model is installed, a 2D reference is first scored as filmed, and only
  when that scores below :data:`AUTO_LIFT_BELOW` is it lifted and the user's camera fitted to it
  (:func:`~.score.score_in_view`): a fitted yaw under :data:`AUTO_LIFT_MIN_YAW` from the reference's own keeps ``"2d"`` (the
  reference as given, so the answer is exactly view ``"2d"``'s), farther is ``"lifted"`` (see the README
  section "Camera angle" for the measurements behind the switch).

:func:`view_reference` returns the reference to score and a dict for ``ScoreReport.view``: the mode,
who chose it and why, and the fitted camera.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, PoseSearchError
from .sequence import Sequence

#: fewest present joints of a frame the lifting model is given
MIN_LIFT_JOINTS = 4
#: whether view="auto" lifts a 2D-only reference when the lifting model is installed. Off: on Penn Action
#: (20 test users x 60 train references, ``benchmarks/bench_view_penn.py``) auto with lifting lowered the
#: action accuracy 0.75 -> 0.70 and the same-vs-different AUC 0.837 -> 0.832 and cost 5.5x per pair, while on
#: CMU (other angles) it wins 0.9955 / 0.991 of the pairs at 60 / 90 degrees: ask for view="lifted" there
AUTO_USES_LIFT = False
#: view="auto" on a lifted 2D reference: a user's camera fitted within this many degrees of yaw of the
#: reference's own camera is scored as filmed (2D, bit-identical to view="2d"); farther, in the fitted view
AUTO_LIFT_MIN_YAW = 20.0
#: view="auto" on a 2D reference first scores the poses as filmed; only a score below this tries the lift and
#: the camera fit (a match this good is not a camera problem, and it saves their cost on most scorings)
AUTO_LIFT_BELOW = 90.0
#: view="auto" lifts only a reference whose frames mostly (half or more) show both shoulders, both hips and at
#: least this many COCO-17 joints: a body the model was trained on, not a face or a hand
AUTO_LIFT_MIN_JOINTS = 8
_TORSO = [5, 6, 11, 12]                   # COCO-17 left/right shoulder, left/right hip


def auto_liftable(reference: Sequence) -> bool:
    """Whether view="auto" may lift this 2D reference (:data:`AUTO_LIFT_MIN_JOINTS`)."""
    present = reference.to_coco().present
    body = present[:, _TORSO].all(axis=1) & (present.sum(axis=1) >= AUTO_LIFT_MIN_JOINTS)
    return bool(len(body)) and float(body.mean()) >= 0.5


def lift_available() -> bool:
    """True when :mod:`posesearch.view.lift` is present and its weights load (checksum checked)."""
    try:
        from ..view import lift as _lift
    except ImportError:
        return False
    probe = getattr(_lift, "available", None) or getattr(_lift, "model_info", None)
    if probe is None:
        return True
    try:
        return probe() is not False
    except (PoseSearchError, OSError):
        return False


def resolve_view(view: str, reference: Sequence) -> tuple[str, str]:
    """(mode, why) for the settings' ``view`` and this reference; refuses a mode the data cannot serve."""
    has3d = reference.points3d is not None
    if view == "auto":
        if has3d:
            return "3d-fit", "view auto: the reference has 3D joints, so the user's camera was fitted to them"
        if AUTO_USES_LIFT and auto_liftable(reference) and lift_available():
            return "lifted", ("view auto: the reference is 2D only; it was lifted to 3D and the user's camera fitted "
                              f"to it (lifted when the fitted yaw is {AUTO_LIFT_MIN_YAW:g}° or more away)")
        return "2d", "view auto: the reference has no 3D joints; poses compared as filmed (--view lifted to lift it)"
    if view == "3d-fit" and not has3d:
        raise InvalidArgumentError(
            f"{reference.name}: view 3d-fit needs 3D joints in the reference (a BVH file, a corpus clip ingested "
            f"from BVH, or a sequence file with points3d), found only 2D keypoints; use view 2d or lifted")
    if view == "lifted" and not lift_available():
        raise InvalidArgumentError("view lifted: the lifting model (posesearch.view.lift) is not installed in this "
                                   "posesearch; use view 2d or 3d-fit")
    return view, f"view {view} as given"


def lifted_points3d(reference: Sequence) -> np.ndarray:
    """(T, K, 3) world-frame 3D joints of a 2D reference from the lifting model, in its own layout.

    :func:`posesearch.view.lift.lift` answers in the camera's yaw frame (x right, Y up, Z towards the
    camera, root-centred, unit RMS radius per pose): the world frame of a camera at yaw 0, as used here.
    Frames with fewer than MIN_LIFT_JOINTS present joints are not lifted (NaN), nor are joints not seen."""
    from ..view.lift import lift

    coco = reference.to_coco()
    world = np.full((len(coco), 17, 3), np.nan)
    ok = coco.present.sum(1) >= MIN_LIFT_JOINTS
    if ok.any():
        arr = np.concatenate([coco.keypoints[ok], coco.confidences[ok][..., None]], axis=-1)
        world[ok] = np.asarray(lift(arr, "coco17"), dtype=np.float64)
    world[~coco.present] = np.nan
    return _from_coco(world, reference.layout)


def _anchor_to_own_view(p3, coco: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lifted reference ``p3`` (T, 17, 3) with its X and Y replaced by the recorded 2D: the lifting model
    only supplies each joint's depth (Z), the part a 2D recording lacks; per frame, the recorded 2D is mapped
    into the lifted pose's units by the scale and shift (least squares) that best match the lifted pose seen
    from yaw 0. Returns (anchored 3D, per-frame scale (T, 1, 1), per-frame 2D centre (T, 1, 2)): seen from
    the reference's own camera and mapped back by the scale and centre, the anchored pose is the recorded 2D
    itself, so a lifting error costs nothing at the reference's own angle (self-scores stay 100), and at
    another angle the error is only the depth's."""
    from ..view.camera import project

    ok = np.isfinite(p3).all(-1)
    w = np.where(ok, coco.confidences, 0.0)
    q0 = np.nan_to_num(project(p3))                    # (T, 17, 2) lifted, seen from the reference's camera
    x = coco.keypoints
    W = np.maximum(w.sum(1), 1e-12)[:, None]
    mq = (w[..., None] * q0).sum(1) / W
    mx = (w[..., None] * x).sum(1) / W
    num = (w[..., None] * (q0 - mq[:, None]) * (x - mx[:, None])).sum((1, 2))
    den = (w[..., None] * (q0 - mq[:, None]) ** 2).sum((1, 2))
    a = np.where((den > 0) & (num > 0), num / np.where(den > 0, den, 1.0), 1.0)[:, None, None]
    qc = (x - mx[:, None]) / a + mq[:, None]           # the recorded 2D in the lifted units (y down)
    anchored = np.stack([qc[..., 0], -qc[..., 1], p3[..., 2]], axis=-1)
    return np.where(ok[..., None], anchored, np.nan), a, mx[:, None]


def _from_coco(p, layout) -> np.ndarray:
    """(T, K, ...) values of ``layout``'s joints from (T, 17, ...) COCO-17 values (joints COCO lacks: NaN)."""
    idx = np.asarray(layout.to_coco)             # (17,): the layout's joint of each COCO joint, -1 = none
    out = np.full(p.shape[:1] + (layout.num_keypoints,) + p.shape[2:], np.nan)
    out[:, idx[idx >= 0]] = p[:, idx >= 0]
    return out


def view_reference(reference: Sequence, user: Sequence, view: str, mirror: str) -> tuple[Sequence, dict[str, Any]]:
    """The reference to score for ``view`` (a ScoreSettings.view) and the report's view record.

    ``mirror`` (ScoreSettings.mirror): which user states the camera is fitted for ("auto": both, the
    lower alignment cost wins)."""
    from ..view.camera import fit_sequence_camera, project, wrap_degrees

    mode, why = resolve_view(view, reference)
    info: dict[str, Any] = {"mode": mode, "chosen_by": "auto" if view == "auto" else "settings", "why": why}
    if mode == "2d":
        return reference, info
    ref = reference
    if mode == "lifted":
        ref = reference.replace(points3d=lifted_points3d(reference))
    p3 = ref.to_coco().points3d
    if mode == "lifted":
        p3, frame_scale, frame_centre = _anchor_to_own_view(p3, reference.to_coco())
    ref_w = np.isfinite(p3).all(-1).astype(np.float64)
    usr = user.to_coco()
    states = {"off": [False], "on": [True], "auto": [False, True]}[mirror]
    fits = {}
    for m in states:
        u = usr.mirrored() if m else usr
        fits[m] = fit_sequence_camera(p3, ref.times, u.keypoints, u.confidences, u.times, ref_weights=ref_w)
    best = min(fits, key=lambda m: fits[m].alignment_cost)
    cam = fits[best].camera
    fitted = dict(camera=cam.to_dict(), fitted_to="mirrored user" if best else "user as recorded",
                  fit_cost=round(fits[best].alignment_cost, 6),
                  fit_costs={("mirrored" if m else "plain"): round(f.alignment_cost, 6) for m, f in fits.items()})
    if mode == "lifted" and view == "auto" and abs(wrap_degrees(cam.yaw)) < AUTO_LIFT_MIN_YAW:
        info.update(mode="2d", why=f"view auto: the user's camera, fitted to the lifted reference, is at yaw "
                                   f"{wrap_degrees(cam.yaw):.0f}° (within {AUTO_LIFT_MIN_YAW:g}° of the reference's); "
                                   "poses compared as filmed", **fitted)
        return reference, info
    if mode == "lifted":                                  # seen by the fitted camera, in the reference's image
        img = project(p3, cam.yaw, cam.pitch)
        w = np.where(np.isfinite(img).all(-1), reference.to_coco().confidences, 0.0)
        centre = (w[..., None] * np.nan_to_num(img)).sum(1) / np.maximum(w.sum(1), 1e-12)[:, None]
        kp = frame_scale * (img - centre[:, None]) + frame_centre    # yaw 0: the recorded 2D again
    else:
        kp = cam.project(p3)
    cf = np.where(np.isfinite(kp).all(-1), reference.to_coco().confidences, 0.0)
    if mode == "3d-fit":
        cf = np.where(np.isfinite(kp).all(-1), np.maximum(cf, ref_w), 0.0)   # every 3D joint is seen
    kp2 = _from_coco(kp, reference.layout)               # back in the reference's own layout, so the
    cf2 = np.nan_to_num(_from_coco(cf, reference.layout))  # joints it lacks are still left out, not missing
    seen = reference.replace(keypoints=np.nan_to_num(kp2), confidences=np.where(np.isnan(kp2[..., 0]), 0.0, cf2),
                             points3d=ref.points3d)
    if mode == "lifted" and view == "auto":
        info["why"] = (f"view auto: the reference is 2D only; the user's camera, fitted to the lifted reference, is at "
                       f"yaw {wrap_degrees(cam.yaw):.0f}° ({AUTO_LIFT_MIN_YAW:g}° or more from the reference's): scored "
                       "in that view")
    info.update(**fitted)
    return seen, info

