#!/usr/bin/env python
"""Dictionary assembly: the C++ kernel against the NumPy reference and against plain memory writes.

For every supported library family this builds the raw dictionary (dedup=False) three ways in one run:

  C++ out   lib.matrix(out=prealloc)       kernel only, the output pages are already touched
  C++ new   lib.matrix()                   kernel + allocation + first-touch page faults
  NumPy     reference.library_matrix(...)  the pure-NumPy reference (allocates too)

and compares the kernel with two write baselines on the same number of bytes:

  fill      prealloc.fill(1.0), on 1 thread and on 2 threads (column halves), best of both
  new fill  np.empty(...).fill(1.0)        fresh pages, the baseline for "C++ new"

The C++ result is checked bit for bit against the reference (np.array_equal) for each family. A headline
block repeats the issue's target, abs depth 3 on N = 200 points, over threads, dtype and out=, and a last
block times deduplication (library(..., dedup=True)) against reference.deduplicate.

Run: python bench/bench_libraries.py [--quick] [--repeat 5] [--json results.json]
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
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import netmirror
from netmirror import datasets, reference

ENV_THREADS = "NETMIRROR_NUM_THREADS"

# (activation, architecture, depth, slope, widths); N is picked per run from the target size.
FAMILIES = [
    ("relu", "deep_narrow", 2, None, None),
    ("relu", "deep_narrow", 3, None, None),
    ("relu", "deep_narrow", 4, None, None),
    ("leaky_relu", "deep_narrow", 2, 0.1, None),
    ("leaky_relu", "deep_narrow", 3, 0.1, None),
    ("leaky_relu", "deep_narrow", 4, 0.1, None),
    ("abs", "deep_narrow", 2, None, None),
    ("abs", "deep_narrow", 3, None, None),
    ("abs", "deep_narrow", 4, None, None),
    ("abs", "deep_narrow", 5, None, None),
    ("sign", "deep_narrow", 2, None, None),
    ("sign", "deep_narrow", 3, None, None),
    ("sign", "deep_narrow", 4, None, None),
    ("threshold", "deep_narrow", 2, None, None),
    ("threshold", "deep_narrow", 3, None, None),
    ("threshold", "deep_narrow", 4, None, None),
    ("relu", "symmetrized", 3, None, None),
    ("leaky_relu", "symmetrized", 3, 0.1, None),
    ("sign", "rectangular", 3, None, (2, 2)),
    ("threshold", "rectangular", 3, None, (2, 2)),
    ("sign", "tree", 4, None, (2, 2, 2)),
    ("threshold", "tree", 4, None, (2, 2, 2)),
]
HEADLINE = ("abs", "deep_narrow", 3, None, None)
HEADLINE_N = {False: 200, True: 80}  # the target is N = 200 (it kept its N when the family grew)

# Deduplication: (family, N) at small N, where the Python reference loop stays quick.
DEDUP_CASES = {
    False: [(("relu", "deep_narrow", 3, None, None), 40),
            (("abs", "deep_narrow", 4, None, None), 20),
            (("sign", "rectangular", 3, None, (2, 2)), 60)],
    True: [(("relu", "deep_narrow", 3, None, None), 16),
           (("abs", "deep_narrow", 4, None, None), 10)],
}

TARGET_RATIO = 10.0      # C++ at least 10x the NumPy reference
TARGET_FRACTION = 0.5    # and at least 50% of the plain memory-write bandwidth


# --------------------------------------------------------------------------------------------------
def family_name(fam):
    act, arch, depth, slope, widths = fam
    short = {"deep_narrow": "deep", "symmetrized": "sym", "rectangular": "rect", "tree": "tree"}[arch]
    name = f"{act} {short} L={depth}"
    if widths:
        name += f" w={','.join(str(w) for w in widths)}"
    return name


def raw_columns(fam, n):
    act, arch, depth, _, widths = fam
    return netmirror.library_size(n, act, depth, architecture=arch, widths=widths)


def pick_n(fam, target_bytes, itemsize=8):
    """Largest N whose raw dictionary (N rows x columns x itemsize) fits in target_bytes."""
    n = 2
    while (n + 1) * raw_columns(fam, n + 1) * itemsize <= target_bytes:
        n += 1
    return n


def points(n):
    return datasets.sine(n, seed=0)[0]


def build(fam, x, dedup=False):
    act, arch, depth, slope, widths = fam
    return netmirror.library(x, act, depth, architecture=arch, slope=slope,
                             widths=None if widths is None else list(widths), dedup=dedup)


def ref_matrix(fam, x):
    act, arch, depth, slope, widths = fam
    return reference.library_matrix(x, act, depth, arch, slope, None if widths is None else list(widths))


def timeit(fn, repeat):
    """(best, median) wall seconds over `repeat` calls of fn()."""
    times = []
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


class Threads:
    """Set NETMIRROR_NUM_THREADS for the calls inside (the kernel reads it at each call)."""

    def __init__(self, value):
        self.value = value

    def __enter__(self):
        self.saved = os.environ.get(ENV_THREADS)
        if self.value is None:
            os.environ.pop(ENV_THREADS, None)
        else:
            os.environ[ENV_THREADS] = str(self.value)

    def __exit__(self, *exc):
        if self.saved is None:
            os.environ.pop(ENV_THREADS, None)
        else:
            os.environ[ENV_THREADS] = self.saved


_POOL = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1))


def fill_threads(a, threads):
    """a.fill(1.0) split into `threads` contiguous column blocks (ndarray.fill releases the GIL)."""
    if threads == 1:
        a.fill(1.0)
        return
    cols = a.shape[1]
    bounds = [cols * k // threads for k in range(threads + 1)]
    blocks = [a[:, bounds[k]:bounds[k + 1]] for k in range(threads)]
    list(_POOL.map(lambda b: b.fill(1.0), blocks))


def gbs(nbytes, seconds):
    return nbytes / seconds / 1e9


def write_baselines(shape, dtype, repeat):
    """Plain write bandwidth on the bytes of a (shape, dtype) Fortran array: fill on touched pages with
    1 and 2 threads, and np.empty + fill on fresh pages."""
    a = np.empty(shape, dtype=dtype, order="F")
    a.fill(0.0)
    f1 = timeit(lambda: fill_threads(a, 1), repeat)
    f2 = timeit(lambda: fill_threads(a, 2), repeat)
    fresh = timeit(lambda: np.empty(shape, dtype=dtype, order="F").fill(1.0), repeat)
    return {"fill1": f1, "fill2": f2, "fresh_fill": fresh}


# --------------------------------------------------------------------------------------------------
def bench_family(fam, n, repeat, ref_repeat, dtype=np.float64):
    x = points(n)
    lib = build(fam, x)
    shape = (n, len(lib))
    nbytes = shape[0] * shape[1] * np.dtype(dtype).itemsize
    out = np.empty(shape, dtype=dtype, order="F")
    out.fill(0.0)  # touch the pages once so "out" times the kernel only
    lib.matrix(dtype=dtype, out=out)  # warm-up
    t_out = timeit(lambda: lib.matrix(dtype=dtype, out=out), repeat)
    t_new = timeit(lambda: lib.matrix(dtype=dtype), repeat)
    ref = {}

    def run_ref():
        ref["A"] = ref_matrix(fam, x)

    t_ref = timeit(run_ref, ref_repeat)
    equal = bool(np.array_equal(lib.matrix(dtype=dtype, out=out), ref["A"]))
    del ref
    base = write_baselines(shape, dtype, repeat)
    fill_best = min(base["fill1"][0], base["fill2"][0])
    row = {
        "family": family_name(fam), "activation": fam[0], "architecture": fam[1], "depth": fam[2],
        "slope": fam[3], "widths": fam[4], "N": n, "columns": shape[1], "bytes": nbytes,
        "cpp_out_s": t_out, "cpp_new_s": t_new, "numpy_s": t_ref,
        "fill1_s": base["fill1"], "fill2_s": base["fill2"], "fresh_fill_s": base["fresh_fill"],
        "ratio": t_ref[0] / t_new[0],              # both allocate their result
        "ratio_out": t_ref[0] / t_out[0],          # kernel only
        "cpp_gbs": gbs(nbytes, t_out[0]), "cpp_new_gbs": gbs(nbytes, t_new[0]),
        "fill_gbs": gbs(nbytes, fill_best), "fill1_gbs": gbs(nbytes, base["fill1"][0]),
        "fill2_gbs": gbs(nbytes, base["fill2"][0]), "fresh_fill_gbs": gbs(nbytes, base["fresh_fill"][0]),
        "equal": equal,
    }
    row["fraction"] = row["cpp_gbs"] / row["fill_gbs"]
    return row


def print_table(rows):
    head = (f"{'family':<26} {'N':>5} {'columns':>9} {'MB':>6} {'C++ out':>8} {'C++ new':>8} {'NumPy':>8} "
            f"{'ratio':>6} {'r(out)':>6} {'C++ GB/s':>8} {'fill GB/s':>9} {'frac':>5}  {'equal'}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['family']:<26} {r['N']:>5} {r['columns']:>9,} {r['bytes'] / 1e6:>6.1f} "
              f"{1e3 * r['cpp_out_s'][0]:>8.2f} {1e3 * r['cpp_new_s'][0]:>8.2f} {1e3 * r['numpy_s'][0]:>8.1f} "
              f"{r['ratio']:>5.1f}x {r['ratio_out']:>5.1f}x {r['cpp_gbs']:>8.2f} {r['fill_gbs']:>9.2f} "
              f"{r['fraction']:>5.2f}  "
              f"{'yes' if r['equal'] else 'NO'}")


def bench_headline(n, repeat):
    """abs depth 3 on N points: threads x dtype x out=, against the write baselines."""
    fam = HEADLINE
    x = points(n)
    lib = build(fam, x)
    shape = (n, len(lib))
    rows = []
    for dtype in (np.float64, np.float32):
        nbytes = shape[0] * shape[1] * np.dtype(dtype).itemsize
        out = np.empty(shape, dtype=dtype, order="F")
        out.fill(0.0)
        base = write_baselines(shape, dtype, repeat)
        for threads in (1, 2):
            with Threads(threads):
                lib.matrix(dtype=dtype, out=out)
                t_out = timeit(lambda: lib.matrix(dtype=dtype, out=out), repeat)
                t_new = timeit(lambda: lib.matrix(dtype=dtype), repeat)
            rows.append({"dtype": np.dtype(dtype).name, "threads": threads, "bytes": nbytes,
                         "cpp_out_s": t_out, "cpp_new_s": t_new,
                         "cpp_gbs": gbs(nbytes, t_out[0]), "cpp_new_gbs": gbs(nbytes, t_new[0]),
                         "fill1_gbs": gbs(nbytes, base["fill1"][0]), "fill2_gbs": gbs(nbytes, base["fill2"][0]),
                         "fresh_fill_gbs": gbs(nbytes, base["fresh_fill"][0])})
    return {"family": family_name(fam), "N": n, "columns": shape[1], "rows": rows}


def print_headline(h):
    print(f"{h['family']}, N = {h['N']}, {h['columns']:,} columns: threads x dtype x out=")
    head = (f"{'dtype':<8} {'thr':>3} {'MB':>6} {'out ms':>7} {'GB/s':>6} {'new ms':>7} {'GB/s':>6} "
            f"{'fill1':>6} {'fill2':>6} {'newfill':>7} {'out/fill':>8} {'new/newfill':>11}")
    print(head)
    print("-" * len(head))
    for r in h["rows"]:
        fill = max(r["fill1_gbs"], r["fill2_gbs"])
        print(f"{r['dtype']:<8} {r['threads']:>3} {r['bytes'] / 1e6:>6.1f} {1e3 * r['cpp_out_s'][0]:>7.2f} "
              f"{r['cpp_gbs']:>6.2f} {1e3 * r['cpp_new_s'][0]:>7.2f} {r['cpp_new_gbs']:>6.2f} "
              f"{r['fill1_gbs']:>6.2f} {r['fill2_gbs']:>6.2f} {r['fresh_fill_gbs']:>7.2f} "
              f"{r['cpp_gbs'] / fill:>8.2f} {r['cpp_new_gbs'] / r['fresh_fill_gbs']:>11.2f}")
    f64 = {r["threads"]: r for r in h["rows"] if r["dtype"] == "float64"}
    print(f"2 threads vs 1 thread (float64, out=): {f64[1]['cpp_out_s'][0] / f64[2]['cpp_out_s'][0]:.2f}x; "
          f"with allocation: {f64[1]['cpp_new_s'][0] / f64[2]['cpp_new_s'][0]:.2f}x")


def bench_dedup(cases, repeat, ref_repeat):
    rows = []
    for fam, n in cases:
        x = points(n)
        holder = {}

        def cpp():
            holder["lib"] = build(fam, x, dedup=True)

        t_cpp = timeit(cpp, repeat)
        lib = holder["lib"]
        tol = reference.dedup_tolerance(x, fam[0])
        ref = {}

        def numpy_all():
            ref["A"] = ref_matrix(fam, x)
            ref["kept"] = reference.deduplicate(ref["A"], tol, True)

        t_ref = timeit(numpy_all, ref_repeat)
        t_ref_dedup = timeit(lambda: reference.deduplicate(ref["A"], tol, True), ref_repeat)
        rows.append({"family": family_name(fam), "N": n, "raw": lib.raw_size, "kept": len(lib),
                     "cpp_s": t_cpp, "numpy_s": t_ref, "numpy_dedup_only_s": t_ref_dedup,
                     "ratio": t_ref[0] / t_cpp[0],
                     "equal": bool(np.array_equal(lib.raw_index, ref["kept"]))})
    return rows


def print_dedup(rows):
    head = (f"{'family':<26} {'N':>4} {'raw':>8} {'kept':>7} {'C++ ms':>8} {'NumPy ms':>9} "
            f"{'(dedup only)':>12} {'ratio':>7}  {'same kept'}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['family']:<26} {r['N']:>4} {r['raw']:>8,} {r['kept']:>7,} {1e3 * r['cpp_s'][0]:>8.2f} "
              f"{1e3 * r['numpy_s'][0]:>9.1f} {1e3 * r['numpy_dedup_only_s'][0]:>12.1f} {r['ratio']:>6.1f}x  "
              f"{'yes' if r['equal'] else 'NO'}")


def cpu_name():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run(quick=False, repeat=5, ref_repeat=3, verbose=False):
    """Every measurement of this benchmark; returns {"families", "headline", "dedup", "targets"} (rows as
    dicts, times in seconds as (best, median)). verbose: print the tables as the command line does."""
    say = print if verbose else (lambda *a, **k: None)
    target = 4e6 if quick else 64e6
    headline_n = HEADLINE_N[quick]
    results = {}
    rows = []
    for fam in FAMILIES:
        n = headline_n if fam == HEADLINE else pick_n(fam, target)
        if verbose:
            print(f"  {family_name(fam)}, N = {n} ...", file=sys.stderr, flush=True)
        if fam == HEADLINE:  # the target row: 3x the repeats, 2 more NumPy runs
            rows.append(bench_family(fam, n, 3 * repeat, ref_repeat + 2))
        else:
            rows.append(bench_family(fam, n, repeat, ref_repeat))
    results["families"] = rows
    if verbose:
        print_table(rows)
    say()

    h = bench_headline(headline_n, repeat)
    results["headline"] = h
    if verbose:
        print_headline(h)
    say()

    d = bench_dedup(DEDUP_CASES[quick], repeat, ref_repeat)
    results["dedup"] = d
    say("deduplication: netmirror.library(..., dedup=True) vs reference.library_matrix + reference.deduplicate")
    if verbose:
        print_dedup(d)
    say()

    hrow = next(r for r in rows if r["family"] == family_name(HEADLINE))
    ok_ratio = hrow["ratio"] >= TARGET_RATIO
    ok_ratio_out = hrow["ratio_out"] >= TARGET_RATIO
    # bandwidth target against the best plain-write bandwidth seen for these bytes in this run (the table row's
    # fill and the target block's float64 fill1 / fill2), the most conservative denominator
    f64 = [r for r in h["rows"] if r["dtype"] == "float64"]
    fill_best = max([hrow["fill_gbs"]] + [r["fill1_gbs"] for r in f64] + [r["fill2_gbs"] for r in f64])
    fraction = hrow["cpp_gbs"] / fill_best
    ok_frac = fraction >= TARGET_FRACTION
    ok_equal = all(r["equal"] for r in rows) and all(r["equal"] for r in d)
    results["targets"] = {"ratio": hrow["ratio"], "ratio_out": hrow["ratio_out"], "fraction": fraction,
                          "fill_gbs": fill_best,
                          "ratio_ok": ok_ratio, "ratio_out_ok": ok_ratio_out, "fraction_ok": ok_frac,
                          "all_equal": ok_equal}

    def verdict(ok):
        return "met" if ok else "NOT met"

    say(f"targets ({hrow['family']}, N = {hrow['N']}, {hrow['columns']:,} columns, {hrow['bytes'] / 1e6:.0f} MB)"
        + (" -- quick run: the sizes fit in cache, the targets are for the full run" if quick else "") + ":")
    say(f"  NumPy / C++ new = {hrow['ratio']:.2f}x (>= {TARGET_RATIO:.0f}x: {verdict(ok_ratio)}); "
        f"NumPy / C++ out = {hrow['ratio_out']:.2f}x (>= {TARGET_RATIO:.0f}x: {verdict(ok_ratio_out)})")
    say(f"  C++ out {hrow['cpp_gbs']:.2f} GB/s = {100 * fraction:.0f}% of fill {fill_best:.2f} GB/s (best fill on "
        f"these bytes in this run) (>= {100 * TARGET_FRACTION:.0f}%: {verdict(ok_frac)})")
    say(f"all C++ results equal to the reference: {'yes' if ok_equal else 'NO'}")
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (~4 MB dictionaries) for a smoke run")
    p.add_argument("--repeat", type=int, default=5, help="timed calls per C++/baseline measurement (best is "
                   "printed, best and median go to --json; default 5)")
    p.add_argument("--ref-repeat", type=int, default=3, help="timed calls of the NumPy reference (default 3)")
    p.add_argument("--json", metavar="PATH", help="also write all timings (best and median) as JSON")
    args = p.parse_args(argv)

    target = 4e6 if args.quick else 64e6
    headline_n = HEADLINE_N[args.quick]
    command = "python bench/bench_libraries.py" + (" --quick" if args.quick else "")
    if args.repeat != 5:
        command += f" --repeat {args.repeat}"
    if args.ref_repeat != 3:
        command += f" --ref-repeat {args.ref_repeat}"
    stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    threads_env = os.environ.get(ENV_THREADS)
    print(f"# reproduce: {command}")
    print(f"# {stamp}; netmirror {netmirror.__version__}, numpy {np.__version__}, Python {platform.python_version()}")
    print(f"# {cpu_name()}, {os.cpu_count()} cores; {ENV_THREADS}={threads_env or '(unset: all cores)'}")
    print(f"# raw dictionaries (dedup=False), float64, N chosen so N x columns x 8 B <= {target / 1e6:.0f} MB, "
          f"except {family_name(HEADLINE)} at N = {headline_n} (the target);")
    print(f"# best of {args.repeat} (NumPy: best of {args.ref_repeat}; target row: best of {3 * args.repeat}, "
          f"NumPy {args.ref_repeat + 2})")
    print("# times in ms. C++ out = lib.matrix(out=prealloc) (pages touched), C++ new = lib.matrix(), "
          "NumPy = reference.library_matrix;")
    print("# ratio = NumPy / C++ new (both allocate), r(out) = NumPy / C++ out (kernel only);")
    print("# C++ GB/s from C++ out; fill GB/s = best of prealloc.fill(1.0) on 1 and 2 threads on the same bytes; "
          "frac = C++ GB/s / fill GB/s; equal = np.array_equal(C++, NumPy)")
    print()

    results = {"command": command, "date": stamp, "cpu": cpu_name(), "cores": os.cpu_count(),
               "numpy": np.__version__, "netmirror": netmirror.__version__, "threads_env": threads_env,
               "repeat": args.repeat, "ref_repeat": args.ref_repeat, "target_bytes": target}
    results.update(run(args.quick, args.repeat, args.ref_repeat, verbose=True))
    ok_equal = results["targets"]["all_equal"]

    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
        print(f"wrote {args.json}")
    return 0 if ok_equal else 1


if __name__ == "__main__":
    sys.exit(main())
