"""Both decoders use transformers' current API: no deprecation warning from our calls.

``past_key_values`` is deprecated in transformers 5.24 (removed in 5.40) with a FutureWarning
from the model's forward and a logged warning from its outputs; a decoder that still used it
would fail here, on the installed transformers, before the removal breaks it.
"""

from __future__ import annotations

import logging
import warnings

import pytest
import torch

from motivlab.models.generation import decode, draw, sample
from motivlab.rl.tiny import char_tokenizer, tiny_llama

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def strict():
    """FutureWarning/DeprecationWarning are errors; transformers' logged warnings are collected
    (``warning_once``'s memory is cleared so a warning seen earlier in the session shows again)."""
    logging.Logger.warning_once.cache_clear()  # type: ignore[attr-defined]
    records = _Records()
    root = logging.getLogger("transformers")
    root.addHandler(records)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        yield records
    root.removeHandler(records)


@pytest.fixture(scope="module")
def lm():
    tok = char_tokenizer("abcdefghij0123|>GT\n")
    return tiny_llama(tok, seed=1), tok


def test_sampler_and_decoder_raise_no_deprecation(lm, strict):
    model, tok = lm
    s = sample(model, tok, ["ab|c>", "0123|gg>"], n_per_prompt=3, max_new_tokens=8, stop="\n",
               generator=torch.Generator().manual_seed(0))
    assert len(s) == 6 and s.n_tokens > 0
    prompts = [tok(p)["input_ids"] for p in ("ab|c>", "ab|gg>", "ab|c>")]  # shared prefix, a repeat
    replies = decode(model, prompts, max_new_tokens=8, temperature=1.0, generator=torch.Generator().manual_seed(0),
                     eos_ids=[tok.eos_token_id], pad_id=0)
    assert len(replies) == 3 and all(r.tokens for r in replies)
    deprecated = [m for m in strict.messages if "deprecat" in m.lower()]
    assert deprecated == [], deprecated


@pytest.mark.parametrize("method", ["race", "inverse_cdf"])
def test_both_draw_methods_sample_the_nucleus(method):
    """Same distribution from both methods: empirical frequencies match softmax within 4 sigma,
    and top_p removes the tail; log-probs are those of the renormalised nucleus."""
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, -3.0]]).repeat(4000, 1)
    tokens, logp = draw(logits, 1.0, torch.Generator().manual_seed(1), method=method)
    p = torch.softmax(logits[0], dim=0)
    freq = torch.bincount(tokens, minlength=5).double() / len(tokens)
    sigma = (p * (1 - p) / len(tokens)).sqrt()
    assert torch.all((freq - p).abs() < 4 * sigma + 1e-9), (freq, p)
    assert torch.allclose(logp, p.log()[tokens])
    tokens, logp = draw(logits, 1.0, torch.Generator().manual_seed(2), top_p=0.8, method=method)
    kept = p[:2] / p[:2].sum()  # 0.665 + 0.245 >= 0.8: the two most likely tokens
    assert set(tokens.tolist()) == {0, 1}
    assert torch.allclose(logp, kept.log()[tokens])
    greedy, _ = draw(logits[:3], 0.0, torch.Generator(), method=method)
    assert greedy.tolist() == [0, 0, 0]
