"""Credentials never leave the process: one function removes them from URLs before anything is
recorded or printed.

An endpoint URL may carry a secret in two places: its userinfo (``http://user:KEY@host/v1``) and
its query (``?api_key=…``, ``&token=…``). :func:`redact_url` replaces both with ``***`` and keeps
everything else (scheme, host, port, path: what a reader needs to know which server answered).
:func:`redact_text` does it for every URL inside a longer text (a model spec such as
``openai:gpt@http://u:k@host/v1``, an error message, a command line), and :func:`redact_value`
for every string inside nested dicts and lists (options, metadata).

Used wherever a URL is written or shown: ``calls.jsonl`` and the results tables (the model
name), ``run.json`` (options, command line), the console and every error message (``_cli.fail``).
The key itself is read from an environment variable and never stored (``api_key_env``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
# query parameters whose value is a credential (case-insensitive, also as a suffix: x-api-key, access_token)
SECRET_PARAM = re.compile(r"(key|token|secret|password|passwd|pwd|auth|signature|sig|credential|session)$", re.I)
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>(){}]+")


def redact_url(url: str) -> str:
    """``url`` without its userinfo and credential query values, e.g.
    ``http://user:k@host:8/v1?api_key=k&x=1`` → ``http://***@host:8/v1?api_key=***&x=1``."""
    scheme, sep, rest = url.partition("://")
    before_query = re.split(r"[?#]", rest, maxsplit=1)[0]
    if "@" in before_query:  # userinfo, even one holding '/' or '@' that would fool urlsplit
        rest = f"{MASK}@{rest[before_query.rindex('@') + 1:]}"
        url = scheme + sep + rest
    try:
        parts = urlsplit(url)
    except ValueError:  # not parseable as a URL: mask everything after the scheme
        return f"{scheme}{sep}{MASK}"
    netloc = parts.netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(SECRET_PARAM.search(k) for k, _ in pairs):
            query = urlencode([(k, MASK if SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """``text`` with every URL in it passed through :func:`redact_url`."""
    return _URL.sub(lambda m: redact_url(m.group(0)), text) if "://" in text else text


def redact_value(value: Any) -> Any:
    """``value`` (str, or dicts/lists/tuples of them, at any depth) with every string redacted."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v) for v in value)
    return value
