#!/usr/bin/env python
"""Convex two-layer ReLU networks: time to certified gap of netmirror.convex_relu, against adelie's convex ReLU
group lasso (run in its own environment) and against netmirror's block CD alone (the solver without its
interior-point stage).

Problem (sum units, docs/convex_relu.md):
    min 1/2 ||sum_i D_i X (v_i - w_i) - y||^2 + beta sum_i (||v_i|| + ||w_i||),  (2 D_i - I) X v_i, w_i >= 0
over the patterns of each scenario (exact chambers, or sampled directions). Every fit is a cold start, timed
without the pattern enumeration; the relative gap is gap / (1/2 ||y||^2) of netmirror's certificate (for adelie's
solution too, after projecting it onto the cones it was meant to satisfy).

Scenarios:
  toy      N = 12 Gaussian points in d = 2 with a bias, exact patterns (133 chambers), beta = 0.03, 0.1, 0.3.
  diab60   scikit-learn's diabetes, first 60 rows, PCA to d = 2, standardised, exact patterns, beta = 2.
  diab     all 442 rows, PCA to d = 2, 4, 8, 2,000 sampled directions, beta = 5.

adelie (it needs numpy < 2) runs in another interpreter through bench/adelie_convex_relu.py: --adelie makes (once)
a virtual environment at bench/.venv-adelie with numpy < 2 and adelie from PyPI; --adelie-python PATH uses an
existing one. For each tolerance (adelie's `tol`, netmirror's relative gap tolerance) the table gives both
times and gaps and the ratio adelie time / netmirror time; the summary gives the time each needs to reach a
relative gap of 1e-6 (the first tolerance that gets there).

--sweep: the convergence sweep of docs/convex_relu.md (N = 8, 10, 12 Gaussian points in d = 2; beta = 0.03, 0.1,
0.2; seeds 0-5; exact patterns, tol 1e-10, at most 30 outer iterations), netmirror against block CD alone
(`max_barrier=0`): gap and time per fit, how many reach 1e-9, and the total time ratio. --sweep-large: the
same on N = 20, 30 (d = 2) and N = 10, 14 (d = 3), three seeds, beta = 0.03, 0.1 (block CD alone takes up to
~80 s a fit there: about 15 minutes in all).

Run: python bench/bench_convex_relu.py [--quick] [--repeat 3] [--adelie | --adelie-python PATH] [--sweep]
"""
from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

import netmirror
from netmirror import _core

TOLS = (1e-4, 1e-6, 1e-8, 1e-10)
HERE = pathlib.Path(__file__).resolve().parent
ADELIE_VENV = HERE / ".venv-adelie"


def scenarios(quick):
    from sklearn.datasets import load_diabetes
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 2))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.standard_normal(12)
    pats = netmirror.relu_patterns(X)
    for beta in (0.03, 0.1, 0.3):
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


def design(X):
    return np.hstack([X, np.ones((X.shape[0], 1))])


def run(X, y, beta, pats, tol, repeat, max_barrier=3, max_iter=100):
    """Best of `repeat` cold starts of the C++ solver: (seconds, output dict)."""
    Xa = design(X)
    pats = np.ascontiguousarray(pats, dtype=bool)
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = _core.convex_relu_solve(Xa, y, pats, beta, tol, max_iter, False, None, max_barrier)
        elapsed = time.perf_counter() - t0
        if best is None or elapsed < best[0]:
            best = (elapsed, out)
    return best


def certify(X, y, beta, pats, coef):
    """netmirror's certificate of a (2P, k) solution, projected onto the cones first: (objective, rel gap)."""
    if not np.isfinite(coef).all():
        return np.nan, np.nan
    out = _core.convex_relu_solve(design(X), y, np.ascontiguousarray(pats, dtype=bool), beta, 0.0, 0, False,
                                  np.ascontiguousarray(coef), 0)
    return out["objective"], out["relative_gap"]


def adelie_python(args):
    """Interpreter with adelie, or None (with the reason printed)."""
    if args.adelie_python:
        python = args.adelie_python
    elif args.adelie:
        python = str(ADELIE_VENV / "bin" / "python")
        if not os.path.exists(python):
            print(f"adelie: creating {ADELIE_VENV} (numpy < 2, adelie from PyPI)", flush=True)
            try:
                subprocess.run([sys.executable, "-m", "venv", str(ADELIE_VENV)], check=True)
                subprocess.run([python, "-m", "pip", "install", "-q", "numpy<2", "adelie", "scipy"], check=True)
            except (OSError, subprocess.SubprocessError) as exc:
                print(f"adelie: could not build its environment ({exc}); comparison skipped")
                return None
    else:
        print("adelie: skipped (pass --adelie to build its environment, or --adelie-python PATH; it needs numpy < 2)")
        return None
    try:
        subprocess.run([python, "-c", "import adelie"], check=True, capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        print(f"adelie: {python} cannot import adelie; comparison skipped")
        return None
    return python


def run_adelie(python, X, y, beta, pats, tols):
    """adelie's fits for each tolerance: (times, coefs (T, 2P, k), pinball tolerances used)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        np.savez(src, X=design(X), y=y, patterns=np.asarray(pats, dtype=bool), beta=beta, tols=np.array(tols))
        proc = subprocess.run([python, str(HERE / "adelie_convex_relu.py"), src, dst], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"adelie driver failed: {proc.stderr[-500:]}")
        out = np.load(dst)
        return out["times"], out["coefs"], out["pinball_tol"]


def first_reaching(times, gaps, target):
    for t, g in zip(times, gaps):
        if np.isfinite(g) and g <= target:
            return t
    return None


def compare(args):
    tols = TOLS[:2] if args.quick else TOLS
    python = adelie_python(args)
    print(f"{'scenario':32s} {'patterns':>8s} {'tol':>7s} | {'netmirror s':>11s} {'rel gap':>9s} {'width':>5s} | "
          f"{'adelie s':>9s} {'rel gap':>9s} {'pinball':>7s} | {'adelie/ours':>11s}")
    summary = []
    for name, X, y, beta, pats in scenarios(args.quick):
        ours = []
        for tol in tols:
            elapsed, out = run(X, y, beta, pats, tol, args.repeat)
            width = int((np.linalg.norm(out["V"], axis=1) > 0).sum() + (np.linalg.norm(out["W"], axis=1) > 0).sum())
            ours.append((elapsed, out["relative_gap"], width))
        if python:
            a_times, a_coefs, a_inner = run_adelie(python, X, y, beta, pats, tols)
            a_gaps = [certify(X, y, beta, pats, c)[1] for c in a_coefs]
        else:
            a_times = a_gaps = a_inner = [np.nan] * len(tols)
        for tol, (t, g, w), at, ag, ai in zip(tols, ours, a_times, a_gaps, a_inner):
            ratio = f"{at / t:11.1f}" if np.isfinite(at) else f"{'-':>11s}"
            if not python:
                adelie = f"{'not run':>27s}"
            elif np.isfinite(ag):
                adelie = f"{at:9.3f} {ag:9.1e} {ai:7.0e}"
            else:
                adelie = f"{at:9.3f} {'failed':>9s} {'-':>7s}"
            print(f"{name:32s} {len(pats):8d} {tol:7.0e} | {t:11.3f} {g:9.1e} {w:5d} | {adelie} | {ratio}", flush=True)
        t_ours = first_reaching([o[0] for o in ours], [o[1] for o in ours], 1e-6)
        t_ad = first_reaching(a_times, a_gaps, 1e-6) if python else None
        finite = [g for g in a_gaps if np.isfinite(g)]
        summary.append((name, t_ours, t_ad, min(finite) if finite else np.nan, max(a_times) if python else np.nan))
    if python:
        print("\ntime to a relative gap of 1e-6 (first tolerance that reaches it); adelie time / netmirror time "
              "(not reached: a lower bound, its longest fit)")
        for name, t_ours, t_ad, best, longest in summary:
            if t_ad is None:
                what = f"best {best:.1e}" if np.isfinite(best) else "no solution at any tolerance"
                print(f"  {name:32s} netmirror {t_ours:7.3f} s   adelie not reached ({what}; longest fit "
                      f"{longest:.2f} s)   ratio > {longest / t_ours:.1f}")
            else:
                print(f"  {name:32s} netmirror {t_ours:7.3f} s   adelie {t_ad:7.3f} s   ratio {t_ad / t_ours:7.1f}")


def sweep_problems(large):
    if not large:
        for seed in range(6):
            for n in (8, 10, 12):
                for beta in (0.03, 0.1, 0.2):
                    yield seed, n, 2, beta
    else:
        for n, d in ((20, 2), (30, 2), (10, 3), (14, 3)):
            for seed in range(3):
                for beta in (0.03, 0.1):
                    yield seed, n, d, beta


def sweep(large):
    reached = {0: 0, 3: 0}
    total_time = {0: 0.0, 3: 0.0}
    count = 0
    print(f"{'fit':32s} | {'netmirror':>20s} | {'block CD alone':>20s}")
    for seed, n, d, beta in sweep_problems(large):
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n, d))
        y = np.sin(2 * X[:, 0]) + 0.5 * X[:, -1] + 0.1 * rng.standard_normal(n)
        pats = netmirror.relu_patterns(X)
        cells = []
        for mb in (3, 0):
            elapsed, out = run(X, y, beta, pats, 1e-10, 1, max_barrier=mb, max_iter=30)
            reached[mb] += out["relative_gap"] <= 1e-9
            total_time[mb] += elapsed
            cells.append(f"{out['relative_gap']:8.1e} {elapsed:8.2f} s")
        count += 1
        print(f"seed {seed} N={n:2d} d={d} beta={beta:<5} P={len(pats):4d} | {cells[0]:>20s} | {cells[1]:>20s}", flush=True)
    print(f"netmirror: {reached[3]} of {count} fits reach a relative gap <= 1e-9 in {total_time[3]:.1f} s; "
          f"block CD alone: {reached[0]} of {count} in {total_time[0]:.1f} s (time ratio {total_time[0] / total_time[3]:.1f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--quick", action="store_true", help="fewer scenarios and tolerances")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--adelie", action="store_true", help=f"compare with adelie, in {ADELIE_VENV} (made once)")
    ap.add_argument("--adelie-python", default=None, help="an interpreter with adelie installed (numpy < 2)")
    ap.add_argument("--sweep", action="store_true", help="the convergence sweep of docs/convex_relu.md")
    ap.add_argument("--sweep-large", action="store_true", help="the sweep on N = 20, 30 (d = 2) and 10, 14 (d = 3)")
    args = ap.parse_args()
    warnings.simplefilter("ignore", netmirror.ConvergenceWarning)
    if args.sweep or args.sweep_large:
        sweep(args.sweep_large)
        return
    compare(args)


if __name__ == "__main__":
    main()
