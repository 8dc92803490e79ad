"""Every config class rejects non-finite floats and unknown keys, through one shared rule (issue 10.2).

``--set algorithm.beta=inf`` used to pass validation and train a NaN model with exit code 0.
"""

from __future__ import annotations

import importlib
import math
import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

import motivlab

SRC = Path(motivlab.__file__).parent
# request bodies of the OpenAI-compatible server keep unknown fields (clients send extras); the
# server validates them itself (evals/server)
EXEMPT_MODULES = ("motivlab.evals.server",)


def _config_classes() -> list[type[BaseModel]]:
    """Every pydantic model defined in the package (found by reading the sources, so a new one counts)."""
    classes = []
    for path in sorted(SRC.rglob("*.py")):
        if not re.search(r"class \w+\((BaseModel|_Strict|_Flagging)\)", path.read_text()):
            continue
        name = ".".join(("motivlab", *path.relative_to(SRC).with_suffix("").parts))
        if name.startswith(EXEMPT_MODULES):
            continue
        module = importlib.import_module(name)
        classes += [c for c in vars(module).values()
                    if isinstance(c, type) and issubclass(c, BaseModel) and c.__module__ == name]
    return classes


def test_every_config_class_uses_the_shared_rules():
    classes = _config_classes()
    assert len(classes) >= 15, [c.__name__ for c in classes]  # rl, interventions, organism, world, theory, evals
    wrong = [f"{c.__module__}.{c.__name__}" for c in classes
             if c.model_config.get("allow_inf_nan") is not False or c.model_config.get("extra") != "forbid"]
    assert not wrong, f"config classes without motivlab.validation.config_rules: {wrong}"


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, "inf", "nan"])
def test_float_fields_of_default_constructible_configs_reject_non_finite(bad):
    """For every config class that has all-default construction, each float field refuses ``bad``."""
    checked = 0
    for cls in _config_classes():
        try:
            base = cls().model_dump()
        except ValidationError:
            continue  # needs required fields; covered by the rules check above
        for name, info in cls.model_fields.items():
            if not _has_float(info.annotation):
                continue
            value = _holding(str(info.annotation), base[name], bad)
            with pytest.raises(ValidationError, match="finite"):
                cls.model_validate({**base, name: value})
            checked += 1
    assert checked >= 20


@pytest.mark.parametrize("override", [
    "algorithm.beta=inf", "sampling.temperature=inf", "optim.lr=nan", "optim.betas=[0.9, nan]",
    "world.hint.coordinate_scale=inf", "model.organism.sr0=nan", "measure.confidence=nan",
    'interventions=[{kind="steer", layers=[0], beta=nan}]',
    'interventions=[{kind="monitor_penalty", penalty=inf}]',
])
def test_rl_config_rejects_non_finite_overrides(override):
    from motivlab.rl import build_config

    with pytest.raises(ValueError, match=r"finite number"):
        build_config({}, [override])


def test_eval_run_config_rejects_non_finite():
    from motivlab.evals.runner import EvalRunConfig

    field = next(n for n, f in EvalRunConfig.model_fields.items() if _has_float(f.annotation))
    with pytest.raises(ValidationError, match="finite"):
        EvalRunConfig.model_validate({**_required(EvalRunConfig), field: math.inf})


def _has_float(annotation) -> bool:
    """Whether a float can sit in the field (float, float | None, tuple[float, ...], …; not Literal["float32"])."""
    if annotation is float:
        return True
    if typing.get_origin(annotation) is typing.Literal:
        return False
    return any(_has_float(a) for a in typing.get_args(annotation))


def _holding(annotation: str, default, bad):
    """``bad`` in the shape the field takes (a float, or inside its list / tuple / dict)."""
    if annotation.startswith(("tuple", "list")) or "| tuple" in annotation or "| list" in annotation:
        return [bad] * max(len(default or ()), 1)
    if annotation.startswith("dict") or "| dict" in annotation:
        return {"a": bad}
    return bad


def _required(cls: type[BaseModel]) -> dict:
    """Plausible values for required fields (strings), so only the float under test can fail."""
    return {n: "x" for n, f in cls.model_fields.items() if f.is_required()}
