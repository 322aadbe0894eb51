"""Fuzz suite, Python API: Index.search, score_sequence, ScoreSession.push, pose_similarity, Corpus.open /
Index.load on damaged files.

Rule (tests/fuzz_support.py): a one-line PoseSearchError naming the argument or file, or, for valid
input, a correct answer (checked against brute force / the undamaged file); no other exception, no hang,
no crash, no nonsense accepted. hypothesis runs derandomized (fixed examples)."""
from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_support import refused, refused_or_correct
from index_testdata import check_answers, coco_clips, make_corpus, random_poses
from posesearch.corpus.clip import Clip
from posesearch.errors import PoseSearchError

FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=True,
                suppress_health_check=list(HealthCheck))


def fuzz(n: int):
    return settings(FUZZ, max_examples=n)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from posesearch.corpus.store import Corpus
    from posesearch.index import Index

    d = tmp_path_factory.mktemp("fuzz_api")
    rng = np.random.default_rng(21)
    kp, cf = random_poses(rng, 260)
    clips = coco_clips(kp[:200], cf[:200])
    walk = kp[200:260].copy()
    walk[:, :, 0] += 4 * np.arange(60)[:, None]
    clips.append(Clip("walk", walk.astype(np.float32), cf[200:260].astype(np.float32), "coco17", fps=30.0))
    path = make_corpus(d / "c.h5", clips)
    corpus = Corpus.open(path)
    index = Index.build(corpus, metric="weighted", backend="vptree", leaf_size=8)
    ipath = index.save(d / "i.h5")
    seq = np.concatenate([walk, cf[200:260, :, None]], axis=2)
    exact = Index.build(corpus, metric="weighted", backend="exact")
    yield {"dir": d, "corpus_path": path, "corpus": corpus, "index": index, "exact": exact, "index_path": ipath, "kp": kp, "cf": cf,
           "seq": seq, "vectors": corpus.vectors(), "rows": np.flatnonzero(corpus.valid)}
    corpus.close()


# ------------------------------------------------------------------------------------------ Index.search

VALUES = st.sampled_from([np.nan, np.inf, -np.inf, 1e300, -1e300, 1e-300, 0.0, -1.0, 2.0, 0.5])
DTYPES = st.sampled_from(["float64", "float32", "int64", "complex", "bool", "object", "str"])


@st.composite
def search_call(draw, what):
    """(poses, kwargs, must_refuse, names) for Index.search: a valid query with one thing changed."""
    kp, cf = draw(st.sampled_from([0, 1, 2])), None
    rng = np.random.default_rng(draw(st.integers(0, 5)))
    base_kp, base_cf = random_poses(rng, 3)
    poses = np.concatenate([base_kp, base_cf[..., None]], axis=2)[kp]
    kwargs = {"k": 5}
    if what == "value":
        j, c = draw(st.integers(0, 16)), draw(st.integers(0, 2))
        v = draw(VALUES)
        poses = poses.copy()
        poses[j, c] = v
        if c < 2 and np.isfinite(v) and abs(v) < 1e100:
            return poses, kwargs, False, ("query",)                 # a moved keypoint: a valid pose
        if c == 2 and 0 <= v <= 1:
            return poses, kwargs, False, ("query",)                 # a valid confidence
        if c < 2 and (np.isfinite(v) or np.isnan(v)):              # 1e300 / 1e-300: valid or refused; NaN:
            return poses, kwargs, False, ("query",)                 # a missing keypoint, or refused
        return poses, kwargs, True, ("query", "confidence", "keypoint", "coordinate")
    if what == "dtype":
        dt = draw(DTYPES)
        if dt in ("float64", "float32", "int64", "object"):      # (an object array of floats is numbers)
            return poses.astype(dt), kwargs, False, ("query",)
        if dt == "complex":
            return poses.astype(complex) + 1j, kwargs, True, ("query", "complex", "real")
        if dt == "bool":
            return poses > 100, kwargs, True, ("query", "bool", "numeric")
        return poses.astype(dt), kwargs, True, ("query", "numeric", "real", dt)
    if what == "shape":
        shp = draw(st.sampled_from([(17,), (17, 4), (16, 3), (2, 2, 17, 3), (0, 17, 3), (17, 0), ()]))
        return np.ones(shp), kwargs, True, ("query", "shape", "keypoints")
    if what == "k":
        kwargs["k"] = draw(st.sampled_from([0, -1, 261, 10 ** 400, 1.5, True, "5", None, np.float64(5), [5]]))
        return poses, kwargs, True, ("k",)
    if what == "layout":
        kwargs["layout"] = draw(st.sampled_from(["", "nope", "penn13", [], False, 17]))
        return poses, kwargs, True, ("layout",)
    if what == "confidences":
        kwargs["confidences"] = draw(st.sampled_from([np.ones(16), "x", np.full(17, np.nan), np.full(17, 2.0),
                                                      np.ones(17, complex), np.ones(17, bool)]))
        return poses[:, :2], kwargs, True, ("confidences", "query")
    return draw(st.sampled_from([None, "pose", 5, [[1, 2, "3"]] * 17, {"keypoints": []}])), kwargs, True, ("query",)


SEARCH_KINDS = ["value", "dtype", "shape", "k", "layout", "confidences", "list"]


@pytest.mark.parametrize("what", SEARCH_KINDS)
def test_index_search(world, what):
    """One kind of change per test (so one bug cannot hide the others), 30 generated cases each."""
    @fuzz(30)
    @given(call=search_call(what))
    def run(call):
        _search_case(world, call)
    run()


def _search_case(world, call):
    poses, kwargs, must_refuse, names = call
    idx = world["index"]
    if must_refuse:
        refused("api", lambda: idx.search(poses, **kwargs), *names)
        return

    def check(m):
        from posesearch.index.query import prepare_raw

        prep, _ = prepare_raw(poses, kwargs.get("layout", "coco17"), kwargs.get("confidences"))
        check_answers(m.ids, m.distances, world["vectors"], prep.vectors, prep.weights, "weighted", world["rows"])
        np.testing.assert_array_equal(m.distances, world["exact"].search(poses, **kwargs).distances)

    refused_or_correct("api", lambda: idx.search(poses, **kwargs), check, *names)


# ------------------------------------------------------------------------------------ score_sequence

@st.composite
def score_call(draw, seq, what):
    ref = seq.copy()
    user = seq[::2].copy()
    kw = {"ref_fps": 30.0, "user_fps": 15.0}
    if what == "value":
        t, j, c = draw(st.integers(0, len(user) - 1)), draw(st.integers(0, 16)), draw(st.integers(0, 2))
        v = draw(st.sampled_from([np.inf, -np.inf] + ([2.0, -0.5, np.nan] if c == 2 else [])))
        user[t, j, c] = v
        return ref, user, kw, {}, True, ("user", "confidence", "frames")
    if what == "fps":
        name = draw(st.sampled_from(["ref_fps", "user_fps"]))
        kw[name] = draw(st.sampled_from([0, -30, np.nan, np.inf, 1e9, 1e-3, 5e-324, "30", True, 10 ** 400]))
        return ref, user, kw, {}, True, (name, "fps", "frame rate", "reference", "user")
    if what == "shape":
        user = draw(st.sampled_from([user[0], user[:, :16], user[:1], user[:0], user[None]]))   # ((T, K, 2): valid)
        return ref, user, kw, {}, True, ("user",)
    if what == "dtype":
        dt = draw(st.sampled_from(["complex", "bool", "str"]))
        user = (user > 0) if dt == "bool" else user.astype(dt)
        return ref, user, kw, {}, True, ("user",)
    if what == "settings":
        field, value = draw(st.sampled_from([
            ("smooth", ""), ("smooth", "nope"), ("interp", ""), ("align", "x"), ("mirror", ""), ("distance", ""),
            ("band", -1.0), ("band", np.nan), ("max_rotation", np.inf), ("max_rotation", -5), ("max_gap", 0),
            ("missing_penalty", np.nan), ("min_overlap", 2.0), ("gap_open", -1.0), ("max_frames", 0),
            ("band_seconds", np.nan), ("moments_from", ""), ("layout", ""), ("band", "0.2")]))   # (smooth=None is "none")
        return ref, user, kw, {field: value}, True, (field,)
    if what == "scale":
        f = draw(st.sampled_from([1e-300, 1e-150, 1e150, 1e200, 1e300]))
        u = user.copy()
        u[..., :2] *= f
        r = ref.copy()
        r[..., :2] *= f
        return r, u, kw, {}, False, ("user", "reference")
    bad = draw(st.sampled_from([None, "x", 5, [], {"frames": []}]))
    return ref, bad, kw, {}, True, ("user",) + ((bad,) if isinstance(bad, str) else ())   # "x": no such file


@pytest.fixture(scope="module")
def plain_score(world):
    from posesearch.sequence import score_sequence

    return score_sequence(world["seq"], world["seq"][::2], 30.0, 15.0, layout="coco17").score


@pytest.mark.parametrize("what", ["value", "fps", "shape", "dtype", "settings", "scale", "input"])
def test_score_sequence(world, plain_score, what):
    from posesearch.sequence import ScoreSettings, score_sequence

    @fuzz(22)
    @given(call=score_call(world["seq"], what))
    def run(call):
        ref, user, kw, st_kw, must_refuse, names = call

        def go():
            return score_sequence(ref, user, settings=ScoreSettings(**st_kw), layout="coco17", **kw)
        if must_refuse:
            refused("api", go, *names, seconds=30)
        else:      # same motion in other units: the same score, or a one-line refusal
            refused_or_correct("api", go, lambda r: np.testing.assert_allclose(r.score, plain_score, atol=1e-6),
                               *names, seconds=30)
    run()


# -------------------------------------------------------------------------------------- ScoreSession

@st.composite
def push_call(draw, what):
    if what == "t":
        return what, draw(st.sampled_from([np.nan, np.inf, -np.inf, "0.1", None, 1e18, 10 ** 400, True, [0.1]]))
    if what == "value":
        c = draw(st.integers(0, 2))
        values = [np.nan, np.inf, -np.inf, 2.0, -1.0] if c == 2 else [np.nan, np.inf, -np.inf]
        return what, (draw(st.integers(0, 16)), c, draw(st.sampled_from(values)))
    if what == "shape":
        return what, draw(st.sampled_from([(17,), (16, 3), (17, 4), (2, 17, 3), (0, 3), ()]))
    if what == "dtype":
        return what, draw(st.sampled_from(["complex", "bool", "object", "str"]))
    return what, draw(st.sampled_from([0.0, 0.05, -1.0]))


@pytest.mark.parametrize("kind", ["t", "value", "shape", "dtype", "order"])
def test_score_session_push(world, kind):
    from posesearch.sequence import ScoreSession

    seq = world["seq"]

    @fuzz(24)
    @given(call=push_call(kind))
    def run(call):
        what, arg = call
        s = ScoreSession(seq, ref_fps=30.0, layout="coco17")
        s.push(seq[0], 0.0)
        s.push(seq[1], 0.1)
        frame, t, names = seq[2].copy(), 0.2, ("t", "time", "frame", "keypoints", "confidence")
        if what == "t":
            t = arg
        elif what == "value":
            j, c, v = arg
            if c == 2 and np.isnan(v):
                names = names + ("NaN",)
            frame[j, c] = v
            if c < 2 and np.isnan(v):    # a NaN coordinate is a missing keypoint (as in files): accepted
                refused_or_correct("api", lambda: s.push(frame, t), lambda u: None, *names)
                return
        elif what == "shape":
            frame = np.ones(arg)
        elif what == "dtype":
            frame = (frame > 0) if arg == "bool" else frame.astype(arg)
        else:
            t = arg                       # not after the previous frame (0.1 s)
        refused("api", lambda: s.push(frame, t), *names, seconds=20)
        s.push(seq[3], 0.3)               # the session still takes frames after a refused one
    run()


# ------------------------------------------------------------------------------------- pose_similarity

@st.composite
def similarity_call(draw, what):
    from posesearch.poses.layouts import COCO17

    rng = np.random.default_rng(draw(st.integers(0, 3)))
    kp, cf = random_poses(rng, 2)
    parts = list(COCO17.source_names)

    def posenet(i):
        return {"keypoints": [{"part": n, "position": {"x": float(x), "y": float(y)}, "score": float(c)}
                              for n, (x, y), c in zip(parts, kp[i], cf[i])]}
    a, b = posenet(0), posenet(1)
    kw = {}
    target = draw(st.sampled_from([a, b]))
    name = "pose1" if target is a else "pose2"
    j = draw(st.integers(0, 16))
    if what == "x":
        target["keypoints"][j]["position"]["x"] = draw(st.sampled_from(["1.5", True, None, [1], np.inf, "1e400"]))
        return a, b, kw, (name, "position", "keypoints")
    if what == "score":
        target["keypoints"][j]["score"] = draw(st.sampled_from(["0.5", True, False, None, -0.1, 1.5, np.nan, np.inf]))
        return a, b, kw, (name, "score", "confidence", "keypoints")
    if what == "part":
        target["keypoints"][j]["part"] = draw(st.sampled_from(["leftHand", "", 5, parts[(j + 1) % 17]]))
        return a, b, kw, (name, "part", "keypoints")
    if what == "entry":
        target["keypoints"][j] = draw(st.sampled_from([None, 5, "nose", []]))
        return a, b, kw, (name, "keypoints")
    if what == "pose":
        bad = draw(st.sampled_from([None, 5, "pose", [], {}, {"keypoints": "x"}, {"keypoints": []}]))
        return (bad, b, kw, ("pose1",)) if target is a else (a, bad, kw, ("pose2",))
    if what == "strategy":
        kw["strategy"] = draw(st.sampled_from(["", "nope", 5, None, True, ["weighted_distance"]]))
        return a, b, kw, ("strategy",)
    if what == "custom_weight":
        kw["custom_weight"] = draw(st.sampled_from([{"mode": "multiply", "scores": {"nose": "2"}},
                                                     {"mode": "multiply", "scores": {"nose": True}},
                                                     {"mode": "add", "scores": {"nose": np.nan}},
                                                     {"mode": "replace", "scores": [1] * 18},
                                                     {"mode": "", "scores": {}}, "multiply", 5]))
        return a, b, kw, ("custom_weight",)
    arr = np.concatenate([kp[0], cf[0][:, None]], 1)
    bad = draw(st.sampled_from([arr.astype(complex), arr.astype(str), arr > 0,
                                np.where(np.arange(17)[:, None] == 3, np.inf, arr)]))
    return bad, b, kw, ("pose1",)


@pytest.mark.parametrize("what", ["x", "score", "part", "entry", "pose", "strategy", "custom_weight", "array"])
def test_pose_similarity(what):
    from posesearch.poses.similarity import pose_similarity

    @fuzz(20)
    @given(call=similarity_call(what))
    def run(call):
        a, b, kw, names = call
        refused("api", lambda: pose_similarity(a, b, **kw), *names)
    run()


# ---------------------------------------------------------------------------- damaged corpus / index

def _original_answers(world):
    q = np.concatenate([world["kp"][:4], world["cf"][:4, :, None]], axis=2)
    return q, world["index"].search(q, 5)


@pytest.fixture(scope="module")
def originals(world):
    q, m = _original_answers(world)
    fb = world["corpus"].frames(np.arange(len(world["corpus"])))
    return {"q": q, "m": m, "keypoints": fb.keypoints, "ids": world["corpus"].clip_ids()}


def _open_and_use(path, kind, world, originals):
    """Open a (possibly damaged) corpus or index, verify it, and return what it answers."""
    from posesearch.corpus.store import Corpus
    from posesearch.index import Index

    if kind == "corpus":
        with Corpus.open(path) as c:
            c.verify()
            return ("corpus", c.frames(np.arange(len(c))).keypoints, c.clip_ids())
    idx = Index.load(path, corpus=world["corpus_path"])
    return ("index", idx.search(originals["q"], 5))


def _same_answer(originals):
    def check(out):
        if out[0] == "corpus":
            np.testing.assert_array_equal(out[1], originals["keypoints"])
            assert list(out[2]) == list(originals["ids"])
        else:
            np.testing.assert_array_equal(out[1].ids, originals["m"].ids)
            np.testing.assert_array_equal(out[1].distances, originals["m"].distances)
    return check


@fuzz(90)
@given(kind=st.sampled_from(["corpus", "index"]), cut=st.floats(0.0, 0.999))
def test_truncated_files(world, originals, kind, cut):
    src = world["corpus_path"] if kind == "corpus" else world["index_path"]
    raw = src.read_bytes()
    p = world["dir"] / f"trunc_{kind}.h5"
    p.write_bytes(raw[:int(cut * len(raw))])
    refused("files", lambda: _open_and_use(p, kind, world, originals), p.name)


@fuzz(120)
@given(kind=st.sampled_from(["corpus", "index"]), at=st.floats(0.0, 0.999), mask=st.integers(1, 255))
def test_flipped_bytes(world, originals, kind, at, mask):
    """One byte changed anywhere: refused with a one-line error, or (padding, unused space) the same answers."""
    src = world["corpus_path"] if kind == "corpus" else world["index_path"]
    raw = bytearray(src.read_bytes())
    pos = int(at * len(raw))
    raw[pos] ^= mask
    p = world["dir"] / f"flip_{kind}.h5"
    p.write_bytes(bytes(raw))
    refused_or_correct("files", lambda: _open_and_use(p, kind, world, originals), _same_answer(originals), p.name,
                       seconds=30)


ATTR_EDITS = [("format_version", 1.5), ("format_version", "1"), ("format_version", True), ("format_version", -1),
              ("format_version", 99), ("format", "nope"), ("format", b"\xff\xfe"), ("format", 5),
              ("checksum", "0" * 64), ("checksum", 5), ("normalization", "{not json"), ("layout", "penn13"),
              ("layout", 5), ("joints", "x")]
INDEX_ATTR_EDITS = [("backend_params", "{not json"), ("backend_params", "[1, 2]"), ("backend_params", '"x"'),
                    ("backend_params", '{"leaf_size": "x"}'), ("backend", "nope"), ("backend", 5),
                    ("metric", "nope"), ("format_version", 1.5), ("format_version", 99),
                    ("corpus_checksum", "0" * 64), ("checksum", "0" * 64)]


@pytest.mark.parametrize("kind, attr, value", [("corpus", a, v) for a, v in ATTR_EDITS]
                         + [("index", a, v) for a, v in INDEX_ATTR_EDITS])
def test_damaged_attributes(world, originals, kind, attr, value):
    src = world["corpus_path"] if kind == "corpus" else world["index_path"]
    p = world["dir"] / f"attr_{kind}.h5"
    shutil.copyfile(src, p)
    with h5py.File(p, "r+") as f:
        f.attrs[attr] = value
    refused("files", lambda: _open_and_use(p, kind, world, originals), p.name)


@pytest.mark.parametrize("kind", ["corpus", "index"])
def test_missing_datasets(world, originals, kind):
    src = world["corpus_path"] if kind == "corpus" else world["index_path"]
    with h5py.File(src, "r") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    for name in names:
        p = world["dir"] / f"nods_{kind}.h5"
        shutil.copyfile(src, p)
        with h5py.File(p, "r+") as f:
            del f[name]
        refused("files", lambda: _open_and_use(p, kind, world, originals), p.name)


def test_index_of_another_corpus_is_refused(world, originals, tmp_path):
    from posesearch.index import Index

    rng = np.random.default_rng(99)
    kp, cf = random_poses(rng, 50)
    other = make_corpus(tmp_path / "other.h5", coco_clips(kp, cf))
    refused("files", lambda: Index.load(world["index_path"], corpus=other), "other.h5", "i.h5")
    with pytest.raises(PoseSearchError):
        Index.load(world["index_path"], corpus=other)
    json.dumps(originals["m"].to_records())
