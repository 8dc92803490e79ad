"""Parameter vector of the fitter: names, unconstrained transforms, fixing, batched unpacking.

The optimiser sees one unconstrained vector ``θ``; the model sees learnabilities, couplings or
transfer lengths, and initial logits. Blocks, in order:

==================  ===========================  ==========================  =================
block               size                          θ is                         natural value
==================  ===========================  ==========================  =================
``alpha_k``         1 (shared) or N per k         ``log α``  (per RL step)    ``exp θ``
``c_k``             1 per k (homogeneous)         ``c`` itself, boxed         ``θ`` ∈ [0, 1]
``ell_k``           1 per k (lengths)             ``log ℓ``                    ``exp θ``
``init_k``          N (per env) or 1 (shared)     initial logit z0, x0, y0    ``σ(θ)``
==================  ===========================  ==========================  =================

``k`` runs over z, x, y (reported as p, s_r, s_l for the initial conditions). Entries can be
*fixed*: then they stay at their given value and are not fitted (their stderr is 0). Fixed
entries come from the user (``fixed={"c_y": 0.0}``) or from the data (the initial skill of an
env whose route was never observed is not identifiable; it is pinned to the cross-env median).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from motivlab.errors import MotivlabInputError, check_range

__all__ = ["LATENTS", "Layout"]

LATENTS = ("z", "x", "y")
INIT_NAMES = ("p_init", "s_r_init", "s_l_init")
_TO_NATURAL = {"log": np.exp, "logit": expit, "unit": lambda t: np.clip(t, 0.0, 1.0)}
_BOUNDS = {"log": (-np.inf, np.inf), "logit": (-np.inf, np.inf), "unit": (0.0, 1.0)}


@dataclass
class Layout:
    """Where each parameter lives in the full vector, which are free, and how to unpack a batch."""

    names: list[str]  # full vector, e.g. "alpha_z", "c_x", "s_l_init"
    env_ids: list[object]  # env id per entry (None for shared entries)
    transforms: list[str]  # "log" | "logit" | "unit" (identity on [0, 1])
    free: np.ndarray  # (P_full,) bool
    default: np.ndarray  # (P_full,) θ values used for fixed entries (and as a start)
    n_envs: int
    per_env_alpha: bool
    per_env_init: bool
    coupling: str  # "homogeneous" | "lengths" | "none"

    @classmethod
    def build(cls, env_ids: np.ndarray, *, coupling: str, per_env_alpha: bool, per_env_init: bool) -> Layout:
        names: list[str] = []
        ids: list[object] = []
        transforms: list[str] = []
        n = len(env_ids)

        def add(name: str, per_env: bool, transform: str) -> None:
            for e in (env_ids if per_env else [None]):
                names.append(name)
                ids.append(None if e is None else e.item() if hasattr(e, "item") else e)
                transforms.append(transform)

        for k in LATENTS:
            add(f"alpha_{k}", per_env_alpha, "log")
        coupling_block = {"homogeneous": ("c", "unit"), "lengths": ("ell", "log"), "none": None}[coupling]
        if coupling_block is not None:
            for k in LATENTS:
                add(f"{coupling_block[0]}_{k}", False, coupling_block[1])
        for name in INIT_NAMES:
            add(name, per_env_init, "logit")
        size = len(names)
        return cls(names, ids, transforms, np.ones(size, bool), np.zeros(size), n,
                   per_env_alpha, per_env_init, coupling)

    # -- fixing -----------------------------------------------------------------------------

    def scalar_names(self) -> list[str]:
        """Names that ``fixed=`` accepts: global (not per-env) learnabilities and couplings."""
        return [n for n, e in zip(self.names, self.env_ids, strict=True) if e is None and not n.endswith("_init")]

    def fix(self, name: str, natural_value: float) -> None:
        allowed = self.scalar_names()
        if name not in allowed:
            raise MotivlabInputError(f"fixed: cannot fix {name!r}; fixable parameters here are {allowed}")
        i = self.names.index(name)
        if self.transforms[i] == "unit":
            theta = check_range(f"fixed[{name}]", natural_value, low=0.0, high=1.0)
        else:
            theta = float(np.log(check_range(f"fixed[{name}]", natural_value, low=0.0, low_inclusive=False)))
        self.free[i] = False
        self.default[i] = theta

    def fix_index(self, i: int, theta: float) -> None:
        self.free[i] = False
        self.default[i] = theta

    def block(self, name: str) -> np.ndarray:
        """Indices of the entries named ``name`` in the full vector."""
        return np.flatnonzero(np.asarray(self.names) == name)

    # -- batched unpacking -----------------------------------------------------------------

    @property
    def n_free(self) -> int:
        return int(self.free.sum())

    def full(self, theta_free: np.ndarray) -> np.ndarray:
        """(B, P_free) → (B, P_full) with fixed entries filled in."""
        theta_free = np.atleast_2d(theta_free)
        out = np.tile(self.default, (theta_free.shape[0], 1))
        out[:, self.free] = theta_free
        return out

    def unpack(self, theta_free: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """(B, P_free) → ``alpha`` (B, 3, N), coupling params (B, 3) natural or None, latents0 (B, 3, N)."""
        th = self.full(theta_free)
        b, n = th.shape[0], self.n_envs
        alpha = np.exp(np.stack([th[:, self.block(f"alpha_{k}")] for k in LATENTS], axis=1))
        alpha = np.broadcast_to(alpha, (b, 3, n))
        coupling = None
        if self.coupling != "none":
            prefix = "c" if self.coupling == "homogeneous" else "ell"
            raw = np.concatenate([th[:, self.block(f"{prefix}_{k}")] for k in LATENTS], axis=1)
            coupling = raw if prefix == "c" else np.exp(raw)
        lat0 = np.stack([th[:, self.block(name)] for name in INIT_NAMES], axis=1)
        return alpha, coupling, np.broadcast_to(lat0, (b, 3, n)).copy()

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Box constraints (lower, upper) on the free parameters: couplings live in [0, 1]."""
        free_t = [t for t, f in zip(self.transforms, self.free, strict=True) if f]
        return np.array([_BOUNDS[t][0] for t in free_t]), np.array([_BOUNDS[t][1] for t in free_t])

    def natural(self, theta_full: np.ndarray) -> np.ndarray:
        """Full θ (P_full,) → natural values (α, c, ℓ, probabilities)."""
        out = np.empty_like(theta_full, dtype=float)
        with np.errstate(over="ignore"):  # an unidentified parameter's interval may end at inf
            for t, f in _TO_NATURAL.items():
                sel = np.asarray(self.transforms) == t
                out[sel] = f(theta_full[sel])
        return out
