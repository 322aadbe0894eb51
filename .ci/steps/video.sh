# CI step for the 'video' extra (issue 17): mediapipe 0.10.21 pins numpy < 2, so the extra gets its own venv
# (the README venv stays on numpy 2). Installs ".[video,test]" from the clean clone, then runs, under numpy < 2:
# the video tests (tests/test_video.py needs the extra and ../shared/data/media; it must not skip here), the
# README's video block, and a quick core smoke (pose core, sequence files; the video tests score and query).
video() {
    say "video extra: own venv (numpy < 2), video tests + core smoke"
    local venv="$WORK/venv-video"
    deactivate 2>/dev/null || true
    python3 -m venv "$venv"
    # shellcheck disable=SC1091
    source "$venv/bin/activate"
    python -m pip install --quiet --upgrade pip
    cd "$CHECKOUT"
    python -m pip install --quiet -e "$CHECKOUT[video,test]" || fail "pip install -e .[video,test]"
    python -c "import numpy, mediapipe, cv2; assert numpy.__version__ < '2', numpy.__version__; print('ci: numpy', numpy.__version__, 'mediapipe', mediapipe.__version__, 'opencv', cv2.__version__)" \
        || fail "the video extra does not import"
    local report="$WORK/junit-video.xml"
    python -m pytest -q -rs --junitxml="$report" tests/test_video.py tests/test_video_core.py tests/test_import_graph.py \
        tests/test_poses_core.py tests/test_sequence_io.py \
        "tests/test_readme.py" -k "not test_readme or extract" \
        || fail "video tests (numpy < 2)"
    python - "$report" <<'PY'
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suite = root if root.tag == "testsuite" else root.find("testsuite")
cases = list(suite.iter("testcase"))
video = [c for c in cases if c.get("classname", "").endswith("test_video")]
skipped = [c for c in video if c.find("skipped") is not None]
readme = [c for c in cases if c.get("classname", "").endswith("test_readme") and c.find("skipped") is None]
print(f"ci: video step ran {len(cases)} tests; test_video: {len(video)} ({len(skipped)} skipped); README video blocks run: {len(readme)}")
if not video or skipped or not readme:
    sys.exit("ci: the video tests skipped or did not run (extra or ../shared/data/media missing?)")
PY
    deactivate
    # shellcheck disable=SC1091
    source "$VENV/bin/activate"
}
