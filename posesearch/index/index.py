"""The Index: nearest reference poses of a query, over a corpus, with one interface for every backend.

>>> index = Index.build(corpus, metric="weighted", backend="vptree")      # doctest: +SKIP
>>> matches = index.search(pose_k3, k=10, mirror=True)                    # doctest: +SKIP
>>> index.save("indexes/penn.h5"); Index.load("indexes/penn.h5", corpus)  # doctest: +SKIP

Metrics (see :mod:`posesearch.poses.distances`):

* ``weighted`` — Move Mirror's ``sum_k w_k (|fx_k - gx_k| + |fy_k - gy_k|) / sum_k w_k`` with the weights
  ``w`` taken from the query's confidences (COCO-17, missing keypoints weigh 0);
* ``cosine`` — ``sqrt(2 (1 - cos(f, g)))``, computed as the L2 distance of the unit vectors;
* ``view`` — any camera angle: the L2 distance of the poses' view-invariant vectors
  (:func:`posesearch.view.lift.embed`: lifted to 3D, turned to face one way). The index stores those
  vectors; queries are lifted the same way. Frames with fewer than 4 present joints cannot be lifted and
  are left out (counted in the attribute ``view_unliftable``). The attribute ``view_model`` names the lifting
  model (:func:`posesearch.view.lift.model_id`); an index of another model is refused when loaded.

Only the corpus's valid frames are indexed; results carry corpus frame ids. Mirror-invariant search
(``mirror=True``) queries both the pose and its mirror image (mirrored on the raw keypoints, then
normalized) and keeps, per frame, the smaller distance, reporting which one matched.
"""
from __future__ import annotations

import dataclasses
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..text import plural
from ..errors import ChecksumError, FileFormatError, InvalidArgumentError, PoseSearchError, UnknownNameError
from ..files import check_not_input, made_by
from ..poses.distances import get_metric
from ..poses.normalize import DEFAULT_NORMALIZATION
from .backend import Backend, Progress, params_to_json, parse_params
from .fileformat import c_array, read_index_attrs, read_index_file, write_index_file
from .matches import FrameMetadata, Matches, fill_metadata, merge_mirrored
from .query import DIM, check_query_vectors, embed_coco, prepare_raw, prepare_view, unit_rows
from .registry import DEFAULT_BACKEND, get_backend_spec

BACKEND_GROUP = "backend"
#: metrics whose vectors are unit rows compared by L2 distance (cosine: Move Mirror vectors; view: lifted)
L2_METRICS = ("cosine", "view")


def _open_corpus(corpus):
    if corpus is None or not isinstance(corpus, (str, os.PathLike)):
        return corpus
    from ..corpus.store import Corpus

    return Corpus.open(corpus)


class Index:
    """Nearest-pose index over the valid frames of a corpus (or over bare vectors).

    Build with :meth:`build`, query with :meth:`search` (raw poses) or :meth:`search_vectors`
    (normalized vectors), persist with :meth:`save` / :meth:`load`; :meth:`metadata` reads a file's
    attributes only.
    """

    def __init__(self, backend: Backend, data: np.ndarray, frame_ids: np.ndarray, metric: str,
                 attrs: dict[str, Any], corpus=None, path: Path | None = None):
        self.backend = backend
        self.data = data
        self.frame_ids = frame_ids
        self.metric = metric
        self.attrs = attrs
        self.corpus = None
        self._meta: FrameMetadata | None = None
        self.path = path
        if corpus is not None:
            self.attach_corpus(corpus)

    # --- properties -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(len(self.frame_ids))

    @property
    def backend_name(self) -> str:
        return self.backend.name

    @property
    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self.backend.params)

    @property
    def exact(self) -> bool:
        """Whether results are the exact k nearest (the backend may still be exact only for some settings)."""
        return bool(self.backend.exact_for(self.metric, self.backend.params))

    @property
    def corpus_path(self) -> str:
        return str(self.attrs.get("corpus_path", ""))

    @property
    def corpus_checksum(self) -> str:
        return str(self.attrs.get("corpus_checksum", ""))

    def __repr__(self) -> str:
        return (f"Index(backend={self.backend_name!r}, metric={self.metric!r}, count={len(self)}, "
                f"corpus={self.corpus_path or None!r})")

    # --- building -------------------------------------------------------------------------------

    @classmethod
    def build(cls, source, metric: str = "weighted", backend: str = DEFAULT_BACKEND, *,
              progress: Progress | None = None, verify: bool = True, measure_recall: bool = True,
              frame_range: tuple[int, int] | None = None, **params) -> "Index":
        """Build an index over a corpus (a Corpus or a corpus file path) or over (N, 34) normalized vectors.

        ``metric``: "weighted" or "cosine". ``backend``: a name from :data:`registry.BACKENDS`;
        ``params``: that backend's parameters (unknown names are rejected, listing the valid ones).
        ``progress(done, total)`` is called during long builds.

        ``verify`` (default on): a corpus is verified first (``Corpus.verify``: checksum, attributes, and
        every stored vector against the normalization of its keypoints), so a damaged or tampered
        corpus is refused instead of indexed. ``measure_recall`` (default on): an approximate backend's
        recall@10 is measured against brute force on a sample of the corpus's own frames and kept in
        the index's attributes (see :func:`measure_build_recall`). ``frame_range`` ``(start, stop)``: index
        only the corpus's valid frames in ``start:stop`` (one shard of a sharded index, see
        :mod:`posesearch.index.sharded`); frame ids stay the corpus's.
        """
        metric = get_metric(metric).name
        spec = get_backend_spec(backend)
        bcls = spec.load()
        p = parse_params(bcls.Params, spec.name, params)
        corpus = _open_corpus(source) if isinstance(source, (str, os.PathLike)) else source
        build_weights = None
        attrs: dict[str, Any] = {}
        if hasattr(corpus, "vectors") and callable(getattr(corpus, "vectors")):
            n_total = len(corpus)
            norm = _corpus_normalization(corpus)
            if norm is not None and norm != DEFAULT_NORMALIZATION.to_dict():
                raise InvalidArgumentError(f"corpus {getattr(corpus, 'path', '')}: its vectors use normalization "
                                           f"{norm}, this posesearch uses {DEFAULT_NORMALIZATION.to_dict()}; "
                                           "re-ingest it")
            if verify and callable(getattr(corpus, "verify", None)):
                corpus.verify()
            valid = np.asarray(corpus.valid, dtype=bool)
            lo, hi = (0, n_total) if frame_range is None else _check_frame_range(frame_range, n_total)
            frame_ids = lo + np.flatnonzero(valid[lo:hi]).astype(np.int64)
            if len(frame_ids) == 0:
                where = "" if frame_range is None else f" in frames {lo}:{hi}"
                raise InvalidArgumentError(f"corpus {getattr(corpus, 'path', '')}: no valid frames to index{where} "
                                           f"({plural(n_total, 'frame')}, none could be normalized)")
            if metric == "view":
                vectors, frame_ids, attrs["view_unliftable"] = _view_vectors(corpus, frame_ids, progress)
                attrs["view_model"] = _view_model()
            elif frame_range is None:
                vectors = np.asarray(corpus.vectors(), dtype=np.float32)[frame_ids]
            else:   # read only the shard's frames
                vectors = np.asarray(corpus.vectors(lo, hi), dtype=np.float32)[frame_ids - lo]
            if getattr(bcls, "needs_build_weights", False):
                build_weights = corpus_confidences(corpus, frame_ids, ranged=frame_range is not None)
            cpath = Path(str(corpus.path)).resolve()
            attrs.update(corpus_path=str(cpath), corpus_checksum=str(corpus.checksum),
                         corpus_frames=int(n_total))
        else:
            vectors, _, _ = check_query_vectors(source, None, weighted=False, name="vectors")
            vectors = vectors.astype(np.float32)
            frame_ids = np.arange(len(vectors), dtype=np.int64)
            if metric == "view":
                attrs["view_model"] = _view_model()
            attrs.update(corpus_path="", corpus_checksum="", corpus_frames=int(len(vectors)))
            corpus = None
        if vectors.shape[1] != DIM:
            raise InvalidArgumentError(f"corpus vectors: expected {DIM} columns (COCO-17), got {vectors.shape[1]}")
        data = unit_rows(vectors, np.float32) if metric in L2_METRICS else np.ascontiguousarray(vectors)
        t0 = time.perf_counter()
        own = {"own_data": True} if bcls.CAN_OWN_DATA else {}     # data is this build's own array
        be = bcls.build(data, metric, p, build_weights=build_weights, progress=progress, **own)
        if own:
            data = be.data           # the rows in row order, read from the backend (data was reordered)
        attrs.update(build_seconds=round(time.perf_counter() - t0, 3),
                     created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     created_by=made_by())
        index = cls(be, data, frame_ids, metric, attrs, corpus=corpus)
        if measure_recall and not index.exact:
            index.attrs.update(measure_build_recall(index, corpus))
        return index

    # --- corpus ---------------------------------------------------------------------------------

    def set_search_params(self, **params) -> "Index":
        """Change search-only parameters of the built backend in place (e.g. ``ef_search`` / ``nprobe`` /
        ``candidates`` of ``faiss``: recall against speed) and return the index. Unknown names list the
        valid ones; values are checked like at build time. Not saved unless the index is saved again."""
        allowed = self.backend.SEARCH_PARAMS
        for key in params:
            if key not in allowed:
                raise UnknownNameError(f"search parameter of backend {self.backend_name!r}", key,
                                       allowed or ["(none)"])
        given = parse_params(type(self.backend.params), self.backend_name, params)
        self.backend.params = dataclasses.replace(self.backend.params,
                                                  **{k: getattr(given, k) for k in params})
        return self

    def attach_corpus(self, corpus) -> None:
        """Attach the corpus that frame metadata comes from; refuses one whose checksum differs."""
        corpus = _open_corpus(corpus)
        where = getattr(corpus, "path", "corpus")
        if not self.corpus_checksum:
            raise InvalidArgumentError(f"{where}: this index was built from bare vectors, not a corpus; "
                                       "it has no frame metadata to resolve")
        if str(corpus.checksum) != self.corpus_checksum:
            raise ChecksumError(where, f"corpus checksum {str(corpus.checksum)[:12]}... does not match the one "
                                f"the index was built from ({self.corpus_checksum[:12]}...): the corpus changed "
                                "or is another one; rebuild the index with `posesearch build`")
        last = self._last_frame_id()
        if last >= len(corpus):
            raise ChecksumError(where, f"corpus has {plural(len(corpus), 'frame')}, the index refers to frame {last}")
        self.corpus = corpus
        self._meta = FrameMetadata(corpus)

    def _last_frame_id(self) -> int:
        """The largest frame id the index holds (-1 if none)."""
        return int(self.frame_ids[-1]) if len(self.frame_ids) else -1

    def resolve_corpus_path(self) -> Path | None:
        """Where the remembered corpus is now: relative to the index file first, then the stored path."""
        cands = []
        rel = self.attrs.get("corpus_relpath")
        if rel and self.path is not None:
            cands.append((Path(self.path).parent / rel))
        if self.corpus_path:
            cands.append(Path(self.corpus_path))
        for c in cands:
            if c.exists():
                return Path(os.path.normpath(c))
        return self._bundled_sample_if_same()

    def _bundled_sample_if_same(self) -> Path | None:
        """This installation's bundled sample corpus, when the index was built over the same corpus (same
        checksum) by another installation: e.g. the demo's index after `pip install .` then `pip install -e .`
        remembers a sample path inside the old site-packages, which is gone."""
        if not self.corpus_checksum:
            return None
        from ..corpus import sample_corpus_path
        from ..corpus.store import Corpus

        try:
            sample = Path(sample_corpus_path())
            same = sample.is_file() and Corpus.info(sample).get("checksum") == self.corpus_checksum
        except (PoseSearchError, OSError):
            return None
        return sample if same else None

    # --- searching ------------------------------------------------------------------------------

    def _check_k(self, k) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise InvalidArgumentError(f"k: expected an integer, got {k!r}")
        k = int(k)
        if not 1 <= k <= len(self):
            raise InvalidArgumentError(f"k: expected 1 <= k <= {len(self)} (the number of indexed frames), got {k}")
        return k

    def _knn(self, vectors: np.ndarray, weights: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.metric in L2_METRICS:
            q, w = unit_rows(vectors), None
        else:
            q, w = np.ascontiguousarray(vectors, dtype=np.float64), np.ascontiguousarray(weights, dtype=np.float64)
        rows, dists = self.backend.knn(q, w, k)
        return self.frame_ids[rows], dists

    def search(self, poses, k: int = 10, *, layout: str = "coco17", confidences=None,
               mirror: bool = False) -> Matches:
        """k nearest indexed frames of raw poses.

        ``poses``: one pose (K, 3) or a batch (B, K, 3) of [x, y, confidence] in ``layout`` (or (…, K, 2)
        with ``confidences``). Returns :class:`Matches` with B rows (B = 1 for a single pose).
        ``mirror=True``: best of the pose and its mirror image per frame.
        """
        return self._matches(*self.search_ids(poses, k, layout=layout, confidences=confidences, mirror=mirror))

    def search_ids(self, poses, k: int = 10, *, layout: str = "coco17", confidences=None,
                   mirror: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`search` without the metadata: (frame ids, distances, mirrored), each (B, k).

        For callers that look the frames up themselves (e.g. :mod:`posesearch.clipsearch`, with
        :meth:`frame_columns`): no per-match clip ids or labels are built. Same arguments and checks as
        :meth:`search`."""
        k = self._check_k(k)
        prepare = prepare_view if self.metric == "view" else prepare_raw
        prep, mprep = prepare(poses, layout, confidences, mirror=mirror)
        ids, dists = self._knn(prep.vectors, prep.weights, k)
        if not mirror:
            return ids, dists, np.zeros_like(ids, dtype=bool)
        mids, mdists = self._knn(mprep.vectors, mprep.weights, k)
        return merge_mirrored(ids, dists, mids, mdists, k)

    def search_sequence(self, sequence, settings=None, *, layout: str | None = None, fps: float | None = None,
                        **options):
        """Corpus clips a user's pose sequence performed, best 0-100 score first (Move Mirror's per-frame
        hits aligned over time, then scored): see :mod:`posesearch.clipsearch`.

        ``settings``: a :class:`~posesearch.clipsearch.SequenceSearchSettings`; keyword ``options``
        override its fields (``top=3, mirror=True, ...``). Needs the index's corpus.
        """
        # Clip search sits above index/ and sequence/ (it uses both); this method is a convenience that
        # delegates to it. The import is lazy and goes upward on purpose: the one upward import allowed by
        # tests/test_import_graph.py (ALLOWED_UPWARD), so no module-level cycle exists.
        from ..clipsearch import search_sequence

        return search_sequence(self, sequence, settings, layout=layout, fps=fps, **options)

    def frame_columns(self) -> dict[str, Any]:
        """Per corpus frame: ``clip_index``, ``frame`` (number in its clip), ``time`` (s), ``clip_ids``,
        ``clip_labels``, ``frame_labels`` (arrays indexed by corpus frame id, or by clip index for the
        clip columns), plus ``clip_len``: each clip's frame count. Read from the attached corpus once and
        cached; raises InvalidArgumentError without a corpus."""
        if self.corpus is None:
            raise InvalidArgumentError("this needs the index's corpus: load the index with corpus=PATH or call "
                                       "attach_corpus(PATH)")
        cols = self._meta.columns()
        if "clip_len" not in cols:
            cols["clip_len"] = np.bincount(cols["clip_index"], minlength=self.corpus.num_clips)
        return cols

    def search_vectors(self, vectors, k: int = 10, *, weights=None) -> Matches:
        """k nearest indexed frames of pre-normalized (B, 34) / (34,) vectors (under metric ``view``: the
        view-invariant vectors of :func:`posesearch.view.lift.embed`).

        For the weighted metric ``weights`` are the (B, 17) per-keypoint weights (default: uniform).
        """
        k = self._check_k(k)
        v, w, _ = check_query_vectors(vectors, weights, weighted=self.metric == "weighted")
        ids, dists = self._knn(v, w, k)
        return self._matches(ids, dists, np.zeros_like(ids, dtype=bool))

    def _matches(self, ids, dists, mirrored) -> Matches:
        m = Matches(ids, dists, mirrored, self.metric)
        if self.corpus is not None:
            fill_metadata(m, self._meta)
        return m

    # --- persistence ----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write the index to one HDF5 file (atomically), creating its folder if missing (as ``posesearch
        build`` does). Returns the path."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:   # a parent is a file, or no permission
            raise FileFormatError(path, f"cannot create its folder {str(path.parent)!r}: "
                                        f"{e.strerror or type(e).__name__}") from None
        inputs = [p for p in (self.attrs.get("corpus_path"), getattr(self.corpus, "path", None)) if p]
        check_not_input(path, inputs, what="index file")   # never replace the corpus with its own index
        attrs = dict(self.attrs)
        attrs.update(backend=self.backend_name, backend_params=params_to_json(self.backend.params),
                     metric=self.metric, normalization=_json(DEFAULT_NORMALIZATION.to_dict()),
                     layout="coco17", dimension=DIM, count=len(self))
        if attrs.get("corpus_path"):
            try:
                attrs["corpus_relpath"] = os.path.relpath(attrs["corpus_path"], path.resolve().parent)
            except ValueError:  # other drive (Windows)
                attrs["corpus_relpath"] = ""
        arrays = {"frame_ids": np.ascontiguousarray(self.frame_ids, dtype=np.int64),
                  "vectors": np.ascontiguousarray(self.data, dtype=np.float32)}
        for name, a in self.backend.to_arrays().items():
            arrays[f"{BACKEND_GROUP}/{name}"] = c_array(a)
        write_index_file(path, attrs, arrays)
        self.attrs = {k: v for k, v in attrs.items()}
        self.path = path
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, corpus=None, **shard_options) -> "Index":
        """Read and verify an index file; ``corpus`` (a Corpus or path) is attached after a checksum check.

        A sharded index's manifest (``posesearch build --shards N``) loads as a
        :class:`~posesearch.index.sharded.ShardedIndex`, which searches like one index; ``shard_options``
        (``execution="local" | "ray" | "auto"``, ``allow_partial``) apply to it only.
        """
        from .manifest import is_manifest

        path = Path(path)
        if is_manifest(path):
            from .sharded import ShardedIndex

            return ShardedIndex.load(path, corpus, **shard_options)
        if shard_options:
            raise InvalidArgumentError(f"{path}: option(s) {', '.join(sorted(shard_options))} only apply to a sharded "
                                       "index (a manifest written by `posesearch build --shards N`)")
        attrs, arrays = read_index_file(path)
        for key in ("backend", "metric", "count", "dimension", "backend_params"):
            if key not in attrs:
                raise FileFormatError(path, f"damaged index file: attribute {key!r} missing")
        try:
            spec = get_backend_spec(attrs["backend"])
            metric = get_metric(attrs["metric"]).name
        except PoseSearchError as e:
            raise FileFormatError(path, f"index names {e}") from None
        if attrs.get("layout", "coco17") != "coco17" or int(attrs["dimension"]) != DIM:
            raise FileFormatError(path, f"index holds {attrs.get('layout')} vectors of dimension {attrs['dimension']}, "
                                  f"expected coco17 / {DIM}")
        if metric == "view" and attrs.get("view_model") != _view_model():
            raise FileFormatError(path, f"index holds view vectors of lifting model {attrs.get('view_model')!r}, "
                                  f"this posesearch lifts with {_view_model()!r}; rebuild it with `posesearch build`")
        norm = attrs.get("normalization")
        if norm != DEFAULT_NORMALIZATION.to_dict():
            raise FileFormatError(path, f"index uses normalization {norm}, this posesearch uses "
                                  f"{DEFAULT_NORMALIZATION.to_dict()}; rebuild it with `posesearch build`")
        count = int(attrs["count"])
        data = arrays.pop("vectors", None)
        frame_ids = arrays.pop("frame_ids", None)
        if data is None or frame_ids is None:
            raise FileFormatError(path, "damaged index file: datasets 'vectors' / 'frame_ids' missing")
        if data.shape != (count, DIM) or data.dtype != np.float32 or frame_ids.shape != (count,) \
                or frame_ids.dtype != np.int64:
            raise FileFormatError(path, f"damaged index file: vectors {data.shape} {data.dtype} / frame_ids "
                                  f"{frame_ids.shape} {frame_ids.dtype} do not match count {count}")
        if count and (np.any(np.diff(frame_ids) <= 0) or frame_ids[0] < 0):
            raise FileFormatError(path, "damaged index file: frame_ids are not increasing")
        bcls = spec.load()
        try:
            stored = attrs["backend_params"]
            if isinstance(stored, dict):
                stored = {**bcls.LEGACY_PARAMS, **stored}
            params = parse_params(bcls.Params, spec.name, stored)
        except PoseSearchError as e:
            raise FileFormatError(path, f"index backend parameters are invalid ({e})") from None
        prefix = BACKEND_GROUP + "/"
        barrays = {n[len(prefix):]: arrays.pop(n) for n in [n for n in arrays if n.startswith(prefix)]}
        del arrays
        data = np.ascontiguousarray(data)
        # a backend that can own the data takes the file's arrays over (the vectors become its rows, reordered
        # in place; its arrays are dropped as it converts them): no second copy of them while loading
        own = {"own_data": True} if bcls.CAN_OWN_DATA else {}
        be = bcls.from_arrays(barrays, data, metric, params, path=str(path), **own)
        if bcls.CAN_OWN_DATA:
            data = be.data           # the backend reads the rows from its own structures: the file's copy goes
        return cls(be, data, frame_ids, metric, attrs, corpus=corpus, path=path)

    @staticmethod
    def metadata(path: str | os.PathLike) -> dict[str, Any]:
        """The file's attributes (format, backend, params, metric, count, corpus, ...) without loading it."""
        path = Path(path)
        attrs = read_index_attrs(path, check_version=False)
        attrs["file_size"] = path.stat().st_size
        return attrs

    def describe(self) -> dict[str, Any]:
        """A summary for people and scripts."""
        d = {"backend": self.backend_name, "metric": self.metric, "count": len(self), "params": self.params,
             "exact": self.exact, "corpus_path": self.corpus_path or None,
             "corpus_checksum": self.corpus_checksum or None}
        d.update(self.backend.describe())
        return d


#: build-time recall measurement: queries, k, keypoint jitter (fraction of the pose's size), share of
#: joints an estimator misses, and the range of the confidences it gives the others
RECALL_QUERIES = 256
RECALL_QUERIES_SLOW = 48         # vptree-pypi (pure Python)
RECALL_K = 10
RECALL_JITTER = 0.02
RECALL_MISSING = 0.1
RECALL_CONFIDENCE = (0.3, 1.0)
RECALL_SEED = 20240


def measure_build_recall(index: "Index", corpus=None, *, n_queries: int | None = None, k: int = RECALL_K,
                         seed: int = RECALL_SEED) -> dict[str, Any]:
    """recall@k of ``index`` (with its current search settings) against brute force, on queries made from
    a seeded sample of its own frames: keypoints jittered by 2% of the pose's size, 10% of the joints
    dropped, the others given confidences uniform in [0.3, 1] (like a pose estimator's). Recall counts
    the returned frames at most as far as the true k-th nearest (ties count), averaged over the queries.

    Returns the attributes stored in the index file: ``build_recall_at_10`` (or ``_at_k``),
    ``build_recall_queries``, ``build_recall_seconds``. A few hundred queries: about a second on 300k frames.
    """
    from ..poses.normalize import normalize_batch
    from .exact import ExactBackend

    t0 = time.perf_counter()
    m = len(index)
    if n_queries is None:
        n_queries = RECALL_QUERIES_SLOW if index.backend_name == "vptree-pypi" else RECALL_QUERIES
    k = int(min(k, m))
    if m == 0 or k < 1:
        return {}
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(m, size=min(n_queries, m), replace=False))
    if corpus is not None:
        fb = corpus.frames(index.frame_ids[rows])
        kp = np.asarray(fb.keypoints, dtype=np.float64)
        cf = np.asarray(fb.confidences, dtype=np.float64)
    else:   # bare vectors: the normalized rows are poses too
        kp = np.asarray(index.data[rows], dtype=np.float64).reshape(len(rows), -1, 2)
        cf = np.ones(kp.shape[:2])
    present = (cf > 0) & np.isfinite(kp).all(axis=-1)
    kp = np.where(present[..., None], kp, 0.0)
    span = np.where(present[..., None], kp, np.nan)
    size = np.nan_to_num(np.nanmax(span, axis=1) - np.nanmin(span, axis=1)).max(axis=1, keepdims=True)
    kp = kp + rng.normal(0.0, 1.0, kp.shape) * (RECALL_JITTER * size)[..., None]
    lo, hi = RECALL_CONFIDENCE
    cf = np.where(present & (rng.random(cf.shape) >= RECALL_MISSING), rng.uniform(lo, hi, cf.shape), 0.0)
    if index.metric == "view" and corpus is not None:
        from ..view.lift import MIN_PRESENT

        ok = (cf > 0).sum(axis=1) >= MIN_PRESENT
        vec = embed_coco(kp[ok], cf[ok], name="recall queries").vectors if ok.any() else np.zeros((0, DIM))
        kp, cf = kp[ok], cf[ok]
        ok = np.ones(len(vec), dtype=bool)
    elif index.metric == "view":   # bare view vectors: jittered rows are queries
        vec = np.asarray(index.data[rows], dtype=np.float64) + rng.normal(0.0, RECALL_JITTER, (len(rows), DIM))
        ok = np.ones(len(vec), dtype=bool)
    else:
        vec, ok = normalize_batch(kp, cf, on_invalid="mask", dtype=np.float64)
    vec, w = vec[ok], cf[ok]
    if len(vec) == 0:
        return {}
    if index.metric in L2_METRICS:
        q, w = unit_rows(vec), None
    else:
        q, w = np.ascontiguousarray(vec), np.ascontiguousarray(w)
    got_rows, got = index.backend.knn(q, w, k)
    _, true = ExactBackend(np.ascontiguousarray(index.data), index.metric, index.backend.params).knn(q, w, k)
    kth = true[:, -1:]
    near = np.sort(np.where((got <= kth + 1e-12 * np.maximum(1.0, kth)) & (got_rows >= 0), got_rows, -1), axis=1)
    hits = (near[:, 0] >= 0) + ((near[:, 1:] != near[:, :-1]) & (near[:, 1:] >= 0)).sum(axis=1)   # distinct rows
    recall = float(np.mean(np.minimum(hits, k) / k))
    return {f"build_recall_at_{k}": round(recall, 4), "build_recall_queries": int(len(q)),
            "build_recall_seconds": round(time.perf_counter() - t0, 3)}


def _view_model() -> str:
    from ..view.lift import model_id

    return model_id()


#: frames lifted at a time when a ``view`` index is built (bounds the memory of the lifting network)
VIEW_CHUNK = 8192


def _view_vectors(corpus, frame_ids: np.ndarray, progress: Progress | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Metric ``view``: (vectors float32 (M, 34), the frame ids kept, how many were left out) for the corpus's
    valid frames ``frame_ids``; frames with fewer than 4 present joints cannot be lifted and are left out."""
    from ..view.lift import MIN_PRESENT

    kp_all = np.asarray(corpus.keypoints(), dtype=np.float64)[frame_ids]
    cf_all = np.asarray(corpus.confidences(), dtype=np.float64)[frame_ids]
    cf_all = np.where(np.isfinite(kp_all).all(axis=-1), cf_all, 0.0)
    keep = (cf_all > 0).sum(axis=1) >= MIN_PRESENT
    ids = frame_ids[keep]
    if len(ids) == 0:
        raise InvalidArgumentError(f"corpus {getattr(corpus, 'path', '')}: no frame has the {MIN_PRESENT} present "
                                   "joints lifting to 3D needs (metric view)")
    kp_all = np.where(cf_all[..., None] > 0, np.nan_to_num(kp_all), 0.0)[keep]
    cf_all = cf_all[keep]
    out = np.empty((len(ids), DIM), dtype=np.float32)
    for a in range(0, len(ids), VIEW_CHUNK):
        b = min(a + VIEW_CHUNK, len(ids))
        out[a:b] = embed_coco(kp_all[a:b], cf_all[a:b], name="corpus frames").vectors
        if progress:
            progress(b, len(ids))
    return out, ids, int((~keep).sum())


def _json(obj) -> str:
    import json

    return json.dumps(obj, sort_keys=True)


def _corpus_normalization(corpus) -> dict | None:
    for getter in ("normalization",):
        v = getattr(corpus, getter, None)
        if callable(v):
            v = v()
        if isinstance(v, dict):
            return v
        if v is not None and hasattr(v, "to_dict"):
            return v.to_dict()
    return None


def _check_frame_range(frame_range, n_total: int) -> tuple[int, int]:
    """``frame_range`` as ``(start, stop)`` with 0 <= start < stop <= n_total (one-line error otherwise)."""
    try:
        lo, hi = (int(v) for v in frame_range)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"frame_range: expected (start, stop) integers, got {frame_range!r}") from None
    if not 0 <= lo < hi <= n_total:
        raise InvalidArgumentError(f"frame_range: expected 0 <= start < stop <= {n_total} (the corpus's frames), "
                                   f"got ({lo}, {hi})")
    return lo, hi


def corpus_confidences(corpus, frame_ids: np.ndarray, *, ranged: bool = False) -> np.ndarray:
    """(M, 17) float32 COCO-17 confidences of the given corpus frames (``ranged``: read only the frames
    from the first id to the last, through ``confidences(start, stop)``)."""
    getter = getattr(corpus, "confidences", None)
    if callable(getter) and ranged and len(frame_ids):
        lo = int(frame_ids[0])
        conf = np.asarray(getter(lo, int(frame_ids[-1]) + 1), dtype=np.float32)[frame_ids - lo]
    elif callable(getter):
        conf = np.asarray(getter(), dtype=np.float32)[frame_ids]
    else:
        conf = np.asarray(corpus.frames(frame_ids).confidences, dtype=np.float32)
    return np.ascontiguousarray(conf)
