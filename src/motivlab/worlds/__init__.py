"""Worlds: environments whose prompts, grader and route labeller make motivation measurable."""

from motivlab.worlds.base import Prompt, Route, World

__all__ = ["Prompt", "Route", "World"]
