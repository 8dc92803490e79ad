"""Credentials in an endpoint URL are never written or printed (issue 10, point 7).

``http://user:KEY@host/v1`` and ``?api_key=KEY`` used to reach calls.jsonl, run.json, the results
tables and the console verbatim.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from motivlab.redact import redact_text, redact_url, redact_value

SECRETS = ("s3cr3t-user-key", "s3cr3t-query-key", "s3cr3t-token")


@pytest.mark.parametrize(("url", "expected"), [
    ("http://user:sk-1@host:8/v1", "http://***@host:8/v1"),
    ("https://h/v1?api_key=sk-2&model=m", "https://h/v1?api_key=***&model=m"),
    ("https://h/v1?x=1&access_token=t&X-Api-Key=k#f", "https://h/v1?x=1&access_token=***&X-Api-Key=***#f"),
    ("http://u:a/b@host/v1", "http://***@host/v1"),  # a '/' in the password fools urlsplit
    ("http://u:p@ss@host/v1?q=1", "http://***@host/v1?q=1"),
    ("http://[::1]:8/v1?token=t", "http://[::1]:8/v1?token=***"),
    ("http://127.0.0.1:8/v1?model=m", "http://127.0.0.1:8/v1?model=m"),  # nothing secret: unchanged
])
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_redact_text_and_values_find_every_url():
    text = "openai:gpt@http://u:k1@h/v1 failed; retry https://h2/?secret=k2 (see docs)"
    assert redact_text(text) == "openai:gpt@http://***@h/v1 failed; retry https://h2/?secret=*** (see docs)"
    assert redact_text("no url, user:pass@host is not one") == "no url, user:pass@host is not one"
    nested = {"model": "openai:m@http://u:k@h/v1", "argv": ["x", "--model", "openai:m@http://u:k@h/v1"], "n": 3}
    assert "k@" not in json.dumps(redact_value(nested)) and redact_value(nested)["n"] == 3


class _FakeChat(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that answers every chat completion with a score, or fails."""

    fail = False

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.fail:
            body, status = {"error": {"message": f"bad request to {self.server.echo}"}}, 400
        else:
            body, status = {"id": "x", "object": "chat.completion", "created": 0, "model": "fake",
                            "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": '{"reason": "ok", "score": 60}'}}],
                            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}, 200
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeChat)
    url = f"http://user:{SECRETS[0]}@127.0.0.1:{server.server_port}/v1?api_key={SECRETS[1]}&token={SECRETS[2]}"
    server.echo = url  # a server that echoes the URL back in its error message
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield url
    server.shutdown()


def _leaks(folder: Path, console: str) -> list[str]:
    found = [f"console: {s}" for s in SECRETS if s in console]
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if path.suffix == ".parquet":  # compressed: look at the values
                import pandas as pd

                data = pd.read_parquet(path).to_csv().encode()
            found += [f"{path.name}: {s}" for s in SECRETS if s.encode() in data]
    return found


@pytest.mark.parametrize("fail", [False, True])
def test_no_secret_in_any_file_or_on_the_console_after_an_eval_run(tmp_path, endpoint, fail, monkeypatch):
    from motivlab.cli import app

    monkeypatch.setattr(_FakeChat, "fail", fail)
    out = tmp_path / "res"
    result = CliRunner().invoke(app, ["eval", "run", "--model", f"openai:fake@{endpoint}", "--out", str(out),
                                      "--measures", "pre", "--conditions", "control", "--limit", "2", "--samples", "1",
                                      "--max-retries", "0"])
    console = result.output + str(result.exception or "")
    assert (out / "calls.jsonl").is_file() and (out / "run.json").is_file(), console
    records = [json.loads(line) for line in (out / "calls.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all("127.0.0.1" in r["model"] for r in records)  # which server: still said
    if fail:
        assert all("HTTP 400" in r["error"] for r in records)
    else:
        assert (out / "results.parquet").is_file() and not any(r["error"] for r in records)
    assert not _leaks(out, console), _leaks(out, console)
