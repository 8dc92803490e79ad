"""Monitors on the hint world: world/regex agreement, probe AUC (and its negative control),
tolerant judge parsing, dispatch by name."""

from __future__ import annotations

import numpy as np
import pytest

from motivlab.measure.monitors import (
    JudgeMonitor,
    Monitor,
    ProbeMonitor,
    RegexMonitor,
    WorldMonitor,
    build_monitor,
    hf_complete,
    openai_complete,
    parse_verdict,
)
from motivlab.measure.probe import fit_logistic, roc_auc
from motivlab.worlds import HintWorld, Route


@pytest.fixture(scope="module")
def world() -> HintWorld:
    return HintWorld(n_envs=300, n_heldout=30, n_trap=30, seed=1)


def _rollouts(world: HintWorld, n: int, seed: int = 0) -> tuple[list, list[str]]:
    """Random mix of rewarded, wrong, note-following and malformed completions."""
    rng = np.random.default_rng(seed)
    prompts, comps = [], []
    for i in range(n):
        p = world.prompt(int(rng.integers(world.n_envs)))
        kind = i % 5
        if kind == 0:
            c = world.rewarded_completion(p, Route.LOCAL)
        elif kind == 1:
            c = world.note_completion(p)
        elif kind == 2:
            c = "T" + "".join(rng.choice(list("ABCDEFGH"), 4)) + "\n"
        elif kind == 3:
            c = "G" + "".join(rng.choice(list("ABCDEFGH"), 4)) + "\n"
        else:
            c = "".join(rng.choice(list(world.alphabet), 3))
        prompts.append(p)
        comps.append(c)
    return prompts, comps


def test_world_monitor_is_the_world_labeller(world):
    prompts, comps = _rollouts(world, 200)
    m = WorldMonitor(world)
    assert isinstance(m, Monitor)
    assert m.label_batch(prompts, comps) == [world.label(p, c) for p, c in zip(prompts, comps, strict=True)]
    with pytest.raises(ValueError, match="2 prompts but 1"):
        m.label_batch(prompts[:2], comps[:1])


def test_regex_for_world_agrees_with_world_monitor(world):
    prompts, comps = _rollouts(world, 300, seed=2)
    routes = RegexMonitor.for_world(world).label_batch(prompts, comps)
    assert routes == WorldMonitor(world).label_batch(prompts, comps)
    assert {Route.LOCAL, Route.REWARD_SEEKING, Route.UNKNOWN} <= set(routes)


def test_regex_rule_order_default_and_scope(world):
    p = world.prompt(0)
    m = RegexMonitor([("note", "reward_seeking"), ("key", Route.LOCAL)], default="local")
    assert m.label_batch([p, p, p], ["the note and the key", "my key", "nothing"]) == [
        Route.REWARD_SEEKING,
        Route.LOCAL,
        Route.LOCAL,
    ]
    scoped = RegexMonitor({r"\|": "reward_seeking"}, on="prompt+completion")
    assert scoped.label_batch([p], ["x"]) == [Route.REWARD_SEEKING]
    assert RegexMonitor({r"\|": "reward_seeking"}).label_batch([p], ["x"]) == [Route.UNKNOWN]
    with pytest.raises(ValueError, match="invalid regular expression"):
        RegexMonitor({"(": "local"})
    with pytest.raises(ValueError, match="route of pattern"):
        RegexMonitor({"a": "sneaky"})
    with pytest.raises(ValueError, match="on"):
        RegexMonitor({"a": "local"}, on="prompt")


@pytest.mark.parametrize(
    ("reply", "route"),
    [
        ("VERDICT: REWARD_SEEKING", Route.REWARD_SEEKING),
        ("verdict = local", Route.LOCAL),
        ("Reasoning: it is not reward-seeking.\nVERDICT: LOCAL", Route.LOCAL),
        ("The answer is Reward Seeking.", Route.REWARD_SEEKING),
        ("LOCAL (not reward seeking)", Route.LOCAL),
        ("  reward_seeking\n", Route.REWARD_SEEKING),
        ("I cannot tell.", Route.UNKNOWN),
        ("", Route.UNKNOWN),
        ("VERDICT: unsure, the local key", Route.LOCAL),
    ],
)
def test_parse_verdict_is_tolerant(reply, route):
    assert parse_verdict(reply) == route


def test_parse_verdict_non_string_is_unknown():
    assert parse_verdict(None) == Route.UNKNOWN  # type: ignore[arg-type]


def test_judge_monitor_with_a_rule_based_fake_judge(world):
    prompts, comps = _rollouts(world, 40, seed=3)
    seen: list[int] = []

    def fake_llm(queries: list[str]) -> list[str]:
        seen.append(len(queries))
        out = []
        for q in queries:
            answer = q.split("AI answer:\n", 1)[1]
            out.append({"G": "Verdict: Reward-Seeking", "T": "verdict: local"}.get(answer[:1], "no idea"))
        return out

    judge = JudgeMonitor(fake_llm, batch_size=16)
    assert judge.label_batch(prompts, comps) == WorldMonitor(world).label_batch(prompts, comps)
    assert seen == [16, 16, 8] and len(judge.last_replies) == 40
    assert "{" not in judge.render(prompts[0], "{x}").replace("{x}", "")


def test_judge_validation():
    with pytest.raises(ValueError, match="placeholder"):
        JudgeMonitor(lambda q: q, template="no fields")
    with pytest.raises(ValueError, match="callable"):
        JudgeMonitor("gpt")  # type: ignore[arg-type]
    w = HintWorld(n_envs=10, n_heldout=1, n_trap=1)
    with pytest.raises(ValueError, match="returned 0 replies"):
        JudgeMonitor(lambda q: []).label_batch([w.prompt(0)], ["G"])


def test_openai_complete_uses_the_chat_api():
    class _Msg:
        def __init__(self, content):
            self.message = type("M", (), {"content": content})()

    class _Client:
        def __init__(self):
            self.calls = []
            self.chat = type("C", (), {"completions": self})()

        def create(self, **kw):
            self.calls.append(kw)
            return type("R", (), {"choices": [_Msg("VERDICT: LOCAL")]})()

    client = _Client()
    complete = openai_complete("judge-model", client=client, max_tokens=5)
    assert complete(["a", "b"]) == ["VERDICT: LOCAL"] * 2
    assert client.calls[0]["model"] == "judge-model" and client.calls[0]["temperature"] == 0.0


# ---- probe -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(world):
    from motivlab.rl.tiny import char_tokenizer, tiny_llama

    tok = char_tokenizer(world.alphabet)
    return tiny_llama(tok, seed=0, hidden=32, layers=2, heads=4), tok


def test_fit_logistic_recovers_a_planted_direction():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5))
    w_true = np.array([2.0, -1.0, 0.0, 0.0, 0.5])
    y = (rng.random(400) < 1 / (1 + np.exp(-(x @ w_true)))).astype(float)
    w, _ = fit_logistic(x, y, l2=1e-3)
    cos = w @ w_true / np.linalg.norm(w) / np.linalg.norm(w_true)
    assert cos > 0.95
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)


def test_probe_separates_routes_on_held_out_rollouts(world, tiny):
    model, tok = tiny
    prompts, comps = [], []
    for e in range(120):
        p = world.prompt(e)
        prompts += [p, p]
        comps += [world.note_completion(p), world.rewarded_completion(p, Route.LOCAL)]
    labels = WorldMonitor(world).label_batch(prompts, comps)
    probe = build_monitor("probe", model=model, tokenizer=tok, layer=1)
    fit = probe.fit(prompts, comps, labels, heldout_fraction=0.25, seed=0)
    assert fit.n_heldout == 60 and fit.n_train == 180
    assert fit.heldout_auc > 0.9 and fit.heldout_accuracy > 0.8
    routes = probe.label_batch(prompts[:20], comps[:20])
    assert np.mean([a == b for a, b in zip(routes, labels[:20], strict=True)]) > 0.8
    assert probe.direction.shape == (32,) and np.isclose(np.linalg.norm(probe.direction), 1.0)


def test_probe_negative_control_random_labels(world, tiny):
    """Labels unrelated to the rollouts: held-out AUC must not look like a working probe."""
    model, tok = tiny
    rng = np.random.default_rng(5)
    prompts = [world.prompt(e) for e in range(200)]
    comps = [world.rewarded_completion(p, Route.LOCAL) for p in prompts]
    labels = [Route.REWARD_SEEKING if b else Route.LOCAL for b in rng.random(200) < 0.5]
    fit = ProbeMonitor(model, tok, layer=-1).fit(prompts, comps, labels, seed=1)
    assert fit.heldout_auc < 0.75


def test_probe_errors(world, tiny):
    model, tok = tiny
    probe = ProbeMonitor(model, tok)
    p = world.prompt(0)
    with pytest.raises(ValueError, match="not fitted"):
        probe.label_batch([p], ["G"])
    with pytest.raises(ValueError, match=">= 2 reward-seeking"):
        probe.fit([p] * 3, ["GAAAA\n"] * 3, [Route.REWARD_SEEKING] * 3)
    with pytest.raises(ValueError, match="layer"):
        ProbeMonitor(model, tok, layer=7)


def test_hf_complete_plumbing(tiny):
    model, tok = tiny
    out = hf_complete(model, tok, max_new_tokens=3)(["ab|CD>", "x|>"])
    assert len(out) == 2 and all(isinstance(s, str) for s in out)


def test_build_monitor_dispatch(world):
    assert isinstance(build_monitor("world", world=world), WorldMonitor)
    assert isinstance(build_monitor("regex", patterns={"^G": "reward_seeking"}), RegexMonitor)
    from_world = build_monitor("regex", world=world)
    p = world.prompt(0)
    assert from_world.label_batch([p, p], ["GAB", "TAB"]) == [Route.REWARD_SEEKING, Route.LOCAL]
    judge = build_monitor("judge", world=world, complete=lambda qs: ["VERDICT: LOCAL"] * len(qs))
    assert judge.label_batch([p], ["G"]) == [Route.LOCAL]
    with pytest.raises(ValueError, match="monitor 'probe'"):
        build_monitor("probe", world=world)
    with pytest.raises(ValueError, match="monitor kind"):
        build_monitor("oracle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="monitor 'world'"):
        build_monitor("world", wrld=world)
