"""Lasso twins: ``min_{z, xi} 1/2 ||A z + xi 1 - y||^2 + beta ||z||_1`` solved in the C++ core.

Sum units throughout (scikit-learn's ``alpha`` equals ``beta / n_samples``). The intercept xi is free
(unpenalized) and handled by implicit centering: A is never copied when it is Fortran-ordered.

Stopping rule: the solver stops when the certified duality gap G = P(z) - D(theta) is at most
``tol * P(0)`` with P(0) = 1/2 ||y - mean(y)||^2 (1/2 ||y||^2 without intercept): ``tol`` is relative.
The returned ``gap`` is that absolute gap, computed in float64 over every column of A, so
``objective - gap`` is a lower bound on the optimum.

Matrix-free: ``lasso``, ``lasso_path`` and ``beta_max`` also take a :class:`netmirror.Library` in place of A.
Its columns are then evaluated on demand by the C++ operator (``_core.LibraryOperator``: O(N + M) memory,
prefix-sum correlations for deep-narrow relu/leaky_relu/abs libraries, docs/matrix_free.md), never stored.
Those solves show a progress bar on a terminal or with ``verbose=True``.

Every solve, dense or matrix-free, stops cleanly on Ctrl-C: the best certified iterate comes back with
``interrupted=True`` and a ConvergenceWarning.
"""
from __future__ import annotations

import dataclasses
import sys
import time
import warnings

import numpy as np

from . import _checks, _core, _limit, _memory


class ConvergenceWarning(UserWarning):
    """The solver stopped (iteration cap) before its duality gap reached the requested tolerance."""


@dataclasses.dataclass
class LassoResult:
    """Solution of one Lasso problem, with its certificate.

    coef : (M,) float64 coefficients z.      intercept : xi (0.0 when fit_intercept=False).
    objective : P(z, xi) in float64.         gap : certified absolute duality gap, P - D >= P - P*.
    relative_gap : gap / P(0).               n_iter : outer iterations (full passes over A).
    n_epochs : coordinate-descent epochs.    converged : gap <= tol * P(0).
    dual : (N,) a dual-feasible point theta (centered residual direction) that certifies the gap.
    interrupted : the solve was stopped by Ctrl-C: coef is the best certified iterate so far.
    """
    coef: np.ndarray
    intercept: float
    objective: float
    gap: float
    relative_gap: float
    n_iter: int
    n_epochs: int
    converged: bool
    beta: float
    dual: np.ndarray
    time: float = 0.0
    interrupted: bool = False


_DEFAULT_MAX_ITER = 500


def _is_library(A):
    from ._library import Library
    from ._planes import PlaneLibrary
    return isinstance(A, (Library, PlaneLibrary))


def _check_library(lib):
    if len(lib) == 0:
        raise ValueError("the library has no features (every column is constant on x): nothing to fit")
    if lib.activation not in ("sign", "threshold"):  # piecewise-linear features scale with the spread of x
        _check_magnitude("x", float(np.ptp(lib.x)), "before building the library")
    return lib


def _progress(enabled, desc, cols, start=0):
    """tqdm bar fed with the operator's count of evaluated columns (statistics pass, then A^T r passes);
    ``start``: the count already reached when the bar opens."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    bar = tqdm(desc=desc, unit="col", unit_scale=True, leave=False, file=sys.stderr)
    state = {"last": start}

    def update(done):
        bar.update(done - state["last"])
        state["last"] = done
        bar.set_postfix_str(f"{(done - start) / cols:.1f} passes over {cols:,} columns", refresh=False)

    update.close = bar.close
    return update


def _show_progress(verbose):
    try:
        return bool(verbose) or sys.stderr.isatty()
    except (AttributeError, ValueError):
        return bool(verbose)


def _library_operator(lib, progress):
    """The implicit dictionary of lib (column statistics are computed here: one pass over the columns)."""
    try:
        return _core.LibraryOperator(lib._family, lib.raw_index, "auto", progress)
    finally:
        if progress is not None:
            progress.close()


def _solve_library(op, y, beta, fit_intercept, tol, max_iter, z0, dual, verbose, show):
    progress = _progress(show, "netmirror.lasso (matrix-free)", op.cols, op.columns_evaluated)
    try:
        return _core.lasso_solve_library(op, y, beta, fit_intercept, tol, max_iter, z0, dual, verbose, progress)
    finally:
        if progress is not None:
            progress.close()


def _check_design(A):
    if isinstance(A, (list, tuple)):
        A = np.asarray(A)
        if A.dtype.kind not in "biuf":
            raise TypeError(f"A must be a 2-D array of real numbers, got a list of dtype {A.dtype}")
    if not isinstance(A, np.ndarray):
        raise TypeError(f"A must be a 2-D numpy array (float64 or float32), got {type(A).__name__}")
    if A.ndim != 2:
        raise ValueError(f"A must be 2-D (n_samples, n_features), got shape {A.shape}")
    if A.shape[0] == 0 or A.shape[1] == 0:
        raise ValueError(f"A is empty (shape {A.shape}): need at least one sample and one feature")
    if not A.dtype.isnative and A.dtype.kind in "biuf":  # byte-swapped (a big-endian file): one native copy
        _memory.check(A.nbytes, f"converting the byte-swapped {A.shape[0]:,} x {A.shape[1]:,} A to native order",
                      "pass A in native byte order")
        A = A.astype(A.dtype.newbyteorder("="), order="F")
    if A.dtype not in (np.float64, np.float32):
        if A.dtype.kind in "biu":
            _memory.check(8 * A.size, f"converting the {A.shape[0]:,} x {A.shape[1]:,} {A.dtype} A to float64",
                          "pass A as float64 or float32 (A.astype(np.float32))")
            A = A.astype(np.float64, order="F")
        else:
            raise TypeError(f"A must be float64 or float32, got dtype {A.dtype}; convert it with A.astype(np.float64)")
    if not (A.flags.f_contiguous or A.flags.c_contiguous):
        _memory.check(A.nbytes, f"copying the strided {A.shape[0]:,} x {A.shape[1]:,} A into Fortran order",
                      "pass a contiguous A (C or Fortran order)")
        A = np.asfortranarray(A)  # strided views: one copy, then the kernels stream contiguous memory
    bad, top = _scan(A)
    if bad is not None:
        raise ValueError(f"A contains NaN or inf (first at row {bad[0]}, column {bad[1]}); remove or impute it")
    _check_magnitude("A", top, "and beta by the same factor")
    return A


# The solver sums squares of entries in float64: entries beyond 1e100 could overflow them, entries all below
# 1e-100 underflow them to zero (columns then look constant). Inside that range the sums are exact enough.
_MAX_MAGNITUDE = 1e100


def _check_magnitude(name, top, what):
    if top > _MAX_MAGNITUDE or 0 < top < 1 / _MAX_MAGNITUDE:
        raise ValueError(f"{name} has entries of magnitude {top:.1e}: its squares leave the float64 range; "
                         f"rescale {name} (multiply it by a power of 10) {what}")


def _scan(A):
    """((row, column) of the first NaN/inf or None, largest |entry|) of a contiguous 2-D A, read in slices
    so that temporaries stay small however large A is."""
    order = "F" if A.flags.f_contiguous else "C"
    flat = A.ravel(order=order)  # a view: A is contiguous
    step = 1 << 20
    top = 0.0
    for start in range(0, flat.size, step):
        part = flat[start:start + step]
        ok = np.isfinite(part)
        if not ok.all():
            pos = start + int(np.argmin(ok))
            return tuple(int(v) for v in np.unravel_index(pos, A.shape, order=order)), top
        top = max(top, float(part.max()), -float(part.min()))  # no |part| temporary
    return None, top


def _check_target(y, n):
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"y must be a real numeric vector, got dtype {y.dtype}")
    y = np.ascontiguousarray(y, dtype=np.float64).reshape(-1) if y.ndim == 2 and 1 in y.shape else y
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"y must be a vector of length {n} (the rows of A), got shape {y.shape}")
    y = np.ascontiguousarray(y, dtype=np.float64)
    if not np.isfinite(y).all():
        raise ValueError(f"y contains NaN or inf (first at index {int(np.argmin(np.isfinite(y)))}); remove those rows")
    _check_magnitude("y", float(np.abs(y).max()), "and beta by the same factor")
    return y


def _solver_advice(A):
    """Ways around the solver's working memory (which a float32 or matrix-free dictionary does not shrink)."""
    if _is_library(A):
        from ._library import _smaller_library
        return _memory.advice(*_smaller_library(A))
    return _memory.advice(("use fewer rows or columns of A", "use fewer points"))


def _check_solver_memory(shape, A, what="the Lasso solve", extra=0):
    n, m = shape
    library_input = _is_library(A)
    need = _memory.lasso_bytes(n, m) + extra
    if library_input:
        need += _memory.operator_bytes(n, m)
    _memory.check(need, f"{what} on a {n:,} x {m:,} {'matrix-free ' if library_input else ''}dictionary",
                  _solver_advice(A))


def _check_positive(name, v, allow_zero=False):
    """float(v) for a finite positive (allow_zero: non-negative) real: Python, NumPy scalar or 0-d array."""
    return _checks.positive(name, v, allow_zero)


def _check_max_iter(max_iter, default=_DEFAULT_MAX_ITER):
    """int(max_iter) in [1, 2**63 - 1] (the core's int64), or the default for None."""
    if max_iter is None:
        return default
    return _checks.integer("max_iter", max_iter, 1)


def _apply(A, z):
    """A @ z in float64 for a dense A (column blocks: a float32 A is never copied whole) or a library (only
    the columns where z is nonzero are evaluated, in blocks). Overflow gives inf, without warnings."""
    nz = np.flatnonzero(z)
    if _is_library(A):
        n = len(A.x)
        points = A._coords  # the library's kernel coordinates (its frame; the affine hull's for flat planes)
        out = np.zeros(n)
        raw = nz.astype(np.int64) if A.raw_index is None else np.asarray(A.raw_index)[nz]
        step = max(1, (8 << 20) // (8 * max(n, 1)))
        with np.errstate(over="ignore", invalid="ignore"):
            for s in range(0, nz.size, step):
                block = np.empty((n, min(step, nz.size - s)), order="F")
                A._family.assemble(np.ascontiguousarray(raw[s:s + step]), points, block)
                out += block @ z[nz[s:s + step]]
        return out
    out = np.zeros(A.shape[0])
    step = max(1, (8 << 20) // (8 * max(A.shape[0], 1)))
    with np.errstate(over="ignore", invalid="ignore"):
        for s in range(0, nz.size, step):
            cols = nz[s:s + step]
            out += np.asarray(A[:, cols], dtype=np.float64) @ z[cols]
    return out


def _check_warm_start(A, y, coef_init, beta, fit_intercept, m):
    """The warm start as a float64 vector, refused (ValueError) when the objective there is not finite: the
    solver would start from inf and return inf as objective and gap."""
    z0 = np.asarray(coef_init)
    if z0.dtype.kind not in "biuf":
        raise TypeError(f"coef_init must be a vector of real numbers, got dtype {z0.dtype}")
    z0 = np.ascontiguousarray(z0, dtype=np.float64)
    if z0.shape != (m,) or not np.isfinite(z0).all():
        raise ValueError(f"coef_init must be a finite vector of length {m}, got shape {np.shape(coef_init)}")
    with np.errstate(over="ignore", invalid="ignore"):
        _refuse_overflowing_warm_start(y - _apply(A, z0), z0, beta, fit_intercept)
    return z0


def _refuse_overflowing_warm_start(r, z0, beta, fit_intercept):
    """ValueError when the objective at a warm start z0 with residual r = y - A z0 is not finite (the solver would
    start from inf and return inf as objective and gap); shared with the GPU path."""
    with np.errstate(over="ignore", invalid="ignore"):
        if fit_intercept:
            r = r - np.mean(r)
        l1 = float(np.sum(np.abs(z0)))
        objective = 0.5 * float(r @ r) + beta * l1
    if not np.isfinite(objective):
        raise ValueError(f"coef_init is too large (||coef_init||_1 = {l1:.3g}): the objective at the warm start "
                         "overflows float64; pass a smaller warm start, or none (coef_init=None)")


def beta_max(A, y, fit_intercept=True):
    """Smallest beta for which z = 0 is optimal: ||A^T (y - mean(y))||_inf (||A^T y||_inf without intercept).

    A may be a :class:`netmirror.Library` (matrix-free)."""
    if _is_library(A):
        lib = _check_library(A)
        y = _check_target(y, len(lib.x))
        n, m = len(lib.x), len(lib)
        _memory.check(_memory.operator_bytes(n, m) + 16 * m, f"beta_max of a {n:,} x {m:,} matrix-free dictionary",
                      _solver_advice(lib))
        op = _library_operator(lib, _progress(_show_progress(False), "netmirror.beta_max", len(lib)))
        return float(op.beta_max(y, bool(fit_intercept)))
    A = _check_design(A)
    y = _check_target(y, A.shape[0])
    _memory.check(16 * A.shape[1] + 16 * A.shape[0], f"beta_max of a {A.shape[0]:,} x {A.shape[1]:,} dictionary",
                  "use fewer columns")
    return float(_core.lasso_beta_max(A, y, bool(fit_intercept)))


def lasso(A, y, beta, *, fit_intercept=True, tol=1e-10, max_iter=None, coef_init=None, verbose=False, device="cpu"):
    """Solve ``min 1/2 ||A z + xi 1 - y||^2 + beta ||z||_1`` to a certified relative duality gap ``tol``.

    A : (N, M) float64 or float32, Fortran (never copied) or C order; or a :class:`netmirror.Library`, solved
        matrix-free (its twin needs ``fit_intercept=lib.fit_intercept``, False for 2-D sign nets).
    y : (N,) targets.
    beta : penalty (sum units; scikit-learn alpha = beta / N).
    tol : stop when gap <= tol * 1/2 ||y - mean(y)||^2.   max_iter : outer iterations (default 500).
    coef_init : warm start (M,); a ValueError if the objective there overflows float64.
    verbose : print one line per outer iteration.
    beta and tol may be Python, NumPy scalar or 0-d array values; max_iter an integer below 2**63.
    Returns a :class:`LassoResult`; warns :class:`ConvergenceWarning` (stating the gap) if not converged.
    Matrix-free solves show a progress bar (on a terminal, or with verbose). Ctrl-C stops any solve with the
    best certified iterate so far (``interrupted=True``, and a ConvergenceWarning).
    ``device="cuda"``: the correlation passes run on the GPU (:func:`netmirror.cuda.lasso`; A may then also be a
    CuPy array; a NumPy A is copied to the GPU once); same certificate.
    """
    if device == "cuda":
        from . import cuda
        if isinstance(A, (np.ndarray, list, tuple)):
            A = cuda._upload_matrix(_check_design(A))
        return cuda.lasso(A, y, beta, fit_intercept=fit_intercept, tol=tol, max_iter=max_iter, coef_init=coef_init,
                          verbose=verbose)
    if device != "cpu":
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    library_input = _is_library(A)
    if library_input:
        A = _check_library(A)
        shape = (len(A.x), len(A))
    else:
        A = _check_design(A)
        shape = A.shape
    y = _check_target(y, shape[0])
    beta = _check_positive("beta", beta, allow_zero=True)
    tol = _check_positive("tol", tol, allow_zero=True)
    max_iter = _check_max_iter(max_iter)
    _check_solver_memory(shape, A)
    z0 = None if coef_init is None else _check_warm_start(A, y, coef_init, beta, bool(fit_intercept), shape[1])
    t0 = time.perf_counter()
    if beta == 0.0:
        res = _solve_limit(A, y, bool(fit_intercept), tol, library_input, t0)
        return _warn_unconverged(res, tol)
    try:
        start = _start_from_limit(A, y, beta, bool(fit_intercept), tol, library_input, z0)
    except _LimitInterrupted as stop:
        start, max_iter = (stop.coef, None, False), 0  # one certifying pass over the iterate reached
    dual0, near = None, False
    if start is not None:  # warm start from the beta -> 0 limit, in primal and dual
        z0, dual0, near = start
    if library_input:
        show = _show_progress(verbose)
        op = _library_operator(A, _progress(show, "netmirror.lasso: column statistics", shape[1]))

        def solve(iters):
            return _solve_library(op, y, beta, bool(fit_intercept), tol, iters, z0, dual0, bool(verbose), show)
    else:
        def solve(iters):
            return _core.lasso_solve(A, y, beta, bool(fit_intercept), tol, iters, z0, dual0, bool(verbose))
    if near:  # certify the active-set point as it is; polish briefly, keep whichever certifies better
        out = solve(0)
        if not out["converged"] and not out.get("interrupted", False):
            polished = solve(min(max_iter, _NEAR_POLISH_ITER))
            if (polished["converged"] or polished["gap"] < 0.5 * out["gap"]
                    or polished.get("interrupted", False)):
                out = polished
    else:
        out = solve(max_iter)
    res = _result(out, beta, time.perf_counter() - t0)
    res.interrupted = res.interrupted or max_iter == 0
    _to_basic(A, y, res, bool(fit_intercept), library_input)
    if not res.converged and not res.interrupted:
        _certify_exactly(A, y, res, bool(fit_intercept), tol, library_input)
    res.time = time.perf_counter() - t0
    return _warn_unconverged(res, tol)


def _warn_unconverged(res, tol):
    if res.interrupted:
        warnings.warn(f"Lasso interrupted (Ctrl-C) after {res.n_iter} iterations: returning the best iterate so "
                      f"far, certified duality gap {res.gap:.3e} (relative {res.relative_gap:.3e})",
                      ConvergenceWarning, stacklevel=3)
    elif not res.converged:
        warnings.warn(f"Lasso did not converge in {res.n_iter} iterations: duality gap {res.gap:.3e} "
                      f"(relative {res.relative_gap:.3e}) > tol {tol:.1e}; raise max_iter or tol", ConvergenceWarning,
                      stacklevel=3)
    return res


class _LimitInterrupted(Exception):
    def __init__(self, coef):
        super().__init__("interrupted")
        self.coef = coef


# The limit solver works on the dense dictionary (a library is assembled for it) up to this many entries.
_LIMIT_MAX_ENTRIES = 1 << 27


def _dense(A, library_input):
    """(dense float64 Fortran A, row key for merging) for the limit solver, or None when it is too large."""
    n, m = (len(A.x), len(A)) if library_input else A.shape
    if n * m > _LIMIT_MAX_ENTRIES:
        return None
    _memory.check(8 * n * m + _memory.lasso_bytes(n, min(m, 4 * n)), f"the beta -> 0 solve on a {n:,} x {m:,} dictionary",
                  _solver_advice(A))
    if library_input:
        return np.asfortranarray(A.matrix()), A.x
    return np.asfortranarray(A, dtype=np.float64), None


def _solve_limit(A, y, fit_intercept, tol, library_input, t0):
    """beta = 0: the minimum-l1 least-squares fit (basic solution) with its LP duality certificate."""
    dense = _dense(A, library_input)
    if dense is None:
        n, m = (len(A.x), len(A)) if library_input else A.shape
        raise ValueError(f"beta = 0 needs the dense {n:,} x {m:,} dictionary, above {_LIMIT_MAX_ENTRIES:,} entries; "
                         "use a small beta > 0 (e.g. 1e-8 * beta_max) or a smaller library")
    D, key = dense
    out = _limit.solve(D, y, 0.0, fit_intercept, tol, key)
    z = out["lp_coef"]
    r = y - _apply(D, z)
    intercept = float(np.mean(r)) if fit_intercept else 0.0
    r = r - intercept
    merged = out["merged"]
    u = out["lp_dual"]
    if merged is not None:
        _, group, counts = merged
        u = u[group] / np.sqrt(counts[group])
    l1 = float(out["lp_l1"])
    gap = float(out["lp_gap"])
    return LassoResult(coef=z, intercept=intercept, objective=0.5 * float(r @ r), gap=gap,
                       relative_gap=gap / l1 if l1 > 0 else 0.0, n_iter=int(out["lp_passes"]),
                       n_epochs=int(out["pivots"]), converged=bool(out["lp_converged"]), beta=0.0, dual=u,
                       time=time.perf_counter() - t0, interrupted=bool(out["interrupted"]))


# Outer iterations of the polish of an active-set point already within 100 tol: beyond that the coordinate
# descent only grows its working set at the rounding floor (minutes for nothing).
_NEAR_POLISH_ITER = 5


def _start_from_limit(A, y, beta, fit_intercept, tol, library_input, z0):
    """For beta < SMALL_BETA * beta_max (no warm start given): the solution from the limit (basis pursuit, then
    the dual active-set method), in primal and dual, as the warm start of the certified solver; None otherwise."""
    if z0 is not None:
        return None
    n, m = (len(A.x), len(A)) if library_input else A.shape
    if n * m > _LIMIT_MAX_ENTRIES:
        return None
    if 8 * n * m + _memory.lasso_bytes(n, min(m, 4 * n)) > _memory.get_memory_limit():
        return None  # an optional route: never the reason for a refusal
    if n > _limit.FEW_ROWS:  # decide before assembling or copying anything
        bmax = beta_max(A, y, fit_intercept) if library_input else float(_core.lasso_beta_max(A, y, fit_intercept))
        if not beta < _limit.SMALL_BETA * bmax:
            return None
    D, key = _dense(A, library_input)
    out = _limit.solve(D, y, beta, fit_intercept, tol, key)
    if out["interrupted"]:  # Ctrl-C during the limit: certify the iterate reached, nothing more
        raise _LimitInterrupted(out["coef"] if out["coef"].size else out["lp_coef"])
    z, theta = out["coef"], out["dual"]
    if out["merged"] is not None:
        # the weighted rows' dual on the original rows: theta_i = theta_g / sqrt(w_g) + (y_i - mean of y on g);
        # the within-group part is orthogonal to every column, so feasibility and the gap carry over
        _, group, counts = out["merged"]
        means = np.bincount(group, weights=y, minlength=counts.size) / counts
        theta = theta[group] / np.sqrt(counts[group]) + (y - means[group])
        if fit_intercept:
            theta = theta - theta.mean()
    p0 = out["p0"]
    # near: the active-set point is within 100 tol of certified; a long polish rarely beats it (rounding floor)
    near = p0 > 0 and float(out["gap"]) <= 100.0 * tol * p0
    return z, theta, near  # its dual point (feasible): the solver's first pass confirms or polishes it


def _support_columns(A, nz, library_input):
    if library_input:
        n = len(A.x)
        raw = nz.astype(np.int64) if A.raw_index is None else np.asarray(A.raw_index)[nz]
        block = np.empty((n, nz.size), order="F")
        A._family.assemble(np.ascontiguousarray(raw), A._coords, block)
        return block
    return np.asarray(A[:, nz], dtype=np.float64)


_BASIC_MAX_SUPPORT = 4000


def _to_basic(A, y, res, fit_intercept, library_input):
    """Replace res.coef by a basic solution (linearly independent support columns) of the same objective: the
    basis pursuit of its fit over its support (_limit.basic_solution), kept only if the objective does not rise
    beyond rounding; the dual point and so the certificate stay valid."""
    nz = np.flatnonzero(res.coef)
    n = len(A.x) if library_input else A.shape[0]
    if nz.size <= 1 or nz.size > _BASIC_MAX_SUPPORT:
        return
    X = _support_columns(A, nz, library_input)
    if nz.size < n and np.linalg.matrix_rank(X - X.mean(axis=0) if fit_intercept else X) == nz.size:
        return
    znew = _limit.basic_solution(X, res.coef[nz], fit_intercept)
    if znew is None or np.count_nonzero(znew) >= nz.size:
        return
    z = np.zeros_like(res.coef)
    z[nz] = znew
    r = y - _apply(A, z)
    intercept = float(np.mean(r)) if fit_intercept else 0.0
    r = r - intercept
    objective = 0.5 * float(r @ r) + res.beta * float(np.abs(z).sum())
    p0 = res.gap / res.relative_gap if res.relative_gap > 0 else 0.5 * float(np.sum((y - y.mean()) ** 2))
    if not objective <= res.objective + 1e-13 * max(p0, abs(res.objective)):
        return
    res.gap = max(0.0, res.gap + objective - res.objective)
    res.relative_gap = res.gap / p0 if p0 > 0 else 0.0
    res.coef, res.intercept, res.objective = z, intercept, objective


def _certify_exactly(A, y, res, fit_intercept, tol, library_input):
    """Tiny problems that float64 cannot certify (features that differ by 1e-10 relative): the certificate of
    _limit.exact_certificate, in rational arithmetic, replaces the float64 one when it is better."""
    n, m = (len(A.x), len(A)) if library_input else A.shape
    if n > _limit.FEW_ROWS or n * m > _limit.EXACT_MAX_ENTRIES:
        return
    D = A.matrix() if library_input else A
    exact = _limit.exact_certificate(D, y, res.coef, res.beta, fit_intercept)
    if exact is None:
        return
    p0 = res.gap / res.relative_gap if res.relative_gap > 0 else 0.5 * float(np.sum((y - y.mean()) ** 2))
    # the basic solution when it certifies, else the better certificate
    good = [c for c in exact if c[2] <= tol * p0]
    z, theta, gap, objective = good[0] if good else min(exact, key=lambda c: c[2])
    if not gap < res.gap:
        return
    r = y - _apply(D, z)
    res.intercept = float(np.mean(r)) if fit_intercept else 0.0
    res.coef, res.dual, res.gap = z, theta, max(gap, 0.0)
    res.objective = objective
    res.relative_gap = res.gap / p0 if p0 > 0 else 0.0
    res.converged = res.relative_gap <= tol


def _result(out, beta, elapsed):
    return LassoResult(coef=out["coef"], intercept=float(out["intercept"]), objective=float(out["objective"]),
                       gap=float(out["gap"]), relative_gap=float(out["relative_gap"]), n_iter=int(out["n_iter"]),
                       n_epochs=int(out["n_epochs"]), converged=bool(out["converged"]), beta=float(beta),
                       dual=out["dual"], time=elapsed, interrupted=bool(out.get("interrupted", False)))


@dataclasses.dataclass
class LassoPath:
    """Solutions along a decreasing beta grid. ``coefs`` is a scipy.sparse CSC array (M, n_betas)."""
    betas: np.ndarray
    coefs: object
    intercepts: np.ndarray
    objectives: np.ndarray
    gaps: np.ndarray
    n_iters: np.ndarray
    converged: np.ndarray


def lasso_path(A, y, betas=None, *, n_betas=100, eps=1e-3, fit_intercept=True, tol=1e-10, max_iter=None):
    """Lasso solutions on a geometric grid from beta_max down to eps * beta_max (or on ``betas``, sorted
    decreasing), warm-started in primal and dual. Warns ConvergenceWarning for any beta not converged.

    n_betas >= 1 and 0 < eps < 1 (the grid decreases; n_betas=1 is beta_max alone, where z = 0). ``betas`` may
    end at 0: the beta -> 0 limit of :func:`lasso` (its ``gap`` is the LP gap). Betas below 1e-5 beta_max start
    from that limit as :func:`lasso` does, not from the previous beta.

    A may be a :class:`netmirror.Library` (matrix-free; the operator and its column statistics are built
    once for the whole path). Ctrl-C ends a path there: the betas solved so far, the interrupted one included
    with its best iterate, come back with a ConvergenceWarning."""
    import scipy.sparse as sp

    library_input = _is_library(A)
    if library_input:
        shape = (len(A.x), len(_check_library(A)))
    else:
        A = _check_design(A)
        shape = A.shape
    y = _check_target(y, shape[0])
    tol = _check_positive("tol", tol, allow_zero=True)
    max_iter = _check_max_iter(max_iter)
    if betas is None:
        n_betas = _checks.integer("n_betas", n_betas, 1)
        eps = _checks.real("eps", eps, lo=0.0, hi=1.0, lo_open=True, hi_open=True,
                           what="a number with 0 < eps < 1 (the grid runs from beta_max down to eps * beta_max)")
    else:
        betas = np.asarray(betas)
        if betas.dtype.kind not in "biuf":
            raise TypeError(f"betas must be real numbers, got dtype {betas.dtype}")
        betas = betas.astype(np.float64).reshape(-1)
        if betas.size == 0 or not np.isfinite(betas).all() or (betas < 0).any():
            raise ValueError("betas must be a non-empty vector of finite non-negative numbers (0: the beta -> 0 "
                             "limit, the minimum-l1 least-squares fit)")
        betas = np.sort(betas)[::-1]
    n_path = len(betas) if betas is not None else int(n_betas)
    # per beta: the grid, five summaries, and at most ~min(M, N + 1) nonzero coefficients (row index + value)
    _check_solver_memory(shape, A, f"a {n_path:,}-beta Lasso path",
                         extra=n_path * (48 + 24 * min(shape[1], shape[0] + 1)))
    given = A  # the validated input: the beta -> 0 limit works on it (dense, or a library it assembles)
    if library_input:  # validated: now the one statistics pass of the whole path
        show = _show_progress(False)
        A = _library_operator(A, _progress(show, "netmirror.lasso_path: column statistics", shape[1]))
    if betas is None:
        bmax = float(A.beta_max(y, bool(fit_intercept)) if library_input
                     else _core.lasso_beta_max(A, y, bool(fit_intercept)))
        if bmax == 0.0:
            raise ValueError("beta_max is 0 (y is constant or orthogonal to every column): the path is all zeros")
        betas = bmax * np.geomspace(1.0, eps, int(n_betas))
    m = shape[1]
    rows, cols, vals = [], [], []
    intercepts, objectives, gaps, n_iters, conv = [], [], [], [], []
    z = None
    dual = None
    interrupted = False
    small = None  # SMALL_BETA * beta_max: below it a beta starts from the limit, as in lasso()
    for k, beta in enumerate(betas):
        if beta == 0.0:
            res = _solve_limit(given, y, bool(fit_intercept), tol, library_input, time.perf_counter())
            out = {"coef": res.coef, "dual": res.dual, "intercept": res.intercept, "objective": res.objective,
                   "gap": res.gap, "n_iter": res.n_iter, "converged": res.converged, "interrupted": res.interrupted}
        else:
            if small is None and beta < betas[0]:
                bmax = float(A.beta_max(y, bool(fit_intercept)) if library_input
                             else _core.lasso_beta_max(A, y, bool(fit_intercept)))
                small = _limit.SMALL_BETA * bmax
            iters, stopped = max_iter, False
            if small is not None and beta < small:
                try:
                    start = _start_from_limit(given, y, float(beta), bool(fit_intercept), tol, library_input, None)
                except _LimitInterrupted as stop:  # Ctrl-C: certify the iterate reached, end the path there
                    start, iters, stopped = (stop.coef, None, False), 0, True
                if start is not None:
                    z, dual, _ = start
            if library_input:
                out = _solve_library(A, y, float(beta), bool(fit_intercept), tol, iters, z, dual, False, show)
            else:
                out = _core.lasso_solve(A, y, float(beta), bool(fit_intercept), tol, iters, z, dual, False)
            out["interrupted"] = out.get("interrupted", False) or stopped
        z, dual = out["coef"], out["dual"]
        nz = np.flatnonzero(z)
        rows.append(nz)
        cols.append(np.full(nz.size, k))
        vals.append(z[nz])
        intercepts.append(out["intercept"])
        objectives.append(out["objective"])
        gaps.append(out["gap"])
        n_iters.append(out["n_iter"])
        conv.append(out["converged"])
        if out.get("interrupted", False):
            interrupted = True
            betas = betas[: k + 1]
            break
    conv = np.asarray(conv, dtype=bool)
    if interrupted:
        warnings.warn(f"Lasso path interrupted (Ctrl-C) at beta={betas[-1]:.3e}: returning the {len(betas)} "
                      "betas solved so far (the last one with its best iterate)", ConvergenceWarning, stacklevel=2)
    elif not conv.all():
        bad = np.flatnonzero(~conv)
        warnings.warn(f"Lasso path: {bad.size} of {len(betas)} betas did not converge (first beta={betas[bad[0]]:.3e}, "
                      f"gap {gaps[bad[0]]:.3e}); raise max_iter or tol", ConvergenceWarning, stacklevel=2)
    coefs = sp.csc_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(m, len(betas)))
    return LassoPath(betas=betas, coefs=coefs, intercepts=np.asarray(intercepts), objectives=np.asarray(objectives),
                     gaps=np.asarray(gaps), n_iters=np.asarray(n_iters), converged=conv)
