"""Problem validation and the homogeneous reduction's effective learnabilities."""

from __future__ import annotations

import math

import numpy as np
import pytest

from motivlab.errors import MotivlabInputError
from motivlab.theory import Problem
from motivlab.theory.homogeneous.model import sigmoid


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("alpha_z", -1.0, "alpha_z must be in (0.0, inf)"),
        ("alpha_y", 0.0, "alpha_y"),
        ("p0", 0.0, "p0 must be in (0.0, 1.0)"),
        ("p0", 1.5, "p0"),
        ("sr0", 1.0, "sr0"),
        ("c_x", 1.2, "c_x must be in [0.0, 1.0]"),
        ("c_y", -0.1, "c_y"),
        ("n", 0.5, "n must be in [1.0, inf)"),
        ("kappa", -0.2, "kappa"),
        ("lam", math.nan, "lam must be finite"),
        ("p0", math.inf, "p0 must be finite"),
        ("p0", [0.1, math.nan], "p0 must be finite"),
    ],
)
def test_bad_input_names_parameter_and_range(field: str, value: object, needle: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        Problem(**{field: value})
    assert isinstance(info.value, MotivlabInputError)
    assert needle in str(info.value)


def test_bad_choice_and_shape() -> None:
    with pytest.raises(ValueError, match="normalize must be one of"):
        Problem(normalize="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="do not broadcast"):
        Problem(p0=[0.1, 0.2], n=[1.0, 2.0, 3.0])


def test_effective_alpha_sum_and_mean() -> None:
    pr = Problem(alpha_z=2.0, alpha_x=3.0, alpha_y=0.5, c_z=1.0, c_x=0.5, c_y=0.0, n=11.0)
    np.testing.assert_allclose(pr.effective_alpha(), [2.0 * 11, 3.0 * 6, 0.5])
    mean = pr.replace(normalize="mean")
    np.testing.assert_allclose(mean.effective_alpha(), np.array([22.0, 18.0, 0.5]) / 11)
    # N = 1 is the single environment whatever the couplings
    np.testing.assert_allclose(pr.replace(n=1.0).effective_alpha(), [2.0, 3.0, 0.5])


def test_batch_broadcast_and_flat() -> None:
    pr = Problem(p0=np.array([0.1, 0.01])[:, None], n=np.array([1.0, 10.0, 100.0]))
    assert pr.batch_shape == (2, 3)
    assert pr.effective_alpha().shape == (3, 2, 3)
    flat = pr.flat()
    assert flat.batch_shape == (6,)
    np.testing.assert_allclose(flat.n, [1, 10, 100, 1, 10, 100])


def test_initial_state_reproduces_initial_skills_with_lambda() -> None:
    pr = Problem(p0=0.2, sr0=0.7, sl0=0.3, lam=0.8)
    z, x, y = pr.initial_state()
    assert sigmoid(z) == pytest.approx(0.2)
    assert sigmoid(x + 0.8 * y) == pytest.approx(0.7)
    assert sigmoid(y) == pytest.approx(0.3)


def test_sample_problems_reproducible_and_centred() -> None:
    from motivlab.theory.homogeneous.params import sample_problems

    base = Problem(p0=0.01, n=np.array([1.0, 10.0]))
    a = sample_problems(base, np.random.default_rng(3), 2000, sigma_alpha=(0.5, 0.0, 0.2), sigma_logit=(0.3, 0, 0))
    b = sample_problems(base, np.random.default_rng(3), 2000, sigma_alpha=(0.5, 0.0, 0.2), sigma_logit=(0.3, 0, 0))
    assert a.batch_shape == (2000, 2)
    np.testing.assert_array_equal(a.alpha_z, b.alpha_z)
    assert np.median(a.alpha_z) == pytest.approx(1.0, rel=0.1) and np.all(a.alpha_x == 1.0)
    assert np.median(a.p0) == pytest.approx(0.01, rel=0.1) and np.all(a.sr0 == 0.5)
    same = sample_problems(base, np.random.default_rng(0), 3)
    np.testing.assert_array_equal(same.p0, 0.01)
    with pytest.raises(ValueError, match="sigma_alpha"):
        sample_problems(base, np.random.default_rng(0), 3, sigma_alpha=(-1.0, 0, 0))
