"""Readers of user input refuse what they cannot read truthfully (issue 15, trust items 2, 3, 7, 9, 10).

Every case is a tiny hand-made file: the reader must raise a one-line FileFormatError naming the file,
never hang, crash with a traceback, or coerce nonsense into numbers."""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from posesearch.errors import FileFormatError, PoseSearchError
from posesearch.poses.io import read_pose_file
from posesearch.poses.layouts import COCO17
from posesearch.safeio import load_json, read_bytes, regular_file
from posesearch.sequence.io import read_sequence

POSENET = list(COCO17.source_names)


def _posenet(parts, scores=None):
    return {"keypoints": [{"part": p, "position": {"x": 10.0 + i, "y": 20.0 + 2 * i},
                           "score": 0.9 if scores is None else scores[i]} for i, p in enumerate(parts)]}


def _write(tmp_path, name, obj):
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


def _one_line(e: Exception, path) -> str:
    msg = str(e)
    assert "\n" not in msg and str(path) in msg
    return msg


# --------------------------------------------------------------------------------- special files (10)

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.timeout(20) if "pytest_timeout" in sys.modules else (lambda f: f)
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pose.json"
    os.mkfifo(fifo)
    for read in (read_pose_file, lambda p: read_sequence(p), load_json):
        with pytest.raises(FileFormatError, match="FIFO") as e:
            read(fifo)
        _one_line(e.value, fifo)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_dev_zero_is_refused_not_read():
    with pytest.raises(FileFormatError, match="character device"):
        read_pose_file("/dev/zero")
    with pytest.raises(FileFormatError, match="character device"):
        read_sequence("/dev/zero.json" if False else "/dev/zero")


def test_size_limit(tmp_path):
    p = _write(tmp_path, "big.json", "[" + "0," * 600 + "0]")
    with pytest.raises(FileFormatError, match="too large"):
        read_bytes(p, max_bytes=1000)
    assert regular_file(p, max_bytes=10_000) == p


# ----------------------------------------------------------------------------------- tracebacks (7)

def test_deeply_nested_json_is_one_line_error(tmp_path):
    p = _write(tmp_path, "deep.json", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(FileFormatError, match="nested too deeply"):
        read_pose_file(p)
    with pytest.raises(FileFormatError, match="nested too deeply"):
        read_sequence(p)


@pytest.mark.parametrize("number", ["1" + "0" * 400, "1e400", "-1e999"])
def test_out_of_range_numbers_are_refused(tmp_path, number):
    p = _write(tmp_path, "big.json", '{"fps": 30, "frames": [[[' + number + ', 1, 1]]]}')
    with pytest.raises(FileFormatError, match="out of range"):
        read_sequence(p)
    q = _write(tmp_path, "pose.json", '{"keypoints": [[' + number + ', 1, 1]]}')
    with pytest.raises(FileFormatError, match="out of range"):
        read_pose_file(q)


def test_truncated_npz_is_one_line_error(tmp_path):
    p = tmp_path / "seq.npz"
    np.savez_compressed(p, keypoints=np.random.default_rng(0).random((40, 17, 3)), fps=np.array(30.0))
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(FileFormatError, match="not a readable .npz") as e:
        read_sequence(p)
    _one_line(e.value, p)


# ---------------------------------------------------------------------------------- coercion (9)

@pytest.mark.parametrize("bad", ['"1.5"', "true", '{"a": 1}'])
def test_pose_numbers_must_be_numbers(tmp_path, bad):
    p = _write(tmp_path, "p.json", '{"layout": "penn13", "keypoints": [[1, 2, 1], [3, ' + bad + ', 1]'
               + ", [1, 2, 1]" * 11 + "]}")
    with pytest.raises(FileFormatError, match=r"keypoints\[1\]\[1\]"):
        read_pose_file(p)


@pytest.mark.parametrize("score", ["0.9", True])
def test_posenet_score_must_be_a_number(tmp_path, score):
    scores = [0.9] * 17
    scores[3] = score
    p = _write(tmp_path, "p.json", _posenet(POSENET, scores))
    with pytest.raises(FileFormatError, match=r"keypoints\[3\].score: expected a number"):
        read_pose_file(p)


@pytest.mark.parametrize("arr", [np.ones((17, 3), dtype=complex), np.ones((17, 3), dtype=bool),
                                 np.array([["1", "2", "1"]] * 17)])
def test_pose_npy_of_non_real_dtype_is_refused(tmp_path, arr):
    p = tmp_path / "p.npy"
    np.save(p, arr)
    with pytest.raises(FileFormatError, match="expected real numbers"):
        read_pose_file(p)


def test_sequence_npy_complex_is_refused(tmp_path):
    p = tmp_path / "s.npy"
    np.save(p, np.ones((3, 17, 3), dtype=complex))
    with pytest.raises(FileFormatError, match="complex"):
        read_sequence(p, fps=30)


@pytest.mark.parametrize("conf", [np.ones((2, 17), dtype=bool), np.full((2, 17), "1"), np.ones((2, 17), complex)])
def test_npz_confidences_must_be_real(tmp_path, conf):
    p = tmp_path / "s.npz"
    np.savez(p, keypoints=np.ones((2, 17, 2)), confidences=conf, fps=np.array(30.0))
    with pytest.raises(FileFormatError, match="confidences: expected real numbers"):
        read_sequence(p)


@pytest.mark.parametrize("layout", ["", [], False, 0])
def test_nonsense_layout_is_refused_not_ignored(tmp_path, layout):
    kps = [[1.0 + i, 2.0 * i, 1.0] for i in range(17)]
    p = _write(tmp_path, "p.json", {"layout": layout, "keypoints": kps})
    with pytest.raises(FileFormatError, match="layout"):
        read_pose_file(p)
    q = _write(tmp_path, "s.json", {"layout": layout, "fps": 30, "frames": [kps]})
    with pytest.raises(FileFormatError, match="layout"):
        read_sequence(q)


def test_empty_layout_argument_is_refused(tmp_path):
    p = _write(tmp_path, "p.json", {"keypoints": [[1.0 + i, 2.0 * i, 1.0] for i in range(17)]})
    with pytest.raises(PoseSearchError, match="layout"):
        read_pose_file(p, layout="")


# ------------------------------------------------------------------------------- PoseNet parts (3)

def test_posenet_sixteen_parts_is_coco_with_one_missing_not_mpii(tmp_path):
    parts = [p for p in POSENET if p != "leftAnkle"]
    assumed: dict = {}
    poses = read_pose_file(_write(tmp_path, "p.json", _posenet(parts)), assumed=assumed)
    assert poses.layout.name == "coco17"
    j = COCO17.index("left_ankle")
    assert poses.confidences[0, j] == 0
    assert poses.confidences[0].sum() == pytest.approx(0.9 * 16)
    assert assumed == {"layout": {"value": "coco17", "why": "no layout given; the part names fit only coco17"}}
    snake = [p for p in COCO17.joints if p != "left_ankle"]   # also joints of body25 and blazepose33
    assumed = {}
    assert read_pose_file(_write(tmp_path, "q.json", _posenet(snake)), assumed=assumed).layout.name == "coco17"
    assert "fit coco17, body25, blazepose33: assumed coco17" in assumed["layout"]["why"]   # several fit: say so


def test_posenet_shuffled_parts_are_placed_by_name(tmp_path):
    order = list(range(17))[::-1]
    parts = [POSENET[i] for i in order]
    doc = _posenet(parts)
    for i, k in zip(order, doc["keypoints"]):   # position encodes the true joint index
        k["position"] = {"x": float(i), "y": 100.0 + i}
    doc["layout"] = "coco17"
    poses = read_pose_file(_write(tmp_path, "p.json", doc))
    assert poses.keypoints[0, :, 0].tolist() == [float(i) for i in range(17)]


@pytest.mark.parametrize("change, words", [
    (lambda parts: parts[:16] + ["tail"], "unknown part name"),
    (lambda parts: parts[:16] + [parts[0]], "repeats keypoints"),
    (lambda parts: parts[:16] + ["left_ankle" if parts[15] != "left_ankle" else "right_ankle"], "same coco17 joint"),
])
def test_posenet_unknown_or_duplicate_names_are_refused(tmp_path, change, words):
    parts = change(list(POSENET))
    with pytest.raises(FileFormatError, match=words):
        read_pose_file(_write(tmp_path, "p.json", {**_posenet(parts), "layout": "coco17"}
                              if words != "unknown part name" else _posenet(parts)))


def test_posenet_unknown_name_under_given_layout(tmp_path):
    parts = POSENET[:16] + ["tail"]
    with pytest.raises(FileFormatError, match="'tail' is not a joint of layout coco17"):
        read_pose_file(_write(tmp_path, "p.json", {**_posenet(parts), "layout": "coco17"}))


# -------------------------------------------------------------------------------- assumed layout (3)

def test_layout_assumed_from_count_is_reported(tmp_path):
    assumed: dict = {}
    p = _write(tmp_path, "p.json", {"keypoints": [[1.0 + i, 2.0 * i, 1.0] for i in range(13)]})
    assert read_pose_file(p, assumed=assumed).layout.name == "penn13"
    assert assumed == {"layout": {"value": "penn13", "why": "no layout given; 13 keypoints fit only penn13"}}
    assumed = {}
    read_pose_file(p, layout="penn13", assumed=assumed)
    assert assumed == {}
    s = _write(tmp_path, "s.json", {"fps": 30, "frames": [[[1.0 + i, 2.0 * i, 1.0] for i in range(13)]]})
    read_sequence(s, assumed=assumed)
    assert assumed["layout"]["value"] == "penn13"


# ---------------------------------------------------------------------------- absurd timing (2)

@pytest.mark.parametrize("doc, words", [
    ({"fps": 1e9}, "fps: expected a frame rate between"),
    ({"fps": 1e-3}, "fps: expected a frame rate between"),
    ({"times": [0.0, 1e6, 2e6]}, "span"),
    ({"times": [0.0, 1e-9, 2e-9]}, "median frame interval"),
])
def test_absurd_frame_rates_and_spans_are_refused_at_read_time(tmp_path, doc, words):
    frame = [[1.0 + i, 2.0 * i, 1.0] for i in range(17)]
    p = _write(tmp_path, "s.json", {**doc, "frames": [frame] * 3})
    with pytest.raises(FileFormatError, match=words):
        read_sequence(p)


def test_fps_argument_is_bounded_too(tmp_path):
    p = tmp_path / "s.npy"
    np.save(p, np.ones((3, 17, 3)))
    with pytest.raises(FileFormatError, match="fps"):
        read_sequence(p, fps=1e9)
    assert len(read_sequence(p, fps=30)) == 3
