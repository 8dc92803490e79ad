"""motivlab sweep: spec validation before anything is written, point names, the table, resume,
retries, the CLI, the organism cache lock, and a SIGKILL of the whole sweep that loses nothing.

The runs train a tiny randomly initialised Llama saved as a model directory (seconds per run);
the engine does not care what it trains."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from motivlab.errors import MotivlabInputError
from motivlab.sweep import SweepSpec, expand, load_spec, prepare, run_sweep
from motivlab.sweep.state import EVENTS_FILE
from rl_tiny_run import TINY_HINT_WORLD as WORLD

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def base_config(tiny_hint_model_dir: Path, steps: int = 3) -> dict:
    return {
        "steps": steps, "model": {"spec": str(tiny_hint_model_dir)}, "world": {"source": "hint", "hint": dict(WORLD)},
        "algorithm": {"prompts_per_step": 2, "group_size": 2}, "sampling": {"max_new_tokens": 6},
        "optim": {"lr": 1e-2},
        "measure": {"exact_every": 1, "exact_train_envs": 2, "exact_heldout_envs": 1, "exact_trap_envs": 1},
        "run": {"checkpoint_every": 1},
    }


def events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / EVENTS_FILE).read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------
# validation: one clear error naming the field, nothing written


@pytest.mark.parametrize("spec, message", [
    ({"grid": {"seed": [0]}, "gird": {}}, "gird: Extra inputs"),
    ({"grid": {}}, "grid: empty grid and no [[points]]"),
    ({"grid": {"seed": []}}, "grid.seed: empty list"),
    ({"grid": {"world.n_trian_envs": [4, 8]}}, "world.n_trian_envs: Extra inputs"),
    ({"grid": {"seed": [0, 0]}}, "grid.seed: repeated values"),
    ({"grid": {"world.n_train_envs": [0, 4]}}, "world.n_train_envs: Input should be greater than or equal to 1"),
    ({"set": {"steps.x": 1}, "grid": {"seed": [0]}}, "'steps' is a value, not a section"),
    ({"points": [{"name": "a/b"}]}, "points.0.name"),
    ({"points": [{"name": "a"}, {"name": "a"}]}, "names must be unique"),
    ({"grid": {"seed": [0]}, "max_attempts": 0}, "max_attempts"),
])
def test_bad_spec_is_refused_before_anything_is_written(tmp_path, tiny_hint_model_dir, spec, message):
    out = tmp_path / "out"
    with pytest.raises(MotivlabInputError) as info:
        run_sweep({"base": base_config(tiny_hint_model_dir), **spec}, out, progress=False)
    assert message in str(info.value)
    assert not out.exists()


def test_ray_without_ray_names_the_option(tmp_path, tiny_hint_model_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    out = tmp_path / "out"
    with pytest.raises(MotivlabInputError, match=r"--ray local: Ray is not installed; pip install 'motivlab\[ray\]'"):
        run_sweep({"base": base_config(tiny_hint_model_dir), "grid": {"seed": [0]}}, out, ray="local", progress=False)
    assert not out.exists()


def test_missing_base_file_and_spec_toml(tmp_path, tiny_hint_model_dir):
    spec_file = tmp_path / "s.toml"
    spec_file.write_text('base = "nope.toml"\n[grid]\nseed = [0]\n')
    with pytest.raises(MotivlabInputError, match=r"base: run config 'nope\.toml' not found"):
        prepare(spec_file)
    (tmp_path / "base.toml").write_text('steps = 2\n[model]\nspec = "organism"\n')
    spec_file.write_text('base = "base.toml"\nmax_attempts = 3\n[set]\n"measure.exact_every" = 1\n'
                         '[grid.world]\nn_train_envs = [4, 16]\n[grid]\nseed = [0, 1]\n')
    spec, base = load_spec(spec_file, ["algorithm.group_size=4"])
    assert base["steps"] == 2 and spec.max_attempts == 3
    assert spec.grid == {"world.n_train_envs": [4, 16], "seed": [0, 1]}
    assert spec.set == {"measure.exact_every": 1, "algorithm.group_size": 4}


def test_point_names_are_deterministic_and_safe(tiny_hint_model_dir):
    spec = SweepSpec(base=base_config(tiny_hint_model_dir), grid={
        "world.n_train_envs": [4, 16], "optim.lr": [0.001], "interventions": [[], [{"kind": "filter"}]]},
        points=[{"name": "arm-a"}, {"name": "arm.b", "set": {"algorithm": {"group_size": 4}}}])
    points = expand(spec, spec.base)
    names = [p.name for p in points]
    assert len(names) == 8 == len(set(names))
    assert names[0].startswith("arm-a__n_train_envs-4_lr-0.001_interventions-none-")
    assert "interventions-filter-" in names[1]
    assert all(set(n) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-") for n in names)
    assert names == [p.name for p in expand(spec, spec.base)]
    by_name = {p.name: p for p in points}
    b = next(p for n, p in by_name.items() if n.startswith("arm.b__"))
    assert b.config["algorithm"]["group_size"] == 4 and b.config["run"]["progress"] is False
    # two keys with the same last component keep their whole dotted names
    same = SweepSpec(base=base_config(tiny_hint_model_dir), grid={"seed": [1], "model.organism.seed": [2]})
    [p] = expand(same, {**same.base, "model": {"spec": "organism"}})
    assert p.name == "seed-1_model.organism.seed-2"


# ---------------------------------------------------------------------------------------------
# running: table, rerun skips, retries, another spec refused, CLI


def test_sweep_table_rerun_retry_and_refusal(tmp_path, tiny_hint_model_dir):
    out = tmp_path / "sw"
    spec = {"base": base_config(tiny_hint_model_dir), "max_attempts": 2,
            "grid": {"model.spec": [str(tiny_hint_model_dir), str(tmp_path / "missing-model")], "seed": [0]}}
    df = run_sweep(spec, out, progress=False)
    assert list(df.columns[:4]) == ["point", "arm", "model.spec", "seed"]
    good, bad = df.iloc[0], df.iloc[1]
    assert good.status == "done" and good.attempts == 1 and good.error == "" and good.wall_seconds > 0
    assert (out / good.run_dir / "report.html").is_file() and (out / good.run_dir / "config.toml").is_file()
    assert good.last_step == 3 and 0 <= good.p_train <= 1 and 0 <= good.reward_trap <= 1
    summary = json.loads((out / good.run_dir / "summary.json").read_text())
    assert good.p_heldout == summary["heldout"]["p_exact_end"] and good.p0_train == summary["train"]["p_exact_start"]
    assert bad.status == "failed" and bad.attempts == 2 and "missing-model" in bad.error and pd.isna(bad.p_train)
    assert pd.read_parquet(out / "sweep.parquet").equals(df)
    n_events = len(events(out))
    again = run_sweep(spec, out, progress=False)  # done skipped, failed out of attempts: nothing runs
    assert len(events(out)) == n_events and again.equals(df)
    assert run_sweep(out / "sweep.toml", out, progress=False).equals(df)  # the saved spec is the same spec
    more = run_sweep({**spec, "max_attempts": 3}, out, progress=True)  # not in the hash: one more try
    assert more.iloc[1].attempts == 3 and more.iloc[1].status == "failed" and more.iloc[0].attempts == 1
    with pytest.raises(MotivlabInputError, match="holds a sweep made with another spec"):
        run_sweep(spec, out, progress=False, overrides=["optim.lr=0.5"])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("mine")
    with pytest.raises(MotivlabInputError, match="is not empty and is not a sweep directory"):
        run_sweep(spec, tmp_path / "other", progress=False)


def test_cli_runs_named_points_and_reports(tmp_path, tiny_hint_model_dir):
    from motivlab.cli import app
    from motivlab.io import write_toml

    write_toml(tmp_path / "base.toml", base_config(tiny_hint_model_dir, steps=2))
    (tmp_path / "spec.toml").write_text('base = "base.toml"\n[[points]]\nname = "plain"\n'
                                        '[[points]]\nname = "beta"\nset = { "algorithm.beta" = 0.1 }\n')
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["sweep", str(tmp_path / "spec.toml"), "--out", str(out), "--no-progress",
                                      "--set", "seed=3"])
    assert result.exit_code == 0, result.output
    assert "2 points — done 2" in result.output
    df = pd.read_parquet(out / "sweep.parquet")
    assert list(df.point) == ["plain", "beta"] and list(df.arm) == ["plain", "beta"]
    from motivlab.io import read_toml

    assert read_toml(out / "runs" / "beta" / "config.toml")["algorithm"]["beta"] == 0.1
    assert read_toml(out / "runs" / "plain" / "config.toml")["seed"] == 3
    dry = CliRunner().invoke(app, ["sweep", str(tmp_path / "spec.toml"), "--out", str(out), "--dry-run",
                                   "--set", "seed=3"])
    assert dry.exit_code == 0 and dry.output.count("done") == 2 and "nothing was run" in dry.output
    fresh = CliRunner().invoke(app, ["sweep", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "o3"), "--dry-run"])
    assert fresh.exit_code == 0 and fresh.output.count("pending") == 2 and not (tmp_path / "o3").exists()
    bad = CliRunner().invoke(app, ["sweep", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "o2"),
                                   "--set", "algorithm.nme=1"])
    assert bad.exit_code == 2 and "algorithm.grpo.nme: Extra inputs" in bad.output
    assert not (tmp_path / "o2").exists()


# ---------------------------------------------------------------------------------------------
# the organism cache lock: two concurrent callers pretrain once


def test_organism_cache_lock_pretrains_once(tmp_path, monkeypatch):
    from motivlab.models import pretrain
    from motivlab.models.organism import ORGANISM_FILE, OrganismConfig

    monkeypatch.setenv("MOTIVLAB_CACHE", str(tmp_path / "cache"))
    calls = []

    def fake_train(config, progress, attempt):
        calls.append(attempt)
        time.sleep(0.5)  # long enough for the other thread to arrive while this one holds the lock
        return None, None, {"known_env_ids": []}

    def fake_save(model, tokenizer, config, stats, target, measured, acceptance):
        target.mkdir(parents=True)
        (target / ORGANISM_FILE).write_text(json.dumps({"acceptance": acceptance, "measured": measured}))

    monkeypatch.setattr(pretrain, "train_organism", fake_train)
    monkeypatch.setattr(pretrain, "measure_organism", lambda *a: {"train": {"s_r": 0.5}})
    monkeypatch.setattr(pretrain, "cipher_learnt", lambda *a: True)
    monkeypatch.setattr(pretrain, "_save", fake_save)
    config = OrganismConfig(seed=123)
    results = []
    threads = [threading.Thread(target=lambda: results.append(pretrain.ensure_organism(config, progress=False)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [0] and len(results) == 2 and results[0] == results[1]


# ---------------------------------------------------------------------------------------------
# SIGKILL of the whole sweep (2 worker processes) in the middle of a run, then a rerun (in-process):
# the tables and every run's metrics and rollouts equal those of an uninterrupted sweep


KILL_SCRIPT = """
import sys
from motivlab.sweep import run_sweep
import json
run_sweep(json.loads(sys.argv[1]), sys.argv[2], workers=int(sys.argv[3]), progress=False)
"""


def _sweep_subprocess(spec: dict, out: Path, workers: int) -> subprocess.Popen:
    env = {**os.environ, "MOTIVLAB_TORCH_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, json.dumps(spec), str(out), str(workers)],
                            env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _children(pid: int) -> list[int]:
    """Live pool workers of ``pid`` (Linux /proc: children running multiprocessing's spawn_main)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z" and b"spawn_main" in (stat.parent / "cmdline").read_bytes():
                kids.append(int(stat.parent.name))
    return kids


def _deterministic(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=["wall_seconds", "attempts"])


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers die with the sweep via Linux prctl")
def test_sigkill_of_the_whole_sweep_loses_nothing(tmp_path, tiny_hint_model_dir):
    spec = {"base": base_config(tiny_hint_model_dir, steps=6), "grid": {"seed": [0, 1]}}
    reference = run_sweep(spec, tmp_path / "ref", progress=False)  # in this process, one after another
    out = tmp_path / "killed"
    proc = _sweep_subprocess(spec, out, workers=2)
    deadline = time.time() + 120
    # kill once some point has written a checkpoint beyond the first (mid-run), before all are done
    while time.time() < deadline and proc.poll() is None:
        ckpts = list((out / "runs").glob("*/checkpoints/step_00000[3-9]"))
        if ckpts:
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
    workers = _children(proc.pid)
    assert workers  # the pool's processes
    os.kill(proc.pid, signal.SIGKILL)  # the sweep process only: its workers must die with it
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.1)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    assert not alive, f"workers {alive} outlived the killed sweep"
    interrupted = pd.read_parquet(out / "sweep.parquet")
    assert (interrupted.status != "done").any()  # it really was cut short
    resumed = run_sweep(spec, out, progress=False)
    assert (resumed.status == "done").all()
    pd.testing.assert_frame_equal(_deterministic(resumed), _deterministic(reference))
    for name in reference.point:
        for table in ("metrics", "rollouts"):
            a = pd.read_parquet(tmp_path / "ref" / "runs" / name / f"{table}.parquet")
            b = pd.read_parquet(out / "runs" / name / f"{table}.parquet")
            pd.testing.assert_frame_equal(a, b)
    starts = [e for e in events(out) if e["event"] == "start"]
    assert len(starts) >= 3  # two points started by the killed sweep, at least one again after it


@pytest.mark.slow
def test_ray_local_two_cpus(tmp_path, tiny_hint_model_dir):
    ray = pytest.importorskip("ray")
    spec = {"base": base_config(tiny_hint_model_dir, steps=2), "grid": {"seed": [0, 1]}}
    try:
        df = run_sweep(spec, tmp_path / "ray", workers=2, ray="local", progress=False)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert (df.status == "done").all()
    local = run_sweep(spec, tmp_path / "local", progress=False)
    pd.testing.assert_frame_equal(_deterministic(df), _deterministic(local))


def test_threads_per_worker_keep_workers_times_threads_within_cores(monkeypatch):
    from motivlab.sweep import threads_per_worker

    monkeypatch.delenv("MOTIVLAB_TORCH_THREADS", raising=False)
    assert threads_per_worker(1, cores=2) == 1  # the project default: one thread
    monkeypatch.setenv("MOTIVLAB_TORCH_THREADS", "8")
    assert [threads_per_worker(k, cores=16) for k in (1, 2, 4, 16, 32)] == [8, 8, 4, 1, 1]
    monkeypatch.setenv("MOTIVLAB_TORCH_THREADS", "zero")
    with pytest.raises(MotivlabInputError, match="MOTIVLAB_TORCH_THREADS"):
        threads_per_worker(2)
