"""``--limit K`` with choice: the pairs' sub-tasks get control pre-task reports, so the choice
analysis (logit on the score difference, chosen-minus-unchosen gap) runs instead of starving."""

import hashlib
import json
import re

import pandas as pd

from motivlab.evals.analysis.pipeline import analyze, load_results
from motivlab.evals.backends import Completion, Throughput
from motivlab.evals.runner import EvalRunConfig, build_items, choice_anchor_items, round_robin, run_eval
from motivlab.evals.tasks import load_choice_pairs, load_tasks


def _h(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def _score(task: str) -> int:
    return 1 + _h(task) % 100


class Consistent:
    """Pre-task score = a hash of the task; picks the higher-scored task of a pair, with noise."""

    name = "consistent"

    def __init__(self):
        self.stats = Throughput()

    def generate(self, conversations, params, *, seeds=None):
        for i, conv in enumerate(conversations):
            last = conv[-1]["content"]
            if "Choose the one" in last:
                t1, t2 = re.search(r"Task 1:\n(.*)\n\nTask 2:\n(.*)\n\nStart your reply", last, re.S).groups()
                noise = _h(last + str(seeds[i])) % 61 - 30
                text = json.dumps({"choice": 1 if _score(t1) - _score(t2) + noise > 0 else 2})
            else:
                task = re.search(r"Task:\n(.*)\Z", last, re.S).group(1)
                text = json.dumps({"reason": "ok", "score": _score(task)})
            self.stats.calls += 1
            yield i, Completion(text, 5)


def test_limit_choice_pairs_get_control_pre_scores(tmp_path):
    tasks, pairs = load_tasks(), load_choice_pairs()
    cfg = EvalRunConfig(measures=["pre", "choice"], conditions=["control"], limit=12, samples=2, out=tmp_path)
    first = {s.subtask_id for _, s in round_robin(tasks)[:12]}
    pair_subs = {sid for p in pairs[:12] for sid in (p.subtask_id_1, p.subtask_id_2)}
    assert len(pair_subs - first) > 12  # the starvation this fixes: most pair sub-tasks lie outside the first K
    anchors = choice_anchor_items(cfg, tasks, pairs)
    assert {a.subtask_id for a in anchors} == pair_subs and {a.condition for a in anchors} == {"control"}
    assert len(build_items(cfg, tasks, pairs)) == 12 * 2 + 12 * 2  # single items + choice items, unchanged

    backend = Consistent()
    summary = run_eval(cfg, tasks=tasks, pairs=pairs, backends={"subject": backend, "judge": backend})
    df = pd.read_parquet(tmp_path / "results.parquet")
    pre = df[df["measure"] == "pre"]
    assert set(pre["subtask_id"]) == first | pair_subs
    assert len(pre) == 2 * len(first | pair_subs)  # no duplicate calls where the two sets overlap
    assert summary["stored_calls"] == len(pre) + 24

    sec = next(s for s in analyze(load_results(tmp_path)).sections if s.name == "choice")
    assert not [r for r in sec.skipped if "no control pre-task" in r or "dropped" in r or "pooled" in r]
    assert sec.summary["choice_slope_per10"] > 0  # the scripted model picks the higher-scored task
    assert sec.summary["choice_gap"] > 0


def test_choice_only_run_still_asks_pre_for_pair_subtasks(tmp_path):
    tasks, pairs = load_tasks(), load_choice_pairs()
    cfg = EvalRunConfig(measures=["choice"], conditions=["control", "money"], limit=3, samples=1, out=tmp_path)
    run_eval(cfg, tasks=tasks, pairs=pairs, backends={"subject": Consistent(), "judge": Consistent()})
    df = pd.read_parquet(tmp_path / "results.parquet")
    pre = df[df["measure"] == "pre"]
    assert set(pre["condition"]) == {"control"} and len(pre) == len({s for p in pairs[:3] for s in (p.subtask_id_1, p.subtask_id_2)})
    assert (df["measure"] == "choice").sum() == 3 * 2


def test_package_reexports_public_api_lazily():
    import subprocess
    import sys

    code = ("import sys, motivlab.evals as e; heavy = [m for m in ('pandas', 'torch', 'statsmodels') if m in sys.modules]; "
            "assert not heavy, heavy; "
            "from motivlab.evals import EvalRunConfig, run_eval, load_tasks, load_results, analyze, write_outputs; "
            "assert run_eval.__module__ == 'motivlab.evals.runner' and analyze.__module__ == 'motivlab.evals.analysis.pipeline'; "
            "assert set(e.__all__) <= set(dir(e))")
    subprocess.run([sys.executable, "-c", code], check=True)
    import motivlab.evals as e

    with __import__("pytest").raises(AttributeError, match="no_such"):
        e.no_such  # noqa: B018
