"""Any OpenAI-compatible chat endpoint through the ``openai`` client, with bounded concurrency.

- Concurrency: at most ``concurrency`` requests in flight (a thread pool); completions are
  yielded as they arrive so the runner persists each at once.
- Retries: rate limits, timeouts, connection failures and 5xx answers are retried with
  exponential backoff (``backoff_s * 2**attempt``, plus jitter) up to ``max_retries`` times.
- Failures that retrying cannot fix (bad key, unknown model, endpoint unreachable after all
  retries, replies that are not chat completions) raise :class:`BackendError`, which stops the
  run with a clear message; every completed call is already on disk.
- The API key is read from the environment variable ``api_key_env`` (default ``OPENAI_API_KEY``)
  and is never logged, stored, or put in an error message. Local servers need no key.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from motivlab.errors import check_range
from motivlab.evals.backends import BackendError, Completion, GenerationParams, Message, Throughput
from motivlab.redact import redact_text, redact_url

_NO_KEY = "no-key-needed"  # the client requires a non-empty key; local servers ignore it


class OpenAIBackend:
    """Chat completions from ``model`` at ``base_url`` (None: ``OPENAI_BASE_URL`` or the default)."""

    supports_prefill = False  # the chat API has no portable way to start the assistant's reply

    def __init__(
        self, model: str, base_url: str | None = None, *, name: str | None = None, api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8, timeout_s: float = 120.0, max_retries: int = 4, backoff_s: float = 1.0,
    ) -> None:
        import openai

        check_range("concurrency", concurrency, low=1, high=1024)
        check_range("timeout_s", timeout_s, low=0, high=86_400, low_inclusive=False)
        check_range("max_retries", max_retries, low=0, high=100)
        self.model, self.base_url = model, base_url
        self.name = redact_text(name or f"openai:{model}@{base_url or 'default'}")  # names are shown and stored
        self.concurrency, self.max_retries, self.backoff_s = int(concurrency), int(max_retries), float(backoff_s)
        self.stats = Throughput()
        self._openai = openai
        self._client = openai.OpenAI(
            api_key=os.environ.get(api_key_env) or _NO_KEY, base_url=base_url, timeout=timeout_s, max_retries=0,
        )

    # -- one call with retries ----------------------------------------------------------------

    def _retryable(self, exc: Exception) -> bool:
        o = self._openai
        return isinstance(exc, (o.APIConnectionError, o.APITimeoutError, o.RateLimitError, o.InternalServerError))

    def _call(self, messages: Sequence[Message], params: GenerationParams, seed: int) -> Completion:
        last: Exception | None = None
        t0 = time.perf_counter()
        for attempt in range(self.max_retries + 1):
            try:
                resp = self._client.chat.completions.create(
                    model=self.model, messages=list(messages), max_tokens=params.max_tokens,
                    temperature=params.temperature, seed=seed,
                )
                return self._completion(resp, time.perf_counter() - t0)
            except BackendError:
                raise
            except (self._openai.BadRequestError, self._openai.UnprocessableEntityError) as exc:
                # this one call is at fault (e.g. too long for the context): record it, go on
                return Completion(text="", completion_tokens=0, error=self._describe(exc),
                                  seconds=time.perf_counter() - t0)
            except Exception as exc:
                if not self._retryable(exc):
                    raise BackendError(self._describe(exc)) from None
                last = exc
            if attempt < self.max_retries:
                time.sleep(self.backoff_s * 2**attempt * (1 + 0.25 * random.random()))
        assert last is not None
        raise BackendError(f"{self._describe(last)} (after {self.max_retries + 1} attempts)")

    def _completion(self, resp: Any, seconds: float) -> Completion:
        """Validate the reply's shape: a server that answers garbage is an error, not a reply."""
        choices = getattr(resp, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise BackendError(f"endpoint {self._where()} answered something that is not a chat completion: "
                               f"{str(resp)[:200]!r}")
        text = choices[0].message.content or ""
        usage = getattr(resp, "usage", None)
        n_out = int(getattr(usage, "completion_tokens", 0) or 0) if usage else 0
        n_in = int(getattr(usage, "prompt_tokens", 0) or 0) if usage else 0
        return Completion(text=text, completion_tokens=n_out or len(text.split()), prompt_tokens=n_in,
                          finish_reason=str(choices[0].finish_reason or "stop"), seconds=seconds)

    def _where(self) -> str:
        return f"{redact_url(self.base_url) if self.base_url else 'default OpenAI URL'} (model {self.model!r})"

    def _describe(self, exc: Exception) -> str:
        """One line about a failed request, without credentials (a server may echo the URL back)."""
        return redact_text(self._explain(exc))

    def _explain(self, exc: Exception) -> str:
        o = self._openai
        if isinstance(exc, o.AuthenticationError):
            return f"endpoint {self._where()} rejected the API key (HTTP 401): set the key's environment variable"
        if isinstance(exc, o.NotFoundError):
            return f"endpoint {self._where()} does not know this model or path (HTTP 404)"
        if isinstance(exc, o.APIConnectionError):
            return f"endpoint {self._where()} is unreachable ({type(exc).__name__})"
        if isinstance(exc, o.APIStatusError):
            return f"endpoint {self._where()} answered HTTP {exc.status_code}: {str(exc.message)[:200]}"
        return f"endpoint {self._where()} failed: {type(exc).__name__}: {str(exc)[:200]}"

    # -- many calls ---------------------------------------------------------------------------

    def generate(
        self, conversations: Sequence[Sequence[Message]], params: GenerationParams, *, seeds: Sequence[int] | None = None
    ) -> Iterator[tuple[int, Completion]]:
        seeds = list(seeds) if seeds is not None else [params.seed] * len(conversations)
        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        t0, seconds_before = time.perf_counter(), self.stats.seconds
        try:
            futures = {pool.submit(self._call, conv, params, s): i
                       for i, (conv, s) in enumerate(zip(conversations, seeds, strict=True))}
            for fut in as_completed(futures):
                completion = fut.result()  # BackendError propagates and stops the run
                self.stats.calls += 1
                self.stats.prompt_tokens += completion.prompt_tokens
                self.stats.completion_tokens += completion.completion_tokens
                self.stats.seconds = seconds_before + time.perf_counter() - t0
                yield futures[fut], completion
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
