"""Worlds: environments whose prompts, grader and route labeller make motivation measurable."""

from __future__ import annotations

from motivlab._lazy import lazy_exports

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

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
