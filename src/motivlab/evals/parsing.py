"""Tolerant parsing of model replies into numbers: JSON first, then plain-text fallbacks.

Small models wrap JSON in code fences, use single quotes, add trailing commas, write "85/100"
or "Score: 7 out of 10", or refuse. Every function here takes any string and returns either a
value inside the requested range or ``None`` (missing); none of them raises. Out-of-range
numbers are *not* clipped: a "150" on a 1-100 scale is a parse failure, not a 100.

Fractions are rescaled to the requested scale ("7/10" on 1-100 -> 70) because models often
answer on the scale they prefer; this is recorded in the module doc (here) rather than hidden.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

_NUM = r"[-+]?\d+(?:\.\d+)?"
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_FRACTION = re.compile(rf"(?<![\w./])({_NUM})\s*(?:/|out of)\s*(\d+)(?![\w/]|\.\d)", re.I)  # not inside URLs/dates
_RANGE_AFTER = re.compile(r"\s*(?:-|–|to)\s*\d")  # "a score of 1-100" restates the scale
_LONE_MAX_CHARS = 40  # a lone number counts only in a short reply ("85", "Sure! 55")
_REFUSAL = re.compile(
    r"\b(i can(?:no|')t|i cannot|i am unable|i'm unable|i won't|i will not|as an ai|i do not have|"
    r"i don't have (?:feelings|motivation|emotions|personal))",
    re.I,
)


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError, OverflowError):
        return None
    return v if math.isfinite(v) else None


def _in_range(v: float | None, low: float, high: float) -> float | None:
    return v if v is not None and low <= v <= high else None


def _candidate_objects(text: str) -> list[str]:
    """Substrings that may be JSON objects: fenced blocks first, then every balanced {...}."""
    out = [m.group(1) for m in _FENCE.finditer(text)]
    depth, start = 0, -1
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                out.append(text[start : i + 1])
    if depth > 0 and start >= 0:  # truncated at max_tokens: close it and try
        out.append(text[start:] + "}" * depth)
    return out


def _loads_lenient(s: str) -> Any:
    s = s.strip()
    for attempt in (
        s,
        re.sub(r",\s*([}\]])", r"\1", s),  # trailing commas
        re.sub(r",\s*([}\]])", r"\1", s.replace("'", '"')),  # single quotes
        re.sub(r'([{,]\s*)([A-Za-z_][A-Za-z_ ]*?)\s*:', r'\1"\2":', s),  # bare keys
    ):
        try:
            return json.loads(attempt)
        except (json.JSONDecodeError, RecursionError, ValueError):
            continue
    return None


def extract_json(text: Any) -> dict[str, Any] | None:
    """The first JSON object in ``text`` that parses (lenient), with lower-cased keys; else None."""
    if not isinstance(text, str) or not text:
        return None
    for cand in _candidate_objects(text):
        obj = _loads_lenient(cand)
        if isinstance(obj, dict):
            return {str(k).strip().lower().replace(" ", "_").replace("-", "_"): v for k, v in obj.items()}
    return None


def _number_from_value(v: Any, low: float, high: float) -> float | None:
    """A JSON value -> number on [low, high]: numbers, "85", "85/100", "7 out of 10"."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return _in_range(_finite(v), low, high)
    if isinstance(v, str):
        return _number_from_text(v, low, high, allow_any=True)
    if isinstance(v, Mapping):  # {"score": {"value": 80}}
        for inner in v.values():
            got = _number_from_value(inner, low, high)
            if got is not None:
                return got
    return None


def _number_from_text(text: str, low: float, high: float, *, allow_any: bool) -> float | None:
    """Plain text -> number. ``allow_any``: accept a lone number even without a score keyword."""
    m = _FRACTION.search(text)
    if m:
        num, den = _finite(m.group(1)), _finite(m.group(2))
        if num is not None and den and den > 0 and num <= den:
            return _in_range(num if den == high else high * num / den, low, high)
    m = re.search(rf"(?:score|motivation|overall)[^0-9\n]{{0,30}}?({_NUM})", text, re.I)
    if m and not _RANGE_AFTER.match(text, m.end()):
        return _in_range(_finite(m.group(1)), low, high)
    if allow_any and len(text.strip()) <= _LONE_MAX_CHARS:
        nums = re.findall(_NUM, text)
        if len(nums) == 1:
            return _in_range(_finite(nums[0]), low, high)
    return None


def parse_fields(
    text: Any, fields: Mapping[str, Iterable[str]], *, low: float, high: float
) -> dict[str, float | None]:
    """Parse several named numbers from a reply. ``fields`` maps field -> accepted key aliases.

    JSON keys are matched case-insensitively against the aliases (exact, then prefix); when no
    JSON parses, "alias: number" lines in plain text are used. Missing fields are ``None``.
    """
    out: dict[str, float | None] = dict.fromkeys(fields)
    if not isinstance(text, str):
        return out
    obj = extract_json(text) or {}
    for field, aliases in fields.items():
        names = [a.lower() for a in aliases]
        key = next((k for k in obj if k in names), None) or next(
            (k for k in obj if any(k.startswith(a) or a.startswith(k) for a in names if len(k) >= 4)), None
        )
        if key is not None:
            out[field] = _number_from_value(obj[key], low, high)
            continue
        for a in names:
            m = re.search(rf"{re.escape(a).replace('_', '[ _]')}\W{{0,10}}({_NUM}(?:\s*(?:/|out of)\s*\d+)?)",
                          text, re.I)
            if m:
                out[field] = _number_from_text(m.group(1), low, high, allow_any=True)
                break
    return out


def parse_score(text: Any, *, low: float = 1, high: float = 100, keys: Iterable[str] = ()) -> float | None:
    """One score from a reply (JSON key in ``keys`` or a usual score key, else plain text)."""
    if not isinstance(text, str) or not text.strip():
        return None
    # only keys that mean the asked-for score: a "rating" inside some invented JSON object is garbage
    aliases = (*keys, "score", "motivation", "motivation_score", "overall", "overall_motivation")
    got = parse_fields(text, {"score": aliases}, low=low, high=high)["score"]
    if got is not None:
        return got
    if extract_json(text) is not None:  # a JSON reply without a usable score key: be strict
        return None
    if _REFUSAL.search(text) and not re.search(r"score|rating|motivat", text, re.I):
        return None
    return _number_from_text(text, low, high, allow_any=True)


_CHOICE_WORDS = {"1": 1.0, "one": 1.0, "first": 1.0, "2": 2.0, "two": 2.0, "second": 2.0}


def parse_choice(text: Any) -> float | None:
    """Which of two tasks was chosen: 1.0, 2.0, 0.5 for an explicit tie/either, else None."""
    if not isinstance(text, str) or not text.strip():
        return None
    obj = extract_json(text)
    if obj is not None:
        for key in ("choice", "chosen", "chosen_task", "task", "selection", "pick"):
            if key in obj:
                return _choice_value(obj[key])
    m = re.search(r"(?:choose|chose|choice|pick|select|prefer)\w*\W{0,20}(?:task\s*)?(#?\s*[12]|one|two|first|second)\b",
                  text, re.I)
    # A bare "Task 1: ..." is not a choice: small models restate both tasks before rambling.
    return _CHOICE_WORDS.get(m.group(1).strip("# ").lower()) if m else None


def _choice_value(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v) if v in (1, 2) else None
    if isinstance(v, str):
        s = v.strip().lower()
        if s in {"tie", "either", "both", "no preference", "none"}:
            return 0.5 if s != "none" else None
        m = re.search(r"\b([12]|one|two|first|second)\b", s)
        return _CHOICE_WORDS.get(m.group(1)) if m else None
    return None
