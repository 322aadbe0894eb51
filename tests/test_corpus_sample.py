"""The bundled sample corpus."""
from __future__ import annotations

import collections

import numpy as np

from posesearch.corpus import Corpus, sample_corpus_path


def test_sample_corpus_opens_and_verifies():
    path = sample_corpus_path()
    assert path.is_file() and path.stat().st_size < 8_000_000
    assert (path.parent / "ATTRIBUTION.md").is_file()
    with Corpus.open(path) as c:
        c.verify()
        counts = collections.Counter(c.clip_labels("dataset").tolist())
        assert counts["coco"] == 6352 and counts["cmu-mocap"] >= 2
        assert set(c.info()["source_layouts"]) == {"coco17", "cmu19"}
        cmu = [i for i in c if i.labels["dataset"] == "cmu-mocap"]
        assert len({i.labels["view"] for i in cmu}) >= 2 and all(i.fps == 30 for i in cmu)
        clip = c.clip(cmu[0].clip_id)
        assert len(clip) == len(cmu[0]) > 10 and np.all(np.diff(clip.times) > 0)
        assert c.num_valid > 0.97 * len(c)
