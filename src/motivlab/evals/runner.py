"""Run the self-report protocol for one model: items x steps -> calls -> stored log -> tidy table.

The loop, top to bottom:

1. build the items (sub-tasks round-robin over tasks so ``--limit K`` spans many tasks and
   categories; each under every condition, ``samples`` times; choice pairs under the choice
   conditions with the manipulation attached to a seeded-random one of the two tasks; plus
   control pre-task questions for every sub-task of the selected pairs, which the choice
   analysis compares the two tasks by — see :func:`choice_anchor_items`);
2. stage 0 (pre, breakdown, execution, choice), then stage 1 (post, post_similar, judge), which
   continue from stored execution replies; in each stage the calls not yet in the log go to the
   backend and every finished call is appended to ``calls.jsonl`` the moment the backend returns
   it (an endpoint: each request; a local model: each batch). Each call's seed derives from its
   key, and a backend that batches (``replays_batches``) is given the stage's stored calls too, so
   it forms the batches of an uninterrupted run: a resumed run's replies equal the uninterrupted
   run's exactly;
3. always — finished, interrupted or failed — rebuild ``results.parquet``/CSV from the whole
   log, compute parse rates per model and measure, and update ``run.json``.

Usage::

    from motivlab.evals.runner import EvalRunConfig, run_eval
    summary = run_eval(EvalRunConfig(model="smollm2", measures=["pre"], limit=5, out="runs/eval"))
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator

from motivlab.errors import MotivlabInputError
from motivlab.evals.backends import ChatBackend, GenerationParams, make_backend
from motivlab.evals.protocol import STEPS, Call, Context, Item, record_for, steps_for
from motivlab.evals.schema import CHOICE_CONDITIONS, COLUMNS, CONDITIONS, MEASURES, validate_results
from motivlab.evals.store import CallStore
from motivlab.redact import redact_text, redact_value
from motivlab.validation import config_rules

REPORT_STEPS = ("pre", "breakdown", "post", "post_similar")


class EvalRunConfig(BaseModel):
    """Options of ``motivlab eval run`` (each becomes a CLI flag)."""

    model_config = config_rules()

    model: str = Field("smollm2", description="Model spec: 'smollm2', a path (directory/GGUF/checkpoint) or openai:MODEL@BASE_URL.")
    judge: str | None = Field(None, description="Judge model spec; default: the model itself.")
    measures: list[str] = Field(default_factory=lambda: list(MEASURES), description="Measures to collect (schema.MEASURES).")
    conditions: list[str] = Field(default_factory=lambda: list(CONDITIONS), description="Manipulation conditions (schema.CONDITIONS); choice uses those in CHOICE_CONDITIONS.")
    samples: int = Field(2, ge=1, le=100, description="Independent samples per item (2 = test-retest pairs).")
    limit: int | None = Field(None, ge=1, description="Use only the first K sub-tasks (round-robin over tasks) and the first K choice pairs (whose sub-tasks also get control pre-task reports).")
    max_tokens: int = Field(1000, ge=1, le=32768, description="Token cap of the task execution and of the choice reply.")
    report_max_tokens: int = Field(64, ge=1, le=32768, description="Token cap of the self-report replies (short JSON; breakdown gets 2x).")
    prefill: bool | None = Field(None, description="Start report, choice and judge replies with the opening of the requested JSON (e.g. '{\"reason\": \"'). None = on where the backend can (local models), off for OpenAI endpoints; True with an endpoint is an error.")
    stop_after_json: bool = Field(True, description="Local backend: end a self-report or judge reply as soon as its JSON object closes.")
    structured: bool = Field(False, description="Local backend: hold prefilled replies to the requested JSON shape (grammar-constrained decoding: the model writes the reason and the digits, keys and separators are forced, numbers stay in range). Raises parse rates of small models; every reply then carries a number, so refusals show only in the reason. Needs the prefill.")
    judge_max_tokens: int = Field(300, ge=1, le=32768, description="Token cap of the judge's reply.")
    temperature: float = Field(0.7, ge=0, le=2, description="Sampling temperature of the model (0 = greedy; then samples repeat).")
    judge_temperature: float = Field(0.0, ge=0, le=2, description="Judge temperature (0 = greedy, reproducible).")
    batch_size: int = Field(32, ge=1, le=4096, description="Local backend: conversations decoded together (pre-task reports on the whole set ran fastest at 128; each row holds a KV cache of prompt + token cap).")
    device: str = Field("auto", description="Local backend: where the model runs — 'auto' (CUDA when available, else CPU), 'cpu', 'cuda' or 'cuda:N'.")
    threads: int | None = Field(None, ge=1, le=1024, description="Local backend: torch CPU threads (default: torch's choice; 1 is often fastest on a busy machine).")
    concurrency: int = Field(8, ge=1, le=1024, description="OpenAI backend: requests in flight.")
    timeout_s: float = Field(120.0, gt=0, description="OpenAI backend: per-request timeout, seconds.")
    max_retries: int = Field(4, ge=0, le=100, description="OpenAI backend: retries with exponential backoff.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key (never stored).")
    seed: int = Field(0, description="Seeds sampling, judge criteria order and choice attachment.")
    out: Path = Field(Path("runs/eval"), description="Results folder (created; reused to resume).")

    @field_validator("device")
    @classmethod
    def _device_name(cls, v: str) -> str:
        from motivlab.models.device import check_device_name

        return check_device_name(v)

    @field_validator("measures", "conditions")
    @classmethod
    def _non_empty_subset(cls, v: list[str], info: Any) -> list[str]:
        allowed = list(MEASURES) if info.field_name == "measures" else list(CONDITIONS)
        if not v or any(x not in allowed for x in v):
            raise ValueError(f"{info.field_name} must be a non-empty subset of {allowed}, got {v}")
        return list(dict.fromkeys(v))


# --- items ---------------------------------------------------------------------------------------


def round_robin(tasks: Sequence[Any]) -> list[tuple[Any, Any]]:
    """(task, subtask) pairs: every task's first sub-task, then every task's second, ..."""
    depth = max((len(t.subtasks) for t in tasks), default=0)
    return [(t, t.subtasks[j]) for j in range(depth) for t in tasks if j < len(t.subtasks)]


def _attached(seed: int, pair_id: str, condition: str, sample: int) -> int:
    if condition == "control":
        return 0
    h = hashlib.sha256(f"{seed}|{pair_id}|{condition}|{sample}".encode()).digest()
    return 1 + h[0] % 2


def build_items(cfg: EvalRunConfig, tasks: Sequence[Any], pairs: Sequence[Any]) -> list[Item]:
    items: list[Item] = []
    if any(m != "choice" for m in cfg.measures):
        for task, sub in round_robin(tasks)[: cfg.limit]:
            for cond in cfg.conditions:
                for s in range(cfg.samples):
                    items.append(Item("single", sub.subtask_id, cond, s, sub.subtask_id, task.task_id,
                                      tuple(task.categories), sub.prompt, sub.answer, sub.checker))
    if "choice" in cfg.measures:
        subs = {sub.subtask_id: (task, sub) for task in tasks for sub in task.subtasks}
        for pair in list(pairs)[: cfg.limit]:
            (t1, s1), (_, s2) = subs[pair.subtask_id_1], subs[pair.subtask_id_2]
            for cond in (c for c in cfg.conditions if c in CHOICE_CONDITIONS):
                for s in range(cfg.samples):
                    items.append(Item("choice", pair.pair_id, cond, s, s1.subtask_id, t1.task_id, tuple(t1.categories),
                                      s1.prompt, pair_id=pair.pair_id, other_subtask_id=s2.subtask_id,
                                      other_prompt=s2.prompt, attached_to=_attached(cfg.seed, pair.pair_id, cond, s)))
    return items


def choice_anchor_items(cfg: EvalRunConfig, tasks: Sequence[Any], pairs: Sequence[Any]) -> list[Item]:
    """Control items of every sub-task in the selected choice pairs, asked only the pre-task question.

    The choice analysis compares the two tasks of a pair by their control pre-task scores. The
    pairs are fixed and drawn across the whole set, so with ``--limit K`` their sub-tasks are
    almost never among the first K (on the shipped set: 1 of 12 pairs for K=12). These items
    close that gap at the cost of one short report per pair sub-task and sample; they run even
    when ``pre`` is not among the measures (the rows appear as ``measure='pre'``).
    """
    if "choice" not in cfg.measures:
        return []
    subs = {sub.subtask_id: (task, sub) for task in tasks for sub in task.subtasks}
    wanted = dict.fromkeys(sid for pair in list(pairs)[: cfg.limit] for sid in (pair.subtask_id_1, pair.subtask_id_2))
    items = []
    for sid in wanted:
        task, sub = subs[sid]
        for s in range(cfg.samples):
            items.append(Item("single", sub.subtask_id, "control", s, sub.subtask_id, task.task_id,
                              tuple(task.categories), sub.prompt, sub.answer, sub.checker))
    return items


# --- the run -------------------------------------------------------------------------------------


def _params(cfg: EvalRunConfig, step: str) -> GenerationParams:
    if step == "judge":
        return GenerationParams(cfg.judge_max_tokens, cfg.judge_temperature, cfg.seed, cfg.stop_after_json)
    if step in REPORT_STEPS:
        # the breakdown's JSON has six numbers plus a reason: twice the single-score cap
        cap = cfg.report_max_tokens * (2 if step == "breakdown" else 1)
        return GenerationParams(cap, cfg.temperature, cfg.seed, cfg.stop_after_json)
    return GenerationParams(cfg.max_tokens, cfg.temperature, cfg.seed)


def prefill_roles(cfg: EvalRunConfig, backends: dict[str, ChatBackend]) -> frozenset[str]:
    """Roles whose replies get a JSON prefill: backends that can continue an assistant turn.

    Only a local model can (we render its chat template); the OpenAI chat API has no portable
    way to start the assistant's reply, so ``prefill=True`` with an endpoint subject is an error.
    """
    able = {role for role, b in backends.items() if getattr(b, "supports_prefill", False)}
    if cfg.prefill and "subject" not in able:
        raise MotivlabInputError(f"prefill=True needs a local model; {redact_text(cfg.model)!r} is served through an API that "
                                 "cannot start the assistant's reply (use --no-prefill)")
    if cfg.structured and (cfg.prefill is False or "subject" not in able):
        raise MotivlabInputError(f"structured=True needs a local model with the prefill on; {redact_text(cfg.model)!r} "
                                 f"{'has the prefill off (--no-prefill)' if cfg.prefill is False else 'is served through an API'}")
    return frozenset(able) if cfg.prefill is not False else frozenset()


def _stage_calls(items: list[Item], steps: list[str], ctx: Context,
                 extra: Sequence[tuple[Item, str]] = ()) -> list[Call]:
    """Every call of a stage, stored or not, in the order an uninterrupted run sends them: every
    step of ``steps`` for ``items`` plus the (item, step) ``extra`` (anchors may repeat items)."""
    built = [STEPS[s].build(it, ctx) for s in steps for it in items]
    built += [STEPS[s].build(it, ctx) for it, s in extra if STEPS[s].stage == STEPS[steps[0]].stage]
    return list({c.key: c for c in built if c is not None}.values())


def _run_calls(calls: list[Call], backends: dict[str, ChatBackend], ctx: Context, store: CallStore, progress: Any,
               bar: Any) -> int:
    """Send the unstored ``calls`` grouped by (role, step) so each batch shares its settings; persist
    each reply as it comes. A batching backend (``replays_batches``) also gets the stored calls of
    the group, flagged ``skip``, so its batches are those of an uninterrupted run."""
    groups: dict[tuple[str, str], list[Call]] = defaultdict(list)
    for c in calls:
        groups[(c.role, c.step)].append(c)
    failed = 0
    for (role, step), group in groups.items():
        todo = [not store.done(c.key) for c in group]
        if not any(todo):
            continue
        backend, kwargs = backends[role], {}
        if getattr(backend, "replays_batches", False):
            send, kwargs["skip"] = group, [not t for t in todo]
        else:
            send = [c for c, t in zip(group, todo, strict=True) if t]
        progress.update(bar, description=f"{step:<13}")
        if any(c.structure for c in send):
            kwargs["structures"] = [c.structure for c in send]
        stream = backend.generate([c.messages for c in send], send[0].params, seeds=[c.seed() for c in send], **kwargs)
        for i, completion in stream:
            store.add(record_for(send[i], ctx, completion))
            failed += completion.error is not None
            progress.advance(bar)
    return failed


def run_eval(cfg: EvalRunConfig, *, tasks: Sequence[Any] | None = None, pairs: Sequence[Any] | None = None,
             backends: dict[str, ChatBackend] | None = None, console: Any = None) -> dict[str, Any]:
    """Run (or resume) the protocol; returns the summary also stored in run.json.

    ``tasks``/``pairs`` default to the shipped set; ``backends`` ({"subject", "judge"}) lets a
    caller reuse loaded models. Errors propagate after the table is rebuilt from what is stored.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from motivlab.io import run_metadata

    console = console or Console(stderr=True)
    if tasks is None or pairs is None:
        from motivlab.evals.tasks import load_choice_pairs, load_tasks

        tasks = load_tasks() if tasks is None else tasks
        pairs = load_choice_pairs() if pairs is None else pairs
    for spec in {cfg.model, cfg.judge or cfg.model}:
        _check_spec(spec)  # before anything is written: a typo should not leave a results folder
    if backends is None and not all(spec.startswith("openai:") for spec in {cfg.model, cfg.judge or cfg.model}):
        from motivlab.models.device import resolve_device

        resolve_device(cfg.device)  # likewise: a GPU that is not there
    if (cfg.prefill or cfg.structured) and backends is None and cfg.model.startswith("openai:"):
        prefill_roles(cfg, {})  # raises the explanation before anything is written
    store = CallStore(cfg.out)
    options = cfg.model_dump(mode="json")  # to build backends: the real URLs
    recorded = redact_value(options)  # to write and show: URLs without credentials (motivlab.redact)
    store.write_run({"status": "running", "options": recorded, "metadata": run_metadata(cfg.seed, recorded)},
                    new_invocation=True)
    judge_spec = cfg.judge or cfg.model
    steps = steps_for(cfg.measures)
    items = build_items(cfg, tasks, pairs)
    anchors = [(it, "pre") for it in choice_anchor_items(cfg, tasks, pairs)]
    status, failed, backends, roles = "interrupted", 0, dict(backends or {}), frozenset()
    try:
        if "subject" not in backends:
            backends["subject"] = make_backend(cfg.model, **options)
        if "judge" not in backends:
            backends["judge"] = backends["subject"] if judge_spec == cfg.model else make_backend(judge_spec, **options)
        roles = prefill_roles(cfg, backends)
        ctx = Context(redact_text(cfg.model), redact_text(judge_spec), {s: _params(cfg, s) for s in STEPS}, cfg.seed,
                      store.lookup, roles,
                      cfg.structured)
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn()]
        with Progress(*columns, console=console, transient=False) as progress:
            for stage in sorted({STEPS[s].stage for s in steps}):  # anchors only exist with choice (stage 0)
                stage_steps = [s for s in steps if STEPS[s].stage == stage]
                calls = _stage_calls(items, stage_steps, ctx, anchors)
                bar = progress.add_task(f"stage {stage}", total=sum(not store.done(c.key) for c in calls))
                failed += _run_calls(calls, backends, ctx, store, progress, bar)
        status = "complete" if failed == 0 else "complete_with_failed_calls"
    except BaseException as exc:
        status = f"stopped: {type(exc).__name__}"
        raise
    finally:
        summary = finish(store, cfg, status, failed, backends, n_items=len(items) + len(anchors), prefill=roles)
        _print_summary(console, summary)
    return summary


def _check_spec(spec: str) -> None:
    from motivlab.evals.backends import parse_spec

    kind, model, _ = parse_spec(spec)
    if kind == "local":
        from motivlab.models.loading import resolve_model_spec

        resolve_model_spec(model)


# --- the tidy table ------------------------------------------------------------------------------


def build_results(records: list[dict[str, Any]]) -> Any:
    """The tidy table (schema.COLUMNS) from stored call records, parsing every reply afresh."""
    import pandas as pd

    rows = [row for rec in records if rec.get("step") in STEPS for row in STEPS[rec["step"]].rows(rec)]
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    df = df.sort_values(["model", "measure", "field", "subtask_id", "pair_id", "condition", "sample"], kind="stable")
    return df.astype({"sample": int, "attached_to": int, "value": float, "parsed": bool}).reset_index(drop=True)


def parse_rates(df: Any) -> list[dict[str, Any]]:
    """Share of parsed rows per (model, measure): reported, never hidden."""
    out = []
    for (model, measure), g in df.groupby(["model", "measure"], sort=True):
        n, ok = len(g), int(g["parsed"].sum())
        out.append({"model": model, "measure": measure, "rows": n, "parsed": ok, "parse_rate": ok / n if n else math.nan})
    return out


def finish(store: CallStore, cfg: EvalRunConfig, status: str, failed: int, backends: dict[str, ChatBackend],
           *, n_items: int, prefill: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Rebuild results from the whole log, write tables and run.json; return the summary."""
    import pandas as pd

    from motivlab.io import write_table

    df = build_results(store.records())
    problems = validate_results(df)
    write_table(df, store.dir / "results.parquet")
    rates = parse_rates(df)
    pd.DataFrame(rates, columns=["model", "measure", "rows", "parsed", "parse_rate"]).to_csv(
        store.dir / "parse_rates.csv", index=False)
    throughput = {role: b.stats.as_dict() for role, b in backends.items() if role == "subject" or b is not backends.get("subject")}
    summary = {"status": status, "items": n_items, "stored_calls": len(store), "failed_calls_this_run": failed,
               "result_rows": len(df), "schema_problems": problems, "parse_rates": rates, "throughput": throughput,
               "prefill": {role: role in prefill for role in ("subject", "judge")}}
    run = _read_run(store.dir)
    store.write_run({**{k: v for k, v in run.items() if k not in ("protocol_version", "history")}, **summary},
                    new_invocation=False)
    return summary


def _read_run(directory: Path) -> dict[str, Any]:
    import json

    path = directory / "run.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _print_summary(console: Any, summary: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"parse rates ({summary['status']}; {summary['stored_calls']} calls stored)")
    for col in ("model", "measure", "parsed / rows", "rate"):
        table.add_column(col)
    for r in summary["parse_rates"]:
        table.add_row(str(r["model"]), r["measure"], f"{r['parsed']} / {r['rows']}", f"{r['parse_rate']:.0%}")
    console.print(table)
    for role, t in summary["throughput"].items():
        if t["calls"]:
            console.print(f"{role}: {t['calls']} calls, {t['completion_tokens']} completion tokens in {t['seconds']:.1f} s "
                          f"({t['completion_tokens_per_second']:.1f} tokens/s)")
    if summary["schema_problems"]:
        console.print(f"[red]results table problems: {summary['schema_problems']}[/red]")
