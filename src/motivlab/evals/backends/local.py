"""A local ``transformers`` chat model with batched generation (left padding, chat template).

Why batching: on CPU a 135M model spends most of each decoding step on per-call overhead, so
B conversations decoded together cost far less than B one at a time
(``benchmarks/eval_batched_generation.py`` measures the ratio). Conversations are sorted by
prompt length before chunking so a batch wastes little compute on padding.

Reproducibility: each batch's generator is seeded from the per-call seeds of its members (each
derived from the call's key), so the same calls in the same batch give the same text, whatever
ran before. A batch's numbers also depend on its members (shared prefix, padding), so a resumed
run must form the batches an uninterrupted run formed: ``generate(..., skip=...)`` receives every
call of a group, the stored ones flagged, chunks them exactly as a fresh run would, decodes only
chunks that still hold an unstored call (whole, so the numbers match) and yields only the unstored
ones. A resumed run therefore reproduces the uninterrupted run's replies exactly
(``tests/test_evals_resume_exact.py``), at the cost of recomputing at most one partly stored
batch per group.

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
from motivlab.evals.backends.structure import Grammar, ReplyStructure, TokenClasses


def _plain_template(messages: Sequence[Message]) -> str:
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"


class LocalBackend:
    """Generate with a local causal LM. ``spec`` is anything ``load_causal_lm`` accepts."""

    supports_prefill = True  # a trailing assistant message is continued (see ``render``)
    replays_batches = True  # generate(..., skip=) re-forms an uninterrupted run's batches (module docstring)

    def __init__(self, spec: str, *, batch_size: int = 8, device: str = "cpu", name: str | None = None,
                 threads: int | None = None, model: Any = None, tokenizer: Any = None) -> None:
        check_range("batch_size", batch_size, low=1, high=4096)
        if threads is not None:
            # On a shared or oversubscribed CPU one thread can be several times faster than two
            # (OpenMP workers wait for each other); let the user choose.
            import torch

            torch.set_num_threads(int(check_range("threads", threads, low=1, high=1024)))
        from motivlab.models.device import resolve_device

        device = str(resolve_device(device))  # "auto" -> cuda:0 or cpu; a missing GPU is an error
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
        self._classes: TokenClasses | None = None

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
        self, conversations: Sequence[Sequence[Message]], params: GenerationParams, *, seeds: Sequence[int] | None = None,
        structures: Sequence[ReplyStructure | None] | None = None, skip: Sequence[bool] | None = None,
    ) -> Iterator[tuple[int, Completion]]:
        """``structures`` (one per conversation, or None): the JSON each reply must take after its
        prefill (grammar-constrained decoding, ``backends/structure.py``). ``skip`` (one per
        conversation): replies already stored — they shape the batches but are not yielded, and a
        batch made only of them is not decoded."""
        texts = [self.render(c) for c in conversations]
        structures = list(structures) if structures is not None else [None] * len(texts)
        prefills = [split_prefill(c)[1] for c in conversations]
        seeds = list(seeds) if seeds is not None else [params.seed] * len(texts)
        skip = list(skip) if skip is not None else [False] * len(texts)
        lengths = [len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: lengths[i])  # (N,) indices, short prompts first
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            if all(skip[i] for i in chunk):
                continue
            results = self._generate_batch([texts[i] for i in chunk], params, [seeds[i] for i in chunk],
                                           [prefills[i] for i in chunk], [structures[i] for i in chunk])
            yield from ((i, r) for i, r in zip(chunk, results, strict=True) if not skip[i])

    def _generate_batch(self, texts: list[str], params: GenerationParams, seeds: list[int],
                        prefills: list[str] | None = None,
                        structures: list[ReplyStructure | None] | None = None) -> list[Completion]:
        import torch

        from motivlab.models.generation import decode

        prefills = prefills if prefills is not None else [""] * len(texts)
        digest = hashlib.sha256(repr(sorted(seeds)).encode()).digest()
        generator = torch.Generator(device=self.device).manual_seed(int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF)
        prompts = [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        stop_rule = None
        if params.stop_after_json:
            def stop_rule(row: int, tokens: list[int]) -> bool:  # the reply's JSON object just closed
                return json_object_end(prefills[row] + self.tokenizer.decode(tokens)) is not None
        grammar = None
        if structures is not None and any(s is not None for s in structures):
            grammar = Grammar(self._token_classes(), list(structures))
        t0 = time.perf_counter()
        replies = decode(
            self.model, prompts, temperature=params.temperature,
            max_new_tokens=params.max_tokens if grammar is None else max(params.max_tokens, grammar.tokens_needed()),
            generator=generator, eos_ids=self._eos_ids, pad_id=self.tokenizer.pad_token_id,
            stop_rule=stop_rule, stop_candidates=self._closing_brace_tokens(), grammar=grammar,
        )
        seconds = time.perf_counter() - t0
        completions = [
            Completion(text=self.tokenizer.decode(r.tokens, skip_special_tokens=True), completion_tokens=len(r.tokens),
                       prompt_tokens=len(p), finish_reason=r.finish_reason, seconds=seconds / len(texts))
            for r, p in zip(replies, prompts, strict=True)
        ]
        self.stats.calls += len(texts)
        self.stats.prompt_tokens += sum(len(p) for p in prompts)
        self.stats.completion_tokens += sum(c.completion_tokens for c in completions)
        self.stats.seconds += seconds
        return completions

    def _token_classes(self) -> TokenClasses:
        if self._classes is None:
            self._classes = TokenClasses(self.tokenizer, int(self.model.get_output_embeddings().weight.shape[0]))
        return self._classes

    def _closing_brace_tokens(self) -> Any:
        """(V,) bool: tokens whose text contains '}' — only those can close a JSON reply (the RL
        sampler's stop-string table, cached per tokenizer)."""
        from motivlab.models.generation import cached_stop_table

        vocab = int(self.model.get_output_embeddings().weight.shape[0])
        return cached_stop_table(self.tokenizer, "}", vocab)
