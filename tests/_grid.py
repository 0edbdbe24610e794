"""Independent helpers for the Lasso fidelity tests (tests/test_fidelity.py).

Nothing here reads the library code: the features are written from the network definitions
(docs/libraries.md), evaluated over dense grids of their continuous parameters, and the Lasso is solved
exactly through its dual, which for N <= 6 data points is a projection in ≤ 6 dimensions.

- ``exact_lasso(A, y, beta, fit_intercept)``: exact optimum of min ½‖Az + ξ1 − y‖² + β‖z‖₁ by a primal
  active-set method on the dual  max_θ ½‖ỹ‖² − ½‖ỹ − θ‖²  s.t. |ãⱼᵀθ| ≤ β  (ã, ỹ centred with an intercept).
  The dual optimum θ* is unique (strongly concave), the active set has at most N constraints, and every
  iteration costs one pass over A, so million-column grids solve in well under a second.
- Grid generators, one per family: the network's feature over a dense grid of its biases (and all signs),
  sign/threshold patterns realisable by rectangular/tree nets (random weights of the real architecture and,
  for trees, an exact enumeration), 2-D sign features over a fine grid of directions.
- ``sup_dual(...)``: max over the continuous parameters of |ãᵀθ| for a fixed θ: coarse grid, then zooming
  in around the best grid points.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


# ==================================================================================================
# activations (written from the definitions: sign(0) = +1, threshold(0) = 1)
def act(name, u, slope=None):
    if name == "relu":
        return np.maximum(u, 0.0)
    if name == "abs":
        return np.abs(u)
    if name == "leaky_relu":
        return np.where(u > 0.0, u, slope * u)
    if name == "sign":
        return np.where(u >= 0.0, 1.0, -1.0)
    if name == "threshold":
        return np.where(u >= 0.0, 1.0, 0.0)
    raise ValueError(name)


# ==================================================================================================
# exact Lasso through its dual
@dataclass
class Exact:
    objective: float   # primal optimum (= dual optimum up to rounding)
    dual_value: float
    theta: np.ndarray  # the dual optimum (= centred residual)
    coef: np.ndarray
    p0: float          # P(0)
    iterations: int


def _centre(A, y, fit_intercept):
    A = np.asarray(A, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if fit_intercept:
        return A - A.mean(axis=0), y - y.mean()
    return A, y


def exact_lasso(A, y, beta, fit_intercept=True, max_iter=10_000):
    """Exact Lasso optimum via a primal active-set projection of ỹ onto {θ : |Ãᵀθ| ≤ β}.

    Constraints are ±ãⱼᵀθ ≤ β; the working set is kept linearly independent (a blocking constraint is never
    in the span of the working set, since steps stay in its null space). Bland's rule (smallest index) breaks
    ties, so degenerate vertices cannot cycle.
    """
    Ac, yc = _centre(A, y, fit_intercept)
    n, m = Ac.shape
    p0 = 0.5 * float(yc @ yc)
    norms = np.sqrt((Ac * Ac).sum(axis=0))
    scale = max(float(norms.max()) if m else 0.0, 1e-300)
    live = norms > 1e-13 * scale  # centred-zero columns carry no constraint
    corr0 = np.abs(Ac.T @ yc)
    corr0[~live] = 0.0
    bmax = float(corr0.max()) if m else 0.0
    if bmax <= beta:
        return Exact(p0, p0, yc.copy(), np.zeros(m), p0, 0)
    theta = yc * (beta / bmax)
    work = []  # list of (column, sign)
    feas_tol = 1e-12 * beta
    it = 0
    at_target = False  # θ is the projection onto the working set's affine set (a full step was taken)
    seen = set()  # working sets met at stationary points: a repeat means a degenerate cycle
    for it in range(1, max_iter + 1):
        # projection of yc onto the affine set {θ : s_i a_iᵀθ = β, i ∈ W}
        if work:
            G = np.stack([s * Ac[:, j] for j, s in work])  # (k, n)
            M = G @ G.T
            rhs = G @ yc - beta
            mu = np.linalg.solve(M, rhs)
            target = yc - G.T @ mu
        else:
            mu = np.zeros(0)
            target = yc
        d = target - theta
        if work:  # keep the step exactly in the null space of the working set (and in 1⊥)
            Q = np.linalg.qr(G.T)[0]  # (n, k) orthonormal basis of span(G_W)
            d = d - Q @ (Q.T @ d)
        if fit_intercept:
            d = d - d.mean()
        dn = float(np.linalg.norm(d))
        if at_target or dn <= 1e-12 * max(float(np.linalg.norm(yc)), 1e-300):  # rounding-size step: stationary
            if mu.size == 0 or mu.min() >= -1e-14 * max(float(np.abs(mu).max()), 1e-300):
                theta = target
                break
            key = frozenset(work)
            if key in seen and mu.min() >= -1e-7 * max(float(np.abs(mu).max()), 1e-300):
                theta = target  # cycling on rounding-size multipliers: this point is optimal to ~1e-7
                break
            seen.add(key)
            # drop the most negative multiplier (smallest index among ties)
            worst = float(mu.min())
            cand = [i for i in range(len(work)) if mu[i] <= worst * (1 - 1e-9)]
            drop = min(cand, key=lambda i: work[i])
            work.pop(drop)
            at_target = False
            continue
        # ratio test over every constraint not in the working set
        v = Ac.T @ d
        t = Ac.T @ theta
        vmag = np.abs(v)
        ok = live & (vmag > 1e-12 * norms * dn)
        if work:
            ok[[j for j, _ in work]] = False
        slack = np.maximum(np.where(v > 0, beta - t, beta + t), 0.0)
        alpha = np.full(m, np.inf)
        np.divide(slack, vmag, out=alpha, where=ok)
        j = None
        while True:
            amin = float(alpha.min()) if m else np.inf
            if amin >= 1.0:
                break
            cand = int(np.flatnonzero(alpha <= amin + 1e-15).min())  # Bland: smallest index among ties
            if work:  # columns in the span of the working set cannot block (their product with d is 0)
                a = Ac[:, cand]
                r = a - Q @ (Q.T @ a)
                if float(np.linalg.norm(r)) <= 1e-9 * norms[cand]:
                    alpha[cand] = np.inf
                    continue
            j = cand
            break
        if j is None:
            theta = target
            at_target = True
            continue
        theta = theta + amin * d
        work.append((j, 1.0 if v[j] > 0 else -1.0))
    else:  # pragma: no cover - would be a bug in this helper
        raise RuntimeError("exact_lasso did not terminate")
    # primal from the multipliers: z_j = Σ s_i μ_i
    coef = np.zeros(m)
    if work:
        G = np.stack([s * Ac[:, j] for j, s in work])
        mu = np.linalg.solve(G @ G.T, G @ yc - beta)
        for (j, s), mu_i in zip(work, mu):
            coef[j] += s * mu_i
    r = yc - Ac @ coef
    objective = 0.5 * float(r @ r) + beta * float(np.abs(coef).sum())
    corr = float(np.abs(Ac[:, live].T @ theta).max()) if live.any() else 0.0
    assert corr <= beta * (1 + 1e-9) + feas_tol, (corr, beta)
    dual_value = p0 - 0.5 * float((yc - theta) @ (yc - theta))
    return Exact(objective, dual_value, theta, coef, p0, it)


def dual_excess(G, theta, beta, fit_intercept=True):
    """max_j |g̃ⱼᵀθ| / β over the columns of G (centred with an intercept), and the argmax."""
    Gc = G - G.mean(axis=0) if fit_intercept else G
    c = np.abs(Gc.T @ theta)
    j = int(np.argmax(c))
    return float(c[j]) / beta, j


# ==================================================================================================
# deep-narrow features (relu, leaky_relu, abs, sign, threshold):
#   g1 = σ(s1 (x − a1)),  g_l = σ(s_l (g_{l−1}(x) − c_l)),  a1, c_l arbitrary reals
def _nested_eval(x, activation, slope, signs, a1, levels):
    """Evaluate the chain at x for parameter arrays: signs (P, H), a1 (P,), levels (P, H−1) as absolute
    biases c_l. Returns (len(x), P)."""
    g = act(activation, signs[None, :, 0] * (x[:, None] - a1[None, :]), slope)
    for h in range(1, signs.shape[1]):
        g = act(activation, signs[None, :, h] * (g - levels[None, :, h - 1]), slope)
    return g


def nested_columns(x, activation, depth, slope=None, n_a=None, n_c=None, signs=None, data_levels=True):
    """Columns of the deep-narrow feature over a grid of a1 and of every deeper bias c_l.

    a1 runs over a uniform grid on [min x − span, max x + span] plus the data and their midpoints; c_l over a
    uniform grid on [lo − 5%, hi + 5%] of the previous layer's values at the data (lo..hi) plus those values
    themselves (data_levels). All sign patterns unless `signs` is given (abs: the sign is irrelevant).
    Returns (G, params): G (N, P) and params dict with 's' (P, H), 'a1' (P,), 'c' (P, H−1).
    """
    x = np.asarray(x, dtype=np.float64)
    H = depth - 1
    lo, hi = float(x.min()), float(x.max())
    span = max(hi - lo, 1e-12)
    if n_a is None:
        n_a = {1: 801, 2: 161, 3: 41, 4: 19}[H]
    if n_c is None:
        n_c = {1: 0, 2: 161, 3: 41, 4: 19}[H]
    xs = np.unique(x)
    a_grid = np.unique(np.concatenate([np.linspace(lo - span, hi + span, n_a), xs, 0.5 * (xs[1:] + xs[:-1])]))
    if signs is None:
        signs = [(1.0,) * H] if activation == "abs" else list(itertools.product((-1.0, 1.0), repeat=H))
    u_grid = np.linspace(-0.05, 1.05, n_c) if n_c else np.zeros(0)
    cols, S, A1, C = [], [], [], []
    for sg in signs:
        sg = np.asarray(sg, dtype=np.float64)
        # layer by layer: a frontier of partial parameter vectors
        a1 = a_grid.copy()
        lev = np.zeros((a1.size, 0))
        g = act(activation, sg[0] * (x[:, None] - a1[None, :]), slope)  # (N, P)
        for h in range(1, H):
            glo, ghi = g.min(axis=0), g.max(axis=0)
            keep = ghi - glo > 1e-12 * max(1.0, float(np.abs(g).max()))  # constant g: nothing deeper
            g, a1, lev, glo, ghi = g[:, keep], a1[keep], lev[keep], glo[keep], ghi[keep]
            P = a1.size
            levels = glo[:, None] + u_grid[None, :] * (ghi - glo)[:, None]  # (P, n_c)
            if data_levels:
                levels = np.concatenate([levels, g.T], axis=1)  # the values at the data themselves
            k = levels.shape[1]
            c = levels.reshape(-1)
            rep = np.repeat(np.arange(P), k)
            g = act(activation, sg[h] * (g[:, rep] - c[None, :]), slope)
            a1 = a1[rep]
            lev = np.concatenate([lev[rep], c[:, None]], axis=1)
        cols.append(g)
        S.append(np.tile(sg, (a1.size, 1)))
        A1.append(a1)
        C.append(lev)
    return np.concatenate(cols, axis=1), {"s": np.concatenate(S), "a1": np.concatenate(A1), "c": np.concatenate(C)}


def _centred(G, fit_intercept):
    return G - G.mean(axis=0) if fit_intercept else G


def _zoom(p, step, mesh, columns, theta, val, rounds, shrink, fit_intercept):
    """Refine parameters p around the best grid point: evaluate columns(cand) on p + mesh * step, keep the
    best |column^T theta|, shrink the step; returns (best value, its parameters)."""
    for _ in range(rounds):
        cand = p[None, :] + mesh * step[None, :]
        sc = np.abs(_centred(columns(cand), fit_intercept).T @ theta)
        k = int(np.argmax(sc))
        if sc[k] > val:
            val, p = float(sc[k]), cand[k]
        step = step / shrink
    return val, p


class NestedGrid:
    """Deep-narrow features over a dense bias grid; ``sup(theta)`` refines the best grid points by zooming in
    (a1, c_2, ..., c_H) for a fixed sign pattern."""

    def __init__(self, x, activation, depth, slope=None, n_a=None, n_c=None):
        self.x = np.asarray(x, dtype=np.float64)
        self.activation, self.depth, self.slope = activation, depth, slope
        self.G, self.prm = nested_columns(self.x, activation, depth, slope, n_a=n_a, n_c=n_c)

    def evaluate(self, signs, a1, levels):
        return _nested_eval(self.x, self.activation, self.slope, signs, a1, levels)

    def describe(self, p):
        return {"signs": p["signs"].tolist(), "a1": float(p["a1"]), "c": [float(c) for c in p["c"]]}

    def sup(self, theta, beta, fit_intercept=True, top=12, rounds=6, Gc=None):
        """(ratio on the grid, refined ratio, params of the refined best feature, its column)."""
        x, act_, slope, H = self.x, self.activation, self.slope, self.depth - 1
        Gc = _centred(self.G, fit_intercept) if Gc is None else Gc
        score = np.abs(Gc.T @ theta)
        order = np.argsort(-score)[:top]
        grid_ratio = float(score[order[0]]) / beta
        span = max(float(x.max() - x.min()), 1e-12)
        offs = np.linspace(-1.0, 1.0, {1: 41, 2: 9, 3: 5, 4: 5}[H])
        mesh = np.array(list(itertools.product(offs, repeat=H)))  # (Q, H)
        best = (-1.0, None)
        for i in order:
            s = self.prm["s"][i]
            p = np.concatenate([[self.prm["a1"][i]], self.prm["c"][i]])
            # steps: a1 by the grid spacing of the data span, c_l by the range of layer l − 1 at the data
            step = np.empty(H)
            step[0] = 2 * span / 100
            g = act(act_, s[0] * (x - p[0]), slope)
            for h in range(1, H):
                step[h] = max(float(g.max() - g.min()), 1e-12) / 20
                g = act(act_, s[h] * (g - p[h]), slope)
            val, p = _zoom(p, step, mesh, lambda c, s=s: self.evaluate(np.tile(s, (len(c), 1)), c[:, 0], c[:, 1:]),
                           theta, float(score[i]), rounds, 4, fit_intercept)
            if val > best[0]:
                best = (val, {"signs": s, "a1": p[0], "c": p[1:]})
        p = best[1]
        col = self.evaluate(p["signs"][None, :], np.array([p["a1"]]), p["c"][None, :])[:, 0]
        return grid_ratio, best[0] / beta, self.describe(p), col


# ==================================================================================================
# symmetrized 3-layer nets: h(x) = σ(x − a) + σ(c − x),  g = σ(s (h(x) − b)),  a, c, b arbitrary
def symmetrized_columns(x, activation, slope=None, n_ac=61, n_b=61):
    x = np.asarray(x, dtype=np.float64)
    lo, hi = float(x.min()), float(x.max())
    span = max(hi - lo, 1e-12)
    xs = np.unique(x)
    grid = np.unique(np.concatenate([np.linspace(lo - span, hi + span, n_ac), xs, 0.5 * (xs[1:] + xs[:-1])]))
    a, c = np.meshgrid(grid, grid, indexing="ij")
    a, c = a.ravel(), c.ravel()
    h = act(activation, x[:, None] - a[None, :], slope) + act(activation, c[None, :] - x[:, None], slope)
    hlo, hhi = h.min(axis=0), h.max(axis=0)
    keep = hhi - hlo > 1e-12 * max(1.0, float(np.abs(h).max()))
    h, a, c, hlo, hhi = h[:, keep], a[keep], c[keep], hlo[keep], hhi[keep]
    u = np.linspace(-0.05, 1.05, n_b)
    levels = np.concatenate([hlo[:, None] + u[None, :] * (hhi - hlo)[:, None], h.T], axis=1)
    k = levels.shape[1]
    rep = np.repeat(np.arange(a.size), k)
    b = levels.reshape(-1)
    cols, S = [], []
    for s in (-1.0, 1.0):
        cols.append(act(activation, s * (h[:, rep] - b[None, :]), slope))
        S.append(np.full(b.size, s))
    G = np.concatenate(cols, axis=1)
    prm = {"a": np.tile(a[rep], 2), "c": np.tile(c[rep], 2), "b": np.tile(b, 2), "s": np.concatenate(S)}
    return G, prm


class SymmetrizedGrid:
    """Symmetrized features over a dense (a, c, b) grid; ``sup(theta)`` zooms in around the best points."""

    def __init__(self, x, activation, slope=None, n_ac=61, n_b=61):
        self.x = np.asarray(x, dtype=np.float64)
        self.activation, self.slope = activation, slope
        self.G, self.prm = symmetrized_columns(self.x, activation, slope, n_ac=n_ac, n_b=n_b)

    def evaluate(self, a, c, b, s):
        x, f, sl = self.x, self.activation, self.slope
        h = act(f, x[:, None] - a[None, :], sl) + act(f, c[None, :] - x[:, None], sl)
        return act(f, s[None, :] * (h - b[None, :]), sl)

    def sup(self, theta, beta, fit_intercept=True, top=12, rounds=6, Gc=None):
        x = self.x
        Gc = _centred(self.G, fit_intercept) if Gc is None else Gc
        score = np.abs(Gc.T @ theta)
        order = np.argsort(-score)[:top]
        grid_ratio = float(score[order[0]]) / beta
        span = max(float(x.max() - x.min()), 1e-12)
        offs = np.linspace(-1.0, 1.0, 7)
        mesh = np.array(list(itertools.product(offs, repeat=3)))
        best = (-1.0, None)
        for i in order:
            p = np.array([self.prm["a"][i], self.prm["c"][i], self.prm["b"][i]])
            s = float(self.prm["s"][i])
            hh = act(self.activation, x - p[0], self.slope) + act(self.activation, p[1] - x, self.slope)
            step = np.array([2 * span / 40, 2 * span / 40, max(float(hh.max() - hh.min()), 1e-12) / 40])
            val, p = _zoom(p, step, mesh, lambda c, s=s: self.evaluate(c[:, 0], c[:, 1], c[:, 2], np.full(len(c), s)),
                           theta, float(score[i]), rounds, 3, fit_intercept)
            if val > best[0]:
                best = (val, {"a": float(p[0]), "c": float(p[1]), "b": float(p[2]), "s": s})
        p = best[1]
        col = self.evaluate(np.array([p["a"]]), np.array([p["c"]]), np.array([p["b"]]), np.array([p["s"]]))[:, 0]
        return grid_ratio, best[0] / beta, p, col


class PatternGrid:
    """A finite set of feature columns (switching patterns, 2-D sign features): nothing to refine."""

    def __init__(self, G, labels=None):
        self.G = np.asarray(G, dtype=np.float64)
        self.labels = labels

    def sup(self, theta, beta, fit_intercept=True, Gc=None, **_):
        Gc = _centred(self.G, fit_intercept) if Gc is None else Gc
        score = np.abs(Gc.T @ theta)
        k = int(np.argmax(score))
        label = self.labels[k] if self.labels is not None else self.G[:, k].tolist()
        return float(score[k]) / beta, float(score[k]) / beta, label, self.G[:, k]


# ==================================================================================================
# sign / threshold nets with width: realisable switching patterns at the data
def _first_layer_patterns(x, activation):
    """All patterns σ(s (x − t)) over thresholds t (every gap between distinct values, outside, and the data
    themselves, where sign(0) = +1 decides)."""
    xs = np.unique(x)
    ts = np.concatenate([[xs[0] - 1.0], 0.5 * (xs[1:] + xs[:-1]), [xs[-1] + 1.0], xs])
    return {tuple(act(activation, s * (x - t))) for t in ts for s in (-1.0, 1.0)}


_LTF_CACHE = {}


def threshold_units(m):
    """Every linear threshold function of m ±1 inputs, as (truth table over the cube, w, b).

    Integer weights |w_i| ≤ 3 with biases between the attainable values realise all of them for m ≤ 4 (the
    counts 4, 14, 104, 1882 are the known numbers of threshold functions; checked in the tests). A unit whose
    inputs take only some cube vertices at the data computes a restriction of one of these, and every
    restriction is computed by the same weights, so this list is exact."""
    if m in _LTF_CACHE:
        return _LTF_CACHE[m]
    if m > 4:
        raise ValueError("threshold_units: m ≤ 4")
    cube = np.array(list(itertools.product((-1.0, 1.0), repeat=m)))
    table = {}
    for w in itertools.product(range(-3, 4), repeat=m):
        w = np.asarray(w, dtype=np.float64)
        z = cube @ w
        vals = np.unique(z)
        for b in np.concatenate([[vals[0] - 1.0], 0.5 * (vals[1:] + vals[:-1]), [vals[-1] + 1.0]]):
            key = tuple(np.where(z - b >= 0.0, 1, -1))
            table.setdefault(key, (w, -b))
    out = [(np.array(k, dtype=np.int8), w, b) for k, (w, b) in table.items()]
    _LTF_CACHE[m] = (cube, out)
    return _LTF_CACHE[m]


def _as_pm(p, activation):
    p = np.asarray(p, dtype=np.float64)
    return 2.0 * p - 1.0 if activation == "threshold" else p


def _unit_outputs(children, activation):
    """Patterns of one unit whose m inputs are the child patterns (rows of `children`), over all weights."""
    children = np.atleast_2d(children)
    m = children.shape[0]
    _, units = threshold_units(m)
    u = _as_pm(children, activation)  # ±1 inputs: a threshold unit of 0/1 inputs is one of ±1 inputs
    w = np.array([w for _, w, _ in units])  # (F, m)
    b = np.array([b for _, _, b in units])
    z = w @ u + b[:, None]
    return {tuple(r) for r in act(activation, z)}


def tree_patterns(x, activation, depth, widths):
    """Exact set of patterns (at the data) of one unit at hidden layer depth − 1 of a tree net: every unit has
    its own children; a unit at layer l ≥ 2 has widths[l − 2] children (layer 1: steps σ(s (x − t)))."""
    x = np.asarray(x, dtype=np.float64)
    level = _first_layer_patterns(x, activation)
    for layer in range(2, depth):
        m = int(widths[layer - 2])
        children = sorted(level)
        new = set()
        # children are independent subtrees: any multiset of m realisable child patterns
        for combo in itertools.combinations_with_replacement(range(len(children)), m):
            new |= _unit_outputs(np.array([children[i] for i in combo]), activation)
        level = new
    return np.array(sorted(level))


def rectangular_patterns(x, activation, depth, widths):
    """Exact set of patterns (at the data) of one unit at hidden layer depth − 1 of a rectangular net of
    width m: breadth-first over layer states. A state is what the next layer can read: the set of distinct
    non-constant unit patterns up to sign (negating a unit, repeating it or adding a constant unit changes
    nothing a threshold unit above can compute), computed in ±1 coding (a 0/1 threshold unit is an affine
    image of a ±1 one). Each layer: every unit is any threshold function of the whole state below."""
    x = np.asarray(x, dtype=np.float64)
    m = int(widths[0])

    def canon(p):
        p = np.asarray(p, dtype=np.float64)
        if p.min() == p.max():
            return None
        return tuple(p if p[0] > 0 else -p)

    def states_from(outputs):
        keys = sorted({k for k in (canon(p) for p in outputs) if k is not None})
        out = {frozenset()}
        for r in range(1, m + 1):
            out |= {frozenset(c) for c in itertools.combinations(keys, r)}
        return out

    def unit(state):
        if not state:
            return {(1.0,) * len(x), (-1.0,) * len(x)}
        return _unit_outputs(np.array(sorted(state)), "sign")

    states = states_from(_first_layer_patterns(x, "sign"))
    if depth == 2:
        final = _first_layer_patterns(x, "sign")
    else:
        for _ in range(3, depth):
            new = set()
            for st in states:
                new |= states_from(unit(st))
            if new == states:  # frozen: deeper layers add nothing
                break
            states = new
        final = set()
        for st in states:
            final |= unit(st)
    P = np.array(sorted(final))
    return (P + 1.0) / 2.0 if activation == "threshold" else P


def sampled_patterns(x, activation, depth, widths, architecture, n_samples=4000, rng=None):
    """Distinct patterns of one unit at hidden layer depth − 1 over random weights of the real architecture
    (rectangular: full layers of width m, each unit sees every unit below; tree: every unit has its own
    children). First-layer units get a random sign and a threshold uniform over [min x − span/4,
    max x + span/4]; every deeper unit gets random weights and bias from the threshold-unit table
    (a uniformly chosen threshold function of its inputs)."""
    rng = np.random.default_rng(0) if rng is None else rng
    x = np.asarray(x, dtype=np.float64)
    lo, hi = float(x.min()), float(x.max())
    span = max(hi - lo, 1e-12)
    S = n_samples

    def first(units):
        s = rng.choice((-1.0, 1.0), size=(S, units))
        t = rng.uniform(lo - span / 4, hi + span / 4, size=(S, units))
        return act(activation, s[:, :, None] * (x[None, None, :] - t[:, :, None]))  # (S, units, N)

    def layer(h, m, units):
        """h: (S, units·m, N) grouped into `units` groups of m inputs (tree) -> (S, units, N)."""
        _, table = threshold_units(m)
        W = np.array([w for _, w, _ in table])
        B = np.array([b for _, _, b in table])
        pick = rng.integers(0, len(table), size=(S, units))
        g = _as_pm(h, activation).reshape(S, units, m, -1)
        z = np.einsum("sum,sumn->sun", W[pick], g) + B[pick][:, :, None]
        return act(activation, z)

    if architecture == "rectangular":
        m = int(widths[0])
        h = first(m)
        for lay in range(2, depth):
            width = 1 if lay == depth - 1 else m
            # every unit of this layer sees all m units below
            h = layer(np.repeat(h[:, None], width, axis=1).reshape(S, width * m, -1), m, width)
        return np.unique(h[:, 0, :], axis=0)
    fan = [int(widths[l]) for l in range(depth - 2)]
    h = first(int(np.prod(fan)) if fan else 1)
    for m in fan:
        h = layer(h, m, h.shape[1] // m)
    return np.unique(h[:, 0, :], axis=0)


def pattern_keys(P, fit_intercept=True):
    """Canonical keys of pattern columns up to sign (and an additive constant with an intercept); constant
    columns are dropped. P: (K, N) rows are patterns."""
    keys = set()
    for v in np.atleast_2d(P):
        d = v - v[0] if fit_intercept else v.astype(np.float64)
        nz = np.flatnonzero(np.abs(d) > 1e-12)
        if nz.size == 0:
            continue
        if d[nz[0]] < 0:
            d = -d
        keys.add(tuple(np.round(d, 9)))
    return keys


# ==================================================================================================
# 2-D sign nets without biases: sign(w · x) for unit w
def angular_columns(X, n_angles=7200):
    X = np.asarray(X, dtype=np.float64)
    phi = np.linspace(0.0, 2 * np.pi, n_angles, endpoint=False)
    ang = np.arctan2(X[:, 1], X[:, 0])
    # also every direction orthogonal to a data point, and just beside it
    extra = np.concatenate([ang + np.pi / 2, ang - np.pi / 2])
    extra = np.concatenate([extra, extra + 1e-9, extra - 1e-9])
    phi = np.concatenate([phi, extra])
    W = np.stack([np.cos(phi), np.sin(phi)], axis=1)
    return act("sign", X @ W.T), phi
