"""Streaming mean, covariance and second moment E[x xᵀ] in float64 (C++ core, both cores, GIL released).

Every ``update(X)`` is one batch: its mean is computed first (float64, shifted by the running mean so
that data far from the origin keep their digits, and kept as an unevaluated pair hi + lo), its scatter
around that mean rounded to float64 is added to the running centred scatter M2 with a blocked rank-k update
of one triangle, minus the known W r rᵀ of the rounding r (0.06 at mean 1e15: left in, it cost 3 digits),
and the batch is merged with Chan et al.'s pairwise update (``merge`` uses the same formula). The result is
within rounding of the exact covariance whatever the mean (tested up to 1e15 with std 1e-3), so at least as
accurate as a two-pass float64 computation.
float32 input is converted tile by tile in the kernel: products of float32 values are exact in float64,
so only float64 summation error remains (about 1e-15 relative), where float32 ``X.T @ X`` is off by
~1e-6 (standard-normal data, n = 1e5).

Weights are *frequency* weights: weight 2 on a row is the same as the row twice; ``covariance(ddof)``
divides by ``total_weight - ddof``.

Thread safety: one accumulator may be updated, merged and read from several Python threads at once (the
GIL is released during ``update``); the calls take the accumulator's lock one after the other, so no row
is lost, but they do not run in parallel: for parallel speed give each thread its own accumulator and
``merge`` them. ``acc.merge(acc)`` doubles the data (as merging a copy of acc would).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from . import _checks, _core, _memory

__all__ = ["CovarianceAccumulator"]

# Largest |x| (and weight) whose squares and weighted sums stay far inside the float64 range.
_MAX_MAGNITUDE = 1e100
_COV_HINT = "use fewer features (dim), e.g. a random projection or a subset of units"


def _state_bytes(dim):
    """The C++ accumulator: a (ld x ld) float64 scatter, ld = dim rounded up to the 12-row micro-tile."""
    ld = -(-dim // 12) * 12
    return 8 * ld * ld + 16 * dim


def _check_square(dim, copies, what):
    _memory.check(8 * dim * dim * copies, f"{what} of a dim={dim:,} accumulator", _COV_HINT)


def _threads():
    from ._library import _core_threads
    return _core_threads()


class CovarianceAccumulator:
    """Accumulates count, mean, centred scatter and second moment of rows of X (samples × dim).

    Parameters
    ----------
    dim : int
        Number of columns of every batch.
    center : bool, default True
        What :meth:`covariance` returns: the centred covariance ``Σ w (x-μ)(x-μ)ᵀ / (W - ddof)``
        (True) or the uncentred one ``Σ w x xᵀ / (W - ddof)`` (False; with ddof=0 that is E[x xᵀ], the
        matrix the canonical-representation alignments use). Accumulation is the same either way.

    Attributes
    ----------
    count : rows seen (zero-weight rows included).      total_weight : sum of the weights (= count unweighted).
    mean : (dim,) weighted mean.                          second_moment : (dim, dim) E[x xᵀ] = M2/W + μμᵀ.
    scatter : (dim, dim) centred scatter M2 = Σ w (x-μ)(x-μ)ᵀ.

    Examples
    --------
    >>> acc = CovarianceAccumulator(3)
    >>> for batch in np.array_split(np.random.default_rng(0).standard_normal((100, 3)), 4):
    ...     acc = acc.update(batch)
    >>> acc.covariance(ddof=1).shape
    (3, 3)
    """

    def __init__(self, dim, *, center=True):
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        dim = int(dim)
        _memory.check(_state_bytes(dim), f"a CovarianceAccumulator of dim={dim:,} ({dim:,}^2 float64 entries)",
                      _COV_HINT)
        self._core = _core.CovarianceAccumulatorCore(dim)
        self.center = bool(center)

    # ------------------------------------------------------------------------------------------------
    def update(self, X, weights=None):
        """Add the rows of X, shape (n, dim), float32 or float64, any memory order (read in place).

        weights : optional (n,) non-negative finite frequency weights. Returns self.
        Raises ValueError for NaN/inf, a wrong shape or negative weights, TypeError for another dtype,
        MemoryError above the memory limit; the accumulator is unchanged when it raises. Long batches stop
        on Ctrl-C (KeyboardInterrupt, the accumulator unchanged). A CUDA device array (CuPy,
        ``__cuda_array_interface__``, DLPack) is reduced on its GPU by :func:`netmirror.cuda.covariance_update`.
        """
        if not isinstance(X, np.ndarray) and (hasattr(X, "__cuda_array_interface__")
                                              or hasattr(X, "__dlpack_device__")):
            from . import cuda
            if cuda.is_device_array(X):  # CuPy, CUDA DLPack; NumPy arrays and CPU tensors go on below
                return cuda.covariance_update(self, X, weights)
        X = np.asarray(X)
        if X.dtype.kind != "f" or X.dtype.itemsize not in (4, 8):
            raise TypeError(f"X must be float32 or float64 (got {X.dtype}); convert it explicitly")
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n, {self.dim}), got shape {X.shape}")
        if X.shape[1] != self.dim:
            raise ValueError(f"X has {X.shape[1]} columns but the accumulator has dim={self.dim}")
        if weights is not None:
            weights = np.asarray(weights)
            if weights.dtype.kind not in "fiub":
                raise TypeError(f"weights must be real numbers, got {weights.dtype}")
            weights = np.ascontiguousarray(weights, dtype=np.float64)
            if weights.shape != (X.shape[0],):
                raise ValueError(f"weights must have shape ({X.shape[0]},), got {weights.shape}")
            if not np.isfinite(weights).all():
                raise ValueError("weights contain NaN or infinity")
            if (weights < 0).any():
                raise ValueError("weights must be >= 0")
            positive = weights[weights > 0]
            if positive.size and (positive.max() > _MAX_MAGNITUDE or positive.min() < 1 / _MAX_MAGNITUDE):
                raise ValueError(f"weights span {positive.min():.1e} to {positive.max():.1e}: weighted sums of squares "
                                 "would leave the float64 range; rescale them (only their ratios matter to the "
                                 "covariance)")
        if X.dtype.itemsize == 8 and X.size:  # float32 data cannot exceed 3.4e38: nothing to check
            top = max(float(X.max()), -float(X.min()))  # NaN/inf pass here and are rejected in C++
            if math.isfinite(top) and top > _MAX_MAGNITUDE:
                raise ValueError(f"X has entries of magnitude {top:.1e}: their squares leave the float64 range; "
                                 "rescale X (multiply it by a power of 10) and the covariance by its square")
        rows, dim = X.shape
        ld = -(-dim // 12) * 12
        # covariance.hpp: per thread a packed block of 256 rows x ld and two column sums (one thread for
        # small batches); the row scales sqrt(w) with weights
        threads = 1 if rows * ld * ld < 4e6 else max(1, min(_threads(), ld // 8))
        need = 8 * threads * (256 * ld + 2 * dim) + (8 * rows if weights is not None else 0)
        if not X.dtype.isnative:  # byte-swapped input (e.g. read from a big-endian file): one native copy
            need += X.nbytes
        limit = _memory.check(need, f"an update with a {rows:,} x {dim:,} batch", _COV_HINT + " or smaller batches")
        # Long batches run watched so that Ctrl-C stops them: into a copy of the state (dropped on Ctrl-C, so
        # the accumulator stays unchanged), when the copy fits the limit too. Short ones (under ~0.05 s, or
        # fewer than 256 rows, where the copy would cost as much as the batch) run in place.
        watch = rows >= 256 and rows * ld * ld >= 2e8 and need + _state_bytes(dim) <= limit
        if not X.dtype.isnative:
            X = X.astype(X.dtype.newbyteorder("="))
        self._core.update(X, weights, watch)
        return self

    def merge(self, other):
        """Add the data of another accumulator (built on other batches, processes or machines). Returns self.

        ``acc.merge(acc)`` doubles the data: count, total weight and scatter double, the mean stays."""
        if not isinstance(other, CovarianceAccumulator):
            raise TypeError("can only merge another CovarianceAccumulator")
        if other.dim != self.dim:
            raise ValueError(f"cannot merge dim={other.dim} into dim={self.dim}")
        self._core.merge(other._core)
        return self

    # ------------------------------------------------------------------------------------------------
    @property
    def dim(self):
        return self._core.dim

    @property
    def count(self):
        return self._core.count

    @property
    def total_weight(self):
        return self._core.total_weight

    def _require_data(self):
        if self._core.total_weight <= 0:
            raise ValueError("the accumulator has no data (or only zero weights)")

    @property
    def mean(self):
        self._require_data()
        return self._core.mean

    @property
    def scatter(self):
        """Centred scatter M2 = Σ w (x - μ)(x - μ)ᵀ (float64, symmetric)."""
        _check_square(self.dim, 1, "the scatter matrix")
        return self._core.scatter()

    @property
    def second_moment(self):
        """Uncentred second moment E[x xᵀ] = M2 / W + μ μᵀ (weighted by the frequency weights)."""
        self._require_data()
        _check_square(self.dim, 1, "the second moment")
        return self._core.second_moment()

    def covariance(self, ddof=0):
        """Covariance divided by ``total_weight - ddof``; centred or not according to ``center``."""
        self._require_data()
        ddof = _checks.real("ddof", ddof, what="a finite number (0 or 1, usually)")
        if not self.total_weight - ddof > 0:
            raise ValueError(f"total_weight - ddof = {self.total_weight - ddof} must be > 0")
        _check_square(self.dim, 2, "the covariance")
        # the matrix and the weight it goes with are read together (another thread may update meanwhile)
        if self.center:
            weight, scatter = self._core.scatter(True)
            return scatter / (weight - ddof)
        weight, moment = self._core.second_moment(True)
        return moment * (weight / (weight - ddof))

    # ------------------------------------------------------------------------------------------------
    def __getstate__(self):
        _check_square(self.dim, 1, "pickling the state")
        count, weight, mean_hi, mean_lo, scatter = self._core.get_state()  # one consistent snapshot
        return {"dim": self.dim, "center": self.center, "count": count, "total_weight": weight,
                "mean_hi": mean_hi, "mean_lo": mean_lo, "scatter": scatter}

    def __setstate__(self, state):
        _memory.check(_state_bytes(int(state["dim"])), f"an unpickled CovarianceAccumulator of dim={int(state['dim']):,}",
                      _COV_HINT)
        self._core = _core.CovarianceAccumulatorCore(int(state["dim"]))
        self.center = bool(state["center"])
        self._core.set_state(int(state["count"]), float(state["total_weight"]), state["mean_hi"],
                             state["mean_lo"], state["scatter"])

    def __repr__(self):
        return (f"CovarianceAccumulator(dim={self.dim}, center={self.center}, count={self.count}, "
                f"total_weight={self.total_weight:g})")
