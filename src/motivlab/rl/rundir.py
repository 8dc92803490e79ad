"""The run directory: append-only logs, atomic checkpoints, and exact resumption.

Layout (the contract other pillars read)::

    config.toml  metadata.json                    written once, atomically
    rollouts.jsonl  metrics.jsonl  steps.jsonl    appended (fsync) after every step
    rollouts.parquet  metrics.parquet  steps.parquet   compacted from the JSONL at every checkpoint
    checkpoints/step_000010/                      model + tokenizer (save_pretrained), trainer_state.pt
    figures/*.png  report.html                    at the end

How a kill at any moment loses nothing: a checkpoint directory is written under a temporary name
and renamed into place, so ``checkpoints/step_N`` either exists whole or not at all; it means
"steps 0..N-1 are done and the model/optimiser are those after step N-1". On ``--resume`` the
logs are cut back to the records of steps < N (a kill between a step's log and its checkpoint
leaves records the replay will write again) and training continues at step N. Every source of
randomness in step ``s`` is derived from ``(seed, s)``, so the replayed steps produce the same
rollouts and the same metrics as the run that was killed would have.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from motivlab.io import (
    append_jsonl,
    atomic_write_text,
    read_jsonl,
    read_toml,
    run_metadata,
    write_json,
    write_table,
    write_toml,
)

LOGS = ("rollouts", "metrics", "steps")
STATE_FILE = "trainer_state.pt"


class RunDirError(OSError):
    """Writing the run directory failed (disk full, permissions); what is on disk stays resumable."""


class RunDir:
    """A run directory; see the module docstring."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.figures = self.path / "figures"

    # ---- creation and resumption ----------------------------------------------------------

    def start(self, config: Mapping[str, Any], seed: int, *, resume: bool,
              canonical: Callable[[dict[str, Any]], Mapping[str, Any]] | None = None,
              ignore: Iterable[str] = ()) -> int:
        """Prepare the directory; return the step to start at (0, or the last checkpoint's).

        ``canonical`` maps the saved config to its resolved form before the ``--resume``
        comparison (fills defaults of fields added since; a config it rejects is compared as is);
        top-level keys in ``ignore`` (where the run computes, not what) may differ on resume.
        """
        existing = (self.path / "config.toml").is_file()
        if existing and not resume:
            raise ValueError(
                f"run directory {self.path} already holds a run; pass --resume to continue it or choose another --out"
            )
        if existing:
            saved = read_toml(self.path / "config.toml")
            if canonical is not None:
                with contextlib.suppress(ValueError):
                    saved = canonical(saved)
            skip = set(ignore)
            if _normalise({k: v for k, v in saved.items() if k not in skip}) != _normalise(
                {k: v for k, v in config.items() if k not in skip}
            ):
                raise ValueError(
                    f"--resume: the config differs from the one saved in {self.path / 'config.toml'}; "
                    "resume with the same config (or start a new run directory)"
                )
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            self._guard(write_toml, self.path / "config.toml", config)
        if not (self.path / "metadata.json").is_file():  # also after a kill between the two writes
            self._guard(write_json, self.path / "metadata.json", run_metadata(seed, config))
        step = self.latest_checkpoint_step() if existing else 0
        self.truncate_logs(step)
        return step

    def note_device(self, info: Mapping[str, Any]) -> None:
        """Record in ``metadata.json`` where the run computes (``device``); a resumed run that
        computes elsewhere is recorded under ``resumed_on`` with a warning, because its remaining
        steps will not reproduce the uninterrupted run's numbers."""
        path = self.path / "metadata.json"
        meta = json.loads(path.read_text())
        first = meta.get("device")
        if first is None:
            meta["device"] = dict(info)
        elif first.get("device") != info.get("device"):
            print(
                f"warning: {self.path} was computed on {first.get('device')} and resumes on {info.get('device')}; "
                "the remaining steps will not match an uninterrupted run exactly", file=sys.stderr,
            )
            meta.setdefault("resumed_on", []).append(dict(info))
        else:
            return
        self._guard(write_json, path, meta)

    def truncate_logs(self, step: int) -> None:
        """Keep only log records of steps < ``step`` (rewritten atomically)."""
        for name in LOGS:
            path = self.path / f"{name}.jsonl"
            if not path.exists():
                continue
            records = [r for r in read_jsonl(path) if r["step"] < step]
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
            self._guard(atomic_write_text, path, text)

    # ---- logging ------------------------------------------------------------------------------

    def append(self, name: str, records: Iterable[Mapping[str, Any]]) -> None:
        """Append one step's records to ``<name>.jsonl`` (durably)."""
        self._guard(append_jsonl, self.path / f"{name}.jsonl", [_plain(r) for r in records])

    def read(self, name: str) -> pd.DataFrame:
        """A log as a table; numeric columns stay float even where every value is null (NaN)."""
        df = pd.DataFrame.from_records(list(read_jsonl(self.path / f"{name}.jsonl")))
        for col in df.columns:
            if df[col].dtype == object and all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                                               for v in df[col]):
                df[col] = df[col].astype(np.float64)
        return df

    def compact(self) -> dict[str, pd.DataFrame]:
        """Rewrite every JSONL log as Parquet (metrics and steps also as CSV), atomically."""
        tables = {}
        for name in LOGS:
            df = self.read(name)
            tables[name] = df
            if len(df):
                self._guard(write_table, df, self.path / f"{name}.parquet", csv=name != "rollouts")
        return tables

    # ---- checkpoints ------------------------------------------------------------------------

    def checkpoint_dir(self, step: int) -> Path:
        return self.checkpoints / f"step_{step:06d}"

    def latest_checkpoint_step(self) -> int:
        steps = [int(p.name.split("_")[1]) for p in self.checkpoints.glob("step_*") if (p / STATE_FILE).is_file()]
        return max(steps, default=0)

    def save_checkpoint(
        self, step: int, model: Any, tokenizer: Any, optimizer: torch.optim.Optimizer, *, keep: int,
        extra_files: Iterable[Path] = (),
    ) -> Path:
        """Write ``checkpoints/step_<step>`` atomically, then prune all but the newest ``keep``."""
        target = self.checkpoint_dir(step)
        tmp = self.checkpoints / f".{target.name}.tmp"
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            for src in extra_files:
                shutil.copy2(src, tmp / src.name)
            # optimiser moments saved as CPU tensors: a checkpoint of a GPU run loads anywhere
            state = {"step": step, "optimizer": _to_cpu(optimizer.state_dict()), "rng": _rng_state()}
            torch.save(state, tmp / STATE_FILE)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(tmp, target)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RunDirError(f"writing checkpoint {target} failed ({exc}); the previous checkpoint is intact, "
                              "rerun with --resume once the problem is fixed") from exc
        for old in sorted(p for p in self.checkpoints.glob("step_*") if p.is_dir())[:-keep]:
            shutil.rmtree(old, ignore_errors=True)  # zero-padded names sort by step
        return target

    def load_checkpoint(self, step: int, model: Any, optimizer: torch.optim.Optimizer) -> None:
        """Restore weights, optimiser and global RNG states saved at ``step``."""
        from safetensors.torch import load_file

        directory = self.checkpoint_dir(step)
        weights: dict[str, torch.Tensor] = {}
        for file in sorted(directory.glob("*.safetensors")):
            weights.update(load_file(file))
        missing, unexpected = model.load_state_dict(weights, strict=False)
        missing = [m for m in missing if not _is_tied(model, m)]
        if missing or unexpected:
            raise ValueError(f"checkpoint {directory} does not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
        # load_state_dict moves the moments to each parameter's device (CPU checkpoint → GPU run)
        state = torch.load(directory / STATE_FILE, weights_only=False, map_location="cpu")
        optimizer.load_state_dict(state["optimizer"])
        _set_rng_state(state["rng"])

    # ---- helpers ----------------------------------------------------------------------------

    def _guard(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except OSError as exc:
            if isinstance(exc, RunDirError):
                raise
            raise RunDirError(
                f"writing the run directory {self.path} failed ({exc}); everything already written is kept, "
                "rerun with --resume once the problem is fixed"
            ) from exc


def _is_tied(model: Any, name: str) -> bool:
    return name.endswith("lm_head.weight") and bool(getattr(model.config, "tie_word_embeddings", False))


def _to_cpu(value: Any) -> Any:
    """``value`` with every tensor inside (dicts, lists, tuples) on the CPU (CPU tensors as is)."""
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


def _rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def _set_rng_state(state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def _plain(record: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe values; NaN becomes null (JSON has no NaN) and is NaN again in the tables."""
    out = {}
    for key, value in record.items():
        if hasattr(value, "item") and not isinstance(value, (str, bytes)):
            value = value.item()
        if isinstance(value, float) and not np.isfinite(value):
            value = None
        out[key] = value
    return out


def _normalise(config: Mapping[str, Any]) -> Any:
    """Compare configs as TOML sees them (tuples are lists, None keys absent)."""
    from motivlab.io import _drop_none

    return _drop_none(config)
