"""Experiment trackers: the same numbers to TensorBoard and trackio, chosen in ``[run]``.

:func:`run_scalars` is the one place that decides what a tracker sees at a step: the step's
scalars from ``steps.parquet`` (``rl/loss``, ``rl/reward``, ...), and, from ``metrics.parquet``'s
overall rows (``env_id = -1``), the *exact* p, sR, sL of every measured split
(``exact/{train,heldout,trap}/{p,s_r,s_l}``) and the sampled ones (``sampled/train/{p,s_r,s_l}``)
— the very values of the tables, not a recomputation. The run config goes in once, flattened to
``section.key`` (TensorBoard: hparams, with the last exact values as their metrics, plus the
TOML as text; trackio: the run config).

    [run]
    tensorboard = true          # <run>/tensorboard (pip install 'motivlab[logging]')
    tracker = "trackio"         # local trackio project (pip install 'motivlab[tracking]'); `trackio show`
    tracker_project = "motivlab"

trackio writes to its own local database (``$TRACKIO_DIR``, default ``~/.cache/huggingface/
trackio``); nothing leaves the machine unless you configure a Space yourself.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

QUANTITIES = ("p", "s_r", "s_l")


def run_scalars(step_record: Mapping[str, Any], metrics: pd.DataFrame) -> dict[str, float]:
    """Everything a tracker logs at one step (finite numbers only)."""
    out = {f"rl/{k}": float(v) for k, v in step_record.items() if k != "step" and _finite(v)}
    overall = metrics[metrics["env_id"] == -1]
    for row in overall.itertuples():
        for q in QUANTITIES:
            if _finite(exact := getattr(row, f"{q}_exact")):
                out[f"exact/{row.split}/{q}"] = float(exact)
            if row.n_rollouts > 0 and _finite(sampled := getattr(row, q)):
                out[f"sampled/{row.split}/{q}"] = float(sampled)
    return out


def flat_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"algorithm": {"beta": 0.0}}`` -> ``{"algorithm.beta": 0.0}``; lists become strings."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_config(value, f"{name}."))
        elif isinstance(value, bool | int | float | str):
            out[name] = value
        elif value is not None:
            out[name] = str(value)
    return out


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


class TensorBoardSink:
    def __init__(self, path: Path, config: Mapping[str, Any]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer, self.config, self.last, self.step = SummaryWriter(str(path / "tensorboard")), flat_config(config), {}, 0
        import tomli_w

        from motivlab.io import _drop_none

        self.writer.add_text("config", "```toml\n" + tomli_w.dumps(_drop_none(dict(config))) + "\n```")

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step)
        self.last.update({k: v for k, v in scalars.items() if k.startswith("exact/")})
        self.step = max(self.step, step)

    def close(self) -> None:
        # hparams in this run's own folder (run_name='.'), scored by the last exact values (which
        # add_hparams also writes as scalars: at the last step, where they were measured)
        self.writer.add_hparams(self.config, dict(self.last) or {"exact/none": 0.0}, run_name=".", global_step=self.step)
        self.writer.close()


class TrackioSink:
    def __init__(self, path: Path, config: Mapping[str, Any], project: str) -> None:
        import trackio

        self.trackio = trackio
        self.run = trackio.init(project=project, name=path.name, config=flat_config(config), resume="allow",
                                auto_log_cpu=False, auto_log_gpu=False)

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        self.run.log(dict(scalars), step=step)

    def close(self) -> None:
        self.run.finish()


class Trackers:
    """The configured sinks; a sink whose package is missing is skipped with a note."""

    def __init__(self, sinks: list[Any]) -> None:
        self.sinks = sinks

    def log(self, step: int, step_record: Mapping[str, Any], metrics: pd.DataFrame) -> None:
        if self.sinks:
            scalars = run_scalars(step_record, metrics)
            for sink in self.sinks:
                sink.log(step, scalars)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


def open_trackers(run_config: Mapping[str, Any], path: Path) -> Trackers:
    """Sinks for ``run_config`` (the run's config as a dict; its ``run`` section chooses)."""
    section = run_config.get("run", {})
    sinks: list[Any] = []
    if section.get("tensorboard"):
        try:
            sinks.append(TensorBoardSink(path, run_config))
        except ImportError:
            print("note: TensorBoard logging skipped (pip install 'motivlab[logging]')", file=sys.stderr)
    if section.get("tracker") == "trackio":
        try:
            sinks.append(TrackioSink(path, run_config, section.get("tracker_project") or "motivlab"))
        except ImportError:
            print("note: trackio logging skipped (pip install 'motivlab[tracking]')", file=sys.stderr)
    return Trackers(sinks)
