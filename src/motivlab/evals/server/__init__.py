"""``motivlab serve MODEL``: an OpenAI-compatible server over any local model or RL checkpoint.

So external harnesses (Inspect, lm-eval, the ``openai`` client, our own ``openai:`` backend) can
probe a model or an organism. It behaves like the OpenAI API it claims (``api.py`` lists what is
honoured, accepted or refused), decodes in batches on one worker thread (``engine.py``) and
bounds what one request may cost (``app.Limits``): a prompt longer than the model's context is a
400 with the limit, the queue and each request's time are bounded, other clients keep being
served.

    motivlab serve smollm2 --port 8000                  # prints a "ready" line when it listens
    curl localhost:8000/v1/chat/completions -H 'content-type: application/json' \\
         -d '{"model": "smollm2", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 20}'
    motivlab serve runs/demo/checkpoints/step_000060    # an organism: no chat template, so
    curl localhost:8000/v1/completions -d '{"prompt": "...", "stop": "\\n", "max_tokens": 8}' \\
         -H 'content-type: application/json'

Binds 127.0.0.1 unless ``--host`` says otherwise; when the environment variable named by
``--api-key-env`` (default ``MOTIVLAB_API_KEY``) is set, every ``/v1`` request must carry
``Authorization: Bearer <key>``. Binding another interface without a key prints a warning.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from motivlab.evals.server.api import RequestError, Sampling
from motivlab.evals.server.app import Limits, create_app
from motivlab.evals.server.engine import Engine, Job, Reply

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def serve(spec: str, *, host: str = "127.0.0.1", port: int = 8000, batch_size: int = 8, name: str | None = None,
          threads: int | None = None, device: str = "auto", api_key_env: str = "MOTIVLAB_API_KEY",
          limits: Limits = Limits()) -> None:
    """Load ``spec`` (on ``device``: auto, cpu, cuda, cuda:N) and serve it until interrupted."""
    import uvicorn

    from motivlab.errors import check_range
    from motivlab.models.device import resolve_device
    from motivlab.models.loading import load_causal_lm

    check_range("batch_size", batch_size, low=1, high=4096)
    api_key = os.environ.get(api_key_env) or None
    if host not in LOOPBACK and api_key is None:
        print(f"warning: serving on {host} without an API key: anyone who can reach this machine can use the model; "
              f"set {api_key_env} to require 'Authorization: Bearer <key>'", file=sys.stderr, flush=True)
    if threads is not None:
        import torch

        torch.set_num_threads(int(check_range("threads", threads, low=1, high=1024)))
    model, tokenizer = load_causal_lm(spec, device=str(resolve_device(device)))
    engine = Engine(model, tokenizer, batch_size=batch_size, max_queue=limits.max_queue, max_tokens=limits.max_tokens)
    model_name = name or spec
    app = create_app(engine, model_name=model_name, limits=limits, api_key=api_key)

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:  # the ready line: harnesses and scripts wait for it
                bound = self.servers[0].sockets[0].getsockname()
                shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
                print(f"motivlab serve: ready — {model_name!r} at http://{shown}:{bound[1]}/v1 (context "
                      f"{engine.context} tokens, chat {'yes' if engine.has_chat_template else 'no: use /v1/completions'}, "
                      f"key {'required' if api_key else 'not required'})", flush=True)

    _Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run()


__all__ = ["Engine", "Job", "Limits", "Reply", "RequestError", "Sampling", "create_app", "serve"]
