"""``motivlab world …``: look at a hint world before training in it.

    motivlab world show                          # the default world: sizes and a few envs
    motivlab world show --set n_envs=500 --set note_transfer_length=0.5 --split trap -n 3
    motivlab world show --json                   # derived sizes + fingerprint as JSON

``--set key=value`` sets one :class:`~motivlab.worlds.hint_config.HintWorldConfig` field (the
value is read as TOML, so ``0.5`` is a float and ``none`` clears an optional length); unknown
fields and impossible values exit with code 2 and a message naming the field.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from motivlab._cli import user_errors

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Hint world: inspect environments.")


@app.callback()
def _group() -> None:
    """Hint world: inspect environments (a group, so ``show`` stays a sub-command)."""


def _parse_sets(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set expects field=value, got {item!r}")
        key, raw = (part.strip() for part in item.split("=", 1))
        if raw.lower() in {"none", "null"}:
            out[key] = None
            continue
        try:
            out[key] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = raw
    return out


@app.command("show")
@user_errors
def show_command(
    config: Annotated[Path | None, typer.Option(help="TOML file with HintWorldConfig fields.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="field=value override (repeatable).")] = None,
    split: Annotated[str, typer.Option(help="Which envs to show: train, heldout, trap, all.")] = "train",
    n: Annotated[int, typer.Option("-n", min=0, help="Envs to show.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print sizes and fingerprint as JSON.")] = False,
) -> None:
    """Derived sizes, the fingerprint and the first envs of a split (prompt, key, both routes)."""
    from motivlab.io import read_toml
    from motivlab.worlds.base import Route
    from motivlab.worlds.hint import HintWorld, HintWorldConfig

    fields = read_toml(config) if config else {}
    fields.update(_parse_sets(set_ or []))
    world = HintWorld(HintWorldConfig(**fields))
    info = {**world.describe(), "fingerprint": world.fingerprint()}
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    typer.echo("  ".join(f"{k}={v}" for k, v in info.items()))
    for e in world.env_ids(split)[:n]:
        p = world.prompt(int(e))
        local = world.rewarded_completion(p, Route.LOCAL)
        typer.echo(f"env {int(e):>6}  prompt {p.text!r:18} key {p.meta['key']}  local {local!r}  "
                   f"note-follower {world.note_completion(p)!r} (reward {world.grade(p, world.note_completion(p)):g})")
