"""The Lasso at beta = 0 and at tiny beta, from its beta -> 0+ limit (C++: basis_pursuit.hpp, homotopy.hpp).

beta = 0 means the limit beta -> 0+: among the least-squares fits (the interpolants when the columns span the
data), the coefficients of minimum l1 norm. It is a linear program, solved by a simplex with column generation
that returns a basic solution (at most rank(P A) <= N - 1 nonzeros, linearly independent columns) with its LP
duality certificate. For 0 < beta small, the path is followed up from that basic solution, and the existing
certified solver polishes the end point (warm-started in primal and dual) when the path alone does not reach
``tol``.

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
# With this few rows the path up from the limit has few kinks at any beta: take it always (it is exact where
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
    """The limit (beta = 0) or the path up from it (beta > 0) on a dense A, rows merged; returns a dict with the
    coefficients, the intercept, the LP certificate and, for beta > 0, the path's end point."""
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


def basic_solution(X, z, rtol=1e-10):
    """Coefficients with the same fit and l1 norm as z whose support columns are linearly independent.

    X: the support's columns (n, k), centred when there is an intercept; z: their coefficients (k,). Moves along
    null-space directions of X (Caratheodory), which keep X z and, at an optimum, ||z||_1 constant, until
    coordinates vanish: at most rank(X) nonzeros remain."""
    import scipy.linalg

    z = np.array(z, dtype=np.float64)
    k = z.size
    if k <= 1:
        return z
    _, R, piv = scipy.linalg.qr(X, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    rank = int(np.sum(d > rtol * d[0])) if d.size and d[0] > 0 else 0
    if rank >= k:
        return z
    # null basis: columns piv[rank:] expressed through piv[:rank]
    W = scipy.linalg.solve_triangular(R[:rank, :rank], R[:rank, rank:]) if rank else np.zeros((0, k - rank))
    N = np.zeros((k, k - rank))
    N[piv[:rank]] = -W
    N[piv[rank:], np.arange(k - rank)] = 1.0
    s = np.sign(z)
    fit_tol = 1e-12 * max(np.linalg.norm(X @ z), np.finfo(float).tiny)
    for c in range(k - rank):
        dvec = N[:, c]
        nz = np.flatnonzero((dvec != 0) & (z != 0))
        if nz.size == 0:
            continue
        ratio = -z[nz] / dvec[nz]
        # the direction that does not raise ||z||_1 (flat at an optimum: s^T d = 0)
        slope = float(s @ dvec)
        pos, neg = ratio[ratio > 0], ratio[ratio < 0]
        if slope < 0 and pos.size:
            choose = pos.min()
        elif slope > 0 and neg.size:
            choose = neg.max()
        else:
            cand = [v for v in (pos.min() if pos.size else None, neg.max() if neg.size else None) if v is not None]
            choose = min(cand, key=abs)
        i = nz[np.argmin(np.abs(ratio - choose))]
        # near-dependent columns give approximate null directions: take the step only if the fit stays put
        if abs(choose) * np.linalg.norm(X @ dvec) > fit_tol:
            continue
        z = z + choose * dvec
        z[i] = 0.0
        s = np.sign(z)
        # keep the other null directions from reviving coordinate i
        for c2 in range(c + 1, k - rank):
            if N[i, c2] != 0.0:
                N[:, c2] -= N[i, c2] / dvec[i] * dvec
                N[i, c2] = 0.0
    return z
