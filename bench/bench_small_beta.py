"""Time to a certified gap at small beta and at beta = 0 (ReLU depth-3 library, N = 200), against HiGHS on the
beta -> 0 limit (the basis pursuit LP, scipy.optimize.linprog(method="highs")), measured in one run.

    python bench/bench_small_beta.py [--n 200] [--seed 0] [--old]

--old also times the coordinate-descent solver alone at beta = 1e-6 (minutes: the cliff this replaces).
"""
import argparse
import time
import warnings

import netmirror as nm
import numpy as np
from netmirror import _core
from scipy.optimize import linprog


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--old", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    x = np.sort(rng.uniform(-1, 1, args.n))
    y = np.sin(3 * x) + 0.3 * rng.standard_normal(args.n)
    A = np.asfortranarray(nm.library(x, "relu", 3).matrix())
    p0 = 0.5 * np.sum((y - y.mean()) ** 2)
    print(f"ReLU depth 3, N = {args.n}: {A.shape[1]:,} features")
    rows = []
    for f in (0.0, 1e-12, 1e-9, 1e-6, 1e-3):
        t = time.perf_counter()
        r = nm.lasso(A, y, f * p0)
        el = time.perf_counter() - t
        rows.append((f, el, r.relative_gap, np.count_nonzero(r.coef), r.converged))
        print(f"netmirror beta = {f:g} * P(0): {el:.3f} s, relative gap {r.relative_gap:.1e}, "
              f"{np.count_nonzero(r.coef)} nonzeros, converged {r.converged}")
    Ac = A - A.mean(0)
    m = A.shape[1]
    t = time.perf_counter()
    res = linprog(np.ones(2 * m), A_eq=np.hstack([Ac, -Ac]), b_eq=y - y.mean(), bounds=(0, None), method="highs")
    t_highs = time.perf_counter() - t
    print(f"HiGHS basis pursuit LP: {t_highs:.3f} s, l1 {res.fun:.10g}; netmirror beta = 0: {rows[0][1]:.3f} s "
          f"-> ratio {t_highs / rows[0][1]:.1f}x")
    if args.old:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            out = _core.lasso_solve(A, y, 1e-6 * p0, True, 1e-10, 500, None, None, False)
            print(f"coordinate descent alone at 1e-6: {time.perf_counter() - t:.1f} s, relative gap "
                  f"{out['relative_gap']:.1e}")


if __name__ == "__main__":
    main()
