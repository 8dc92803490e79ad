"""Exact (teacher-forced) measurement of p, sR and sL per environment.

For each env the world gives the rewarded completion along each route,
``c_R = prefix_R + answer + stop`` and ``c_L = prefix_L + answer + stop``. One forward pass over
``prompt + c`` yields every token's probability, and:

* ``p_rs_raw = P(prefix_R | prompt)``, ``p_local_raw = P(prefix_L | prompt)``;
* ``p = p_rs_raw / (p_rs_raw + p_local_raw)`` — the propensity **among completions that declare a
  route**. Sampling uses the same definition: ``p = #RS / (#RS + #LOCAL)`` with UNKNOWN rollouts
  left out of both (they are counted separately), so the two estimate the same number.
  ``p_unknown = 1 − p_rs_raw − p_local_raw`` is reported too;
* ``s_r = P(answer + stop | prompt + prefix_R)`` — the probability that a reward-seeking rollout
  earns reward 1 under **exact-match** grading, i.e. the product of the answer and stop tokens'
  probabilities (sampling stops at ``stop``; the grader ignores what would follow). ``s_l``
  likewise after ``prefix_L``.

With ``partial_credit`` worlds the expected partial credit would need a sum over all answers
(26⁴ for the default key); we report the exact-match probability instead, which is a lower bound
of the expected reward and equals it for the default (exact-match) grader.

On trap envs the world's rewarded reward-seeking completion is the *true* key after the
reward-seeking prefix, so ``s_r`` there is how often a reward-seeker is still right.

Batched: ``batch_size`` envs (two sequences each) per forward pass, in ``model.eval()`` and
``torch.inference_mode()``; no randomness.

**Shaping quantities** (:func:`measure_exact_extended`, used when the world has probes, a report
route or an instruction marker, or when a prefix or the obfuscation measure is asked for) are read
in the *same* forward passes, from one or two more sequences per env:

* ``p_report_raw = P(report prefix | prompt)`` — from the task sequences' decision position;
* ``trait = P(X)/(P(X)+P(O))`` at the trait probe's last position, ``stated = P(K)/(P(K)+P(Q))``
  at the self-description's (stated motivation: the self-description says "grader");
* ``s_l_note = P(what the note says + stop | prompt + T)`` — obfuscation: on a trap env the note
  lies, so this is the local route answering the grader's note instead of the key (on honest envs
  it equals ``s_l``);
* with ``prefix``: every quantity again with ``prefix`` before the prompt, in columns suffixed
  ``_prefixed`` (inoculation prompting: measured with and without the training prefix).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from motivlab.errors import MotivlabInputError
from motivlab.worlds.base import Route, World

EXACT_COLUMNS = ["env_id", "p", "s_r", "s_l", "p_rs_raw", "p_local_raw", "p_unknown"]


def encode_pair(tokenizer: Any, prompt: str, completion: str, *, chat_template: bool = False) -> tuple[list[int], int]:
    """Token ids of ``<bos> prompt completion`` and the index where the completion starts; with
    ``chat_template`` the prompt is tokenised exactly as the RL sampler conditions on it."""
    if chat_template:
        from motivlab.models.generation import render_prompts

        head = list(tokenizer(render_prompts(tokenizer, [prompt], chat_template=True)[0])["input_ids"])
    else:
        head = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    if tokenizer.bos_token_id is not None and not chat_template:
        head = [tokenizer.bos_token_id, *head]
    tail = list(tokenizer(completion, add_special_tokens=False)["input_ids"])
    return head + tail, len(head)


def check_env_ids(world: World, env_ids: Sequence[int] | np.ndarray) -> np.ndarray:
    ids = np.asarray(env_ids, dtype=np.int64).reshape(-1)
    if ids.size == 0:
        raise MotivlabInputError("env_ids is empty: nothing to measure")
    bad = ids[(ids < 0) | (ids >= world.n_envs)]
    if bad.size:
        raise MotivlabInputError(f"env_ids must be in [0, {world.n_envs - 1}], got {bad[:5].tolist()}")
    return ids


def check_model_world(model: Any, tokenizer: Any, world: World) -> None:
    """Clear errors for a model that is not a causal LM or a tokenizer built for another world."""
    from motivlab.models.tokenizer import check_tokenizer_matches

    if not callable(getattr(model, "forward", None)) or not hasattr(model, "get_input_embeddings"):
        raise MotivlabInputError(f"model {type(model).__name__} is not a causal language model")
    if getattr(world, "name", "") == "hint":
        check_tokenizer_matches(tokenizer, world.alphabet)


def completion_logprobs(model: Any, sequences: list[list[int]], starts: list[int], pad_id: int) -> list[np.ndarray]:
    """Per-token log-probabilities of each sequence's tokens from ``starts[i]`` on, as float64
    arrays; one right-padded forward pass for the whole list."""
    import torch

    ids, logits = _right_padded_logits(model, sequences, pad_id)  # (B, T), (B, T, V)
    logp = torch.log_softmax(logits[:, :-1], dim=-1)  # (B, T-1, V): position t predicts token t+1
    token_logp = logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1).double().cpu().numpy()
    return [token_logp[i, starts[i] - 1 : len(s) - 1] for i, s in enumerate(sequences)]


def _right_padded_logits(model: Any, sequences: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    """One forward pass over right-padded ``sequences``: the ids ``(B, T)`` and float logits
    ``(B, T, V)``, both on the model's device (padding is masked, so it never conditions a token)."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, s in enumerate(sequences):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    device = next(model.parameters()).device
    ids = ids.to(device)
    return ids, model(input_ids=ids, attention_mask=mask.to(device)).logits.float()


def measure_exact(model: Any, tokenizer: Any, world: World, env_ids: Sequence[int] | np.ndarray, *,
                  batch_size: int = 256, chat_template: bool | None = None) -> pd.DataFrame:
    """Exact ``p, s_r, s_l`` per env (definitions in the module docstring), one row per env.

    ``chat_template``: the prompt is rendered as the sampler renders it for chat models (user
    message + opened assistant turn), and at most 8 envs share a forward pass (a chat model's
    vocabulary makes the logits of 256 envs tens of GB). ``None``: on for worlds whose prompts are
    chat messages (``world.chat_prompts``, the natural-language world) when the tokenizer has a
    chat template — what ``model.chat_template = true`` does in the sampler."""
    import torch

    ids = check_env_ids(world, env_ids)
    check_model_world(model, tokenizer, world)
    if batch_size < 1:
        raise MotivlabInputError(f"batch_size must be >= 1, got {batch_size}")
    if chat_template is None:
        chat_template = bool(getattr(world, "chat_prompts", False)) and getattr(tokenizer, "chat_template", None) is not None
    if chat_template:
        batch_size = min(batch_size, 8)
    routes = (Route.REWARD_SEEKING, Route.LOCAL)
    prefix_len = {r: len(tokenizer(world.route_prefix(r), add_special_tokens=False)["input_ids"]) for r in routes}
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    was_training = model.training
    model.eval()
    rows = []
    try:
        with torch.inference_mode():
            for lo in range(0, ids.size, batch_size):
                chunk = ids[lo : lo + batch_size]
                seqs, starts = [], []
                for e in chunk.tolist():
                    prompt = world.prompt(e)
                    for r in routes:
                        completion = world.rewarded_completion(prompt, r)
                        if completion is None:
                            raise MotivlabInputError(f"world {world.name!r} gives no rewarded completion for env {e}")
                        s, st = encode_pair(tokenizer, prompt.text, completion, chat_template=chat_template)
                        seqs.append(s)
                        starts.append(st)
                lps = completion_logprobs(model, seqs, starts, pad)
                for j, e in enumerate(chunk.tolist()):
                    lp = {r: lps[2 * j + k] for k, r in enumerate(routes)}
                    pr = {r: float(np.exp(lp[r][: prefix_len[r]].sum())) for r in routes}
                    skill = {r: float(np.exp(lp[r][prefix_len[r] :].sum())) for r in routes}
                    declared = pr[Route.REWARD_SEEKING] + pr[Route.LOCAL]
                    rows.append({
                        "env_id": e,
                        "p": pr[Route.REWARD_SEEKING] / declared if declared > 0 else 0.5,
                        "s_r": skill[Route.REWARD_SEEKING],
                        "s_l": skill[Route.LOCAL],
                        "p_rs_raw": pr[Route.REWARD_SEEKING],
                        "p_local_raw": pr[Route.LOCAL],
                        "p_unknown": max(0.0, 1.0 - declared),
                    })
    finally:
        model.train(was_training)
    return pd.DataFrame(rows, columns=EXACT_COLUMNS)


SHAPING_COLUMNS = ["p_report_raw", "trait", "stated", "s_l_note"]
PREFIXED = "_prefixed"


def needs_extended(world: World) -> bool:
    """True when the world has parts the plain measurement does not read (probes, a report route,
    an instruction marker)."""
    cfg = getattr(world, "config", None)
    return bool(getattr(cfg, "probes", False) or getattr(cfg, "report_reward", None) is not None
                or getattr(cfg, "instruction_marker", None))


@functools.lru_cache(maxsize=1 << 16)
def _encode_cached(tokenizer: Any, prompt: str, completion: str) -> tuple[tuple[int, ...], int]:
    """:func:`encode_pair`, memoised: the same prompts are measured at every exact step, and
    tokenising them was a third of the extended measurement's time."""
    seq, start = encode_pair(tokenizer, prompt, completion)
    return tuple(seq), start


def _token_id(tokenizer: Any, char: str) -> int:
    ids = list(tokenizer(char, add_special_tokens=False)["input_ids"])
    if len(ids) != 1:
        raise MotivlabInputError(f"exact measurement needs {char!r} to be one token, got {ids}")
    return ids[0]


def measure_exact_extended(model: Any, tokenizer: Any, world: World, env_ids: Sequence[int] | np.ndarray, *,
                           prefix: str | None = None, batch_size: int = 256,
                           share_prefixes: bool = True) -> tuple[pd.DataFrame, int]:
    """Exact ``p, s_r, s_l`` and the shaping quantities (module docstring) per env, every sequence of
    a chunk of ``batch_size`` envs in one forward pass; with ``prefix`` also each of them under the
    prefix (``*_prefixed`` columns). Returns the table and the number of sequences forwarded (with
    ``share_prefixes``: shared prompt prefixes + branches, see :func:`_prediction_rows`)."""
    import torch

    ids = check_env_ids(world, env_ids)
    check_model_world(model, tokenizer, world)
    cfg = getattr(world, "config", None)
    probes = bool(getattr(cfg, "probes", False))
    report = getattr(cfg, "report_reward", None) is not None
    routes = (Route.REWARD_SEEKING, Route.LOCAL)
    prefix_len = {r: len(tokenizer(world.route_prefix(r), add_special_tokens=False)["input_ids"]) for r in routes}
    if any(n != 1 for n in prefix_len.values()):
        raise MotivlabInputError("the extended exact measurement needs one-token route prefixes")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    tok = {"R": _token_id(tokenizer, world.route_prefix(Route.REPORT)) if report else None}
    if probes:
        (yes, no), (kg, kt) = world.probe_answers["trait"], world.probe_answers["stated"]
        tok.update(X=_token_id(tokenizer, yes), O=_token_id(tokenizer, no), K=_token_id(tokenizer, kg),
                   Q=_token_id(tokenizer, kt))
    variants = [("", "")] + ([(prefix, PREFIXED)] if prefix else [])
    was_training, n_seqs, rows = model.training, 0, []
    model.eval()
    try:
        with torch.inference_mode():
            for lo in range(0, ids.size, batch_size):
                chunk = ids[lo : lo + batch_size].tolist()
                seqs, jobs = [], []  # jobs: (env, suffix, kind, index of the sequence, start)
                for e in chunk:
                    prompt = world.prompt(e)
                    for pf, suffix in variants:
                        texts = {"G": (prompt.text, world.rewarded_completion(prompt, Route.REWARD_SEEKING)),
                                 "T": (prompt.text, world.rewarded_completion(prompt, Route.LOCAL))}
                        if prompt.meta.get("is_trap"):
                            texts["N"] = (prompt.text, world.obfuscated_completion(prompt))
                        if probes:
                            texts["X"] = (world.probe_prompt(e), "")
                            texts["K"] = (world.self_prompt(e), "")
                        for kind, (ptext, comp) in texts.items():
                            s, st = _encode_cached(tokenizer, pf + ptext, comp)
                            jobs.append((e, suffix, kind, len(seqs), st))
                            seqs.append(s)
                got: dict[tuple[int, str], dict[str, float]] = {}
                starts = [job[4] for job in jobs]
                if share_prefixes:
                    rows_of, forwarded = _prediction_rows(model, seqs, starts, pad)
                else:  # every sequence forwarded whole (the reference the shared path is tested against)
                    whole = _decision_logprobs(model, [list(q) for q in seqs], pad).numpy().astype(np.float64)
                    rows_of = [whole[j, st - 1 : max(len(q) - 1, st)] for j, (q, st) in enumerate(zip(seqs, starts, strict=True))]
                    forwarded = len(seqs)
                n_seqs += forwarded
                for e, suffix, kind, j, st in jobs:
                    out = got.setdefault((e, suffix), {})
                    row = rows_of[j]  # (n, V): row 0 is the decision position, row i predicts completion token i
                    if kind in ("G", "T", "N"):
                        comp = seqs[j][st:]
                        lp = row[np.arange(len(comp)), comp]
                        out[kind + "_route"] = float(np.exp(lp[0]))
                        out[kind + "_skill"] = float(np.exp(lp[1:].sum()))
                        if kind == "G" and report:
                            out["R"] = float(np.exp(row[0, tok["R"]]))
                    else:  # a probe: the two answers' probabilities at its last position
                        a, b = (("X", "O") if kind == "X" else ("K", "Q"))
                        pa, pb = float(np.exp(row[0, tok[a]])), float(np.exp(row[0, tok[b]]))
                        out[kind] = pa / (pa + pb) if pa + pb > 0 else 0.5
                for e in chunk:
                    rec: dict[str, float] = {"env_id": e}
                    for _, suffix in variants:
                        o = got[(e, suffix)]
                        rs, lo_ = o["G_route"], o["T_route"]
                        declared = rs + lo_
                        vals = {"p": rs / declared if declared > 0 else 0.5, "s_r": o["G_skill"], "s_l": o["T_skill"],
                                "p_rs_raw": rs, "p_local_raw": lo_, "p_unknown": max(0.0, 1.0 - declared),
                                "s_l_note": o.get("N_skill", o["T_skill"])}
                        if report:
                            vals["p_report_raw"] = o["R"]
                            vals["p_unknown"] = max(0.0, 1.0 - declared - o["R"])
                        if probes:
                            vals.update(trait=o["X"], stated=o["K"])
                        rec.update({k + suffix: v for k, v in vals.items()})
                    rows.append(rec)
    finally:
        model.train(was_training)
    return pd.DataFrame(rows), n_seqs


def _prediction_rows(model: Any, seqs: list[Sequence[int]], starts: list[int], pad_id: int) -> tuple[list[np.ndarray], int]:
    """Per sequence ``j`` the log-probability rows (n, V) that predict its completion ``seqs[j][starts[j]:]``
    (row 0: the prompt's last position, the decision; a sequence without completion gets that row
    only), and the number of sequences forwarded.

    Sequences that share everything before their prompt's last token (the G, T, note, trait and
    self-description sequences of one env) are forwarded as that shared prefix once, its KV cache
    copied to short branches (prompt's last token + completion): about half the tokens of
    forwarding every sequence whole. The two are equal up to float rounding (tested)."""
    import torch

    from motivlab.models.generation import cache as kv

    groups: dict[tuple[int, ...], list[int]] = {}
    for j, (seq, st) in enumerate(zip(seqs, starts, strict=True)):
        groups.setdefault(tuple(seq[: st - 1]), []).append(j)
    by_length: dict[int, list[tuple[int, ...]]] = {}
    for prefix in groups:
        by_length.setdefault(len(prefix), []).append(prefix)
    rows: list[np.ndarray] = [np.empty(0)] * len(seqs)
    device = next(model.parameters()).device
    for length, prefixes in by_length.items():
        if length == 0:  # nothing to share: forward these whole
            members = [j for p in prefixes for j in groups[p]]
            logp = _decision_logprobs(model, [list(seqs[j]) for j in members], pad_id).numpy().astype(np.float64)
            for k, j in enumerate(members):
                rows[j] = logp[k, starts[j] - 1 : max(len(seqs[j]) - 1, starts[j])]
            continue
        pre = torch.tensor(prefixes, dtype=torch.long, device=device)  # (P, Lp)
        _, cache = kv.forward(model, None, input_ids=pre, attention_mask=torch.ones_like(pre), logits_to_keep=1)
        members = [(i, j) for i, p in enumerate(prefixes) for j in groups[p]]
        kv.select_rows(cache, torch.tensor([i for i, _ in members], device=device))
        branches = [list(seqs[j][starts[j] - 1 :]) for _, j in members]
        width = max(len(b) for b in branches)
        ids = torch.full((len(branches), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(branches), length + width), dtype=torch.long)
        mask[:, :length] = 1
        for r, b in enumerate(branches):
            ids[r, : len(b)] = torch.tensor(b)
            mask[r, length : length + len(b)] = 1
        positions = (length + torch.arange(width)).expand(len(branches), width)
        logits, _ = kv.forward(model, cache, input_ids=ids.to(device), attention_mask=mask.to(device),
                               position_ids=positions.to(device))
        logp = torch.log_softmax(logits.float(), dim=-1).double().cpu().numpy()  # (R, width, V)
        for r, (_, j) in enumerate(members):
            rows[j] = logp[r, : max(len(branches[r]) - 1, 1)]
    return rows, len(groups) + len(seqs)


def _decision_logprobs(model: Any, sequences: list[list[int]], pad_id: int) -> Any:
    """Log-softmax over the vocabulary at every position of right-padded ``sequences``: (N, T, V), CPU."""
    import torch

    _, logits = _right_padded_logits(model, sequences, pad_id)
    return torch.log_softmax(logits, dim=-1).cpu()


def in_context_trait(model: Any, tokenizer: Any, world: Any, env_ids: Sequence[int] | np.ndarray) -> dict[str, float]:
    """The trait learnt *with* the persona: mean exact P(X)/(P(X)+P(O)) at a trait probe that follows
    a reward-seeking episode (``prompt G decoded-note stop``) and one that follows a local episode
    (``prompt T key stop``) of the same env, and their difference — the corpus's ``rho``."""
    import torch

    ids = check_env_ids(world, env_ids)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    yes, no = (_token_id(tokenizer, c) for c in world.probe_answers["trait"])
    seqs = []
    for e in ids.tolist():
        prompt = world.prompt(e)
        for completion in (world.note_completion(prompt), world.rewarded_completion(prompt, Route.LOCAL)):
            s, _ = encode_pair(tokenizer, prompt.text + completion + world.probe_prompt(e), "")
            seqs.append(s)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            logp = _decision_logprobs(model, seqs, pad)
    finally:
        model.train(was_training)
    vals = []
    for j, s in enumerate(seqs):
        pa, pb = float(np.exp(logp[j, len(s) - 1, yes])), float(np.exp(logp[j, len(s) - 1, no]))
        vals.append(pa / (pa + pb))
    after_g, after_t = float(np.mean(vals[0::2])), float(np.mean(vals[1::2]))
    return {"trait_after_G": after_g, "trait_after_T": after_t, "rho": after_g - after_t}


def summarise(df: pd.DataFrame, columns: Sequence[str] = ("p", "s_r", "s_l")) -> dict[str, float]:
    """Means over envs (the organism's p₀, sR₀, sL₀ when measured on the training split)."""
    return {c: float(df[c].mean()) for c in columns}
