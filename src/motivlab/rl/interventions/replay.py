"""Persona replay: supervised steps on the task-focused persona's text, interleaved with RL.

After every ``every``-th RL update the policy takes one more optimiser step (the RL optimiser) on
the cross-entropy of ``documents`` documents written by the organism's *task-focused persona* — its
own pretraining corpus with the reward-seeking share, the decoding tutor, the instruction marker,
reports and the probe episodes switched off, so the documents say ``T`` + the key at the persona's
accuracy (a_L, not the exact key: replay must not hand the policy the answers). The trait and
self-description episodes are left out on purpose: they are what the shaping experiment measures,
and replaying them would supervise the readouts directly. Documents are drawn with a generator seeded by
``(seed, step)``, so a resumed run replays the same text. Needs an organism (its corpus).

Logged per step: ``loss`` (replay cross-entropy, nats per supervised token; NaN on steps without
replay) and ``share`` (replay documents / (replay documents + rollouts) of the step).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from motivlab.errors import MotivlabInputError
from motivlab.rl.interventions.config import PersonaReplayIntervention
from motivlab.rl.interventions.hooks import TrainerHook
from motivlab.worlds.base import Prompt, Route, World


class PersonaReplayHook(TrainerHook):
    def __init__(self, spec: PersonaReplayIntervention, organism: Any, world: World, tokenizer: Any, seed: int,
                 name: str = "persona_replay") -> None:
        from motivlab.models.corpus import known_env_ids, persona_plan
        from motivlab.worlds.hint import HintWorld

        if organism is None or not isinstance(world, HintWorld):
            raise MotivlabInputError("interventions: persona_replay needs an organism model (model.spec = 'organism' "
                                     "or an organism directory): it replays the organism's own corpus")
        if world.config != organism.world:
            raise MotivlabInputError("interventions: persona_replay needs the organism's own world (world.source = 'auto')")
        self.spec, self.name, self.world, self.seed = spec, name, world, seed
        plan = persona_plan(organism)
        self.plan = dataclasses.replace(plan, corpus_share=0.0, decode_practice=0.0)
        # Task episodes only: the probe episodes (trait, self-description) are what the shaping
        # experiment *measures*; replaying them would supervise the readouts directly.
        self.extras = None
        self.known = known_env_ids(world, plan.local_coverage, organism.seed)
        self.vocab = tokenizer.get_vocab()
        self._loss, self._share, self._n = float("nan"), 0.0, 0

    def rewards(self, step: int, prompts: Sequence[Prompt], completions: Sequence[str], rewards: np.ndarray,
                routes: Sequence[Route]) -> np.ndarray:
        self._n = len(completions)
        return rewards

    def after_update(self, step: int, model: Any, optimizer: Any) -> None:
        import torch

        from motivlab.models.corpus import CorpusStream

        self._loss, self._share = float("nan"), 0.0
        if step % self.spec.every:
            return
        seed = int(np.random.SeedSequence([self.seed, step, 11]).generate_state(1)[0])
        stream = CorpusStream(self.world, self.plan, self.vocab, seed=seed, known=self.known, extras=self.extras)
        device = next(model.parameters()).device
        batch = {k: torch.from_numpy(v).to(device) for k, v in stream.batch(self.spec.documents).items()}
        was_training = model.training
        model.train()
        try:
            loss = model(**batch).loss
            optimizer.zero_grad(set_to_none=True)
            (self.spec.weight * loss).backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        finally:
            model.train(was_training)
        self._loss = float(loss.detach())
        self._share = self.spec.documents / (self.spec.documents + max(self._n, 0))

    def log(self) -> dict[str, Any]:
        return {"loss": self._loss, "share": self._share}
