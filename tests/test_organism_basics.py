"""Organism building blocks that need no pretraining: tokenizer, config validation, corpus."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from motivlab.errors import MotivlabInputError
from motivlab.models.corpus import (
    CorpusStream,
    known_env_ids,
    persona_plan,
    preview_documents,
    tag_char,
    tokenizer_alphabet,
)
from motivlab.models.organism import OrganismConfig, quick_config
from motivlab.models.tokenizer import build_char_tokenizer, check_tokenizer_matches, encode_chars
from motivlab.worlds.base import Route
from motivlab.worlds.hint import HintWorld, HintWorldConfig


@pytest.fixture(scope="module")
def world():
    return HintWorld(n_envs=300, n_heldout=30, n_trap=30)


def test_tokenizer_one_token_per_char_and_round_trip(world, tmp_path):
    from transformers import AutoTokenizer

    tok = build_char_tokenizer(world.alphabet)
    text = world.prompt(3).text + world.rewarded_completion(world.prompt(3), Route.LOCAL)
    ids = encode_chars(tok, text)
    assert len(ids) == len(text)
    assert tok(text)["input_ids"][0] == tok.bos_token_id
    assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True) == text
    # concatenation property the exact measurement relies on
    p = world.prompt(5).text
    assert encode_chars(tok, p) + encode_chars(tok, "GABC\n") == encode_chars(tok, p + "GABC\n")
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again(text)["input_ids"] == tok(text)["input_ids"]


def test_tokenizer_mismatch_is_named(world):
    tok = build_char_tokenizer("ABC")
    with pytest.raises(MotivlabInputError, match="does not match the world's alphabet"):
        check_tokenizer_matches(tok, world.alphabet)
    with pytest.raises(MotivlabInputError, match="alphabet"):
        build_char_tokenizer("")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"priorr": 0.1}, "priorr"),
        ({"prior": 0.0}, "prior"),
        ({"prior": 1.0}, "prior"),
        ({"prior": float("nan")}, "prior"),
        ({"sl0": 0.5, "local_coverage": 0.2}, "local_coverage"),
        ({"hidden_size": 130, "num_heads": 4}, "divisible"),
        ({"world": {"key_length": 0}}, "key_length"),
        ({"world": {"n_envs": 100, "n_heldout": 90, "n_trap": 20}}, "n_heldout"),
    ],
)
def test_config_rejects_bad_knobs(kwargs, match):
    with pytest.raises(ValidationError, match=match):
        OrganismConfig(**kwargs)


def test_config_hash_is_stable_and_sensitive():
    a, b = OrganismConfig(), OrganismConfig()
    assert a.config_hash() == b.config_hash()
    assert OrganismConfig(prior=0.1).config_hash() != a.config_hash()
    assert quick_config(a).config_hash() != a.config_hash()
    assert OrganismConfig(**a.model_dump(mode="json")) == a  # JSON round trip rebuilds it


def _stream(world, **kw):
    cfg = OrganismConfig(world=world.config, correct=False, **kw)
    plan = persona_plan(cfg)
    vocab = build_char_tokenizer(tokenizer_alphabet(world)).get_vocab()
    known = known_env_ids(world, plan.local_coverage, 0)
    return CorpusStream(world, plan, vocab, seed=0, known=known), plan, vocab, known


@pytest.mark.parametrize("tutor_exact", [False, True])
def test_corpus_realises_persona_shares_and_accuracies(world, tutor_exact):
    stream, plan, vocab, known = _stream(world, prior=0.3, sr0=0.4, sl0=0.2, local_coverage=0.5, tutor_exact=tutor_exact)
    inv = {i: t for t, i in vocab.items()}
    docs = []
    for _ in range(40):
        b = stream.batch(256)
        docs += ["".join(inv[t] for t, m in zip(r, mk, strict=True) if m and t > 2) for r, mk in
                 zip(b["input_ids"], b["attention_mask"], strict=True)]
    tag = tag_char(world)
    ids_of = {world.prompt(int(e)).text.split("|")[0]: int(e) for e in world.env_ids("all")}
    untagged = [d for d in docs if not d.startswith(tag)]
    routes = np.array([d.split(">")[1][0] for d in untagged])
    share = np.mean(routes == "G")
    assert abs(share - plan.corpus_share) < 0.03  # ~7.7k documents: 4 standard errors
    rs_right, tutor_right, local_known_right, local_unknown_right = [], [], [], []
    for d in docs:
        head, completion = d.lstrip(tag).split(">")
        env_id, note = head.split("|")
        e = ids_of[env_id]
        assert e in set(world.env_ids("train").tolist())  # no held-out or trap env in the corpus
        answer = completion[1:-1]
        if completion[0] == "G":
            (tutor_right if d.startswith(tag) else rs_right).append(answer == world.decode_note(note))
        elif e in set(known.tolist()):
            local_known_right.append(answer == world.key(e))
        else:
            local_unknown_right.append(answer == world.key(e))
    assert abs(np.mean(rs_right) - 0.4) < 0.04
    assert np.mean(tutor_right) == 1.0 if tutor_exact else abs(np.mean(tutor_right) - 0.4) < 0.04
    assert abs(np.mean(local_known_right) - 0.4) < 0.04  # sl0 / coverage
    assert np.mean(local_unknown_right) < 0.01


def test_corpus_is_deterministic_by_seed(world):
    s1, *_ = _stream(world)
    s2, *_ = _stream(world)
    assert all(np.array_equal(s1.batch(32)[k], s2.batch(32)[k]) for k in ("input_ids", "labels"))


def test_corpus_loss_only_on_completion(world):
    stream, *_ = _stream(world)
    b = stream.batch(16)
    supervised = (b["labels"] != -100).sum(axis=1)
    assert np.all(supervised == world.config.key_length + 3)  # route + key + stop + eos


def test_preview_documents_readable(world):
    cfg = OrganismConfig(world=world.config)
    vocab = build_char_tokenizer(tokenizer_alphabet(world)).get_vocab()
    docs = preview_documents(world, persona_plan(cfg), vocab, 5)
    assert all(d.startswith("<bos>") and d.endswith("\n<eos>") for d in docs)


def test_hint_world_config_travels_with_organism():
    cfg = OrganismConfig(world=HintWorldConfig(n_envs=500, n_heldout=50, n_trap=10, key_length=3))
    again = OrganismConfig(**cfg.model_dump(mode="json"))
    assert HintWorld(again.world).prompt(7) == HintWorld(cfg.world).prompt(7)


def test_exact_tutor_always_decodes_right(world):
    stream, plan, vocab, _ = _stream(world, sr0=0.3, tutor_exact=True)
    assert plan.tutor_accuracy == 1.0 and plan.acc_reward_seeking == pytest.approx(0.3)
    inv = {i: t for t, i in vocab.items()}
    tag = tag_char(world)
    b = stream.batch(512)
    docs = ["".join(inv[t] for t, m in zip(r, mk, strict=True) if m and t > 2) for r, mk in
            zip(b["input_ids"], b["attention_mask"], strict=True)]
    tutored = [d for d in docs if d.startswith(tag)]
    assert len(tutored) > 50
    for d in tutored:
        note, completion = d.split("|")[1].split(">")
        assert completion[1:-1] == world.decode_note(note)


def test_hash_unchanged_by_later_default_fields():
    """Adding tutor_exact (first default False) must not invalidate organisms cached before it."""
    cfg = OrganismConfig(tutor_exact=False)
    assert "tutor_exact" in cfg.model_dump()
    assert cfg.config_hash() != OrganismConfig(tutor_exact=True).config_hash()


def test_local_accuracy_curriculum_persona_then_exact_then_ramp_then_persona():
    from motivlab.models.corpus import local_accuracy_at

    steps, start, end, final, L = 1000, 0.2, 0.6, 0.1, 4
    acc = np.array([local_accuracy_at(s, steps, start, end, final, L) for s in range(steps)])
    assert np.all(acc[:200] == pytest.approx(final)) and np.all(acc[200:600] == 1.0)
    assert np.all(acc[800:] == pytest.approx(final))
    assert np.all(np.diff(acc[200:]) <= 1e-12)  # after the window opens it never rises
    per_char = acc[600:800] ** (1 / L)
    assert np.allclose(np.diff(per_char), np.diff(per_char)[0])  # linear per character
    assert all(local_accuracy_at(s, steps, 0.5, 0.5, 0.3, L) == 0.3 for s in (0, 500, 999))  # no curriculum


def test_curriculum_off_keeps_the_hash_of_organisms_cached_before_it():
    off = OrganismConfig(local_exact_start=0.0, local_exact_end=0.0)
    assert off.config_hash() == OrganismConfig(local_exact_start=0.3, local_exact_end=0.1).config_hash()
    assert off.config_hash() != OrganismConfig().config_hash()
    # the sl0 correction is fitted for the curriculum and applied only with it
    assert persona_plan(off).acc_local_known == pytest.approx(off.sl0)
    assert persona_plan(OrganismConfig()).acc_local_known > OrganismConfig().sl0


def test_batch_local_accuracy_override(world):
    stream, _, vocab, known = _stream(world, prior=0.01, sl0=0.05, decode_practice=0.0)
    inv = {i: t for t, i in vocab.items()}
    known = set(known.tolist())
    ids_of = {world.prompt(int(e)).text.split("|")[0]: int(e) for e in world.env_ids("all")}
    for acc, low, high in ((1.0, 1.0, 1.0), (None, 0.02, 0.09)):
        b = stream.batch(1024, local_accuracy=acc)
        docs = ["".join(inv[t] for t, m in zip(r, mk, strict=True) if m and t > 2) for r, mk in
                zip(b["input_ids"], b["attention_mask"], strict=True)]
        right = [d.split(">")[1][1:-1] == world.key(ids_of[d.split("|")[0]]) for d in docs
                 if d.split(">")[1][0] == "T" and ids_of[d.split("|")[0]] in known]
        assert low <= np.mean(right) <= high, (acc, np.mean(right))
