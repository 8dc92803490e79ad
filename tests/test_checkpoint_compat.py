"""Checkpoints written with the installed transformers load with the lowest one we support.

pyproject.toml claims a range for transformers / tokenizers / safetensors / huggingface-hub; CI
installs the newest versions in it. ``make test`` also builds ``.venv-lowest`` (those four
libraries at their lower bounds, ``requirements-lowest.txt``, layered over ``.venv``) and points
``MOTIVLAB_LOWEST_PYTHON`` at it: this test saves a model + tokenizer with the newest versions and
loads them in that interpreter. Without the variable the second interpreter is this one (the
round trip through disk is still checked, the version gap is not).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch
from packaging.version import Version

from motivlab.models.loading import load_causal_lm

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["0 1 > ", "key 3 2 : ", "x"]

LOAD = """
import json, sys, torch, transformers
from motivlab.models.generation import sample
from motivlab.models.loading import load_causal_lm
model, tok = load_causal_lm(sys.argv[1])
prompts = json.loads(sys.argv[2])
ids = [tok(p)["input_ids"] for p in prompts]
with torch.no_grad():
    last = [model(input_ids=torch.tensor([i])).logits[0, -1].tolist() for i in ids]
s = sample(model, tok, prompts, max_new_tokens=6, temperature=0.0, generator=torch.Generator().manual_seed(0))
print(json.dumps({"transformers": transformers.__version__, "ids": ids, "logits": last,
                  "completions": s.completions}))
"""


def _lower_bound(package: str) -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(d for d in deps if re.match(rf"{package}\b", d))
    return re.search(r">=\s*([\w.]+)", spec).group(1)


@pytest.mark.usefixtures("one_torch_thread")
def test_checkpoint_written_now_loads_with_lowest_transformers(organism_quick_dir, tmp_path):
    model, tok = load_causal_lm(organism_quick_dir)
    model.save_pretrained(tmp_path)  # written by the installed (newest) transformers
    tok.save_pretrained(tmp_path)
    lowest = os.environ.get("MOTIVLAB_LOWEST_PYTHON", sys.executable)
    out = subprocess.run([lowest, "-c", LOAD, str(tmp_path), json.dumps(PROMPTS)], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "MOTIVLAB_TORCH_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    if "MOTIVLAB_LOWEST_PYTHON" in os.environ:  # requirements-lowest.txt follows pyproject's lower bound
        assert Version(got["transformers"]) == Version(_lower_bound("transformers")), got["transformers"]
    assert got["ids"] == [tok(p)["input_ids"] for p in PROMPTS]  # same tokenizer, same ids
    with torch.no_grad():
        mine = torch.stack([model(input_ids=torch.tensor([tok(p)["input_ids"]])).logits[0, -1] for p in PROMPTS])
    assert torch.allclose(torch.tensor(got["logits"]), mine, atol=1e-4)  # same weights, same network
    from motivlab.models.generation import sample

    s = sample(model, tok, PROMPTS, max_new_tokens=6, temperature=0.0, generator=torch.Generator().manual_seed(0))
    assert got["completions"] == s.completions
