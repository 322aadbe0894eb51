"""One door for every pose or sequence input: any format ``ingest`` reads, as a Sequence.

:func:`read_input` turns a file or folder into a :class:`LoadedInput` — a
:class:`~posesearch.sequence.sequence.Sequence` (one frame for a single pose), the format it was read
as, the clip chosen, and what had to be **assumed** (layout, frame rate, camera view). Formats
(:data:`FORMATS`): ``pose`` and ``sequence`` files, every corpus reader (``coco``, ``yolo-npz``,
``openpose``, ``bvh``, ``penn-action``), a clip of a corpus (``corpus``: ``CORPUS.h5:CLIP_ID``) and, with
the ``video`` extra, a ``video`` or ``image`` file (poses found by :mod:`posesearch.video`).
Without ``format`` the format is detected from the suffix and, for JSON and .npz, the content.

A source holding several clips (a COCO file: one per person; an OpenPose folder: one per person; a
folder of Penn Action labels) needs a choice: ``clip=`` (or ``FILE:CLIP`` in the spec) naming a clip id
or its last parts (``ann:123``, ``p1``, ``0007``); an ambiguous or unknown choice is an error listing
the clips that exist.

``assumed`` maps what was assumed to ``{"value": ..., "why": ...}``, e.g. ``{"layout": {"value":
"penn13", "why": "no layout given; 13 keypoints fit only penn13"}}``. Every command puts it in its
output (``assumed`` in ``--json``, an ``assumed:`` line for people); :func:`describe_assumed` renders it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import FileFormatError, InvalidArgumentError
from .registry import Registry

#: format name -> what it reads
_FORMAT_TEXTS = {
    "pose": "single-pose file: JSON {layout, keypoints}, PoseNet-style JSON, or .npy (K, 3)",
    "sequence": "pose-sequence file: JSON {fps, layout, frames}, .npy (T, K, 3) or .npz; or a folder of them",
    "coco": "COCO keypoint annotations JSON (one clip per person)",
    "yolo-npz": "COCO persons as YOLO-pose .npz arrays (one clip per person)",
    "openpose": "OpenPose BODY_25 JSON: a folder of per-frame files (one clip per person) or a labelled set",
    "bvh": "BVH motion capture, projected to 2D (camera yaw 0, pitch 0)",
    "penn-action": "Penn Action label .mat file (or a folder of them)",
    "corpus": "a clip of a posesearch corpus: CORPUS.h5:CLIP_ID",
    "video": "a video file (.mp4, .avi, .mov, ...): poses found in every frame (the 'video' extra)",
    "image": "an image file (.jpg, .png, ...): the pose found in it (the 'video' extra)",
}
FORMATS: Registry[str] = Registry("input format", _FORMAT_TEXTS, descriptions=_FORMAT_TEXTS,
                                  aliases={"penn": "penn-action", "yolo": "yolo-npz", "seq": "sequence", "h5": "corpus"})
#: reader defaults that change the answer and are reported as assumed when used
#: readers whose frame rate is assumed when not given (the value: the reader's ``Options.fps``), and why
FPS_ASSUMED = {"openpose": "OpenPose does not record the frame rate",
               "penn-action": "Penn Action is filmed at 30 fps; its label files do not record it"}
_CORPUS_SUFFIXES = (".h5", ".hdf5")
_SHOWN = 8


@dataclass
class LoadedInput:
    """What :func:`read_input` read: the sequence (or, for a single-pose file, the pose), its format and
    source, the clip chosen and what was assumed."""

    seq: Any
    format: str
    source: str
    clip_id: str | None = None
    assumed: dict[str, dict[str, Any]] = field(default_factory=dict)
    pose: Any = None

    @property
    def sequence(self):
        """The input as a :class:`~posesearch.sequence.sequence.Sequence` (one frame for a single pose)."""
        if self.seq is None:
            from .sequence.sequence import Sequence

            p = self.pose
            self.seq = Sequence(p.keypoints, p.confidences, p.layout, None, None, self.source)
        return self.seq

    def poses(self):
        """The frames as a :class:`~posesearch.poses.pose.Poses` batch (one per frame), in the input's layout."""
        from .poses.pose import Poses

        if self.pose is not None:
            return self.pose
        s = self.seq
        return Poses(s.keypoints, s.confidences, s.layout)


def normalize_format(name) -> str:
    """The format name for ``name`` (case, ``_`` or ``-``); unknown names list the valid ones."""
    return FORMATS.canonical(name)


def split_spec(spec) -> tuple[Path, str | None]:
    """``FILE:CLIP`` -> (FILE, CLIP) when the whole spec is not itself a path and some prefix before a
    colon is an existing path; else (spec, None)."""
    text = str(spec)
    if Path(text).exists() or ":" not in text:
        return Path(text), None
    for m in re.finditer(":", text):
        head = text[:m.start()]
        if head and Path(head).exists():
            return Path(head), text[m.end():] or None
    m = re.match(r"^(.+\.(?:h5|hdf5)):(.+)$", text, re.IGNORECASE)   # a corpus clip, corpus missing
    if m:
        return Path(m.group(1)), m.group(2)
    return Path(text), None


def _json_kind(doc) -> str | None:
    if not isinstance(doc, dict):
        return None
    if "frames" in doc:
        return "sequence"
    if "annotations" in doc:
        return "coco"
    if "people" in doc or ("info" in doc and "data" in doc):
        return "openpose"
    if "keypoints" in doc:
        return "pose"
    return None


def _npy_ndim(path: Path) -> int | None:
    try:
        return int(np.load(path, mmap_mode="r", allow_pickle=False).ndim)   # the header only
    except Exception:   # noqa: BLE001 - unreadable: the reader reports it
        return None


def _npz_names(path: Path) -> list[str]:
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return [n[:-4] if n.endswith(".npy") else n for n in z.namelist()]
    except (zipfile.BadZipFile, OSError, ValueError):
        return []


def detect_format(path, prefer: str | None = None) -> tuple[str, Any]:
    """(format, parsed JSON or None) of a file or folder, from its suffix and content. A JSON file or
    unknown suffix that fits no format is read as ``prefer`` when given (its reader says what is wrong)."""
    from .safeio import MAX_POSE_FILE_BYTES, load_json, regular_file
    from .video.decode import media_kind

    p = Path(path)
    valid = f"give --format (one of: {', '.join(FORMATS)})"
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file())
        suffixes = {f.suffix.lower() for f in files}
        if ".bvh" in suffixes:
            return "bvh", None
        if ".mat" in suffixes:
            return "penn-action", None
        jsons = [f for f in files if f.suffix.lower() == ".json"]
        if jsons:
            kind = _json_kind(load_json(jsons[0], max_bytes=MAX_POSE_FILE_BYTES))
            if kind in ("openpose", "coco", "sequence"):
                return kind, None
        if suffixes & {".npy", ".npz"}:
            return "sequence", None
        if any(media_kind(f) for f in files):
            return "video", None
        raise FileFormatError(p, f"cannot tell the format of this folder; {valid}")
    kind = media_kind(p)
    if kind is not None:   # by suffix alone: decoding (and its errors) is the extra's job
        return kind, None
    regular_file(p, what="pose or sequence file")
    suffix = p.suffix.lower()
    if suffix == ".bvh":
        return "bvh", None
    if suffix == ".mat":
        return "penn-action", None
    if suffix in _CORPUS_SUFFIXES:
        return "corpus", None
    if suffix == ".npy":
        return ("pose" if _npy_ndim(p) == 2 else "sequence"), None
    if suffix == ".npz":
        return ("yolo-npz" if "kpts_norm" in _npz_names(p) else "sequence"), None
    if suffix == ".json":
        doc = load_json(p, max_bytes=MAX_POSE_FILE_BYTES)
        kind = _json_kind(doc)
        if kind is None and prefer in ("pose", "sequence"):
            return prefer, doc
        if kind is None:
            raise FileFormatError(p, "JSON with none of 'keypoints' (pose), 'frames' (sequence), 'annotations' "
                                     f"(coco), 'people' (openpose); cannot tell its format; {valid}")
        return kind, doc
    if prefer in ("pose", "sequence"):
        return prefer, None
    raise FileFormatError(p, f"unknown file type {p.suffix or '(none)'!r}; {valid}")


def choose_clip(source, ids: list[str], clip: str | None, clip_option: str | None = None) -> int:
    """Index of the chosen clip among ``ids`` (see the module doc); errors list what exists and how to
    choose (``source:ID``, or the command's ``clip_option`` such as ``--clip``)."""
    def listing() -> str:
        shown = ", ".join(ids[:_SHOWN])
        return shown + (f", ... ({len(ids)} in all)" if len(ids) > _SHOWN else "")

    if clip is None:
        if len(ids) == 1:
            return 0
        how = f"with {clip_option} ID or as {source}:ID" if clip_option else f"as {source}:ID"
        raise InvalidArgumentError(f"{source}: holds {len(ids)} clips; choose one {how}: {listing()}")
    if clip in ids:
        return ids.index(clip)
    hits = [i for i, c in enumerate(ids) if c.endswith(":" + clip)]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise InvalidArgumentError(f"{source}: clip {clip!r} is ambiguous: "
                                   f"{', '.join(ids[i] for i in hits[:_SHOWN])}")
    raise InvalidArgumentError(f"{source}: no clip {clip!r}; it holds: {listing()}")


def _read_clips(fmt: str, path: Path, clip: str | None, options: dict, clip_option: str | None = None):
    """The chosen Clip of a corpus-reader source (without materialising every clip of big batches)."""
    from .corpus.batch import ClipBatch
    from .corpus.readers import iter_source

    items = list(iter_source(fmt, [str(path)], **options))
    ids: list[str] = []
    where: list[tuple[int, int]] = []
    for n, it in enumerate(items):
        if isinstance(it, ClipBatch):
            ids += [str(c) for c in it.clip_ids]
            where += [(n, j) for j in range(len(it.clip_ids))]
        else:
            ids.append(str(it.clip_id))
            where.append((n, -1))
    if not ids:
        raise FileFormatError(path, f"no clips (no person with keypoints) in this {fmt} source")
    n, j = where[choose_clip(path, ids, clip, clip_option)]
    it = items[n]
    if j < 0:
        return it
    for k, c in enumerate(it.clips()):
        if k == j:
            return c


def _corpus_clip(path: Path, clip: str | None):
    from .corpus import Corpus

    if clip is None:
        raise InvalidArgumentError(f"{path}: a corpus holds many clips; name one as {path}:CLIP_ID")
    with Corpus.open(path) as corpus:
        try:
            return corpus.clip(clip)
        except KeyError:
            raise FileFormatError(path, f"no clip {clip!r} in this corpus") from None


def read_input(spec, *, format: str | None = None, layout=None, fps: float | None = None,
               clip: str | None = None, name: str | None = None, prefer: str | None = None,
               clip_option: str | None = None, progress=None, max_frames: int | None = None) -> LoadedInput:
    """Read ``spec`` (a path, or ``PATH:CLIP``) as a sequence; see the module doc.

    ``layout``: the keypoint layout of files that do not name one (an error when the source says
    otherwise); ``fps``: the frame rate when the source does not give one (for a sequence file it
    overrides the nominal fps, frame times in the file win); ``name``: what messages call the sequence;
    ``prefer``: the format (``pose`` or ``sequence``) whose reader explains a file that fits no format;
    ``clip_option``: the command's option for choosing a clip, named in errors (e.g. ``--clip``);
    ``progress(done, total)``: called after each frame while poses are found in a video or image;
    ``max_frames``: read at most the first N frames of a video (and allow one over the length limit; only
    for video and image inputs)."""
    from .poses.layouts import get_layout
    from .sequence.io import check_timing, read_sequence
    from .sequence.io import as_sequence
    from .sequence.sequence import sequence_from_clip

    path, spec_clip = split_spec(spec)
    if clip is not None and spec_clip is not None and clip != spec_clip:
        raise InvalidArgumentError(f"{spec}: names clip {spec_clip!r} but --clip {clip!r} was given")
    clip = clip if clip is not None else spec_clip
    if layout is not None and not isinstance(layout, str) and not hasattr(layout, "joints"):
        raise InvalidArgumentError(f"layout: expected a layout name, got {layout!r}")
    lay = get_layout(layout) if layout is not None else None
    if not path.exists():
        what = "corpus file" if path.suffix.lower() in _CORPUS_SUFFIXES else "file or folder"
        raise FileFormatError(path, f"no such {what}")
    doc = None
    if format is not None:
        fmt = normalize_format(format)
    else:
        fmt, doc = detect_format(path, prefer)
        if fmt == "pose" and prefer == "sequence":   # one pose is no performance: the sequence reader says so
            fmt = "sequence"
    assumed: dict[str, dict[str, Any]] = {}
    label = name or str(path)
    if max_frames is not None and fmt not in ("video", "image"):
        raise InvalidArgumentError(f"{path}: max_frames (--max-frames) limits the frames read from a video; this "
                                   f"input is {fmt}")
    if fmt == "pose" and path.is_dir():
        raise FileFormatError(path, "is a folder, expected a pose file")
    if fmt in ("pose", "sequence") and not path.is_dir():
        if clip is not None:
            raise InvalidArgumentError(f"{path}: a {fmt} file holds one clip; there is no clip {clip!r} to choose")
        if fmt == "pose":
            from .poses.io import read_pose_file

            poses = read_pose_file(path, layout=lay, assumed=assumed, doc=doc)
            return LoadedInput(None, fmt, str(path), None, assumed, pose=poses)
        else:
            seq = read_sequence(path, layout=lay, fps=fps, assumed=assumed, doc=doc)
            seq.name = label   # (replace() would validate every frame again)
        return LoadedInput(seq, fmt, str(path), None, assumed)
    if fmt in ("video", "image") and not path.is_dir():
        return _read_media(path, fmt, lay, clip, label, progress, max_frames)
    if fmt == "corpus":
        c = _corpus_clip(path, clip)
        seq = as_sequence(sequence_from_clip(c, name=label), fps=fps, layout=lay, name=label)
        check_timing(path, seq.fps, seq.times, len(seq))
        return LoadedInput(seq, fmt, str(path), c.clip_id, assumed)
    if fmt == "sequence":   # a folder of sequence files: one clip per file, chosen by file stem
        from .corpus.readers import sequence as seq_reader
        from .corpus.readers._paths import expand

        files = expand(path, seq_reader.PATTERNS, "pose-sequence files")
        f = files[choose_clip(path, [f"seq:{x.stem}" for x in files], clip, clip_option)]
        seq = read_sequence(f, layout=lay, fps=fps, assumed=assumed)
        seq.name = label
        return LoadedInput(seq, fmt, str(f), f"seq:{f.stem}", assumed)
    options: dict[str, Any] = {}
    if fmt in FPS_ASSUMED and fps is not None:
        options["fps"] = fps
    assumed.update(reader_assumptions(fmt, options))
    c = _read_clips(fmt, path, clip, options, clip_option)
    if lay is not None and get_layout(c.layout).name != lay.name:
        raise FileFormatError(path, f"layout: this {fmt} source is {get_layout(c.layout).name}, but {lay.name} "
                                    "was asked for")
    seq = sequence_from_clip(c, name=label)
    if fps is not None and fmt == "bvh":
        seq = as_sequence(seq, fps=fps, name=label)
    check_timing(path, seq.fps, seq.times, len(seq))
    return LoadedInput(seq, fmt, str(path), c.clip_id, assumed)


def _read_media(path: Path, fmt: str, layout, clip: str | None, label: str, progress,
                max_frames: int | None = None) -> LoadedInput:
    """A video (every frame's pose, container times) or an image (one pose), by the video extra; the
    extraction cache makes reading the same file again cheap. A frame rate given does not apply: the
    container's times do."""
    from .sequence.io import check_timing
    from .video.extract import extract

    if clip is not None:
        raise InvalidArgumentError(f"{path}: a {fmt} file holds one clip; there is no clip {clip!r} to choose")
    ex = extract(path, layout=layout, kind=fmt, progress=progress, max_frames=max_frames)
    assumed = dict(ex.assumed)
    if ex.truncated:
        assumed["max_frames"] = {"value": ex.frames, "why": f"--max-frames {max_frames}: the video's first "
                                                            f"{ex.frames:,} frames only"}
    seq = ex.sequence
    seq.name = label
    check_timing(path, seq.fps, seq.times, len(seq))
    if ex.kind == "image":
        from .poses.pose import Poses

        return LoadedInput(seq, "image", str(path), None, assumed,
                           pose=Poses(seq.keypoints, seq.confidences, seq.layout))
    return LoadedInput(seq, "video", str(path), None, assumed)


def reader_assumptions(fmt: str, options: dict) -> dict:
    """What a corpus reader assumes when ``options`` (its keyword arguments) leave a default that changes
    the data: the frame rate of OpenPose and Penn Action sources, the camera of BVH projections."""
    fmt = normalize_format(fmt)
    out: dict[str, dict[str, Any]] = {}
    if fmt in FPS_ASSUMED and options.get("fps") is None:
        from .corpus.readers import get_reader

        out["fps"] = {"value": get_reader(fmt).Options.fps, "why": f"no frame rate given; {FPS_ASSUMED[fmt]}"}
    if fmt == "bvh" and options.get("views") is None:
        out["view"] = {"value": "yaw 0" + ("" if options.get("pitch") is not None else ", pitch 0"),
                       "why": "no --views given; the bvh reader's default camera (in front of the subject)"}
    return out


def prefixed(assumed: dict, prefix: str) -> dict:
    """``assumed`` with each key prefixed (``"layout"`` -> ``"reference layout"``) for commands of two inputs."""
    return {f"{prefix} {k}": v for k, v in assumed.items()}


def describe_assumed(assumed: dict) -> str:
    """One line for people: ``assumed: layout penn13 (no layout given; ...); mirror off (...)``; "" if none."""
    if not assumed:
        return ""
    def show(v) -> str:
        return f"{v:g}" if isinstance(v, float) else str(v)

    parts = [f"{k} {show(v['value'])} ({v['why']})" for k, v in assumed.items()]
    return "assumed: " + "; ".join(parts)
