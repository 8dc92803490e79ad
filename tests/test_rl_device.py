"""The run config's ``device``: validated names, 'auto' and missing CUDA resolved clearly, device
recorded; and (only where CUDA exists) GRPO and rejection sampling train on the GPU, the result
matches a CPU forward pass, and the GPU checkpoint loads and resumes on the CPU."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from motivlab.errors import MotivlabInputError
from motivlab.models.device import resolve_device
from motivlab.rl import build_config, train
from motivlab.rl.rundir import STATE_FILE, RunDir
from motivlab.rl.tiny import tiny_setup

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU (CI runs on CPU only)")

BASE = {
    "steps": 3, "seed": 1,
    "algorithm": {"prompts_per_step": 4, "group_size": 4},
    "sampling": {"max_new_tokens": 6},
    "optim": {"lr": 1e-2},
    "measure": {"exact_every": 2, "exact_train_envs": 3, "exact_heldout_envs": 2, "exact_trap_envs": 2},
    "run": {"checkpoint_every": 2, "progress": False},
    "model": {"spec": "tiny"},
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def no_cuda(monkeypatch):
    """Pretend this machine has no CUDA (so the CPU-only behaviour is tested on GPU machines too)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def _config(**top):
    return build_config({**BASE, **top})


def _train(path, **top):
    model, tok, world = tiny_setup(seed=0)
    return train(_config(**top), path, model=model, tokenizer=tok, world=world), model, tok


# ---------------------------------------------------------------------------------------------
# config and resolution (CPU, CI)


@pytest.mark.parametrize("value", ["auto", "cpu", "cuda", "cuda:0", "cuda:3", " CUDA:1 "])
def test_device_names_accepted(value):
    assert build_config({"device": value}).device == value.strip().lower()


def test_device_defaults_to_auto():
    assert build_config({}).device == "auto"


@pytest.mark.parametrize("value", ["gpu", "cuda:", "cuda:x", "cuda0", "mps", "", 0, True])
def test_bad_device_is_an_error_naming_field_and_choices(value):
    with pytest.raises(ValueError) as info:
        build_config({"device": value})
    message = str(info.value)
    assert "device:" in message and "'auto'" in message and "'cuda:N'" in message


def test_bad_device_on_the_cli_exits_2(tmp_path):
    from motivlab.cli import app

    cfg = tmp_path / "run.toml"
    cfg.write_text("steps = 1\n")
    result = CliRunner().invoke(app, ["train", str(cfg), "--out", str(tmp_path / "out"), "--set", "device=gpu"])
    assert result.exit_code == 2
    assert "device" in result.output and "'cuda:N'" in result.output
    assert not (tmp_path / "out").exists()


def test_auto_is_cpu_without_cuda(no_cuda):
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("value", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_a_clear_error(no_cuda, value):
    with pytest.raises(MotivlabInputError, match=rf"device = '{value}' but CUDA is not available.*'cpu' or 'auto'"):
        resolve_device(value)


def test_cuda_index_beyond_the_visible_devices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("auto") == torch.device("cuda", 0)
    with pytest.raises(MotivlabInputError, match=r"only 1 CUDA device"):
        resolve_device("cuda:2")


def test_training_on_missing_cuda_fails_before_writing(tmp_path, no_cuda):
    with pytest.raises(MotivlabInputError, match="CUDA is not available"):
        _train(tmp_path / "run", device="cuda")
    assert not (tmp_path / "run").exists()


def test_cpu_run_records_its_device_and_old_configs_resume(tmp_path, no_cuda):
    result, _, _ = _train(tmp_path / "run", device="auto")
    assert result.device == "cpu"
    meta = json.loads((result.run_dir / "metadata.json").read_text())
    assert meta["device"]["requested"] == "auto" and meta["device"]["device"] == "cpu"
    # a run directory written before `device` existed: its config.toml has no such key
    config = result.run_dir / "config.toml"
    config.write_text("".join(line for line in config.read_text().splitlines(True) if not line.startswith("device")))
    assert "device" not in config.read_text()
    model, tok, world = tiny_setup(seed=0)
    again = train(_config(device="auto"), tmp_path / "run", resume=True, model=model, tokenizer=tok, world=world)
    assert len(again.steps) == BASE["steps"]


def test_resuming_on_another_device_is_recorded_with_a_warning(tmp_path, capsys):
    run = RunDir(tmp_path / "run")
    run.start({"seed": 0}, 0, resume=False)
    run.note_device({"requested": "auto", "device": "cuda:0"})
    run.note_device({"requested": "auto", "device": "cuda:0"})  # same device: nothing to say
    assert "warning" not in capsys.readouterr().err
    run.note_device({"requested": "auto", "device": "cpu"})
    assert "computed on cuda:0 and resumes on cpu" in capsys.readouterr().err
    meta = json.loads((tmp_path / "run" / "metadata.json").read_text())
    assert meta["device"]["device"] == "cuda:0" and meta["resumed_on"][0]["device"] == "cpu"


def test_checkpoint_state_is_plain_cpu_tensors(tmp_path):
    result, _, _ = _train(tmp_path / "run", device="cpu", algorithm={"prompts_per_step": 4, "group_size": 4,
                                                                     "beta": 0.1})
    state = torch.load(result.run_dir / "checkpoints" / "step_000003" / STATE_FILE, weights_only=False)
    tensors = [v for s in state["optimizer"]["state"].values() for v in s.values() if isinstance(v, torch.Tensor)]
    assert tensors and all(t.device.type == "cpu" for t in tensors)


# ---------------------------------------------------------------------------------------------
# on a GPU (skipped in CI)


@needs_cuda
@pytest.mark.parametrize("algorithm", [
    {"name": "grpo", "prompts_per_step": 4, "group_size": 4, "beta": 0.1, "num_iterations": 2},
    {"name": "rejection", "prompts_per_step": 4, "group_size": 4, "threshold": 0.01},
])
def test_gpu_training_and_checkpoint_loads_on_cpu(tmp_path, algorithm):
    from motivlab.models.loading import load_causal_lm
    from motivlab.rl.algorithms import sequence_logprobs

    result, model, _ = _train(tmp_path / "run", device="cuda", algorithm=algorithm)
    assert result.device.startswith("cuda")
    assert all(p.device.type == "cuda" for p in model.parameters())
    assert result.steps["optimizer_steps"].sum() > 0  # the update really ran
    assert result.metrics["p_exact"].notna().any()
    meta = json.loads((result.run_dir / "metadata.json").read_text())
    assert meta["device"]["device"].startswith("cuda") and meta["device"]["name"]

    ckpt = result.run_dir / "checkpoints" / "step_000003"
    state = torch.load(ckpt / STATE_FILE, weights_only=False)  # no map_location: must be CPU tensors
    assert all(t.device.type == "cpu" for s in state["optimizer"]["state"].values() for t in s.values()
               if isinstance(t, torch.Tensor))
    cpu_model, _ = load_causal_lm(ckpt, device="cpu")
    gpu_weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    for name, value in cpu_model.state_dict().items():
        assert torch.equal(value, gpu_weights[name]), name

    # the same weights give the same log-probs on both devices (up to float rounding)
    ids = torch.randint(3, 20, (4, 10), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids, dtype=torch.bool)
    with torch.no_grad():
        on_cpu = sequence_logprobs(cpu_model, ids[:, :5], mask[:, :5], ids[:, 5:], mask[:, 5:])
        on_gpu = sequence_logprobs(model, ids[:, :5], mask[:, :5], ids[:, 5:], mask[:, 5:]).cpu()
    torch.testing.assert_close(on_cpu, on_gpu, atol=1e-4, rtol=1e-4)

    # and the GPU run's checkpoint resumes on the CPU (weights and optimiser moments)
    model2, _, _ = tiny_setup(seed=0)
    optimizer = torch.optim.AdamW(model2.parameters(), lr=1e-2)
    RunDir(result.run_dir).load_checkpoint(3, model2, optimizer)
    assert all(torch.equal(v, gpu_weights[k]) for k, v in model2.state_dict().items())
    assert all(t.device.type == "cpu" for s in optimizer.state.values() for t in s.values()
               if isinstance(t, torch.Tensor))


@needs_cuda
def test_gpu_run_is_reproducible(tmp_path):
    algorithm = {"name": "grpo", "prompts_per_step": 4, "group_size": 4, "beta": 0.1}
    a, _, _ = _train(tmp_path / "a", device="cuda", algorithm=algorithm)
    b, _, _ = _train(tmp_path / "b", device="cuda", algorithm=algorithm)
    pd_cols = ["step", "env_id", "reward", "p", "p_exact", "s_r_exact"]
    assert a.rollouts["completion"].tolist() == b.rollouts["completion"].tolist()
    assert a.metrics[pd_cols].equals(b.metrics[pd_cols])


@needs_cuda
def test_sampling_on_gpu_with_either_generator():
    from motivlab.models.generation import sample

    model, tok, world = tiny_setup(seed=0)
    model.to("cuda")
    prompts = [world.prompt(e).text for e in range(3)]
    kwargs = {"n_per_prompt": 4, "max_new_tokens": 6, "stop": world.stop}
    on_gpu = sample(model, tok, prompts, generator=torch.Generator("cuda").manual_seed(0), **kwargs)
    via_cpu = sample(model, tok, prompts, generator=torch.Generator().manual_seed(0), **kwargs)
    for s in (on_gpu, via_cpu):
        assert len(s) == 12 and s.completion_ids.device.type == "cpu"
        assert torch.isfinite(s.logprobs).all() and (s.logprobs <= 0).all()
    again = sample(model, tok, prompts, generator=torch.Generator("cuda").manual_seed(0), **kwargs)
    assert again.completions == on_gpu.completions


def test_resume_may_change_only_the_device(tmp_path, no_cuda):
    _train(tmp_path / "run", device="cpu")
    model, tok, world = tiny_setup(seed=0)
    again = train(_config(device="auto"), tmp_path / "run", resume=True, model=model, tokenizer=tok, world=world)
    assert len(again.steps) == BASE["steps"]
    assert "device" in (tmp_path / "run" / "config.toml").read_text()  # the first run's config is kept
    with pytest.raises(ValueError, match="config differs"):
        train(_config(device="auto", seed=2), tmp_path / "run", resume=True, model=model, tokenizer=tok, world=world)


@needs_cuda
def test_gpu_run_resumes_on_the_cpu(tmp_path, capsys):
    import shutil

    out = tmp_path / "run"
    gpu, _, _ = _train(out, device="cuda", steps=4)
    shutil.rmtree(out / "checkpoints" / "step_000004")  # as if killed after step 2's checkpoint
    model, tok, world = tiny_setup(seed=0)
    cpu = train(_config(device="cpu", steps=4), out, resume=True, model=model, tokenizer=tok, world=world)
    assert cpu.device == "cpu" and "resumes on cpu" in capsys.readouterr().err
    assert len(cpu.steps) == 4 and sorted(cpu.rollouts.step.unique()) == [0, 1, 2, 3]
    # steps 0-1 are the GPU run's, replayed from the log; steps 2-3 were computed on the CPU
    pd_gpu, pd_cpu = gpu.rollouts.query("step < 2"), cpu.rollouts.query("step < 2")
    assert pd_gpu.completion.tolist() == pd_cpu.completion.tolist()
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["device"]["device"].startswith("cuda") and meta["resumed_on"][-1]["device"] == "cpu"
    assert all(p.device.type == "cpu" for p in model.parameters())
