"""Backends against real models and a real server: a tiny random Llama served by
``motivlab serve`` in a subprocess, probed through the OpenAI backend and ``motivlab eval run``;
endpoints that are down or answer garbage give clear errors; the API key is never stored."""

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from motivlab.evals.backends import BackendError, GenerationParams, parse_spec
from motivlab.evals.backends.openai_compat import OpenAIBackend
from motivlab.io import read_jsonl

MOTIVLAB = [sys.executable, "-m", "motivlab.cli"]
# `motivlab eval ...` is this app mounted under the root CLI; calling it directly skips importing
# the other pillars (seconds per subprocess on a busy CI machine)
EVAL = [sys.executable, "-m", "motivlab.evals.cli"]
CONV = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Rate a haiku task."}]


def _tiny_model(path: Path) -> Path:
    """A random 2-layer Llama with a small byte-level BPE tokenizer and a chat template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = ["How motivated are you to do this task? Reply with JSON score reason 1 100."] * 20
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<eos>"],
                                                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>")
    fast.chat_template = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}<eos>{% endfor %}"
                          "{% if add_generation_prompt %}<assistant>{% endif %}")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                      eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    LlamaForCausalLM(cfg).save_pretrained(path)
    fast.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return _tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny):
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([*MOTIVLAB, "serve", str(tiny), "--port", str(port), "--name", "tiny", "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}/v1"
    import urllib.request

    for _ in range(600):
        try:
            with urllib.request.urlopen(f"{base}/models", timeout=1) as r:
                assert json.load(r)["data"][0]["id"] == "tiny"
                break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stdout.read().decode()) from None
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError("motivlab serve did not come up")
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def test_local_backend_batches_and_is_reproducible(tiny):
    from motivlab.evals.backends.local import LocalBackend

    backend = LocalBackend(str(tiny), batch_size=3, threads=1)
    convs = [CONV, [{"role": "user", "content": "x"}], [*CONV, {"role": "assistant", "content": "ok"}], CONV]
    params = GenerationParams(max_tokens=12, temperature=0.8, seed=1)
    a = dict(backend.generate(convs, params, seeds=[1, 2, 3, 4]))
    b = dict(backend.generate(convs, params, seeds=[1, 2, 3, 4]))
    assert sorted(a) == [0, 1, 2, 3]
    assert {i: c.text for i, c in a.items()} == {i: c.text for i, c in b.items()}
    assert all(0 <= c.completion_tokens <= 12 and c.prompt_tokens > 0 for c in a.values())
    greedy = GenerationParams(max_tokens=8, temperature=0.0)
    batched = dict(backend.generate(convs, greedy))
    single = {i: dict(backend.generate([c], greedy))[0] for i, c in enumerate(convs)}
    # left padding must not change what the model says (greedy, same prompt)
    assert {i: c.text for i, c in batched.items()} == {i: c.text for i, c in single.items()}
    assert backend.stats.calls == 16 and backend.stats.completion_tokens > 0


def test_server_and_openai_backend(server):
    backend = OpenAIBackend("tiny", server, concurrency=4)
    got = dict(backend.generate([CONV] * 5, GenerationParams(max_tokens=10, temperature=0.0)))
    assert sorted(got) == [0, 1, 2, 3, 4]
    assert len({c.text for c in got.values()}) == 1  # greedy: identical prompts, identical replies
    assert all(1 <= c.completion_tokens <= 10 and c.error is None for c in got.values())
    with pytest.raises(BackendError, match="HTTP 404"):
        list(OpenAIBackend("not-served", server).generate([CONV], GenerationParams(max_tokens=4)))


def test_eval_run_against_served_model_never_stores_the_key(server, tmp_path):
    out = tmp_path / "res"
    env = {**os.environ, "MY_EVAL_KEY": "sk-secret-should-not-leak"}
    cmd = [*EVAL, "run", "--model", f"openai:tiny@{server}", "--measures", "pre,tokens,post",
           "--conditions", "control,threat", "--limit", "2", "--samples", "1", "--max-tokens", "8",
           "--report-max-tokens", "8", "--api-key-env", "MY_EVAL_KEY", "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    df = pd.read_parquet(out / "results.parquet")
    assert set(df["measure"]) == {"pre", "tokens", "post"} and len(df) == 3 * 2 * 2
    assert df.loc[df["measure"] == "tokens", "parsed"].all()  # a random model's scores may not parse; tokens do
    for f in out.iterdir():
        assert "sk-secret" not in f.read_text(errors="ignore"), f
    assert "sk-secret" not in res.stdout + res.stderr


class _Garbage(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html>not an API</html>")

    def log_message(self, *args):
        pass


def test_down_or_garbage_endpoints_give_clear_errors(tmp_path):
    params = GenerationParams(max_tokens=4)
    with pytest.raises(BackendError, match="unreachable"):
        list(OpenAIBackend("m", f"http://127.0.0.1:{_free_port()}/v1", max_retries=1, backoff_s=0.01).generate([CONV], params))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        with pytest.raises(BackendError, match="not a chat completion"):
            list(OpenAIBackend("m", f"http://127.0.0.1:{srv.server_port}/v1", max_retries=0).generate([CONV], params))
    finally:
        srv.shutdown()
    out = tmp_path / "down"
    res = subprocess.run([*EVAL, "run", "--model", f"openai:m@http://127.0.0.1:{_free_port()}/v1",
                          "--measures", "pre", "--limit", "1", "--samples", "1", "--max-retries", "0", "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "unreachable" in res.stderr and "rerun" in res.stderr
    assert json.loads((out / "run.json").read_text())["status"].startswith("stopped")


def test_bad_specs_are_clear(tmp_path):
    assert parse_spec("openai:gpt-x@http://h:1/v1") == ("openai", "gpt-x", "http://h:1/v1")
    with pytest.raises(ValueError, match="BASE_URL"):
        parse_spec("openai:gpt-x@localhost:8000")
    res = subprocess.run([*MOTIVLAB, "eval", "run", "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "not found" in res.stderr
    assert not (tmp_path / "o").exists()  # nothing written for a spec that does not resolve


@pytest.mark.slow
def test_killed_run_resumes_and_skips_done_calls(tiny, tmp_path):
    """SIGKILL a real `motivlab eval run` mid-way; the rerun asks only what is missing."""
    import signal

    out = tmp_path / "res"
    cmd = [*EVAL, "run", "--model", str(tiny), "--measures", "pre,post", "--conditions", "control,money",
           "--limit", "4", "--samples", "2", "--batch-size", "1", "--threads", "1", "--max-tokens", "64",
           "--report-max-tokens", "64", "--out", str(out)]
    total = 4 * 2 * 2 * 3  # sub-tasks x conditions x samples x (pre, execution, post)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    calls = out / "calls.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if calls.is_file() and len(calls.read_text().splitlines()) >= 3:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=60)
    first = [r["key"] for r in read_jsonl(calls)]  # a line torn by the kill is skipped
    assert proc.returncode == -signal.SIGKILL and 3 <= len(first) < total
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    keys = [r["key"] for r in read_jsonl(calls)]
    assert len(keys) == len(set(keys)) == total and keys[: len(first)] == first
    assert len(pd.read_parquet(out / "results.parquet").query("measure == 'pre'")) == 4 * 2 * 2


def test_server_stream_and_usage(server):
    import urllib.request

    body = json.dumps({"model": "tiny", "messages": CONV, "max_tokens": 5, "stream": True}).encode()
    req = urllib.request.Request(f"{server}/chat/completions", data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        events = [line[6:] for line in r.read().decode().splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]" and json.loads(events[0])["object"] == "chat.completion.chunk"
    assert json.loads(events[-2])["choices"][0]["finish_reason"] in ("stop", "length")
