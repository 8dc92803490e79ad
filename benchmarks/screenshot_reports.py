"""Screenshot report.html files with headless Chromium, to check them as a person would.

    apt-get install -y chromium           # Debian's package, once
    python benchmarks/screenshot_reports.py runs/demo /tmp/synth/analysis --out /tmp/shots
    # -> /tmp/shots/<name>.png, one per report (a tall viewport: the whole page, not just the top)

Each argument is a report.html or a folder searched for them. Offline: the reports embed their
figures, and Chromium runs with networking features off and a throw-away profile.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path


def find_reports(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        out += sorted(p.rglob("report.html")) if p.is_dir() else [p]
    return out


def screenshot(report: Path, png: Path, *, width: int = 1200, height: int = 4000, browser: str = "chromium") -> Path:
    """One PNG of ``report`` at ``width`` x ``height`` CSS pixels."""
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={width},{height}",
                        report.resolve().as_uri()], check=True, capture_output=True, timeout=180)
    return png


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", type=Path, help="report.html files or folders holding them")
    ap.add_argument("--out", type=Path, default=Path("screenshots"))
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--height", type=int, default=4000)
    args = ap.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise SystemExit("no chromium found: apt-get install -y chromium")
    for report in find_reports(args.paths):
        name = "_".join(report.resolve().parent.parts[-2:]).strip("_") or "report"
        png = screenshot(report, args.out / f"{name}.png", width=args.width, height=args.height, browser=browser)
        print(f"{report} -> {png}")


if __name__ == "__main__":
    main()
