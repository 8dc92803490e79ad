"""Lazy package exports: a package's public names are imported on first use.

Why: ``motivlab --help`` must not import torch, pandas or scipy (issue 9); each package's
``__init__`` lists its public names and the module that defines them, and this one helper turns
that table into the module-level ``__getattr__`` / ``__dir__`` (PEP 562) every package shares.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str,
    table: Mapping[str, str],
    namespace: dict[str, Any],
    aliases: Mapping[str, str] | None = None,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for ``package`` from ``{name: module}``.

    ``module`` is relative to the package (``"loading"``) or absolute (``"motivlab.models.x"``).
    A resolved name is cached in ``namespace`` (the package's globals), so later lookups skip
    ``__getattr__``. ``aliases`` maps a second public name to one of the table's names.
    """
    aliases = dict(aliases or {})

    def __getattr__(name: str) -> Any:
        if name in aliases:
            value = namespace[name] = __getattr__(aliases[name])
            return value
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        path = module if module.startswith("motivlab.") else f"{package}.{module}"
        value = getattr(importlib.import_module(path), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *table, *aliases})

    return __getattr__, __dir__
