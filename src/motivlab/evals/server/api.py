"""The OpenAI request bodies ``motivlab serve`` accepts, validated into plain sampling settings.

Faithfulness rule: every field of OpenAI's ``/v1/chat/completions`` and ``/v1/completions`` is
either *honoured* (``n``, ``stop``, ``top_p``, ``temperature``, ``max_tokens``, ``seed``,
``logprobs``/``top_logprobs``, ``stream``), *accepted because it never changes what is generated*
(``user``, ``metadata``, ``store``, ...), or *refused* with a 400 that names it when set to
anything but its no-op value (``frequency_penalty: 0.5``, ``tools``, ``echo: true``, ...). Unknown
fields are refused the way OpenAI refuses them. Nothing is silently ignored.

Validation errors are :class:`RequestError` (status, message, the offending ``param``); the app
turns them into OpenAI's error body ``{"error": {"message", "type", "param", "code"}}``.
Non-finite numbers (``temperature: NaN``) are refused here, never reach the sampler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class RequestError(Exception):
    """A request the server refuses; ``status`` 400 unless said otherwise."""

    def __init__(self, message: str, *, param: str | None = None, status: int = 400, code: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param, self.status, self.code = message, param, status, code

    def body(self) -> dict[str, Any]:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}


# Fields that never change the generated text (bookkeeping for the caller or the provider).
_BOOKKEEPING = {"user", "metadata", "store", "service_tier", "prompt_cache_key", "safety_identifier", "parallel_tool_calls"}


def _noop_float(v: Any) -> bool:
    return v is None or v == 0


# Field -> (is its value a no-op?, what to say the no-op value is). Anything else is a 400.
_NOOP: dict[str, tuple[Any, str]] = {
    "frequency_penalty": (_noop_float, "0"),
    "presence_penalty": (_noop_float, "0"),
    "logit_bias": (lambda v: not v, "{}"),
    "tools": (lambda v: not v, "[] (this server does no tool calling)"),
    "functions": (lambda v: not v, "[] (this server does no function calling)"),
    "tool_choice": (lambda v: v in (None, "none", "auto"), '"none"'),
    "function_call": (lambda v: v in (None, "none", "auto"), '"none"'),
    "response_format": (lambda v: v is None or (isinstance(v, dict) and v.get("type") == "text"), '{"type": "text"}'),
    "modalities": (lambda v: v in (None, ["text"]), '["text"]'),
    "audio": (lambda v: v is None, "null"),
    "prediction": (lambda v: v is None, "null"),
    "reasoning_effort": (lambda v: v is None, "null"),
    "verbosity": (lambda v: v is None, "null"),
    "web_search_options": (lambda v: v is None, "null"),
    "echo": (lambda v: not v, "false"),
    "suffix": (lambda v: not v, "null"),
}


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool = False
    include_obfuscation: bool | None = None  # OpenAI's SSE padding switch; no padding is sent here


class _Common(BaseModel):
    # extra="allow": unknown fields are collected and refused by name in ``parse`` (pydantic's
    # own "extra forbidden" message does not say which OpenAI field it was)
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    model: str | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    n: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, float] | None = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, v: str | list[str] | None) -> str | list[str] | None:
        items = [v] if isinstance(v, str) else (v or [])
        if len(items) > 4:
            raise ValueError(f"at most 4 stop sequences, got {len(items)}")
        if any(s == "" for s in items):
            raise ValueError("stop sequences must be non-empty strings")
        return v


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: text only
            kinds = sorted({str(p.get("type")) for p in self.content if p.get("type") != "text"})
            if kinds:
                raise RequestError(f"message content parts of type {', '.join(kinds)} are not supported (text only)",
                                   param="messages")
            return "".join(str(p.get("text", "")) for p in self.content)
        return self.content or ""


class ChatRequest(_Common):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool | None = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    tools: list[Any] | None = None
    functions: list[Any] | None = None
    tool_choice: Any = None
    function_call: Any = None
    response_format: Any = None
    modalities: list[str] | None = None
    audio: Any = None
    prediction: Any = None
    reasoning_effort: Any = None
    verbosity: Any = None
    web_search_options: Any = None


class CompletionRequest(_Common):
    prompt: str | list[str]
    logprobs: int | None = Field(None, ge=0, le=5)
    echo: bool | None = False
    suffix: str | None = None
    best_of: int | None = Field(None, ge=1)

    @field_validator("prompt", mode="before")
    @classmethod
    def _text_prompt(cls, v: Any) -> Any:
        if isinstance(v, list) and v and not all(isinstance(x, str) for x in v):
            raise ValueError("prompts given as token ids are not supported; send the text")
        if isinstance(v, list) and not v:
            raise ValueError("prompt is an empty list")
        return v


@dataclass(frozen=True)
class Sampling:
    """What every row of one request is sampled with (hashable: the batching key)."""

    temperature: float
    top_p: float
    stop: tuple[str, ...]
    n: int
    max_tokens: int | None  # None: up to the model's context


def parse(kind: type[_Common], body: Any, *, max_n: int) -> _Common:
    """Validate a JSON body into ``kind``; every refusal is a :class:`RequestError` naming the field."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    try:
        req = kind.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        value = err.get("input")
        shown = f" (got {value!r})" if not isinstance(value, dict | list) else ""
        raise RequestError(f"{where}: {err['msg']}{shown}", param=where) from None
    for name in (req.model_extra or {}):
        if name not in _BOOKKEEPING:
            raise RequestError(f"Unrecognized request argument supplied: {name}", param=name)
    for name, (is_noop, default) in _NOOP.items():
        if name in kind.model_fields and not is_noop(getattr(req, name)):
            raise RequestError(f"{name}={getattr(req, name)!r} is not supported by motivlab serve; "
                               f"leave it out or send {default}", param=name)
    n = req.n or 1
    if n > max_n:
        raise RequestError(f"n={n} is above this server's limit of {max_n} (motivlab serve --max-n)", param="n")
    if isinstance(req, CompletionRequest) and req.best_of not in (None, n):
        raise RequestError(f"best_of={req.best_of} is not supported (only best_of = n, i.e. no re-ranking)",
                           param="best_of")
    if isinstance(req, ChatRequest) and req.top_logprobs and not req.logprobs:
        raise RequestError("top_logprobs requires logprobs: true", param="top_logprobs")
    return req


def sampling_of(req: _Common) -> Sampling:
    stop = (req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ())
    max_tokens = req.max_tokens
    if isinstance(req, ChatRequest) and req.max_completion_tokens is not None:
        max_tokens = req.max_completion_tokens
    if isinstance(req, CompletionRequest) and max_tokens is None:
        max_tokens = 16  # the legacy completions endpoint's documented default
    return Sampling(temperature=1.0 if req.temperature is None else float(req.temperature),
                    top_p=1.0 if req.top_p is None else float(req.top_p), stop=stop, n=req.n or 1, max_tokens=max_tokens)


def top_logprobs_of(req: _Common) -> int | None:
    """None: no logprobs; k >= 0: the sampled token's log-prob plus the k most likely."""
    if isinstance(req, ChatRequest):
        return (req.top_logprobs or 0) if req.logprobs else None
    return req.logprobs  # type: ignore[attr-defined]
