"""Exact (teacher-forced) measurement vs sampling at equal precision, on the same organism.

    python benchmarks/measure_exact_vs_sampling.py [--quick | --model-dir DIR] [--envs 64] [--half-width 0.02]

Exact measurement gives p, sR, sL per env with no sampling error (two forward passes' worth of
tokens per env). To match it by sampling we ask for a Wilson 95 % half-width of ``h`` (default
±0.02) on all three quantities of the env, computed at the env's exact values:

    n_p  = z² p(1−p)/h²,   n_R = z² sR(1−sR)/h² / p,   n_L = z² sL(1−sL)/h² / (1−p)
    n    = max(n_p, n_R, n_L)         (sR only sees the p share of rollouts, sL the rest)

Sampling throughput (rollouts/s) is measured on a real batch (``--samples`` per env on a few envs)
with the trainer's KV-cache sampler; the cost per env is ``n / throughput``. Both are timed in
the same process on the same model, so the ratio is meaningful on a shared machine. Last line:
the speed-up of exact over sampling at equal precision.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from motivlab.measure.exact import measure_exact
from motivlab.measure.sampled import measure_sampled
from motivlab.models.loading import load_causal_lm
from motivlab.models.organism import load_organism_world
from motivlab.models.pretrain import ensure_organism

Z = 1.959964


def samples_needed(p: np.ndarray, s_r: np.ndarray, s_l: np.ndarray, h: float) -> np.ndarray:
    """Rollouts per env for a ±h Wilson-width on p, sR and sL (normal approximation)."""
    var = lambda x: np.clip(x * (1 - x), 1e-4, None)  # noqa: E731 — floor: a 0/1 value still needs samples
    n_p = Z**2 * var(p) / h**2
    n_r = Z**2 * var(s_r) / h**2 / np.clip(p, 1e-6, None)
    n_l = Z**2 * var(s_l) / h**2 / np.clip(1 - p, 1e-6, None)
    return np.maximum.reduce([n_p, n_r, n_l])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="use the quick organism")
    ap.add_argument("--model-dir", default=None, help="an organism directory (default: the cached default organism)")
    ap.add_argument("--envs", type=int, default=64)
    ap.add_argument("--samples", type=int, default=200, help="rollouts per env for the throughput probe")
    ap.add_argument("--probe-envs", type=int, default=8)
    ap.add_argument("--half-width", type=float, default=0.02)
    args = ap.parse_args()
    torch.set_num_threads(2)

    model_dir = Path(args.model_dir) if args.model_dir else ensure_organism(quick=args.quick, progress=False)
    model, tok = load_causal_lm(model_dir)
    world = load_organism_world(model_dir)
    ids = world.env_ids("train")[: args.envs]

    measure_exact(model, tok, world, ids[:4])  # warm-up
    t0 = time.perf_counter()
    exact = measure_exact(model, tok, world, ids)
    t_exact = (time.perf_counter() - t0) / ids.size

    probe = ids[: args.probe_envs]
    t0 = time.perf_counter()
    measure_sampled(model, tok, world, probe, args.samples, seed=0)
    per_rollout = (time.perf_counter() - t0) / (probe.size * args.samples)

    n = samples_needed(exact.p.to_numpy(), exact.s_r.to_numpy(), exact.s_l.to_numpy(), args.half_width)
    t_sampled = float(np.mean(n)) * per_rollout
    print(f"organism {model_dir.name}: {ids.size} train envs, means p={exact.p.mean():.4f} "
          f"sR={exact.s_r.mean():.3f} sL={exact.s_l.mean():.3f}")
    print(f"exact:   {1 / t_exact:10.1f} envs/s ({t_exact * 1e3:.2f} ms per env, no sampling error)")
    print(f"sampled: {1 / per_rollout:10.1f} rollouts/s; ±{args.half_width} on p, sR, sL needs "
          f"median {np.median(n):.0f} (mean {np.mean(n):.0f}) rollouts per env → {t_sampled:.2f} s per env")
    print(f"exact is {t_sampled / t_exact:.0f}x faster than sampling at equal precision (±{args.half_width})")


if __name__ == "__main__":
    main()
