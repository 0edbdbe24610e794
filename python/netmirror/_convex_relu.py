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
import math
import numbers
import time
import warnings

import numpy as np

from . import _core, reference
from ._lasso import ConvergenceWarning, _check_max_iter, _check_positive

# Hyperplanes closer than this to parallel (in cosine) are merged when chambers are enumerated.
_PARALLEL_TOL = 1e-12
# "auto" enumerates every chamber when the arrangement has at most this many (general-position count).
_AUTO_EXACT_CHAMBERS = 5000
_AUTO_SAMPLES = 5000
_MAX_EXACT_CHAMBERS = 2_000_000


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
    return np.hstack([X, np.ones((X.shape[0], 1))]) if bias else X


def _check_seed(seed):
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, a numpy Generator or None, got {type(seed).__name__}")
    return np.random.default_rng(int(seed))


def chamber_count_bound(n_samples, n_features, bias=True):
    """Most chambers an arrangement of n_samples hyperplanes in R^k can have (k = n_features + bias):
    2 sum_{i<k} C(n - 1, i), reached in general position."""
    return reference.general_position_chambers(int(n_samples), int(n_features) + bool(bias))


def _check_pattern_memory(directions, n):
    """The kernel holds one bitset per direction and returns a (P, N) bool array: refuse what cannot fit."""
    from ._library import memory_budget

    need = int(directions) * (((n + 63) // 64) * 8 + n)
    budget = memory_budget()
    if need > budget:
        raise MemoryError(f"{directions:,} directions on {n:,} points need about {need / 2**30:.1f} GiB for their "
                          f"patterns (budget {budget / 2**30:.1f} GiB, NETMIRROR_MAX_BYTES): sample fewer directions")


def relu_patterns(X, *, bias=True, samples=None, seed=0):
    """Activation patterns 1[X u + b >= 0] of a ReLU unit on the rows of X (N, d), each once, as a (P, N) bool
    array (the all-zero pattern of a dead unit is left out).

    samples=None: every chamber of the hyperplane arrangement (exact; up to 2 sum_{i<k} C(N-1, i) of them,
    k = d + bias). samples=m: the patterns of m Gaussian directions (seed), a subset.
    """
    X = _check_inputs(X)
    Xa = _design(X, bias)
    if samples is None:
        bound = chamber_count_bound(*X.shape, bias)
        if bound > _MAX_EXACT_CHAMBERS:
            raise ValueError(f"the arrangement of {X.shape[0]} points in {Xa.shape[1]} dimensions can have {bound:,} "
                             f"chambers (more than {_MAX_EXACT_CHAMBERS:,}): pass samples=m to sample m directions")
        # candidates: about 2 N times the chambers one dimension down
        _check_pattern_memory(2 * X.shape[0] * chamber_count_bound(X.shape[0], Xa.shape[1] - 2, True), X.shape[0])
        points = _core.relu_arrangement_points(Xa, _PARALLEL_TOL)
        return _core.relu_patterns(Xa, points)[0]
    if isinstance(samples, bool) or not isinstance(samples, numbers.Integral) or samples < 1:
        raise ValueError(f"samples must be a positive integer or None (exact), got {samples!r}")
    _check_pattern_memory(samples, X.shape[0])
    U = _check_seed(seed).standard_normal((int(samples), Xa.shape[1]))
    return _core.relu_patterns(Xa, U)[0]


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
    patterns : (P, N) bool.   V, W : (P, k) groups (k = d + bias).   dual : theta (N,).
    """
    network: ReluNetwork
    objective: float
    gap: float
    relative_gap: float
    lower_bound: float
    network_objective: float
    exact: bool
    patterns: np.ndarray
    V: np.ndarray
    W: np.ndarray
    dual: np.ndarray
    beta: float
    bias: bool
    n_iter: int
    n_epochs: int
    converged: bool
    time: float = 0.0
    interrupted: bool = False

    @property
    def global_gap(self):
        """network_objective - lower_bound: how far the rebuilt net can be from the best ReLU net of any width
        (None unless the patterns are exact)."""
        return self.network_objective - self.lower_bound if self.exact else None

    def predict(self, X):
        return self.network.predict(X)


def rebuild_network(V, W, d, bias):
    """Units of the two-layer net behind groups V, W (P, k): u = v / sqrt(||v||) with output weight sqrt(||v||),
    and -sqrt(||w||) for the w's, so that |alpha| ||u|| = 1/2 (alpha^2 + ||u||^2) = ||v||."""
    units, outs = [], []
    for Z, sign in ((V, 1.0), (W, -1.0)):
        norms = np.linalg.norm(Z, axis=1)
        for g in np.flatnonzero(norms > 0.0):
            s = math.sqrt(norms[g])
            units.append(Z[g] / s)
            outs.append(sign * s)
    U = np.array(units, dtype=np.float64).reshape(len(units), d + bool(bias))
    weights = np.ascontiguousarray(U[:, :d])
    biases = U[:, d].copy() if bias else np.zeros(len(units))
    return ReluNetwork(weights=weights, biases=biases, output=np.array(outs, dtype=np.float64), bias=bool(bias))


def _resolve_patterns(patterns, X, Xa, bias, seed):
    """(bool (P, N) patterns, exact flag) from the patterns argument."""
    if isinstance(patterns, str):
        if patterns not in ("auto", "exact"):
            raise ValueError(f"patterns must be 'auto', 'exact', a number of sampled directions or a (P, N) bool "
                             f"array, got {patterns!r}")
        bound = chamber_count_bound(*X.shape, bias)
        if patterns == "auto" and bound > _AUTO_EXACT_CHAMBERS:
            return relu_patterns(X, bias=bias, samples=_AUTO_SAMPLES, seed=seed), False
        return relu_patterns(X, bias=bias), True
    if isinstance(patterns, numbers.Integral) and not isinstance(patterns, bool):
        return relu_patterns(X, bias=bias, samples=patterns, seed=seed), False
    pats = np.asarray(patterns)
    if pats.ndim != 2 or pats.shape[1] != X.shape[0] or pats.dtype.kind not in "bui":
        raise ValueError(f"patterns array must be (P, {X.shape[0]}) of bools (one row per pattern, one column per "
                         f"sample), got shape {pats.shape} and dtype {pats.dtype}")
    if pats.dtype.kind != "b" and not np.isin(pats, (0, 1)).all():
        raise ValueError("patterns array must hold only 0/1 (or bool) entries")
    pats = np.ascontiguousarray(pats, dtype=bool)
    pats = pats[pats.any(axis=1)]
    if pats.shape[0] == 0:
        raise ValueError("every given pattern is all zero (a dead unit): nothing to fit")
    return np.unique(pats, axis=0), False


def convex_relu(X, y, beta, *, patterns="auto", bias=True, seed=0, tol=1e-8, max_iter=None, verbose=False):
    """Globally optimal two-layer ReLU network with weight decay, from its convex reformulation.

    X : (N, d) inputs (or (N,)).   y : (N,) targets.   beta : weight decay (the net's loss is
        1/2 ||f(X) - y||^2 + beta/2 (||U||_F^2 + ||b||^2 + ||alpha||^2); the convex program's group penalty is beta).
    patterns : "exact" (every chamber of the arrangement: the certificate is global), "auto" (exact when the
        arrangement can have at most 5,000 chambers, else 5,000 sampled directions), an int m (patterns of m
        Gaussian directions, seeded by ``seed``), or a (P, N) bool array.
    bias : hidden units have a bias (a column of ones in the design; penalised like the weights).
    tol : stop when the duality gap is at most tol * 1/2 ||y||^2.   max_iter : outer iterations (default 200).
    Returns :class:`ConvexReluResult`; warns :class:`ConvergenceWarning` (with the gap reached) if not converged.
    Ctrl-C stops the solve and returns the iterate reached with its certificate (``interrupted=True``).
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
    Xa = _design(X, bias)
    t0 = time.perf_counter()
    pats, exact = _resolve_patterns(patterns, X, Xa, bias, seed)
    out = _core.convex_relu_solve(Xa, y, pats, beta, tol, int(max_iter), bool(verbose))
    net = rebuild_network(out["V"], out["W"], X.shape[1], bias)
    res = ConvexReluResult(network=net, objective=float(out["objective"]), gap=float(out["gap"]),
                           relative_gap=float(out["relative_gap"]), lower_bound=float(out["dual_objective"]),
                           network_objective=net.loss(X, y, beta), exact=exact, patterns=pats, V=out["V"],
                           W=out["W"], dual=out["dual"], beta=beta, bias=bias, n_iter=int(out["n_iter"]),
                           n_epochs=int(out["n_epochs"]), converged=bool(out["converged"]),
                           time=time.perf_counter() - t0, interrupted=bool(out["interrupted"]))
    if res.interrupted:
        warnings.warn(f"convex_relu interrupted (Ctrl-C) after {res.n_iter} iterations: returning the iterate "
                      f"reached, certified duality gap {res.gap:.3e} (relative {res.relative_gap:.3e})",
                      ConvergenceWarning, stacklevel=2)
    elif not res.converged:
        warnings.warn(f"convex_relu did not converge in {res.n_iter} iterations: duality gap {res.gap:.3e} "
                      f"(relative {res.relative_gap:.3e}) > tol {tol:.1e}; raise max_iter or tol (docs/convex_relu.md, "
                      "Convergence)", ConvergenceWarning, stacklevel=2)
    return res
