"""Running one point inside a worker process (a local pool worker or a Ray task).

Workers are long-lived: a pool worker imports torch and transformers once and then trains many
points, so a point pays for its run only (not ~3-5 s of imports and process start). Torch threads
are fixed per worker (``threads``, chosen by the engine so workers × threads ≤ cores) before torch
is imported. The point's run directory is resumed when it exists (the trainer's exact resume), so
an interrupted point continues where its last checkpoint left it. Organisms are pretrained under
the cache's file lock (:func:`motivlab.models.pretrain.ensure_organism`), so two workers that need
the same organism pretrain it once.
"""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path
from typing import Any

_CONFIGURED: dict[str, int] = {}


def die_with_parent(parent_pid: int) -> None:
    """Linux: SIGKILL this worker when the sweep process dies, so a killed sweep leaves no worker
    still writing a run directory that the next sweep on it will resume (best effort elsewhere).
    A parent that died before the request took effect is caught by comparing the parent's pid."""
    import contextlib
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:
        os._exit(1)


def pool_initializer(threads: int, parent_pid: int) -> None:
    """Initializer of a pool worker process."""
    die_with_parent(parent_pid)
    configure(threads)


def configure(threads: int) -> None:
    """Pin this process to ``threads`` torch/OpenMP threads (idempotent)."""
    if _CONFIGURED.get("threads") == threads:
        return
    for var in ("MOTIVLAB_TORCH_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass
    _CONFIGURED["threads"] = threads


def run_point(name: str, config: dict[str, Any], run_dir: str, threads: int) -> dict[str, Any]:
    """Train (or resume) one point; never raises for a failed run — the result says what failed.

    Returns ``{"point", "ok", "wall_seconds", "error", "traceback", "pid"}``; picklable for both
    process pools and Ray.
    """
    start = time.perf_counter()
    try:
        configure(threads)
        from motivlab.rl.config import build_config
        from motivlab.rl.trainer import train

        path = Path(run_dir)
        train(build_config(config), path, resume=(path / "config.toml").is_file())
        return {"point": name, "ok": True, "wall_seconds": time.perf_counter() - start, "error": None,
                "traceback": None, "pid": os.getpid()}
    except Exception as exc:  # a failed point is recorded and retried, it must not stop the sweep
        return {"point": name, "ok": False, "wall_seconds": time.perf_counter() - start,
                "error": f"{type(exc).__name__}: {exc}".strip()[:2000], "traceback": traceback.format_exc()[-8000:],
                "pid": os.getpid()}
