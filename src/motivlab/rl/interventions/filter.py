"""Trajectory filtering: rollouts the monitor flags get no gradient (interventions.md).

Logged per step (``steps.parquet``, ``filter/<name>``): ``filtered_share`` (flagged / rollouts)
and ``filtered`` (count). ``rollouts.parquet`` shows it per rollout: ``weight`` 0, and in 'drop'
mode the filled-in ``train_reward``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from motivlab.rl.interventions.config import FilterIntervention
from motivlab.rl.interventions.flagging import Flagger
from motivlab.rl.interventions.hooks import TrainerHook
from motivlab.worlds.base import Prompt, Route, World


def fill_flagged(rewards: np.ndarray, flagged: np.ndarray, group_size: int) -> np.ndarray:
    """Flagged rewards (B,) replaced by the mean of their group's unflagged rewards, so the group
    baseline is the unflagged rollouts'; a group with every rollout flagged is left as is."""
    out = np.array(rewards, dtype=np.float64)
    r, f = out.reshape(-1, group_size), flagged.reshape(-1, group_size)  # (P, G), rollouts are prompt-major
    for g in range(r.shape[0]):
        if f[g].any() and not f[g].all():
            r[g, f[g]] = r[g, ~f[g]].mean()
    return out


class FilterHook(TrainerHook):
    """Weight 0 for flagged rollouts; deterministic (a pure function of this step's rollouts)."""

    def __init__(self, spec: FilterIntervention, world: World, group_size: int, name: str = "filter") -> None:
        self.spec, self.name, self.group_size = spec, name, group_size
        self.flagger = Flagger(spec, world)
        self._flagged = np.zeros(0, dtype=bool)

    def rewards(self, step: int, prompts: Sequence[Prompt], completions: Sequence[str], rewards: np.ndarray,
                routes: Sequence[Route]) -> np.ndarray:
        self._flagged = self.flagger.flags(prompts, completions, routes)  # (B,)
        if self.spec.mode == "drop" and len(rewards) % self.group_size == 0:
            return fill_flagged(rewards, self._flagged, self.group_size)
        return rewards

    def weights(self, step: int, prompts: Sequence[Prompt], completions: Sequence[str], rewards: np.ndarray,
                routes: Sequence[Route]) -> np.ndarray:
        return np.where(self._flagged, 0.0, 1.0)  # (B,)

    def log(self) -> dict[str, Any]:
        n = len(self._flagged)
        return {"filtered_share": float(self._flagged.mean()) if n else 0.0, "filtered": float(self._flagged.sum())}
