"""A sweep spec: a base run config, a grid of ``--set``-style knobs, optional named points.

    base = "positive_gap.toml"          # a run config (relative to this file), or an inline [base] table
    max_attempts = 2                     # tries per point before it counts as failed
    [set]                                # applied to every point
    steps = 20
    [grid]                               # the Cartesian product of these values
    "world.n_train_envs" = [4, 16, 64]   # dotted keys (quoted in TOML) or nested tables
    seed = [0, 1, 2]
    [[points]]                           # optional named variants, each crossed with the grid
    name = "plain"
    [[points]]
    name = "filter"
    set = { interventions = [{ kind = "filter" }] }

Every point's run config is ``base`` → ``run.progress = false`` (the sweep shows its own progress)
→ ``set`` → the point's ``set`` → its grid values, built and validated by
:func:`motivlab.rl.config.build_config` *before* anything is written, so a knob that does not exist
in the run config is an error naming it. A point's name is deterministic and filesystem-safe:
``<point name>__<knob>-<value>_…`` (``n_train_envs-16_seed-2``); it names ``runs/<point>/``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from motivlab.errors import MotivlabInputError
from motivlab.validation import config_rules

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,79}$")
SWEEP_DEFAULTS = {"run.progress": False}  # applied under the spec's own `set`


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c.d": 2}`` → ``{"a.b": 1, "c.d": 2}``; lists (and their tables) are values."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


class PointSpec(BaseModel):
    """A named variant of the base config (an "arm"); crossed with the grid when there is one."""

    model_config = config_rules()

    name: str = Field(description="Filesystem-safe name (letters, digits, . _ + -), unique in the sweep.")
    set: dict[str, Any] = Field(default_factory=dict, description="Dotted run-config keys → values for this point.")

    @field_validator("name")
    @classmethod
    def _safe(cls, value: str) -> str:
        if not _SAFE_NAME.match(value) or "__" in value:
            raise ValueError(f"must be 1-80 letters, digits, '.', '_', '+' or '-' (no '__'), starting with a "
                             f"letter or digit, got {value!r}")
        return value

    @field_validator("set", mode="before")
    @classmethod
    def _flat(cls, value: Any) -> Any:
        return flatten(value) if isinstance(value, Mapping) else value


class SweepSpec(BaseModel):
    """Many RL runs from one base config; see the module docstring for the TOML form."""

    model_config = config_rules()

    base: str | dict[str, Any] = Field(
        description="A run-config TOML file (relative paths: to the spec file, else the working directory) "
        "or the run config itself as a table.")
    grid: dict[str, list[Any]] = Field(
        default_factory=dict, description="Dotted run-config key → the values to sweep (Cartesian product, "
        "in key order). Nested tables are flattened to dotted keys; a list is always a list of values.")
    points: list[PointSpec] = Field(default_factory=list, description="Named points, each crossed with the grid.")
    set: dict[str, Any] = Field(default_factory=dict, description="Dotted run-config keys → values for every point.")
    max_attempts: int = Field(
        2, ge=1, le=20, description="Tries per point (a failed point is retried in the same and later "
        "sweeps until it has failed this often). Not part of the spec's hash: raise it and rerun to retry.")

    @field_validator("grid", "set", mode="before")
    @classmethod
    def _flat(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return flatten(value)
        return value

    @model_validator(mode="after")
    def _non_empty(self) -> SweepSpec:
        for key, values in self.grid.items():
            if not values:
                raise ValueError(f"grid.{key}: empty list of values (give at least one, or leave the key out)")
            if len({_canonical_json(v) for v in values}) < len(values):
                raise ValueError(f"grid.{key}: repeated values {values!r}")
        if not self.grid and not self.points:
            raise ValueError("grid: empty grid and no [[points]]: nothing to run")
        names = [p.name for p in self.points]
        if len(set(names)) < len(names):
            raise ValueError(f"points: names must be unique, got {names}")
        return self


@dataclass(frozen=True)
class Point:
    """One run of the sweep: its name, knob values and the fully resolved run config."""

    name: str
    arm: str  # the named point's name ('' without [[points]])
    knobs: dict[str, Any]  # grid key → value
    config: dict[str, Any] = field(repr=False)  # config_to_dict(TrainConfig), what runs/<name>/config.toml holds


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def spec_error(exc: ValidationError) -> MotivlabInputError:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        got = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
        lines.append(f"{where or 'spec'}: {err['msg']}{got}")
    return MotivlabInputError("invalid sweep spec:\n  " + "\n  ".join(lines))


def load_spec(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> tuple[SweepSpec, dict[str, Any]]:
    """Read a sweep spec TOML; ``overrides`` (``--set k=v``) join its ``set``. Returns the spec and
    its base run config, resolved (a file base is read, relative to the spec's directory first)."""
    from motivlab.io import read_toml

    path = Path(path)
    data = read_toml(path)
    spec = parse_spec(data, overrides)
    return spec, resolve_base(spec, path.parent)


def parse_spec(data: Mapping[str, Any] | SweepSpec, overrides: Sequence[str] = ()) -> SweepSpec:
    """Validate a spec mapping (or copy a spec) and merge ``--set`` overrides into its ``set``."""
    from motivlab.rl.config import parse_override

    try:
        spec = data.model_copy(deep=True) if isinstance(data, SweepSpec) else SweepSpec.model_validate(dict(data))
    except ValidationError as exc:
        raise spec_error(exc) from None
    for item in overrides:
        keys, value = parse_override(item)
        spec.set[".".join(keys)] = value
    return spec


def resolve_base(spec: SweepSpec, spec_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The base run config as a mapping (a file is read; an inline table is used as is)."""
    from motivlab.io import read_toml

    if isinstance(spec.base, dict):
        return dict(spec.base)
    candidates = [Path(spec.base).expanduser()]
    if spec_dir is not None and not candidates[0].is_absolute():
        candidates.insert(0, Path(spec_dir) / spec.base)
    for candidate in candidates:
        if candidate.is_file():
            return read_toml(candidate)
    raise MotivlabInputError(f"base: run config {spec.base!r} not found (looked at {', '.join(map(str, candidates))})")


def _value_label(value: Any) -> str:
    """A short filesystem-safe label for a knob value (a hash where the value is a structure)."""
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, float):
        text = repr(value) if math.isfinite(value) else str(value)
    elif isinstance(value, (int, str)):
        text = str(value)
    else:
        kinds = [v.get("kind") for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []
        readable = "+".join(str(k) for k in kinds if k) if kinds else ("none" if value in ([], {}) else "v")
        digest = hashlib.sha256(_canonical_json(value).encode()).hexdigest()[:6]
        text = f"{readable}-{digest}"
    text = re.sub(r"[^A-Za-z0-9.+-]+", "-", text).strip("-.")
    return text[:40] or "x"


def _knob_labels(keys: Sequence[str]) -> dict[str, str]:
    """The last dotted component of each key, or the whole key where two keys share it."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (short if last.count(short) == 1 else k) for k, short in zip(keys, last, strict=True)}


def expand(spec: SweepSpec, base: Mapping[str, Any]) -> list[Point]:
    """Every point of the sweep with its validated run config, in a deterministic order; an error
    names the first key (and the point) whose config does not validate, before anything is written."""
    from motivlab.rl.config import apply_values, build_config, config_to_dict

    keys = list(spec.grid)
    labels = _knob_labels(keys)
    arms = spec.points or [PointSpec(name="point")]
    points: list[Point] = []
    for arm in arms:
        for combo in itertools.product(*(spec.grid[k] for k in keys)):
            knobs = dict(zip(keys, combo, strict=True))
            grid_part = "_".join(f"{labels[k]}-{_value_label(v)}" for k, v in knobs.items())
            name = "__".join(part for part in ((arm.name if spec.points else ""), grid_part) if part)
            layers = (("sweep defaults", SWEEP_DEFAULTS), ("set", spec.set),
                      (f"points[{arm.name}].set", arm.set), ("grid", knobs))
            data: dict[str, Any] = dict(base)
            for where, values in layers:
                try:
                    data = apply_values(data, values)
                except ValueError as exc:
                    raise MotivlabInputError(f"{where}: {exc} (point {name})") from None
            try:
                config = build_config(data)
            except ValueError as exc:
                raise MotivlabInputError(f"point {name}: {exc}") from None
            points.append(Point(name=name, arm=arm.name if spec.points else "", knobs=knobs,
                                config=config_to_dict(config)))
    names = [p.name for p in points]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise MotivlabInputError(f"grid: values give the same point name twice ({dupes[:3]}); use distinct values")
    return points


def resolved_spec(spec: SweepSpec, base: Mapping[str, Any]) -> dict[str, Any]:
    """What the sweep directory stores (``sweep.toml``): the spec with its base config inlined."""
    data = spec.model_dump(mode="json")
    data["base"] = dict(base)
    return data


def spec_hash(resolved: Mapping[str, Any]) -> str:
    """16 hex of the resolved spec without ``max_attempts`` (an acceptance rule, not a recipe)."""
    from motivlab.io import _drop_none

    payload = {k: v for k, v in _drop_none(resolved).items() if k != "max_attempts"}
    return hashlib.sha256(_canonical_json(payload).encode()).hexdigest()[:16]
