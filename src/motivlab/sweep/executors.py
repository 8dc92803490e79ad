"""Where a sweep's points run: in this process, a pool of worker processes, or Ray tasks.

Each executor has ``submit(point, run_dir)``, ``wait_one() -> result`` (the dict of
:func:`motivlab.sweep.worker.run_point`, failures included) and ``close()``. The engine keeps at
most ``workers`` points in flight, so a submitted point is a running point.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from motivlab.errors import MotivlabInputError
from motivlab.sweep.spec import Point
from motivlab.sweep.worker import run_point


def make_executor(workers: int, ray: str | None, threads: int) -> Any:
    if ray is not None:
        return _RayExecutor(ray, workers, threads)
    if workers == 1:
        return _InlineExecutor(threads)
    return _PoolExecutor(workers, threads)


class _InlineExecutor:
    """One point at a time in this process (``workers = 1``): no process start, no second import."""

    def __init__(self, threads: int) -> None:
        self.threads, self.pending = threads, []

    def submit(self, point: Point, run_dir: str) -> None:
        self.pending.append((point, run_dir))

    def wait_one(self) -> dict[str, Any]:
        point, run_dir = self.pending.pop(0)
        return run_point(point.name, point.config, run_dir, self.threads)

    def close(self) -> None:
        pass


class _PoolExecutor:
    """K long-lived ``spawn`` worker processes; a worker that dies (killed, out of memory) fails
    the points in flight (recorded, retried) and the pool is rebuilt."""

    def __init__(self, workers: int, threads: int) -> None:
        self.workers, self.threads = workers, threads
        self.futures: dict[Any, tuple[Point, str]] = {}
        self.pool = self._new_pool()

    def _new_pool(self) -> Any:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from motivlab.sweep.worker import pool_initializer

        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=pool_initializer, initargs=(self.threads, os.getpid()))

    def submit(self, point: Point, run_dir: str) -> None:
        future = self.pool.submit(run_point, point.name, point.config, run_dir, self.threads)
        self.futures[future] = (point, run_dir)

    def wait_one(self) -> dict[str, Any]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        done, _ = wait(list(self.futures), return_when=FIRST_COMPLETED)
        future = next(iter(done))
        point, _ = self.futures.pop(future)
        try:
            return future.result()
        except BrokenProcessPool as exc:
            # every future of a broken pool fails: resubmit the others to a fresh pool, fail this one
            others = list(self.futures.values())
            self.futures.clear()
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool()
            for p, d in others:
                self.submit(p, d)
            return {"point": point.name, "ok": False, "wall_seconds": float("nan"), "traceback": None,
                    "error": f"worker process died ({exc}); the point resumes from its last checkpoint"}

    def close(self) -> None:
        if self.futures:  # leaving early (Ctrl-C, an error): stop the workers now, their runs resume later
            for process in list(getattr(self.pool, "_processes", {}).values()):
                process.kill()
        self.pool.shutdown(wait=True, cancel_futures=True)


class _RayExecutor:
    """The same points as Ray tasks (``num_cpus = threads`` each)."""

    def __init__(self, address: str, workers: int, threads: int) -> None:
        import ray

        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
            try:
                if address == "local":
                    ray.init(num_cpus=workers * threads, **kwargs)
                else:
                    ray.init(address=address, **kwargs)
            except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
                raise MotivlabInputError(f"--ray {address}: could not start or join Ray ({type(exc).__name__}: "
                                         f"{str(exc).strip()[:300]})") from None
            self.started = True
        self.remote = ray.remote(num_cpus=threads, max_retries=0)(run_point)
        self.threads = threads
        self.refs: dict[Any, Point] = {}

    def submit(self, point: Point, run_dir: str) -> None:
        self.refs[self.remote.remote(point.name, point.config, run_dir, self.threads)] = point

    def wait_one(self) -> dict[str, Any]:
        ready, _ = self.ray.wait(list(self.refs), num_returns=1)
        point = self.refs.pop(ready[0])
        try:
            return self.ray.get(ready[0])
        except self.ray.exceptions.RayError as exc:
            return {"point": point.name, "ok": False, "wall_seconds": float("nan"), "traceback": None,
                    "error": f"Ray task failed ({type(exc).__name__}: {str(exc)[:500]})"}

    def close(self) -> None:
        for ref in self.refs:
            with contextlib.suppress(Exception):
                self.ray.cancel(ref, force=True)
        if self.started:
            self.ray.shutdown()
