"""The self-report protocol as small steps: each builds one call and turns its reply into rows.

An *item* is one (sub-task or choice pair, condition, sample). A *step* is one question asked
about an item — ``pre``, ``breakdown``, ``execution``, ``post``, ``post_similar``, ``judge``,
``choice`` — with two pure functions:

- ``build(item, ctx) -> Call | None``: the exact messages (None while a step it depends on has
  no stored reply yet, or when the step does not apply to the item's kind);
- ``rows(record) -> list[row]``: the tidy rows (``evals/schema.py``) of a stored call; replies
  that do not parse become ``value=NaN, parsed=False`` rows, never dropped.

Dependencies: ``post``, ``post_similar`` and ``judge`` continue from the stored ``execution``
reply. ``post`` and ``post_similar`` are two branches of the *same* conversation (task → the
model's answer → the question), not a chain, so a garbled post-task answer cannot contaminate
the post-similar question. This is our reading of "in the same conversation".

Prefill: for roles in ``Context.prefill`` (local backends), report, choice and judge calls end
with an assistant message holding the opening of the requested JSON (``prompts.*PREFILL``);
the stored reply is prefill + continuation, so the same strict parsers read it.

Call keys are ``model|step|item|condition|sample|prompt-hash`` where the hash covers the
messages, the answering model and the sampling settings: change any of them and the call is
asked again; everything else is reused from the log.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from motivlab.evals import manipulations, prompts
from motivlab.evals.backends import GenerationParams, Message
from motivlab.evals.backends.structure import ReplyStructure
from motivlab.evals.judge import auto_score, criteria_order, judge_messages, parse_judgement
from motivlab.evals.parsing import parse_choice, parse_fields, parse_score
from motivlab.evals.schema import PROTOCOL_VERSION

Role = Literal["subject", "judge"]


@dataclass(frozen=True)
class Item:
    """One unit of the protocol. ``kind='choice'``: ``prompt`` is task 1, ``other_prompt`` task 2."""

    kind: Literal["single", "choice"]
    item_id: str  # sub-task id, or pair id for choice items
    condition: str
    sample: int
    subtask_id: str
    task_id: str
    categories: tuple[str, ...]
    prompt: str
    answer: str | None = None
    checker: str | None = None
    pair_id: str = ""
    other_subtask_id: str = ""
    other_prompt: str = ""
    attached_to: int = 0  # choice: which task carries the manipulation (0 = none)


@dataclass(frozen=True)
class Context:
    """What every step needs besides the item: names, sampling settings, stored replies."""

    model: str
    judge: str
    params: dict[str, GenerationParams]  # step -> sampling settings (token caps differ per step)
    seed: int
    lookup: Callable[[str], dict[str, Any] | None]  # call key -> stored successful record
    prefill: frozenset[str] = frozenset()  # roles ("subject", "judge") whose replies start with a JSON prefill
    structured: bool = False  # prefilled replies are also held to their JSON shape (backends/structure.py)


@dataclass(frozen=True)
class Call:
    step: str
    role: Role
    item: Item
    messages: list[Message]
    params: GenerationParams
    key: str
    prompt_hash: str
    meta: dict[str, Any] = field(default_factory=dict)
    prefill: str = ""  # the reply's opening, sent as a trailing assistant message; prepended before parsing
    structure: ReplyStructure | None = None  # the JSON shape the local backend holds the reply to

    def seed(self) -> int:
        """Per-call sampling seed derived from the key (stable across runs and resumes)."""
        return int.from_bytes(hashlib.sha256(f"{self.params.seed}|{self.key}".encode()).digest()[:4], "little")


# the JSON shapes of the prefilled replies (used when the run is ``structured``)
SCORE_SHAPE = ReplyStructure(("score",))
BREAKDOWN_SHAPE = ReplyStructure(tuple(prompts.BREAKDOWN_FIELDS))
CHOICE_SHAPE = ReplyStructure((), reason=False, low=1, high=2, free_after=True)


def _make_call(step: str, role: Role, item: Item, ctx: Context, messages: list[Message], prefill: str = "",
               structure: ReplyStructure | None = None, **meta: Any) -> Call:
    params = ctx.params[step]
    prefill = prefill if role in ctx.prefill else ""
    structure = structure if prefill and ctx.structured else None
    if prefill:
        messages = [*messages, {"role": "assistant", "content": prefill}]
    answerer = ctx.model if role == "subject" else ctx.judge
    settings: list[Any] = [answerer, messages, params.max_tokens, params.temperature, PROTOCOL_VERSION]
    if params.stop_after_json:  # only when set, so runs stored before this option keep their keys
        settings.append("stop_after_json")
    if structure is not None:  # likewise: unstructured calls keep the keys they always had
        settings.append(structure.describe())
    blob = json.dumps(settings, sort_keys=True)
    prompt_hash = hashlib.sha256(blob.encode()).hexdigest()[:16]
    key = "|".join([ctx.model, step, item.item_id, item.condition, str(item.sample), prompt_hash])
    return Call(step, role, item, messages, params, key, prompt_hash, dict(meta), prefill, structure)


def _user(text: str) -> list[Message]:
    return [{"role": "system", "content": prompts.SYSTEM}, {"role": "user", "content": text}]


# --- build: one function per step ---------------------------------------------------------------


def build_pre(item: Item, ctx: Context) -> Call | None:
    if item.kind != "single":
        return None
    text = prompts.PRE.format(task=manipulations.apply(item.condition, item.prompt))
    return _make_call("pre", "subject", item, ctx, _user(text), prompts.REPORT_PREFILL, SCORE_SHAPE)


def build_breakdown(item: Item, ctx: Context) -> Call | None:
    if item.kind != "single":
        return None
    text = prompts.BREAKDOWN.format(task=manipulations.apply(item.condition, item.prompt))
    return _make_call("breakdown", "subject", item, ctx, _user(text), prompts.REPORT_PREFILL, BREAKDOWN_SHAPE)


def build_execution(item: Item, ctx: Context) -> Call | None:
    if item.kind != "single":
        return None
    text = prompts.EXECUTE.format(task=manipulations.apply(item.condition, item.prompt))
    return _make_call("execution", "subject", item, ctx, _user(text))


def _executed(item: Item, ctx: Context) -> tuple[Call, dict[str, Any]] | None:
    call = build_execution(item, ctx)
    record = ctx.lookup(call.key) if call is not None else None
    return (call, record) if call is not None and record is not None else None


def _follow_up(step: str, question: str) -> Callable[[Item, Context], Call | None]:
    def build(item: Item, ctx: Context) -> Call | None:
        done = _executed(item, ctx)
        if done is None:
            return None
        call, record = done
        messages = [*call.messages, {"role": "assistant", "content": record["reply"]}, {"role": "user", "content": question}]
        return _make_call(step, "subject", item, ctx, messages, prompts.REPORT_PREFILL, SCORE_SHAPE)

    return build


def build_judge(item: Item, ctx: Context) -> Call | None:
    done = _executed(item, ctx)
    if done is None:
        return None
    call, record = done
    order = criteria_order(ctx.seed, call.key)
    # the judge sees the original task, never the manipulation prefix
    return _make_call("judge", "judge", item, ctx, judge_messages(item.prompt, record["reply"], order),
                      prompts.judge_prefill(order), ReplyStructure(tuple(order[1:]), reason=False, low=1, high=7),
                      criteria_order=order)


def build_choice(item: Item, ctx: Context) -> Call | None:
    if item.kind != "choice":
        return None
    t1, t2 = manipulations.attach(item.condition, item.prompt, item.other_prompt, item.attached_to)
    return _make_call("choice", "subject", item, ctx, _user(prompts.CHOICE.format(task1=t1, task2=t2)),
                      prompts.CHOICE_PREFILL, CHOICE_SHAPE)


# --- rows: one function per step ----------------------------------------------------------------


def _base(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "protocol_version": record["protocol_version"], "model": record["model"], "task_id": record["task_id"],
        "subtask_id": record["subtask_id"], "categories": "|".join(record["categories"]),
        "condition": record["condition"], "sample": int(record["sample"]), "pair_id": record.get("pair_id", ""),
        "attached_to": int(record.get("attached_to", 0)), "other_subtask_id": record.get("other_subtask_id", ""),
    }


def _row(record: dict[str, Any], measure: str, fld: str, value: float | None) -> dict[str, Any]:
    ok = value is not None and math.isfinite(value) and not record.get("error")
    return {**_base(record), "measure": measure, "field": fld, "value": float(value) if ok else math.nan, "parsed": ok}


def _score_rows(measure: str) -> Callable[[dict[str, Any]], list[dict[str, Any]]]:
    return lambda r: [_row(r, measure, "score", parse_score(r["reply"]))]


def rows_breakdown(record: dict[str, Any]) -> list[dict[str, Any]]:
    got = parse_fields(record["reply"], prompts.BREAKDOWN_FIELDS, low=1, high=100)
    return [_row(record, "breakdown", f, got[f]) for f in prompts.BREAKDOWN_FIELDS]


def rows_execution(record: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [_row(record, "tokens", "count", None if record.get("error") else float(record["completion_tokens"]))]
    if record.get("checker"):
        rows.append(_row(record, "performance", "auto", auto_score(record["answer"], record["checker"], record["reply"])))
    return rows


def rows_judge(record: dict[str, Any]) -> list[dict[str, Any]]:
    got = parse_judgement(record["reply"])
    return [_row(record, "performance", c, got[c]) for c in got]


def rows_choice(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [_row(record, "choice", "chosen", parse_choice(record["reply"]))]


@dataclass(frozen=True)
class Step:
    build: Callable[[Item, Context], Call | None]
    rows: Callable[[dict[str, Any]], list[dict[str, Any]]]
    stage: int  # steps of stage k only depend on steps of earlier stages


STEPS: dict[str, Step] = {
    "pre": Step(build_pre, _score_rows("pre"), 0),
    "breakdown": Step(build_breakdown, rows_breakdown, 0),
    "execution": Step(build_execution, rows_execution, 0),
    "choice": Step(build_choice, rows_choice, 0),
    "post": Step(_follow_up("post", prompts.POST), _score_rows("post"), 1),
    "post_similar": Step(_follow_up("post_similar", prompts.POST_SIMILAR), _score_rows("post_similar"), 1),
    "judge": Step(build_judge, rows_judge, 1),
}

# measure (schema.MEASURES) -> the steps it needs
MEASURE_STEPS: dict[str, tuple[str, ...]] = {
    "pre": ("pre",), "breakdown": ("breakdown",), "tokens": ("execution",),
    "performance": ("execution", "judge"), "post": ("execution", "post"),
    "post_similar": ("execution", "post_similar"), "choice": ("choice",),
}


def steps_for(measures: list[str]) -> list[str]:
    """The steps that produce ``measures``, in stage order."""
    wanted = {s for m in measures for s in MEASURE_STEPS[m]}
    return [s for s in STEPS if s in wanted]


def record_for(call: Call, ctx: Context, completion: Any) -> dict[str, Any]:
    """The persisted form of a finished call (self-contained: results rebuild from it alone)."""
    it = call.item
    return {
        "key": call.key, "protocol_version": PROTOCOL_VERSION, "model": ctx.model,
        "judge": ctx.judge if call.role == "judge" else "", "role": call.role, "step": call.step,
        "item_id": it.item_id, "subtask_id": it.subtask_id, "task_id": it.task_id, "categories": list(it.categories),
        "condition": it.condition, "sample": it.sample, "pair_id": it.pair_id, "other_subtask_id": it.other_subtask_id,
        "attached_to": it.attached_to, "answer": it.answer, "checker": it.checker, "prompt_hash": call.prompt_hash,
        "messages": call.messages, "max_tokens": call.params.max_tokens, "temperature": call.params.temperature,
        "seed": call.seed(), "reply": (call.prefill + completion.text) if completion.error is None else completion.text,
        "prefill": call.prefill, "structure": call.structure.describe() if call.structure else "",
        "completion_tokens": completion.completion_tokens,
        "prompt_tokens": completion.prompt_tokens, "finish_reason": completion.finish_reason,
        "error": completion.error, "seconds": round(completion.seconds, 4), **call.meta,
    }
