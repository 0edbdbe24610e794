#!/usr/bin/env python
"""Convex two-layer ReLU networks: time-to-gap of netmirror.convex_relu, and adelie's convex ReLU group lasso
when a Python with adelie is given.

Problem (sum units, docs/convex_relu.md):
    min 1/2 ||sum_i D_i X (v_i - w_i) - y||^2 + beta sum_i (||v_i|| + ||w_i||),  (2 D_i - I) X v_i, w_i >= 0
over the patterns of each scenario (exact chambers, or sampled directions). For every tolerance the solver
runs from a cold start; the row reports wall time (patterns excluded, best of --repeat), the certified
relative gap gap / (1/2 ||y||^2), the objective and the width of the rebuilt network.

Scenarios:
  toy      N = 12 Gaussian points in d = 2 with a bias, exact patterns (133 chambers), beta = 0.1 and 0.3.
  diab60   scikit-learn's diabetes, first 60 rows, PCA to d = 2, standardised, exact patterns, beta = 2.
  diab     all 442 rows, PCA to d = 2, 4, 8, 2,000 sampled directions, beta = 5.

adelie (its convex ReLU group lasso needs numpy < 2) runs only in another interpreter: pass --adelie-python
PATH (a virtual environment with adelie installed); without it the comparison is skipped and said so.

--sweep: the convergence sweep of docs/convex_relu.md (N = 8, 10, 12; beta = 0.03, 0.1, 0.2; seeds 0-5; exact
patterns, tol 1e-10, at most 30 outer iterations): relative gap and time per fit, and how many reach 1e-9.

Run: python bench/bench_convex_relu.py [--quick] [--repeat 3] [--adelie-python PATH] [--sweep]
"""
from __future__ import annotations

import argparse
import subprocess
import time
import warnings

import numpy as np

import netmirror

TOLS = (1e-4, 1e-6, 1e-8, 1e-10)


def scenarios(quick):
    from sklearn.datasets import load_diabetes
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 2))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.standard_normal(12)
    pats = netmirror.relu_patterns(X)
    for beta in (0.1, 0.3):
        yield f"toy N=12 d=2 beta={beta}", X, y, beta, pats
    Xd, yd = load_diabetes(return_X_y=True)
    Z = PCA(2, random_state=0).fit_transform(Xd[:60])
    Z /= Z.std(axis=0)
    t = (yd[:60] - yd[:60].mean()) / yd[:60].std()
    yield "diabetes N=60 d=2 exact", Z, t, 2.0, netmirror.relu_patterns(Z)
    for d in ((2,) if quick else (2, 4, 8)):
        Z = PCA(d, random_state=0).fit_transform(Xd)
        Z /= Z.std(axis=0)
        t = (yd - yd.mean()) / yd.std()
        yield f"diabetes N=442 d={d} sampled", Z, t, 5.0, netmirror.relu_patterns(Z, samples=2000, seed=0)


def run(X, y, beta, pats, tol, repeat):
    best = None
    for _ in range(repeat):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", netmirror.ConvergenceWarning)
            t0 = time.perf_counter()
            res = netmirror.convex_relu(X, y, beta, patterns=pats, tol=tol, max_iter=100)
            elapsed = time.perf_counter() - t0
        if best is None or elapsed < best[0]:
            best = (elapsed, res)
    return best


def adelie_available(python):
    if not python:
        return False
    try:
        subprocess.run([python, "-c", "import adelie"], check=True, capture_output=True, timeout=60)
        return True
    except (OSError, subprocess.SubprocessError):
        return False


def sweep():
    reached = total = 0
    for seed in range(6):
        for n in (8, 10, 12):
            rng = np.random.default_rng(seed)
            X = rng.standard_normal((n, 2))
            y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.standard_normal(n)
            for beta in (0.03, 0.1, 0.2):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", netmirror.ConvergenceWarning)
                    t0 = time.perf_counter()
                    res = netmirror.convex_relu(X, y, beta, patterns="exact", tol=1e-10, max_iter=30)
                    elapsed = time.perf_counter() - t0
                total += 1
                reached += res.relative_gap <= 1e-9
                print(f"seed {seed} N={n:2d} beta={beta:<5} units {res.network.width:3d} rel gap "
                      f"{res.relative_gap:8.1e} {elapsed:6.2f} s")
    print(f"{reached} of {total} fits reach a relative gap <= 1e-9")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--quick", action="store_true", help="fewer scenarios and tolerances")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--adelie-python", default=None, help="interpreter with adelie installed (numpy < 2)")
    ap.add_argument("--sweep", action="store_true", help="the convergence sweep of docs/convex_relu.md")
    args = ap.parse_args()
    if args.sweep:
        sweep()
        return
    tols = TOLS[:2] if args.quick else TOLS
    print(f"{'scenario':34s} {'patterns':>8s} {'tol':>7s} {'time s':>8s} {'rel gap':>9s} {'objective':>14s} "
          f"{'width':>5s} {'iters':>5s}")
    for name, X, y, beta, pats in scenarios(args.quick):
        for tol in tols:
            elapsed, res = run(X, y, beta, pats, tol, args.repeat)
            flag = "" if res.converged else "  (not reached)"
            print(f"{name:34s} {len(pats):8d} {tol:7.0e} {elapsed:8.3f} {res.relative_gap:9.1e} "
                  f"{res.objective:14.8f} {res.network.width:5d} {res.n_iter:5d}{flag}")
    if adelie_available(args.adelie_python):
        print("adelie: found, but the comparison driver is not written yet (see bench/README.md)")
    else:
        print("adelie: skipped (pass --adelie-python PATH to an interpreter with adelie; it needs numpy < 2)")


if __name__ == "__main__":
    main()
