"""A self-contained HTML report: headings, text, PNG figures (embedded) and tables.

Users look rather than read: every results command writes ``report.html`` next to its figures
and tables. Figures are embedded as base64 so the file can be mailed or attached as is. Every
report ends with its provenance (motivlab and library versions, git commit, the command, when,
on which machine) — collected when it is written, or given by the caller — and gets a table of
contents once it has three sections or more. A table cut to its first rows links to the full CSV.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

from motivlab.io import atomic_write_text

_CSS = """
body { font-family: -apple-system, system-ui, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { margin-top: 1.8em; border-bottom: 1px solid #ccc; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .92em; }
table { border-collapse: collapse; font-size: .88em; margin: .8em 0; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.meta { color: #666; font-size: .85em; } pre { background: #f6f6f6; padding: .6em; overflow-x: auto; }
nav.toc { background: #fafafa; border: 1px solid #e3e3e3; padding: .4em 1.2em; display: inline-block; }
nav.toc ol { margin: .3em 0; padding-left: 1.2em; } footer.provenance { margin-top: 3em; border-top: 1px solid #ccc; }
footer.provenance td { text-align: left; font-size: .85em; }
"""

# the libraries whose versions a reader needs to reproduce a number
_PROVENANCE_PACKAGES = ("motivlab", "torch", "transformers", "numpy", "pandas", "scipy", "statsmodels", "trl")


def provenance() -> dict[str, str]:
    """Versions, git commit, command, time and machine of the process writing a report."""
    import datetime as dt
    import platform
    import sys

    from motivlab.io import git_commit, package_versions

    try:
        from motivlab.redact import redact_text
    except ImportError:  # pragma: no cover - redaction arrived with issue 10
        redact_text = str  # type: ignore[assignment]
    versions = package_versions(_PROVENANCE_PACKAGES)
    return {
        "motivlab": versions.pop("motivlab", "unknown"),
        "packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "python": sys.version.split()[0],
        "git commit": git_commit() or "none (not a git checkout)",
        "command": " ".join(redact_text(a) for a in sys.argv),
        "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": platform.platform(),
    }


def save_figure(fig: Any, path: str | os.PathLike[str], *, dpi: int = 120) -> Path:
    """Save a matplotlib figure as PNG (creating the folder) and close it to free memory."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


class HtmlReport:
    """Build a report section by section, then :meth:`write` it atomically."""

    def __init__(self, title: str, subtitle: str | None = None, *, provenance: dict[str, str] | None = None) -> None:
        self.title = title
        self._head: list[str] = [f"<h1>{html.escape(title)}</h1>"]
        if subtitle:
            self._head.append(f"<p class='meta'>{html.escape(subtitle)}</p>")
        self._parts: list[str] = []
        self._sections: list[tuple[str, str]] = []  # (anchor, heading) for the table of contents
        self.provenance = provenance  # None: collected when the report is rendered

    def heading(self, text: str) -> HtmlReport:
        anchor = f"s{len(self._sections) + 1}"
        self._sections.append((anchor, text))
        self._parts.append(f"<h2 id='{anchor}'>{html.escape(text)}</h2>")
        return self

    def text(self, text: str) -> HtmlReport:
        """A paragraph of plain text (escaped); blank lines separate paragraphs."""
        for para in text.strip().split("\n\n"):
            self._parts.append(f"<p>{html.escape(para)}</p>")
        return self

    def code(self, text: str) -> HtmlReport:
        self._parts.append(f"<pre>{html.escape(text)}</pre>")
        return self

    def figure(self, png_path: str | os.PathLike[str], caption: str = "") -> HtmlReport:
        data = base64.b64encode(Path(png_path).read_bytes()).decode("ascii")
        self._parts.append(
            f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(caption)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
        return self

    def table(self, df: Any, caption: str = "", *, max_rows: int = 60, float_format: str = "{:.4g}",
              full: str | None = None) -> HtmlReport:
        """A pandas DataFrame as an HTML table (first ``max_rows`` rows). ``full``: the path of the
        whole table relative to the report (e.g. ``tables/x.csv``), linked when rows are cut."""
        import pandas as pd

        shown = df.head(max_rows).copy()
        for col in shown.columns:  # None (not NaN) in object columns: also a dash
            if pd.api.types.is_object_dtype(shown[col]):
                shown[col] = [("—" if v is None else v) for v in shown[col]]
        body = shown.to_html(index=False, border=0, float_format=lambda v: float_format.format(v), na_rep="—")
        note = ""
        if len(df) > max_rows:
            link = f": <a href='{html.escape(full)}'>all {len(df)} rows in {html.escape(full)}</a>" if full else ""
            note = f" (first {max_rows} of {len(df)} rows{link})"
        if caption or note:
            self._parts.append(f"<p class='meta'>{html.escape(caption)}{note}</p>")
        self._parts.append(body)
        return self

    def render(self) -> str:
        toc = []
        if len(self._sections) >= 3:
            items = "".join(f"<li><a href='#{a}'>{html.escape(t)}</a></li>" for a, t in self._sections)
            toc = [f"<nav class='toc'><b>Contents</b><ol>{items}</ol></nav>"]
        prov = self.provenance if self.provenance is not None else provenance()
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in prov.items())
        footer = f"<footer class='provenance'><h2 id='provenance'>Provenance</h2><table>{rows}</table></footer>"
        return (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
            + "\n".join([*self._head, *toc, *self._parts, footer])
            + "</body></html>\n"
        )

    def write(self, path: str | os.PathLike[str]) -> Path:
        return atomic_write_text(path, self.render())
