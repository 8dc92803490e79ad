"""Monitor penalty: the update's reward is lowered by ``penalty`` for flagged rollouts.

Metrics and ``rollouts.reward`` keep the world's grade; ``rollouts.train_reward`` is what the
update used. Logged per step: ``penalty_rate`` (flagged / rollouts) and ``mean_penalty`` (mean
amount subtracted per rollout); at exact-measurement steps the **obfuscation** measure of
interventions.md: ``obfuscation`` = mean exact P(what the note says | prompt + T) over the measured
trap envs — local-route answers that follow the (lying) note, i.e. reading the grader under the
local label, invisible on honest envs — next to ``trap_local_key`` = P(true key | prompt + T) there
(NaN on other steps; the per-env values are ``s_l_note_exact`` in metrics.parquet).
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
    wants_extended_exact = True  # the trainer measures s_l_note (obfuscation) exactly

    def __init__(self, spec: MonitorPenaltyIntervention, world: World, name: str = "monitor_penalty") -> None:
        self.spec, self.name = spec, name
        self.flagger = Flagger(spec, world)
        self._flagged = np.zeros(0, dtype=bool)
        self._obf = {"obfuscation": float("nan"), "trap_local_key": float("nan")}

    def observe_exact(self, step: int, metrics: Any) -> None:
        traps = metrics[(metrics.split == "trap") & (metrics.env_id == -1)]
        if len(traps) and "s_l_note_exact" in traps:
            self._obf = {"obfuscation": float(traps.s_l_note_exact.iloc[0]), "trap_local_key": float(traps.s_l_exact.iloc[0])}

    def rewards(self, step: int, prompts: Sequence[Prompt], completions: Sequence[str], rewards: np.ndarray,
                routes: Sequence[Route]) -> np.ndarray:
        self._flagged = self.flagger.flags(prompts, completions, routes)  # (B,)
        return np.asarray(rewards, dtype=np.float64) - self.spec.penalty * self._flagged

    def log(self) -> dict[str, Any]:
        rate = float(self._flagged.mean()) if len(self._flagged) else 0.0
        out = {"penalty_rate": rate, "mean_penalty": rate * self.spec.penalty, **self._obf}
        self._obf = {"obfuscation": float("nan"), "trap_local_key": float("nan")}
        return out
