"""Readable pure-NumPy reference of every netmirror kernel.

Tests and benchmarks compare the compiled kernels with these functions; nothing here calls compiled code.
The formulas are derived in docs/libraries.md. Raw column order is the same as the C++ core's, and the
arithmetic is done in the same order, so dictionaries agree bit for bit.
"""
from __future__ import annotations

import fractions
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


def library_size(n, activation, depth, architecture="deep_narrow", widths=None, input_dim=1, slope=None):
    """Raw number of features, from the count formulas of docs/libraries.md."""
    n = int(n)
    if input_dim == 2:
        return n
    if architecture == "symmetrized":
        return 6 * n**3  # 2 N^3 with a, c, b on data points + 4 N^3 with one inner kink reflected
    if architecture in ("rectangular", "tree"):
        k_max = min(switch_budget(architecture, depth, widths), n)
        return 2 * sum(math.comb(n, k) for k in range(1, k_max + 1))
    layers = depth - 1
    modes = nested_mode_count(activation, depth, slope)
    if activation == "abs":
        return n**layers * modes
    return (2 * n) ** layers * modes


def v_shaped(activation, slope=None):
    """abs and leaky_relu with slope < 0: sigma takes every positive value twice, once on each branch."""
    return activation == "abs" or (activation == "leaky_relu" and slope is not None and slope < 0)


# Depth-4 V-shaped vertex: layer 3 kinks on x_p, x_q on opposite branches of layer 2 whose level is pinned at
# x_r too, so (1 + k) g1(x_r) = g1(x_p) + k g1(x_q) fixes a1. g1(x) = w_x s1 (x - a1), w = 1 on the unit branch
# and -k on the other; (w_p, w_q, w_r) = 1 or -k per entry, one of the six patterns that are not all equal.
THREE_POINT_SIDES = ((0, 0, 1), (0, 1, 0), (0, 1, 1), (1, 0, 0), (1, 0, 1), (1, 1, 0))


def nested_mode_count(activation, depth, slope=None):
    """Values of the last raw digit of a deep-narrow feature.

    V-shaped units: (depth - 1)! partner choices (layer l < H: own level, or a partner layer m in l+1..H);
    relu / leaky_relu (slope > 0) at depth 4: 2 (the reflection flag); else 1.
    """
    if v_shaped(activation, slope):
        return math.factorial(depth - 1) + (len(THREE_POINT_SIDES) if depth == 4 else 0)
    return 2 if (depth == 4 and activation in ("relu", "leaky_relu")) else 1


# --------------------------------------------------------------------------------------------------
# raw feature parameters, in raw-index order
def nested_parameters(x, activation, depth, slope=None, raw=None):
    """Deep-narrow recursion g1 = s(s1 (x - a1)), g_l = s(s_l (g_{l-1}(x) - c_l)).

    Raw index r = sum_i j_i N^i + sum_i b_i 2^i N^H + m 2^H N^H with H = depth - 1 layers and s_i = 2 b_i - 1
    (abs has no sign digits). The mode m:
      - relu / leaky_relu (slope > 0), depth 4: m = 1 starts from the reflection a1 = 2 x[j2] - x[j1];
      - V-shaped units (abs, leaky slope < 0): m < (depth - 1)! is a mixed radix over layers l = 0..H-2 (layer 0
        fastest, radix H - l): digit t = 0 gives layer l its own level (a1 = x[j_0]; c_{l+1} = g_l(x[j_l])),
        t >= 1 a partner layer m = l + t and the weighted midpoint level (v(j_l) + k v(j_m)) / (1 + k),
        k = -slope (abs: 1), where v is that layer's input. The last layer always takes its own level.
        Depth 4 also has m = 6 + pattern: a1 from THREE_POINT_SIDES[pattern] with p = j[2], q = j[0],
        r = j[1]; c_2, c_3 their own levels.
    Returns dict of arrays: j (M, H), s (M, H), partner (M, H) (-1: own level), reflected, midpoint (a1 is a
    midpoint). The levels (a1, c_2, ...) are computed by nested_levels. raw: only these raw indices (default all).
    """
    x = np.asarray(x, dtype=np.float64)
    n, layers = len(x), depth - 1
    r = (np.arange(library_size(n, activation, depth, slope=slope), dtype=np.int64) if raw is None
         else np.array(raw, dtype=np.int64).ravel())
    size = r.size
    j = np.empty((size, layers), dtype=np.int64)
    for i in range(layers):
        j[:, i] = r % n
        r = r // n
    s = np.ones((size, layers))
    if activation != "abs":
        for i in range(layers):
            s[:, i] = np.where(r % 2 == 1, 1.0, -1.0)
            r = r // 2
    partner = np.full((size, layers), -1, dtype=np.int64)
    reflected = np.zeros(size, dtype=bool)
    pattern = np.full(size, -1, dtype=np.int64)
    if v_shaped(activation, slope):
        n_partner = math.factorial(layers)
        pattern = np.where(r >= n_partner, r - n_partner, -1)
        r = np.where(r >= n_partner, 0, r)
        for l in range(layers - 1):
            t = r % (layers - l)
            r = r // (layers - l)
            partner[:, l] = np.where(t > 0, l + t, -1)
    elif nested_mode_count(activation, depth, slope) == 2:
        reflected = r == 1
    return {"j": j, "s": s, "partner": partner, "reflected": reflected, "midpoint": partner[:, 0] >= 0,
            "pattern": pattern}


def nested_levels(x, activation, prm, slope=None):
    """Levels (M, H): column 0 is a1, column h is c_{h+1}, the value layer h subtracts from its input."""
    x = np.asarray(x, dtype=np.float64)
    j, s, partner = prm["j"], prm["s"], prm["partner"]
    size, layers = j.shape
    k = 1.0 if activation == "abs" else (-float(slope) if slope is not None else 0.0)
    rows = np.arange(size)
    level = np.zeros((size, layers))

    def act(u):
        return activate(activation, u, slope)

    def g(t, upto):  # first `upto` layers at points t (M,), with the levels known so far
        v = act(s[:, 0] * (t - level[:, 0]))
        for h in range(1, upto):
            v = act(s[:, h] * (v - level[:, h]))
        return v

    three = prm["pattern"] >= 0
    for h in range(layers):
        if h == 0 and three.any():  # three-point a1 (depth 4, V-shaped)
            w = np.where(np.asarray(THREE_POINT_SIDES)[prm["pattern"][three]] == 1, -k, 1.0)
            xp, xq, xr = x[j[three, 2]], x[j[three, 0]], x[j[three, 1]]
            level3 = ((w[:, 0] * xp + k * w[:, 1] * xq - (1.0 + k) * w[:, 2] * xr)
                      / (w[:, 0] + k * w[:, 1] - (1.0 + k) * w[:, 2]))
        own = x[j[:, 0]] if h == 0 else g(x[j[:, h]], h)
        pj = j[rows, np.maximum(partner[:, h], 0)]
        other = x[pj] if h == 0 else g(x[pj], h)
        level[:, h] = np.where(partner[:, h] >= 0, (own + k * other) / (1.0 + k), own)
        if h == 0 and three.any():
            level[three, 0] = level3
        if h == 0 and prm["reflected"].any():
            refl = prm["reflected"]
            level[refl, 0] = 2.0 * x[j[refl, 1]] - x[j[refl, 0]]
    return level


def symmetrized_parameters(x):
    """3-layer symmetrized net: h(x) = s(x - a) + s(c - x), g = s(s2 (h(x) - h(b))).

    h's level sets are symmetric about (a + c)/2, so a feature has kinks a, c, p, q with p + q = a + c; the
    vertices put three of them on data points. Raw r < 2 N^3: r = j1 + j2 N + j3 N^2 + b N^3 with a = x[j1],
    c = x[j2], b = x[j3] (p = b), s2 = 2b - 1. Raw r = 2 N^3 + j1 + j2 N + j3 N^2 + b N^3 + o 2 N^3: the outer
    kinks p = x[j2], q = x[j3] and one inner kink x[j1] (o = 0: a; o = 1: c), the other inner kink
    x[j2] + x[j3] - x[j1]; b = x[j2].
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    r = np.arange(6 * n**3, dtype=np.int64)
    reflected = r >= 2 * n**3
    q = np.where(reflected, r - 2 * n**3, r)
    j = np.stack([q % n, (q // n) % n, (q // n**2) % n], axis=1)
    s = np.where((q // n**3) % 2 == 1, 1.0, -1.0)
    order = q // (2 * n**3)
    x1, x2, x3 = x[j[:, 0]], x[j[:, 1]], x[j[:, 2]]
    other = (x2 + x3) - x1
    a = np.where(reflected & (order == 1), other, x1)
    c = np.where(reflected, np.where(order == 1, x1, other), x2)
    b = np.where(reflected, x2, x3)
    return {"j": j, "a": a, "c": c, "b": b, "s": s, "reflected": reflected}


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
def nested_matrix(x, activation, depth, t=None, slope=None, raw=None):
    """Raw deep-narrow dictionary: column r is the feature with raw index r evaluated at t (raw: only these)."""
    x = np.asarray(x, dtype=np.float64)
    t = x if t is None else np.asarray(t, dtype=np.float64)
    prm = nested_parameters(x, activation, depth, slope, raw=raw)
    s, level = prm["s"], nested_levels(x, activation, prm, slope)

    def act(u):
        return activate(activation, u, slope)

    g = act(s[None, :, 0] * (t[:, None] - level[None, :, 0]))
    for h in range(1, depth - 1):
        g = act(s[None, :, h] * (g - level[None, :, h]))
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


def frame_origin(x, activation):
    """The origin a 1-D relu / leaky_relu / abs library works from: 0.0 unless every point lies within a factor 2
    of the median point (max|x| > 2 (max - min)); then the median point (the lower middle one of the sorted
    data), so that x - origin is exact."""
    x = np.asarray(x, dtype=np.float64)
    if activation not in ("relu", "leaky_relu", "abs") or x.ndim != 1 or x.size == 0:
        return 0.0
    s = np.sort(x)
    if max(abs(s[0]), abs(s[-1])) <= 2.0 * (s[-1] - s[0]):
        return 0.0
    return float(s[x.size // 2])


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
    m = A.shape[1]
    beta = float(beta)
    abar = A.mean(axis=0) if fit_intercept else np.zeros(m)
    yc = y - y.mean() if fit_intercept else y.copy()
    # ||a_j - abar_j||^2 equals ||a_j||^2 - N abar_j^2 but does not cancel catastrophically for
    # near-constant columns; only an exactly constant column counts as constant (the solver's rule).
    L = ((A - abar) ** 2).sum(axis=0)
    if fit_intercept:
        L[np.all(A == A[:1], axis=0)] = 0.0
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


def _solve_fractions(M, b):
    """x with M x = b in exact rational arithmetic (Gauss-Jordan), or None when M is singular."""
    k = len(b)
    aug = [list(M[i]) + [b[i]] for i in range(k)]
    for c in range(k):
        piv = next((r for r in range(c, k) if aug[r][c] != 0), None)
        if piv is None:
            return None
        aug[c], aug[piv] = aug[piv], aug[c]
        for r in range(k):
            if r != c and aug[r][c] != 0:
                f = aug[r][c] / aug[c][c]
                aug[r] = [u - f * v for u, v in zip(aug[r], aug[c])]
    return [aug[i][k] / aug[i][i] for i in range(k)]


def lasso_exact(A, y, beta, fit_intercept=True):
    """The Lasso optimum of small problems in exact rational arithmetic on the given float64 data.

    Every sign pattern s in {-1, 0, +1}^M is tried: on its support S the stationarity condition
    (Ac_S^T Ac_S) z_S = Ac_S^T yc - beta s_S is solved exactly; the pattern is optimal when the signs agree and
    |Ac_j^T r| <= beta off S (the KKT conditions; the objective is convex, so the first such point is a
    minimiser). Singular supports are skipped: some non-singular optimal support always exists (a basic
    solution). Returns (objective as a Fraction, z as Fractions). 3^M solves: keep M <= 5.
    """
    F = fractions.Fraction
    A = np.asarray(A, dtype=np.float64)
    n, m = A.shape
    cols = [[F(float(A[i, j])) for i in range(n)] for j in range(m)]
    yv = [F(float(v)) for v in np.asarray(y, dtype=np.float64)]
    b = F(float(beta))
    if fit_intercept:
        cols = [[v - sum(c) / n for v in c] for c in cols]
        ybar = sum(yv) / n
        yv = [v - ybar for v in yv]

    def dot(u, v):
        return sum(p * q for p, q in zip(u, v))

    G = [[dot(cols[i], cols[j]) for j in range(m)] for i in range(m)]
    g = [dot(cols[j], yv) for j in range(m)]
    best = None
    for signs in itertools.product((0, 1, -1), repeat=m):
        S = [j for j in range(m) if signs[j] != 0]
        zS = _solve_fractions([[G[i][j] for j in S] for i in S], [g[i] - b * signs[i] for i in S]) if S else []
        if zS is None or any((v > 0) != (signs[j] > 0) or v == 0 for v, j in zip(zS, S)):
            continue
        z = [F(0)] * m
        for v, j in zip(zS, S):
            z[j] = v
        r = [yv[i] - sum(z[j] * cols[j][i] for j in S) for i in range(n)]
        if all(abs(dot(cols[j], r)) <= b for j in range(m) if j not in S):
            obj = dot(r, r) / 2 + b * sum(abs(v) for v in z)
            if best is None or obj < best[0]:
                best = (obj, z)
    return best


# --------------------------------------------------------------------------------------------------
# covariance accumulation (netmirror.CovarianceAccumulator)
def covariance_moments(X, weights=None):
    """Two-pass float64 reference: dict(count, total_weight, mean, scatter, second_moment).

    The mean is taken after shifting by the first row (so an offset of 1e6 costs no digits), the scatter
    M2 = Σ w (x - μ)(x - μ)ᵀ is formed from the centred rows, and E[x xᵀ] = M2 / W + μ μᵀ.
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    W = float(w.sum())
    shift = X[0] if n else np.zeros(X.shape[1])
    mean = shift + (w @ (X - shift)) / W
    D = X - mean
    scatter = (D * w[:, None]).T @ D
    return {"count": n, "total_weight": W, "mean": mean, "scatter": scatter,
            "second_moment": scatter / W + np.outer(mean, mean)}


def _as_scaled_integers(values):
    """(object array of Python ints, exponent e) with values == ints * 2**e exactly (finite floats)."""
    v = np.asarray(values, dtype=np.float64)
    mant, expo = np.frexp(v)  # v = mant * 2**expo, 0.5 <= |mant| < 1; mant * 2**53 is an integer
    nonzero = v != 0
    e = int(expo[nonzero].min()) - 53 if nonzero.any() else 0
    ints = np.empty(v.shape, dtype=object)
    for idx, (m, x) in enumerate(zip(mant.ravel(), expo.ravel())):
        ints.flat[idx] = int(m * 2.0**53) << (int(x) - 53 - e) if m else 0
    return ints, e


def covariance_exact(X, weights=None):
    """Exact (rational) weighted mean, scatter Σ w (x-μ)(x-μ)ᵀ and second moment of float32/float64 rows,
    each rounded once to float64: dict(total_weight, mean, scatter, second_moment).

    Every value is an integer times a power of two, so W Σ w x xᵀ - (Σ w x)(Σ w x)ᵀ is computed in Python
    integers without any rounding; O(n dim²) big-integer products (tests: n up to a few thousand)."""
    X = np.asarray(X).astype(np.float64)
    n, dim = X.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    xi, ex = _as_scaled_integers(X)
    wi, ew = _as_scaled_integers(w)
    W = int(sum(wi.tolist()))
    if W == 0:
        raise ValueError("total weight is zero")
    wx = xi * wi[:, None]
    sx = [int(sum(wx[:, j].tolist())) for j in range(dim)]
    sxx = np.dot(wx.T, xi)  # object dtype: exact Python integers
    scale2 = fractions.Fraction(2) ** (2 * ex)
    mean = np.array([float(fractions.Fraction(sx[j], W) * fractions.Fraction(2) ** ex) for j in range(dim)])
    scatter = np.empty((dim, dim))
    moment = np.empty((dim, dim))
    for i in range(dim):
        for j in range(dim):
            sij = int(sxx[i, j])
            scatter[i, j] = float(fractions.Fraction(W * sij - sx[i] * sx[j], W) * scale2 * fractions.Fraction(2) ** ew)
            moment[i, j] = float(fractions.Fraction(sij, W) * scale2)
    return {"total_weight": float(fractions.Fraction(W) * fractions.Fraction(2) ** ew), "mean": mean,
            "scatter": scatter, "second_moment": moment}


def exact_scatter_entries(X, rows, cols, center=True):
    """Selected entries of the scatter of X computed in np.longdouble (80-bit where the platform has it).

    Used as the "exact" reference in tests and the benchmark: float64 rounding of the sums is ~1e-19 here.
    """
    X = np.asarray(X)
    out = np.empty(len(rows), dtype=np.longdouble)
    cache = {}

    def column(j):
        if j not in cache:
            c = X[:, j].astype(np.longdouble)
            if center:
                c = c - c.sum() / c.size
            cache[j] = c
        return cache[j]

    for k, (i, j) in enumerate(zip(rows, cols)):
        out[k] = np.dot(column(i), column(j))
    return out


# --------------------------------------------------------------------------------------------------
# representation metrics (netmirror._metrics), written from the definitions with explicit loops/matrices
def matrix_pearson(A, B):
    """Pearson correlation of the entries of two same-shape matrices (np.corrcoef on the flattened entries)."""
    return float(np.corrcoef(np.ravel(A), np.ravel(B))[0, 1])


def center_columns_exact(X):
    """X minus its column means, each entry the correctly rounded value of the exact rational difference
    (fractions.Fraction): the same float64 data translated exactly, for translation-invariance tests."""
    X = np.asarray(X, dtype=np.float64)
    X2 = X.reshape(X.shape[0], -1)
    out = np.empty_like(X2)
    for j in range(X2.shape[1]):
        col = [fractions.Fraction(v) for v in X2[:, j].tolist()]
        mean = sum(col, fractions.Fraction(0)) / len(col)
        out[:, j] = [float(v - mean) for v in col]
    return out.reshape(X.shape)


def participation_ratio(X):
    """(Σλ)² / Σλ² of the eigenvalues λ of the covariance of the rows of X (columns centred exactly)."""
    Xc = center_columns_exact(np.asarray(X, dtype=np.float64).reshape(len(X), -1))
    lam = np.linalg.eigvalsh(Xc.T @ Xc)
    return float(lam.sum() ** 2 / (lam ** 2).sum())


def centering_matrix(n):
    return np.eye(n) - np.ones((n, n)) / n


def hsic_biased(K, L):
    """Tr(K H L H) / (n - 1)^2 with the explicit centring matrix H."""
    n = K.shape[0]
    H = centering_matrix(n)
    return float(np.trace(K @ H @ L @ H)) / (n - 1) ** 2


def hsic_unbiased_ustat(K, L):
    """Unbiased HSIC as the U-statistic E[k_ij l_ij] + E[k_ij] E[l_qr] - 2 E[k_ij l_iq] over distinct
    indices (Song et al. 2012: equal to their closed form). O(n^4): small n only."""
    n = K.shape[0]
    idx = range(n)
    pairs = list(itertools.permutations(idx, 2))
    a = sum(K[i, j] * L[i, j] for i, j in pairs) / len(pairs)
    triples = list(itertools.permutations(idx, 3))
    c = sum(K[i, j] * L[i, q] for i, j, q in triples) / len(triples)
    quads = list(itertools.permutations(idx, 4))
    b = sum(K[i, j] * L[q, r] for i, j, q, r in quads) / len(quads)
    return a + b - 2 * c


def cka_gram(K, L, debiased=False):
    """CKA from Gram matrices: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))."""
    hsic = hsic_unbiased_ustat if debiased else hsic_biased
    return hsic(K, L) / math.sqrt(hsic(K, K) * hsic(L, L))


def rbf_gram(X, t):
    """exp(-d²/(2 t² median(d²))), median over all n² squared distances (diagonal included)."""
    X = np.asarray(X, dtype=np.float64)
    d2 = np.array([[float(((a - b) ** 2).sum()) for b in X] for a in X])
    return np.exp(-d2 / (2 * t * t * np.median(d2)))


def neural_collapse(H, labels, W=None, b=None):
    """Neural-collapse statistics written per class with loops (see netmirror.neural_collapse)."""
    H = np.asarray(H, dtype=np.float64)
    classes = sorted(set(np.asarray(labels).tolist()))
    C = len(classes)
    means = np.array([H[np.asarray(labels) == c].mean(axis=0) for c in classes])
    mu_g = means.mean(axis=0)
    Mt = (means - mu_g).T
    sigma_w = np.zeros((H.shape[1], H.shape[1]))
    for h, lab in zip(H, labels):
        d = h - means[classes.index(lab)]
        sigma_w += np.outer(d, d)
    sigma_w /= len(H)
    sigma_b = sum(np.outer(Mt[:, c], Mt[:, c]) for c in range(C)) / C
    out = {"nc1": float(np.trace(sigma_w @ np.linalg.pinv(sigma_b))) / C}
    norms = np.linalg.norm(Mt, axis=0)
    out["nc2_equinorm_means"] = float(np.std(norms) / np.mean(norms))
    total = 0.0
    for c in range(C):
        for d in range(C):
            if c != d:
                cos = Mt[:, c] @ Mt[:, d] / (norms[c] * norms[d])
                total += abs(cos + 1 / (C - 1))
    out["nc2_equiangular"] = total / (C * (C - 1))
    G = Mt.T @ Mt
    out["nc2_etf_distance"] = float(np.linalg.norm(G / np.linalg.norm(G) - centering_matrix(C) / math.sqrt(C - 1)))
    if W is not None:
        W = np.asarray(W, dtype=np.float64)
        wn = np.linalg.norm(W, axis=1)
        out["nc2_equinorm_weights"] = float(np.std(wn) / np.mean(wn))
        out["nc3"] = float(np.linalg.norm(W.T / np.linalg.norm(W) - Mt / np.linalg.norm(Mt)) ** 2)
        bb = np.zeros(C) if b is None else np.asarray(b, dtype=np.float64)
        wrong = 0
        for h in H:
            pred = int(np.argmax(W @ h + bb))
            near = int(np.argmin([np.linalg.norm(h - m) for m in means]))
            wrong += pred != near
        out["nc4"] = wrong / len(H)
    return out


# --------------------------------------------------------------------------------------------------
# reflection-plane libraries of abs nets on inputs in d dimensions (docs/libraries.md §6)
PLANE_DEGENERATE_VOLUME = 1e-12


def _small_det(a):
    """Determinant of a k x k list-of-lists matrix (destroyed): partial pivoting, the C++ operation order."""
    k = len(a)
    det = 1.0
    for c in range(k):
        piv = c
        for r in range(c + 1, k):
            if abs(a[r][c]) > abs(a[piv][c]):
                piv = r
        if a[piv][c] == 0.0:
            return 0.0
        if piv != c:
            a[c], a[piv] = a[piv], a[c]
            det = -det
        det *= a[c][c]
        for r in range(c + 1, k):
            f = a[r][c] / a[c][c]
            for j in range(c, k):
                a[r][j] -= f * a[c][j]
    return det


def plane_normal(X, idx, coords=None):
    """plane_normal_of_points on the rows X[idx]."""
    X = np.asarray(X, dtype=np.float64)
    return plane_normal_of_points([X[i] for i in idx], coords)


def plane_normal_of_points(points, coords=None):
    """Unit normal (Euclidean) of the hyperplane through the points (rows of d coordinates) within the
    coordinates `coords` (default: all d; len(points) == len(coords)), or None when they are affinely dependent: the generalized cross
    product n_c = (-1)^c det(V without column c) of the difference vectors scaled to unit length (so its norm
    is a volume in [0, 1] at any magnitude). Returns the normal in those coordinates."""
    coords = list(range(len(points[0]))) if coords is None else list(coords)
    q = len(coords)
    x0 = [float(points[0][c]) for c in coords]
    V = []
    for pt in points[1:]:
        xr = [float(pt[c]) for c in coords]
        scale = 0.0
        for c in range(q):
            scale = max(scale, abs(xr[c] - x0[c]))
        if scale == 0.0:
            return None
        row = [(xr[c] - x0[c]) / scale for c in range(q)]
        norm2 = 0.0
        for c in range(q):
            norm2 += row[c] * row[c]
        inv = 1.0 / math.sqrt(norm2)
        V.append([v * inv for v in row])
    if q == 1:
        return np.ones(1)
    normal = []
    norm2 = 0.0
    for c in range(q):
        det = _small_det([[row[j] for j in range(q) if j != c] for row in V])
        normal.append(det if c % 2 == 0 else -det)
        norm2 += normal[-1] * normal[-1]
    vol = math.sqrt(norm2)
    if not vol > PLANE_DEGENERATE_VOLUME:
        return None
    return np.array([v / vol for v in normal])


def plane_tuples(n, d, weight_norm="l2"):
    """(coordinate subset, point subset) of every plane in raw order: l2, all d coordinates and the d-subsets
    of points in lexicographic order; l1, for q = 1..d, each q-subset of coordinates, each q-subset of points."""
    if weight_norm == "l2":
        return [(tuple(range(d)), pts) for pts in itertools.combinations(range(n), d)]
    return [(coords, pts) for q in range(1, d + 1) for coords in itertools.combinations(range(d), q)
            for pts in itertools.combinations(range(n), q)]


def plane_normals(X, weight_norm="l2"):
    """Normals (P, d) in raw plane order, unit in the weight norm (zero rows: degenerate), and a validity mask."""
    X = np.asarray(X, dtype=np.float64)
    tuples = plane_tuples(X.shape[0], X.shape[1], weight_norm)
    U = np.zeros((len(tuples), X.shape[1]))
    ok = np.zeros(len(tuples), dtype=bool)
    for p, (coords, pts) in enumerate(tuples):
        u = plane_normal(X, pts, coords)
        if u is None:
            continue
        scale = 1.0
        if weight_norm == "l1":
            scale = 0.0
            for v in u:
                scale += abs(float(v))
        for k, c in enumerate(coords):
            U[p, c] = u[k] / scale
        ok[p] = True
    return U, ok, tuples


def plane_projection(X, normal, i0, t):
    """s = u^T (t - X[i0]) accumulated coordinate by coordinate (the C++ order)."""
    t = np.atleast_2d(np.asarray(t, dtype=np.float64))
    s = np.zeros(t.shape[0])
    for c in range(t.shape[1]):
        s = s + normal[c] * (t[:, c] - X[i0, c])
    return s


def plane_library_matrix(X, depth, t=None, weight_norm="l2"):
    """Raw plane dictionary at points t (default X): column p*M + r1 is the 1-D abs feature r1 of depth
    `depth` on the projections of X on plane p's normal (depth 2: the distance |u^T (t - X[i1])|);
    degenerate tuples give zero columns (the kernels leave them out of every library)."""
    X = np.asarray(X, dtype=np.float64)
    t = X if t is None else np.asarray(t, dtype=np.float64)
    n = X.shape[0]
    modes = 1 if depth == 2 else library_size(n, "abs", depth)
    U, ok, tuples = plane_normals(X, weight_norm)
    cols = []
    for p, (_, pts) in enumerate(tuples):
        if not ok[p]:
            cols.append(np.zeros((t.shape[0], modes)))
            continue
        st = plane_projection(X, U[p], pts[0], t)
        if depth == 2:
            cols.append(np.abs(st)[:, None])
        else:
            sx = plane_projection(X, U[p], pts[0], X)
            cols.append(nested_matrix(sx, "abs", depth, t=st))
    for anchor, u, r1 in plane_fold_directions(X, depth, weight_norm):
        if u is None:
            cols.append(np.zeros((t.shape[0], 1)))
            continue
        st = plane_projection(X, u, anchor, t)
        sx = plane_projection(X, u, anchor, X)
        cols.append(nested_matrix(sx, "abs", depth, t=st, raw=[r1]))
    if not cols:
        return np.zeros((t.shape[0], 0))
    return np.hstack(cols)


def _fold_point(X, r1):
    """Fold point of the 1-D depth-3 type r1 = j1 + n j2 + n^2 fold: 2 X[j1] - X[j2] or (X[j1] + X[j2]) / 2."""
    n, d = X.shape
    a, b = X[r1 % n], X[(r1 // n) % n]
    return np.array([2.0 * a[c] - b[c] if r1 < n * n else 0.5 * (a[c] + b[c]) for c in range(d)])


def _abs_modes(H):
    """Modes of the 1-D abs types with H levels in raw order, as (partner layer per level or -1, three-point
    pattern or -1): the types of one data point (n = 1) decoded by nested_parameters."""
    prm = nested_parameters(np.zeros(1), "abs", H + 1)
    return [(tuple(int(v) for v in prm["partner"][m]), int(prm["pattern"][m])) for m in range(prm["pattern"].size)]


def abs_breakpoint_forms(depth):
    """Breakpoint points of the 1-D abs types of depth 2 to 4, per mode (raw mode order), as sorted tuples of
    Fractions: the point sum_k coef[k] X[j_k] over the type's data slots j_0.. (docs/libraries.md §6). They are
    the level a1 and every a1 ± (c2 ± (c3 ...)), each level c_h taking every form its |.|'s signs allow
    (a superset of what one direction realises); single data slots are dropped."""
    H = depth - 1
    one = fractions.Fraction(1)

    def e(k):
        return tuple(one if i == k else 0 * one for i in range(H))

    def lin(a, b, sb):
        return tuple(x + sb * y for x, y in zip(a, b))

    result = []
    for partner, pattern in _abs_modes(H):
        if pattern >= 0:  # (1 + k) g1(x_r) = g1(x_p) + k g1(x_q), k = 1; q = slot 0, r = slot 1, p = slot 2
            sides = THREE_POINT_SIDES[pattern]
            wp, wq, wr = (-1 if t else 1 for t in sides)
            den = wp + wq - 2 * wr
            a1 = (fractions.Fraction(wq, den), fractions.Fraction(-2 * wr, den), fractions.Fraction(wp, den))
        elif partner[0] >= 0:
            a1 = tuple(x / 2 for x in lin(e(0), e(partner[0]), 1))
        else:
            a1 = e(0)
        levels = [None] * H

        def g(h, t):
            cur = {lin(t, a1, -1), lin(a1, t, -1)}
            for l in range(1, h):
                cur = {tuple(sg * x for x in lin(v, c, -1)) for v in cur for c in levels[l] for sg in (1, -1)}
            return cur

        for h in range(1, H):
            own = g(h, e(h))
            if partner[h] >= 0:
                other = g(h, e(partner[h]))
                levels[h] = {tuple(x / 2 for x in lin(a, b, 1)) for a in own for b in other}
            else:
                levels[h] = own
        points = {a1}
        for h in range(1, H):
            targets = set(levels[h])
            for l in range(h - 1, 0, -1):
                targets = {lin(c, v, sg) for c in levels[l] for v in targets for sg in (1, -1)}
            points |= {lin(a1, v, sg) for v in targets for sg in (1, -1)}
        points -= {e(k) for k in range(H)}
        result.append(sorted(points))
    return result


def fold_lines_2d(n, depth):
    """The d = 2 fold lines in raw order, (i, r1, coefficients, slot data indices): for every 1-D type r1 (raw
    order) and breakpoint form of its mode, the lines through X[i], i = 0..n-1, and the form's point."""
    if depth not in (3, 4):
        return []
    H = depth - 1
    out = []
    for m, forms in enumerate(abs_breakpoint_forms(depth)):
        for digits in range(n**H):
            slots = tuple((digits // n**k) % n for k in range(H))
            for coef in forms:
                for i in range(n):
                    out.append((i, digits + m * n**H, coef, slots))
    return out


def _form_point(X, coef, slots):
    """sum_k coef[k] X[slots[k]], accumulated slot by slot (zero coefficients skipped, the C++ order)."""
    d = X.shape[1]
    out = np.zeros(d)
    for c in range(d):
        acc = 0.0
        for k, j in zip(coef, slots):
            if k != 0:
                acc += float(k) * float(X[j, c])
        out[c] = acc
    return out


def plane_fold_directions(X, depth, weight_norm="l2"):
    """Extra directions in raw order, (anchor, unit normal or None if degenerate, r1), each carrying the
    1-D feature r1 = j1 + n j2 + n^2 fold on the projections u^T (x - X[anchor]) (docs/libraries.md §6).
    Star centres c_0 = X[j1], c_1 = X[j2], c_2 = the fold point.
    d = 2 (depths 3 and 4): fold_lines_2d, the line through X[i] and a breakpoint point of type r1 (anchor i);
    at depth 3 e = i + n r1 and the point is the fold point.
    d = 3, e = r1 Q + q, Q = 3 n^2 + n (n - 1) / 2: u orthogonal to X[i] - c_s and X[k] - c_t, (s, t) = (0, 1),
    (0, 2), (1, 2) (q = block n^2 + i + n k) and (2, 2) for i < k; then for l1, e = 2 n^2 Q + (3 r1 + J) n + i:
    u in the coordinate plane J (01, 02, 12) orthogonal there to X[i] - c_2 (anchor j1)."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    if not (d == 2 and depth in (3, 4)) and not (d == 3 and depth == 3):
        return []
    out = []

    def unit(u):
        if u is None or weight_norm == "l2":
            return u
        scale = 0.0
        for v in u:
            scale += abs(float(v))
        return np.array([v / scale for v in u])

    if d == 2:
        for i, r1, coef, slots in fold_lines_2d(n, depth):
            out.append((i, unit(plane_normal_of_points([X[i], _form_point(X, coef, slots)])), r1))
        return out
    zero = np.zeros(d)
    upper = [(i, k) for i in range(n) for k in range(i + 1, n)]
    for r1 in range(2 * n * n):
        centres = (X[r1 % n], X[(r1 // n) % n], _fold_point(X, r1))
        pairs = [(s, t, i, k) for s, t in ((0, 1), (0, 2), (1, 2)) for k in range(n) for i in range(n)]
        pairs += [(2, 2, i, k) for i, k in upper]
        for s_, t_, i, k in pairs:
            d1 = np.array([X[i, c] - centres[s_][c] for c in range(d)])
            d2 = np.array([X[k, c] - centres[t_][c] for c in range(d)])
            out.append((r1 % n, unit(plane_normal_of_points([zero, d1, d2])), r1))
    if weight_norm == "l1":
        for r1 in range(2 * n * n):
            f = _fold_point(X, r1)
            for J in ((0, 1), (0, 2), (1, 2)):
                for i in range(n):
                    d1 = np.array([X[i, c] - f[c] for c in range(d)])
                    u2 = plane_normal_of_points([zero, d1], J)
                    u = None
                    if u2 is not None:
                        u = np.zeros(d)
                        for c_, c in enumerate(J):
                            u[c] = u2[c_]
                    out.append((r1 % n, unit(u), r1))
    return out


# the exact 2-D dual oracle of weight decay (netmirror.continuous_lasso_2d)
def fold_types(X, depth):
    """Centres c (T, 2) and fold vectors b (T, 2) of the feature types ||uᵀ(x − c)| − |uᵀb||: depth 2, the
    anchors (c = x_k, b = 0); depth 3, the 1-D abs types in raw order r1 = j1 + n j2 + n² fold: fold 0
    c = x_{j1}, b = x_{j2} − x_{j1} (levels a1 = uᵀx_{j1}, c2 = |uᵀ(x_{j2} − x_{j1})|); fold 1, the midpoint level,
    c = (x_{j1} + x_{j2})/2, b = (x_{j2} − x_{j1})/2."""
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    if depth == 2:
        return X.copy(), np.zeros_like(X)
    j1 = np.tile(np.arange(n), n)
    j2 = np.repeat(np.arange(n), n)
    C = np.vstack([X[j1], 0.5 * (X[j1] + X[j2])])
    B = np.vstack([X[j2] - X[j1], 0.5 * (X[j2] - X[j1])])
    return C, B


def fold_values(X, U, c, b):
    """Feature values ||uᵀ(x_i − c)| − |uᵀb|| for directions U (K, 2): (K, N)."""
    return np.abs(np.abs(U @ (X - c).T) - np.abs(U @ b)[:, None])


def dual_sup_2d_folds(X, theta, depth=2):
    """max over unit u ∈ R² and feature types t of |Σ_i θ_i f_i(u)|, f_i = ||uᵀ(x_i − c_t)| − |uᵀb_t||, exactly:
    (value, u, t). Depth 2: f_i = |uᵀ(x_i − x_k)|, t = k.

    For a fixed type the function is linear, uᵀv_C, on each arc C of directions between consecutive angles
    where one of uᵀ(x_i − c), uᵀb, uᵀ(x_i − c ∓ b) changes sign; on the arc its magnitude peaks at an end or at
    u = ±v_C/‖v_C‖ when that direction lies inside the arc (docs/libraries.md §6). The readable depth 2-3 form
    of plane_dual_sup_2d, written with the fold types."""
    X = np.asarray(X, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    C, B = fold_types(X, depth)
    best = (0.0, np.array([1.0, 0.0]), 0)
    for t in range(len(C)):
        c, b = C[t], B[t]
        D = X - c
        crit = np.vstack([D, b[None, :], D - b, D + b])
        crit = crit[np.abs(crit).max(axis=1) > 0]
        if crit.size == 0:
            continue
        ang = np.unique(np.mod(np.arctan2(crit[:, 1], crit[:, 0]) + 0.5 * np.pi, np.pi))
        ends = np.concatenate([ang, [ang[0] + np.pi]])
        mids = 0.5 * (ends[:-1] + ends[1:])
        Um = np.stack([np.cos(mids), np.sin(mids)], axis=1)
        sig = np.sign(Um @ D.T)  # signs of uᵀ(x_i − c) inside each arc
        tau = np.sign(Um @ b)[:, None]  # sign of uᵀb
        inner = sig[:, :, None] * D[None, :, :] - tau[:, :, None] * b[None, None, :]  # |uᵀ(x_i−c)| − |uᵀb| = uᵀ(·)
        rho = np.sign(np.einsum("ak,aik->ai", Um, inner))
        V = np.einsum("ai,aik->ak", rho * theta[None, :], inner)  # v_C per arc
        psi = np.mod(np.arctan2(V[:, 1], V[:, 0]), np.pi)
        lo, hi = ends[:-1], ends[1:]
        inside = ((psi >= lo) & (psi <= hi)) | ((psi + np.pi >= lo) & (psi + np.pi <= hi))
        phi = np.concatenate([lo, np.where(inside, np.where(psi >= lo, psi, psi + np.pi), lo)])
        U = np.stack([np.cos(phi), np.sin(phi)], axis=1)
        vals = np.abs(fold_values(X, U, c, b) @ theta)
        j = int(np.argmax(vals))
        if vals[j] > best[0]:
            best = (float(vals[j]), U[j], t)
    return best


def abs_types(n, depth):
    """The 1-D abs types of a depth in raw order: data digits j (T, H), partner layer per level (T, H; -1: own
    level), three-point pattern (T,; -1: none) and mode (T,) (nested_parameters' decoding)."""
    prm = nested_parameters(np.zeros(n), "abs", depth)
    mode = np.arange(prm["pattern"].size, dtype=np.int64) // n ** (depth - 1)
    return prm["j"], prm["partner"], prm["pattern"], mode


def abs_type_dual(X, U, j, partner, pattern, theta):
    """For rows (direction U[m], type m): the levels (M, H) of the 1-D type on the projections Xu, the dual
    function F = Σ_i θ_i f_i(u) (M,) and its gradient in u (M, 2). Every quantity is carried with its gradient:
    the features are positively homogeneous and piecewise linear in u, so inside an arc the gradient is the
    arc's v_C and F = uᵀv_C."""
    M, H = j.shape
    rows = np.arange(M)
    S = U @ X.T

    def slot(k):
        return S[rows, j[:, k]], X[j[:, k]]

    def absolute(v, g):
        sg = np.sign(v)
        return np.abs(v), g * sg[..., None]

    a1, ga1 = slot(0)
    pk0 = j[rows, np.maximum(partner[:, 0], 0)]
    pv, pg = S[rows, pk0], X[pk0]
    mid = partner[:, 0] >= 0
    a1 = np.where(mid, 0.5 * (a1 + pv), a1)
    ga1 = np.where(mid[:, None], 0.5 * (ga1 + pg), ga1)
    three = pattern >= 0
    if three.any():
        w = np.where(np.asarray(THREE_POINT_SIDES)[pattern[three]] == 1, -1.0, 1.0)
        den = (w[:, 0] + w[:, 1] - 2.0 * w[:, 2])[:, None]
        jt = j[three]
        coef = np.stack([w[:, 1], -2.0 * w[:, 2], w[:, 0]], axis=1) / den  # q = slot 0, r = slot 1, p = slot 2
        a1[three] = np.einsum("mk,mk->m", coef, S[np.flatnonzero(three)[:, None], jt])
        ga1[three] = np.einsum("mk,mkc->mc", coef, X[jt])
    levels, glevels = [a1], [ga1]

    def g(t, gt, upto):  # the first `upto` layers at points t (M, ...), with their gradients
        extra = (slice(None),) + (None,) * (t.ndim - 1)
        v, gv = absolute(t - a1[extra], gt - ga1[extra + (slice(None),)])
        for h in range(1, upto):
            v, gv = absolute(v - levels[h][extra], gv - glevels[h][extra + (slice(None),)])
        return v, gv

    for h in range(1, H):
        own, gown = g(*slot(h), h)
        pk = j[rows, np.maximum(partner[:, h], 0)]
        other, gother = g(S[rows, pk], X[pk], h)
        part = partner[:, h] >= 0
        levels.append(np.where(part, 0.5 * (own + other), own))
        glevels.append(np.where(part[:, None], 0.5 * (gown + gother), gown))
    f, gf = g(S, np.broadcast_to(X, (M,) + X.shape), H)
    return np.stack(levels, axis=1), f @ theta, np.einsum("mic,i->mc", gf, theta)


def plane_dual_sup_2d(X, theta, depth, chunk=1 << 17):
    """The exact 2-D dual oracle (depths 2-4) over all 1-D abs types: (value, u, type, levels at u).

    A type's features bend where uᵀx_i crosses uᵀP for a breakpoint point P of the type (its data slots and
    the forms of abs_breakpoint_forms); between consecutive such directions the dual function is uᵀv_C, so its
    magnitude peaks at an arc end or at ±v_C/‖v_C‖ inside the arc."""
    n = len(X)
    H = depth - 1
    j, partner, pattern, mode = abs_types(n, depth)
    forms = [[tuple(float(c) for c in f) for f in m] for m in abs_breakpoint_forms(depth)]
    best = (0.0, np.array([1.0, 0.0]), 0, np.zeros(H))
    eye = [tuple(1.0 if k == s else 0.0 for k in range(H)) for s in range(H)]
    for m, mforms in enumerate(forms):
        types = np.flatnonzero(mode == m)
        coef = np.asarray(list(mforms) + eye)  # (P, H)
        per = coef.shape[0] * n  # critical directions per type
        step = max(1, chunk // per)
        for lo_t in range(0, types.size, step):
            ts = types[lo_t:lo_t + step]
            P = np.einsum("pk,tkc->tpc", coef, X[j[ts]])  # (T, P, 2)
            V = (X[None, None, :, :] - P[:, :, None, :]).reshape(ts.size, per, 2)
            ang = np.mod(np.arctan2(V[..., 1], V[..., 0]) + 0.5 * np.pi, np.pi)
            ang = np.where(np.abs(V).max(axis=2) > 0, ang, 0.0)
            ang.sort(axis=1)
            ends = np.concatenate([ang, ang[:, :1] + np.pi], axis=1)
            lo, hi = ends[:, :-1].ravel(), ends[:, 1:].ravel()
            mids = 0.5 * (lo + hi)
            rt = np.repeat(ts, per)
            args = (j[rt], partner[rt], pattern[rt])
            _, _, grad = abs_type_dual(X, np.stack([np.cos(mids), np.sin(mids)], axis=1), *args, theta)
            psi = np.mod(np.arctan2(grad[:, 1], grad[:, 0]), np.pi)
            psi = np.where(psi < lo, psi + np.pi, psi)
            inside = (psi <= hi) & (np.abs(grad).max(axis=1) > 0)
            phi = np.concatenate([lo, np.where(inside, psi, lo)])
            Uc = np.stack([np.cos(phi), np.sin(phi)], axis=1)
            lev, val, _ = abs_type_dual(X, Uc, *(np.concatenate([a, a]) for a in args), theta)
            k = int(np.argmax(np.abs(val)))
            if abs(val[k]) > best[0]:
                best = (float(abs(val[k])), Uc[k], int(np.concatenate([rt, rt])[k]), lev[k])
    return best


def plane_raw_valid(X, depth, weight_norm="l2"):
    """Mask over the raw columns: True where the plane (or fold direction) is determined."""
    X = np.asarray(X, dtype=np.float64)
    modes = 1 if depth == 2 else library_size(X.shape[0], "abs", depth)
    _, ok, _ = plane_normals(X, weight_norm)
    folds = [u is not None for _, u, _ in plane_fold_directions(X, depth, weight_norm)]
    return np.concatenate([np.repeat(ok, modes), np.asarray(folds, dtype=bool)])


def plane_dedup_tolerance(X):
    X = np.asarray(X, dtype=np.float64)
    span = X.max(axis=0) - X.min(axis=0)
    amax = float(np.abs(X).max())
    return 1e-9 * float(np.sqrt(np.sum(span * span))) + 1024.0 * np.finfo(np.float64).eps * amax


# --------------------------------------------------------------------------------------------------
# Convex two-layer ReLU networks (netmirror.convex_relu, docs/convex_relu.md)
#
#   P(v, w) = 1/2 ||sum_i D_i X (v_i - w_i) - y||^2 + beta sum_i (||v_i|| + ||w_i||)
#             s.t. (2 D_i - I) X v_i >= 0, (2 D_i - I) X w_i >= 0,
#
# X (N, k) the inputs (with a column of ones when the hidden units have a bias), D_i = diag(1[X u >= 0])
# the activation patterns of the chambers of the hyperplane arrangement {u : x_n^T u = 0}.
# Dual: D(theta) = theta^T y - 1/2 ||theta||^2 over ||Proj_{K_i}(+-X^T D_i theta)|| <= beta for every i,
# K_i = {u : (2 D_i - I) X u >= 0}.
def arrangement_hyperplanes(X, tol=1e-12):
    """Distinct hyperplanes {u : h^T u = 0} of the rows of X: unit normals, one per set of parallel rows
    (rows within tol of parallel, in either orientation, share one); zero rows give none."""
    X = np.asarray(X, dtype=np.float64)
    norms = np.sqrt((X * X).sum(axis=1))
    kept = []
    for n in range(X.shape[0]):
        if not norms[n] > 0.0:
            continue
        h = X[n] / norms[n]
        if all(abs(float(h @ g)) < 1.0 - tol for g in kept):
            kept.append(h)
    return np.array(kept).reshape(len(kept), X.shape[1])


def _hyperplane_basis(h):
    """Orthonormal basis (k, k-1) of the hyperplane h^T u = 0 (h a unit vector): a Householder reflection
    maps e_0 to +-h, its other columns span the complement."""
    k = h.shape[0]
    v = h.copy()
    v[0] += math.copysign(1.0, h[0]) if h[0] != 0.0 else 1.0
    Q = np.eye(k) - 2.0 * np.outer(v, v) / float(v @ v)
    return Q[:, 1:]


def arrangement_points(H, tol=1e-12):
    """One point in the interior of every chamber of the central arrangement of the unit normals H (m, k);
    duplicates possible (a chamber is found once per facet).

    Every chamber of a non-empty arrangement has a facet on some hyperplane h_n, and that facet is a chamber
    of the arrangement the other hyperplanes cut on h_n. So: recurse on each h_n (dimension k - 1), and push
    each point u0 found there off h_n by +-eps h_n, eps half the distance from u0 to the nearest other
    hyperplane, which keeps every other sign. k = 1: the half-lines +1 and -1."""
    H = np.asarray(H, dtype=np.float64)
    m, k = H.shape
    if m == 0:
        e = np.zeros(k)
        e[0] = 1.0
        return e[None]
    if k == 1:
        return np.array([[1.0], [-1.0]])
    points = []
    for n in range(m):
        B = _hyperplane_basis(H[n])
        others = np.delete(H, n, axis=0)
        restricted = arrangement_hyperplanes(others @ B, tol)
        for t in arrangement_points(restricted, tol):
            u0 = B @ t
            u0 /= np.linalg.norm(u0)
            dist = np.abs(others @ u0)
            eps = 0.5 * float(dist.min()) if dist.size else 1.0
            points.append(u0 + eps * H[n])
            points.append(u0 - eps * H[n])
    return np.array(points)


def general_position_chambers(m, k):
    """Chambers of m central hyperplanes in general position in R^k: 2 sum_{i<k} C(m-1, i) (m >= 1)."""
    if m == 0:
        return 1
    return 2 * sum(math.comb(m - 1, i) for i in range(k))


def _row_dots(X, u):
    """x_n^T u summed left to right (no fused multiply-add), as the C++ kernel does: signs of ties agree."""
    s = X[:, 0] * u[0]
    for j in range(1, X.shape[1]):
        s = s + X[:, j] * u[j]
    return s


def distinct_patterns(X, U):
    """Activation patterns 1[X u >= 0] of the directions U (P, k), each once, in order of first appearance;
    the all-zero pattern (a dead unit) is left out. Returns (patterns (Q, N) bool, first (Q,) index into U)."""
    X = np.asarray(X, dtype=np.float64)
    U = np.asarray(U, dtype=np.float64).reshape(-1, X.shape[1])
    seen = {}
    for p in range(U.shape[0]):
        d = _row_dots(X, U[p]) >= 0.0
        key = d.tobytes()
        if d.any() and key not in seen:
            seen[key] = p
    first = np.array(list(seen.values()), dtype=np.int64)
    pats = np.array([_row_dots(X, U[p]) >= 0.0 for p in first], dtype=bool).reshape(len(first), X.shape[0])
    return pats, first


def exact_patterns(X, tol=1e-12):
    """Every chamber pattern of the arrangement of the rows of X (see arrangement_points)."""
    pts = arrangement_points(arrangement_hyperplanes(X, tol), tol)
    return distinct_patterns(X, pts)


def cone_projection(G, z):
    """Projection of z onto the polyhedral cone K = {u : G u >= 0}: p = z + G^T lam with
    lam = argmin_{lam >= 0} ||z + G^T lam|| (Moreau: -G^T lam is the projection on the polar cone).
    Returns (p, lam). For any lam >= 0, ||z + G^T lam|| >= ||Proj_K z|| = max_{u in K, ||u|| <= 1} z^T u."""
    import scipy.optimize

    G = np.asarray(G, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    if G.shape[0] == 0 or (G @ z >= 0).all():
        return z.copy(), np.zeros(G.shape[0])
    lam, _ = scipy.optimize.nnls(G.T, -z)
    return z + G.T @ lam, lam


def cone_interior_direction(X, pattern):
    """Largest-margin unit direction of K = {u : s_n x_n^T u >= 0} (s_n = +1 where the pattern is on, else -1):
    u = argmin ||u|| s.t. s_n x_n^T u / ||x_n|| >= 1, by least-distance programming (Lawson & Hanson, ch. 23):
    with E = [G^T; 1^T] and f = (0, ..., 0, 1), lam = argmin_{lam >= 0} ||E lam - f||, r = E lam - f, the solution
    is -r[:k] / r[k] (r = 0: no interior). Returns (unit u, margin min_n s_n x_n^T u / ||x_n||), or (0, 0.0).
    Zero rows impose nothing."""
    import scipy.optimize

    X = np.asarray(X, dtype=np.float64)
    d = np.asarray(pattern, dtype=bool)
    norms = np.linalg.norm(X, axis=1)
    keep = norms > 0
    k = X.shape[1]
    if not keep.any():
        return np.eye(k)[0], 1.0
    G = np.where(d[keep], 1.0, -1.0)[:, None] * X[keep] / norms[keep, None]
    E = np.vstack([G.T, np.ones(G.shape[0])])
    f = np.zeros(k + 1)
    f[k] = 1.0
    lam, _ = scipy.optimize.nnls(E, f)
    r = E @ lam - f
    if not (np.linalg.norm(r) > 1e-12 and r[k] < 0):
        return np.zeros(k), 0.0
    u = -r[:k] / r[k]
    u /= np.linalg.norm(u)
    margin = float((G @ u).min())
    return (u, margin) if margin > 0 else (np.zeros(k), 0.0)


def convex_relu_barrier(X, y, patterns, signs, beta, target, growth=20.0, max_newton=400):
    """Primal barrier method for min 1/2 ||y - sum_g s_g D_g X u_g||^2 + beta sum_g ||u_g|| s.t.
    (2 D_g - I) X u_g >= 0 over the groups g (pattern row g, sign s_g): the reference of
    netmirror._core.convex_relu_barrier (cpp/include/netmirror/convex_relu_barrier.hpp), step for step.

    Barrier objective at tau: tau P(u) + sum_g psi(u_g) - sum_{g,n} log(s_{gn} x_n^T u_g / ||x_n||), where
    psi(u) = w - log(1 + w), w = sqrt(1 + (tau beta ||u||)^2), is min_t tau beta t - log(t^2 - ||u||^2) up to a
    constant. Centring: damped Newton (fraction to the boundary 0.99, Armijo 1/4) until the decrement
    lambda^2 <= 2e-8; then the working set's certified gap (theta = r rescaled into its dual feasible set) and Gap
    Safe screening; stop when that gap or nu / tau <= target (nu = sum_g (2 + rows) over the groups in), else drop
    the groups with ||Proj_K(A_g^T theta)|| + ||A_g||_F sqrt(2 gap) < beta and tau *= growth. Start: each group's
    largest-margin direction, scaled so that the fits' norms sum to ||y||; tau_0 = nu / (1/2 ||y||^2). Stops
    early (keeping the last iterate) when a Cholesky factor fails or after max_newton steps.
    Returns dict(coef (G, k), tau, nu, objective, newton, reached)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    D = np.asarray(patterns, dtype=bool)
    signs = np.asarray(signs, dtype=np.float64)
    n, k = X.shape
    norms = np.linalg.norm(X, axis=1)
    rows = norms > 0
    unit = X[rows] / norms[rows, None]
    coef = np.zeros((D.shape[0], k))
    start = [(g, *cone_interior_direction(X, D[g])) for g in range(D.shape[0])]
    idx = np.array([g for g, _, m in start if m > 1e-10], dtype=int)
    out = {"coef": coef, "tau": 0.0, "nu": 0.0, "objective": 0.0, "newton": 0, "reached": False}
    if idx.size == 0:
        return out
    U = np.array([u for _, u, m in start if m > 1e-10])
    A = signs[idx, None, None] * D[idx, :, None] * X[None]          # (G, n, k): s_g D_g X
    C = np.where(D[idx], 1.0, -1.0)[:, rows, None] * unit[None]     # (G, rows, k): constraint normals
    G = idx.size
    nu = G * (2.0 + rows.sum())
    frobenius = np.sqrt((A * A).sum(axis=(1, 2)))  # ||s_g D_g X||_F, for screening
    out["nu"] = nu
    p0 = 0.5 * float(y @ y)
    if not p0 > 0:
        return out
    fit = np.linalg.norm(np.einsum("gnk,gk->gn", A, U), axis=1).sum()
    U = U * (np.sqrt(2 * p0) / fit if fit > 0 else 1.0)

    def merit(u, tau):
        s = np.einsum("gnk,gk->gn", C, u)
        if not (s > 0).all():
            return np.inf
        r = y - np.einsum("gnk,gk->n", A, u)
        w = np.sqrt(1 + (tau * beta) ** 2 * (u * u).sum(1))
        return 0.5 * tau * float(r @ r) + float((w - np.log1p(w)).sum()) - float(np.log(s).sum())

    tau, newton, failed = nu / p0, 0, False
    while True:
        c = tau * beta
        while True:
            if newton >= max_newton:
                failed = True
                break
            newton += 1
            r = y - np.einsum("gnk,gk->n", A, U)
            s = np.einsum("gnk,gk->gn", C, U)
            un2 = (U * U).sum(1)
            w = np.sqrt(1 + c * c * un2)
            perp, radial = c * c / (1 + w), c * c / (1 + w) / w
            grad = -tau * np.einsum("gnk,n->gk", A, r) + perp[:, None] * U - np.einsum("gnk,gn->gk", C, 1 / s)
            Cs = C / s[:, :, None]
            uu = np.where(un2[:, None, None] > 0, U[:, :, None] * U[:, None, :] / np.maximum(un2, 1e-300)[:, None, None], 0)
            B = np.einsum("gni,gnj->gij", Cs, Cs) + perp[:, None, None] * (np.eye(k) - uu) + radial[:, None, None] * uu
            try:
                L = np.linalg.cholesky(B)
                Z = np.linalg.solve(L, np.swapaxes(A, 1, 2))             # L^{-1} A_g^T
                Mc = np.linalg.cholesky(np.eye(n) / tau + np.einsum("gkn,gkm->nm", Z, Z))
            except np.linalg.LinAlgError:
                failed = True
                break

            def hsolve(b):
                x0 = np.linalg.solve(B, b[:, :, None])[:, :, 0]
                v = np.linalg.solve(Mc.T, np.linalg.solve(Mc, np.einsum("gnk,gk->n", A, x0)))
                return x0 - np.linalg.solve(B, np.einsum("gnk,n->gk", A, v)[:, :, None])[:, :, 0]

            step = hsolve(-grad)
            for _ in range(2):
                Hx = np.einsum("gij,gj->gi", B, step) + tau * np.einsum("gnk,n->gk", A, np.einsum("gnk,gk->n", A, step))
                step = step + hsolve(-grad - Hx)
            lam2 = -float((grad * step).sum())
            if not np.isfinite(lam2):
                failed = True
                break
            f0 = merit(U, tau)
            if lam2 <= 2e-8 or 0.5 * lam2 <= 1e-13 * abs(f0):  # centred, or a decrease below rounding
                break
            ds = np.einsum("gnk,gk->gn", C, step)
            neg = ds < 0
            amax = min(1.0, float((-0.99 * s[neg] / ds[neg]).min())) if neg.any() else 1.0
            alpha, centred = amax, False
            while merit(U + alpha * step, tau) > f0 - 0.25 * alpha * lam2:
                alpha *= 0.5
                if alpha < 1e-12 * amax or (lam2 < 1e-2 and alpha < 1e-3 * amax):  # no descent: rounding
                    centred = True
                    break
            if centred:
                break
            U = U + alpha * step
        if failed:
            break
        out["tau"] = tau
        # Certified gap of the working set (theta = r rescaled) and Gap Safe screening of its groups.
        r = y - np.einsum("gnk,gk->n", A, U)
        dual_norm = np.array([np.linalg.norm(cone_projection(np.where(D[g], 1.0, -1.0)[:, None] * X, A[a].T @ r)[0])
                              for a, g in enumerate(idx)])
        scale = max(1.0, float(dual_norm.max(initial=0.0)) / beta)
        theta = r / scale
        gap = max(0.5 * float(r @ r) + beta * float(np.linalg.norm(U, axis=1).sum())
                  - (float(theta @ y) - 0.5 * float(theta @ theta)), 0.0)
        if nu / tau <= target or gap <= target:  # the centred point, before any group leaves
            out["reached"] = True
            break
        keep = dual_norm / scale + frobenius * math.sqrt(2.0 * gap) >= beta
        idx, U, A, C, frobenius = idx[keep], U[keep], A[keep], C[keep], frobenius[keep]
        nu = idx.size * (2.0 + rows.sum())
        out["nu"] = nu
        if idx.size == 0:
            break
        tau *= growth
    r = y - np.einsum("gnk,gk->n", A, U)
    coef[idx] = U
    out.update(coef=coef, newton=newton, objective=0.5 * float(r @ r) + beta * float(np.linalg.norm(U, axis=1).sum()))
    return out


def convex_relu_objective(X, y, patterns, V, W, beta):
    """P(v, w) with V, W (P, k): the fit term on the patterns' masks plus beta times the groups' norms."""
    X = np.asarray(X, dtype=np.float64)
    D = np.asarray(patterns, dtype=np.float64)
    pred = (D * (X @ (np.asarray(V) - np.asarray(W)).T).T).sum(axis=0)
    r = np.asarray(y, dtype=np.float64) - pred
    return 0.5 * float(r @ r) + float(beta) * float(np.linalg.norm(V, axis=1).sum() + np.linalg.norm(W, axis=1).sum())


def convex_relu_cone_violation(X, patterns, V, W):
    """Largest violation of the cone constraints, max over i, n of -((2 D_i - I) X v_i)_n (0 if feasible)."""
    X = np.asarray(X, dtype=np.float64)
    S = 2.0 * np.asarray(patterns, dtype=np.float64) - 1.0
    worst = 0.0
    for Z in (V, W):
        worst = max(worst, float(np.max(-(S * (X @ np.asarray(Z).T).T), initial=0.0)))
    return worst


def convex_relu_dual_bound(X, patterns, theta):
    """max_i max(||Proj_{K_i}(X^T D_i theta)||, ||Proj_{K_i}(-X^T D_i theta)||): theta is dual feasible iff
    this is <= beta."""
    X = np.asarray(X, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    worst = 0.0
    for d in np.asarray(patterns, dtype=bool):
        G = np.where(d, 1.0, -1.0)[:, None] * X
        g = X.T @ np.where(d, theta, 0.0)
        for s in (1.0, -1.0):
            worst = max(worst, float(np.linalg.norm(cone_projection(G, s * g)[0])))
    return worst


def convex_relu_dual_gap(X, y, patterns, V, W, beta, theta=None):
    """(gap, theta): P(v, w) - D(theta) with theta (default: the residual) rescaled to dual feasibility."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    D = np.asarray(patterns, dtype=np.float64)
    if theta is None:
        theta = y - (D * (X @ (np.asarray(V) - np.asarray(W)).T).T).sum(axis=0)
    theta = np.asarray(theta, dtype=np.float64)
    theta = theta / max(1.0, convex_relu_dual_bound(X, patterns, theta) / float(beta))
    dual = float(theta @ y) - 0.5 * float(theta @ theta)
    return convex_relu_objective(X, y, patterns, V, W, beta) - dual, theta


def convex_relu_prox(G, z, t):
    """prox of t ||.|| + indicator(K) at z, K = {u : G u >= 0} a closed convex cone:
    (1 - t / ||Proj_K z||)_+ Proj_K z (the norm is positively homogeneous, so project, then shrink)."""
    p, _ = cone_projection(G, z)
    nrm = float(np.linalg.norm(p))
    return p * max(0.0, 1.0 - t / nrm) if nrm > 0.0 else p * 0.0


def convex_relu_pgd(X, y, patterns, beta, tol=1e-9, max_iter=200000):
    """Accelerated proximal gradient (FISTA with restarts) on all groups at once, for small problems.
    Returns dict(V, W, objective, gap, n_iter, converged); stops when gap <= tol * 1/2 ||y||^2."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    D = np.asarray(patterns, dtype=bool)
    P, k = D.shape[0], X.shape[1]
    Df = D.astype(np.float64)
    Gs = [np.where(d, 1.0, -1.0)[:, None] * X for d in D]
    # Lipschitz constant of the fit term's gradient in (V, W): ||M||^2, M the stacked [D_i X, -D_i X] columns.
    M = np.hstack([Df[i][:, None] * X for i in range(P)])
    L = 2.0 * float(np.linalg.norm(M, 2)) ** 2
    step = 1.0 / L
    V = np.zeros((P, k))
    W = np.zeros((P, k))
    Vy, Wy, tk = V.copy(), W.copy(), 1.0
    target = tol * 0.5 * float(y @ y)
    obj_prev = np.inf
    gap = np.inf
    it = 0
    for it in range(1, max_iter + 1):
        r = y - (Df * (X @ (Vy - Wy).T).T).sum(axis=0)
        grad = X.T @ (Df * r).T  # (k, P): X^T D_i r
        Vn = np.array([convex_relu_prox(Gs[i], Vy[i] + step * grad[:, i], step * beta) for i in range(P)])
        Wn = np.array([convex_relu_prox(Gs[i], Wy[i] - step * grad[:, i], step * beta) for i in range(P)])
        obj = convex_relu_objective(X, y, D, Vn, Wn, beta)
        if obj > obj_prev:  # adaptive restart: drop the momentum
            tk = 1.0
            Vy, Wy = V.copy(), W.copy()
            continue
        tn = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * tk * tk))
        Vy = Vn + (tk - 1.0) / tn * (Vn - V)
        Wy = Wn + (tk - 1.0) / tn * (Wn - W)
        V, W, tk, obj_prev = Vn, Wn, tn, obj
        if it % 50 == 0:
            gap, _ = convex_relu_dual_gap(X, y, D, V, W, beta)
            if gap <= target:
                break
    gap, _ = convex_relu_dual_gap(X, y, D, V, W, beta)
    return {"V": V, "W": W, "objective": convex_relu_objective(X, y, D, V, W, beta), "gap": float(gap),
            "n_iter": it, "converged": bool(gap <= target)}


def relu_network_loss(U, alpha, X, y, beta):
    """1/2 ||sum_j alpha_j relu(X u_j) - y||^2 + beta/2 (||U||_F^2 + ||alpha||^2), U (m, k), X (N, k)
    (the bias, if any, is the last column of U against a column of ones in X)."""
    U = np.asarray(U, dtype=np.float64).reshape(-1, np.asarray(X).shape[1])
    alpha = np.asarray(alpha, dtype=np.float64)
    pred = np.maximum(np.asarray(X, dtype=np.float64) @ U.T, 0.0) @ alpha
    r = np.asarray(y, dtype=np.float64) - pred
    return 0.5 * float(r @ r) + 0.5 * float(beta) * (float((U * U).sum()) + float(alpha @ alpha))


# --------------------------------------------------------------------------------------------------
# exact dual oracles (oracles.hpp)
def relu_depth3_max_correlation(x, theta):
    """max_j |a_j^T P theta| over the ReLU depth-3 features on x, enumerated: the ramps (x - x_k)_+, (x_k - x)_+
    and the capped ramps (x - x_a)_+ - (x - x_b)_+ for x_a < x_b (constants vanish against the centred theta)."""
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(theta, dtype=np.float64)
    t = t - t.mean()
    right = np.maximum(x[:, None] - x[None, :], 0.0)   # column k: (x - x_k)_+
    left = np.maximum(x[None, :] - x[:, None], 0.0)    # column k: (x_k - x)_+
    cr, cl = right.T @ t, left.T @ t
    a, b = np.triu_indices(x.size, 1)
    capped = np.abs(cr[a] - cr[b])[x[a] != x[b]]
    return float(max(np.abs(cr).max(), np.abs(cl).max(), capped.max() if capped.size else 0.0))
