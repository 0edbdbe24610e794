"""Convex two-layer ReLU networks (Pilanci & Ergen) for inputs in d dimensions, solved in the C++ core.

Training f(x) = sum_j alpha_j relu(u_j^T x + b_j) with weight decay,

    1/2 ||f(X) - y||^2 + beta/2 (||U||_F^2 + ||b||^2 + ||alpha||^2),

is the cone-constrained group Lasso over the activation patterns D_i = diag(1[X u >= 0]) of the hyperplane
arrangement of the data (X with a column of ones when ``bias=True``):

    min 1/2 ||sum_i D_i X (v_i - w_i) - y||^2 + beta sum_i (||v_i|| + ||w_i||),  (2 D_i - I) X v_i, w_i >= 0.

:func:`convex_relu` solves it to a certified duality gap and rebuilds the network. With every chamber of the
arrangement enumerated (``patterns="exact"``), the dual value is a lower bound on the loss of *every* ReLU
network of any width: a global-optimality certificate for the non-convex training problem.
Derivation, scaling and certificate: docs/convex_relu.md.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import time
import warnings

import numpy as np

from . import _core, _memory, reference
from ._lasso import ConvergenceWarning, _check_max_iter, _check_positive

# Hyperplanes closer than this to parallel (in cosine) are merged when chambers are enumerated.
_PARALLEL_TOL = 1e-12
# "auto" enumerates every chamber when the arrangement has at most this many (general-position count).
_AUTO_EXACT_CHAMBERS = 5000
_AUTO_SAMPLES = 5000
_MAX_EXACT_CHAMBERS = 2_000_000
# "exact" is refused when enumerating the chambers costs more than this (operations, _enumeration_work: about
# 3e8 a second on one core, so some 10 s); "auto" then samples.
_MAX_ENUMERATION_WORK = 3e9
# Sampled directions are drawn (in the input coordinates, so that a seed gives the same patterns with and
# without the rank reduction) and projected on the row space this many values at a time.
_SAMPLE_CHUNK = 1 << 22


def _check_inputs(X, name="X"):
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {X.dtype}")
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"{name} must have shape (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {X.shape}): need at least one sample and one feature")
    X = np.ascontiguousarray(X, dtype=np.float64)
    if not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(f"{name} contains NaN or inf (first at row {bad[0]}, column {bad[1]}); remove or impute it")
    return X


def _design(X, bias):
    """X with a column of ones (the hidden biases) when bias: the lifted design X~ (N, k = d + bias)."""
    if not bias:
        return X
    _memory.check(8.0 * X.shape[0] * (X.shape[1] + 1), f"the {X.shape[0]:,} x {X.shape[1] + 1:,} design [X, 1]",
                  "use fewer samples or features")
    return np.hstack([X, np.ones((X.shape[0], 1))])


@dataclasses.dataclass(frozen=True)
class _RowSpace:
    """The design in an orthonormal basis of its row space: Z = Xa Q (N, r). basis None: r = k, Z is Xa."""
    Z: np.ndarray
    basis: object  # (k, r) ndarray or None
    dropped: float  # largest singular value left out, of the row-normalised design (0: none)

    @property
    def rank(self):
        return self.Z.shape[1]


def _row_space(Xa):
    """Reduce the design to its row space (docs/convex_relu.md, "Few samples in many dimensions").

    The program depends on a group v only through Xa v and ||v||: the part of v orthogonal to row(Xa)
    changes no output and only raises the penalty, so optimal groups lie in row(Xa). With an orthonormal
    basis Q (k, r) of it, v = Q t maps the problem in t (design Z = Xa Q) onto it isometrically: fit, cones,
    norms, dual norms and chambers are the same, and V = T Q^T. The rank is numerical, from the SVD of
    the rows scaled to unit length (same row space; each row then counts by its direction, not its size):
    directions with singular values at most max(N, k) eps sigma_max are dropped, so every row loses at most
    that relative part of itself (rounding level: ``dropped``). Full rank (r = k): nothing is changed."""
    n, k = Xa.shape
    _memory.check(8.0 * (3 * n * k + 4 * min(n, k) ** 2 + k * min(n, k)),
                  f"the rank reduction (SVD) of the {n:,} x {k:,} design", "use fewer samples or features")
    scale = np.abs(Xa).max(axis=1)
    nz = scale > 0.0
    Xn = Xa[nz] / scale[nz, None]  # no overflow in the norms below
    Xn /= np.sqrt(np.einsum("ij,ij->i", Xn, Xn))[:, None]
    if Xn.shape[0] == 0:
        return _RowSpace(Xa, None, 0.0)
    if Xn.shape[0] >= k:
        Xn = np.linalg.qr(Xn, mode="r")  # k x k, same row space and singular values
    sv, Vt = np.linalg.svd(Xn, full_matrices=False)[1:]
    del Xn
    r = int((sv > max(n, k) * np.finfo(np.float64).eps * sv[0]).sum())
    if r == k or r == 0:
        return _RowSpace(Xa, None, 0.0)
    Q = np.ascontiguousarray(Vt[:r].T)
    return _RowSpace(np.ascontiguousarray(Xa @ Q), Q, float(sv[r]) if r < sv.shape[0] else 0.0)


def _check_seed(seed):
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, a numpy Generator or None, got {type(seed).__name__}")
    return np.random.default_rng(int(seed))


def chamber_count_bound(n_samples, n_features, bias=True):
    """Most chambers an arrangement of n_samples hyperplanes in R^k can have (k = n_features + bias):
    2 sum_{i<k} C(n - 1, i), reached in general position. The arrangement lives in the row space of the
    design [X, 1], so the count with k = its rank also bounds it (``relu_patterns`` uses that)."""
    return reference.general_position_chambers(int(n_samples), int(n_features) + bool(bias))


@functools.cache
def _enumeration_work(m, k):
    """Operations of the chamber enumeration (relu_arrangement.hpp) on m hyperplanes in general position in
    R^k: independent normals (m <= k) give their 2^m chambers directly; else one recursion per hyperplane h_q
    (its basis and the others restricted, about m k^2) and the deduplication of the 2 x (chambers on h_q)
    points it returns (m k each)."""
    if m == 0 or k == 1:
        return 1
    if m <= k:
        return 2 ** m * m * k + 2 * m * m * k
    return m * (2 * m * k * k + _enumeration_work(m - 1, k - 1)
                + 2 * reference.general_position_chambers(m - 1, k - 1) * m * k)


def _pattern_bytes(directions, n, patterns=None):
    """distinct_patterns on `directions` directions: one bitset each, the hash set, the kept patterns and
    their (P, N) bool copy."""
    words = (n + 63) // 64
    patterns = directions if patterns is None else patterns
    return directions * (8 * words + 48) + patterns * (16 * words + n + 16)


def _exact_patterns(rs, n):
    """Every chamber pattern of the arrangement of the rows of the reduced design (refused when too many)."""
    r = rs.rank
    bound = reference.general_position_chambers(n, r)
    where = f"{n:,} points spanning {r} dimensions (the rank of the design)"
    if bound > _MAX_EXACT_CHAMBERS:
        raise ValueError(f"the arrangement of {where} can have {bound:,} chambers (more than "
                         f"{_MAX_EXACT_CHAMBERS:,}): pass patterns=m (samples=m) to sample m directions")
    work = _enumeration_work(n, r)
    if work > _MAX_ENUMERATION_WORK:
        raise ValueError(f"enumerating the {bound:,} chambers of {where} costs about {work:.1e} operations (the "
                         f"recursion over the hyperplanes grows like N!/(N - r)!): pass patterns=m (samples=m) "
                         "to sample m directions")
    top = 2 ** n if n <= r else 2 * n * reference.general_position_chambers(n - 1, r - 1)
    _memory.check(8.0 * r * (top + 2 * bound) + _pattern_bytes(bound, n),
                  f"enumerating the {bound:,} chambers of {where}", "pass patterns=m (samples=m) to sample m directions")
    points = _core.relu_arrangement_points(rs.Z, _PARALLEL_TOL)
    return _core.relu_patterns(rs.Z, points)[0]


def _sampled_patterns(rs, Xa, samples, seed):
    """Patterns of `samples` Gaussian directions in the input coordinates (seeded), evaluated in the basis."""
    if isinstance(samples, bool) or not isinstance(samples, numbers.Integral) or samples < 1:
        raise ValueError(f"samples must be a positive integer or None (exact), got {samples!r}")
    m, (n, k) = int(samples), Xa.shape
    rng = _check_seed(seed)
    hint = "sample fewer directions (a smaller patterns=m or samples=m)"
    if rs.basis is None:
        _memory.check(8.0 * m * k + _pattern_bytes(m, n), f"the patterns of {m:,} directions on {n:,} points", hint)
        return _core.relu_patterns(Xa, rng.standard_normal((m, k)))[0]
    r = rs.rank
    rows = max(1, _SAMPLE_CHUNK // k)
    _memory.check(8.0 * (m * r + min(m, rows) * k) + _pattern_bytes(m, n),
                  f"the patterns of {m:,} directions on {n:,} points", hint)
    T = np.empty((m, r))
    for lo in range(0, m, rows):  # the same stream as one (m, k) draw: the same directions, projected
        hi = min(m, lo + rows)
        T[lo:hi] = rng.standard_normal((hi - lo, k)) @ rs.basis
    return _core.relu_patterns(rs.Z, T)[0]


def relu_patterns(X, *, bias=True, samples=None, seed=0):
    """Activation patterns 1[X u + b >= 0] of a ReLU unit on the rows of X (N, d), each once, as a (P, N) bool
    array (the all-zero pattern of a dead unit is left out).

    samples=None: every chamber of the hyperplane arrangement (exact; up to 2 sum_{i<r} C(N-1, i) of them,
    r <= min(N, d + bias) the rank of the design [X, 1]: all 2^N - 1 when the N rows are independent).
    samples=m: the patterns of m Gaussian directions (seed), a subset.
    """
    X = _check_inputs(X)
    Xa = _design(X, bias)
    rs = _row_space(Xa)
    if samples is None:
        return _exact_patterns(rs, X.shape[0])
    return _sampled_patterns(rs, Xa, samples, seed)


@dataclasses.dataclass(frozen=True)
class ReluNetwork:
    """A two-layer ReLU network f(x) = sum_j output_j relu(weights_j^T x + biases_j) (no output bias).

    weights : (m, d) first-layer weights.  biases : (m,) first-layer biases (zeros when bias=False).
    output : (m,) second-layer weights.    bias : whether the biases are parameters (penalised).
    """
    weights: np.ndarray
    biases: np.ndarray
    output: np.ndarray
    bias: bool = True

    @property
    def width(self):
        return int(self.output.shape[0])

    def predict(self, X):
        X = _check_inputs(X)
        if X.shape[1] != self.weights.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features, the network takes {self.weights.shape[1]}")
        return np.maximum(X @ self.weights.T + self.biases, 0.0) @ self.output

    def penalty(self):
        """1/2 (||U||_F^2 + ||b||^2 + ||alpha||^2): the weight decay is beta times this."""
        return 0.5 * float((self.weights ** 2).sum() + (self.biases ** 2).sum() + (self.output ** 2).sum())

    def loss(self, X, y, beta):
        """Regularised training loss 1/2 ||f(X) - y||^2 + beta/2 (||U||_F^2 + ||b||^2 + ||alpha||^2)."""
        r = np.asarray(y, dtype=np.float64).reshape(-1) - self.predict(X)
        return 0.5 * float(r @ r) + float(beta) * self.penalty()


@dataclasses.dataclass
class ConvexReluResult:
    """Solution of the convex program over a pattern set, its certificate and the rebuilt network.

    network : :class:`ReluNetwork`, one unit per nonzero group.
    objective : convex objective P(v, w).       gap : certified duality gap P - D(theta) >= P - P* (float64).
    lower_bound : D(theta) <= P*; with ``exact`` patterns, <= the loss of every ReLU net of any width.
    relative_gap : gap / (1/2 ||y||^2).           network_objective : the rebuilt net's regularised loss.
    exact : the patterns are every chamber of the arrangement (global certificate).
    interrupted : Ctrl-C stopped the solve; the result is the iterate reached, with its own certificate.
    patterns : (P, N) bool.   dual : theta (N,).
    V, W : (P, k) groups (k = d + bias), built on first use from Vr, Wr : (P, r) the groups in ``basis``
        (k, r), an orthonormal basis of the row space of the design [X, 1] when its rank r is below k
        (V = Vr basis^T; basis None: r = k and V is Vr).
    """
    network: ReluNetwork
    objective: float
    gap: float
    relative_gap: float
    lower_bound: float
    network_objective: float
    exact: bool
    patterns: np.ndarray
    Vr: np.ndarray
    Wr: np.ndarray
    dual: np.ndarray
    beta: float
    bias: bool
    n_iter: int
    n_epochs: int
    converged: bool
    time: float = 0.0
    interrupted: bool = False
    basis: object = None
    _full: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @property
    def rank(self):
        """r: the dimension the program was solved in (the rank of the design [X, 1], or k)."""
        return int(self.Vr.shape[1])

    def _groups(self, name, G):
        if self.basis is None:
            return G
        if name not in self._full:
            k = self.basis.shape[0]
            _memory.check(8.0 * G.shape[0] * k, f"the {G.shape[0]:,} x {k:,} groups {name} in the input coordinates",
                          f"use {name}r and basis ({name} = {name}r @ basis.T) row by row")
            self._full[name] = G @ self.basis.T
        return self._full[name]

    @property
    def V(self):
        return self._groups("V", self.Vr)

    @property
    def W(self):
        return self._groups("W", self.Wr)

    @property
    def global_gap(self):
        """network_objective - lower_bound: how far the rebuilt net can be from the best ReLU net of any width
        (None unless the patterns are exact)."""
        return self.network_objective - self.lower_bound if self.exact else None

    def predict(self, X):
        return self.network.predict(X)


def rebuild_network(V, W, d, bias, basis=None):
    """Units of the two-layer net behind groups V, W (P, k): u = v / sqrt(||v||) with output weight sqrt(||v||),
    and -sqrt(||w||) for the w's, so that |alpha| ||u|| = 1/2 (alpha^2 + ||u||^2) = ||v||. Groups given in an
    orthonormal basis (k, r) are mapped back, u = basis t (norms are the same)."""
    units, outs = [], []
    for Z, sign in ((V, 1.0), (W, -1.0)):
        norms = np.linalg.norm(Z, axis=1)
        for g in np.flatnonzero(norms > 0.0):
            s = math.sqrt(norms[g])
            units.append(Z[g] / s)
            outs.append(sign * s)
    k = d + bool(bias)
    U = np.array(units, dtype=np.float64).reshape(len(units), V.shape[1])
    if basis is not None:
        _memory.check(16.0 * len(units) * k, f"a network of {len(units):,} units on {d:,} inputs",
                      "use a larger beta (fewer units)")
        U = U @ basis.T
    U = U.reshape(len(units), k)
    weights = np.ascontiguousarray(U[:, :d])
    biases = U[:, d].copy() if bias else np.zeros(len(units))
    return ReluNetwork(weights=weights, biases=biases, output=np.array(outs, dtype=np.float64), bias=bool(bias))


def _resolve_patterns(patterns, X, Xa, rs, seed):
    """(bool (P, N) patterns, exact flag) from the patterns argument."""
    n = X.shape[0]
    if isinstance(patterns, str):
        if patterns not in ("auto", "exact"):
            raise ValueError(f"patterns must be 'auto', 'exact', a number of sampled directions or a (P, N) bool "
                             f"array, got {patterns!r}")
        if patterns == "auto" and (reference.general_position_chambers(n, rs.rank) > _AUTO_EXACT_CHAMBERS
                                   or _enumeration_work(n, rs.rank) > _MAX_ENUMERATION_WORK):
            return _sampled_patterns(rs, Xa, _AUTO_SAMPLES, seed), False
        return _exact_patterns(rs, n), True
    if isinstance(patterns, numbers.Integral) and not isinstance(patterns, bool):
        return _sampled_patterns(rs, Xa, patterns, seed), False
    pats = np.asarray(patterns)
    if pats.ndim != 2 or pats.shape[1] != X.shape[0] or pats.dtype.kind not in "bui":
        raise ValueError(f"patterns array must be (P, {X.shape[0]}) of bools (one row per pattern, one column per "
                         f"sample), got shape {pats.shape} and dtype {pats.dtype}")
    if pats.dtype.kind != "b" and not np.isin(pats, (0, 1)).all():
        raise ValueError("patterns array must hold only 0/1 (or bool) entries")
    _memory.check(4.0 * pats.shape[0] * pats.shape[1], f"deduplicating the {pats.shape[0]:,} x {pats.shape[1]:,} "
                  "pattern array", "pass fewer patterns")
    pats = np.ascontiguousarray(pats, dtype=bool)
    pats = pats[pats.any(axis=1)]
    if pats.shape[0] == 0:
        raise ValueError("every given pattern is all zero (a dead unit): nothing to fit")
    return np.unique(pats, axis=0), False


def _solve_bytes(n, r, P):
    """Working memory of convex_relu_solve (convex_relu.hpp) besides its optional stages: the patterns' bitsets,
    per group (2P) its coefficients (and a saved copy), scores, priorities and output, one Lipschitz constant
    per pattern, and the unit rows of the cone projector and the barrier (n r each)."""
    words = (n + 63) // 64
    return P * (8 * words + 112 * r + 160) + n * (24 * r + 96) + 16 * r * r + 2**20


def convex_relu(X, y, beta, *, patterns="auto", bias=True, seed=0, tol=1e-8, max_iter=None, verbose=False):
    """Globally optimal two-layer ReLU network with weight decay, from its convex reformulation.

    X : (N, d) inputs (or (N,)).   y : (N,) targets.   beta : weight decay (the net's loss is
        1/2 ||f(X) - y||^2 + beta/2 (||U||_F^2 + ||b||^2 + ||alpha||^2); the convex program's group penalty is beta).
    patterns : "exact" (every chamber of the arrangement: the certificate is global), "auto" (exact when the
        arrangement can have at most 5,000 chambers, else 5,000 sampled directions), an int m (patterns of m
        Gaussian directions, seeded by ``seed``), or a (P, N) bool array.
    bias : hidden units have a bias (a column of ones in the design; penalised like the weights).
    tol : stop when the duality gap is at most tol * 1/2 ||y||^2.   max_iter : outer iterations (default 200).
    The program is solved in the row space of the design [X, 1] (dimension r <= min(N, d + 1); exact: optimal
    first-layer weights lie there under weight decay), so many features cost no more than N of them.
    Returns :class:`ConvexReluResult`; warns :class:`ConvergenceWarning` (with the gap reached) if not converged.
    Ctrl-C stops the solve and returns the iterate reached with its certificate (``interrupted=True``); during
    the pattern enumeration or sampling it raises KeyboardInterrupt. Raises MemoryError, naming the estimate, when a step would need more than netmirror's memory limit.
    """
    X = _check_inputs(X)
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"y must be a real numeric vector, got dtype {y.dtype}")
    y = np.ascontiguousarray(y, dtype=np.float64).reshape(-1) if y.ndim == 2 and 1 in y.shape else y
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must be a vector of length {X.shape[0]} (the rows of X), got shape {y.shape}")
    y = np.ascontiguousarray(y, dtype=np.float64)
    if not np.isfinite(y).all():
        raise ValueError(f"y contains NaN or inf (first at index {int(np.argmin(np.isfinite(y)))}); remove those rows")
    beta = _check_positive("beta", beta)
    tol = _check_positive("tol", tol, allow_zero=True)
    max_iter = _check_max_iter(max_iter, default=200)  # below 2**63: the core's int64
    bias = bool(bias)
    t0 = time.perf_counter()
    Xa = _design(X, bias)
    rs = _row_space(Xa)
    pats, exact = _resolve_patterns(patterns, X, Xa, rs, seed)
    n, r, P = X.shape[0], rs.rank, pats.shape[0]
    need = _solve_bytes(n, r, P)
    limit = _memory.check(need, f"the convex program over {P:,} patterns on {n:,} points in {r:,} dimensions",
                          "use fewer patterns (patterns=m with a smaller m) or fewer samples")
    out = _core.convex_relu_solve(rs.Z, y, pats, beta, tol, int(max_iter), bool(verbose),
                                  max_bytes=float(max(limit - need, 1)))
    net = rebuild_network(out["V"], out["W"], X.shape[1], bias, rs.basis)
    res = ConvexReluResult(network=net, objective=float(out["objective"]), gap=float(out["gap"]),
                           relative_gap=float(out["relative_gap"]), lower_bound=float(out["dual_objective"]),
                           network_objective=net.loss(X, y, beta), exact=exact, patterns=pats, Vr=out["V"],
                           Wr=out["W"], dual=out["dual"], beta=beta, bias=bias, n_iter=int(out["n_iter"]),
                           n_epochs=int(out["n_epochs"]), converged=bool(out["converged"]),
                           time=time.perf_counter() - t0, interrupted=bool(out["interrupted"]), basis=rs.basis)
    if res.interrupted:
        warnings.warn(f"convex_relu interrupted (Ctrl-C) after {res.n_iter} iterations: returning the iterate "
                      f"reached, certified duality gap {res.gap:.3e} (relative {res.relative_gap:.3e})",
                      ConvergenceWarning, stacklevel=2)
    elif not res.converged:
        warnings.warn(f"convex_relu did not converge in {res.n_iter} iterations: duality gap {res.gap:.3e} "
                      f"(relative {res.relative_gap:.3e}) > tol {tol:.1e}; raise max_iter or tol (docs/convex_relu.md, "
                      "Convergence)", ConvergenceWarning, stacklevel=2)
    return res
