"""Per-step, per-environment metrics of an RL run: the theory's p, sR, sL read off the rollouts.

For each env sampled in a step (and overall, ``env_id = -1``):

* ``p``   = reward-seeking rollouts / rollouts that declared a route (reward-seeking + local):
  the sampled twin of the organism's exact ``P(G) / (P(G) + P(T))``; rollouts the monitor
  cannot label (``Route.UNKNOWN``) are counted in ``n_unknown`` and left out of ``p``.
* ``s_r`` = mean reward among reward-seeking rollouts, ``s_l`` = among local ones.
* ``reward`` = mean reward of all rollouts.

Each proportion comes with a Wilson interval (:func:`motivlab.measure.stats.wilson_interval`;
rewards in (0, 1) count as fractional successes). A quantity with no rollouts to estimate it
from is NaN with a NaN interval — "not measured", never a made-up 0.

Exact (teacher-forced) values, when measured at a step, are merged into the same rows
(``p_exact, s_r_exact, s_l_exact``); envs measured exactly but not sampled that step get a row
with ``n_rollouts = 0``. Split-level exact means go to ``env_id = -1`` rows of each split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from motivlab.measure.stats import wilson_interval
from motivlab.worlds.base import Route

METRIC_COLUMNS = [
    "step", "env_id", "split", "n_rollouts", "reward", "p", "p_lo", "p_hi", "s_r", "s_r_lo", "s_r_hi",
    "s_l", "s_l_lo", "s_l_hi", "p_exact", "s_r_exact", "s_l_exact", "n_reward_seeking", "n_local", "n_unknown",
]
OVERALL = -1


def _group_metrics(rewards: np.ndarray, routes: np.ndarray, confidence: float) -> dict[str, float]:
    """Metrics of one set of rollouts: rewards (n,) float, routes (n,) of Route strings."""
    rs = routes == Route.REWARD_SEEKING
    lo = routes == Route.LOCAL
    n_rs, n_lo = int(rs.sum()), int(lo.sum())
    p, p_lo, p_hi = wilson_interval(n_rs, n_rs + n_lo, confidence)
    sr, sr_lo, sr_hi = wilson_interval(float(rewards[rs].sum()), n_rs, confidence)
    sl, sl_lo, sl_hi = wilson_interval(float(rewards[lo].sum()), n_lo, confidence)
    return {
        "n_rollouts": len(rewards), "reward": float(rewards.mean()) if len(rewards) else np.nan,
        "p": float(p), "p_lo": float(p_lo), "p_hi": float(p_hi),
        "s_r": float(sr), "s_r_lo": float(sr_lo), "s_r_hi": float(sr_hi),
        "s_l": float(sl), "s_l_lo": float(sl_lo), "s_l_hi": float(sl_hi),
        "n_reward_seeking": n_rs, "n_local": n_lo, "n_unknown": len(rewards) - n_rs - n_lo,
    }


def rollout_metrics(
    step: int,
    env_ids: Sequence[int] | np.ndarray,
    rewards: Sequence[float] | np.ndarray,
    routes: Sequence[Route | str],
    *,
    split: str = "train",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """One row per env in ``env_ids`` (B,) plus an overall row (``env_id = -1``), columns
    :data:`METRIC_COLUMNS` (exact columns NaN)."""
    env = np.asarray(env_ids, dtype=np.int64)
    rew = np.asarray(rewards, dtype=np.float64)
    rt = np.asarray([str(r) for r in routes], dtype=object)
    if not (len(env) == len(rew) == len(rt)):
        raise ValueError(f"rollout_metrics: {len(env)} env ids, {len(rew)} rewards, {len(rt)} routes")
    rows = [{"env_id": int(e), **_group_metrics(rew[env == e], rt[env == e], confidence)} for e in np.unique(env)]
    rows.append({"env_id": OVERALL, **_group_metrics(rew, rt, confidence)})
    df = pd.DataFrame(rows)
    df["step"] = step
    df["split"] = split
    return _ordered(df)


def merge_exact(
    metrics: pd.DataFrame, exact: pd.DataFrame, step: int, split_of: Mapping[int, str]
) -> pd.DataFrame:
    """Add exact measurements ``exact[env_id, p, s_r, s_l]`` to a step's ``metrics`` rows.

    ``split_of`` maps every measured env id to its split; each split also gets an overall row
    (``env_id = -1``) holding the mean exact values over its measured envs.
    """
    names = {"p": "p_exact", "s_r": "s_r_exact", "s_l": "s_l_exact"}
    names.update({c: exact_column(c) for c in exact.columns if c not in names and c != "env_id" and _is_shaping(c)})
    ex = exact[["env_id", *names]].rename(columns=names)
    ex = ex.assign(env_id=ex["env_id"].astype(np.int64), split=[split_of[int(e)] for e in ex["env_id"]])
    values = list(names.values())
    means = ex.groupby("split", as_index=False)[values].mean().assign(env_id=OVERALL)
    ex = pd.concat([ex, means], ignore_index=True)
    base = metrics.drop(columns=[c for c in values if c in metrics])
    merged = base.merge(ex, on=["env_id", "split"], how="outer")
    merged["step"] = step
    merged["n_rollouts"] = merged["n_rollouts"].fillna(0).astype(np.int64)
    for col in ("n_reward_seeking", "n_local", "n_unknown"):
        merged[col] = merged[col].fillna(0).astype(np.int64)
    return _ordered(merged, extra=[c for c in values if c not in METRIC_COLUMNS])


# Shaping quantities of measure.exact.measure_exact_extended → metrics columns (only present when
# measured): report_exact = P(R), trait_exact, stated_exact, s_l_note_exact (obfuscation, traps), and
# with a training prefix each of p/s_r/s_l and these again as <name>_exact_prefixed.
_SHAPING = {"p_report_raw": "report_exact", "trait": "trait_exact", "stated": "stated_exact",
            "s_l_note": "s_l_note_exact", "p": "p_exact", "s_r": "s_r_exact", "s_l": "s_l_exact"}


def _is_shaping(column: str) -> bool:
    return column.removesuffix("_prefixed") in _SHAPING and (column.endswith("_prefixed") or column in _SHAPING)


def exact_column(column: str) -> str:
    """The metrics column of an exact-measurement column (``trait`` → ``trait_exact``,
    ``p_prefixed`` → ``p_exact_prefixed``)."""
    if column.endswith("_prefixed"):
        return _SHAPING[column.removesuffix("_prefixed")] + "_prefixed"
    return _SHAPING[column]


def empty_metrics(step: int) -> pd.DataFrame:
    """A step with no rollouts (the final exact measurement), ready for :func:`merge_exact`."""
    return _ordered(pd.DataFrame({c: pd.Series(dtype=np.float64) for c in METRIC_COLUMNS}).assign(step=step))


def _ordered(df: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
    for col in METRIC_COLUMNS:
        if col not in df:
            df[col] = np.nan
    df = df[[*METRIC_COLUMNS, *extra]].copy()
    df["split"] = df["split"].astype(object)
    for col in ("step", "env_id"):
        df[col] = df[col].astype(np.int64)
    return df.sort_values(["split", "env_id"], kind="stable").reset_index(drop=True)
