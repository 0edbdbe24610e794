"""Covariance of Dask arrays larger than one machine: per-chunk CovarianceAccumulators reduced with merge.

Optional (``pip install "netmirror[dask]"``)::

    import dask.array as da, netmirror.dask
    X = da.from_zarr(...)                      # (n, dim), float32 or float64, chunked along rows
    acc = netmirror.dask.covariance(X)         # a CovarianceAccumulator: .mean, .covariance(), .second_moment
    acc = netmirror.dask.covariance(X, compute=False).compute()   # or a lazy dask object

Each row block becomes one accumulator (in the worker that holds it), partial accumulators are merged
pairwise up a tree with Chan's formula (``dask.array.reduction`` with ``split_every``), and only
accumulators (dim² float64 each, pickled) cross the network. The result equals
``CovarianceAccumulator(dim).update(X.compute())`` up to float64 rounding, in any chunking. Column chunks
are joined first (``rechunk({1: -1})``): a row block must hold whole rows.
"""
from __future__ import annotations

import functools

import numpy as np

try:
    import dask.array as da
except ImportError as exc:  # pragma: no cover - exercised only without dask
    raise ImportError("netmirror.dask needs Dask: pip install 'netmirror[dask]'") from exc

from ._covariance import CovarianceAccumulator

__all__ = ["covariance"]


def _boxed(acc):
    out = np.empty((1, 1), dtype=object)
    out[0, 0] = acc
    return out


def _chunk(block, axis, keepdims, center):
    return _boxed(CovarianceAccumulator(block.shape[1], center=center).update(block))


def _accumulators(parts):
    """Flatten the nested lists / object arrays that dask hands to combine and aggregate."""
    if isinstance(parts, np.ndarray):
        return list(parts.ravel())
    out = []
    for p in parts:
        out.extend(_accumulators(p))
    return out


def _merged(parts):
    accs = _accumulators(parts)
    total = CovarianceAccumulator(accs[0].dim, center=accs[0].center)  # never mutate an input
    for acc in accs:
        total.merge(acc)
    return total


def _combine(parts, axis, keepdims):
    return _boxed(_merged(parts))


def _aggregate(parts, axis, keepdims):
    out = np.empty((), dtype=object)
    out[()] = _merged(parts)
    return out


def covariance(x, *, center=True, split_every=None, compute=True):
    """CovarianceAccumulator of the rows of a 2-D dask array (float32 or float64).

    center : as in CovarianceAccumulator (what ``covariance()`` returns). split_every : merges per tree
    node (dask's default when None). compute=False returns a lazy 0-d dask array whose ``.compute()``
    holds the accumulator as its only element (use ``.compute()[()]``).
    """
    if not isinstance(x, da.Array):
        raise TypeError(f"x must be a dask array, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D (n, dim), got shape {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"x must be float32 or float64 (got {x.dtype}); use x.astype(np.float64)")
    if x.numblocks[1] != 1:
        x = x.rechunk({1: -1})
    lazy = da.reduction(x, functools.partial(_chunk, center=center), _aggregate, combine=_combine,
                        axis=(0, 1), keepdims=False, dtype=object, concatenate=False, split_every=split_every,
                        meta=np.empty((), dtype=object))
    if not compute:
        return lazy
    return lazy.compute()[()]
