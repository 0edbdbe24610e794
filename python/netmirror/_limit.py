"""The Lasso at beta = 0 and at tiny beta, from its beta -> 0+ limit (C++: basis_pursuit.hpp, dual_active_set.hpp).

beta = 0 means the limit beta -> 0+: among the least-squares fits (the interpolants when the columns span the
data), the coefficients of minimum l1 norm. It is a linear program, solved by a simplex with column generation
that returns a basic solution (at most rank(P A) <= N - 1 nonzeros, linearly independent columns) with its LP
duality certificate. For 0 < beta small, a dual active-set method (Goldfarb & Idnani 1983) on the Lasso's dual
starts from that basis, and the certified coordinate-descent solver confirms the end point (warm-started in
primal and dual), or polishes it when it does not reach ``tol``.

Rows of A that are equal (tied x in a library) carry the same feature values: they are merged, exactly, into one
row of weight w (the group's size) and target the group's mean; the within-group scatter is a constant of the
objective.
"""
from __future__ import annotations

import numpy as np

from . import _core

# Below this fraction of beta_max a solve starts from the limit (the coordinate-descent solver's epochs grow
# as beta shrinks; the limit's cost does not depend on beta).
SMALL_BETA = 1e-5
# With this few rows the active-set method has few steps at any beta: take it always (it is exact where
# coordinate descent crawls, e.g. on data spread over many orders of magnitude).
FEW_ROWS = 16


def merge_rows(A, y, key=None):
    """(representative rows, group of each row, group sizes) when some rows of A are equal, else None.

    key: a 1-D array whose equal values mark equal rows (a library's x); otherwise rows are compared whole
    (hashed by a random projection first, then checked exactly)."""
    n = A.shape[0]
    if key is None:
        probe = np.asarray(A @ np.random.default_rng(0).standard_normal(A.shape[1]), dtype=np.float64)
        _, first, inverse, counts = np.unique(probe, return_index=True, return_inverse=True, return_counts=True)
        if first.size == n:
            return None
        rep = first[inverse]
        # a projection collision of unequal rows would merge them: check exactly and keep those rows apart
        for i in np.flatnonzero(rep != np.arange(n)):
            if not np.array_equal(A[i], A[rep[i]]):
                return None
    else:
        key = np.asarray(key)
        if key.ndim > 1:
            key = np.ascontiguousarray(key).view(np.dtype((np.void, key.dtype.itemsize * key.shape[1]))).ravel()
        _, first, inverse, counts = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
        if first.size == n:
            return None
    return first, inverse.reshape(-1), counts.astype(np.float64)


def solve(A, y, beta, fit_intercept, tol, key=None):
    """The limit (beta = 0) and, for beta > 0, the dual active-set solve from it, on a dense A with equal rows
    merged; returns the kernel's dict (LP solution and certificate; for beta > 0 the Lasso point, its dual and
    gap) with "merged" added."""
    merged = merge_rows(A, y, key)
    if merged is not None:
        first, group, counts = merged
        Au = np.asfortranarray(A[first])
        yu = np.bincount(group, weights=y, minlength=first.size) / counts
        w = counts
    else:
        Au, yu, w = A, y, None
    p0 = 0.5 * float(np.sum((y - y.mean()) ** 2)) if fit_intercept else 0.5 * float(y @ y)
    out = _core.lasso_limit(Au, yu, w, float(beta), bool(fit_intercept), float(tol) * p0, max(float(tol), 1e-15), 200)
    out["merged"] = merged  # (representatives, group of each row, group sizes) or None
    return out


def basic_solution(X, z, fit_intercept):
    """Coefficients with the same fit as z and no larger l1 norm whose support columns are linearly independent.

    X: the support's columns (n, k), as given (the intercept is handled here); z: their coefficients (k,). At a
    Lasso optimum every z' with the fit X z' = X z has ||z'||_1 >= ||z||_1, so the basis pursuit of the fit over
    these columns (the simplex of basis_pursuit.hpp) returns the same l1 norm at a vertex: at most rank(P X)
    nonzeros (Caratheodory). None when the simplex does not certify it."""
    X = np.asfortranarray(X, dtype=np.float64)
    f = X @ np.asarray(z, dtype=np.float64)
    if fit_intercept:
        f = f - f.mean()
    out = _core.lasso_limit(X, f, None, 0.0, bool(fit_intercept), 0.0, 1e-12, 200)
    if not out["lp_converged"] or out["lp_residual_norm2"] > 0.0:
        return None
    return out["lp_coef"]
