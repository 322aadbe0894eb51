"""The service's fast ``/v1/query`` path (:meth:`Service.query_fast`, :class:`QueryFastPath`): for every body it
takes, the answer is byte for byte what the general route gives (``Service.query`` serialized as Starlette's
JSONResponse does); every other body (a batch, [x, y] rows, strings, booleans, out-of-range values, NaN...)
is left to the route, whose answer or one-line message is unchanged. Also ``posesearch serve --workers``."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the 'serve' extra is not installed: pip install -e '.[serve]'")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx (the 'serve' extra)")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from posesearch.service.app import create_app  # noqa: E402
from posesearch.service.core import Limits, Service, load_index, parse_json_body, plain_pose  # noqa: E402
from tests.serve_support import ROOT, sample_index  # noqa: E402

POSE = json.loads((ROOT / "examples" / "pose.json").read_text())


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Service:
    return Service(load_index(sample_index(tmp_path_factory.mktemp("fast"))), Limits(), "sample")


def general(svc: Service, raw: bytes) -> bytes:
    """The general path's answer, as Starlette's JSONResponse writes it."""
    return json.dumps(svc.query(parse_json_body(raw)), ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode()


# ------------------------------------------------------------------------------------ same answers
def test_the_example_pose_is_answered_fast_and_identically(service):
    raw = json.dumps(POSE).encode()
    fast = service.query_fast(raw)
    assert fast is not None and fast == general(service, raw)
    got = json.loads(fast)
    assert (got["matches"][0]["clip"], got["matches"][0]["frame"], got["k"], got["assumed"]) == \
        ("cmu:002_05:yaw45", 400, 10, {})
    no_layout = {"keypoints": POSE["keypoints"], "k": 3, "mirror": True}
    raw = json.dumps(no_layout).encode()
    assert service.query_fast(raw) == general(service, raw)
    assert json.loads(service.query_fast(raw))["assumed"]["layout"]["value"] == "coco17"
    assert service.query_fast(json.dumps({**POSE, "k": 100}).encode()) is not None
    assert service.query_fast(json.dumps({**POSE, "k": 101}).encode()) is None     # the general route's work


def test_plain_pose_by_hand():
    kp, cf = plain_pose([[1, 2, 0.5], None, [3.0, 4.0, 0], [5, 6, 1]])
    assert kp.tolist() == [[1, 2], [0, 0], [0, 0], [5, 6]] and cf.tolist() == [0.5, 0, 0, 1]
    for bad in ([], [[1, 2]], [[1, 2, None]], [[1, "2", 1]], [[1, 2, True]], [[1, 2, 1.5]], [[1, 2, -0.1]],
                [{"x": 1}], [1, 2, 3], [[1, 2, 1, 4]], "abc", [[10 ** 400, 1, 1]], None):
        assert plain_pose(bad) is None, bad


coord = st.one_of(st.integers(-10 ** 6, 10 ** 6), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))
row = st.one_of(st.none(), st.tuples(coord, coord, st.one_of(st.just(0), st.just(1), st.floats(0, 1))).map(list))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, min_size=17, max_size=17), k=st.integers(1, 20), mirror=st.booleans(),
       layout=st.sampled_from([None, "coco17"]))
def test_fast_equals_general_on_valid_poses(service, rows, k, mirror, layout):
    body = {"keypoints": rows, "k": k, "mirror": mirror, **({"layout": layout} if layout else {})}
    raw = json.dumps(body).encode()
    try:
        want = general(service, raw)
    except Exception as e:          # the general path refuses it (e.g. too few joints): so must the fast one
        assert service.query_fast(raw) is None, e
        return
    assert service.query_fast(raw) == want


odd = st.one_of(st.text(max_size=3), st.booleans(), st.none(), st.floats(allow_nan=True),
                st.integers(-2, 10 ** 20), st.lists(st.integers(0, 2), max_size=4))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["k", "mirror", "layout", "keypoints", "poses", "extra"]), value=odd,
       at=st.integers(0, 16))
def test_odd_bodies_are_left_to_the_general_path_or_answered_identically(service, field, value, at):
    body = {"keypoints": [list(r) if r else r for r in POSE["keypoints"]], "layout": "coco17"}
    if field == "keypoints":
        body["keypoints"][at] = value
    else:
        body[field] = value
    raw = json.dumps(body).encode()            # (NaN written as NaN, as the general path accepts)
    fast = service.query_fast(raw)
    if fast is not None:
        assert fast == general(service, raw)
        assert not (isinstance(value, float) and math.isnan(value))


# ----------------------------------------------------------------------------- through the app
def test_the_app_answers_fast_bodies_and_hands_on_the_rest(service):
    app = create_app(service.index, limits=Limits(max_body_bytes=4000))
    raw = json.dumps(POSE).encode()
    with TestClient(app) as c:
        r = c.post("/v1/query", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 200 and r.content == general(service, raw).replace(b'"sample"', b'"index"')
        xy = [k[:2] if k else None for k in POSE["keypoints"]]     # [x, y] rows: the general path reads them
        r = c.post("/v1/query", json={"keypoints": xy})
        assert r.status_code == 200 and r.json()["matches"][0]["frame"] == 400, r.text
        r = c.post("/v1/query", json={"poses": [POSE["keypoints"]] * 2, "k": 1})
        assert r.status_code == 200 and [x["matches"][0]["frame"] for x in r.json()["results"]] == [400, 400]
        r = c.post("/v1/query", content=b'{"keypoints": [[1, 2, 1]], "k": 0}')
        assert r.status_code == 422 and r.json()["detail"].startswith("k: expected an integer in [1, ")
        r = c.post("/v1/query", content=(b" " * 500 for _ in range(10)))       # no Content-Length, too long
        assert r.status_code == 413 and "more than this service takes (4,000 bytes)" in r.json()["detail"]
        assert c.get("/openapi.json").json()["paths"]["/v1/query"]["post"]["requestBody"]["required"]


def test_the_fast_path_keeps_the_token(service):
    with TestClient(create_app(service.index, token="s3cret")) as c:
        assert c.post("/v1/query", json=POSE).status_code == 401
        r = c.post("/v1/query", json=POSE, headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200 and r.json()["matches"][0]["frame"] == 400
        assert np.isfinite(r.json()["matches"][0]["distance"])


# ------------------------------------------------------------------------------------ --workers
def test_workers_share_the_port_and_stop_on_sigterm(service, tmp_path):
    import concurrent.futures
    import time

    import httpx

    from tests.serve_support import Server

    path = sample_index(tmp_path)
    server = Server(["serve", str(path), "--workers", "2"])
    try:
        children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children")
        deadline = time.monotonic() + 30        # (the address is printed just before the workers are forked)
        while len(workers := children.read_text().split()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(workers) == 2
        with httpx.Client(base_url=server.url, timeout=30) as h, concurrent.futures.ThreadPoolExecutor(8) as pool:
            frames = list(pool.map(lambda _: h.post("/v1/query", json=POSE).json()["matches"][0]["frame"],
                                   range(40)))
        assert frames == [400] * 40
    finally:
        t0 = time.monotonic()
        code = server.stop()
    assert code == 0 and "Traceback" not in server.stderr, server.stderr
    assert time.monotonic() - t0 < 10
    assert not any(Path(f"/proc/{w}").exists() and "posesearch" in Path(f"/proc/{w}/cmdline").read_text()
                   for w in workers)


@pytest.mark.parametrize("value,words", [("0", "--workers: expected an integer in [1, 64], got 0"),
                                         ("65", "--workers: expected an integer in [1, 64], got 65"),
                                         ("two", "Invalid value for '--workers'")])
def test_bad_workers_is_one_line(service, tmp_path, value, words):
    from typer.testing import CliRunner

    from posesearch.cli.app import app as cli_app

    r = CliRunner().invoke(cli_app, ["serve", str(tmp_path / "never_read.h5"), "--workers", value])
    assert r.exit_code == 2 and words in r.output, r.output
    assert "Traceback" not in r.output
