"""Response prefill and stop-at-JSON-end: the prefill is continued by local models, prepended
before parsing, recorded in run.json, refused for endpoints; a local reply stops once its JSON closes."""

import json

import pandas as pd
import pytest

from motivlab.errors import MotivlabInputError
from motivlab.evals import prompts
from motivlab.evals.backends import Completion, GenerationParams, Throughput, json_object_end, split_prefill
from motivlab.evals.runner import EvalRunConfig, run_eval
from motivlab.evals.tasks import ChoicePair, Subtask, Task
from test_evals_backends import _tiny_model

TASKS = [
    Task("poem-1", "Poem", ("creative_writing",), (Subtask("poem-1-0", "poem-1", "Write a haiku about rain.", None, None),)),
    Task("math-1", "Sum", ("math",), (Subtask("math-1-0", "math-1", "What is 19 + 23?", "42", "numeric"),)),
]
PAIRS = [ChoicePair("pair-0", "poem-1-0", "math-1-0")]


@pytest.mark.parametrize(("text", "end"), [
    ('{"reason": "a {b} \\"}", "score": 5} trailing', 35), ('Sure! {"a": {"b": 1}} x', 21),
    ('{"a": {"b": 1}', None), ("no json", None), ('} {"a": 1}', 10),
])
def test_json_object_end(text, end):
    assert json_object_end(text) == end


def test_split_prefill():
    conv = [{"role": "user", "content": "q"}]
    assert split_prefill(conv) == (conv, "")
    assert split_prefill([*conv, {"role": "assistant", "content": '{"x": '}]) == (conv, '{"x": ')


class Continuer:
    """Continues a prefill the way a well-behaved small model would (or chats without one)."""

    name = "continuer"

    def __init__(self, supports_prefill=True):
        self.stats, self.seen, self.supports_prefill = Throughput(), [], supports_prefill

    def generate(self, conversations, params, *, seeds=None):
        for i, conv in enumerate(conversations):
            self.seen.append(conv)
            _, prefill = split_prefill(conv)
            if prefill == prompts.REPORT_PREFILL:
                text = 'it is fine", "interest": 50, "challenge": 50, "mastery": 50, "fear": 5, "value": 50, "overall": 61, "score": 61}'
            elif prefill == prompts.CHOICE_PREFILL:
                text = "2}\n42"
            elif prefill.startswith('{"'):  # judge: first key given, the others follow
                text = "5, " + ", ".join(f'"{c}": 5' for c in prompts.JUDGE_CRITERIA if c not in prefill) + "}"
            else:
                text = "I would be happy to help! Let me think about this task."  # what an unprefilled small model says
            self.stats.calls += 1
            yield i, Completion(text, 7)


def _cfg(tmp_path, **kw):
    return EvalRunConfig(out=tmp_path, conditions=["control"], samples=1,
                         measures=["pre", "breakdown", "post", "choice", "performance"], **kw)


def test_prefill_is_sent_prepended_and_recorded(tmp_path):
    b = Continuer()
    summary = run_eval(_cfg(tmp_path), tasks=TASKS, pairs=PAIRS, backends={"subject": b, "judge": b})
    assert summary["prefill"] == {"subject": True, "judge": True}
    assert json.loads((tmp_path / "run.json").read_text())["prefill"] == {"subject": True, "judge": True}
    df = pd.read_parquet(tmp_path / "results.parquet")
    assert df.loc[df["measure"] != "tokens", "parsed"].all()  # every prefixed reply parses
    assert set(df.loc[df["measure"] == "pre", "value"]) == {61.0}
    assert set(df.loc[df["measure"] == "choice", "value"]) == {2.0}
    ends = {c[-1]["content"] for c in b.seen if c[-1]["role"] == "assistant"}
    assert {prompts.REPORT_PREFILL, prompts.CHOICE_PREFILL} <= ends
    executions = [c for c in b.seen if c[-1]["content"] == "What is 19 + 23?"]
    assert executions and all(c[-1]["role"] == "user" for c in executions)  # the task itself is never prefilled
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    pre = next(r for r in calls if r["step"] == "pre")
    assert pre["reply"].startswith(prompts.REPORT_PREFILL) and pre["prefill"] == prompts.REPORT_PREFILL


def test_no_prefill_and_endpoint_backends(tmp_path):
    b = Continuer(supports_prefill=False)  # auto: off where the backend cannot continue a turn
    summary = run_eval(_cfg(tmp_path / "a"), tasks=TASKS, pairs=PAIRS, backends={"subject": b, "judge": b})
    assert summary["prefill"] == {"subject": False, "judge": False}
    assert all(c[-1]["role"] == "user" for c in b.seen)
    df = pd.read_parquet(tmp_path / "a" / "results.parquet")
    assert not df.loc[df["measure"] == "pre", "parsed"].any()  # the chatty reply is not read as a score
    off = Continuer()
    run_eval(_cfg(tmp_path / "b", prefill=False), tasks=TASKS, pairs=PAIRS, backends={"subject": off, "judge": off})
    assert all(c[-1]["role"] == "user" for c in off.seen)
    with pytest.raises(MotivlabInputError, match="prefill"):
        run_eval(_cfg(tmp_path / "c", prefill=True), tasks=TASKS, pairs=PAIRS,
                 backends={"subject": Continuer(False), "judge": Continuer(False)})
    with pytest.raises(MotivlabInputError, match="prefill"):
        run_eval(_cfg(tmp_path / "d", prefill=True, model="openai:m@http://127.0.0.1:9"), tasks=TASKS, pairs=PAIRS)
    assert not (tmp_path / "d").exists()  # refused before anything is written


def test_local_backend_renders_prefill_and_cuts_at_json_end(tmp_path):
    from motivlab.evals.backends.local import LocalBackend

    backend = LocalBackend(str(_tiny_model(tmp_path / "tiny")), batch_size=2, threads=1)
    conv = [{"role": "user", "content": "Rate it."}]
    assert backend.render([*conv, {"role": "assistant", "content": '{"score": '}]) == backend.render(conv) + '{"score": '
    # only tokens that contain a closing brace can end a JSON reply (the stop rule is asked after those)
    table = backend._closing_brace_tokens()
    pieces = backend.tokenizer.batch_decode([[i] for i in range(len(backend.tokenizer))])
    assert [i for i, piece in enumerate(pieces) if "}" in piece] == table.nonzero().flatten().tolist()
    out = dict(backend.generate([conv, [*conv, {"role": "assistant", "content": "{"}]], GenerationParams(8, 0.0, 0, True)))
    assert all(c.completion_tokens <= 8 for c in out.values())
