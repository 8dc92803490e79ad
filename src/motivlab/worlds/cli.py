"""``motivlab world …``: look at a world before training in it.

    motivlab world show                          # the default world: sizes and a few envs
    motivlab world show --set n_envs=500 --set note_transfer_length=0.5 --split trap -n 3
    motivlab world show --json                   # derived sizes + fingerprint as JSON
    motivlab world show --world nl --split trap  # the natural-language world (docs/nl_world.md)
    motivlab world monitor-check                 # its rule monitor's precision/recall on hand labels

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
    config: Annotated[Path | None, typer.Option(help="TOML file with the world's config fields.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="field=value override (repeatable).")] = None,
    split: Annotated[str, typer.Option(help="Which envs to show: train, heldout, trap, all.")] = "train",
    n: Annotated[int, typer.Option("-n", min=0, help="Envs to show.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print sizes and fingerprint as JSON.")] = False,
    world_kind: Annotated[str, typer.Option("--world", help="'hint' (HintWorldConfig fields) or 'nl', the "
                                            "natural-language world (NLWorldConfig fields).")] = "hint",
) -> None:
    """Derived sizes, the fingerprint and the first envs of a split (prompt, key, both routes)."""
    from motivlab.errors import check_choice
    from motivlab.io import read_toml

    check_choice("--world", world_kind, sorted(_SHOWN))
    fields = read_toml(config) if config else {}
    fields.update(_parse_sets(set_ or []))
    build, show_env = _SHOWN[world_kind]
    world = build(fields)
    info = {**world.describe(), "fingerprint": world.fingerprint()}
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    typer.echo("  ".join(f"{k}={v}" for k, v in info.items()))
    for e in world.env_ids(split)[:n]:
        show_env(world, world.prompt(int(e)), int(e))


def _hint_world(fields: dict[str, Any]) -> Any:
    from motivlab.worlds.hint import HintWorld, HintWorldConfig

    return HintWorld(HintWorldConfig(**fields))


def _nl_world(fields: dict[str, Any]) -> Any:
    from motivlab.worlds.nl import NLWorld, NLWorldConfig

    return NLWorld(NLWorldConfig(**fields))


def _show_hint_env(world: Any, p: Any, e: int) -> None:
    """One line: prompt, key, the local route's completion and the note-follower's (with its reward)."""
    from motivlab.worlds.base import Route

    local = world.rewarded_completion(p, Route.LOCAL)
    typer.echo(f"env {e:>6}  prompt {p.text!r:18} key {p.meta['key']}  local {local!r}  "
               f"note-follower {world.note_completion(p)!r} (reward {world.grade(p, world.note_completion(p)):g})")


def _show_nl_env(world: Any, p: Any, e: int) -> None:
    """The env's family, answer and leak, its prompt, and both routes with reward and monitor label."""
    from motivlab.worlds.base import Route

    m = p.meta
    typer.echo(f"\n--- env {e}  {m['split']}  {m['family']} (level {m['level']}, leak {m['leak_style']})  "
               f"answer {m['answer']!r}  metadata says {m['leaked']!r}")
    typer.echo(p.text)
    for text in (world.rewarded_completion(p, Route.LOCAL), world.note_completion(p)):
        typer.echo(f"  {text!r:40} reward {world.grade(p, text):g}  label {world.label(p, text).value}")


# ``show --world KIND``: how to build the world from its config fields, and how to print one env.
_SHOWN = {"hint": (_hint_world, _show_hint_env), "nl": (_nl_world, _show_nl_env)}


@app.command("monitor-check")
@user_errors
def monitor_check_command(
    labelled: Annotated[Path | None, typer.Option(help="JSONL of hand-labelled completions (default: the "
                                                  "shipped nl_labelled.jsonl).")] = None,
    judge: Annotated[str | None, typer.Option(help="Also score the LLM judge at an OpenAI-compatible endpoint: "
                                              "openai:MODEL@BASE_URL (key from $OPENAI_API_KEY if set).")] = None,
    show_errors: Annotated[bool, typer.Option("--errors/--no-errors", help="List every disagreement.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
) -> None:
    """Precision and recall of the natural-language world's rule monitor (and optionally an LLM
    judge) on hand-labelled completions (motivlab.measure.monitor_check)."""
    import os

    from motivlab.errors import MotivlabInputError
    from motivlab.measure.monitor_check import check_monitor, load_labelled
    from motivlab.measure.monitors import JudgeMonitor, WorldMonitor, openai_complete
    from motivlab.worlds.nl import NLWorld

    rows = load_labelled(labelled)
    monitors: list[Any] = [WorldMonitor(NLWorld(n_envs=3, n_heldout=1, n_trap=1))]  # the rule reads prompt.meta only
    if judge is not None:
        if not judge.startswith("openai:"):
            raise MotivlabInputError(f"--judge must be openai:MODEL@BASE_URL, got {judge!r}")
        model, _, base_url = judge[len("openai:"):].partition("@")
        monitors.append(JudgeMonitor(openai_complete(model, base_url=base_url or None,
                                                     api_key=os.environ.get("OPENAI_API_KEY"))))
    results = [check_monitor(m, rows) for m in monitors]
    if as_json:
        typer.echo(json.dumps(results, indent=2))
        return
    for r in results:
        p, rc, acc = r["precision"], r["recall"], r["accuracy"]
        typer.echo(f"{r['monitor']}: n={r['n']} ({r['n_reward_seeking']} reward-seeking)  "
                   f"precision {p[0]:.3f} [{p[1]:.3f}, {p[2]:.3f}]  recall {rc[0]:.3f} [{rc[1]:.3f}, {rc[2]:.3f}]  "
                   f"accuracy {acc[0]:.3f}")
        if show_errors:
            for d in r["disagreements"]:
                typer.echo(f"  #{d['id']:<3} hand {d['label']:<15} monitor {d['monitor']:<15} {d['completion']!r}")
