"""The model side of ``motivlab serve``: one worker thread owns the model and decodes queued jobs.

Prompts are checked *before* they are queued (:meth:`Engine.encode`): a prompt longer than the
model's context is refused with the limit — without tokenising it when its length in characters
alone proves it too long, so a 1 MB prompt costs microseconds, not the minutes and gigabytes of
decoding it. The queue is bounded (``max_queue``; a full queue is a 503) and every job carries a
deadline: a job still queued at its deadline is dropped, and the client gets a 504 when it passes.

Batching: jobs without a ``seed`` that share their sampling settings and arrive within ``wait_ms``
are decoded together (up to ``batch_size`` rows) with a fresh random seed. A job *with* a seed is
decoded on its own, from a generator seeded with it, so the same request with the same seed
gives the same text whatever else the server is doing (OpenAI's "best effort" made exact).

Generation is :func:`motivlab.models.generation.sample` (the RL sampler: temperature, top-p,
``n`` samples sharing one prefill). Stop strings are cut here, on the decoded text, and excluded
from the reply as OpenAI does; one stop string also ends decoding early. ``logprobs`` are the
*raw* model's (temperature 1, no top-p — what vLLM reports by default), from one teacher-forced
pass over prompt + reply, so they do not depend on the sampling settings.
"""

from __future__ import annotations

import queue
import secrets
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from motivlab.evals.backends import Throughput
from motivlab.evals.server.api import RequestError, Sampling


@dataclass
class Reply:
    """One choice: text, the kept token ids, why it ended and (if asked) log-probs per token."""

    text: str
    token_ids: list[int]
    finish_reason: str
    logprobs: list[tuple[int, float, list[tuple[int, float]]]] | None = None  # (token, lp, top-k)


@dataclass
class Job:
    """One request: ``prompts`` (rendered text, one per prompt) each sampled ``sampling.n`` times."""

    prompts: list[str]
    prompt_ids: list[list[int]]
    sampling: Sampling
    seed: int | None
    top_logprobs: int | None
    deadline: float
    future: Future = field(default_factory=Future)

    @property
    def rows(self) -> int:
        return len(self.prompts) * self.sampling.n


class Engine:
    """The model, its tokenizer and the worker thread that is the only one to touch them."""

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 8, wait_ms: float = 20.0, max_queue: int = 64,
                 max_tokens: int = 2048) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.max_tokens = int(max_tokens)  # the cap of a reply whose request gave no max_tokens
        self.batch_size, self.wait_s = int(batch_size), wait_ms / 1000
        self.stats = Throughput()
        self.context = _context_length(model, tokenizer)
        self.has_chat_template = bool(getattr(tokenizer, "chat_template", None))
        # no token decodes to more characters than the longest vocabulary entry, so a prompt of
        # more than context x that many characters cannot fit, whatever its tokens
        self._max_chars = self.context * max(8, max(len(t) for t in tokenizer.get_vocab()))
        self._unk = getattr(tokenizer, "unk_token_id", None)
        self._queue: queue.Queue[Job] = queue.Queue(maxsize=max_queue)
        self._held: list[Job] = []  # jobs set aside by the batcher (other settings), run next
        threading.Thread(target=self._loop, daemon=True, name="motivlab-serve-worker").start()

    # ------------------------------------------------------------------ before queueing

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        if not self.has_chat_template:
            raise RequestError(
                "this model has no chat template, so chat messages cannot be rendered as the model was "
                "trained to read them (the organism's character vocabulary has no ':' or ' ' to write "
                "'user: ...'); send the raw prompt to POST /v1/completions instead", param="messages")
        try:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except Exception as exc:  # a template that raises on these roles (e.g. "tool")
            raise RequestError(f"the model's chat template cannot render these messages: {exc}", param="messages") from None

    def encode(self, text: str, *, param: str, max_tokens: int | None) -> list[int]:
        """Token ids of ``text``; a 400 if it (plus ``max_tokens``) does not fit the context or
        contains characters the vocabulary lacks."""
        if len(text) > self._max_chars:
            raise RequestError(f"This model's maximum context length is {self.context} tokens; the prompt has "
                               f"{len(text):,} characters, more than any {self.context} tokens can spell",
                               param=param, code="context_length_exceeded")
        ids = list(self.tokenizer(text)["input_ids"])
        if not ids:
            raise RequestError("the prompt is empty (zero tokens)", param=param)
        if len(ids) + (max_tokens or 1) > self.context:
            asked = f" + {max_tokens} completion tokens (max_tokens)" if max_tokens else ""
            raise RequestError(f"This model's maximum context length is {self.context} tokens; you requested "
                               f"{len(ids)} prompt tokens{asked}", param=param, code="context_length_exceeded")
        if self._unk is not None and self._unk in ids and str(self.tokenizer.unk_token) not in text:
            missing = sorted({c for c in text if self._unk in self.tokenizer(c, add_special_tokens=False)["input_ids"]})
            raise RequestError(f"the prompt contains characters this model's vocabulary does not have: "
                               f"{''.join(missing)!r} (the model would read them as {self.tokenizer.unk_token})",
                               param=param)
        return ids

    def submit(self, job: Job) -> Future:
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise RequestError(f"server busy: {self._queue.maxsize} requests are already waiting (motivlab serve "
                               "--max-queue); retry later", status=503, code="server_busy") from None
        return job.future

    # ------------------------------------------------------------------ the worker

    def _next(self, timeout: float | None) -> Job | None:
        if self._held:
            return self._held.pop(0)
        try:
            return self._queue.get(timeout=timeout) if timeout is None or timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None

    def _loop(self) -> None:
        while True:
            first = self._next(None)
            if first is None or not self._claim(first):
                continue
            batch, rows = [first], first.rows
            if first.seed is None:
                deadline = time.monotonic() + self.wait_s
                held: list[Job] = []
                while rows < self.batch_size:
                    nxt = self._next(deadline - time.monotonic())
                    if nxt is None:
                        break
                    if nxt.seed is None and nxt.sampling == first.sampling and rows + nxt.rows <= self.batch_size:
                        if self._claim(nxt):
                            batch.append(nxt)
                            rows += nxt.rows
                    else:
                        held.append(nxt)
                self._held = held + self._held
            try:
                replies = self._generate(batch)
            except Exception as exc:  # a failed batch fails its requests, not the server
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            for job, reply in zip(batch, replies, strict=True):
                job.future.set_result(reply)

    @staticmethod
    def _claim(job: Job) -> bool:
        """Mark a job running; False (and skip it) if its client gave up or its deadline passed."""
        if not job.future.set_running_or_notify_cancel():
            return False
        if time.monotonic() > job.deadline:
            job.future.set_exception(TimeoutError("the request waited in the queue past its deadline"))
            return False
        return True

    def _generate(self, jobs: Sequence[Job]) -> list[list[Reply]]:
        """Decode every row of ``jobs`` (same sampling settings) in one call; replies per job."""
        import torch

        from motivlab.models.generation import sample

        s = jobs[0].sampling
        # no max_tokens: the rest of the context, but at most the server's cap (one worker decodes for
        # everyone, so an unbounded reply would hold every other client for minutes)
        caps = [s.max_tokens or min(self.max_tokens, self.context - len(ids)) for job in jobs for ids in job.prompt_ids]
        device = next(self.model.parameters()).device
        seed = jobs[0].seed if jobs[0].seed is not None else secrets.randbits(63)
        generator = torch.Generator(device=device).manual_seed(seed % (1 << 63))
        t0 = time.perf_counter()
        out = sample(self.model, self.tokenizer, [p for job in jobs for p in job.prompts], n_per_prompt=s.n,
                     max_new_tokens=max(caps), temperature=s.temperature, top_p=s.top_p,
                     stop=s.stop[0] if len(s.stop) == 1 else None, generator=generator)
        seconds = time.perf_counter() - t0
        eos = getattr(self.tokenizer, "eos_token_id", None)
        replies: list[list[Reply]] = []
        row = prompt = 0  # out's rows are prompt-major: prompt i's n samples are rows i*n .. i*n+n-1
        for job in jobs:
            mine: list[Reply] = []
            for ids in job.prompt_ids:
                for _ in range(s.n):
                    tokens = out.completion_ids[row][out.completion_mask[row]].tolist()
                    reply = self._finish(tokens, caps[prompt], s.stop, eos)
                    if job.top_logprobs is not None:
                        reply.logprobs = self._logprobs(ids, reply.token_ids, job.top_logprobs)
                    mine.append(reply)
                    row += 1
                prompt += 1
            replies.append(mine)
        self.stats.calls += sum(j.rows for j in jobs)
        self.stats.prompt_tokens += sum(len(ids) * s.n for j in jobs for ids in j.prompt_ids)
        self.stats.completion_tokens += sum(len(r.token_ids) for rs in replies for r in rs)
        self.stats.seconds += seconds
        return replies

    def _finish(self, tokens: list[int], cap: int, stops: tuple[str, ...], eos: int | None) -> Reply:
        """Apply the row's token cap, end-of-sequence and stop strings (excluded from the text)."""
        ended = bool(tokens) and eos is not None and tokens[-1] == eos and len(tokens) <= cap
        tokens = tokens[:-1] if ended else tokens[:cap]
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        cuts = [i for i in (text.find(stop) for stop in stops) if i >= 0]
        if cuts:
            cut = min(cuts)
            return Reply(text[:cut], self._tokens_spelling(tokens, cut), "stop")
        return Reply(text, tokens, "stop" if ended else "length")

    def _tokens_spelling(self, tokens: list[int], n_chars: int) -> list[int]:
        """The shortest prefix of ``tokens`` whose text reaches ``n_chars`` characters."""
        lo, hi = 0, len(tokens)
        while lo < hi:
            mid = (lo + hi) // 2
            if len(self.tokenizer.decode(tokens[:mid], skip_special_tokens=True)) >= n_chars:
                hi = mid
            else:
                lo = mid + 1
        return tokens[:lo]

    def _logprobs(self, prompt: list[int], reply: list[int], k: int) -> list[tuple[int, float, list[tuple[int, float]]]]:
        """Raw-model log-probs of each reply token and the ``k`` most likely alternatives."""
        import torch

        if not reply:
            return []
        device = next(self.model.parameters()).device
        ids = torch.tensor([prompt + reply], device=device)
        with torch.inference_mode():
            logits = self.model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float()  # (T, V)
        logp = torch.log_softmax(logits, dim=-1).cpu()
        chosen = logp.gather(1, torch.tensor(reply)[:, None]).squeeze(1).tolist()
        top = logp.topk(k, dim=-1) if k else None
        return [(tok, lp, list(zip(top.indices[t].tolist(), top.values[t].tolist(), strict=True)) if top is not None else [])
                for t, (tok, lp) in enumerate(zip(reply, chosen, strict=True))]


def _context_length(model: Any, tokenizer: Any) -> int:
    """Positions the model was built for (the smaller of model and tokenizer limits that are set)."""
    limits = [getattr(model.config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    sane = [int(x) for x in limits if isinstance(x, int) and 0 < x < 10_000_000]
    return min(sane) if sane else 2048
