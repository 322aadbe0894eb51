"""Videos and images to poses (issue 17), on the shared media: needs the 'video' extra and ../shared/data.

Without the extra these tests skip (install it in its own environment: mediapipe 0.10.21 pins numpy < 2;
``.ci/steps/video.sh`` does). Extractions are cached in a folder of this module, so each video runs the
model once here.
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

_WHY = ("needs the 'video' extra (pip install -e \".[video,test]\" in its own environment: mediapipe 0.10.21 "
        "pins numpy < 2)")
cv2 = pytest.importorskip("cv2", reason=_WHY)
pytest.importorskip("mediapipe", reason=_WHY)

from posesearch.cli.app import app  # noqa: E402
from posesearch.errors import FileFormatError, InvalidArgumentError  # noqa: E402
from posesearch.video import extract  # noqa: E402
from tests.conftest import shared_path  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def video_cache(tmp_path_factory):
    """A cache folder for this module's extractions (numba's kernels stay where they are)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POSESEARCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def image():
    return shared_path("media", "pose.jpg")


@pytest.fixture(scope="module")
def clip():
    return shared_path("media", "pose_1.mp4")


def write_video(path, frames, fps=30.0):
    """Frames (BGR uint8) as an mp4 at ``path``."""
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert out.isOpened()
    for f in frames:
        out.write(f)
    out.release()
    return path


def video_frames(path, limit=None):
    cap = cv2.VideoCapture(str(path))
    out = []
    while limit is None or len(out) < limit:
        ok, f = cap.read()
        if not ok:
            break
        out.append(f)
    cap.release()
    return out


@pytest.fixture(scope="module")
def mirrored(clip, tmp_path_factory):
    """pose_1.mp4 with every frame flipped left to right."""
    frames = [cv2.flip(f, 1) for f in video_frames(clip)]
    return write_video(tmp_path_factory.mktemp("mirror") / "mirrored.mp4", frames)


def _cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def _ok(*args):
    r = _cli(*args)
    assert r.exit_code == 0, r.output
    return r


def _refused(*args, match):
    r = _cli(*args)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    assert match in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------------------------------ accuracy

def test_image_person_found_with_keypoints_inside_the_image(image):
    ex = extract(image)
    assert (ex.kind, ex.width, ex.height, ex.frames, ex.frames_with_person) == ("image", 1000, 667, 1, 1)
    seq = ex.sequence
    assert seq.layout.name == "coco17" and "layout" in ex.assumed
    kp, cf = seq.keypoints[0], seq.confidences[0]
    seen = cf > 0.5
    assert seen.sum() >= 15
    assert ((kp[seen, 0] >= 0) & (kp[seen, 0] < 1000) & (kp[seen, 1] >= 0) & (kp[seen, 1] < 667)).all()
    names = seq.layout.joints
    y = dict(zip(names, kp[:, 1]))
    assert y["nose"] < y["left_shoulder"] < y["left_hip"] < y["left_knee"] < y["left_ankle"]   # upright
    full = extract(image, layout="blazepose33")
    assert full.sequence.layout.name == "blazepose33" and full.sequence.keypoints.shape == (1, 33, 2)
    assert full.cached and not full.assumed                  # the same landmarks, from the cache
    lay = full.sequence.layout
    assert np.allclose(full.sequence.keypoints[0][lay.index("left_wrist")], kp[names.index("left_wrist")])


def test_clip_has_120_frames_with_container_times(clip):
    ex = extract(clip)
    seq = ex.sequence
    assert len(seq) == ex.frames == 120 and ex.timing == "container" and seq.fps == 30.0
    assert seq.times[0] == 0.0 and np.allclose(np.diff(seq.times), 1 / 30, atol=1e-6)
    assert ex.frames_with_person >= 110 and ex.frames_per_second > 0
    inside = (seq.confidences > 0.5)
    assert (seq.keypoints[inside] >= -1).all() and (seq.keypoints[inside] <= 577).all()


def test_extraction_is_cached_by_file_content(image, tmp_path):
    first = extract(image)
    copy = tmp_path / "renamed.jpg"
    shutil.copy(image, copy)
    again = extract(copy)
    assert again.cached and np.array_equal(again.sequence.keypoints, first.sequence.keypoints)
    fresh = extract(copy, refresh=True)
    assert not fresh.cached and np.allclose(fresh.sequence.keypoints, first.sequence.keypoints, atol=1e-3)
    off = extract(copy, cache=False)
    assert not off.cached


def test_clip_scored_against_itself_after_extraction(clip, tmp_path):
    out = tmp_path / "clip.json"
    r = _ok("extract", clip, "--out", out, "--json")
    summary = json.loads(r.stdout)
    assert summary["frames"] == 120 and summary["layout"] == "coco17" and summary["coordinates"] == "pixels"
    doc = json.loads(out.read_text())
    assert doc["coordinates"] == "pixels" and doc["source"]["width"] == 576 and len(doc["frames"]) == 120
    assert doc["extractor"]["model"].startswith("mediapipe BlazePose full")
    import hashlib                                           # the file's SHA-256, read back by every reader

    assert doc["source"]["sha256"] == summary["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    for user in (clip, out):                                 # the video itself, or its extracted file
        rep = json.loads(_ok("score", clip, user, "--json").stdout)
        assert rep["score"] >= 99, rep["score"]


def test_clip_scored_against_its_mirrored_copy(clip, mirrored):
    rep = json.loads(_ok("score", clip, mirrored, "--json").stdout)
    assert rep["score"] >= 95 and rep["mirrored"] is True, (rep["score"], rep["mirrored"])
    # the flipped video's poses are the original's, flipped: x -> W - x with left and right swapped
    from posesearch.poses.layouts import COCO17

    a, b = extract(clip).sequence, extract(mirrored).sequence
    both = (a.confidences > 0.8) & (b.confidences[:, list(COCO17.flip)] > 0.8)
    flipped = b.keypoints[:, list(COCO17.flip)]
    err = np.hypot(576 - flipped[..., 0] - a.keypoints[..., 0], flipped[..., 1] - a.keypoints[..., 1])[both]
    assert np.median(err) < 6, np.median(err)               # pixels, on a 576 x 576 clip


def test_score_writes_the_overlay_video(clip, mirrored, tmp_path):
    out = tmp_path / "overlay.mp4"
    rep = json.loads(_ok("score", clip, mirrored, "--video", out, "--json").stdout)
    assert rep["video"]["frames"] == 120 and out.is_file()
    frames = video_frames(out)
    assert len(frames) == 120 and frames[0].shape == (576, 576, 3)
    src = video_frames(mirrored, 1)[0]
    f = frames[60].astype(int)
    # the user's skeleton (green) and the reference's (orange) are drawn on the body (below the score panel),
    # and the panel darkens the top-left corner
    body = f[130:]
    green = (np.abs(body - (80, 200, 60)).max(axis=2) < 40).sum()
    orange = (np.abs(body - (0, 140, 255)).max(axis=2) < 40).sum()
    assert green > 300 and orange > 300, (green, orange)
    assert f[5:20, 5:60].mean() < src[5:20, 5:60].mean()
    _refused("score", clip, mirrored, "--video", out, match="already exists")


# ---------------------------------------------------------------------------------- every command

def test_ingest_query_and_sequence_search_take_videos(clip, image, tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    shutil.copy(clip, media / "dance.mp4")
    shutil.copy(image, media / "still.jpg")
    corpus, index = tmp_path / "c.h5", tmp_path / "i.h5"
    _ok("ingest", media, "--format", "video", "--out", corpus)
    listing = json.loads(_ok("clips", corpus, "--json").stdout)
    rows = {r["clip_id"]: r for r in listing["clips"]}
    assert rows["video:dance"]["frames"] == 120 and rows["video:still"]["frames"] == 1
    assert rows["video:dance"]["labels"]["kind"] == "video"
    _ok("build", corpus, "--backend", "exact", "--out", index)
    q = json.loads(_ok("query", index, image, "-k", "1", "--json").stdout)
    top = q["results"][0]["matches"][0]
    assert q["format"] == "image" and top["clip"] == "video:still" and top["distance"] < 1e-6
    q = json.loads(_ok("query", index, clip, "-k", "1", "--json").stdout)
    assert q["format"] == "video" and len(q["results"]) == 120
    hits = [(r["matches"][0]["clip"], r["matches"][0]["frame"]) for r in q["results"]]
    assert sum(c == "video:dance" and f == i for i, (c, f) in enumerate(hits)) >= 110
    q = json.loads(_ok("query", index, clip, "-k", "1", "--max-frames", 10, "--json").stdout)
    assert len(q["results"]) == 10 and q["assumed"]["max_frames"]["value"] == 10
    s = json.loads(_ok("query", index, clip, "--sequence", "--json").stdout)
    assert s["clips"][0]["clip"] == "video:dance" and s["clips"][0]["score"] >= 95
    # query --plot draws each match over its source frame: the corpus keeps the video's absolute path
    from posesearch import Corpus
    from posesearch.video import decode

    assert Corpus.open(corpus).clip("video:dance").source == str((media / "dance.mp4").resolve())

    seen = []

    def spy(path, frame):
        seen.append((path, frame, real(path, frame)))
        return seen[-1][2]

    real = decode.read_frame_rgb
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(decode, "read_frame_rgb", spy)
        mp.chdir(tmp_path)            # the source path does not depend on the working folder
        out = json.loads(_ok("query", index, clip, "-k", "2", "--plot", tmp_path / "m.png", "--json").stdout)
    top = [(m["clip"], m["frame"]) for m in out["results"][0]["matches"] if m["clip"] == "video:dance"]
    assert top and {(str((media / "dance.mp4").resolve()), f) for _, f in top} <= {(p, f) for p, f, _ in seen}
    for path, frame, img in seen:   # the very frame, in RGB
        assert img.shape == (*video_frames(clip, 1)[0].shape[:2], 3)
        assert np.abs(img.astype(int) - cv2.cvtColor(video_frames(clip, frame + 1)[frame], cv2.COLOR_BGR2RGB)).mean() < 2


def test_one_video_frame_is_read_for_pictures(tmp_path):
    from posesearch.video.decode import read_frame_rgb

    levels = [(20 * i, 10, 200 - 20 * i) for i in range(8)]          # frame i: a flat BGR colour
    path = write_video(tmp_path / "levels.mp4", [np.full((48, 64, 3), c, np.uint8) for c in levels])
    for i in (0, 3, 7, 5):
        img = read_frame_rgb(path, i)
        assert img.shape == (48, 64, 3) and img.dtype == np.uint8
        assert np.abs(img.reshape(-1, 3).mean(axis=0) - levels[i][::-1]).max() < 4, (i, img[0, 0])
    assert read_frame_rgb(path, 8) is None and read_frame_rgb(path, -1) is None
    assert read_frame_rgb(tmp_path / "missing.mp4", 0) is None


# ------------------------------------------------------------------------------------------ bad input

def test_corrupt_and_non_video_files_are_refused(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(FileFormatError, match="cannot decode this file as a video"):
        extract(bad)
    text = tmp_path / "notes.jpg"
    text.write_text("these are notes, not a picture")
    _refused("extract", text, "--out", tmp_path / "o.json", match="cannot decode this file as an image")
    good = tmp_path / "good.mp4"
    write_video(good, [np.full((64, 64, 3), 90, np.uint8)] * 30)
    cut = tmp_path / "truncated.mp4"
    cut.write_bytes(good.read_bytes()[:200])
    _refused("extract", cut, "--out", tmp_path / "o.json", match="truncated.mp4: ")


def test_unreadable_paths_are_refused(tmp_path):
    _refused("extract", tmp_path / "missing.mp4", "--out", tmp_path / "o.json", match="missing.mp4: no such file")
    folder = tmp_path / "clip.mp4"
    folder.mkdir()
    _refused("extract", folder, "--out", tmp_path / "o.json", match="is a folder")
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    _refused("extract", fifo, "--out", tmp_path / "o.json", match="FIFO")
    _refused("score", tmp_path / "missing.mp4", tmp_path / "missing.mp4", match="no such file")


def test_video_or_image_without_a_person(tmp_path):
    blank = write_video(tmp_path / "empty_room.mp4", [np.full((96, 96, 3), 200, np.uint8)] * 12)
    _refused("extract", blank, "--out", tmp_path / "o.json", match="no person found in any of the 12 frames")
    still = tmp_path / "wall.png"
    cv2.imwrite(str(still), np.full((80, 80, 3), 30, np.uint8))
    with pytest.raises(FileFormatError, match="no person found in this image"):
        extract(still)


def test_long_videos_need_max_frames(clip, tmp_path):
    short = write_video(tmp_path / "short.mp4", video_frames(clip, 40))
    with pytest.raises(FileFormatError, match=r"40 frames .* longer than the 30-frame limit.*--max-frames"):
        extract(short, frame_limit=30)
    ex = extract(short, frame_limit=30, max_frames=25)
    assert ex.frames == 25 and ex.truncated and len(ex.sequence) == 25
    # the CLI's limit (MAX_VIDEO_FRAMES, 18,000) is checked from the container before any frame is decoded
    from posesearch.video import MAX_VIDEO_FRAMES

    long = write_video(tmp_path / "long.mp4", [np.zeros((16, 16, 3), np.uint8)] * (MAX_VIDEO_FRAMES + 1))
    _refused("extract", long, "--out", tmp_path / "o.json", match=f"{MAX_VIDEO_FRAMES + 1:,} frames")
    _refused("extract", long, "--out", tmp_path / "o.json", "--max-frames", 5,
             match="no person found in any of the 5 frames")
    _refused("extract", short, "--out", tmp_path / "o.json", "--max-frames", 0, match="--max-frames")
    # score and query take --max-frames too (a video over the limit is no dead end there)
    _refused("score", long, short, match=f"{MAX_VIDEO_FRAMES + 1:,} frames")
    _refused("score", long, short, "--max-frames", 5, match="no person found in any of the 5 frames")
    r = json.loads(_ok("score", short, short, "--max-frames", 12, "--json").stdout)
    assert r["assumed"]["user max_frames"]["value"] == 12 and r["score"] >= 99, r["assumed"]


def test_layouts_a_video_cannot_give_are_refused(image, tmp_path):
    with pytest.raises(InvalidArgumentError, match="coco17 or blazepose33"):
        extract(image, layout="body25")
    _refused("extract", image, "--out", tmp_path / "o.txt", match="expected a .json, .npy, .npz file name")


# ----------------------------------------------------------------------------------------- the model

def test_only_the_bundled_model_is_used_and_nothing_is_downloaded(tmp_path, monkeypatch):
    import mediapipe as mp

    from posesearch.video import model

    with pytest.raises(model.ModelUnavailableError, match="never downloads"):
        model.check_offline_model(tmp_path)                 # a mediapipe without the bundled model files
    model.check_offline_model()                              # this one has them
    from mediapipe.python.solutions import download_utils

    with model._no_downloads():
        with pytest.raises(model.ModelUnavailableError, match="never downloads"):
            download_utils.download_oss_model("mediapipe/modules/pose_landmark/pose_landmark_heavy.tflite")
    seen = {}

    class FakePose:
        def __init__(self, **kw):
            seen.update(kw)
            mp.solutions.pose._download_oss_pose_landmark_model(kw["model_complexity"])

        def close(self):
            pass

    monkeypatch.setattr(mp.solutions.pose, "Pose", FakePose)
    model.PoseModel(still=True).close()
    assert seen["model_complexity"] == model.MODEL_COMPLEXITY == 1
    monkeypatch.setattr(model, "MODEL_COMPLEXITY", 2)        # were it ever changed, the download is refused
    with pytest.raises(model.ModelUnavailableError, match="never downloads"):
        model.PoseModel(still=True)
