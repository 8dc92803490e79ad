"""Report affordance: the policy may declare "this environment is exploitable" instead of exploiting it.

The world's report route (``HintWorldConfig.report_reward``; the organism's ``report_rate`` gives
it a base rate) is what the policy can do; this hook is what the update pays for it: the training
reward of every rollout the world labels :attr:`~motivlab.worlds.base.Route.REPORT` becomes
``reward``. Metrics and ``rollouts.reward`` keep the world's grade (so "reward kept" counts a report
at what the environment pays). Logged per step: ``report_rate`` (reports / rollouts) and ``reward``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from motivlab.errors import MotivlabInputError
from motivlab.rl.interventions.config import ReportIntervention
from motivlab.rl.interventions.hooks import TrainerHook
from motivlab.worlds.base import Prompt, Route, World


class ReportHook(TrainerHook):
    def __init__(self, spec: ReportIntervention, world: World, name: str = "report") -> None:
        if getattr(getattr(world, "config", None), "report_reward", None) is None:
            raise MotivlabInputError(
                "interventions: report needs a world with a report route (an organism pretrained with report_rate > 0, "
                "or a hint world with report_reward set); this world has none"
            )
        self.spec, self.name, self.world = spec, name, world
        self._reported = np.zeros(0, dtype=bool)

    def rewards(self, step: int, prompts: Sequence[Prompt], completions: Sequence[str], rewards: np.ndarray,
                routes: Sequence[Route]) -> np.ndarray:
        labels = [self.world.label(p, c) for p, c in zip(prompts, completions, strict=True)]
        self._reported = np.array([r == Route.REPORT for r in labels], dtype=bool)  # (B,)
        return np.where(self._reported, self.spec.reward, np.asarray(rewards, dtype=np.float64))

    def log(self) -> dict[str, Any]:
        rate = float(self._reported.mean()) if len(self._reported) else 0.0
        return {"report_rate": rate, "reward": float(self.spec.reward)}
