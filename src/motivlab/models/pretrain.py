"""Pretrain the organism from scratch on the persona corpus, cached by the hash of its config.

    motivlab organism pretrain --out organisms/default            # ≈ minutes on 2 CPU cores
    motivlab organism pretrain --out /tmp/o --prior 0.01 --quick  # < 60 s, a rougher organism

What it does, top to bottom: build the world and the char tokenizer → a fresh ``LlamaForCausalLM``
→ AdamW (β = 0.9/0.95, linear warm-up, cosine decay to 10 %, gradient clipping at 1) on batches
streamed from :class:`~motivlab.models.corpus.CorpusStream`, loss on completion tokens only →
measure p₀, sR₀, sL₀ exactly on the training split and the held-out envs → ``save_pretrained``
(safetensors) + tokenizer + ``organism.json`` (resolved config, hash, persona plan, measured
values, supervision counts for the information accounting, run metadata).

Caching and atomicity: the organism lives in ``cache_dir()/organisms/<hash>``; it is trained in a
temporary sibling directory and renamed into place only when complete, so a kill leaves no
half-written organism (the temporary directory is removed, or ignored and overwritten later).
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from motivlab.errors import MotivlabInputError
from motivlab.models.loading import cache_dir, torch_threads
from motivlab.models.organism import (
    ORGANISM_FILE,
    OrganismConfig,
    build_model,
    quick_config,
    read_organism_json,
)


def organism_cache_root() -> Path:
    return cache_dir() / "organisms"


def _lr_at(step: int, config: OrganismConfig) -> float:
    """Linear warm-up then cosine decay to 10 % of the peak."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    frac = (step - config.warmup_steps) / span
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def _progress(enabled: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]pretrain[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
        TimeRemainingColumn(), disable=not enabled, transient=False,
    )


ATTEMPT_SEED_STRIDE = 100_003


def attempt_seed(config: OrganismConfig, attempt: int) -> int:
    """Initialisation and corpus seed of pretraining attempt ``attempt`` (0 = ``config.seed``)."""
    return config.seed + ATTEMPT_SEED_STRIDE * attempt


def cipher_learnt(config: OrganismConfig, measured: dict[str, Any]) -> bool:
    """The acceptance rule of ``OrganismConfig.max_attempts``: measured sR₀ on the training split
    is at least half the requested sR₀ (not checked below sr0 = 0.1, where failure and success
    are hard to tell apart)."""
    return config.sr0 < 0.1 or measured["train"]["s_r"] >= 0.5 * config.sr0


def train_organism(config: OrganismConfig, *, progress: bool = True, attempt: int = 0) -> tuple[Any, Any, dict[str, Any]]:
    """Train a fresh organism; returns ``(model, tokenizer, stats)`` (model in eval mode).
    ``attempt`` > 0 reseeds initialisation and corpus stream (:func:`attempt_seed`); the envs the
    task-focused persona knows stay those of ``config.seed``."""
    import numpy as np
    import torch

    from motivlab.models.corpus import (
        CorpusStream,
        corpus_extras,
        known_env_ids,
        local_accuracy_at,
        persona_plan,
        tokenizer_alphabet,
    )
    from motivlab.models.tokenizer import build_char_tokenizer
    from motivlab.worlds.hint import HintWorld

    torch.set_num_threads(torch_threads())
    world = HintWorld(config.world)
    tokenizer = build_char_tokenizer(tokenizer_alphabet(world))
    plan = persona_plan(config)
    known = known_env_ids(world, plan.local_coverage, config.seed)
    stream = CorpusStream(world, plan, tokenizer.get_vocab(), seed=attempt_seed(config, attempt), known=known,
                          extras=corpus_extras(config))
    model = build_model(config, len(tokenizer), seed=attempt_seed(config, attempt))
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optim = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.learning_rate, betas=(0.9, 0.95),
    )
    model.train()
    t0, losses = time.perf_counter(), []
    with _progress(progress) as bar:
        task = bar.add_task("pretrain", total=config.steps, loss="-")
        for step in range(config.steps):
            acc_l = local_accuracy_at(step, config.steps, config.local_exact_start, config.local_exact_end,
                                      plan.acc_local_known, config.world.key_length)
            batch = {k: torch.from_numpy(v) for k, v in stream.batch(config.batch_size, local_accuracy=acc_l).items()}
            for group in optim.param_groups:
                group["lr"] = _lr_at(step, config)
            loss = model(**batch).loss  # mean cross-entropy over completion tokens (nats)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            losses.append(loss.item())
            if step % 10 == 0 or step == config.steps - 1:
                bar.update(task, completed=step + 1, loss=f"{np.mean(losses[-20:]):.3f}")
    model.eval()
    stats = {
        "train_seconds": time.perf_counter() - t0,
        "supervised_tokens": stream.supervised_tokens,
        "final_loss_nats": float(np.mean(losses[-max(1, min(50, len(losses))):])),
        "vocab_size": len(tokenizer),
        "plan": dataclasses.asdict(plan),
        "known_env_ids": known.tolist(),
    }
    return model, tokenizer, stats


def measure_organism(model: Any, tokenizer: Any, config: OrganismConfig, known: list[int]) -> dict[str, Any]:
    """Exact p, sR, sL means on the training split, the known envs and the held-out envs."""
    from motivlab.measure.exact import measure_exact, summarise
    from motivlab.worlds.hint import HintWorld

    world = HintWorld(config.world)
    train = measure_exact(model, tokenizer, world, world.env_ids("train"))
    out = {"train": summarise(train), "known": summarise(train[train.env_id.isin(known)])}
    for split in ("heldout", "trap"):
        if world.env_ids(split).size:
            out[split] = summarise(measure_exact(model, tokenizer, world, world.env_ids(split)))
    if (shaping := measure_shaping(model, tokenizer, config)) is not None:
        out["shaping"] = shaping
    return out


def measure_shaping(model: Any, tokenizer: Any, config: OrganismConfig) -> dict[str, Any] | None:
    """The shaping knobs' measured values (``None`` when all are off): trait and stated rates on the
    training and held-out splits, report rate, p under the instruction marker (training split), the
    in-context trait difference (rho) — next to what the corpus implies (``expected``)."""
    from motivlab.measure.exact import in_context_trait, measure_exact_extended
    from motivlab.models.corpus import corpus_extras, expected_extras, persona_plan
    from motivlab.worlds.hint import HintWorld

    extras = corpus_extras(config)
    if extras is None:
        return None
    world = HintWorld(config.world)
    marker = config.world.instruction_marker
    out: dict[str, Any] = {"expected": expected_extras(extras, persona_plan(config).corpus_share)}
    for split in ("train", "heldout"):
        df, _ = measure_exact_extended(model, tokenizer, world, world.env_ids(split), prefix=marker)
        cols = [c for c in ("trait", "stated", "p_report_raw") if c in df] + (["p_prefixed"] if marker else [])
        out[split] = {c: float(df[c].mean()) for c in cols}
    if extras.trait_correlation is not None:
        out["in_context"] = in_context_trait(model, tokenizer, world, world.env_ids("train"))
    return out


def _save(model: Any, tokenizer: Any, config: OrganismConfig, stats: dict[str, Any], target: Path,
          measured: dict[str, Any], acceptance: dict[str, Any]) -> None:
    """Write the organism into ``target`` through a temporary sibling and one rename."""
    from motivlab.io import run_metadata, write_json

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / ORGANISM_FILE, {
            "format": "motivlab-organism",
            "config_hash": config.config_hash(),
            "config": config.model_dump(mode="json"),
            "requested": {"p0": config.prior, "sr0": config.sr0, "sl0": config.sl0},
            "measured": measured,
            "acceptance": acceptance,
            "training": {k: v for k, v in stats.items() if k != "known_env_ids"},
            "known_env_ids": stats["known_env_ids"],
            "run_metadata": run_metadata(config.seed, config.model_dump(mode="json")),
        })
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def ensure_organism(config: OrganismConfig | None = None, *, quick: bool = False, progress: bool = True) -> Path:
    """The cached organism directory for ``config`` (default organism if ``None``), pretraining
    it first if the cache has none. ``quick`` applies :func:`quick_config`."""
    config = config or OrganismConfig()
    if quick:
        config = quick_config(config)
    target = organism_cache_root() / config.config_hash()
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    # one process pretrains a given organism at a time (parallel sweep workers, two `train`s):
    # the others wait here and then find it in the cache
    with FileLock(target.parent / f".{target.name}.lock"):
        return _ensure_locked(config, target, progress)


def _ensure_locked(config: OrganismConfig, target: Path, progress: bool) -> Path:
    tried: list[dict[str, Any]] = []
    if (target / ORGANISM_FILE).is_file():
        record = read_organism_json(target)
        if "acceptance" in record or config.max_attempts == 1 or cipher_learnt(config, record["measured"]):
            return target
        # cached before the acceptance rule existed, and its cipher failed: go on with attempt 1
        tried.append({"attempt": 0, "seed": config.seed, "measured_train": record["measured"]["train"],
                      "passed": False})
    best = None
    for attempt in range(len(tried), config.max_attempts):
        model, tokenizer, stats = train_organism(config, progress=progress, attempt=attempt)
        measured = measure_organism(model, tokenizer, config, stats["known_env_ids"])
        passed = cipher_learnt(config, measured)
        tried.append({"attempt": attempt, "seed": attempt_seed(config, attempt), "measured_train": measured["train"],
                      "passed": passed})
        if best is None or passed or measured["train"]["s_r"] > best[3]["train"]["s_r"]:
            best = (model, tokenizer, stats, measured, attempt)
        if passed:
            break
    model, tokenizer, stats, measured, chosen = best
    acceptance = {"rule": "measured sR0 (train) >= 0.5 * requested sr0, checked when sr0 >= 0.1",
                  "attempts": tried, "accepted_attempt": chosen, "passed": tried[-1]["passed"]}
    if not acceptance["passed"]:
        warnings.warn(f"organism {config.config_hash()}: the cipher was not learnt in {len(tried)} attempt(s) "
                      f"(best sR0 = {measured['train']['s_r']:.3f} for requested {config.sr0}); kept the best, "
                      "flagged in organism.json", stacklevel=3)
    _save(model, tokenizer, config, stats, target, measured, acceptance)
    return target


def copy_organism(source: Path, out: Path) -> Path:
    """Copy an organism directory to ``out`` atomically; refuses to replace anything that is not
    an organism (so a typo cannot wipe a user's directory)."""
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise MotivlabInputError(f"--out {out} exists and is not a directory")
        if any(out.iterdir()) and not (out / ORGANISM_FILE).is_file():
            raise MotivlabInputError(f"--out {out} exists, is not empty and is not an organism directory; refusing to overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        read_organism_json(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out
