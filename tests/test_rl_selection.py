"""The shipped selection examples, reduced to 20 RL steps: GRPO moves the propensity the way the
skill gap says (positive gap: p rises; negative gap: p falls), measured exactly on training,
held-out and trap envs. Each pretrains its small organism once (cached)."""

from __future__ import annotations

from pathlib import Path

import pytest

from motivlab.rl import load_config, train

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
REDUCED = ["steps=20", "measure.exact_every=10", "run.checkpoint_every=20", "run.progress=false"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _p_exact(result, split):
    rows = result.metrics[(result.metrics.env_id == -1) & (result.metrics.split == split)].dropna(subset=["p_exact"])
    rows = rows.sort_values("step")
    return float(rows.p_exact.iloc[0]), float(rows.p_exact.iloc[-1]), int(rows.step.iloc[-1])


@pytest.mark.slow
@pytest.mark.parametrize("example, direction", [("positive_gap", +1), ("negative_gap", -1)])
def test_selection_direction(tmp_path, example, direction):
    config = load_config(EXAMPLES / f"{example}.toml", REDUCED)
    result = train(config, tmp_path / example)
    start = result.metrics[(result.metrics.env_id == -1) & (result.metrics.split == "train") & (result.metrics.step == 0)]
    gap = float(start.s_r_exact.iloc[0] - start.s_l_exact.iloc[0])
    assert direction * gap > 0.1, (
        f"{example}: the pretrained organism's skill gap sR0 - sL0 = {gap:.3f} does not have the sign the example "
        "is about (pretraining did not learn the skills it was configured for)"
    )
    for split in ("train", "heldout", "trap"):
        start, end, last = _p_exact(result, split)
        assert last == 20
        # measured full runs move p by +0.54 / -0.21 in 20 steps; demand a clear move in the right direction
        assert direction * (end - start) > 0.1, f"{example} {split}: p {start:.3f} -> {end:.3f}"
    if direction > 0:  # the reward-seeking route's skill is what got selected, and it is the paid route
        sampled = result.metrics[(result.metrics.env_id == -1) & (result.metrics.split == "train")]
        assert sampled.n_reward_seeking.tail(3).sum() > sampled.n_reward_seeking.head(3).sum()
