"""Chat backends: the one interface the protocol runner and the server talk to.

A backend turns a list of conversations (OpenAI-style ``{"role", "content"}`` messages) into
completions and *yields each one as soon as it is done*, so the runner can persist it before
the next is finished (a kill loses at most the calls in flight). Two implementations:

- :class:`~motivlab.evals.backends.local.LocalBackend` — a ``transformers`` model (``smollm2``,
  a directory, a GGUF file, an RL checkpoint), batched generation with left padding;
- :class:`~motivlab.evals.backends.openai_compat.OpenAIBackend` — any OpenAI-compatible
  endpoint (vLLM, llama.cpp server, Ollama, hosted APIs, ``motivlab serve``).

Model specs (``make_backend``): ``smollm2`` | a path | ``openai:MODEL@BASE_URL``
(e.g. ``openai:gpt-4o-mini@https://api.openai.com/v1``; ``openai:MODEL`` alone uses the
``OPENAI_BASE_URL`` environment variable or the OpenAI default).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Message = dict[str, str]


class BackendError(RuntimeError):
    """A backend cannot serve calls at all (endpoint down, bad key, unknown model): stop the run."""


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings shared by every call of one batch (temperature 0 = greedy)."""

    max_tokens: int = 1000
    temperature: float = 0.7
    seed: int = 0
    # Local backend: stop a sequence as soon as its first top-level JSON object is closed (the
    # self-report and judge replies are short JSON; small models ramble on after it).
    stop_after_json: bool = False


def json_object_end(text: str) -> int | None:
    """Index just past the first complete top-level ``{...}`` in ``text``, or None if none is closed yet.

    Braces inside JSON strings (with backslash escapes) do not count, so ``{"reason": "a {b}"}``
    ends at its last character. Text before the first ``{`` is skipped.
    """
    depth, in_str, esc = 0, False, False
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"' and depth > 0:
            in_str = True
        elif ch == "{":
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def split_prefill(conversation: Sequence[Message]) -> tuple[list[Message], str]:
    """A conversation ending in an assistant message is a *prefill*: the reply must continue that text.

    Returns (the messages before it, the prefill text); ('', all messages) when there is none.
    Only local backends can honour a prefill (the chat template is ours to render).
    """
    if conversation and conversation[-1]["role"] == "assistant":
        return list(conversation[:-1]), conversation[-1]["content"]
    return list(conversation), ""


@dataclass(frozen=True)
class Completion:
    """One reply. ``error`` is set (and ``text`` empty) when the call failed after retries."""

    text: str
    completion_tokens: int
    prompt_tokens: int = 0
    finish_reason: str = "stop"
    error: str | None = None
    seconds: float = 0.0


@dataclass
class Throughput:
    """Running totals a backend keeps so runs and benchmarks can report tokens per second."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls, "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens, "seconds": round(self.seconds, 3),
            "completion_tokens_per_second": round(self.tokens_per_second, 3), **self.extra,
        }


class ChatBackend(Protocol):
    name: str
    stats: Throughput

    def generate(
        self, conversations: Sequence[Sequence[Message]], params: GenerationParams, *, seeds: Sequence[int] | None = None
    ) -> Iterator[tuple[int, Completion]]:
        """Yield ``(index into conversations, completion)`` as each call finishes (any order)."""
        ...


def parse_spec(spec: str) -> tuple[str, str, str | None]:
    """``spec`` -> (kind, model, base_url): kind is 'openai' or 'local'."""
    if spec.startswith("openai:"):
        rest = spec[len("openai:"):]
        model, _, base = rest.partition("@")
        if not model:
            raise ValueError(f"model spec {spec!r}: expected openai:MODEL@BASE_URL (MODEL is empty)")
        if base and not base.startswith(("http://", "https://")):
            raise ValueError(f"model spec {spec!r}: BASE_URL must start with http:// or https://, got {base!r}")
        return "openai", model, base or None
    return "local", spec, None


def make_backend(spec: str, **options: Any) -> ChatBackend:
    """Build the backend a model spec names. Options go to the backend's constructor.

    Local options: ``batch_size``, ``device``, ``threads``. OpenAI options: ``api_key_env``, ``concurrency``,
    ``timeout_s``, ``max_retries``. Unknown options for the chosen kind are ignored.
    """
    kind, model, base_url = parse_spec(spec)
    if kind == "openai":
        from motivlab.evals.backends.openai_compat import OpenAIBackend

        keep = {k: v for k, v in options.items() if k in {"api_key_env", "concurrency", "timeout_s", "max_retries"}}
        return OpenAIBackend(model, base_url, name=spec, **keep)
    from motivlab.evals.backends.local import LocalBackend

    keep = {k: v for k, v in options.items() if k in {"batch_size", "device", "threads"}}
    return LocalBackend(spec, **keep)


__all__ = [
    "BackendError", "ChatBackend", "Completion", "GenerationParams", "Message", "Throughput",
    "json_object_end", "make_backend", "parse_spec", "split_prefill",
]
