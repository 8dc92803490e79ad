"""RL that selects motivations: rollout sampling, rejection sampling, GRPO, the training loop.

    from motivlab.rl import TrainConfig, train
    result = train(TrainConfig(steps=20), "runs/demo")   # GRPO on the default organism

The names below are imported lazily (on first use), so ``import motivlab.rl`` and the command
line do not load torch, pandas or scipy until a command needs them.
"""

from __future__ import annotations

from motivlab._lazy import lazy_exports

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

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
