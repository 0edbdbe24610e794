#!/usr/bin/env python
"""Lasso: time-to-gap and gap reached, netmirror.lasso against scikit-learn, celer and skglm, in one run.

Every solver minimises the same problem, in sum units,

    P(z, xi) = 1/2 ||A z + xi 1 - y||^2 + beta ||z||_1          (scikit-learn / celer / skglm: alpha = beta / N,
                                                                 their objective is P / N)

and every returned coefficient vector z is judged by ONE independent float64 certificate computed here
(the packages' own gaps are recorded in the JSON but never used):

    r     = P(y - A z)                      centered residual (the optimal intercept for this z)
    theta = r / max(1, ||A^T r||_inf / beta) dual-feasible point
    gap   = P(z) - (theta^T y - 1/2 ||theta||^2)
    relative gap = gap / (1/2 ||y - mean(y)||^2)

(evaluated in the algebraically equal, cancellation-free form
 gap = 1/2 ||r||^2 (1 - 1/s)^2 + (beta ||z||_1 - (A^T r)^T z / s),  s = max(1, ||A^T r||_inf / beta),
 whose two terms are non-negative; the textbook form is stored too, as ``gap_naive``).

Each solver runs from a cold start on a sequence of tolerances (netmirror: tol = relative gap target;
scikit-learn and celer: tol = target / 2, since both stop on gap <= tol * ||y - mean(y)||^2 in their units;
skglm: tol on its KKT criterion, a wider grid). Time-to-gap at a threshold is the wall time of the fastest
run whose certified relative gap is at or below it. Competitors run in separate worker processes (one per
solver, kept across scenarios) so that a run past the cap can be killed; scikit-learn also gets an epoch
budget (max_iter) sized from a probe so it stops by itself near the cap and returns a solution.

Scenarios (from the issue):
  a      abs depth-3 library (netmirror.library(x, "abs", 3), deduplicated) on N = 200 sorted points of
         datasets.sine, beta = 1e-3 (absolute, sum units). Target: >= 50x faster than scikit-learn at 1e-10.
  a_sub  the same data and beta on a random subset of 5,000 of those columns (run with --scenario a).
  b      ReLU ramps (x - a_k)_+ and (a_k - x)_+, N = 200, M = 5,000, beta = 0.01 beta_max. Target: 1e-10 in < 1 s.
  c      Gaussian AR(0.6) design 300 x 100,000, sparse w*, beta = 0.01 beta_max. Target: no slower than skglm.

Run: python bench/bench_lasso.py [--scenario a|b|c|all] [--quick] [--repeat 3] [--json out.json]
Threads: netmirror reads NETMIRROR_NUM_THREADS (default: all cores); OMP / OpenBLAS / MKL / numba threads
for the other packages are set to --threads (default: all cores) before numpy is imported.
"""
from __future__ import annotations

import argparse
import os
import sys


def _early_threads():
    # Must run before numpy (or any BLAS) is imported, in the parent and in every spawned worker.
    n = os.environ.get("NETMIRROR_BENCH_THREADS")
    if n is None:
        n = str(os.cpu_count() or 1)
        for i, a in enumerate(sys.argv):
            if a == "--threads" and i + 1 < len(sys.argv):
                n = sys.argv[i + 1]
            elif a.startswith("--threads="):
                n = a.split("=", 1)[1]
        os.environ["NETMIRROR_BENCH_THREADS"] = n
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = n


_early_threads()

import datetime  # noqa: E402
import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import platform  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

SOLVERS = ["netmirror", "scikit-learn", "celer", "skglm"]
THRESHOLDS = [1e-4, 1e-6, 1e-8, 1e-10]
FLOOR = 1e-12           # stop a solver's tolerance sequence once its certified gap is this small
REL_GRID = [10.0 ** -k for k in range(2, 13)]       # relative-gap targets 1e-2 ... 1e-12
SKGLM_GRID = [10.0 ** -k for k in range(2, 15)]     # skglm's KKT tol: 1e-2 ... 1e-14
REPEAT_BELOW = 5.0      # runs shorter than this (s) are repeated --repeat times (best kept); longer: once


# ----------------------------------------------------------------------------------------------------------
# Scenarios (deterministic; built once in the parent, shipped to the workers as .npy files)

def ar_design(n, m, rho, rng):
    """n x m Gaussian design, every row a stationary AR(1) sequence: corr(A_i, A_j) = rho^|i-j|."""
    from scipy.signal import lfilter
    c = np.sqrt(1.0 - rho * rho)
    e = rng.standard_normal((n, m))
    e[:, 0] /= c  # so that column 0 has unit variance like the rest
    return np.asfortranarray(lfilter([c], [1.0, -rho], e, axis=1))


def ramps(x, m_half, rng):
    """(x - a)_+ for a in x[:-1] + random breakpoints, and (a - x)_+ for a in x[1:] + random ones."""
    lo, hi = x[0], x[-1]
    extra = m_half - (len(x) - 1)
    up = np.concatenate([x[:-1], rng.uniform(lo, hi, extra)])
    down = np.concatenate([x[1:], rng.uniform(lo, hi, extra)])
    A = np.empty((len(x), 2 * m_half), order="F")
    A[:, :m_half] = np.maximum(x[:, None] - up[None, :], 0.0)
    A[:, m_half:] = np.maximum(down[None, :] - x[:, None], 0.0)
    return A


def build_scenario(name, quick):
    import netmirror
    from netmirror import datasets
    rng = np.random.default_rng(12345)
    if name in ("a", "a_sub"):
        n = 40 if quick else 200
        x, y = datasets.sine(n, seed=0)
        A = netmirror.library(x, "abs", 3).matrix()
        desc = f"abs depth-3 library (deduplicated), N = {n} points of datasets.sine"
        if name == "a_sub":
            k = 1000 if quick else 5000
            full = A.shape[1]
            cols = np.sort(np.random.default_rng(1).choice(full, size=min(k, full), replace=False))
            A = np.asfortranarray(A[:, cols])
            desc = f"random {A.shape[1]:,} of the {full:,} columns of (a)"
        beta, beta_rule = 1e-3, "1e-3 (absolute)"
    elif name == "b":
        n, m_half = (100, 500) if quick else (200, 2500)
        x, y = datasets.sine(n, seed=0)
        A = ramps(x, m_half, rng)
        desc = f"ReLU ramps (x-a)_+ / (a-x)_+, breakpoints at data points + uniform, N = {n}"
        beta, beta_rule = None, "0.01 beta_max"
    elif name == "c":
        n, m, s = (100, 5000, 10) if quick else (300, 100_000, 20)
        A = ar_design(n, m, 0.6, rng)
        w = np.zeros(m)
        support = rng.choice(m, size=s, replace=False)
        w[support] = rng.choice([-1.0, 1.0], s) * rng.uniform(1.0, 2.0, s)
        signal = A @ w
        sigma = np.linalg.norm(signal) / np.sqrt(n) / 5.0  # SNR 5
        y = signal + 1.0 + sigma * rng.standard_normal(n)
        desc = f"Gaussian AR(rho=0.6) design, {s} non-zero w*, SNR 5"
        beta, beta_rule = None, "0.01 beta_max"
    else:
        raise ValueError(name)
    A = np.asfortranarray(A, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    yc = y - y.mean()
    bmax = float(np.abs(A.T @ yc).max())
    if beta is None:
        beta = 0.01 * bmax
    return dict(name=name, desc=desc, A=A, y=y, beta=float(beta), beta_rule=beta_rule, beta_max=bmax,
                P0=0.5 * float(yc @ yc))


# ----------------------------------------------------------------------------------------------------------
# The one certificate

def certify(A, y, beta, z):
    """Certified relative duality gap of z (optimal intercept), and the primal objective, in float64."""
    z = np.asarray(z, dtype=np.float64)
    yc = y - y.mean()
    P0 = 0.5 * float(yc @ yc)
    nz = np.flatnonzero(z)
    u = A[:, nz] @ z[nz] if nz.size else np.zeros_like(y)
    u = u - u.mean()
    r = yc - u
    g = A.T @ r                      # = (centered A)^T r because r sums to zero
    l1 = float(np.abs(z).sum())
    rr = float(r @ r)
    s = max(1.0, float(np.abs(g).max()) / beta)
    primal = 0.5 * rr + beta * l1
    gap = 0.5 * rr * (1.0 - 1.0 / s) ** 2 + (beta * l1 - float(g[nz] @ z[nz]) / s)
    theta = r / s
    gap_naive = primal - (float(theta @ y) - 0.5 * float(theta @ theta))
    return dict(rel_gap=gap / P0, gap=gap, gap_naive_rel=gap_naive / P0, objective=primal, nnz=int(nz.size))


# ----------------------------------------------------------------------------------------------------------
# Workers

def _versions(solver):
    import threadpoolctl
    out = {}
    if solver == "netmirror":
        import netmirror
        import hashlib
        from netmirror import _core
        out["netmirror"] = netmirror.__version__
        with open(_core.__file__, "rb") as f:
            out["_core"] = dict(path=_core.__file__, sha256=hashlib.sha256(f.read()).hexdigest()[:16],
                                mtime=datetime.datetime.fromtimestamp(os.path.getmtime(_core.__file__),
                                                                      datetime.timezone.utc).isoformat(timespec="seconds"))
        out["NETMIRROR_NUM_THREADS"] = os.environ.get("NETMIRROR_NUM_THREADS", f"(unset: all {os.cpu_count()} cores)")
    elif solver == "scikit-learn":
        import sklearn
        out["scikit-learn"] = sklearn.__version__
    elif solver == "celer":
        import celer
        out["celer"] = celer.__version__
    elif solver == "skglm":
        import skglm
        import numba
        out["skglm"] = skglm.__version__
        out["numba"] = numba.__version__
    out["threadpools"] = [dict(api=p["internal_api"], threads=p["num_threads"]) for p in threadpoolctl.threadpool_info()]
    return out


def _fit(solver, A, y, beta, tol, max_iter):
    """One cold-start fit; returns (coef, info). Wall time is measured by the caller around this call."""
    n = A.shape[0]
    if solver == "netmirror":
        import netmirror
        res = netmirror.lasso(A, y, beta, tol=tol, max_iter=max_iter)
        return res.coef, dict(n_iter=res.n_iter, n_epochs=res.n_epochs, own_rel_gap=res.relative_gap,
                              converged=res.converged, solver_time=res.time)
    if solver == "scikit-learn":
        from sklearn.linear_model import Lasso
        m = Lasso(alpha=beta / n, tol=tol, max_iter=max_iter, fit_intercept=True).fit(A, y)
        return m.coef_, dict(n_iter=int(m.n_iter_), own_gap=float(m.dual_gap_), converged=int(m.n_iter_) < max_iter)
    if solver == "celer":
        import celer
        m = celer.Lasso(alpha=beta / n, tol=tol, max_iter=max_iter, fit_intercept=True).fit(A, y)
        return m.coef_, dict(n_iter=int(m.n_iter_), own_gap=float(m.dual_gap_), converged=int(m.n_iter_) < max_iter)
    if solver == "skglm":
        import skglm
        m = skglm.Lasso(alpha=beta / n, tol=tol, max_iter=max_iter, fit_intercept=True).fit(A, y)
        crit = float(m.stop_crit_)
        return m.coef_, dict(n_iter=int(m.n_iter_), own_crit=crit, converged=crit <= tol)
    raise ValueError(solver)


def _die_with_parent():
    """Linux: SIGKILL this process when its parent dies (no orphaned fits if the run is interrupted)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001
        pass


def run_forked(work, timeout):
    """Run work() in a forked child of this (warmed-up) worker, so that a run past the cap can be killed
    without losing the worker's imports and numba compilations. The child times work() itself and sends
    ("done", seconds, *work()); otherwise ("error", text) or, past ``timeout``, ("timeout",)."""
    rd, wr = mp.Pipe(duplex=False)
    pid = os.fork()
    if pid == 0:  # child
        try:
            _die_with_parent()
            rd.close()
            t0 = time.perf_counter()
            payload = work()
            t = time.perf_counter() - t0
            wr.send(("done", t, *payload))
        except BaseException as e:  # noqa: BLE001  (reported to the parent, whatever it is)
            try:
                wr.send(("error", f"{type(e).__name__}: {e}"))
            except BaseException:  # noqa: BLE001
                pass
        finally:
            os._exit(0)
    wr.close()
    if rd.poll(timeout):
        try:
            msg = rd.recv()
        except EOFError:
            msg = ("error", "the fit process died without a result")
        os.waitpid(pid, 0)
    else:
        os.kill(pid, signal.SIGKILL)  # our own child, by pid
        os.waitpid(pid, 0)
        msg = ("timeout",)
    rd.close()
    return msg


def _forked_fit(solver, A, y, beta, tol, max_iter, timeout):
    """One fit (coef, info) in a forked child: run_forked."""
    def work():
        coef, info = _fit(solver, A, y, beta, tol, max_iter)
        return np.asarray(coef, dtype=np.float64), info
    return run_forked(work, timeout)


def worker_main(solver, conn):
    _die_with_parent()
    warnings.simplefilter("ignore")
    try:
        info = _versions(solver)
        # warm-up (numba compilation for skglm; imports and first calls for everyone), untimed
        rng = np.random.default_rng(0)
        Aw = np.asfortranarray(rng.standard_normal((40, 120)))
        yw = rng.standard_normal(40)
        _fit(solver, Aw, yw, 0.1 * float(np.abs(Aw.T @ (yw - yw.mean())).max()), 1e-6, 1000)
        conn.send(("ready", info))
    except Exception as e:  # noqa: BLE001
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    A = y = None
    beta = 0.0
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg[0] == "quit":
            return
        if msg[0] == "load":
            A = None
            A = np.load(msg[1])
            y = np.load(msg[2])
            beta = msg[3]
            conn.send(("loaded",))
        elif msg[0] == "fit":
            conn.send(_forked_fit(solver, A, y, beta, msg[1], msg[2], msg[3]))


class Worker:
    def __init__(self, solver):
        self.solver = solver
        self.ctx = mp.get_context("spawn")
        self.start()

    def start(self):
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=worker_main, args=(self.solver, child), daemon=True)
        self.proc.start()
        self.ready = False
        self.info = None
        self.error = None

    def wait_ready(self, timeout=300):
        if self.ready or self.error:
            return
        if not self.conn.poll(timeout):
            self.error = "worker did not start"
            self.kill()
            return
        msg = self.conn.recv()
        if msg[0] == "ready":
            self.ready, self.info = True, msg[1]
        else:
            self.error = msg[1]

    def kill(self):
        if self.proc.is_alive():
            self.proc.kill()  # our own child process, by handle
        self.proc.join(5)
        self.ready = False

    def load(self, a_path, y_path, beta):
        self.conn.send(("load", a_path, y_path, beta))
        self.conn.poll(600)
        return self.conn.recv()

    def fit(self, tol, max_iter, timeout):
        """('done', t, coef, info) | ('timeout',) | ('error', msg). The worker enforces ``timeout``."""
        self.conn.send(("fit", tol, max_iter, timeout))
        if not self.conn.poll(timeout + 300):
            self.kill()
            return ("error", "worker hung")
        return self.conn.recv()

    def close(self):
        if self.proc.is_alive():
            try:
                self.conn.send(("quit",))
            except OSError:
                pass
            self.proc.join(10)
        self.kill()


# ----------------------------------------------------------------------------------------------------------
# Driver

def solver_grid(solver, quick):
    """(tolerance passed to the solver, relative-gap target it stands for) pairs, loosest first."""
    rel = [1e-4, 1e-6, 1e-8, 1e-10] if quick else REL_GRID
    if solver == "netmirror":
        return [(t, t) for t in rel]
    if solver in ("scikit-learn", "celer"):
        return [(t / 2, t) for t in rel]
    return [(t, None) for t in ([1e-4, 1e-6, 1e-8, 1e-10, 1e-12] if quick else SKGLM_GRID)]


def default_max_iter(solver):
    return {"netmirror": None, "scikit-learn": None, "celer": 1000, "skglm": 1000}[solver]


def run_solver(worker, sc, args, log):
    """Cold-start runs over the solver's tolerance grid. Returns (runs, why the sequence stopped)."""
    solver = worker.solver
    runs = []
    max_iter = default_max_iter(solver)
    if solver == "scikit-learn":
        # epoch budget so that one run stops by itself at ~0.9 x cap: probe 2 and 12 epochs (tol = 0)
        probe = {}
        for k in (2, 12):
            r = worker.fit(0.0, k, args.cap)
            if r[0] != "done":
                return runs, f"probe failed: {r[0]} {r[1] if len(r) > 1 else ''}"
            probe[k] = r[1]
        per_epoch = max((probe[12] - probe[2]) / 10.0, probe[12] / 12.0 * 0.5, 1e-7)
        max_iter = max(100, int(0.9 * args.cap / per_epoch))
        log(f"    scikit-learn: {per_epoch * 1e3:.3f} ms/epoch -> max_iter = {max_iter:,}")
    spent = 0.0
    prev_gap = np.inf
    why = "grid done"
    grid = solver_grid(solver, args.quick)
    retried = False
    i = 0
    while i < len(grid):
        tol, target = grid[i]
        if spent > args.budget:
            why = f"budget ({args.budget:.0f} s of fits) spent"
            break
        times = []
        rec = dict(tol=tol, target=target, max_iter=max_iter)
        k = 0
        while k < args.repeat:
            # scikit-learn stops itself through max_iter; the kill is a safety net for it
            kill_at = args.cap if solver != "scikit-learn" else 1.5 * args.cap + 30
            r = worker.fit(tol, max_iter, kill_at)
            k += 1
            if r[0] == "timeout":
                if k == 1:
                    rec["status"] = f"timeout (> {kill_at:.0f} s, killed)"
                    spent += kill_at
                break
            if r[0] == "error":
                rec["status"] = "error: " + r[1]
                break
            _, t, coef, info = r
            times.append(t)
            if k == 1:
                spent += t
                cert = certify(sc["A"], sc["y"], sc["beta"], coef)
                rec.update(cert)
                rec.update(info)
                rec["status"] = "ok" if info.get("converged", True) else "max_iter"
            if t > REPEAT_BELOW:
                break
        rec["times"] = times
        rec["time"] = min(times) if times else None
        runs.append(rec)
        if rec.get("rel_gap") is not None:
            log(f"    {solver:12s} tol={tol:8.1e}  {rec['time']:9.4f} s  rel gap {rec['rel_gap']:9.2e}  "
                f"P={rec['objective']:.12e}  nnz={rec['nnz']:6d}  iters={rec.get('n_iter')}  {rec['status']}")
        else:
            log(f"    {solver:12s} tol={tol:8.1e}  {rec['status']}")
        if (solver == "scikit-learn" and rec["status"] == "max_iter" and not retried
                and rec["time"] < 0.6 * args.cap and rec.get("n_iter")):
            # the probe under-estimated the epoch cost: re-size max_iter from this run and run the tol again
            retried = True
            max_iter = max(100, int(0.9 * args.cap * rec["n_iter"] / rec["time"]))
            log(f"    scikit-learn: re-sized max_iter = {max_iter:,} from this run, same tol again")
            continue
        if solver == "scikit-learn" and rec["status"] == "ok" and rec.get("n_iter", 0) >= 20:
            # re-size the epoch budget from every real run (the probe is dominated by per-fit overhead)
            max_iter = max(100, int(0.9 * args.cap * rec["n_iter"] / rec["time"]))
        if rec["status"] != "ok":
            why = rec["status"]
            if rec["status"] == "max_iter":
                why = f"max_iter ({max_iter:,})" if max_iter else "max_iter (default)"
            break  # timeout / error / max_iter: a tighter tol would stop the same way
        if rec["rel_gap"] <= FLOOR:
            why = f"gap <= {FLOOR:.0e}"
            break
        if rec["rel_gap"] >= prev_gap * 0.999 and rec["rel_gap"] < 1e-8:
            why = "stalled"
            break  # a tighter tol no longer improves the certified gap (floating-point floor)
        prev_gap = min(prev_gap, rec["rel_gap"])
        i += 1
    return runs, why


def summarize(runs, why):
    ok = [r for r in runs if r.get("time") is not None and r.get("rel_gap") is not None]
    ttg = {}
    for th in THRESHOLDS:
        hit = [r["time"] for r in ok if r["rel_gap"] <= th]
        ttg[f"{th:.0e}"] = min(hit) if hit else None
    best = min(ok, key=lambda r: r["rel_gap"]) if ok else None
    return dict(time_to_gap=ttg, best_gap=best["rel_gap"] if best else None,
                best_gap_time=best["time"] if best else None, stopped=why,
                longest_run=max([r["time"] for r in ok] + [0.0]))


def add_suboptimality(results, P0):
    """Primal suboptimality against the best lower bound any certificate of the scenario gave: every run's
    P(z) - gap is a dual value D(theta) <= P*, so (P(z) - max D) / P0 >= (P(z) - P*) / P0."""
    runs = [r for res in results.values() for r in res.get("runs", []) if r.get("rel_gap") is not None]
    if not runs:
        return
    lower = max(r["objective"] - r["gap"] for r in runs)
    for res in results.values():
        ok = [r for r in res.get("runs", []) if r.get("rel_gap") is not None]
        for r in ok:
            r["subopt_rel"] = (r["objective"] - lower) / P0
        if "summary" in res:
            res["summary"]["best_subopt"] = min((r["subopt_rel"] for r in ok), default=None)
            res["summary"]["lower_bound"] = lower


def fmt_t(t):
    if t is None:
        return "did not reach"
    if t < 0.01:
        return f"{t * 1e3:.2f} ms"
    if t < 10:
        return f"{t:.3f} s"
    return f"{t:.1f} s"


def fmt_ratio(t, ref):
    if t is None or ref is None:
        return ""
    return f" ({t / ref:.3g}x)"


def table(sc, results):
    lines = []
    hdr = f"{'solver':13s}" + "".join(f" | {'t(gap<=' + k + ')':>21s}" for k in (f'{th:.0e}' for th in THRESHOLDS))
    hdr += f" | {'best gap (at time)':>26s} | {'P-L':>7s} | stopped by"
    lines.append(hdr)
    lines.append("-" * len(hdr))
    ref = results.get("netmirror", {}).get("summary", {}).get("time_to_gap", {})
    for solver in SOLVERS:
        if solver not in results:
            continue
        res = results[solver]
        if "error" in res:
            lines.append(f"{solver:13s} | unavailable: {res['error']}")
            continue
        s = res["summary"]
        row = f"{solver:13s}"
        for th in THRESHOLDS:
            key = f"{th:.0e}"
            t = s["time_to_gap"][key]
            cell = fmt_t(t) + ("" if solver == "netmirror" else fmt_ratio(t, ref.get(key)))
            row += f" | {cell:>21s}"
        bg = "-" if s["best_gap"] is None else f"{s['best_gap']:.1e} ({fmt_t(s['best_gap_time'])})"
        so = "-" if s.get("best_subopt") is None else f"{max(s['best_subopt'], 0.0):.0e}"
        row += f" | {bg:>26s} | {so:>7s} | {s['stopped']}"
        lines.append(row)
    return lines


def targets(sc, results, cap):
    def t_at(solver, key):
        return results.get(solver, {}).get("summary", {}).get("time_to_gap", {}).get(key)

    out = []
    nm = t_at("netmirror", "1e-10")
    name = sc["name"]
    if name in ("a", "a_sub"):
        sk = t_at("scikit-learn", "1e-10")
        if nm is None:
            out.append("target (>= 50x scikit-learn at 1e-10): MISSED, netmirror did not reach 1e-10")
        elif sk is not None:
            ratio = sk / nm
            out.append(f"target (>= 50x scikit-learn at 1e-10): {'met' if ratio >= 50 else 'MISSED'}, "
                       f"{ratio:.1f}x ({fmt_t(sk)} vs {fmt_t(nm)})")
        else:
            sk = results.get("scikit-learn", {}).get("summary", {})
            spent = sk.get("longest_run", 0.0)
            stopped = sk.get("stopped", "")
            # stopped by the cap (or by max_iter sized to it): it needs more than its longest run
            bound = max(spent, cap if "timeout" in stopped else 0.0) / nm
            best = sk.get("best_gap")
            out.append(f"target (>= 50x scikit-learn at 1e-10): scikit-learn did not reach 1e-10 "
                       f"(best {best if best is None else f'{best:.1e}'}, longest run {fmt_t(spent)}, stopped by "
                       f"{stopped}); ratio > {bound:.0f}x ({'met' if bound >= 50 else 'not shown by this bound'}), "
                       f"netmirror at {fmt_t(nm)}")
    elif name == "b":
        if nm is None:
            out.append("target (1e-10 in < 1 s): MISSED, netmirror did not reach 1e-10")
        else:
            out.append(f"target (1e-10 in < 1 s): {'met' if nm < 1.0 else 'MISSED'}, {fmt_t(nm)}")
    elif name == "c":
        for th in THRESHOLDS:
            key = f"{th:.0e}"
            a, b = t_at("netmirror", key), t_at("skglm", key)
            if a is None and b is None:
                verdict = "neither reached"
            elif a is None:
                verdict = "MISSED (netmirror did not reach)"
            elif b is None:
                verdict = f"met (skglm did not reach; netmirror {fmt_t(a)})"
            else:
                verdict = f"{'met' if a <= b else 'MISSED'}: netmirror {fmt_t(a)} vs skglm {fmt_t(b)} ({b / a:.2f}x)"
            out.append(f"target (no slower than skglm) at {key}: {verdict}")
    return out


def git_commit():
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        c = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True).stdout.strip()
        return c + ("+dirty" if dirty else "")
    except Exception:  # noqa: BLE001
        return "unknown"


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_scenarios(names, solvers, args, log, cmd="", now=None):
    """Run the scenarios `names` for `solvers` (args: cap, budget, repeat, quick). Returns (report, tables,
    start time): report as written by --json, tables the printed summary lines per scenario."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    threads = os.environ["NETMIRROR_BENCH_THREADS"]
    T0 = time.perf_counter()
    workers = {s: Worker(s) for s in solvers}  # start (imports, numba compilation) in parallel, before any timing
    for w in workers.values():
        w.wait_ready()
    for s, w in workers.items():
        log(f"#   {s}: " + (json.dumps(w.info) if w.ready else f"UNAVAILABLE ({w.error})"))

    tmp = tempfile.mkdtemp(prefix="bench_lasso_", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    report = dict(command=cmd, date=now.isoformat(), cpu=cpu_name(), cores=os.cpu_count(), commit=git_commit(),
                  threads=dict(NETMIRROR_NUM_THREADS=os.environ.get("NETMIRROR_NUM_THREADS"), others=threads),
                  python=platform.python_version(), numpy=np.__version__, cap=args.cap, budget=args.budget,
                  repeat=args.repeat, quick=args.quick, workers={s: w.info for s, w in workers.items()},
                  thresholds=THRESHOLDS, scenarios={})
    tables = []
    try:
        for name in names:
            t0 = time.perf_counter()
            sc = build_scenario(name, args.quick)
            N, M = sc["A"].shape
            sc["a_path"] = os.path.join(tmp, f"{name}_A.npy")
            sc["y_path"] = os.path.join(tmp, f"{name}_y.npy")
            np.save(sc["a_path"], sc["A"])
            np.save(sc["y_path"], sc["y"])
            head = (f"({name}) {sc['desc']}: N = {N}, M = {M:,}, beta = {sc['beta']:.4g} = {sc['beta_rule']} "
                    f"= {sc['beta'] / sc['beta_max']:.3g} beta_max (beta_max = {sc['beta_max']:.4g}), "
                    f"1/2||y-mean(y)||^2 = {sc['P0']:.4g}")
            log("")
            load0 = os.getloadavg()
            log(head + f"  [built in {time.perf_counter() - t0:.1f} s; {time.perf_counter() - T0:.0f} s into the run; "
                f"load average {load0[0]:.2f}]")
            results = {}
            for s in solvers:
                w = workers[s]
                if not w.ready:
                    results[s] = dict(error=w.error or "worker not ready")
                    log(f"    {s}: unavailable ({results[s]['error']})")
                    continue
                w.load(sc["a_path"], sc["y_path"], sc["beta"])
                runs, why = run_solver(w, sc, args, log)
                results[s] = dict(runs=runs, summary=summarize(runs, why))
            add_suboptimality(results, sc["P0"])
            load1 = os.getloadavg()
            os.remove(sc["a_path"])
            os.remove(sc["y_path"])
            t_lines = table(sc, results)
            t_lines.append(f"(load average: 1-min {load0[0]:.2f} at the start of this scenario, {load1[0]:.2f} at its end; "
                           f"5-min {load1[1]:.2f})")
            g_lines = targets(sc, results, args.cap)
            tables.append([head] + t_lines + g_lines)
            log("")
            for line in t_lines + g_lines:
                log(line)
            report["scenarios"][name] = dict(desc=sc["desc"], N=N, M=M, beta=sc["beta"], beta_rule=sc["beta_rule"],
                                             beta_max=sc["beta_max"], beta_fraction=sc["beta"] / sc["beta_max"],
                                             P0=sc["P0"], results=results, targets=g_lines,
                                             loadavg=dict(start=load0, end=load1))
            del sc
    finally:
        for w in workers.values():
            w.close()
        try:
            os.rmdir(tmp)
        except OSError:
            pass

    return report, tables, T0

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenario", default="all", choices=["a", "b", "c", "all"])
    p.add_argument("--quick", action="store_true", help="small sizes and caps, a smoke run under a minute")
    p.add_argument("--repeat", type=int, default=None, help=f"timed fits per tolerance for runs under {REPEAT_BELOW:.0f} s (best kept)")
    p.add_argument("--cap", type=float, default=None, help="seconds per competitor run (default 120; --quick: 3)")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds of fits per solver and scenario before its sequence stops (default 400; --quick: 6)")
    p.add_argument("--threads", type=int, default=None, help="OMP/OpenBLAS/MKL/numba threads (default: all cores)")
    p.add_argument("--solvers", default=",".join(SOLVERS), help="comma-separated subset of " + ",".join(SOLVERS))
    p.add_argument("--json", default=None, help="write every run and the summary here")
    args = p.parse_args(argv)
    args.cap = args.cap if args.cap is not None else (2.0 if args.quick else 120.0)
    args.budget = args.budget if args.budget is not None else (2.0 if args.quick else 400.0)
    args.repeat = max(1, args.repeat if args.repeat is not None else (1 if args.quick else 3))
    solvers = [s for s in args.solvers.split(",") if s]
    for s in solvers:
        if s not in SOLVERS:
            p.error(f"unknown solver {s!r}")
    names = {"a": ["a", "a_sub"], "b": ["b"], "c": ["c"], "all": ["a", "a_sub", "b", "c"]}[args.scenario]

    def log(s):
        print(s, flush=True)

    cmd = "python bench/bench_lasso.py" + ("" if argv is None and len(sys.argv) == 1 else " " + " ".join(sys.argv[1:]))
    now = datetime.datetime.now(datetime.timezone.utc)
    threads = os.environ["NETMIRROR_BENCH_THREADS"]
    log(f"# reproduce: {cmd}")
    log(f"# {now:%Y-%m-%d %H:%M} UTC; {cpu_name()}, {os.cpu_count()} cores; commit {git_commit()}; "
        f"numpy {np.__version__}, Python {platform.python_version()}")
    log(f"# threads: netmirror NETMIRROR_NUM_THREADS={os.environ.get('NETMIRROR_NUM_THREADS', '(unset: all cores)')}; "
        f"others OMP/OPENBLAS/MKL/NUMBA_NUM_THREADS={threads}")
    log(f"# cap {args.cap:.0f} s per run, budget {args.budget:.0f} s per solver and scenario, repeat {args.repeat} "
        f"(runs under {REPEAT_BELOW:.0f} s; best kept); gaps certified here in float64, relative to 1/2||y-mean(y)||^2")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup below on kill
    report, tables, T0 = run_scenarios(names, solvers, args, log, cmd, now)
    log("")
    log("=" * 40 + " summary " + "=" * 40)
    log(f"time to reach a certified relative duality gap (same float64 certificate for every solver); "
        f"(Nx) = time / netmirror's time; P-L = best (P(z) - L) / P0, L = best dual bound of the scenario; "
        f"total {time.perf_counter() - T0:.0f} s")
    for block in tables:
        log("")
        for line in block:
            log(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=lambda o: o.item() if hasattr(o, "item") else str(o))
        log(f"\n# wrote {args.json}")


if __name__ == "__main__":
    main()
