"""Pictures, checked as a person would look at them (issue 17): the PNG exists, has the expected size and is
not blank; a hand-made pose puts its limb colours where its limbs are and nothing far away; titles say what
each panel shows; a bad ``--plot`` path is one line of error before any work."""
from __future__ import annotations

import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image
from typer.testing import CliRunner

from index_testdata import coco_clips, make_corpus, random_poses
from posesearch.cli.app import app
from posesearch.corpus.clip import Clip
from posesearch.corpus import sample_corpus_path
from posesearch.pictures.draw import (LIMB_COLORS, bone_colors, bone_group, draw_on_image, draw_skeleton,
                                      new_figure, pose_axes, source_frame, to_rgb)
from posesearch.pictures.sheets import clip_figure, matches_figure
from posesearch.poses.layouts import COCO17, LAYOUTS
from posesearch.text import offset_text

runner = CliRunner()

# a person facing the camera in a 200 x 200 image: their left is on the image's right
POSE = np.array([
    [100, 30], [105, 25], [95, 25], [110, 28], [90, 28],          # nose, eyes, ears
    [125, 60], [75, 60], [140, 95], [60, 95], [150, 130], [50, 130],  # shoulders, elbows, wrists
    [115, 120], [85, 120], [118, 160], [82, 160], [120, 195], [80, 195]], dtype=np.float64)
J = {n: i for i, n in enumerate(COCO17.joints)}


def mid(a: str, b: str) -> tuple[int, int]:
    """(row, column) of the midpoint of a bone of POSE."""
    x, y = (POSE[J[a]] + POSE[J[b]]) / 2
    return int(round(y)), int(round(x))


def near(pixel, color, tol: int = 40) -> bool:
    return bool(np.all(np.abs(np.asarray(pixel[:3], dtype=int) - np.asarray(to_rgb(color))) <= tol))


def png_array(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def not_blank(img: np.ndarray) -> bool:
    """More than a background: a good share of pixels differ from the most common colour."""
    flat = img.reshape(-1, 3)
    colors, counts = np.unique(flat, axis=0, return_counts=True)
    return counts.max() < 0.97 * len(flat) and len(colors) > 20


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def err(result) -> str:
    return result.stderr if result.stderr_bytes is not None else result.output


# ----------------------------------------------------------------------------- drawing a known pose

def test_draw_on_image_puts_limb_colours_on_the_limbs():
    img = np.zeros((200, 200, 3), np.uint8)
    out = draw_on_image(img, POSE, "coco17")
    assert out.shape == img.shape and out.dtype == np.uint8 and not out is img and not img.any()   # a copy
    assert near(out[mid("left_elbow", "left_wrist")], LIMB_COLORS["left_arm"], 0)
    assert near(out[mid("right_elbow", "right_wrist")], LIMB_COLORS["right_arm"], 0)
    assert near(out[mid("left_knee", "left_ankle")], LIMB_COLORS["left_leg"], 0)
    assert near(out[mid("right_hip", "right_knee")], LIMB_COLORS["right_leg"], 0)
    assert near(out[mid("left_shoulder", "right_shoulder")], LIMB_COLORS["torso"], 0)
    for far in ((5, 5), (190, 190), (100, 100), (10, 180)):    # corners and the belly: nothing drawn
        assert not out[far].any(), far
    # thin: 8 pixels beside the forearm is background
    r, c = mid("left_elbow", "left_wrist")
    assert not out[r, c + 8].any() and not out[r, c - 8].any()


def test_draw_on_image_leaves_out_missing_and_unsure_joints():
    pose = np.concatenate([POSE, np.ones((17, 1))], axis=1)
    pose[J["left_wrist"], 2] = 0.05           # below MIN_CONFIDENCE
    pose[J["right_ankle"], :2] = np.nan
    out = draw_on_image(np.zeros((200, 200, 3), np.uint8), pose, "coco17")
    assert not out[mid("left_elbow", "left_wrist")].any()
    assert not out[mid("right_knee", "right_ankle")].any()
    assert near(out[mid("left_shoulder", "left_elbow")], LIMB_COLORS["left_arm"], 0)   # the rest is there
    one = draw_on_image(np.zeros((200, 200, 3), np.uint8), POSE, "coco17", color=(0, 255, 0))
    assert tuple(one[mid("left_knee", "left_ankle")]) == (0, 255, 0)


def test_draw_on_image_refuses_what_is_not_an_image():
    from posesearch.errors import InvalidArgumentError, InvalidPoseError

    with pytest.raises(InvalidArgumentError, match=r"image: expected an \(H, W, 3\) uint8"):
        draw_on_image(np.zeros((20, 20)), POSE, "coco17")
    with pytest.raises(InvalidPoseError, match="layout coco17 has 17 joints, got 5"):
        draw_on_image(np.zeros((20, 20, 3), np.uint8), POSE[:5], "coco17")


def test_matplotlib_skeleton_pixels_lie_on_the_limbs():
    fig = new_figure(2, 2, dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    draw_skeleton(ax, POSE, "coco17")
    pose_axes(ax, (0, 200, 0, 200))
    ax.axis("off")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    img = png_array(buf.getvalue())
    assert img.shape == (200, 200, 3)
    r, c = mid("left_elbow", "left_wrist")
    assert any(near(img[r + dr, c + dc], LIMB_COLORS["left_arm"]) for dr in (-1, 0, 1) for dc in (-1, 0, 1))
    r, c = mid("right_knee", "right_ankle")
    assert any(near(img[r + dr, c + dc], LIMB_COLORS["right_leg"]) for dr in (-1, 0, 1) for dc in (-1, 0, 1))
    for far in ((5, 5), (190, 190), (100, 100)):
        assert near(img[far], "white", 3), far
    # no left-arm colour anywhere on the image's left half (the person's right side)
    left_half = img[:, :95].reshape(-1, 3).astype(int)
    assert not (np.abs(left_half - np.asarray(to_rgb(LIMB_COLORS["left_arm"]))).max(axis=1) <= 40).any()


def test_every_layout_draws_each_bone_in_its_colour():
    for lay in LAYOUTS.values():
        n = lay.num_keypoints
        ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
        pose = np.stack([200 + 150 * np.cos(ang), 200 + 150 * np.sin(ang)], axis=1)   # joints on a circle
        out = draw_on_image(np.zeros((400, 400, 3), np.uint8), pose, lay, thickness=2)
        for (a, b), color in zip(lay.edges, bone_colors(lay)):
            x, y = (pose[a] + pose[b]) / 2
            assert near(out[int(round(y)), int(round(x))], color, 0), (lay.name, lay.joints[a], lay.joints[b])
        groups = {bone_group(lay, e) for e in lay.edges}
        assert {"left_arm", "right_arm", "left_leg", "right_leg"} <= groups, lay.name


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(sorted(LAYOUTS.keys())), st.data())
def test_mirrored_bones_swap_colours(name, data):
    """A bone's mirror partner (left and right swapped) is in the mirrored group: colours follow the person's
    side in every layout."""
    lay = LAYOUTS.lookup(name)
    a, b = data.draw(st.sampled_from(lay.edges))
    swap = {"left_arm": "right_arm", "right_arm": "left_arm", "left_leg": "right_leg", "right_leg": "left_leg"}
    g = bone_group(lay, (a, b))
    assert bone_group(lay, (lay.flip[a], lay.flip[b])) == swap.get(g, g)
    if lay.joints[a].startswith("left_") and lay.joints[b].startswith("left_") and \
            any(w in lay.joints[a] + lay.joints[b] for w in ("elbow", "wrist", "knee", "ankle")):
        assert g.startswith("left_")


# ----------------------------------------------------------------------------- the three pictures

def _frames(k: int, labels=None):
    rng = np.random.default_rng(3)
    kp = POSE[None] + rng.normal(0, 3, (k, 17, 2))
    return SimpleNamespace(keypoints=kp, confidences=np.ones((k, 17)), clip_id=np.array([f"clip:{i}" for i in range(k)]),
                           frame=np.arange(k) * 10, time=np.arange(k) / 3, source=np.array([""] * k),
                           labels=labels or [{"action": "tennis_serve", "view": "45"}] * k)


def test_matches_figure_titles_each_panel():
    fig = matches_figure(POSE, _frames(4), np.array([0.01, 0.02, 0.03, 0.04]), np.array([False, True, False, False]),
                         query_layout="coco17", query_name="me.json", metric="weighted")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 5
    titles = [ax.get_title() for ax in visible]
    assert titles[0].startswith("query") and "me.json" in titles[0]
    assert "#1  d = 0.0100" in titles[1] and "clip:0" in titles[1] and "mirrored" not in titles[1]
    assert "#2  d = 0.0200  mirrored" in titles[2]
    assert "frame 10, 0.33 s" in visible[2].get_xlabel() and "tennis_serve, view 45" in visible[2].get_xlabel()
    assert "4 nearest corpus frames of me.json (weighted distance)" in fig._suptitle.get_text()
    assert "mirrored match" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_clip_contact_sheet_over_its_source_image(tmp_path):
    """A clip from an image still on disk is drawn over that image; the sheet names frames and times."""
    green = np.zeros((200, 200, 3), np.uint8)
    green[..., 1] = 255
    src = tmp_path / "still.png"
    Image.fromarray(green).save(src)
    clip = Clip("img:1", POSE[None].astype(np.float32), np.ones((1, 17), np.float32), "coco17", source=str(src))
    assert source_frame(str(src)).shape == (200, 200, 3)
    out = clip.plot(tmp_path / "sheet.png")
    img = png_array(out.read_bytes())
    greenish = (img[..., 1] > 200) & (img[..., 0] < 60) & (img[..., 2] < 60)
    assert greenish.sum() > 2000                      # the background image is there
    assert (np.abs(img.astype(int) - to_rgb(LIMB_COLORS["left_arm"])).max(axis=2) <= 40).sum() > 20
    fig = clip_figure(Clip("walk", np.repeat(POSE[None], 30, 0), np.ones((30, 17)), "coco17", fps=10.0,
                           labels={"action": "walk"}), frames=6)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["frame 0, 0.00 s", "frame 6, 0.60 s", "frame 12, 1.20 s", "frame 17, 1.70 s",
                      "frame 23, 2.30 s", "frame 29, 2.90 s"]
    assert fig._suptitle.get_text() == "walk: 30 frames, 10 fps (walk); 6 shown"


def test_source_frame_finds_coco_images_beside_the_annotations(tmp_path):
    (tmp_path / "val2017").mkdir()
    Image.fromarray(np.full((8, 9, 3), 7, np.uint8)).save(tmp_path / "val2017" / "000000000139.jpg")
    got = source_frame(str(tmp_path / "ann.json"), 0, {"file_name": "000000000139.jpg", "split": "val2017"})
    assert got.shape == (8, 9, 3)
    assert source_frame(str(tmp_path / "ann.json"), 0, {"file_name": "gone.jpg"}) is None
    assert source_frame(str(tmp_path / "clip.mp4"), 3) is None       # no video reader installed


def test_offset_text_never_says_minus_zero():
    assert offset_text(-0.001) == "on time" and offset_text(0.004) == "on time"
    assert offset_text(0.333) == "0.33 s late" and offset_text(-0.2) == "0.20 s early"
    assert offset_text(float("nan")) == "n/a"


def _report_with_a_bad_wrist():
    """A reference and a user who matches it except for the left wrist between 2 and 2.6 s."""
    import posesearch as ps
    from posesearch.sequence.simulate import synthetic_motion

    ref = synthetic_motion(4, 30, seed=5)
    kp = ref.keypoints.copy()
    bad = (ref.times >= 2.0) & (ref.times <= 2.6)
    lw = ref.layout.joints.index("left_wrist")
    kp[bad, lw] += np.array([0.0, -0.8]) * ref.body_size()
    user = ref.replace(keypoints=kp)
    return ps.score_sequence(ref, user, settings=ps.ScoreSettings(mirror="off"))


def test_score_report_picture(tmp_path):
    from posesearch.sequence.plot import report_figure

    rep = _report_with_a_bad_wrist()
    (a, b, _), = rep.worst_moments(1)
    assert a < 2.6 and b > 2.0
    fig = report_figure(rep, title="me")
    head = fig._suptitle.get_text()
    assert head.startswith(f"me: {rep.score:.1f}/100") and "-0.00" not in head and "s late" in head
    score_ax, moment_ax = fig.axes[0], fig.axes[1]
    assert score_ax.get_xlabel() == "reference time (s)" and score_ax.get_ylabel() == "score (0-100)"
    assert "worst moments" in [t.get_text() for t in score_ax.get_legend().get_texts()]
    assert "A" in [t.get_text() for t in score_ax.texts]
    assert moment_ax.get_title().startswith("A: ")
    assert moment_ax.get_xlabel().startswith("most off: left wrist")   # the joint most off, named first
    assert "joints most off" in [t.get_text() for t in fig.legends[0].get_texts()]
    out = rep.plot(tmp_path / "report.png", title="me")
    img = png_array(out.read_bytes())
    assert img.shape == (940, 1000, 3) and not_blank(img)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.png"]       # atomic: no temporary left


# ----------------------------------------------------------------------------- the CLI

@pytest.fixture()
def indexed(tmp_path):
    """A corpus of random poses plus one clip made from an image on disk, and its index."""
    kp, cf = random_poses(np.random.default_rng(5), 60)
    green = np.zeros((200, 200, 3), np.uint8)
    green[..., 1] = 255
    Image.fromarray(green).save(tmp_path / "still.png")
    clips = coco_clips(kp, cf) + [Clip("still", POSE[None].astype(np.float32), np.ones((1, 17), np.float32),
                                       "coco17", source=str(tmp_path / "still.png"), labels={"action": "stand"})]
    corpus = make_corpus(tmp_path / "c.h5", clips)
    assert run("build", corpus, "--backend", "exact", "--out", tmp_path / "idx.h5").exit_code == 0
    pose = tmp_path / "pose.json"
    pose.write_text(json.dumps({"layout": "coco17", "keypoints": [[x, y, 1.0] for x, y in POSE.tolist()]}))
    return tmp_path / "idx.h5", pose


def test_query_plot(tmp_path, indexed):
    index, pose = indexed
    res = run("query", index, pose, "-k", "5", "--mirror", "--plot", tmp_path / "m.png")
    assert res.exit_code == 0, err(res)
    assert f"plot written to {tmp_path / 'm.png'}" in res.stdout
    img = png_array((tmp_path / "m.png").read_bytes())
    assert img.shape == (365, 1230, 3) and not_blank(img)      # 6 panels of 2.05 x 2.95 in, one row
    greenish = (img[..., 1] > 200) & (img[..., 0] < 60) & (img[..., 2] < 60)
    assert greenish.sum() > 1000          # the nearest match, the still, is drawn over its image
    res = run("query", index, pose, "-k", "2", "--plot", tmp_path / "j.png", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["plot"] == str(tmp_path / "j.png")


def test_clips_plot(tmp_path):
    out = tmp_path / "sheet.png"
    res = run("clips", sample_corpus_path(), "--label", "dataset=cmu-mocap", "--limit", "1", "--plot", out,
              "--frames", "6")
    assert res.exit_code == 0, err(res)
    assert f"contact sheet of cmu:002_01:yaw0 written to {out}" in res.stdout
    img = png_array(out.read_bytes())
    assert img.shape == (295, 1140, 3) and not_blank(img)      # 6 panels of 1.9 x 2.35 in, one row
    res = run("clips", sample_corpus_path(), "--plot", tmp_path / "s2.png", "--clip", "cmu:002_05:yaw45", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["plot"]["clip"] == "cmu:002_05:yaw45"


def test_score_plot(tmp_path):
    from pathlib import Path

    ex = Path(__file__).resolve().parents[1] / "examples"
    res = run("score", ex / "reference.json", ex / "user.json", "--plot", tmp_path / "r.png")
    assert res.exit_code == 0, err(res)
    img = png_array((tmp_path / "r.png").read_bytes())
    assert img.shape == (940, 1000, 3) and not_blank(img)


@pytest.mark.parametrize("where, message", [
    ("{tmp}", "is a folder, expected a file path ending in .png"),
    ("{tmp}/nowhere/x.png", "folder '{tmp}/nowhere' does not exist"),
    ("{tmp}/file.txt/x.png", "folder '{tmp}/file.txt' does not exist"),
    ("{tmp}/x.jpg", "the picture is a PNG image; expected a file name ending in .png, got '.jpg'"),
    ("{tmp}/ro.png", "is read-only (mode 0444)"),
])
def test_bad_plot_path_is_one_line(tmp_path, indexed, where, message):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "ro.png").write_bytes(b"")
    (tmp_path / "ro.png").chmod(0o444)
    path = where.format(tmp=tmp_path)
    index, pose = indexed
    ex = pose
    for args in (["query", index, pose, "--plot", path], ["score", ex, ex, "--plot", path],
                 ["clips", sample_corpus_path(), "--plot", path]):
        res = run(*args)
        assert res.exit_code == 2, (args, res.output)
        lines = err(res).strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message.format(tmp=tmp_path) in lines[0], lines


def test_readme_pictures_regenerate(tmp_path):
    """scripts/make_pictures.py runs and makes the pictures docs/ holds: same size, each under 300 kB."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("make_pictures", root / "scripts" / "make_pictures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    written = mod.make(tmp_path)
    assert sorted(p.name for p in written) == ["matches.png", "reps.png", "score_report.png"]
    for p in written:
        committed = root / "docs" / p.name
        assert committed.stat().st_size < 300_000
        new, old = png_array(p.read_bytes()), png_array(committed.read_bytes())
        assert new.shape == old.shape and not_blank(new)
        assert np.mean(np.abs(new.astype(int) - old.astype(int)) > 30) < 0.01, p.name   # the same picture


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(LAYOUTS.keys())), st.integers(0, 2 ** 31 - 1), st.integers(1, 6))
def test_draw_on_image_stays_near_the_pose(name, seed, thickness):
    """Whatever the pose (joints partly outside the image, some missing), only pixels within a bone's
    width of the present joints' box change, and the input image is left alone."""
    lay = LAYOUTS.lookup(name)
    rng = np.random.default_rng(seed)
    pose = np.concatenate([rng.uniform(-30, 130, (lay.num_keypoints, 2)), rng.uniform(0, 1, (lay.num_keypoints, 1))],
                          axis=1)
    img = np.full((100, 100, 3), 200, np.uint8)
    out = draw_on_image(img, pose, lay, thickness=thickness)
    assert (img == 200).all()
    changed = np.argwhere((out != img).any(axis=2))
    present = pose[:, 2] > 0.1
    if not present.any():
        assert len(changed) == 0
        return
    lo = pose[present, :2].min(axis=0) - thickness * 1.6 - 1
    hi = pose[present, :2].max(axis=0) + thickness * 1.6 + 1
    assert ((changed[:, 1] >= lo[0]) & (changed[:, 1] <= hi[0]) & (changed[:, 0] >= lo[1]) &
            (changed[:, 0] <= hi[1])).all()


def test_pictures_import_light():
    import subprocess
    import sys

    code = ("import sys, posesearch.pictures.sheets, posesearch.index.matches, posesearch.corpus.clip; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize("name", sorted(LAYOUTS.keys()))
def test_matches_figure_takes_a_query_of_any_layout(name):
    """The query panel draws the query in its own layout; the grey fit onto each match maps it to COCO-17."""
    lay = LAYOUTS.lookup(name)
    rng = np.random.default_rng(1)
    q = np.concatenate([rng.uniform(0, 100, (lay.num_keypoints, 2)), np.ones((lay.num_keypoints, 1))], axis=1)
    fig = matches_figure(q, _frames(2), np.array([0.1, 0.2]), np.array([False, True]), query_layout=lay)
    query_ax, match_ax = fig.axes[0], fig.axes[1]
    bones = query_ax.collections[0].get_segments()
    assert len(bones) == len(lay.edges)                       # every bone of the query's layout drawn
    assert len(match_ax.collections) >= 3                     # the grey fit, the match's bones and joints
