"""From the config's ``interventions`` list to the trainer's hooks (a dict dispatch on ``kind``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from motivlab.rl.hooks import TrainerHook
from motivlab.worlds.base import World


def _filter(spec: Any, name: str, world: World, tokenizer: Any, group_size: int) -> TrainerHook:
    from motivlab.interventions.filter import FilterHook

    return FilterHook(spec, world, group_size, name)


def _penalty(spec: Any, name: str, world: World, tokenizer: Any, group_size: int) -> TrainerHook:
    from motivlab.interventions.penalty import MonitorPenaltyHook

    return MonitorPenaltyHook(spec, world, name)


def _prefix(spec: Any, name: str, world: World, tokenizer: Any, group_size: int) -> TrainerHook:
    from motivlab.interventions.prefix import PromptPrefixHook

    return PromptPrefixHook(spec, tokenizer, name)


_BUILDERS: dict[str, Callable[..., TrainerHook]] = {
    "filter": _filter, "monitor_penalty": _penalty, "prompt_prefix": _prefix,
}


def build_hooks(specs: Sequence[Any], *, world: World, tokenizer: Any, group_size: int) -> list[TrainerHook]:
    """One hook per configured intervention, in order. Log names are the kind, suffixed ``_2``,
    ``_3``… when a kind repeats, so ``steps.parquet`` columns never collide."""
    hooks, seen = [], {}
    for spec in specs:
        seen[spec.kind] = seen.get(spec.kind, 0) + 1
        name = spec.kind if seen[spec.kind] == 1 else f"{spec.kind}_{seen[spec.kind]}"
        hooks.append(_BUILDERS[spec.kind](spec, name, world, tokenizer, group_size))
    return hooks
