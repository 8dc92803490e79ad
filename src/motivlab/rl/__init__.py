"""RL that selects motivations: rollout sampling, rejection sampling, GRPO, the training loop."""
