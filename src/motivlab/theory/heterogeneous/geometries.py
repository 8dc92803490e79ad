"""Where environments live: named generators of latent coordinates ``u_i ∈ R^d``.

In the heterogeneous behavioural-selection model (``docs/theory.md``) transfer between
two environments decays with the distance between their coordinates,
``C_ij = exp(-|u_i - u_j|² / (2 ℓ²))``. The *geometry* of the environment distribution therefore
decides how many neighbours an environment has within a transfer length, and so how fast
diversity turns into transfer. Four geometries are offered:

``uniform``    uniform in the unit cube ``[0, 1]^d`` (no structure at all);
``gaussian``   isotropic Gaussian, per-axis s.d. ``1/√12`` (same spread as the cube, denser core);
``clustered``  Gaussian mixture: 8 centres uniform in the cube, per-axis s.d. 0.05 around them
               (environments come in families: tasks of one kind transfer among themselves);
``manifold``   a smooth closed curve (intrinsic dimension 1) with random Fourier coefficients,
               embedded in ``R^d`` and rescaled to the cube's spread (diversity along one
               hidden axis only).

All raw generators have per-axis spread comparable to the unit cube, so one ``scale`` factor
(multiplying every coordinate) is the only knob; the calibration in
:mod:`motivlab.theory.heterogeneous.calibration` tunes it. Points are i.i.d. given the geometry's own random
parameters (cluster centres, curve coefficients), so the first ``n`` of ``n_max`` points are a
valid sample of ``n`` points: the diversity sweep uses nested prefixes, i.e. environments are
*added* to a fixed domain.

Usage::

    rng = np.random.default_rng(0)
    u = sample_coordinates("clustered", 500, 2, rng=rng)                # (500, 2)
    U = sample_coordinates("manifold", 500, 3, rng=rng, resamples=32)   # (32, 500, 3)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import numpy as np

from motivlab.errors import MotivlabInputError, check_range

__all__ = ["GEOMETRIES", "Geometry", "sample_coordinates"]

Geometry = Literal["uniform", "gaussian", "clustered", "manifold"]

_CUBE_SD = 1.0 / np.sqrt(12.0)  # per-axis s.d. of U[0, 1]
N_CLUSTERS = 8
CLUSTER_SD = 0.05
MANIFOLD_HARMONICS = 4


def _uniform(rng: np.random.Generator, r: int, n: int, d: int) -> np.ndarray:
    """Uniform in ``[0, 1]^d``: ``(r, n, d)``."""
    return rng.random((r, n, d))


def _gaussian(rng: np.random.Generator, r: int, n: int, d: int) -> np.ndarray:
    """Isotropic Gaussian centred in the cube with the cube's per-axis s.d.: ``(r, n, d)``."""
    return 0.5 + _CUBE_SD * rng.standard_normal((r, n, d))


def _clustered(rng: np.random.Generator, r: int, n: int, d: int) -> np.ndarray:
    """Equal-weight mixture of ``N_CLUSTERS`` tight Gaussians, centres uniform in the cube."""
    centres = rng.random((r, N_CLUSTERS, d))  # one set of families per resample
    which = rng.integers(0, N_CLUSTERS, size=(r, n))
    picked = np.take_along_axis(centres, which[..., None], axis=1)  # (r, n, d)
    return picked + CLUSTER_SD * rng.standard_normal((r, n, d))


def _manifold(rng: np.random.Generator, r: int, n: int, d: int) -> np.ndarray:
    """A random smooth closed curve in ``R^d``: ``u(t) = Σ_m a_m cos(2π m t) + b_m sin(2π m t)``.

    Coefficients decay as ``1/m`` (a smooth, non-self-similar curve); each axis is then rescaled
    so that its s.d. over the curve matches the cube's, so the scale knob means the same thing
    as for the other geometries. The curve is fixed per resample, ``t ~ U[0, 1)`` per point.
    """
    m = np.arange(1, MANIFOLD_HARMONICS + 1)  # (M,)
    coef = rng.standard_normal((r, 2, MANIFOLD_HARMONICS, d)) / m[None, None, :, None]
    t = rng.random((r, n))
    phase = 2.0 * np.pi * t[..., None] * m  # (r, n, M)
    u = np.einsum("rnm,rmd->rnd", np.cos(phase), coef[:, 0]) + np.einsum(
        "rnm,rmd->rnd", np.sin(phase), coef[:, 1]
    )
    # Exact s.d. of the curve per axis (orthogonality of the harmonics over t ∈ [0, 1)).
    sd = np.sqrt(0.5 * (coef**2).sum(axis=(1, 2)))  # (r, d)
    return 0.5 + _CUBE_SD * u / sd[:, None, :]


GEOMETRIES: dict[str, Callable[[np.random.Generator, int, int, int], np.ndarray]] = {
    "uniform": _uniform,
    "gaussian": _gaussian,
    "clustered": _clustered,
    "manifold": _manifold,
}
assert set(GEOMETRIES) == set(get_args(Geometry))


def check_geometry(geometry: str) -> str:
    """Return ``geometry`` or raise an error listing the allowed names."""
    if geometry not in GEOMETRIES:
        raise MotivlabInputError(f"geometry must be one of {sorted(GEOMETRIES)}, got {geometry!r}")
    return geometry


def sample_coordinates(
    geometry: Geometry,
    n: int,
    d: int = 2,
    *,
    scale: float = 1.0,
    rng: np.random.Generator,
    resamples: int | None = None,
) -> np.ndarray:
    """Draw environment coordinates: ``(n, d)``, or ``(resamples, n, d)`` when batched.

    ``scale`` multiplies every coordinate (a larger domain = fewer neighbours within a transfer
    length). The same ``rng`` state gives the same coordinates; a resample dimension draws
    independent geometry parameters (cluster centres, curves) per resample.
    """
    check_geometry(geometry)
    if int(n) != n or n < 1:
        raise MotivlabInputError(f"n (number of environments) must be an integer >= 1, got {n!r}")
    if int(d) != d or d < 1:
        raise MotivlabInputError(f"d (coordinate dimension) must be an integer >= 1, got {d!r}")
    if geometry == "manifold" and d < 2:
        raise MotivlabInputError(f"d must be >= 2 for the 'manifold' geometry (a curve in R^d), got {d!r}")
    scale = check_range("scale", scale, low=0.0, low_inclusive=False)
    r = 1 if resamples is None else int(resamples)
    if r < 1 or (r != resamples and resamples is not None):
        raise MotivlabInputError(f"resamples must be an integer >= 1, got {resamples!r}")
    u = scale * GEOMETRIES[geometry](rng, r, int(n), int(d))
    return u[0] if resamples is None else u
