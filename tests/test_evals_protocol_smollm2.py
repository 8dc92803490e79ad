"""End to end with the real default model: ``motivlab eval run --model smollm2`` on two items."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from motivlab.evals.cli import app
from motivlab.evals.schema import validate_results


@pytest.mark.slow
def test_eval_run_smollm2_end_to_end(tmp_path):
    out = tmp_path / "res"
    args = ["run", "--model", "smollm2", "--limit", "2", "--measures", "pre,performance,post",
            "--conditions", "control,futility", "--samples", "1", "--max-tokens", "24", "--report-max-tokens", "40",
            "--judge-max-tokens", "80", "--batch-size", "4", "--threads", "1", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(out / "results.parquet")
    assert validate_results(df) == []
    assert set(df["measure"]) == {"pre", "performance", "post", "tokens"}  # tokens come free with the execution
    assert len(df) == 2 * 2 * (1 + 7 + 1 + 1)  # items x conditions x (pre + 7 criteria + post + tokens)
    assert df.loc[df["parsed"], "value"].notna().all() and df.loc[~df["parsed"], "value"].isna().all()
    pre = df[df["measure"] == "pre"]
    assert pre.loc[pre["parsed"], "value"].between(1, 100).all()
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete" and run["throughput"]["subject"]["completion_tokens"] > 0
    n_calls = len((out / "calls.jsonl").read_text().splitlines())
    assert n_calls == 2 * 2 * 4  # pre, execution, post, judge
    res = CliRunner().invoke(app, args)  # rerun: everything is already done
    assert res.exit_code == 0, res.output
    assert len((out / "calls.jsonl").read_text().splitlines()) == n_calls
