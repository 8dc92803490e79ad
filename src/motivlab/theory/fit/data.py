"""Observed trajectories ``p_i(t), sR_i(t), sL_i(t)`` for the fitter, and the loaders that make them.

A :class:`Trajectories` is a wide, validated view of a run: ``T`` observation times (RL steps)
by ``N`` environments, NaN wherever an entry was not observed (a route with no rollouts in that
step leaves ``s_r``/``s_l`` NaN; an env not evaluated in a step leaves everything NaN). It is
the fitter's input and the output of :meth:`BehaviouralSelectionFit.predict`.

Two file formats are read by :func:`load_trajectories`:

* a run directory (or its ``metrics.parquet``) from ``motivlab train``: one row per
  ``(step, env_id)``; overall rows (``env_id = -1``) are ignored; by default the exact
  (teacher-forced) measurement is used wherever it exists and the sampled one elsewhere
  (sampled proportions get the ``(k + ½)/(n + 1)`` correction when ``n_rollouts`` is known);
  envs whose ``split`` is ``"train"`` are marked as *trained* (they send gradient through the
  transfer matrix), the others only receive transfer; ``"trap"`` envs are left out by default;
* a tidy CSV/Parquet with columns ``t, env_id, p, s_r, s_l`` and optional env coordinates
  ``u0, u1, …`` (constant per env) and an optional boolean ``trained`` column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from motivlab.errors import MotivlabInputError, check_choice

__all__ = ["QUANTITIES", "Trajectories", "load_trajectories", "run_training_set", "run_world"]

QUANTITIES = ("p", "s_r", "s_l")  # propensity, reward-seeking skill, local skill
Source = Literal["auto", "exact", "sampled"]
_COORD = re.compile(r"^u(\d+)$")


@dataclass(frozen=True)
class Trajectories:
    """``T`` times × ``N`` envs of observed ``p``, ``s_r``, ``s_l`` (NaN = not observed).

    Fields: ``times`` (T,) strictly increasing, in RL steps; ``p``, ``s_r``, ``s_l`` (T, N) in
    [0, 1] or NaN; ``env_ids`` (N,) distinct ints; ``coords`` (N, d) env coordinates or None;
    ``trained`` (N,) bool, True for envs that are trained on (default: all).

    The run's training set may be larger than the trained envs in the table (a run measures 32
    of its 200 training envs exactly): ``n_train`` is the size of the whole training set
    (default: the trained envs present), ``unobserved_coords`` the coordinates of the trained
    envs that are *not* in the table (``(n_train - trained.sum(), d)``; needed by
    ``coupling="lengths"`` when ``n_train`` exceeds the observed ones). The fit's transfer sum
    runs over all ``n_train`` envs; an unobserved env's gradient is taken to be the mean over
    the observed trained envs (mean field). ``variance`` (3, T, N), optional: each entry's
    sampling variance *in logit space* (0 for exact, teacher-forced measurements; the binomial
    variance of the empirical logit for sampled ones), used to weight the residuals.
    """

    times: np.ndarray
    p: np.ndarray
    s_r: np.ndarray
    s_l: np.ndarray
    env_ids: np.ndarray | None = None
    coords: np.ndarray | None = None
    trained: np.ndarray | None = None
    n_train: int | None = None
    unobserved_coords: np.ndarray | None = None
    variance: np.ndarray | None = None

    def __post_init__(self) -> None:
        times = np.asarray(self.times, dtype=float)
        if times.ndim != 1 or times.size < 1:
            raise MotivlabInputError(f"times must be a non-empty 1-D array, got shape {times.shape}")
        if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
            raise MotivlabInputError("times must be finite and strictly increasing")
        shape = None
        for name in QUANTITIES:
            a = np.asarray(getattr(self, name), dtype=float)
            if a.ndim == 1:
                a = a[:, None]
            if a.ndim != 2 or a.shape[0] != times.size:
                raise MotivlabInputError(f"{name} must have shape (T, N) with T = {times.size} times, got {a.shape}")
            if shape is not None and a.shape != shape:
                raise MotivlabInputError(f"{name} has shape {a.shape} but p has shape {shape}")
            shape = a.shape
            bad = np.isfinite(a) & ((a < 0) | (a > 1)) | np.isinf(a)
            if bad.any():
                raise MotivlabInputError(f"{name} values must be in [0, 1] (or NaN = missing), got {a[bad][:3].tolist()}")
            object.__setattr__(self, name, a)
        n = shape[1]
        env_ids = np.arange(n) if self.env_ids is None else np.asarray(self.env_ids)
        if env_ids.shape != (n,) or len(np.unique(env_ids)) != n:
            raise MotivlabInputError(f"env_ids must be {n} distinct values, got shape {env_ids.shape}")
        trained = np.ones(n, dtype=bool) if self.trained is None else np.asarray(self.trained, dtype=bool)
        if trained.shape != (n,) or not trained.any():
            raise MotivlabInputError(f"trained must be {n} booleans with at least one True")
        coords = self.coords
        if coords is not None:
            coords = np.asarray(coords, dtype=float)
            coords = coords[:, None] if coords.ndim == 1 else coords
            if coords.ndim != 2 or coords.shape[0] != n or not np.all(np.isfinite(coords)):
                raise MotivlabInputError(f"coords must be a finite (N={n}, d) array, got shape {coords.shape}")
        n_obs_trained = int(trained.sum())
        n_train = n_obs_trained if self.n_train is None else int(self.n_train)
        if n_train < n_obs_trained:
            raise MotivlabInputError(f"n_train ({n_train}) is smaller than the {n_obs_trained} trained envs in the table")
        unobs = self.unobserved_coords
        if unobs is not None:
            unobs = np.asarray(unobs, dtype=float).reshape(-1, coords.shape[1] if coords is not None else 1)
            if unobs.shape[0] != n_train - n_obs_trained or not np.all(np.isfinite(unobs)):
                raise MotivlabInputError(f"unobserved_coords must hold the {n_train - n_obs_trained} trained envs "
                                         f"missing from the table, got shape {unobs.shape}")
        variance = self.variance
        if variance is not None:
            variance = np.asarray(variance, dtype=float)
            if variance.shape != (3, times.size, n) or np.any(variance[np.isfinite(variance)] < 0):
                raise MotivlabInputError(f"variance must be a non-negative (3, {times.size}, {n}) array, "
                                         f"got shape {variance.shape}")
        object.__setattr__(self, "n_train", n_train)
        object.__setattr__(self, "unobserved_coords", unobs)
        object.__setattr__(self, "variance", variance)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "env_ids", env_ids)
        object.__setattr__(self, "trained", trained)
        object.__setattr__(self, "coords", coords)

    @property
    def n_envs(self) -> int:
        return self.p.shape[1]

    @property
    def n_times(self) -> int:
        return self.times.size

    def stacked(self) -> np.ndarray:
        """``(3, T, N)``: p, s_r, s_l in that order."""
        return np.stack([self.p, self.s_r, self.s_l])

    @property
    def n_unobserved_train(self) -> int:
        """Trained envs of the run that are not in the table (their gradient enters by mean field)."""
        return int(self.n_train - self.trained.sum())

    def replace(self, **changes: object) -> Trajectories:
        """A copy with some fields changed (validated again)."""
        fields = {k: getattr(self, k) for k in ("times", "p", "s_r", "s_l", "env_ids", "coords", "trained",
                                                "n_train", "unobserved_coords", "variance")}
        fields.update(changes)
        return Trajectories(**fields)

    def n_observed(self) -> int:
        return int(np.isfinite(self.stacked()).sum())

    def to_frame(self) -> pd.DataFrame:
        """Tidy table ``t, env_id, p, s_r, s_l`` (+ ``trained``, ``u0…``), the loader's own format."""
        t_idx, e_idx = np.meshgrid(np.arange(self.n_times), np.arange(self.n_envs), indexing="ij")
        df = pd.DataFrame({"t": self.times[t_idx.ravel()], "env_id": self.env_ids[e_idx.ravel()]})
        for name in QUANTITIES:
            df[name] = getattr(self, name).ravel()
        if self.variance is not None:
            for k, name in enumerate(QUANTITIES):
                df[f"var_{name}"] = self.variance[k].ravel()
        df["trained"] = self.trained[e_idx.ravel()]
        if self.coords is not None:
            for k in range(self.coords.shape[1]):
                df[f"u{k}"] = self.coords[e_idx.ravel(), k]
        return df

    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, time_col: str = "t") -> Trajectories:
        """Pivot a tidy table (one row per time and env) into a :class:`Trajectories`."""
        missing = [c for c in (time_col, "env_id", *QUANTITIES) if c not in df.columns]
        if missing:
            raise MotivlabInputError(f"trajectory table is missing column(s) {missing}; has {list(df.columns)}")
        dup = df.duplicated([time_col, "env_id"])
        if dup.any():
            row = df.loc[dup, [time_col, "env_id"]].iloc[0].tolist()
            raise MotivlabInputError(f"trajectory table has duplicate ({time_col}, env_id) rows, e.g. {row}")
        times = np.sort(df[time_col].unique().astype(float))
        env_ids = np.sort(df["env_id"].unique())
        wide = {q: df.pivot(index=time_col, columns="env_id", values=q).reindex(index=times, columns=env_ids)
                for q in QUANTITIES}
        per_env = df.groupby("env_id").first().reindex(env_ids)
        coord_cols = sorted((c for c in df.columns if _COORD.match(str(c))), key=lambda c: int(c[1:]))
        coords = per_env[coord_cols].to_numpy(float) if coord_cols else None
        if coord_cols and (df.groupby("env_id")[coord_cols].nunique() > 1).any().any():
            raise MotivlabInputError(f"coordinate columns {coord_cols} must be constant within each env_id")
        trained = per_env["trained"].to_numpy(bool) if "trained" in df.columns else None
        variance = None
        if all(f"var_{q}" in df.columns for q in QUANTITIES):
            variance = np.stack([df.pivot(index=time_col, columns="env_id", values=f"var_{q}")
                                 .reindex(index=times, columns=env_ids).to_numpy(float) for q in QUANTITIES])
        return cls(times, *(wide[q].to_numpy(float) for q in QUANTITIES),
                   env_ids=env_ids, coords=coords, trained=trained, variance=variance)


def _smoothed_sampled(df: pd.DataFrame) -> tuple[dict[str, pd.Series], dict[str, pd.Series]]:
    """Sampled proportions with the Haldane–Anscombe correction ``(k + ½) / (n + 1)``, and the
    variance of their logit, ``1/(k + ½) + 1/(n − k + ½)`` (Gart's estimate; the delta method
    ``1/(n p (1 − p))`` with the same correction).

    Why: with 8 rollouts a measured ``p = 0`` would otherwise sit at the clip (logit -6.9) and
    dominate a least-squares fit in logit space. Counts: ``n_reward_seeking + n_local`` for
    ``p``, ``n_reward_seeking`` for ``s_r``, ``n_local`` for ``s_l`` (if those columns are absent,
    ``n_rollouts`` split by ``p``). Without any count column the raw values are returned.
    """
    nan = pd.Series(np.nan, index=df.index)
    raw = {q: (df[q].astype(float) if q in df.columns else nan) for q in QUANTITIES}
    if "n_rollouts" not in df.columns and "n_local" not in df.columns:
        return raw, {q: nan for q in QUANTITIES}
    if {"n_reward_seeking", "n_local"} <= set(df.columns):  # exact counts (unclassified rollouts excluded)
        n_r, n_l = df["n_reward_seeking"].astype(float), df["n_local"].astype(float)
    else:
        n = df["n_rollouts"].astype(float)
        n_r, n_l = n * raw["p"], n * (1.0 - raw["p"])
    counts = {"p": n_r + n_l, "s_r": n_r, "s_l": n_l}
    hits = {q: raw[q] * counts[q] for q in QUANTITIES}
    smoothed = {q: (hits[q] + 0.5) / (counts[q] + 1.0) for q in QUANTITIES}
    var = {q: 1.0 / (hits[q] + 0.5) + 1.0 / (counts[q] - hits[q] + 0.5) for q in QUANTITIES}
    return smoothed, {q: var[q].where(smoothed[q].notna()) for q in QUANTITIES}


def _metrics_to_tidy(df: pd.DataFrame, source: Source) -> pd.DataFrame:
    """Run-directory ``metrics.parquet`` → tidy ``t, env_id, p, s_r, s_l, trained``."""
    need = ["step", "env_id"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise MotivlabInputError(f"metrics table is missing column(s) {missing}")
    df = df[df["env_id"] >= 0]
    if df.empty:
        raise MotivlabInputError("metrics table has no per-environment rows (env_id >= 0)")
    out = pd.DataFrame({"t": df["step"].astype(float), "env_id": df["env_id"].astype(int)})
    smoothed, sampled_var = _smoothed_sampled(df)
    for q in QUANTITIES:
        exact = df[f"{q}_exact"] if f"{q}_exact" in df.columns else pd.Series(np.nan, index=df.index)
        sampled = smoothed[q]
        pick = {"auto": exact.fillna(sampled), "exact": exact, "sampled": sampled}[source]
        out[q] = pick.astype(float)
        # exact (teacher-forced) values carry no sampling noise: variance 0
        exact_var = exact.notna().astype(float).where(exact.notna()) * 0.0
        var = {"auto": exact_var.fillna(sampled_var[q]), "exact": exact_var, "sampled": sampled_var[q]}[source]
        out[f"var_{q}"] = var.astype(float)
    if out[list(QUANTITIES)].notna().sum().sum() == 0:
        raise MotivlabInputError(f"metrics table has no {source} measurements of p, s_r or s_l")
    if "split" in df.columns and (df["split"] == "train").any():
        out["trained"] = (df["split"] == "train").to_numpy()
    # Steps where no env was measured at all carry no information; drop them.
    keep = out.groupby("t")[list(QUANTITIES)].transform(lambda s: s.notna().any()).any(axis=1)
    return out[keep]


def run_world(run_dir: str | Path) -> object | None:
    """The world a run directory trained on: the organism's own world (``organism.json`` copied
    into the run's checkpoints) when ``world.source = "auto"``, else the configured hint world;
    ``None`` without a ``config.toml`` or with another world."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.toml"
    if not config_path.exists():
        return None
    from motivlab.io import read_toml
    from motivlab.worlds import HintWorld, HintWorldConfig

    world_cfg = read_toml(config_path).get("world", {})
    if world_cfg.get("source", "auto") == "auto":
        organism = sorted(run_dir.glob("checkpoints/*/organism.json"))
        if organism:
            from motivlab.models.organism import load_organism_world

            return load_organism_world(organism[-1].parent)
    if world_cfg.get("source") == "hint" and "hint" in world_cfg:
        return HintWorld(HintWorldConfig(**world_cfg["hint"]))
    return None


def run_training_set(run_dir: str | Path) -> tuple[np.ndarray, np.ndarray | None] | None:
    """``(train_env_ids, coordinates of every env of the world)`` of a run directory, rebuilt from
    its ``config.toml`` exactly as the trainer drew it (``world.n_train_envs`` envs of the train
    split, by seed); ``None`` when the world cannot be rebuilt.

    Why: the fit's transfer sum must run over the run's training set, not over the trained envs
    that happen to be measured in the table (32 of 200 in a default run)."""
    world = run_world(run_dir)
    if world is None:
        return None
    from motivlab.io import read_toml
    from motivlab.rl.trainer import training_envs

    cfg = read_toml(Path(run_dir) / "config.toml")
    ids = training_envs(world, cfg.get("world", {}).get("n_train_envs"), int(cfg.get("seed", 0)))
    coords = getattr(world, "coordinates", None)
    return np.asarray(ids, dtype=int), None if coords is None else np.asarray(coords, dtype=float)


def load_trajectories(
    path: str | Path,
    *,
    source: Source = "auto",
    splits: list[str] | None = None,
    coordinates: bool = True,
) -> Trajectories:
    """Read trajectories from a run directory, its ``metrics.parquet``, or a tidy CSV/Parquet table.

    ``source`` (run metrics only): ``"auto"`` takes the exact measurement where present and the
    sampled one elsewhere, ``"exact"``/``"sampled"`` use only one kind. ``splits`` keeps only
    rows whose ``split`` is listed (default: every split except ``"trap"``, whose lying grader
    note breaks the model's assumption that reward-seeking skill transfers). ``coordinates``: for
    a run directory on the hint world, attach each env's coordinate ``u_e`` (rebuilt from the
    run's ``config.toml``), which ``coupling="lengths"`` needs.
    """
    check_choice("source", source, ("auto", "exact", "sampled"))
    path = Path(path)
    run_dir = path if path.is_dir() else path.parent if path.name == "metrics.parquet" else None
    if path.is_dir():
        path = path / "metrics.parquet"
    if not path.exists():
        raise FileNotFoundError(f"no trajectory file at {path} (expected a run directory, .parquet or .csv)")
    readers = {".parquet": pd.read_parquet, ".csv": pd.read_csv}
    suffix = check_choice("trajectory file suffix", path.suffix.lower(), readers)
    df = readers[suffix](path)
    if splits is not None:
        if "split" not in df.columns:
            raise MotivlabInputError("splits was given but the table has no 'split' column")
        df = df[df["split"].isin(splits)]
        if df.empty:
            raise MotivlabInputError(f"no rows with split in {splits}")
    elif "split" in df.columns and (df["split"] != "trap").any():
        # Trap envs (the grader note lies) follow different physics: sR cannot transfer there.
        df = df[df["split"] != "trap"]
    if "step" in df.columns and "t" not in df.columns:
        df = _metrics_to_tidy(df, source)
    data = Trajectories.from_frame(df)
    training = run_training_set(run_dir) if run_dir is not None else None
    if training is not None:
        train_ids, all_coords = training
        trained = np.isin(data.env_ids, train_ids)
        if not trained.any():
            raise MotivlabInputError(f"{run_dir}: none of the table's envs is in the run's training set")
        if all_coords is not None and int(data.env_ids.max()) >= len(all_coords):
            raise MotivlabInputError(f"{run_dir}: env ids up to {int(data.env_ids.max())} outside the world's "
                                     f"{len(all_coords)} envs; the config does not describe this run's world")
        coords = all_coords[data.env_ids] if (coordinates and all_coords is not None) else data.coords
        missing = np.setdiff1d(train_ids, data.env_ids)
        unobs = all_coords[missing] if (coords is not None and all_coords is not None) else None
        data = data.replace(coords=coords, trained=trained, n_train=len(train_ids), unobserved_coords=unobs)
    return data
