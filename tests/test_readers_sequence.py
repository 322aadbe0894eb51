"""Reader ``sequence``: wraps posesearch.sequence.io.read_sequence."""
from __future__ import annotations

import json

import numpy as np
import pytest

from posesearch.corpus import Corpus
from posesearch.corpus.readers import sequence
from posesearch.errors import FileFormatError, InvalidArgumentError


def seq_json(tmp_path, name="walk", T=4, fps=30):
    rng = np.random.default_rng(5)
    frames = rng.uniform(0, 100, (T, 17, 3))
    frames[..., 2] = 1.0
    frames[1, 4, 2] = 0.0
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps({"fps": fps, "layout": "coco17", "frames": frames.tolist()}))
    return p, frames


def test_json_sequence(tmp_path):
    p, frames = seq_json(tmp_path)
    (clip,) = list(sequence.read([p]))
    assert clip.clip_id == "seq:walk" and clip.layout == "coco17" and clip.fps == 30
    np.testing.assert_allclose(clip.keypoints[0], frames[0, :, :2])
    assert np.isnan(clip.keypoints[1, 4]).all() and clip.confidences[1, 4] == 0
    np.testing.assert_allclose(clip.frame_times(), np.arange(4) / 30)
    assert clip.labels == {"name": "walk"} and clip.source == str(p)


def test_npy_needs_fps_and_folder(tmp_path):
    arr = np.random.default_rng(0).uniform(0, 1, (3, 25, 3))
    np.save(tmp_path / "op.npy", arr)
    with pytest.raises(FileFormatError, match="op.npy: frame times unknown"):
        list(sequence.read([tmp_path / "op.npy"]))
    (clip,) = list(sequence.read([tmp_path / "op.npy"], fps=10, prefix="mine"))
    assert clip.layout == "body25" and clip.clip_id == "mine:op" and clip.fps == 10
    seq_json(tmp_path)
    s = Corpus.ingest(tmp_path / "c.h5", sequence.read([tmp_path], fps=10))
    assert s.clips_added == 2 and s.frames_added == 7


def test_errors(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"fps": 30, "frames": [[[1, 2, 1]')
    with pytest.raises(FileFormatError, match="bad.json"):
        list(sequence.read([p]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileFormatError, match="folder has no pose-sequence files"):
        list(sequence.read([tmp_path / "empty"]))
    a, _ = seq_json(tmp_path, "same")
    np.save(tmp_path / "same.npy", np.ones((2, 17, 3)))
    with pytest.raises(InvalidArgumentError, match="same clip id"):
        list(sequence.read([a, tmp_path / "same.npy"], fps=5))
