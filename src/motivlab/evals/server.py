"""``motivlab serve MODEL``: an OpenAI-compatible server over any local model or RL checkpoint.

So external harnesses (Inspect, lm-eval, our own ``openai:`` backend) can probe an organism.
Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions`` (``n = 1``; ``stream = true``
answers with the whole completion as one chunk followed by ``[DONE]``).

Concurrent requests are decoded together: a worker thread takes the first waiting request,
collects others with the same sampling settings that arrive within ``wait_ms`` (up to
``batch_size``), and runs one batched ``generate`` (see ``backends/local.py``). The model is
only ever touched by that thread.

    motivlab serve smollm2 --port 8000
    curl localhost:8000/v1/chat/completions -H 'content-type: application/json' \\
         -d '{"model": "smollm2", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 20}'
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from motivlab.evals.backends import GenerationParams


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = ""

    def text(self) -> str:
        if isinstance(self.content, list):  # OpenAI content parts: keep the text ones
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # harnesses send many optional fields; unknown ones are ignored
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1, le=32768)
    max_completion_tokens: int | None = Field(None, ge=1, le=32768)
    temperature: float = Field(1.0, ge=0, le=2)
    seed: int | None = None
    n: int = Field(1, ge=1, le=1)
    stream: bool = False


class _Batcher:
    """One worker thread owns the model; requests queue up and are decoded in batches."""

    def __init__(self, backend: Any, batch_size: int, wait_ms: float) -> None:
        self.backend, self.batch_size, self.wait_s = backend, batch_size, wait_ms / 1000
        self._queue: queue.Queue[tuple[list[dict[str, str]], GenerationParams, Future]] = queue.Queue()
        threading.Thread(target=self._loop, daemon=True, name="motivlab-serve-batcher").start()

    def submit(self, messages: list[dict[str, str]], params: GenerationParams) -> Future:
        fut: Future = Future()
        self._queue.put((messages, params, fut))
        return fut

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            batch, later = [first], []
            deadline = time.monotonic() + self.wait_s
            while len(batch) < self.batch_size and (left := deadline - time.monotonic()) > 0:
                try:
                    nxt = self._queue.get(timeout=left)
                except queue.Empty:
                    break
                (batch if nxt[1] == first[1] else later).append(nxt)
            for item in later:  # other settings: next round
                self._queue.put(item)
            try:
                results = dict(self.backend.generate([m for m, _, _ in batch], first[1], seeds=[first[1].seed] * len(batch)))
                for i, (_, _, fut) in enumerate(batch):
                    fut.set_result(results[i])
            except Exception as exc:  # a failed batch fails its requests, not the server
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)


def create_app(backend: Any, *, model_name: str, batch_size: int = 8, wait_ms: float = 20.0, default_max_tokens: int = 512) -> Any:
    """The FastAPI app serving ``backend`` (anything with the ChatBackend ``generate``)."""
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import StreamingResponse

    app = FastAPI(title="motivlab serve", version="1")
    batcher = _Batcher(backend, batch_size, wait_ms)
    created = int(time.time())

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_name, "object": "model", "created": created, "owned_by": "motivlab"}]}

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": model_name, "throughput": backend.stats.as_dict()}

    @app.post("/v1/chat/completions")
    async def chat(req: ChatRequest) -> Any:
        if req.model not in (None, "", model_name):
            raise HTTPException(404, f"model {req.model!r} is not served here; this server serves {model_name!r}")
        params = GenerationParams(max_tokens=req.max_completion_tokens or req.max_tokens or default_max_tokens,
                                  temperature=req.temperature, seed=req.seed if req.seed is not None else 0)
        messages = [{"role": m.role, "content": m.text()} for m in req.messages]
        c = await asyncio.wrap_future(batcher.submit(messages, params))
        rid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        usage = {"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
                 "total_tokens": c.prompt_tokens + c.completion_tokens}
        if req.stream:
            return StreamingResponse(_one_chunk_stream(rid, model_name, c.text, c.finish_reason), media_type="text/event-stream")
        return {
            "id": rid, "object": "chat.completion", "created": int(time.time()), "model": model_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": c.text}, "finish_reason": c.finish_reason}],
            "usage": usage,
        }

    return app


async def _one_chunk_stream(rid: str, model: str, text: str, finish: str) -> Any:
    base = {"id": rid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    yield f"data: {json.dumps({**base, 'choices': [{'index': 0, 'delta': {'role': 'assistant', 'content': text}, 'finish_reason': None}]})}\n\n"
    yield f"data: {json.dumps({**base, 'choices': [{'index': 0, 'delta': {}, 'finish_reason': finish}]})}\n\n"
    yield "data: [DONE]\n\n"


def serve(spec: str, *, host: str = "127.0.0.1", port: int = 8000, batch_size: int = 8, name: str | None = None,
          threads: int | None = None, device: str = "auto") -> None:
    """Load ``spec`` (on ``device``: auto, cpu, cuda, cuda:N) and serve it until interrupted."""
    import uvicorn

    from motivlab.evals.backends.local import LocalBackend

    backend = LocalBackend(spec, batch_size=batch_size, threads=threads, device=device)
    app = create_app(backend, model_name=name or spec, batch_size=batch_size)
    uvicorn.run(app, host=host, port=port, log_level="warning")
