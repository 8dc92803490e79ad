"""The HTTP side of ``motivlab serve``: OpenAI's routes, errors, auth and limits over an :class:`Engine`.

Routes: ``GET /v1/models``, ``POST /v1/chat/completions`` (models with a chat template),
``POST /v1/completions`` (raw text prompts, any model — the organism's route), ``GET /health``.
Errors have OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``: 400 for a bad
request (never FastAPI's 422), 401 without the key, 404 for another model's name, 413 for a body
over ``max_body_bytes``, 503 when the queue is full, 504 past ``request_timeout_s``.

``stream: true`` answers in OpenAI's server-sent-event format with each choice's whole text in one
chunk (decoding is batched, not incremental), then a usage chunk if
``stream_options.include_usage``, then ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from motivlab.evals.server.api import (
    ChatRequest,
    CompletionRequest,
    RequestError,
    parse,
    sampling_of,
    top_logprobs_of,
)
from motivlab.evals.server.engine import Engine, Job, Reply


@dataclass(frozen=True)
class Limits:
    """What one request may cost (``motivlab serve --max-queue`` etc.)."""

    max_queue: int = 64  # requests waiting for the model; more get a 503
    request_timeout_s: float = 600.0  # a request not answered by then gets a 504
    max_body_bytes: int = 8 * 1024 * 1024  # larger bodies get a 413 before they are read
    max_n: int = 16  # choices per request
    max_tokens: int = 2048  # reply tokens per choice: a larger max_tokens is a 400, none means up to this


def create_app(engine: Engine, *, model_name: str, limits: Limits = Limits(), api_key: str | None = None) -> Any:
    """The FastAPI app serving ``engine`` under ``model_name``; ``api_key`` set = bearer auth on /v1."""
    app = FastAPI(title="motivlab serve", version="2")
    created = int(time.time())
    fingerprint = f"motivlab-{_version()}"

    @app.exception_handler(RequestError)
    async def _refused(_: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.middleware("http")
    async def _guard(request: Request, call_next: Any) -> Any:
        if request.url.path.startswith("/v1/"):
            if api_key is not None:
                given = request.headers.get("authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
                    return JSONResponse(RequestError("missing or wrong API key (Authorization: Bearer ...)",
                                                     status=401, code="invalid_api_key").body(), status_code=401)
            length = request.headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > limits.max_body_bytes:
                return JSONResponse(RequestError(f"request body of {int(length):,} bytes is over the limit of "
                                                 f"{limits.max_body_bytes:,} (motivlab serve --max-body-mb)",
                                                 status=413).body(), status_code=413)
        return await call_next(request)

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_name, "object": "model", "created": created, "owned_by": "motivlab"}]}

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": model_name, "context": engine.context, "throughput": engine.stats.as_dict()}

    async def _body(request: Request) -> Any:
        raw = await request.body()
        if len(raw) > limits.max_body_bytes:
            raise RequestError(f"request body of {len(raw):,} bytes is over the limit of {limits.max_body_bytes:,}", status=413)
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise RequestError(f"the request body is not valid JSON: {exc}") from None

    def _check_model(name: str | None) -> None:
        if name not in (None, "", model_name):
            raise RequestError(f"model {name!r} is not served here; this server serves {model_name!r}",
                               status=404, param="model", code="model_not_found")

    async def _run(prompts: list[str], req: Any, param: str) -> tuple[Job, list[Reply]]:
        sampling = sampling_of(req)
        if sampling.max_tokens is not None and sampling.max_tokens > limits.max_tokens:
            raise RequestError(f"max_tokens={sampling.max_tokens} is above this server's limit of {limits.max_tokens} "
                               "(motivlab serve --max-tokens)", param="max_tokens")
        prompt_ids = [await asyncio.to_thread(engine.encode, p, param=param, max_tokens=sampling.max_tokens)
                      for p in prompts]
        job = Job(prompts, prompt_ids, sampling, req.seed, top_logprobs_of(req),
                  deadline=time.monotonic() + limits.request_timeout_s)
        try:
            replies = await asyncio.wait_for(asyncio.wrap_future(engine.submit(job)), timeout=limits.request_timeout_s)
        except TimeoutError:
            raise RequestError(f"the request took longer than {limits.request_timeout_s:g} s (motivlab serve "
                               "--request-timeout)", status=504, code="timeout") from None
        return job, replies

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        req = parse(ChatRequest, await _body(request), max_n=limits.max_n)
        _check_model(req.model)
        text = engine.render_chat([{"role": m.role, "content": m.text()} for m in req.messages])
        job, replies = await _run([text], req, "messages")
        choices = [{"index": i, "message": {"role": "assistant", "content": r.text, "refusal": None},
                    "logprobs": _chat_logprobs(engine, r), "finish_reason": r.finish_reason} for i, r in enumerate(replies)]
        body = _envelope("chat.completion", "chatcmpl", model_name, fingerprint, choices, job, replies)
        if req.stream:
            return StreamingResponse(_stream(body, chat=True, usage=bool(req.stream_options and req.stream_options.include_usage)),
                                     media_type="text/event-stream")
        return body

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        req = parse(CompletionRequest, await _body(request), max_n=limits.max_n)
        _check_model(req.model)
        prompts = [req.prompt] if isinstance(req.prompt, str) else list(req.prompt)
        job, replies = await _run(prompts, req, "prompt")
        choices = [{"index": i, "text": r.text, "logprobs": _completion_logprobs(engine, r), "finish_reason": r.finish_reason}
                   for i, r in enumerate(replies)]
        body = _envelope("text_completion", "cmpl", model_name, fingerprint, choices, job, replies)
        if req.stream:
            return StreamingResponse(_stream(body, chat=False, usage=bool(req.stream_options and req.stream_options.include_usage)),
                                     media_type="text/event-stream")
        return body

    app.state.engine = engine
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("motivlab")
    except PackageNotFoundError:
        return "dev"


def _envelope(obj: str, prefix: str, model: str, fingerprint: str, choices: list[dict[str, Any]], job: Job,
              replies: list[Reply]) -> dict[str, Any]:
    prompt_tokens = sum(len(ids) for ids in job.prompt_ids)
    completion_tokens = sum(len(r.token_ids) for r in replies)
    return {"id": f"{prefix}-{uuid.uuid4().hex[:24]}", "object": obj, "created": int(time.time()), "model": model,
            "system_fingerprint": fingerprint, "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def _piece(engine: Engine, token: int) -> str:
    return engine.tokenizer.decode([token], skip_special_tokens=False)


def _chat_logprobs(engine: Engine, reply: Reply) -> dict[str, Any] | None:
    if reply.logprobs is None:
        return None

    def entry(token: int, lp: float) -> dict[str, Any]:
        piece = _piece(engine, token)
        return {"token": piece, "logprob": lp, "bytes": list(piece.encode())}

    return {"content": [{**entry(t, lp), "top_logprobs": [entry(a, b) for a, b in top]} for t, lp, top in reply.logprobs],
            "refusal": None}


def _completion_logprobs(engine: Engine, reply: Reply) -> dict[str, Any] | None:
    if reply.logprobs is None:
        return None
    offsets, at = [], 0
    for t, _, _ in reply.logprobs:
        offsets.append(at)
        at += len(_piece(engine, t))
    return {"tokens": [_piece(engine, t) for t, _, _ in reply.logprobs],
            "token_logprobs": [lp for _, lp, _ in reply.logprobs],
            "top_logprobs": [{_piece(engine, a): b for a, b in top} for _, _, top in reply.logprobs],
            "text_offset": offsets}


async def _stream(body: dict[str, Any], *, chat: bool, usage: bool) -> Any:
    """The whole response as OpenAI server-sent events (one content chunk per choice)."""
    base = {k: body[k] for k in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk" if chat else "text_completion"
    for c in body["choices"]:
        if chat:
            first = {"index": c["index"], "delta": {"role": "assistant", "content": c["message"]["content"]},
                     "logprobs": c["logprobs"], "finish_reason": None}
            last = {"index": c["index"], "delta": {}, "logprobs": None, "finish_reason": c["finish_reason"]}
        else:
            first = {"index": c["index"], "text": c["text"], "logprobs": c["logprobs"], "finish_reason": None}
            last = {"index": c["index"], "text": "", "logprobs": None, "finish_reason": c["finish_reason"]}
        for choice in (first, last):
            yield f"data: {json.dumps({**base, 'choices': [choice]})}\n\n"
    if usage:
        yield f"data: {json.dumps({**base, 'choices': [], 'usage': body['usage']})}\n\n"
    yield "data: [DONE]\n\n"
