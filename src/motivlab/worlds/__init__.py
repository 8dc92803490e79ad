"""Worlds: environments whose prompts, grader and route labeller make motivation measurable."""

from __future__ import annotations

import importlib
from typing import Any

# imported on first use, so that ``motivlab --help`` stays fast (no numpy, pydantic, torch)
_LAZY = {
    "HintWorld": "hint",
    "HintWorldConfig": "hint_config",
    "NLWorld": "nl",
    "NLWorldConfig": "nl_config",
    "Prompt": "base",
    "Route": "base",
    "World": "base",
    "grade_batch": "base",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'motivlab.worlds' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"motivlab.worlds.{module}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
