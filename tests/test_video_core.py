"""The video parts that need no video extra: format detection, the missing-extra message, the overlay's
geometry and the time-stamp rules (these run in the core environment; tests/test_video.py needs the extra)."""
from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from posesearch.cli.app import app
from posesearch.inputs import detect_format
from posesearch.video.decode import frame_times, media_kind
from posesearch.video.overlay import fit_onto, reference_frame_for

runner = CliRunner()


@pytest.mark.parametrize("name, kind", [("a.mp4", "video"), ("b.MOV", "video"), ("c.avi", "video"),
                                        ("d.jpg", "image"), ("e.PNG", "image"), ("f.json", None), ("g", None)])
def test_media_kind_by_suffix(name, kind):
    assert media_kind(name) == kind


def test_detect_format_sends_videos_and_images_to_the_video_reader(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"not decoded here")
    (tmp_path / "still.jpeg").write_bytes(b"x")
    assert detect_format(tmp_path / "clip.mp4")[0] == "video"
    assert detect_format(tmp_path / "still.jpeg")[0] == "image"
    assert detect_format(tmp_path)[0] == "video"          # a folder of media files


@pytest.fixture
def no_extra(monkeypatch):
    """The video extra as if not installed (an import of cv2 or mediapipe fails)."""
    monkeypatch.setitem(sys.modules, "cv2", None)
    monkeypatch.setitem(sys.modules, "mediapipe", None)


@pytest.mark.parametrize("args", [
    ["extract", "{media}", "--out", "{tmp}/out.json"],
    ["score", "{media}", "{media}"],
    ["ingest", "{media}", "--format", "video", "--out", "{tmp}/c.h5"],
])
def test_without_the_extra_commands_say_what_to_install(no_extra, tmp_path, args):
    media = tmp_path / "clip.mp4"
    media.write_bytes(b"\x00" * 64)
    r = runner.invoke(app, [a.format(media=media, tmp=tmp_path) for a in args])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and 'pip install "posesearch[video]"' in lines[0], r.output
    assert "needs the 'video' extra" in lines[0]


def test_frame_times_prefer_the_container():
    t, how = frame_times([0.0, 0.04, 0.08], 25.0)
    assert how == "container" and t.tolist() == [0.0, 0.04, 0.08]
    t, how = frame_times([0.0, 0.0, 0.08], 25.0)            # not increasing: the nominal rate spaces them
    assert how == "nominal fps" and np.allclose(t, [0, 0.04, 0.08])
    t, how = frame_times([None, 0.04], None)
    assert t is None and how == "unknown"
    assert frame_times([0.5], None)[1] == "container"


def test_fit_onto_recovers_scale_and_shift():
    rng = np.random.default_rng(3)
    user = rng.uniform(100, 400, (17, 2))
    ref = (user - 250) * 0.5 + 10                            # the same pose, half the size, elsewhere
    conf = np.ones(17)
    assert np.allclose(fit_onto(ref, conf, user, conf), user)
    low = np.zeros(17)
    low[:2] = 1
    assert fit_onto(ref, low, user, conf) is None            # fewer than 3 joints seen in both
    ref_nan = ref.copy()
    ref_nan[5:] = np.nan                                     # missing joints never enter the fit
    placed = fit_onto(ref_nan, conf, user, conf)
    assert np.allclose(placed[:5], user[:5]) and np.isnan(placed[5:]).all()


def test_reference_frame_for_follows_the_alignment_path():
    # user grid at 10 fps; path pairs reference moment i with user grid frame i + 2 (the user 0.2 s late)
    path = np.array([[i, i + 2] for i in range(5)])
    user_times = np.arange(8) / 10
    report = SimpleNamespace(alignment=SimpleNamespace(path=path), user_times=user_times,
                             path_times=lambda: np.stack([np.arange(5) / 10, user_times[path[:, 1]]], axis=1))
    ref_times = np.arange(5) / 10
    assert reference_frame_for(report, 0.0, ref_times) == (None, None)     # before the user started
    assert reference_frame_for(report, 0.2, ref_times) == (0, 0)
    assert reference_frame_for(report, 0.41, ref_times) == (2, 2)
    assert reference_frame_for(report, 0.6, ref_times) == (4, 4)
    assert reference_frame_for(report, 2.0, ref_times) == (None, None)     # long after the aligned stretch


def test_sequence_files_carry_metadata(tmp_path):
    from posesearch.sequence import read_sequence, write_sequence
    from posesearch.sequence.simulate import synthetic_motion

    seq = synthetic_motion(1, 10, seed=0)
    meta = {"coordinates": "pixels", "source": {"file": "x.mp4", "width": 640}}
    write_sequence(tmp_path / "s.json", seq, meta=meta)
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["coordinates"] == "pixels" and doc["source"]["width"] == 640
    back = read_sequence(tmp_path / "s.json")
    assert np.allclose(back.keypoints, seq.keypoints) and back.fps == seq.fps
    write_sequence(tmp_path / "s.npz", seq, meta=meta)
    with np.load(tmp_path / "s.npz") as z:
        assert json.loads(str(z["meta"])) == meta
    assert np.allclose(read_sequence(tmp_path / "s.npz").keypoints, seq.keypoints)


def test_score_video_option_checks_its_file_name_first(tmp_path):
    ref = tmp_path / "r.json"
    from posesearch.sequence import write_sequence
    from posesearch.sequence.simulate import synthetic_motion

    write_sequence(ref, synthetic_motion(1, 10, seed=0))
    r = runner.invoke(app, ["score", str(ref), str(ref), "--video", str(tmp_path / "out.gif")])
    assert r.exit_code == 2 and "--video" in r.output and ".mp4 or .avi" in r.output, r.output
    r = runner.invoke(app, ["score", str(ref), str(ref), "--video", str(tmp_path / "out.mp4")])
    assert r.exit_code == 2 and "draws over the user's video" in r.output and "sequence" in r.output, r.output


def test_extract_is_in_the_front_door_without_loading_the_extra():
    """``posesearch.extract`` is the video extractor, and neither importing posesearch nor looking the name
    up imports OpenCV or mediapipe (a fresh interpreter: other tests may have imported them)."""
    import subprocess

    code = ("import sys, posesearch as ps\n"
            "assert 'posesearch.video' not in sys.modules\n"
            "from posesearch.video.extract import extract\n"
            "assert ps.extract is extract and 'extract' in ps.__all__\n"
            "print(sorted(m for m in ('cv2', 'mediapipe') if m in sys.modules))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_extract_without_the_extra_says_what_to_install(no_extra, tmp_path):
    import posesearch as ps
    from posesearch.video import MissingExtraError

    media = tmp_path / "clip.mp4"
    media.write_bytes(b"\x00" * 64)
    with pytest.raises(MissingExtraError, match=r'pip install "posesearch\[video\]"'):
        ps.extract(media)


def test_max_frames_is_for_videos_only(tmp_path):
    from posesearch.errors import InvalidArgumentError
    from posesearch.inputs import read_input

    pose = tmp_path / "p.json"
    pose.write_text("{}")
    with pytest.raises(InvalidArgumentError, match=r"p.json: max_frames \(--max-frames\) limits the frames read "
                                                   r"from a video; this input is pose"):
        read_input(pose, format="pose", max_frames=5)
    r = runner.invoke(app, ["score", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--max-frames", "5"])
    assert r.exit_code == 2 and r.output.strip() == ("error: --max-frames 5: limits the frames read from a video, "
                                                     "but neither REFERENCE nor USER is a video or image file")
    r = runner.invoke(app, ["score", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--max-frames", "0"])
    assert r.exit_code == 2 and "--max-frames" in r.output and len(r.output.strip().splitlines()) == 1


def test_score_takes_max_frames_for_a_video(no_extra, tmp_path):
    """Without the extra, a video given with --max-frames still says what to install (the option is taken)."""
    media = tmp_path / "clip.mp4"
    media.write_bytes(b"\x00" * 64)
    r = runner.invoke(app, ["score", str(media), str(media), "--max-frames", "5"])
    assert r.exit_code == 2 and 'pip install "posesearch[video]"' in r.output, r.output
