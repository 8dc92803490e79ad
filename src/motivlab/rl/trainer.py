"""The RL training loop: pick prompts → sample → grade → label → measure → update → log.

What one step really does (the loop in :func:`train` reads top to bottom):

1. **pick** ``prompts_per_step`` envs from the training set (uniformly, without replacement when
   there are enough), with an RNG derived from ``(seed, step)``;
2. **sample** ``group_size`` completions per prompt from the current policy
   (:func:`motivlab.models.generation.sample`, generator derived from ``(seed, step)``);
3. **grade** them with the world's grader (:func:`motivlab.worlds.base.grade_batch`) and
   **label** each rollout's route with the monitor;
4. **measure**: per-env and overall reward, p, sR, sL with Wilson intervals from the rollouts,
   plus the exact (teacher-forced) measurement every ``measure.exact_every`` steps on training,
   held-out and trap envs — taken on the policy *before* this step's update;
5. **update** the policy (GRPO or rejection sampling, :mod:`motivlab.rl.update`);
6. **log** every rollout and metric (append-only) and checkpoint every ``run.checkpoint_every``
   steps. After the last step the policy is measured exactly once more (``step = steps``).

Because every random choice of step ``s`` derives from ``(seed, s)`` and a checkpoint holds the
model and optimiser exactly, a run killed at any moment and resumed reproduces the uninterrupted
run (see :mod:`motivlab.rl.rundir`).

Usage::

    from motivlab.rl import TrainConfig, train
    result = train(TrainConfig(steps=20), "runs/demo")
    result.metrics.query("env_id == -1 and split == 'train'")[["step", "p", "p_exact"]]
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from motivlab.errors import MotivlabInputError
from motivlab.measure.metrics import empty_metrics, merge_exact, rollout_metrics
from motivlab.models.generation import sample
from motivlab.rl.config import TrainConfig, config_to_dict
from motivlab.rl.interventions.hooks import TrainerHook, check_rewards, check_weights
from motivlab.rl.progress import TrainProgress
from motivlab.rl.rundir import RunDir
from motivlab.rl.setup import check_vocabulary, default_max_new_tokens, load_policy, load_world
from motivlab.rl.tracking import open_trackers
from motivlab.rl.update import update_policy
from motivlab.worlds.base import Route, World, grade_batch


@dataclass
class TrainResult:
    """What :func:`train` returns: the run directory and its tables."""

    run_dir: Path
    metrics: pd.DataFrame  # metrics.parquet
    steps: pd.DataFrame  # steps.parquet: losses and per-phase timings
    rollouts: pd.DataFrame  # rollouts.parquet
    device: str = "cpu"  # where it computed (config.device resolved), e.g. 'cuda:0'
    already_finished: bool = False  # resumed a run that had done all its steps: nothing was computed


# ---------------------------------------------------------------------------------------------
# randomness derived from (seed, step): the reason resumption is exact


def step_rng(seed: int, step: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, step, stream])


def step_generator(seed: int, step: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The sampler's generator for ``step``, on ``device`` (where the draws happen); the same seed
    on another device gives another stream (CPU and CUDA generators are different algorithms)."""
    state = np.random.SeedSequence([seed, step, 1]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator(device=device).manual_seed(int(state))


def training_envs(world: World, n: int | None, seed: int) -> np.ndarray:
    """The N envs this run trains on: all of the train split, or ``n`` of them drawn by seed."""
    pool = np.asarray(world.env_ids("train"))
    if n is None:
        return pool
    if n > len(pool):
        raise MotivlabInputError(f"world.n_train_envs ({n}) exceeds the world's train split ({len(pool)} envs)")
    return np.sort(step_rng(seed, 0, 2).choice(pool, size=n, replace=False))  # stream 2: fixed for the run


def pick_envs(train_envs: np.ndarray, k: int, seed: int, step: int) -> np.ndarray:
    """``k`` envs for this step, without replacement when the training set is large enough."""
    rng = step_rng(seed, step, 0)
    return rng.choice(train_envs, size=k, replace=k > len(train_envs))


def measured_envs(world: World, train_envs: np.ndarray, config: TrainConfig) -> dict[int, str]:
    """Envs measured exactly, and their split: the first of the train set, held-out, trap."""
    m = config.measure
    chosen: dict[int, str] = {}
    for split, ids, n in (
        ("train", train_envs, m.exact_train_envs),
        ("heldout", world.env_ids("heldout"), m.exact_heldout_envs),
        ("trap", world.env_ids("trap"), m.exact_trap_envs),
    ):
        chosen.update({int(e): split for e in np.asarray(ids)[:n]})
    return chosen


def _exact_metrics(model: Any, tokenizer: Any, world: World, measured: dict[int, str], step: int,
                   sampled: pd.DataFrame, plan: ExactPlan | None = None) -> pd.DataFrame:
    from motivlab.measure.exact import measure_exact, measure_exact_extended

    if plan is None or not plan.extended:
        exact = measure_exact(model, tokenizer, world, list(measured))
    else:  # the shaping quantities, in the same forward passes (measure/exact.py)
        t0 = time.perf_counter()
        exact, plan.sequences = measure_exact_extended(model, tokenizer, world, list(measured), prefix=plan.prefix)
        plan.seconds = time.perf_counter() - t0
    return merge_exact(sampled, exact, step, measured)


@dataclass
class ExactPlan:
    """What the exact measurement reads besides p, sR, sL: the shaping quantities (when the world
    has probes / a report route / a marker, or an intervention asks for them) and, with a training
    prefix, everything again under it. ``seconds``/``sequences`` of the last measurement go to
    ``steps.parquet`` as ``exact_seconds``/``exact_sequences``."""

    extended: bool = False
    prefix: str | None = None
    seconds: float = float("nan")
    sequences: int = 0

    @classmethod
    def for_run(cls, world: World, hooks: Sequence[TrainerHook]) -> ExactPlan:
        from motivlab.measure.exact import needs_extended

        prefix = "".join(reversed([t for h in hooks if (t := getattr(h, "exact_prefix", None))])) or None
        wants = any(getattr(h, "wants_extended_exact", False) for h in hooks)
        return cls(extended=needs_extended(world) or prefix is not None or wants, prefix=prefix)

    def log(self) -> dict[str, float]:
        if not self.extended:
            return {}
        out = {"exact_seconds": self.seconds, "exact_sequences": float(self.sequences)}
        self.seconds, self.sequences = float("nan"), 0
        return out


def _labels(monitor: Any, prompts: list[Any], completions: list[str]) -> list[Route]:
    routes = monitor.label_batch(prompts, completions)
    if len(routes) != len(completions):
        raise ValueError(f"monitor {type(monitor).__name__} returned {len(routes)} labels for {len(completions)} rollouts")
    return [Route(r) for r in routes]


# ---------------------------------------------------------------------------------------------
# the loop


def train(
    config: TrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    model: Any = None,
    tokenizer: Any = None,
    world: World | None = None,
    hooks: Sequence[TrainerHook] = (),
) -> TrainResult:
    """Run (or resume) RL as configured, writing the run directory ``out``.

    ``model``/``tokenizer``/``world`` override what the config would load (the Python API for
    benchmarks and tests); the config is still what ``config.toml`` records, and a given ``model``
    is moved to ``config.device`` (in place, like the training itself). ``hooks`` are
    interventions called at the named points of :mod:`motivlab.rl.interventions.hooks`.
    """
    from motivlab.measure.monitors import build_monitor
    from motivlab.models.device import describe_device, resolve_device
    from motivlab.rl.report import finish_run

    device = resolve_device(config.device)  # before anything is written: a missing GPU fails cleanly
    run = RunDir(out)
    # a GPU run may resume on the CPU (noted in metadata.json)
    plan = run.check(config_to_dict(config), resume=resume, canonical=_canonical, ignore=("device",))
    if plan.finished:
        return _finished(run, config, device)
    # ---- build everything that can fail before the run directory is written ------------------
    model_dir = None
    if model is None:
        model, tokenizer, model_dir = load_policy(config.model, config.seed, progress=config.run.progress)
    model.to(device)  # before the reference copy and the optimiser, so both live there too
    world = world if world is not None else load_world(config.world, model_dir)
    check_vocabulary(world, tokenizer)
    hooks = [*_config_hooks(config, model, world, tokenizer, model_dir), *hooks]  # the config's interventions, then Python hooks
    exact_plan = ExactPlan.for_run(world, hooks)
    algo, m = config.algorithm, config.measure
    monitor = build_monitor(m.monitor, world=world)
    ref_model = copy.deepcopy(model).eval().requires_grad_(False) if getattr(algo, "beta", 0.0) > 0 else None
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=config.optim.lr, betas=config.optim.betas,
        weight_decay=config.optim.weight_decay,
    )
    run.start(config_to_dict(config), config.seed, plan)
    run.note_device(describe_device(device, config.device))
    start_step = run.restore(model, optimizer) if plan.existing else 0
    model.eval()
    train_envs = training_envs(world, config.world.n_train_envs, config.seed)
    measured = measured_envs(world, train_envs, config)
    max_new_tokens = config.sampling.max_new_tokens or default_max_new_tokens(world)
    extra_files = [model_dir / "organism.json"] if model_dir and (model_dir / "organism.json").is_file() else []
    trackers = open_trackers(config_to_dict(config), run.path)  # TensorBoard / trackio, as [run] says

    with TrainProgress(config.steps, start_step, enabled=config.run.progress) as progress:
        for step in range(start_step, config.steps):
            # ---- pick prompts ------------------------------------------------------------
            envs = pick_envs(train_envs, algo.prompts_per_step, config.seed, step)  # (P,)
            prompts = [world.prompt(int(e)) for e in envs]
            texts = [p.text for p in prompts]
            for hook in hooks:
                texts = hook.prompt_texts(step, prompts, texts)
            # ---- sample ------------------------------------------------------------------
            with contextlib.ExitStack() as stack:
                for hook in hooks:
                    stack.enter_context(hook.sampling(model))
                samples = sample(
                    model, tokenizer, texts, n_per_prompt=algo.group_size,
                    max_new_tokens=max_new_tokens, temperature=config.sampling.temperature,
                    top_p=config.sampling.top_p, stop=world.stop, generator=step_generator(config.seed, step, device),
                    batch_size=config.sampling.batch_size, chat_template=config.model.chat_template,
                )  # B = P × group_size rollouts, prompt-major
            rollout_prompts = [prompts[i] for i in samples.prompt_index]
            # ---- grade and label ---------------------------------------------------------
            t0 = time.perf_counter()
            rewards = grade_batch(world, rollout_prompts, samples.completions)  # (B,) float64 in [0, 1]
            routes = _labels(monitor, rollout_prompts, samples.completions)
            train_rewards, weights = _shaped(hooks, step, rollout_prompts, samples.completions, rewards, routes)
            grade_seconds = time.perf_counter() - t0
            # ---- measure (sampled every step, exact every K steps, before the update) ------
            t0 = time.perf_counter()
            rollout_envs = envs[samples.prompt_index]  # (B,)
            metrics = rollout_metrics(step, rollout_envs, rewards, routes, confidence=m.confidence)
            if m.exact_every and step % m.exact_every == 0 and measured:
                metrics = _exact_metrics(model, tokenizer, world, measured, step, metrics, exact_plan)
                for hook in hooks:  # hooks that log something of the exact measurement (obfuscation)
                    if callable(observe := getattr(hook, "observe_exact", None)):
                        observe(step, metrics)
            measure_seconds = time.perf_counter() - t0
            # ---- update ------------------------------------------------------------------
            with contextlib.ExitStack() as stack:
                for hook in hooks:
                    stack.enter_context(hook.updating(model))
                stats = update_policy(
                    model, optimizer, samples, torch.as_tensor(train_rewards, dtype=torch.float32), algo=algo,
                    optim=config.optim, temperature=config.sampling.temperature, max_new_tokens=max_new_tokens,
                    ref_model=ref_model, weights=None if weights is None else torch.as_tensor(weights, dtype=torch.float32),
                )
            _check_finite(step, stats, run)  # before this step is logged or checkpointed
            for hook in hooks:
                hook.after_update(step, model, optimizer)
            # ---- log and checkpoint ------------------------------------------------------
            overall = metrics[(metrics.env_id == -1) & (metrics.split == "train")].iloc[0]
            step_record = {
                "step": step, "reward": overall.reward, "p": overall.p, "loss": stats.loss,
                "grad_norm": stats.grad_norm, "clip_fraction": stats.clip_fraction, "kl": stats.kl,
                "trained_fraction": stats.trained_fraction, "optimizer_steps": stats.optimizer_steps,
                "tokens": samples.n_tokens, "sample_seconds": samples.seconds, "grade_seconds": grade_seconds,
                "measure_seconds": measure_seconds, "update_seconds": stats.seconds,
                "tokens_per_second": samples.n_tokens / max(samples.seconds, 1e-9), **stats.extra,
                **exact_plan.log(),
            }
            for hook in hooks:
                step_record.update({f"{hook.name}/{k}": v for k, v in hook.log().items()})
            records = _rollout_records(step, rollout_envs, samples, rewards, routes, algo.group_size, prompts)
            if hooks:  # what the intervention changed, next to what the world said
                for i, rec in enumerate(records):
                    rec.update(policy_prompt=texts[samples.prompt_index[i]], train_reward=float(train_rewards[i]),
                               weight=1.0 if weights is None else float(weights[i]))
            run.append("rollouts", records)
            run.append("metrics", metrics.to_dict("records"))
            run.append("steps", [step_record])
            if (step + 1) % config.run.checkpoint_every == 0 or step + 1 == config.steps:
                run.save_checkpoint(step + 1, model, tokenizer, optimizer, keep=config.run.keep_checkpoints,
                                    extra_files=extra_files)
                run.compact()
            trackers.log(step, step_record, metrics)
            progress.advance(step, overall.reward, overall.p)

    # ---- the policy after the last update, measured exactly ------------------------------------
    if m.exact_every and measured:
        final = _exact_metrics(model, tokenizer, world, measured, config.steps, empty_metrics(config.steps), exact_plan)
        run.append("metrics", final.to_dict("records"))
        trackers.log(config.steps, {}, final)
    trackers.close()
    tables = run.compact()
    finish_run(run, config, tables)
    return TrainResult(run.path, tables["metrics"], tables["steps"], tables["rollouts"], str(device))


class TrainingDivergedError(RuntimeError):
    """The loss or the gradient norm became non-finite; the run stopped at its last checkpoint."""


def _check_finite(step: int, stats: Any, run: RunDir) -> None:
    """Stop the run when an update produced a non-finite loss or gradient (the weights are now
    NaN/inf); the step is neither logged nor checkpointed, so the last checkpoint is the last good policy."""
    loss, grad = float(stats.loss), float(stats.grad_norm)
    if np.isfinite(loss) and np.isfinite(grad):
        return
    last = max((int(p.name.split("_")[1]) for p in run.checkpoints.glob("step_*")), default=None)
    kept = f"the last good checkpoint is {run.checkpoint_dir(last)}" if last is not None else "no checkpoint was written yet"
    raise TrainingDivergedError(
        f"step {step}: the update gave a non-finite loss ({loss}) or gradient norm ({grad}); stopped, {kept}. "
        "Lower optim.lr or algorithm.beta, or set optim.max_grad_norm"
    )


def _finished(run: RunDir, config: TrainConfig, device: Any) -> TrainResult:
    """The result of a run that already did all its steps (``--resume`` on it does nothing)."""
    tables = {name: pd.read_parquet(run.path / f"{name}.parquet") if (run.path / f"{name}.parquet").is_file()
              else pd.DataFrame() for name in ("metrics", "steps", "rollouts")}
    return TrainResult(run.path, tables["metrics"], tables["steps"], tables["rollouts"], str(device),
                       already_finished=True)


def _config_hooks(config: TrainConfig, model: Any, world: World, tokenizer: Any,
                  model_dir: Path | None = None) -> list[TrainerHook]:
    """The config's interventions as hooks, built on the *starting* weights (before a checkpoint is loaded)."""
    if not config.interventions:
        return []
    from motivlab.rl.interventions.build import BuildContext, build_hooks

    ctx = BuildContext(
        world=world, tokenizer=tokenizer, group_size=config.algorithm.group_size, model=model, seed=config.seed,
        train_envs=training_envs(world, config.world.n_train_envs, config.seed),
        max_new_tokens=config.sampling.max_new_tokens or default_max_new_tokens(world),
        chat_template=config.model.chat_template, organism=_organism_config(model_dir),
    )
    return build_hooks(config.interventions, ctx)


def _organism_config(model_dir: Path | None) -> Any:
    """The OrganismConfig of an organism model directory, else None."""
    if model_dir is None or not (Path(model_dir) / "organism.json").is_file():
        return None
    from motivlab.models.organism import load_organism_config

    return load_organism_config(model_dir)


def _canonical(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved config.toml with today's defaults filled in, so that a run started before a field
    existed (e.g. ``device``) still resumes under the same config."""
    from motivlab.rl.config import build_config

    return config_to_dict(build_config(saved))


def _shaped(hooks: Sequence[TrainerHook], step: int, prompts: list[Any], completions: list[str],
            rewards: np.ndarray, routes: list[Route]) -> tuple[np.ndarray, np.ndarray | None]:
    """Rewards for the update and per-rollout gradient weights after every hook had its say."""
    train_rewards, weights = rewards, None
    for hook in hooks:
        train_rewards = check_rewards(hook.name, hook.rewards(step, prompts, completions, train_rewards, routes),
                                      len(rewards))
    for hook in hooks:
        w = hook.weights(step, prompts, completions, train_rewards, routes)
        if w is not None:
            w = check_weights(hook.name, w, len(rewards))
            weights = w if weights is None else weights * w
    return train_rewards, weights


def _rollout_records(step: int, envs: np.ndarray, samples: Any, rewards: np.ndarray, routes: list[Route],
                     group_size: int, prompts: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "step": step, "env_id": int(envs[i]), "prompt": prompts[samples.prompt_index[i]].text,
            "completion": samples.completions[i], "reward": float(rewards[i]), "route": str(routes[i]),
            "logprob": float(samples.total_logprob[i]), "sample_idx": i % group_size,
            "n_tokens": int(samples.completion_mask[i].sum()), "finished": bool(samples.finished[i]),
        }
        for i in range(len(samples))
    ]
