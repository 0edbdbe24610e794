#!/usr/bin/env python
"""The exact 2-D dual oracle of abs nets under weight decay, and the column generation built on it.

(a) One oracle call, sup over every unit direction and every 1-D abs type of depth L of |θᵀ f(Xu)|:
      netmirror   _core.plane_dual_sup_2d (cpp/include/netmirror/continuous_planes.hpp, all cores)
      reference   netmirror.reference.plane_dual_sup_2d (the NumPy arc scan, vectorised over arcs)
    on random standard-normal data and a random zero-mean θ; best of --repeat runs each; ratio = reference
    time / netmirror time; the two values are checked to agree to 1e-12.
(b) netmirror.continuous_lasso_2d(X, y, beta, depth=L) at beta = 0.01 and 0.1 beta_max: time, generated units,
    certified gap, and the library's excess P_lib / P_exact − 1.

Run: python bench/bench_continuous_planes.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import netmirror
from netmirror import reference
from netmirror._planes import dual_sup_2d

from bench_matrix_free import best_time  # bench/ is on sys.path when run as a script


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print("(a) one oracle call: netmirror (C++) vs the NumPy reference")
    print(f"{'L':>2} {'n':>3} {'types':>7} {'netmirror':>10} {'reference':>10} {'ratio':>7}")
    for depth, n in ((2, 40), (3, 10), (3, 20), (4, 6), (4, 10)):
        rng = np.random.default_rng(n + depth)
        X = rng.standard_normal((n, 2))
        theta = rng.standard_normal(n)
        theta -= theta.mean()
        t_c, c = best_time(lambda: dual_sup_2d(X, theta, depth), args.repeat)
        t_r, r = best_time(lambda: reference.plane_dual_sup_2d(X, theta, depth), args.repeat)
        assert abs(c[0] - r[0]) <= 1e-12 * max(1.0, abs(r[0])), (c[0], r[0])
        types = n ** (depth - 1) * {2: 1, 3: 2, 4: 12}[depth]
        print(f"{depth:>2} {n:>3} {types:>7} {t_c * 1e3:>8.2f}ms {t_r * 1e3:>8.1f}ms {t_r / t_c:>7.1f}")
    print("\n(b) continuous_lasso_2d: exact weight-decay optimum over all directions")
    print(f"{'L':>2} {'n':>3} {'beta/beta_max':>13} {'time':>7} {'units':>5} {'gap':>8} {'P_lib/P_exact-1':>15}")
    warnings.simplefilter("ignore")
    for depth, n in ((2, 40), (3, 20), (4, 7)):
        rng = np.random.default_rng(0)
        X, y = rng.standard_normal((n, 2)), rng.standard_normal(n)
        A = netmirror.library(X, "abs", depth).matrix()
        for frac in (0.01, 0.1):
            beta = frac * netmirror.beta_max(A, y)
            t0 = time.perf_counter()
            res = netmirror.continuous_lasso_2d(X, y, beta, depth=depth)
            dt = time.perf_counter() - t0
            print(f"{depth:>2} {n:>3} {frac:>13g} {dt:>6.2f}s {len(res.types):>5} {res.gap:>8.1e} "
                  f"{res.library_objective / res.lower_bound - 1:>15.2e}")


if __name__ == "__main__":
    main()
