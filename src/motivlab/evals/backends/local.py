"""A local ``transformers`` chat model with batched generation (left padding, chat template).

Why batching: on CPU a 135M model spends most of each decoding step on per-call overhead, so
B conversations decoded together cost far less than B one at a time
(``benchmarks/eval_batched_generation.py`` measures the ratio). Conversations are sorted by
prompt length before chunking so a batch wastes little compute on padding.

Reproducibility: before each batch the global torch RNG is seeded from the per-call seeds of
the batch's members, so the same calls in the same batch give the same text, whatever ran
before (a resumed run re-forms batches from what is left, so it may sample differently from an
uninterrupted one; every completed call is stored, so nothing already done changes).

Models without a chat template (tiny test models, base models) get a plain "role: text" format.

Usage::

    backend = LocalBackend("smollm2", batch_size=8)
    for i, c in backend.generate([[{"role": "user", "content": "Hi"}]], GenerationParams(max_tokens=20)):
        print(i, c.text, c.completion_tokens)
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from typing import Any

from motivlab.errors import check_range
from motivlab.evals.backends import (
    Completion,
    GenerationParams,
    Message,
    Throughput,
    json_object_end,
    split_prefill,
)


def _plain_template(messages: Sequence[Message]) -> str:
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"


class LocalBackend:
    """Generate with a local causal LM. ``spec`` is anything ``load_causal_lm`` accepts."""

    supports_prefill = True  # a trailing assistant message is continued (see ``render``)

    def __init__(self, spec: str, *, batch_size: int = 8, device: str = "cpu", name: str | None = None,
                 threads: int | None = None, model: Any = None, tokenizer: Any = None) -> None:
        check_range("batch_size", batch_size, low=1, high=4096)
        if threads is not None:
            # On a shared or oversubscribed CPU one thread can be several times faster than two
            # (OpenMP workers wait for each other); let the user choose.
            import torch

            torch.set_num_threads(int(check_range("threads", threads, low=1, high=1024)))
        if model is None or tokenizer is None:
            from motivlab.models.loading import load_causal_lm

            model, tokenizer = load_causal_lm(spec, device=device)
        self.model, self.tokenizer = model, tokenizer
        self.tokenizer.padding_side = "left"  # decoder-only: new tokens must follow the prompt directly
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.batch_size = int(batch_size)
        self.device = device
        self.name = name or str(spec)
        self.stats = Throughput()
        self._eos_ids = self._stop_ids()

    def _stop_ids(self) -> list[int]:
        ids = {self.tokenizer.eos_token_id}
        gen_eos = getattr(self.model.generation_config, "eos_token_id", None)
        ids.update(gen_eos if isinstance(gen_eos, list) else [gen_eos])
        return sorted(i for i in ids if i is not None)

    def render(self, messages: Sequence[Message]) -> str:
        """The exact prompt text the model sees (chat template with the assistant turn opened).

        A trailing assistant message is a prefill: its text is appended after the opened
        assistant turn, so the reply continues it (the reply returned excludes the prefill).
        """
        messages, prefill = split_prefill(messages)
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        else:
            text = _plain_template(messages)
        return text + prefill

    def generate(
        self, conversations: Sequence[Sequence[Message]], params: GenerationParams, *, seeds: Sequence[int] | None = None
    ) -> Iterator[tuple[int, Completion]]:
        texts = [self.render(c) for c in conversations]
        prefills = [split_prefill(c)[1] for c in conversations]
        seeds = list(seeds) if seeds is not None else [params.seed] * len(texts)
        lengths = [len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: lengths[i])  # (N,) indices, short prompts first
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            results = self._generate_batch([texts[i] for i in chunk], params, [seeds[i] for i in chunk],
                                           [prefills[i] for i in chunk])
            yield from zip(chunk, results, strict=True)

    def _json_cut(self, row: list[int], prefill: str) -> int | None:
        """Number of new tokens up to and including the one that closes the reply's JSON object."""
        for j in range(len(row)):
            if "}" in self.tokenizer.decode(row[j : j + 1]) and json_object_end(prefill + self.tokenizer.decode(row[: j + 1])):
                return j + 1
        return None

    def _generate_batch(self, texts: list[str], params: GenerationParams, seeds: list[int],
                        prefills: list[str] | None = None) -> list[Completion]:
        import torch

        prefills = prefills if prefills is not None else [""] * len(texts)

        digest = hashlib.sha256(repr(sorted(seeds)).encode()).digest()
        torch.manual_seed(int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF)
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": params.temperature, "top_p": 1.0, "top_k": 0}
            if params.temperature > 0 else {"do_sample": False}
        )
        t0 = time.perf_counter()
        with torch.no_grad():
            out = self.model.generate(
                **enc, max_new_tokens=params.max_tokens, pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=self._eos_ids, stopping_criteria=self._stopping(params, enc, prefills), **sampling,
            )  # (B, T_prompt + T_new)
        seconds = time.perf_counter() - t0
        new = out[:, enc["input_ids"].shape[1]:]  # (B, T_new)
        prompt_tokens = enc["attention_mask"].sum(dim=1).tolist()  # (B,)
        completions = []
        for row, n_prompt in zip(new.tolist(), prompt_tokens, strict=True):
            stop = next((j for j, tok in enumerate(row) if tok in self._eos_ids), None)
            kept = row if stop is None else row[:stop]
            cut = self._json_cut(kept, prefills[len(completions)]) if params.stop_after_json else None
            if cut is not None:
                kept, stop = kept[:cut], cut
            completions.append(Completion(
                text=self.tokenizer.decode(kept, skip_special_tokens=True),
                completion_tokens=len(kept), prompt_tokens=int(n_prompt),
                finish_reason="stop" if stop is not None else "length", seconds=seconds / len(texts),
            ))
        self.stats.calls += len(texts)
        self.stats.prompt_tokens += int(sum(prompt_tokens))
        self.stats.completion_tokens += sum(c.completion_tokens for c in completions)
        self.stats.seconds += seconds
        return completions

    def _stopping(self, params: GenerationParams, enc: Any, prefills: list[str]) -> Any:
        """``stop_after_json``: a per-sequence criterion that ends a row once its JSON object closes."""
        if not params.stop_after_json:
            return None
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        start, decode = enc["input_ids"].shape[1], self.tokenizer.decode

        class JsonClosed(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:  # (B, T) -> (B,) bool
                new = input_ids[:, start:].tolist()
                done = [bool(r) and "}" in decode(r[-1:]) and json_object_end(p + decode(r)) is not None
                        for r, p in zip(new, prefills, strict=True)]
                return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

        return StoppingCriteriaList([JsonClosed()])
