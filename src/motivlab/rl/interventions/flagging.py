"""Shared by the monitor-driven interventions: which rollouts a configured monitor flags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from motivlab.worlds.base import Prompt, Route, World


class Flagger:
    """``flags(prompts, completions, routes) -> (B,) bool``: the rollouts labelled ``route``.

    ``monitor = 'measure'`` reuses the trainer's labels (``routes``); 'world' and 'regex' build
    their own monitor (measure/monitors.py), so an intervention can act on another labeller than
    the one the metrics are measured with (the obfuscation question of interventions.md).
    """

    def __init__(self, spec: Any, world: World) -> None:
        from motivlab.measure.monitors import build_monitor

        self.route = Route(spec.route)
        self.monitor = None
        if spec.monitor == "world":
            self.monitor = build_monitor("world", world=world)
        elif spec.monitor == "regex":
            kwargs = {"patterns": dict(spec.patterns)} if spec.patterns else {}
            self.monitor = build_monitor("regex", world=world, **kwargs)

    def flags(self, prompts: Sequence[Prompt], completions: Sequence[str], routes: Sequence[Route]) -> np.ndarray:
        labels = routes if self.monitor is None else self.monitor.label_batch(prompts, completions)
        if len(labels) != len(completions):
            raise ValueError(f"intervention monitor returned {len(labels)} labels for {len(completions)} rollouts")
        return np.array([Route(r) == self.route for r in labels], dtype=bool)  # (B,)
