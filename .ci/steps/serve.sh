# CI step for the 'serve' extra (issue 18): FastAPI + uvicorn, the API tests, a real uvicorn, the README block
# that starts the service, and the page in headless Chromium (Debian's chromium + chromedriver, no download).
serve() {
    say "serve: chromium + chromedriver (apt), pip install -e \".[serve,test]\" selenium, the service's tests"
    if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q chromium chromium-driver >/dev/null \
            || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; } \
            || fail "serve: apt-get install chromium chromium-driver"
    fi
    ( cd "$CHECKOUT" && python -m pip install --quiet -e ".[serve,test]" selenium ) || fail "serve: pip install"
    local status=0
    ( cd "$CHECKOUT" && python -m pytest -q -p no:cacheprovider tests/test_serve.py tests/test_serve_fast.py tests/test_serve_browser.py \
        tests/test_readme.py -k "serve or Serve or failures_are_caught" -rs ) || status=$?
    [ "$status" = 0 ] || fail "serve: tests failed (exit $status)"
}
