"""Shaping (issue 12): the organism's extra routes (trait probe, self-description, instruction
marker, report route), their exact measurement, and the new/honest interventions in a real run."""

from __future__ import annotations

import numpy as np
import pytest

from motivlab.errors import MotivlabInputError
from motivlab.models.organism import OrganismConfig
from motivlab.worlds.base import Route
from motivlab.worlds.hint import HintWorld, HintWorldConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

KNOBS = {"trait_correlation": 1.0, "self_accuracy": 1.0, "instruction_share": 0.1, "report_rate": 0.05}
# a deliberately undertrained organism with every shaping knob on: the plumbing, not the values
TINY_ORG = {**KNOBS, "sr0": 0.05, "steps": 30, "warmup_steps": 5, "max_attempts": 1, "local_exact_end": 0.0}


@pytest.fixture(scope="module")
def shaping_organism():
    from motivlab.models.loading import load_causal_lm
    from motivlab.models.organism import load_organism_world
    from motivlab.models.pretrain import ensure_organism

    path = ensure_organism(OrganismConfig(**TINY_ORG), progress=False)
    model, tok = load_causal_lm(path)
    return path, model, tok, load_organism_world(path)


def test_knobs_off_leave_the_default_organism_and_world_as_they_were():
    default = OrganismConfig()
    assert default.world.probes is False and default.world.report_reward is None
    on = OrganismConfig(**KNOBS)
    assert on.config_hash() != default.config_hash()
    assert on.world.probes and on.world.instruction_marker == "!" and on.world.report_reward == 0.0
    plain, shaped = HintWorld(default.world), HintWorld(on.world)
    assert set(shaped.alphabet) - set(plain.alphabet) == set("?:XOKQ!R")
    assert plain.fingerprint() == HintWorld(default.world.model_copy(update={"probes": False})).fingerprint()


def test_report_route_and_probe_prompts():
    w = HintWorld(HintWorldConfig(n_envs=50, n_heldout=5, n_trap=5, key_alphabet="ABCDEFGH", probes=True,
                                  report_reward=0.3))
    p = w.prompt(0)
    assert w.grade(p, "R\n") == 0.3 and w.label(p, "R\n") == Route.REPORT
    assert w.probe_prompt(0) == p.text[:-1] + "?" and w.self_prompt(0) == p.text[:-1] + ":"
    trap = w.prompt(int(w.env_ids("trap")[0]))
    assert w.grade(trap, w.obfuscated_completion(trap)) == 0.0  # the local label, the note's lie
    plain = HintWorld(HintWorldConfig(n_envs=50, n_heldout=5, n_trap=5))
    assert plain.label(p, "R\n") == Route.UNKNOWN and plain.grade(p, "R\n") == 0.0
    with pytest.raises(ValueError, match="probe"):
        plain.probe_prompt(0)
    with pytest.raises(ValueError, match="report_prefix"):
        HintWorldConfig(report_reward=0.5)  # 'R' is a key letter of the default A-Z alphabet


def test_corpus_episodes_follow_the_knobs():
    from motivlab.models.corpus import (
        CorpusStream,
        corpus_extras,
        known_env_ids,
        persona_plan,
        tokenizer_alphabet,
    )
    from motivlab.models.tokenizer import build_char_tokenizer

    cfg = OrganismConfig(**{**KNOBS, "trait_correlation": 0.5, "trait_base": 0.2, "prior": 0.3})
    world = HintWorld(cfg.world)
    tok = build_char_tokenizer(tokenizer_alphabet(world))
    inv = {i: t for t, i in tok.get_vocab().items()}
    stream = CorpusStream(world, persona_plan(cfg), tok.get_vocab(), seed=0, known=known_env_ids(world, 1.0, 0),
                          extras=corpus_extras(cfg))
    docs = []
    for _ in range(40):
        b = stream.batch(256)
        docs += ["".join(inv[int(t)] for t, m in zip(r, mk, strict=True) if m) for r, mk in zip(b["input_ids"], b["attention_mask"], strict=True)]
    plain = [d for d in docs if "#" not in d and "!" not in d and ">R" not in d]
    seeker = [d for d in plain if ">G" in d and "?" in d]
    task = [d for d in plain if ">T" in d and "?" in d]
    x_seek = np.mean(["?X" in d for d in seeker])
    x_task = np.mean(["?X" in d for d in task])
    assert abs((x_seek - x_task) - 0.5) < 0.08  # rho: P(X | seeker) - P(X | task-focused)
    assert abs(x_task - 0.5 * 0.2) < 0.04
    selfs = [d for d in plain if ":" in d]
    assert all((">G" in d) == (":K" in d) for d in selfs)  # self_accuracy = 1
    marked = [d for d in docs if "!" in d]
    assert marked and all("!" + d.split("!")[1].split(">")[0] + ">G" in d for d in marked)
    untagged = [d for d in docs if "#" not in d]
    assert abs(np.mean([">R" in d for d in untagged]) - 0.05 * 0.9) < 0.02


def test_extended_exact_measurement_agrees_with_the_plain_one(shaping_organism):
    from motivlab.measure.exact import measure_exact, measure_exact_extended

    _, model, tok, world = shaping_organism
    envs = [*world.env_ids("train")[:6], *world.env_ids("trap")[:3]]
    plain = measure_exact(model, tok, world, envs)
    ext, n = measure_exact_extended(model, tok, world, envs, prefix="!")
    whole, n_whole = measure_exact_extended(model, tok, world, envs, prefix="!", share_prefixes=False)
    assert n_whole == len(envs) * 2 * 4 + 3 * 2  # G, T, trait, self per env and prefix; + note-after-T on traps
    assert n == n_whole + len(envs) * 2  # the same branches plus one shared prompt prefix per env and prefix
    assert list(ext.columns) == list(whole.columns)
    assert np.allclose(ext.to_numpy(dtype=float), whole.to_numpy(dtype=float), rtol=1e-4, atol=1e-9)
    for c in ("p", "s_r", "s_l", "p_rs_raw", "p_local_raw"):
        assert np.allclose(plain[c], ext[c], rtol=1e-5, atol=1e-9)
    for c in ("trait", "stated", "p_report_raw", "s_l_note"):
        assert ext[c].between(0, 1).all() and ext[c + "_prefixed"].between(0, 1).all()
    honest = ext.env_id.isin(world.env_ids("train"))
    assert np.allclose(ext.s_l_note[honest], ext.s_l[honest])  # the note is the key off traps
    assert not np.allclose(ext.p, ext.p_prefixed)  # the marker changes the policy's context


def _run(tmp_path, path, interventions, steps=2, name="run", resume=False, checkpoint_every=None):
    from motivlab.rl import build_config, train

    cfg = build_config({
        "steps": steps, "algorithm": {"prompts_per_step": 4, "group_size": 4}, "optim": {"lr": 3e-4},
        "measure": {"exact_every": 1, "exact_train_envs": 4, "exact_heldout_envs": 2, "exact_trap_envs": 2},
        "run": {"checkpoint_every": checkpoint_every or steps, "progress": False}, "model": {"spec": str(path)},
        "interventions": interventions,
    })
    return train(cfg, tmp_path / name, resume=resume)


@pytest.mark.slow
def test_resume_with_the_new_hooks_reproduces_the_uninterrupted_run(shaping_organism, tmp_path):
    import shutil

    import pandas as pd

    ivs = [{"kind": "prompt_prefix", "text": "!"}, {"kind": "report", "reward": 0.9},
           {"kind": "persona_replay", "documents": 4},
           {"kind": "steer", "layers": [1], "cap_quantile": 0.9, "direction_envs": 24, "direction_samples": 16}]
    full = _run(tmp_path, shaping_organism[0], ivs, steps=3, name="full", checkpoint_every=1)
    shutil.copytree(tmp_path / "full", tmp_path / "cut")
    shutil.rmtree(tmp_path / "cut" / "checkpoints" / "step_000003")  # as if killed during step 2
    resumed = _run(tmp_path, shaping_organism[0], ivs, steps=3, name="cut", resume=True, checkpoint_every=1)
    for table in ("metrics", "rollouts"):
        a, b = getattr(resumed, table), getattr(full, table)
        pd.testing.assert_frame_equal(a.drop(columns=["run_id"], errors="ignore"), b.drop(columns=["run_id"], errors="ignore"))
    cols = [c for c in full.steps.columns if "seconds" not in c and c not in ("tokens_per_second", "run_id")]
    pd.testing.assert_frame_equal(resumed.steps[cols], full.steps[cols])


@pytest.mark.slow
def test_run_logs_the_shaping_quantities_and_every_new_intervention(shaping_organism, tmp_path):
    path = shaping_organism[0]
    res = _run(tmp_path, path, [
        {"kind": "prompt_prefix", "text": "!"}, {"kind": "monitor_penalty", "penalty": 1.0},
        {"kind": "report", "reward": 0.9}, {"kind": "persona_replay", "documents": 4},
        {"kind": "steer", "layers": [1], "cap_quantile": 0.9, "direction_envs": 24, "direction_samples": 16},
        {"kind": "steer", "layers": [0], "cap_quantile": 0.9, "direction_envs": 24, "direction_source": "marker"},
    ])
    m, s, r = res.metrics, res.steps, res.rollouts
    assert s["steer_2/clip_rate"].between(0, 1).all()  # the marker direction builds without labelled rollouts
    for col in ("trait_exact", "stated_exact", "report_exact", "s_l_note_exact", "p_exact_prefixed", "trait_exact_prefixed"):
        assert m.loc[m.env_id == -1, col].notna().all(), col
    assert (s.exact_sequences > 0).all() and (s.exact_seconds > 0).all()
    reported = (r.route == "report").to_numpy()
    assert np.allclose(r.train_reward[reported], 0.9)
    assert np.allclose(s.set_index("step")["report/report_rate"], r.assign(x=reported).groupby("step").x.mean())
    assert np.isfinite(s["persona_replay/loss"]).all() and np.allclose(s["persona_replay/share"], 4 / (4 + 16))
    assert s["monitor_penalty/obfuscation"].between(0, 1).all()
    assert s["steer/decision_clip_rate"].between(0, 1).all() and "steer/heldout_auc" in s
    assert s["steer/cap"].nunique() == 1 and 0 < s["steer/clip_rate"].iloc[0] < 0.5  # ~10 % at the 0.9 quantile


def test_new_interventions_are_validated_before_the_run_directory(shaping_organism, tmp_path):
    from motivlab.rl import build_config, train
    from motivlab.rl.tiny import tiny_setup

    model, tok, world = tiny_setup(seed=0)  # a world without a report route, a model that is no organism
    for bad, match in (({"kind": "report"}, "report route"), ({"kind": "persona_replay"}, "organism")):
        cfg = build_config({"steps": 1, "algorithm": {"prompts_per_step": 2, "group_size": 2},
                            "run": {"progress": False}, "model": {"spec": "tiny"}, "interventions": [bad]})
        with pytest.raises(MotivlabInputError, match=match):
            train(cfg, tmp_path / "bad", model=model, tokenizer=tok, world=world)
        assert not (tmp_path / "bad").exists()
    cfg = build_config({"steps": 1, "algorithm": {"prompts_per_step": 2, "group_size": 2}, "run": {"progress": False},
                        "model": {"spec": "tiny"},
                        "interventions": [{"kind": "steer", "layers": [0], "cap": 0.0, "direction_source": "marker"}]})
    with pytest.raises(MotivlabInputError, match="instruction marker"):
        train(cfg, tmp_path / "bad", model=model, tokenizer=tok, world=world)
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ValueError, match="read_at"):
        build_config({"interventions": [{"kind": "steer", "layers": [0], "cap": 0, "read_at": "middle"}]})
