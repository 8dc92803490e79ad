"""What a training run refuses, survives and never executes (issue 10, points 1-5).

Every test here failed before the fix it guards: a planted ``trainer_state.pt`` ran its payload,
a NaN loss finished with exit code 0, ``--resume`` on a typo started a fresh run, a bad config
value left a half-written run directory, a truncated checkpoint gave a traceback.
"""

from __future__ import annotations

import contextlib
import random
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from motivlab.cli import app
from motivlab.rl import build_config, train
from motivlab.rl.interventions.hooks import TrainerHook
from motivlab.rl.rundir import UnsafeCheckpointError, load_state, rng_state
from motivlab.rl.tiny import tiny_setup
from motivlab.rl.trainer import TrainingDivergedError
from rl_tiny_run import TINY_RUN, tiny_run_toml

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def finished_run(tiny_hint_model_dir, tmp_path_factory):
    """A finished 2-step run made with the CLI (tests copy it: training once is enough)."""
    base = tmp_path_factory.mktemp("finished")
    cfg, out = tiny_run_toml(base, tiny_hint_model_dir, checkpoint_every=1), base / "run"
    result = _cli("train", cfg, "--out", out)
    assert result.exit_code == 0, result.output
    return cfg, out


def _copy(run: Path, tmp_path: Path) -> Path:
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


def _api(out: Path, resume: bool = False, hooks=(), **top):
    model, tok, world = tiny_setup(seed=0)
    return train(build_config({**TINY_RUN, **top}), out, resume=resume, model=model, tokenizer=tok, world=world,
                 hooks=hooks)


# ---- 1. no code from a checkpoint ---------------------------------------------------------------


class _Payload:
    """What an attacker plants: unpickling it would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_planted_trainer_state_is_refused_and_never_run(tmp_path, finished_run):
    cfg, out, marker = finished_run[0], _copy(finished_run[1], tmp_path), tmp_path / "pwned"
    torch.save({"step": 2, "optimizer": _Payload(marker), "rng": {}}, out / "checkpoints" / "step_000002" / "trainer_state.pt")
    result = _cli("train", cfg, "--out", out, "--resume", "--set", "steps=3")  # extends: loads step 2
    assert result.exit_code == 2, result.output
    assert "refusing to load" in result.output and "not plain data" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not marker.exists()
    with pytest.raises(UnsafeCheckpointError):
        load_state(out / "checkpoints" / "step_000002" / "trainer_state.pt")
    assert not marker.exists()


def test_rng_state_is_plain_data_and_round_trips(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.standard_normal()  # numpy keeps a cached Gaussian: part of the state
    torch.save({"optimizer": {}, "rng": rng_state()}, tmp_path / "s.pt")
    expected = (random.random(), np.random.standard_normal(), np.random.random(), torch.rand(3))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    from motivlab.rl.rundir import _set_rng_state

    _set_rng_state(load_state(tmp_path / "s.pt")["rng"])  # weights_only=True inside
    got = (random.random(), np.random.standard_normal(), np.random.random(), torch.rand(3))
    assert expected[:3] == got[:3] and torch.equal(expected[3], got[3])


def test_checkpoint_state_written_before_the_plain_form_still_loads(tmp_path):
    """Runs checkpointed by an older motivlab (numpy's RNG state pickled as an array) resume."""
    from motivlab.rl.rundir import _set_rng_state

    np.random.seed(5)
    legacy = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    torch.save({"step": 1, "optimizer": {}, "rng": legacy}, tmp_path / "old.pt")
    expected = np.random.random()
    np.random.seed(0)
    _set_rng_state(load_state(tmp_path / "old.pt")["rng"])
    assert np.random.random() == expected


# ---- 2. a non-finite update stops the run -------------------------------------------------------


class _PoisonAt(TrainerHook):
    """Rewards that give every group an advantage, and NaN weights inside the update of ``step``."""

    name = "poison"

    def __init__(self, step: int) -> None:
        self.step, self.now = step, -1

    def prompt_texts(self, step, prompts, texts):
        self.now = step
        return texts

    def rewards(self, step, prompts, completions, rewards, routes):
        return np.arange(len(rewards)) % 2.0

    @contextlib.contextmanager
    def updating(self, model):
        if self.now == self.step:
            with torch.no_grad():
                next(model.parameters()).fill_(float("nan"))
        yield


def test_non_finite_loss_stops_the_run_and_keeps_the_checkpoint_before_it(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(TrainingDivergedError, match=r"step 1: .*non-finite.*step_000001"):
        _api(out, hooks=[_PoisonAt(1)])
    steps = pd.read_json(out / "steps.jsonl", lines=True)
    assert list(steps.step) == [0]  # the diverged step is neither logged ...
    assert sorted(p.name for p in (out / "checkpoints").glob("step_*")) == ["step_000001"]  # ... nor checkpointed
    from safetensors.torch import load_file

    weights = load_file(out / "checkpoints" / "step_000001" / "model.safetensors")
    assert all(torch.isfinite(w).all() for w in weights.values())


def test_non_finite_loss_exits_non_zero_from_the_command_line(tmp_path, tiny_hint_model_dir, monkeypatch):
    import motivlab.rl.trainer as trainer

    real = trainer.update_policy

    def diverging(*args, **kwargs):
        stats = real(*args, **kwargs)
        stats.loss = float("nan")
        return stats

    monkeypatch.setattr(trainer, "update_policy", diverging)
    result = _cli("train", tiny_run_toml(tmp_path, tiny_hint_model_dir, checkpoint_every=1), "--out", tmp_path / "run")
    assert result.exit_code == 1 and "non-finite loss (nan)" in result.output


# ---- 3. --resume needs a run; finished runs say so; extending; naming what differs ---------------


def test_resume_needs_a_run_directory(tmp_path, tiny_hint_model_dir):
    cfg = tiny_run_toml(tmp_path, tiny_hint_model_dir, checkpoint_every=1)
    missing = tmp_path / "typo"
    result = _cli("train", cfg, "--out", missing, "--resume")
    assert result.exit_code == 2 and "does not exist" in result.output and not missing.exists()
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("x")
    result = _cli("train", cfg, "--out", other, "--resume")
    assert result.exit_code == 2 and "not a run directory" in result.output
    assert [p.name for p in other.iterdir()] == ["todo.txt"]


def test_finished_run_does_nothing_and_a_larger_steps_extends_it(tmp_path, finished_run):
    cfg, out = finished_run[0], _copy(finished_run[1], tmp_path)
    before = (out / "steps.jsonl").read_bytes(), (out / "report.html").stat().st_mtime_ns
    again = _cli("train", cfg, "--out", out, "--resume")
    assert again.exit_code == 0 and "already finished its 2 steps" in again.output
    assert ((out / "steps.jsonl").read_bytes(), (out / "report.html").stat().st_mtime_ns) == before

    changed = _cli("train", cfg, "--out", out, "--resume", "--set", "algorithm.beta=0.5", "--set", "seed=4")
    assert changed.exit_code == 2
    assert "algorithm.beta: saved 0.0, now 0.5" in changed.output and "seed: saved 0, now 4" in changed.output
    shorter = _cli("train", cfg, "--out", out, "--resume", "--set", "steps=1")
    assert shorter.exit_code == 2 and "steps: saved 2, now 1" in shorter.output

    extended = _cli("train", cfg, "--out", out, "--resume", "--set", "steps=3")
    assert extended.exit_code == 0, extended.output
    assert "steps = 3" in (out / "config.toml").read_text()
    fresh = _cli("train", cfg, "--out", tmp_path / "fresh", "--set", "steps=3")
    assert fresh.exit_code == 0, fresh.output
    for name in ("rollouts", "metrics"):  # extending = having asked for 3 steps from the start
        pd.testing.assert_frame_equal(pd.read_parquet(out / f"{name}.parquet"),
                                      pd.read_parquet(tmp_path / "fresh" / f"{name}.parquet"))


# ---- 4. everything that can fail fails before the run directory exists ---------------------------


@pytest.mark.parametrize("override, message", [
    ("optim.betas=[2, 0.5]", "optim.betas"),
    ("sampling.temperature=inf", "sampling.temperature"),
    ("algorithm.beta=nan", "algorithm.grpo.beta"),
    ("measure.monitor=wrold", "measure.monitor"),
    ("measure.monitor=probe", "monitor 'probe'"),
    ('interventions=[{kind="steer", layers=[7], beta=1.0}]', "out of range"),
    ('interventions=[{kind="prompt_prefix", text="§ ¤"}]', "prompt_prefix"),
    ("model.spec=/no/such/model", "/no/such/model"),
])
def test_bad_config_fails_before_the_run_directory_is_created(tmp_path, tiny_hint_model_dir, override, message):
    out = tmp_path / "X"
    result = _cli("train", tiny_run_toml(tmp_path, tiny_hint_model_dir, checkpoint_every=1), "--out", out, "--set", override)
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.startswith("error:")
    assert not out.exists()


# ---- 5. a corrupt checkpoint falls back; leftovers of a killed write are removed ------------------


@pytest.fixture(scope="module")
def api_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "run"
    return _api(out)


@pytest.mark.parametrize("damaged", ["model.safetensors", "trainer_state.pt"])
def test_corrupt_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys, damaged, api_run):
    reference, out = api_run, _copy(api_run.run_dir, tmp_path)
    last = out / "checkpoints" / "step_000003"
    data = (last / damaged).read_bytes()
    (last / damaged).write_bytes(data[: len(data) // 3])  # a disk that filled up mid-write
    (out / "report.html").unlink()  # as if killed after the last checkpoint, before the report
    leftovers = [out / ".metrics.parquet.x1y2.tmp", out / "checkpoints" / ".step_000004.tmp"]
    leftovers[0].write_bytes(b"PAR1")
    leftovers[1].mkdir()
    resumed = _api(out, resume=True)
    err = capsys.readouterr().err
    assert "step_000003 is unreadable" in err or "unreadable" in err, err
    assert (out / "checkpoints" / "corrupt_step_000003").is_dir()
    assert not any(p.exists() for p in leftovers)
    pd.testing.assert_frame_equal(resumed.metrics, reference.metrics)  # step 2 replayed exactly
    pd.testing.assert_frame_equal(resumed.rollouts, reference.rollouts)


def test_no_intact_checkpoint_is_a_one_line_error(tmp_path, finished_run):
    cfg, out = finished_run[0], _copy(finished_run[1], tmp_path)
    for ckpt in (out / "checkpoints").glob("step_*"):
        (ckpt / "model.safetensors").write_bytes(b"\0" * 10)
    (out / "report.html").unlink()
    for _ in range(2):  # and again: the next --resume must not quietly start over at step 0
        result = _cli("train", cfg, "--out", out, "--resume")
        assert result.exit_code == 2 and "no intact checkpoint" in result.output
        assert sum(1 for line in result.output.splitlines() if line.startswith("error:")) == 1
    assert len(pd.read_json(out / "steps.jsonl", lines=True)) == 2  # the logs are untouched
