"""From the config's ``interventions`` list to the trainer's hooks (a dict dispatch on ``kind``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from motivlab.errors import MotivlabInputError
from motivlab.rl.interventions.hooks import TrainerHook
from motivlab.worlds.base import World


@dataclass
class BuildContext:
    """What hooks may need from the run, fixed before the first step (and before a checkpoint is
    loaded: ``model`` holds the *starting* weights, so a resumed run rebuilds identical hooks)."""

    world: World
    tokenizer: Any
    group_size: int
    model: Any = None
    seed: int = 0
    train_envs: np.ndarray | None = None
    max_new_tokens: int = 8
    chat_template: bool = False
    organism: Any = None  # the OrganismConfig when the model is an organism (persona replay needs its corpus)


def _filter(spec: Any, name: str, ctx: BuildContext) -> TrainerHook:
    from motivlab.rl.interventions.filter import FilterHook

    return FilterHook(spec, ctx.world, ctx.group_size, name)


def _penalty(spec: Any, name: str, ctx: BuildContext) -> TrainerHook:
    from motivlab.rl.interventions.penalty import MonitorPenaltyHook

    return MonitorPenaltyHook(spec, ctx.world, name)


def _prefix(spec: Any, name: str, ctx: BuildContext) -> TrainerHook:
    from motivlab.rl.interventions.prefix import PromptPrefixHook

    return PromptPrefixHook(spec, ctx.tokenizer, name)


def _steer(spec: Any, name: str, ctx: BuildContext) -> TrainerHook:
    from motivlab.rl.interventions.steer import SteerHook, decoder_layers, find_directions

    if ctx.model is None or ctx.train_envs is None:
        raise MotivlabInputError("steer needs the model and the training envs (build_hooks(..., model=, train_envs=))")
    n = len(decoder_layers(ctx.model))
    if max(spec.layers) >= n:
        raise MotivlabInputError(f"interventions: steer.layers {spec.layers} out of range: the model has {n} layers (0..{n - 1})")
    directions, auc, spec = find_directions(ctx.model, ctx.tokenizer, ctx.world, ctx.train_envs, spec, seed=ctx.seed,
                                      max_new_tokens=ctx.max_new_tokens, stop=ctx.world.stop,
                                      chat_template=ctx.chat_template)
    return SteerHook(spec, directions, auc, name)


def _report(spec: Any, name: str, ctx: BuildContext) -> TrainerHook:
    from motivlab.rl.interventions.affordance import ReportHook

    return ReportHook(spec, ctx.world, name)


def _replay(spec: Any, name: str, ctx: BuildContext) -> TrainerHook:
    from motivlab.rl.interventions.replay import PersonaReplayHook

    return PersonaReplayHook(spec, ctx.organism, ctx.world, ctx.tokenizer, ctx.seed, name)


_BUILDERS: dict[str, Callable[[Any, str, BuildContext], TrainerHook]] = {
    "filter": _filter, "monitor_penalty": _penalty, "prompt_prefix": _prefix, "steer": _steer,
    "report": _report, "persona_replay": _replay,
}


def build_hooks(specs: Sequence[Any], ctx: BuildContext) -> list[TrainerHook]:
    """One hook per configured intervention, in order. Log names are the kind, suffixed ``_2``,
    ``_3``… when a kind repeats, so ``steps.parquet`` columns never collide."""
    hooks, seen = [], {}
    for spec in specs:
        seen[spec.kind] = seen.get(spec.kind, 0) + 1
        name = spec.kind if seen[spec.kind] == 1 else f"{spec.kind}_{seen[spec.kind]}"
        hooks.append(_BUILDERS[spec.kind](spec, name, ctx))
    return hooks
