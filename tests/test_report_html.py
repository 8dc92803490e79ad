"""Reports people read: a table of contents, provenance on every report, truncated tables linking
to their full CSV, captions in words on the evaluation report."""

from __future__ import annotations

import pandas as pd

from motivlab.report import HtmlReport


def test_toc_provenance_and_csv_link(tmp_path):
    rep = HtmlReport("t", "sub")
    for name in ("one", "two", "three"):
        rep.heading(name)
    rep.table(pd.DataFrame({"x": range(100)}), "all the xs", max_rows=10, full="tables/x.csv")
    rep.table(pd.DataFrame({"y": range(5)}), "few ys", max_rows=10, full="tables/y.csv")
    html = rep.write(tmp_path / "report.html").read_text()
    assert "<nav class='toc'>" in html and "href='#s3'" in html and "id='s3'" in html
    assert "first 10 of 100 rows: <a href='tables/x.csv'>" in html and "tables/y.csv" not in html
    for key in ("Provenance", "motivlab", "git commit", "command", "torch", "written"):
        assert key in html
    short = HtmlReport("t")
    short.heading("only")
    assert "<nav" not in short.render()
    fixed = HtmlReport("t", provenance={"command": "motivlab demo"}).render()
    assert "motivlab demo" in fixed


def test_evaluation_report_reads_as_words(tmp_path):
    from motivlab.evals.analysis.pipeline import analyze
    from motivlab.evals.analysis.report import FIGURE_CAPTIONS, write_outputs
    from motivlab.evals.synthetic import SyntheticConfig, simulate

    study = simulate(SyntheticConfig(seed=1, n_models=2, subtasks_per_task=1, conditions=("control", "money", "futility"),
                                     n_choice_pairs=40))
    report = write_outputs(analyze(study.results), tmp_path / "analysis", source="synthetic")
    html = report.read_text()
    assert FIGURE_CAPTIONS["manipulations"][:40] in html and "<nav class='toc'>" in html
    assert "Provenance" in html
    import re

    assert all(c.startswith(": <a href='tables/") for c in re.findall(r"first \d+ of \d+ rows(.{0,20})", html))
    assert (tmp_path / "analysis" / "tables" / "manipulation_tests.csv").is_file()
