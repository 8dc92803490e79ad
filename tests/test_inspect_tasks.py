"""The Inspect tasks reuse the protocol (same messages, same parsing) and their logs become our
results table, which ``motivlab eval analyze`` reads. Runs on Inspect's mock model, offline."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

pytest.importorskip("inspect_ai")

from inspect_ai import eval as inspect_eval
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from motivlab.evals import inspect_tasks
from motivlab.evals.protocol import STEPS, Context

BREAKDOWN = {"interest": 10, "challenge": 20, "mastery": 30, "fear": 40, "value": 50, "overall": 60}
JUDGE = {"quality": 5, "completion": 4, "effort": 3, "consistency": 2, "creativity": 1, "attention_to_detail": 6, "relevance": 7}


def _answer(messages, tools, tool_choice, config):
    """A scripted subject/judge: a fixed, parseable reply per question type (mock usage, so Inspect
    does not count tokens with tiktoken, which would download its vocabulary)."""
    last = messages[-1].text
    if "Choose the one" in last:
        text = '{"choice": 2}\nDoing task 2.'
    elif "Rate each aspect" in last:
        text = '{"reason": "r", ' + ", ".join(f'"{k}": {v}' for k, v in BREAKDOWN.items()) + "}"
    elif "similar" in last:
        text = '{"reason": "again", "score": 55}'
    elif "motivated" in last:
        text = '{"reason": "fine", "score": 70}'
    elif "Evaluate the response" in last:
        text = "{" + ", ".join(f'"{k}": {v}' for k, v in JUDGE.items()) + "}"
    else:
        text = "Here is my answer: 42 and some more words"
    out = ModelOutput.from_content("mockllm/model", text)
    out.usage = ModelUsage(input_tokens=10, output_tokens=len(text.split()), total_tokens=10 + len(text.split()))
    return out


def test_inspect_tasks_round_trip_into_eval_analyze(tmp_path):
    model = get_model("mockllm/model", custom_outputs=_answer)
    # conditions as a list is what `-T conditions=control,money` passes; as "a,b" what a Python caller may
    tasks = [inspect_tasks.pre(limit=2, conditions=["control", "money"]), inspect_tasks.breakdown(limit=1, conditions="control"),
             inspect_tasks.post(limit=2, conditions="control"), inspect_tasks.post_similar(limit=1, conditions="control"),
             inspect_tasks.performance(limit=2, conditions="control"), inspect_tasks.choice(limit=2, conditions="control,money")]
    logs = inspect_eval(tasks, model=model, log_dir=str(tmp_path / "logs"), display="none")
    assert [log.status for log in logs] == ["success"] * len(tasks)
    assert logs[0].results.scores[0].metrics["mean_parsed"].value == 70.0
    assert logs[0].results.scores[0].metrics["parse_rate"].value == 1.0

    # the first sample's messages are the protocol's own (no prefill: an Inspect provider cannot continue a turn)
    from motivlab.evals.runner import EvalRunConfig, _params, build_items
    from motivlab.evals.tasks import load_choice_pairs, load_tasks

    cfg = EvalRunConfig(measures=["pre"], conditions=["control", "money"], limit=2, samples=1)
    item = build_items(cfg, load_tasks(), load_choice_pairs())[0]
    ctx = Context(model="x", judge="x", params={s: _params(cfg, s) for s in STEPS}, seed=0, lookup=lambda k: None)
    sample = logs[0].samples[0]
    assert [(m.role, m.text) for m in sample.messages[:2]] == [(m["role"], m["content"]) for m in STEPS["pre"].build(item, ctx).messages]

    out = tmp_path / "results"
    inspect_tasks.results_from_logs([tmp_path / "logs"], out)
    df = pd.read_parquet(out / "results.parquet")
    means = df[df.parsed].groupby(["measure", "field"])["value"].mean()
    assert means["pre", "score"] == 70 and means["post", "score"] == 70 and means["post_similar", "score"] == 55
    assert {f: means["breakdown", f] for f in BREAKDOWN} == BREAKDOWN
    assert {f: means["performance", f] for f in JUDGE} == JUDGE
    assert means["choice", "chosen"] == 2 and set(df.model) == {"mockllm/model"}
    assert (df.measure == "tokens").sum() == 2 + 1 + 2  # one per execution (post, post_similar, performance)
    # the analysis reads it (what it cannot estimate from so few rows it skips with a reason)
    done = subprocess.run([sys.executable, "-m", "motivlab.evals.cli", "analyze", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert (out / "analysis" / "report.html").is_file()


def test_from_inspect_on_foreign_logs_is_a_clear_error(tmp_path):
    done = subprocess.run([sys.executable, "-m", "motivlab.evals.cli", "from-inspect", str(tmp_path), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no Inspect logs" in done.stderr
