"""``ConvexNet``: a scikit-learn regressor that trains a network by solving its Lasso twin.

Fitting builds the feature library of the chosen architecture on the training inputs, solves the Lasso
``min 1/2 ||A z + xi 1 - y||^2 + beta~ ||z||_1`` (beta~ = beta * library.beta_scale) to a certified duality
gap, and reconstructs the network whose training loss equals that optimum.

Inputs: one feature, X of shape (n,) or (n, 1). 2-layer sign nets (activation="sign", depth=2,
architecture="deep_narrow") also take X of shape (n, 2) in the upper half-plane. Any other shape is a
ValueError, as are NaN and infinite values.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ._lasso import _check_max_iter, _check_positive, _check_target, lasso
from . import _checks, _memory
from ._library import library, memory_budget
from ._network import reconstruct

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    def _validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)

# Largest dense block (bytes) that predict assembles at once; rows are processed in chunks beyond it.
_PREDICT_BLOCK_BYTES = 64 * 2**20


def _column_if_1d(X):
    """(n,) -> (n, 1) so that scikit-learn's validation sees one feature; anything else unchanged."""
    if X is None or sp.issparse(X) or hasattr(X, "columns") or hasattr(X, "__dataframe__"):
        return X
    try:
        arr = np.asarray(X)
    except Exception:  # ragged or exotic input: let validate_data explain
        return X
    if arr.ndim == 1:
        return arr.reshape(-1, 1)
    return X


def _takes_2d(activation, depth, architecture):
    return activation == "sign" and architecture == "deep_narrow" and depth == 2


class ConvexNet(RegressorMixin, BaseEstimator):
    """Network on scalar (or, for 2-layer sign nets, planar) inputs, trained exactly through its Lasso twin.

    Parameters
    ----------
    activation : "relu", "leaky_relu" (needs ``slope``), "abs", "sign" or "threshold".
    depth : number of weight layers L (L = 2 is one hidden layer).
    beta : weight-decay strength of the network; the Lasso is solved with beta * library_.beta_scale.
    architecture : "deep_narrow", "symmetrized" (3 layers), "rectangular" or "tree" (sign/threshold,
        need ``widths``).
    slope, widths, dedup : passed to :func:`netmirror.library`.
    tol, max_iter : passed to :func:`netmirror.lasso` (relative duality-gap tolerance, outer iterations).
    matrix_free : "auto" (default), True or False. True solves the Lasso over the implicit dictionary (columns
        evaluated on demand, O(N + M) memory; docs/matrix_free.md); "auto" does so when the dense dictionary
        (``library_.nbytes()``) and the solver's working memory exceed :func:`netmirror.get_memory_limit`
        (:func:`netmirror.set_memory_limit`, ``NETMIRROR_MAX_BYTES``, default 80% of available memory).
        Deduplication streams the columns either way, but its hash table holds up to 32 bytes per raw
        feature and must fit the same limit (else a MemoryError says what fits: fewer points, a shallower net,
        or dedup=False when the raw features can be solved matrix-free).
        Matrix-free fits show a progress bar on a terminal and stop on Ctrl-C with the best iterate so far
        (``converged_`` False, ConvergenceWarning).

    Attributes
    ----------
    library_ : the :class:`netmirror.Library` built on the training inputs.
    coef_ : (len(library_),) Lasso coefficients z.       intercept_ : xi (0.0 for 2-D sign nets).
    objective_, gap_, relative_gap_ : optimal training objective and its certified duality gap.
    n_iter_, converged_ : solver iterations and whether the gap reached ``tol``.
    network_ : the reconstructed network (``netmirror.reconstruct``); ``network_.loss(X, y) == objective_``.
    n_features_in_ : 1 (or 2 for 2-D sign nets).
    matrix_free_ : whether the fit used the implicit dictionary.
    """

    def __init__(self, activation="relu", depth=2, beta=1e-2, *, architecture="deep_narrow", slope=None,
                 widths=None, dedup=True, tol=1e-10, max_iter=None, matrix_free="auto"):
        self.activation = activation
        self.depth = depth
        self.beta = beta
        self.architecture = architecture
        self.slope = slope
        self.widths = widths
        self.dedup = dedup
        self.tol = tol
        self.max_iter = max_iter
        self.matrix_free = matrix_free

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.one_d_array = True  # X of shape (n,): the natural input of a 1-D net
        tags.input_tags.two_d_array = True  # (n, 1), and (n, 2) for 2-layer sign nets
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags

    # -- validation ---------------------------------------------------------------------------------
    def _check_params(self):
        """Every scalar parameter, before any work (Python, NumPy scalar or 0-d array values); returns beta."""
        beta = _checks.positive("beta", self.beta)
        _check_positive("tol", self.tol, allow_zero=True)
        _check_max_iter(self.max_iter)
        if not (self.matrix_free is True or self.matrix_free is False or self.matrix_free == "auto"):
            raise ValueError(f"matrix_free must be 'auto', True or False, got {self.matrix_free!r}")
        return beta

    def _check_n_features(self, X):
        d = X.shape[1]
        if d == 1:
            return
        if d == 2 and _takes_2d(self.activation, self.depth, self.architecture):
            return
        raise ValueError(
            f"ConvexNet expects X with 1 feature (shape (n,) or (n, 1)); got {d} features (shape {X.shape}). "
            "Only 2-layer sign nets (activation='sign', depth=2, architecture='deep_narrow') also take "
            "X of shape (n, 2).")

    @staticmethod
    def _points(X):
        return X[:, 0] if X.shape[1] == 1 else X

    # -- fit / predict ------------------------------------------------------------------------------
    def fit(self, X, y):
        """Build the library on X, solve the Lasso twin on y and reconstruct the network."""
        beta = self._check_params()
        with np.errstate(all="ignore"):  # scikit-learn's finiteness check sums float16 inf - inf before it raises
            X, y = _validate_data(self, _column_if_1d(X), y, dtype=np.float64, y_numeric=True, ensure_min_samples=2)
        self._check_n_features(X)
        x = np.array(self._points(X), dtype=np.float64)  # own copy: the library keeps a reference
        y = _check_target(y, x.shape[0])  # finite, within the solver's range
        lib = library(x, self.activation, self.depth, architecture=self.architecture, slope=self.slope,
                      widths=self.widths, dedup=self.dedup)
        beta_t = beta * lib.beta_scale
        # auto: matrix-free when the dense dictionary and the solver's working memory do not fit the limit
        dense_need = lib.nbytes() + _memory.lasso_bytes(len(lib.x), len(lib))
        matrix_free = self.matrix_free is True or (self.matrix_free == "auto" and dense_need > memory_budget())
        if len(lib) == 0:  # every feature is constant on x (e.g. a single distinct input)
            intercept = float(y.mean()) if lib.fit_intercept else 0.0
            r = y - intercept
            self.coef_ = np.zeros(0)
            self.intercept_ = intercept
            self.objective_ = float(0.5 * r @ r)
            self.gap_ = self.relative_gap_ = 0.0
            self.n_iter_ = 0
            self.converged_ = True
        else:
            A = lib if matrix_free else lib.matrix()
            res = lasso(A, y, beta_t, fit_intercept=lib.fit_intercept, tol=self.tol, max_iter=self.max_iter)
            self.coef_ = np.asarray(res.coef, dtype=np.float64)
            self.intercept_ = float(res.intercept)
            self.objective_ = float(res.objective)
            self.gap_ = float(res.gap)
            self.relative_gap_ = float(res.relative_gap)
            self.n_iter_ = int(res.n_iter)
            self.converged_ = bool(res.converged)
        self.library_ = lib
        self.matrix_free_ = bool(matrix_free)
        self.network_ = reconstruct(lib, self.coef_, self.intercept_, beta)
        return self

    def _decision(self, x):
        with np.errstate(over="ignore", invalid="ignore"):
            out = self._dictionary_decision(x)
        bad = ~np.isfinite(out)
        if bad.any():  # a column times its coefficient overflowed (x near 1e308): the network computes it at scale
            out[bad] = self.network_.forward(x[bad])
        return out

    def _dictionary_decision(self, x):
        lib, coef = self.library_, self.coef_
        out = np.full(x.shape[0], self.intercept_, dtype=np.float64)
        if coef.size == 0 or not np.any(coef):
            return out
        if x.ndim == 2:  # 2-D sign features sign(w·x) are scale-free: rows scaled by powers of two, w·x cannot overflow
            x = x / np.ldexp(1.0, np.maximum(np.frexp(np.abs(x).max(axis=1))[1] - 1, 0))[:, None]
        if getattr(self, "matrix_free_", False):  # never assemble all columns: only the selected ones
            nz = np.flatnonzero(coef)
            raw = nz.astype(np.int64) if lib.raw_index is None else lib.raw_index[nz]
            rows = max(1, _PREDICT_BLOCK_BYTES // (8 * nz.size))
            for start in range(0, x.shape[0], rows):
                t = np.ascontiguousarray(x[start:start + rows])
                block = np.empty((t.shape[0], nz.size), dtype=np.float64, order="F")
                lib._family.assemble(raw, lib._frame(t), block)
                out[start:start + t.shape[0]] += block @ coef[nz]
            return out
        rows = max(1, _PREDICT_BLOCK_BYTES // (8 * coef.size))
        for start in range(0, x.shape[0], rows):
            stop = min(start + rows, x.shape[0])
            out[start:stop] += lib.matrix(x[start:stop]) @ coef
        return out

    def predict(self, X):
        """Network output on X: library_.matrix(X) @ coef_ + intercept_ (in row blocks of at most 64 MiB).

        Where that product overflows (inputs near the float64 limit) network_.forward computes the output at
        scale; a ValueError if the output itself is beyond the float64 range."""
        check_is_fitted(self)
        with np.errstate(all="ignore"):  # as in fit
            X = _validate_data(self, _column_if_1d(X), dtype=np.float64, reset=False)
        # row blocks of the dictionary: every column (dense fits) or the selected ones (matrix-free fits)
        n = X.shape[0]
        cols = max(1, int(np.count_nonzero(self.coef_)) if getattr(self, "matrix_free_", False) else self.coef_.size)
        block = min(n, max(1, _PREDICT_BLOCK_BYTES // (8 * cols))) * cols * 8
        _memory.check(16 * n + block, f"predicting {n:,} points", "predict fewer points at a time")
        return self._decision(np.ascontiguousarray(self._points(X)))

    # -- pickling: the library wraps a compiled object; rebuild it (deterministically) on load ---------
    def __getstate__(self):
        state = super().__getstate__()
        if "library_" in state:
            state = dict(state)
            lib = state.pop("library_")
            state.pop("network_", None)
            state["_library_x"] = np.array(lib.x)
        return state

    def __setstate__(self, state):
        state = dict(state)
        x = state.pop("_library_x", None)
        super().__setstate__(state)
        if x is not None:
            self.library_ = library(x, self.activation, self.depth, architecture=self.architecture,
                                    slope=self.slope, widths=self.widths, dedup=self.dedup)
            self.network_ = reconstruct(self.library_, self.coef_, self.intercept_, _checks.positive("beta", self.beta))
