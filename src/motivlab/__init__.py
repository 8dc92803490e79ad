"""motivlab: a laboratory for how reinforcement learning shapes what language models want.

Four pillars, one package each:

- :mod:`motivlab.theory` — the behavioural-selection model (simulate, sweep, calibrate, fit);
- :mod:`motivlab.worlds`, :mod:`motivlab.models`, :mod:`motivlab.rl`, :mod:`motivlab.measure` —
  model organisms really trained with RL in worlds where motivation is measurable;
- :mod:`motivlab.shaping` — interventions on motivation-space exploration;
- :mod:`motivlab.evals` — self-reported motivation against behaviour.

Heavy dependencies (torch, transformers) are imported by the sub-packages that need them, so
``import motivlab`` and the theory command line stay fast.
"""

__version__ = "0.1.0"
