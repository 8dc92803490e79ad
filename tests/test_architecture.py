"""Packages import downward only: the import rules of docs/architecture.md, checked on the source.

Every ``import motivlab…`` / ``from motivlab… import`` in ``src/motivlab`` (at module level or
inside a function: a lazy import is still a dependency) is mapped to the *layer* of the importing
module and of the imported one, and must be an allowed edge of ``MAY_IMPORT``. To add a package:
give it a layer in ``LAYERS`` (by module prefix; the longest prefix wins) and list what it may
import in ``MAY_IMPORT``; docs/architecture.md shows the same table.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# module prefix -> layer (longest matching prefix wins)
LAYERS: dict[str, str] = {
    # the base every layer may use: errors, file IO, the HTML report writer, CLI helpers
    "motivlab": "base",  # the root module itself only, not as a prefix
    "motivlab.errors": "base",
    "motivlab._lazy": "base",
    "motivlab.io": "base",
    "motivlab.redact": "base",
    "motivlab.validation": "base",
    "motivlab.report": "base",
    "motivlab._cli": "base",
    "motivlab.theory": "theory",  # the model itself: pure numpy/scipy
    "motivlab.worlds": "worlds",
    "motivlab.models": "models",
    # building the organism measures it (is the cipher learnt?), so it sits above measure
    "motivlab.models.pretrain": "organism_build",
    "motivlab.models.calibrate": "organism_build",
    "motivlab.measure": "measure",
    "motivlab.rl": "rl",
    "motivlab.integrations": "integrations",
    "motivlab.evals": "evals",
    "motivlab.theory.fit": "theory_fit",  # reads run directories: above rl
    "motivlab.sweep": "sweep",
    "motivlab.experiments": "experiments",
    # the command line: each package's cli.py mounts commands and may call into anything
    "motivlab.cli": "cli",
}
CLI_MODULE_NAMES = {"cli"}  # motivlab.<pkg>[.<sub>].cli modules belong to the "cli" layer

BELOW_RL = {"base", "theory", "worlds", "models", "organism_build", "measure"}
MAY_IMPORT: dict[str, set[str]] = {
    "base": set(),
    "theory": set(),
    "worlds": {"theory"},  # environment coordinates come from the theory's geometries
    "models": {"worlds"},  # the organism is pretrained on its world's corpus
    "measure": {"worlds", "models"},
    "organism_build": {"worlds", "models", "measure"},
    "rl": BELOW_RL,
    "integrations": BELOW_RL | {"rl"},
    "evals": {"models", "measure"},
    "theory_fit": BELOW_RL | {"rl"},
    "sweep": BELOW_RL | {"rl"},
    "experiments": BELOW_RL | {"rl", "integrations", "evals", "theory_fit", "sweep"},
    "cli": set(),  # filled below: anything
}
MAY_IMPORT["cli"] = set(MAY_IMPORT) - {"cli"}
for _layer in MAY_IMPORT:
    MAY_IMPORT[_layer] |= {"base", _layer}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[-1] in CLI_MODULE_NAMES:
        return "cli"
    for n in range(len(parts), 1, -1):
        prefix = ".".join(parts[:n])
        if prefix in LAYERS:
            return LAYERS[prefix]
    if module == "motivlab":
        return LAYERS["motivlab"]
    raise KeyError(f"{module} has no layer: give its package one in tests/test_architecture.py LAYERS "
                   "(and docs/architecture.md)")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every absolute motivlab import in the file (``from a import b``
    yields ``a.b`` too, so importing a submodule that way counts as importing it)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name == "motivlab" or name.startswith("motivlab.")]


def _known_prefix(name: str) -> str:
    """The longest prefix of ``name`` that is a module or package under src/ (drops imported
    function and class names)."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        base = SRC.joinpath(*parts[:n])
        if base.with_suffix(".py").exists() or (base / "__init__.py").exists():
            return ".".join(parts[:n])
    return parts[0]


def violations() -> list[str]:
    broken = []
    for path in sorted(SRC.joinpath("motivlab").rglob("*.py")):
        source = module_name(path)
        try:
            source_layer = layer_of(source)
        except KeyError:
            continue  # reported by test_every_module_has_a_layer
        for line, name in imports(path):
            target = _known_prefix(name)
            try:
                target_layer = layer_of(target)
            except KeyError:
                continue
            if target_layer not in MAY_IMPORT[source_layer]:
                allowed = ", ".join(sorted(MAY_IMPORT[source_layer]))
                broken.append(f"src/{path.relative_to(SRC)}:{line}: {source} ({source_layer}) imports {target} "
                              f"({target_layer}); layer {source_layer!r} may import only: {allowed}")
    return sorted(set(broken))


def test_every_module_has_a_layer():
    missing = []
    for path in SRC.joinpath("motivlab").rglob("*.py"):
        try:
            assert layer_of(module_name(path)) in MAY_IMPORT, path
        except KeyError as exc:
            missing.append(exc.args[0])
    assert not missing, "\n".join(sorted(missing))


def test_packages_import_downward_only():
    broken = violations()
    assert not broken, "imports that break docs/architecture.md's rules:\n" + "\n".join(broken)


def test_the_checker_catches_an_upward_import(tmp_path, monkeypatch):
    """The rule table is not vacuous: measure importing rl is reported, with file, line and rule."""
    package = tmp_path / "motivlab" / "measure"
    package.mkdir(parents=True)
    (tmp_path / "motivlab" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "bad.py").write_text("import os\n\n\ndef f():\n    from motivlab.rl.trainer import train\n")
    (tmp_path / "motivlab" / "rl").mkdir()
    (tmp_path / "motivlab" / "rl" / "__init__.py").write_text("")
    (tmp_path / "motivlab" / "rl" / "trainer.py").write_text("")
    monkeypatch.setattr(__import__(__name__), "SRC", tmp_path)
    [message] = violations()
    assert "src/motivlab/measure/bad.py:5" in message and "imports motivlab.rl.trainer (rl)" in message
    assert "layer 'measure' may import only: base, measure, models, worlds" in message
