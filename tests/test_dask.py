"""netmirror.dask.covariance: per-chunk accumulators merged by a dask reduction (skipped without dask)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

import netmirror  # noqa: E402
import netmirror.dask  # noqa: E402


def assert_same(acc, ref):
    assert acc.count == ref.count and acc.total_weight == ref.total_weight and acc.center == ref.center
    np.testing.assert_allclose(acc.scatter, ref.scatter, rtol=0, atol=1e-13 * np.abs(ref.scatter).max())
    np.testing.assert_allclose(acc.mean, ref.mean, rtol=1e-15, atol=1e-15 * np.abs(ref.mean).max())


@pytest.mark.parametrize("chunks,split_every", [((97, 3), 3), ((1000, 6), None), ((1, 6), 8)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_in_memory(chunks, split_every, dtype):
    X = (np.random.default_rng(0).standard_normal((1000, 6)) * 3 + 1e3).astype(dtype)
    acc = netmirror.dask.covariance(da.from_array(X, chunks=chunks), split_every=split_every)
    assert_same(acc, netmirror.CovarianceAccumulator(6).update(X))


def test_lazy_and_uncentred():
    X = np.random.default_rng(1).standard_normal((50, 4))
    lazy = netmirror.dask.covariance(da.from_array(X, chunks=(7, 4)), center=False, compute=False)
    acc = lazy.compute()[()]
    assert_same(acc, netmirror.CovarianceAccumulator(4, center=False).update(X))
    np.testing.assert_allclose(acc.covariance(), X.T @ X / 50, rtol=1e-13)


def test_bad_input():
    with pytest.raises(TypeError, match="dask array"):
        netmirror.dask.covariance(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="2-D"):
        netmirror.dask.covariance(da.zeros(3, chunks=1))
    with pytest.raises(TypeError, match="float32 or float64"):
        netmirror.dask.covariance(da.zeros((3, 2), dtype=int, chunks=1))


def test_distributed_local_cluster():
    """Worker processes build and pickle the accumulators; the result equals the in-memory one."""
    distributed = pytest.importorskip("distributed")
    X = np.random.default_rng(2).standard_normal((3000, 9)).astype(np.float32) + 50
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster):
        acc = netmirror.dask.covariance(da.from_array(X, chunks=(250, 9)), split_every=4)
    assert_same(acc, netmirror.CovarianceAccumulator(9).update(X))
    assert_same(pickle.loads(pickle.dumps(acc)), acc)
