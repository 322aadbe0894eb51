"""Benchmark data: the combined real corpus, held-out queries, and augmentation beyond the real frames.

**Corpus.** Built once through the corpus API (:meth:`Corpus.ingest` with the project's readers) from
``../shared/data`` and cached as ``<out>/cache/<name>.h5`` (the cache folder carries its own
``.gitignore``). Sources (:data:`SOURCES`): Penn Action (163,841 frames), COCO val (6,352 persons) and
train (149,813), the labelled BODY25 set (10,681), CMU mocap clips projected at yaws 0/60/120 (every
2nd frame = 30 fps). A missing source is skipped with a message; the cache is rebuilt when the recipe
or the source files (names, sizes, times) change.

**Queries.** ``n_queries`` held-out frames (fixed seed) from the sources with real confidences (Penn,
COCO, BODY25): frames are drawn uniformly among their valid frames, at most one per clip, and the
*whole clip* of each drawn frame is left out of the indexed set (a held-out Penn frame's neighbours in
its own clip are near-copies, which would flatter every index). Three confidence variants of the same
poses weight the weighted metric:

* ``real`` — the dataset's own (Penn visibility 1/0; COCO visible 1.0 / occluded 0.5 / missing 0;
  OpenPose detection scores);
* ``estimator`` — pose-estimator-like: each present joint uniform in [0.3, 1], missing joints 0;
* ``uniform`` — every joint 1 (what a caller without confidences passes).

**Augmentation** (corpus sizes beyond the real frames, :func:`augment`): a random real indexed pose,
mirrored with probability 1/2, rotated by U(-10°, 10°) about its centroid, scaled by U(0.9, 1.1)
independently in x and y, every present joint jittered by N(0, (0.01 h)^2) (h = the pose's bbox
diagonal), then normalized like every corpus frame. Deterministic for a seed.

**Cross-dataset queries** (:mod:`.crossdata`, :attr:`BenchData.cross`): BODY25 poses and CMU frames from
random cameras against every Penn Action + COCO frame (the datasets a user's pose does not come from).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    from .crossdata import CrossData

RECIPE_VERSION = 1
QUERY_SOURCES = ("penn", "coco-val", "coco-train", "body25")


@dataclass(frozen=True)
class Source:
    """One dataset of the combined corpus: reader format, path under the data folder, reader options."""

    name: str
    format: str
    relpath: str
    options: dict = field(default_factory=dict)
    quick_files: int = 0      # in quick mode: only the first N files of a folder (0 = all)


SOURCES: tuple[Source, ...] = (
    Source("penn", "penn-action", "penn_action/labels", {}, quick_files=60),
    Source("coco-val", "coco", "coco/person_keypoints_val2017.json"),
    Source("coco-train", "yolo-npz", "coco/train2017_yolo_kpts.npz"),
    Source("body25", "openpose", "pose_classification_kit"),
    Source("cmu", "bvh", "cmu_mocap/bvh", {"views": (0.0, 60.0, 120.0), "every": 2}, quick_files=3),
)
QUICK_SKIP = ("coco-train",)   # quick mode leaves the 150k-person npz out


def default_data_dir() -> Path:
    """The datasets folder: $POSESEARCH_DATA; else ``../shared/data`` from the working directory (the
    repository root, where the README's commands run); else ``../shared/data`` beside the source tree
    (an editable install run from elsewhere). The first existing one, or the working-directory one."""
    env = os.environ.get("POSESEARCH_DATA")
    if env:
        return Path(env)
    candidates = [Path.cwd().parent / "shared" / "data",
                  Path(__file__).resolve().parents[2].parent / "shared" / "data"]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def _source_files(data_dir: Path, src: Source, quick: bool) -> list[Path]:
    p = data_dir / src.relpath
    if not p.exists():
        return []
    if p.is_file():
        return [p]
    pattern = {"penn-action": "*.mat", "openpose": "*.json", "bvh": "*.bvh"}.get(src.format, "*")
    files = sorted(p.glob(pattern))
    if quick and src.quick_files:
        files = files[:src.quick_files]
    return files


def _clip_prefix(clip_id: str) -> str:
    return clip_id.split(":", 1)[0]


@dataclass
class CorpusInfo:
    """The cached corpus file and what went in (per-source frame counts, skipped sources)."""

    path: Path
    sources: dict[str, int]
    skipped: dict[str, str]
    frames: int
    valid: int
    built_seconds: float | None


def build_corpus(out_dir: Path, data_dir: Path | None = None, *, quick: bool = False,
                 log: Callable[[str], None] = print) -> CorpusInfo | None:
    """The combined corpus under ``<out_dir>/cache`` (built if missing or stale); None if no data at all."""
    import time

    from posesearch.corpus.readers import iter_source
    from posesearch.corpus.store import Corpus

    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    cache = Path(out_dir) / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    gi = cache / ".gitignore"
    if not gi.exists():
        gi.write_text("# benchmark cache (rebuilt by `posesearch bench`)\n*\n")
    name = "combined-quick" if quick else "combined"
    plan, skipped = [], {}
    for src in SOURCES:
        if quick and src.name in QUICK_SKIP:
            skipped[src.name] = "left out in --quick"
            continue
        files = _source_files(data_dir, src, quick)
        if not files:
            skipped[src.name] = f"not found: {data_dir / src.relpath}"
            log(f"[data] skipping {src.name}: {data_dir / src.relpath} not found")
            continue
        plan.append((src, files))
    if not plan:
        log(f"[data] no benchmark data under {data_dir}: corpus benchmarks skipped")
        return None
    key_src = {"recipe": RECIPE_VERSION, "sources": [
        [s.name, s.format, json.dumps(s.options, sort_keys=True),
         [[f.name, f.stat().st_size, int(f.stat().st_mtime)] for f in files]] for s, files in plan]}
    key = hashlib.sha256(json.dumps(key_src, sort_keys=True).encode()).hexdigest()[:16]
    path = cache / f"{name}.h5"
    meta_path = cache / f"{name}.json"
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") == key:
            log(f"[data] using cached corpus {path} ({meta['frames']:,} frames)")
            return CorpusInfo(path, meta["sources"], skipped, meta["frames"], meta["valid"], None)
    log(f"[data] building the combined corpus {path} from {data_dir} ...")
    t0 = time.perf_counter()

    def clips():
        for src, files in plan:
            arg = files if len(files) > 1 or files[0].is_dir() else files[0]
            yield from iter_source(src.format, arg, **src.options)

    Corpus.ingest(path, clips(), overwrite=True)
    secs = time.perf_counter() - t0
    with Corpus.open(path) as c:
        counts: dict[str, int] = {}
        ids = c.clip_ids()
        ci = np.asarray(c.clip_indices())
        per_clip = np.bincount(ci, minlength=len(ids))
        names = np.array([_source_of(str(i)) for i in ids])
        for s in np.unique(names):
            counts[str(s)] = int(per_clip[names == s].sum())
        frames, valid = len(c), int(np.asarray(c.valid).sum())
    meta = {"key": key, "sources": counts, "frames": frames, "valid": valid, "seconds": round(secs, 1)}
    tmp = meta_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, meta_path)
    log(f"[data] built {frames:,} frames ({valid:,} valid) in {secs:.0f} s: {counts}")
    return CorpusInfo(path, counts, skipped, frames, valid, secs)


def _source_of(clip_id: str) -> str:
    """Source name of a clip id (``penn:0001`` -> penn, ``coco-val2017:...`` -> coco-val, ...)."""
    p = _clip_prefix(clip_id)
    if p.startswith("coco-val"):
        return "coco-val"
    if p.startswith("coco-train"):
        return "coco-train"
    if p == "pck":
        return "body25"
    return p


@dataclass
class BenchData:
    """Indexed vectors and held-out queries, all COCO-17 normalized vectors (see the module doc).

    Attributes:
        vectors: (M, 34) float32 indexed vectors (held-out clips removed); frame_ids: their corpus rows.
        confidences: (M, 17) float32 their confidences (used by vptree-pypi's Move Mirror build).
        keypoints: (M, 17, 2) float32 raw COCO-17 keypoints (NaN missing), for augmentation.
        queries: (B, 34) float64; query_ids: corpus rows; query_source: source name per query.
        weights: variant name -> (B, 17) float64 confidences.
        query_keypoints / query_conf: raw COCO-17 keypoints / real confidences of the queries.
    """

    corpus: CorpusInfo
    vectors: np.ndarray
    frame_ids: np.ndarray
    confidences: np.ndarray
    keypoints: np.ndarray
    queries: np.ndarray
    query_ids: np.ndarray
    query_source: np.ndarray
    weights: dict[str, np.ndarray]
    query_keypoints: np.ndarray
    held_out_frames: int
    source_counts: dict[str, int]
    cross: "CrossData | None" = None    # the cross-dataset set (:mod:`.crossdata`), set by the runner

    def describe(self) -> dict:
        src, cnt = np.unique(self.query_source, return_counts=True)
        return {"corpus_frames": self.corpus.frames, "corpus_valid_frames": self.corpus.valid,
                "corpus_sources": self.corpus.sources, "skipped_sources": self.corpus.skipped,
                "indexed_frames": int(len(self.vectors)), "held_out_frames": int(self.held_out_frames),
                "queries": int(len(self.queries)), "query_sources": {str(s): int(c) for s, c in zip(src, cnt)},
                "confidence_variants": list(self.weights),
                **({"cross": self.cross.describe()} if self.cross is not None else {})}


def load_bench_data(info: CorpusInfo, n_queries: int, seed: int) -> BenchData:
    """Read the corpus, draw the held-out queries (see the module doc) and the confidence variants."""
    from posesearch.corpus.store import Corpus

    rng = np.random.default_rng(seed)
    with Corpus.open(info.path) as c:
        vec = np.asarray(c.vectors(), dtype=np.float32)
        conf = np.asarray(c.confidences(), dtype=np.float32)
        kp = np.asarray(c.keypoints(), dtype=np.float32)
        valid = np.asarray(c.valid, dtype=bool)
        ci = np.asarray(c.clip_indices(), dtype=np.int64)
        ids = c.clip_ids()
    src_of_clip = np.array([_source_of(str(i)) for i in ids])
    src = src_of_clip[ci]
    cand = np.flatnonzero(valid & np.isin(src, QUERY_SOURCES) & (conf > 0).sum(axis=1).astype(bool))
    order = rng.permutation(cand)
    chosen, used = [], set()
    for r in order.tolist():
        cl = int(ci[r])
        if cl in used:
            continue
        used.add(cl)
        chosen.append(r)
        if len(chosen) >= n_queries:
            break
    q_ids = np.array(sorted(chosen), dtype=np.int64)
    held = np.isin(ci, np.fromiter(used, dtype=np.int64, count=len(used)))
    keep = valid & ~held
    frame_ids = np.flatnonzero(keep).astype(np.int64)
    qconf = conf[q_ids].astype(np.float64)
    present = qconf > 0
    weights = {"real": qconf,
               "estimator": np.where(present, rng.uniform(0.3, 1.0, size=qconf.shape), 0.0),
               "uniform": np.ones_like(qconf)}
    counts = {str(s): int(n) for s, n in zip(*np.unique(src[frame_ids], return_counts=True))}
    return BenchData(info, np.ascontiguousarray(vec[frame_ids]), frame_ids, np.ascontiguousarray(conf[frame_ids]),
                     np.ascontiguousarray(kp[frame_ids]), vec[q_ids].astype(np.float64), q_ids, src[q_ids],
                     weights, kp[q_ids], int(held.sum()), counts)


def augment(keypoints: np.ndarray, confidences: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` augmented normalized vectors (float32, (n, 34)) from random real poses (see the module doc)."""
    from posesearch.poses.layouts import COCO17
    from posesearch.poses.mirror import mirror
    from posesearch.poses.normalize import normalize_batch

    rng = np.random.default_rng(seed)
    out = np.empty((n, keypoints.shape[1] * 2), np.float32)
    done, step = 0, 200_000
    while done < n:
        m = min(step, n - done)
        base = rng.integers(0, len(keypoints), size=m)
        kp = keypoints[base].astype(np.float64)
        cf = confidences[base].astype(np.float64)
        present = (cf > 0) & ~np.isnan(kp).any(axis=-1)
        kp = np.where(present[..., None], kp, 0.0)
        flip = rng.random(m) < 0.5
        if flip.any():
            mk, mc = mirror(kp[flip], cf[flip], COCO17)
            kp[flip], cf[flip] = mk, mc
            present[flip] = (mc > 0)
        w = present.astype(np.float64)
        cnt = np.maximum(w.sum(axis=1, keepdims=True), 1.0)
        centre = (kp * w[..., None]).sum(axis=1) / cnt
        rel = kp - centre[:, None, :]
        ang = np.deg2rad(rng.uniform(-10.0, 10.0, size=m))
        ca, sa = np.cos(ang)[:, None], np.sin(ang)[:, None]
        x = rel[..., 0] * ca - rel[..., 1] * sa
        y = rel[..., 0] * sa + rel[..., 1] * ca
        x *= rng.uniform(0.9, 1.1, size=(m, 1))
        y *= rng.uniform(0.9, 1.1, size=(m, 1))
        big = np.inf
        ext_x = np.where(present, x, -big).max(1) - np.where(present, x, big).min(1)
        ext_y = np.where(present, y, -big).max(1) - np.where(present, y, big).min(1)
        h = np.hypot(np.nan_to_num(ext_x, posinf=0, neginf=0), np.nan_to_num(ext_y, posinf=0, neginf=0))[:, None]
        x += rng.normal(0.0, 1.0, size=x.shape) * 0.01 * h
        y += rng.normal(0.0, 1.0, size=y.shape) * 0.01 * h
        kp2 = np.stack([x, y], axis=-1)
        kp2 = np.where(present[..., None], kp2, 0.0)
        v, ok = normalize_batch(kp2, np.where(present, np.maximum(cf, 1e-6), 0.0), on_invalid="mask")
        v = v[ok]
        take = min(len(v), n - done)
        out[done:done + take] = v[:take]
        done += take
    return out


def corpus_of_size(data: BenchData, size: int, seed: int) -> tuple[np.ndarray, dict]:
    """(size, 34) float32 vectors: a random subset of the real indexed frames, or all of them plus
    augmented poses when ``size`` exceeds them. Subsets are nested (one permutation per seed)."""
    m = len(data.vectors)
    perm = np.random.default_rng(seed).permutation(m)
    if size <= m:
        rows = np.sort(perm[:size])
        return np.ascontiguousarray(data.vectors[rows]), {"real": size, "augmented": 0}
    extra = augment(data.keypoints, data.confidences, size - m, seed + 1)
    return np.ascontiguousarray(np.concatenate([data.vectors, extra])), {"real": m, "augmented": size - m}
