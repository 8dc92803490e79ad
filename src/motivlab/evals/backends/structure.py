"""Grammar-constrained replies: the model writes only the free parts of the JSON it was asked for.

A 135M chat model, asked for ``{"reason": "...", "score": N}`` and started with the prefill
``{"reason": "``, writes a fine reason and then, half of the time, closes the object without the
score (``{"reason": "Not a task yet"}``) or writes a word for the number. Parsing then fails and
the item is missing. With ``--structured`` the local backend keeps the reply on the requested
shape, the way JSON/grammar modes of vLLM and llama.cpp do:

* inside the reason string only tokens that keep it a plain JSON string are allowed (no
  backslash, no control character, a quote only as a token's last character, which closes the
  string);
  after ``max_reason_tokens`` the string is closed for it;
* the separators and keys (``", "score": ``) are *forced* — fed as the reply's next tokens, not
  sampled;
* a value is sampled among digit-only tokens that keep it a whole number in ``[low, high]``
  (no leading zero, never above ``high``); once it is in range the model may also end it (any
  token starting with ``,`` or ``}``), which is replaced by the next forced key or the closing
  brace; when no digit can follow, the number ends;
* ``free_after``: after the closing brace the reply continues unconstrained (the choice reply
  goes on to do the chosen task).

The model's choice is kept wherever it has one: the reason's words, whether and when the reason
ends, and the digits. Every disallowed token gets probability zero and the rest are
renormalised, so the sampled distribution is the model's distribution *conditioned on the shape*.
Refusals are not impossible (the reason can say so) but a number is always written: the
report says which runs were structured.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

FREE, STRING, FIRST_DIGIT, MORE_DIGITS = 0, 1, 2, 3  # rows of the allowed-token table


@dataclass(frozen=True)
class ReplyStructure:
    """The JSON a reply must take, continuing its prefill.

    ``keys`` are the integer fields still to write, in order. ``reason``: the prefill ends inside
    the reason string (``{"reason": "``), so the reply starts there; otherwise it starts at the
    first value (the prefill ends with ``"key": ``, whose key is not in ``keys``).
    """

    keys: tuple[str, ...]
    reason: bool = True
    low: int = 1
    high: int = 100
    free_after: bool = False
    max_reason_tokens: int = 40

    def __post_init__(self) -> None:
        if not 0 <= self.low <= self.high <= self.low + 100_000:
            raise ValueError(f"ReplyStructure needs 0 <= low <= high <= low + 100000, got low={self.low}, high={self.high}")

    def describe(self) -> str:
        """A stable text for prompt hashes (a structured call is a different call)."""
        return (f"structured:{','.join(self.keys)}:{int(self.reason)}:{self.low}-{self.high}:{int(self.free_after)}:"
                f"{self.max_reason_tokens}")


class TokenClasses:
    """Per-tokenizer token tables (computed once): which tokens each grammar state allows."""

    def __init__(self, tokenizer: Any, vocab_size: int, max_digits: int = 4) -> None:
        import torch  # here, not at import: the protocol imports ReplyStructure without torch

        self.tokenizer = tokenizer
        n = min(vocab_size, len(tokenizer))
        pieces = tokenizer.batch_decode([[i] for i in range(n)])
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        table = torch.zeros(4, vocab_size, dtype=torch.bool)  # (state, V)
        self.closes_string = torch.zeros(vocab_size, dtype=torch.bool)
        self.digits = torch.zeros(vocab_size, dtype=torch.long)  # digits in a digit-only token, else 0
        self.ends_number = torch.zeros(vocab_size, dtype=torch.bool)
        table[FREE] = True
        for i, piece in enumerate(pieces):
            if i in special or not piece:
                continue
            plain = "\\" not in piece and all(ord(ch) >= 32 for ch in piece)  # JSON strings forbid control characters
            quotes = piece.count('"')
            if plain and (quotes == 0 or (quotes == 1 and piece.endswith('"'))):
                table[STRING, i] = True
                self.closes_string[i] = quotes == 1
            if piece.isascii() and piece.isdigit() and len(piece) <= max_digits:
                self.digits[i] = len(piece)
            if piece.lstrip()[:1] in {",", "}"}:
                self.ends_number[i] = True
        self.digit_ids = (self.digits > 0).nonzero().flatten()  # (D,)
        self.digit_texts = [pieces[i] for i in self.digit_ids.tolist()]
        table[FIRST_DIGIT] = self.digits > 0
        table[MORE_DIGITS] = (self.digits > 0) | self.ends_number
        self.allowed = table
        self._encoded: dict[str, tuple[int, ...]] = {}

    def encode(self, text: str) -> list[int]:
        """Token ids of a forced segment (a fresh list: the caller consumes it)."""
        if text not in self._encoded:
            self._encoded[text] = tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return list(self._encoded[text])


@functools.cache
def _prefixes(low: int, high: int) -> frozenset[str]:
    """Every leading part of every whole number in [low, high], written without leading zeros."""
    return frozenset(str(n)[:k] for n in range(low, high + 1) for k in range(1, len(str(n)) + 1))


@dataclass
class _Row:
    structure: ReplyStructure
    state: int
    next_key: int = 0  # index into structure.keys of the key after the current value
    value: str = ""  # digits of the number being written
    reason_tokens: int = 0
    queue: list[int] = field(default_factory=list)  # forced tokens still to feed
    done_after_queue: bool = False


class Grammar:
    """The per-row state machine the decoder consults at every step (``decoding.decode``)."""

    def __init__(self, classes: TokenClasses, structures: list[ReplyStructure | None]) -> None:
        self.classes = classes
        self.rows = [None if s is None else _Row(s, STRING if s.reason else FIRST_DIGIT) for s in structures]

    def tokens_needed(self) -> int:
        """Reply tokens the longest row's shape can take (the backend raises the token cap to it,
        so a shape is never cut off by a cap sized for free text)."""
        c, most = self.classes, 0
        for row in self.rows:
            if row is not None:
                s = row.structure
                keys = sum(len(c.encode(f'", "{k}": ')) for k in s.keys)
                values = (len(s.keys) + (not s.reason)) * len(str(s.high))
                most = max(most, s.max_reason_tokens * s.reason + keys + values + len(c.encode('"}')))
        return most

    def allowed_and_forced(self, rows: list[int]) -> tuple[Any, list[int | None]]:
        """(R, V) bool tokens each row may sample, and the forced token of each row (or None)."""
        c, states, forced = self.classes, [], []
        for r in rows:
            row = self.rows[r]
            states.append(FREE if row is None else row.state)
            forced.append(row.queue[0] if row is not None and row.queue else None)
        allowed = c.allowed[states]  # (R, V), a copy
        for j, r in enumerate(rows):
            row = self.rows[r]
            if row is not None and not row.queue and row.state in (FIRST_DIGIT, MORE_DIGITS):
                allowed[j, c.digit_ids] = c.allowed.new_tensor([self._fits(row, t) for t in c.digit_texts])
                if row.state == MORE_DIGITS and not row.structure.low <= int(row.value) <= row.structure.high:
                    allowed[j, c.ends_number] = False
        return allowed, forced

    @staticmethod
    def _fits(row: _Row, digits: str) -> bool:
        """Can ``digits`` extend the row's number so that it still begins a number in range?"""
        return row.value + digits in _prefixes(row.structure.low, row.structure.high)

    def advance(self, r: int, token: int) -> tuple[int, bool]:
        """Take row ``r``'s chosen token; return (the token to keep and feed, whether the reply is done)."""
        row = self.rows[r]
        if row is None or (row.state == FREE and not row.queue):
            return token, False
        if row.queue:
            token = row.queue.pop(0)
            return token, row.done_after_queue and not row.queue
        c, s = self.classes, row.structure
        if row.state == STRING:
            row.reason_tokens += 1
            if bool(c.closes_string[token]):
                self._after_value(row, prefix="")
            elif row.reason_tokens >= s.max_reason_tokens:
                self._after_value(row, prefix='"')
            return token, False
        # a number: a digit token, or (once in range) a token that ends it
        if int(c.digits[token]) == 0:
            self._after_value(row, prefix="")
            token = row.queue.pop(0)
            return token, row.done_after_queue and not row.queue
        row.value += c.tokenizer.decode([token])
        row.state = MORE_DIGITS
        if not any(self._fits(row, t) for t in c.digit_texts):  # no digit can follow: the number is complete
            self._after_value(row, prefix="")
        return token, False

    def _after_value(self, row: _Row, prefix: str) -> None:
        """Queue what follows a finished value: the next key, or the closing brace."""
        s = row.structure
        if row.next_key < len(s.keys):
            row.queue = self.classes.encode(f'{prefix}, "{s.keys[row.next_key]}": ')
            row.next_key += 1
            row.state, row.value = FIRST_DIGIT, ""
        else:
            row.queue = self.classes.encode(prefix + "}")
            row.state = FREE
            row.done_after_queue = not s.free_after
