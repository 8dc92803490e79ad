"""LoRA policies through ``peft`` (the optional ``peft`` extra): a base model with trainable adapters
that the RL trainer, the sampler and the run directory treat like any other policy.

Why a wrapper: the trainer saves checkpoints with ``save_pretrained`` and resumes with
``load_state_dict``; a bare ``peft.PeftModel`` saves adapter files whose keys its own
``load_state_dict`` does not accept, and an adapter alone is not a model the evaluation backends
can load. :class:`LoraPolicy` therefore

* exposes only the adapter weights in ``state_dict`` / ``load_state_dict`` (what a resume needs);
* writes, in ``save_pretrained(dir)``, the adapters (``adapter.safetensors`` + ``lora.json``) and
  the merged model as a plain ``save_pretrained`` directory ``dir/merged`` — what
  ``motivlab eval run --model dir/merged`` and ``stated-vs-revealed`` load;
* forwards every other attribute (``config``, ``generation_config``, …) to the wrapped model.

With a bfloat16 base (``model.dtype = "bfloat16"``) peft keeps the adapters in float32, so AdamW
updates them at full precision while the frozen base uses half the memory.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import torch

from motivlab.errors import MotivlabInputError

ADAPTER_FILE = "adapter.safetensors"
MERGED_DIR = "merged"


def apply_lora(model: Any, *, r: int, alpha: float, dropout: float, target_modules: list[str]) -> LoraPolicy:
    """Wrap ``model`` with LoRA adapters on ``target_modules`` (every other weight frozen)."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise MotivlabInputError("model.lora needs the 'peft' extra: pip install 'motivlab[peft]'") from None
    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    missing = [t for t in target_modules if t not in names]
    if missing:
        raise MotivlabInputError(f"model.lora.target_modules: {missing} are not linear layers of this model "
                                 f"(it has {sorted(names)})")
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(target_modules),
                        task_type="CAUSAL_LM")
    return LoraPolicy(get_peft_model(model, config))


class LoraPolicy(torch.nn.Module):
    """A ``peft`` model whose state is its adapters (module docstring)."""

    def __init__(self, peft_model: Any) -> None:
        super().__init__()
        self.peft = peft_model

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.peft(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.peft, name)

    def _adapter_names(self) -> list[str]:
        return [n for n, p in self.peft.named_parameters() if p.requires_grad]

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:  # type: ignore[override]
        names = set(self._adapter_names())
        return {k: v for k, v in self.peft.state_dict().items() if k in names}

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:  # type: ignore[override]
        """Load adapter weights; ``missing`` lists only adapters the dict lacks."""
        names = set(self._adapter_names())
        unexpected = [k for k in state_dict if k not in names]
        missing = [k for k in names if k not in state_dict]
        if strict and (unexpected or missing):
            raise RuntimeError(f"LoRA state does not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")
        self.peft.load_state_dict({k: v for k, v in state_dict.items() if k in names}, strict=False)
        return torch.nn.modules.module._IncompatibleKeys(missing, unexpected)

    def merged(self) -> Any:
        """A plain ``transformers`` model with the adapters folded into the weights (a copy)."""
        return copy.deepcopy(self.peft).merge_and_unload()

    def save_pretrained(self, directory: str | Path, **_: Any) -> None:
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().to("cpu").contiguous() for k, v in self.state_dict().items()}, directory / ADAPTER_FILE)
        cfg = self.peft.peft_config["default"]
        (directory / "lora.json").write_text(json.dumps({
            "r": cfg.r, "alpha": cfg.lora_alpha, "dropout": cfg.lora_dropout,
            "target_modules": sorted(cfg.target_modules), "merged": MERGED_DIR,
        }, indent=2))
        merged = self.merged()
        merged.to(dtype=torch.float32).save_pretrained(directory / MERGED_DIR)
        del merged


def trained_model_dir(path: str | Path) -> Path:
    """The loadable model of a checkpoint: ``path/merged`` for a LoRA checkpoint (the checkpoint's
    tokenizer files are copied next to it the first time, so it loads on its own), else ``path``."""
    import shutil

    path = Path(path)
    merged = path / MERGED_DIR
    if not ((path / "lora.json").is_file() and (merged / "config.json").is_file()):
        return path
    if not (merged / "tokenizer_config.json").is_file():
        for file in path.iterdir():
            if file.is_file() and (file.name.startswith(("tokenizer", "special_tokens", "vocab", "merges"))
                                   or file.name == "chat_template.jinja"):
                shutil.copy2(file, merged / file.name)
    return merged
