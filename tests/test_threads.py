"""Concurrent calls from Python threads (the kernels release the GIL) give the same results as serial calls."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import netmirror


def _jobs():
    rng = np.random.default_rng(11)
    jobs = []
    for k, (act, depth, kw) in enumerate([("relu", 3, {}), ("abs", 3, {}), ("leaky_relu", 3, {"slope": -0.3}),
                                          ("relu", 2, {}), ("abs", 4, {}), ("relu", 4, {})]):
        x = np.sort(rng.uniform(-2, 2, 60 if depth < 4 else 14)) + 0.01 * k
        y = np.sin(2 * x) + 0.1 * rng.standard_normal(x.size)
        jobs.append((x, y, act, depth, kw))
    return jobs


def _run(job):
    x, y, act, depth, kw = job
    lib = netmirror.library(x, act, depth, **kw)           # enumeration + dedup (GIL released)
    A = lib.matrix()                                       # assembly
    beta = 0.02 * netmirror.beta_max(A, y)
    dense = netmirror.lasso(A, y, beta, tol=1e-12)         # dense solver
    free = netmirror.lasso(lib, y, beta, tol=1e-12)        # matrix-free solver
    acc = netmirror.CovarianceAccumulator(min(A.shape[1], 64))   # covariance kernel
    acc.update(np.ascontiguousarray(A[:, :64]))
    return lib.raw_indices().copy(), A, dense.coef, dense.objective, free.objective, acc.covariance()


def test_threads_give_serial_results():
    jobs = _jobs() * 2
    serial = [_run(j) for j in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(_run, jobs))
    for s, t in zip(serial, threaded):
        np.testing.assert_array_equal(s[0], t[0])
        np.testing.assert_array_equal(s[1], t[1])
        np.testing.assert_allclose(t[2], s[2], rtol=0, atol=1e-9 * max(1.0, np.abs(s[2]).max()))
        assert t[3] == s[3] or abs(t[3] - s[3]) <= 1e-12 * abs(s[3])
        assert abs(t[4] - s[4]) <= 1e-10 * abs(s[4])
        np.testing.assert_array_equal(s[5], t[5])
