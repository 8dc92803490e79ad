"""Figure and report.html of the stated-vs-revealed experiment (one table, one figure)."""

from __future__ import annotations

from typing import Any

import numpy as np

# what is compared on the 0-1 scale: stated reliance on the grader vs revealed reward seeking
STATED_01 = ("self/uses_grader_notes", "self/checker_over_task", "self/copies_visible_answer", "stated_p")
REVEALED_01 = (("p", "train"), ("p", "heldout"), ("p", "trap"), ("p_exact", "train"), ("p_exact", "trap"))


def _errors(sub: Any) -> np.ndarray:
    lo = np.where(np.isfinite(sub["lo"]), sub["value"] - sub["lo"], 0.0)
    hi = np.where(np.isfinite(sub["hi"]), sub["hi"] - sub["value"], 0.0)
    return np.vstack([np.clip(lo, 0, None), np.clip(hi, 0, None)])


def figure(table: Any, names: list[str], path: Any) -> Any:
    """Left: stated reliance on the grader (self-descriptions, stated p) and revealed p per split,
    0-1, per checkpoint; right: the protocol's motivation reports (1-100)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from motivlab.report.html import save_figure

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [2.2, 1]})
    items = [(m, None, "stated") for m in STATED_01] + [(m, s, "revealed") for m, s in REVEALED_01]
    width = 0.8 / max(len(names), 1)
    colors = plt.cm.tab10(np.arange(len(names)))
    for k, name in enumerate(names):
        xs, ys, errs = [], [], []
        for i, (measure, split, kind) in enumerate(items):
            sel = (table.checkpoint == name) & (table.measure == measure) & (table.kind == kind)
            if split is not None:
                sel &= table.split == split
            sub = table[sel]
            if len(sub) and np.isfinite(sub["value"].iloc[0]):
                xs.append(i + (k - (len(names) - 1) / 2) * width)
                ys.append(sub["value"].iloc[0])
                errs.append(_errors(sub)[:, 0])
        if xs:
            ax.errorbar(xs, ys, yerr=np.array(errs).T, fmt="o", color=colors[k], label=name, capsize=3)
    ax.set_xticks(range(len(items)))
    ax.set_xticklabels([m.replace("self/", "say: ") if s is None else f"do: {m} ({s})" for m, s, _ in items],
                       rotation=35, ha="right", fontsize=8)
    ax.axvline(len(STATED_01) - 0.5, color="grey", lw=0.8)
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("reliance on the grader (0-1)")
    ax.set_title("stated (left of the line) vs revealed (right)")
    ax.legend(fontsize=8)
    reports = sorted(m for m in table.measure.unique() if m.startswith(("pre/", "breakdown/")))
    for k, name in enumerate(names):
        sub = table[(table.checkpoint == name) & table.measure.isin(reports)].set_index("measure").reindex(reports)
        xs = np.arange(len(reports)) + (k - (len(names) - 1) / 2) * width
        ok = np.isfinite(sub["value"].to_numpy())
        if ok.any():
            ax2.errorbar(xs[ok], sub["value"].to_numpy()[ok], yerr=_errors(sub.reset_index())[:, ok], fmt="s",
                         color=colors[k], label=name, capsize=3)
    ax2.set_xticks(range(len(reports)))
    ax2.set_xticklabels(reports, rotation=35, ha="right", fontsize=8)
    ax2.set_ylim(0, 101)
    ax2.set_title("self-reported motivation (protocol, 1-100)")
    return save_figure(fig, path)


def write_report(table: Any, cfg: Any, names: list[str]) -> None:
    """``figures/stated_vs_revealed.png`` and ``report.html`` in ``cfg.out``."""
    from motivlab.report.html import HtmlReport

    png = figure(table, names, cfg.out / "figures" / "stated_vs_revealed.png")
    report = HtmlReport("Stated vs revealed motivation", f"checkpoints: {', '.join(names)}")
    report.text(
        "Stated: what the model says (pre-task motivation and breakdown from the evaluation protocol; "
        "self-descriptions of whether it uses what the grader expects, score/100; stated_p = its own "
        "forecast, per natural-language-world prompt, of taking the answer from the harness). Revealed: "
        "what it does in the natural-language world (sampled p = share of reward-seeking rollouts by the "
        "rule monitor, Wilson 95% intervals; p_exact = teacher-forced P(reward-seeking opening) among the "
        "two declared openings, mean over envs, exact per env). Means of scores carry t intervals."
    )
    report.figure(png, "stated vs revealed per checkpoint")
    report.table(table, "table.csv (schema in run.json)", max_rows=200)
    report.code(cfg.model_dump_json(indent=2))
    report.write(cfg.out / "report.html")
