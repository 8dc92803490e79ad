"""One place that seeds every generator a run touches."""

from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and (if imported) torch; return a fresh NumPy Generator for explicit use.

    Code in motivlab passes explicit generators around; this exists for third-party code
    (transformers initialisers, TRL) that draws from the global ones.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # theory-only installs
        pass
    return np.random.default_rng(seed)
