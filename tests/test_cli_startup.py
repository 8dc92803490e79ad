"""The command line starts fast: help screens load no heavy library.

``motivlab --help`` took over 3 s when the CLI imported torch, pandas and scipy at start-up
(issue 9); with lazy package ``__init__``s and imports inside the commands it takes ~0.3 s. A
wall-clock bound would be flaky on a shared CI machine, so this checks the cause instead: after
the help screen, none of the heavy libraries is in ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "pandas", "scipy", "pyarrow", "matplotlib", "statsmodels", "sklearn")

HELP_SCREENS = [
    ["--help"], ["theory", "--help"], ["organism", "--help"], ["world", "--help"], ["eval", "--help"],
    ["experiment", "--help"], ["train", "--help"], ["sweep", "--help"],
]

# every help screen in one fresh interpreter: if none of them loads a heavy library, none does alone
PROBE = """
import json, sys
from motivlab.cli import app
codes = []
for args in json.loads(sys.argv[1]):
    try:
        app(args, prog_name="motivlab")
        codes.append(None)
    except SystemExit as exc:
        codes.append(exc.code)
    heavy = sorted(m for m in HEAVY_NAMES if m in sys.modules)
    if heavy:
        print(json.dumps({"args": args, "heavy": heavy}))
        break
print(json.dumps({"codes": codes}))
""".replace("HEAVY_NAMES", repr(HEAVY))


def test_help_screens_import_no_heavy_library():
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(HELP_SCREENS)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    for line in lines:
        assert "heavy" not in line, f"`motivlab {' '.join(line['args'])}` imported {line['heavy']}"
    assert lines[-1]["codes"] == [0] * len(HELP_SCREENS), lines[-1]


def test_lazy_packages_resolve_every_public_name():
    """The lazy ``__init__``s (rl, models, worlds, sweep, evals, theory) export what they list."""
    import importlib

    for name in ("motivlab.rl", "motivlab.models", "motivlab.worlds", "motivlab.sweep", "motivlab.evals",
                 "motivlab.theory"):
        module = importlib.import_module(name)
        for attr in module.__all__:
            assert getattr(module, attr) is not None, f"{name}.{attr}"
        with pytest.raises(AttributeError):
            module.no_such_name  # noqa: B018
