# CI step for the 'cluster' extra (Ray): install it beside the test extra, then run the sharded-index tests
# on Ray (tests/test_sharded_ray.py: a local Ray with 2 CPUs started inside the tests, real data included),
# which must run, not skip. The embedded sharded-index tests (tests/test_sharded.py) run in the README test
# step. About 2.5 minutes of install and 2 of tests on an idle 2-core machine.
cluster() {
    say "cluster extra: pip install -e \".[cluster,test]\"; the sharded index with and without Ray"
    cd "$CHECKOUT"
    local t0=$SECONDS
    pip install --quiet -e "$CHECKOUT[cluster,test]" || fail "pip install -e \"$CHECKOUT[cluster,test]\""
    python -c "import ray; print('ci: ray', ray.__version__, 'installed in', $((SECONDS - t0)), 's')" \
        || fail "ray does not import after installing the cluster extra"
    python -m pytest -q tests/test_sharded_ray.py --junitxml="$WORK/junit-cluster.xml" || fail "tests/test_sharded_ray.py"
    python - "$WORK/junit-cluster.xml" <<'PY'
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suite = root if root.tag == "testsuite" else root.find("testsuite")
tests, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
print(f"ci: Ray tests: {tests} ran, {skipped} skipped")
if tests == 0 or skipped:
    sys.exit("ci: the Ray tests did not all run (skipped: is ray installed, the shared data present?)")
PY
}
