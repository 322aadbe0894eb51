"""Fuzz suite, file readers: every reader of user files against generated and hand-written bad input.

Readers: pose JSON / .npy (posesearch.poses.io), sequence JSON / .npy / .npz (posesearch.sequence.io), and
the dataset readers of ``ingest`` (COCO JSON, YOLO npz, Penn Action .mat, OpenPose JSON, BVH). Each case
must give a one-line PoseSearchError naming the file (and, where one is known, the field), or, for input
that is odd but meaningful (coordinates x1e-300 / x1e200), the same answer as the plain input. Rule and
counter: tests/fuzz_support.py. Generated cases use hypothesis with ``derandomize=True`` (fixed)."""
from __future__ import annotations

import io
import json
import math
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_support import refused, refused_or_correct
from posesearch.corpus.readers import iter_source
from posesearch.poses.io import read_pose_file
from posesearch.poses.normalize import normalize_pose
from posesearch.sequence.io import read_sequence

FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=True,
                suppress_health_check=list(HealthCheck))


def fuzz(n: int):
    """hypothesis settings of the suite: fixed (derandomized) examples, ``n`` of them."""
    return settings(FUZZ, max_examples=n)

# Values that are never a number (refused wherever a number is expected), and JSON literals that are
# numbers no float holds (or not finite).
NOT_NUMBERS = ["1.5", "nan", "", "0x10", " 3", True, False, [], {}, [1.0], {"x": 1.0}, "__RAW__[[[1]]]"]
RAW_NUMBERS = ["1e400", "-1e400", "1" + "0" * 400, "Infinity", "-Infinity"]
not_a_number = st.one_of(st.sampled_from(NOT_NUMBERS), st.sampled_from(RAW_NUMBERS).map(lambda s: "__RAW__" + s))
LAYOUT_NONSENSE = ["", [], False, True, 0, 17, 1.5, {}, "nolayout", "coco18", "__RAW__null1"]   # ("coco 17": an alias)


def dumps(obj) -> str:
    """JSON text where a string "__RAW__x" becomes the literal x (numbers a float cannot hold, bad JSON)."""
    text = json.dumps(obj)
    while '"__RAW__' in text:
        i = text.index('"__RAW__')
        j = text.index('"', i + 1)
        text = text[:i] + text[i + 8:j] + text[j + 1:]
    return text


def refused_json(path: Path, doc, read, field: str | None = None) -> str:
    """Write ``doc`` (see :func:`dumps`) to ``path`` and read it with ``read(path)``: refused with one readers
    error naming the file and, where the JSON itself is well formed, the ``field`` at fault."""
    path.write_text(dumps(doc))
    msg = refused("readers", lambda: read(path), str(path))
    if field and "__RAW__" not in json.dumps(doc):    # (a bad literal is refused by the JSON parser)
        assert field in msg or field.rstrip("s") in msg, msg
    return msg


def read_coco(path: Path) -> list:
    return list(iter_source("coco", [path]))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz_readers")


def base_pose(scale: float = 1.0):
    rng = np.random.default_rng(3)
    kp = (np.array([[0, -60], [-5, -65], [5, -65], [-10, -62], [10, -62], [-20, -40], [20, -40], [-30, -15],
                    [30, -15], [-35, 10], [35, 10], [-12, 10], [12, 10], [-14, 50], [14, 50], [-15, 90],
                    [15, 90]], float) + 200) * scale
    cf = np.round(rng.uniform(0.3, 1.0, 17), 3)
    return kp, cf


def pose_doc(kp=None, cf=None):
    if kp is None:
        kp, cf = base_pose()
    return {"layout": "coco17", "keypoints": [[float(x), float(y), float(c)] for (x, y), c in zip(kp, cf)]}


# ------------------------------------------------------------------------------------------ pose JSON

@st.composite
def broken_pose_doc(draw):
    """(document, field named in the error) of a pose JSON with one field replaced by nonsense."""
    doc = pose_doc()
    where = draw(st.sampled_from(["coord", "conf", "keypoint", "keypoints", "layout", "doc", "conf_range"]))
    i = draw(st.integers(0, 16))
    if where == "coord":
        doc["keypoints"][i][draw(st.integers(0, 1))] = draw(not_a_number)
        return doc, "keypoints"
    if where == "conf":
        doc["keypoints"][i][2] = draw(st.one_of(not_a_number, st.just("__RAW__NaN")))
        return doc, "keypoints"
    if where == "conf_range":
        doc["keypoints"][i][2] = draw(st.sampled_from([-0.1, 1.5, 2, -1e300, 1e300]))
        return doc, "confidence"
    if where == "keypoint":
        doc["keypoints"][i] = draw(st.sampled_from([[], [1.0], [1.0, 2.0, 0.5, 0.5], "x", 5, True, {"x": 1}]))
        return doc, "keypoints"
    if where == "keypoints":
        doc["keypoints"] = draw(st.sampled_from(["", {}, [], True, 5, "[[1, 2, 3]]", None,
                                                 doc["keypoints"][:5], doc["keypoints"] * 2]))
        return doc, "keypoints"
    if where == "layout":
        doc["layout"] = draw(st.sampled_from(LAYOUT_NONSENSE + ["penn13", "body25"]))
        return doc, "layout"
    return draw(st.sampled_from([[], "pose", 5, None, True, [doc]])), None


@fuzz(260)
@given(case=broken_pose_doc())
def test_pose_json(folder, case):
    doc, field = case
    refused_json(folder / "pose.json", doc, read_pose_file, field)


@st.composite
def broken_posenet(draw):
    kp, cf = base_pose()
    from posesearch.poses.layouts import COCO17

    parts = list(COCO17.source_names)
    kps = [{"part": n, "position": {"x": float(x), "y": float(y)}, "score": float(c)}
           for n, (x, y), c in zip(parts, kp, cf)]
    i = draw(st.integers(0, 16))
    what = draw(st.sampled_from(["x", "y", "score", "part", "position", "entry", "dup"]))
    if what in ("x", "y"):
        kps[i]["position"][what] = draw(not_a_number)
    elif what == "score":
        kps[i]["score"] = draw(st.one_of(not_a_number, st.sampled_from([-0.5, 1.5])))
    elif what == "part":
        kps[i]["part"] = draw(st.sampled_from(["leftHand", "", 5, True, ["nose"], "NOSE "]))
    elif what == "position":
        kps[i]["position"] = draw(st.sampled_from([None, [1, 2], "1,2", 5, {"x": 1.0}]))
    elif what == "entry":
        kps[i] = draw(st.sampled_from([None, 5, "nose", [1, 2, 0.5]]))
    else:
        kps[i]["part"] = parts[(i + draw(st.integers(1, 16))) % 17]
    return {"keypoints": kps}


@fuzz(120)
@given(doc=broken_posenet())
def test_posenet_json(folder, doc):
    refused_json(folder / "posenet.json", doc, read_pose_file)


NPY_POSES = {
    "complex": lambda kp, cf: np.concatenate([kp, cf[:, None]], 1).astype(complex) + 1j,
    "bool": lambda kp, cf: np.ones((17, 3), bool),
    "object": lambda kp, cf: np.array([[1.0, "2", 0.5]] * 17, dtype=object),
    "string": lambda kp, cf: np.full((17, 3), "1.0"),
    "2 columns": lambda kp, cf: kp,
    "4 columns": lambda kp, cf: np.concatenate([kp, cf[:, None], cf[:, None]], 1),
    "3-d": lambda kp, cf: np.concatenate([kp, cf[:, None]], 1)[None],
    "1-d": lambda kp, cf: cf,
    "empty": lambda kp, cf: np.zeros((0, 3)),
    "inf": lambda kp, cf: np.concatenate([np.where(np.arange(17)[:, None] == 3, np.inf, kp), cf[:, None]], 1),
    "conf 2": lambda kp, cf: np.concatenate([kp, np.full((17, 1), 2.0)], 1),
    "conf NaN": lambda kp, cf: np.concatenate([kp, np.full((17, 1), np.nan)], 1),
    "11 keypoints": lambda kp, cf: np.concatenate([kp, cf[:, None]], 1)[:11],
    "structured": lambda kp, cf: np.zeros(17, dtype=[("x", "f8"), ("y", "f8"), ("c", "f8")]),
}


@pytest.mark.parametrize("name", list(NPY_POSES))
def test_pose_npy(folder, name):
    kp, cf = base_pose()
    p = folder / f"pose_{name.replace(' ', '_')}.npy"
    np.save(p, NPY_POSES[name](kp, cf), allow_pickle=True)
    refused("readers", lambda: read_pose_file(p), str(p))


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e150, 1e200, 1e300])
@pytest.mark.parametrize("suffix", [".json", ".npy"])
def test_pose_extreme_scales_read_as_the_same_pose(folder, scale, suffix):
    """Coordinates x1e-300 ... x1e300 are the same pose: read and normalized to the same vector, or refused
    with a one-line error (today normalization refuses below ~1e-150 and above ~1e150: squares underflow
    or overflow)."""
    kp, cf = base_pose()
    want = normalize_pose(kp, cf)
    p = folder / f"scaled{suffix}"
    if suffix == ".json":
        p.write_text(json.dumps(pose_doc(kp * scale, cf)))
    else:
        np.save(p, np.concatenate([kp * scale, cf[:, None]], 1))

    def read_and_normalize():
        poses = read_pose_file(p)
        return normalize_pose(poses.keypoints[0], poses.confidences[0], name=str(p))

    def check(vec):
        np.testing.assert_allclose(vec, want, atol=1e-9)

    refused_or_correct("readers", read_and_normalize, check, str(p))


# ------------------------------------------------------------------------------------- sequence JSON

def seq_doc(frames: int = 6):
    kp, cf = base_pose()
    rows = [[[float(x) + t, float(y), float(c)] for (x, y), c in zip(kp, cf)] for t in range(frames)]
    return {"fps": 30, "layout": "coco17", "frames": rows}


@st.composite
def broken_seq_doc(draw):
    doc = seq_doc()
    where = draw(st.sampled_from(["fps", "layout", "frames", "frame", "point", "coord", "conf", "times",
                                  "time", "doc"]))
    t, j = draw(st.integers(0, 5)), draw(st.integers(0, 16))
    if where == "fps":
        doc["fps"] = draw(st.one_of(not_a_number, st.sampled_from([0, -30, 1e9, 1e-3, 5e-324, "__RAW__NaN"])))
        return doc, "fps"
    if where == "layout":
        lay = draw(st.sampled_from(LAYOUT_NONSENSE + ["penn13"]))
        doc["layout"] = lay
        return doc, ("frames" if lay == "penn13" else "layout")   # penn13: "frames[0]: expected 13 keypoints"
    if where == "frames":
        doc["frames"] = draw(st.sampled_from(["", {}, [], True, 5, None, [[]], [5], [[5]]]))
        return doc, "frames"
    if where == "frame":
        doc["frames"][t] = draw(st.sampled_from([None, [], "x", 5, doc["frames"][t][:13], [doc["frames"][t]]]))
        return doc, "frames"
    if where == "point":
        doc["frames"][t][j] = draw(st.sampled_from([[], [1.0], [1.0, 2.0, 0.5, 0.1], "x", 5, True, {"x": 1}]))
        return doc, "frames"
    if where == "coord":
        doc["frames"][t][j][draw(st.integers(0, 1))] = draw(not_a_number)
        return doc, "frames"
    if where == "conf":
        doc["frames"][t][j][2] = draw(st.one_of(not_a_number, st.sampled_from([-0.1, 1.5, "__RAW__NaN"])))
        return doc, "frames"
    if where == "times":
        doc.pop("fps")
        doc["times"] = draw(st.sampled_from([5, "0,1", {}, [0.0] * 6, [0, 1, 2], [5, 4, 3, 2, 1, 0],
                                             [0, 1e6, 2e6, 3e6, 4e6, 5e6], [0, 1e-9, 2e-9, 3e-9, 4e-9, 5e-9]]))
        return doc, "times"
    if where == "time":
        doc.pop("fps")
        doc["times"] = [i / 30 for i in range(6)]
        doc["times"][t] = draw(not_a_number)
        return doc, "times"
    return draw(st.sampled_from([[], "seq", 5, None, pose_doc(), {"frames": "x", "keypoints": []}])), None


@fuzz(260)
@given(case=broken_seq_doc())
def test_sequence_json(folder, case):
    doc, field = case
    refused_json(folder / "seq.json", doc, read_sequence, field)


SEQ_ARRAYS = {
    "complex": lambda a: a.astype(complex),
    "bool": lambda a: a > 0,
    "object": lambda a: a.astype(object),
    "string": lambda a: a.astype(str),
    "2-d": lambda a: a[0],
    "4-d": lambda a: a[None],
    "2 columns": lambda a: a[..., :2],
    "no frames": lambda a: a[:0],
    "inf": lambda a: np.where(a == a[2, 3, 0], np.inf, a),
    "conf NaN": lambda a: np.concatenate([a[..., :2], np.full(a.shape[:2] + (1,), np.nan)], -1),
    "conf 7": lambda a: np.concatenate([a[..., :2], np.full(a.shape[:2] + (1,), 7.0)], -1),
}


def seq_array():
    return np.asarray(seq_doc()["frames"], float)


@pytest.mark.parametrize("name", list(SEQ_ARRAYS))
@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_sequence_arrays(folder, name, suffix):
    arr = SEQ_ARRAYS[name](seq_array())
    p = folder / f"seq_{name.replace(' ', '_')}{suffix}"
    if suffix == ".npy":
        np.save(p, arr, allow_pickle=True)
    else:
        np.savez(p, keypoints=arr, fps=np.array(30.0), layout=np.array("coco17"))
    refused("readers", lambda: read_sequence(p, fps=30), str(p))


NPZ_FIELDS = {
    "fps string": dict(fps=np.array("30")), "fps 2": dict(fps=np.array([30.0, 30.0])),
    "fps complex": dict(fps=np.array(30 + 1j)), "fps 1e9": dict(fps=np.array(1e9)), "fps 0": dict(fps=np.array(0.0)),
    "fps nan": dict(fps=np.array(np.nan)), "layout number": dict(layout=np.array(5)),
    "layout empty": dict(layout=np.array("")), "layout 2": dict(layout=np.array(["coco17", "coco17"])),
    "layout unknown": dict(layout=np.array("nolayout")), "times string": dict(times=np.array(["0"] * 6)),
    "times short": dict(times=np.arange(3.0)), "times decreasing": dict(times=np.arange(6.0)[::-1]),
    "times huge": dict(times=np.arange(6.0) * 1e6), "conf complex": dict(confidences=np.ones((6, 17), complex)),
    "conf bool": dict(confidences=np.ones((6, 17), bool)), "conf shape": dict(confidences=np.ones((6, 16))),
    "no keypoints": dict(keypoints=None),
}


@pytest.mark.parametrize("name", list(NPZ_FIELDS))
def test_sequence_npz_fields(folder, name):
    a = seq_array()
    arrays = dict(keypoints=a, fps=np.array(30.0), layout=np.array("coco17"))
    change = NPZ_FIELDS[name]
    if "confidences" in change:
        arrays["keypoints"] = a[..., :2]
    arrays.update(change)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    p = folder / f"fields_{name.replace(' ', '_')}.npz"
    np.savez(p, **arrays)
    refused("readers", lambda: read_sequence(p), str(p))


@fuzz(60)
@given(cut=st.floats(0.0, 0.999), flip=st.booleans())
def test_sequence_npz_truncated_or_flipped(folder, cut, flip):
    """A truncated archive, or one with a byte flipped (zip CRCs), is refused; never read wrong."""
    buf = io.BytesIO()
    np.savez(buf, keypoints=seq_array(), fps=np.array(30.0), layout=np.array("coco17"))
    raw = bytearray(buf.getvalue())
    p = folder / "damaged.npz"
    pos = int(cut * len(raw))
    if flip:
        raw[pos] ^= 0xFF
        p.write_bytes(bytes(raw))
        want = seq_array()

        def check(seq):
            np.testing.assert_array_equal(seq.keypoints, want[..., :2])
        refused_or_correct("readers", lambda: read_sequence(p), check, str(p))
    else:
        p.write_bytes(bytes(raw[:pos]))
        refused("readers", lambda: read_sequence(p), str(p))


@pytest.mark.parametrize("scale", [1e-300, 1e200, 1e150])
def test_sequence_extreme_scales_are_read_exactly(folder, scale):
    doc = seq_doc()
    for fr in doc["frames"]:
        for pt in fr:
            pt[0] *= scale
            pt[1] *= scale
    p = folder / "scaled_seq.json"
    p.write_text(json.dumps(doc))

    def check(seq):
        np.testing.assert_allclose(seq.keypoints, seq_array()[..., :2] * scale, rtol=1e-12)
    refused_or_correct("readers", lambda: read_sequence(p), check, str(p))


# ----------------------------------------------------------------------------- special files, all readers

def _coco_doc():
    kp, cf = base_pose()
    kps = []
    for (x, y), c in zip(kp, cf):
        kps += [float(x), float(y), 2]
    return {"images": [{"id": 7, "file_name": "a.jpg", "width": 640, "height": 480}],
            "annotations": [{"id": 5, "image_id": 7, "category_id": 1, "keypoints": kps, "num_keypoints": 17,
                             "iscrowd": 0, "bbox": [100.0, 100.0, 80.0, 200.0], "area": 16000.0}],
            "categories": [{"id": 1, "name": "person"}]}


READERS = {   # name -> (file name, function reading a path)
    "pose json": ("pose.json", lambda p: read_pose_file(p)),
    "pose npy": ("pose.npy", lambda p: read_pose_file(p)),
    "sequence json": ("seq.json", lambda p: read_sequence(p)),
    "sequence npy": ("seq.npy", lambda p: read_sequence(p, fps=30)),
    "sequence npz": ("seq.npz", lambda p: read_sequence(p)),
    "coco": ("person_keypoints_x.json", lambda p: list(iter_source("coco", [p]))),
    "openpose": ("v_000000000001_keypoints.json", lambda p: list(iter_source("openpose", [p]))),
    "yolo npz": ("x_yolo.npz", lambda p: list(iter_source("yolo-npz", [p]))),
    "penn mat": ("0001.mat", lambda p: list(iter_source("penn-action", [p]))),
    "bvh": ("01_01.bvh", lambda p: list(iter_source("bvh", [p]))),
    "sequence (ingest)": ("seq_ingest.json", lambda p: list(iter_source("sequence", [p], fps=30))),
    "corpus": ("corpus.h5", lambda p: _open_corpus(p)),
    "index": ("index.h5", lambda p: _load_index(p)),
}


def _open_corpus(p):
    from posesearch.corpus.store import Corpus

    with Corpus.open(p) as c:
        return c.verify()


def _load_index(p):
    from posesearch.index import Index

    return Index.load(p)

SPECIAL = {
    "empty": b"",
    "zero bytes": b"\0" * 4096,
    "random bytes": bytes(np.random.default_rng(5).integers(0, 256, 3000, dtype=np.uint8)),
    "deeply nested json": b"[" * 200_000 + b"]" * 200_000,
    "deeply nested object": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "json null": b"null",
    "json string": b'"keypoints"',
    "json huge int": b"1" + b"0" * 5000,
    "utf-16 text": '{"keypoints": []}'.encode("utf-16"),
    "zip of nothing": b"PK\x05\x06" + b"\0" * 18,
    "hdf5 signature": b"\x89HDF\r\n\x1a\n" + b"\0" * 600,
}


@pytest.mark.parametrize("content", list(SPECIAL))
@pytest.mark.parametrize("reader", list(READERS))
def test_garbage_files(tmp_path, reader, content):
    name, read = READERS[reader]
    p = tmp_path / name
    p.write_bytes(SPECIAL[content])
    refused("readers", lambda: read(p), p.name, seconds=20)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("reader", list(READERS))
def test_fifo_is_refused_without_blocking(tmp_path, reader):
    name, read = READERS[reader]
    p = tmp_path / name
    os.mkfifo(p)
    refused("readers", lambda: read(p), p.name, seconds=10)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
@pytest.mark.parametrize("reader", list(READERS))
def test_dev_zero_is_refused_not_read(tmp_path, reader):
    name, read = READERS[reader]
    p = tmp_path / name
    os.symlink("/dev/zero", p)      # under the reader's file name, so the suffix picks the reader
    refused("readers", lambda: read(p), p.name, "/dev/zero", seconds=10)


@pytest.mark.parametrize("reader", list(READERS))
def test_missing_file_and_directory(tmp_path, reader):
    name, read = READERS[reader]
    refused("readers", lambda: read(tmp_path / "missing" / name), name)
    if reader not in ("openpose", "bvh", "penn mat", "coco", "yolo npz", "sequence (ingest)"):
        d = tmp_path / name
        d.mkdir()
        refused("readers", lambda: read(d), name)


# ------------------------------------------------------------------------------------------------ COCO

@st.composite
def broken_coco(draw):
    doc = _coco_doc()
    ann = doc["annotations"][0]
    what = draw(st.sampled_from(["kp", "kps", "image_id", "category_id", "id", "iscrowd", "num_keypoints",
                                 "visibility", "doc"]))
    if what == "kp":
        ann["keypoints"][draw(st.integers(0, 50))] = draw(not_a_number)
    elif what == "visibility":
        ann["keypoints"][3 * draw(st.integers(0, 16)) + 2] = draw(st.sampled_from([3, -1, 0.5, 7, "2", True]))
    elif what == "kps":
        ann["keypoints"] = draw(st.sampled_from([None, "x", 5, {}, ann["keypoints"][:50], ann["keypoints"] + [1]]))
    elif what in ("image_id", "category_id", "id"):    # ids are kept as labels: only a bad literal is refused
        ann[what] = draw(st.sampled_from(["__RAW__1e400", "__RAW__-1e400", "__RAW__" + "9" * 5000]))
    elif what == "iscrowd":
        ann["iscrowd"] = draw(st.sampled_from(["x", 2, -1, 0.5, [0], "__RAW__1e400"]))
    elif what == "num_keypoints":
        # (the reader ignores num_keypoints, it counts the visible keypoints itself)
        ann["num_keypoints"] = draw(st.sampled_from(["__RAW__1e400", "__RAW__-1e999", "__RAW__[1,]"]))
    else:
        doc = draw(st.sampled_from([[], 5, "x", None, {}, {"annotations": {}}]))
    return doc


@pytest.mark.parametrize("value", ["Infinity", "NaN", "1.5", "true", '"x"', "[1]", '{"a": 1}', "-1"])
@pytest.mark.parametrize("field", ["image_id", "category_id", "id"])
def test_coco_odd_ids_are_labels_not_crashes(folder, field, value):
    """COCO ids of any JSON type are kept as labels (the reader's documented choice): read or refused, no crash."""
    doc = _coco_doc()
    doc["annotations"][0][field] = "__RAW__" + value
    p = folder / "person_keypoints_ids.json"
    p.write_text(dumps(doc))

    def check(out):
        assert sum(len(getattr(b, "clip_ids", [b])) for b in out) == 1

    refused_or_correct("readers", lambda: list(iter_source("coco", [p])), check, str(p))


@pytest.mark.parametrize("value", [5, "x", {}, [5], [None], ["x"], True])   # (null = absent: allowed)
@pytest.mark.parametrize("field", ["annotations", "images", "categories"])
def test_coco_lists(folder, field, value):
    doc = _coco_doc()
    doc[field] = value
    refused_json(folder / "person_keypoints_lists.json", doc, read_coco)


@fuzz(120)
@given(doc=broken_coco())
def test_coco(folder, doc):
    refused_json(folder / "person_keypoints_fuzz.json", doc, read_coco)


# -------------------------------------------------------------------------------------------- OpenPose

@st.composite
def broken_openpose(draw):
    kp, cf = base_pose()
    flat = []
    for k in range(25):
        x, y = kp[k % 17]
        flat += [float(x), float(y), float(cf[k % 17])]
    person = {"person_id": [-1], "pose_keypoints_2d": flat}
    doc = {"version": 1.3, "people": [person]}
    what = draw(st.sampled_from(["value", "list", "person_id", "people", "person", "doc"]))
    if what == "value":
        flat[draw(st.integers(0, 74))] = draw(not_a_number)
    elif what == "list":
        person["pose_keypoints_2d"] = draw(st.sampled_from([None, "x", 5, {}, flat[:74], flat[:51], flat + [1.0]]))
    elif what == "person_id":
        person["person_id"] = draw(st.sampled_from(["__RAW__Infinity", "__RAW__[Infinity]", "__RAW__1e400",
                                                    [1.5], "3", True, [True], {}, "__RAW__[NaN]"]))
    elif what == "people":
        doc["people"] = draw(st.sampled_from([None, 5, "x", {}, [5], ["x"], [[]]]))
    elif what == "person":
        doc["people"] = [draw(st.sampled_from([None, 5, "x", [], {"pose_keypoints_2d": None}]))]
    else:
        doc = draw(st.sampled_from([[], 5, "x", None, {"data": 5}, {"info": {}, "data": [{"x": "1"}]}]))
    return doc


@fuzz(120)
@given(doc=broken_openpose())
def test_openpose(folder, doc):
    d = folder / "openpose_video"
    d.mkdir(exist_ok=True)
    p = d / "video_000000000000_keypoints.json"
    p.write_text(dumps(doc))
    refused("readers", lambda: list(iter_source("openpose", [d])), str(p), str(d))


# ------------------------------------------------------------------------------------------------ YOLO

YOLO = {
    "kpts complex": dict(kpts_norm=np.full((2, 17, 2), 0.5, complex)),
    "kpts string": dict(kpts_norm=np.full((2, 17, 2), "0.5")),
    "kpts object": dict(kpts_norm=np.full((2, 17, 2), 0.5, object)),
    "kpts inf": dict(kpts_norm=np.full((2, 17, 2), np.inf)),
    "kpts shape": dict(kpts_norm=np.full((2, 13, 2), 0.5)),
    "kpts 1-d": dict(kpts_norm=np.full(68, 0.5)),
    "vis bool": dict(vis=np.full((2, 17), True)),
    "vis complex": dict(vis=np.full((2, 17), 2 + 0j)),
    "vis shape": dict(vis=np.full((3, 17), 2)),
    "vis nan": dict(vis=np.full((2, 17), np.nan)),
    "vis 9": dict(vis=np.full((2, 17), 9)),
    "image_id short": dict(image_id=np.array([1])),
    "no kpts": dict(kpts_norm=None),
}


@pytest.mark.parametrize("name", list(YOLO))
def test_yolo_npz(folder, name):
    arrays = dict(kpts_norm=np.full((2, 17, 2), 0.5), vis=np.full((2, 17), 2), image_id=np.array([1, 2]))
    arrays.update(YOLO[name])
    arrays = {k: v for k, v in arrays.items() if v is not None}
    p = folder / f"{name.replace(' ', '_')}_yolo.npz"
    np.savez(p, **arrays)
    refused("readers", lambda: list(iter_source("yolo-npz", [p])), str(p))


# ---------------------------------------------------------------------------------------- Penn Action

def _penn(**change):
    rng = np.random.default_rng(0)
    d = dict(x=rng.uniform(0, 400, (3, 13)), y=rng.uniform(0, 300, (3, 13)), visibility=np.ones((3, 13)),
             dimensions=np.array([[480, 640, 3]]), nframes=np.array([[3]]), action="jump", pose="front",
             train=np.array([[1]]), bbox=rng.uniform(0, 300, (3, 4)))
    d.update(change)
    return {k: v for k, v in d.items() if v is not None}


PENN = {
    "dimensions nan": dict(dimensions=np.array([[np.nan, 480, 3]])),
    "dimensions inf": dict(dimensions=np.array([[np.inf, 480, 3]])),
    "dimensions 1.5": dict(dimensions=np.array([[480.5, 640, 3]])),
    "dimensions 2": dict(dimensions=np.array([[480, 640]])),
    "dimensions string": dict(dimensions="480x640"),
    "dimensions frames": dict(dimensions=np.array([[480, 640, 9]])),
    "nframes wrong": dict(nframes=np.array([[7]])),
    "nframes nan": dict(nframes=np.array([[np.nan]])),
    "x string": dict(x="abc"),
    "x complex": dict(x=np.ones((3, 13), complex)),
    "x inf": dict(x=np.full((3, 13), np.inf)),
    "x shape": dict(x=np.ones((3, 12))),
    "x no frames": dict(x=np.ones((0, 13)), y=np.ones((0, 13)), visibility=np.ones((0, 13))),
    "y frames": dict(y=np.ones((2, 13))),
    "visibility 2": dict(visibility=np.full((3, 13), 2.0)),
    "visibility nan": dict(visibility=np.full((3, 13), np.nan)),
    "action number": dict(action=np.array([[5]])),
    "action empty": dict(action=""),
    "train 0": dict(train=np.array([[0]])),
    "train string": dict(train="yes"),
    "missing x": dict(x=None),
    "missing visibility": dict(visibility=None),
}


@pytest.mark.parametrize("name", list(PENN))
def test_penn_mat(folder, name):
    import scipy.io

    p = folder / f"{abs(hash(name)) % 10_000:04d}.mat"
    scipy.io.savemat(str(p), _penn(**PENN[name]))
    refused("readers", lambda: list(iter_source("penn-action", [p])), str(p))


@fuzz(40)
@given(cut=st.floats(0.0, 0.98))
def test_penn_mat_truncated(folder, cut):
    import scipy.io

    buf = io.BytesIO()
    scipy.io.savemat(buf, _penn())
    raw = buf.getvalue()
    p = folder / "9999.mat"
    p.write_bytes(raw[:int(cut * len(raw))])
    refused("readers", lambda: list(iter_source("penn-action", [p])), str(p))


# ------------------------------------------------------------------------------------------------ BVH

BVH = ("HIERARCHY\nROOT hips\n{\n  OFFSET 0 0 0\n  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation "
       "Yrotation\n  JOINT chest\n  {\n    OFFSET 0 10 0\n    CHANNELS 3 Zrotation Xrotation Yrotation\n"
       "    End Site\n    {\n      OFFSET 0 5 0\n    }\n  }\n}\nMOTION\nFrames: 3\nFrame Time: 0.0083333\n"
       "0 90 0 0 0 0 0 0 0\n1 90 0 0 0 5 0 0 0\n2 90 0 0 0 10 0 0 0\n")


def _edits(label: str, line: str, value: str, news: dict) -> dict:
    """Edits of ``BVH`` named "<label> <name>" that put each new value where ``value`` stands in ``line``."""
    return {f"{label} {name}": (line, line.replace(value, new)) for name, new in news.items()}


BVH_EDITS = {
    **_edits("frame time", "Frame Time: 0.0083333", "0.0083333",
             {"5e-324": "5e-324", "0": "0", "-1": "-1", "nan": "nan", "inf": "inf", "1e308": "1e308", "text": "fast"}),
    **_edits("frames", "Frames: 3", "3", {"10^400": "1" + "0" * 400, "-1": "-1", "2.5": "2.5", "more": "4",
                                          "fewer": "2", "10^9": "1000000000"}),
    **_edits("channels", "CHANNELS 3 Zrotation", "3", {"7": "7", "10^400": "1" + "0" * 400}),
    "channel name": ("CHANNELS 3 Zrotation", "CHANNELS 3 Wrotation"),
    **_edits("offset", "OFFSET 0 10 0", "10", {"text": "ten", "nan": "nan", "1e400": "1e400"}),
    **_edits("value", "1 90 0 0 0 5 0 0 0", "5", {"text": "x", "nan": "nan", "1e400": "1e400"}),
    "value inf": ("1 90 0 0 0 5 0 0 0", "1 90 0 inf 0 5 0 0 0"),
    **_edits("row", "1 90 0 0 0 5 0 0 0", "5 0 0 0", {"short": "5 0 0", "long": "5 0 0 0 0"}),
    "no MOTION": ("MOTION\n", ""),
    "no HIERARCHY": ("HIERARCHY\n", ""),
    "unclosed brace": ("    }\n  }\n}\n", "    }\n  }\n"),
    "extra brace": ("}\nMOTION", "}\n}\nMOTION"),
    "deep nesting": ("    End Site", "    " + "JOINT j\n{\nOFFSET 0 1 0\nCHANNELS 0\n" * 3000 + "End Site"),
}


@pytest.mark.parametrize("name", list(BVH_EDITS))
def test_bvh_parse(folder, name):
    from posesearch.corpus.readers.bvh_kinematics import parse_bvh

    old, new = BVH_EDITS[name]
    assert old in BVH
    p = folder / f"e{abs(hash(name)) % 10_000}.bvh"
    p.write_text(BVH.replace(old, new, 1))
    refused("readers", lambda: parse_bvh(p), str(p))


@fuzz(60)
@given(cut=st.integers(0, len(BVH) - 2))
def test_bvh_truncated(folder, cut):
    """A BVH file cut anywhere before its last frame is refused (its header says 3 frames)."""
    from posesearch.corpus.readers.bvh_kinematics import parse_bvh

    p = folder / "cut.bvh"
    text = BVH[:cut]
    if text.endswith("0 0 0\n") and text.count("\n0 90") + text.count("\n1 90") + text.count("\n2 90") == 3:
        return   # only the final newline was cut
    p.write_text(text)
    refused("readers", lambda: parse_bvh(p), str(p))


def test_bvh_base_file_is_valid(folder):
    from posesearch.corpus.readers.bvh_kinematics import parse_bvh

    p = folder / "ok.bvh"
    p.write_text(BVH)
    mocap = parse_bvh(p)
    assert math.isclose(mocap.frame_time, 0.0083333) if hasattr(mocap, "frame_time") else True
