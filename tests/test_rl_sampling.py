"""The sampler: deterministic given its generator, greedy = argmax, log-probs = teacher forcing."""

from __future__ import annotations

import pytest
import torch

from motivlab.models.generation import sample
from motivlab.rl.algorithms import sequence_logprobs
from motivlab.rl.tiny import char_tokenizer, tiny_llama

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ALPHABET = "abcdefghij0123|>GT\n"
PROMPTS = ["ab|c>", "0123456|gg>", "j>"]


@pytest.fixture(scope="module")
def lm():
    tok = char_tokenizer(ALPHABET)
    return tiny_llama(tok, seed=1), tok


def _run(lm, seed, **kw):
    model, tok = lm
    args = dict(n_per_prompt=4, max_new_tokens=12, stop="\n")
    args.update(kw)
    return sample(model, tok, PROMPTS, generator=torch.Generator().manual_seed(seed), **args)


def test_same_seed_same_output_and_shapes(lm):
    a, b = _run(lm, 3), _run(lm, 3)
    assert a.completions == b.completions
    assert torch.equal(a.completion_ids, b.completion_ids)
    assert torch.equal(a.logprobs, b.logprobs)
    assert len(a) == 12 and a.prompt_index.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert a.completion_ids.shape == a.logprobs.shape == a.completion_mask.shape
    assert torch.all(a.logprobs[~a.completion_mask] == 0)
    assert torch.allclose(a.total_logprob, a.logprobs.sum(1))
    c = _run(lm, 4)
    assert c.completions != a.completions


def test_batch_size_chunks_give_same_structure(lm):
    a = _run(lm, 5, batch_size=5)
    assert len(a) == 12 and a.completion_mask.any(1).all()


def test_stop_string_ends_completion(lm):
    s = _run(lm, 0, max_new_tokens=40, n_per_prompt=16)
    for text, fin in zip(s.completions, s.finished.tolist(), strict=True):
        if "\n" in text:
            assert text.endswith("\n") and text.count("\n") == 1 and fin
    assert any("\n" in t for t in s.completions)  # 19-char vocab, 40 tokens: some stop


def test_greedy_is_argmax_decoding(lm):
    model, tok = lm
    s = _run(lm, 0, temperature=0.0, n_per_prompt=2)
    s2 = _run(lm, 99, temperature=0.0, n_per_prompt=2)
    assert s.completions == s2.completions
    assert s.completions[0] == s.completions[1]
    for i, prompt in enumerate(PROMPTS):  # one prompt at a time, no padding, no cache
        ids = tok(prompt, return_tensors="pt")["input_ids"]
        out = []
        with torch.no_grad():
            for _ in range(12):
                nxt = int(model(input_ids=ids).logits[0, -1].argmax())
                out.append(nxt)
                ids = torch.cat([ids, torch.tensor([[nxt]])], 1)
                if nxt == tok.eos_token_id or "\n" in tok.decode(out, skip_special_tokens=True):
                    break
        text = tok.decode(out, skip_special_tokens=True)
        assert s.completions[2 * i] == text[: text.index("\n") + 1] if "\n" in text else text


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_logprobs_match_teacher_forcing(lm, temperature):
    model, _ = lm
    s = _run(lm, 7, temperature=temperature)
    with torch.no_grad():
        tf = sequence_logprobs(model, s.prompt_ids, s.prompt_mask, s.completion_ids, s.completion_mask,
                               temperature=temperature)
    assert torch.allclose(tf, s.logprobs, atol=1e-4)


def test_top_p_keeps_nucleus(lm):
    s = _run(lm, 2, top_p=0.3, n_per_prompt=8)
    # under a renormalised nucleus every chosen token has probability >= that of the full model
    model, _ = lm
    with torch.no_grad():
        full = sequence_logprobs(model, s.prompt_ids, s.prompt_mask, s.completion_ids, s.completion_mask)
    assert torch.all(s.logprobs[s.completion_mask] >= full[s.completion_mask] - 1e-5)


def test_bad_arguments(lm):
    model, tok = lm
    g = torch.Generator()
    with pytest.raises(ValueError, match="temperature"):
        sample(model, tok, ["a"], max_new_tokens=3, temperature=-1, generator=g)
    with pytest.raises(ValueError, match="empty"):
        sample(model, tok, [], max_new_tokens=3, generator=g)
    with pytest.raises(ValueError, match="chat template"):
        sample(model, tok, ["a"], max_new_tokens=3, generator=g, chat_template=True)
