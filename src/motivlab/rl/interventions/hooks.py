"""Named points where an intervention plugs into the training loop (see interventions.md).

A hook is a small object; every method has a do-nothing default, so an intervention overrides
only the points it needs. The trainer calls them in this order each step:

==================  ==========================================================================
``prompt_texts``    what the policy sees (prompt shaping, inoculation prompting); grading and
                    logs keep the world's prompt
``sampling``        a context manager around sampling (activation steering / capping)
``rewards``         the reward the *update* uses (monitor penalty, report affordance); metrics
                    and ``rollouts.reward`` keep the world's grade
``weights``         per-rollout gradient weight in [0, 1] (trajectory filtering: 0 = no gradient)
``updating``        a context manager around the update (steering during the update)
``after_update``    anything after the optimiser step (persona replay: a supervised step)
``log``             scalars for this step's row of ``steps.parquet`` (clip rates, filtered share…)
==================  ==========================================================================

Hooks must be deterministic given ``(step, inputs)`` — use RNGs derived from the step — or a
resumed run will not reproduce the uninterrupted one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from motivlab.worlds.base import Prompt, Route


class TrainerHook:
    """Base class: override the points you need (all defaults leave training unchanged)."""

    name = "hook"

    def prompt_texts(self, step: int, prompts: Sequence[Prompt], texts: list[str]) -> list[str]:
        return texts

    @contextlib.contextmanager
    def sampling(self, model: Any) -> Iterator[None]:
        yield

    def rewards(self, step: int, prompts: Sequence[Prompt], completions: Sequence[str], rewards: np.ndarray,
                routes: Sequence[Route]) -> np.ndarray:
        return rewards

    def weights(self, step: int, prompts: Sequence[Prompt], completions: Sequence[str], rewards: np.ndarray,
                routes: Sequence[Route]) -> np.ndarray | None:
        return None

    @contextlib.contextmanager
    def updating(self, model: Any) -> Iterator[None]:
        yield

    def after_update(self, step: int, model: Any, optimizer: Any) -> None:
        return None

    def log(self) -> dict[str, float]:
        return {}


def check_rewards(name: str, rewards: np.ndarray, n: int) -> np.ndarray:
    """A hook's rewards: (n,) finite floats, else a clear error naming the hook."""
    out = np.asarray(rewards, dtype=np.float64)
    if out.shape != (n,) or not np.all(np.isfinite(out)):
        raise ValueError(f"hook {name!r} returned rewards of shape {out.shape} (need ({n},)) or non-finite values")
    return out


def check_weights(name: str, weights: np.ndarray, n: int) -> np.ndarray:
    out = np.asarray(weights, dtype=np.float64)
    if out.shape != (n,) or not np.all(np.isfinite(out)) or np.any((out < 0) | (out > 1)):
        raise ValueError(f"hook {name!r} returned weights of shape {out.shape} (need ({n},)) outside [0, 1]")
    return out
