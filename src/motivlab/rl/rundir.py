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

What is never executed: ``trainer_state.pt`` is read with ``torch.load(weights_only=True)`` and
holds only tensors, numbers, strings, lists and dicts (the optimiser state and every RNG state in
plain form); a file holding anything else is refused, not run. A checkpoint that cannot be read
(truncated weights or state, e.g. a disk that filled up) is set aside as ``checkpoints/corrupt_step_N``
and the run resumes from the previous intact one, with a warning.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import random
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
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


class UnsafeCheckpointError(ValueError):
    """A ``trainer_state.pt`` holds something other than plain data (it was not written by motivlab)."""


@dataclass(frozen=True)
class ResumePlan:
    """What :meth:`RunDir.check` found, before anything is written."""

    existing: bool  # the directory holds a run (config.toml) that this call continues
    finished: bool  # ... which already did all its steps: nothing to do
    extended_from: int | None = None  # its saved ``steps`` when ``--set steps=N`` extends it


class RunDir:
    """A run directory; see the module docstring."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.figures = self.path / "figures"

    # ---- creation and resumption ----------------------------------------------------------

    def check(self, config: Mapping[str, Any], *, resume: bool,
              canonical: Callable[[dict[str, Any]], Mapping[str, Any]] | None = None,
              ignore: Iterable[str] = ()) -> ResumePlan:
        """Decide, without writing anything, whether ``config`` may start or continue here.

        ``--resume`` needs a run directory (a typo in ``--out`` must not start a new run at step
        0); a run directory needs ``--resume``. The saved config must equal ``config`` except for
        top-level keys in ``ignore`` (where the run computes, not what) and a larger ``steps``
        (which extends a run); a refusal names every key that differs with both values.
        ``canonical`` maps the saved config to its resolved form first (fills defaults of fields
        added since; a config it rejects is compared as is).
        """
        existing = (self.path / "config.toml").is_file()
        if resume and not self.path.exists():
            raise ValueError(f"--resume: {self.path} does not exist; drop --resume to start a new run there")
        if resume and not existing:
            raise ValueError(f"--resume: {self.path} is not a run directory (no config.toml); "
                             "drop --resume to start a new run, or check --out")
        if existing and not resume:
            raise ValueError(
                f"run directory {self.path} already holds a run; pass --resume to continue it or choose another --out"
            )
        if not existing:
            return ResumePlan(existing=False, finished=False)
        saved = read_toml(self.path / "config.toml")
        if canonical is not None:
            with contextlib.suppress(ValueError):
                saved = dict(canonical(saved))
        skip = set(ignore) | {"steps"}
        diffs = config_diff(_normalise({k: v for k, v in saved.items() if k not in skip}),
                            _normalise({k: v for k, v in config.items() if k not in skip}))
        old_steps, new_steps = int(saved.get("steps", 0)), int(config.get("steps", 0))
        if new_steps < old_steps:
            diffs.insert(0, f"steps: saved {old_steps}, now {new_steps} (a run can be extended, not shortened)")
        if diffs:
            raise ValueError(
                f"--resume: the config differs from the one saved in {self.path / 'config.toml'}: "
                + "; ".join(diffs) + ". Resume with the saved values (only a larger `steps` extends a run) "
                "or start a new run directory"
            )
        extended = old_steps if new_steps > old_steps else None
        finished = (extended is None and (self.path / "report.html").is_file()
                    and self.latest_checkpoint_step() >= new_steps)
        return ResumePlan(existing=True, finished=finished, extended_from=extended)

    def start(self, config: Mapping[str, Any], seed: int, plan: ResumePlan | None = None, *,
              resume: bool = False) -> None:
        """Create (or prepare to continue) the directory, once everything that can fail has been
        built; ``plan`` comes from :meth:`check` (None: checked here with ``resume``). Leftover
        temporary files of a killed write are removed."""
        if plan is None:
            plan = self.check(config, resume=resume)
        if plan.existing:
            self.clean_temporary()
        else:
            self.path.mkdir(parents=True, exist_ok=True)
        if not plan.existing or plan.extended_from is not None:
            self._guard(write_toml, self.path / "config.toml", config)
        if not (self.path / "metadata.json").is_file():  # also after a kill between the two writes
            from motivlab.rl.schema import SCHEMA_VERSION, run_id

            meta = {**run_metadata(seed, config), "schema_version": SCHEMA_VERSION, "run_id": run_id(config)}
            self._guard(write_json, self.path / "metadata.json", meta)

    def clean_temporary(self) -> list[Path]:
        """Remove ``.*.tmp`` files and directories left by a write that was killed (atomic writes,
        Parquet compaction, checkpoints); returns what was removed."""
        removed = []
        for folder in (self.path, self.figures, self.checkpoints):
            for tmp in folder.glob(".*.tmp") if folder.is_dir() else ():
                if tmp.is_dir():
                    shutil.rmtree(tmp, ignore_errors=True)
                else:
                    tmp.unlink(missing_ok=True)
                removed.append(tmp)
        return removed

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
        """Rewrite every JSONL log as Parquet (metrics and steps also as CSV), atomically, with the
        ``run_id`` column and the schema version in the Parquet metadata (rl/schema.py)."""
        from motivlab.rl.schema import parquet_metadata

        rid = self.run_id()
        tables = {}
        for name in LOGS:
            df = self.read(name)
            if len(df) and rid is not None:
                df["run_id"] = rid
            tables[name] = df
            if len(df):
                self._guard(write_table, df, self.path / f"{name}.parquet", csv=name != "rollouts",
                            metadata=parquet_metadata(name, rid))
        return tables

    def run_id(self) -> str | None:
        """The run's id from ``metadata.json`` (runs started before ids existed: from ``config.toml``)."""
        from motivlab.rl.schema import run_id

        meta_path, config_path = self.path / "metadata.json", self.path / "config.toml"
        if meta_path.is_file() and (rid := json.loads(meta_path.read_text()).get("run_id")):
            return str(rid)
        return run_id(read_toml(config_path)) if config_path.is_file() else None

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
            state = {"step": step, "optimizer": _to_cpu(optimizer.state_dict()), "rng": rng_state()}
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

    def restore(self, model: Any, optimizer: torch.optim.Optimizer) -> int:
        """Load the newest intact checkpoint into ``model``/``optimizer`` (and the global RNGs), cut
        the logs back to it and return its step (0 when there is none).

        A checkpoint that cannot be read is moved aside to ``checkpoints/corrupt_step_N`` with a
        warning and the previous one is tried; an unsafe ``trainer_state.pt`` stops the run
        (:class:`UnsafeCheckpointError`), because it was not written by a kill but by someone.
        """
        steps = sorted((int(p.name.split("_")[1]) for p in self.checkpoints.glob("step_*")
                        if (p / STATE_FILE).is_file()), reverse=True)
        step = 0
        for candidate in steps:
            try:
                self.load_checkpoint(candidate, model, optimizer)
            except CorruptCheckpointError as exc:
                directory = self.checkpoint_dir(candidate)
                aside = self.checkpoints / f"corrupt_{directory.name}"
                shutil.rmtree(aside, ignore_errors=True)
                os.replace(directory, aside)
                print(f"warning: {exc}; moved it to {aside} and resuming from the previous checkpoint",
                      file=sys.stderr)
                continue
            step = candidate
            break
        else:
            if steps or any(self.checkpoints.glob("corrupt_step_*")):  # also on the next --resume
                raise ValueError(f"--resume: no intact checkpoint in {self.checkpoints} (all moved to corrupt_step_*); "
                                 "start a new run directory")
        self.truncate_logs(step)
        return step

    def load_checkpoint(self, step: int, model: Any, optimizer: torch.optim.Optimizer) -> None:
        """Restore weights, optimiser and global RNG states saved at ``step``.

        Everything is read before anything is applied, so a corrupt file
        (:class:`CorruptCheckpointError`) leaves the model and optimiser untouched.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        directory = self.checkpoint_dir(step)
        weights: dict[str, torch.Tensor] = {}
        for file in sorted(directory.glob("*.safetensors")):
            try:
                weights.update(load_file(file))
            except (SafetensorError, OSError, RuntimeError) as exc:
                raise CorruptCheckpointError(f"checkpoint {directory} is unreadable ({file.name}: {exc})") from None
        if not weights:
            raise CorruptCheckpointError(f"checkpoint {directory} holds no weights (*.safetensors)")
        state = load_state(directory / STATE_FILE)
        missing, unexpected = model.load_state_dict(weights, strict=False)
        missing = [m for m in missing if not _is_tied(model, m)]
        if missing or unexpected:
            raise ValueError(f"checkpoint {directory} does not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
        # load_state_dict moves the moments to each parameter's device (CPU checkpoint → GPU run)
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


class CorruptCheckpointError(ValueError):
    """A checkpoint file cannot be read (truncated or damaged)."""


# numpy's pickled RNG state in checkpoints written before the state became plain data: these three
# reconstruct a numeric array and nothing else, so allowing them keeps old runs resumable
_LEGACY_SAFE = ("numpy._core.multiarray._reconstruct", "numpy.core.multiarray._reconstruct", "numpy.ndarray",
                "numpy.dtype")


def load_state(path: Path) -> dict[str, Any]:
    """Read a ``trainer_state.pt`` with ``weights_only=True`` (no code runs); a file holding
    anything but plain data raises :class:`UnsafeCheckpointError`, a damaged one
    :class:`CorruptCheckpointError`."""
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception as exc:  # any failure to parse the archive means it is damaged
        raise CorruptCheckpointError(f"checkpoint state {path} is unreadable ({type(exc).__name__}: {exc})") from None
    refused = [g for g in unsafe if g not in _LEGACY_SAFE and not g.startswith("numpy.dtypes.")]
    if refused:
        raise UnsafeCheckpointError(
            f"refusing to load {path}: it holds {', '.join(refused)}, which is not plain data (a motivlab "
            "checkpoint holds only tensors and numbers); it was not written by motivlab, so nothing in it was run. "
            "Delete that checkpoint directory to resume from an earlier one"
        )
    try:
        import numpy.dtypes as npd

        reconstruct = np._core.multiarray._reconstruct
        allowed = [reconstruct, (reconstruct, "numpy.core.multiarray._reconstruct"), np.ndarray, np.dtype,
                   *(getattr(npd, n) for n in dir(npd) if n.endswith("DType"))]
        with torch.serialization.safe_globals(allowed):
            state = torch.load(path, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, EOFError, RuntimeError, OSError) as exc:
        raise CorruptCheckpointError(f"checkpoint state {path} is unreadable ({type(exc).__name__}: "
                                     f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(state, dict) or "optimizer" not in state or "rng" not in state:
        raise CorruptCheckpointError(f"checkpoint state {path} lacks the optimiser or RNG state")
    return state


def rng_state() -> dict[str, Any]:
    """The global RNG states (Python, numpy, torch) as plain data that ``weights_only`` loads."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    return {
        "python": {"version": version, "state": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
        "numpy": {"bit_generator": np_state["bit_generator"],
                  "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                  "pos": int(np_state["state"]["pos"]), "has_gauss": int(np_state["has_gauss"]),
                  "gauss": float(np_state["gauss"])},
        "torch": torch.get_rng_state(),
    }


def _set_rng_state(state: Mapping[str, Any]) -> None:
    py, npy = state["python"], state["numpy"]
    if isinstance(py, dict):
        random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
        np.random.set_state({"bit_generator": npy["bit_generator"],
                             "state": {"key": npy["key"].numpy().astype(np.uint32), "pos": npy["pos"]},
                             "has_gauss": npy["has_gauss"], "gauss": npy["gauss"]})
    else:  # a checkpoint written before the plain form: Python's tuple and numpy's legacy tuple
        random.setstate(py)
        np.random.set_state(npy)
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


def config_diff(saved: Any, now: Any, prefix: str = "") -> list[str]:
    """``"key.path: saved X, now Y"`` for every dotted key whose value differs."""
    if isinstance(saved, Mapping) and isinstance(now, Mapping):
        out = []
        for key in list(saved) + [k for k in now if k not in saved]:
            name = f"{prefix}{key}"
            if key not in now:
                out.append(f"{name}: saved {saved[key]!r}, now unset")
            elif key not in saved:
                out.append(f"{name}: saved unset, now {now[key]!r}")
            else:
                out.extend(config_diff(saved[key], now[key], f"{name}."))
        return out
    return [] if saved == now else [f"{prefix.rstrip('.')}: saved {saved!r}, now {now!r}"]


def _normalise(config: Mapping[str, Any]) -> Any:
    """Compare configs as TOML sees them (tuples are lists, None keys absent)."""
    from motivlab.io import _drop_none

    return _drop_none(config)
