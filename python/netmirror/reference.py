"""Readable pure-NumPy reference of every netmirror kernel.

Tests and benchmarks compare the compiled kernels with these functions; nothing here calls compiled code.
The formulas are derived in docs/libraries.md. Raw column order is the same as the C++ core's, and the
arithmetic is done in the same order, so dictionaries agree bit for bit.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

ACTIVATIONS = ("relu", "leaky_relu", "abs", "sign", "threshold")
ARCHITECTURES = ("deep_narrow", "symmetrized", "rectangular", "tree")


# --------------------------------------------------------------------------------------------------
# activations
def activate(activation, u, slope=None):
    """sigma(u): relu, leaky_relu (u or slope*u), abs, sign (sign(0)=+1) or threshold (1{u >= 0})."""
    u = np.asarray(u, dtype=np.float64)
    if activation == "relu":
        return np.where(u > 0.0, u, 0.0)
    if activation == "abs":
        return np.abs(u)
    if activation == "leaky_relu":
        return np.where(u > 0.0, u, slope * u)
    if activation == "sign":
        return np.where(u >= 0.0, 1.0, -1.0)
    if activation == "threshold":
        return np.where(u >= 0.0, 1.0, 0.0)
    raise ValueError(activation)


# --------------------------------------------------------------------------------------------------
# raw library sizes (exact integers)
def switch_budget(architecture, depth, widths):
    """Most switches K a feature of a rectangular/tree sign or threshold net can have."""
    if depth == 2:
        return 1
    if architecture == "rectangular":
        return int(widths[0])  # every deeper unit is a function of the m first-layer steps
    return int(math.prod(int(w) for w in widths[: depth - 2]))  # tree: one leaf per path


def library_size(n, activation, depth, architecture="deep_narrow", widths=None, input_dim=1):
    """Raw number of features, from the count formulas of docs/libraries.md."""
    n = int(n)
    if input_dim == 2:
        return n
    if architecture == "symmetrized":
        return 2 * n**3
    if architecture in ("rectangular", "tree"):
        k_max = min(switch_budget(architecture, depth, widths), n)
        return 2 * sum(math.comb(n, k) for k in range(1, k_max + 1))
    layers = depth - 1
    if activation == "abs":
        return n**layers * (2 if depth >= 3 else 1)  # first breakpoint a data point or a midpoint
    size = (2 * n) ** layers
    if depth == 4 and activation in ("relu", "leaky_relu"):
        size *= 2  # first breakpoint a data point or the reflection 2 x[j2] - x[j1]
    return size


# --------------------------------------------------------------------------------------------------
# raw feature parameters, in raw-index order
def nested_parameters(x, activation, depth):
    """Deep-narrow recursion g1 = s(s1 (x - a1)), g_l = s(s_l (g_{l-1}(x) - g_{l-1}(p_l))).

    Raw index r = sum_i j_i N^i + sum_i b_i 2^i N^H + k 2^H N^H with H = depth - 1 layers, s_i = 2 b_i - 1
    and k the first-breakpoint flag: depth-4 relu / leaky_relu reflection a1 = 2 x[j2] - x[j1], abs (depth >= 3)
    midpoint a1 = (x[j1] + x[j2]) / 2. abs has no sign digits.
    Returns dict of arrays: j (M, H), s (M, H), a1 (M,), p (M, H) anchors (p[:, 0] unused), reflected, midpoint.
    """
    x = np.asarray(x, dtype=np.float64)
    n, layers = len(x), depth - 1
    size = library_size(n, activation, depth)
    r = np.arange(size, dtype=np.int64)
    j = np.empty((size, layers), dtype=np.int64)
    for i in range(layers):
        j[:, i] = r % n
        r = r // n
    s = np.ones((size, layers))
    if activation != "abs":
        for i in range(layers):
            s[:, i] = np.where(r % 2 == 1, 1.0, -1.0)
            r = r // 2
    flag = r == 1
    reflected = flag if (depth == 4 and activation in ("relu", "leaky_relu")) else np.zeros(size, bool)
    midpoint = flag if (depth >= 3 and activation == "abs") else np.zeros(size, bool)
    a1 = x[j[:, 0]].copy()
    if reflected.any():
        a1[reflected] = 2.0 * x[j[reflected, 1]] - x[j[reflected, 0]]
    if midpoint.any():
        a1[midpoint] = 0.5 * (x[j[midpoint, 0]] + x[j[midpoint, 1]])
    p = x[j]
    return {"j": j, "s": s, "a1": a1, "p": p, "reflected": reflected, "midpoint": midpoint}


def symmetrized_parameters(x):
    """3-layer symmetrized net: h(x) = s(x - a) + s(c - x), g = s(s2 (h(x) - h(b)));
    raw r = j1 + j2 N + j3 N^2 + b N^3, a = x[j1], c = x[j2], b = x[j3], s2 = 2b - 1."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    r = np.arange(2 * n**3, dtype=np.int64)
    j = np.stack([r % n, (r // n) % n, (r // n**2) % n], axis=1)
    s = np.where(r // n**3 == 1, 1.0, -1.0)
    return {"j": j, "a": x[j[:, 0]], "c": x[j[:, 1]], "b": x[j[:, 2]], "s": s}


def switching_parameters(n, k_max):
    """Switching sets with 1..K switches: for each k, k-subsets of data indices in colex order, the
    overall sign fastest (-1 then +1). Each subset is listed largest index first."""
    out = []
    for k in range(1, min(k_max, n) + 1):
        subsets = sorted(itertools.combinations(range(n), k), key=lambda c: c[::-1])
        for subset in subsets:
            for sign in (-1, 1):
                out.append((sign, tuple(reversed(subset))))
    return out


# --------------------------------------------------------------------------------------------------
# dictionary matrices
def nested_matrix(x, activation, depth, t=None, slope=None):
    """Raw deep-narrow dictionary: column r is the feature with raw index r evaluated at t."""
    x = np.asarray(x, dtype=np.float64)
    t = x if t is None else np.asarray(t, dtype=np.float64)
    prm = nested_parameters(x, activation, depth)
    s, a1, p = prm["s"], prm["a1"], prm["p"]
    layers = depth - 1

    def act(u):
        return activate(activation, u, slope)

    # c[:, h] = g_h(p_h): layer h+1's bias puts its kink at the anchor point p_h
    c = np.zeros_like(p)
    for h in range(1, layers):
        g = act(s[:, 0] * (p[:, h] - a1))
        for k in range(1, h):
            g = act(s[:, k] * (g - c[:, k]))
        c[:, h] = g
    g = act(s[None, :, 0] * (t[:, None] - a1[None, :]))
    for h in range(1, layers):
        g = act(s[None, :, h] * (g - c[None, :, h]))
    return g


def symmetrized_matrix(x, activation, t=None, slope=None):
    x = np.asarray(x, dtype=np.float64)
    t = x if t is None else np.asarray(t, dtype=np.float64)
    prm = symmetrized_parameters(x)
    a, c, b, s = prm["a"], prm["c"], prm["b"], prm["s"]

    def act(u):
        return activate(activation, u, slope)

    hb = act(b - a) + act(c - b)
    h = act(t[:, None] - a[None, :]) + act(c[None, :] - t[:, None])
    return act(s[None, :] * (h - hb[None, :]))


def switching_matrix(x, activation, k_max, t=None):
    """Column = sigma(sign * (-1)^{#thresholds above t}): a +-1 (or 0/1) vector with <= K switches."""
    x = np.asarray(x, dtype=np.float64)
    t = x if t is None else np.asarray(t, dtype=np.float64)
    cols = []
    for sign, subset in switching_parameters(len(x), k_max):
        above = (x[list(subset)][None, :] > t[:, None]).sum(axis=1)
        cols.append(activate(activation, sign * np.where(above % 2 == 1, -1.0, 1.0)))
    return np.stack(cols, axis=1) if cols else np.zeros((len(t), 0))


def angular_matrix(x, t=None):
    """2-layer sign net on 2-D data without biases: column j = sign(x_j cross t) (Lemma C.4 of seed 000)."""
    x = np.asarray(x, dtype=np.float64)
    t = x if t is None else np.asarray(t, dtype=np.float64)
    cross = x[None, :, 0] * t[:, None, 1] - x[None, :, 1] * t[:, None, 0]
    return np.where(cross >= 0.0, 1.0, -1.0)


def library_matrix(x, activation, depth, architecture="deep_narrow", slope=None, widths=None, t=None):
    """Raw (undeduplicated) dictionary of any family, columns in raw-index order."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        return angular_matrix(x, t)
    if architecture == "symmetrized":
        return symmetrized_matrix(x, activation, t, slope)
    if architecture in ("rectangular", "tree"):
        return switching_matrix(x, activation, switch_budget(architecture, depth, widths), t)
    return nested_matrix(x, activation, depth, t, slope)


# --------------------------------------------------------------------------------------------------
# deduplication
def dedup_tolerance(x, activation):
    x = np.asarray(x, dtype=np.float64)
    if activation in ("sign", "threshold") or x.ndim == 2:
        return 0.25
    return 1e-9 * float(x.max() - x.min()) + 1024.0 * np.finfo(np.float64).eps * float(np.abs(x).max())


def canonical_column(v, tol, intercept=True):
    """Integer key of a column up to sign (and an additive constant with an intercept); None if constant."""
    d = v - v[0] if intercept else v.astype(np.float64)
    big = np.flatnonzero(np.abs(d) > tol)
    if big.size == 0:
        return None
    flip = 1.0 if d[big[0]] > 0 else -1.0
    return np.rint(flip * d / tol).astype(np.int64).tobytes()


def deduplicate(A, tol, intercept=True):
    """Indices of the first column of each class of columns equal up to sign (+ constant); constants dropped."""
    seen, kept = set(), []
    for j in range(A.shape[1]):
        key = canonical_column(A[:, j], tol, intercept)
        if key is None or key in seen:
            continue
        seen.add(key)
        kept.append(j)
    return np.asarray(kept, dtype=np.int64)


# --------------------------------------------------------------------------------------------------
# Lasso
#
#   P(z, xi) = 1/2 ||A z + xi 1 - y||^2 + beta ||z||_1        (sum units; scikit-learn alpha = beta / N)
#
# The intercept xi is free. For fixed z its best value is mean(y - A z); substituting it centers the
# problem: P(z) = 1/2 ||Ac z - yc||^2 + beta ||z||_1 with Ac = A - 1 abar^T, yc = y - ybar.
# Dual: D(theta) = theta^T y - 1/2 ||theta||^2 over ||A^T theta||_inf <= beta (and 1^T theta = 0 with an
# intercept). Any feasible theta gives P(z) - D(theta) >= P(z) - P*; the rescaled residual is feasible.
def _lasso_center(A, y, fit_intercept):
    A = np.asarray(A, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if fit_intercept:
        return A - A.mean(axis=0), y - y.mean()
    return A, y


def lasso_objective(A, y, z, xi, beta):
    """P(z, xi) = 1/2 ||A z + xi - y||^2 + beta ||z||_1."""
    A = np.asarray(A, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    r = np.asarray(y, dtype=np.float64) - A @ z - float(xi)
    return 0.5 * float(r @ r) + float(beta) * float(np.abs(z).sum())


def lasso_intercept(A, y, z):
    """Best intercept for fixed z: mean(y - A z)."""
    A = np.asarray(A, dtype=np.float64)
    return float(np.mean(np.asarray(y, dtype=np.float64) - A @ np.asarray(z, dtype=np.float64)))


def lasso_null_objective(y, fit_intercept=True):
    """P(0) = 1/2 ||y - mean(y)||^2 (1/2 ||y||^2 without intercept): the scale of the relative tolerance."""
    y = np.asarray(y, dtype=np.float64)
    yc = y - y.mean() if fit_intercept else y
    return 0.5 * float(yc @ yc)


def lasso_beta_max(A, y, fit_intercept=True):
    """Smallest beta with z = 0 optimal: ||Ac^T yc||_inf."""
    Ac, yc = _lasso_center(A, y, fit_intercept)
    return float(np.abs(Ac.T @ yc).max())


def lasso_dual_gap(A, y, z, beta, fit_intercept=True, theta=None):
    """Certified duality gap of z: returns (gap, theta) with theta dual feasible.

    By default theta is the centered residual r = yc - Ac z rescaled by max(1, ||Ac^T r||_inf / beta).
    A given theta (e.g. a solver's dual point) is centered (with intercept) and rescaled the same way,
    so the certificate never trusts its feasibility. The primal uses the best intercept for z.
    """
    Ac, yc = _lasso_center(A, y, fit_intercept)
    z = np.asarray(z, dtype=np.float64)
    beta = float(beta)
    r = yc - Ac @ z
    primal = 0.5 * float(r @ r) + beta * float(np.abs(z).sum())
    theta = r if theta is None else np.asarray(theta, dtype=np.float64)
    if fit_intercept:
        theta = theta - theta.mean()
    theta = theta / max(1.0, float(np.abs(Ac.T @ theta).max()) / beta)
    dual = float(theta @ yc) - 0.5 * float(theta @ theta)
    return primal - dual, theta


def _soft_threshold(u, t):
    return math.copysign(max(abs(u) - t, 0.0), u)


def lasso_cd(A, y, beta, fit_intercept=True, tol=1e-10, max_epochs=100000, z0=None):
    """Plain cyclic coordinate descent with implicit centering; stops when the duality gap (checked every
    10 epochs) is at most tol * P(0). Returns dict(coef, intercept, objective, gap, n_epochs, converged).

    Coordinate j with centered column c_j = a_j - abar_j:  L_j = ||c_j||^2 = ||a_j||^2 - N abar_j^2,
    z_j <- S(z_j + c_j^T r / L_j, beta / L_j) with S the soft-threshold and r = yc - Ac z the centered
    residual (c_j^T r = a_j^T r - abar_j sum(r)). Columns with L_j = 0 (constant, or zero) stay at 0.
    """
    A = np.asarray(A, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, m = A.shape
    beta = float(beta)
    abar = A.mean(axis=0) if fit_intercept else np.zeros(m)
    yc = y - y.mean() if fit_intercept else y.copy()
    # ||a_j - abar_j||^2 equals ||a_j||^2 - N abar_j^2 but does not cancel catastrophically for
    # near-constant columns; a column whose centered norm is at rounding level counts as constant.
    L = ((A - abar) ** 2).sum(axis=0)
    L[L <= (64.0 * n * np.finfo(np.float64).eps) ** 2 * (A ** 2).sum(axis=0)] = 0.0
    z = np.zeros(m) if z0 is None else np.array(z0, dtype=np.float64)
    z[L == 0.0] = 0.0
    r = yc - (A @ z - abar @ z)
    target = tol * lasso_null_objective(y, fit_intercept)
    gap, epoch = np.inf, 0
    while True:
        if epoch % 10 == 0 or epoch == max_epochs:
            gap, _ = lasso_dual_gap(A, y, z, beta, fit_intercept)
            if gap <= target or epoch >= max_epochs:
                break
        for j in range(m):
            if L[j] == 0.0:
                continue
            a = A[:, j]
            grad = float(a @ r) - abar[j] * float(r.sum())
            new = _soft_threshold(z[j] + grad / L[j], beta / L[j])
            if new != z[j]:
                delta = new - z[j]
                r -= delta * a
                r += delta * abar[j]
                z[j] = new
        epoch += 1
    xi = lasso_intercept(A, y, z) if fit_intercept else 0.0
    return {"coef": z, "intercept": xi, "objective": lasso_objective(A, y, z, xi, beta), "gap": float(gap),
            "n_epochs": epoch, "converged": bool(gap <= target)}
