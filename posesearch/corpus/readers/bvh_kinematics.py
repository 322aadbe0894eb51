"""BVH motion files: parsing, forward kinematics and camera projection (pure numpy).

Parsing (:func:`parse_bvh`)
    HIERARCHY is read token by token with line numbers (so errors say ``line 12: ...``); the MOTION block
    is converted in one vectorized call. Every node is kept: ROOT/JOINT nodes under their names, ``End Site``
    nodes as ``<parent name>/End``. Problems raise :class:`~posesearch.errors.FileFormatError` naming the
    file and the problem (truncated MOTION, wrong value counts, non-numbers, unbalanced braces, ...).

Forward kinematics (:func:`forward_kinematics`), the usual BVH convention (column vectors)
    local rotation  R_j = R_{c1}(a1) @ R_{c2}(a2) @ R_{c3}(a3) for the rotation channels in file order,
                    angles in degrees, R_X/R_Y/R_Z the right-handed elementary rotations;
    local translation t_j = OFFSET_j + (position channel values, 0 for axes without one): position
                    channels are added to the OFFSET. The CMU/iClone files need this reading: roots named
                    CC_Base_Hip carry OFFSET (0, 105.2, 0) cm and Yposition values of a few cm; for the
                    common zero-OFFSET root it is the same as taking the channels as the translation;
    world           W_j = W_parent @ R_j,   p_j = p_parent + W_parent @ t_j   (roots: W_parent = I, p = 0).
    The loop runs over joints (only the requested ones and their ancestors); every step is vectorized
    over frames.

Camera (:func:`project`): points are in a right-handed **Y-up** world whose subject faces **+Z**
    (the BVH convention; the CMU reader rotates each clip so it does). A camera at yaw θ and pitch φ sits
    on the direction d = (cos φ sin θ, sin φ, cos φ cos θ) from the look-at target, at ``distance``:
    yaw 0 = in front of the subject (its left hand appears on the image RIGHT), yaw 90 = on the subject's
    left (a left-profile view), yaw 180 = behind; pitch > 0 = camera above, looking down. With camera axes
    right r = (cos θ, 0, -sin θ), forward f = -d, up u = r × f, a point p relative to the target q gives
    X = (p-q)·r, Y = (p-q)·u, depth = distance + (p-q)·f, and image-style coordinates (x right, y DOWN):
        perspective   x = focal · X / depth,     y = -focal · Y / depth
        orthographic  x = focal · X / distance,  y = -focal · Y / distance   (weak perspective: the
                      perspective image's scale at the target, without foreshortening; the two agree as
                      distance grows).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import FileFormatError, InvalidArgumentError
from ...registry import Registry

_CHANNELS = {f"{a}{k}": f"{a}{k}" for a in "XYZ" for k in ("position", "rotation")}
_CHANNELS_LOWER = {k.lower(): v for k, v in _CHANNELS.items()}


@dataclass(frozen=True)
class BVHSkeleton:
    """The HIERARCHY of a BVH file.

    Attributes:
        names: node names in file order (``End Site`` nodes are ``<parent>/End``).
        parents: (J,) parent index of each node, -1 for roots.
        offsets: (J, 3) OFFSET of each node (file units).
        channels: per node, its channel names in file order (``Xposition`` ... ``Zrotation``); () for End Sites.
        channel_start: (J,) column of each node's first channel in the MOTION rows.
    """

    names: tuple[str, ...]
    parents: np.ndarray
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    channel_start: np.ndarray

    @property
    def num_channels(self) -> int:
        return int(sum(len(c) for c in self.channels))

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(name) from None

    def ancestors(self, j: int) -> list[int]:
        """Indices from ``j`` up to its root (``j`` first)."""
        out = []
        while j >= 0:
            out.append(j)
            j = int(self.parents[j])
        return out


@dataclass(frozen=True)
class BVH:
    """A parsed BVH file: skeleton, motion (T, C) channel values in file order, frame time (s)."""

    skeleton: BVHSkeleton
    motion: np.ndarray
    frame_time: float
    source: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time


# ----------------------------------------------------------------------------------------------- parsing

def _tokens(lines: list[str]):
    """(token, 1-based line number) for every whitespace-separated token of ``lines``."""
    for n, line in enumerate(lines, start=1):
        for tok in line.split():
            yield tok, n


def _float(path, tok, line, what):
    try:
        v = float(tok)
    except ValueError:
        raise FileFormatError(path, f"line {line}: expected {what}, got {tok!r}") from None
    if not np.isfinite(v):
        raise FileFormatError(path, f"line {line}: expected a finite {what}, got {tok!r}")
    return v


def parse_bvh(path: "str | Path") -> BVH:
    """Read a BVH file (HIERARCHY + MOTION). Raises FileFormatError naming the file and the problem."""
    from ...safeio import read_bytes

    path = Path(path)
    if not path.exists():
        raise FileFormatError(path, "cannot read: no such file")
    raw = read_bytes(path, what="BVH file")   # regular files only, bounded size
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
            raise FileFormatError(path, "not a BVH file: not text") from None
    if "\x00" in text[:4096]:
        raise FileFormatError(path, "not a BVH file: binary content")
    lines = text.splitlines()
    # Locate the MOTION line (the hierarchy never contains that word as a token).
    motion_line = None
    for i, line in enumerate(lines):
        s = line.strip()
        if s.split()[:1] == ["MOTION"]:
            motion_line = i
            break
    hier = lines if motion_line is None else lines[:motion_line]
    skeleton = _parse_hierarchy(path, hier)
    if motion_line is None:
        raise FileFormatError(path, "truncated: no MOTION section after the HIERARCHY")
    motion, frame_time = _parse_motion(path, lines, motion_line, skeleton.num_channels)
    return BVH(skeleton, motion, frame_time, str(path))


def _parse_hierarchy(path, lines: list[str]) -> BVHSkeleton:
    toks = list(_tokens(lines))
    if not toks:
        raise FileFormatError(path, "not a BVH file: empty")
    if toks[0][0] != "HIERARCHY":
        tok = toks[0][0]
        shown = tok if len(tok) <= 20 else tok[:20] + "..."
        raise FileFormatError(path, f"not a BVH file: expected 'HIERARCHY' at line {toks[0][1]}, got {shown!r}")
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float] | None] = []
    channels: list[tuple[str, ...]] = []
    is_end: list[bool] = []
    stack: list[int] = []          # open nodes
    pending: int | None = None     # node declared, waiting for its "{"
    i, n = 1, len(toks)

    def need(k, what):
        if i + k >= n:
            last = toks[-1][1]
            raise FileFormatError(path, f"line {last}: truncated HIERARCHY, expected {what}")

    while i < n:
        tok, line = toks[i]
        if tok in ("ROOT", "JOINT"):
            if pending is not None:
                raise FileFormatError(path, f"line {line}: expected '{{' after {names[pending]!r}, got {tok!r}")
            if tok == "JOINT" and not stack:
                raise FileFormatError(path, f"line {line}: JOINT outside any ROOT")
            if tok == "ROOT" and stack:
                raise FileFormatError(path, f"line {line}: ROOT inside joint {names[stack[-1]]!r}")
            if stack and is_end[stack[-1]]:
                raise FileFormatError(path, f"line {line}: End Site cannot have child joints")
            # name = rest of the tokens on this line (names with spaces), minus a trailing "{"
            j = i + 1
            name_toks = []
            while j < n and toks[j][1] == line and toks[j][0] != "{":
                name_toks.append(toks[j][0])
                j += 1
            if not name_toks:
                raise FileFormatError(path, f"line {line}: {tok} without a name")
            name = " ".join(name_toks)
            if name in names:
                raise FileFormatError(path, f"line {line}: duplicate joint name {name!r}")
            names.append(name)
            parents.append(stack[-1] if stack else -1)
            offsets.append(None)
            channels.append(())
            is_end.append(False)
            pending = len(names) - 1
            i = j
        elif tok == "End":
            if pending is not None:
                raise FileFormatError(path, f"line {line}: expected '{{' after {names[pending]!r}, got {tok!r}")
            if not stack:
                raise FileFormatError(path, f"line {line}: End Site outside any joint")
            need(1, "'Site' after 'End'")
            if toks[i + 1][0] != "Site":
                raise FileFormatError(path, f"line {toks[i + 1][1]}: expected 'Site' after 'End', got {toks[i + 1][0]!r}")
            parent = stack[-1]
            if is_end[parent]:
                raise FileFormatError(path, f"line {line}: End Site cannot have child joints")
            name = f"{names[parent]}/End"
            k = 2
            while name in names:
                name = f"{names[parent]}/End{k}"
                k += 1
            names.append(name)
            parents.append(parent)
            offsets.append(None)
            channels.append(())
            is_end.append(True)
            pending = len(names) - 1
            i += 2
        elif tok == "{":
            if pending is None:
                raise FileFormatError(path, f"line {line}: unexpected '{{'")
            stack.append(pending)
            pending = None
            i += 1
        elif tok == "}":
            if pending is not None:
                raise FileFormatError(path, f"line {line}: expected '{{' after {names[pending]!r}, got '}}'")
            if not stack:
                raise FileFormatError(path, f"line {line}: unbalanced '}}'")
            j = stack.pop()
            if offsets[j] is None:
                raise FileFormatError(path, f"line {line}: joint {names[j]!r} has no OFFSET")
            i += 1
        elif tok == "OFFSET":
            if not stack or pending is not None:
                raise FileFormatError(path, f"line {line}: OFFSET outside a joint's braces")
            need(3, "3 OFFSET values")
            offsets[stack[-1]] = [_float(path, toks[i + k][0], toks[i + k][1], "an OFFSET number")
                                  for k in (1, 2, 3)]
            i += 4
        elif tok == "CHANNELS":
            if not stack or pending is not None:
                raise FileFormatError(path, f"line {line}: CHANNELS outside a joint's braces")
            j = stack[-1]
            if is_end[j]:
                raise FileFormatError(path, f"line {line}: End Site cannot have CHANNELS")
            need(1, "CHANNELS count")
            ctok, cline = toks[i + 1]
            try:
                count = int(ctok)
            except ValueError:
                raise FileFormatError(path, f"line {cline}: expected CHANNELS count, got {ctok!r}") from None
            if not 0 <= count <= 6:
                raise FileFormatError(path, f"line {cline}: expected a CHANNELS count of 0 to 6, got {count}")
            chans = []
            for k in range(count):
                if i + 2 + k >= n:
                    raise FileFormatError(path, f"line {cline}: CHANNELS says {count} channels, found {k}")
                c, cl = toks[i + 2 + k]
                if c.lower() not in _CHANNELS_LOWER:
                    raise FileFormatError(
                        path, f"line {cl}: expected a channel name (Xposition ... Zrotation), got {c!r}"
                        + (f" (CHANNELS says {count} channels, found {k})" if cl == cline else ""))
                chans.append(_CHANNELS_LOWER[c.lower()])
            if len(set(chans)) != len(chans):
                raise FileFormatError(path, f"line {cline}: repeated channel in {' '.join(chans)}")
            channels[j] = tuple(chans)
            i += 2 + count
        else:
            raise FileFormatError(path, f"line {line}: unexpected {tok!r} in HIERARCHY")
    if pending is not None:
        raise FileFormatError(path, f"line {toks[-1][1]}: truncated HIERARCHY, {names[pending]!r} has no body")
    if stack:
        raise FileFormatError(path, f"line {toks[-1][1]}: truncated HIERARCHY, {len(stack)} unclosed '{{'")
    if not names:
        raise FileFormatError(path, "HIERARCHY has no ROOT")
    counts = np.array([len(c) for c in channels])
    start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return BVHSkeleton(tuple(names), np.asarray(parents, dtype=np.int64),
                       np.asarray(offsets, dtype=np.float64), tuple(channels), start)


def _parse_motion(path, lines: list[str], motion_line: int, num_channels: int) -> tuple[np.ndarray, float]:
    """Frames / Frame Time header then the data rows. ``motion_line`` is the 0-based index of 'MOTION'."""
    extra = lines[motion_line].split()[1:]
    if extra:
        raise FileFormatError(path, f"line {motion_line + 1}: unexpected {extra[0]!r} after MOTION")
    i = motion_line + 1

    def header(label: str):
        """Next non-blank line must be '<label> value'; returns (value token, 1-based line number)."""
        nonlocal i
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i >= len(lines):
            raise FileFormatError(path, f"truncated: MOTION section ends before '{label}'")
        words, label_words = lines[i].split(), label.split()
        line_no = i + 1
        i += 1
        if words[:len(label_words)] != label_words:
            raise FileFormatError(path, f"line {line_no}: expected '{label}', got {' '.join(words[:3])!r}")
        vals = words[len(label_words):]
        if len(vals) != 1:
            raise FileFormatError(path, f"line {line_no}: expected one value after '{label}', got {len(vals)}")
        return vals[0], line_no

    tok, ln = header("Frames:")
    try:
        frames = int(tok)
    except ValueError:
        raise FileFormatError(path, f"line {ln}: expected a frame count after 'Frames:', got {tok!r}") from None
    if frames < 0:
        raise FileFormatError(path, f"line {ln}: expected a frame count >= 0, got {frames}")
    tok, ln = header("Frame Time:")
    ft = _float(path, tok, ln, "a frame time in seconds")
    if ft <= 0:
        raise FileFormatError(path, f"line {ln}: expected a positive frame time, got {tok!r}")
    from ...sequence.io import MAX_FPS, MIN_FPS

    if not (1.0 / MAX_FPS <= ft <= 1.0 / MIN_FPS):   # 5e-324 s would be an infinite frame rate
        raise FileFormatError(path, f"line {ln}: frame time {tok} s is outside {1.0 / MAX_FPS:g} to "
                                    f"{1.0 / MIN_FPS:g} s (a frame rate between {MIN_FPS:g} and {MAX_FPS:g} fps)")
    first_data = i  # 0-based index of the first data line
    data_lines = lines[first_data:]
    # drop trailing blank lines
    end = len(data_lines)
    while end and not data_lines[end - 1].strip():
        end -= 1
    data_lines = data_lines[:end]
    if num_channels == 0:  # a static skeleton: frames are empty rows
        if any(line.strip() for line in data_lines):
            raise FileFormatError(path, "HIERARCHY declares no CHANNELS but the MOTION section has data")
        return np.zeros((frames, 0)), ft
    if frames == 0:
        if data_lines:
            raise FileFormatError(path, f"MOTION section says 0 frames but has {len(data_lines)} data lines")
        return np.zeros((0, num_channels)), ft
    motion = None
    if data_lines:
        try:
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                motion = np.loadtxt(data_lines, dtype=np.float64, ndmin=2, comments=None)
        except ValueError:
            motion = None
        if motion is not None and motion.shape != (frames, num_channels):
            motion = None
    if motion is None:
        _diagnose_motion(path, data_lines, first_data, frames, num_channels)
    bad = ~np.isfinite(motion)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise FileFormatError(path, f"line {first_data + r + 1}: non-finite value {motion[r, c]:g} in MOTION data")
    return motion, ft


def _diagnose_motion(path, data_lines, first_data, frames, num_channels):
    """Find why the MOTION block does not parse as frames x num_channels numbers; always raises."""
    counts = []
    for k, line in enumerate(data_lines):
        toks = line.split()
        if not toks:
            raise FileFormatError(path, f"line {first_data + k + 1}: blank line inside MOTION data")
        for t in toks:
            try:
                float(t)
            except ValueError:
                raise FileFormatError(
                    path, f"line {first_data + k + 1}: expected a number in MOTION data, got {t!r}") from None
        counts.append(len(toks))
    counts = np.asarray(counts)
    if counts.size and np.all(counts == counts[0]) and counts[0] != num_channels:
        raise FileFormatError(path, f"MOTION section has {len(counts)} frames of {counts[0]} values, "
                                    f"expected {num_channels} (the CHANNELS count)")
    wrong = np.flatnonzero(counts != num_channels)
    if wrong.size:
        k = int(wrong[0])
        cut = " (truncated?)" if k == len(counts) - 1 and counts[k] < num_channels else ""
        raise FileFormatError(path, f"line {first_data + k + 1}: MOTION frame {k + 1} has {counts[k]} values, "
                                    f"expected {num_channels}{cut}")
    if len(counts) < frames:
        raise FileFormatError(path, f"truncated: MOTION section has {len(counts)} frames, header says {frames}")
    if len(counts) > frames:
        raise FileFormatError(path, f"MOTION section has {len(counts)} frames, header says {frames}")
    raise FileFormatError(path, "MOTION data could not be read")  # pragma: no cover


# ------------------------------------------------------------------------------------ forward kinematics

def axis_rotation(axis: str, degrees: np.ndarray) -> np.ndarray:
    """(…, 3, 3) right-handed rotation matrices about ``axis`` ('X', 'Y' or 'Z') by ``degrees``."""
    a = np.radians(np.asarray(degrees, dtype=np.float64))
    c, s = np.cos(a), np.sin(a)
    out = np.zeros(a.shape + (3, 3))
    i = "XYZ".index(axis.upper())
    j, k = (i + 1) % 3, (i + 2) % 3
    out[..., i, i] = 1.0
    out[..., j, j] = c
    out[..., k, k] = c
    out[..., j, k] = -s
    out[..., k, j] = s
    return out


def euler_to_matrix(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """R = R_{order[0]}(a0) @ R_{order[1]}(a1) @ ... for (…, len(order)) angles in degrees -> (…, 3, 3)."""
    angles_deg = np.asarray(angles_deg, dtype=np.float64)
    R = None
    for n, ax in enumerate(order):
        Ra = axis_rotation(ax, angles_deg[..., n])
        R = Ra if R is None else R @ Ra
    if R is None:
        return np.broadcast_to(np.eye(3), angles_deg.shape[:-1] + (3, 3)).copy()
    return R


def forward_kinematics(bvh: BVH, joints: "list[str] | list[int] | None" = None, *,
                       frames: "slice | np.ndarray | None" = None) -> np.ndarray:
    """World positions (T, J, 3) in file units of the requested nodes (names or indices; default all).

    Only the requested nodes and their ancestors are computed; ``frames`` selects motion rows first.
    """
    sk = bvh.skeleton
    motion = bvh.motion if frames is None else bvh.motion[frames]
    T = motion.shape[0]
    if joints is None:
        want = list(range(len(sk.names)))
    else:
        want = []
        for j in joints:
            if isinstance(j, (int, np.integer)):
                if not 0 <= j < len(sk.names):
                    raise InvalidArgumentError(f"joints: index {j} out of range 0..{len(sk.names) - 1}")
                want.append(int(j))
            else:
                try:
                    want.append(sk.index(j))
                except KeyError:
                    raise InvalidArgumentError(f"joints: no joint named {j!r} in {bvh.source or 'the BVH'}") from None
    needed = sorted({a for j in want for a in sk.ancestors(j)})  # parents come before children in file order
    pos: dict[int, np.ndarray] = {}
    rot: dict[int, np.ndarray] = {}
    for j in needed:
        chans = sk.channels[j]
        c0 = int(sk.channel_start[j])
        t = np.broadcast_to(sk.offsets[j], (T, 3)).copy()
        rot_cols, rot_axes = [], ""
        for k, c in enumerate(chans):
            if c.endswith("position"):
                t[:, "XYZ".index(c[0])] += motion[:, c0 + k]
            else:
                rot_cols.append(c0 + k)
                rot_axes += c[0]
        R = euler_to_matrix(motion[:, rot_cols], rot_axes) if rot_axes else None
        p = int(sk.parents[j])
        if p < 0:
            pos[j] = t
            rot[j] = R if R is not None else np.broadcast_to(np.eye(3), (T, 3, 3))
        else:
            pos[j] = pos[p] + np.einsum("tij,tj->ti", rot[p], t)
            rot[j] = rot[p] @ R if R is not None else rot[p]
    if T == 0:
        return np.zeros((0, len(want), 3))
    return np.stack([pos[j] for j in want], axis=1)


# ------------------------------------------------------------------------------------------- projection

PROJECTIONS: Registry[str] = Registry("projection", ("orthographic", "perspective"))


def camera_axes(yaw_deg: float, pitch_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Camera (right, up, forward) unit vectors in the Y-up world for a camera at yaw/pitch (see module doc)."""
    th, ph = np.radians(float(yaw_deg)), np.radians(float(pitch_deg))
    d = np.array([np.cos(ph) * np.sin(th), np.sin(ph), np.cos(ph) * np.cos(th)])
    right = np.array([np.cos(th), 0.0, -np.sin(th)])
    fwd = -d
    up = np.cross(right, fwd)
    return right, up, fwd


def project(points3d: np.ndarray, yaw_deg: float = 0.0, pitch_deg: float = 0.0, distance: float = 4.0, *,
            projection: str = "orthographic", focal: float = 1000.0, target: "np.ndarray | None" = None,
            return_depth: bool = False):
    """Project (T, J, 3) Y-up points (subject facing +Z) to (T, J, 2) image coordinates (x right, y down).

    ``target`` is the look-at point: (3,) for a fixed camera or (T, 3) for a camera that moves with it
    (same yaw/pitch every frame); default the mean of all points. ``distance`` (same units as the points)
    is the camera's distance from the target. With ``return_depth`` also returns (T, J) depths along the
    view axis (distance + offset; the camera is at depth 0). Perspective raises InvalidArgumentError if a
    point is not in front of the camera (depth <= 1% of ``distance``).
    """
    projection = PROJECTIONS.canonical(projection)
    from ...errors import check_finite_positive
    distance = check_finite_positive("distance", distance)
    focal = check_finite_positive("focal", focal)
    for name, v in (("yaw", yaw_deg), ("pitch", pitch_deg)):
        if not np.isfinite(float(v)):
            raise InvalidArgumentError(f"{name}: expected a finite angle in degrees, got {v!r}")
    if not -90.0 < float(pitch_deg) < 90.0:
        raise InvalidArgumentError(f"pitch: expected an angle strictly between -90 and 90 degrees, got {pitch_deg!r}")
    P = np.asarray(points3d, dtype=np.float64)
    if P.ndim != 3 or P.shape[-1] != 3:
        raise InvalidArgumentError(f"points3d: expected shape (T, J, 3), got {P.shape}")
    if target is None:
        q = P.reshape(-1, 3).mean(axis=0) if P.size else np.zeros(3)
    else:
        q = np.asarray(target, dtype=np.float64)
    if q.shape == (3,):
        rel = P - q
    elif q.shape == (P.shape[0], 3):
        rel = P - q[:, None, :]
    else:
        raise InvalidArgumentError(f"target: expected shape (3,) or ({P.shape[0]}, 3), got {q.shape}")
    right, up, fwd = camera_axes(yaw_deg, pitch_deg)
    X = rel @ right
    Y = rel @ up
    depth = distance + rel @ fwd
    if projection == "perspective":
        if depth.size and depth.min() <= 0.01 * distance:
            raise InvalidArgumentError(
                f"distance: a point lies at depth {depth.min():.3g}, behind or too close to a camera at distance "
                f"{distance:g} from its target; use a larger distance or a camera that follows the subject")
        scale = focal / depth
    else:
        scale = focal / distance
    xy = np.stack([X * scale, -Y * scale], axis=-1)
    return (xy, depth) if return_depth else xy
