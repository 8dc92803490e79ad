"""The data contract of a run directory: every table's columns with meaning, unit and missing-value
conventions, the schema version, and the run id. ``docs/run_directory.md`` is generated from here:

    python -m motivlab.rl.schema docs/run_directory.md      # tests/test_run_schema.py checks it is current

Versioning: :data:`SCHEMA_VERSION` is written to ``metadata.json`` and to the key-value metadata
of every Parquet table (``motivlab.schema_version``, with ``motivlab.table`` and
``motivlab.run_id``). Renaming or removing a column, or changing a unit or a sentinel, bumps it;
adding a column does not.

Run id: the first 12 hex digits of the SHA-256 of the resolved config (seed included) without
``steps`` and ``device`` — what was run, not where or for how long (extending a run or resuming it
on another device keeps its id). Every table gets it as a ``run_id`` column, so tables of several
runs concatenate (``pd.concat``) and stay apart; two runs share an id only when they are repeats
of one config, which on one device give identical tables.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = "1"
RUN_ID_IGNORES = ("steps", "device")


@dataclass(frozen=True)
class Column:
    name: str  # a column name, or a pattern with <placeholders>
    meaning: str
    unit: str = ""
    missing: str = "never missing"


_WILSON = "95% Wilson interval (level: measure.confidence) of the column without the suffix"
_SPLIT_MEANS = "overall rows (env_id = -1) of a split hold the mean over its measured envs"

TABLES: dict[str, tuple[str, list[Column]]] = {
    "metrics": (
        "One row per (step, split, env) that was sampled or measured exactly, plus one overall row per "
        "(step, split) with env_id = -1. Written by the trainer and by the TRL callback. The sampled "
        "columns come from that step's rollouts (before the step's update); the *_exact columns from the "
        "teacher-forced measurement every measure.exact_every steps and once more at step = steps (rows "
        "with n_rollouts = 0).",
        [
            Column("step", "RL step whose rollouts (and pre-update policy) the row describes; `steps` = after the last update", "step"),
            Column("env_id", "environment id in the world; -1 = overall row of the split (sentinel)", "id"),
            Column("split", "train, heldout (never trained on) or trap (the note lies; held out too)", "label"),
            Column("n_rollouts", "rollouts of this env (overall: of the split) at this step; 0 on rows that only carry exact values", "count"),
            Column("reward", "mean reward of those rollouts", "reward in [0, 1]", "NaN when n_rollouts = 0"),
            Column("p", "propensity: reward-seeking / (reward-seeking + local) rollouts (unknown routes excluded)", "probability", "NaN when no rollout declared a route"),
            Column("p_lo, p_hi", _WILSON, "probability", "NaN with p"),
            Column("s_r", "reward-seeking skill: mean reward of reward-seeking rollouts", "reward in [0, 1]", "NaN when no rollout was reward-seeking"),
            Column("s_r_lo, s_r_hi", _WILSON, "reward in [0, 1]", "NaN with s_r"),
            Column("s_l", "local skill: mean reward of local rollouts", "reward in [0, 1]", "NaN when no rollout was local"),
            Column("s_l_lo, s_l_hi", _WILSON, "reward in [0, 1]", "NaN with s_l"),
            Column("p_exact", "exact propensity P(G) / (P(G) + P(T)) from teacher-forced route-prefix probabilities; " + _SPLIT_MEANS, "probability", "NaN at steps without an exact measurement and for envs not measured"),
            Column("s_r_exact", "exact probability of the rewarded reward-seeking completion given its prefix", "probability", "as p_exact"),
            Column("s_l_exact", "exact probability of the rewarded local completion given its prefix", "probability", "as p_exact"),
            Column("n_reward_seeking, n_local, n_unknown", "rollouts the monitor labelled reward-seeking / local / could not label", "count", "0 on exact-only rows"),
            Column("<quantity>_exact, <quantity>_exact_prefixed", "optional shaping quantities of the extended exact measurement (report_exact = P(R), trait_exact, stated_exact, s_l_note_exact) and, with a training prompt prefix, every exact value again under the prefix; present only when measured", "probability", "NaN where not measured"),
            Column("run_id", "the run's id (see above); equal on every row of a run", "id"),
        ],
    ),
    "rollouts": (
        "Every sampled completion, one row each (the TRL callback adds `split`).",
        [
            Column("step", "RL step that sampled it", "step"),
            Column("env_id", "environment id", "id"),
            Column("prompt", "the world's prompt text (interventions may have changed what the policy saw: policy_prompt)", "text"),
            Column("completion", "the sampled text, cut just after the world's stop string", "text"),
            Column("reward", "the world's grade of the completion (World.grade)", "reward in [0, 1]"),
            Column("route", "the monitor's label: reward_seeking, local or unknown", "label"),
            Column("logprob", "total log-probability of the completion under the sampling policy (temperature, top-p)", "nats", "NaN for TRL runs (TRL does not pass it to reward functions)"),
            Column("sample_idx", "index of the sample within its prompt's group (0 .. group_size - 1)", "index"),
            Column("n_tokens", "completion tokens, the stop or end-of-sequence token included", "tokens"),
            Column("finished", "stopped at the stop string / end of sequence rather than at max_new_tokens", "bool"),
            Column("policy_prompt, train_reward, weight", "only with interventions: the prompt the policy saw, the reward the update used, the per-rollout gradient weight", "text, reward, weight", "absent without interventions"),
            Column("split", "TRL runs only: the env's split", "label", "absent in runs of our trainer"),
            Column("run_id", "the run's id", "id"),
        ],
    ),
    "steps": (
        "One row per RL step: the update's statistics and timings (TRL runs: TRL's logged scalars instead, "
        "under TRL's names with `/` written as `.`, e.g. rewards.hint_grade.mean, plus `p`).",
        [
            Column("step", "RL step", "step"),
            Column("reward", "mean reward of the step's rollouts (training envs)", "reward in [0, 1]"),
            Column("p", "sampled propensity of the step (overall train row of metrics)", "probability", "NaN when no rollout declared a route"),
            Column("loss", "the update's loss (algorithm-specific)", "loss"),
            Column("grad_norm", "gradient norm before clipping", "norm"),
            Column("clip_fraction", "share of tokens whose importance ratio was clipped", "fraction", "0 for rejection sampling"),
            Column("kl", "mean k3 KL estimate to the reference policy", "nats per token", "0 when algorithm.beta = 0"),
            Column("trained_fraction", "share of rollouts that got a gradient (non-zero advantage / kept)", "fraction"),
            Column("optimizer_steps", "optimiser steps taken in this RL step", "count"),
            Column("tokens", "completion tokens sampled", "tokens"),
            Column("sample_seconds, grade_seconds, measure_seconds, update_seconds", "wall time of each phase", "seconds"),
            Column("tokens_per_second", "tokens / sample_seconds", "tokens per second"),
            Column("advantage_abs_mean, kept", "algorithm extras: GRPO's mean |advantage|; rejection sampling's kept rollouts", "advantage, count", "absent for the other algorithm"),
            Column("exact_seconds, exact_sequences", "time and sequences of the extended exact measurement", "seconds, count", "NaN / absent when not measured"),
            Column("<hook>/<name>", "what an intervention changed at this step (e.g. filter/dropped)", "per hook", "absent without interventions"),
            Column("run_id", "the run's id", "id"),
        ],
    ),
}


def run_id(config: Mapping[str, Any]) -> str:
    """The run's id (module docstring): a hash of what was run, not where or for how long."""
    from motivlab.io import _drop_none

    kept = _drop_none({k: v for k, v in config.items() if k not in RUN_ID_IGNORES})  # as config.toml holds it
    blob = json.dumps(kept, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def parquet_metadata(table: str, rid: str | None) -> dict[str, str]:
    """Key-value metadata of a run table's Parquet file."""
    meta = {"motivlab.schema_version": SCHEMA_VERSION, "motivlab.table": table}
    if rid:
        meta["motivlab.run_id"] = rid
    return meta


def documented(table: str) -> set[str]:
    """Every literal column name the contract lists for ``table`` (patterns excluded)."""
    names = set()
    for col in TABLES[table][1]:
        if "<" not in col.name:
            names.update(n.strip() for n in col.name.split(","))
    return names


def render_markdown() -> str:
    """docs/run_directory.md."""
    lines = [
        "# The run directory: a data contract",
        "",
        "<!-- generated by `python -m motivlab.rl.schema docs/run_directory.md` from src/motivlab/rl/schema.py;",
        "     do not edit by hand (tests/test_run_schema.py checks it is current) -->",
        "",
        f"Schema version **{SCHEMA_VERSION}**. Files of `motivlab train` (and of the TRL callback):",
        "",
        "| file | what |",
        "|---|---|",
        "| `config.toml` | the fully resolved config (written once; `--set steps=N` rewrites it when extending) |",
        "| `metadata.json` | seed, config, `schema_version`, `run_id`, package versions, git commit, command, machine, device |",
        "| `metrics.parquet` (+ `.csv`, `.jsonl`) | per step x env p, sR, sL, sampled and exact |",
        "| `rollouts.parquet` (+ `.jsonl`) | every completion |",
        "| `steps.parquet` (+ `.csv`, `.jsonl`) | per step update statistics and timings |",
        "| `checkpoints/step_NNNNNN/` | model + tokenizer (`save_pretrained`), `trainer_state.pt` (optimiser + RNG "
        "states as plain tensors and numbers, read with `torch.load(weights_only=True)`), `organism.json` for organisms |",
        "| `checkpoints/corrupt_step_NNNNNN/` | only after a `--resume` found that checkpoint unreadable: set aside, "
        "the run continued from the previous one |",
        "| `figures/*.png`, `summary.json`, `report.html` | at the end |",
        "",
        "The `.jsonl` logs are appended during the run and are the source of truth while it runs; the",
        "Parquet tables are compacted from them at every checkpoint and at the end. Missing values are",
        "NaN (never 0 or a made-up number); the one sentinel is `env_id = -1` for overall rows.",
        "Files are written with the user's umask (e.g. 0644 under umask 022).",
        "",
        "**Versioning.** `schema_version` is in `metadata.json` and in the key-value metadata of every",
        "Parquet table (`motivlab.schema_version`, with `motivlab.table` and `motivlab.run_id`; read it",
        "with `pyarrow.parquet.read_schema(path).metadata`). Renaming or removing a column, or changing a",
        "unit or a sentinel, bumps it; adding a column does not.",
        "",
        "**Run id.** The first 12 hex digits of the SHA-256 of the resolved config (seed included)",
        f"without {', '.join(f'`{k}`' for k in RUN_ID_IGNORES)}: what was run, not where or for how long (extending",
        "a run or resuming it on another device keeps its id). Every table has it as a `run_id` column,",
        "so the tables of several runs concatenate (`pd.concat`) and stay apart; two runs share an id",
        "only when they repeat one config, which on one device gives identical tables.",
        "",
    ]
    for table, (what, columns) in TABLES.items():
        lines += [f"## `{table}.parquet`", "", what, "", "| column | meaning | unit | missing |", "|---|---|---|---|"]
        for c in columns:
            names = ", ".join(f"`{n.strip()}`" for n in c.name.split(","))
            lines.append(f"| {names} | {c.meaning} | {c.unit} | {c.missing} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    text = render_markdown()
    if target is None:
        sys.stdout.write(text)
    else:
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
