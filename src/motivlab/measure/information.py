"""Information accounting: how much supervision each training phase delivered, in bits.

Pretraining and RL shape the organism through very different channels; putting them in one
unit shows why "concepts first, then selection" is the natural order.

* **Pretraining** supervises ``S`` completion tokens (the corpus loss is taken on those only).
  Each token's label can carry at most ``log2 V`` bits (``V`` = vocabulary size): the *upper
  bound* ``S · log2 V``. The *estimate* is the cross-entropy reduction the model actually
  achieved, ``S · (log2 V − H_final)`` with ``H_final`` the final training loss in bits per
  token — what was learnt beyond guessing uniformly. (It overstates the information stored in
  the weights, since the same facts are repeated over many documents; it is the supervision
  *delivered*, the quantity the theory compares.)
* **RL** with a 0/1 reward delivers at most **1 bit per reward event** (graded rollout): the
  upper bound is the number of events. The *estimate* is ``events · H_b(r̄)``, the binary
  entropy of the mean reward — a rollout whose outcome was a foregone conclusion teaches
  nothing.

:func:`information_table` is what the RL trainer calls with its counts; it returns a tidy table
(one row per phase) that reports and the CLI print.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from motivlab.errors import MotivlabInputError, check_range

INFO_COLUMNS = ["phase", "events", "unit", "bits_upper", "bits_estimate", "bits_per_event_upper", "note"]


def binary_entropy(p: float | np.ndarray) -> float | np.ndarray:
    """``H_b(p)`` in bits (0 at p ∈ {0, 1})."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    h = np.nan_to_num(h, nan=0.0)
    return float(h) if h.ndim == 0 else h


def pretraining_bits(supervised_tokens: int, vocab_size: int, final_loss_nats: float | None = None) -> dict[str, float]:
    """Upper bound and cross-entropy-reduction estimate of pretraining supervision (bits)."""
    if supervised_tokens < 0:
        raise MotivlabInputError(f"supervised_tokens must be >= 0, got {supervised_tokens}")
    if vocab_size < 2:
        raise MotivlabInputError(f"vocab_size must be >= 2, got {vocab_size}")
    per_token = math.log2(vocab_size)
    upper = supervised_tokens * per_token
    if final_loss_nats is None:
        return {"bits_upper": upper, "bits_estimate": float("nan")}
    check_range("final_loss_nats", final_loss_nats, low=0)
    reduction = max(0.0, per_token - final_loss_nats / math.log(2))
    return {"bits_upper": upper, "bits_estimate": supervised_tokens * reduction}


def rl_bits(reward_events: int, mean_reward: float | None = None) -> dict[str, float]:
    """At most one bit per 0/1 reward event; estimate ``events · H_b(mean reward)``."""
    if reward_events < 0:
        raise MotivlabInputError(f"reward_events must be >= 0, got {reward_events}")
    upper = float(reward_events)
    if mean_reward is None:
        return {"bits_upper": upper, "bits_estimate": float("nan")}
    check_range("mean_reward", mean_reward, low=0, high=1)
    return {"bits_upper": upper, "bits_estimate": reward_events * binary_entropy(mean_reward)}


def information_table(*, pretrain_tokens: int, vocab_size: int, pretrain_final_loss_nats: float | None = None,
                      rl_reward_events: int = 0, rl_mean_reward: float | None = None) -> pd.DataFrame:
    """Side-by-side supervision of pretraining and RL (one row each). Estimates are NaN only
    where the caller gave no loss / mean reward to estimate from (the upper bounds never are)."""
    pre = pretraining_bits(pretrain_tokens, vocab_size, pretrain_final_loss_nats)
    rl = rl_bits(rl_reward_events, rl_mean_reward)
    rows = [
        {"phase": "pretraining", "events": pretrain_tokens, "unit": "supervised token", **pre,
         "bits_per_event_upper": math.log2(vocab_size),
         "note": "upper: tokens·log2(V); estimate: tokens·(log2 V − final loss in bits)"},
        {"phase": "rl", "events": rl_reward_events, "unit": "reward event", **rl,
         "bits_per_event_upper": 1.0, "note": "upper: 1 bit per 0/1 reward; estimate: events·H_b(mean reward)"},
    ]
    return pd.DataFrame(rows, columns=INFO_COLUMNS)


def organism_information(model_dir: str | Path, *, rl_reward_events: int = 0,
                         rl_mean_reward: float | None = None) -> pd.DataFrame:
    """:func:`information_table` with the pretraining counts read from an organism's
    ``organism.json`` (an RL run passes its own reward counts)."""
    from motivlab.models.organism import read_organism_json

    training = read_organism_json(model_dir).get("training", {})
    if "supervised_tokens" not in training:
        raise MotivlabInputError(f"{model_dir}: organism.json has no supervision counts")
    return information_table(
        pretrain_tokens=int(training["supervised_tokens"]), vocab_size=int(training["vocab_size"]),
        pretrain_final_loss_nats=training.get("final_loss_nats"),
        rl_reward_events=rl_reward_events, rl_mean_reward=rl_mean_reward,
    )
