"""RL that selects motivations: rollout sampling, rejection sampling, GRPO, the training loop.

    from motivlab.rl import TrainConfig, train
    result = train(TrainConfig(steps=20), "runs/demo")   # GRPO on the default organism

The names below are imported lazily (on first use), so ``import motivlab.rl`` and the command
line do not load torch, pandas or scipy until a command needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "GRPOConfig": "motivlab.rl.config",
    "RejectionConfig": "motivlab.rl.config",
    "TrainConfig": "motivlab.rl.config",
    "build_config": "motivlab.rl.config",
    "load_config": "motivlab.rl.config",
    "TrainResult": "motivlab.rl.trainer",
    "train": "motivlab.rl.trainer",
    "Samples": "motivlab.models.generation",
    "sample": "motivlab.models.generation",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'motivlab.rl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
