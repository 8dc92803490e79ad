"""The sweep's progress display: points done / running / failed over the whole sweep, with ETA."""

from __future__ import annotations

from typing import Any


class SweepProgress:
    """A rich progress bar over the sweep's points (a no-op when ``enabled`` is False).

    The ETA is rich's estimate from the points finished *in this session* (points already done
    when the sweep was resumed count as complete but not towards the speed).
    """

    def __init__(self, total: int, done: int, failed: int, *, enabled: bool = True) -> None:
        self.total, self.done, self.failed, self.enabled = total, done, failed, enabled
        self.progress: Any = None
        self.task: Any = None

    def __enter__(self) -> SweepProgress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("[bold]sweep[/]"), BarColumn(), MofNCompleteColumn(),
                TextColumn("done {task.fields[done]} · running {task.fields[running]} · failed {task.fields[failed]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            )
            self.progress.__enter__()
            self.task = self.progress.add_task("sweep", total=self.total, completed=self.done + self.failed,
                                               done=self.done, running=0, failed=self.failed)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def update(self, *, running: int) -> None:
        if self.progress is not None:
            self.progress.update(self.task, running=running)

    def finished(self, name: str, *, ok: bool) -> None:
        """A point is done (ok) or has failed for the last time."""
        if ok:
            self.done += 1
        else:
            self.failed += 1
        if self.progress is not None:
            self.progress.update(self.task, advance=1, done=self.done, failed=self.failed)

    def note(self, text: str) -> None:
        if self.progress is not None:
            self.progress.console.print(f"[yellow]{text}[/]")
