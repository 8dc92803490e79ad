"""Interventions on the motivation RL explores, switched on from the run config.

``[[interventions]]`` tables of the RL config (:mod:`motivlab.rl.interventions.config`) become
:class:`motivlab.rl.interventions.hooks.TrainerHook` objects (:func:`build_hooks`), one file per idea:
:mod:`~motivlab.rl.interventions.filter` (trajectory filtering),
:mod:`~motivlab.rl.interventions.penalty` (monitor penalty),
:mod:`~motivlab.rl.interventions.prefix` (prompt shaping / inoculation prompting),
:mod:`~motivlab.rl.interventions.steer` (activation steering / capping),
:mod:`~motivlab.rl.interventions.affordance` (report affordance),
:mod:`~motivlab.rl.interventions.replay` (persona replay).
"""

from motivlab.rl.interventions.config import (
    KINDS,
    FilterIntervention,
    Intervention,
    MonitorPenaltyIntervention,
    PersonaReplayIntervention,
    PromptPrefixIntervention,
    ReportIntervention,
)

__all__ = [
    "KINDS",
    "FilterIntervention",
    "Intervention",
    "MonitorPenaltyIntervention",
    "PersonaReplayIntervention",
    "PromptPrefixIntervention",
    "ReportIntervention",
]
