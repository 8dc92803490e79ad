"""The evaluation decoder (shared prefix, distinct prompts once, finished rows dropped) must give
every row exactly what decoding it alone gives, and sample from the model's distribution."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from transformers import LlamaConfig, LlamaForCausalLM

from motivlab.models.generation import common_prefix_length, decode

EOS = 1


@pytest.fixture(scope="module")
def model() -> LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=256, eos_token_id=EOS, pad_token_id=0)
    model = LlamaForCausalLM(cfg).eval()
    model.lm_head.weight.data *= 8  # peaked next-token distributions: a wrong temperature fails the chi-square test
    return model


def _alone(model, prompt: list[int], n: int) -> list[int]:
    out = model.generate(torch.tensor([prompt]), max_new_tokens=n, do_sample=False, eos_token_id=EOS,
                         pad_token_id=0)[0, len(prompt):].tolist()
    return out[: out.index(EOS)] if EOS in out else out


PROMPTS = {
    "shared prefix, ragged rests, repeats": [[5, 6, 7, 8, 9], [5, 6, 7, 2], [5, 6, 7, 8, 9], [5, 6, 7, 3, 4, 10, 11, 12]],
    "no common prefix": [[7, 3], [9, 4, 5, 6, 2, 3], [12]],
    "one prompt": [[4, 5, 6, 7]],
    "identical prompts": [[3, 4, 5]] * 3,
}


@pytest.mark.parametrize("name", list(PROMPTS))
def test_greedy_rows_equal_decoding_each_alone(model, name):
    prompts = PROMPTS[name]
    got = decode(model, prompts, max_new_tokens=12, temperature=0.0, generator=torch.Generator().manual_seed(0),
                 eos_ids=[EOS], pad_id=0)
    for prompt, reply in zip(prompts, got, strict=True):
        assert reply.tokens == _alone(model, prompt, 12)
        assert reply.finish_reason == ("stop" if len(reply.tokens) < 12 else "length")


def test_stop_rule_ends_a_row_and_keeps_its_token(model):
    prompts = PROMPTS["shared prefix, ragged rests, repeats"]
    full = [_alone(model, p, 10) for p in prompts]
    target = full[1][2]  # stop row 1 at its third token; other rows stop wherever they meet it too
    asked: list[int] = []

    def rule(row: int, tokens: list[int]) -> bool:
        asked.append(row)
        return tokens[-1] == target

    candidates = torch.zeros(40, dtype=torch.bool)
    candidates[target] = True
    got = decode(model, prompts, max_new_tokens=10, temperature=0.0, generator=torch.Generator(), eos_ids=[EOS],
                 pad_id=0, stop_rule=rule, stop_candidates=candidates)
    for ref, reply in zip(full, got, strict=True):
        cut = ref.index(target) + 1 if target in ref else len(ref)
        assert reply.tokens == ref[:cut]
    assert got[1].tokens == full[1][:3] and got[1].finish_reason == "stop"
    assert len(asked) == sum(t == target for r in got for t in r.tokens)  # only asked after a candidate token


def test_sampling_is_reproducible_and_follows_the_model(model):
    prompt = [5, 6, 7, 8]
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    a = decode(model, [prompt] * 4, max_new_tokens=6, temperature=0.7, generator=g(), eos_ids=[EOS], pad_id=0)
    b = decode(model, [prompt] * 4, max_new_tokens=6, temperature=0.7, generator=g(), eos_ids=[EOS], pad_id=0)
    assert [r.tokens for r in a] == [r.tokens for r in b]
    # 3,000 repeats of one prompt: the first reply token follows softmax(logits / T) (chi-square)
    n, temperature = 3000, 0.7
    first = decode(model, [prompt] * n, max_new_tokens=1, temperature=temperature, generator=g(), eos_ids=[EOS],
                   pad_id=0)
    tokens = [r.tokens[0] if r.tokens else EOS for r in first]
    with torch.no_grad():
        probs = torch.softmax(model(torch.tensor([prompt])).logits[0, -1].double() / temperature, -1).numpy()
    observed = np.bincount(tokens, minlength=probs.size)
    keep = probs * n >= 5  # pool the rare tokens into one bin (if any)
    expected, counts = probs[keep] * n, observed[keep]
    if not keep.all():
        expected, counts = np.append(expected, probs[~keep].sum() * n), np.append(counts, observed[~keep].sum())
    assert stats.chisquare(counts, expected).pvalue > 1e-3


def test_common_prefix_leaves_a_token_to_prefill():
    assert common_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2
    assert common_prefix_length([[1, 2, 3], [1, 2, 4, 5]]) == 2
    assert common_prefix_length([[1], [2]]) == 0
    with pytest.raises(ValueError, match="at least one"):
        decode(LlamaForCausalLM(LlamaConfig(vocab_size=8, hidden_size=8, intermediate_size=8, num_hidden_layers=1,
                                             num_attention_heads=1)), [[]], max_new_tokens=1, temperature=0.0,
               generator=torch.Generator(), eos_ids=[], pad_id=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_rows_match_cpu_and_shapes_hold(model):
    """On a GPU: greedy rows equal the CPU's, sampling runs with a CUDA generator, grammars apply."""
    from motivlab.evals.backends.structure import Grammar, ReplyStructure, TokenClasses

    prompts = PROMPTS["shared prefix, ragged rests, repeats"]
    cpu = decode(model, prompts, max_new_tokens=10, temperature=0.0, generator=torch.Generator(), eos_ids=[EOS], pad_id=0)
    gpu_model = LlamaForCausalLM(model.config).eval()
    gpu_model.load_state_dict(model.state_dict())
    gpu_model.to("cuda")
    gpu = decode(gpu_model, prompts, max_new_tokens=10, temperature=0.0, generator=torch.Generator("cuda"),
                 eos_ids=[EOS], pad_id=0)
    assert [r.tokens for r in gpu] == [r.tokens for r in cpu]
    sampled = decode(gpu_model, prompts * 8, max_new_tokens=6, temperature=0.7,
                     generator=torch.Generator("cuda").manual_seed(0), eos_ids=[EOS], pad_id=0)
    assert len(sampled) == 32

    class Digits:  # a 40-token tokenizer: 0-9 are the digits, 10-35 the letters a-z, 36-39 ',', ' ', '}', '"'
        all_special_ids = ()

        def __len__(self) -> int:
            return 40

        def batch_decode(self, ids):
            return [self.decode(i) for i in ids]

        def decode(self, ids):
            return "".join(str(i) if i < 10 else chr(87 + i) if i < 36 else ", }\""[i - 36] for i in ids)

        def __call__(self, text, add_special_tokens=False):
            table = {self.decode([i]): i for i in range(40)}
            return {"input_ids": [table[ch] for ch in text if ch in table]}

    shape = ReplyStructure(("a",), reason=False, low=1, high=7)
    grammar = Grammar(TokenClasses(Digits(), 40), [shape] * 4)
    out = decode(gpu_model, prompts, max_new_tokens=12, temperature=1.0, generator=torch.Generator("cuda"),
                 eos_ids=[], pad_id=0, grammar=grammar)  # (this toy vocabulary's eos id is the digit 1)
    for reply in out:
        assert 1 <= int(Digits().decode(reply.tokens[:1])) <= 7
