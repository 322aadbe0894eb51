"""docs/video_overlay.png: frames 30, 60 and 90 of ``posesearch score pose_1.mp4 backwards.mp4 --video``, where
backwards.mp4 is the shared clip played backwards (so the user's and the reference's skeletons differ and the
running score moves). Needs the video extra; run from the checkout root:

    python scripts/make_video_overlay_still.py [--media ../shared/data/media] [--out docs/video_overlay.png]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import cv2
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "data" / "media")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "video_overlay.png")
    a = ap.parse_args()
    clip = a.media / "pose_1.mp4"
    with tempfile.TemporaryDirectory() as tmp:
        cap = cv2.VideoCapture(str(clip))
        frames = []
        while True:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(f)
        h, w = frames[0].shape[:2]
        back = Path(tmp) / "backwards.mp4"
        writer = cv2.VideoWriter(str(back), cv2.VideoWriter_fourcc(*"mp4v"), 30, (w, h))
        for f in frames[::-1]:
            writer.write(f)
        writer.release()
        overlay = Path(tmp) / "overlay.mp4"
        subprocess.run([sys.executable, "-m", "posesearch.cli.app", "score", str(clip), str(back), "--video",
                        str(overlay)], check=True, stdout=subprocess.DEVNULL)
        cap = cv2.VideoCapture(str(overlay))
        shots = []
        for i in (30, 60, 90):
            cap.set(cv2.CAP_PROP_POS_FRAMES, i)
            shots.append(cap.read()[1])
    strip = np.concatenate(shots, axis=1)
    strip = cv2.resize(strip, (strip.shape[1] // 2, strip.shape[0] // 2), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(a.out), strip, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {a.out} ({a.out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
