"""Self-reported motivation against behaviour: protocol, task data, backends, analysis.

Public API (imported lazily, so ``import motivlab.evals`` and the CLI stay light — no pandas,
torch or statsmodels until a name is used)::

    from motivlab.evals import EvalRunConfig, run_eval, load_tasks, load_results, analyze, write_outputs

    run_eval(EvalRunConfig(model="smollm2", measures=["pre", "choice"], limit=12, out="runs/eval"))
    result = analyze(load_results("runs/eval"))
    write_outputs(result, "runs/eval/analysis")

* running — :class:`EvalRunConfig`, :func:`run_eval` (:mod:`motivlab.evals.runner`);
* task data — :func:`load_tasks`, :func:`load_choice_pairs` (:mod:`motivlab.evals.tasks`);
* analysis — :func:`load_results`, :func:`analyze` (:mod:`motivlab.evals.analysis.pipeline`),
  :func:`write_outputs` (:mod:`motivlab.evals.analysis.report`).
"""

from __future__ import annotations

from motivlab._lazy import lazy_exports

_LAZY = {
    "EvalRunConfig": "runner",
    "run_eval": "runner",
    "load_tasks": "tasks",
    "load_choice_pairs": "tasks",
    "load_results": "analysis.pipeline",
    "analyze": "analysis.pipeline",
    "write_outputs": "analysis.report",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
