"""Transfer probes (issue 14, part 2): kernel estimators on synthetic data, and a tiny real run."""

import json

import numpy as np
import pandas as pd
import pytest

from motivlab.errors import MotivlabInputError
from motivlab.experiments.transfer import TransferConfig, probe_sources, run_transfer
from motivlab.experiments.transfer_kernel import gaussian_fit, isotonic_decreasing


def test_gaussian_fit_recovers_a_known_kernel():
    rng = np.random.default_rng(0)
    d = rng.uniform(0, 1.2, 4000)
    src = rng.normal(1.0, 0.3, 4000)
    dst = 0.7 * np.exp(-d**2 / (2 * 0.25**2)) * src + rng.normal(0, 0.05, 4000)
    a, ell = gaussian_fit(d, src, dst, 1.2)
    assert a == pytest.approx(0.7, rel=0.05)
    assert ell == pytest.approx(0.25, rel=0.05)


def test_isotonic_is_non_increasing_and_pools_violators():
    fit = isotonic_decreasing(np.array([1.0, 0.5, 0.7, 0.2, np.nan, 0.3]), np.ones(6))
    np.testing.assert_allclose(fit[:4], [1.0, 0.6, 0.6, 0.25])
    assert np.isnan(fit[4]) and fit[5] == pytest.approx(0.25)


def test_sources_spread_and_clusters_are_neighbours():
    coords = np.random.default_rng(1).uniform(0, 1, (50, 2))
    cfg = TransferConfig(single=5, clusters=2, cluster_size=3)
    srcs = probe_sources(coords, np.arange(40), cfg)
    assert [len(s) for s in srcs] == [1] * 5 + [3] * 2
    singles = coords[[s[0] for s in srcs[:5]]]
    gaps = np.sqrt(((singles[:, None] - singles[None]) ** 2).sum(-1))[~np.eye(5, dtype=bool)]
    assert gaps.min() > 0.2  # farthest-point choice: no two single sources close together
    assert all(s.max() < 40 for s in srcs)  # training envs only


@pytest.mark.slow
def test_transfer_probes_on_the_quick_organism(tmp_path, organism_quick_dir, one_torch_thread):
    cfg = TransferConfig(quick=True, single=2, clusters=1, cluster_size=2, steps=1, bootstrap=20, bins=4)
    summary = run_transfer(cfg, tmp_path / "t", progress=False)
    assert set(summary["kernel"]) == {"z", "x", "y"}
    assert "same_region" in pd.read_parquet(tmp_path / "t" / "pairs.parquet").columns
    pairs = pd.read_parquet(tmp_path / "t" / "pairs.parquet")
    probes = pd.read_parquet(tmp_path / "t" / "probes.parquet")
    binned = pd.read_parquet(tmp_path / "t" / "binned.parquet")
    assert len(probes) == 3 and pairs["probe"].nunique() == 3
    assert set(pairs["split"]) == {"train", "heldout"}
    # the binned transfer is the least-squares coefficient Σ Δsrc Δenv / Σ Δsrc² of its bin (recomputed here)
    row = binned[(binned.latent == "y") & (binned.split == "all")].iloc[0]
    other = pairs[~pairs.is_source & (pairs.distance >= row.d_lo) & (pairs.distance < row.d_hi)]
    s = probes.set_index("probe").loc[other.probe, "dy_source"].to_numpy()
    assert row.transfer == pytest.approx(float(s @ other.dy.to_numpy() / (s @ s)))
    # source Δ is the exact change at the source env(s)
    src_rows = pairs[pairs.is_source & (pairs.probe == 0)]
    assert probes.loc[0, "dz_source"] == pytest.approx(src_rows["dz"].mean())
    on_disk = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert set(on_disk["fit_fixed_homogeneous"]) == {"c_z", "c_x", "c_y"}
    assert all(0.0 <= v <= 1.0 for v in on_disk["fit_fixed_homogeneous"].values())
    for name in ("report.html", "transfer.png", "kernel.parquet", "learnabilities.parquet", "metadata.json"):
        assert (tmp_path / "t" / name).is_file()
    with pytest.raises(MotivlabInputError, match="already there"):
        run_transfer(cfg, tmp_path / "t", progress=False)


def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path):
    from typer.testing import CliRunner

    from motivlab.cli import app

    for args, needle in ((["--steps", "0"], "steps"), (["--scale-rewards", "bogus"], "scale_rewards")):
        res = CliRunner().invoke(app, ["experiment", "transfer", "--out", str(tmp_path / "t"), *args])
        assert res.exit_code == 2 and needle in res.output, res.output
        assert not (tmp_path / "t").exists()
