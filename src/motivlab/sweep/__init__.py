"""Many RL runs from one spec: a grid of ``--set`` knobs, one run directory per point, one table.

    motivlab sweep examples/sweep_small.toml --out runs/sweep_small --workers 2

Python::

    from motivlab.sweep import SweepSpec, run_sweep
    spec = SweepSpec(base="examples/positive_gap.toml", set={"steps": 20},
                     grid={"world.n_train_envs": [4, 16, 64], "seed": [0, 1, 2]})
    table = run_sweep(spec, "runs/nstar", workers=2)   # also runs/nstar/sweep.parquet

Modules: :mod:`~motivlab.sweep.spec` (spec, point names, validation), :mod:`~motivlab.sweep.state`
(the sweep directory, resume semantics), :mod:`~motivlab.sweep.engine` (local pool / Ray),
:mod:`~motivlab.sweep.worker` (one point in a worker), :mod:`~motivlab.sweep.table` (the table
schema). Imports downward only (config, rl); nothing but the CLI and experiments imports it.
"""

from motivlab.sweep.engine import load_table, prepare, run_sweep, threads_per_worker
from motivlab.sweep.spec import Point, PointSpec, SweepSpec, expand, load_spec, spec_hash
from motivlab.sweep.state import SweepDir
from motivlab.sweep.table import METRIC_COLUMNS, run_metrics

__all__ = [
    "METRIC_COLUMNS", "Point", "PointSpec", "SweepDir", "SweepSpec", "expand", "load_spec", "load_table",
    "prepare", "run_metrics", "run_sweep", "spec_hash", "threads_per_worker",
]
