"""The model's key/value cache, through transformers' current API, in one place.

Both decoders run the model one step at a time over a cache; this module is the only code that
names the cache argument (``cache=``, transformers >= 5.24; ``past_key_values`` is deprecated
there and goes in 5.40), builds a preallocated cache, and moves cache rows. When transformers
renames it again, this is the one file to change.
"""

from __future__ import annotations

from typing import Any

import torch


def forward(model: Any, cache: Any, **inputs: Any) -> tuple[torch.Tensor, Any]:
    """One forward pass that reads and extends ``cache`` (None: start a new dynamic cache);
    returns ``(logits, cache)``."""
    output = model(**inputs, cache=cache, use_cache=True)
    return output.logits, output.cache


def static_cache(model: Any, length: int) -> Any:
    """A preallocated cache of ``length`` positions (no concatenation per step)."""
    from transformers import StaticCache

    return StaticCache(config=model.config, max_cache_len=length)


def select_rows(cache: Any, rows: torch.Tensor) -> None:
    """Keep (and repeat) the cache's batch rows ``rows`` (R,), in that order, in place."""
    cache.reorder_cache(rows)
