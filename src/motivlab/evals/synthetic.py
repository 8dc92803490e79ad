"""Synthetic results tables with *planted* structure, to test that the analysis recovers what is there.

Every measure is a linear combination of independent unit-variance latents per (model, sub-task)
plus per-sample noise (a small linear-Gaussian model), mapped onto the reply scales:

    W (want)  = cg·G + ct·Ut + cs·Us        G: category signal (task), Ut: task residual, Us: sub-task
    M (motivation) = a·W + b·A + r·R        A: "able", R: residual  -> R²(M ~ W, A) = a² + b²
    pre  = M + c·Cpre + noise               Cpre: how the pre-task context bends the report
    post = ρ·M + √(1-ρ²)·P + noise          P: the experience of doing the task
    judge criteria, completion, effort, log-tokens = κ·M + κ'·P + behaviour latent + noise

Because the model is linear, the expected correlation of any two item means is exact linear
algebra (:func:`expected_correlation`); tests compare the analysis against these numbers, not
against the paper's. Manipulations add planted shifts (raw units) to chosen measures; choices
follow a logit in the measured pre-task score difference plus a planted pull of the attached
manipulation. Scores are rounded and clipped like real replies; a few values are made missing.

Usage: ``python -m motivlab.evals.synthetic OUT_DIR`` writes ``OUT_DIR/results.parquet``.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from motivlab.evals.schema import CHOICE_CONDITIONS, COLUMNS, CONDITIONS, PROTOCOL_VERSION
from motivlab.evals.tasks import CATEGORIES, load_tasks
from motivlab.validation import config_rules

LATENTS = ("G", "Ut", "Us", "A", "R", "Cpre", "P", "Bq", "Bc", "Be", "Bt")
_CG, _CT = 0.8, 0.3
_A, _B = math.sqrt(0.60), math.sqrt(0.28)
_RHO = 0.78
GENERAL_CRITERIA = ("quality", "consistency", "creativity", "attention_to_detail", "relevance")


def _w(**loads: float) -> dict[str, float]:
    return loads


def _motivation(scale: float = 1.0) -> dict[str, float]:
    """Loadings of M = a·W + b·A + r·R on the basic latents."""
    cs = math.sqrt(1 - _CG**2 - _CT**2)
    r = math.sqrt(1 - _A**2 - _B**2)
    return {"G": scale * _A * _CG, "Ut": scale * _A * _CT, "Us": scale * _A * cs, "A": scale * _B, "R": scale * r}


def _add(*parts: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for p in parts:
        for k, v in p.items():
            out[k] = out.get(k, 0.0) + v
    return out


def _want(scale: float) -> dict[str, float]:
    cs = math.sqrt(1 - _CG**2 - _CT**2)
    return {"G": scale * _CG, "Ut": scale * _CT, "Us": scale * cs}


_POST = _add(_motivation(_RHO), _w(P=math.sqrt(1 - _RHO**2)))

# (measure, field) -> (latent loadings, per-sample noise sd), on the latent scale
LOADINGS: dict[tuple[str, str], tuple[dict[str, float], float]] = {
    ("pre", "score"): (_add(_motivation(), _w(Cpre=0.5)), 0.41),
    ("breakdown", "overall"): (_motivation(), 0.22),
    ("breakdown", "interest"): (_want(0.9), 0.45),
    ("breakdown", "challenge"): (_want(0.7), 0.45),
    ("breakdown", "value"): (_want(0.8), 0.45),
    ("breakdown", "mastery"): (_w(A=0.85), 0.45),
    ("breakdown", "fear"): (_w(A=-0.75), 0.45),
    ("post", "score"): (_POST, 0.45),
    ("post_similar", "score"): (_POST, 0.8),
    **{("performance", f): (_add(_motivation(0.25), _w(P=0.25, Bq=0.6)), 0.6) for f in GENERAL_CRITERIA},
    ("performance", "completion"): (_add(_motivation(0.3), _w(P=0.3, Bc=0.7)), 0.6),
    ("performance", "effort"): (_add(_motivation(0.28), _w(P=0.32, Be=0.7)), 0.6),
    ("tokens", "count"): (_add(_motivation(0.18), _w(P=0.22, Bt=0.9)), 0.3),
}
# raw = centre + scale·latent (+ model offset for self-reports), rounded and clipped
SCALES = {"pre": (50.0, 15.0), "breakdown": (50.0, 15.0), "post": (50.0, 15.0), "post_similar": (50.0, 15.0),
          "performance": (4.0, 1.0)}
BOUNDS = {"pre": (1, 100), "breakdown": (1, 100), "post": (1, 100), "post_similar": (1, 100), "performance": (1, 7)}
LOG_TOKENS = (5.5, 0.6)  # tokens = round(exp(5.5 + 0.6·latent))

# Planted manipulation effects, in the units the analysis reports: score points (pre, post),
# judge points (performance = mean of the general criteria, completion, effort), log tokens.
PLANTED_EFFECTS: dict[str, dict[str, float]] = {
    "money": {"pre": 3.0, "post": 2.0},
    "legacy": {"pre": 2.0},
    "encouragement": {"pre": 4.0, "post": 3.0},
    "threat": {"pre": 4.0, "post": 3.0, "performance": -0.4, "effort": -0.3},
    "loss": {"pre": 3.0, "performance": -0.3},
    "discarded": {"pre": -10.0, "post": -8.0, "effort": -0.3, "log_tokens": -0.2},
    "futility": {"pre": -15.0, "post": -12.0, "performance": -0.2, "effort": -0.4, "log_tokens": -0.3},
}
# Planted pull of the attached manipulation on the logit of choosing that task
PLANTED_ATTACH_LOGIT = {"money": 2.0, "threat": 0.7, "futility": -2.6}
PLANTED_CHOICE_SLOPE = 0.8  # logit per 10 points of pre-task score difference


class SyntheticConfig(BaseModel):
    """How big the synthetic study is and how noisy its models are."""

    model_config = config_rules()
    seed: int = Field(0, description="seed of the one numpy Generator used for everything")
    n_models: int = Field(3, ge=1, le=20, description="number of simulated models")
    subtasks_per_task: int = Field(2, ge=1, le=6, description="first k sub-tasks of each shipped task")
    samples: int = Field(2, ge=2, le=5, description="samples per item (>= 2 for test-retest)")
    conditions: tuple[str, ...] = Field(CONDITIONS, description="conditions to simulate; must include control")
    n_choice_pairs: int = Field(200, ge=0, description="choice pairs per model and choice condition")
    missing_rate: float = Field(0.03, ge=0, lt=0.5, description="share of values made unparsable at random")
    tie_rate: float = Field(0.02, ge=0, lt=0.5, description="share of choices answered as a tie")
    pre_noise_by_model: tuple[float, ...] = Field(
        (0.55, 0.41, 0.3), description="per-sample noise sd of the pre-task report per model (cycled)"
    )
    model_offsets: tuple[float, ...] = Field((-5.0, 0.0, 5.0), description="raw self-report offset per model")


@dataclass
class SyntheticStudy:
    """The results table and what was planted in it."""

    results: pd.DataFrame
    config: SyntheticConfig
    category_effects: dict[str, float]  # raw pre-task points per category dummy
    expected_retest: dict[str, float]  # model -> per-sample test-retest r of pre
    attach_rate: dict[str, float] = field(default_factory=dict)  # condition -> expected P(choose attached)
    expected_category_r2: float = float("nan")  # population R² of per-task mean pre on category dummies

    def expected_factor_r2(self) -> float:
        """R² of the breakdown's overall mean on the best linear combination of the five components' means.

        The analysis regresses on two rotated principal components of those five, which with this
        simple structure span almost the same space, so this is its population value.
        """
        keys = [("breakdown", f) for f in ("interest", "challenge", "mastery", "fear", "value")]
        s = self.config.samples

        def w(k: tuple[str, str]) -> np.ndarray:
            return np.array([LOADINGS[k][0].get(z, 0.0) for z in LATENTS])

        x = np.array([w(k) for k in keys])  # (5, L)
        cov = x @ x.T + np.diag([(LOADINGS[k][1] ** 2 + _round_var(k)) / s for k in keys])
        y = w(("breakdown", "overall"))
        c = x @ y
        var_y = y @ y + (LOADINGS[("breakdown", "overall")][1] ** 2 + _round_var(("breakdown", "overall"))) / s
        return float(c @ np.linalg.solve(cov, c) / var_y)

    def expected_correlation(self, m1: tuple[str, str], m2: tuple[str, str], model_index: int = 1) -> float:
        return expected_correlation(m1, m2, self.config.samples, _noise_overrides(self.config, model_index))


def _noise_overrides(cfg: SyntheticConfig, k: int) -> dict[tuple[str, str], float]:
    return {("pre", "score"): cfg.pre_noise_by_model[k % len(cfg.pre_noise_by_model)]}


def _round_var(key: tuple[str, str]) -> float:
    """Rounding to integers adds uniform error of variance 1/12 raw units."""
    if key[0] == "tokens":
        return 0.0
    return (1 / 12) / SCALES[key[0]][1] ** 2


def expected_correlation(m1: tuple[str, str], m2: tuple[str, str], samples: int,
                         noise: dict[tuple[str, str], float] | None = None) -> float:
    """Exact correlation of the per-item means (over ``samples``) of two (measure, field) pairs.

    Composite keys ("performance", "general") mean the average of the general criteria.
    """
    noise = noise or {}

    def parts(key: tuple[str, str]) -> tuple[np.ndarray, float]:
        keys = [("performance", f) for f in GENERAL_CRITERIA] if key == ("performance", "general") else [key]
        w = np.mean([[LOADINGS[k][0].get(z, 0.0) for z in LATENTS] for k in keys], axis=0)
        nvar = np.mean([noise.get(k, LOADINGS[k][1]) ** 2 + _round_var(k) for k in keys]) / len(keys)
        return w, nvar / samples

    (w1, n1), (w2, n2) = parts(m1), parts(m2)
    return float(w1 @ w2 / math.sqrt((w1 @ w1 + n1) * (w2 @ w2 + n2)))


def _latents(tasks: list, sub_task_index: np.ndarray, cfg: SyntheticConfig, rng: np.random.Generator,
             beta: np.ndarray, cat_matrix: np.ndarray) -> list[np.ndarray]:
    """Per model an (N, len(LATENTS)) matrix; G and Ut are task-level and shared by all models."""
    g_task = cat_matrix @ beta  # (T,)
    g = g_task[sub_task_index]
    g = (g - g.mean()) / g.std()
    ut = rng.standard_normal(len(tasks))[sub_task_index]
    out = []
    for _ in range(cfg.n_models):
        z = rng.standard_normal((len(sub_task_index), len(LATENTS)))
        z[:, 0], z[:, 1] = g, ut
        out.append(z)
    return out


def _measure_shift(measure: str, fld: str, condition: str) -> float:
    eff = PLANTED_EFFECTS.get(condition, {})
    if measure == "tokens":
        return eff.get("log_tokens", 0.0)
    if measure == "performance":
        return eff.get(fld if fld in ("completion", "effort") else "performance", 0.0)
    return eff.get(measure, 0.0) if measure in ("pre", "post") else 0.0


def _to_raw(measure: str, latent: np.ndarray, offset: float, shift: float) -> np.ndarray:
    if measure == "tokens":
        return np.round(np.exp(LOG_TOKENS[0] + LOG_TOKENS[1] * latent + shift))
    centre, scale = SCALES[measure]
    lo, hi = BOUNDS[measure]
    off = offset if measure != "performance" else 0.0
    return np.clip(np.round(centre + scale * latent + off + shift), lo, hi)


def simulate(config: SyntheticConfig | None = None) -> SyntheticStudy:
    """Simulate a full study (all measures, conditions, samples, choices) per the planted model."""
    cfg = config or SyntheticConfig()
    if "control" not in cfg.conditions:
        raise ValueError(f"conditions must include 'control', got {cfg.conditions}")
    rng = np.random.default_rng(cfg.seed)
    tasks = load_tasks()
    cat_matrix = np.array([[c in t.categories for c in CATEGORIES] for t in tasks], dtype=float)
    beta = rng.normal(0.0, 1.0, len(CATEGORIES))
    subs = [(ti, s) for ti, t in enumerate(tasks) for s in t.subtasks[: cfg.subtasks_per_task]]
    sub_task_index = np.array([ti for ti, _ in subs])
    latents = _latents(tasks, sub_task_index, cfg, rng, beta, cat_matrix)
    g_raw = (cat_matrix @ beta)[sub_task_index]
    category_effects = dict(zip(CATEGORIES, SCALES["pre"][1] * _A * _CG * beta / g_raw.std(), strict=True))

    base = pd.DataFrame({
        "task_id": [tasks[ti].task_id for ti, _ in subs],
        "subtask_id": [s.subtask_id for _, s in subs],
        "categories": ["|".join(tasks[ti].categories) for ti, _ in subs],
    })
    verifiable = np.array([s.answer is not None for _, s in subs])
    blocks, pre_means = [], []
    for k in range(cfg.n_models):
        model = f"sim-model-{k}"
        noise = _noise_overrides(cfg, k)
        offset = cfg.model_offsets[k % len(cfg.model_offsets)]
        pre_sum = np.zeros(len(subs))
        for condition in cfg.conditions:
            for s in range(cfg.samples):
                for (measure, fld), (w, sd) in LOADINGS.items():
                    wv = np.array([w.get(z, 0.0) for z in LATENTS])
                    lat = latents[k] @ wv + noise.get((measure, fld), sd) * rng.standard_normal(len(subs))
                    value = _to_raw(measure, lat, offset, _measure_shift(measure, fld, condition))
                    if (measure, condition) == ("pre", "control"):
                        pre_sum += value
                    blocks.append(_block(base, model, condition, s, measure, fld, value))
                # automatic correctness on verifiable sub-tasks, driven by the judged-quality latent
                q = latents[k] @ np.array([LOADINGS[("performance", "quality")][0].get(z, 0.0) for z in LATENTS])
                auto = (rng.random(len(subs)) < 1 / (1 + np.exp(-1.5 * q))).astype(float)
                blocks.append(_block(base[verifiable], model, condition, s, "performance", "auto", auto[verifiable]))
        pre_means.append(pre_sum / cfg.samples)
    results = _concat(blocks)
    attach_rate: dict[str, float] = {}
    if cfg.n_choice_pairs:
        choice_rows, attach_rate = _simulate_choices(cfg, rng, base, pre_means)
        results = pd.concat([results, choice_rows], ignore_index=True)
    results = _make_missing(results, cfg, rng)
    retest = {}
    for k in range(cfg.n_models):
        w = np.array([LOADINGS[("pre", "score")][0].get(z, 0.0) for z in LATENTS])
        sd = _noise_overrides(cfg, k)[("pre", "score")]
        retest[f"sim-model-{k}"] = float(w @ w / (w @ w + sd**2 + _round_var(("pre", "score"))))
    study = SyntheticStudy(results, cfg, category_effects, retest, attach_rate)
    study.expected_category_r2 = _expected_category_r2(cfg, tasks, beta, cat_matrix, g_raw.std())
    return study


def _expected_category_r2(cfg: SyntheticConfig, tasks: list, beta: np.ndarray, cat_matrix: np.ndarray,
                          g_sd: float) -> float:
    """Signal variance over tasks / (signal + expected noise variance of a task mean over models, sub-tasks, samples)."""
    signal = (_A * _CG * (cat_matrix @ beta) / g_sd).var()
    pre_w = LOADINGS[("pre", "score")][0]
    task_var = pre_w["Ut"] ** 2
    item_var = sum(v**2 for k, v in pre_w.items() if k not in ("G", "Ut"))
    noise = np.mean([sd**2 for sd in (_noise_overrides(cfg, k)[("pre", "score")] for k in range(cfg.n_models))])
    noise += _round_var(("pre", "score"))
    n_sub = np.array([min(len(t.subtasks), cfg.subtasks_per_task) for t in tasks], dtype=float)
    per_task = task_var + item_var / (cfg.n_models * n_sub) + noise / (cfg.n_models * n_sub * cfg.samples)
    return float(signal / (signal + per_task.mean()))


def _block(base: pd.DataFrame, model: str, condition: str, sample: int, measure: str, fld: str,
           value: np.ndarray, **extra: np.ndarray) -> dict[str, np.ndarray]:
    """Columns of one block of rows (plain arrays: one DataFrame is built at the end, which is fast)."""
    n = len(base)
    cols = {c: base[c].to_numpy() for c in ("task_id", "subtask_id", "categories")}
    const = {"model": model, "condition": condition, "sample": sample, "measure": measure, "field": fld,
             "parsed": True, "pair_id": "", "attached_to": 0, "other_subtask_id": ""}
    cols.update({c: np.full(n, v, dtype=object if isinstance(v, str) else None) for c, v in const.items()})
    cols["value"] = value.astype(float)
    cols.update(extra)
    return cols


def _concat(blocks: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    return pd.DataFrame({c: np.concatenate([b[c] for b in blocks]) for c in blocks[0]})


def _simulate_choices(cfg: SyntheticConfig, rng: np.random.Generator, base: pd.DataFrame,
                      pre_means: list[np.ndarray]) -> tuple[pd.DataFrame, dict[str, float]]:
    """Choices follow logit P(task 1) = slope·Δpre/10 + pull·(±1 for the attached task)."""
    n = len(base)
    task_of = base["task_id"].to_numpy()
    i1 = rng.integers(0, n, 4 * cfg.n_choice_pairs)
    i2 = rng.integers(0, n, 4 * cfg.n_choice_pairs)
    keep = task_of[i1] != task_of[i2]
    i1, i2 = i1[keep][: cfg.n_choice_pairs], i2[keep][: cfg.n_choice_pairs]
    rows, p_attached = [], {c: [] for c in CHOICE_CONDITIONS}
    conditions = [c for c in CHOICE_CONDITIONS if c in cfg.conditions]
    for k in range(cfg.n_models):
        d = (pre_means[k][i1] - pre_means[k][i2]) / 10.0
        for condition in conditions:
            for s in range(cfg.samples):
                attached = np.zeros(len(i1), int) if condition == "control" else rng.integers(1, 3, len(i1))
                sign = np.where(attached == 1, 1.0, np.where(attached == 2, -1.0, 0.0))
                p1 = 1 / (1 + np.exp(-(PLANTED_CHOICE_SLOPE * d + PLANTED_ATTACH_LOGIT.get(condition, 0.0) * sign)))
                chosen = np.where(rng.random(len(i1)) < p1, 1.0, 2.0)
                chosen[rng.random(len(i1)) < cfg.tie_rate] = 0.5
                if condition != "control":
                    p_attached[condition].extend(np.where(attached == 1, p1, 1 - p1))
                rows.append(_block(
                    base.iloc[i1], f"sim-model-{k}", condition, s, "choice", "chosen", chosen,
                    pair_id=np.array([f"sim-pair-{j:03d}" for j in range(len(i1))], dtype=object),
                    attached_to=attached, other_subtask_id=base["subtask_id"].to_numpy()[i2],
                ))
    rates = {c: float(np.mean(v)) for c, v in p_attached.items() if v}
    return _concat(rows), rates


def _make_missing(df: pd.DataFrame, cfg: SyntheticConfig, rng: np.random.Generator) -> pd.DataFrame:
    """Missing completely at random; rows are kept with value NaN and parsed False, as the runner does."""
    miss = rng.random(len(df)) < cfg.missing_rate
    df.loc[miss, "value"] = np.nan
    df.loc[miss, "parsed"] = False
    df["protocol_version"] = PROTOCOL_VERSION
    df["sample"] = df["sample"].astype(int)
    df["attached_to"] = df["attached_to"].astype(int)
    return df[list(COLUMNS)]


if __name__ == "__main__":
    from motivlab.io import write_table

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "synthetic_results")
    study = simulate()
    path = write_table(study.results, out / "results.parquet")
    print("wrote", path, len(study.results), "rows")
