"""Interventions on the motivation RL explores, switched on from the run config.

``[[interventions]]`` tables of the RL config (:mod:`motivlab.interventions.config`) become
:class:`motivlab.rl.hooks.TrainerHook` objects (:func:`build_hooks`), one file per idea:
:mod:`~motivlab.interventions.filter` (trajectory filtering),
:mod:`~motivlab.interventions.penalty` (monitor penalty),
:mod:`~motivlab.interventions.prefix` (prompt shaping / inoculation prompting).
"""

from motivlab.interventions.config import (
    KINDS,
    FilterIntervention,
    Intervention,
    MonitorPenaltyIntervention,
    PromptPrefixIntervention,
)

__all__ = [
    "KINDS",
    "FilterIntervention",
    "Intervention",
    "MonitorPenaltyIntervention",
    "PromptPrefixIntervention",
]
