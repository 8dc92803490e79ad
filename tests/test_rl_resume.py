"""A run killed with SIGKILL at random moments and resumed ends exactly like an uninterrupted run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

SCRIPT = textwrap.dedent(
    """
    import sys, torch
    torch.set_num_threads(1)
    from motivlab.rl import build_config, train
    from motivlab.rl.tiny import tiny_setup
    cfg = build_config({
        "steps": 8, "seed": 3,
        "algorithm": {"prompts_per_step": 4, "group_size": 4, "num_iterations": 2, "beta": 0.05},
        "sampling": {"max_new_tokens": 6}, "optim": {"lr": 1e-2},
        "measure": {"exact_every": 3, "exact_train_envs": 3, "exact_heldout_envs": 2, "exact_trap_envs": 2},
        "run": {"checkpoint_every": 3, "progress": False}, "model": {"spec": "tiny"},
    })
    model, tok, world = tiny_setup(seed=0)
    train(cfg, sys.argv[1], resume=len(sys.argv) > 2, model=model, tokenizer=tok, world=world)
    """
)


def _start(script, out, resume=False):
    args = [sys.executable, str(script), str(out)] + (["--resume"] if resume else [])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def _lines(path):
    return sum(1 for _ in open(path)) if path.exists() else 0


def _kill_after(proc, out, n_steps_logged, extra_sleep):
    """SIGKILL once ``n_steps_logged`` steps are in the log (plus a random delay); False if it ended first."""
    while proc.poll() is None and _lines(out / "steps.jsonl") < n_steps_logged:
        time.sleep(0.02)
    time.sleep(extra_sleep)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    reference = _start(script, tmp_path / "reference")
    assert reference.wait(timeout=600) == 0, reference.stderr.read().decode()

    rng = random.Random(int(time.time()))  # a different moment each CI run; printed on failure
    plan = [(rng.randint(1, 3), rng.uniform(0.0, 0.5)), (rng.randint(4, 7), rng.uniform(0.0, 0.5))]
    out = tmp_path / "killed"
    kills = 0
    for i, (n, delay) in enumerate(plan):
        proc = _start(script, out, resume=i > 0)
        kills += _kill_after(proc, out, n, delay)
    final = _start(script, out, resume=True)
    assert final.wait(timeout=600) == 0, final.stderr.read().decode()
    assert kills >= 1, f"the run finished before any kill (plan {plan})"

    for name in ("metrics", "rollouts", "steps"):
        ref = pd.read_parquet(tmp_path / "reference" / f"{name}.parquet")
        got = pd.read_parquet(out / f"{name}.parquet")
        if name == "steps":  # wall-clock timings differ between runs; everything else must not
            timing = [c for c in ref.columns if c.endswith("seconds") or c == "tokens_per_second"]
            ref, got = ref.drop(columns=timing), got.drop(columns=timing)
        pd.testing.assert_frame_equal(ref, got, obj=f"{name} (kill plan {plan})")
    assert len(pd.read_parquet(out / "rollouts.parquet")) == 8 * 16  # no rollout lost, none duplicated
