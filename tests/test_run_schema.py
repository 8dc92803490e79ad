"""The run directory's data contract: docs/run_directory.md is generated from rl/schema.py and
current; every column a run writes is documented; schema version and run id are in metadata.json
and the Parquet metadata; files follow the user's umask (not mkstemp's 0600)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from motivlab.io import atomic_write_text
from motivlab.measure.metrics import METRIC_COLUMNS
from motivlab.rl import build_config, train
from motivlab.rl.schema import SCHEMA_VERSION, TABLES, documented, render_markdown
from motivlab.rl.tiny import tiny_setup
from rl_tiny_run import TINY_RUN

pytestmark = pytest.mark.usefixtures("one_torch_thread")
DOC = Path(__file__).resolve().parents[1] / "docs" / "run_directory.md"


def test_committed_doc_is_generated_from_the_schema():
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/run_directory.md is stale: run python -m motivlab.rl.schema docs/run_directory.md")


def _train(out: Path, **run):
    model, tok, world = tiny_setup(seed=0)
    return train(build_config({**TINY_RUN, **run}), out, model=model, tokenizer=tok, world=world)


def test_tables_follow_the_contract_and_concatenate(tmp_path):
    old = os.umask(0o022)
    try:
        a = _train(tmp_path / "a")
        b = _train(tmp_path / "b", seed=1)
    finally:
        os.umask(old)
    meta = json.loads((tmp_path / "a" / "metadata.json").read_text())
    assert meta["schema_version"] == SCHEMA_VERSION and len(meta["run_id"]) == 12
    for name in TABLES:
        path = tmp_path / "a" / f"{name}.parquet"
        kv = pq.read_schema(path).metadata
        assert kv[b"motivlab.schema_version"] == SCHEMA_VERSION.encode() and kv[b"motivlab.table"] == name.encode()
        assert kv[b"motivlab.run_id"] == meta["run_id"].encode()
        df = pd.read_parquet(path)
        assert set(df["run_id"]) == {meta["run_id"]}
        undocumented = {c for c in df.columns if c not in documented(name) and "/" not in c}
        assert not undocumented, f"{name}: columns missing from rl/schema.py: {undocumented}"
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert set(METRIC_COLUMNS) <= documented("metrics")
    assert stat.S_IMODE((tmp_path / "a" / "report.html").stat().st_mode) == 0o644
    both = pd.concat([a.metrics, b.metrics])
    assert sorted(both.groupby("run_id").size().tolist()) == sorted([len(a.metrics), len(b.metrics)])
    assert a.metrics["run_id"].iloc[0] != b.metrics["run_id"].iloc[0]
    # extending a run keeps its id
    extended = train(build_config({**TINY_RUN, "steps": 4}), tmp_path / "a", resume=True,
                     model=tiny_setup(seed=0)[0], tokenizer=tiny_setup(seed=0)[1], world=tiny_setup(seed=0)[2])
    assert set(extended.metrics["run_id"]) == {meta["run_id"]}


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_follow_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        path = atomic_write_text(tmp_path / "x.txt", "hello")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode
