"""The service's page in a real browser (issue 18): headless Chromium from Debian, driven by Selenium through
/usr/bin/chromedriver (no browser download). It loads the page from a real ``posesearch serve`` process,
replays the bundled sample to the live endpoint at its own frame rate, waits for the end, and checks that the
score the page shows is the offline score of the same frames, and that the canvas drew (not blank).

Skips with the reason when Chromium, chromedriver or Selenium is missing (CI's serve step installs them).
``POSESEARCH_SCREENSHOT=PATH`` also saves the page's screenshot there (docs/serve_page.png is made so).
"""
from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the 'serve' extra is not installed: pip install -e '.[serve]'")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")

from tests.serve_support import ROOT, SAMPLE_CLIP, SAMPLE_END, Server, sample_index, user_frames  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1100,900"]


@pytest.fixture
def browser(tmp_path):
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip(f"no Chromium ({CHROMIUM}) or chromedriver ({CHROMEDRIVER}): "
                    "apt-get install -y chromium chromium-driver")
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS + [f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=DriverService(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def test_page_replays_the_sample_and_shows_the_offline_score(browser, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    import posesearch as ps
    from posesearch.corpus.listing import clip_sequence
    from posesearch.service.core import Limits, load_index

    index = sample_index(tmp_path)
    server = Server(["serve", str(index)])
    try:
        browser.get(server.url)
        wait = WebDriverWait(browser, 60, poll_frequency=0.2)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") in ("ready", "error"))
        assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "ready", \
            browser.find_element(By.ID, "status").text
        browser.find_element(By.ID, "replay").click()
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") in ("done", "error"))
        state = browser.find_element(By.TAG_NAME, "body").get_attribute("data-state")
        assert state == "done", browser.find_element(By.ID, "status").text
        shown = browser.find_element(By.ID, "final-score")
        page_score = float(shown.get_attribute("data-score"))
        final_text = shown.text
        running = browser.find_element(By.ID, "score").text
        reps_shown = browser.find_element(By.ID, "reps").text
        png = browser.find_element(By.ID, "canvas").screenshot_as_png
        if os.environ.get("POSESEARCH_SCREENSHOT"):
            browser.save_screenshot(os.environ["POSESEARCH_SCREENSHOT"])
        # pick the first frame and ask for its nearest corpus pose: the page shows what /v1/query answers
        browser.execute_script("const p = document.getElementById('pick'); p.value = 1;"
                               "p.dispatchEvent(new Event('input'));")
        browser.find_element(By.ID, "nearest-btn").click()
        wait.until(lambda d: "nearest corpus pose of user frame 1:" in d.find_element(By.ID, "nearest").text)
        nearest_text = browser.find_element(By.ID, "nearest").text
        import httpx

        frames0 = user_frames(json.loads((ROOT / "posesearch/service/static/sample_user.json").read_text()))[0][0]
        m = httpx.post(server.url + "v1/query", json={"keypoints": frames0, "k": 1, "mirror": True}).json()
        m = m["matches"][0]
        assert f"{m['clip']} frame {m['frame']} " in nearest_text, (nearest_text, m)
    finally:
        assert server.stop() == 0, server.stderr

    # the offline score of the frames the page sent (the bundled sample, missing keypoints as [0, 0, 0])
    doc = json.loads((ROOT / "posesearch" / "service" / "static" / "sample_user.json").read_text())
    frames, times = user_frames(doc)
    user = ps.Sequence.from_arrays(np.array(frames, float), layout="coco17", times=np.array(times))
    ref = clip_sequence(load_index(index).corpus, SAMPLE_CLIP)
    ref = ref.slice(0, int(np.searchsorted(np.asarray(ref.times), SAMPLE_END, side="left")))
    offline = ps.score_sequence(ref, user, settings=ps.ScoreSettings(max_frames=Limits().max_frames))
    assert page_score == round(offline.score, 6)
    assert final_text == f"{offline.score:.1f}"
    assert running not in ("", "-")
    # the page asks for reps (reps=true): it shows the reps the session found, those find_reps finds offline
    reps = ps.find_reps(ref, user, ps.RepSettings(score=ps.ScoreSettings(max_frames=Limits().max_frames)))
    assert reps_shown == str(sum(not r.partial for r in reps.reps)), (reps_shown, reps.summary())
    # the canvas drew: many pixels differ from its background, in both halves (user and reference)
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    background = np.array([250, 250, 250])
    drawn = np.abs(img - background).sum(axis=2) > 60
    h, w = drawn.shape
    assert drawn[:, : w // 2].mean() > 0.005 and drawn[:, w // 2:].mean() > 0.005, drawn.mean()
