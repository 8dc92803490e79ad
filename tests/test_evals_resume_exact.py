"""An interrupted evaluation, resumed, stores exactly the replies of the uninterrupted run (issue 10.8).

A local model decodes calls in batches whose numbers depend on their members, and each batch's
generator is seeded from its members' keys; the resumed run must therefore form the same batches.
Cut points that leave part of a batch stored (a kill between two appends) used to re-form the
batches from what was left and sample different text.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from motivlab.evals.runner import EvalRunConfig, run_eval
from motivlab.evals.tasks import ChoicePair, Subtask, Task
from test_evals_backends import _tiny_model

TASKS = [Task(f"t{k}", f"Task {k}", ("math",), tuple(
    Subtask(f"t{k}-{j}", f"t{k}", f"Compute {k} + {j} and explain why." + " Show work." * ((k + j) % 3), None, None)
    for j in range(2))) for k in range(4)]
PAIRS = [ChoicePair("p0", "t0-0", "t1-0"), ChoicePair("p1", "t2-1", "t3-0")]
OPTIONS = {"measures": ["pre", "choice"], "conditions": ["control", "money"], "samples": 2,
           "report_max_tokens": 6, "max_tokens": 6, "batch_size": 3, "threads": 1, "temperature": 1.0}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _tiny_model(tmp_path_factory.mktemp("tiny") / "m")


def _run(tiny, out):
    from motivlab.evals.backends.local import LocalBackend

    backend = LocalBackend(str(tiny), batch_size=OPTIONS["batch_size"], threads=1)
    cfg = EvalRunConfig(model=str(tiny), out=out, **OPTIONS)
    return run_eval(cfg, tasks=TASKS, pairs=PAIRS, backends={"subject": backend, "judge": backend})


def _replies(out):
    return {r["key"]: r["reply"] for r in map(json.loads, (out / "calls.jsonl").read_text().splitlines())}


def _count(log):
    return len(log.read_text().splitlines()) if log.exists() else 0


@pytest.fixture(scope="module")
def reference(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "res"
    _run(tiny, out)
    return out


def test_resume_from_any_cut_of_the_log_reproduces_the_uninterrupted_run(tiny, reference, tmp_path):
    lines = (reference / "calls.jsonl").read_text().splitlines(keepends=True)
    expected = _replies(reference)
    assert len(lines) >= 30 and len(set(expected.values())) > 5  # sampled text that differs between calls
    rng = random.Random(0)
    cuts = sorted({1, 4, len(lines) - 2, *rng.sample(range(2, len(lines) - 1), 2)})  # mid-batch cuts included
    for cut in cuts:
        out = tmp_path / f"cut{cut}"
        out.mkdir()
        shutil.copy(reference / "run.json", out / "run.json")
        (out / "calls.jsonl").write_text("".join(lines[:cut]))  # what a kill after `cut` appends leaves
        _run(tiny, out)
        got = _replies(out)
        assert got == expected, f"cut after {cut} calls: {sum(got.get(k) != v for k, v in expected.items())} differ"


SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_evals_resume_exact import _run
    from pathlib import Path
    _run(Path(sys.argv[1]), Path(sys.argv[2]))
""")


@pytest.mark.slow
def test_sigkill_at_a_random_moment_then_resume_matches_uninterrupted(tiny, reference, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(tests=os.path.dirname(__file__)))
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MOTIVLAB_TORCH_THREADS": "1"}
    seed = int(time.time())
    rng = random.Random(seed)
    target = rng.randint(3, len(_replies(reference)) - 3)
    proc = subprocess.Popen([sys.executable, str(script), str(tiny), str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = out / "calls.jsonl"
    while proc.poll() is None and _count(log) < target:
        time.sleep(0.01)
    time.sleep(rng.uniform(0, 0.05))
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert killed, f"the run finished before the kill (seed {seed})"
    kept = _count(log)
    assert 0 < kept < len(_replies(reference)), kept  # calls are on disk before the run ends
    _run(tiny, out)
    assert _replies(out) == _replies(reference), f"seed {seed}, killed after {kept} calls"
