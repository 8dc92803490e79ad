"""RL that selects motivations: rollout sampling, rejection sampling, GRPO, the training loop.

    from motivlab.rl import TrainConfig, train
    result = train(TrainConfig(steps=20), "runs/demo")   # GRPO on the default organism
"""

from motivlab.models.generation import Samples, sample
from motivlab.rl.config import GRPOConfig, RejectionConfig, TrainConfig, build_config, load_config
from motivlab.rl.trainer import TrainResult, train

__all__ = [
    "GRPOConfig", "RejectionConfig", "Samples", "TrainConfig", "TrainResult", "build_config", "load_config",
    "sample", "train",
]
