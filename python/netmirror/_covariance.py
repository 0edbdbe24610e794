"""Streaming mean, covariance and second moment E[x xᵀ] in float64 (C++ core, both cores, GIL released).

Every ``update(X)`` is one batch: its mean is computed first (float64, shifted by the running mean so
that data far from the origin keep their digits), the batch is centred on it, its scatter is added to the
running centred scatter M2 with a blocked rank-k update of one triangle, and the batch is merged with
Chan et al.'s pairwise update (``merge`` uses the same formula). float32 input is converted tile by tile
in the kernel: products of float32 values are exact in float64, so only float64 summation error remains
(about 1e-15 relative), where float32 ``X.T @ X`` is off by ~1e-6 (standard-normal data, n = 1e5).

Weights are *frequency* weights: weight 2 on a row is the same as the row twice; ``covariance(ddof)``
divides by ``total_weight - ddof``.

One accumulator must not be updated from two Python threads at once (the GIL is released during
``update``): give each thread its own accumulator and ``merge`` them.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _core

__all__ = ["CovarianceAccumulator"]


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
        self._core = _core.CovarianceAccumulatorCore(int(dim))
        self.center = bool(center)

    # ------------------------------------------------------------------------------------------------
    def update(self, X, weights=None):
        """Add the rows of X, shape (n, dim), float32 or float64, any memory order (read in place).

        weights : optional (n,) non-negative finite frequency weights. Returns self.
        Raises ValueError for NaN/inf, a wrong shape or negative weights, TypeError for another dtype;
        the accumulator is unchanged when it raises. A CUDA device array (CuPy, ``__cuda_array_interface__``,
        DLPack) is reduced on its GPU by :func:`netmirror.cuda.covariance_update`.
        """
        if not isinstance(X, np.ndarray) and (hasattr(X, "__cuda_array_interface__")
                                              or hasattr(X, "__dlpack_device__")):
            from . import cuda
            if cuda.is_device_array(X):  # CuPy, CUDA DLPack; NumPy arrays and CPU tensors go on below
                return cuda.covariance_update(self, X, weights)
        X = np.asarray(X)
        if not X.dtype.isnative:  # byte-swapped input (e.g. read from a big-endian file): one native copy
            X = X.astype(X.dtype.newbyteorder("="))
        if X.dtype not in (np.float32, np.float64):
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
        self._core.update(X, weights)
        return self

    def merge(self, other):
        """Add the data of another accumulator (built on other batches, processes or machines). Returns self."""
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
        return self._core.scatter()

    @property
    def second_moment(self):
        """Uncentred second moment E[x xᵀ] = M2 / W + μ μᵀ (weighted by the frequency weights)."""
        self._require_data()
        return self._core.second_moment()

    def covariance(self, ddof=0):
        """Covariance divided by ``total_weight - ddof``; centred or not according to ``center``."""
        self._require_data()
        denom = self.total_weight - ddof
        if not denom > 0:
            raise ValueError(f"total_weight - ddof = {denom} must be > 0")
        if self.center:
            return self._core.scatter() / denom
        return self._core.second_moment() * (self.total_weight / denom)

    # ------------------------------------------------------------------------------------------------
    def __getstate__(self):
        c = self._core
        return {"dim": c.dim, "center": self.center, "count": c.count, "total_weight": c.total_weight,
                "mean_hi": c.mean_hi, "mean_lo": c.mean_lo, "scatter": c.scatter()}

    def __setstate__(self, state):
        self._core = _core.CovarianceAccumulatorCore(int(state["dim"]))
        self.center = bool(state["center"])
        self._core.set_state(int(state["count"]), float(state["total_weight"]), state["mean_hi"],
                             state["mean_lo"], state["scatter"])

    def __repr__(self):
        return (f"CovarianceAccumulator(dim={self.dim}, center={self.center}, count={self.count}, "
                f"total_weight={self.total_weight:g})")
