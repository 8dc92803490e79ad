"""Loading trajectories from a run directory's metrics.parquet and from tidy tables."""

import numpy as np
import pandas as pd
import pytest

from motivlab.errors import MotivlabInputError
from motivlab.theory.fit.data import load_trajectories


def _metrics() -> pd.DataFrame:
    rows = []
    for step in (0, 10, 20):
        rows.append({"step": step, "env_id": -1, "split": "all", "p": 0.9, "s_r": 0.9, "s_l": 0.9})  # overall
        for env, split in ((0, "train"), (1, "train"), (2, "heldout")):
            exact = step != 10  # exact measurement only every other eval
            rows.append({
                "step": step, "env_id": env, "split": split, "n_rollouts": 8,
                "p": 0.25, "s_r": np.nan if env == 1 else 0.5, "s_l": 0.125,
                "p_exact": 0.2 + 0.01 * env if exact else np.nan,
                "s_r_exact": 0.55 if exact else np.nan, "s_l_exact": 0.1 if exact else np.nan,
            })
    return pd.DataFrame(rows)


def test_run_directory_prefers_exact_and_ignores_overall(tmp_path):
    _metrics().to_parquet(tmp_path / "metrics.parquet")
    data = load_trajectories(tmp_path)
    assert list(data.env_ids) == [0, 1, 2]
    np.testing.assert_array_equal(data.times, [0, 10, 20])
    np.testing.assert_allclose(data.p[:, 0], [0.2, 2.5 / 9, 0.2])  # exact, sampled (k+½)/(n+1) where exact is missing
    assert np.isnan(data.s_r[1, 1])  # sampled s_r NaN (no reward-seeking rollouts) stays missing
    assert data.s_r[0, 1] == 0.55
    np.testing.assert_array_equal(data.trained, [True, True, False])
    sampled = load_trajectories(tmp_path / "metrics.parquet", source="sampled")
    np.testing.assert_allclose(sampled.p, 2.5 / 9)
    np.testing.assert_allclose(sampled.s_l[:, 0], (0.125 * 6 + 0.5) / 7)  # 6 local rollouts of 8
    heldout = load_trajectories(tmp_path, splits=["heldout"])
    assert list(heldout.env_ids) == [2]


def test_tidy_csv_with_coordinates(tmp_path):
    df = pd.DataFrame({"t": [0, 0, 5, 5], "env_id": [7, 3, 7, 3], "p": [0.1, 0.2, 0.15, 0.3],
                       "s_r": [0.5, np.nan, 0.6, 0.7], "s_l": [0.2, 0.2, 0.25, 0.3],
                       "u0": [1.0, 2.0, 1.0, 2.0], "u1": [0.0, 1.0, 0.0, 1.0]})
    df.to_csv(tmp_path / "traj.csv", index=False)
    data = load_trajectories(tmp_path / "traj.csv")
    assert list(data.env_ids) == [3, 7]
    np.testing.assert_array_equal(data.coords, [[2.0, 1.0], [1.0, 0.0]])
    assert np.isnan(data.s_r[0, 0]) and data.s_r[1, 0] == 0.7


def test_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no trajectory file"):
        load_trajectories(tmp_path)
    pd.DataFrame({"t": [0], "env_id": [0], "p": [0.1]}).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(MotivlabInputError, match="missing column"):
        load_trajectories(tmp_path / "a.csv")
    pd.DataFrame({"t": [0, 0], "env_id": [0, 0], "p": [0.1] * 2, "s_r": [0.1] * 2, "s_l": [0.1] * 2}).to_csv(
        tmp_path / "b.csv", index=False)
    with pytest.raises(MotivlabInputError, match="duplicate"):
        load_trajectories(tmp_path / "b.csv")
    pd.DataFrame({"t": [0, 1], "env_id": [0, 0], "p": [0.1, 1.2], "s_r": [0.1] * 2, "s_l": [0.1] * 2}).to_csv(
        tmp_path / "c.csv", index=False)
    with pytest.raises(MotivlabInputError, match=r"p values must be in \[0, 1\]"):
        load_trajectories(tmp_path / "c.csv")
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(MotivlabInputError, match="suffix"):
        load_trajectories(tmp_path / "d.txt")
    with pytest.raises(MotivlabInputError, match="source"):
        load_trajectories(tmp_path / "c.csv", source="best")


def test_route_counts_smoothing_and_trap_exclusion(tmp_path):
    df = pd.DataFrame({
        "step": [0, 0, 5, 5], "env_id": [0, 1, 0, 1], "split": ["train", "trap", "train", "trap"],
        "n_rollouts": [8] * 4, "n_reward_seeking": [0, 1, 2, 1], "n_local": [4, 3, 2, 3],  # 4 unclassified
        "p": [0.0, 0.25, 0.5, 0.25], "s_r": [np.nan, 1.0, 0.5, 1.0], "s_l": [0.25, 0.0, 1.0, 0.0],
    })
    df.to_parquet(tmp_path / "metrics.parquet")
    data = load_trajectories(tmp_path)
    assert list(data.env_ids) == [0]  # trap envs left out by default
    np.testing.assert_allclose(data.p[:, 0], [0.5 / 5, 2.5 / 5])  # (k + ½)/(n + 1) over classified rollouts
    np.testing.assert_allclose(data.s_l[:, 0], [1.5 / 5, 2.5 / 3])
    assert np.isnan(data.s_r[0, 0])
    with_trap = load_trajectories(tmp_path, splits=["train", "trap"])
    assert list(with_trap.env_ids) == [0, 1] and list(with_trap.trained) == [True, False]


def test_run_directory_on_hint_world_gets_coordinates(tmp_path):
    from motivlab.io import write_toml
    from motivlab.worlds import HintWorld, HintWorldConfig

    hint = {"n_envs": 60, "n_heldout": 5, "n_trap": 5, "seed": 3}
    write_toml(tmp_path / "config.toml", {"world": {"source": "hint", "hint": hint}})
    df = _metrics()
    df.loc[df.env_id >= 0, "env_id"] += 40  # env ids 40, 41, 42
    df.to_parquet(tmp_path / "metrics.parquet")
    data = load_trajectories(tmp_path)
    np.testing.assert_array_equal(data.coords, HintWorld(HintWorldConfig(**hint)).coordinates[[40, 41, 42]])
    assert load_trajectories(tmp_path, coordinates=False).coords is None
