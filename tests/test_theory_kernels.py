"""Geometries and coupling operators of the heterogeneous model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from motivlab.theory.heterogeneous.geometries import GEOMETRIES, sample_coordinates
from motivlab.theory.heterogeneous.kernels import (
    ConstantCoupling,
    DenseCoupling,
    IdentityCoupling,
    RFFCoupling,
    dense_gaussian_kernel,
    gaussian_coupling,
)

# ---------------------------------------------------------------------------------------------
# geometries


@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
def test_geometry_is_deterministic_by_seed(geometry):
    a = sample_coordinates(geometry, 50, 3, rng=np.random.default_rng(7), resamples=4)
    b = sample_coordinates(geometry, 50, 3, rng=np.random.default_rng(7), resamples=4)
    c = sample_coordinates(geometry, 50, 3, rng=np.random.default_rng(8), resamples=4)
    assert a.shape == (4, 50, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@settings(max_examples=25, deadline=None)
@given(
    geometry=st.sampled_from(sorted(GEOMETRIES)),
    n=st.integers(1, 40),
    d=st.integers(2, 5),
    scale=st.floats(0.01, 100.0),
    seed=st.integers(0, 2**31),
)
def test_geometry_shape_finite_and_scale_is_linear(geometry, n, d, scale, seed):
    u1 = sample_coordinates(geometry, n, d, rng=np.random.default_rng(seed))
    us = sample_coordinates(geometry, n, d, scale=scale, rng=np.random.default_rng(seed))
    assert u1.shape == (n, d) and np.isfinite(u1).all()
    np.testing.assert_allclose(us, scale * u1, rtol=1e-12)


def test_geometries_have_comparable_spread_and_differ_in_structure():
    rng = np.random.default_rng(0)
    sds = {g: sample_coordinates(g, 4000, 2, rng=rng).std(axis=0).mean() for g in GEOMETRIES}
    for g, sd in sds.items():  # all near the unit cube's 0.289, so one scale knob means the same
        assert 0.15 < sd < 0.45, (g, sd)
    # clustered points have much closer nearest neighbours than uniform ones at the same spread
    def nn(u):
        d2 = ((u[:, None] - u[None]) ** 2).sum(-1) + np.eye(len(u)) * 1e9
        return np.sqrt(d2.min(1)).mean()

    assert nn(sample_coordinates("clustered", 400, 2, rng=rng)) < 0.6 * nn(sample_coordinates("uniform", 400, 2, rng=rng))


def test_unknown_geometry_lists_allowed_names():
    with pytest.raises(ValueError, match=r"geometry.*clustered.*gaussian.*manifold.*uniform"):
        sample_coordinates("torus", 10, 2, rng=np.random.default_rng(0))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"n": 0}, "n"), ({"d": 0}, "d"), ({"scale": 0.0}, "scale"), ({"scale": float("nan")}, "scale"),
     ({"resamples": 0}, "resamples"), ({"geometry": "manifold", "d": 1}, "d")],
)
def test_geometry_bad_input_names_parameter(kwargs, name):
    args = {"geometry": "uniform", "n": 10, "d": 2} | kwargs
    with pytest.raises(ValueError, match=name):
        sample_coordinates(args.pop("geometry"), args.pop("n"), args.pop("d"), rng=np.random.default_rng(0), **args)


# ---------------------------------------------------------------------------------------------
# couplings


def _coords(n=300, r=2, seed=0):
    return sample_coordinates("uniform", n, 2, rng=np.random.default_rng(seed), resamples=r)


def test_dense_kernel_is_symmetric_with_unit_diagonal():
    c = dense_gaussian_kernel(_coords(60), 0.2)
    assert c.shape == (2, 60, 60)
    np.testing.assert_allclose(c, c.transpose(0, 2, 1), atol=1e-7)
    np.testing.assert_array_equal(np.diagonal(c, axis1=1, axis2=2), 1.0)
    assert (c > 0).all() and (c <= 1).all()


def test_rff_converges_to_dense_as_features_grow():
    u = _coords(300)
    v = np.random.default_rng(1).random((2, 300, 3))
    exact = DenseCoupling(dense_gaussian_kernel(u, 0.2)).matvec(v)
    errs = []
    for n_features in (64, 256, 1024, 4096):
        e = []
        for seed in range(3):
            op = gaussian_coupling(u, 0.2, method="rff", n_features=n_features, rng=np.random.default_rng(seed))
            e.append(np.linalg.norm(op.matvec(v) - exact) / np.linalg.norm(exact))
        errs.append(np.mean(e))
    assert all(b < a for a, b in itertools.pairwise(errs)), errs
    assert errs[-1] < errs[0] / 4, errs  # Monte Carlo rate 1/√D predicts a factor 8 over 64 → 4096
    assert errs[-1] < 0.05, errs


def test_rff_keeps_the_diagonal_exact():
    u = _coords(100, r=1)
    op = gaussian_coupling(u, 0.3, method="rff", n_features=32, rng=np.random.default_rng(0))
    assert isinstance(op, RFFCoupling)
    v = np.zeros((1, 100, 1))
    v[0, 17, 0] = 1.0  # C e_17: column 17, whose diagonal entry must be exactly 1
    np.testing.assert_allclose(op.matvec(v)[0, 17, 0], 1.0, rtol=1e-6)


def test_auto_switches_from_dense_to_rff():
    u = _coords(50)
    assert isinstance(gaussian_coupling(u, 0.2, dense_max=50), DenseCoupling)
    assert isinstance(gaussian_coupling(u, 0.2, dense_max=49, rng=np.random.default_rng(0)), RFFCoupling)
    assert isinstance(gaussian_coupling(u, None), IdentityCoupling)


def test_constant_coupling_matches_explicit_matrix():
    c = 0.3
    v = np.random.default_rng(2).random((2, 7, 4))
    mat = np.full((7, 7), c) + (1 - c) * np.eye(7)
    np.testing.assert_allclose(ConstantCoupling(c).matvec(v), mat @ v)


def test_take_keeps_selected_resamples():
    u = _coords(40, r=3)
    v = np.random.default_rng(3).random((3, 40, 2))
    for op in (gaussian_coupling(u, 0.2), gaussian_coupling(u, 0.2, method="rff", rng=np.random.default_rng(0))):
        keep = np.array([True, False, True])
        np.testing.assert_allclose(op.take(keep).matvec(v[keep]), op.matvec(v)[keep], rtol=1e-6)


@pytest.mark.parametrize("ell", [0.0, -1.0, float("nan")])
def test_bad_transfer_length_is_named(ell):
    with pytest.raises(ValueError, match="ell"):
        gaussian_coupling(_coords(10), ell)


def test_nan_coordinates_rejected():
    u = _coords(10)
    u[0, 3, 1] = np.nan
    with pytest.raises(ValueError, match="coordinates"):
        dense_gaussian_kernel(u, 0.2)
