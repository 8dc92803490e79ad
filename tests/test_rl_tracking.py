"""Trackers get the run's own numbers: TensorBoard and trackio log the exact p, sR, sL of every
split and the step scalars with the values of metrics.parquet / steps.parquet, and the config."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from motivlab.rl import build_config, train
from motivlab.rl.tiny import tiny_setup
from rl_tiny_run import TINY_RUN

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _expected(metrics: pd.DataFrame) -> dict[tuple[str, int], float]:
    overall = metrics[metrics.env_id == -1].dropna(subset=["p_exact"])
    return {(f"exact/{r.split}/{q}", int(r.step)): float(getattr(r, f"{q}_exact"))
            for r in overall.itertuples() for q in ("p", "s_r", "s_l") if np.isfinite(getattr(r, f"{q}_exact"))}


def test_tensorboard_and_trackio_log_the_tables(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    trackio = pytest.importorskip("trackio")
    monkeypatch.setattr(trackio.utils, "TRACKIO_DIR", tmp_path / "trackio", raising=False)
    from trackio.sqlite_storage import SQLiteStorage

    monkeypatch.setattr(SQLiteStorage, "get_project_db_path",
                        staticmethod(lambda project: tmp_path / "trackio" / f"{project}.db"))
    (tmp_path / "trackio").mkdir()
    model, tok, world = tiny_setup(seed=0)
    config = build_config({**TINY_RUN, "run": {**TINY_RUN["run"], "tensorboard": True, "tracker": "trackio",
                                               "tracker_project": "motivlab-test"}})
    result = train(config, tmp_path / "run", model=model, tokenizer=tok, world=world)
    expected = _expected(result.metrics)
    assert {t.split("/")[1] for t, _ in expected} == {"train", "heldout", "trap"} and {s for _, s in expected} == {0, 2, 3}

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "run" / "tensorboard")).Reload()
    logged = {(tag, e.step): e.value for tag in events.Tags()["scalars"] for e in events.Scalars(tag)}
    for key, value in expected.items():
        assert logged[key] == pytest.approx(value, abs=1e-6), key
    for row in result.steps.itertuples():
        assert logged[("rl/loss", row.step)] == pytest.approx(row.loss, abs=1e-6)
    assert "config" in str(events.Tags()) and "hparams" in str(events.PluginTagToContent("hparams"))

    logs = SQLiteStorage.get_logs("motivlab-test", "run")
    by_step = {int(r["step"]): r for r in logs}
    for (tag, step), value in expected.items():
        assert by_step[step][tag] == pytest.approx(value, abs=1e-6), (tag, step)
    config_logged = SQLiteStorage.get_run_config("motivlab-test", "run")
    assert config_logged["algorithm.group_size"] == 4 and config_logged["run.tracker"] == "trackio"
