"""Small helpers shared by the sub-command modules: user errors become exit code 2."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr and exit (2 = bad input, the Unix convention); URLs in
    the message lose their credentials (:mod:`motivlab.redact`)."""
    from motivlab.redact import redact_text

    typer.echo(f"error: {redact_text(message)}", err=True)
    raise typer.Exit(code)


def user_errors(func: F) -> F:
    """Turn invalid-input exceptions raised inside a command into ``fail(...)``.

    Only input errors are caught (ValueError and its subclasses, pydantic's ValidationError,
    missing files); anything else is a bug and keeps its traceback.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ValueError, FileNotFoundError, NotADirectoryError) as exc:  # ValidationError is a ValueError
            fail(str(exc).strip() or type(exc).__name__)
        except KeyboardInterrupt:
            typer.echo("interrupted: completed work is saved; rerun the same command to resume", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]
