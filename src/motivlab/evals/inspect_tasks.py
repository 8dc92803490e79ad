"""The self-report protocol as Inspect tasks (UK AISI's ``inspect_ai``): one ``@task`` per measure.

Run it on any Inspect provider, then read it with our analysis::

    pip install 'motivlab[inspect]'
    inspect eval motivlab/evals/inspect_tasks.py@pre --model openai/smollm2 -T limit=5 \\
        --model-base-url http://127.0.0.1:8000/v1 -M responses_api=false   # motivlab serve smollm2
    inspect eval motivlab/evals/inspect_tasks.py@choice --model mockllm/model
    motivlab eval from-inspect logs/ --out runs/inspect-eval    # -> results.parquet
    motivlab eval analyze runs/inspect-eval

(``inspect eval`` also takes the installed module's path: ``python -c "import
motivlab.evals.inspect_tasks as m; print(m.__file__)"``.) ``responses_api=false`` makes Inspect's
``openai/`` provider call ``/v1/chat/completions`` — it defaults to OpenAI's Responses API,
which no local server speaks.

One source of truth: the dataset is :func:`motivlab.evals.runner.build_items` over the shipped
task set (the same round-robin ``limit``, conditions, samples and seeded choice attachment), the
messages of every step come from the protocol's own ``build`` functions
(``evals/protocol.py``, hence ``evals/prompts.py``), sampling settings per step from the
runner's defaults, and scoring is the protocol's ``rows`` functions (``evals/parsing.py``,
``judge.auto_score``) applied to the same call records ``motivlab eval run`` stores. Those
records travel in each score's metadata, so :func:`results_from_logs` rebuilds the very table
``eval run`` would write (``runner.build_results``) from an Inspect log.

Departures from ``motivlab eval run``: no reply prefill (Inspect providers, like any endpoint,
cannot continue an assistant turn), so small models parse less often; the ``performance``
judge is Inspect's ``grader`` model role when one is given (``--model-role grader=...``), else
the evaluated model, as in ``eval run``; one Inspect sample per item, so ``samples`` repeats
items rather than using Inspect's epochs (the sample index is part of the protocol's call key).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    ModelOutput,
    get_model,
)
from inspect_ai.scorer import Metric, SampleScore, Score, Target, metric, scorer
from inspect_ai.solver import Generate, TaskState, solver

from motivlab.evals.backends import Completion, Message
from motivlab.evals.protocol import MEASURE_STEPS, STEPS, Call, Context, Item, record_for
from motivlab.evals.schema import CHOICE_CONDITIONS, CONDITIONS, MEASURES

# the field whose value a task's Inspect score shows (all fields go to the results table)
PRIMARY = {"pre": "score", "breakdown": "overall", "tokens": "count", "performance": "quality",
           "post": "score", "post_similar": "score", "choice": "chosen"}


def _config(measure: str, limit: int | None, conditions: str | list[str] | None, samples: int, seed: int,
            temperature: float) -> Any:
    from motivlab.evals.runner import EvalRunConfig

    # `-T conditions=control,money` reaches a task as a list (Inspect parses it), a Python call may pass "a,b"
    chosen = [c.strip() for c in (conditions.split(",") if isinstance(conditions, str) else conditions or CONDITIONS)]
    if measure == "choice":
        chosen = [c for c in chosen if c in CHOICE_CONDITIONS] or ["control"]
    return EvalRunConfig(model="inspect", measures=[measure], conditions=chosen, samples=samples, limit=limit,
                         seed=seed, temperature=temperature)


def _context(cfg: Any, model: str, judge: str, done: dict[str, str]) -> Context:
    """The protocol's context; ``done`` maps call keys to the replies already given in this sample."""
    from motivlab.evals.runner import _params

    return Context(model=model, judge=judge, params={s: _params(cfg, s) for s in STEPS}, seed=cfg.seed,
                   lookup=lambda key: {"reply": done[key]} if key in done else None)


def _to_inspect(messages: Sequence[Message]) -> list[ChatMessage]:
    kinds = {"system": ChatMessageSystem, "user": ChatMessageUser, "assistant": ChatMessageAssistant}
    return [kinds[m["role"]](content=m["content"]) for m in messages]


def _item_metadata(item: Item) -> dict[str, Any]:
    return {**{k: getattr(item, k) for k in Item.__dataclass_fields__}, "categories": list(item.categories)}


def _item(metadata: dict[str, Any]) -> Item:
    fields = {k: metadata[k] for k in Item.__dataclass_fields__}
    return Item(**{**fields, "categories": tuple(fields["categories"])})


def protocol_dataset(measure: str, *, limit: int | None = 5, conditions: str | list[str] | None = None, samples: int = 1,
                     seed: int = 0, temperature: float = 0.7) -> MemoryDataset:
    """One Inspect sample per protocol item of ``measure`` (``runner.build_items``, same order)."""
    from motivlab.evals.runner import build_items
    from motivlab.evals.tasks import load_choice_pairs, load_tasks

    cfg = _config(measure, limit, conditions, samples, seed, temperature)
    first = MEASURE_STEPS[measure][0]
    ctx = _context(cfg, "inspect", "inspect", {})
    out = []
    for item in build_items(cfg, load_tasks(), load_choice_pairs()):
        call = STEPS[first].build(item, ctx)
        if call is None:
            continue
        out.append(Sample(input=_to_inspect(call.messages), id=f"{item.item_id}|{item.condition}|{item.sample}",
                          metadata={**_item_metadata(item), "measure": measure, "seed": seed,
                                    "temperature": temperature, "limit": limit}))
    return MemoryDataset(out, name=f"motivlab-{measure}")


@solver
def protocol_steps(measure: str) -> Any:
    """Ask the steps of ``measure`` in order (e.g. execution, then the post-task question in the
    same conversation); each step's messages are built by the protocol from the replies so far."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        meta = state.metadata
        cfg = _config(measure, meta["limit"], None, 1, meta["seed"], meta["temperature"])
        model = str(state.model)
        judge_model = _judge_model()
        done: dict[str, str] = {}
        calls: list[dict[str, Any]] = []
        for step in MEASURE_STEPS[measure]:
            ctx = _context(cfg, model, str(judge_model) if judge_model else model, done)
            call = STEPS[step].build(_item(meta), ctx)
            if call is None:  # a step it depends on failed
                break
            settings = GenerateConfig(max_tokens=call.params.max_tokens, temperature=call.params.temperature)
            if call.role == "judge" and judge_model is not None:
                output = await judge_model.generate(_to_inspect(call.messages), config=settings)
            else:
                state.messages = _to_inspect(call.messages)
                state = await generate(state, tool_calls="none", **settings.model_dump(exclude_none=True))
                output = state.output
            done[call.key] = output.completion
            calls.append({"step": step, "output": _output_summary(output)})
        state.store.set("motivlab_calls", calls)
        return state

    return solve


def _judge_model() -> Any:
    try:
        return get_model(role="grader", default=None)
    except Exception:  # no grader role configured: the evaluated model judges, as in eval run
        return None


def _output_summary(output: ModelOutput) -> dict[str, Any]:
    usage = output.usage
    return {"text": output.completion, "completion_tokens": usage.output_tokens if usage else 0,
            "prompt_tokens": usage.input_tokens if usage else 0, "error": output.error,
            "finish_reason": "length" if output.stop_reason in ("max_tokens", "model_length") else "stop"}


def _records(measure: str, state_meta: dict[str, Any], model: str, judge: str, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The call records ``motivlab eval run`` would have stored for this sample."""
    cfg = _config(measure, state_meta["limit"], None, 1, state_meta["seed"], state_meta["temperature"])
    done: dict[str, str] = {}
    records = []
    for c in calls:
        ctx = _context(cfg, model, judge, done)
        call: Call | None = STEPS[c["step"]].build(_item(state_meta), ctx)
        if call is None:
            break
        o = c["output"]
        completion = Completion(text=o["text"], completion_tokens=int(o["completion_tokens"] or 0),
                                prompt_tokens=int(o["prompt_tokens"] or 0), finish_reason=o["finish_reason"], error=o["error"])
        records.append(record_for(call, ctx, completion))
        done[call.key] = o["text"]
    return records


@metric
def parse_rate() -> Metric:
    """Share of samples whose primary field parsed (the protocol reports it, never hides it)."""

    def compute(scores: list[SampleScore]) -> float:
        return sum(bool(s.score.metadata and s.score.metadata.get("parsed")) for s in scores) / max(1, len(scores))

    return compute


@metric
def mean_parsed() -> Metric:
    """Mean of the primary field over the samples that parsed (NaN if none did)."""

    def compute(scores: list[SampleScore]) -> float:
        vals = [float(s.score.value) for s in scores if s.score.metadata and s.score.metadata.get("parsed")]  # type: ignore[arg-type]
        return sum(vals) / len(vals) if vals else math.nan

    return compute


@scorer(metrics=[mean_parsed(), parse_rate()])
def protocol_scorer(measure: str) -> Any:
    """The protocol's own parsing and auto-scoring (``STEPS[step].rows``) of this sample's replies."""

    async def score(state: TaskState, target: Target) -> Score:
        judge = _judge_model()
        model = str(state.model)
        records = _records(measure, state.metadata, model, str(judge) if judge else model,
                           state.store.get("motivlab_calls", []))
        rows = [row for r in records for row in STEPS[r["step"]].rows(r) if row["measure"] == measure]
        main = next((r for r in rows if r["field"] == PRIMARY[measure]), None)
        parsed = bool(main and main["parsed"])
        shown = ", ".join(f"{r['field']}={r['value']:g}" for r in rows if r["parsed"]) or "nothing parsed"
        return Score(value=float(main["value"]) if parsed else 0.0, answer=state.output.completion[:200],
                     explanation=f"{measure}: {shown}", metadata={"parsed": parsed, "records": records})

    return score


def protocol_task(measure: str, *, limit: int | None = 5, conditions: str | list[str] | None = None, samples: int = 1,
                  seed: int = 0, temperature: float = 0.7) -> Task:
    """The Inspect task of one measure (``limit`` sub-tasks/pairs, ``conditions`` comma list)."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {list(MEASURES)}, got {measure!r}")
    return Task(dataset=protocol_dataset(measure, limit=limit, conditions=conditions, samples=samples, seed=seed,
                                         temperature=temperature),
                solver=protocol_steps(measure), scorer=protocol_scorer(measure), name=f"motivlab_{measure}")


@task
def pre(limit: int | None = 5, conditions: str | list[str] | None = None, samples: int = 1, seed: int = 0, temperature: float = 0.7) -> Task:
    """Pre-task self-reported motivation (1-100)."""
    return protocol_task("pre", limit=limit, conditions=conditions, samples=samples, seed=seed, temperature=temperature)


@task
def breakdown(limit: int | None = 5, conditions: str | list[str] | None = None, samples: int = 1, seed: int = 0, temperature: float = 0.7) -> Task:
    """Pre-task breakdown: interest, challenge, mastery, fear, value, overall (1-100 each)."""
    return protocol_task("breakdown", limit=limit, conditions=conditions, samples=samples, seed=seed, temperature=temperature)


@task
def tokens(limit: int | None = 5, conditions: str | list[str] | None = None, samples: int = 1, seed: int = 0, temperature: float = 0.7) -> Task:
    """Effort proxy: completion tokens of the task execution (plus auto-scored correctness)."""
    return protocol_task("tokens", limit=limit, conditions=conditions, samples=samples, seed=seed, temperature=temperature)


@task
def performance(limit: int | None = 5, conditions: str | list[str] | None = None, samples: int = 1, seed: int = 0, temperature: float = 0.7) -> Task:
    """Execution judged on seven criteria (1-7) by the grader role (default: the model itself)."""
    return protocol_task("performance", limit=limit, conditions=conditions, samples=samples, seed=seed, temperature=temperature)


@task
def post(limit: int | None = 5, conditions: str | list[str] | None = None, samples: int = 1, seed: int = 0, temperature: float = 0.7) -> Task:
    """Post-task motivation, asked in the same conversation after the execution."""
    return protocol_task("post", limit=limit, conditions=conditions, samples=samples, seed=seed, temperature=temperature)


@task
def post_similar(limit: int | None = 5, conditions: str | list[str] | None = None, samples: int = 1, seed: int = 0, temperature: float = 0.7) -> Task:
    """Motivation for a similar task, asked after the execution (a branch of the same conversation)."""
    return protocol_task("post_similar", limit=limit, conditions=conditions, samples=samples, seed=seed, temperature=temperature)


@task
def choice(limit: int | None = 5, conditions: str | list[str] | None = None, samples: int = 1, seed: int = 0, temperature: float = 0.7) -> Task:
    """Which of two tasks the model chooses (1 or 2), with a manipulation attached to one."""
    return protocol_task("choice", limit=limit, conditions=conditions, samples=samples, seed=seed, temperature=temperature)


# ---------------------------------------------------------------------------------------------
# Inspect logs -> our results table


def records_from_logs(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Every protocol call record in the Inspect logs at ``paths`` (files or folders of logs)."""
    from inspect_ai.log import list_eval_logs, read_eval_log

    files: list[str] = []
    for p in paths:
        p = Path(p)
        files += [info.name for info in list_eval_logs(str(p))] if p.is_dir() else [str(p)]
    if not files:
        raise FileNotFoundError(f"no Inspect logs found in {[str(p) for p in paths]}")
    records: list[dict[str, Any]] = []
    for f in files:
        log = read_eval_log(f)
        for sample in log.samples or []:
            for s in (sample.scores or {}).values():
                records += (s.metadata or {}).get("records", [])
    return records


def results_from_logs(paths: Iterable[str | Path], out: str | Path) -> Path:
    """Write ``results.parquet`` (+ CSV, ``calls.jsonl``) from Inspect logs: the table
    ``motivlab eval run`` writes, so ``motivlab eval analyze OUT`` reads it."""
    from motivlab.evals.runner import build_results, parse_rates
    from motivlab.evals.schema import validate_results
    from motivlab.io import atomic_write_text, write_table

    records = records_from_logs(paths)
    if not records:
        raise ValueError("the Inspect logs hold no motivlab protocol records (were they written by motivlab.evals.inspect_tasks?)")
    df = build_results(records)
    problems = validate_results(df)
    if problems:
        raise ValueError(f"results built from the Inspect logs do not conform: {problems}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "calls.jsonl", "".join(json.dumps(r, default=str) + "\n" for r in records))
    write_table(df, out / "results.parquet")
    import pandas as pd

    pd.DataFrame(parse_rates(df)).to_csv(out / "parse_rates.csv", index=False)
    return out / "results.parquet"
