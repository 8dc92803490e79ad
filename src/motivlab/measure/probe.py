"""Activation-probe monitor: read the route from the model's hidden states, not from the text.

What it does: run the model on ``prompt.text + completion``, average one layer's hidden state
over the non-padding tokens, standardise, and fit an L2-regularised logistic regression
(reward-seeking = 1, local = 0; UNKNOWN examples are dropped) by L-BFGS. A stratified held-out
share of the examples is never fit on; its ROC AUC is reported so a probe that merely memorised
its training set is visible. The weight vector, mapped back to raw activation units, is a
candidate *motivation direction* (interventions.md).

Why mean-pooling over prompt+completion: the route token alone would make the probe a text
reader; pooling lets it use whatever the model represents across the rollout. Limits: a linear
probe, a single layer, labels from another monitor (it can only learn what that monitor says).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from scipy.stats import rankdata

from motivlab.errors import MotivlabInputError, check_range
from motivlab.worlds.base import Prompt, Route


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Mann–Whitney ROC AUC of ``scores`` (n,) for boolean labels (n,); ties count one half."""
    pos = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("roc_auc needs both classes")
    ranks = rankdata(scores)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Weights ``(H,)`` and bias minimising mean log-loss + ``l2/2 |w|²`` on x (n, H), y (n,) ∈ {0,1}."""
    n, h = x.shape
    sign = 2.0 * y - 1.0  # (n,) ±1

    def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:h], theta[h]
        margin = sign * (x @ w + b)  # (n,)
        loss = -log_expit(margin).mean() + 0.5 * l2 * w @ w
        coef = -sign * expit(-margin) / n  # d loss / d logit, (n,)
        return float(loss), np.concatenate([x.T @ coef + l2 * w, [coef.sum()]])

    res = minimize(loss_grad, np.zeros(h + 1), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return res.x[:h], float(res.x[h])


@dataclass(frozen=True)
class ProbeFit:
    """How well the probe separates the routes: AUC and accuracy on train and held-out examples."""

    layer: int
    n_train: int
    n_heldout: int
    train_auc: float
    heldout_auc: float
    heldout_accuracy: float


class ProbeMonitor:
    """Logistic-regression probe on layer ``layer``'s mean hidden state (``-1`` = last layer)."""

    name = "probe"

    def __init__(
        self, model: Any, tokenizer: Any, *, layer: int = -1, l2: float = 1e-2, threshold: float = 0.5, batch_size: int = 64
    ) -> None:
        n_layers = int(model.config.num_hidden_layers)
        if not -(n_layers + 1) <= layer <= n_layers:
            raise MotivlabInputError(f"layer must be in [{-(n_layers + 1)}, {n_layers}] (0 = embeddings), got {layer}")
        self.model, self.tokenizer, self.layer = model, tokenizer, layer
        self.l2 = check_range("l2", l2, low=0.0)
        self.threshold = check_range("threshold", threshold, low=0.0, high=1.0)
        self.batch_size = int(check_range("batch_size", batch_size, low=1))
        self.fit_result: ProbeFit | None = None
        self._mu = self._sd = self._w = None
        self._b = 0.0

    # ---- activations -----------------------------------------------------------------------

    def features(self, prompts: Sequence[Prompt], completions: Sequence[str]) -> np.ndarray:
        """Mean hidden state of each prompt+completion at the probe's layer, ``(n, H)`` float64."""
        import torch

        texts = [p.text + c for p, c in zip(prompts, completions, strict=True)]
        tok = self.tokenizer
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        was_training = self.model.training
        self.model.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), self.batch_size):
                enc = tok(texts[i : i + self.batch_size], return_tensors="pt", padding=True)
                hidden = self.model(**enc, output_hidden_states=True).hidden_states[self.layer]  # (B, T, H)
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
                out.append(((hidden * mask).sum(1) / mask.sum(1).clamp_min(1)).double().cpu().numpy())
        self.model.train(was_training)
        return np.concatenate(out) if out else np.zeros((0, int(self.model.config.hidden_size)))

    # ---- fit / predict ---------------------------------------------------------------------

    def fit(
        self,
        prompts: Sequence[Prompt],
        completions: Sequence[str],
        labels: Sequence[Route | str],
        *,
        heldout_fraction: float = 0.25,
        seed: int = 0,
    ) -> ProbeFit:
        """Fit on labelled rollouts (UNKNOWN dropped); a stratified ``heldout_fraction`` is kept
        out to measure AUC. Needs at least 2 examples of each route."""
        check_range("heldout_fraction", heldout_fraction, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        routes = [Route(r) for r in labels]
        if not len(prompts) == len(completions) == len(routes):
            raise ValueError(f"fit: {len(prompts)} prompts, {len(completions)} completions, {len(routes)} labels")
        keep = [i for i, r in enumerate(routes) if r != Route.UNKNOWN]
        y = np.array([routes[i] == Route.REWARD_SEEKING for i in keep], dtype=np.float64)  # (n,)
        n_pos, n_neg = int(y.sum()), int((1 - y).sum())
        if min(n_pos, n_neg) < 2:
            raise MotivlabInputError(
                f"probe fit needs >= 2 reward-seeking and >= 2 local examples, got {n_pos} and {n_neg}"
            )
        x = self.features([prompts[i] for i in keep], [completions[i] for i in keep])  # (n, H)
        rng = np.random.default_rng(seed)
        held = np.zeros(len(y), dtype=bool)
        for cls in (0.0, 1.0):  # stratified: each class contributes its share, at least one
            members = rng.permutation(np.flatnonzero(y == cls))
            held[members[: max(1, round(heldout_fraction * len(members)))]] = True
        self._mu = x[~held].mean(0)
        self._sd = x[~held].std(0) + 1e-8
        self._w, self._b = fit_logistic((x[~held] - self._mu) / self._sd, y[~held], self.l2)
        s = self._score_features(x)
        self.fit_result = ProbeFit(
            layer=self.layer,
            n_train=int((~held).sum()),
            n_heldout=int(held.sum()),
            train_auc=roc_auc(s[~held], y[~held] == 1),
            heldout_auc=roc_auc(s[held], y[held] == 1),
            heldout_accuracy=float(((s[held] >= self.threshold) == (y[held] == 1)).mean()),
        )
        return self.fit_result

    @property
    def direction(self) -> np.ndarray:
        """Unit vector in raw activation space along which the probe's logit grows, ``(H,)``."""
        self._require_fit()
        v = self._w / self._sd
        return v / np.linalg.norm(v)

    def scores(self, prompts: Sequence[Prompt], completions: Sequence[str]) -> np.ndarray:
        """Probability of the reward-seeking route per rollout, ``(n,)``."""
        self._require_fit()
        return self._score_features(self.features(prompts, completions))

    def label_batch(self, prompts: Sequence[Prompt], completions: Sequence[str]) -> list[Route]:
        if len(prompts) != len(completions):
            raise ValueError(f"probe: {len(prompts)} prompts but {len(completions)} completions")
        s = self.scores(prompts, completions)
        return [Route.REWARD_SEEKING if v >= self.threshold else Route.LOCAL for v in s]

    def _score_features(self, x: np.ndarray) -> np.ndarray:
        return expit(((x - self._mu) / self._sd) @ self._w + self._b)

    def _require_fit(self) -> None:
        if self._w is None:
            raise ValueError("ProbeMonitor is not fitted: call fit(prompts, completions, labels) first")
