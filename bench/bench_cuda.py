#!/usr/bin/env python
"""CUDA kernels (netmirror.cuda) against CuPy-native code and against the CPU path. Needs an NVIDIA GPU and CuPy.

(a) assembly    lib.matrix(device="cuda") vs the same nested recursion written as CuPy broadcasting (one
                temporary per layer) and vs lib.matrix() on the CPU; bandwidth = bytes written / time.
(b) Aᵀr         netmirror.cuda.correlation on a dense float64/float32 matrix vs cuBLAS (``A.T @ r``), and on the
                matrix-free library (columns evaluated on the fly) vs the dense pass; bandwidth = bytes of A / time.
(c) covariance  CovarianceAccumulator.update(cupy float32 X) vs cuBLAS ``X.T @ X`` in float32 and in float64
                (uncentred, on a float64 copy made beforehand) and vs the CPU accumulator; bandwidth = bytes of X /
                time; the error is max |C - C_cpu| / max |C_cpu| against the CPU accumulator's float64 result.
(d) Lasso       time to a certified relative gap of 1e-10: netmirror.lasso(..., device="cuda") vs the CPU solver,
                dense and matrix-free.

GPU times are CUDA-event times (cupyx.profiler.benchmark, best of --repeat); CPU times are wall-clock best of
--repeat. ratio = baseline / ours (> 1: ours faster). Peak bandwidth comes from the device's memory clock and
bus width (override with --peak-gbs).

Run: python bench/bench_cuda.py [--quick] [--repeat 5] [--json results.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import netmirror
import netmirror.cuda as nc


def need_gpu():
    if not nc.is_available():
        info = nc.device_info()
        why = ("netmirror was built without its CUDA kernels (no nvcc at install time)" if not info.get("built")
               else "CuPy is not installed (pip install 'netmirror[cuda]')" if not info.get("cupy")
               else "no CUDA device is visible")
        sys.exit(f"bench_cuda.py needs an NVIDIA GPU: {why}. Nothing was measured.")


def peak_bandwidth_gbs(cp, override):
    if override:
        return float(override)
    rt = cp.cuda.runtime
    dev = cp.cuda.Device().id
    try:  # attributes 36 / 37: memory clock (kHz) and global memory bus width (bits); DDR: two transfers a clock
        clock_khz = rt.deviceGetAttribute(36, dev)
        bus_bits = rt.deviceGetAttribute(37, dev)
        return 2.0 * clock_khz * 1e3 * bus_bits / 8 / 1e9
    except Exception:
        return float("nan")


def gpu_time(cp, fn, repeat):
    from cupyx.profiler import benchmark
    res = benchmark(fn, n_repeat=repeat, n_warmup=1)
    return float(np.min(res.gpu_times))


def cpu_time(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def row(name, t, baseline=None, nbytes=None, peak=None):
    """One timing; with nbytes its bandwidth (and fraction of peak), with baseline the ratio baseline / t."""
    text = f"  {name:<34} {t * 1e3:10.3f} ms"
    if nbytes is not None:
        gbs = nbytes / t / 1e9
        text += f"  {gbs:8.1f} GB/s ({gbs / peak:5.1%} of peak)" if np.isfinite(peak) else f"  {gbs:8.1f} GB/s"
    if baseline is not None:
        text += f"  ratio {baseline / t:6.2f}"
    print(text)


def ratio(name, baseline, ours):
    print(f"    {name:<32} {baseline / ours:10.2f}")


def cupy_nested(cp, lib, t):
    """The nested recursion as CuPy broadcasting from the decoded levels and signs (the CuPy-native baseline)."""
    f = lib.features
    lv, sg = cp.asarray(f["levels"]), cp.asarray(f["signs"].astype(np.float64))
    slope = {"relu": 0.0, "abs": -1.0}.get(lib.activation, lib.slope)
    t = cp.asarray(t)[:, None]

    def act(u):
        return cp.where(u > 0, u, slope * u)

    g = act(sg[None, :, 0] * (t - lv[None, :, 0]))
    for h in range(1, lib.depth - 1):
        g = act(sg[None, :, h] * (g - lv[None, :, h]))
    return cp.asfortranarray(g)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--peak-gbs", type=float, default=None, help="peak memory bandwidth in GB/s")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    need_gpu()
    import cupy as cp

    info = nc.device_info()
    peak = peak_bandwidth_gbs(cp, args.peak_gbs)
    print(f"device: {info['names'][cp.cuda.Device().id]}, CUDA runtime {info['runtime_version']}, "
          f"peak bandwidth {peak:.0f} GB/s")
    results = {"device": info, "peak_gbs": peak, "rows": []}
    rep = args.repeat
    q = args.quick

    def record(section, name, t, **kw):
        results["rows"].append({"section": section, "name": name, "seconds": t, **kw})

    # (a) assembly -------------------------------------------------------------------------------------
    print("(a) assembly: raw libraries on sine data, float64 (float32 where noted)")
    for act, depth, n in ([("relu", 3, 60), ("abs", 3, 40)] if q else [("relu", 3, 300), ("abs", 3, 200),
                                                                        ("relu", 4, 60), ("leaky_relu", 3, 300)]):
        x, _ = netmirror.datasets.sine(n)
        lib = netmirror.library(x, act, depth, dedup=False, slope=0.1 if act == "leaky_relu" else None)
        nbytes = len(x) * len(lib) * 8
        nc.library_matrix(lib)  # packs and caches the columns
        t_ours = gpu_time(cp, lambda: nc.library_matrix(lib), rep)
        t32 = gpu_time(cp, lambda: nc.library_matrix(lib, dtype=np.float32), rep)
        t_cupy = gpu_time(cp, lambda: cupy_nested(cp, lib, x), rep)
        t_cpu = cpu_time(lambda: lib.matrix(), max(1, rep // 2))
        same = bool(cp.array_equal(nc.library_matrix(lib), cp.asarray(lib.matrix())))
        print(f" {act} L={depth} N={n}: {len(lib):,} columns, {nbytes / 2**20:.0f} MiB, equal to CPU: {same}")
        row("ours float64", t_ours, nbytes=nbytes, peak=peak)
        row("ours float32", t32, nbytes=nbytes // 2, peak=peak)
        row("CuPy broadcasting (baseline)", t_cupy, nbytes=nbytes, peak=peak)
        ratio("ratio CuPy / ours", t_cupy, t_ours)
        row("CPU lib.matrix() (baseline)", t_cpu, baseline=None)
        ratio("ratio CPU / ours", t_cpu, t_ours)
        record("assembly", f"{act} L={depth} N={n}", t_ours, float32=t32, cupy=t_cupy, cpu=t_cpu, bytes=nbytes,
               equal=same)

    # (b) correlations -----------------------------------------------------------------------------------
    print("(b) A^T r")
    for m, cols in ([(200, 20000)] if q else [(200, 2_000_000), (2000, 200_000), (100_000, 4000)]):
        rng = cp.random.default_rng(0)
        A = cp.asfortranarray(rng.standard_normal((m, cols)))
        r = rng.standard_normal(m)
        for dt in (np.float64, np.float32):
            Ad = A.astype(dt, order="F")
            nbytes = m * cols * np.dtype(dt).itemsize
            t_ours = gpu_time(cp, lambda: nc.correlation(Ad, r), rep)
            rd = r.astype(dt)
            t_blas = gpu_time(cp, lambda: Ad.T @ rd, rep)
            print(f" dense {m} x {cols:,} {np.dtype(dt).name}")
            row("ours (float64 sums)", t_ours, nbytes=nbytes, peak=peak)
            row(f"cuBLAS A.T @ r in {np.dtype(dt).name}", t_blas, nbytes=nbytes, peak=peak)
            ratio("ratio cuBLAS / ours", t_blas, t_ours)
            record("correlation", f"dense {m}x{cols} {np.dtype(dt).name}", t_ours, cublas=t_blas, bytes=nbytes)
        del A
    for act, depth, n in ([("relu", 3, 60)] if q else [("relu", 3, 300), ("relu", 4, 100), ("abs", 4, 60)]):
        x, y = netmirror.datasets.sine(n)
        lib = netmirror.library(x, act, depth, dedup=False)
        v = cp.asarray(y - y.mean())
        t_free = gpu_time(cp, lambda: nc.correlation(lib, v), rep)
        A = nc.library_matrix(lib)
        t_dense = gpu_time(cp, lambda: nc.correlation(A, v), rep)
        print(f" matrix-free {act} L={depth} N={n}: {len(lib):,} columns")
        row("ours matrix-free", t_free)
        row("ours on the assembled matrix", t_dense, nbytes=A.nbytes, peak=peak)
        ratio("ratio dense / matrix-free", t_dense, t_free)
        record("correlation", f"matrix-free {act} L={depth} N={n}", t_free, dense=t_dense)
        del A

    # (c) covariance -------------------------------------------------------------------------------------
    print("(c) covariance of float32 standard-normal rows (one update)")
    for n, d in ([(20000, 256)] if q else [(1_000_000, 256), (200_000, 1024), (50_000, 4096)]):
        X = cp.random.default_rng(1).standard_normal((n, d), dtype=cp.float32)
        Xd = X.astype(cp.float64)
        nbytes = n * d * 4

        def ours():
            netmirror.CovarianceAccumulator(d).update(X)

        t_ours = gpu_time(cp, ours, rep)
        t_s = gpu_time(cp, lambda: X.T @ X, rep)
        t_d = gpu_time(cp, lambda: Xd.T @ Xd, rep)
        Xh = cp.asnumpy(X)
        cpu = netmirror.CovarianceAccumulator(d)
        t_cpu = cpu_time(lambda: netmirror.CovarianceAccumulator(d).update(Xh), 1)
        cpu.update(Xh)
        acc = netmirror.CovarianceAccumulator(d).update(X)
        err = float(np.abs(acc.scatter - cpu.scatter).max() / np.abs(cpu.scatter).max())
        S = cp.asnumpy(X.T @ X).astype(np.float64)
        err32 = float(np.abs(S - cpu.second_moment * n).max() / np.abs(cpu.second_moment * n).max())
        print(f" n={n:,} d={d}: error vs CPU float64 {err:.1e} (cuBLAS float32: {err32:.1e})")
        row("ours (float64, centred)", t_ours, nbytes=nbytes, peak=peak)
        row("cuBLAS X.T @ X float32", t_s, nbytes=nbytes, peak=peak)
        ratio("ratio cuBLAS f32 / ours", t_s, t_ours)
        row("cuBLAS Xd.T @ Xd float64", t_d, nbytes=2 * nbytes, peak=peak)
        ratio("ratio cuBLAS f64 / ours", t_d, t_ours)
        row("CPU CovarianceAccumulator", t_cpu)
        ratio("ratio CPU / ours", t_cpu, t_ours)
        record("covariance", f"n={n} d={d}", t_ours, cublas_f32=t_s, cublas_f64=t_d, cpu=t_cpu, error=err,
               error_cublas_f32=err32, bytes=nbytes)
        del X, Xd

    # (d) Lasso ------------------------------------------------------------------------------------------
    print("(d) Lasso: time to a certified relative gap of 1e-10")
    for act, depth, n in ([("abs", 3, 30)] if q else [("abs", 3, 200), ("relu", 3, 300), ("relu", 4, 100)]):
        x, y = netmirror.datasets.sine(n)
        lib = netmirror.library(x, act, depth)
        beta = 2e-2 * float(((y - y.mean()) ** 2).sum())
        A = lib.matrix()
        t_cpu = cpu_time(lambda: netmirror.lasso(A, y, beta), 1)
        t_gpu = cpu_time(lambda: netmirror.lasso(A, y, beta, device="cuda"), 1)
        t_cpu_free = cpu_time(lambda: netmirror.lasso(lib, y, beta), 1)
        nc.library_matrix(lib)  # columns packed once, outside the timing (as the CPU operator's statistics are not)
        t_gpu_free = cpu_time(lambda: nc.lasso(lib, y, beta), 1)
        res_c, res_g = netmirror.lasso(A, y, beta), nc.lasso(lib, y, beta)
        print(f" {act} L={depth} N={n}: {len(lib):,} columns; objective CPU {res_c.objective:.12g} (gap "
              f"{res_c.gap:.1e}), GPU {res_g.objective:.12g} (gap {res_g.gap:.1e}, {res_g.n_iter} passes)")
        row("CPU dense", t_cpu)
        row("GPU dense (device='cuda')", t_gpu, baseline=t_cpu)
        row("CPU matrix-free", t_cpu_free)
        row("GPU matrix-free", t_gpu_free, baseline=t_cpu_free)
        record("lasso", f"{act} L={depth} N={n}", t_gpu, cpu=t_cpu, gpu_matrix_free=t_gpu_free,
               cpu_matrix_free=t_cpu_free)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
