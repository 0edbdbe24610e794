"""The memory limit: every entry point refuses, up front, a call whose estimated memory exceeds
netmirror.set_memory_limit() / NETMIRROR_MAX_BYTES, with a MemoryError that names the estimate, the limit
and a way around it."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import netmirror
from netmirror import _memory

LIMIT = 1_000_000  # bytes: enough for small problems, too little for the large ones below


@pytest.fixture
def small_limit():
    previous = netmirror.set_memory_limit(LIMIT)
    yield LIMIT
    netmirror.set_memory_limit(previous)


def _refused(match, call, *args, **kwargs):
    with pytest.raises(MemoryError) as info:
        call(*args, **kwargs)
    text = str(info.value)
    assert "needs about" in text and "memory limit of 977 KiB" in text, text
    assert "set_memory_limit" in text and "NETMIRROR_MAX_BYTES" in text, text
    assert match in text, text
    return text


# --------------------------------------------------------------------------------------------------
# the limit itself
def test_set_and_get(monkeypatch):
    monkeypatch.delenv("NETMIRROR_MAX_BYTES", raising=False)
    assert netmirror.get_memory_limit() > 0 and netmirror.memory_budget() > 0  # 80% of available memory
    assert netmirror.set_memory_limit(12345) is None
    try:
        assert netmirror.get_memory_limit() == netmirror.memory_budget() == 12345
        monkeypatch.setenv("NETMIRROR_MAX_BYTES", "999")  # an explicit limit wins over the environment
        assert netmirror.get_memory_limit() == 12345
        assert netmirror.set_memory_limit(2.0**20) == 12345
        assert netmirror.get_memory_limit() == 2**20 and isinstance(netmirror.get_memory_limit(), int)
    finally:
        netmirror.set_memory_limit(None)
    assert netmirror.get_memory_limit() == 999  # None: back to NETMIRROR_MAX_BYTES
    monkeypatch.delenv("NETMIRROR_MAX_BYTES")
    assert netmirror.get_memory_limit() > 0


@pytest.mark.parametrize("bad,exc", [(0, ValueError), (-1, ValueError), (1.5, ValueError),
                                     (float("nan"), ValueError), (float("inf"), ValueError),
                                     ("1e9", TypeError), (True, TypeError), ([1], TypeError)])
def test_bad_limits(bad, exc):
    """A refused limit leaves the setting as it was: no explicit limit (the default, which follows the memory
    available now, so it is compared as the setting, not as a value), or an explicit one."""
    for explicit in (None, 123456):
        netmirror.set_memory_limit(explicit)
        try:
            with pytest.raises(exc, match="memory limit"):
                netmirror.set_memory_limit(bad)
            assert netmirror.set_memory_limit(explicit) == explicit  # returns the explicit limit in force
            if explicit is not None:
                assert netmirror.get_memory_limit() == explicit
        finally:
            netmirror.set_memory_limit(None)


def test_numpy_integer_limit():
    previous = netmirror.set_memory_limit(np.int64(10**6))
    try:
        assert netmirror.get_memory_limit() == 10**6
    finally:
        netmirror.set_memory_limit(previous)


# --------------------------------------------------------------------------------------------------
# libraries
def test_library_dense_matrix(small_limit):
    lib = netmirror.library(np.arange(40.0), "relu", 3, dedup=False)  # 40 x 6400 float64: 2 MB
    text = _refused("dictionary", lib.matrix)
    # neither float32 (1.02 MB) nor the matrix-free solve (1.08 MB) fits 977 KiB: only what would help is named
    assert "matrix-free" not in text and "float32" not in text and "fewer points" in text
    netmirror.set_memory_limit(1_500_000)
    with pytest.raises(MemoryError, match="matrix-free.*float32"):
        lib.matrix()
    small = netmirror.library(np.arange(10.0), "relu", 2)
    assert small.matrix().shape == (10, len(small))


def test_library_raw_indices_and_table(small_limit):
    lib = netmirror.library(np.arange(200.0), "relu", 3, dedup=False)  # 160,000 raw features
    _refused("raw indices", lib.raw_indices)
    _refused("description table", lambda: lib.features)
    assert "relu" in lib.describe(5)  # one feature at a time is fine


def test_library_dedup_scratch(small_limit):
    _refused("deduplication", netmirror.library, np.arange(200.0), "relu", 3)
    # deduplication's hash table gets what the block buffers leave: the kernel stops at that budget
    n = 40
    netmirror.set_memory_limit(netmirror._library._dedup_scratch_bytes(n) + 8 * n + 4000)
    with pytest.raises(MemoryError, match=r"deduplication keeps .* fewer points.*set_memory_limit") as info:
        netmirror.library(np.arange(float(n)) ** 1.5, "abs", 4)
    assert "dedup=False" not in str(info.value)  # the raw features would need more than the limit to solve


def test_library_switching_table(small_limit):
    # the binomial table of a switching family is (n + 1) x (switches + 1) entries: small N keeps it tiny
    lib = netmirror.library(np.arange(10.0), "sign", 3, architecture="tree", widths=[3, 2])
    assert len(lib) > 0


# --------------------------------------------------------------------------------------------------
# solvers
def test_dense_lasso(small_limit):
    rng = np.random.default_rng(0)
    A = np.asfortranarray(rng.standard_normal((50, 8000)))  # the caller's array; the solver needs ~1.5 MB
    y = rng.standard_normal(50)
    text = _refused("Lasso solve on a 50 x 8,000 dictionary", netmirror.lasso, A, y, 1.0)
    assert "fewer rows or columns" in text and "float32" not in text  # A's dtype does not change the solver's need
    _refused("Lasso path", netmirror.lasso_path, A, y, n_betas=3)
    small = A[:, :200].copy(order="F")
    assert netmirror.lasso(small, y, 1.0).converged


def test_dense_lasso_copies_are_counted(small_limit):
    rng = np.random.default_rng(1)
    A = rng.integers(-3, 3, size=(400, 400))  # int64: converting to float64 costs 1.3 MB
    _refused("converting", netmirror.beta_max, A, rng.standard_normal(400))
    B = rng.standard_normal((400, 800))[:, ::2]  # strided view: one Fortran copy of 1.3 MB
    _refused("copying the strided", netmirror.beta_max, B, rng.standard_normal(400))


def test_lasso_path_grid_size(small_limit):
    A = np.asfortranarray(np.random.default_rng(2).standard_normal((10, 20)))
    y = np.arange(10.0)
    _refused("10,000,000-beta Lasso path", netmirror.lasso_path, A, y, n_betas=10**7)
    netmirror.set_memory_limit(None)
    with pytest.raises(MemoryError, match="10,000,000,000,000-beta"):  # never tries to build the grid
        netmirror.lasso_path(A, y, n_betas=10**13)


def test_matrix_free_lasso(small_limit):
    x = np.random.default_rng(3).uniform(-1, 1, 60)
    lib = netmirror.library(x, "relu", 3, dedup=False)  # 14,400 columns: solver + operator ~2 MB
    y = np.sin(3 * x)
    _refused("matrix-free dictionary", netmirror.lasso, lib, y, 0.1)
    _refused("matrix-free", netmirror.lasso_path, lib, y, n_betas=2)


def test_convexnet_goes_matrix_free_then_refuses(monkeypatch):
    rng = np.random.default_rng(4)
    x, y = rng.uniform(-1, 1, 30), rng.standard_normal(30)
    lib = netmirror.library(x, "relu", 3, dedup=False)
    dense = lib.nbytes() + _memory.lasso_bytes(30, len(lib))
    previous = netmirror.set_memory_limit(dense - 1)
    try:
        model = netmirror.ConvexNet("relu", 3, 0.1, dedup=False).fit(x, y)
        assert model.matrix_free_
        netmirror.set_memory_limit(50_000)
        with pytest.raises(MemoryError, match="matrix-free"):
            netmirror.ConvexNet("relu", 3, 0.1, dedup=False).fit(x, y)
    finally:
        netmirror.set_memory_limit(previous)


def test_reconstruct_and_forward(small_limit):
    x = np.arange(8.0)
    lib = netmirror.library(x, "relu", 2, dedup=False)
    net = netmirror.reconstruct(lib, np.ones(len(lib)), 0.0, 1.0)
    assert net.forward(x).shape == (8,)
    _refused("forward pass on 100,000 points", net.forward, np.zeros(10**5))


# --------------------------------------------------------------------------------------------------
# covariance and metrics
def test_covariance_accumulator(small_limit):
    _refused("CovarianceAccumulator of dim=1,000", netmirror.CovarianceAccumulator, 1000)
    with pytest.raises(MemoryError, match="dim=1,000,000,000"):  # never tries 8e18 bytes
        netmirror.CovarianceAccumulator(10**9)
    acc = netmirror.CovarianceAccumulator(300)  # 8 * 300^2 = 720 kB
    acc.update(np.random.default_rng(5).standard_normal((40, 300)))
    _refused("the covariance of a dim=300", acc.covariance)  # two dim^2 arrays
    assert acc.scatter.shape == (300, 300)
    acc2 = pickle.loads(pickle.dumps(acc))
    np.testing.assert_array_equal(acc2.scatter, acc.scatter)


def test_covariance_update_buffers(small_limit):
    acc = netmirror.CovarianceAccumulator(8)
    with pytest.raises(MemoryError, match="batch"):
        acc.update(np.zeros((10**6, 8)), weights=np.ones(10**6))  # the row scales sqrt(w): 8 MB
    assert acc.count == 0


def test_cka_kernel_matrices(small_limit):
    rng = np.random.default_rng(6)
    X, Y = rng.standard_normal((300, 3)), rng.standard_normal((300, 2))
    assert 0 <= netmirror.cka(X, Y) <= 1  # biased linear: feature space, no n x n matrices
    text = _refused("300 x 300 kernel matrices", netmirror.cka, X, Y, kernel="rbf")
    assert "MinibatchCKA" in text
    assert -1 <= netmirror.cka(X, Y, debiased=True) <= 1  # linear debiased: feature space too
    mb = netmirror.MinibatchCKA(1, 1)
    _refused("MinibatchCKA update", mb.update, [X], [Y])
    mb.update([X[:20]], [Y[:20]])


def test_metrics_square_matrices(small_limit):
    rng = np.random.default_rng(7)
    W = rng.standard_normal((3, 200))  # in = 200: W^T W is 200 x 200
    H = np.eye(200)
    _refused("CRH alignments", netmirror.crh_alignments, H, H, np.eye(3), np.eye(3), W)
    _refused("alignment", netmirror.alignment, H, H)
    _refused("alignment", netmirror.kernel_alignment, H, H, centered=True)
    _refused("PAH exponents", netmirror.pah_exponents, H, H, H)
    _refused("NFA correlation", netmirror.nfa_correlation, W, H)
    _refused("singular values", netmirror.weight_spectra, [np.ones((300, 200))])
    _refused("singular values", netmirror.effective_rank, np.ones((300, 200)))


def test_neural_collapse(small_limit):
    rng = np.random.default_rng(8)
    H = rng.standard_normal((4000, 10))
    labels = rng.integers(0, 5, 4000)
    W = rng.standard_normal((5, 10))
    _refused("neural collapse of 4,000 samples", netmirror.neural_collapse, H, labels, W)
    assert netmirror.neural_collapse(H[:200], labels[:200], W).n_classes == 5
