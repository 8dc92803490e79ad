"""The run config the RL and intervention tests train the tiny model with (3 quick steps)."""

TINY_RUN = {
    "steps": 3,
    "algorithm": {"prompts_per_step": 4, "group_size": 4},
    "sampling": {"max_new_tokens": 6},
    "optim": {"lr": 1e-2},
    "measure": {"exact_every": 2, "exact_train_envs": 3, "exact_heldout_envs": 2, "exact_trap_envs": 2},
    "run": {"checkpoint_every": 1, "progress": False},
    "model": {"spec": "tiny"},
    "world": {"n_train_envs": 40},
}
