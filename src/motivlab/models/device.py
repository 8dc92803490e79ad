"""Where a run computes: the ``device`` field of the run config, checked and resolved.

``device`` is one of ``"auto"`` (CUDA when ``torch.cuda.is_available()``, else the CPU — what TRL
and accelerate do), ``"cpu"``, ``"cuda"`` (the current CUDA device) or ``"cuda:N"``. The name is
checked when the config is read (a typo fails before anything loads); whether the device exists
is checked when the run starts, because a config is often written on one machine and run on
another. Asking for CUDA where there is none is an error, never a silent fall-back to the CPU:
a 135M-parameter run that quietly lands on 2 CPU cores wastes a day.

Usage::

    device = resolve_device("auto")     # torch.device('cuda', 0) on a GPU machine, else 'cpu'
    model.to(device)
"""

from __future__ import annotations

import re
from typing import Any

from motivlab.errors import MotivlabInputError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")
_DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device_name(value: str, field: str = "device") -> str:
    """``value`` normalised (stripped, lower case) if it names a device we support, else an error
    naming ``field`` and the allowed values."""
    text = str(value).strip().lower()
    if not _DEVICE_PATTERN.fullmatch(text):
        raise MotivlabInputError(
            f"{field} must be one of {', '.join(repr(c) for c in DEVICE_CHOICES)} (N a CUDA device index), got {value!r}"
        )
    return text


def resolve_device(requested: str, field: str = "device") -> Any:
    """The ``torch.device`` a run uses for ``requested`` (see the module docstring); CUDA devices
    come back with an explicit index so that tensors and ``torch.Generator`` objects agree."""
    import torch

    name = check_device_name(requested, field)
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        why = ("this torch build has no CUDA support" if torch.version.cuda is None
               else "no CUDA device is visible (driver, CUDA_VISIBLE_DEVICES)")
        raise MotivlabInputError(
            f"{field} = {requested!r} but CUDA is not available: {why} (torch {torch.__version__}); "
            f"use {field} = 'cpu' or 'auto'"
        )
    index = torch.cuda.current_device() if name in ("auto", "cuda") else int(name.split(":")[1])
    count = torch.cuda.device_count()
    if index >= count:
        raise MotivlabInputError(
            f"{field} = {requested!r} but only {count} CUDA device(s) are visible (cuda:0 … cuda:{count - 1})"
        )
    return torch.device("cuda", index)


def describe_device(device: Any, requested: str) -> dict[str, Any]:
    """What ``metadata.json`` records about where the run computed."""
    import torch

    info: dict[str, Any] = {"requested": requested, "device": str(device), "torch": torch.__version__}
    if device.type == "cuda":
        info.update(name=torch.cuda.get_device_name(device), cuda=torch.version.cuda)
    else:
        info.update(threads=torch.get_num_threads())
    return info
