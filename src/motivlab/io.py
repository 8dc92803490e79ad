"""Files users keep: atomic writes, append-only logs, tables, TOML configs and run metadata.

Every artefact is written to a temporary file in the same directory and renamed into place, so
a kill leaves either the old file or the new one, never half of one. Logs that grow during a
run are JSON Lines appended with an fsync per record; a record cut short by a kill is ignored on
read (and reported), so a resumed run loses at most the record that was being written.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import tomli_w

# ---------------------------------------------------------------------------------------------
# atomic writes


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600 files; a report in a shared folder must be readable as the user's
        # umask says (0644 under umask 022), like any file open() creates
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def current_umask() -> int:
    """The process's umask, read without changing it where the OS allows (Linux: /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not atomic, but called from one thread)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    """Numpy scalars/arrays and paths appear in results; JSON gets plain Python values."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# ---------------------------------------------------------------------------------------------
# tables


def write_table(df: Any, path: str | os.PathLike[str], *, csv: bool = True,
                metadata: Mapping[str, str] | None = None) -> Path:
    """Write a pandas DataFrame as Parquet (and CSV beside it), atomically; returns the Parquet path.

    ``path`` may end in ``.parquet`` or have no suffix. ``metadata`` goes into the Parquet file's
    key-value metadata (e.g. the run directory's schema version and run id).
    """
    import io as _io

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if path.suffix != ".parquet":
        path = path.with_suffix(".parquet")
    buf = _io.BytesIO()
    table = pa.Table.from_pandas(df, preserve_index=False)
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               **{k.encode(): str(v).encode() for k, v in metadata.items()}})
    pq.write_table(table, buf)
    atomic_write_bytes(path, buf.getvalue())
    if csv:
        atomic_write_text(path.with_suffix(".csv"), df.to_csv(index=False))
    return path


# ---------------------------------------------------------------------------------------------
# append-only JSON Lines


def append_jsonl(path: str | os.PathLike[str], records: Iterable[Mapping[str, Any]]) -> int:
    """Append records to a JSON Lines file durably (flush + fsync once per call). Returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(dict(r), default=_json_default, ensure_ascii=False) + "\n" for r in records]
    if not lines:
        return 0
    with open(path, "a", encoding="utf-8") as fh:
        # A previous writer killed mid-line leaves no trailing newline; start on a fresh line so
        # the torn record stays isolated (and skipped on read) instead of corrupting this one.
        if fh.tell() > 0 and not _ends_with_newline(path):
            fh.write("\n")
        fh.writelines(lines)
        fh.flush()
        os.fsync(fh.fileno())
    return len(lines)


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield the complete records of a JSON Lines file, skipping a line torn by a kill."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


# ---------------------------------------------------------------------------------------------
# TOML


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a TOML file (never ``eval``/``pickle``); errors name the file and the position."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from None


def write_toml(path: str | os.PathLike[str], data: Mapping[str, Any]) -> Path:
    return atomic_write_text(path, tomli_w.dumps(_drop_none(data)))


def _drop_none(obj: Any) -> Any:
    """TOML has no null: leave unset optional values out (they resolve to the same defaults)."""
    if isinstance(obj, Mapping):
        return {str(k): _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, (list, tuple)):
        return [_drop_none(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        return obj.item()
    return obj


# ---------------------------------------------------------------------------------------------
# provenance

_PACKAGES = (
    "motivlab", "numpy", "scipy", "pandas", "pyarrow", "torch", "transformers", "tokenizers",
    "safetensors", "statsmodels", "pydantic", "trl",
)


def package_versions(names: Iterable[str] = _PACKAGES) -> dict[str, str]:
    """Installed versions of the packages a result depends on (absent ones are left out)."""
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def git_commit() -> str | None:
    """The commit of the motivlab checkout, if it is one (``None`` for an installed wheel)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def run_metadata(seed: int | None, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a result needs to be reproduced: seed, resolved config, versions, machine, time.

    URLs in the config and the command line are recorded without credentials (motivlab.redact)."""
    from motivlab.redact import redact_text, redact_value

    return {
        "seed": seed,
        "config": redact_value(dict(config)) if config is not None else None,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "git_commit": git_commit(),
        "argv": [redact_text(a) for a in sys.argv],
    }
