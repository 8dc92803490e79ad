"""Cost of the shaping quantities in the exact measurement vs plain exact and vs sampling (issue 12).

On the shaping organism (the default organism + trait/self/marker/report knobs) and the demo's
measured envs (32 train, 16 held-out, 16 trap), times, alternating, best of ``--reps``:
plain ``measure_exact`` (p, sR, sL), ``measure_exact_extended`` (+ trait, stated, P(report),
trap obfuscation) and the same with a prefix (everything twice), and one trainer sampling step
(16 prompts x 8 completions). Prints one JSON line. Run under the heavy lock on a shared machine:

    MOTIVLAB_TORCH_THREADS=1 flock /tmp/motivlab-heavy.lock .venv/bin/python benchmarks/shaping_exact_cost.py
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from motivlab.experiments.interventions import SHAPING_ORGANISM
    from motivlab.measure.exact import measure_exact, measure_exact_extended
    from motivlab.models.generation import sample
    from motivlab.models.loading import load_causal_lm
    from motivlab.models.organism import OrganismConfig, load_organism_world
    from motivlab.models.pretrain import ensure_organism

    path = ensure_organism(OrganismConfig(**SHAPING_ORGANISM), progress=False)
    model, tok = load_causal_lm(path)
    world = load_organism_world(path)
    envs = [*world.env_ids("train")[:32], *world.env_ids("heldout")[:16], *world.env_ids("trap")[:16]]
    prompts = [world.prompt(int(e)).text for e in world.env_ids("train")[:16]]
    jobs = {
        "plain": lambda: measure_exact(model, tok, world, envs),
        "extended": lambda: measure_exact_extended(model, tok, world, envs),
        "extended_with_prefix": lambda: measure_exact_extended(model, tok, world, envs, prefix="!"),
        "sampling_step": lambda: sample(model, tok, prompts, n_per_prompt=8, max_new_tokens=7, stop=world.stop,
                                        generator=torch.Generator().manual_seed(0)),
    }
    times: dict[str, list[float]] = {k: [] for k in jobs}
    for _ in range(args.reps):
        for name, job in jobs.items():
            t0 = time.perf_counter()
            job()
            times[name].append(time.perf_counter() - t0)
    out = {k: {"best_s": float(np.min(v)), "median_s": float(np.median(v))} for k, v in times.items()}
    out["extra_cost_per_exact_step_s"] = out["extended_with_prefix"]["best_s"] - out["plain"]["best_s"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
