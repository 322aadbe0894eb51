"""One way to look up a name (posesearch.registry.Registry) and one numeric check (errors.check_number)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from posesearch.corpus.readers import READERS, get_reader
from posesearch.errors import InvalidArgumentError, UnknownNameError, check_finite_positive, check_number
from posesearch.index.registry import BACKENDS, get_backend_spec
from posesearch.inputs import FORMATS as INPUT_FORMATS
from posesearch.inputs import normalize_format
from posesearch.poses.distances import METRICS, get_metric
from posesearch.poses.layouts import LAYOUTS, get_layout
from posesearch.poses.similarity import STRATEGIES, resolve_strategy
from posesearch.registry import Registry
from posesearch.sequence.align import ALIGNERS, OPEN_ENDS, check_aligner, check_open_ends
from posesearch.sequence.framedist import FRAME_DISTANCES, check_distance
from posesearch.sequence.resample import INTERPOLATIONS, check_interp
from posesearch.sequence.score import MIRROR_MODES, MOMENTS_FROM, ScoreSettings
from posesearch.sequence.smooth import SMOOTHERS, check_smoother

#: (registry, lookup function, kind named in the error)
LOOKUPS = [
    (METRICS, lambda n: get_metric(n).name, "metric"),
    (LAYOUTS, lambda n: get_layout(n).name, "layout"),
    (BACKENDS, lambda n: get_backend_spec(n).name, "backend"),
    (READERS, lambda n: get_reader(n).FORMAT, "format"),
    (ALIGNERS, check_aligner, "alignment method"),
    (OPEN_ENDS, check_open_ends, "open_ends value"),
    (FRAME_DISTANCES, check_distance, "frame distance"),
    (SMOOTHERS, check_smoother, "smoother"),
    (INTERPOLATIONS, check_interp, "interpolation"),
    (MIRROR_MODES, lambda n: ScoreSettings(mirror=n).mirror, "mirror mode"),
    (MOMENTS_FROM, lambda n: ScoreSettings(moments_from=n).moments_from, "moments_from"),
    (INPUT_FORMATS, normalize_format, "input format"),
    (STRATEGIES, lambda n: next(k for k, f in STRATEGIES.items() if f is resolve_strategy(n)), "strategy"),
]
IDS = [kind for _, _, kind in LOOKUPS]


@pytest.mark.parametrize("registry, lookup, kind", LOOKUPS, ids=IDS)
def test_every_lookup_is_a_registry_with_the_same_error(registry, lookup, kind):
    assert isinstance(registry, Registry) and registry.kind == kind
    with pytest.raises(UnknownNameError) as e:
        lookup("no-such-name")
    assert str(e.value) == f"unknown {kind} 'no-such-name'; expected one of: {', '.join(sorted(registry))}"


@pytest.mark.parametrize("registry, lookup, kind", LOOKUPS, ids=IDS)
def test_case_hyphens_and_underscores_do_not_matter(registry, lookup, kind):
    for name in registry.names():
        for spelling in (name, name.upper(), name.replace("-", "_"), name.replace("-", ""), f" {name} "):
            assert lookup(spelling) == name, spelling
        for alias in registry.aliases_of(name):
            assert lookup(alias) == name and lookup(alias.upper().replace("-", "_")) == name


def test_the_lookups_that_used_to_disagree_now_agree():
    # before: get_metric("move-mirror") failed while check_distance("move-mirror") worked, and
    # get_metric("weighteddistance") worked while check_distance("weighteddistance") failed
    assert get_metric("move-mirror").name == "weighted"
    assert get_metric("Move_Mirror").name == "weighted"
    assert check_distance("weighteddistance") == "pair-weighted"
    assert check_distance("move-mirror") == "pair-weighted"
    assert get_backend_spec("vptree_pypi").name == "vptree-pypi" and get_backend_spec("bruteforce").name == "exact"
    assert check_smoother("one_euro") == "one-euro" and check_smoother("OneEuro") == "one-euro"
    assert get_reader("penn_action").FORMAT == "penn-action" and get_reader("YOLO-NPZ").FORMAT == "yolo-npz"
    assert resolve_strategy("weightedDistance") is STRATEGIES["weighted_distance"]     # Move Mirror's camelCase
    assert resolve_strategy("cosine-similarity") is STRATEGIES["cosine_similarity"]    # was refused


def test_sequence_weighted_distance_is_named_pair_weighted_and_the_old_name_still_works():
    assert FRAME_DISTANCES.names() == ["procrustes", "pair-weighted"]
    assert check_distance("weighted") == "pair-weighted"
    st = ScoreSettings(distance="weighted")
    assert st.distance == "pair-weighted" and st.penalty == 0.15 and st.missing == 0.35
    assert st.curve.d50 == 0.09
    assert st == ScoreSettings(distance="pair-weighted")
    # the index metric "weighted" is the other formula (query weights only) and keeps its name
    assert get_metric("weighted").name == "weighted" and "pair-weighted" not in METRICS
    assert "old name: weighted" in FRAME_DISTANCES.descriptions["pair-weighted"]


def test_registry_register_and_aliases():
    reg = Registry("colour", {"red": 1, "dark-blue": 2}, aliases={"navy": "dark-blue"},
                   descriptions={"red": "warm"})
    assert reg.lookup("DARK_BLUE") == 2 and reg.lookup("Navy") == 2 and reg.canonical("darkblue") == "dark-blue"
    reg.register("green", 3, description="grass", aliases=["lime"])
    assert reg.lookup("lime") == 3 and reg.names() == ["red", "dark-blue", "green"]
    assert reg.table() == [("red", "warm", []), ("dark-blue", "", ["navy"]), ("green", "grass", ["lime"])]
    with pytest.raises(UnknownNameError, match=r"^unknown colour 'pink'; expected one of: dark-blue, green, red$"):
        reg.lookup("pink")
    with pytest.raises(KeyError):
        reg.add_alias("x", "nope")


@pytest.mark.parametrize("value, kwargs, expected", [
    (3, dict(integer=True, low=1), 3),
    (np.int64(3), dict(integer=True, low=1), 3),
    (3.0, dict(integer=True, low=1, integral_float=True), 3),
    (2.5, dict(low=0, low_open=True), 2.5),
    (np.array(2.5), dict(low=0, low_open=True), 2.5),
    (math.inf, dict(low=0, allow_inf=True), math.inf),
    (None, dict(allow_none=True), None),
    (180, dict(low=0, high=180), 180.0),
])
def test_check_number_accepts(value, kwargs, expected):
    got = check_number("x", value, **kwargs)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("value, kwargs, message", [
    (0, dict(integer=True, low=1), "x: expected an integer >= 1, got 0"),
    (3.0, dict(integer=True, low=1), "x: expected an integer >= 1, got 3.0"),
    (3.5, dict(integer=True, low=1, integral_float=True), "x: expected an integer >= 1, got 3.5"),
    (True, dict(integer=True, low=1), "x: expected an integer >= 1, got True"),
    ("3", dict(low=0), "x: expected a finite number >= 0, got '3'"),
    (math.nan, dict(), "x: expected a finite number, got nan"),
    (math.inf, dict(low=0), "x: expected a finite number >= 0, got inf"),
    (10**400, dict(low=0), "x: expected a finite number >= 0, got 1000000000000000000000000000000000000..."),
    (0, dict(low=0, low_open=True), "x: expected a positive finite number, got 0"),
    (181, dict(low=0, high=180), "x: expected a finite number in [0, 180], got 181"),
    (1, dict(low=0, high=1, high_open=True), "x: expected a finite number in [0, 1), got 1"),
    (None, dict(low=0), "x: expected a finite number >= 0, got None"),
    (5, dict(integer=True, low=1, high=4, what="a small count"), "x: expected a small count, got 5"),
])
def test_check_number_refuses_with_one_line(value, kwargs, message):
    with pytest.raises(InvalidArgumentError) as e:
        check_number("x", value, **kwargs)
    assert str(e.value) == message


def test_the_old_numeric_checks_go_through_check_number():
    from posesearch.index.backend import check_positive_int
    from posesearch.index.timing import _positive_int

    with pytest.raises(InvalidArgumentError, match=r"^fps: expected a positive finite number, got True$"):
        check_finite_positive("fps", True)
    with pytest.raises(InvalidArgumentError, match=r"^k: expected an integer >= 1, got 0$"):
        _positive_int("k", 0)
    with pytest.raises(InvalidArgumentError, match=r"^backend 'faiss' parameter M: expected an integer in \[2, 9\]"):
        check_positive_int("faiss", "M", 10, minimum=2, maximum=9)
    with pytest.raises(InvalidArgumentError, match=r"^min_overlap: expected a fraction in \(0, 1\], got 0"):
        ScoreSettings(min_overlap=0)
    with pytest.raises(InvalidArgumentError, match=r"^max_rotation: expected degrees in \[0, 180\], got nan"):
        ScoreSettings(max_rotation=float("nan"))


def test_help_texts_come_from_the_registries():
    from typer.testing import CliRunner

    from posesearch.cli.app import app

    assert SMOOTHERS.help() == "kalman | one-euro | none"
    assert MIRROR_MODES.help(default="auto") == "auto (default) | on | off"
    out = CliRunner().invoke(app, ["score", "--help"], env={"COLUMNS": "250"}).output
    assert "pair-weighted (Move Mirror distance with pair weights" in out and "old name: weighted" in out
    assert "procrustes (default;" in out


def test_backend_parameter_names_resolve_like_every_name():
    from posesearch.index.faiss_backend import FaissParams
    from posesearch.index.vptree import VPTreeParams
    from posesearch.index.vptree_pypi import PyPIVPTreeParams

    # stored canonical, so an index file says 'face-light' however it was typed
    assert VPTreeParams(split_weights="Face_Light").split_weights == "face-light"
    assert FaissParams(kind="HNSW").kind == "hnsw" and PyPIVPTreeParams(build_weights="Uniform").build_weights == "uniform"
    with pytest.raises(UnknownNameError, match=r"^unknown faiss index kind 'lsh'; expected one of: flat, hnsw, ivf$"):
        FaissParams(kind="lsh")


def test_cli_names_the_flag_of_an_unknown_name():
    """An unknown name typed on the command line is reported with its flag; one that two flags were given,
    or that came from elsewhere (a file), is reported without a flag (never a wrong one)."""
    import typer
    from typer.testing import CliRunner

    from posesearch.cli.common import handle_errors
    from posesearch.errors import UnknownNameError

    app = typer.Typer()

    @app.command()
    @handle_errors
    def cmd(metric: str = typer.Option("cosine", "--metric", "-m"), views: str = typer.Option("0"),
            other: str = typer.Option("x"), from_file: bool = typer.Option(False)):
        name = "zzz" if from_file else metric if metric not in ("cosine", "l2") else views.split(",")[-1]
        raise UnknownNameError("thing", name, ["a", "b"])

    def out(*args):
        r = CliRunner().invoke(app, list(args))
        assert r.exit_code == 2 and "Traceback" not in r.output
        return r.output.strip()

    assert out("-m", "bad") == "error: --metric: unknown thing 'bad'; expected one of: a, b"
    assert out("--views", "0, 45,bad") == "error: --views: unknown thing 'bad'; expected one of: a, b"
    assert out("--metric", "bad", "--other", "bad") == "error: unknown thing 'bad'; expected one of: a, b"
    assert out("--from-file") == "error: unknown thing 'zzz'; expected one of: a, b"
