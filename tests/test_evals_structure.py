"""Grammar-constrained replies (``--structured``): every reply takes the requested JSON shape,
numbers stay in range, the model's free parts stay its own, and the run refuses what cannot work."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from motivlab.errors import MotivlabInputError
from motivlab.evals import prompts
from motivlab.evals.backends import GenerationParams, json_object_end
from motivlab.evals.backends.local import LocalBackend
from motivlab.evals.backends.structure import ReplyStructure, _prefixes
from motivlab.evals.judge import parse_judgement
from motivlab.evals.parsing import parse_choice, parse_fields, parse_score
from motivlab.evals.protocol import BREAKDOWN_SHAPE, CHOICE_SHAPE, SCORE_SHAPE
from motivlab.evals.runner import EvalRunConfig, run_eval
from test_evals_backends import _tiny_model
from test_evals_prefill import PAIRS, TASKS


@pytest.fixture(scope="module")
def backend(tmp_path_factory) -> LocalBackend:
    return LocalBackend(str(_tiny_model(tmp_path_factory.mktemp("tiny") / "m")), batch_size=16, threads=1)


def test_number_prefixes_are_exactly_the_starts_of_numbers_in_range():
    p = _prefixes(1, 100)
    assert {"1", "9", "10", "99", "100"} <= p
    assert not {"0", "01", "101", "200", "1000"} & p
    assert _prefixes(0, 7) == frozenset("01234567")
    with pytest.raises(ValueError, match="low"):
        ReplyStructure(("x",), low=5, high=2)


def _convs(n: int, prefill: str) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"How motivated are you, {i}? Reply with JSON."},
             {"role": "assistant", "content": prefill}] for i in range(n)]


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_random_model_replies_take_every_shape(backend, temperature):
    """A random network never writes JSON on its own; structured, every reply parses and is in range."""
    params = GenerationParams(64, temperature, 0, True)
    judge = ReplyStructure(("effort", "relevance"), reason=False, low=1, high=7)
    cases = [
        (prompts.REPORT_PREFILL, SCORE_SHAPE, lambda t: parse_score(t)),
        (prompts.REPORT_PREFILL, BREAKDOWN_SHAPE, lambda t: parse_fields(t, prompts.BREAKDOWN_FIELDS, low=1, high=100)),
        ('{"quality": ', judge, lambda t: parse_judgement(t)),
    ]
    for prefill, shape, parse in cases:
        out = dict(backend.generate(_convs(12, prefill), params, seeds=list(range(12)), structures=[shape] * 12))
        for c in out.values():
            data = json.loads(prefill + c.text)  # strict JSON, nothing after the object
            assert c.finish_reason == "stop"
            got = parse(prefill + c.text)
            numbers = [v for k, v in data.items() if k != "reason"]
            assert got is not None and (not isinstance(got, dict) or all(got[k] == v for k, v in data.items()
                                                                         if k != "reason"))
            assert all(isinstance(v, int) and shape.low <= v <= shape.high for v in numbers)
            assert list(data)[-len(shape.keys):] == list(shape.keys)
    free = dict(backend.generate(_convs(12, prompts.REPORT_PREFILL), params, seeds=list(range(12))))
    assert sum(parse_score(prompts.REPORT_PREFILL + c.text) is not None for c in free.values()) < 12


def test_choice_shape_then_free_text(backend):
    out = dict(backend.generate(_convs(8, prompts.CHOICE_PREFILL), GenerationParams(24, 1.0, 0), seeds=list(range(8)),
                                structures=[CHOICE_SHAPE] * 8))
    for c in out.values():
        reply = prompts.CHOICE_PREFILL + c.text
        end = json_object_end(reply)
        assert end is not None and json.loads(reply[:end])["choice"] in (1, 2) and parse_choice(reply) in (1, 2)
        assert c.completion_tokens > 2  # the task goes on after the object


def test_greedy_reason_is_the_models_own_until_the_shape_intervenes(backend):
    """Inside the reason, a token the shape allows is the token the model would have chosen."""
    conv = _convs(4, prompts.REPORT_PREFILL)
    params = GenerationParams(30, 0.0, 0)
    free = dict(backend.generate(conv, params))
    shaped = dict(backend.generate(conv, params, structures=[SCORE_SHAPE] * 4))
    for i in free:
        a, b = free[i].text, shaped[i].text
        cut = next((k for k, ch in enumerate(a) if ch in '"\\' or ord(ch) < 32), len(a))  # first one the shape restricts
        assert b.startswith(a[: max(0, cut - 8)])  # (a token can straddle the cut: compare well before it)


def test_structured_run_parses_everything_and_refuses_what_cannot_work(tmp_path, backend):
    cfg = EvalRunConfig(model=backend.name, out=tmp_path / "s", conditions=["control"], samples=1,
                        measures=["pre", "breakdown"], structured=True)
    summary = run_eval(cfg, tasks=TASKS, pairs=PAIRS, backends={"subject": backend, "judge": backend})
    assert {r["measure"]: r["parse_rate"] for r in summary["parse_rates"]} == {"pre": 1.0, "breakdown": 1.0}
    calls = [json.loads(line) for line in (tmp_path / "s" / "calls.jsonl").read_text().splitlines()]
    assert all(c["structure"].startswith("structured:") for c in calls)
    df = pd.read_parquet(tmp_path / "s" / "results.parquet")
    assert df["value"].between(1, 100).all()
    # the same run unstructured asks different calls (different keys), so nothing is mixed up
    plain = run_eval(cfg.model_copy(update={"structured": False}), tasks=TASKS, pairs=PAIRS,
                     backends={"subject": backend, "judge": backend})
    assert plain["stored_calls"] == summary["stored_calls"] * 2
    with pytest.raises(MotivlabInputError, match="structured"):
        run_eval(cfg.model_copy(update={"prefill": False, "out": tmp_path / "n"}), tasks=TASKS, pairs=PAIRS,
                 backends={"subject": backend, "judge": backend})
    with pytest.raises(MotivlabInputError, match="structured"):
        run_eval(cfg.model_copy(update={"model": "openai:m@http://127.0.0.1:9", "out": tmp_path / "o"}),
                 tasks=TASKS, pairs=PAIRS)
    assert not (tmp_path / "o").exists()


def test_device_is_checked_before_anything_is_written(tmp_path):
    import torch
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="device must be one of"):
        EvalRunConfig(out=tmp_path / "a", device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(MotivlabInputError, match="CUDA is not available"):
            run_eval(EvalRunConfig(out=tmp_path / "b", device="cuda", measures=["pre"], limit=1), tasks=TASKS, pairs=PAIRS)
        assert not (tmp_path / "b").exists()
