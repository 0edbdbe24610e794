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
    out["p0"] = p0  # P(0) of the original rows, the scale of tol
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


# Exact certificates for tiny problems: float64 cannot certify data whose features differ by 1e-10 relative
# (x = 0, 1, 1e10: a fit through cancellations of 1e10-sized terms), rational arithmetic on the same float64
# data can.
EXACT_MAX_SUPPORT = 16
EXACT_MAX_ENTRIES = 1 << 16


def exact_certificate(A, y, z, beta, fit_intercept):
    """[(coef, dual, gap, objective)] for the exact solution on an independent support (a basic solution, first)
    and for z, certified in exact rational arithmetic on the given float64 data; None when the problem is too
    large or the support singular.

    On the support S of z with signs s, the stationarity condition (X_S^T X_S) z_S = X_S^T y - beta s is solved
    exactly (X, y centred exactly with an intercept) and z_S rounded to float64; theta = y - X_S z_S (exact)
    rounded; both points are then evaluated exactly: the primal of the better of z and the rounded z_S, the dual
    at theta / max(1, max_j |x_j^T theta| / beta). The gap is a rigorous bound for the float64 data."""
    from fractions import Fraction as F

    A = np.asarray(A, dtype=np.float64)
    n, m = A.shape
    nz = np.flatnonzero(z)
    if not 0 < nz.size <= EXACT_MAX_SUPPORT or n * m > EXACT_MAX_ENTRIES or not beta > 0:
        return None
    b = F(float(beta))
    cols = [[F(v) for v in A[:, j].tolist()] for j in range(m)]
    yv = [F(v) for v in np.asarray(y, dtype=np.float64).tolist()]
    if fit_intercept:
        cols = [[v - sum(c) / n for v in c] for c in cols]
        ym = sum(yv) / n
        yv = [v - ym for v in yv]

    def dot(u, v):
        return sum(p * q for p, q in zip(u, v))

    # an independent support, the largest coefficients first (those of rounding size then drop out)
    Xc = A - A.mean(axis=0) if fit_intercept else A
    S = []
    for j in nz[np.argsort(-np.abs(np.asarray(z)[nz]), kind="stable")].tolist():
        T = Xc[:, S + [j]]
        sv = np.linalg.svd(T / np.linalg.norm(T, axis=0), compute_uv=False)
        if sv[-1] > 1e-13 * sv[0]:
            S.append(j)
    s = [1 if z[j] > 0 else -1 for j in S]
    k = len(S)
    aug = [[dot(cols[S[i]], cols[S[j]]) for j in range(k)] + [dot(cols[S[i]], yv) - b * s[i]] for i in range(k)]
    for c in range(k):  # Gauss-Jordan, exact
        p = next((r for r in range(c, k) if aug[r][c] != 0), None)
        if p is None:
            return None
        aug[c], aug[p] = aug[p], aug[c]
        for r in range(k):
            if r != c and aug[r][c] != 0:
                f = aug[r][c] / aug[c][c]
                aug[r] = [u - f * v for u, v in zip(aug[r], aug[c])]
    zs = [aug[i][k] / aug[i][i] for i in range(k)]
    theta = list(yv)
    for v, j in zip(zs, S):
        theta = [t - v * c for t, c in zip(theta, cols[j])]
    theta_f = [F(t) for t in np.array([float(t) for t in theta]).tolist()]  # the float64 point returned
    if fit_intercept:  # keep 1^T theta = 0 exactly after rounding
        shift = sum(theta_f) / n
        theta_f = [t - shift for t in theta_f]
    cmax = max(abs(dot(c, theta_f)) for c in cols)
    scale = max(F(1), cmax / b)
    th = [t / scale for t in theta_f]
    dual = dot(th, yv) - dot(th, th) / 2

    def primal(zv):
        r = list(yv)
        for j in np.flatnonzero(zv).tolist():
            zj = F(float(zv[j]))
            r = [ri - zj * c for ri, c in zip(r, cols[j])]
        return dot(r, r) / 2 + b * sum(abs(F(float(v))) for v in zv)

    z_round = np.zeros(m)
    z_round[S] = [float(v) for v in zs]
    z_given = np.array(z, dtype=np.float64)
    theta_out = np.array([float(t) for t in th])
    return [(zc, theta_out, float(pc - dual), float(pc)) for zc, pc in ((z_round, primal(z_round)),
                                                                        (z_given, primal(z_given)))]
