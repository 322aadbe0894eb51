"""Camera views: seeing the same move from another side (issue 20).

* :mod:`.camera` — the orthographic camera (yaw about the vertical axis, pitch, scale, translation),
  projecting 3D joints into an image, and fitting the camera that best shows a 3D reference the way a
  2D user sequence was filmed (route 1: 3D references).
* :mod:`.lift` (when present) — a learned 2D -> 3D lifting model run in numpy (route 2: 2D references).

This package sits at the poses level of the import graph: numpy and ``posesearch.poses`` only.
"""
