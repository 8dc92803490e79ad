"""Loading causal LMs (directory, GGUF file, the embedded SmolLM2), the organism, generation."""

from __future__ import annotations

import importlib
from typing import Any

# imported on first use, so that ``motivlab --help`` stays fast (no numpy, pydantic, torch)
_LAZY = {
    "DEFAULT_CHAT_MODEL": "loading",
    "load_causal_lm": "loading",
    "resolve_model_spec": "loading",
    "smollm2_gguf_path": "loading",
    "OrganismConfig": "organism",
    "load_organism_config": "organism",
    "load_organism_world": "organism",
    "quick_config": "organism",
    "random_init_like": "organism",
    "ensure_organism": "pretrain",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'motivlab.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"motivlab.models.{module}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
