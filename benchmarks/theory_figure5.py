"""Time figure 5 (heterogeneous N* vs p0 per geometry): the quick version, then the full size.

Full size = 4 geometries × 6 p0 × 16 N (1 … 10,000) × 32 resamples, each geometry calibrated to
median N* = 100 at p0 = 0.01. Target: full < 15 min and quick < 1 min on 2 CPU cores.

    .venv/bin/python benchmarks/theory_figure5.py [--quick-only] [--out DIR]

Prints the slopes per geometry and the timings; the LAST line is the full-size time in seconds
(or the quick time with --quick-only). BLAS threads are pinned to 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")


def _run(out: Path, quick: bool) -> float:
    from motivlab.theory.heterogeneous.figure5 import make_figure5

    t0 = time.perf_counter()
    res = make_figure5(out, quick, seed=0, progress=sys.stderr.isatty())
    dt = time.perf_counter() - t0
    label = "quick" if quick else "full"
    for g, s in res["slopes"].items():
        print(f"{label} {g:10s} slope {s['slope']:+.3f}  95% [{s['lo']:+.3f}, {s['hi']:+.3f}]")
    print(f"{label} figure: {res['png']}  ({dt:.1f} s)")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick-only", action="store_true", help="only time the quick figure")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: a temporary one)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="motivlab_fig5_"))
    t_quick = _run(out / "quick", True)
    print(f"quick figure 5: {t_quick:.1f} s (target < 60 s)")
    if args.quick_only:
        print(f"{t_quick:.1f}")
        return
    t_full = _run(out / "full", False)
    print(f"quick {t_quick:.1f} s; full {t_full:.1f} s (target < 900 s) — full-size figure 5 time in seconds:")
    print(f"{t_full:.1f}")


if __name__ == "__main__":
    main()
