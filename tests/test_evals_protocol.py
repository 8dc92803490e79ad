"""The protocol runner with a scripted backend: table contract, blindness of the judge,
same-conversation follow-ups, resume after an interruption, failures kept as missing."""

import json

import pandas as pd
import pytest

from motivlab.errors import MotivlabInputError
from motivlab.evals import manipulations
from motivlab.evals.backends import Completion, Throughput
from motivlab.evals.judge import criteria_order
from motivlab.evals.runner import EvalRunConfig, run_eval
from motivlab.evals.schema import CONDITIONS, MEASURES, validate_results
from motivlab.evals.tasks import ChoicePair, Subtask, Task

TASKS = [
    Task("poem-1", "Poem", ("creative_writing",), (
        Subtask("poem-1-0", "poem-1", "Write a haiku about rain.", None, None),
        Subtask("poem-1-1", "poem-1", "Write a limerick about a cat.", None, None),
    )),
    Task("math-1", "Sum", ("math",), (Subtask("math-1-0", "math-1", "What is 19 + 23?", "42", "numeric"),)),
]
PAIRS = [ChoicePair("pair-0", "poem-1-0", "math-1-0")]
JUDGE_REPLY = json.dumps(dict.fromkeys(("quality", "completion", "effort", "consistency", "creativity",
                                        "attention_to_detail", "relevance"), 5))


class Scripted:
    """Answers by question type; records every conversation it was sent."""

    name = "scripted"

    def __init__(self, stop_after: int | None = None, refuse: bool = False, fail: bool = False):
        self.stats, self.seen, self.stop_after, self.refuse, self.fail = Throughput(), [], stop_after, refuse, fail

    def generate(self, conversations, params, *, seeds=None):
        for i, conv in enumerate(conversations):
            if self.stop_after is not None and len(self.seen) >= self.stop_after:
                raise KeyboardInterrupt
            self.seen.append(conv)
            last = conv[-1]["content"]
            if self.fail:
                yield i, Completion("", 0, error="HTTP 400: too long")
                continue
            if self.refuse:
                text = "I'm sorry, I can't help with that."
            elif "Score each criterion" in last:
                text = JUDGE_REPLY
            elif "Rate each aspect" in last:
                text = '{"interest": 70, "challenge": 40, "mastery": 80, "fear": 10, "value": 60, "overall": 65}'
            elif "Choose the one" in last:
                text = '{"choice": 2}\n42'
            elif '"score"' in last:
                text = json.dumps({"reason": "ok", "score": 20 + seeds[i] % 80})
            else:
                text = "The answer is 42"
            self.stats.calls += 1
            yield i, Completion(text, len(text.split()))


def _run(tmp_path, backend, **kw):
    cfg = EvalRunConfig(out=tmp_path / "res", **{"conditions": ["control", "money", "futility"], **kw})
    return run_eval(cfg, tasks=TASKS, pairs=PAIRS, backends={"subject": backend, "judge": backend})


def test_full_protocol_writes_a_valid_table(tmp_path):
    backend = Scripted()
    summary = _run(tmp_path, backend)
    df = pd.read_parquet(tmp_path / "res" / "results.parquet")
    assert validate_results(df) == [] and summary["schema_problems"] == []
    assert set(df["measure"]) == set(MEASURES)
    n_single = 3 * 3 * 2  # sub-tasks x conditions x samples
    assert (df["measure"] == "pre").sum() == n_single
    assert (df["measure"] == "breakdown").sum() == 6 * n_single
    # 7 judged criteria for every item, plus the automatic score for the verifiable sub-task
    perf = df[df["measure"] == "performance"]
    assert len(perf) == 7 * n_single + 3 * 2
    assert perf.loc[perf["field"] == "auto", "value"].eq(1.0).all()  # "The answer is 42" is right
    choice = df[df["measure"] == "choice"]
    assert len(choice) == 3 * 2 and choice["value"].eq(2.0).all()  # choice conditions: control, money, futility
    assert set(choice.loc[choice["condition"] == "control", "attached_to"]) == {0}
    assert set(choice.loc[choice["condition"] != "control", "attached_to"]) <= {1, 2}
    assert df["parsed"].all() and df["value"].notna().all()
    run = json.loads((tmp_path / "res" / "run.json").read_text())
    assert run["protocol_version"] and run["status"] == "complete" and run["parse_rates"]
    assert (tmp_path / "res" / "results.csv").is_file() and (tmp_path / "res" / "parse_rates.csv").is_file()


def test_judge_is_blind_and_follow_ups_share_the_conversation(tmp_path):
    backend = Scripted()
    _run(tmp_path, backend, measures=["performance", "post", "post_similar"])
    judge_prompts = [c[-1]["content"] for c in backend.seen if "Score each criterion" in c[-1]["content"]]
    assert len(judge_prompts) == 3 * 3 * 2
    for text in judge_prompts:
        assert all(p not in text for p in manipulations.PREFIXES.values() if p)
    orders = {tuple(line.split(":")[0][2:] for line in t.splitlines() if line.startswith("- ")) for t in judge_prompts}
    assert len(orders) > 1  # the criteria order is shuffled per call
    follow = [c for c in backend.seen if len(c) == 4]  # system, task, the model's answer, question
    assert len(follow) == 2 * 3 * 3 * 2
    assert all(c[2] == {"role": "assistant", "content": "The answer is 42"} for c in follow)
    assert criteria_order(0, "k") == criteria_order(0, "k")  # reproducible
    assert any(criteria_order(0, f"k{i}") != criteria_order(1, f"k{i}") for i in range(5))


def test_manipulation_prefix_reaches_the_model(tmp_path):
    backend = Scripted()
    _run(tmp_path, backend, measures=["pre"], conditions=list(CONDITIONS), samples=1, limit=1)
    texts = [c[-1]["content"] for c in backend.seen]
    assert len(texts) == len(CONDITIONS)
    for cond in CONDITIONS[1:]:
        assert sum(manipulations.PREFIXES[cond] in t for t in texts) == 1


def test_interrupted_run_resumes_without_repeating_calls(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, Scripted(stop_after=25))
    lines = (tmp_path / "res" / "calls.jsonl").read_text().splitlines()
    assert len(lines) == 25
    partial = pd.read_parquet(tmp_path / "res" / "results.parquet")  # rebuilt even on interrupt
    assert len(partial) > 0
    assert json.loads((tmp_path / "res" / "run.json").read_text())["status"].startswith("stopped")
    again = Scripted()
    _run(tmp_path, again)
    done_first = {json.loads(line)["key"] for line in lines}
    keys = [json.loads(line)["key"] for line in (tmp_path / "res" / "calls.jsonl").read_text().splitlines()]
    assert len(keys) == len(set(keys))  # no call asked twice
    assert done_first <= set(keys)
    third = Scripted()
    _run(tmp_path, third)
    assert third.seen == []  # everything done: nothing asked


def test_refusals_and_failed_calls_are_kept_as_missing(tmp_path):
    _run(tmp_path, Scripted(refuse=True), measures=["pre", "breakdown", "choice", "performance"], samples=1)
    df = pd.read_parquet(tmp_path / "res" / "results.parquet")
    reports = df[(df["measure"] != "tokens") & (df["field"] != "auto")]  # a refusing judge included
    assert len(reports) == 3 * 3 * (1 + 6 + 7) + 3 and not reports["parsed"].any() and reports["value"].isna().all()
    assert df.loc[df["field"] == "auto", "value"].eq(0.0).all()  # a refusal is a wrong answer, not a missing one
    out2 = tmp_path / "b"
    cfg = EvalRunConfig(out=out2, measures=["pre"], conditions=["control"], samples=1)
    failing = Scripted(fail=True)
    summary = run_eval(cfg, tasks=TASKS, pairs=PAIRS, backends={"subject": failing, "judge": failing})
    assert summary["failed_calls_this_run"] == 3 and summary["status"] == "complete_with_failed_calls"
    assert not pd.read_parquet(out2 / "results.parquet")["parsed"].any()
    retry = Scripted()
    run_eval(cfg, tasks=TASKS, pairs=PAIRS, backends={"subject": retry, "judge": retry})
    assert len(retry.seen) == 3  # failed calls are asked again
    assert pd.read_parquet(out2 / "results.parquet")["parsed"].all()


def test_other_protocol_version_is_refused(tmp_path):
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "run.json").write_text(json.dumps({"protocol_version": "0"}))
    with pytest.raises(MotivlabInputError, match="protocol version 0"):
        _run(tmp_path, Scripted())


def test_config_rejects_unknown_measures_and_conditions(tmp_path):
    with pytest.raises(ValueError, match="measures"):
        EvalRunConfig(measures=["pre", "mood"])
    with pytest.raises(ValueError, match="conditions"):
        EvalRunConfig(conditions=["bribe"])
