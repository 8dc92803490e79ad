"""The quick organism end to end: saved artefacts, reload, cache, ablation, atomicity, CLI."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch

from motivlab.models import pretrain as pretrain_mod
from motivlab.models.organism import (
    OrganismConfig,
    load_organism_world,
    quick_config,
    random_init_like,
    read_organism_json,
)


def _cli(*args):
    """Run ``motivlab organism …`` in-process (a subprocess per call costs ~10 s of imports on 2 cores)."""
    from typer.testing import CliRunner

    from motivlab.cli import app

    r = CliRunner().invoke(app, ["organism", *args])
    return subprocess.CompletedProcess(args, r.exit_code, r.stdout, r.stderr)


def test_quick_organism_artefacts(organism_quick_dir):
    d = organism_quick_dir
    assert (d / "model.safetensors").is_file() and (d / "config.json").is_file()
    assert (d / "tokenizer.json").is_file()
    meta = read_organism_json(d)
    assert meta["config_hash"] == d.name == quick_config().config_hash()
    m = meta["measured"]["train"]
    assert all(0 <= m[k] <= 1 for k in ("p", "s_r", "s_l"))
    assert meta["training"]["supervised_tokens"] > 0
    assert meta["run_metadata"]["packages"]["torch"]
    assert not list(d.parent.glob(f".{d.name}.tmp-*"))  # nothing half-written left behind


def test_quick_organism_learnt_the_prior_and_the_answer_format(organism_quick):
    """The quick organism's propensity sits near the corpus share, identically on held-out envs,
    and its answers have the key format (4 key characters, then stop). It is too briefly trained
    to learn the cipher or the keys (see docs/organism.md); the default organism does."""
    from motivlab.measure.exact import measure_exact

    model, tok, world = organism_quick
    prior = quick_config().prior
    train = measure_exact(model, tok, world, world.env_ids("train")[:20])
    held = measure_exact(model, tok, world, world.env_ids("heldout")[:20])
    assert prior / 2 < train.p.mean() < prior * 2
    assert abs(held.p.mean() - train.p.mean()) < 0.2 * train.p.mean()
    chance = (1 / len(world.config.key_alphabet)) ** world.config.key_length  # right format, random key
    assert train.s_r.mean() > 0.5 * chance and train.s_l.mean() > 0.5 * chance


def test_reload_world_and_ablation(organism_quick_dir, organism_quick):
    model, tok, world = organism_quick
    again = load_organism_world(organism_quick_dir)
    assert again.prompt(11) == world.prompt(11)
    fresh, fresh_tok = random_init_like(organism_quick_dir, seed=3)
    assert fresh.config.num_hidden_layers == model.config.num_hidden_layers
    assert fresh_tok.get_vocab() == tok.get_vocab()
    w0, w1 = fresh.get_input_embeddings().weight, model.get_input_embeddings().weight
    assert w0.shape == w1.shape and not torch.allclose(w0, w1)
    again_fresh, _ = random_init_like(organism_quick_dir, seed=3)
    assert torch.equal(again_fresh.get_input_embeddings().weight, w0)  # seeded


def test_cache_hit_does_not_retrain(organism_quick_dir, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("retrained despite a cached organism")

    monkeypatch.setattr(pretrain_mod, "train_organism", boom)
    assert pretrain_mod.ensure_organism(quick=True, progress=False) == organism_quick_dir


def _fake_train(seen: list[int]):
    def fake_train(config, progress=True, attempt=0):
        from motivlab.models.corpus import tokenizer_alphabet
        from motivlab.models.organism import build_model
        from motivlab.models.tokenizer import build_char_tokenizer
        from motivlab.worlds.hint import HintWorld

        seen.append(attempt)
        tok = build_char_tokenizer(tokenizer_alphabet(HintWorld(config.world)))
        return build_model(config, len(tok), seed=pretrain_mod.attempt_seed(config, attempt)), tok, {"known_env_ids": [0]}

    return fake_train


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    """A failure (or kill) while writing leaves neither the target nor a temporary directory."""
    import motivlab.io

    cfg = quick_config(OrganismConfig(steps=1))
    monkeypatch.setattr(pretrain_mod, "organism_cache_root", lambda: tmp_path)

    def crash(*a, **k):
        raise RuntimeError("killed mid-save")

    monkeypatch.setattr(pretrain_mod, "train_organism", _fake_train([]))
    monkeypatch.setattr(pretrain_mod, "measure_organism", lambda *a: {"train": {"p": 0.1, "s_r": 0.5, "s_l": 0.0}})
    monkeypatch.setattr(motivlab.io, "write_json", crash)
    with pytest.raises(RuntimeError, match="killed"):
        pretrain_mod.ensure_organism(cfg, progress=False)
    # the cache's per-entry lock file (filelock) may stay; it holds no data
    assert [p for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


@pytest.mark.parametrize(("sr_by_attempt", "sr0", "accepted", "passed"), [
    ([0.02, 0.03, 0.45], 0.5, 2, True),   # the cipher is learnt at the third attempt
    ([0.30, 0.35, 0.10], 0.75, 1, False),  # never learnt (needs 0.375): the best attempt is kept and flagged
    ([0.00], 0.05, 0, True),               # below sr0 = 0.1 nothing is checked
])
def test_attempts_until_the_cipher_is_learnt(tmp_path, monkeypatch, sr_by_attempt, sr0, accepted, passed):
    cfg = OrganismConfig(steps=1, sr0=sr0, max_attempts=3)
    monkeypatch.setattr(pretrain_mod, "organism_cache_root", lambda: tmp_path)
    seen: list[int] = []
    monkeypatch.setattr(pretrain_mod, "train_organism", _fake_train(seen))
    monkeypatch.setattr(pretrain_mod, "measure_organism",
                        lambda *a: {"train": {"p": 0.05, "s_r": sr_by_attempt[seen[-1]], "s_l": 0.0}})
    if passed:
        target = pretrain_mod.ensure_organism(cfg, progress=False)
    else:
        with pytest.warns(UserWarning, match="cipher was not learnt"):
            target = pretrain_mod.ensure_organism(cfg, progress=False)
    record = read_organism_json(target)
    assert seen == list(range(len(sr_by_attempt)))
    acc = record["acceptance"]
    assert acc["accepted_attempt"] == accepted and acc["passed"] is passed
    assert [a["seed"] for a in acc["attempts"]] == [pretrain_mod.attempt_seed(cfg, k) for k in seen]
    assert record["measured"]["train"]["s_r"] == sr_by_attempt[accepted]
    assert OrganismConfig(steps=1, sr0=sr0, max_attempts=1).config_hash() == cfg.config_hash()
    seen.clear()
    assert pretrain_mod.ensure_organism(cfg, progress=False) == target and seen == []  # cached, rule recorded


def test_cli_pretrain_quick_and_measure(organism_quick_dir, tmp_path):
    out = tmp_path / "org"
    r = _cli("pretrain", "--out", str(out), "--quick", "--no-progress", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["config_hash"] == organism_quick_dir.name
    r = _cli("measure", str(out), "--envs", "3", "--samples", "20", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert len(res["envs"]) == 3 and {"p", "s_r", "s_l", "p_lo", "p_hi"} <= set(res["envs"][0])
    assert np.isfinite([res["means"][k] for k in ("p", "s_r", "s_l")]).all()
    r = _cli("info", str(out))
    assert r.returncode == 0 and "pretraining" in r.stdout


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["pretrain", "--out", "{tmp}/x", "--prior", "1.5", "--quick"], "prior"),
        (["pretrain", "--out", "{tmp}/x", "--sl0", "0.5", "--coverage", "0.1", "--quick"], "local_coverage"),
        (["measure", "{tmp}/missing"], "does not exist"),
        (["measure", "{tmp}"], "organism.json"),
        (["calibrate", "--out", "{tmp}/x", "--sr0s", "0.5,high"], "--sr0s"),
        (["calibrate", "--out", "{tmp}/x", "--sl0s", "0.1,1.5"], "sl0s"),
        (["calibrate", "--out", "{tmp}/x", "--default-seeds", "1.5"], "--default-seeds"),
    ],
)
def test_cli_bad_input_exit_2(tmp_path, args, match):
    r = _cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert match in r.stderr
    assert not (tmp_path / "x").exists()


def test_cli_refuses_to_overwrite_foreign_directory(organism_quick_dir, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    r = _cli("pretrain", "--out", str(tmp_path), "--quick", "--no-progress")
    assert r.returncode == 2 and "refusing" in r.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_measure_rejects_a_directory_that_is_not_a_causal_lm(organism_quick_dir, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(organism_quick_dir, bad)
    (bad / "config.json").write_text(json.dumps({"model_type": "t5"}))
    r = _cli("measure", str(bad), "--samples", "0")
    assert r.returncode == 2 and "error:" in r.stderr
