"""``motivlab serve`` is faithful to the OpenAI API, tested with the official ``openai`` client on
loopback: a tiny chat model served by the CLI in a subprocess (ready line, bearer key) and the
quick organism served in-process (no chat template: completions only). Plus the hardening of
issue 10: a 1 MB prompt is refused fast while another client is served, NaN is a 400, a full
queue is a 503, a slow request a 504, a public bind without a key warns."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest

from test_evals_backends import _tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")
KEY = "test-key-123"
CONV = [{"role": "user", "content": "Rate a haiku task."}]


@pytest.fixture(scope="module")
def served_tiny(tmp_path_factory):
    """``motivlab serve TINY --port 0`` with a key in the environment; yields (base_url, process)."""
    tiny = _tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SERVE_KEY": KEY}
    log = open(tmp_path_factory.mktemp("log") / "stderr.txt", "w+")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([sys.executable, "-m", "motivlab.cli", "serve", str(tiny), "--port", "0", "--name", "tiny",
                             "--threads", "1", "--api-key-env", "SERVE_KEY", "--batch-size", "4"],
                            stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    line = proc.stdout.readline()  # blocks until the ready line (or EOF if the server died)
    if "ready" not in line:
        proc.kill()
        log.seek(0)
        raise RuntimeError(f"no ready line: {line!r}\n{log.read()}")
    base = line.split(" at ", 1)[1].split(" ", 1)[0]
    yield base, line
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def client(served_tiny):
    return openai.OpenAI(base_url=served_tiny[0], api_key=KEY, max_retries=0, timeout=120)


def test_ready_line_and_bearer_key(served_tiny):
    base, line = served_tiny
    assert base.startswith("http://127.0.0.1:") and base.endswith("/v1")  # loopback by default
    assert "'tiny'" in line and "key required" in line
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=base, api_key="wrong", max_retries=0).models.list()
    assert [m.id for m in openai.OpenAI(base_url=base, api_key=KEY).models.list()] == ["tiny"]


def test_chat_n_seed_stop_top_p_max_tokens(client):
    out = client.chat.completions.create(model="tiny", messages=CONV, max_tokens=6, n=3, temperature=1.0, seed=7)
    assert len(out.choices) == 3 and [c.index for c in out.choices] == [0, 1, 2]
    assert out.usage.completion_tokens <= 18 and all(c.finish_reason in ("stop", "length") for c in out.choices)
    again = client.chat.completions.create(model="tiny", messages=CONV, max_tokens=6, n=3, temperature=1.0, seed=7)
    assert [c.message.content for c in again.choices] == [c.message.content for c in out.choices]
    # no seed: a fresh random seed per request (a random tiny model repeats 12 tokens by chance ~never)
    free = {client.chat.completions.create(model="tiny", messages=CONV, max_tokens=12).choices[0].message.content
            for _ in range(3)}
    assert len(free) == 3
    # top_p -> 0 keeps only the most likely token: sampling equals greedy decoding
    greedy = client.chat.completions.create(model="tiny", messages=CONV, max_tokens=8, temperature=0)
    nucleus = client.chat.completions.create(model="tiny", messages=CONV, max_tokens=8, temperature=1.5, top_p=1e-6, seed=3)
    assert nucleus.choices[0].message.content == greedy.choices[0].message.content
    # stop: the reply ends just before the first stop string, which is not included
    long = client.chat.completions.create(model="tiny", messages=CONV, max_tokens=16, seed=11).choices[0].message.content
    stop = next(ch for ch in long[2:] if ch.strip() and ch != "\ufffd")
    cut = client.chat.completions.create(model="tiny", messages=CONV, max_tokens=16, seed=11, stop=[stop, "@@@"])
    assert cut.choices[0].message.content == long[: long.index(stop)] and cut.choices[0].finish_reason == "stop"


def test_logprobs_are_the_models(client):
    out = client.chat.completions.create(model="tiny", messages=CONV, max_tokens=5, logprobs=True, top_logprobs=3, seed=1)
    content = out.choices[0].logprobs.content
    assert 1 <= len(content) <= 5
    for tok in content:
        assert len(tok.top_logprobs) == 3 and tok.logprob <= 0
        assert tok.top_logprobs[0].logprob >= tok.logprob - 1e-5  # the best alternative is at least as likely
    plain = client.completions.create(model="tiny", prompt="How motivated", max_tokens=4, logprobs=2, seed=2)
    lp = plain.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset)
    assert "".join(lp.tokens) == plain.choices[0].text


def test_unsupported_fields_are_named_never_ignored(client):
    for kwargs, field in [({"frequency_penalty": 0.5}, "frequency_penalty"), ({"logit_bias": {"5": 3}}, "logit_bias"),
                          ({"n": 99}, "n"), ({"extra_body": {"min_p": 0.1}}, "min_p"),
                          ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools")]:
        with pytest.raises(openai.BadRequestError, match=field):
            client.chat.completions.create(model="tiny", messages=CONV, max_tokens=2, **kwargs)
    with pytest.raises(openai.BadRequestError, match="--max-tokens"):  # one worker serves all: replies are bounded
        client.chat.completions.create(model="tiny", messages=CONV, max_tokens=5000)
    with pytest.raises(openai.BadRequestError, match="echo"):
        client.completions.create(model="tiny", prompt="x", echo=True)
    with pytest.raises(openai.NotFoundError, match="tiny"):
        client.chat.completions.create(model="gpt-4o", messages=CONV, max_tokens=2)


def _post(base: str, body: bytes, timeout: float = 60) -> tuple[int, dict, float]:
    host, port = base.split("//")[1].split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    t0 = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body=body,
                 headers={"content-type": "application/json", "authorization": f"Bearer {KEY}"})
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read()), time.perf_counter() - t0


def test_huge_prompt_refused_fast_while_others_are_served(served_tiny):
    base = served_tiny[0]
    huge = json.dumps({"model": "tiny", "messages": [{"role": "user", "content": "a" * 1_000_000}]}).encode()
    normal = json.dumps({"model": "tiny", "messages": CONV, "max_tokens": 4}).encode()
    with ThreadPoolExecutor(4) as pool:
        big = [pool.submit(_post, base, huge) for _ in range(2)]
        small = pool.submit(_post, base, normal)
        status, body, seconds = big[0].result()
        assert status == 400 and body["error"]["code"] == "context_length_exceeded" and "512" in body["error"]["message"]
        assert seconds < 5
        assert big[1].result()[0] == 400
        assert small.result()[0] == 200
    status, body, _ = _post(base, b'{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "temperature": NaN}')
    assert status == 400 and body["error"]["param"] == "temperature"


# ---------------------------------------------------------------------------------------------
# the organism, served in-process on loopback


@pytest.fixture(scope="module")
def served_organism(organism_quick):
    import uvicorn

    from motivlab.evals.server import Engine, create_app

    model, tokenizer, _ = organism_quick
    server = uvicorn.Server(uvicorn.Config(create_app(Engine(model, tokenizer), model_name="organism"),
                                           host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0), organism_quick
    server.should_exit = True
    thread.join(timeout=30)


def test_organism_completions_match_plain_transformers(served_organism):
    import torch

    client, (model, tokenizer, world) = served_organism
    with pytest.raises(openai.BadRequestError, match="/v1/completions"):
        client.chat.completions.create(model="organism", messages=CONV, max_tokens=4)
    prompts = [world.prompt(int(e)).text for e in world.env_ids("train")[:4]]
    out = client.completions.create(model="organism", prompt=prompts, max_tokens=12, temperature=0, stop=world.stop)
    for prompt, choice in zip(prompts, out.choices, strict=True):
        ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            ref = model.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        expected = tokenizer.decode(ref[0, ids.shape[1]:], skip_special_tokens=True).split(world.stop)[0]
        assert choice.text == expected and world.stop not in choice.text
    with pytest.raises(openai.BadRequestError, match="vocabulary does not have"):
        client.completions.create(model="organism", prompt="user: hello", max_tokens=4)
    with pytest.raises(openai.BadRequestError, match="maximum context length is 64"):
        client.completions.create(model="organism", prompt=prompts[0], max_tokens=200)


# ---------------------------------------------------------------------------------------------
# limits, with an engine whose model blocks until released


def test_full_queue_is_503_and_slow_request_504(organism_quick):
    from fastapi.testclient import TestClient

    from motivlab.evals.server import Engine, Limits, create_app

    model, tokenizer, world = organism_quick
    engine = Engine(model, tokenizer, batch_size=1, wait_ms=0, max_queue=1)
    release = threading.Event()
    real = engine._generate
    engine._generate = lambda jobs: (release.wait(30), real(jobs))[1]  # the model is "busy" until released
    app = TestClient(create_app(engine, model_name="o", limits=Limits(max_queue=1, request_timeout_s=1.0)))
    body = {"prompt": world.prompt(0).text, "max_tokens": 2}
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(app.post, "/v1/completions", json=body)  # taken by the worker, blocks
        time.sleep(0.3)
        second = pool.submit(app.post, "/v1/completions", json=body)  # waits in the queue
        time.sleep(0.3)
        third = app.post("/v1/completions", json=body)  # the queue is full
        assert third.status_code == 503 and "--max-queue" in third.json()["error"]["message"]
        assert first.result().status_code == 504 and second.result().status_code == 504
        release.set()
    for _ in range(100):  # the server still serves, once the worker has dropped the timed-out job
        if (ok := app.post("/v1/completions", json=body)).status_code != 503:
            break
        time.sleep(0.1)
    assert ok.status_code == 200


def test_public_bind_without_key_warns(tmp_path, capsys, monkeypatch):
    from motivlab.evals.server import serve

    monkeypatch.delenv("MOTIVLAB_API_KEY", raising=False)
    with pytest.raises((FileNotFoundError, ValueError)):  # the warning comes before the model is loaded
        serve(str(tmp_path / "missing"), host="0.0.0.0", device="cpu")
    err = capsys.readouterr().err
    assert "without an API key" in err and "MOTIVLAB_API_KEY" in err
    monkeypatch.setenv("MOTIVLAB_API_KEY", "k")
    with pytest.raises((FileNotFoundError, ValueError)):
        serve(str(tmp_path / "missing"), host="0.0.0.0", device="cpu")
    assert "without an API key" not in capsys.readouterr().err


def test_unseeded_requests_with_equal_settings_share_a_batch(organism_quick):
    """Seedless requests with the same settings are decoded together; other settings and seeded
    requests (which must not depend on their neighbours) run in their own batches."""
    from concurrent.futures import Future

    from motivlab.evals.server import Engine, Job, Reply, Sampling

    model, tokenizer, _ = organism_quick
    engine = Engine(model, tokenizer, batch_size=8, wait_ms=500)
    batches: list[int] = []
    gate = threading.Event()

    def fake(jobs):
        gate.wait(30)
        batches.append(len(jobs))
        return [[Reply("x", [5], "stop")] for _ in jobs]

    engine._generate = fake
    same, other = Sampling(1.0, 1.0, (), 1, 2), Sampling(0.5, 1.0, (), 1, 2)
    jobs = [Job(["ab"], [[1, 5]], same, None, None, time.monotonic() + 60, Future()) for _ in range(5)]
    jobs += [Job(["ab"], [[1, 5]], other, None, None, time.monotonic() + 60, Future()) for _ in range(2)]
    jobs += [Job(["ab"], [[1, 5]], same, 3, None, time.monotonic() + 60, Future())]
    for job in jobs:
        engine.submit(job)
    gate.set()
    assert all(job.future.result(timeout=30)[0].text == "x" for job in jobs)
    assert batches == [5, 2, 1]


def test_inspect_openai_provider_against_the_server(served_tiny, tmp_path):
    """``inspect eval`` (the CLI) with the openai/ provider on our server: needs responses_api=false."""
    pytest.importorskip("inspect_ai")
    import motivlab.evals.inspect_tasks as tasks

    inspect_cli = Path(sys.executable).parent / "inspect"
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    done = subprocess.run([str(inspect_cli), "eval", f"{tasks.__file__}@pre", "--model", "openai/tiny",
                           "--model-base-url", served_tiny[0], "-M", "responses_api=false", "-T", "limit=2",
                           "-T", "conditions=control", "--max-tokens", "8", "--log-dir", str(tmp_path / "logs"),
                           "--display", "plain"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    tasks.results_from_logs([tmp_path / "logs"], tmp_path / "res")
    import pandas as pd

    df = pd.read_parquet(tmp_path / "res" / "results.parquet")
    assert len(df) == 2 and set(df.measure) == {"pre"} and set(df.model) == {"openai/tiny"}
