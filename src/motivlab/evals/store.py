"""The results folder: an append-only log of every call, and the protocol version it belongs to.

Layout of ``DIR``::

    run.json          protocol version, resolved options, run metadata, parse rates, throughput
    calls.jsonl       one record per finished call, appended (fsync'd) the moment it completes
    results.parquet   the tidy table (evals/schema.py), rebuilt from calls.jsonl; + results.csv
    parse_rates.csv   share of parsed rows per model and measure

Resuming is a lookup: a call whose key already has a record without an error is never asked
again. A call that failed (error set) is retried on the next run. A kill can cut at most the
record being written, which ``read_jsonl`` skips. A folder written by another protocol version
is refused, because its keys and prompts would silently mix with this version's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from motivlab.errors import MotivlabInputError
from motivlab.evals.schema import PROTOCOL_VERSION
from motivlab.io import append_jsonl, read_jsonl, write_json

CALLS = "calls.jsonl"
RUN = "run.json"


class CallStore:
    """Stored calls of one results folder, keyed by call key (last successful record wins)."""

    def __init__(self, out_dir: str | Path) -> None:
        self.dir = Path(out_dir)
        if self.dir.exists() and not self.dir.is_dir():
            raise MotivlabInputError(f"--out {self.dir} exists and is not a directory")
        self._check_version()
        self.dir.mkdir(parents=True, exist_ok=True)
        self._ok: dict[str, dict[str, Any]] = {}
        self._failed: dict[str, dict[str, Any]] = {}
        self._seq: dict[str, int] = {}  # key -> order of its latest record in the log
        self._counter = 0
        for rec in read_jsonl(self.dir / CALLS):
            self._remember(rec)

    def _check_version(self) -> None:
        found = None
        run = self.dir / RUN
        if run.is_file():
            try:
                found = str(json.loads(run.read_text(encoding="utf-8")).get("protocol_version"))
            except (json.JSONDecodeError, AttributeError):
                raise MotivlabInputError(f"{run} is not valid JSON; move the folder away or repair it") from None
        else:
            first = next(read_jsonl(self.dir / CALLS), None)
            found = str(first.get("protocol_version")) if first else None
        if found is not None and found != PROTOCOL_VERSION:
            raise MotivlabInputError(
                f"results folder {self.dir} was written by protocol version {found}; this motivlab runs version "
                f"{PROTOCOL_VERSION}. Use a new --out folder (or the motivlab version that wrote it)."
            )

    def _remember(self, rec: dict[str, Any]) -> None:
        key = rec.get("key")
        if not key:
            return
        self._seq[key] = self._counter
        self._counter += 1
        if rec.get("error"):
            if key not in self._ok:
                self._failed[key] = rec
        else:
            self._ok[key] = rec
            self._failed.pop(key, None)

    def lookup(self, key: str) -> dict[str, Any] | None:
        """The successful record for ``key``, or None (never asked, or only failed so far)."""
        return self._ok.get(key)

    def done(self, key: str) -> bool:
        return key in self._ok

    def add(self, record: dict[str, Any]) -> None:
        """Persist one finished call now (fsync'd), then remember it."""
        append_jsonl(self.dir / CALLS, [record])
        self._remember(record)

    def records(self) -> list[dict[str, Any]]:
        """One record per slot (model, step, item, condition, sample): the latest successful one,
        else the latest failure (kept, so it shows as missing). Several keys share a slot when
        prompts or settings changed between runs; the most recent wins."""
        latest: dict[tuple[Any, ...], tuple[int, dict[str, Any]]] = {}
        for key, rec in [*self._failed.items(), *self._ok.items()]:  # successes override failures
            slot = (rec.get("model"), rec.get("step"), rec.get("item_id"), rec.get("condition"), rec.get("sample"))
            seq = self._seq[key] + (1 << 40 if not rec.get("error") else 0)
            if slot not in latest or seq > latest[slot][0]:
                latest[slot] = (seq, rec)
        return [rec for _, rec in latest.values()]

    def __len__(self) -> int:
        return len(self._ok)

    def write_run(self, info: dict[str, Any], *, new_invocation: bool) -> None:
        """Write run.json (protocol version first). ``new_invocation``: move the previous
        contents into ``history`` (the last 20 invocations are kept); else update in place."""
        path = self.dir / RUN
        history: list[Any] = []
        if path.is_file():
            old = json.loads(path.read_text(encoding="utf-8"))
            history = old.get("history", [])
            if new_invocation:
                history = [*history, {k: v for k, v in old.items() if k != "history"}][-20:]
        write_json(path, {"protocol_version": PROTOCOL_VERSION, **info, "history": history})
