"""``motivlab experiment concepts``: RL from the pretrained organism vs the same network randomly initialised.

The seed's claim "concepts first": RL *selects* among behaviours pretraining supplied; it does not
build them. One sweep, two arms — ``model.init = "pretrained"`` and ``"random"`` (same architecture
and tokenizer, fresh weights: :func:`motivlab.models.organism.random_init_like`) — at a few N and
seeds, same GRPO budget. Beside the outcome, the information accounting
(:mod:`motivlab.measure.information`): bits of supervision pretraining delivered vs the bits RL's
0/1 rewards could have delivered (``events · H_b(mean reward)``; at most one bit per event).

Outputs: ``sweep/``, ``runs.parquet`` (one row per run), ``table.parquet`` (per arm × N, means over
seeds), ``trajectories.parquet``, ``figures/concepts.png``, ``summary.json``, ``report.html``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, field_validator

from motivlab.errors import MotivlabInputError
from motivlab.validation import config_rules, validated

__all__ = ["ConceptsConfig", "parse_concepts_config", "run_concepts"]


class ConceptsConfig(BaseModel):
    """Options of the concepts-first experiment."""

    model_config = config_rules()

    base: str = Field("", description="Run-config TOML ('' = the demo config).")
    n_values: list[int] = Field([8, 200], description="N of the runs.")
    seeds: list[int] = Field([0, 1, 2], description="Seeds per point.")
    steps: int = Field(40, ge=1, description="GRPO steps per run.")
    set: dict[str, Any] = Field(default_factory=dict, description="Extra dotted run-config keys for every run.")
    quick: bool = Field(False, description="The quick organism (tests).")

    @field_validator("n_values", "seeds")
    @classmethod
    def _distinct(cls, v: list[int]) -> list[int]:
        if not v or any(x < 0 for x in v) or len(set(v)) < len(v):
            raise ValueError(f"must be distinct non-negative integers (at least one), got {v}")
        return v


def parse_concepts_config(data: dict[str, Any]) -> ConceptsConfig:
    return validated(ConceptsConfig, data, "concepts options")


def _spec(cfg: ConceptsConfig) -> Any:
    from motivlab.experiments.critical_diversity import _base_config
    from motivlab.sweep import PointSpec, SweepSpec

    extra = {**cfg.set, "steps": cfg.steps}
    if cfg.quick:
        extra["model.quick"] = True
    return SweepSpec(base=_base_config(cfg), set=extra,
                     points=[PointSpec(name="pretrained", set={"model.init": "pretrained"}),
                             PointSpec(name="random", set={"model.init": "random"})],
                     grid={"world.n_train_envs": sorted(cfg.n_values), "seed": list(cfg.seeds)})


def _run_row(point: dict[str, Any], run_dir: Path) -> tuple[dict[str, Any], Any]:
    import pandas as pd

    m = pd.read_parquet(run_dir / "metrics.parquet")
    overall = m[(m["env_id"] == -1) & (m["split"] == "train")].sort_values("step")
    sampled = overall.dropna(subset=["reward"])
    events = int(sampled["n_rollouts"].sum())
    mean_reward = float(np.average(sampled["reward"], weights=sampled["n_rollouts"])) if events else float("nan")
    exact = overall.dropna(subset=["p_exact"])
    first, last = exact.iloc[0], exact.iloc[-1]
    row = {"arm": point["arm"], "n": int(point["world.n_train_envs"]), "seed": int(point["seed"]),
           "p_start": float(first["p_exact"]), "p_end": float(last["p_exact"]),
           "s_r_start": float(first["s_r_exact"]), "s_r_end": float(last["s_r_exact"]),
           "s_l_start": float(first["s_l_exact"]), "s_l_end": float(last["s_l_exact"]),
           "reward_first_step": float(sampled["reward"].iloc[0]), "reward_last_step": float(sampled["reward"].iloc[-1]),
           "mean_reward": mean_reward, "reward_events": events,
           "undeclared_share": float(overall["n_unknown"].sum() / max(1, overall["n_rollouts"].sum()))}
    traj = exact[["step", "p_exact", "s_r_exact", "s_l_exact"]].assign(arm=row["arm"], n=row["n"], seed=row["seed"])
    return row, traj


def run_concepts(cfg: ConceptsConfig, out: str | Path, *, workers: int = 1, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) the two-arm sweep and write the table, figure, summary and report."""
    import pandas as pd

    from motivlab.experiments.critical_diversity import prepare_out
    from motivlab.io import run_metadata, write_json, write_table
    from motivlab.measure.information import binary_entropy, organism_information
    from motivlab.models.pretrain import ensure_organism
    from motivlab.report.html import HtmlReport, save_figure
    from motivlab.rl.config import build_config
    from motivlab.sweep import prepare, run_sweep

    out = Path(out)
    points = prepare(_spec(cfg))[2]  # validates every point before anything is written
    prepare_out(cfg, out)
    table = run_sweep(_spec(cfg), out / "sweep", workers=workers, progress=progress)
    rows, trajs = [], []
    for d in table.to_dict(orient="records"):
        if d["status"] == "done":
            row, traj = _run_row(d, out / "sweep" / d["run_dir"])
            rows.append(row)
            trajs.append(traj)
    if not rows:
        raise MotivlabInputError(f"no finished runs in {out / 'sweep'}")
    runs = pd.DataFrame(rows)
    model = build_config(points[0].config).model
    info = organism_information(ensure_organism(model.organism, quick=model.quick, progress=False))
    pre = info[info["phase"] == "pretraining"].iloc[0]
    runs["rl_bits_estimate"] = runs["reward_events"] * binary_entropy(runs["mean_reward"].clip(0, 1).to_numpy())
    runs["rl_bits_upper"] = runs["reward_events"].astype(float)
    runs["pretraining_bits_estimate"] = np.where(runs["arm"] == "pretrained", pre["bits_estimate"], 0.0)
    runs["pretraining_bits_upper"] = np.where(runs["arm"] == "pretrained", pre["bits_upper"], 0.0)
    summary_table = runs.groupby(["arm", "n"]).mean(numeric_only=True).drop(columns=["seed"]).reset_index()
    write_table(runs, out / "runs.parquet")
    write_table(summary_table, out / "table.parquet")
    traj = pd.concat(trajs, ignore_index=True)
    write_table(traj, out / "trajectories.parquet")
    fig = save_figure(_plot(traj, runs), out / "figures" / "concepts.png")
    summary = {"experiment": "concepts", "config": cfg.model_dump(mode="json"),
               "table": summary_table.to_dict(orient="records"),
               "pretraining": {"bits_estimate": float(pre["bits_estimate"]), "bits_upper": float(pre["bits_upper"]),
                               "supervised_tokens": int(pre["events"])},
               "metadata": run_metadata(None)}
    write_json(out / "summary.json", summary)
    rep = HtmlReport("Concepts first: RL from the pretrained organism vs random initialisation")
    rep.table(summary_table, "means over seeds per arm and N; bits: RL = events·H_b(mean reward)")
    rep.figure(fig, "exact p and sR over RL steps, pretrained (solid) vs random init (dashed)")
    rep.heading("Runs").table(runs, max_rows=100)
    rep.write(out / "report.html")
    return summary


def _plot(traj: Any, runs: Any) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    ns = sorted(traj["n"].unique())
    colors = dict(zip(ns, plt.cm.viridis(np.linspace(0.1, 0.8, len(ns))), strict=True))
    for (arm, n), g in traj.groupby(["arm", "n"]):
        mean = g.groupby("step")[["p_exact", "s_r_exact"]].mean()
        ls = "-" if arm == "pretrained" else "--"
        axes[0].plot(mean.index, mean["p_exact"], ls, color=colors[n], label=f"{arm}, N={n}")
        axes[1].plot(mean.index, mean["s_r_exact"], ls, color=colors[n])
    axes[0].set_title("propensity p (exact)")
    axes[1].set_title("reward-seeking skill sR (exact)")
    for ax in axes[:2]:
        ax.set_xlabel("RL step")
        ax.set_ylim(-0.02, 1.02)
    axes[0].legend(fontsize=7)
    bits = runs.groupby("arm")[["pretraining_bits_estimate", "rl_bits_estimate"]].mean()
    x = np.arange(len(bits))
    axes[2].bar(x - 0.2, bits["pretraining_bits_estimate"].clip(lower=1), 0.4, label="pretraining")
    axes[2].bar(x + 0.2, bits["rl_bits_estimate"].clip(lower=1), 0.4, label="RL (reward)")
    axes[2].set_xticks(x, bits.index)
    axes[2].set_yscale("log")
    axes[2].set_title("supervision delivered (bits, estimate; ≥1 shown)")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    return fig
