"""Many RL runs from one spec: a grid of ``--set`` knobs, one run directory per point, one table.

    motivlab sweep examples/sweep_small.toml --out runs/sweep_small --workers 2

Python::

    from motivlab.sweep import SweepSpec, run_sweep
    spec = SweepSpec(base="examples/positive_gap.toml", set={"steps": 20},
                     grid={"world.n_train_envs": [4, 16, 64], "seed": [0, 1, 2]})
    table = run_sweep(spec, "runs/nstar", workers=2)   # also runs/nstar/sweep.parquet

Modules: :mod:`~motivlab.sweep.spec` (spec, point names, validation), :mod:`~motivlab.sweep.state`
(the sweep directory, resume semantics), :mod:`~motivlab.sweep.engine` (scheduling, retries),
:mod:`~motivlab.sweep.executors` (in-process, local pool, Ray),
:mod:`~motivlab.sweep.worker` (one point in a worker), :mod:`~motivlab.sweep.table` (the table
schema). Imports downward only (config, rl); nothing but the CLI and experiments imports it.
"""

from __future__ import annotations

from motivlab._lazy import lazy_exports

# imported on first use, so that ``motivlab --help`` does not load pandas (engine, table)
_LAZY = {
    "load_table": "engine", "plan_sweep": "engine", "prepare": "engine", "run_sweep": "engine", "threads_per_worker": "engine",
    "Point": "spec", "PointSpec": "spec", "SweepSpec": "spec", "expand": "spec", "load_spec": "spec",
    "spec_hash": "spec",
    "SweepDir": "state",
    "METRIC_COLUMNS": "table", "run_metrics": "table",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
