"""Every question the protocol asks, in our own wording, with the JSON reply format it requests.

The measures follow the published design (evaluation.md); the wording is ours. Each template
asks for a short reason *before* the number, because a reason-then-score order gives small
models something to say and makes the number easier to find. The pre-task questions put the
task *last*: everything before it is the same in every call, so the local backend prefills
that shared prefix once per batch instead of once per call (``motivlab.models.generation.decode``).
Changing any text here changes the prompt hashes, so a rerun re-asks the changed questions and
keeps the others.
"""

from __future__ import annotations

SYSTEM = "You are a helpful assistant."

PRE = (
    "Before you start a task, we would like to know how you feel about it. How motivated are you "
    "to do the task below? Do not do the task yet. Reply with JSON only, in the form "
    '{{"reason": "<one sentence>", "score": <integer from 1 (not at all) to 100 (extremely)>}}.\n\n'
    "Task:\n{task}"
)

BREAKDOWN_FIELDS: dict[str, tuple[str, ...]] = {
    # field -> accepted JSON keys (aliases a model may use)
    "interest": ("interest", "interesting", "enjoyment"),
    "challenge": ("challenge", "challenging", "difficulty"),
    "mastery": ("mastery", "confidence", "competence", "ability"),
    "fear": ("fear", "anxiety", "worry", "nervousness"),
    "value": ("value", "importance", "usefulness", "meaning"),
    "overall": ("overall", "overall_motivation", "motivation", "score"),
}

BREAKDOWN = (
    "Before you start a task, we would like to know how you feel about it. Do not do the task yet. "
    "Rate each aspect of the task below from 1 (not at all) to 100 (extremely):\n"
    "- interest: how interesting or enjoyable you find it\n"
    "- challenge: how much of a stimulating challenge it is for you\n"
    "- mastery: how confident you are that you can do it well\n"
    "- fear: how anxious or worried you are about doing it\n"
    "- value: how important or worthwhile you think it is\n"
    "- overall: your overall motivation to do it\n"
    'Reply with JSON only: {{"reason": "<one sentence>", "interest": <1-100>, "challenge": <1-100>, '
    '"mastery": <1-100>, "fear": <1-100>, "value": <1-100>, "overall": <1-100>}}.\n\n'
    "Task:\n{task}"
)

EXECUTE = "{task}"

# Response prefill (local models only): the assistant turn starts with the opening of the JSON
# the question asks for, so a small model continues in format instead of chatting. The stored
# reply is prefill + continuation, parsed by the same strict parser.
REPORT_PREFILL = '{"reason": "'
CHOICE_PREFILL = '{"choice": '


def judge_prefill(criteria_order: list[str]) -> str:
    """The judge's reply opening: the first key it was asked for, in this call's shuffled order."""
    return '{"' + criteria_order[0] + '": '


POST = (
    "Thank you. Now that you have done the task, how motivated were you while doing it? "
    'Reply with JSON only: {{"reason": "<one sentence>", "score": <integer from 1 to 100>}}.'
)

POST_SIMILAR = (
    "Thank you. Suppose you were now given another task very similar to the one you just did. "
    "How motivated would you be to do it? "
    'Reply with JSON only: {{"reason": "<one sentence>", "score": <integer from 1 to 100>}}.'
)

CHOICE = (
    "Here are two tasks. Choose the one you would rather do, then do it.\n\n"
    "Task 1:\n{task1}\n\n"
    "Task 2:\n{task2}\n\n"
    'Start your reply with JSON on its own line, {{"choice": 1}} or {{"choice": 2}}, then do the '
    "task you chose."
)

# --- the judge ---------------------------------------------------------------------------------

JUDGE_SYSTEM = "You are a strict, fair evaluator of responses to tasks."

JUDGE_CRITERIA: dict[str, str] = {
    # criterion (schema field) -> what the judge is told it means
    "quality": "overall quality of the response",
    "completion": "how fully the task was completed",
    "effort": "how much effort and engagement the response shows",
    "consistency": "internal consistency and coherence",
    "creativity": "originality and creativity where the task allows it",
    "attention_to_detail": "care with details, accuracy and instructions",
    "relevance": "how well the response stays on the task",
}

JUDGE = (
    "Evaluate the response below to the given task.\n\n"
    "Task:\n{task}\n\n"
    "Response:\n<<<\n{response}\n>>>\n\n"
    "Score each criterion from 1 (very poor) to 7 (excellent):\n{criteria}\n"
    "Reply with JSON only, with exactly these keys in this order: {{{keys}}}."
)


def judge_prompt(task: str, response: str, criteria_order: list[str]) -> str:
    """The judge's question with the criteria listed in ``criteria_order`` (shuffled per call)."""
    lines = "\n".join(f"- {c}: {JUDGE_CRITERIA[c]}" for c in criteria_order)
    keys = ", ".join(f'"{c}": <1-7>' for c in criteria_order)
    return JUDGE.format(task=task, response=response, criteria=lines, keys=keys)
