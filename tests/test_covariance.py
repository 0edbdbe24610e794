"""CovarianceAccumulator against the float64/longdouble references: batches, merges, weights, dtypes,
memory orders, large offsets and magnitudes, pickling and bad input."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import netmirror
from netmirror import reference

RTOL = 1e-12  # relative to the largest entry of the reference matrix


def assert_close(actual, expected, rtol=RTOL, scale=None):
    """max |actual - expected| <= rtol * scale (default: the largest |expected| entry)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if scale is None:
        scale = float(np.abs(expected).max())
    scale = max(scale, np.finfo(np.float64).tiny)
    err = float(np.abs(actual - expected).max()) / scale
    assert err <= rtol, f"relative error {err:.3g} > {rtol:g}"


@st.composite
def batches(draw, max_n=120, max_dim=19):
    """(X, weights): float32/float64, C/F order or a strided/reversed view, magnitudes 10^k, offsets."""
    n = draw(st.integers(1, max_n))
    dim = draw(st.integers(1, max_dim))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["normal", "ints", "ties", "lowrank"]))
    if kind == "normal":
        X = rng.standard_normal((n, dim))
    elif kind == "ints":
        X = rng.integers(-5, 6, (n, dim)).astype(np.float64)
    elif kind == "ties":
        X = rng.choice([-1.5, 0.0, 2.25], size=(n, dim))
    else:
        X = rng.standard_normal((n, 1)) @ rng.standard_normal((1, dim))
    max_k = 15 if dtype == np.float32 else 60
    X = X * 10.0 ** draw(st.integers(-max_k, max_k))
    if draw(st.booleans()):  # offset far from the origin: mean 1e6 (relative to the spread)
        X = X + 1e6 * np.abs(X).max() * rng.choice([-1.0, 1.0], size=dim)
    X = X.astype(dtype)
    layout = draw(st.sampled_from(["C", "F", "strided", "reversed"]))
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "strided":
        big = np.zeros((2 * n, 2 * dim), dtype=dtype)
        big[::2, ::2] = X
        X = big[::2, ::2]
    elif layout == "reversed":
        X = np.ascontiguousarray(X[::-1, ::-1])[::-1, ::-1]
    weights = None
    if draw(st.booleans()):
        weights = rng.choice([0.0, 0.5, 1.0, 3.0], size=n)
        weights[0] = 1.0  # keep the total weight > 0
    return X, weights


def test_public_name():
    assert netmirror.CovarianceAccumulator is netmirror._covariance.CovarianceAccumulator
    assert netmirror._core.covariance_kernel() in ("avx2+fma", "portable")


@given(batches())
def test_matches_reference(batch):
    X, w = batch
    acc = netmirror.CovarianceAccumulator(X.shape[1]).update(X, weights=w)
    ref = reference.covariance_moments(X, w)
    assert acc.count == ref["count"]
    assert acc.total_weight == pytest.approx(ref["total_weight"], rel=1e-15)
    assert_close(acc.scatter, ref["scatter"], rtol=RTOL)
    assert_close(acc.mean, ref["mean"], rtol=1e-14, scale=float(np.abs(X).max()))
    assert_close(acc.second_moment, ref["second_moment"], rtol=1e-14)
    np.testing.assert_array_equal(acc.scatter, acc.scatter.T)


@given(batches(max_n=200), st.lists(st.floats(0, 1), min_size=1, max_size=4))
def test_concatenation_equals_merge_of_updates(batch, cuts):
    X, w = batch
    n, dim = X.shape
    edges = sorted({0, n, *(int(c * n) for c in cuts)})
    whole = netmirror.CovarianceAccumulator(dim).update(X, weights=w)
    sequential = netmirror.CovarianceAccumulator(dim)
    merged = netmirror.CovarianceAccumulator(dim)
    for lo, hi in zip(edges[:-1], edges[1:]):
        part_w = None if w is None else w[lo:hi]
        sequential.update(X[lo:hi], weights=part_w)
        merged.merge(netmirror.CovarianceAccumulator(dim).update(X[lo:hi], weights=part_w))
    for acc in (sequential, merged):
        assert acc.count == n
        assert acc.total_weight == pytest.approx(whole.total_weight, rel=1e-15)
        assert_close(acc.scatter, whole.scatter, rtol=RTOL)
        assert_close(acc.mean, whole.mean, rtol=1e-14, scale=float(np.abs(X).max()))


@given(st.integers(1, 60), st.integers(1, 9), st.integers(0, 2**32 - 1))
def test_integer_weights_equal_repeated_rows(n, dim, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dim)) + 3.0
    reps = rng.integers(0, 4, n)
    reps[0] = 1
    weighted = netmirror.CovarianceAccumulator(dim).update(X, weights=reps)
    repeated = netmirror.CovarianceAccumulator(dim).update(np.repeat(X, reps, axis=0))
    assert weighted.total_weight == repeated.count
    assert_close(weighted.scatter, repeated.scatter)
    assert_close(weighted.mean, repeated.mean, rtol=1e-14, scale=float(np.abs(X).max()))
    for ddof in (0, 1):
        if repeated.count > ddof:
            assert_close(weighted.covariance(ddof), repeated.covariance(ddof))


@given(batches(), st.sampled_from([0, 1]))
def test_centered_and_uncentered(batch, ddof):
    X, w = batch
    dim = X.shape[1]
    ref = reference.covariance_moments(X, w)
    if ref["total_weight"] - ddof <= 0:
        return
    centered = netmirror.CovarianceAccumulator(dim).update(X, weights=w)
    uncentered = netmirror.CovarianceAccumulator(dim, center=False).update(X, weights=w)
    denom = ref["total_weight"] - ddof
    assert_close(centered.covariance(ddof), ref["scatter"] / denom, rtol=RTOL)
    assert_close(uncentered.covariance(ddof), ref["second_moment"] * ref["total_weight"] / denom, rtol=1e-14)
    if ddof == 0:
        assert_close(uncentered.covariance(), uncentered.second_moment, rtol=1e-14)


@given(batches())
def test_float32_input_is_exact_in_float64(batch):
    """float32 rows are converted exactly, so float32 and its float64 copy give identical results."""
    X, w = batch
    with np.errstate(over="ignore", under="ignore"):
        X32 = X.astype(np.float32)
    assume(np.isfinite(X32).all())
    a = netmirror.CovarianceAccumulator(X.shape[1]).update(X32, weights=w)
    b = netmirror.CovarianceAccumulator(X.shape[1]).update(X32.astype(np.float64), weights=w)
    np.testing.assert_array_equal(a.scatter, b.scatter)
    np.testing.assert_array_equal(a.mean, b.mean)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [0.0, 1e6, -1e6])
def test_accuracy_against_longdouble(dtype, offset):
    """Mean 1e6, std 1: Chan's update keeps ~1e-15 relative accuracy (sum(x xᵀ) - n μμᵀ would lose ~12 digits)."""
    rng = np.random.default_rng(5)
    n, dim = 5000, 30
    X = (offset + rng.standard_normal((n, dim)) * rng.uniform(0.5, 2, dim)).astype(dtype)
    acc = netmirror.CovarianceAccumulator(dim)
    for part in np.array_split(X, 7):
        acc.update(part)
    rows, cols = np.triu_indices(dim)
    exact = reference.exact_scatter_entries(X, rows, cols)
    err = np.abs(acc.scatter[rows, cols] - exact).max() / np.abs(exact).max()
    assert float(err) <= 1e-13
    naive = (X.astype(np.float64).T @ X.astype(np.float64) - n * np.outer(acc.mean, acc.mean))[rows, cols]
    if offset:  # the naive formula really is bad here, which is what the test guards against
        assert float(np.abs(naive - exact).max() / np.abs(exact).max()) > 1e-6


def test_threads_and_portable_kernel_agree(monkeypatch):
    """Large enough for both threads and many packed blocks; the portable kernel gives the same result."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((1500, 131)).astype(np.float32)
    X[:, 7] += 100.0
    fast = netmirror.CovarianceAccumulator(131).update(X)
    monkeypatch.setenv("NETMIRROR_COV_KERNEL", "portable")
    monkeypatch.setenv("NETMIRROR_NUM_THREADS", "1")
    slow = netmirror.CovarianceAccumulator(131).update(X)
    ref = reference.covariance_moments(X)
    assert_close(fast.scatter, ref["scatter"])
    assert_close(slow.scatter, fast.scatter, rtol=1e-14)


@given(batches(max_n=60), batches(max_n=60))
def test_pickle_round_trip(first, second):
    X, w = first
    dim = X.shape[1]
    acc = netmirror.CovarianceAccumulator(dim, center=False).update(X, weights=w)
    clone = pickle.loads(pickle.dumps(acc))
    assert clone.center is False and clone.count == acc.count and clone.total_weight == acc.total_weight
    np.testing.assert_array_equal(clone.scatter, acc.scatter)
    np.testing.assert_array_equal(clone.mean, acc.mean)
    Y = second[0][:, :1].repeat(dim, axis=1) if second[0].shape[1] else second[0]
    acc.update(Y)
    clone.update(Y)
    np.testing.assert_array_equal(clone.scatter, acc.scatter)  # the compensated mean survives pickling too
    np.testing.assert_array_equal(clone.mean, acc.mean)


def test_empty_and_zero_weight_batches():
    acc = netmirror.CovarianceAccumulator(3)
    acc.update(np.zeros((0, 3)))
    assert acc.count == 0 and acc.total_weight == 0
    with pytest.raises(ValueError, match="no data"):
        acc.mean
    acc.update(np.ones((2, 3)), weights=[0.0, 0.0])
    assert acc.count == 2 and acc.total_weight == 0
    acc.update(np.eye(3))
    assert_close(acc.covariance(), np.cov(np.eye(3), bias=True))
    with pytest.raises(ValueError, match="ddof"):
        acc.covariance(ddof=3)
    acc.merge(netmirror.CovarianceAccumulator(3))  # merging an empty one changes nothing
    assert acc.count == 5


@pytest.mark.parametrize("X,weights,exc,match", [
    (np.array([[1.0, np.nan]]), None, ValueError, "NaN or infinity"),
    (np.array([[1.0, 2.0], [np.inf, 0.0]], dtype=np.float32), None, ValueError, "NaN or infinity"),
    (np.array([[1.0, 2.0], [-np.inf, 0.0]]), [1.0, 0.0], ValueError, "NaN or infinity"),
    (np.zeros((3, 3)), None, ValueError, "3 columns but the accumulator has dim=2"),
    (np.zeros(2), None, ValueError, "2-D"),
    (np.zeros((2, 2), dtype=np.int64), None, TypeError, "float32 or float64"),
    (np.zeros((2, 2), dtype=np.complex128), None, TypeError, "float32 or float64"),
    (np.zeros((2, 2)), [1.0, -1.0], ValueError, ">= 0"),
    (np.zeros((2, 2)), [1.0, np.nan], ValueError, "NaN"),
    (np.zeros((2, 2)), [1.0], ValueError, r"shape \(2,\)"),
])
def test_bad_input_leaves_state_unchanged(X, weights, exc, match):
    acc = netmirror.CovarianceAccumulator(2).update(np.array([[1.0, 2.0], [3.0, 5.0]]))
    before = (acc.count, acc.total_weight, acc.mean.copy(), acc.scatter.copy())
    with pytest.raises(exc, match=match):
        acc.update(X, weights=weights)
    assert (acc.count, acc.total_weight) == before[:2]
    np.testing.assert_array_equal(acc.mean, before[2])
    np.testing.assert_array_equal(acc.scatter, before[3])


def test_byte_swapped_input_is_accepted():
    X = np.random.default_rng(9).standard_normal((20, 3))
    acc = netmirror.CovarianceAccumulator(3).update(X.astype(">f8"))
    np.testing.assert_array_equal(acc.scatter, netmirror.CovarianceAccumulator(3).update(X).scatter)


def test_bad_construction_and_merge():
    for dim in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            netmirror.CovarianceAccumulator(dim)
    with pytest.raises(ValueError, match="dim=3 into dim=2"):
        netmirror.CovarianceAccumulator(2).merge(netmirror.CovarianceAccumulator(3))
    with pytest.raises(TypeError):
        netmirror.CovarianceAccumulator(2).merge(np.zeros((2, 2)))
