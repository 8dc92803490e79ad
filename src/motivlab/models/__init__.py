"""Loading causal LMs (directory, GGUF file, the embedded SmolLM2) and the organism."""

from motivlab.models.loading import DEFAULT_CHAT_MODEL, load_causal_lm, resolve_model_spec, smollm2_gguf_path
from motivlab.models.organism import (
    OrganismConfig,
    load_organism_config,
    load_organism_world,
    quick_config,
    random_init_like,
)
from motivlab.models.pretrain import ensure_organism

__all__ = [
    "DEFAULT_CHAT_MODEL",
    "OrganismConfig",
    "ensure_organism",
    "load_causal_lm",
    "load_organism_config",
    "load_organism_world",
    "quick_config",
    "random_init_like",
    "resolve_model_spec",
    "smollm2_gguf_path",
]
