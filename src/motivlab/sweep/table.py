"""The sweep table (``sweep.parquet`` + ``sweep.csv``): one row per point.

Columns, in order (documented in docs/sweep.md):

* ``point`` — the point's name (= ``runs/<point>/``); ``arm`` — its named point ('' without
  ``[[points]]``); then one column per grid key, named by the key (``world.n_train_envs``, ``seed``)
  — scalars as they are, structured values (lists, tables) as canonical JSON text;
* ``status`` (done / failed / pending), ``attempts`` (started, an interrupted one included),
  ``error`` (the last failure, '' if none), ``wall_seconds`` (of the successful attempt, in its
  worker), ``run_dir`` (relative to the sweep directory);
* for done points, the exact (teacher-forced) measurement at the end of the run, per split
  ``train`` / ``heldout`` / ``trap`` (means over the envs measured exactly): ``p_<split>``,
  ``s_r_<split>``, ``s_l_<split>``, and ``reward_<split>`` = mean over those envs of
  p·sR + (1−p)·sL, the expected exact-match reward of a rollout that declares a route; plus
  ``p0_<split>``, the same p at the first measurement (step 0: the starting policy), ``last_step``
  and ``sampled_reward_train`` (mean sampled reward over the last steps, from ``summary.json``).
  NaN where a point is not done or a split was not measured.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from motivlab.sweep.spec import Point
from motivlab.sweep.state import PointState, SweepDir

SPLITS = ("train", "heldout", "trap")
METRIC_COLUMNS = [f"{q}_{s}" for s in SPLITS for q in ("p", "s_r", "s_l", "reward", "p0")] + [
    "last_step", "sampled_reward_train"]


def run_metrics(run_dir: Path) -> dict[str, float]:
    """Final exact metrics of a finished run directory (see the module docstring)."""
    out: dict[str, float] = dict.fromkeys(METRIC_COLUMNS, np.nan)
    summary_path = run_dir / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        for split in SPLITS:
            s = summary.get(split)
            if s:
                out[f"p_{split}"], out[f"s_r_{split}"] = s["p_exact_end"], s["s_r_exact_end"]
                out[f"s_l_{split}"], out[f"p0_{split}"] = s["s_l_exact_end"], s["p_exact_start"]
                out["last_step"] = max(float(s["last_step"]), 0 if np.isnan(out["last_step"]) else out["last_step"])
        sampled = summary.get("sampled_train") or {}
        if sampled.get("reward_end") is not None:
            out["sampled_reward_train"] = float(sampled["reward_end"])
    metrics_path = run_dir / "metrics.parquet"
    if metrics_path.is_file():
        m = pd.read_parquet(metrics_path, columns=["step", "env_id", "split", "p_exact", "s_r_exact", "s_l_exact"])
        m = m[(m.env_id >= 0)].dropna(subset=["p_exact", "s_r_exact", "s_l_exact"])
        if len(m):
            last = m[m.step == m.step.max()]
            expected = last.p_exact * last.s_r_exact + (1 - last.p_exact) * last.s_l_exact
            for split, values in expected.groupby(last.split):
                out[f"reward_{split}"] = float(values.mean())
    return out


def _knob_value(value: Any) -> Any:
    return value if isinstance(value, (bool, int, float, str)) else json.dumps(value, sort_keys=True)


def build_table(points: Sequence[Point], states: Mapping[str, PointState], sweep: SweepDir, max_attempts: int,
                cache: dict[str, dict[str, float]] | None = None) -> pd.DataFrame:
    """The table for ``points`` in their order; ``cache`` keeps finished points' metrics between calls."""
    cache = {} if cache is None else cache
    rows = []
    keys = list(points[0].knobs) if points else []
    for point in points:
        st = states[point.name]
        status = st.status(max_attempts)
        if status == "done" and point.name not in cache:
            cache[point.name] = run_metrics(sweep.run_dir(point.name))
        metrics = cache.get(point.name) if status == "done" else None
        rows.append({
            "point": point.name, "arm": point.arm, **{k: _knob_value(point.knobs[k]) for k in keys},
            "status": status, "attempts": st.attempts, "error": (st.error or "") if status != "done" else "",
            "wall_seconds": st.wall_seconds if status == "done" else np.nan,
            "run_dir": f"runs/{point.name}", **(metrics or dict.fromkeys(METRIC_COLUMNS, np.nan)),
        })
    df = pd.DataFrame(rows)
    for key in keys:  # a column of mixed types (1 and 0.5 are fine) is stored as text
        kinds = {type(v) for v in df[key]}
        if len(kinds) > 1 and not kinds <= {int, float}:
            df[key] = df[key].map(str)
    for col in ("wall_seconds", *METRIC_COLUMNS):
        df[col] = df[col].astype(np.float64)
    return df


def write_sweep_table(df: pd.DataFrame, sweep: SweepDir) -> Path:
    from motivlab.io import write_table

    return write_table(df, sweep.path / "sweep.parquet", csv=True)
