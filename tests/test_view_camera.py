"""posesearch.view.camera: projection, rotation about the vertical axis, and fitting the camera (issue 20).

Hand-checkable cases first (a point on an axis lands where the convention says), then hypothesis
properties of the fit (any yaw / pitch / scale / shift is recovered), then the fit on real CMU motion
capture filmed from another side, late and slower (no frame of the user matches a reference frame in time).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posesearch.errors import InvalidArgumentError, InvalidPoseError
from posesearch.view.camera import (Camera, camera_matrix, canonical_yaw, dtw_open_user, dtw_path_open_user,
                                    facing_yaw, fit_camera, fit_sequence_camera, project, rotate_yaw,
                                    wrap_degrees)

from conftest import shared_path

#: a small 3D "person" (COCO-17 order, metres, Y up, facing +Z): asymmetric arms so no view is ambiguous
POSE = np.array([
    [0.00, 1.60, 0.10], [0.03, 1.63, 0.08], [-0.03, 1.63, 0.08], [0.07, 1.60, 0.0], [-0.07, 1.60, 0.0],
    [0.18, 1.40, 0.0], [-0.18, 1.40, 0.0], [0.35, 1.20, 0.15], [-0.25, 1.15, -0.05],
    [0.30, 1.45, 0.40], [-0.30, 0.95, -0.05], [0.10, 0.95, 0.0], [-0.10, 0.95, 0.0],
    [0.12, 0.50, 0.12], [-0.10, 0.50, -0.05], [0.12, 0.05, 0.0], [-0.10, 0.05, -0.15]])


def moving(n: int = 30, seed: int = 0) -> np.ndarray:
    """(n, 17, 3): POSE with the arms and legs swinging (a simple motion)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, n)
    out = np.repeat(POSE[None], n, 0).copy()
    for j, a in zip((7, 8, 9, 10, 13, 14, 15, 16), rng.uniform(0.1, 0.3, 8)):
        out[:, j, 2] += a * np.sin(t + j)
        out[:, j, 1] += 0.5 * a * np.cos(t + j)
    return out


# ------------------------------------------------------------------------------------- conventions

def test_projection_axes_by_hand():
    p = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    # yaw 0: x right = world X, y down = -Y, depth Z unseen
    np.testing.assert_allclose(project(p), [[1, 0], [0, -1], [0, 0]], atol=1e-12)
    # yaw 90 (the camera on the subject's left, +X): world -Z is image right
    np.testing.assert_allclose(project(p, 90), [[0, 0], [0, -1], [-1, 0]], atol=1e-12)
    # pitch 90 would look straight down; at pitch 30 the vertical shrinks by cos 30
    np.testing.assert_allclose(project(p, 0, 30)[1], [0, -np.cos(np.radians(30))], atol=1e-12)
    # scale and translation
    np.testing.assert_allclose(project(p, 0, 0, 2.0, (10, 20))[0], [12, 20])


def test_projection_matches_the_bvh_reader_camera():
    from posesearch.corpus.readers.bvh_kinematics import project as bvh_project

    P = moving(5)
    for yaw, pitch in ((0, 0), (37, 12), (-120, -20), (90, 45)):
        a = bvh_project(P, yaw, pitch, 4.0, target=np.zeros(3))
        b = project(P, yaw, pitch, 1000.0 / 4.0)
        np.testing.assert_allclose(a, b, atol=1e-9)


def test_rotate_yaw_is_the_camera_turning_the_other_way():
    P = moving(4)
    for a in (37.0, -90.0, 180.0):
        np.testing.assert_allclose(project(rotate_yaw(P, a)), project(P, -a), atol=1e-12)
    np.testing.assert_allclose(rotate_yaw(rotate_yaw(P, 25), -25), P, atol=1e-12)


def test_facing_and_canonical_yaw():
    assert abs(facing_yaw(POSE)) < 1e-9                     # facing +Z
    assert facing_yaw(rotate_yaw(POSE, 70)) == pytest.approx(70)
    np.testing.assert_allclose(canonical_yaw(rotate_yaw(POSE, -130)), POSE, atol=1e-12)
    assert wrap_degrees(190) == pytest.approx(-170) and wrap_degrees(-180) == pytest.approx(180)


def test_nan_joints_stay_missing_and_bad_input_is_named():
    P = POSE.copy()
    P[3] = np.nan
    out = project(P, 20)
    assert np.isnan(out[3]).all() and np.isfinite(np.delete(out, 3, 0)).all()
    with pytest.raises(InvalidArgumentError, match="points3d: expected .*got shape"):
        project(np.zeros((17, 2)))
    with pytest.raises(InvalidArgumentError, match="yaw: expected a finite number"):
        project(POSE, float("nan"))
    with pytest.raises(InvalidPoseError, match="no frame pair has 4 or more joints"):
        fit_camera(POSE[None, :3], project(POSE[None, :3]))
    with pytest.raises(InvalidArgumentError, match="pitch_range"):
        fit_camera(POSE, project(POSE), pitch_range=(-95, 10))


# ------------------------------------------------------------------------------------- the fit

def test_fit_recovers_yaw_37_by_hand():
    """The issue's hand case: a known pose filmed at yaw 37° is fitted at 37° ± 1°."""
    x = project(POSE, 37.0, 0.0, 250.0, (320, 240))
    cam = fit_camera(POSE, x)
    assert abs(cam.yaw - 37.0) <= 1.0 and abs(cam.pitch) <= 1.0
    assert cam.scale == pytest.approx(250.0, rel=1e-3) and (cam.tx, cam.ty) == pytest.approx((320, 240), abs=0.5)
    assert cam.residual < 1e-6
    np.testing.assert_allclose(cam.project(POSE), x, atol=1.0)


def test_fit_tells_front_from_back_and_left_from_right():
    for yaw in (0.0, 180.0, 90.0, -90.0):
        cam = fit_camera(moving(), project(moving(), yaw))
        assert abs(wrap_degrees(cam.yaw - yaw)) <= 1.0, (yaw, cam)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(yaw=st.floats(-179.0, 180.0), pitch=st.floats(-25.0, 55.0), scale=st.floats(0.01, 1e4),
       tx=st.floats(-1e3, 1e3), noise=st.sampled_from([0.0, 0.005]))
def test_fit_recovers_any_camera(yaw, pitch, scale, tx, noise):
    P = moving(20, seed=1)
    x = project(P, yaw, pitch, scale, (tx, -tx))
    x = x + np.random.default_rng(0).normal(0, noise * scale, x.shape)    # noise: 0.5% of a metre
    cam = fit_camera(P, x)
    tol = 1.0 if noise == 0 else 3.0
    assert abs(wrap_degrees(cam.yaw - yaw)) <= tol and abs(cam.pitch - pitch) <= tol
    assert cam.scale == pytest.approx(scale, rel=0.02)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(yaw=st.floats(-179.0, 180.0), drop=st.integers(0, 6))
def test_fit_ignores_missing_joints(yaw, drop):
    P = moving(15, seed=2)
    x = project(P, yaw)
    w = np.ones(x.shape[:2])
    w[:, :drop] = 0.0                 # e.g. a face the detector missed
    x[:, :drop] = np.nan
    cam = fit_camera(P, x, w)
    assert abs(wrap_degrees(cam.yaw - yaw)) <= 1.0


def test_dtw_open_user_by_hand():
    # 3 user frames x 2 reference frames: the cheap path is user 1 -> ref 0, user 2 -> ref 1
    c = np.array([[[5.0, 5.0], [0.0, 5.0], [5.0, 1.0]]])
    assert dtw_open_user(c)[0] == pytest.approx(0.5)        # (0 + 1) / 2 reference frames
    np.testing.assert_array_equal(dtw_path_open_user(c[0]), [[1, 0], [2, 1]])
    # the same matrix under two cameras, one all zero
    both = np.concatenate([c, np.zeros_like(c)])
    np.testing.assert_allclose(dtw_open_user(both), [0.5, 0.0])


@settings(max_examples=30, deadline=None, derandomize=True)
@given(u=st.integers(1, 7), r=st.integers(1, 7), seed=st.integers(0, 1000))
def test_dtw_vectorised_equals_the_path_it_backtracks(u, r, seed):
    c = np.random.default_rng(seed).uniform(0, 1, (u, r))
    path = dtw_path_open_user(c)
    assert path[0, 1] == 0 and path[-1, 1] == r - 1
    assert (np.diff(path, axis=0) >= 0).all() and (np.diff(path, axis=0).sum(1) >= 1).all()
    assert dtw_open_user(c[None])[0] == pytest.approx(c[path[:, 0], path[:, 1]].sum() / r)


def test_sequence_fit_on_unmatched_synthetic_motion():
    P = moving(60, seed=3)
    tr = np.arange(60) / 30.0
    x = project(P[10:], -65.0, 15.0, 300.0)                    # starts 10 frames in, 25% slower
    tu = np.arange(50) / 30.0 * 1.25
    fit = fit_sequence_camera(P, tr, x, np.ones(x.shape[:2]), tu)
    assert isinstance(fit.camera, Camera)
    assert abs(wrap_degrees(fit.camera.yaw + 65.0)) <= 2.0 and abs(fit.camera.pitch - 15.0) <= 2.0


# ------------------------------------------------------------------------------------- real data

@pytest.mark.parametrize("stem", ["005_01", "001_01"])       # subjects 5 and 1: walking, playground
@pytest.mark.parametrize("yaw", [60.0, 90.0, -135.0])
def test_sequence_fit_on_cmu_clips_filmed_from_another_side(stem, yaw):
    from posesearch.corpus.readers import bvh

    m = bvh.load_mocap(shared_path("cmu_mocap", "bvh", f"{stem}.bvh"), every=2)
    J = m.joints[:150]
    tr = np.arange(len(J)) / m.fps
    user = project(J[15:], yaw, 10.0, 200.0)                     # 0.5 s late and 20% slower
    tu = np.arange(len(user)) / m.fps * 1.2
    fit = fit_sequence_camera(J, tr, user, np.ones(user.shape[:2]), tu)
    assert abs(wrap_degrees(fit.camera.yaw - yaw)) <= 3.0 and abs(fit.camera.pitch - 10.0) <= 3.0, fit.camera
