# The 'train' extra (torch CPU, for scripts/train_lift.py): numpy inference of the shipped lifting weights
# equals torch's, and the weights' checksum verifies (the rest of tests/test_view_lift.py needs no extra and
# runs in the main suite).
lift() {
    say "lift: train extra (torch CPU) and the lifting tests that need it"
    cd "$CHECKOUT" && pip install -q -e ".[train,test]" || fail "pip install -e .[train,test]"
    python -c "import torch; print('ci: torch', torch.__version__)" || fail "torch does not import after the train extra"
    python -m pytest -q tests/test_view_lift.py -k "torch or weights" -p no:cacheprovider -rs \
        || fail "tests/test_view_lift.py (train extra)"
}
