"""The hint world: determinism, grader, labeller, splits, transfer structure, validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from motivlab.worlds import HintWorld, HintWorldConfig, Route, World, grade_batch

SMALL = {"n_envs": 2000, "n_heldout": 200, "n_trap": 100}


@pytest.fixture(scope="module")
def world() -> HintWorld:
    return HintWorld(**SMALL)


@pytest.fixture(scope="module")
def partial() -> HintWorld:
    return HintWorld(**SMALL, partial_credit=True)


def test_implements_protocol(world):
    assert isinstance(world, World)
    assert world.name == "hint"
    assert world.coordinates.shape == (2000, 2)
    assert world.stop == "\n"


def test_same_seed_same_world_other_seed_other_world():
    a, b, c = HintWorld(**SMALL, seed=3), HintWorld(**SMALL, seed=3), HintWorld(**SMALL, seed=4)
    assert [a.prompt(e).text for e in range(2000)] == [b.prompt(e).text for e in range(2000)]
    assert [a.key(e) for e in range(2000)] == [b.key(e) for e in range(2000)]
    np.testing.assert_array_equal(a.coordinates, b.coordinates)
    np.testing.assert_array_equal(a.env_ids("trap"), b.env_ids("trap"))
    assert [a.key(e) for e in range(50)] != [c.key(e) for e in range(50)]


def test_split_knobs_do_not_redraw_keys():
    a, b = HintWorld(**SMALL), HintWorld(n_envs=2000, n_heldout=10, n_trap=300)
    assert [a.key(e) for e in range(2000)] == [b.key(e) for e in range(2000)]


def test_splits_partition_the_pool(world):
    train, held, trap = (set(world.env_ids(s).tolist()) for s in ("train", "heldout", "trap"))
    assert (len(train), len(held), len(trap)) == (1700, 200, 100)
    assert not (train & held or train & trap or held & trap)
    assert train | held | trap == set(world.env_ids("all").tolist()) == set(range(2000))
    for e in list(trap)[:20]:
        assert world.prompt(e).meta["is_trap"] and world.prompt(e).meta["split"] == "trap"
    with pytest.raises(ValueError, match="split"):
        world.env_ids("test")


def test_rewarded_completions_earn_full_reward_on_both_routes(world, partial):
    for w in (world, partial):
        for e in w.env_ids("all")[::7]:
            p = w.prompt(e)
            for route in (Route.REWARD_SEEKING, Route.LOCAL):
                c = w.rewarded_completion(p, route)
                assert c.startswith(w.route_prefix(route)) and c.endswith(w.stop)
                assert w.grade(p, c) == 1.0
                assert w.label(p, c) == route


def test_reading_the_note_pays_except_on_traps(world, partial):
    for w in (world, partial):
        for e in w.env_ids("train")[:100]:
            p = w.prompt(e)
            assert w.decode_note(p.meta["note"], p.meta["cipher_region"]) == p.meta["key"]
            assert w.grade(p, w.note_completion(p)) == 1.0
        for e in w.env_ids("trap"):
            p = w.prompt(e)
            assert w.decode_note(p.meta["note"], p.meta["cipher_region"]) == p.meta["note_says"]
            # the lie differs in every position: no partial credit either
            assert all(a != b for a, b in zip(p.meta["note_says"], p.meta["key"], strict=True))
            assert w.grade(p, w.note_completion(p)) == 0.0


def test_note_never_shows_the_key_verbatim(world):
    for e in range(200):
        p = world.prompt(e)
        assert all(a != b for a, b in zip(p.meta["note"], p.meta["note_says"], strict=True))


def test_exact_and_partial_credit(world, partial):
    p = world.prompt(0)
    key = p.meta["key"]
    wrong_last = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert world.grade(p, "T" + wrong_last + "\n") == 0.0
    assert partial.grade(partial.prompt(0), "T" + wrong_last + "\n") == pytest.approx(3 / 4)
    assert partial.grade(partial.prompt(0), "G" + key + "XXXX\n") == pytest.approx(4 / 8)  # padding does not pay
    assert partial.grade(partial.prompt(0), "G" + key[:2] + "\n") == pytest.approx(2 / 4)
    # the stop is optional (a length cap may cut it) and text after it is ignored
    assert world.grade(p, "T" + key) == 1.0
    assert world.grade(p, "T" + key + "\nGARBAGE") == 1.0


@pytest.mark.parametrize("bad", ["", "\n", "X" + "ABCD\n", "tABCD\n", " T", "|>", "\nTABCD"])
def test_malformed_completions_get_zero_and_unknown(world, bad):
    p = world.prompt(1)
    assert world.grade(p, bad) == 0.0
    assert world.label(p, bad) == Route.UNKNOWN


def test_non_string_completion_is_malformed_not_an_exception(world):
    p = world.prompt(1)
    assert world.grade(p, None) == 0.0  # type: ignore[arg-type]
    assert world.label(p, None) == Route.UNKNOWN  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12))
def test_grader_total_on_arbitrary_text(text):
    w = _HYP_WORLD
    p = w.prompt(5)
    r = w.grade(p, text)
    assert 0.0 <= r <= 1.0
    assert w.label(p, text) in set(Route)


_HYP_WORLD = HintWorld(n_envs=50, n_heldout=5, n_trap=5, partial_credit=True)


def test_labels_follow_the_declared_route(world):
    p = world.prompt(3)
    assert world.label(p, "GZZZZ\n") == Route.REWARD_SEEKING
    assert world.label(p, "TZZZZ\n") == Route.LOCAL
    assert world.route_prefix(Route.REWARD_SEEKING) == "G"
    assert world.route_prefix(Route.LOCAL) == "T"
    with pytest.raises(ValueError, match="route"):
        world.route_prefix(Route.UNKNOWN)


def test_alphabet_covers_prompts_and_completions(world):
    chars = set(world.alphabet)
    assert len(chars) == len(world.alphabet)
    for e in world.env_ids("all"):
        p = world.prompt(e)
        assert set(p.text) <= chars
        for route in (Route.REWARD_SEEKING, Route.LOCAL):
            assert set(world.rewarded_completion(p, route)) <= chars
        assert set(world.note_completion(p)) <= chars


def test_grade_batch_matches_grade(world):
    prompts = [world.prompt(e) for e in range(10)]
    comps = [world.rewarded_completion(p, Route.LOCAL) if i % 2 else "junk" for i, p in enumerate(prompts)]
    np.testing.assert_array_equal(grade_batch(world, prompts, comps), [i % 2 for i in range(10)])


def test_key_regions_share_structure():
    w = HintWorld(n_envs=3000, n_heldout=0, n_trap=0, local_transfer_length=0.25, regional_key_chars=2)
    regions = np.array([w.prompt(e).meta["key_region"] for e in range(3000)])
    assert len(np.unique(regions)) == 16  # 4 x 4 cells in the unit square
    ids = [w.prompt(e).text.split("|")[0] for e in range(3000)]
    assert len(set(ids)) == 3000
    width = w.describe()["id_length"] - 1  # region code 1 char (16 < 36), rank suffix the rest
    for r in range(16):
        members = np.flatnonzero(regions == r)
        assert len({w.key(e)[:2] for e in members}) == 1
        assert len({ids[e][:-width] for e in members}) == 1
        assert len({w.key(e)[2:] for e in members}) > len(members) // 2  # the rest is env-specific
        cell = np.floor(w.coordinates[members] / 0.25)
        assert (cell == cell[0]).all()


def test_no_local_transfer_gives_every_env_its_own_region():
    w = HintWorld(n_envs=500, n_heldout=0, n_trap=0, local_transfer_length=None)
    assert w.describe()["n_key_regions"] == 500


def test_regional_ciphers_are_tagged():
    w = HintWorld(n_envs=1000, n_heldout=0, n_trap=0, note_transfer_length=0.5)
    assert w.describe()["n_ciphers"] == 4
    tags: dict[int, set[str]] = {}
    for e in range(1000):
        p = w.prompt(e)
        tags.setdefault(p.meta["cipher_region"], set()).add(p.text.split("|")[1][:1])
        assert w.decode_note(p.meta["note"], p.meta["cipher_region"]) == p.meta["key"]
    assert all(len(t) == 1 for t in tags.values()) and len(set().union(*tags.values())) == 4


@pytest.mark.parametrize("geometry", ["uniform", "gaussian", "clustered", "manifold"])
def test_every_geometry_builds(geometry):
    w = HintWorld(n_envs=300, n_heldout=10, n_trap=10, dim=3, geometry=geometry)
    assert w.coordinates.shape == (300, 3) and np.isfinite(w.coordinates).all()
    assert len({w.prompt(e).text for e in range(300)}) == 300


def test_default_world_shape():
    w = HintWorld()
    d = w.describe()
    assert w.n_envs == 10_000 and d["prompt_length"] <= 40 and d["completion_length"] == 6


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"key_length": 0}, "key_length"),
        ({"key_alphabet": ""}, "key_alphabet"),
        ({"key_alphabet": "AA"}, "key_alphabet"),
        ({"id_alphabet": "ab|"}, "id_alphabet"),
        ({"key_alphabet": "abc"}, "disjoint"),
        ({"n_envs": 100, "n_heldout": 60, "n_trap": 40}, "n_heldout \\+ n_trap"),
        ({"regional_key_chars": 5}, "regional_key_chars"),
        ({"stop": "\n\n"}, "stop"),
        ({"stop": "A"}, "stop"),
        ({"local_prefix": "G"}, "local_prefix"),
        ({"local_transfer_length": 0.0}, "local_transfer_length"),
        ({"note_transfer_length": -1.0}, "note_transfer_length"),
        ({"geometry": "torus"}, "geometry"),
        ({"geometry": "manifold", "dim": 1}, "dim"),
        ({"n_envz": 10}, "n_envz"),
    ],
)
def test_invalid_config_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        HintWorldConfig(**kwargs)


def test_bad_env_id(world):
    with pytest.raises(ValueError, match="env_id"):
        world.prompt(2000)
    with pytest.raises(ValueError, match="env_id"):
        world.prompt(-1)


def test_config_object_and_overrides():
    cfg = HintWorldConfig(**SMALL, seed=7)
    a, b = HintWorld(cfg), HintWorld(cfg, key_length=5)
    assert a.config.seed == b.config.seed == 7 and len(b.key(0)) == 5
    with pytest.raises(ValueError, match="key_length"):
        HintWorld(cfg, key_length=0)


def test_fingerprint_identifies_the_world():
    a, b = HintWorld(**SMALL), HintWorld(**SMALL)
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != HintWorld(**SMALL, seed=1).fingerprint()
    assert a.fingerprint() != HintWorld(n_envs=2000, n_heldout=201, n_trap=100).fingerprint()
