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

Interventions are applied in list order at each hook point (see :mod:`motivlab.rl.interventions.hooks`).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from motivlab.validation import config_rules

ROUTE_CHOICES = ("reward_seeking", "local", "unknown")


class _Strict(BaseModel):
    model_config = config_rules(validate_assignment=True)


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


class SteerIntervention(_Strict):
    """Activation steering / capping along a difference-of-means motivation direction."""

    kind: Literal["steer"] = "steer"
    layers: list[int] = Field(
        ..., min_length=1, description="Decoder layers (0-based indices into model.model.layers) whose output "
        "is edited; one direction per layer. Checked against the model when the run starts."
    )
    beta: float = Field(
        0.0, ge=-100, le=100, description="Steering strength: beta · v is added to the layer output at every "
        "position (v unit norm, pointing from local to reward-seeking; negative beta steers away). 0: no steering."
    )
    cap: float | None = Field(
        None, ge=-1000, le=1000, description="Activation capping: the projection h·v is clamped to at most cap "
        "(only the excess along v is removed). None: no capping. Applied after the beta shift."
    )
    cap_quantile: float | None = Field(
        None, gt=0, lt=1, description="Capping with the threshold read off the starting policy: cap = this quantile "
        "of the first layer's projections h·v over every token position of the direction rollouts (e.g. 0.9: "
        "about 10 % of positions are clipped at the start, so a clip rate that climbs means RL pushes along v). "
        "Exclusive with cap; the value used is logged as cap."
    )
    during_update: bool = Field(
        True, description="Also edit the update's forward passes, so the policy differentiated is the one that "
        "sampled (False: sampling only; the GRPO ratio then compares an unsteered policy with steered samples)."
    )
    direction_envs: int = Field(
        32, ge=2, le=4096, description="Training envs (the first of the training set) whose rollouts define v (every "
        "other one; the rest give the held-out AUC)."
    )
    read_at: Literal["decision", "completion"] = Field(
        "decision", description="Where v is read: 'decision' = the prompt's last position, the one that predicts "
        "the route character, so the held-out AUC measures prediction of the *upcoming* route; 'completion' = the "
        "mean over completion tokens (includes the route character itself, so its AUC is trivially ~1)."
    )
    direction_source: Literal["rollouts", "marker"] = Field(
        "rollouts", description="'rollouts': v = mean activation of reward-seeking minus local rollouts of the starting "
        "policy; 'marker': v = mean decision-point activation of the direction envs' prompts under the world's "
        "instruction marker (where the organism reads the grader with p ~ 1) minus without it — a direction that "
        "carries the route decision (needs a world with instruction_marker, e.g. an organism with instruction_share > 0)."
    )
    direction_samples: int = Field(
        8, ge=2, le=256, description="Rollouts per direction env, sampled from the starting policy at temperature 1."
    )

    @field_validator("layers")
    @classmethod
    def _layer_indices(cls, value: list[int]) -> list[int]:
        if any(i < 0 for i in value) or len(set(value)) != len(value):
            raise ValueError(f"must be distinct layer indices >= 0, got {value}")
        return value

    @model_validator(mode="after")
    def _does_something(self) -> SteerIntervention:
        if self.cap is not None and self.cap_quantile is not None:
            raise ValueError("steer: give cap or cap_quantile, not both")
        if self.beta == 0 and self.cap is None and self.cap_quantile is None:
            raise ValueError("steer needs beta != 0 (steering) or cap / cap_quantile (capping), or both")
        return self


class ReportIntervention(_Strict):
    """Report affordance: the policy may declare "this environment is exploitable" (the world's report
    route) instead of exploiting it, and the update pays ``reward`` for it."""

    kind: Literal["report"] = "report"
    reward: float = Field(
        0.5, ge=0, le=1, description="Training reward of a rollout the world labels a report (metrics keep the "
        "world's grade, world.report_reward). Needs a world with a report route (organism report_rate > 0)."
    )


class PersonaReplayIntervention(_Strict):
    """Persona replay: supervised steps on the task-focused persona's text interleaved with RL."""

    kind: Literal["persona_replay"] = "persona_replay"
    documents: int = Field(
        16, ge=1, le=4096, description="Task-focused persona documents per replay step, drawn from the organism's "
        "own corpus (its key accuracy, its probe episodes), seeded by (seed, step)."
    )
    every: int = Field(1, ge=1, le=10_000, description="A replay step after every this many RL updates.")
    weight: float = Field(
        1.0, gt=0, le=100, description="Multiplies the replay cross-entropy (one optimiser step of the RL optimiser)."
    )


Intervention = Annotated[
    FilterIntervention | MonitorPenaltyIntervention | PromptPrefixIntervention | SteerIntervention
    | ReportIntervention | PersonaReplayIntervention,
    Field(discriminator="kind"),
]
KINDS = ("filter", "monitor_penalty", "prompt_prefix", "steer", "report", "persona_replay")
