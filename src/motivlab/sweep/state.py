"""The sweep directory: the resolved spec, an append-only event log, and each point's status.

Layout::

    sweep.toml       the resolved spec (base config inlined), written once
    sweep.json       spec hash, point names, provenance (run_metadata), written once
    events.jsonl     one record per attempt start / finish / failure (fsync'd append)
    sweep.parquet    the table (one row per point), rewritten atomically as points finish; + .csv
    runs/<point>/    an ordinary run directory per point (motivlab.rl.rundir)

A point's status is derived, never stored: **done** when the log has a ``done`` event for it and
its run directory has ``summary.json``; **failed** when it has failed ``max_attempts`` times;
otherwise **pending** (never started, or interrupted — a start without an end). Everything durable
is either appended with an fsync or written through a rename, so a SIGKILL at any moment leaves a
directory that the next ``motivlab sweep`` on it continues: interrupted points resume from their
last checkpoint (the trainer's exact resume), finished ones are skipped.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motivlab.errors import MotivlabInputError
from motivlab.io import append_jsonl, read_jsonl, read_toml, run_metadata, write_json, write_toml
from motivlab.sweep.spec import Point, spec_hash

SPEC_FILE = "sweep.toml"
META_FILE = "sweep.json"
EVENTS_FILE = "events.jsonl"
LOCK_FILE = ".sweep.lock"


@dataclass
class PointState:
    """What the event log says about one point."""

    attempts: int = 0  # attempts started (an interrupted one counts)
    failures: int = 0
    done: bool = False
    error: str | None = None  # the last failure's message
    wall_seconds: float | None = None  # of the successful attempt
    history: list[dict[str, Any]] = field(default_factory=list)

    def status(self, max_attempts: int) -> str:
        if self.done:
            return "done"
        return "failed" if self.failures >= max_attempts else "pending"


class SweepDir:
    """A sweep directory; see the module docstring."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.runs = self.path / "runs"

    def run_dir(self, name: str) -> Path:
        return self.runs / name

    # ---- creation: refuse a directory made by another spec -----------------------------------

    def check(self, resolved: Mapping[str, Any]) -> bool:
        """Whether the directory already holds this sweep (True), is new or empty (False); any
        other content — another spec, files that are not a sweep — is an error naming the path."""
        meta = self.path / META_FILE
        if meta.is_file():
            import json

            saved = json.loads(meta.read_text())
            if saved.get("spec_hash") != spec_hash(resolved):
                raise MotivlabInputError(
                    f"--out {self.path} holds a sweep made with another spec (hash {saved.get('spec_hash')}, this "
                    f"one {spec_hash(resolved)}; the saved spec is {self.path / SPEC_FILE}); use the same spec "
                    "and --set values to continue it, or another --out")
            return True
        if self.path.exists():
            if not self.path.is_dir():
                raise MotivlabInputError(f"--out {self.path} exists and is not a directory")
            leftovers = [p.name for p in self.path.iterdir() if p.name not in (SPEC_FILE, LOCK_FILE)]
            if leftovers:
                raise MotivlabInputError(f"--out {self.path} is not empty and is not a sweep directory "
                                         f"(it holds {sorted(leftovers)[:3]}); choose another --out")
        return False

    def create(self, resolved: Mapping[str, Any], points: Sequence[Point]) -> None:
        """Write the spec, then ``sweep.json`` last: a directory with ``sweep.json`` is complete."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_toml(self.path / SPEC_FILE, resolved)
        meta = run_metadata(None, None)
        meta.pop("config")
        write_json(self.path / META_FILE, {"spec_hash": spec_hash(resolved), "points": [p.name for p in points],
                                           **meta})

    def saved_spec(self) -> dict[str, Any]:
        return read_toml(self.path / SPEC_FILE)

    # ---- the event log ---------------------------------------------------------------------

    def log(self, point: str, event: str, **fields: Any) -> None:
        record = {"point": point, "event": event,
                  "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), **fields}
        append_jsonl(self.path / EVENTS_FILE, [record])

    def states(self, names: Sequence[str]) -> dict[str, PointState]:
        """Each point's state from the log; a ``done`` whose run directory lost its summary is
        pending again (the trainer's resume finishes it)."""
        states = {name: PointState() for name in names}
        for rec in read_jsonl(self.path / EVENTS_FILE):
            st = states.get(rec.get("point"))
            if st is None:
                continue
            st.history.append(rec)
            if rec["event"] == "start":
                st.attempts += 1
            elif rec["event"] == "failed":
                st.failures += 1
                st.error = rec.get("error")
            elif rec["event"] == "done":
                st.done = True
                st.wall_seconds = rec.get("wall_seconds")
        for name, st in states.items():
            if st.done and not (self.run_dir(name) / "summary.json").is_file():
                st.done = False
        return states
