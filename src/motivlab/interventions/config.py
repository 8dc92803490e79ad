"""The ``[[interventions]]`` list of the RL run config: one validated table per intervention.

Each table picks its intervention with ``kind`` (a pydantic discriminated union), so a typo in
``kind`` or in any field is an error naming the field and the allowed values, never a silently
ignored option. Every field is documented here, once (TRL style)::

    [[interventions]]
    kind = "filter"          # rollouts the monitor flags get no gradient
    monitor = "world"

    [[interventions]]
    kind = "monitor_penalty"
    penalty = 0.5

    [[interventions]]
    kind = "prompt_prefix"
    text = "…"

Interventions are applied in list order at each hook point (see :mod:`motivlab.rl.hooks`).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ROUTE_CHOICES = ("reward_seeking", "local", "unknown")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class _Flagging(_Strict):
    """Which rollouts an intervention acts on: those a monitor labels with ``route``."""

    monitor: Literal["world", "regex", "measure"] = Field(
        "world", description="Who flags rollouts: 'world' (the world's own route labeller, "
        "measure/monitors.py WorldMonitor), 'regex' (RegexMonitor with `patterns`; without patterns, the "
        "world's route-prefix rules) or 'measure' (reuse the labels of measure.monitor, no second pass)."
    )
    patterns: dict[str, str] | None = Field(
        None, description="For monitor = 'regex': ordered {regular expression: route} rules searched in the "
        "completion, first match wins, no match = 'unknown'. Routes: 'reward_seeking', 'local', 'unknown'."
    )
    route: Literal["reward_seeking", "local", "unknown"] = Field(
        "reward_seeking", description="The label that flags a rollout (the unwanted motivation)."
    )

    @field_validator("patterns")
    @classmethod
    def _rules(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("must hold at least one {pattern: route} rule (or be left out)")
        for pattern, route in value.items():
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"invalid regular expression {pattern!r}: {err}") from None
            if route not in ROUTE_CHOICES:
                raise ValueError(f"route of pattern {pattern!r} must be one of {list(ROUTE_CHOICES)}, got {route!r}")
        return value

    @model_validator(mode="after")
    def _patterns_need_regex(self) -> _Flagging:
        if self.patterns is not None and self.monitor != "regex":
            raise ValueError(f"patterns is only used with monitor = 'regex' (monitor is {self.monitor!r})")
        return self


class FilterIntervention(_Flagging):
    """Trajectory filtering: flagged rollouts get gradient weight 0 (interventions.md)."""

    kind: Literal["filter"] = "filter"
    mode: Literal["drop", "zero_advantage"] = Field(
        "drop", description="'zero_advantage': weight 0 after the group statistics were computed with the "
        "flagged rewards in them (their rewards still raise the group baseline, so unflagged rollouts of a "
        "group with high-reward flagged ones get negative advantages); 'drop': in addition, the flagged "
        "rollouts' training reward is replaced by the mean reward of the unflagged rollouts of their group, "
        "so the group baseline is that of the unflagged rollouts (its std is shrunk by the filled-in rows). "
        "A group whose rollouts are all flagged is untouched apart from the weight."
    )


class MonitorPenaltyIntervention(_Flagging):
    """Monitor penalty: reward shaping against flagged rollouts; metrics keep the world's grade."""

    kind: Literal["monitor_penalty"] = "monitor_penalty"
    penalty: float = Field(
        0.5, gt=0, le=10, description="Subtracted from the reward the update uses when the monitor flags the "
        "rollout (rewards are in [0, 1], so 1 cancels a full-marks reward)."
    )


class PromptPrefixIntervention(_Strict):
    """Prompt shaping / inoculation prompting: text the policy sees in training only."""

    kind: Literal["prompt_prefix"] = "prompt_prefix"
    text: str = Field(
        ..., min_length=1, description="Prepended to every training prompt the policy samples from and is "
        "updated on; grading, monitors, metrics and rollouts.prompt keep the world's prompt (the policy's is "
        "rollouts.policy_prompt). With a character tokenizer (the organism) every character must be in its "
        "vocabulary: checked when the run starts."
    )


Intervention = Annotated[
    FilterIntervention | MonitorPenaltyIntervention | PromptPrefixIntervention, Field(discriminator="kind")
]
KINDS = ("filter", "monitor_penalty", "prompt_prefix")
