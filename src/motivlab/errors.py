"""Errors that mean "the user asked for something invalid" (as opposed to a bug).

They subclass :class:`ValueError` so Python callers can catch them the usual way; the command
line turns them into a one-line message and exit code 2.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


class MotivlabInputError(ValueError):
    """Invalid user input: a config value, a path, a model that does not fit the world."""


def check_range(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Return ``float(value)`` or raise an error naming ``name``, the value and the allowed range.

    Non-finite values are always rejected: a NaN that slips into a simulation becomes a NaN in a
    result, which the project promises never to produce.
    """
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise MotivlabInputError(f"{name} must be a number, got {value!r}") from None
    lo_br = "[" if low_inclusive else "("
    hi_br = "]" if high_inclusive else ")"
    allowed = f"{lo_br}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi_br}"
    if not math.isfinite(x):
        raise MotivlabInputError(f"{name} must be finite and in {allowed}, got {value!r}")
    too_low = low is not None and (x < low or (x == low and not low_inclusive))
    too_high = high is not None and (x > high or (x == high and not high_inclusive))
    if too_low or too_high:
        raise MotivlabInputError(f"{name} must be in {allowed}, got {value!r}")
    return x


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``; otherwise an error listing the choices."""
    allowed = list(allowed)
    if value not in allowed:
        raise MotivlabInputError(f"{name} must be one of {allowed}, got {value!r}")
    return value
