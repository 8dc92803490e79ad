"""Experiments that close the loop between the organism and the theory.

Each experiment is one module (``transfer``, ``critical_diversity``, ``loop``, ``interventions``)
and one command of the ``motivlab experiment`` sub-app (:mod:`motivlab.experiments.cli`). They
sit above ``rl``, ``measure`` and ``theory.fit`` in the import order: nothing below imports them.
"""
