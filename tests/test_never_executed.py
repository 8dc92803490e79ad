"""No code path runs data as code: no eval/exec, no pickle, torch.load only with weights_only=True.

A source scan (every module of the package), so a new call site fails CI rather than a review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import motivlab

SRC = Path(motivlab.__file__).parent
FORBIDDEN_NAMES = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_ATTRS = {("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("marshal", "loads"),
                   ("dill", "load"), ("dill", "loads"), ("cloudpickle", "load"), ("yaml", "load"),
                   ("yaml", "unsafe_load"), ("shelve", "open")}


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f, where = node.func, f"{path.relative_to(SRC)}:{node.lineno}"
        if isinstance(f, ast.Name) and f.id in FORBIDDEN_NAMES:
            out.append(f"{where}: {f.id}()")
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            if (f.value.id, f.attr) in FORBIDDEN_ATTRS:
                out.append(f"{where}: {f.value.id}.{f.attr}()")
            if (f.value.id, f.attr) == ("torch", "load"):
                safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                           for k in node.keywords)
                if not safe:
                    out.append(f"{where}: torch.load without weights_only=True")
    return out


def test_no_call_in_the_package_executes_data():
    offences = [o for path in sorted(SRC.rglob("*.py")) for o in _offences(path)]
    assert not offences, offences


def test_the_scan_sees_what_it_forbids(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import pickle, torch\neval('1')\npickle.loads(b'')\ntorch.load('x')\ntorch.load('x', weights_only=False)\n")
    global SRC
    saved, SRC = SRC, tmp_path
    try:
        assert len(_offences(bad)) == 4
    finally:
        SRC = saved
