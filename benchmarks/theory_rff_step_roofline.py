"""Cost of one integrator step of the heterogeneous model against its bare RFF matrix products.

At N = 10,000 environments with D = 512 random Fourier features, a step must be dominated by the
two products it cannot avoid, ``Φᵀ V`` (R, D, m) and ``Φ (ΦᵀV)`` (R, N, m): everything else
(gradients, step control, early-stop test, the exact-diagonal correction) is O(N m). The roofline
is the time of those two products alone, for the same shapes, measured in the same run; the
target is step / roofline ≤ 3.

    .venv/bin/python benchmarks/theory_rff_step_roofline.py [--resamples 4] [--p0s 6] [--steps 20]

The step is measured through the real integrator (``integrate`` with ``max_steps`` steps, explicit
Euler, step control on, z and x sharing one coupling as in figure 5), divided by the number of
vector-field evaluations. The LAST line is the ratio.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import numpy as np

from motivlab.theory.heterogeneous.population import (
    HeterogeneousConfig,
    _couplings,
    draw_population,
    integrate,
)
from motivlab.theory.homogeneous.model import logit


def _best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--features", type=int, default=512)
    ap.add_argument("--resamples", type=int, default=4)
    ap.add_argument("--p0s", type=int, default=6, help="initial conditions integrated together")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    cfg = HeterogeneousConfig(kernel="rff", n_features=args.features, integrator="euler", scale=0.6,
                              horizon=1e9, tol=1e-300, max_steps=args.steps)
    pop = draw_population(cfg, args.n, args.resamples, np.random.default_rng(0))
    couplings = _couplings(cfg, pop, args.n)
    (op, members), = [(o, m) for o, m in couplings if len(m) == 2]  # z and x share ℓ
    r, n, p = args.resamples, args.n, args.p0s
    p0s = np.logspace(-3, -1, p)
    z0 = np.broadcast_to(logit(p0s), (r, n, p)) + 0.3 * pop.init[..., :1]
    x0 = np.broadcast_to(0.3 * pop.init[..., 1:2], (r, n, p))
    y0 = np.broadcast_to(logit(0.1) + 0.3 * pop.init[..., 2:3], (r, n, p))
    alphas = np.exp(0.3 * pop.log_alpha)

    traj = integrate((z0, x0, y0), alphas, couplings, cfg)  # warm-up (page faults, BLAS init)
    evals = traj.steps + 1  # the loop evaluates the vector field once more to test for stopping
    t_int = _best_of(lambda: integrate((z0, x0, y0), alphas, couplings, cfg), args.repeats)
    per_step = t_int / evals

    v = np.random.default_rng(1).random((r, n, len(members) * p)).astype(np.float32)  # same m as a step
    proj = np.matmul(op.features_t, v)

    def bare() -> None:
        np.matmul(op.features, np.matmul(op.features_t, v))

    bare()
    t_bare = _best_of(lambda: [bare() for _ in range(evals)], args.repeats) / evals
    t_t = _best_of(lambda: np.matmul(op.features_t, v), args.repeats)
    t_f = _best_of(lambda: np.matmul(op.features, proj), args.repeats)
    print(f"N={n} D={args.features} R={r} m={v.shape[-1]} (z,x × {p} p0) — Φ: {op.features.nbytes / 2**20:.0f} MiB float32")
    print(f"bare Φᵀ V: {t_t * 1e3:.1f} ms   bare Φ(ΦᵀV): {t_f * 1e3:.1f} ms   both: {t_bare * 1e3:.1f} ms")
    print(f"integrator step (rates + control + update): {per_step * 1e3:.1f} ms over {evals} evaluations")
    print(f"{per_step / t_bare:.2f}")


if __name__ == "__main__":
    main()
