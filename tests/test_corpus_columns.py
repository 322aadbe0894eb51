"""Column helpers: string columns and chunk-aware random reads, against plain Python/numpy."""
from __future__ import annotations

import h5py
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posesearch.corpus import columns as col

texts = st.lists(st.one_of(st.text(max_size=8), st.sampled_from(["", "coco17", "a\x00b", "x\x00"])),
                 min_size=0, max_size=60)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=texts, repeat=st.integers(1, 40), data=st.data())
def test_string_column_round_trip(tmp_path_factory, values, repeat, data):
    values = values * repeat  # long lists take the vectorized encoder
    data_bytes, lengths = col.encode_strings(values)
    enc = [v.encode("utf-8") for v in values]
    assert data_bytes == b"".join(enc) and lengths.tolist() == [len(e) for e in enc]
    path = tmp_path_factory.mktemp("cols") / "s.h5"
    with h5py.File(path, "w") as f:
        g = col.create_strings(f, "s", 2)
        col.append_strings(g, values[: len(values) // 2])
        col.append_strings(g, values[len(values) // 2:])
    with h5py.File(path, "r") as f:
        g = f["s"]
        expect = ["", ""] + values
        assert col.string_count(g) == len(expect)
        assert col.read_strings(g).tolist() == expect
        if expect:
            ids = data.draw(st.lists(st.integers(0, len(expect) - 1), max_size=20))
            assert col.take_strings(g, np.array(ids, dtype=np.int64)).tolist() == [expect[i] for i in ids]
            a = data.draw(st.integers(0, len(expect)))
            b = data.draw(st.integers(a, len(expect)))
            assert col.read_strings(g, a, b).tolist() == expect[a:b]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 3000), chunk=st.sampled_from([1, 7, 64, 512]), data=st.data())
def test_take_matches_numpy(tmp_path_factory, n, chunk, data):
    rng = np.random.default_rng(n)
    arr = rng.normal(size=(n, 3, 2)).astype(np.float32)
    path = tmp_path_factory.mktemp("take") / "t.h5"
    with h5py.File(path, "w") as f:
        ds = col.create_array(f, "a", np.float32, (3, 2), chunk)
        col.append_rows(ds, arr)
    ids = np.array(data.draw(st.lists(st.integers(0, n - 1), max_size=200)), dtype=np.int64)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(col.take(f["a"], ids), arr[ids])
