"""One critical-diversity curve (3 priors × 6 N × 3 seeds = 54 GRPO runs) on the local pool, timed.

Issue 14 asks for one curve in under 30 minutes on the 2-core machine with the organisms cached.
This script first makes sure the three organisms are in the cache (pretraining is not timed),
then runs ``motivlab experiment critical-diversity`` with the defaults (40 steps per run, the
fixed rollout budget) and prints the wall time, the per-run time and the measured N* per prior.
Run it under the heavy lock on a shared machine::

    flock /tmp/motivlab-heavy.lock python benchmarks/critical_diversity_curve.py --out /tmp/cd_bench

The last line printed is the headline: ``curve wall time: X min (target < 30 min)``.
(The full loop's verification phase runs exactly this curve; docs/loop.md reports its time.)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    from motivlab.experiments.critical_diversity import CriticalDiversityConfig, run_critical_diversity
    from motivlab.models.organism import OrganismConfig
    from motivlab.models.pretrain import ensure_organism

    cfg = CriticalDiversityConfig()
    for prior in cfg.priors:  # cached organisms: pretraining is not part of the timed curve
        ensure_organism(OrganismConfig(prior=prior), progress=False)
    t0 = time.perf_counter()
    summary = run_critical_diversity(cfg, args.out, workers=args.workers)
    wall = time.perf_counter() - t0
    runs = summary["runs_done"]
    for row in summary["n_star"]:
        print(f"prior {row['prior']}: p0 {row['p0_measured']:.4f}, N* {row['n_star_text']} "
              f"[{row['ci_low']:.3g}, {row['ci_high']:.3g}]")
    print(f"{runs} runs, {wall / max(runs, 1):.1f} s per run on {args.workers} workers")
    print(f"curve wall time: {wall / 60:.1f} min (target < 30 min)")


if __name__ == "__main__":
    main()
