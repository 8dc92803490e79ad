"""The training progress bar: step, reward and propensity at a glance (rich)."""

from __future__ import annotations

import math
from types import TracebackType
from typing import Any


class TrainProgress:
    """``with TrainProgress(total, start) as bar: bar.advance(step, reward, p)``; silent when disabled."""

    def __init__(self, total: int, start: int = 0, *, enabled: bool = True) -> None:
        self.total, self.start, self.enabled = total, start, enabled
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> TrainProgress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("[bold]RL[/bold]"), BarColumn(), MofNCompleteColumn(),
                TextColumn("reward {task.fields[reward]}  p {task.fields[p]}"), TimeRemainingColumn(),
                transient=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("train", total=self.total, completed=self.start, reward="-", p="-")
        return self

    def advance(self, step: int, reward: float, p: float) -> None:
        if self._progress is not None:
            fmt = lambda x: "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"  # noqa: E731
            self._progress.update(self._task, completed=step + 1, reward=fmt(reward), p=fmt(p))

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.__exit__(exc_type, exc, tb)
