"""Choose figure 5's random-Fourier-feature count D from an error budget: N* with RFF vs the dense kernel.

Figure 5 simulates N up to 10,000 environments; above ``dense_max`` the Gaussian transfer kernel
is applied with D random Fourier features. The budget: **median N* within 5 % of the dense
kernel** (per geometry, same populations). This script calibrates each geometry as figure 5 does
(median N* = 100 at p0 = 0.01, dense), then measures N* at p0 = 0.004 and 0.002 (N* ≈ 250–500)
with the dense kernel and with RFF everywhere (``dense_max = 1``) at D = 256 … 2048, on the same
coordinates and heterogeneity. The RFF error of one kernel entry does not depend on N (it is
~1/√D), so the error measured at N* ≈ 250–500 is the error figure 5 makes above ``dense_max``.

Run: ``python benchmarks/theory_rff_error_budget.py [--resamples 8] [--geometries uniform,clustered]``;
prints one line per (geometry, D) and a last line with the smallest D within budget.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from motivlab.theory.heterogeneous.calibration import calibrate_scale
from motivlab.theory.heterogeneous.diversity import diversity_sweep
from motivlab.theory.heterogeneous.population import HeterogeneousConfig, draw_population

BUDGET = 0.05
P0S = np.array([0.004, 0.002])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resamples", type=int, default=8)
    ap.add_argument("--geometries", default="uniform,clustered")
    ap.add_argument("--scale", type=float, default=None, help="skip the calibration: this coordinate scale")
    ap.add_argument("--n-max", type=int, default=2048)
    ap.add_argument("--features", default="256,512,1024,2048")
    args = ap.parse_args()
    n_grid = np.unique(np.round(np.geomspace(1, args.n_max, 14)).astype(int))
    features = tuple(int(v) for v in args.features.split(","))
    worst: dict[int, float] = {}
    for geom in args.geometries.split(","):
        base = HeterogeneousConfig(geometry=geom, kernel="dense", n_features=max(features))
        pop = draw_population(base, int(n_grid[-1]), args.resamples, np.random.default_rng(0))
        t0 = time.perf_counter()
        scale = args.scale if args.scale is not None else calibrate_scale(
            base, target=100.0, p0_ref=0.01, n_grid=n_grid[n_grid <= 1024], population=pop).scale
        dense_cfg = base.model_copy(update={"scale": scale})
        dense = diversity_sweep(dense_cfg, p0s=P0S, n_grid=n_grid, population=pop, refine_rounds=2).nstar
        print(f"{geom}: scale {scale:.3f}, dense median N* {np.round(np.median(dense, axis=0), 1)} "
              f"({time.perf_counter() - t0:.0f} s)")
        for d in features:
            cfg = dense_cfg.model_copy(update={"kernel": "rff", "n_features": d, "dense_max": 1})
            pop_d = draw_population(cfg, int(n_grid[-1]), args.resamples, np.random.default_rng(0))  # same u, α, init
            pop_d = type(pop)(coords=pop.coords, log_alpha=pop.log_alpha, init=pop.init, rff=pop_d.rff)
            t0 = time.perf_counter()
            rff = diversity_sweep(cfg, p0s=P0S, n_grid=n_grid, population=pop_d, refine_rounds=2).nstar
            with np.errstate(invalid="ignore"):
                rel_med = np.median(rff, axis=0) / np.median(dense, axis=0) - 1
            with np.errstate(invalid="ignore"):
                rel_each = np.nanmedian(np.abs(rff / dense - 1), axis=0)
            finite = np.isfinite(rel_med)
            # a p0 crossed with one kernel and not the other counts as an infinite error
            err = np.where(finite, np.abs(rel_med), np.where(np.isinf(np.median(rff, axis=0))
                                                            == np.isinf(np.median(dense, axis=0)), 0.0, np.inf))
            worst[d] = max(worst.get(d, 0.0), float(np.max(err)))
            print(f"{geom:10s} D={d:5d}: median N* {np.round(np.median(rff, axis=0), 1)}, median error "
                  f"{np.round(100 * rel_med, 1)} %, per-resample |error| median {np.round(100 * rel_each, 1)} % "
                  f"({time.perf_counter() - t0:.0f} s)")
    ok = [d for d in features if worst[d] <= BUDGET]
    print(f"worst |median N* error| per D: { {d: round(100 * w, 1) for d, w in worst.items()} } %; "
          f"smallest D within {100 * BUDGET:.0f} %: {ok[0] if ok else 'none'}")


if __name__ == "__main__":
    main()
