"""Worlds: environments whose prompts, grader and route labeller make motivation measurable."""

from motivlab.worlds.base import Prompt, Route, World, grade_batch
from motivlab.worlds.hint import HintWorld
from motivlab.worlds.hint_config import HintWorldConfig
from motivlab.worlds.nl import NLWorld
from motivlab.worlds.nl_config import NLWorldConfig

__all__ = ["HintWorld", "HintWorldConfig", "NLWorld", "NLWorldConfig", "Prompt", "Route", "World", "grade_batch"]
