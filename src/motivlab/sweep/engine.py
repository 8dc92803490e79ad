"""``run_sweep``: every point of a spec as an ordinary run directory, on K local workers or on Ray.

    from motivlab.sweep import load_spec, run_sweep
    table = run_sweep("examples/sweep_small.toml", "runs/sweep_small", workers=2)
    table[["point", "status", "p_train"]]

Order of work: validate everything (spec, every point's run config, the output directory, Ray
importable) → take the sweep directory's lock (one sweep per directory at a time) → write the
spec (new directory only) → run the pending points, at most ``workers`` at a time, retrying a
failed point up to ``max_attempts`` → rewrite ``sweep.parquet`` after every finished attempt.

Where points run:

* ``workers = 1``, no Ray: in this process, one after another;
* ``workers = K > 1``: a pool of K long-lived worker processes (``spawn``), each with
  :func:`threads_per_worker` torch threads (``$MOTIVLAB_TORCH_THREADS``, default 1, capped at
  ``cores // K``), so K × threads ≤ cores;
* ``ray = "local"``: a local Ray started with ``num_cpus = K × threads``; ``ray = ADDRESS``: join
  that cluster (``ray.init(address=...)``). Each point is a Ray task with ``num_cpus = threads``,
  K of them in flight. **Shared filesystem assumed**: every Ray node must see the sweep directory
  and the organism cache (``$MOTIVLAB_CACHE``) at the same paths, and have motivlab installed.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from motivlab.errors import MotivlabInputError
from motivlab.sweep.executors import make_executor
from motivlab.sweep.spec import Point, SweepSpec, expand, load_spec, parse_spec, resolve_base, resolved_spec
from motivlab.sweep.state import LOCK_FILE, SweepDir
from motivlab.sweep.table import build_table, write_sweep_table


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Torch threads per worker: ``$MOTIVLAB_TORCH_THREADS`` (default 1, the project's measured best
    for the small organism on a shared machine) capped at ``cores // workers`` (at least 1), so
    workers × threads ≤ cores whenever workers ≤ cores."""
    from motivlab.models.loading import torch_threads

    return max(1, min(torch_threads(), (cores or available_cores()) // workers))


def check_ray(ray: str | None) -> None:
    """``--ray`` needs Ray importable; checked before anything is written."""
    if ray is None:
        return
    if not ray.strip():
        raise MotivlabInputError("--ray: give 'local' or a cluster address (e.g. ray://head:10001 or auto)")
    try:
        import ray as _ray  # noqa: F401
    except ImportError:
        raise MotivlabInputError(f"--ray {ray}: Ray is not installed; pip install 'motivlab[ray]'") from None


def prepare(spec: SweepSpec | str | os.PathLike[str] | Mapping[str, Any], overrides: Sequence[str] = (),
            base_dir: str | os.PathLike[str] | None = None) -> tuple[SweepSpec, dict[str, Any], list[Point]]:
    """``(spec, base config, points)`` with every point's config validated; nothing is written."""
    if isinstance(spec, (str, os.PathLike)):
        spec, base = load_spec(spec, overrides)
    else:
        spec = parse_spec(spec, overrides)
        base = resolve_base(spec, base_dir)
    return spec, base, expand(spec, base)


def run_sweep(
    spec: SweepSpec | str | os.PathLike[str] | Mapping[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    workers: int = 1,
    ray: str | None = None,
    progress: bool = True,
    overrides: Sequence[str] = (),
    base_dir: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Run (or continue) a sweep in ``out_dir``; returns the sweep table (also ``sweep.parquet``).

    ``spec``: a :class:`SweepSpec`, a mapping of one, or a spec TOML path; ``overrides`` are
    ``--set key=value`` strings joining the spec's ``set``; ``base_dir`` resolves a relative
    ``base`` path of an in-memory spec (default: the working directory). Rerunning on the same
    directory skips done points, resumes interrupted ones and retries failed ones while they have
    attempts left; another spec on the same directory is refused.
    """
    if not isinstance(workers, int) or workers < 1:
        raise MotivlabInputError(f"--workers must be a positive integer, got {workers!r}")
    check_ray(ray)
    spec, base, points = prepare(spec, overrides, base_dir)
    resolved = resolved_spec(spec, base)
    sweep = SweepDir(out_dir)
    exists = sweep.check(resolved)
    threads = threads_per_worker(workers)
    if workers > available_cores():
        print(f"note: {workers} workers on {available_cores()} cores: each runs 1 torch thread and they "
              "share the cores (slower per point)", file=sys.stderr)
    executor = make_executor(workers, ray, threads)  # Ray is started or joined before anything is written
    try:
        with _sweep_lock(sweep):
            if not exists:
                sweep.create(resolved, points)
            return _execute(spec, points, sweep, executor, workers=workers, threads=threads, progress=progress)
    finally:
        executor.close()


def plan_sweep(spec: SweepSpec | str | os.PathLike[str] | Mapping[str, Any], out_dir: str | os.PathLike[str], *,
               overrides: Sequence[str] = (), ray: str | None = None,
               base_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The table :func:`run_sweep` would start from (every point validated, statuses of an existing
    sweep directory), with nothing run or written: ``motivlab sweep --dry-run``."""
    check_ray(ray)
    spec, base, points = prepare(spec, overrides, base_dir)
    sweep = SweepDir(out_dir)
    sweep.check(resolved_spec(spec, base))
    return build_table(points, sweep.states([p.name for p in points]), sweep, spec.max_attempts)


@contextlib.contextmanager
def _sweep_lock(sweep: SweepDir) -> Iterator[None]:
    from filelock import FileLock, Timeout

    sweep.path.mkdir(parents=True, exist_ok=True)
    lock = FileLock(sweep.path / LOCK_FILE)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise MotivlabInputError(f"--out {sweep.path}: another motivlab sweep is running on this directory") from None
    try:
        yield
    finally:
        lock.release()


def _execute(spec: SweepSpec, points: list[Point], sweep: SweepDir, executor: Any, *, workers: int,
             threads: int, progress: bool) -> pd.DataFrame:
    names = [p.name for p in points]
    by_name = {p.name: p for p in points}
    states = sweep.states(names)
    cache: dict[str, dict[str, float]] = {}
    queue = _interleave_by_organism([p for p in points if states[p.name].status(spec.max_attempts) == "pending"])

    def table() -> pd.DataFrame:
        df = build_table(points, sweep.states(names), sweep, spec.max_attempts, cache)
        write_sweep_table(df, sweep)
        return df

    df = table()
    if not queue:
        return df
    from motivlab.sweep.progress import SweepProgress

    counts = {s: int((df.status == s).sum()) for s in ("done", "failed")}
    running: dict[str, float] = {}
    with SweepProgress(len(points), counts["done"], counts["failed"], enabled=progress) as bar:
        while queue or running:
            while queue and len(running) < workers:
                point = queue.pop(0)
                sweep.log(point.name, "start", attempt=states[point.name].attempts + 1, threads=threads)
                states[point.name].attempts += 1
                executor.submit(point, str(sweep.run_dir(point.name)))
                running[point.name] = time.perf_counter()
                bar.update(running=len(running))
            result = executor.wait_one()
            name = result["point"]
            running.pop(name, None)
            if result["ok"]:
                sweep.log(name, "done", wall_seconds=result["wall_seconds"], pid=result.get("pid"))
                bar.finished(name, ok=True)
            else:
                sweep.log(name, "failed", wall_seconds=result["wall_seconds"], error=result["error"],
                          traceback=result.get("traceback"), pid=result.get("pid"))
                states[name].failures += 1
                if states[name].failures < spec.max_attempts:
                    queue.append(by_name[name])  # retried after the others
                    bar.note(f"{name} failed ({result['error'][:120]}); retrying")
                else:
                    bar.finished(name, ok=False)
                    bar.note(f"{name} failed {states[name].failures}× — {result['error'][:200]}")
            bar.update(running=len(running))
            table()
    return table()


def _organism_key(point: Point) -> str:
    model = point.config.get("model", {})
    if model.get("spec") != "organism":
        return ""
    import json

    return json.dumps([model.get("organism"), model.get("quick")], sort_keys=True)


def _interleave_by_organism(queue: list[Point]) -> list[Point]:
    """Order the queue round-robin over the organisms the points need, so the first K points (one
    per worker) need different organisms: an organism not yet cached is pretrained by one worker
    while the others pretrain *other* organisms instead of waiting on its lock."""
    groups: dict[str, list[Point]] = {}
    for point in queue:
        groups.setdefault(_organism_key(point), []).append(point)
    ordered: list[Point] = []
    for i in range(max((len(g) for g in groups.values()), default=0)):
        ordered.extend(g[i] for g in groups.values() if i < len(g))
    return ordered


def load_table(out_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """The table of a sweep directory as last written."""
    path = Path(out_dir) / "sweep.parquet"
    if not path.is_file():
        raise MotivlabInputError(f"{out_dir} has no sweep.parquet: not a sweep directory")
    return pd.read_parquet(path)
