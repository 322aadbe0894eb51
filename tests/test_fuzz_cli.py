"""Fuzz suite, CLI: every command against bad files and bad option values, through typer's CliRunner.

Rule (tests/fuzz_support.py): exit status 2 with one line ``error: ...`` on stderr naming the file, field
or option (or click's usage error for a value of the wrong type, which names the option); no traceback,
no hang (each call runs under an alarm), no exit 0 on nonsense. A few valid calls check the fixtures."""
from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest

from fuzz_support import cli_ok, cli_refused
from index_testdata import coco_clips, make_corpus, random_poses
from posesearch.corpus.clip import Clip

BIG = "1" + "0" * 400          # 10^400: an int click accepts, no library can


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A small corpus (200 one-frame clips + a 120-frame clip), its exact index, a pose, a sequence, and
    a gallery of bad files."""
    from posesearch.index import Index

    d = tmp_path_factory.mktemp("fuzz_cli")
    rng = np.random.default_rng(11)
    kp, cf = random_poses(rng, 320)
    clips = coco_clips(kp[:200], cf[:200])
    t = np.arange(120)
    walk = kp[200:320].copy()
    walk[:, :, 0] += 3 * t[:, None]
    clips.append(Clip("walk", walk.astype(np.float32), cf[200:320].astype(np.float32), "coco17", fps=30.0,
                      labels={"action": "walk"}))
    corpus = make_corpus(d / "c.h5", clips)
    index = Index.build(corpus, metric="weighted", backend="exact").save(d / "i.h5")
    pose = d / "pose.json"
    pose.write_text(json.dumps({"layout": "coco17", "keypoints": [[float(x), float(y), float(c)]
                                                                   for (x, y), c in zip(kp[0], cf[0])]}))
    seq = d / "seq.json"
    seq.write_text(json.dumps({"fps": 30, "layout": "coco17",
                               "frames": [[[float(x), float(y), float(c)] for (x, y), c in zip(walk[i], cf[200 + i])]
                                          for i in range(0, 120, 2)]}))
    bad = {}
    bad["missing"] = d / "nothing" / "here.json"
    bad["directory"] = d / "adir.json"
    bad["directory"].mkdir()
    for name, content in [("empty", b""), ("garbage", bytes(range(256)) * 8), ("nested", b"[" * 100_000),
                          ("json list", b"[1, 2, 3]"), ("huge int", b'{"keypoints": [[' + BIG.encode() + b", 1, 1]]}"),
                          ("text", b"hello\n")]:
        p = d / f"bad_{name.replace(' ', '_')}.json"
        p.write_bytes(content)
        bad[name] = p
    if hasattr(os, "mkfifo"):
        bad["fifo"] = d / "fifo.json"
        os.mkfifo(bad["fifo"])
    if os.path.exists("/dev/zero"):
        bad["dev zero"] = d / "zero.json"
        os.symlink("/dev/zero", bad["dev zero"])
    raw = corpus.read_bytes()
    bad["truncated hdf5"] = d / "trunc.h5"
    bad["truncated hdf5"].write_bytes(raw[:len(raw) // 2])
    bad["foreign hdf5"] = d / "foreign.h5"
    with h5py.File(bad["foreign hdf5"], "w") as f:
        f["x"] = np.arange(3)
    bad["version 1.5"] = d / "v15.h5"
    bad["version 1.5"].write_bytes(raw)
    with h5py.File(bad["version 1.5"], "r+") as f:
        f.attrs["format_version"] = 1.5
    bad["bad backend_params"] = d / "badparams.h5"
    bad["bad backend_params"].write_bytes(index.read_bytes())
    with h5py.File(bad["bad backend_params"], "r+") as f:
        f.attrs["backend_params"] = "{not json"
    return {"dir": d, "corpus": corpus, "index": index, "pose": pose, "seq": seq, "bad": bad}


def test_fixtures_are_valid(env):
    """The files the bad cases are swapped in for work (so each refusal is about the bad input)."""
    e = env
    cli_ok(["compare", e["pose"], e["pose"]])
    cli_ok(["query", e["index"], e["pose"], "-k", "3"])
    cli_ok(["query", e["index"], e["seq"], "--sequence", "--top", "2"])
    cli_ok(["score", e["seq"], e["seq"]])
    cli_ok(["info", e["corpus"], "--verify"])
    cli_ok(["info", e["index"]])
    cli_ok(["build", e["corpus"], "--backend", "exact", "--out", e["dir"] / "ok.h5", "--overwrite"])
    cli_ok(["clips", e["corpus"], "--label", "action=walk"])
    cli_ok(["export", e["corpus"], "walk", "--out", e["dir"] / "ok.json", "--overwrite"])


BAD_NAMES = ["missing", "directory", "empty", "garbage", "nested", "json list", "huge int", "text", "fifo",
             "dev zero", "truncated hdf5", "foreign hdf5", "version 1.5", "bad backend_params"]

# command -> (argument list with "{X}" where the bad file goes), for every file argument of every command
FILE_SLOTS = {
    "compare a": ["compare", "{X}", "{pose}"],
    "compare b": ["compare", "{pose}", "{X}"],
    "query index": ["query", "{X}", "{pose}"],
    "query pose": ["query", "{index}", "{X}"],
    "query sequence": ["query", "{index}", "{X}", "--sequence"],
    "query corpus": ["query", "{index}", "{pose}", "--corpus", "{X}"],
    "score reference": ["score", "{X}", "{seq}"],
    "score user": ["score", "{seq}", "{X}"],
    "info": ["info", "{X}"],
    "info verify": ["info", "{X}", "--verify"],
    "build": ["build", "{X}", "--backend", "exact", "--out", "{dir}/x.h5", "--overwrite"],
    "ingest sequence": ["ingest", "{X}", "-f", "sequence", "--fps", "30", "-o", "{dir}/y.h5", "--overwrite"],
    "ingest coco": ["ingest", "{X}", "-f", "coco", "-o", "{dir}/y.h5", "--overwrite"],
    "clips": ["clips", "{X}"],
    "export": ["export", "{X}", "walk", "--out", "{dir}/e.json", "--overwrite"],
    "bench index": ["bench", "--index", "{X}"],
    "bench queries": ["bench", "--index", "{index}", "--queries", "{X}"],
    "extract": ["extract", "{X}", "--out", "{dir}/x.json", "--overwrite"],
}
# a file kind that is a valid input for that slot (an index is an HDF5 file 'info' reads, etc.)
VALID_FOR = {("info", "bad backend_params"), ("info verify", "bad backend_params")}


def _fill(args, env, x):
    out = []
    for a in args:
        a = str(a).replace("{X}", str(x)).replace("{pose}", str(env["pose"])).replace("{seq}", str(env["seq"]))
        a = a.replace("{index}", str(env["index"])).replace("{dir}", str(env["dir"]))
        out.append(a)
    return out


@pytest.mark.parametrize("bad", BAD_NAMES)
@pytest.mark.parametrize("slot", list(FILE_SLOTS))
def test_bad_files_in_every_file_argument(env, slot, bad):
    if bad not in env["bad"]:
        pytest.skip(f"{bad}: not available on this platform")
    x = env["bad"][bad]
    args = _fill(FILE_SLOTS[slot], env, x)
    if (slot, bad) in VALID_FOR:
        return
    cli_refused(args, x.name, str(x), "/dev/zero", seconds=60)


OPTION_CASES = [
    # query
    (["query", "{index}", "{pose}", "-k", "0"], "k"),
    (["query", "{index}", "{pose}", "-k", "-3"], "k"),
    (["query", "{index}", "{pose}", "-k", BIG], "k"),
    (["query", "{index}", "{pose}", "-k", "1e3"], "k"),
    (["query", "{index}", "{pose}", "-k", "nan"], "k"),
    (["query", "{index}", "{pose}", "-k", "99999"], "k"),
    (["query", "{index}", "{pose}", "--layout", ""], "layout"),
    (["query", "{index}", "{pose}", "--layout", "nolayout"], "layout"),
    (["query", "{index}", "{pose}", "--layout", "penn13"], "layout"),
    (["query", "{index}", "{pose}", "--ef-search", "-1"], "ef-search"),
    (["query", "{index}", "{pose}", "--ef-search", BIG], "ef"),
    (["query", "{index}", "{pose}", "--nprobe", "-1"], "nprobe"),
    (["query", "{index}", "{pose}", "--top", "3"], "top"),
    (["query", "{index}", "{seq}", "--sequence", "--top", "0"], "top"),
    (["query", "{index}", "{seq}", "--sequence", "--fps", "nan"], "fps"),
    (["query", "{index}", "{seq}", "--sequence", "--fps", "inf"], "fps"),
    (["query", "{index}", "{seq}", "--sequence", "--fps", "0"], "fps"),
    (["query", "{index}", "{seq}", "--sequence", "--fps", "-30"], "fps"),
    (["query", "{index}", "{seq}", "--sequence", "--fps", "1e9"], "fps"),
    (["query", "{index}", "{seq}", "--sequence", "--fps", "1e-3"], "fps"),
    (["query", "{index}", "{seq}", "--sequence", "--fps", "5e-324"], "fps"),
    (["query", "{index}", "{seq}", "--sequence", "-k", "0"], "k"),
    (["query", "{index}", "{pose}", "--sequence"], "sequence"),
    # score
    *[(["score", "{seq}", "{seq}", opt, v], "fps")
      for opt in ("--ref-fps", "--user-fps") for v in ("nan", "inf", "-inf", "0", "-5", "1e9", "1e-3", "5e-324", "1e400")],
    *[(["score", "{seq}", "{seq}", opt, v], opt.strip("-"))
      for opt in ("--smooth", "--interp", "--align", "--mirror", "--distance", "--moments-from")
      for v in ("", "nope", "1")],
    (["score", "{seq}", "{seq}", "--layout", ""], "layout"),
    (["score", "{seq}", "{seq}", "--layout", "penn13"], "layout"),
    (["score", "{seq}", "{seq}", "--plot", "{dir}/plot.txt"], "plot"),
    (["score", "{seq}", "{seq}", "--plot", "{dir}/no/such/dir/plot.png"], "plot"),
    (["score", "{seq}", "{seq}", "--plot", "{dir}"], "plot"),
    (["score", "{corpus}:no-such-clip", "{seq}"], "no-such-clip"),
    (["score", "{corpus}:", "{seq}"], "c.h5"),
    (["score", "{seq}", "{pose}"], "pose.json"),
    # compare
    (["compare", "{pose}", "{pose}", "--strategy", "nope"], "strategy"),
    (["compare", "{pose}", "{pose}", "--strategy", ""], "strategy"),
    (["compare", "{pose}", "{seq}"], "seq.json"),
    # build
    *[(["build", "{corpus}", "--backend", "faiss", "--faiss-m", v, "--out", "{dir}/f.h5", "--overwrite"], "M")
      for v in ("1", "0", "-1", "100000", BIG)],
    *[(["build", "{corpus}", "--backend", "vptree", "--leaf-size", v, "--out", "{dir}/f.h5", "--overwrite"], "leaf")
      for v in ("0", "-1", BIG, "1e3")],
    *[(["build", "{corpus}", "--backend", "faiss", "--faiss-kind", "hnsw", "--ef-construction", v, "--out",
        "{dir}/f.h5", "--overwrite"], "ef_construction") for v in ("0", "-5", BIG)],
    *[(["build", "{corpus}", "--backend", "faiss", "--faiss-kind", "ivf", "--nlist", v, "--out", "{dir}/f.h5",
        "--overwrite"], "nlist") for v in ("-1", "1000000000", BIG)],   # (0 = automatic)
    *[(["build", "{corpus}", "--backend", "vptree", "--param", v, "--out", "{dir}/f.h5", "--overwrite"], "param")
      for v in ("x", "=", "=1", "leaf_size=abc", "nope=1", "leaf_size=1e400", "leaf_size=[1]", "leaf_size=true")],
    (["build", "{corpus}", "--backend", "nope"], "backend"),
    (["build", "{corpus}", "--backend", ""], "backend"),
    (["build", "{corpus}", "--metric", "nope"], "metric"),
    (["build", "{corpus}", "--backend", "faiss", "--faiss-kind", "nope"], "kind"),
    (["build", "{corpus}", "--split-weights", "nope"], "split"),
    (["build", "{corpus}", "--backend", "vptree-pypi", "--build-weights", "nope"], "build"),
    (["build", "{corpus}", "--backend", "vptree-pypi", "--max-frames", "0"], "max"),
    (["build", "{corpus}", "--out", "{corpus}", "--overwrite"], "c.h5"),
    (["build", "{corpus}", "--out", "{index}"], "i.h5"),
    (["build", "{corpus}", "--leaf-size", "8", "--backend", "exact"], "leaf"),
    # ingest
    *[(["ingest", "{seq}", "-f", "sequence", "--fps", v, "-o", "{dir}/g.h5", "--overwrite"], "fps")
      for v in ("nan", "inf", "0", "-1", "1e9", "5e-324")],
    (["ingest", "{seq}", "-f", "nope", "-o", "{dir}/g.h5"], "format"),
    (["ingest", "{seq}", "-f", "", "-o", "{dir}/g.h5"], "format"),
    (["ingest", "{seq}", "-f", "sequence", "-o", "{seq}", "--overwrite"], "seq.json"),
    (["ingest", "{seq}", "-f", "sequence", "-o", "{dir}"], "fuzz_cli"),
    (["ingest", "{seq}", "-f", "sequence", "-o", "{corpus}"], "c.h5"),
    (["ingest", "{seq}", "-f", "sequence", "-o", "{dir}/g.h5", "--overwrite", "-O", "x"], "x"),
    (["ingest", "{seq}", "-f", "sequence", "-o", "{dir}/g.h5", "--overwrite", "-O", "nope=1"], "nope"),
    (["ingest", "{seq}", "-f", "sequence", "-o", "{dir}/g.h5", "--overwrite", "-O", "fps={bad"], "fps"),
    (["ingest", "{seq}", "-f", "sequence", "-o", "{dir}/g.h5", "--overwrite", "--person", "1"], "person"),
    (["ingest", "{seq}", "-f", "sequence", "-o", "{dir}/g.h5", "--append", "--overwrite"], "append"),
    *[(["ingest", "{seq}", "-f", "bvh", "-o", "{dir}/g.h5", "--overwrite", opt, v], opt.strip("-"))
      for opt, v in [("--views", "a,b"), ("--views", ""), ("--views", BIG), ("--views", "nan"), ("--pitch", "nan"),
                     ("--pitch", "1e400"), ("--distance", "0"), ("--distance", "-1"), ("--distance", "nan"),
                     ("--projection", "nope")]],
    # clips, export
    (["clips", "{corpus}", "--limit", "-1"], "limit"),
    (["clips", "{corpus}", "--offset", "-1"], "offset"),
    (["clips", "{corpus}", "--label", "=x"], "label"),
    (["export", "{corpus}", "no-such-clip", "--out", "{dir}/e.json", "--overwrite"], "no-such-clip"),
    (["export", "{corpus}", "", "--out", "{dir}/e.json", "--overwrite"], "clip"),
    (["export", "{corpus}", "walk", "--out", "{dir}/e.txt", "--overwrite"], "e.txt"),
    (["export", "{corpus}", "walk", "--out", "{corpus}", "--overwrite"], "c.h5"),
    (["export", "{corpus}", "walk", "--out", "{dir}/no/such/dir/e.json"], "e.json"),
    (["export", "{corpus}", "walk", "--out", "{dir}"], "fuzz_cli"),
    # bench (--index only: the suite is not run here)
    (["bench", "--index", "{index}", "-k", "0"], "k"),
    (["bench", "--index", "{index}", "--count", "0"], "count"),
    (["bench", "--index", "{index}", "--count", BIG], "count"),
    (["bench", "--index", "{index}", "--queries", "{pose}", "--layout", "nope"], "layout"),
    # demo
    (["demo", "--out", "{pose}"], "pose.json"),
    (["demo", "--out", "{pose}/sub"], "pose.json"),
    # every command: an option it does not have
    *[([cmd, "--no-such-option"], "no-such-option")
      for cmd in ("compare", "ingest", "info", "build", "query", "score", "bench", "demo", "clips", "export")],
    *[([cmd], "Missing") for cmd in ("compare", "ingest", "info", "build", "query", "score", "clips", "export")],
]


@pytest.mark.parametrize("args, name", OPTION_CASES, ids=[" ".join(a[:1] + a[3:])[:60] for a, _ in OPTION_CASES])
def test_bad_option_values(env, args, name):
    args = _fill(args, env, "")
    args = [a.replace("{corpus}", str(env["corpus"])) for a in args]
    cli_refused(args, name, name.replace("_", "-"), name.replace("-", "_"), seconds=60)


# ------------------------------------------------------------------ the installed entry point, as a user runs it

@pytest.mark.parametrize("bad", ["fifo", "dev zero", "nested", "huge int"])
def test_entry_point_in_a_subprocess(env, bad):
    """``posesearch query`` as a separate process (the console script's own error handling, no CliRunner):
    exit 2, one line on stderr, within a time limit."""
    import subprocess
    import sys

    from fuzz_support import COUNTS, OUTCOMES

    if bad not in env["bad"]:
        pytest.skip(f"{bad}: not available on this platform")
    COUNTS["cli"] += 1
    x = env["bad"][bad]
    code = "import sys; from posesearch.cli.app import main; sys.argv[0] = 'posesearch'; main()"
    try:
        r = subprocess.run([sys.executable, "-c", code, "query", str(env["index"]), str(x)], capture_output=True,
                           text=True, timeout=90)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"posesearch query INDEX {bad}: no answer within 90 s") from None
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: ") and x.name in lines[0], r.stderr
    OUTCOMES["refused"] += 1
