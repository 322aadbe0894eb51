"""2D -> 3D lifting (posesearch.view.lift, issue 20): shipped weights and their checksum, numpy = torch,
geometry invariants, accuracy on a held-out CMU subject, bad input, and index metric ``view``."""
from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import ROOT, shared_path
from posesearch.errors import ChecksumError, FileFormatError, InvalidPoseError, PoseSearchError
from posesearch.view import lift as L

COCO_T = np.array([  # a standing person, facing the camera (image y down), COCO-17 order
    [50, 20], [53, 17], [47, 17], [56, 19], [44, 19], [62, 35], [38, 35], [65, 55], [35, 55], [66, 72],
    [34, 72], [57, 75], [43, 75], [57, 105], [43, 105], [57, 135], [43, 135]], dtype=np.float64)


def _pose(kp=COCO_T, conf=1.0):
    return np.concatenate([kp, np.full((len(kp), 1), conf)], axis=1)


@pytest.fixture(scope="module")
def held_out():
    """Subject 5 (held out from training) trial 1: (T, 17, 3) metres, every 3rd frame."""
    from posesearch.corpus.readers.bvh_coco3d import load_coco3d

    return load_coco3d(shared_path("cmu_mocap", "bvh", "005_01.bvh"), every=3)


def _view(p3d, yaw, pitch=0.0):
    """COCO-17 [x, y, 1] of 3D poses seen by an orthographic camera at ``yaw`` (bvh_kinematics.project)."""
    from posesearch.corpus.readers.bvh_kinematics import project

    xy = project(p3d, yaw, pitch, 4.0, target=p3d.reshape(-1, 3).mean(axis=0))
    return np.concatenate([xy, np.ones(xy.shape[:2] + (1,))], axis=-1)


# --------------------------------------------------------------------------------- weights

def test_shipped_weights_verify_and_are_small():
    assert L.available()
    arrays = L.load_weights()
    assert str(arrays["checksum"]) == L.arrays_checksum(arrays)
    meta = L.model_info()
    assert meta["format"] == L.FORMAT and meta["val_subjects"] == [5] and 5 not in meta["train_subjects"]
    assert L.WEIGHTS_PATH.stat().st_size < 3_000_000
    assert arrays["basis"].shape == (51, L.EMBED_DIM)


def test_corrupted_weights_refused_in_one_line(tmp_path):
    bad = tmp_path / "w.npz"
    data = bytearray(L.WEIGHTS_PATH.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = b"\x00" * 64      # damaged bytes inside the zip
    bad.write_bytes(bytes(data))
    with pytest.raises(FileFormatError) as e:
        L.load_weights(bad)
    assert str(bad) in str(e.value) and "\n" not in str(e.value)
    # a readable file whose arrays were changed: the checksum catches it
    arrays = dict(L.load_weights())
    arrays["b_out"] = arrays["b_out"] + np.float32(1e-3)
    np.savez(tmp_path / "t.npz", **arrays)
    with pytest.raises(ChecksumError, match="checksum .* does not match") as e:
        L.load_weights(tmp_path / "t.npz")
    assert "\n" not in str(e.value)
    with pytest.raises(FileFormatError, match="not found"):
        L.load_weights(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(FileFormatError, match="not a posesearch lifting weights file"):
        L.load_weights(tmp_path / "other.npz")


def test_numpy_inference_equals_torch():
    torch = pytest.importorskip("torch", reason="the 'train' extra (torch) is not installed")
    spec = importlib.util.spec_from_file_location("train_lift", ROOT / "scripts" / "train_lift.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    arrays = L.load_weights()
    meta = L.model_info()
    model = mod.build_model(torch, meta["hidden"], meta["blocks"])
    with torch.no_grad():
        model.inp.weight.copy_(torch.tensor(arrays["w_in"]))
        model.inp.bias.copy_(torch.tensor(arrays["b_in"]))
        model.out.weight.copy_(torch.tensor(arrays["w_out"]))
        model.out.bias.copy_(torch.tensor(arrays["b_out"]))
        for i, (a, b) in enumerate(model.blocks):
            a.weight.copy_(torch.tensor(arrays[f"w{i}a"]))
            a.bias.copy_(torch.tensor(arrays[f"b{i}a"]))
            b.weight.copy_(torch.tensor(arrays[f"w{i}b"]))
            b.bias.copy_(torch.tensor(arrays[f"b{i}b"]))
        rng = np.random.default_rng(3)
        x = mod.virtual_views(rng.normal(0, 0.4, (5, 17, 3)) + [0, 1, 0], rng)[0]
        want = model(torch.tensor(x, dtype=torch.float32)).numpy()
    got = L.forward(x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # and the round trip through to_arrays gives the same arrays
    back = mod.to_arrays(model, meta["blocks"])
    for k, v in back.items():
        np.testing.assert_array_equal(np.asarray(v), arrays[k])


# --------------------------------------------------------------------------------- shapes, invariants

def test_shapes_and_normalisation():
    one = L.lift(_pose())
    assert one.shape == (17, 3)
    batch = L.lift(np.stack([_pose(), _pose(COCO_T * 2 + 7)]))
    assert batch.shape == (2, 17, 3)
    np.testing.assert_allclose(batch[0], one, atol=1e-5)       # float32 network: batch = one at a time
    np.testing.assert_allclose(batch[1], one, atol=1e-5)       # translation and scale of the image do not matter
    root = 0.5 * (one[L.LHIP] + one[L.RHIP])
    np.testing.assert_allclose(root, 0, atol=1e-12)
    assert np.sqrt((one ** 2).sum() / 17) == pytest.approx(1.0)
    assert one[0, 1] > one[15, 1]                              # Y up: the nose above the ankle
    assert L.embed(_pose()).shape == (34,) and np.linalg.norm(L.embed(_pose())) == pytest.approx(1.0)
    # a layout without face joints (cmu19) lifts too
    from posesearch.poses.layouts import CMU19

    cmu = np.zeros((19, 3))
    for i, j in enumerate(CMU19.to_coco):
        if j >= 0:
            cmu[j] = _pose()[i]
    assert L.lift(cmu, "cmu19").shape == (17, 3)


@settings(max_examples=30, deadline=None)
@given(st.floats(-np.pi, np.pi), st.integers(0, 2 ** 31 - 1))
def test_canonicalize_ignores_turns_about_the_vertical(angle, seed):
    p = np.random.default_rng(seed).normal(0, 1, (3, 17, 3))
    a = L.canonicalize(p)
    b = L.canonicalize(L.rotate_y(p, np.full(3, angle)))
    np.testing.assert_allclose(a, b, atol=1e-9)
    fwd = L.facing_angle(a)
    np.testing.assert_allclose(np.cos(fwd), 1.0, atol=1e-9)      # faces +Z


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2 ** 31 - 1))
def test_lift_of_the_mirrored_image_is_the_mirrored_lift(seed):
    """lift averages the network's answer with its answer for the mirrored image (mirrored back), so
    mirroring the image (x -> -x, left <-> right) mirrors the lifted pose (X -> -X, left <-> right) exactly."""
    rng = np.random.default_rng(seed)
    pose = _pose(COCO_T + rng.normal(0, 3, COCO_T.shape))
    pose[:, 2] = rng.uniform(0.2, 1.0, 17)
    flip = np.asarray(L.COCO17.flip)
    mirrored = pose[flip] * [-1.0, 1.0, 1.0]
    np.testing.assert_allclose(L.lift(mirrored), L.lift(pose)[flip] * [-1.0, 1.0, 1.0], atol=1e-9)


def test_lift_of_another_view_gives_the_same_canonical_pose(held_out):
    """The pose filmed at yaw 0 and at yaw 60 / 90: canonical forms close (RMS joint distance, in units of
    the pose's RMS radius), and close to the true pose's canonical form."""
    p = held_out[::5]
    c0 = L.canonicalize(L.lift(_view(p, 0)))
    for yaw, limit in ((60, 0.2), (90, 0.22)):   # measured 0.13, 0.14
        cy = L.canonicalize(L.lift(_view(p, yaw)))
        d_same = np.sqrt(((c0 - cy) ** 2).sum(axis=-1).mean(axis=-1))
        assert np.median(d_same) < limit, (yaw, np.median(d_same))
    truth = L.canonicalize(p)
    assert np.median(np.sqrt(((truth - c0) ** 2).sum(axis=-1).mean(axis=-1))) < 0.2   # measured 0.13


def test_accuracy_on_held_out_subject(held_out):
    """PA-MPJPE in mm on subject 5's walk (never trained on), orthographic views at four yaws: measured 43, 34,
    28, 44 mm (the ballet clips of the same subject, in the benchmark: 69-74 mm)."""
    errs = [float(L.procrustes_mpjpe(held_out, L.lift(_view(held_out, yaw))).mean() * 1000)
            for yaw in (0, 60, 90, 180)]
    assert max(errs) < 60, errs


# --------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("poses, layout, match", [
    (np.zeros((17, 2)), "coco17", "expected an .N, K, 3. array"),
    (np.zeros((5, 3)), "coco17", "poses: expected 17 keypoints, got 5"),
    ("nonsense", "coco17", "keypoints"),
    (_pose(), "nolayout", "unknown layout"),
])
def test_bad_input_one_line_errors(poses, layout, match):
    with pytest.raises(PoseSearchError, match=match) as e:
        L.lift(poses, layout)
    assert "\n" not in str(e.value)


def test_too_few_joints_names_the_pose():
    batch = np.stack([_pose(), _pose()])
    batch[1, 3:, 2] = 0
    with pytest.raises(InvalidPoseError, match=r"poses \(pose 1\): cannot lift: 3 present .* at least 4"):
        L.lift(batch)
    with pytest.raises(InvalidPoseError, match="pose3d: a coordinate is NaN"):
        L.canonicalize(np.full((17, 3), np.nan))
    with pytest.raises(InvalidPoseError, match=r"expected a 3D pose \(17, 3\)"):
        L.canonicalize(np.zeros((17, 2)))


# --------------------------------------------------------------------------------- index metric view

@pytest.fixture(scope="module")
def view_corpus(tmp_path_factory, held_out):
    """The held-out clip seen at yaw 0 as a corpus (COCO-17 with confidences 1)."""
    from posesearch.corpus.clip import Clip
    from posesearch.corpus.store import Corpus

    path = tmp_path_factory.mktemp("view") / "c.h5"
    xy = _view(held_out, 0)
    Corpus.ingest(path, [Clip("s5", xy[..., :2].astype(np.float32), xy[..., 2].astype(np.float32), "coco17",
                              fps=40.0)])
    return path


def test_view_index_exact_equals_brute_force_and_finds_the_turned_pose(view_corpus, held_out):
    from posesearch.index.index import Index
    from posesearch.poses.distances import get_metric

    idx = Index.build(view_corpus, metric="view", backend="exact")
    assert idx.metric == "view" and idx.exact and len(idx) == len(held_out)
    q = _view(held_out[::7], 90)
    m = idx.search(q, k=5)
    emb = L.embed(q)
    brute = get_metric("view").function(emb[:, None, :], idx.data.astype(np.float64)[None])
    want = np.argsort(brute, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(m.ids, idx.frame_ids[want])
    np.testing.assert_allclose(m.distances, np.take_along_axis(brute, want, axis=1), rtol=1e-6, atol=1e-6)
    # the top hit's 3D pose is the query's (or one of the same walk phase in another step): PA-MPJPE < 10 cm
    err = L.procrustes_mpjpe(held_out[::7], held_out[m.ids[:, 0]])
    assert np.mean(err < 0.1) >= 0.8, np.round(err, 3)
    vp = Index.build(view_corpus, metric="view", backend="vptree")
    np.testing.assert_array_equal(vp.search(q, k=5).ids, m.ids)


def test_view_index_save_load_and_cli(tmp_path, view_corpus, held_out):
    from posesearch.cli.app import app

    runner = CliRunner()
    out = tmp_path / "v.h5"
    r = runner.invoke(app, ["build", str(view_corpus), "--metric", "view", "--backend", "exact", "--out", str(out),
                            "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["metric"] == "view"
    q = tmp_path / "q.json"
    q.write_text(json.dumps({"layout": "coco17", "keypoints": _view(held_out[40:41], 60)[0].tolist()}))
    r = runner.invoke(app, ["query", str(out), str(q), "-k", "3", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["metric"] == "view"
    from posesearch.index.index import Index

    loaded = Index.load(out, view_corpus)
    np.testing.assert_array_equal(loaded.search(_view(held_out[40:41], 60), k=3).ids,
                                  Index.build(view_corpus, metric="view", backend="exact")
                                  .search(_view(held_out[40:41], 60), k=3).ids)


@pytest.mark.parametrize("backend, params", __import__("index_testdata").backend_settings())
def test_every_backend_under_view(backend, params):
    """The backend contract under metric ``view`` (registered backends and their TEST_PARAMS): exact settings
    return brute force's lists; any setting reports the true distance of what it returns."""
    from index_testdata import random_poses
    from posesearch.index.index import Index
    from posesearch.index.registry import get_backend_spec

    if backend == "faiss":
        pytest.importorskip("faiss", reason="the faiss backend needs faiss-cpu")
    rng = np.random.default_rng(11)
    kp, cf = random_poses(rng, 400, missing=0.0)
    data = L.embed(kp, "coco17", cf)
    qk, qc = random_poses(rng, 20, missing=0.05)
    idx = Index.build(data, metric="view", backend=backend, **params)
    m = idx.search(np.concatenate([qk, qc[..., None]], axis=-1), k=5)
    brute = np.sqrt(((L.embed(qk, "coco17", qc)[:, None, :] - idx.data.astype(np.float64)[None]) ** 2).sum(-1))
    np.testing.assert_allclose(m.distances, np.take_along_axis(brute, m.ids, axis=1), rtol=1e-5, atol=1e-6)
    if get_backend_spec(backend).load().exact_for("view", params):
        np.testing.assert_array_equal(m.ids, np.argsort(brute, axis=1, kind="stable")[:, :5])
        assert idx.exact


def test_view_search_with_mirror(view_corpus, held_out):
    """mirror=True lifts the mirror image too: searching a mirrored query that way is at least as close as
    searching the original (its mirror image), and equal where the mirrored side won."""
    from posesearch.index.index import Index
    from posesearch.poses.layouts import COCO17

    idx = Index.build(view_corpus, metric="view", backend="exact")
    q = _view(held_out[::9], 60)
    mq = q[:, np.asarray(COCO17.flip)].copy()
    mq[..., 0] *= -1
    plain = idx.search(q, k=1)
    both = idx.search(mq, k=1, mirror=True)
    assert (both.distances[:, 0] <= plain.distances[:, 0] + 1e-6).all()
    assert both.mirrored[:, 0].any()    # (a walk's mirror image is often another phase of it: not always)
    np.testing.assert_allclose(both.distances[both.mirrored[:, 0], 0], plain.distances[both.mirrored[:, 0], 0],
                               rtol=1e-5, atol=1e-6)


def test_view_index_of_another_lifting_model_is_refused(tmp_path, view_corpus, monkeypatch):
    from posesearch.index.index import Index

    path = Index.build(view_corpus, metric="view", backend="exact").save(tmp_path / "v.h5")
    assert Index.metadata(path)["view_model"] == L.model_id()
    monkeypatch.setattr(L, "model_id", lambda: "0123456789abcdef")
    with pytest.raises(FileFormatError, match="lifting model .* this posesearch lifts with '0123456789abcdef'; "
                                              "rebuild it") as e:
        Index.load(path)
    assert "\n" not in str(e.value)
