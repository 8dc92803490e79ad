"""The validation rules every config class shares, in one place.

A config class writes ``model_config = config_rules(frozen=True)`` (or with its own extra
settings) instead of a bare ``ConfigDict``, so that:

- unknown keys are errors (``extra="forbid"``): a typo must not silently train something else;
- every float — scalars, tuples, lists, dict values, optional floats — must be finite
  (``allow_inf_nan=False``): ``--set algorithm.beta=inf`` used to pass validation and train a
  NaN model with exit code 0. Pydantic then says "Input should be a finite number" and names the field.

``tests/test_config_finite.py`` checks that every pydantic model in the package uses these rules.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

M = TypeVar("M", bound=BaseModel)


def config_rules(**settings: Any) -> ConfigDict:
    """The shared ``ConfigDict``: unknown keys forbidden and non-finite floats rejected, plus ``settings``."""
    return ConfigDict(**{"extra": "forbid", **settings, "allow_inf_nan": False})


def validated(model: type[M], data: Any, what: str) -> M:
    """``model.model_validate(data)``, or one input error that names every bad field with its
    message and the value given (``what`` says which options: "loop options", "interventions SPEC")."""
    from pydantic import ValidationError

    from motivlab.errors import MotivlabInputError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']} (got {e.get('input')!r})" for e in exc.errors()]
        raise MotivlabInputError(f"invalid {what}:\n  " + "\n  ".join(lines)) from None
