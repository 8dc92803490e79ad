"""A self-contained HTML report: headings, text, PNG figures (embedded) and tables.

Users look rather than read: every results command writes ``report.html`` next to its figures
and tables. Figures are embedded as base64 so the file can be mailed or attached as is.
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
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.meta { color: #666; font-size: .85em; } pre { background: #f6f6f6; padding: .6em; overflow-x: auto; }
"""


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

    def __init__(self, title: str, subtitle: str | None = None) -> None:
        self.title = title
        self._parts: list[str] = [f"<h1>{html.escape(title)}</h1>"]
        if subtitle:
            self._parts.append(f"<p class='meta'>{html.escape(subtitle)}</p>")

    def heading(self, text: str) -> HtmlReport:
        self._parts.append(f"<h2>{html.escape(text)}</h2>")
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

    def table(self, df: Any, caption: str = "", *, max_rows: int = 60, float_format: str = "{:.4g}") -> HtmlReport:
        """A pandas DataFrame as an HTML table (first ``max_rows`` rows; the full table is on disk)."""
        shown = df.head(max_rows)
        body = shown.to_html(index=False, border=0, float_format=lambda v: float_format.format(v), na_rep="—")
        note = f" (first {max_rows} of {len(df)} rows)" if len(df) > max_rows else ""
        if caption or note:
            self._parts.append(f"<p class='meta'>{html.escape(caption)}{note}</p>")
        self._parts.append(body)
        return self

    def render(self) -> str:
        return (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
            + "\n".join(self._parts)
            + "</body></html>\n"
        )

    def write(self, path: str | os.PathLike[str]) -> Path:
        return atomic_write_text(path, self.render())
