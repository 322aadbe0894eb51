"""Posesearch's own files: the one place that opens, checks and atomically writes them.

* :mod:`.atomic` — every write (corpus, index, sequence, pose and plot files, exports): a temporary
  file in the target's folder, fsync, ``os.replace``, a writer lock; output-path checks
  (:func:`output_path`, :func:`check_not_input`, :func:`check_writable_target`);
* :mod:`.hdf5` — the HDF5 opener (:func:`open_h5`), attribute reading (:func:`read_attrs`,
  :func:`attr_str`, :func:`plain`), the format/version header check (:func:`check_header`) and the
  version stamp (:func:`made_by`).

The layouts stay with their packages: :mod:`posesearch.corpus.fileformat` and
:mod:`posesearch.index.fileformat`. Reading *user* input files (JSON, NumPy, sizes, special files) is
:mod:`posesearch.safeio`. This package imports nothing of posesearch but :mod:`posesearch.errors`.
"""
from __future__ import annotations

from .atomic import (AtomicFile, WriterLock, atomic_target, atomic_write, check_not_input, check_writable_target,
                     clean_stale_temps, output_path)
from .hdf5 import (MADE_BY, write_h5_atomic, attr_str, check_header, h5py_module, made_by, now_iso, open_h5, plain,
                   posesearch_version, read_attrs)

__all__ = ["write_h5_atomic", "atomic_target", "AtomicFile", "WriterLock", "atomic_write", "check_not_input", "check_writable_target",
           "clean_stale_temps", "output_path", "MADE_BY", "attr_str", "check_header", "h5py_module", "made_by",
           "now_iso", "open_h5", "plain", "posesearch_version", "read_attrs"]
