"""Parallel efficiency of ``motivlab sweep``: the same points on 2 workers vs one after another.

    python benchmarks/sweep_parallel.py [--points 6] [--steps 40] [--workers 2] [--keep DIR]

The points are GRPO runs of the default organism (examples/positive_gap.toml, seeds 0..points-1,
``steps`` steps each); the organism is pretrained (or found in the cache) before any timing. Both
sweeps start in a fresh directory and are timed end to end through :func:`run_sweep` (validation,
the worker processes' start and imports, every run, the table): ``--workers 1`` trains in this
process, ``--workers K`` in K long-lived ``spawn`` workers with ``cores // K`` torch threads each.
Both sweeps must produce identical metrics (checked). Where time goes per point is printed too:
the training loop (sample + grade + measure + update, from ``steps.parquet``) against the point's
wall time in its worker (the rest: loading the policy, checkpoints, figures and report.html).

The ratio (sequential / parallel wall time) is printed last. Target (issue 14): ≥ 1.8× on 2 workers.
Run it alone (``flock /tmp/motivlab-heavy.lock python benchmarks/sweep_parallel.py`` on a shared
machine): the ratio measures the machine as much as the engine. So a control is printed first:
the same fixed torch loop (1 thread) in one process vs in ``workers`` processes at once — the
throughput the machine can give that many processes right now, the ceiling for the sweep's ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=6)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="Write both sweeps here (default: a temp dir).")
    args = parser.parse_args()
    os.environ.setdefault("MOTIVLAB_TORCH_THREADS", "1")

    from motivlab.models.pretrain import ensure_organism
    from motivlab.sweep import SweepSpec, run_sweep
    from motivlab.sweep.engine import available_cores, threads_per_worker

    ensure_organism(progress=False)  # cached before timing
    print(f"control: {args.workers} processes of a fixed 1-thread torch loop at once give "
          f"{_machine_parallelism(args.workers):.2f}x the throughput of one (the ceiling for the ratio below)")
    root = Path(__file__).resolve().parents[1]
    spec = SweepSpec(base=str(root / "examples" / "positive_gap.toml"),
                     set={"steps": args.steps, "measure.exact_every": 10},
                     grid={"seed": list(range(args.points))})
    out_root = args.keep or Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    timings, tables = {}, {}
    for workers in (1, args.workers):
        out = out_root / f"workers{workers}"
        start = time.perf_counter()
        tables[workers] = run_sweep(spec, out, workers=workers, progress=False)
        timings[workers] = time.perf_counter() - start
        assert (tables[workers].status == "done").all(), tables[workers][["point", "status", "error"]]
        loop = sum(_loop_seconds(out / d) for d in tables[workers].run_dir)
        wall = tables[workers].wall_seconds.sum()
        print(f"workers={workers} (torch threads {threads_per_worker(workers)} each, {available_cores()} cores): "
              f"{timings[workers]:.1f} s for {args.points} points of {args.steps} steps; per point in its worker "
              f"{wall / args.points:.1f} s, of which the training loop {loop / args.points:.1f} s and loading, "
              f"checkpoints and report {(wall - loop) / args.points:.1f} s")
    metrics = [c for c in tables[1].columns if c.split("_")[-1] in ("train", "heldout", "trap")]
    pd.testing.assert_frame_equal(tables[1][metrics], tables[args.workers][metrics])
    print("same metrics on both: yes")
    print(f"parallel speed-up ({args.workers} workers vs one after another): "
          f"{timings[1] / timings[args.workers]:.2f}x")


_BURN = """
import time, torch
torch.set_num_threads(1)
a, w = torch.randn(64, 192), torch.randn(192, 192)
t = time.perf_counter()
for _ in range(40000):
    a = torch.tanh(a @ w)
print(time.perf_counter() - t)
"""


def _machine_parallelism(k: int) -> float:
    """Throughput of ``k`` concurrent 1-thread torch loops relative to one loop alone."""
    import subprocess
    import sys

    def run(n: int) -> list[float]:
        procs = [subprocess.Popen([sys.executable, "-c", _BURN], stdout=subprocess.PIPE, text=True) for _ in range(n)]
        return [float(p.communicate()[0]) for p in procs]

    alone = run(1)[0]
    together = run(k)
    return k * alone / max(together)


def _loop_seconds(run_dir: Path) -> float:
    steps = pd.read_parquet(run_dir / "steps.parquet")
    return float(steps[["sample_seconds", "grade_seconds", "measure_seconds", "update_seconds"]].sum().sum())


if __name__ == "__main__":
    main()
