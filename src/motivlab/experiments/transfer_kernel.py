"""The transfer kernel from probe measurements: binned, Gaussian and isotonic fits, with bootstraps.

Input: the probe tables of :func:`motivlab.experiments.transfer.measure_probes` — per probe the
source's own logit change ``Δ_i`` per latent, per (probe, env) pair the env's change ``Δ_j`` and its
distance ``d`` to the nearest source. The kernel ``K(d)`` of latent ``k`` is the coefficient of
``Δ_j ≈ K(d) Δ_i``:

* **binned** (free form): per distance bin, the least-squares coefficient through the origin,
  ``Σ Δ_i Δ_j / Σ Δ_i²`` — a ratio of sums, so probes whose source barely moved weigh little
  (a ratio of means would divide by noise);
* **isotonic**: the same coefficients forced non-increasing in ``d`` (pool-adjacent-violators,
  weights ``Σ Δ_i²``) — what a monotone kernel of any shape looks like;
* **Gaussian** (the theory's shape): ``K(d) = a exp(-d² / 2ℓ²)`` by least squares on all pairs.
  ``a < 1`` means a part of the change stays with the source (at ``d → 0`` the theory has
  ``C = 1``); a binned curve that stays flat and above zero at large ``d`` means global transfer
  the Gaussian can only fit with a huge ``ℓ``.

Intervals: percentile bootstrap over probes (each probe is an independent repetition from the
same starting weights), 95 %.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from motivlab.experiments.transfer import LATENT_COLUMNS, TransferConfig

__all__ = ["analyse", "gaussian_fit", "isotonic_decreasing", "write_outputs"]

NAMES = {"z": "propensity p", "x": "reward-seeking skill sR", "y": "local skill sL"}


def isotonic_decreasing(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted least-squares non-increasing fit (pool adjacent violators); NaN values skipped."""
    out = np.full(len(values), np.nan)
    ok = np.flatnonzero(np.isfinite(values) & (weights > 0))
    blocks: list[list[float]] = []  # [value, weight, count]
    for i in ok:
        blocks.append([float(values[i]), float(weights[i]), 1])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    fitted = np.concatenate([[v] * n for v, _, n in blocks]) if blocks else np.array([])
    out[ok] = fitted
    return out


def gaussian_fit(d: np.ndarray, src: np.ndarray, dst: np.ndarray, d_max: float) -> tuple[float, float]:
    """``(a, ℓ)`` minimising ``Σ (Δ_j − a exp(−d²/2ℓ²) Δ_i)²``; ``a`` is linear, so it is profiled
    out and ``ℓ`` found on a log grid then refined (robust, no start values)."""
    def profile(ell: float) -> tuple[float, float]:
        k = np.exp(-d**2 / (2 * ell**2)) * src
        kk = float(k @ k)
        a = float(k @ dst) / kk if kk > 0 else 0.0
        r = dst - a * k
        return float(r @ r), a

    grid = np.geomspace(d_max * 1e-3, d_max * 30, 80)
    costs = [profile(e)[0] for e in grid]
    i = int(np.argmin(costs))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(lambda le: profile(np.exp(le))[0], bounds=(np.log(lo), np.log(hi)), method="bounded")
    ell = float(np.exp(res.x))
    return profile(ell)[1], ell


def _binned(d: np.ndarray, src: np.ndarray, dst: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    idx = np.clip(np.digitize(d, edges) - 1, 0, len(edges) - 2)
    sxy = np.bincount(idx, src * dst, minlength=len(edges) - 1)
    sxx = np.bincount(idx, src * src, minlength=len(edges) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sxx > 0, sxy / sxx, np.nan), sxx


def _ratio(src: np.ndarray, dst: np.ndarray) -> float:
    ss = float(src @ src)
    return float(src @ dst) / ss if ss > 0 else float("nan")


def _per_probe(pairs: pd.DataFrame, probes: pd.DataFrame, lat: str) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per probe: (distances, source Δ repeated, env Δ) of the non-source envs."""
    src_d = probes.set_index("probe")[f"d{lat}_source"]
    out = []
    for k, g in pairs[~pairs["is_source"]].groupby("probe"):
        out.append((g["distance"].to_numpy(float), np.full(len(g), float(src_d[k])), g[f"d{lat}"].to_numpy(float)))
    return out


def analyse(raw: dict[str, Any], cfg: TransferConfig) -> dict[str, Any]:
    """Binned / isotonic / Gaussian kernels per latent and split, bootstrap intervals, learnabilities."""
    from motivlab.theory.homogeneous.model import reward_gradients

    pairs, probes, coords = raw["pairs"], raw["probes"], raw["coords"]
    d_max = float(pairs["distance"].max())
    edges = np.linspace(0.0, d_max * (1 + 1e-9), cfg.bins + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    rng = np.random.default_rng([cfg.seed, 11])
    binned_rows, kernel_rows, curves = [], [], {}
    for lat in LATENT_COLUMNS:
        for split in ("all", "train", "heldout"):
            sel = pairs if split == "all" else pairs[pairs["split"] == split]
            per = _per_probe(sel, probes, lat)
            if not per:
                continue
            d, s, y = (np.concatenate(v) for v in zip(*per, strict=True))
            coef, weight = _binned(d, s, y, edges)
            iso = isotonic_decreasing(coef, weight)
            counts = np.bincount(np.clip(np.digitize(d, edges) - 1, 0, cfg.bins - 1), minlength=cfg.bins)
            boots_b, boots_g = [], []
            for _ in range(cfg.bootstrap):
                pick = rng.integers(len(per), size=len(per))
                bd, bs, by = (np.concatenate([per[i][j] for i in pick]) for j in range(3))
                boots_b.append(_binned(bd, bs, by, edges)[0])
                if split == "all":
                    boots_g.append(gaussian_fit(bd, bs, by, d_max))
            lo, hi = np.nanpercentile(np.array(boots_b), [2.5, 97.5], axis=0)
            for b in range(cfg.bins):
                binned_rows.append({"latent": lat, "split": split, "d_lo": edges[b], "d_hi": edges[b + 1],
                                    "d_mid": centres[b], "n_pairs": int(counts[b]), "transfer": coef[b],
                                    "ci_low": lo[b], "ci_high": hi[b], "isotonic": iso[b]})
            if split == "all":
                a, ell = gaussian_fit(d, s, y, d_max)
                ga = np.array(boots_g)
                (a_lo, a_hi), (l_lo, l_hi) = np.percentile(ga[:, 0], [2.5, 97.5]), np.percentile(ga[:, 1], [2.5, 97.5])
                resid = y - a * np.exp(-d**2 / (2 * ell**2)) * s
                binned_resid = y - np.interp(d, centres, np.nan_to_num(coef)) * s
                kernel_rows.append({"latent": lat, "amplitude": a, "amplitude_ci_low": a_lo, "amplitude_ci_high": a_hi,
                                    "length": ell, "length_ci_low": l_lo, "length_ci_high": l_hi,
                                    "rss_gaussian": float(resid @ resid), "rss_binned": float(binned_resid @ binned_resid),
                                    "source_change_mean": float(probes[f"d{lat}_source"].mean()),
                                    "source_change_sd": float(probes[f"d{lat}_source"].std(ddof=1)) if len(probes) > 1 else np.nan,
                                    "n_probes": len(per), "n_pairs": len(d)})
                curves[lat] = (a, ell)
    # the world's own local transfer: pairs in the same key region vs the rest (any distance)
    regional = {}
    if "same_region" in pairs.columns and pairs.loc[~pairs["is_source"], "same_region"].any():
        for lat in LATENT_COLUMNS:
            regional[lat] = {}
            for name, flag in (("same_region", True), ("other", False)):
                per = _per_probe(pairs[pairs["same_region"] == flag], probes, lat)
                per = [q for q in per if len(q[0])]
                if not per:
                    continue
                coef = [_ratio(*(np.concatenate([per[i][j] for i in pick]) for j in (1, 2)))
                        for pick in (rng.integers(len(per), size=len(per)) for _ in range(cfg.bootstrap))]
                s_all, y_all = (np.concatenate([q[j] for q in per]) for j in (1, 2))
                lo, hi = np.nanpercentile(coef, [2.5, 97.5])
                regional[lat][name] = {"transfer": _ratio(s_all, y_all), "ci": [float(lo), float(hi)],
                                       "n_pairs": len(s_all)}
    kernel = pd.DataFrame(kernel_rows)
    binned = pd.DataFrame(binned_rows)
    # per-env learnabilities of single-env probes: Δ_i / (steps · g_i) at the starting state (per RL step,
    # one env trained with the whole batch: the fit's normalize="mean" units)
    learn = []
    for row in probes[probes["kind"] == "single"].itertuples():
        p, sr, sl = row.p_source_before, row.s_r_source_before, row.s_l_source_before
        g = reward_gradients(*(np.log(v / (1 - v)) for v in (np.clip([p, sr, sl], 1e-6, 1 - 1e-6))))
        learn.append({"env_id": int(row.sources), "p0": p, "sr0": sr, "sl0": sl,
                      **{f"alpha_{lat}": getattr(row, f"d{lat}_source") / (cfg.steps * float(gk)) if abs(float(gk)) > 1e-12
                         else np.nan for lat, gk in zip(LATENT_COLUMNS, g, strict=True)}})
    learn = pd.DataFrame(learn)
    # mean-field coupling over the world's training pairs (what a homogeneous fit needs)
    tr = coords[raw["train_ids"]]
    d2 = np.sum((tr[:, None] - tr[None]) ** 2, axis=-1)[~np.eye(len(tr), dtype=bool)]
    mean_field = {lat: float(np.clip(a * np.mean(np.exp(-d2 / (2 * ell**2))), 0.0, 1.0)) for lat, (a, ell) in curves.items()}
    summary = {
        "what": "transfer kernel of the organism measured by probes: K(d) with Δ_env ≈ K(d) Δ_source (logit space, exact)",
        "kernel": {r["latent"]: {"amplitude": r["amplitude"], "amplitude_ci": [r["amplitude_ci_low"], r["amplitude_ci_high"]],
                                 "length": r["length"], "length_ci": [r["length_ci_low"], r["length_ci_high"]],
                                 "rss_gaussian": r["rss_gaussian"], "rss_binned": r["rss_binned"]}
                   for r in kernel_rows},
        "mean_field_coupling": mean_field,
        "key_region": regional,
        "fit_fixed_lengths": {f"ell_{lat}": v["length"] for lat, v in
                              {r["latent"]: r for r in kernel_rows}.items()},
        "fit_fixed_homogeneous": {f"c_{lat}": v for lat, v in mean_field.items()},
        "usage": "BehaviouralSelectionFit('homogeneous', fixed=summary['fit_fixed_homogeneous']) or "
                 "BehaviouralSelectionFit('lengths', fixed=summary['fit_fixed_lengths']); the Gaussian amplitude is not "
                 "a parameter of the fit's lengths model (it has a = 1)",
        "learnability_median": {f"alpha_{lat}": float(np.nanmedian(learn[f"alpha_{lat}"])) if len(learn) else None
                                for lat in LATENT_COLUMNS},
        "units": "learnabilities per RL step with the whole batch on one env (the fit's normalize='mean' units); "
                 "distances in the world's coordinates u",
        "n_probes": len(probes), "steps_per_probe": cfg.steps, "seconds": raw["seconds"],
        "seconds_per_probe": raw["seconds"] / max(1, len(probes)),
    }
    return {"binned": binned, "kernel": kernel, "learnabilities": learn, "summary": summary, "curves": curves,
            "d_max": d_max}


def plot(raw: dict[str, Any], result: dict[str, Any]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs, probes = raw["pairs"], raw["probes"]
    binned = result["binned"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    grid = np.linspace(0, result["d_max"], 200)
    for ax, lat in zip(axes, LATENT_COLUMNS, strict=True):
        src = probes.set_index("probe")[f"d{lat}_source"]
        other = pairs[~pairs["is_source"]]
        s = src.loc[other["probe"]].to_numpy()
        ratio = np.where(np.abs(s) > 1e-3, other[f"d{lat}"].to_numpy() / np.where(s == 0, 1, s), np.nan)
        ax.scatter(other["distance"], np.clip(ratio, -1.5, 2.5), s=3, alpha=0.15, color="grey", label="pair Δ_env/Δ_source")
        for split, color in (("train", "C0"), ("heldout", "C1")):
            b = binned[(binned.latent == lat) & (binned.split == split)]
            ax.errorbar(b.d_mid, b.transfer, yerr=[b.transfer - b.ci_low, b.ci_high - b.transfer], fmt="o",
                        color=color, capsize=3, label=f"binned ({split}), 95 % CI")
        b = binned[(binned.latent == lat) & (binned.split == "all")]
        ax.step(b.d_mid, b.isotonic, where="mid", color="C2", label="isotonic (all)")
        if lat in result["curves"]:
            a, ell = result["curves"][lat]
            ax.plot(grid, a * np.exp(-grid**2 / (2 * ell**2)), "k-", lw=1.5, label=f"Gaussian a={a:.2g}, ℓ={ell:.2g}")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_ylim(-1.0, 2.0)
        ax.set_title(f"transfer of {NAMES[lat]}")
        ax.set_xlabel("distance to the nearest source env (u)")
    axes[0].set_ylabel("Δ logit at env / Δ logit at source")
    axes[0].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def write_outputs(out: Path, raw: dict[str, Any], result: dict[str, Any], cfg: TransferConfig) -> None:
    from motivlab.io import run_metadata, write_json, write_table
    from motivlab.report import HtmlReport, save_figure

    out.mkdir(parents=True, exist_ok=True)
    for name in ("pairs", "probes", "baseline"):
        write_table(raw[name], out / f"{name}.parquet")
    for name in ("binned", "kernel", "learnabilities"):
        write_table(result[name], out / f"{name}.parquet")
    write_json(out / "summary.json", result["summary"])
    write_json(out / "metadata.json", run_metadata(cfg.seed, cfg.model_dump()) | {"model_dir": raw["model_dir"],
                                                                                 "world": raw["world"]})
    png = save_figure(plot(raw, result), out / "transfer.png")
    s = result["summary"]
    report = HtmlReport("Transfer probes", f"{s['n_probes']} probes × {cfg.steps} GRPO steps, exact measurement on "
                        f"{raw['pairs']['env_id'].nunique()} envs; {s['seconds']:.0f} s")
    report.heading("Transfer vs distance").figure(png, "Δ logit at an env relative to the source's own Δ logit, by "
                                                       "distance to the nearest source. Binned: least-squares "
                                                       "coefficient per bin with bootstrap 95 % intervals over probes.")
    report.heading("Fitted kernel").table(result["kernel"], "Gaussian K(d) = a·exp(−d²/2ℓ²) per latent; rss_binned is "
                                                            "the free-form (binned) fit's residual for comparison")
    report.text("Mean-field coupling over the training pairs: " + ", ".join(
        f"c_{k} = {v:.3g}" for k, v in s["mean_field_coupling"].items()))
    report.heading("Binned transfer").table(result["binned"], "per latent, split and distance bin")
    report.heading("Per-env learnabilities").table(result["learnabilities"], "single-env probes: Δ logit / (steps · "
                                                                             "reward gradient at the start)")
    report.heading("Probes").table(raw["probes"], "one row per probe")
    report.write(out / "report.html")
