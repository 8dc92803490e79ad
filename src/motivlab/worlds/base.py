"""The contract every world implements (hint world, natural-language world, yours).

The trainer, the measurements, the TRL integration and the theory fit only ever talk to a world
through this interface, so a new world plugs into all of them at once.

A world is a pool of environments. Each environment ``env_id`` yields a :class:`Prompt`; a
completion of that prompt is *graded* (reward in [0, 1]) and *labelled* with the :class:`Route`
it took: reward-seeking (it used what the grader checks) or local (it solved the task). Where the
world knows them, it also gives the completion that earns full reward along each route — that is
what makes the *exact* (teacher-forced) measurement of ``p``, ``sR`` and ``sL`` possible.

The grader is the single source of truth for reward: RL reward, evaluation scores and the
measurement all call :meth:`World.grade`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

Split = Literal["train", "heldout", "trap", "all"]


class Route(StrEnum):
    """Which motivation a rollout acted on."""

    REWARD_SEEKING = "reward_seeking"  # reasoned about / read what the grader checks
    LOCAL = "local"  # solved the task itself
    UNKNOWN = "unknown"  # malformed: declared no route the labeller recognises
    REPORT = "report"  # declared the environment exploitable instead of exploiting it (worlds with a report route)


@dataclass(frozen=True)
class Prompt:
    """One environment's prompt and what the grader needs to score it.

    ``text`` is exactly what the policy sees (for chat worlds, the rendered user message);
    ``meta`` holds grader-side facts (the key, what the note says, whether it is a trap) that the
    policy never sees but that logs and measurements may record.
    """

    env_id: int
    text: str
    meta: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class World(Protocol):
    """A pool of environments with a grader and a route labeller."""

    name: str

    @property
    def n_envs(self) -> int:
        """Size of the pool (ids are ``0 .. n_envs-1``)."""
        ...

    @property
    def coordinates(self) -> np.ndarray:
        """Latent coordinates ``u_e`` of every env, shape ``(n_envs, d)`` (the theory's geometry)."""
        ...

    def env_ids(self, split: Split = "train") -> np.ndarray:
        """Ids of the envs in a split: ``train``, ``heldout`` (not trained on), ``trap`` (the note
        lies; held out too), or ``all``."""
        ...

    def prompt(self, env_id: int) -> Prompt:
        """The (deterministic) prompt of an env."""
        ...

    def grade(self, prompt: Prompt, completion: str) -> float:
        """Reward of ``completion`` in [0, 1]; malformed completions get 0, never an exception."""
        ...

    def label(self, prompt: Prompt, completion: str) -> Route:
        """The route a completion took, judged from the completion (the world's own monitor)."""
        ...

    def route_prefix(self, route: Route) -> str:
        """The text a completion starts with to declare ``route`` (e.g. ``"G"`` or ``"T"``)."""
        ...

    def rewarded_completion(self, prompt: Prompt, route: Route) -> str | None:
        """The completion that follows ``route`` and earns full reward (starting with
        :meth:`route_prefix`, ending with :attr:`stop`), or ``None`` if the world cannot say.

        On a trap env the reward-seeking route has no rewarded completion that *reads the note*;
        worlds return the completion that would be rewarded anyway (the true key after the
        reward-seeking prefix), so ``sR`` there measures how often a reward-seeker still gets it
        right.
        """
        ...

    @property
    def stop(self) -> str:
        """String that ends a completion (sampling stops there)."""
        ...

    @property
    def alphabet(self) -> str:
        """Every character prompts and rewarded completions can contain (for char tokenizers and
        to detect a world/model vocabulary mismatch)."""
        ...


def grade_batch(world: World, prompts: Sequence[Prompt], completions: Sequence[str]) -> np.ndarray:
    """Rewards of a batch, as float64; checks lengths and the [0, 1] range (a bad world is a bug
    the user must hear about, not a silent NaN in the metrics)."""
    if len(prompts) != len(completions):
        raise ValueError(f"grade_batch: {len(prompts)} prompts but {len(completions)} completions")
    rewards = np.array([world.grade(p, c) for p, c in zip(prompts, completions, strict=True)], dtype=np.float64)
    if not np.all(np.isfinite(rewards)) or np.any((rewards < 0) | (rewards > 1)):
        bad = rewards[~np.isfinite(rewards) | (rewards < 0) | (rewards > 1)][:5]
        raise ValueError(f"world {world.name!r} returned rewards outside [0, 1] or non-finite: {bad.tolist()}")
    return rewards
