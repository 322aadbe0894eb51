"""``posesearch serve`` (issue 18): every route with FastAPI's TestClient, the live session (its final report
equals the offline score of the same frames), the bad requests (4xx with the CLI's one-line message, 413 over
the limits, WebSocket garbage closed cleanly, nothing left behind by a client that goes away), the token,
the page's files, and one real uvicorn process on a free port stopped with SIGTERM."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the 'serve' extra is not installed: pip install -e '.[serve]'")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx (the 'serve' extra)")

from fastapi.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import posesearch as ps  # noqa: E402
from posesearch.cli.app import app as cli_app  # noqa: E402
from posesearch.service.app import STATIC, create_app  # noqa: E402
from posesearch.service.core import Limits, load_index  # noqa: E402
from tests.serve_support import ROOT, SAMPLE_CLIP, SAMPLE_END, Server, sample_index, user_frames  # noqa: E402

EXAMPLES = ROOT / "examples"
USER = json.loads((EXAMPLES / "user.json").read_text())
POSE = json.loads((EXAMPLES / "pose.json").read_text())
runner = CliRunner()


@pytest.fixture(scope="module")
def index_path(tmp_path_factory) -> Path:
    return sample_index(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def client(index_path):
    with TestClient(create_app(index_path)) as c:
        yield c


def cli_error(args: list[str]) -> str:
    r = runner.invoke(cli_app, args)
    assert r.exit_code == 2, r.output
    return r.output.strip().splitlines()[-1].removeprefix("error: ")


def reference_segment(index_path):
    """The reference the tests score against: the first SAMPLE_END seconds of SAMPLE_CLIP."""
    from posesearch.corpus.listing import clip_sequence

    seq = clip_sequence(load_index(index_path).corpus, SAMPLE_CLIP)
    return seq.slice(0, int(np.searchsorted(np.asarray(seq.times), SAMPLE_END, side="left")))


# ------------------------------------------------------------------------------------------- routes
def test_health(client, index_path):
    h = client.get("/v1/health").json()
    idx = load_index(index_path)
    assert h["status"] == "ok" and h["version"] == ps.__version__
    assert (h["frames"], h["metric"], h["backend"], h["exact"]) == (len(idx), "weighted", "exact", True)
    assert h["corpus"]["clips"] == idx.corpus.num_clips and h["live_sessions"] == 0
    assert client.get("/docs").status_code == 200 and "/v1/query" in client.get("/openapi.json").json()["paths"]


def test_query_single_and_batch_are_the_library_records(client, index_path):
    idx = load_index(index_path)
    r = client.post("/v1/query", json={**POSE, "k": 3, "mirror": True})
    assert r.status_code == 200, r.text
    want = idx.search(np.array([k if k else [0, 0, 0] for k in POSE["keypoints"]], float), 3, mirror=True)
    got = r.json()
    assert got["matches"] == want.to_records()[0] and got["layout"] == "coco17" and got["k"] == 3
    assert got["matches"][0]["clip"] == "cmu:002_05:yaw45" and got["matches"][0]["frame"] == 400
    other = json.loads((EXAMPLES / "pose_b.json").read_text())
    r = client.post("/v1/query", json={"poses": [POSE["keypoints"], other], "k": 2})
    res = r.json()["results"]
    assert [x["query"] for x in res] == [0, 1] and res[0]["matches"][0]["frame"] == 400
    assert res[1]["matches"][0]["clip"] == "cmu:005_02:yaw0" and res[1]["matches"][0]["distance"] < 1e-4


@pytest.mark.parametrize("body,status,field", [
    (b"{bad json", 400, "request body"),
    (json.dumps({"keypoints": [[1, 2, 1]] * 5}).encode(), 422, "keypoints"),
    (b'{"keypoints": [[1, 2, NaN]' + b", [1, 2, 1]" * 16 + b"]}", 422, "keypoints"),
    (json.dumps({"keypoints": [[1, 2, 1]] * 16, "layout": "coco17"}).encode(), 422, "keypoints"),
])
def test_bad_query_gets_the_clis_message(client, index_path, tmp_path, body, status, field):
    r = client.post("/v1/query", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    f = tmp_path / "pose.json"
    f.write_bytes(body)
    cli = cli_error(["query", str(index_path), str(f)])
    assert r.json()["detail"] == cli.replace(str(f), field), (r.json(), cli)


@pytest.mark.parametrize("body,status,words", [
    ({"keypoints": POSE["keypoints"], "k": 0}, 422, "k: expected an integer in [1, "),
    ({"keypoints": POSE["keypoints"], "mirror": "maybe"}, 422, "mirror: expected true or false"),
    ({"keypoints": POSE["keypoints"], "poses": []}, 422, "got both"),
    ({"pose": 1}, 422, "unknown field 'pose'"),
    ([1, 2], 400, "expected a JSON object"),
    ({"poses": [POSE["keypoints"]] * 3}, 413, "more than this service takes in one request (2)"),
])
def test_bad_query_fields(index_path, body, status, words):
    with TestClient(create_app(index_path, limits=Limits(max_batch=2))) as c:
        r = c.post("/v1/query", json=body)
    assert r.status_code == status and words in r.json()["detail"], r.text
    assert "\n" not in r.json()["detail"]


def test_score_is_score_json(client, index_path):
    ref = json.loads((EXAMPLES / "reference.json").read_text())
    r = client.post("/v1/score", json={"reference": ref, "user": USER})
    assert r.status_code == 200, r.text
    cli = runner.invoke(cli_app, ["score", str(EXAMPLES / "reference.json"), str(EXAMPLES / "user.json"), "--json"])
    want = json.loads(cli.output)
    got = r.json()
    for key in ("reference", "user", "assumed"):
        got.pop(key), want.pop(key)
    assert got["settings"].pop("max_frames") == Limits().max_frames      # the service's limit on sequences
    want["settings"].pop("max_frames")
    assert got == want
    # the reference as a corpus clip (its first 5 s): the same as the library on that segment
    r = client.post("/v1/score", json={"reference_clip": SAMPLE_CLIP, "end": SAMPLE_END, "user": USER,
                                       "settings": {"mirror": "on", "smooth": "none"}})
    settings = ps.ScoreSettings(mirror="on", smooth="none", max_frames=Limits().max_frames)
    offline = ps.score_sequence(reference_segment(index_path), ps.read_sequence(EXAMPLES / "user.json"),
                                settings=settings)
    assert r.json()["score"] == round(offline.score, 6) and r.json()["reference"] == SAMPLE_CLIP


@pytest.mark.parametrize("body,status,words", [
    ({"reference_clip": "cmu:nope", "user": USER}, 404, "clip 'cmu:nope' is not in corpus"),
    ({"reference_clip": SAMPLE_CLIP, "user": {**USER, "frames": USER["frames"][:1], "times": [0.0]}}, 422,
     "user (user): expected at least 2 frames, got 1"),
    ({"reference_clip": SAMPLE_CLIP, "user": USER, "settings": {"smooth": "gauss"}}, 422, "unknown smoother"),
    ({"reference_clip": SAMPLE_CLIP, "user": USER, "settings": {"speed": "x"}}, 422, "unknown score setting"),
    ({"user": USER}, 422, "got neither"),
    ({"reference_clip": SAMPLE_CLIP, "user": {"frames": USER["frames"]}}, 422, "user: frame times unknown"),
    ({"reference_clip": SAMPLE_CLIP, "user": {**USER, "frames": USER["frames"] * 400}}, 413,
     "user: 25,200 frames, more than this service takes (18,000)"),
])
def test_bad_score_requests(client, body, status, words):
    r = client.post("/v1/score", json=body)
    assert r.status_code == status and words in r.json()["detail"], r.text


def test_search_is_the_librarys(client, index_path):
    r = client.post("/v1/search", json={"sequence": USER, "top": 3})
    assert r.status_code == 200, r.text
    idx = load_index(index_path)
    want = idx.search_sequence(ps.read_sequence(EXAMPLES / "user.json"), top=3).to_dict()
    got = r.json()
    assert {k: got[k] for k in want} == want
    assert got["clips"][0]["clip"] == SAMPLE_CLIP and got["clips"][0]["mirrored"]
    r = client.post("/v1/search", json={"sequence": {**USER, "frames": USER["frames"][:1], "times": [0]}})
    assert r.status_code == 422 and "POST it to /v1/query" in r.json()["detail"]


def test_clips_listing_and_frames(client, index_path):
    idx = load_index(index_path)
    r = client.get("/v1/clips", params={"label": "dataset=cmu-mocap", "limit": 5, "offset": 5})
    assert r.json() == idx.corpus.list_clips(["dataset=cmu-mocap"], limit=5, offset=5).to_dict()
    assert r.json()["shown"] == 5 and r.json()["matched"] == 24
    assert client.get("/v1/clips", params={"limit": "lots"}).status_code == 422
    assert "limit: expected an integer in [1, 1000]" in client.get("/v1/clips?limit=5000").json()["detail"]
    one = client.get(f"/v1/clips/{SAMPLE_CLIP}").json()
    from posesearch.corpus.listing import clip_sequence
    from posesearch.sequence.io import sequence_doc

    assert {k: one[k] for k in ("layout", "fps", "frames")} == sequence_doc(clip_sequence(idx.corpus, SAMPLE_CLIP))
    assert one["labels"]["description"] == "punch/strike"
    r = client.get("/v1/clips/cmu:002_05:yaw1")
    assert r.status_code == 404 and "close ids: cmu:002_05:yaw" in r.json()["detail"]


def test_body_over_the_limit_is_413(index_path):
    with TestClient(create_app(index_path, limits=Limits(max_body_bytes=2000))) as c:
        r = c.post("/v1/query", json={**POSE, "pad": "x" * 3000})
        assert r.status_code == 413 and "more than this service takes (2,000 bytes)" in r.json()["detail"]

        def chunks():                       # no Content-Length: refused while reading
            for _ in range(10):
                yield b" " * 500

        r = c.post("/v1/query", content=chunks())
        assert r.status_code == 413, r.text
        assert c.post("/v1/query", json=POSE).status_code == 200


# --------------------------------------------------------------------------------------------- live
LIVE_URL = f"/v1/live?reference_clip={SAMPLE_CLIP}&end={SAMPLE_END}"


def live_run(client, frames, times, query="", settings=None, url=LIVE_URL):
    """Send frames to ``url + query``, then end; (answers to the frames, the report)."""
    answers = []
    with client.websocket_connect(url + query) as ws:
        for t, f in zip(times, frames):
            ws.send_json({"t": t, "keypoints": f})
            answers.append(ws.receive_json())
        ws.send_json({"type": "end"})
        report = ws.receive_json()
    return answers, report


@pytest.mark.parametrize("query,settings", [("", {}),
                                            ("&smooth=one-euro&mirror=on&interp=hold",
                                             {"smooth": "one-euro", "mirror": "on", "interp": "hold"})])
def test_live_final_report_equals_offline(client, index_path, query, settings):
    frames, times = user_frames(USER)
    answers, report = live_run(client, frames, times, query)
    assert all(a["type"] == "update" for a in answers)
    last = answers[-1]
    assert last["score"] is not None and 0 < last["progress"] <= 1 and last["frames"] == len(frames)
    assert len(last["worst_joints"]) == 3 and last["nearest"]["clip"].startswith("cmu:002_05")
    assert report["type"] == "report"
    user = ps.Sequence.from_arrays(np.array(frames, float), layout="coco17", times=np.array(times))
    settings = ps.ScoreSettings(**settings, max_frames=Limits().max_frames)     # the service's limit
    offline = ps.score_sequence(reference_segment(index_path), user, settings=settings)
    assert report["score"] == round(offline.score, 6)
    want = offline.to_dict(path=False)
    assert {k: report[k] for k in want} == want


def test_live_accepts_null_for_a_missing_joint_as_pose_files_do(client):
    """A frame sent as the sequence file holds it (null = a missing joint) gets the same answers and report as
    the same frame with [0, 0, 0] rows, and at least one frame of the sample has a null."""
    frames, times = user_frames(USER)
    raw = USER["frames"]
    assert any(k is None for f in raw for k in f)
    zero_answers, zero_report = live_run(client, frames, times)
    null_answers, null_report = live_run(client, raw, times)
    assert all(a["type"] == "update" for a in null_answers)
    assert null_answers == zero_answers and null_report == zero_report


REP_START, REP_END = 1.0, 2.5         # one "rep": this stretch of SAMPLE_CLIP


def repeated_reps(index_path):
    """(reference rep, user) for the rep tests: the user rests (the rep's first pose), does the rep, rests, does
    it 1.25 x slower, rests, does it again, rests; 30 fps; missing keypoints [0, 0, 0] as a client sends them."""
    from posesearch.corpus.listing import clip_sequence

    seq = clip_sequence(load_index(index_path).corpus, SAMPLE_CLIP)
    t = np.asarray(seq.times)
    ref = seq.slice(*(int(np.searchsorted(t, x)) for x in (REP_START, REP_END)))
    rep = np.nan_to_num(ref.as_array(), nan=0.0)
    slow = rep[np.round(np.arange(int(len(rep) * 1.25)) / 1.25).astype(int)]
    rest = np.repeat(rep[:1], 15, axis=0)
    user = np.concatenate([rest, rep, rest, slow, rest, rep, rest])
    return ref, ps.Sequence.from_arrays(user, layout="coco17", times=np.arange(len(user)) / 30.0)


def test_live_reps_arrive_as_they_complete_and_equal_find_reps(client, index_path):
    ref, user = repeated_reps(index_path)
    frames, times = user.as_array().tolist(), [float(x) for x in user.times]
    answers, report = live_run(client, frames, times, f"&start={REP_START}&nearest=false&reps=true",
                               url=f"/v1/live?reference_clip={SAMPLE_CLIP}&end={REP_END}")
    assert all(a["type"] == "update" for a in answers)
    live = [(t, r) for t, a in zip(times, answers) for r in a["new_reps"]]
    assert [a["reps"] for a in answers] == [sum(t2 <= t for t2, _ in live) for t in times]   # the running count
    assert [r["index"] for _, r in live] == [1, 2, 3]
    assert all(t >= r["end"] + 0.25 * (REP_END - REP_START) - 1e-6 for t, r in live)   # once complete, not before
    assert live[0][0] < times[-1] - 2.0                     # ... and long before the session ends
    settings = ps.ScoreSettings(max_frames=Limits().max_frames)
    offline = ps.find_reps(ref, user, ps.RepSettings(score=settings)).to_dict()
    assert offline["count"] == 3 and offline["reps"][1]["duration"] > 1.2 * offline["reps"][0]["duration"]
    assert [r for _, r in live] == offline["reps"] == report["reps"]     # every field and feedback sentence
    # the final report is still the offline score of the frames sent, reps or not
    assert report["score"] == round(ps.score_sequence(ref, user, settings=settings).score, 6)
    # a stream that stops right after its last rep: that rep is completed by the end message itself
    cut = len(frames) - 15
    answers, report = live_run(client, frames[:cut], times[:cut], f"&start={REP_START}&nearest=false&reps=true",
                               url=f"/v1/live?reference_clip={SAMPLE_CLIP}&end={REP_END}")
    assert answers[-1]["reps"] == 2 and [r["index"] for r in report["reps"]] == [1, 2, 3]
    cut_user = user.slice(0, cut)
    assert report["reps"] == ps.find_reps(ref, cut_user, ps.RepSettings(score=settings)).to_dict()["reps"]
    # without reps=true the answers carry no rep fields
    plain, _ = live_run(client, frames[:40], times[:40], f"&start={REP_START}&nearest=false",
                        url=f"/v1/live?reference_clip={SAMPLE_CLIP}&end={REP_END}")
    assert not any("reps" in a or "new_reps" in a for a in plain)


def test_score_with_reps_adds_find_reps(client, index_path):
    from posesearch.sequence.io import sequence_doc

    ref, user = repeated_reps(index_path)
    r = client.post("/v1/score", json={"reference_clip": SAMPLE_CLIP, "start": REP_START, "end": REP_END,
                                       "user": sequence_doc(user), "reps": True})
    assert r.status_code == 200, r.text
    settings = ps.ScoreSettings(max_frames=Limits().max_frames)
    want = ps.find_reps(ref, user, ps.RepSettings(score=settings)).to_dict()
    got = r.json()["reps"]
    assert got["count"] == 3 and got["reps"] == want["reps"]
    assert "reps" not in client.post("/v1/score", json={"reference_clip": SAMPLE_CLIP, "user": USER}).json()
    assert client.post("/v1/score", json={"reference_clip": SAMPLE_CLIP, "user": USER, "reps": "x"}).status_code == 422


def test_live_late_and_bad_frames_are_skipped_as_the_session_does(client, index_path):
    frames, times = user_frames(USER)
    order = list(range(10)) + [12, 11] + list(range(13, len(frames)))     # frame 11 arrives late
    sent_f = [frames[i] for i in order]
    sent_t = [times[i] for i in order]
    sent_f.insert(5, [[0, 0, float("nan")]] * 17)
    sent_t.insert(5, times[4] + 0.05)
    with client.websocket_connect(f"/v1/live?reference_clip={SAMPLE_CLIP}&end={SAMPLE_END}") as ws:
        answers = []
        for t, f in zip(sent_t, sent_f):
            ws.send_text(json.dumps({"t": t, "keypoints": f}))
            answers.append(ws.receive_json())
        ws.send_json({"type": "end"})
        report = ws.receive_json()
    errors = [a for a in answers if a["type"] == "error"]
    assert len(errors) == 2 and "NaN" in errors[0]["detail"] and "times must increase" in errors[1]["detail"]
    kept = [i for i in order if i != 11]
    user = ps.Sequence.from_arrays(np.array([frames[i] for i in kept], float), layout="coco17",
                                   times=np.array([times[i] for i in kept]))
    settings = ps.ScoreSettings(max_frames=Limits().max_frames)
    assert report["score"] == round(ps.score_sequence(reference_segment(index_path), user, settings=settings).score, 6)


@pytest.mark.parametrize("url,send,code,words", [
    (f"/v1/live?reference_clip={SAMPLE_CLIP}", "not json", 4400, "message: not valid JSON"),
    (f"/v1/live?reference_clip={SAMPLE_CLIP}", b"\x00\x01", 4400, "got a binary one"),
    (f"/v1/live?reference_clip={SAMPLE_CLIP}", "[1, 2]", 4400, "expected a JSON object"),
    (f"/v1/live?reference_clip={SAMPLE_CLIP}", '{"type": "pause"}', 4400, "type: expected 'frame' or 'end'"),
    (f"/v1/live?reference_clip={SAMPLE_CLIP}", '{"keypoints": []}', 4400, "a frame needs 't'"),
    (f"/v1/live?reference_clip={SAMPLE_CLIP}", '{"type": "end"}', 4422, "no user frame has been pushed yet"),
    ("/v1/live?reference_clip=cmu:nope", None, 4404, "is not in corpus"),
    ("/v1/live", None, 4422, "reference_clip: missing"),
    (f"/v1/live?reference_clip={SAMPLE_CLIP}&smooth=gauss", None, 4422, "unknown smoother"),
    (f"/v1/live?reference_clip={SAMPLE_CLIP}&speed=2", None, 4422, "unknown query parameter 'speed'"),
    (f"/v1/live?reference_clip={SAMPLE_CLIP}&reps=maybe", None, 4422, "reps: expected true or false"),
    (f"/v1/live?reference_clip={SAMPLE_CLIP}&reps=1&rep_threshold=120", None, 4422, "rep_threshold"),
    (f"/v1/live?reference_clip={SAMPLE_CLIP}&rep_threshold=50", None, 4422, "given without reps=true"),
])
def test_live_garbage_gets_an_error_and_a_clean_close(client, url, send, code, words):
    with client.websocket_connect(url) as ws:
        if isinstance(send, bytes):
            ws.send_bytes(send)
        elif send is not None:
            ws.send_text(send)
        msg = ws.receive_json()
        assert msg["type"] == "error" and words in msg["detail"], msg
        with pytest.raises(WebSocketDisconnect) as e:
            ws.receive_json()
        assert e.value.code == code
    assert client.app.state.service.live_sessions == 0


def test_a_client_that_goes_away_leaks_nothing(index_path):
    import gc
    import time

    from posesearch.sequence.stream import ScoreSession

    frames, times = user_frames(USER)
    with TestClient(create_app(index_path)) as c:
        svc = c.app.state.service
        for _ in range(3):
            with c.websocket_connect(f"/v1/live?reference_clip={SAMPLE_CLIP}&end={SAMPLE_END}") as ws:
                for t, f in zip(times[:5], frames[:5]):
                    ws.send_json({"t": t, "keypoints": f})
                    ws.receive_json()
                assert svc.live_sessions == 1
            # the client left without {"type": "end"}
        for _ in range(100):
            if svc.live_sessions == 0:
                break
            time.sleep(0.01)
        assert svc.live_sessions == 0
        gc.collect()
        assert not [o for o in gc.get_objects() if isinstance(o, ScoreSession)]


def test_session_limits(index_path):
    frames, _ = user_frames(USER)
    url = f"/v1/live?reference_clip={SAMPLE_CLIP}&end={SAMPLE_END}"        # 150 reference frames
    with TestClient(create_app(index_path, limits=Limits(max_sessions=1, max_frames=150))) as c:
        with c.websocket_connect(url) as ws:
            with c.websocket_connect(url) as ws2:
                assert "live sessions, its limit" in ws2.receive_json()["detail"]
            for i in range(150):
                ws.send_json({"t": i / 10, "keypoints": frames[i % len(frames)]})
                assert ws.receive_json()["type"] == "update"
            ws.send_json({"t": 15.0, "keypoints": frames[0]})
            assert "the most this service scores (150)" in ws.receive_json()["detail"]
            with pytest.raises(WebSocketDisconnect) as e:
                ws.receive_json()
            assert e.value.code == 4413


# ------------------------------------------------------------------------------------ token, page
def test_token_on_every_route(index_path):
    with TestClient(create_app(index_path, token="s3cret")) as c:
        for path in ("/", "/v1/health", "/v1/clips", "/static/app.js", "/docs"):
            r = c.get(path)
            assert r.status_code == 401 and "Bearer" in r.json()["detail"], path
        assert c.post("/v1/query", json=POSE).status_code == 401
        assert c.get("/v1/health", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/v1/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        with pytest.raises(WebSocketDisconnect) as e:
            with c.websocket_connect(f"/v1/live?reference_clip={SAMPLE_CLIP}") as ws:
                ws.receive_json()
        assert e.value.code == 1008
        page = c.get("/?token=s3cret")             # the page sets a cookie its own requests carry
        assert page.status_code == 200 and "posesearch_token" in page.headers["set-cookie"]
        assert c.get("/v1/health").status_code == 200
        with c.websocket_connect(f"/v1/live?reference_clip={SAMPLE_CLIP}") as ws:
            ws.send_json({"type": "end"})
            assert ws.receive_json()["type"] == "error"


def test_page_files_are_local(client):
    r = client.get("/")
    assert r.status_code == 200 and "<canvas" in r.text and 'src="static/app.js"' in r.text
    assert client.get("/static/app.js").status_code == 200
    assert (STATIC / "sample_user.json").read_bytes() == (EXAMPLES / "user.json").read_bytes()
    for f in STATIC.iterdir():                    # no CDN: nothing outside the machine is referenced
        text = f.read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, f.name


def test_serve_without_the_extra_names_it(monkeypatch, index_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fastapi" else real(name, *a))
    r = runner.invoke(cli_app, ["serve", str(index_path)])
    assert r.exit_code == 2
    assert r.output.strip() == ("error: posesearch serve needs the 'serve' extra: pip install \"posesearch[serve]\" "
                                "(from a checkout: pip install -e \".[serve]\")")


def test_bad_port_and_index_are_one_line(tmp_path, index_path):
    assert "--port: expected an integer in [0, 65535], got 70000" in cli_error(["serve", str(index_path),
                                                                               "--port", "70000"])
    assert "no such file" in cli_error(["serve", str(tmp_path / "none.h5")]) or \
        "none.h5" in cli_error(["serve", str(tmp_path / "none.h5")])


# ------------------------------------------------------------------------------- a real server
def test_real_uvicorn_answers_and_stops_on_sigterm(index_path):
    import concurrent.futures
    import time

    import httpx

    server = Server(["serve", str(index_path)])
    try:
        status, health = server.get("/v1/health")
        assert status == 200 and health["frames"] == len(load_index(index_path))
        with httpx.Client(base_url=server.url, timeout=30) as h, concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: h.post("/v1/query", json=POSE).json()["matches"][0]["frame"],
                                    range(32)))
        assert answers == [400] * 32
        status, page = server.get("/")
        assert status == 200 and b"posesearch live" in page
        from websockets.sync.client import connect

        frames, times = user_frames(USER)
        ws = connect(server.url.replace("http://", "ws://") + f"v1/live?reference_clip={SAMPLE_CLIP}&end={SAMPLE_END}")
        ws.send(json.dumps({"t": times[0], "keypoints": frames[0]}))
        assert json.loads(ws.recv())["type"] == "update"       # a session still open when SIGTERM comes
    finally:
        t0 = time.monotonic()
        code = server.stop()
    assert code == 0, server.stderr
    assert time.monotonic() - t0 < 10 and "Traceback" not in server.stderr
    with pytest.raises(Exception):      # the server closed the open session on its way out
        ws.recv(timeout=5)
    ws.close()
