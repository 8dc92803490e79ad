"""How much the critical diversity N* moves with the training horizon (docs/theory.md, "N* is
defined by a stopping rule"): ``critical_diversity_at_horizon`` at T = 1e2 … 1e6 against
``critical_diversity_at_saturation``, for sR0 = 0.5, sL0 = 0.1, α = 1, normalize = "sum".

Run: ``python benchmarks/theory_nstar_horizon.py`` (about 10 s).
"""

import numpy as np

from motivlab.theory import Problem, critical_diversity_at_horizon, critical_diversity_at_saturation

P0 = np.array([0.1, 0.01, 0.001])
CASES = {"c=(1,1,0)": ((1, 1, 0), 0.0), "c=(1,1,0.01)": ((1, 1, 0.01), 0.0), "kappa=0.1": ((1, 1, 0), 0.1)}

if __name__ == "__main__":
    for name, (c, kappa) in CASES.items():
        c = np.asarray(c, float)
        sat = critical_diversity_at_saturation(Problem(p0=P0, sr0=0.5, sl0=0.1, c_z=c[0], c_x=c[1], c_y=c[2],
                                                       kappa=kappa)).n_star
        print(f"{name:14s} saturation   N* = {np.round(sat, 3)}")
        for horizon in (1e2, 1e3, 1e4, 1e5, 1e6):
            ns = critical_diversity_at_horizon(P0, np.ones(3), c, (0.0, np.log(0.1 / 0.9)), horizon, kappa=kappa)
            with np.errstate(invalid="ignore"):
                rel = np.round(100 * (ns / sat - 1), 1)
            print(f"{name:14s} T = {horizon:8.0e} N* = {np.round(ns, 3)}  vs saturation {rel} %")
