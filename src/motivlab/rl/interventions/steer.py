"""Activation steering and capping along a motivation direction (interventions.md).

The direction ``v`` (unit norm, one per chosen layer) is the difference of mean residual-stream
activations — the decoder layer's output at the *decision point* (the prompt's last position, which
predicts the route character; ``read_at = "decision"``, default) or averaged over completion tokens
(``read_at = "completion"``, which contains the route character, so its AUC is trivially ~1) — between rollouts the
world's labeller calls reward-seeking and local, sampled from the *starting* policy on training
envs with a generator derived from the run's seed (fit on every other env's rollouts) (so a resumed run, which rebuilds its hooks
from the same starting weights before loading the checkpoint, finds the same direction).

``beta`` ≠ 0 adds ``beta · v`` to that layer's output at every position (steering);
``cap`` clamps the projection ``h·v`` to at most ``cap`` (capping: only the excess is removed).
Both act while sampling and, with ``during_update`` (default), in the update's forward passes, so
the policy the update differentiates is the one that sampled. Logged per step: ``beta``,
``layers`` (count), ``heldout_auc`` (how well the first layer's direction separates the
labelled rollouts of the direction envs it was not fit on; left out when they lack a class), and with a cap ``clip_rate`` (share of token positions clipped while sampling)
and ``mean_excess`` (mean projection above the cap over clipped positions, 0 when none), and
``decision_clip_rate`` / ``decision_mean_excess``: the same at the decision position only. Positions
are every position the sampler runs through the layer: prompt prefill (left padding included)
and each generated token. The exact measurement is taken without the edit (steering is a
training-time intervention).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from motivlab.errors import MotivlabInputError
from motivlab.rl.interventions.hooks import TrainerHook
from motivlab.worlds.base import Route, World


def decoder_layers(model: Any) -> Any:
    """The list of decoder blocks of a HF causal LM (Llama-style ``model.model.layers``)."""
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if layers is None:
        raise MotivlabInputError("steer: the model has no model.layers (only Llama-style decoders are supported)")
    return layers


@contextlib.contextmanager
def _layer_outputs(model: Any, layers: list[int]) -> Iterator[dict[int, torch.Tensor]]:
    """Record each chosen decoder layer's output (B, L, H) of the forward passes run inside the block."""
    store: dict[int, torch.Tensor] = {}
    blocks = decoder_layers(model)
    handles = [blocks[i].register_forward_hook(
        lambda mod, inp, out, i=i: store.__setitem__(i, (out[0] if isinstance(out, tuple) else out).detach()))
        for i in layers]
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def mean_activations(model: Any, samples: Any, layers: list[int]) -> dict[int, torch.Tensor]:
    """Per layer, each rollout's mean output activation over its completion tokens: (B, H)."""
    device = next(model.parameters()).device
    with _layer_outputs(model, layers) as store:
        ids = torch.cat([samples.prompt_ids, samples.completion_ids], 1).to(device)  # (B, P+T)
        mask = torch.cat([samples.prompt_mask, samples.completion_mask], 1).to(device)  # (B, P+T)
        position_ids = (mask.long().cumsum(1) - 1).clamp(min=0)
        model(input_ids=ids, attention_mask=mask.long(), position_ids=position_ids)
    comp = samples.completion_mask.to(device).float()  # (B, T)
    n_prompt = samples.prompt_ids.shape[1]
    return {i: (store[i][:, n_prompt:] * comp[..., None]).sum(1).cpu() / comp.sum(1, keepdim=True).clamp(min=1).cpu()
            for i in layers}


@torch.no_grad()
def decision_activations(model: Any, samples: Any, layers: list[int]) -> dict[int, torch.Tensor]:
    """Per layer, each rollout's layer output at its prompt's last position — where the route
    character is predicted, before it is written: (B, H). Prompts are left-padded, so that is
    position -1 of the prompt block for every row."""
    with _layer_outputs(model, layers) as store:
        device = next(model.parameters()).device
        mask = samples.prompt_mask.to(device)
        position_ids = (mask.long().cumsum(1) - 1).clamp(min=0)
        model(input_ids=samples.prompt_ids.to(device), attention_mask=mask.long(), position_ids=position_ids)
    return {i: store[i][:, -1].cpu() for i in layers}


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    from motivlab.measure.probe import roc_auc

    return float(roc_auc(scores, positive))


def find_directions(model: Any, tokenizer: Any, world: World, envs: np.ndarray, spec: Any, *, seed: int,
                    max_new_tokens: int, stop: str | None,
                    chat_template: bool) -> tuple[dict[int, torch.Tensor], float, Any]:
    """Unit difference-of-means directions per layer (H,), fit on the rollouts of every other env, the
    held-out AUC of the first layer's projection on the remaining envs' rollouts (NaN when those lack
    a class), and the spec with ``cap`` resolved from ``cap_quantile`` (unchanged without it)."""
    from motivlab.models.generation import sample

    model.eval()
    envs = np.asarray(envs)[: spec.direction_envs]
    prompts = [world.prompt(int(e)) for e in envs]
    gen = torch.Generator(device=next(model.parameters()).device).manual_seed(int(
        np.random.SeedSequence([seed, 0, 7]).generate_state(1, dtype=np.uint64)[0]))
    samples = sample(model, tokenizer, [p.text for p in prompts], n_per_prompt=spec.direction_samples,
                     max_new_tokens=max_new_tokens, stop=stop, generator=gen, chat_template=chat_template)
    routes = [world.label(prompts[i], c) for i, c in zip(samples.prompt_index, samples.completions, strict=True)]
    rs = np.array([r == Route.REWARD_SEEKING for r in routes])
    lo = np.array([r == Route.LOCAL for r in routes])
    fit = samples.prompt_index % 2 == 0  # (B,) envs at even positions define v, odd ones test it
    marker = getattr(getattr(world, "config", None), "instruction_marker", None)
    from_marker = getattr(spec, "direction_source", "rollouts") == "marker"
    if from_marker and not marker:
        raise MotivlabInputError("steer: direction_source = 'marker' needs a world with an instruction marker (an "
                                 "organism pretrained with instruction_share > 0)")
    if not from_marker and ((rs & fit).sum() < 2 or (lo & fit).sum() < 2):
        raise MotivlabInputError(
            f"steer: the starting policy's direction rollouts (fit half: {int(fit.sum())}) hold {int((rs & fit).sum())} "
            f"reward-seeking and {int((lo & fit).sum())} local ones (need >= 2 of each); raise direction_envs or "
            "direction_samples"
        )
    read = decision_activations if getattr(spec, "read_at", "decision") == "decision" else mean_activations
    acts = read(model, samples, list(spec.layers))
    directions, auc = {}, float("nan")
    test = ~fit & (rs | lo)
    if from_marker:  # decision-point activations of the fit envs' prompts with and without the marker
        from types import SimpleNamespace

        from motivlab.models.generation import encode_left_padded

        texts = [p.text for i, p in enumerate(prompts) if i % 2 == 0]
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        marked, plain = (decision_activations(model, SimpleNamespace(prompt_ids=ids, prompt_mask=mask), list(spec.layers))
                         for ids, mask in (encode_left_padded(tokenizer, [marker + t for t in texts], pad),
                                           encode_left_padded(tokenizer, texts, pad)))
    for k, layer in enumerate(spec.layers):
        a = acts[layer]  # (B, H)
        if from_marker:
            diff = marked[layer].mean(0) - plain[layer].mean(0)
        else:
            diff = a[torch.from_numpy(rs & fit)].mean(0) - a[torch.from_numpy(lo & fit)].mean(0)
        v = diff / diff.norm().clamp(min=1e-12)
        directions[layer] = v
        if k == 0 and rs[test].any() and lo[test].any():
            auc = _auc((a[torch.from_numpy(test)] @ v).numpy(), rs[test])
    if getattr(spec, "cap_quantile", None) is not None:
        proj = position_projections(model, samples, spec.layers[0], directions[spec.layers[0]])
        spec = spec.model_copy(update={"cap": float(np.quantile(proj, spec.cap_quantile))})
    return directions, auc, spec


@torch.no_grad()
def position_projections(model: Any, samples: Any, layer: int, v: torch.Tensor) -> np.ndarray:
    """Projections h·v of ``layer``'s output at every real (non-padding) token of the rollouts, (n,)."""
    store: dict[int, torch.Tensor] = {}
    handle = decoder_layers(model)[layer].register_forward_hook(
        lambda mod, inp, out: store.__setitem__(0, (out[0] if isinstance(out, tuple) else out).detach()))
    try:
        device = next(model.parameters()).device
        ids = torch.cat([samples.prompt_ids, samples.completion_ids], 1).to(device)
        mask = torch.cat([samples.prompt_mask, samples.completion_mask], 1).to(device)
        model(input_ids=ids, attention_mask=mask.long(), position_ids=(mask.long().cumsum(1) - 1).clamp(min=0))
    finally:
        handle.remove()
    return (store[0] @ v.to(store[0].device))[mask.bool()].cpu().numpy()


class SteerHook(TrainerHook):
    def __init__(self, spec: Any, directions: dict[int, torch.Tensor], auc: float, name: str = "steer") -> None:
        self.spec, self.name, self.directions, self.auc = spec, name, directions, auc
        self._clipped = self._positions = self._decision = self._decision_n = 0
        self._excess = self._decision_excess = 0.0

    def _edit(self, layer: int) -> Any:
        def hook(module: Any, inputs: Any, output: Any) -> Any:
            h = output[0] if isinstance(output, tuple) else output  # (B, T, H)
            v = self.directions[layer].to(device=h.device, dtype=h.dtype)  # (H,)
            if self.spec.beta:
                h = h + self.spec.beta * v
            if self.spec.cap is not None:
                proj = h @ v  # (B, T)
                excess = (proj - self.spec.cap).clamp(min=0)
                if self._counting:
                    clipped = excess > 0
                    self._clipped += int(clipped.sum())
                    self._positions += proj.numel()
                    self._excess += float(excess[clipped].sum())
                    if layer == self.spec.layers[0] and proj.shape[1] > 1:  # prefill: its last position is the decision
                        self._decision += int(clipped[:, -1].sum())
                        self._decision_n += int(proj.shape[0])
                        self._decision_excess += float(excess[:, -1].sum())
                h = h - excess[..., None] * v
            return (h, *output[1:]) if isinstance(output, tuple) else h
        return hook

    @contextlib.contextmanager
    def _installed(self, model: Any, counting: bool) -> Iterator[None]:
        self._counting = counting
        blocks = decoder_layers(model)
        handles = [blocks[i].register_forward_hook(self._edit(i)) for i in self.spec.layers]
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    @contextlib.contextmanager
    def sampling(self, model: Any) -> Iterator[None]:
        self._clipped = self._positions = self._decision = self._decision_n = 0
        self._excess = self._decision_excess = 0.0
        with self._installed(model, counting=True):
            yield

    @contextlib.contextmanager
    def updating(self, model: Any) -> Iterator[None]:
        if not self.spec.during_update:
            yield
            return
        with self._installed(model, counting=False):
            yield

    def log(self) -> dict[str, Any]:
        out = {"beta": float(self.spec.beta), "layers": float(len(self.spec.layers))}
        if np.isfinite(self.auc):
            out["heldout_auc"] = self.auc
        if self.spec.cap is not None:
            out["cap"] = float(self.spec.cap)
            out["clip_rate"] = self._clipped / max(self._positions, 1)
            out["mean_excess"] = self._excess / self._clipped if self._clipped else 0.0
            # the same at the decision position only (the prompt's last one, where the route is chosen)
            out["decision_clip_rate"] = self._decision / max(self._decision_n, 1)
            out["decision_mean_excess"] = self._decision_excess / self._decision if self._decision else 0.0
        return out
