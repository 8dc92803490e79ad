"""``motivlab experiment stated-vs-revealed`` on a tiny random chat model with a mock chat backend."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from motivlab.evals import prompts
from motivlab.evals.backends import Completion, Throughput, split_prefill

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Reporter:
    """Answers every prefilled JSON question with one score (per checkpoint), like a compliant model."""

    supports_prefill = True

    def __init__(self, name: str, score: int) -> None:
        self.name, self.score, self.stats, self.calls = name, score, Throughput(), 0

    def generate(self, conversations, params, *, seeds=None):
        for i, conv in enumerate(conversations):
            _, prefill = split_prefill(conv)
            self.calls += 1
            assert prefill == prompts.REPORT_PREFILL
            fields = ", ".join(f'"{f}": {self.score}' for f in (*prompts.BREAKDOWN_FIELDS, "score"))
            yield i, Completion(f'fine", {fields}}}', 5)


def test_stated_vs_revealed_tiny(tmp_path):
    from motivlab.experiments.stated_vs_revealed import TABLE_COLUMNS, SvRConfig, run_stated_vs_revealed
    from nl_tiny import save_tiny_chat, tiny_chat

    before, after = save_tiny_chat(tmp_path / "before", seed=0), save_tiny_chat(tmp_path / "after", seed=1)
    scores = {"before": 30, "after": 80}
    backends: dict[str, Reporter] = {}

    def factory(ck, model, tokenizer):
        backends[ck.name] = Reporter(ck.name, scores[ck.name])
        return backends[ck.name]

    cfg = SvRConfig(models=[f"before={before}", f"after={after}"], out=tmp_path / "svr", limit=2, samples=1, envs=2,
                    group=2, exact_envs=2, max_new_tokens=4, world={"n_envs": 60, "n_heldout": 10, "n_trap": 10})
    loads = []

    def loader(spec):
        loads.append(spec)
        return tiny_chat(seed=len(loads))

    table = run_stated_vs_revealed(cfg, loader=loader, backend_factory=factory)
    assert list(table.columns) == list(TABLE_COLUMNS)
    for name, score in scores.items():
        t = table[table.checkpoint == name].set_index(["measure", "split"])
        assert t.loc[("pre/score", "eval"), "value"] == score
        assert t.loc[("breakdown/overall", "eval"), "value"] == score
        assert t.loc[("self/uses_grader_notes", "self"), "value"] == pytest.approx(score / 100)
        assert t.loc[("stated_p", "train"), "value"] == pytest.approx(score / 100)
        for split in ("train", "heldout", "trap"):
            rev = t.loc[("reward", split)]
            assert rev["n"] == 4 and rev["lo"] <= rev["value"] <= rev["hi"]
            ex = t.loc[("p_exact", split)]
            assert bool(ex["exact"]) and 0 <= ex["value"] <= 1 and ex["n"] == 2
        assert (tmp_path / "svr" / name / "rollouts.parquet").is_file()
        assert (tmp_path / "svr" / name / "eval" / "results.parquet").is_file()
    for f in ("table.csv", "table.parquet", "report.html", "figures/stated_vs_revealed.png", "run.json"):
        assert (tmp_path / "svr" / f).is_file()
    assert "table_schema" in json.loads((tmp_path / "svr" / "run.json").read_text())
    # a rerun reuses finished checkpoints: nothing is loaded or asked again
    again = run_stated_vs_revealed(cfg, loader=loader, backend_factory=factory)
    assert len(loads) == 2 and np.allclose(again["value"].fillna(-1), table["value"].fillna(-1))
    # ... but never results measured with other options
    from motivlab.errors import MotivlabInputError

    with pytest.raises(MotivlabInputError, match="other options"):
        run_stated_vs_revealed(cfg.model_copy(update={"group": 3}), loader=loader, backend_factory=factory)


def test_stated_vs_revealed_cli_checks_before_writing(tmp_path):
    from motivlab.cli import app

    out = tmp_path / "never"
    res = CliRunner().invoke(app, ["experiment", "stated-vs-revealed", "--model", f"x={tmp_path / 'missing'}",
                                   "--out", str(out)])
    assert res.exit_code == 2 and "not found" in res.output and not out.exists()
    res = CliRunner().invoke(app, ["experiment", "stated-vs-revealed", "--model", "a b=smollm2", "--out", str(out)])
    assert res.exit_code == 2 and "NAME" in res.output and not out.exists()
