"""Run a motivlab experiment in TRL: a world + a monitor → dataset, reward function, metrics callback.

TRL's ``GRPOTrainer`` brings accelerate/DeepSpeed/vLLM and multi-GPU scale; motivlab brings the
world, the grader and the measurement. This module is the seam, and it keeps the one rule that
makes results comparable: **the reward is ``World.grade``**, exactly what our own trainer and
every measurement use. Nothing here re-implements grading or metrics.

* :func:`world_dataset` — a ``datasets.Dataset`` with columns ``prompt``, ``env_id``, ``split``
  (TRL passes the extra columns to reward functions as keyword lists).
* :func:`make_reward_function` — ``reward(prompts, completions, env_id, **kwargs) -> list[float]``
  with TRL's signature. It grades each completion, labels it with the monitor, records the
  rollout (step = ``trainer_state.global_step`` at generation time) and logs ``motivlab/p`` etc.
  to TRL's own logs.
* :class:`MotivlabMetricsCallback` — a ``transformers.TrainerCallback`` that turns the recorded
  rollouts into the run directory of our trainer: ``metrics.parquet`` (one row per step × env
  plus ``env_id = -1`` overall rows, Wilson intervals, via :func:`motivlab.measure.metrics.
  rollout_metrics`), ``rollouts.parquet``, ``steps.parquet`` (TRL's logged scalars),
  ``config.toml``, ``metadata.json`` — through the trainer's own :class:`~motivlab.rl.rundir.RunDir`
  (append-only JSONL, compacted to Parquet). Under ``torch.distributed`` every rank records its
  share; rank 0 gathers and writes.

The run directory has our trainer's tables and columns (``rollouts`` adds ``split``), the exact
(teacher-forced) measurement of training, held-out and trap envs on the same schedule,
``summary.json``, figures and ``report.html`` (the trainer's own ``finish_run``). Departures:
``logprob`` is NaN (TRL does not hand sampling log-probs to reward functions); ``steps`` holds
TRL's logged scalars (``loss``, ``reward``, ``grad_norm``, ``rewards.hint_grade.mean``: TRL's
``/`` written as ``.``) rather than our per-phase timings; with ``steps_per_generation > 1`` one generation batch serves several optimiser steps
and is logged under the step at which it was generated. ``examples/trl_grpo.py`` is a complete
script (single process, ``accelerate launch`` for several processes or GPUs, TRL's vLLM
generation); docs/monitors_and_trl.md has the recipes.

Usage::

    kit = trl_kit(world, "runs/trl_hint", monitor=WorldMonitor(world))
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, args=GRPOConfig(...),
                          train_dataset=kit.dataset, reward_funcs=kit.reward_funcs,
                          callbacks=kit.callbacks)
    trainer.train()          # -> runs/trl_hint/metrics.parquet, rollouts.parquet, ...
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from transformers import TrainerCallback

from motivlab.measure.metrics import rollout_metrics
from motivlab.measure.monitors import Monitor, WorldMonitor
from motivlab.worlds.base import Route, Split, World

__all__ = [
    "MotivlabMetricsCallback",
    "RolloutRecorder",
    "TrlKit",
    "make_reward_function",
    "stop_at_world_stop",
    "trl_kit",
    "world_dataset",
]

# our trainer's rollout columns (rl/trainer.py), plus ``split`` (TRL may train on any split's envs)
ROLLOUT_COLUMNS = ["step", "env_id", "prompt", "completion", "reward", "route", "logprob", "sample_idx", "n_tokens",
                   "finished", "split"]


def world_dataset(world: World, split: Split = "train", *, repeats: int = 1, conversational: bool = False) -> Any:
    """Prompts of a split as a ``datasets.Dataset`` (columns ``prompt``, ``env_id``, ``split``).

    ``repeats`` lists every env that many times (an "epoch" then visits each env ``repeats``
    times); ``conversational`` wraps each prompt as a user message for chat models.
    """
    from datasets import Dataset

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    ids = np.tile(world.env_ids(split), repeats)
    if ids.size == 0:
        raise ValueError(f"split {split!r} of world {world.name!r} has no envs")
    texts = [world.prompt(int(e)).text for e in ids]
    splits = [_split_of(world, int(e)) for e in ids]
    prompts: list[Any] = [[{"role": "user", "content": t}] for t in texts] if conversational else texts
    return Dataset.from_dict({"prompt": prompts, "env_id": ids.astype(np.int64).tolist(), "split": splits})


def _split_of(world: World, env_id: int) -> str:
    meta_split = world.prompt(env_id).meta.get("split")
    if meta_split is not None:
        return str(meta_split)
    for s in ("trap", "heldout", "train"):
        if env_id in set(world.env_ids(s).tolist()):
            return s
    return "all"


def _text(completion: Any) -> str:
    """A completion as plain text: TRL gives a string, or a list of chat messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], Mapping):
        return str(completion[-1].get("content", ""))
    return ""


class RolloutRecorder:
    """Thread-safe buffer of graded, labelled rollouts between the reward function and the callback."""

    def __init__(self) -> None:
        self._rows: list[dict[str, Any]] = []
        self._count: dict[tuple[int, int], int] = defaultdict(int)
        self._lock = threading.Lock()

    def add(self, step: int, env_id: int, split: str, prompt: str, completion: str, reward: float, route: Route,
            n_tokens: int = -1, finished: bool = False) -> None:
        with self._lock:
            idx = self._count[(step, env_id)]
            self._count[(step, env_id)] = idx + 1
            self._rows.append({
                "step": step, "env_id": env_id, "prompt": prompt, "completion": completion, "reward": reward,
                "route": str(route), "logprob": math.nan, "sample_idx": idx, "n_tokens": n_tokens,
                "finished": finished, "split": split,
            })

    def pop(self, before_step: int | None = None) -> list[dict[str, Any]]:
        """Remove and return the rows of steps ``< before_step`` (all rows if ``None``)."""
        with self._lock:
            take = [r for r in self._rows if before_step is None or r["step"] < before_step]
            self._rows = [r for r in self._rows if not (before_step is None or r["step"] < before_step)]
            return take


def make_reward_function(
    world: World,
    *,
    monitor: Monitor | None = None,
    recorder: RolloutRecorder | None = None,
    name: str | None = None,
) -> Callable[..., list[float]]:
    """A TRL reward function whose reward is ``world.grade`` (the single source of truth).

    It needs the dataset's ``env_id`` column (see :func:`world_dataset`); with a ``recorder`` it
    also labels every rollout with ``monitor`` (default: the world's own labeller) and records it.
    """
    mon = monitor if monitor is not None else WorldMonitor(world)

    def reward(prompts: list[Any], completions: list[Any], env_id: list[int] | None = None, **kwargs: Any) -> list[float]:
        if env_id is None:
            raise ValueError("reward function needs the dataset column 'env_id' (build it with world_dataset)")
        env_prompts = [world.prompt(int(e)) for e in env_id]
        texts = [_text(c) for c in completions]
        rewards = [float(world.grade(p, c)) for p, c in zip(env_prompts, texts, strict=True)]
        if recorder is not None or kwargs.get("log_metric") is not None:
            routes = mon.label_batch(env_prompts, texts)
            state = kwargs.get("trainer_state")
            step = int(state.global_step) if state is not None else 0
            splits = kwargs.get("split") or [_split_of(world, int(e)) for e in env_id]
            if recorder is not None:
                ids = kwargs.get("completion_ids") or [None] * len(texts)
                for p, c, r, rt, s, tok in zip(env_prompts, texts, rewards, routes, splits, ids, strict=True):
                    recorder.add(step, p.env_id, str(s), p.text, c, r, rt, n_tokens=-1 if tok is None else len(tok),
                                 finished=world.stop in c)
            if (log_metric := kwargs.get("log_metric")) is not None:
                _log_batch(log_metric, np.asarray(rewards), routes)
        return rewards

    reward.__name__ = name or f"{world.name}_grade"  # TRL names the reward column after it
    return reward


def stop_at_world_stop(model: Any, tokenizer: Any, world: World) -> None:
    """Make generation end at the world's stop character as well as at EOS.

    TRL stops sampling only at ``model.generation_config.eos_token_id``; adding the stop token
    there keeps completions as short as in our sampler (the grader ignores text after the stop
    either way, but the policy gradient would otherwise train on the tail). Needs the stop to
    be a single token.
    """
    ids = tokenizer(world.stop, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        raise ValueError(f"stop {world.stop!r} is {len(ids)} tokens for this tokenizer; need exactly 1")
    eos = model.generation_config.eos_token_id
    eos_list = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in eos_list:
        eos_list.append(tokenizer.eos_token_id)
    if ids[0] not in eos_list:
        eos_list.append(ids[0])
    model.generation_config.eos_token_id = eos_list


def _log_batch(log_metric: Callable[[str, float], None], rewards: np.ndarray, routes: list[Route]) -> None:
    """Batch-level p, sR, sL into TRL's logs (averaged by TRL over a logging step)."""
    rt = np.asarray([str(r) for r in routes])
    rs, lo = rt == Route.REWARD_SEEKING, rt == Route.LOCAL
    if rs.any() or lo.any():
        log_metric("motivlab/p", float(rs.sum() / (rs.sum() + lo.sum())))
    if rs.any():
        log_metric("motivlab/s_r", float(rewards[rs].mean()))
    if lo.any():
        log_metric("motivlab/s_l", float(rewards[lo].mean()))
    log_metric("motivlab/unknown_rate", float(1.0 - (rs.sum() + lo.sum()) / max(len(rt), 1)))


def _gather(rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """All ranks' rows on rank 0 (None on other ranks); the rows unchanged when not distributed."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is a dependency
        return rows
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return rows
    gathered: list[Any] = [None] * dist.get_world_size() if dist.get_rank() == 0 else []
    dist.gather_object(rows, gathered if dist.get_rank() == 0 else None, dst=0)
    return [r for part in gathered for r in part] if dist.get_rank() == 0 else None


class MotivlabMetricsCallback(TrainerCallback):
    """Writes our trainer's run directory (:class:`motivlab.rl.rundir.RunDir`, the trainer's own
    writer) from a TRL run: the rollouts a :class:`RolloutRecorder` collected, TRL's logged scalars,
    and — with a ``world`` — the exact (teacher-forced) measurement of training, held-out and trap
    envs, taken like our trainer does it: every ``measure.exact_every`` steps on the policy *before*
    that step's update, and once more after the last one; then ``summary.json``, figures and
    ``report.html`` (:func:`motivlab.rl.report.finish_run`, the trainer's own).

    Every step appends to ``rollouts.jsonl``/``metrics.jsonl``/``steps.jsonl`` (fsync'd, so a
    killed run keeps what it logged); the Parquet tables are compacted every ``compact_every``
    steps and at the end. TRL's ``trainer.train(resume_from_checkpoint=...)`` resumes the run
    directory too: records of steps at or after the checkpoint's step (written before the kill)
    are dropped and redone. A run directory that holds a run is refused when TRL starts from
    step 0. Checkpoints get the model's ``organism.json`` (``organism_dir``), so ``motivlab
    organism measure`` and ``motivlab serve`` accept them.
    """

    def __init__(
        self,
        run_dir: str | Path,
        recorder: RolloutRecorder,
        *,
        config: Mapping[str, Any] | None = None,
        seed: int | None = None,
        confidence: float = 0.95,
        compact_every: int = 10,
        world: World | None = None,
        measure: Any = None,
        organism_dir: str | Path | None = None,
    ) -> None:
        from motivlab.rl.config import MeasureSection
        from motivlab.rl.rundir import RunDir

        self.run = RunDir(run_dir)
        self.recorder, self.config, self.seed, self.confidence = recorder, dict(config or {}), seed, confidence
        self.compact_every = max(int(compact_every), 1)
        self.world, self.measure = world, measure if measure is not None else MeasureSection()
        self.organism = Path(organism_dir) / "organism.json" if organism_dir is not None else None
        self._is_main = True
        self._exact: dict[int, pd.DataFrame] = {}  # step -> exact measurement not yet written
        self._measured: dict[int, str] = {}
        self._p: dict[int, float] = {}  # step -> sampled p of the training envs (steps.parquet's "p", as ours)

    @property
    def run_dir(self) -> Path:
        return self.run.path

    def _saved_config(self, args: Any) -> dict[str, Any]:
        volatile = {"logging_dir", "resume_from_checkpoint", "output_dir"}  # where, not what
        trl_args = {k: v for k, v in args.to_dict().items() if isinstance(v, str | int | float | bool) and k not in volatile}
        return {**self.config, "trl": trl_args}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._is_main = bool(state.is_world_process_zero)
        if self.world is not None and self.measure.exact_every:
            from motivlab.rl.trainer import measured_envs

            train = np.asarray(self.world.env_ids("train"))
            self._measured = measured_envs(self.world, train, _MeasureOnly(self.measure))
        if not self._is_main:
            return
        resuming = int(state.global_step) > 0
        config = self._saved_config(args)
        plan = self.run.check(config, resume=resuming)
        self.run.start(config, self.seed if self.seed is not None else args.seed, plan)
        if resuming:  # what the killed run logged after its last checkpoint is redone by TRL
            self.run.truncate_logs(int(state.global_step))
            self.run.compact()

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        step = int(state.global_step)
        if self._measured and self._is_main and step % self.measure.exact_every == 0:
            self._exact[step] = self._measure_exact(kwargs, step)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._flush(self.recorder.pop(before_step=state.global_step), before_step=int(state.global_step))
        if self._is_main and state.global_step % self.compact_every == 0:
            self.run.compact()

    def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        # TRL's scalars after update k (global_step k+1) go to steps.jsonl as step k
        if not self._is_main or not logs or "loss" not in logs:
            return
        record = {"step": int(state.global_step) - 1}
        # TRL's "rewards/x/mean" becomes "rewards.x.mean": in steps.parquet "<a>/<b>" columns are
        # what an intervention hook logged (docs/run_directory.md), and the report lists them as such
        record.update({k.replace("/", "."): float(v) for k, v in logs.items()
                       if isinstance(v, int | float) and not isinstance(v, bool)})
        if (p := self._p.pop(record["step"], None)) is not None:
            record["p"] = p
        self.run.append("steps", [record])

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._is_main and self.organism is not None and self.organism.is_file():
            import shutil

            target = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if target.is_dir():
                shutil.copy2(self.organism, target / "organism.json")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        last = int(state.global_step)
        self._flush(self.recorder.pop(), before_step=None)
        if not self._is_main:
            return
        if self._measured:  # the policy after the last update, measured exactly (step = steps)
            from motivlab.measure.metrics import empty_metrics, merge_exact

            exact = self._measure_exact(kwargs, last)
            self.run.append("metrics", merge_exact(empty_metrics(last), exact, last, self._measured).to_dict("records"))
        tables = self.run.compact()
        if len(tables.get("metrics", [])):
            from motivlab.rl.report import finish_run

            finish_run(self.run, self._saved_config(args), tables)

    def _measure_exact(self, kwargs: Mapping[str, Any], step: int) -> pd.DataFrame:
        from motivlab.measure.exact import measure_exact

        model, tokenizer = kwargs.get("model"), kwargs.get("processing_class") or kwargs.get("tokenizer")
        if model is None or tokenizer is None or self.world is None:
            raise ValueError("the exact measurement needs the model and its tokenizer (processing_class) from TRL")
        was_training = model.training
        try:
            return measure_exact(model, tokenizer, self.world, list(self._measured))
        finally:
            model.train(was_training)

    def _flush(self, rows: list[dict[str, Any]], *, before_step: int | None) -> None:
        from motivlab.measure.metrics import empty_metrics, merge_exact

        rows = _gather(rows)
        if rows is None:  # non-zero ranks
            return
        df = pd.DataFrame(rows, columns=ROLLOUT_COLUMNS)
        for (step, split), part in df.groupby(["step", "split"], sort=True):
            metrics = rollout_metrics(int(step), part["env_id"].to_numpy(), part["reward"].to_numpy(),
                                      part["route"].tolist(), split=str(split), confidence=self.confidence)
            if split == "train":
                self._p[int(step)] = float(metrics.loc[metrics["env_id"] == -1, "p"].iloc[0])
            if split == "train" and int(step) in self._exact:
                metrics = merge_exact(metrics, self._exact.pop(int(step)), int(step), self._measured)
            self.run.append("metrics", metrics.to_dict("records"))
        for step in sorted(s for s in self._exact if before_step is None or s < before_step):
            # measured, but no rollouts were generated at this step (steps_per_generation > 1)
            self.run.append("metrics", merge_exact(empty_metrics(step), self._exact.pop(step), step,
                                                   self._measured).to_dict("records"))
        if rows:
            self.run.append("rollouts", rows)


@dataclass(frozen=True)
class _MeasureOnly:
    """What :func:`motivlab.rl.trainer.measured_envs` reads of a TrainConfig."""

    measure: Any


@dataclass
class TrlKit:
    """What a ``GRPOTrainer`` needs from motivlab: dataset, reward functions, callbacks."""

    dataset: Any
    reward_funcs: list[Callable[..., list[float]]]
    callbacks: list[TrainerCallback]
    recorder: RolloutRecorder = field(default_factory=RolloutRecorder)


def trl_kit(
    world: World,
    run_dir: str | Path,
    *,
    monitor: Monitor | None = None,
    split: Split = "train",
    repeats: int = 1,
    conversational: bool = False,
    config: Mapping[str, Any] | None = None,
    seed: int | None = None,
    measure: Any = None,
    organism_dir: str | Path | None = None,
) -> TrlKit:
    """Dataset + reward function + metrics callback for one world, wired to one recorder.

    ``measure`` (a :class:`motivlab.rl.config.MeasureSection`, default: our trainer's defaults) sets the exact
    measurement; ``organism_dir`` is the model's directory, whose ``organism.json`` is copied into
    every TRL checkpoint."""
    recorder = RolloutRecorder()
    world_cfg = getattr(world, "config", None)
    cfg = {"world": {"name": world.name, **(world_cfg.model_dump() if hasattr(world_cfg, "model_dump") else {})}}
    cfg["monitor"] = {"name": (monitor.name if monitor is not None else "world")}
    cfg.update(config or {})
    return TrlKit(
        dataset=world_dataset(world, split, repeats=repeats, conversational=conversational),
        reward_funcs=[make_reward_function(world, monitor=monitor, recorder=recorder)],
        callbacks=[MotivlabMetricsCallback(run_dir, recorder, config=cfg, seed=seed, world=world, measure=measure,
                                           organism_dir=organism_dir)],
        recorder=recorder,
    )
