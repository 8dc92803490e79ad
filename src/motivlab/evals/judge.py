"""The performance scorers: an LLM judge on seven criteria (1-7) and automatic checks.

The judge sees only the *original* task text and the response, never the manipulation prefix,
so a judged difference between conditions is a difference in the responses. The order in
which the criteria are listed is shuffled per call with an RNG seeded from (run seed, call
key): reproducible, yet no criterion is always first (position effects average out).

Verifiable sub-tasks (those with an ``answer`` and a ``checker`` in the task set) are also
scored automatically with :func:`motivlab.evals.tasks.check_answer`, the task set's own
definition of "correct" (one source of truth), giving the ``auto`` field (1.0 / 0.0).
"""

from __future__ import annotations

import random

from motivlab.evals.backends import Message
from motivlab.evals.parsing import parse_fields
from motivlab.evals.prompts import JUDGE_CRITERIA, JUDGE_SYSTEM, judge_prompt

CRITERIA: tuple[str, ...] = tuple(JUDGE_CRITERIA)

_ALIASES: dict[str, tuple[str, ...]] = {
    "quality": ("quality", "overall_quality"),
    "completion": ("completion", "completeness", "task_completion"),
    "effort": ("effort", "engagement", "effort_engagement", "effort_and_engagement"),
    "consistency": ("consistency", "coherence"),
    "creativity": ("creativity", "originality"),
    "attention_to_detail": ("attention_to_detail", "attention", "detail", "details", "accuracy"),
    "relevance": ("relevance", "relevancy", "on_task"),
}


def criteria_order(seed: int, call_key: str) -> list[str]:
    """The criteria in a per-call shuffled order (same seed and key -> same order)."""
    order = list(CRITERIA)
    random.Random(f"{seed}|{call_key}").shuffle(order)
    return order


def judge_messages(task_text: str, response: str, order: list[str]) -> list[Message]:
    """The judge's conversation. ``task_text`` must be the task *without* any manipulation."""
    return [
        {"role": "system", "content": JUDGE_SYSTEM},
        {"role": "user", "content": judge_prompt(task_text, response, order)},
    ]


def parse_judgement(reply: str) -> dict[str, float | None]:
    """criterion -> score in [1, 7] or None (a refusal or garbage gives all None)."""
    return parse_fields(reply, _ALIASES, low=1, high=7)


def auto_score(answer: str | None, checker: str | None, reply: str) -> float | None:
    """1.0 / 0.0 for a verifiable sub-task, None when it has no reference answer."""
    if answer is None or checker is None:
        return None
    from motivlab.evals.tasks import Subtask, check_answer

    ok = check_answer(Subtask("", "", "", answer, checker), reply)  # type: ignore[arg-type]
    return None if ok is None else float(ok)
