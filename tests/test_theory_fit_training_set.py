"""The fit takes the run's training set (N, coordinates) from the run, not from the envs in the table,
and weights exact and sampled entries by their variance (issue 14, part 0).

Synthetic runs with 200 trained envs of which only 32 are in the table (a default run measures
32 training envs exactly): the transfer sum must count all 200 or α comes out ~N/n times too big.
"""

import numpy as np
import pytest
from scipy.special import logit

from motivlab.errors import MotivlabInputError
from motivlab.theory.fit.data import Trajectories
from motivlab.theory.fit.estimator import BehaviouralSelectionFit
from motivlab.theory.fit.forward import simulate_trajectories

ALPHA = np.array([2e-4, 1.5e-4, 1e-3])  # per RL step
C = np.array([0.5, 0.7, 0.05])
N, SEEN = 200, 32


def _run(seed: int, *, lengths: bool = False):
    rng = np.random.default_rng(seed)
    times = np.arange(16) * 4.0
    lat0 = np.stack([rng.normal(logit(0.1), 0.5, N), rng.normal(logit(0.4), 0.5, N), rng.normal(logit(0.2), 0.5, N)])
    coords = rng.uniform(0, 1, (N, 2))
    kw = {"lengths": np.array([0.4, 0.6, 0.05]), "coords": coords} if lengths else {"couplings": C}
    full = simulate_trajectories(times, ALPHA, lat0, rng=rng, noise=0.0, **kw)
    seen = np.sort(rng.choice(N, SEEN, replace=False))
    return full, seen, coords, rng


def _observed(full, seen, coords, *, told: bool, lengths: bool = False):
    unseen = np.setdiff1d(np.arange(N), seen)
    return Trajectories(full.times, full.p[:, seen], full.s_r[:, seen], full.s_l[:, seen], env_ids=seen,
                        coords=coords[seen] if lengths else None,
                        n_train=N if told else None,
                        unobserved_coords=coords[unseen] if (told and lengths) else None)


def test_alpha_right_with_32_of_200_trained_envs_observed():
    full, seen, coords, _ = _run(0)
    fixed = {f"c_{k}": float(c) for k, c in zip("zxy", C, strict=True)}
    right = BehaviouralSelectionFit("homogeneous", fixed=fixed).fit(_observed(full, seen, coords, told=True))
    wrong = BehaviouralSelectionFit("homogeneous", fixed=fixed).fit(_observed(full, seen, coords, told=False))
    assert right.success_
    for k, name in enumerate("zx"):
        assert right.params_[f"alpha_{name}"] == pytest.approx(ALPHA[k], rel=0.1)
    # counting only the 32 envs in the table inflates the learnabilities of transferring latents ~N/n-fold
    assert wrong.params_["alpha_z"] / ALPHA[0] > 3.0


def test_lengths_fit_uses_unobserved_training_envs():
    full, seen, coords, _ = _run(1, lengths=True)
    data = _observed(full, seen, coords, told=True, lengths=True)
    fit = BehaviouralSelectionFit("lengths", fixed={"ell_y": 0.05, "alpha_y": float(ALPHA[2])}).fit(data)
    assert fit.params_["alpha_z"] == pytest.approx(ALPHA[0], rel=0.25)
    assert fit.params_["ell_z"] == pytest.approx(0.4, rel=0.25)
    with pytest.raises(MotivlabInputError, match="unobserved"):
        Trajectories(full.times, full.p[:, seen], full.s_r[:, seen], full.s_l[:, seen], env_ids=seen,
                     coords=coords[seen], n_train=N, unobserved_coords=coords[:3])


def test_sampled_entries_weighted_by_binomial_variance():
    """Exact entries (noise-free) of 8 envs and sampled entries (8 rollouts) of 24 others: the
    variance-weighted fit recovers α_z much better than equal weights (in logit space a sampled
    0/8 sits at logit 1/17 ≈ −2.8 with variance ≈ 2.1, an exact 0.02 at −3.9 with none)."""
    rng = np.random.default_rng(3)
    n = 32
    times = np.arange(21) * 3.0
    lat0 = np.stack([rng.normal(logit(0.1), 0.5, n), rng.normal(logit(0.5), 0.5, n), rng.normal(logit(0.2), 0.5, n)])
    alpha = np.array([3e-3, 2e-3, 4e-3])
    truth = simulate_trajectories(times, alpha, lat0, couplings=C, n_steps=4000)
    stacked = truth.stacked()  # (3, T, N)
    exact = np.arange(n) < 8
    k = rng.binomial(8, stacked)
    sampled = (k + 0.5) / 9.0
    var = 1.0 / (k + 0.5) + 1.0 / (8 - k + 0.5)
    obs = np.where(exact, stacked, sampled)
    variance = np.where(exact, 0.0, var)
    data = Trajectories(times, *obs, variance=variance)
    fixed = {f"c_{k}": float(c) for k, c in zip("zxy", C, strict=True)}
    weighted = BehaviouralSelectionFit("homogeneous", fixed=fixed).fit(data)
    flat = BehaviouralSelectionFit("homogeneous", fixed=fixed, weighting="none").fit(data)
    err_w = abs(np.log(weighted.params_["alpha_z"] / alpha[0]))
    err_f = abs(np.log(flat.params_["alpha_z"] / alpha[0]))
    assert err_w < 0.25  # measured 0.12 (the sampled envs' initial conditions feed the transfer sum)
    assert err_f > 3 * err_w  # measured 1.1 with equal weights
    assert weighted.noise_floor_ < 0.1  # exact entries are noise-free here: the floor is small
    assert weighted.residual_rms_exact_ < weighted.residual_rms_sampled_


def test_group_advantage_scaling_amplifies_tiny_gaps_near_full_reward():
    """GRPO's per-group std scaling (mean field): the expected rate is the gradient-flow one times
    (1 − R^G − (1−R)^G)/√(R(1−R)): 1.41 at R ≈ 0.96 (most groups are all-correct), at most ≈ 2 (R = ½)
    for G = 8. In expectation it cannot turn a 0.003 gap into a large drift; its effect is on the noise."""
    from motivlab.theory.fit.forward import gradients

    state = np.array([[logit(0.25)], [logit(0.963)], [logit(0.960)]])  # (3, 1): z, x, y
    plain = gradients(state)
    scaled = gradients(state, advantage_scale="group", group_size=8)
    r = 0.25 * 0.963 + 0.75 * 0.960
    factor = (1 - r**8 - (1 - r) ** 8) / np.sqrt(r * (1 - r))
    np.testing.assert_allclose(scaled, plain * factor)
    assert 1.3 < factor < 1.5
    half = np.array([[0.0], [0.5], [-0.5]])  # R = 0.5 exactly
    assert (gradients(half, advantage_scale="group") / gradients(half))[0, 0] == pytest.approx((1 - 2 * 0.5**8) / 0.5)
    mid = np.array([[0.0], [0.0], [0.0]])
    assert gradients(mid, advantage_scale="group")[0, 0] == pytest.approx(0.0)  # no gap, no rate


def test_identifiability_is_scale_invariant():
    """A parameter with a huge Jacobian column (a coupling at its bound on the demo run, norm 31,000)
    must not make the well-determined ones look unidentified; a truly collinear pair still is."""
    from motivlab.theory.fit.problem import jacobian_covariance

    rng = np.random.default_rng(0)
    jac = rng.normal(size=(500, 4))
    jac[:, 0] *= 1e6
    cov, ident = jacobian_covariance(jac, 1.0)
    assert ident.all()
    np.testing.assert_allclose(cov, np.linalg.inv(jac.T @ jac), rtol=1e-6)
    jac[:, 3] = 2.0 * jac[:, 2]  # α and c trading off exactly
    _, ident = jacobian_covariance(jac, 1.0)
    np.testing.assert_array_equal(ident, [True, True, False, False])
