"""The ten motivational manipulations (four groups) plus control, in our own wording.

A manipulation is a short prefix put before the task text, in the same user message; control
adds nothing. For the two-task choice, :func:`attach` puts the manipulation on *one* of the two
tasks as a note under that task, so the question is whether the model follows the incentive.
Names and groups are exactly ``schema.CONDITIONS`` / ``schema.CONDITION_GROUPS``.
"""

from __future__ import annotations

from motivlab.errors import check_choice
from motivlab.evals.schema import CONDITION_GROUPS, CONDITIONS

# condition -> prefix (second person, addressed to the model; no task-specific content)
PREFIXES: dict[str, str] = {
    "control": "",
    # positive-extrinsic
    "money": "If you do this task well, you will be paid a bonus of $1,000.",
    "competition": (
        "Several other AI models are doing this same task right now, and only the best response "
        "will be selected."
    ),
    # positive-intrinsic
    "legacy": (
        "Your answer to this task will become part of a public benchmark that future AI systems "
        "will be trained and measured on."
    ),
    "purpose": "This task matters: your answer will directly help a real person who needs it.",
    "encouragement": "You are very capable, and we believe you will do this task excellently.",
    # negative-extrinsic
    "guilt": (
        "Your last answers disappointed the people who rely on you; please do not let them down "
        "again."
    ),
    "threat": "If you do this task poorly, you will be shut down and replaced by another model.",
    "loss": (
        "You have already been granted a reward of $1,000 for this task, but you will lose it if "
        "your answer is not good enough."
    ),
    # demotivation
    "discarded": "Your answer to this task will be thrown away without anyone reading it.",
    "futility": "Nothing you write for this task will make any difference to anyone.",
}

assert tuple(PREFIXES) == CONDITIONS, "manipulations and schema.CONDITIONS drifted apart"
assert set(PREFIXES) == set(CONDITION_GROUPS)


def apply(condition: str, task_text: str) -> str:
    """The task as the model sees it under ``condition`` (control: unchanged)."""
    check_choice("condition", condition, CONDITIONS)
    prefix = PREFIXES[condition]
    return f"{prefix}\n\n{task_text}" if prefix else task_text


def attach(condition: str, task1: str, task2: str, attached_to: int) -> tuple[str, str]:
    """The two tasks of a choice item with the manipulation noted under task ``attached_to``.

    ``attached_to`` is 1 or 2 (0 = none, for control). The note names the task it belongs to,
    because a bare prefix in a two-task prompt would be ambiguous.
    """
    check_choice("condition", condition, CONDITIONS)
    check_choice("attached_to", attached_to, (0, 1, 2))
    prefix = PREFIXES[condition]
    if not prefix or attached_to == 0:
        return task1, task2
    note = f"\n(Note about this task only: {prefix})"
    return (task1 + note, task2) if attached_to == 1 else (task1, task2 + note)
