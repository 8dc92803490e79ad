"""Loading causal LMs (directory, GGUF file, the embedded SmolLM2), the organism, generation."""

from __future__ import annotations

from motivlab._lazy import lazy_exports

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

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
