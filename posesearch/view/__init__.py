"""Camera angle (issue 20): camera fit of 3D references (camera.py) and 2D->3D lifting (lift.py)."""
