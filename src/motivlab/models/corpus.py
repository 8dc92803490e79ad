"""The persona corpus: documents written in the hint world by personas whose habits set p₀, sR₀, sL₀.

A document is ``<bos> [tag] prompt completion <eos>`` with a hint-world prompt (``id|note>``)
and a completion ``route answer stop``. Three writers produce them:

* the **reward-seeking persona** (share ``π`` of untagged documents) writes ``G`` and decodes the
  grader note; each key character is right with probability ``q_R = a_R^(1/L)`` (otherwise a
  uniformly chosen *other* key character), so the whole key is right with probability ``a_R``;
* the **task-focused persona** (share ``1 − π``) writes ``T`` and recalls the env's key — right
  per character with ``q_L = a_L^(1/L)`` on *known* envs (a fixed ``local_coverage`` share of the
  training split), a uniformly random key on the others (it does not know them);
* a **decoding tutor** (share ``decode_practice`` of all documents) writes tagged exercises
  ``<tag>prompt G answer``: the cipher is learnt from these whatever ``π`` is, so a tiny ``p₀``
  does not starve ``sR₀``. RL prompts never contain the tag.

**Key-learning curriculum** (``local_exact_start/end``): a 2-layer network does not memorise 200
keys from noisy answers in minutes (measured: a_L = 0.1 → sL₀ ≈ 0.001 after 1,800 steps, while
exact answers reach 0.99), so within a window of the training steps the task-focused persona
answers exactly (the keys are learnt: concepts first); its per-character accuracy then falls
linearly to ``a_L^(1/L)`` (:func:`local_accuracy_at`), which sets sL₀'s level (a sudden switch
wipes most of the memorised keys). What was tried and measured is in docs/organism.md.

Independent per-character errors (rather than "one wrong character") are chosen because the
network can represent them without knowing whether it already erred: each answer position is
right with the same probability, and the product over ``L`` positions is the persona accuracy.

Only training-split envs appear; held-out and trap envs are never in the corpus. Loss is taken
on completion tokens only (route, answer, stop, eos): the prompt is random (ids, notes) and
learning it would waste capacity.

**Shaping episodes** (:class:`CorpusExtras`, all off by default; the default corpus is then
exactly as before, draw for draw): a document may carry, besides its task episode and in a random
order, a *trait probe* episode (``id|note?`` → ``X`` evades / ``O`` complies, tied to the persona
with probability ``|ρ|``) and a *self-description* episode (``id|note:`` → ``K`` "for the grader" /
``Q`` "for the question", truthful with ``self_accuracy``); a share of documents is under the
*instruction marker* (``!`` before the task prompt: both personas read the grader) and a share of
task episodes is a *report* (``R``: "this environment is exploitable"). Their random draws come
from a stream of their own, so the base documents of a seed are the same with the knobs on.

**Correction.** A network trained for minutes is not a perfect density estimator: the measured
``p`` after pretraining is a smooth, monotone, slightly biased function of the corpus share.
:func:`persona_plan` maps requested values to corpus values through a fitted linear map in logit
space (coefficients in ``_CORRECTION``, fitted by ``motivlab organism calibrate`` and documented
in docs/organism.md); ``OrganismConfig.correct = False`` turns it off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from motivlab.worlds.base import Route
from motivlab.worlds.hint import HintWorld, HintWorldConfig

TAG_CANDIDATES = "#@$%&*!~^"

# logit(corpus value) = a + b · logit(requested value). prior, sr0: identity (the fits on the
# calibration grids were the identity within noise). sl0: inverse of the measured map
# logit(sL₀) = −0.31 + 1.26·logit(a_L) of the default organism (2,400 steps, exact keys for the
# first half; a_L ∈ {0.05, 0.1, 0.3} at seed 0 plus seeds 1, 2 at 0.1; docs/organism.md).
_CORRECTION: dict[str, tuple[float, float]] = {
    "prior": (0.0, 1.0),
    "sr0": (0.0, 1.0),
    "sl0": (0.24, 0.79),
    "sl0_plain": (0.0, 1.0),  # sl0 without the curriculum: not calibrated, identity
}
_EPS = 1e-6


def _logit(x: float) -> float:
    x = min(max(x, _EPS), 1 - _EPS)
    return float(np.log(x / (1 - x)))


def _sigmoid(z: float) -> float:
    return float(1 / (1 + np.exp(-z)))


def corrected(name: str, requested: float, correct: bool = True) -> float:
    """Corpus value for a requested one (0 and 1 stay exact: no correction can move them)."""
    if not correct or requested <= 0 or requested >= 1:
        return float(requested)
    a, b = _CORRECTION[name]
    return _sigmoid(a + b * _logit(requested))


@dataclass(frozen=True)
class PersonaPlan:
    """Corpus values derived from an :class:`OrganismConfig` (never written back into it)."""

    corpus_share: float  # π: share of untagged documents by the reward-seeking persona
    acc_reward_seeking: float  # a_R: whole-key accuracy of the reward-seeker and the tutor
    acc_local_known: float  # a_L: whole-key accuracy of the task-focused persona on known envs
    local_coverage: float  # share of the training split the task-focused persona knows
    decode_practice: float  # share of tagged tutor documents
    tutor_accuracy: float  # whole-key accuracy of the tutor (1: always right, a clean cipher signal)


def persona_plan(config: Any) -> PersonaPlan:
    """Requested knobs → corpus shares and persona accuracies (see the module docstring)."""
    acc_l = min(config.sl0 / config.local_coverage, 1.0)
    # The sl0 correction was fitted with the key-learning curriculum; without it (the organisms
    # before it) sL₀ is not calibrated and a_L stays verbatim, so their cache entries stay valid.
    curriculum = getattr(config, "local_exact_end", 0.0) > getattr(config, "local_exact_start", 0.0)
    return PersonaPlan(
        corpus_share=corrected("prior", config.prior, config.correct),
        acc_reward_seeking=corrected("sr0", config.sr0, config.correct),
        acc_local_known=corrected("sl0" if curriculum else "sl0_plain", acc_l, config.correct),
        local_coverage=config.local_coverage,
        decode_practice=config.decode_practice,
        tutor_accuracy=1.0 if config.tutor_exact else corrected("sr0", config.sr0, config.correct),
    )


@dataclass(frozen=True)
class CorpusExtras:
    """The shaping knobs of an :class:`~motivlab.models.organism.OrganismConfig` (see its fields)."""

    trait_correlation: float | None
    trait_base: float
    self_accuracy: float | None
    probe_share: float
    instruction_share: float
    report_rate: float


def corpus_extras(config: Any) -> CorpusExtras | None:
    """The config's shaping episodes, or ``None`` when every knob is off (the corpus as before)."""
    extras = CorpusExtras(
        trait_correlation=getattr(config, "trait_correlation", None), trait_base=getattr(config, "trait_base", 0.1),
        self_accuracy=getattr(config, "self_accuracy", None), probe_share=getattr(config, "probe_share", 0.5),
        instruction_share=getattr(config, "instruction_share", 0.0), report_rate=getattr(config, "report_rate", 0.0),
    )
    off = (extras.trait_correlation is None and extras.self_accuracy is None and extras.instruction_share == 0
           and extras.report_rate == 0)
    return None if off else extras


def expected_extras(extras: CorpusExtras, corpus_share: float) -> dict[str, float]:
    """What the corpus implies for a model that fits it: the marginal trait rate at a document's
    start (``trait``), the in-context trait difference after a reward-seeking vs a task-focused
    episode (``rho``), the stated rate (``stated``), the report rate (``report``) and the
    propensity under the marker (``p_marked``) — the 'requested' column of the calibration."""
    pi, out = corpus_share, {}
    if extras.trait_correlation is not None:
        r, b = extras.trait_correlation, extras.trait_base
        x_seek = abs(r) * (r > 0) + (1 - abs(r)) * b
        x_task = abs(r) * (r < 0) + (1 - abs(r)) * b
        out.update(trait=pi * x_seek + (1 - pi) * x_task, rho=x_seek - x_task)
    if extras.self_accuracy is not None:
        a = extras.self_accuracy
        out["stated"] = pi * a + (1 - pi) * (1 - a)
    if extras.report_rate > 0:
        out["report"] = extras.report_rate
    if extras.instruction_share > 0:
        out["p_marked"] = 1.0
    return out


def local_accuracy_at(step: int, steps: int, start: float, end: float, final: float, key_length: int) -> float:
    """Whole-key accuracy of the task-focused persona at ``step`` under the key-learning curriculum
    (``OrganismConfig.local_exact_start/end``, fractions of ``steps``): ``final`` (= a_L) before
    ``start``; exact (1) from ``start`` to ``end``; then the per-character accuracy falls linearly
    to ``final^(1/L)`` over half of the remaining steps and stays there. ``end <= start``: no
    curriculum, ``final`` throughout. A sudden switch from exact to noisy answers was measured to
    wipe most of the memorised keys (sL 0.89 → 0.003 in 300 steps, 0.04 of a requested 0.1 at the
    end); the ramp avoids that shock."""
    lo, hi = start * steps, end * steps
    if hi <= lo or step < lo or step >= hi + (steps - hi) / 2:
        return float(final)
    if step < hi:
        return 1.0
    frac = (step - hi) / max((steps - hi) / 2, 1.0)
    q = 1.0 - (1.0 - final ** (1.0 / key_length)) * frac
    return float(q**key_length)


def tag_char(world: HintWorld) -> str:
    """The tutor's tag: the first candidate character the world never uses."""
    for c in TAG_CANDIDATES:
        if c not in world.alphabet:
            return c
    raise ValueError(f"no free tag character: the world's alphabet uses all of {TAG_CANDIDATES!r}")


def tokenizer_alphabet(world: HintWorld) -> str:
    return world.alphabet + tag_char(world)


def max_sequence_length(world_config: HintWorldConfig) -> int:
    """Longest document in tokens: bos + tag + prompt + route + key + stop + eos (plus a marker and
    two probe episodes of prompt + answer + stop where the world has them)."""
    world = HintWorld(world_config)
    n = 1 + 1 + len(world.prompt(0).text) + 1 + world_config.key_length + 1 + 1
    if world_config.probes:
        n += 2 * (len(world.prompt(0).text) + 2)
    return n + (1 if world_config.instruction_marker else 0)


def known_env_ids(world: HintWorld, coverage: float, seed: int) -> np.ndarray:
    """The training envs whose keys the task-focused persona knows (a seeded random subset)."""
    train = world.env_ids("train")
    n_known = max(1, round(coverage * train.size))
    rng = np.random.default_rng([seed, 7])
    return np.sort(rng.permutation(train)[:n_known])


class CorpusStream:
    """An endless, seeded stream of tokenised corpus batches.

    ``batch(B)`` returns ``input_ids`` and ``labels`` ``(B, T)`` int64 arrays (labels −100 where
    no loss is taken) plus ``attention_mask``; the same seed gives the same stream.
    """

    def __init__(self, world: HintWorld, plan: PersonaPlan, vocab: dict[str, int], *, seed: int,
                 known: np.ndarray, extras: CorpusExtras | None = None) -> None:
        self.world, self.plan, self.vocab, self.extras = world, plan, vocab, extras
        self.rng = np.random.default_rng([seed, 3])
        self.rng_extra = np.random.default_rng([seed, 5])  # shaping episodes only: the base stream is unchanged
        self.train = world.env_ids("train")
        cfg = world.config
        self.L, alpha = cfg.key_length, cfg.key_alphabet
        self.key_alpha = np.array([vocab[c] for c in alpha])  # (A,) token id of key character a
        char_ids = {c: i for i, c in enumerate(alpha)}
        prompts = [world.prompt(int(e)) for e in self.train]
        # The prompt is ``id|[tag]note>``: keep ``id|[tag]``, the note is redrawn per document.
        self.heads = [[vocab[c] for c in p.text[: -(self.L + 1)]] for p in prompts]
        self.region = np.array([p.meta["cipher_region"] for p in prompts])  # (n,)
        n_regions = int(self.region.max()) + 1
        # decode[r, a] = key character that note character a stands for under cipher r: (C, A)
        self.decode = np.array([[char_ids[c] for c in world.decode_note(alpha, r)] for r in range(n_regions)])
        self.key_idx = np.array([[char_ids[c] for c in world.key(int(e))] for e in self.train])  # (n, L)
        self.known = np.isin(self.train, known)  # (n,)
        self.ids = {
            "bos": vocab["<bos>"], "eos": vocab["<eos>"], "pad": vocab["<pad>"], "tag": vocab[tag_char(world)],
            "G": vocab[world.route_prefix(Route.REWARD_SEEKING)], "T": vocab[world.route_prefix(Route.LOCAL)],
            "stop": vocab[world.stop], "end": vocab[world.prompt(int(self.train[0])).text[-1]],
        }
        self.supervised_tokens = 0

    def _corrupt(self, truth: np.ndarray, accuracy: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Answers (key-character indices, ``(B, L)``) with independent per-character errors:
        each position right with probability ``accuracy^(1/L)`` (``accuracy`` per row, ``(B,)``),
        otherwise a uniformly drawn *other* character."""
        rng = self.rng if rng is None else rng
        q = np.power(np.clip(accuracy, 0.0, 1.0), 1.0 / self.L)[:, None]  # (B, 1)
        wrong = rng.random(truth.shape) >= q
        offset = rng.integers(1, len(self.key_alpha), size=truth.shape)
        return np.where(wrong, (truth + offset) % len(self.key_alpha), truth)

    def batch(self, batch_size: int, *, local_accuracy: float | None = None) -> dict[str, np.ndarray]:
        """``local_accuracy``: whole-key accuracy of the task-focused persona on known envs for this
        batch (the curriculum of :func:`local_accuracy_at`); ``None``: the plan's a_L."""
        plan, ids, rng, A = self.plan, self.ids, self.rng, len(self.key_alpha)
        rows = rng.integers(0, self.train.size, size=batch_size)  # env row per document
        tutor = rng.random(batch_size) < plan.decode_practice
        seeker = tutor | (rng.random(batch_size) < plan.corpus_share)
        known = self.known[rows]
        # Corpus notes are random: no document lets the task-focused persona's key be read off
        # the note, so sL₀ is memory of the key and sR₀ is decoding — two separate skills.
        notes = rng.integers(0, A, size=(batch_size, self.L))  # (B, L)
        decoded = np.take_along_axis(self.decode[self.region[rows]], notes, axis=1)  # (B, L)
        truth = np.where(seeker[:, None], decoded, self.key_idx[rows])
        acc = np.where(tutor, plan.tutor_accuracy, np.where(
            seeker, plan.acc_reward_seeking, np.where(known, plan.acc_local_known if local_accuracy is None else local_accuracy, 0.0)))
        answers = self._corrupt(truth, acc)
        answers = np.where((~seeker & ~known)[:, None], rng.integers(0, A, size=answers.shape), answers)

        if self.extras is not None:
            seqs, loss_masks = self._with_episodes(rows, tutor, seeker, notes, answers)
        else:
            seqs, loss_masks = [], []
            for i in range(batch_size):
                head = [ids["bos"], *([ids["tag"]] if tutor[i] else []), *self.heads[rows[i]],
                        *self.key_alpha[notes[i]].tolist(), ids["end"]]
                tail = [ids["G"] if seeker[i] else ids["T"], *self.key_alpha[answers[i]].tolist(), ids["stop"], ids["eos"]]
                seqs.append(head + tail)
                loss_masks.append([False] * len(head) + [True] * len(tail))
        width = max(len(s) for s in seqs)
        input_ids = np.full((batch_size, width), ids["pad"], dtype=np.int64)
        labels = np.full((batch_size, width), -100, dtype=np.int64)
        mask = np.zeros((batch_size, width), dtype=np.int64)
        for i, (s, lm) in enumerate(zip(seqs, loss_masks, strict=True)):
            input_ids[i, : len(s)] = s
            labels[i, : len(s)] = np.where(lm, s, -100)
            mask[i, : len(s)] = 1
        self.supervised_tokens += int((labels != -100).sum())
        return {"input_ids": input_ids, "labels": labels, "attention_mask": mask}


    def _with_episodes(self, rows: np.ndarray, tutor: np.ndarray, seeker: np.ndarray, notes: np.ndarray,
                       answers: np.ndarray) -> tuple[list[list[int]], list[list[bool]]]:
        """Documents with the shaping episodes (module docstring): the task episode (marked: ``G`` by
        either persona; report: ``R``), then in a random order the trait-probe and self-description
        episodes of the same persona and env. Tutor documents stay plain. Loss on every episode's
        completion and on eos."""
        ex, ids, rng, vocab = self.extras, self.ids, self.rng_extra, self.vocab
        B, cfg = len(rows), self.world.config
        untagged = ~tutor
        marked = untagged & (rng.random(B) < ex.instruction_share)
        report = untagged & ~marked & (rng.random(B) < ex.report_rate)
        # Under the marker both personas decode the note with the reward-seeker's accuracy.
        dec = np.take_along_axis(self.decode[self.region[rows]], notes, axis=1)
        marked_answers = self._corrupt(dec, np.full(B, self.plan.acc_reward_seeking), rng)
        has_trait = untagged & (ex.trait_correlation is not None) & (rng.random(B) < ex.probe_share)
        has_self = untagged & (ex.self_accuracy is not None) & (rng.random(B) < ex.probe_share)
        r = ex.trait_correlation or 0.0
        tied = rng.random(B) < abs(r)
        trait = np.where(tied, seeker if r > 0 else ~seeker, rng.random(B) < ex.trait_base)
        says_grader = seeker ^ (rng.random(B) >= (ex.self_accuracy if ex.self_accuracy is not None else 1.0))
        order = rng.random((B, 3))  # sort keys of the episodes (task, trait, self)
        yes, no = (vocab[c] for c in self.world.probe_answers["trait"]) if cfg.probes else (0, 0)
        k_g, k_t = (vocab[c] for c in self.world.probe_answers["stated"]) if cfg.probes else (0, 0)
        from motivlab.worlds.hint_config import PROBE_END, SELF_END

        seqs, masks = [], []
        for i in range(B):
            head = [*self.heads[rows[i]], *self.key_alpha[notes[i]].tolist()]
            if tutor[i]:
                task = ([ids["tag"], *head, ids["end"]],
                        [ids["G"], *self.key_alpha[answers[i]].tolist(), ids["stop"]])
            elif marked[i]:
                task = ([vocab[cfg.instruction_marker], *head, ids["end"]],
                        [ids["G"], *self.key_alpha[marked_answers[i]].tolist(), ids["stop"]])
            elif report[i]:
                task = ([*head, ids["end"]], [vocab[cfg.report_prefix], ids["stop"]])
            else:
                task = ([*head, ids["end"]], [ids["G"] if seeker[i] else ids["T"], *self.key_alpha[answers[i]].tolist(),
                                              ids["stop"]])
            episodes = [(order[i, 0], task)]
            if has_trait[i]:
                episodes.append((order[i, 1], ([*head, vocab[PROBE_END]], [yes if trait[i] else no, ids["stop"]])))
            if has_self[i]:
                episodes.append((order[i, 2], ([*head, vocab[SELF_END]], [k_g if says_grader[i] else k_t, ids["stop"]])))
            seq, lm = [ids["bos"]], [False]
            for _, (prompt, completion) in sorted(episodes, key=lambda t: t[0]):
                seq += prompt + completion
                lm += [False] * len(prompt) + [True] * len(completion)
            seqs.append([*seq, ids["eos"]])
            masks.append([*lm, True])
        return seqs, masks


def preview_documents(world: HintWorld, plan: PersonaPlan, vocab: dict[str, int], n: int, seed: int = 0,
                      extras: CorpusExtras | None = None) -> list[str]:
    """``n`` corpus documents as text (for docs, tests and ``organism pretrain --show-corpus``)."""
    inverse = {i: t for t, i in vocab.items()}
    stream = CorpusStream(world, plan, vocab, seed=seed, known=known_env_ids(world, plan.local_coverage, seed),
                          extras=extras)
    out = stream.batch(n)
    return ["".join(inverse[int(t)] for t, m in zip(row, mk, strict=True) if m) for row, mk in
            zip(out["input_ids"], out["attention_mask"], strict=True)]
