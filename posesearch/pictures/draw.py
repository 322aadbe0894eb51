"""Skeleton drawing: limb colours per side and limb, a skeleton on matplotlib axes or burnt into an RGB image,
and the PNG writing every picture goes through.

Colours follow one rule for every layout of :data:`posesearch.poses.layouts.LAYOUTS`: the person's *left*
limbs are warm (left arm red, left leg orange), the *right* limbs cool (right arm blue, right leg cyan), the
head purple and the torso grey. A bone belongs to an arm when one of its ends is an elbow, wrist or hand
joint, to a leg when one end is a knee, ankle or foot joint, to the head when one end is a face or head
joint, else to the torso (shoulder-hip, neck-shoulder, pelvis-hip).

A joint is drawn only when it is present: finite coordinates and a confidence above ``min_confidence``; a
bone only when both its ends are. matplotlib (Agg) is imported only when a figure is made;
:func:`draw_on_image` is plain numpy (the video overlay calls it once per frame).
"""
from __future__ import annotations

import io
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import InvalidArgumentError, InvalidPoseError
from ..poses.layouts import Layout, get_layout

#: bone group -> colour (hex)
LIMB_COLORS: dict[str, str] = {
    "left_arm": "#e6194b", "left_leg": "#f58231",
    "right_arm": "#4363d8", "right_leg": "#17becf",
    "head": "#911eb4", "torso": "#4d4d4d",
}
#: the colour of the worst joints in score pictures, and of a reference skeleton drawn under a user's
WORST_COLOR = "#d62728"
REFERENCE_COLOR = "#9a9a9a"
#: a joint below this confidence is not drawn
MIN_CONFIDENCE = 0.1

_ARM = ("elbow", "wrist", "pinky", "index", "thumb", "hand")
_LEG = ("knee", "ankle", "heel", "toe", "foot")
_HEAD = ("nose", "eye", "ear", "mouth", "head", "upper_neck")


def _side_and_part(joint: str) -> tuple[str, str]:
    side = "left" if joint.startswith("left_") else "right" if joint.startswith("right_") else ""
    base = joint[len(side) + 1:] if side else joint
    if any(w in base for w in _HEAD):
        return side, "head"
    if any(w in base for w in _ARM):
        return side, "arm"
    if any(w in base for w in _LEG):
        return side, "leg"
    return side, "torso"


def bone_group(layout: "str | Layout", edge: tuple[int, int]) -> str:
    """The group (a key of :data:`LIMB_COLORS`) of one bone of ``layout``."""
    lay = get_layout(layout)
    (sa, pa), (sb, pb) = (_side_and_part(lay.joints[i]) for i in edge)
    if "head" in (pa, pb):
        return "head"
    side = sa or sb
    if sa and sb and sa != sb:
        return "torso"
    for part in ("arm", "leg"):
        if part in (pa, pb) and side:
            return f"{side}_{part}"
    return "torso"


def joint_group(layout: "str | Layout", joint: int) -> str:
    """The group of one joint (shoulders count with the arm, hips with the leg)."""
    name = get_layout(layout).joints[joint]
    side, part = _side_and_part(name)
    if part == "torso" and side:
        part = "arm" if "shoulder" in name else "leg" if "hip" in name else part
    if part in ("arm", "leg") and side:
        return f"{side}_{part}"
    return "head" if part == "head" else "torso"


@lru_cache(maxsize=None)
def bone_colors(layout: "str | Layout") -> tuple[str, ...]:
    """One colour per bone of ``layout.edges``."""
    lay = get_layout(layout)
    return tuple(LIMB_COLORS[bone_group(lay, e)] for e in lay.edges)


@lru_cache(maxsize=None)
def joint_colors(layout: "str | Layout") -> tuple[str, ...]:
    lay = get_layout(layout)
    return tuple(LIMB_COLORS[joint_group(lay, j)] for j in range(lay.num_keypoints))


def split_pose(keypoints, confidences=None, layout: "str | Layout | None" = None, *, name: str = "pose",
               min_confidence: float = MIN_CONFIDENCE) -> tuple[np.ndarray, np.ndarray, Layout]:
    """(J, 2) coordinates, (J,) bool present and the layout of a (J, 2) or (J, 3) pose (a third column is
    the confidence, as are ``confidences``). Present: finite coordinates and confidence > ``min_confidence``."""
    from ..poses.layouts import layout_for_count

    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 2 or kp.shape[1] not in (2, 3):
        raise InvalidPoseError(f"{name}: expected keypoints of shape (J, 2) or (J, 3), got {kp.shape}")
    lay = get_layout(layout) if layout is not None else layout_for_count(kp.shape[0])
    if kp.shape[0] != lay.num_keypoints:
        raise InvalidPoseError(f"{name}: layout {lay.name} has {lay.num_keypoints} joints, got {kp.shape[0]}")
    conf = kp[:, 2] if kp.shape[1] == 3 else None
    if confidences is not None:
        conf = np.asarray(confidences, dtype=np.float64).reshape(-1)
    xy = kp[:, :2]
    present = np.isfinite(xy).all(axis=1)
    if conf is not None:
        present &= np.nan_to_num(conf, nan=0.0) > min_confidence
    return xy, present, lay


# ----------------------------------------------------------------------------- matplotlib


def new_figure(width: float, height: float, dpi: int = 100):
    """A matplotlib Figure on the Agg canvas (no display needed, no global pyplot state)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=dpi)


def draw_skeleton(ax, keypoints, layout: "str | Layout | None" = None, confidences=None, *,
                  color: str | None = None, linewidth: float = 2.4, joint_size: float = 14.0, alpha: float = 1.0,
                  zorder: float = 2.0, highlight=None, highlight_color: str = WORST_COLOR,
                  min_confidence: float = MIN_CONFIDENCE, label: str | None = None) -> np.ndarray:
    """Draw a pose on matplotlib axes (data coordinates = the pose's). Bones take their limb colour, or
    ``color`` for all; ``highlight`` (joint indices) get a larger ring of ``highlight_color``. Returns the
    (J,) present mask."""
    from matplotlib.collections import LineCollection

    xy, present, lay = split_pose(keypoints, confidences, layout, min_confidence=min_confidence)
    segs, cols = [], []
    for e, c in zip(lay.edges, bone_colors(lay)):
        if present[e[0]] and present[e[1]]:
            segs.append(xy[list(e)])
            cols.append(color or c)
    if segs:
        ax.add_collection(LineCollection(segs, colors=cols, linewidths=linewidth, alpha=alpha, zorder=zorder,
                                         capstyle="round", label=label))
    pts = np.flatnonzero(present)
    if len(pts):
        jc = [color or joint_colors(lay)[j] for j in pts]
        ax.scatter(xy[pts, 0], xy[pts, 1], s=joint_size, c=jc, alpha=alpha, zorder=zorder + 0.1,
                   edgecolors="white", linewidths=0.5)
    if highlight is not None:
        hi = [j for j in np.asarray(highlight, dtype=int).reshape(-1) if present[j]]
        if hi:
            ax.scatter(xy[hi, 0], xy[hi, 1], s=joint_size * 6, facecolors="none", edgecolors=highlight_color,
                       linewidths=2.0, zorder=zorder + 0.2)
    return present


def pose_box(poses, *, pad: float = 0.12, min_size: float = 1e-6) -> tuple[float, float, float, float] | None:
    """(x0, x1, y0, y1) around the present joints of several ``(xy, present)`` pairs, padded by ``pad`` of
    the larger side and made square (so equal-aspect panels fill their box). None when nothing is present."""
    pts = [xy[p] for xy, p in poses if p.any()]
    if not pts:
        return None
    allp = np.concatenate(pts)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    c = (lo + hi) / 2
    half = max(float((hi - lo).max()) / 2, min_size) * (1 + 2 * pad)
    return c[0] - half, c[0] + half, c[1] - half, c[1] + half


def pose_axes(ax, box, *, image_coords: bool = True) -> None:
    """Equal-aspect axes without ticks showing ``box`` (x0, x1, y0, y1); y points down as in images."""
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    if box is not None:
        x0, x1, y0, y1 = box
        ax.set_xlim(x0, x1)
        ax.set_ylim((y1, y0) if image_coords else (y0, y1))
    for s in ax.spines.values():
        s.set_color("#cccccc")


def limb_legend_handles(groups=("left_arm", "left_leg", "right_arm", "right_leg")):
    """Legend entries for the limb colours ("left arm", ...)."""
    from matplotlib.lines import Line2D

    return [Line2D([], [], color=LIMB_COLORS[g], lw=2.5, label=g.replace("_", " ")) for g in groups]


# ----------------------------------------------------------------------------- files


def check_png_path(path, *, what: str = "--plot") -> Path:
    """Refuse, before any work, a picture path that cannot be written: not ending in .png, a folder, a
    missing or unwritable folder, a read-only file. Returns the path."""
    from ..files.atomic import check_writable_target

    out = Path(path)
    if os.fspath(path).endswith(("/", os.sep)) or out.is_dir():
        raise InvalidArgumentError(f"{what} {path}: is a folder, expected a file path ending in .png "
                                   f"(e.g. {out / 'picture.png'})")
    if out.suffix.lower() != ".png":
        raise InvalidArgumentError(f"{what} {path}: the picture is a PNG image; expected a file name ending in "
                                   f".png, got {out.suffix or 'no suffix'!r}")
    folder = out.parent
    if not folder.is_dir():
        raise InvalidArgumentError(f"{what} {path}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidArgumentError(f"{what} {path}: folder {str(folder)!r} is not writable")
    if os.path.lexists(out):
        check_writable_target(Path(os.path.realpath(out)), out)
    return out


def save_png(fig, path, *, what: str = "--plot") -> Path:
    """Write ``fig`` as a PNG, atomically (:func:`posesearch.files.atomic_write`); the path is checked
    first (:func:`check_png_path`)."""
    from ..files import atomic_write

    out = check_png_path(path, what=what)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    try:
        atomic_write(out, lambda f: f.write(buf.getvalue()))
    except OSError as e:
        raise InvalidArgumentError(f"{what} {path}: cannot write ({e.strerror or e})") from None
    return out


# ----------------------------------------------------------------------------- images


def to_rgb(color) -> tuple[int, int, int]:
    """A colour (hex text, matplotlib name, or 0-1 / 0-255 RGB tuple) as 0-255 RGB."""
    if isinstance(color, str):
        from matplotlib.colors import to_rgb as mpl_rgb

        try:
            return tuple(int(round(255 * c)) for c in mpl_rgb(color))    # type: ignore[return-value]
        except ValueError:
            raise InvalidArgumentError(f"color: expected a colour name or #rrggbb, got {color!r}") from None
    c = tuple(float(v) for v in color)
    if len(c) != 3:
        raise InvalidArgumentError(f"color: expected 3 RGB values, got {len(c)}")
    if all(0 <= v <= 1 for v in c):      # matplotlib's 0-1 floats
        c = tuple(v * 255 for v in c)
    return tuple(int(round(min(max(v, 0), 255))) for v in c)    # type: ignore[return-value]


def _paint_segment(img: np.ndarray, p, q, radius: float, rgb) -> None:
    h, w = img.shape[:2]
    x0 = max(int(np.floor(min(p[0], q[0]) - radius)), 0)
    x1 = min(int(np.ceil(max(p[0], q[0]) + radius)) + 1, w)
    y0 = max(int(np.floor(min(p[1], q[1]) - radius)), 0)
    y1 = min(int(np.ceil(max(p[1], q[1]) + radius)) + 1, h)
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1]
    d = np.array([q[0] - p[0], q[1] - p[1]], dtype=np.float64)
    n2 = float(d @ d)
    px, py = xs - p[0], ys - p[1]
    t = np.clip((px * d[0] + py * d[1]) / n2, 0.0, 1.0) if n2 > 0 else np.zeros_like(px, dtype=np.float64)
    dist2 = (px - t * d[0]) ** 2 + (py - t * d[1]) ** 2
    img[y0:y1, x0:x1][dist2 <= radius * radius] = rgb


def draw_on_image(image: np.ndarray, keypoints, layout: "str | Layout | None" = None, color=None, *,
                  confidences=None, thickness: int | None = None,
                  min_confidence: float = MIN_CONFIDENCE) -> np.ndarray:
    """A copy of ``image`` (H, W, 3 uint8) with the skeleton drawn on it. ``keypoints`` (J, 2) or (J, 3)
    are in pixels (x = column, y = row); bones take their limb colour, or ``color`` (hex, name or RGB)
    for all; joints are dots of the bone colour. ``thickness``: bone width in pixels (default about 1/150
    of the shorter image side, at least 2)."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise InvalidArgumentError(f"image: expected an (H, W, 3) uint8 RGB array, got {img.shape} {img.dtype}")
    out = img.copy()
    xy, present, lay = split_pose(keypoints, confidences, layout, min_confidence=min_confidence)
    if thickness is None:
        thickness = max(2, int(round(min(img.shape[:2]) / 150)))
    radius = max(float(thickness) / 2, 0.5)
    one = None if color is None else to_rgb(color)
    for e, c in zip(lay.edges, bone_colors(lay)):
        if present[e[0]] and present[e[1]]:
            _paint_segment(out, xy[e[0]], xy[e[1]], radius, one or to_rgb(c))
    for j in np.flatnonzero(present):
        _paint_segment(out, xy[j], xy[j], radius * 1.6, one or to_rgb(joint_colors(lay)[j]))
    return out


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")

#: decodes frame ``n`` of a video file as (H, W, 3) uint8 RGB, or returns None; set by the video extra
#: through :func:`set_video_frame_reader` (pictures never decode video themselves)
_video_frame_reader = None


def set_video_frame_reader(reader) -> None:
    """Install ``reader(path: str, frame: int) -> np.ndarray (H, W, 3) uint8 | None`` for video sources
    (None removes it). Match pictures then draw a reference skeleton over its video frame."""
    global _video_frame_reader
    _video_frame_reader = reader


def read_image(path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB (Pillow, a matplotlib dependency)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise InvalidArgumentError(f"{path}: cannot read the image ({e})") from None


def source_frame(source: str, frame: int = 0, labels: dict | None = None) -> np.ndarray | None:
    """The picture a corpus frame came from, when it is still on disk: ``source`` itself when it is an
    image; frame ``frame`` of ``source`` when it is a video and a video reader is installed
    (:func:`set_video_frame_reader`); the image named by a ``file_name`` label beside ``source`` (COCO's
    annotation file next to its images). None otherwise, or when the file cannot be read."""
    if not source:
        return None
    src = Path(source)
    candidates = []
    if src.suffix.lower() in IMAGE_SUFFIXES:
        candidates.append(src)
    elif src.suffix.lower() in VIDEO_SUFFIXES:
        if _video_frame_reader is None or not src.is_file():
            return None
        try:
            return _video_frame_reader(str(src), int(frame))
        except Exception:      # a picture without its background is still a picture
            return None
    name = (labels or {}).get("file_name")
    if name:
        split = (labels or {}).get("split", "")
        candidates += [src.parent / str(name), src.parent / str(split) / str(name),
                       src.parent / "images" / str(name)]
    for c in candidates:
        if c.is_file():
            try:
                return read_image(c)
            except InvalidArgumentError:
                return None
    return None
