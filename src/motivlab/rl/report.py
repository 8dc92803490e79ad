"""Figures, summary and HTML report of a run directory (written at the end of :func:`train`).

``figures/overall.png``: p(t), sR(t), sL(t) on the training envs from the sampled rollouts (with
95 % Wilson bands) and from the exact measurement per split (train / held-out / trap).
``figures/per_env.png``: the same three quantities per measured env (exact measurement), one
thin line per env, coloured by split. ``figures/reward.png``: mean reward and loss per step.
``summary.json``: first and last values of each curve, the numbers a report quotes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from motivlab.io import write_json
from motivlab.report import HtmlReport, save_figure

QUANTITIES = (("p", "propensity p (reward-seeking)"), ("s_r", "reward-seeking skill sR"), ("s_l", "local skill sL"))
SPLIT_COLOURS = {"train": "tab:blue", "heldout": "tab:green", "trap": "tab:red"}


def _overall(metrics: pd.DataFrame, split: str) -> pd.DataFrame:
    return metrics[(metrics.env_id == -1) & (metrics.split == split)].sort_values("step")


def overall_figure(metrics: pd.DataFrame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    train = _overall(metrics, "train")
    sampled = train[train.n_rollouts > 0]
    for ax, (col, title) in zip(axes, QUANTITIES, strict=True):
        ax.plot(sampled.step, sampled[col], color="tab:blue", alpha=0.5, lw=1, label="train, sampled")
        ax.fill_between(sampled.step, sampled[f"{col}_lo"], sampled[f"{col}_hi"], color="tab:blue", alpha=0.12)
        for split, colour in SPLIT_COLOURS.items():
            ex = _overall(metrics, split).dropna(subset=[f"{col}_exact"])
            if len(ex):
                ax.plot(ex.step, ex[f"{col}_exact"], "o-", color=colour, ms=3, lw=1.8, label=f"{split}, exact")
        ax.set_title(title)
        ax.set_xlabel("RL step")
        ax.xaxis.get_major_locator().set_params(integer=True)  # steps are whole numbers, even in a 4-step run
        ax.set_ylim(-0.02, 1.02)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def per_env_figure(metrics: pd.DataFrame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    envs = metrics[(metrics.env_id >= 0)].dropna(subset=["p_exact"])
    for ax, (col, title) in zip(axes, QUANTITIES, strict=True):
        for (split, _env), rows in envs.groupby(["split", "env_id"]):
            rows = rows.sort_values("step")
            ax.plot(rows.step, rows[f"{col}_exact"], color=SPLIT_COLOURS.get(split, "grey"), alpha=0.35, lw=0.8)
        ax.set_title(f"{title}, per env (exact)")
        ax.set_xlabel("RL step")
        ax.xaxis.get_major_locator().set_params(integer=True)  # steps are whole numbers, even in a 4-step run
        ax.set_ylim(-0.02, 1.02)
    handles = [plt.Line2D([], [], color=c, label=s) for s, c in SPLIT_COLOURS.items()]
    axes[0].legend(handles=handles, fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def reward_figure(steps: pd.DataFrame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    axes[0].plot(steps.step, steps.reward, color="tab:purple")
    axes[0].set_title("mean reward (sampled)")
    axes[1].plot(steps.step, steps.loss, color="tab:grey")
    axes[1].set_title("loss")
    for ax in axes:
        ax.set_xlabel("RL step")
        ax.xaxis.get_major_locator().set_params(integer=True)  # steps are whole numbers, even in a 4-step run
    fig.tight_layout()
    return save_figure(fig, path)


def summarise(metrics: pd.DataFrame, steps: pd.DataFrame) -> dict[str, Any]:
    """First/last exact values per split, first/last sampled train values, and timings."""
    out: dict[str, Any] = {}
    for split in SPLIT_COLOURS:
        ex = _overall(metrics, split).dropna(subset=["p_exact"])
        if len(ex):
            out[split] = {
                f"{col}_exact_{when}": float(row[f"{col}_exact"])
                for when, row in (("start", ex.iloc[0]), ("end", ex.iloc[-1])) for col, _ in QUANTITIES
            } | {"first_step": int(ex.step.iloc[0]), "last_step": int(ex.step.iloc[-1])}
    sampled = _overall(metrics, "train")
    sampled = sampled[sampled.n_rollouts > 0]
    if len(sampled):
        k = max(1, min(5, len(sampled) // 4))  # pool a few steps: single-step estimates are noisy
        out["sampled_train"] = {"steps_pooled": k, **_pooled(sampled.head(k), "start"), **_pooled(sampled.tail(k), "end")}
    if len(steps) and {"sample_seconds", "update_seconds", "measure_seconds", "tokens"} <= set(steps.columns):
        out["timing"] = {
            "sample_seconds": float(steps.sample_seconds.sum()), "update_seconds": float(steps.update_seconds.sum()),
            "measure_seconds": float(steps.measure_seconds.sum()),
            "tokens_per_second": float(steps.tokens.sum() / max(steps.sample_seconds.sum(), 1e-9)),
        }
    return out


def _pooled(rows: pd.DataFrame, when: str) -> dict[str, float | None]:
    """Reward, p, sR, sL pooled over the rollouts of ``rows`` (None where no rollout took the route)."""
    n, n_rs, n_lo = rows.n_rollouts.sum(), rows.n_reward_seeking.sum(), rows.n_local.sum()
    ratio = lambda num, den: float(num / den) if den > 0 else None  # noqa: E731
    return {
        f"reward_{when}": ratio((rows.reward * rows.n_rollouts).sum(), n),
        f"p_{when}": ratio(n_rs, n_rs + n_lo),
        f"s_r_{when}": ratio((rows.s_r.fillna(0) * rows.n_reward_seeking).sum(), n_rs),
        f"s_l_{when}": ratio((rows.s_l.fillna(0) * rows.n_local).sum(), n_lo),
    }


def finish_run(run: Any, config: Any, tables: Mapping[str, pd.DataFrame]) -> Path:
    """Figures, ``summary.json`` and ``report.html`` of a finished run; returns the report path.

    ``config`` is a ``TrainConfig`` or, for runs trained elsewhere (TRL), the plain mapping saved
    in ``config.toml``."""
    from motivlab.rl.config import config_to_dict

    metrics, steps = tables["metrics"], tables["steps"]
    figures = run.path / "figures"
    figs = [
        (overall_figure(metrics, figures / "overall.png"), "Overall p(t), sR(t), sL(t): sampled on training envs "
         "(band: 95% Wilson) and exact per split."),
        (per_env_figure(metrics, figures / "per_env.png"), "Per env (exact measurement), coloured by split."),
        (reward_figure(steps, figures / "reward.png"), "Mean reward and loss per step."),
    ]
    summary = summarise(metrics, steps)
    write_json(run.path / "summary.json", summary)
    report = HtmlReport("motivlab RL run", subtitle=str(run.path))
    report.heading("Selection curves")
    for png, caption in figs:
        report.figure(png, caption)
    report.heading("Summary")
    rows = [{"split": s, **v} for s, v in summary.items() if s in SPLIT_COLOURS]
    if rows:
        report.table(pd.DataFrame(rows), "Exact measurement at the first and last measured step, per split.")
    if "sampled_train" in summary:
        report.table(pd.DataFrame([summary["sampled_train"]]), "Sampled training rollouts, first vs last steps.")
    if "timing" in summary:
        report.table(pd.DataFrame([summary["timing"]]), "Time per phase (seconds, whole run).")
    from motivlab.rl.interventions.report import add_intervention_section

    add_intervention_section(report, config, steps)
    report.heading("Config")
    import tomli_w

    from motivlab.io import _drop_none

    report.code(tomli_w.dumps(_drop_none(dict(config) if isinstance(config, Mapping) else config_to_dict(config))))
    return report.write(run.path / "report.html")
