"""Readers of user input refuse what they cannot read truthfully (issue 15, trust items 2, 3, 7, 9, 10).

Every case is a tiny hand-made file: the reader must raise a one-line FileFormatError naming the file,
never hang, crash with a traceback, or coerce nonsense into numbers."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as hst

from posesearch.errors import FileFormatError, PoseSearchError
from posesearch.poses.io import read_pose_file
from posesearch.poses.layouts import COCO17
from posesearch.safeio import load_json, parse_json, read_bytes, regular_file
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
def test_fifo_is_refused_without_blocking(tmp_path):   # without the check, opening the FIFO blocks forever
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
        read_sequence("/dev/zero")


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


@pytest.mark.parametrize("text", ["445e8949", "9e999", "0x1e400", "1" * 400, 'quote \\" 1e400', "back\\\\slash 1e400"])
def test_numbers_inside_strings_are_text(tmp_path, text):
    """A hex digest ("445e8949" looks like 445 * 10^8949) or digits in a string are no numbers (issue 17)."""
    doc = {"meta": {"sha256": text}, "fps": 30, "frames": [[[1.5, 2, 1]] * 17]}
    p = _write(tmp_path, "seq.json", json.dumps(doc))
    assert len(read_sequence(p)) == 1
    assert parse_json(json.dumps(doc).encode(), p) == doc


@pytest.mark.parametrize("before", [r'"\""', r'"a\\"', r'"\\\""', '"445e8949"'])
def test_out_of_range_numbers_after_strings_are_still_refused(tmp_path, before):
    """Escaped quotes and backslashes in earlier strings do not hide a real number that is out of range."""
    raw = ('{"note": ' + before + ', "fps": 1e400}').encode()
    json.loads(raw.replace(b"1e400", b"1"))                   # (the text is valid JSON)
    with pytest.raises(FileFormatError, match="number 1e400 .* out of range"):
        parse_json(raw, tmp_path / "x.json")


@settings(max_examples=60, deadline=None)
@given(hst.text(alphabet=hst.sampled_from('0123456789eE+-."\\ a'), max_size=40))
def test_any_string_value_parses_back(text):
    doc = {"s": text, "n": [1e300, -2, 3.5]}
    assert parse_json(json.dumps(doc).encode(), "x.json") == doc


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


def test_a_count_that_fits_several_layouts_says_so(tmp_path, monkeypatch):
    from posesearch.poses import layouts

    alt = layouts.Layout("alt13", tuple(f"j{i}" for i in range(13)), "a second 13-keypoint layout")
    monkeypatch.setitem(layouts.LAYOUTS, "alt13", alt)
    assumed: dict = {}
    p = _write(tmp_path, "p.json", {"keypoints": [[1.0 + i, 2.0 * i, 1.0] for i in range(13)]})
    assert read_pose_file(p, assumed=assumed).layout.name == "penn13"
    assert assumed["layout"]["why"] == "no layout given; 13 keypoints fit penn13, alt13: assumed penn13"


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


# ------------------------------------------------------------------ dataset readers: tracebacks (7, 9)

def _coco(anns, **extra):
    return {"annotations": anns, **extra}


def _ann(**over):
    kps = []
    for i in range(17):
        kps += [10.0 + i, 20.0 + i, 2]
    return {"id": 5, "image_id": 7, "category_id": 1, "keypoints": kps, **over}


@pytest.mark.parametrize("doc, words", [
    (_coco([_ann()], categories={"id": 1}), "'categories': expected a list"),
    (_coco([_ann()], images=7), "'images': expected a list"),
    (_coco([_ann()], categories=[{"id": [1], "name": "person"}]), r"categories\[0\].id"),
    (_coco([_ann()], categories=[{"id": 1, "keypoints": 5}]), "expected the 17 COCO keypoints"),
    (_coco([_ann(keypoints=["10"] + _ann()["keypoints"][1:])]), "keypoints must be numbers"),
    (_coco([_ann(keypoints=_ann()["keypoints"][:50] + [True])]), "keypoints must be numbers"),
    (_coco([_ann(iscrowd="x")]), "iscrowd must be 0 or 1"),
])
def test_coco_fields_of_the_wrong_type(tmp_path, doc, words):
    from posesearch.corpus.readers import coco

    p = _write(tmp_path, "person_keypoints_x.json", doc)
    with pytest.raises(FileFormatError, match=words) as e:
        list(coco.read(p))
    _one_line(e.value, p)


def test_coco_unhashable_ids_do_not_crash(tmp_path):
    from posesearch.corpus.readers import coco

    p = _write(tmp_path, "person_keypoints_x.json",
               _coco([_ann(category_id=[1], image_id={"a": 1})], images=[{"id": 7, "file_name": "a.jpg"}],
                     categories=[{"id": 1, "name": "person"}]))
    (clip,) = list(coco.read(p))
    assert clip.labels["category"] == "[1]"


def _openpose_frame(tmp_path, text):
    d = tmp_path / "video"
    d.mkdir(exist_ok=True)
    (d / "video_000000000000_keypoints.json").write_text(text)
    return d


@pytest.mark.parametrize("pid, words", [("Infinity", "person_id: expected an integer"),
                                        ("[1.5]", "person_id: expected an integer"),
                                        ("1" + "0" * 400, "out of range")])
def test_openpose_person_ids(tmp_path, pid, words):
    from posesearch.corpus.readers import openpose

    kps = json.dumps([1.0, 2.0, 0.5] * 25)
    d = _openpose_frame(tmp_path, '{"people": [{"person_id": ' + pid + ', "pose_keypoints_2d": ' + kps + "}]}")
    with pytest.raises(FileFormatError, match=words):
        list(openpose.read(d))


def test_openpose_boolean_keypoints_refused(tmp_path):
    from posesearch.corpus.readers import openpose

    d = _openpose_frame(tmp_path, json.dumps({"people": [{"pose_keypoints_2d": [1.0, 2.0, True] * 25}]}))
    with pytest.raises(FileFormatError, match="expected numbers"):
        list(openpose.read(d))


def test_penn_nan_dimensions(tmp_path):
    import scipy.io

    from posesearch.corpus.readers import penn_action

    rng = np.random.default_rng(0)
    d = dict(x=rng.uniform(0, 400, (3, 13)), y=rng.uniform(0, 300, (3, 13)), visibility=np.ones((3, 13)),
             dimensions=np.array([[np.nan, 480, 3]]), action="jump", pose="front", train=np.array([[1]]))
    scipy.io.savemat(str(tmp_path / "0001.mat"), d)
    with pytest.raises(FileFormatError, match="'dimensions': expected three whole numbers"):
        list(penn_action.read(tmp_path / "0001.mat"))


def test_bvh_tiny_frame_time(tmp_path):
    from posesearch.corpus.readers.bvh_kinematics import parse_bvh

    text = ("HIERARCHY\nROOT hips\n{\n  OFFSET 0 0 0\n  CHANNELS 3 Xposition Yposition Zposition\n"
            "  End Site\n  {\n    OFFSET 0 5 0\n  }\n}\nMOTION\nFrames: 1\nFrame Time: 5e-324\n0 0 0\n")
    p = _write(tmp_path, "t.bvh", text)
    with pytest.raises(FileFormatError, match="frame time 5e-324 s is outside"):
        parse_bvh(p)
    parse_bvh(_write(tmp_path, "u.bvh", text.replace("5e-324", "0.0083333")))


@pytest.mark.parametrize("change, words", [
    (dict(vis=np.full((2, 17), True)), "vis: expected real numbers"),
    (dict(kpts_norm=np.full((2, 17, 2), 0.5, dtype=complex)), "kpts_norm: expected real numbers"),
    (dict(kpts_norm=np.full((2, 17, 2), "0.5")), "kpts_norm: expected real numbers"),
])
def test_yolo_npz_dtypes(tmp_path, change, words):
    from posesearch.corpus.readers import yolo_npz

    arrays = dict(kpts_norm=np.full((2, 17, 2), 0.5), vis=np.full((2, 17), 2), image_id=np.array([1, 2]))
    arrays.update(change)
    p = tmp_path / "x_yolo.npz"
    np.savez(p, **arrays)
    with pytest.raises(FileFormatError, match=words):
        list(yolo_npz.read(p))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_dataset_readers_refuse_a_fifo(tmp_path):
    from posesearch.corpus.readers import iter_source

    fifo = tmp_path / "x.json"
    os.mkfifo(fifo)
    for fmt in ("coco", "openpose", "sequence"):
        with pytest.raises(FileFormatError, match="FIFO"):
            list(iter_source(fmt, [fifo]))


@pytest.mark.parametrize("arr", [np.ones((2, 17, 3), dtype=complex), np.ones((2, 17, 3), dtype=bool),
                                 [[["1", 2, 1]] * 17] * 2])
def test_library_arrays_of_non_numbers_are_refused(arr):
    from posesearch.errors import InvalidPoseError
    from posesearch.poses.pose import validate_batch, validate_pose
    from posesearch.sequence import Sequence

    with pytest.raises(InvalidPoseError, match="expected numeric keypoints"):
        Sequence.from_arrays(arr, fps=30)
    with pytest.raises(InvalidPoseError, match="expected numeric keypoints"):
        validate_batch(arr)
    with pytest.raises(InvalidPoseError, match="expected numeric keypoints"):
        validate_pose(np.asarray(arr)[0] if not isinstance(arr, list) else arr[0])


def test_library_arrays_with_none_for_missing_still_work():
    from posesearch.poses.pose import validate_pose

    kp, cf = validate_pose([[1.0, 2.0, 1.0], [None, None, 0.0], [3, 4, 0.5]])
    assert cf.tolist() == [1.0, 0.0, 0.5]


@pytest.mark.parametrize("seed", range(8))
def test_sequence_json_fast_path_equals_the_checked_loop(tmp_path, seed, monkeypatch):
    """The numpy path for plain [x, y, c] frames reads exactly what the per-keypoint loop reads."""
    import posesearch.sequence.io as sio

    rng = np.random.default_rng(seed)
    fr = rng.uniform(-50, 500, (6, 13, 3)).round(3)
    fr[..., 2] = rng.uniform(0, 1, (6, 13)).round(2)
    fr[rng.random((6, 13)) < 0.2, 2] = 0.0
    frames = fr.tolist()
    frames[1][2][0] = float("nan")         # NaN coordinate = missing
    frames[2][3] = [int(v) for v in fr[2, 3, :2]] + [1]   # integers are numbers too
    p = _write(tmp_path, "s.json", json.dumps({"fps": 25, "frames": frames}))
    fast = read_sequence(p).as_array()
    monkeypatch.setattr(sio, "_parse_frames_fast", lambda frames, expected: None)
    slow = read_sequence(p).as_array()
    np.testing.assert_array_equal(fast, slow)
    assert fast[1, 2, 2] == 0 and np.isnan(fast[1, 2, 0])


def test_score_report_carries_what_was_assumed(tmp_path):
    """The library says it too: score_sequence on files without a layout reports the layout it assumed."""
    from posesearch.sequence.score import score_sequence

    rng = np.random.default_rng(3)
    base = np.array([[0, -60], [-20, -40], [20, -40], [-30, -15], [30, -15], [-35, 10], [35, 10], [-12, 10],
                     [12, 10], [-14, 50], [14, 50], [-15, 90], [15, 90]], dtype=float) + 200
    frames = [[[float(x), float(y), 1.0] for x, y in base + rng.normal(0, 3, base.shape)] for _ in range(20)]
    ref = _write(tmp_path, "ref.json", {"fps": 30, "frames": frames})
    usr = _write(tmp_path, "usr.json", {"fps": 30, "layout": "penn13", "frames": frames})
    report = score_sequence(ref, usr)
    assert report.assumed == {"reference layout": {"value": "penn13",
                                                   "why": "no layout given; 13 keypoints fit only penn13"}}
    assert report.to_dict(path=False)["assumed"] == report.assumed
    assert report.score > 95


def test_coco_duplicate_annotation_ids_are_refused(tmp_path):
    from posesearch.corpus.readers import coco

    p = _write(tmp_path, "person_keypoints_x.json", _coco([_ann(), _ann()]))
    with pytest.raises(FileFormatError, match="annotation id 5 appears more than once"):
        list(coco.read(p))


def test_openpose_repeated_person_id_in_one_frame_is_refused(tmp_path):
    from posesearch.corpus.readers import openpose

    kps = [1.0, 2.0, 0.5] * 25
    d = _openpose_frame(tmp_path, json.dumps({"people": [{"person_id": [3], "pose_keypoints_2d": kps},
                                                         {"person_id": [3], "pose_keypoints_2d": kps}]}))
    with pytest.raises(FileFormatError, match=r"people\[1\]: person 3 appears twice"):
        list(openpose.read(d))


def test_npy_that_is_a_zip_archive(tmp_path):
    p = tmp_path / "pose.npy"
    np.savez(p.with_suffix(""), keypoints=np.ones((17, 3)))
    (tmp_path / "pose.npz").rename(p)
    with pytest.raises(FileFormatError, match="is an .npz archive, expected a .npy array"):
        read_pose_file(p)
    with pytest.raises(FileFormatError, match="is an .npz archive"):
        read_sequence(p, fps=30)


@pytest.mark.parametrize("field", ["images", "categories"])
def test_coco_entries_that_are_not_objects(tmp_path, field):
    from posesearch.corpus.readers import coco

    p = _write(tmp_path, "person_keypoints_x.json", _coco([_ann()], **{field: [7]}))
    with pytest.raises(FileFormatError, match=rf"{field}\[0\]: expected an object, got int"):
        list(coco.read(p))


def test_pose_similarity_matches_parts_by_name():
    """The library's posenet-similarity port: shuffled parts compare by name; unknown/repeated names refused."""
    from posesearch.errors import InvalidPoseError
    from posesearch.poses.similarity import pose_similarity

    a = _posenet(POSENET)
    b = {"keypoints": list(reversed(_posenet(POSENET)["keypoints"]))}
    assert pose_similarity(a, b) == pytest.approx(0.0, abs=1e-12)
    bad = _posenet(POSENET[:16] + ["leftHand"])
    with pytest.raises(InvalidPoseError, match="'leftHand' is not a joint of any layout"):
        pose_similarity(a, bad)
    with pytest.raises(InvalidPoseError, match="repeats"):
        pose_similarity(_posenet(POSENET[:16] + ["nose"]), a)


def test_score_and_compare_refuse_empty_option_values(tmp_path):
    from typer.testing import CliRunner

    from posesearch.cli.app import app

    p = _write(tmp_path, "p.json", {"layout": "coco17", "keypoints": [[1.0 + i, 2.0 * i, 1.0] for i in range(17)]})
    r = CliRunner().invoke(app, ["compare", str(p), str(p), "--strategy", ""])
    assert r.exit_code == 2 and "unknown strategy ''" in r.stderr
    s = _write(tmp_path, "s.json", {"fps": 30, "layout": "coco17", "frames": [[[10.0 + i + t, 2.0 * i, 1.0]
                                                                             for i in range(17)] for t in range(8)]})
    for opt in ("--mirror", "--distance"):
        r = CliRunner().invoke(app, ["score", str(s), str(s), opt, ""])
        assert r.exit_code == 2, (opt, r.output)


def test_sequence_fps_argument_must_be_a_number(tmp_path):
    from posesearch.errors import InvalidArgumentError

    s = _write(tmp_path, "s.json", {"frames": [[[1.0 + i, 2.0 * i, 1.0] for i in range(17)]] * 2})
    for bad in ("30", True):
        with pytest.raises(InvalidArgumentError, match="fps: expected a positive number"):
            read_sequence(s, fps=bad)


@pytest.mark.parametrize("bad", ["complex", "bool", "str"])
def test_index_search_refuses_non_real_queries(bad):
    """Index.search's compiled path took complex/boolean/string arrays as numbers (imaginary parts dropped)."""
    from posesearch.errors import InvalidPoseError
    from posesearch.index.query import prepare_raw

    rng = np.random.default_rng(0)
    pose = np.c_[rng.uniform(0, 300, (17, 2)), np.ones(17)]
    q = {"complex": pose + 1j, "bool": pose > 100, "str": pose.astype(str)}[bad]
    with pytest.raises(InvalidPoseError, match="expected numeric keypoints"):
        prepare_raw(q)
    prepare_raw(pose)
