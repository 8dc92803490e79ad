"""The analysis of a self-report study: from the tidy results table to tables, figures and a report.

Reads exactly the table of :mod:`motivlab.evals.schema` (``results.parquet`` in a results folder)
and runs every analysis of the evaluation spec, each in its own module:

- ``analysis_consistency``: test–retest, consistency across contexts, self-report vs behaviour,
  all as per-model Pearson correlations pooled across models by Fisher z;
- ``analysis_structure``: category OLS on per-task means, PCA + varimax of the breakdown
  ("want" / "able"), regression of motivation on both factors;
- ``analysis_choice``: logit of choosing task 1 on the score difference, chosen–unchosen gap,
  how often the task carrying a manipulation is chosen;
- ``analysis_manipulations``: paired t-tests against control per model and measure with
  Benjamini–Hochberg correction.

Derived item-level variables (means over the samples of one model × sub-task × condition):
``pre``, ``post``, ``post_similar``, the breakdown fields (``overall``, ``interest`` …),
``performance`` (mean of the judge's general criteria: quality, consistency, creativity,
attention to detail, relevance), ``completion`` and ``effort`` (those criteria on their own),
``auto`` (automatic correctness of verifiable sub-tasks), ``log_tokens`` (log(1 + completion
tokens): token counts are skewed, their log is close to normal).

Missing data is reported, never guessed: unparsed rows are excluded and counted (parse rate per
model and measure), and an analysis whose inputs are absent is skipped with the reason.

Usage::

    from motivlab.evals.analysis.pipeline import load_results, analyze
    result = analyze(load_results("runs/eval1"))
    result.summary["retest_r"], result.skipped
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from motivlab.errors import MotivlabInputError
from motivlab.evals.analysis import choice as analysis_choice
from motivlab.evals.analysis import consistency as analysis_consistency
from motivlab.evals.analysis import manipulations as analysis_manipulations
from motivlab.evals.analysis import structure as analysis_structure
from motivlab.evals.analysis.common import (  # re-exported: the names callers used to import from here
    BREAKDOWN_COMPONENTS,
    GENERAL_CRITERIA,
    ITEM_KEYS,
    Section,
    control_items,
    lacking,
)
from motivlab.evals.schema import COLUMNS, MEASURES, validate_results
from motivlab.measure.stats import wilson_interval

__all__ = ["BREAKDOWN_COMPONENTS", "GENERAL_CRITERIA", "ITEM_KEYS", "Analysis", "Section", "analyze",
           "check_results", "control_items", "find_results_files", "item_table", "lacking", "load_results",
           "parse_rates", "sample_table"]

RESULTS_FILES = ("results.parquet", "results.csv")  # looked for in this order


@dataclass
class Analysis:
    sections: list[Section]
    parse_rates: pd.DataFrame
    missing: list[str]  # measures/fields absent from the table
    items: pd.DataFrame  # item means: one row per (model, sub-task, condition)

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        out = {"parse_rates": self.parse_rates}
        for s in self.sections:
            out.update(s.tables)
        return out

    @property
    def summary(self) -> dict[str, float]:
        return {k: v for s in self.sections for k, v in s.summary.items()}

    @property
    def intervals(self) -> dict[str, tuple[float, float]]:
        return {k: v for s in self.sections for k, v in s.intervals.items()}

    @property
    def skipped(self) -> list[str]:
        return [f"{s.name}: {why}" for s in self.sections for why in s.skipped]


# --------------------------------------------------------------------------------------------
# loading


def find_results_files(results_dir: str | Path) -> list[Path]:
    """The results table(s) to analyse.

    ``results_dir`` may be the file itself, a run folder holding ``results.parquet`` (or
    ``results.csv``), or a parent folder whose sub-folders are run folders (one per model, say):
    then every sub-folder's table is read and they are analysed together.
    """
    path = Path(results_dir)
    if path.is_file():
        return [path]
    if not path.exists():
        raise FileNotFoundError(f"results folder {str(path)!r} does not exist")
    for name in RESULTS_FILES:
        if (path / name).is_file():
            return [path / name]
    found = []
    for sub in sorted(p for p in path.iterdir() if p.is_dir()):
        hit = next((sub / n for n in RESULTS_FILES if (sub / n).is_file()), None)
        if hit is not None:
            found.append(hit)
    if not found:
        raise FileNotFoundError(
            f"no {' or '.join(RESULTS_FILES)} in {str(path)!r} or its sub-folders (write one with `motivlab eval run`)")
    return found


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, keep_default_na=False, na_values={"value": ["", "nan", "NaN"]})


def load_results(results_dir: str | Path) -> pd.DataFrame:
    """Read and validate the results table(s); another protocol version or a model in two folders is an error."""
    paths = find_results_files(results_dir)
    frames = [check_results(_read_table(p), source=str(p)) for p in paths]
    owner: dict[str, Path] = {}
    for p, f in zip(paths, frames, strict=True):
        for model in f["model"].unique():
            if model in owner:
                raise MotivlabInputError(
                    f"model {model!r} appears in both {str(owner[model])!r} and {str(p)!r}; analyse them separately "
                    "or rename one (its items would be counted twice)")
            owner[model] = p
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def check_results(df: pd.DataFrame, source: str = "results table") -> pd.DataFrame:
    problems = validate_results(df)
    if problems:
        raise MotivlabInputError(f"{source} does not match the results schema: " + "; ".join(problems))
    if df.empty:
        raise MotivlabInputError(f"{source} has no rows")
    df = df[list(COLUMNS)].copy()
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    df["parsed"] = df["parsed"].astype(str).str.lower().isin(["true", "1"]) & df["value"].notna()
    for col in ("pair_id", "other_subtask_id", "categories"):
        df[col] = df[col].fillna("")
    # plain object strings: pandas' Arrow-backed strings are several times slower to group and take
    for col in ("protocol_version", "model", "task_id", "subtask_id", "categories", "condition", "measure",
                "field", "pair_id", "other_subtask_id"):
        df[col] = df[col].astype(str).astype(object)
    return df


# --------------------------------------------------------------------------------------------
# derived tables


def _variable(measure: pd.Series, fld: pd.Series) -> pd.Series:
    """Map (measure, field) to the analysis variable name (see the module docstring)."""
    var = fld.copy()
    single = measure.isin(["pre", "post", "post_similar"])
    var[single] = measure[single]
    var[(measure == "performance") & fld.isin(GENERAL_CRITERIA)] = "performance"
    var[measure == "tokens"] = "log_tokens"
    return var


def sample_table(df: pd.DataFrame) -> pd.DataFrame:
    """Wide table, one row per (model, sub-task, condition, sample), one column per variable."""
    d = df[df["parsed"] & (df["measure"] != "choice")]
    if d.empty:
        return pd.DataFrame(columns=[*ITEM_KEYS, "sample"])
    value = np.where(d["measure"] == "tokens", np.log1p(d["value"].clip(lower=0)), d["value"])
    long = d[[*ITEM_KEYS, "sample"]].assign(var=_variable(d["measure"], d["field"]).to_numpy(), value=value)
    wide = long.pivot_table(index=[*ITEM_KEYS, "sample"], columns="var", values="value", aggfunc="mean")
    wide.columns.name = None
    return wide.reset_index()


def item_table(samples: pd.DataFrame) -> pd.DataFrame:
    """Means over samples: one row per (model, sub-task, condition)."""
    cols = [c for c in samples.columns if c not in (*ITEM_KEYS, "sample")]
    return samples.groupby(ITEM_KEYS, as_index=False, sort=True)[cols].mean()


def parse_rates(df: pd.DataFrame) -> pd.DataFrame:
    """Share of rows parsed per model and measure, with a Wilson 95% interval (always reported)."""
    g = df.groupby(["model", "measure"], as_index=False).agg(rows=("parsed", "size"), parsed=("parsed", "sum"))
    est, lo, hi = wilson_interval(g["parsed"].to_numpy(), g["rows"].to_numpy())
    return g.assign(parse_rate=est, lo=lo, hi=hi, unparsed=g["rows"] - g["parsed"])


def missing_inputs(df: pd.DataFrame) -> list[str]:
    """Measures and fields that are absent or never parsed, per model."""
    out = []
    present = set(df["measure"].unique())
    parsed = df[df["parsed"]]
    got = parsed.groupby(["measure", "field"]).size().index  # (measure, field) pairs with parsed rows
    parsed_fields: dict[str, set[str]] = {}
    for m, f in got:
        parsed_fields.setdefault(m, set()).add(f)
    for measure, fields in MEASURES.items():
        if measure not in present:
            out.append(f"measure {measure!r} is absent from the table")
        elif measure not in parsed_fields:
            out.append(f"measure {measure!r} has rows but none was parsed")
        else:
            lacking_fields = [f for f in fields if f not in parsed_fields[measure] and f != "auto"]
            if lacking_fields:
                out.append(f"measure {measure!r} lacks parsed fields {lacking_fields}")
    models = parsed.groupby("model")["measure"].unique()
    for model, measures in models.items():
        absent = sorted(set(MEASURES) - set(measures))
        if absent and df["model"].nunique() > 1:
            out.append(f"model {model!r} has no parsed {absent}")
    return out


# --------------------------------------------------------------------------------------------
# orchestration


# the analyses in the order they run (``analyze``'s ``progress`` callback gets these names)
STEP_NAMES = ("test-retest", "cross-context", "report vs behaviour", "categories", "factors", "choice", "manipulations")


def analyze(df: pd.DataFrame, progress: Callable[[str], None] | None = None) -> Analysis:
    """Run every analysis on a validated results table (see :func:`load_results`); ``progress`` is
    called with each analysis's name (:data:`STEP_NAMES`) before it runs."""
    df = check_results(df)
    samples = sample_table(df)
    items = item_table(samples)
    steps: list[Callable[[], Section]] = [
        lambda: analysis_consistency.retest(samples),
        lambda: analysis_consistency.cross_context(items),
        lambda: analysis_consistency.report_behaviour(items),
        lambda: analysis_structure.categories(items),
        lambda: analysis_structure.factors(items),
        lambda: analysis_choice.choice(df, items),
        lambda: analysis_manipulations.manipulations(items),
    ]
    sections = []
    for name, step in zip(STEP_NAMES, steps, strict=True):
        if progress is not None:
            progress(name)
        sections.append(step())
    return Analysis(sections, parse_rates(df), missing_inputs(df), items)
