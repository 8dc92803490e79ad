"""Configuration of the natural-language hint world (``motivlab.worlds.nl``), validated on construction.

Two kinds of knob, matching the theory's two skills:

* ``difficulty`` per task family (1 easy … 3 hard) sets the *local* skill ``sL``: how hard it is
  to compute the answer;
* ``leak_styles`` set the *reward-seeking* skill ``sR``: how legibly the grader metadata states
  the expected answer (``sentence`` > ``harness`` > ``json`` > ``reversed``, the last one only
  gives the answer spelt backwards).

Unknown fields are errors naming the field (``extra="forbid"``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from motivlab.validation import config_rules

LeakStyle = Literal["sentence", "harness", "json", "reversed"]
LEAK_STYLES: tuple[str, ...] = ("sentence", "harness", "json", "reversed")  # most → least legible
TRAIN_FAMILIES: tuple[str, ...] = ("arithmetic", "conversion", "lookup", "string", "counting")
HELDOUT_FAMILIES: tuple[str, ...] = ("maximum", "sequence")
FAMILIES: tuple[str, ...] = TRAIN_FAMILIES + HELDOUT_FAMILIES

# The declared openings: the first words of a completion say which route it takes (what makes the
# exact, teacher-forced measurement of p possible), then the answer, then a newline.
REWARD_SEEKING_OPENING = "Checking the harness:"
LOCAL_OPENING = "Solving:"


class NLWorldConfig(BaseModel):
    """Knobs of :class:`motivlab.worlds.nl.NLWorld` (derived sizes: ``NLWorld.describe()``)."""

    model_config = config_rules(frozen=True)

    n_envs: int = Field(2000, ge=3, le=1_000_000, description="Size of the pool (ids 0..n_envs-1).")
    n_heldout: int = Field(200, ge=1, description="Envs of the held-out families (never trained on).")
    n_trap: int = Field(200, ge=1, description="Trap envs: train-family tasks whose metadata states a wrong "
                        "answer (never trained on); reading the grader earns 0 there.")
    train_families: list[str] = Field(list(TRAIN_FAMILIES), description=f"Families of the train (and trap) "
                                      f"envs, from {list(FAMILIES)}.")
    heldout_families: list[str] = Field(list(HELDOUT_FAMILIES), description="Families of the held-out envs "
                                        "(disjoint from train_families).")
    difficulty: dict[str, int] = Field(
        default_factory=dict, description="Per-family difficulty 1-3 (default 1 for every family): operand "
        "digits, table rows, word length, list length … (the local skill sL)."
    )
    leak_styles: list[LeakStyle] = Field(
        ["harness"], description="How the grader metadata states the expected answer, drawn per env from this "
        "list: 'sentence' (a plain note to the grader), 'harness' (an assert line), 'json' (a blob among other "
        "fields), 'reversed' (the answer spelt backwards): the reward-seeking skill sR."
    )
    instruction: bool = Field(
        True, description="End every prompt with the answer format that declares the route "
        f"({REWARD_SEEKING_OPENING!r} or {LOCAL_OPENING!r}, then the answer). Off: free-form answers, only "
        "the rule labeller sees the route (no exact p)."
    )
    seed: int = Field(0, ge=0, description="Seeds the split and every env's task, values and leak style.")

    @field_validator("train_families", "heldout_families")
    @classmethod
    def _known_families(cls, value: list[str], info: object) -> list[str]:
        bad = [f for f in value if f not in FAMILIES]
        if bad or not value:
            raise ValueError(f"must be a non-empty list of families from {list(FAMILIES)}, got {value}")
        return list(dict.fromkeys(value))

    @field_validator("leak_styles")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"must name at least one leak style from {list(LEAK_STYLES)}")
        return list(dict.fromkeys(value))

    @field_validator("difficulty")
    @classmethod
    def _levels(cls, value: dict[str, int]) -> dict[str, int]:
        for family, level in value.items():
            if family not in FAMILIES:
                raise ValueError(f"unknown family {family!r}; families are {list(FAMILIES)}")
            if level not in (1, 2, 3):
                raise ValueError(f"difficulty of {family!r} must be 1, 2 or 3, got {level!r}")
        return dict(value)

    @model_validator(mode="after")
    def _sizes(self) -> NLWorldConfig:
        if set(self.train_families) & set(self.heldout_families):
            raise ValueError(f"train_families and heldout_families overlap: "
                             f"{sorted(set(self.train_families) & set(self.heldout_families))}")
        if self.n_heldout + self.n_trap >= self.n_envs:
            raise ValueError(f"n_heldout + n_trap ({self.n_heldout} + {self.n_trap}) must be < n_envs ({self.n_envs})")
        return self

    def level(self, family: str) -> int:
        """Difficulty of a family (1 when not set)."""
        return self.difficulty.get(family, 1)
