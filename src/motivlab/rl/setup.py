"""Loading what a run trains: the policy (organism, GGUF, directory) and its world, checked together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from motivlab.errors import MotivlabInputError
from motivlab.rl.config import ModelSection, WorldSection
from motivlab.worlds.base import Route, World


def load_policy(section: ModelSection, seed: int, *, progress: bool = True) -> tuple[Any, Any, Path | None]:
    """``(model, tokenizer, model_dir)`` for the model section; ``model_dir`` is the directory the
    weights came from (the organism cache entry, the de-quantised GGUF cache, or the user's)."""
    from motivlab.models.loading import load_causal_lm, resolve_model_spec

    if section.spec == "organism":
        from motivlab.models.pretrain import ensure_organism

        model_dir = ensure_organism(section.organism, quick=section.quick, progress=progress)
        if section.init == "random":
            from motivlab.models.organism import random_init_like

            model, tokenizer = random_init_like(model_dir, seed)
        else:
            model, tokenizer = load_causal_lm(model_dir)
        return model, tokenizer, Path(model_dir)
    import torch

    model, tokenizer = load_causal_lm(section.spec, dtype=torch.bfloat16 if section.dtype == "bfloat16" else None)
    if section.lora is not None:
        from motivlab.models.lora import apply_lora

        lora = section.lora
        model = apply_lora(model, r=lora.r, alpha=lora.alpha, dropout=lora.dropout, target_modules=lora.target_modules)
    resolved = resolve_model_spec(section.spec)
    return model, tokenizer, resolved.path if resolved.kind == "directory" else None


def load_world(section: WorldSection, model_dir: Path | None) -> World:
    """The organism's own world when ``source = 'auto'`` and the model is an organism; else the
    hint world configured in ``section.hint``; ``source = 'nl'``: the natural-language world of ``section.nl``."""
    from motivlab.worlds.hint import HintWorld

    if section.source == "nl":
        from motivlab.worlds.nl import NLWorld

        return NLWorld(section.nl)
    if section.source == "auto" and model_dir is not None and (model_dir / "organism.json").is_file():
        from motivlab.models.organism import load_organism_world

        return load_organism_world(model_dir)
    return HintWorld(section.hint)


def check_vocabulary(world: World, tokenizer: Any) -> None:
    """Every character of ``world.alphabet`` must survive encode → decode; a model trained for
    another world (or a tokenizer that maps characters to ``<unk>``) fails here, loudly, instead of
    training on garbage."""
    bad = []
    unk = getattr(tokenizer, "unk_token_id", None)
    for char in world.alphabet:
        ids = list(tokenizer(char, add_special_tokens=False)["input_ids"])
        if not ids or (unk is not None and unk in ids) or tokenizer.decode(ids) != char:
            bad.append(char)
    if bad:
        shown = "".join(bad[:20])
        raise MotivlabInputError(
            f"world {world.name!r} and the model's tokenizer do not match: {len(bad)} character(s) of the "
            f"world's alphabet do not round-trip through the tokenizer ({shown!r}); use a model trained for "
            "this world (e.g. model.spec = 'organism' with world.source = 'auto')"
        )


def default_max_new_tokens(world: World) -> int:
    """Room for the longest rewarded completion of a few prompts, plus 2 tokens of slack (in
    characters, an upper bound on tokens for any tokenizer that does not split characters)."""
    longest = 0
    for env in list(world.env_ids("train"))[:8]:
        prompt = world.prompt(int(env))
        for route in (Route.REWARD_SEEKING, Route.LOCAL):
            text = world.rewarded_completion(prompt, route)
            longest = max(longest, len(text or ""))
    return max(longest, 8) + 2
