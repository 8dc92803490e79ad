"""TRL at parity with our trainer: ``examples/trl_grpo.py`` on the quick organism, SIGKILLed after
its first checkpoint and resumed with TRL's ``resume_from_checkpoint``, leaves a complete run
directory (every step once, exact held-out and trap measurement, report) and checkpoints that
carry ``organism.json``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ARGS = ["--quick", "--max-steps", "4", "--save-steps", "2", "--device-batch", "8", "--num-generations", "4"]
KILLER = """
import os, signal, sys
sys.path.insert(0, {examples!r})
from transformers import TrainerCallback
import trl_grpo

class Kill(TrainerCallback):  # a SIGKILL after step 3 was logged, one step past checkpoint-2
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 3:
            os.kill(os.getpid(), signal.SIGKILL)

trl_grpo.main({argv!r}, callbacks=[Kill()])
"""


def _run(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MOTIVLAB_TORCH_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_trl_run_killed_and_resumed(tmp_path, organism_quick_dir):
    out = tmp_path / "run"
    killed = _run(KILLER.format(examples=str(EXAMPLES), argv=["--out", str(out), *ARGS]))
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert (out / "trl" / "checkpoint-2").is_dir() and not (out / "report.html").exists()
    logged = {json.loads(line)["step"] for line in (out / "rollouts.jsonl").read_text().splitlines()}
    assert logged == {0, 1, 2}  # step 2 was logged after checkpoint-2: the resume must redo it, not repeat it

    resumed = _run(f"import sys; sys.path.insert(0, {str(EXAMPLES)!r}); import trl_grpo; "
                   f"trl_grpo.main({['--out', str(out), *ARGS, '--resume']!r})")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    rollouts = pd.read_parquet(out / "rollouts.parquet")
    assert rollouts.groupby("step").size().to_dict() == {0: 8, 1: 8, 2: 8, 3: 8}
    steps = pd.read_parquet(out / "steps.parquet")
    assert steps["step"].tolist() == [0, 1, 2, 3]
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert not metrics.duplicated(["step", "split", "env_id"]).any()
    exact = metrics.dropna(subset=["p_exact"])
    assert sorted(exact["step"].unique()) == [0, 4] and set(exact["split"]) == {"train", "heldout", "trap"}
    summary = json.loads((out / "summary.json").read_text())
    assert {"train", "heldout", "trap"} <= set(summary) and (out / "report.html").is_file()
    for ckpt in ("checkpoint-2", "checkpoint-4"):
        assert (out / "trl" / ckpt / "organism.json").read_text() == (organism_quick_dir / "organism.json").read_text()
