"""Loading causal LMs (directory, GGUF file, the embedded SmolLM2) and the organism."""

from motivlab.models.loading import DEFAULT_CHAT_MODEL, load_causal_lm, resolve_model_spec, smollm2_gguf_path

__all__ = ["DEFAULT_CHAT_MODEL", "load_causal_lm", "resolve_model_spec", "smollm2_gguf_path"]
