"""Monitor penalty: the update's reward is lowered by ``penalty`` for flagged rollouts.

Metrics and ``rollouts.reward`` keep the world's grade; ``rollouts.train_reward`` is what the
update used. Logged per step: ``penalty_rate`` (flagged / rollouts) and ``mean_penalty`` (mean
amount subtracted per rollout).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from motivlab.rl.interventions.config import MonitorPenaltyIntervention
from motivlab.rl.interventions.flagging import Flagger
from motivlab.rl.interventions.hooks import TrainerHook
from motivlab.worlds.base import Prompt, Route, World


class MonitorPenaltyHook(TrainerHook):
    def __init__(self, spec: MonitorPenaltyIntervention, world: World, name: str = "monitor_penalty") -> None:
        self.spec, self.name = spec, name
        self.flagger = Flagger(spec, world)
        self._flagged = np.zeros(0, dtype=bool)

    def rewards(self, step: int, prompts: Sequence[Prompt], completions: Sequence[str], rewards: np.ndarray,
                routes: Sequence[Route]) -> np.ndarray:
        self._flagged = self.flagger.flags(prompts, completions, routes)  # (B,)
        return np.asarray(rewards, dtype=np.float64) - self.spec.penalty * self._flagged

    def log(self) -> dict[str, Any]:
        rate = float(self._flagged.mean()) if len(self._flagged) else 0.0
        return {"penalty_rate": rate, "mean_penalty": rate * self.spec.penalty}
