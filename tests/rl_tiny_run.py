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

# The hint world the CLI, trust and sweep tests build a tiny model directory for
# (conftest's ``tiny_hint_model_dir`` fixture saves the model once per session).
TINY_HINT_WORLD = {"n_envs": 120, "n_heldout": 10, "n_trap": 10}


def tiny_run_toml(directory, model_dir, *, checkpoint_every: int | None = None):
    """Write ``directory/run.toml``: 2 GRPO steps of the tiny model in TINY_HINT_WORLD, exact every step."""
    checkpoint = "" if checkpoint_every is None else f"checkpoint_every = {checkpoint_every}\n"
    path = directory / "run.toml"
    path.write_text(f"""
steps = 2
[model]
spec = "{model_dir}"
[world]
source = "hint"
[world.hint]
n_envs = {TINY_HINT_WORLD["n_envs"]}
n_heldout = {TINY_HINT_WORLD["n_heldout"]}
n_trap = {TINY_HINT_WORLD["n_trap"]}
[algorithm]
prompts_per_step = 2
group_size = 2
[measure]
exact_every = 1
exact_train_envs = 2
exact_heldout_envs = 1
exact_trap_envs = 1
[run]
progress = false
{checkpoint}""")
    return path
