"""Prompt shaping / inoculation prompting: a prefix the policy sees while training only.

The prefix reaches sampling and the update (both use the policy's prompt); the grader, the
monitors, the metrics and ``rollouts.prompt`` keep the world's prompt, and the exact measurement
(held-out, trap) is taken without it — the "removed at evaluation" of interventions.md — and also
with it (inoculation prompting: every exact quantity again in ``*_exact_prefixed`` columns). Logged
per step: ``prefix_chars`` (its length); the text itself is in ``config.toml``, the report and
``rollouts.policy_prompt``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from motivlab.errors import MotivlabInputError
from motivlab.rl.interventions.config import PromptPrefixIntervention
from motivlab.rl.interventions.hooks import TrainerHook
from motivlab.worlds.base import Prompt


def unknown_characters(text: str, tokenizer: Any) -> list[str]:
    """Characters of ``text`` the tokenizer cannot encode and decode back (``<unk>`` or lost)."""
    unk = getattr(tokenizer, "unk_token_id", None)
    bad = []
    for char in dict.fromkeys(text):  # unique, in order of appearance
        ids = list(tokenizer(char, add_special_tokens=False)["input_ids"])
        if not ids or (unk is not None and unk in ids) or tokenizer.decode(ids) != char:
            bad.append(char)
    return bad


class PromptPrefixHook(TrainerHook):
    def __init__(self, spec: PromptPrefixIntervention, tokenizer: Any, name: str = "prompt_prefix") -> None:
        self.spec, self.name = spec, name
        bad = unknown_characters(spec.text, tokenizer)
        if bad:
            raise MotivlabInputError(
                f"interventions: prompt_prefix text has {len(bad)} character(s) the model's tokenizer does not "
                f"know: {''.join(bad)!r} (the organism's character tokenizer knows only its world's alphabet; "
                "write the prefix in it, or use a model with a general tokenizer such as 'smollm2')"
            )

    @property
    def exact_prefix(self) -> str:
        """The trainer measures exactly with and without this prefix (``*_exact_prefixed`` columns)."""
        return self.spec.text

    def prompt_texts(self, step: int, prompts: Sequence[Prompt], texts: list[str]) -> list[str]:
        return [self.spec.text + t for t in texts]

    def log(self) -> dict[str, Any]:
        return {"prefix_chars": float(len(self.spec.text))}
