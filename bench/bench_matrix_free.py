#!/usr/bin/env python
"""Matrix-free libraries: the implicit operator's A^T r against dense ones, and a 10^8-feature solve.

(a) A^T r over every column, on libraries whose dense dictionary fits in memory (two rows take a random
    subset of the raw features, so that N can grow):
      implicit   netmirror's LibraryOperator, route "auto" (prefix sums for deep-narrow relu/leaky/abs
                 from 64 points on, streaming otherwise) and route "streaming" (every column evaluated);
      dense      netmirror's dense correlation kernel on the assembled Fortran float64 A (_core.dense_tmul,
                 the dense solver's A^T r) and NumPy's A.T @ r (BLAS gemv).
    Best of --repeat runs each; ratios are dense time / implicit time (> 1: implicit is faster). The
    implicit results are checked against NumPy's to 1e-12 max|a_j| ||r||_1.
(b) netmirror.library(x, "relu", 4) on N = 200 points (128,000,000 raw features), deduplicated (streamed
    hashing), then netmirror.lasso(lib, y, beta) matrix-free to a certified relative gap <= 1e-8. Reports the
    time of each phase, peak RSS, the size the dense dictionary would have, and re-checks the certificate
    in float64 with a separate streaming operator (no prefix sums): primal from the selected columns, dual
    feasibility max_j |a_j^T theta| <= beta over all kept columns.

Run: python bench/bench_matrix_free.py [--part a|b|all] [--quick] [--repeat 3]
--quick: small sizes (a smoke run in seconds). Threads: NETMIRROR_NUM_THREADS (default: all cores).
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np

import netmirror
from netmirror import _core


def peak_rss_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is KiB on Linux


def best_time(fn, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


# (label, activation, depth, kwargs, N, quick N[, random subset of raw features: keeps the dense A small])
PART_A = [
    ("relu ramps L=2", "relu", 2, {}, 5000, 500),
    ("relu capped ramps L=3", "relu", 3, {}, 300, 80),
    ("relu capped ramps L=3", "relu", 3, {}, 1000, 200, 200_000),
    ("relu L=4 (subset)", "relu", 4, {}, 200, 60, 1_000_000),
    ("leaky(-0.3) L=3", "leaky_relu", 3, {"slope": -0.3}, 200, 64),
    ("abs L=3", "abs", 3, {}, 300, 80),
    ("relu L=4", "relu", 4, {}, 40, 16),
    ("relu L=4, N=64", "relu", 4, {}, 64, 20),
    ("abs L=4", "abs", 4, {}, 40, 16),
    ("relu symmetrized L=3", "relu", 3, {"architecture": "symmetrized"}, 40, 16),
    ("sign tree (3,1) L=3", "sign", 3, {"architecture": "tree", "widths": (3, 1)}, 60, 20),
]


def part_a(quick, repeat):
    """A^T r timings, one dict per library (seconds, best of `repeat`); prints the table as it goes."""
    rng = np.random.default_rng(0)
    print("(a) A^T r over every column, best of", repeat, "(seconds); ratios = dense / implicit")
    head = (f"{'library':24s} {'N':>5s} {'M':>11s} {'route':>10s} {'implicit':>9s} {'streamed':>9s} "
            f"{'nm dense':>9s} {'numpy':>9s} {'nm/impl':>8s} {'np/impl':>8s} {'np/strm':>8s} {'fallback':>8s}")
    print(head)
    rows = []
    for label, act, depth, kw, n, nq, *subset in PART_A:
        n = nq if quick else n
        x = rng.uniform(-1, 1, n)
        lib = netmirror.library(x, act, depth, dedup=False, **kw)
        raw = None
        if subset and subset[0] < lib.raw_size:
            raw = np.sort(rng.choice(lib.raw_size, subset[0], replace=False)).astype(np.int64)
        cols = lib.raw_size if raw is None else raw.size
        A = np.empty((n, cols), order="F")
        lib._family.assemble(raw, x, A)
        r = rng.standard_normal(n)
        r -= r.mean()
        auto = _core.LibraryOperator(lib._family, raw, "auto")
        stream = _core.LibraryOperator(lib._family, raw, "streaming")
        t_auto, g_auto = best_time(lambda: auto.tmul(r), repeat)
        t_stream, g_stream = best_time(lambda: stream.tmul(r), repeat)
        t_dense, _ = best_time(lambda: _core.dense_tmul(A, r), repeat)
        t_np, ref = best_time(lambda: A.T @ r, repeat)
        scale = np.abs(A).max(axis=0) * np.abs(r).sum() + 1e-300
        err = max(np.max(np.abs(g_auto - ref) / scale), np.max(np.abs(g_stream - ref) / scale))
        assert err <= 1e-12, f"{label}: implicit A^T r differs from numpy by {err:.2e} (normwise)"
        route = "prefix" if auto.structured else "stream"
        print(f"{label:24s} {n:5d} {cols:11,d} {route:>10s} {t_auto:9.4f} {t_stream:9.4f} {t_dense:9.4f} "
              f"{t_np:9.4f} {t_dense / t_auto:8.2f} {t_np / t_auto:8.2f} {t_np / t_stream:8.2f} "
              f"{auto.streamed_fallbacks / cols:8.4f}", flush=True)
        rows.append(dict(library=label, N=n, M=cols, route=route, implicit_s=t_auto, streamed_s=t_stream,
                         nm_dense_s=t_dense, numpy_s=t_np, fallback=auto.streamed_fallbacks / cols, max_error=err))
        del A
    return rows


def part_b(quick):
    n = 40 if quick else 200
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(-1, 1, n))
    y = np.sin(3 * x) + 0.3 * np.sign(x) + 0.05 * rng.standard_normal(n)
    print(f"\n(b) relu depth 4, N = {n}: {netmirror.library_size(n, 'relu', 4):,} raw features")
    t0 = time.perf_counter()
    lib = netmirror.library(x, "relu", 4, dedup=True)
    t_lib = time.perf_counter() - t0
    rss_lib = peak_rss_gib()
    print(f"  deduplicated to {len(lib):,} features in {t_lib:.1f} s (peak RSS so far {rss_lib:.2f} GiB); "
          f"the dense dictionary would take {lib.nbytes() / 2**30:.2f} GiB")
    t0 = time.perf_counter()
    bmax = netmirror.beta_max(lib, y)
    t_bmax = time.perf_counter() - t0
    beta = 1e-3 * bmax
    t0 = time.perf_counter()
    res = netmirror.lasso(lib, y, beta, tol=1e-8)
    t_solve = time.perf_counter() - t0
    print(f"  beta_max {bmax:.6g} ({t_bmax:.1f} s); beta = 1e-3 beta_max")
    print(f"  lasso (matrix-free): {t_solve:.1f} s, {res.n_iter} outer iterations, nnz {np.count_nonzero(res.coef)}, "
          f"objective {res.objective:.12g}, certified relative gap {res.relative_gap:.2e}, converged {res.converged}")
    # independent float64 re-check with a streaming operator (no prefix sums)
    t0 = time.perf_counter()
    nz = np.flatnonzero(res.coef)
    raw = lib.raw_index[nz]
    As = np.empty((n, nz.size), order="F")
    lib._family.assemble(raw, x, As)
    resid = y - As @ res.coef[nz] - res.intercept
    primal = 0.5 * resid @ resid + beta * np.abs(res.coef).sum()
    theta = np.asarray(res.dual)
    theta = theta - theta.mean()
    check = _core.LibraryOperator(lib._family, lib.raw_index, "streaming")
    corr = np.abs(check.tmul(theta)).max()
    theta = theta / max(1.0, corr / beta)
    yc = y - y.mean()
    dual = theta @ yc - 0.5 * theta @ theta
    p0 = 0.5 * yc @ yc
    print(f"  re-check ({time.perf_counter() - t0:.1f} s): primal {primal:.12g}, dual {dual:.12g}, "
          f"relative gap {(primal - dual) / p0:.2e}")
    print(f"  total {t_lib + t_bmax + t_solve:.1f} s, peak RSS {peak_rss_gib():.2f} GiB")
    return dict(n=n, raw=lib.raw_size, kept=len(lib), t_lib=t_lib, t_solve=t_solve, gap=res.relative_gap,
                recheck=(primal - dual) / p0, rss=peak_rss_gib())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["a", "b", "all"], default="all")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    if args.part in ("a", "all"):
        part_a(args.quick, 1 if args.quick else args.repeat)
    if args.part in ("b", "all"):
        part_b(args.quick)


if __name__ == "__main__":
    main()
