"""motivlab: a laboratory for how reinforcement learning shapes what language models want.

Four pillars, one package each:

- :mod:`motivlab.theory` — the behavioural-selection model (simulate, sweep, calibrate, fit);
- :mod:`motivlab.worlds`, :mod:`motivlab.models`, :mod:`motivlab.rl`, :mod:`motivlab.measure` —
  model organisms really trained with RL in worlds where motivation is measurable;
- :mod:`motivlab.rl.interventions` — interventions on motivation-space exploration, as hooks on
  the training loop;
- :mod:`motivlab.evals` — self-reported motivation against behaviour.

Above them, :mod:`motivlab.sweep` and :mod:`motivlab.experiments` drive many runs and fits.
docs/architecture.md shows the layout, the data flow and which package may import which
(``tests/test_architecture.py`` enforces it). Heavy dependencies (torch, transformers, pandas)
are imported by the sub-packages that need them, lazily, so ``import motivlab`` and
``motivlab --help`` stay fast.
"""

__version__ = "0.1.0"
