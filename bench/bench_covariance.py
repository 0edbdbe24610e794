#!/usr/bin/env python
"""Covariance accumulation: CovarianceAccumulator.update against NumPy's BLAS X.T @ X, speed and accuracy.

For n samples of dim d (float32, standard normal, C order) it times, interleaved in one run:

  ours        CovarianceAccumulator(d).update(X): batch mean + centred scatter in float64 (+ Chan merge)
  ours x10    the same data in 10 update() calls of n/10 rows (the streaming use)
  np f32      X.T @ X                     float32 BLAS (OpenBLAS ssyrk/sgemm), uncentred
  np f64      Xd.T @ Xd                   float64 BLAS on a float64 copy made beforehand
  np f64+cast X.astype(float64).T @ ...   the same including the copy

ratio = baseline time / ours (> 1: ours faster); the issue's target is np f32 / ours >= 0.8.

Accuracy: errors are max |C - C_exact| / max |C_exact| over every entry of a random subset of 64 columns
(all 2,080 pairs, diagonal included), with C_exact computed in np.longdouble (80-bit here, see header)
from the float32 data: uncentred X.T @ X for the NumPy baselines and for ours (count * second_moment),
and the centred scatter for ours. The largest error entries are dominated by the diagonal.

Run: python bench/bench_covariance.py [--quick] [--repeat 5] [--json results.json]
     NETMIRROR_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python bench/bench_covariance.py   # one core each
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

import netmirror
from netmirror import reference


def timed(fn, store):
    t = time.perf_counter()
    out = fn()
    store.append(time.perf_counter() - t)
    return out


def rel_error(values, exact):
    exact = np.asarray(exact, dtype=np.longdouble)
    return float(np.max(np.abs(np.asarray(values, dtype=np.longdouble) - exact)) / np.max(np.abs(exact)))


def run_case(n, d, repeat, rng, check):
    X = rng.standard_normal((n, d), dtype=np.float32)
    Xd = X.astype(np.float64)
    times = {k: [] for k in ("ours", "ours x10", "np f32", "np f64", "np f64+cast")}
    parts = np.array_split(X, 10)
    for _ in range(repeat):  # interleaved: a shared machine's load hits every method alike
        acc = netmirror.CovarianceAccumulator(d)
        timed(lambda: acc.update(X), times["ours"])
        acc10 = netmirror.CovarianceAccumulator(d)
        timed(lambda: [acc10.update(p) for p in parts], times["ours x10"])
        C32 = timed(lambda: X.T @ X, times["np f32"])
        C64 = timed(lambda: Xd.T @ Xd, times["np f64"])
        timed(lambda: (lambda Y: Y.T @ Y)(X.astype(np.float64)), times["np f64+cast"])
    row = {"n": n, "d": d, "times": times, "best": {k: min(v) for k, v in times.items()},
           "median": {k: statistics.median(v) for k, v in times.items()}}
    if check:
        cols = np.sort(rng.choice(d, size=min(64, d), replace=False))
        iu, ju = np.triu_indices(len(cols))
        r, c = cols[iu], cols[ju]
        exact_raw = reference.exact_scatter_entries(X, r, c, center=False)
        exact_cen = reference.exact_scatter_entries(X, r, c, center=True)
        raw_ours = acc.second_moment * acc.total_weight
        row["errors"] = {
            "np f32": rel_error(C32[r, c], exact_raw),
            "np f64": rel_error(C64[r, c], exact_raw),
            "ours raw": rel_error(raw_ours[r, c], exact_raw),
            "ours centred": rel_error(acc.scatter[r, c], exact_cen),
            "ours x10 centred": rel_error(acc10.scatter[r, c], exact_cen),
        }
    return row


def sizes(quick):
    """(n, dims) of the quick and the full run."""
    return (20_000, (64, 256)) if quick else (100_000, (256, 1024))


def run(quick=False, repeat=5, check=True, seed=0):
    """One row per dim (best / median seconds per method, errors when check); the command line prints them."""
    n, dims = sizes(quick)
    rng = np.random.default_rng(seed)
    return [run_case(n, d, repeat, rng, check) for d in dims]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n = 20,000, dims 64 and 256 (a few seconds)")
    ap.add_argument("--repeat", type=int, default=5, help="interleaved timed calls per method (best printed)")
    ap.add_argument("--no-check", action="store_true", help="skip the longdouble accuracy reference")
    ap.add_argument("--json", metavar="PATH", help="write every timing and error")
    args = ap.parse_args(argv)
    n, dims = sizes(args.quick)
    rng = np.random.default_rng(0)

    threads = os.environ.get("NETMIRROR_NUM_THREADS", "all")
    print(f"# python bench/bench_covariance.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    print(f"# {datetime.datetime.now().isoformat(timespec='seconds')}  {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}/{os.getloadavg()[1]:.1f} (1/5 min)  "
          f"numpy {np.__version__}, netmirror kernel {netmirror._core.covariance_kernel()}, threads {threads}, "
          f"longdouble eps {np.finfo(np.longdouble).eps:.1e}")
    print(f"# n = {n:,} float32 rows, best of {args.repeat} interleaved calls (median in parentheses)")
    header = (f"{'dim':>5} {'ours':>13} {'ours x10':>13} {'np f32':>13} {'np f64':>13} {'np f64+cast':>13} "
              f"{'f32/ours':>8} {'f64/ours':>8}")
    print(header)
    rows = []
    for d in dims:
        row = run_case(n, d, args.repeat, rng, not args.no_check)
        rows.append(row)
        b, m = row["best"], row["median"]
        cells = " ".join(f"{b[k]:6.3f} ({m[k]:5.3f})" for k in ("ours", "ours x10", "np f32", "np f64", "np f64+cast"))
        print(f"{d:>5} {cells} {b['np f32'] / b['ours']:8.2f} {b['np f64'] / b['ours']:8.2f}", flush=True)
    if not args.no_check:
        print("\n# relative error vs the longdouble reference (64-column subset, all pairs)")
        keys = list(rows[0]["errors"])
        print(f"{'dim':>5} " + " ".join(f"{k:>16}" for k in keys))
        for row in rows:
            print(f"{row['d']:>5} " + " ".join(f"{row['errors'][k]:16.2e}" for k in keys))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"n": n, "repeat": args.repeat, "threads": threads, "numpy": np.__version__,
                       "kernel": netmirror._core.covariance_kernel(), "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
