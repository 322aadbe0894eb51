"""Search results: :class:`Matches` (frame ids, distances, mirrored flags and, with a corpus, each frame's
clip, frame number, time and labels), the merge of a pose's and its mirror image's results, and the
corpus metadata lookup that fills them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Matches", "merge_mirrored", "FrameMetadata", "fill_metadata"]


@dataclass
class Matches:
    """Search results for B queries, k each, sorted by ascending distance (ties by smaller frame id).

    Attributes:
        ids: (B, k) int64 corpus frame ids.
        distances: (B, k) float64 exact metric values.
        mirrored: (B, k) bool, True where the query's mirror image matched (always False without mirror).
        metric: the metric name.
        clip_ids, frames, times: (B, k) clip id (object), frame number within the clip, time in seconds —
            present when the index has a corpus attached, else None.
        labels: per query, per match, the clip's labels (dict), when a corpus is attached.
        partial: None for a complete answer; for a sharded index searched with ``allow_partial=True`` whose
            shards did not all answer, what is missing (``missing_shards``, ``missing_frames``, ``reason``):
            the matches are then the best among the frames of the shards that answered.
    """

    ids: np.ndarray
    distances: np.ndarray
    mirrored: np.ndarray
    metric: str
    clip_ids: np.ndarray | None = None
    frames: np.ndarray | None = None
    times: np.ndarray | None = None
    labels: list[list[dict[str, Any]]] | None = None
    partial: dict[str, Any] | None = None

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def k(self) -> int:
        return int(self.ids.shape[1])

    def __getitem__(self, i: int) -> "Matches":
        """The matches of query ``i`` (still 2-D, shape (1, k))."""
        sl = slice(i, i + 1) if i >= 0 else slice(len(self) + i, len(self) + i + 1)
        if not (0 <= sl.start < len(self)):
            raise IndexError(f"query {i} out of range (0..{len(self) - 1})")
        return Matches(self.ids[sl], self.distances[sl], self.mirrored[sl], self.metric,
                       None if self.clip_ids is None else self.clip_ids[sl],
                       None if self.frames is None else self.frames[sl],
                       None if self.times is None else self.times[sl],
                       None if self.labels is None else self.labels[sl], self.partial)

    def plot(self, path, query, corpus, *, query_index: int = 0, layout=None, confidences=None,
             query_name: str = "query", title: str | None = None):
        """Write a PNG of query ``query_index`` (its (J, 2|3) pose, or all queries (B, J, 2|3)) beside its
        matches, drawn from ``corpus`` (:func:`posesearch.pictures.plot_matches`). Returns the path."""
        from ..pictures.sheets import plot_matches
        from ..video.decode import use_for_pictures

        use_for_pictures()          # matches found in a video still on disk are drawn over their frame
        return plot_matches(self, path, query, corpus, query_index=query_index, layout=layout,
                            confidences=confidences, query_name=query_name, title=title)

    def to_records(self) -> list[list[dict[str, Any]]]:
        """Per query, a list of plain dicts (rank, id, distance, mirrored, and metadata when known)."""
        out = []
        for b in range(len(self)):
            rows = []
            for j in range(self.k):
                r: dict[str, Any] = {"rank": j + 1, "id": int(self.ids[b, j]),
                                     "distance": float(self.distances[b, j]), "mirrored": bool(self.mirrored[b, j])}
                if self.clip_ids is not None:
                    r["clip"] = str(self.clip_ids[b, j])
                    r["frame"] = int(self.frames[b, j])
                    r["time"] = float(self.times[b, j])
                    r["labels"] = dict(self.labels[b][j]) if self.labels is not None else {}
                rows.append(r)
            out.append(rows)
        return out


def merge_mirrored(ids_a, d_a, ids_b, d_b, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best of two result lists per frame id (b = mirrored; a wins ties), top k by (distance, id)."""
    bsz = ids_a.shape[0]
    ids = np.concatenate([ids_a, ids_b], axis=1)
    dist = np.concatenate([d_a, d_b], axis=1)
    flag = np.concatenate([np.zeros_like(ids_a, dtype=bool), np.ones_like(ids_b, dtype=bool)], axis=1)
    out_i = np.empty((bsz, k), dtype=np.int64)
    out_d = np.empty((bsz, k), dtype=np.float64)
    out_m = np.empty((bsz, k), dtype=bool)
    for r in range(bsz):
        order = np.lexsort((flag[r], ids[r], dist[r]))
        i_sorted = ids[r][order]
        # sorted by (distance, id, mirrored): the first occurrence of an id is its best match
        _, pos = np.unique(i_sorted, return_index=True)
        keep = np.sort(pos)[:k]
        sel = order[keep]
        out_i[r], out_d[r], out_m[r] = ids[r][sel], dist[r][sel], flag[r][sel]
    return out_i, out_d, out_m


class FrameMetadata:
    """Clip id, frame number, time and labels of corpus frames, for filling :class:`Matches`.

    The first few lookups read just the frames asked for (``corpus.frames``, a few ms of chunk reads);
    after :data:`CACHE_AFTER` lookups, or one big one, every metadata column is read into memory once
    (about 0.3 s for 300k frames) and lookups become array indexing.
    """

    CACHE_AFTER = 3
    BIG = 2000

    def __init__(self, corpus):
        self.corpus = corpus
        self.calls = 0
        self.cols: dict[str, Any] | None = None

    def lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """(clip ids (object), frame numbers, times, labels) of unique frame ids."""
        self.calls += 1
        if self.cols is None and (self.calls > self.CACHE_AFTER or len(ids) > self.BIG):
            self.cols = self._load()
        if self.cols is None:
            fb = self.corpus.frames(ids)
            return (np.asarray(fb.clip_id, dtype=object), np.asarray(fb.frame, dtype=np.int64),
                    np.asarray(fb.time, dtype=np.float64), [dict(x) for x in fb.labels])
        c = self.cols
        ci = c["clip_index"][ids]
        labels: list[dict[str, Any]] = [{} for _ in range(len(ids))]
        for k, col in c["clip_labels"].items():
            for d, v in zip(labels, col[ci].tolist()):
                if v != "":
                    d[k] = str(v)
        for k, col in c["frame_labels"].items():
            vals = col[ids]
            numeric = vals.dtype.kind == "f"
            for d, v in zip(labels, vals.tolist()):
                v = (_plain_number_row(v) if isinstance(v, list) else _plain_number(v)) if numeric else (v or None)
                if v is not None:
                    d[k] = v
        return c["clip_ids"][ci], c["frame"][ids], c["time"][ids], labels

    def columns(self) -> dict[str, Any]:
        """Every metadata column, read into memory (once)."""
        if self.cols is None:
            self.cols = self._load()
        return self.cols

    def _load(self) -> dict[str, Any]:
        corpus = self.corpus
        return {"clip_index": np.asarray(corpus.clip_indices(), dtype=np.int64),
                "frame": np.asarray(corpus.frame_numbers(), dtype=np.int64),
                "time": np.asarray(corpus.times(), dtype=np.float64),
                "clip_ids": np.asarray(corpus.clip_ids(), dtype=object),
                "clip_labels": {k: np.asarray(corpus.clip_labels(k), dtype=object) for k in corpus.label_keys},
                "frame_labels": {k: np.asarray(corpus.frame_labels(k)) for k in corpus.frame_label_keys}}


def _plain_number(v: float):
    """A stored numeric label: NaN -> None, integral -> int."""
    if v != v or v in (float("inf"), float("-inf")):
        return None
    return int(v) if v.is_integer() and abs(v) < 2 ** 53 else v


def _plain_number_row(row: list):
    """A multi-value numeric label (e.g. a bbox): None when every value is NaN."""
    if all(x != x for x in row):
        return None
    return [_plain_number(x) for x in row]


def fill_metadata(m: Matches, meta: FrameMetadata) -> None:
    """Fill clip ids, frame numbers, times and labels of matches."""
    flat = m.ids.reshape(-1)
    uniq, inv = np.unique(flat, return_inverse=True)
    clip_ids, frames, times, labels = meta.lookup(uniq)
    shape = m.ids.shape
    m.clip_ids = clip_ids[inv].reshape(shape)
    m.frames = frames[inv].reshape(shape)
    m.times = times[inv].reshape(shape)
    m.labels = [[labels[inv[b * shape[1] + j]] for j in range(shape[1])] for b in range(shape[0])]
