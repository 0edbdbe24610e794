"""CovarianceAccumulator against the float64/longdouble references: batches, merges, weights, dtypes,
memory orders, large offsets and magnitudes, pickling and bad input."""
from __future__ import annotations

import pickle
import threading
from concurrent.futures import ThreadPoolExecutor, wait

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


# --------------------------------------------------------------------------------------------------
# far from the origin: against the exact (rational) covariance of the same float64 data
# Relative to sqrt(C_ii C_jj), the largest |C_ij| can be (Cauchy-Schwarz): recursive float64 sums of k terms
# err at most ~k u (u = 1.1e-16) relative to the sum of |terms| (Higham 2002, ch. 4), and the kernel sums at
# most 256 rows before adding into M2; random-looking data stay at ~1e-15, few-valued (quantised) data far
# from the origin, where rounding does not average out, come closer to the bound.
TOL = 3e-14


def scaled_error(actual, exact):
    """max_ij |actual_ij - exact_ij| / sqrt(exact_ii exact_jj); an entry whose scale is 0 (a constant
    column) counts as inf unless it is exactly right."""
    actual, exact = np.atleast_2d(actual), np.atleast_2d(exact)
    d = np.sqrt(np.abs(np.diag(exact)))
    scale = np.outer(d, d)
    diff = np.abs(actual - exact)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0), np.where(diff > 0, np.inf, 0.0))
    return float(err.max())


def two_pass_scatter(X, w):
    """Two-pass float64 np.cov (mean first, then the centred products), as a scatter Σ w (x-μ)(x-μ)ᵀ."""
    W = X.shape[0] if w is None else float(np.sum(w))
    return np.atleast_2d(np.cov(X.astype(np.float64), rowvar=False, aweights=w, bias=True)) * W


@st.composite
def far_batches(draw):
    """Batches of one data set: column means ±10^k (k in [0, 15], or 0), std 10^s (s in [-3, 3]), 1 to 8
    batches of 1 to 300 rows, optional weights, float32 or float64, optionally a drift between batches."""
    dim = draw(st.integers(1, 4))
    dtype = draw(st.sampled_from([np.float64, np.float64, np.float32]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mean = draw(st.sampled_from([0.0, 1.0])) * 10.0 ** draw(st.floats(0, 15))
    std = 10.0 ** draw(st.floats(-3, 3))
    col_mean = mean * rng.uniform(0.5, 2, dim) * rng.choice([-1.0, 1.0], dim)
    col_std = std * rng.uniform(0.5, 2, dim)
    drift = draw(st.sampled_from([0.0, 0.0, 1.0, 1e3]))
    weighted = draw(st.booleans())
    parts = []
    for b in range(draw(st.integers(1, 8))):
        n = draw(st.integers(1, 300))
        Z = rng.standard_normal((n, dim))
        if dim > 1 and draw(st.booleans()):  # correlated columns
            Z[:, 1] = 0.6 * Z[:, 0] + 0.8 * Z[:, 1]
        X = (col_mean + b * drift * std + Z * col_std).astype(dtype)
        w = rng.choice([0.0, 0.5, 1.0, 3.0], n) if weighted else None
        parts.append((X, w))
    if weighted and not any(w.sum() for _, w in parts):
        parts[0][1][0] = 1.0
    return parts


def accumulate(parts, how):
    dim = parts[0][0].shape[1]
    acc = netmirror.CovarianceAccumulator(dim)
    for k, (X, w) in enumerate(parts):
        if how == "update" or (how == "mixed" and k % 2 == 0):
            acc.update(X, weights=w)
        else:
            acc.merge(netmirror.CovarianceAccumulator(dim).update(X, weights=w))
    return acc


@given(far_batches(), st.sampled_from(["update", "merge", "mixed"]))
def test_far_from_origin_within_rounding(parts, how):
    """Scatter, covariance, mean and second moment against the exact values of the same data: within rounding
    (TOL) relative to the covariance's scale whatever the mean, so at least as accurate as a two-pass float64
    computation, which loses ~(ulp(mean) / std)^2 (its mean is rounded to float64)."""
    X = np.concatenate([p[0] for p in parts])
    w = None if parts[0][1] is None else np.concatenate([p[1] for p in parts])
    acc = accumulate(parts, how)
    exact = reference.covariance_exact(X, w)
    assert acc.count == X.shape[0] and acc.total_weight == exact["total_weight"]
    assert scaled_error(acc.scatter, exact["scatter"]) <= TOL
    assert scaled_error(acc.covariance(), exact["scatter"] / exact["total_weight"]) <= TOL
    std = np.sqrt(np.diag(exact["scatter"]) / exact["total_weight"])
    assert np.all(np.abs(acc.mean - exact["mean"]) <= 2.3e-16 * np.abs(exact["mean"]) + TOL * std)
    assert scaled_error(acc.second_moment, exact["second_moment"]) <= TOL
    np.testing.assert_array_equal(acc.scatter, acc.scatter.T)


@pytest.mark.parametrize("how", ["update", "merge"])
@pytest.mark.parametrize("mean,std", [(1e12, 1e-2), (1e15, 1.0), (-1e15, 1e3), (1e15, 1e-3)])
def test_large_mean_regression(mean, std, how):
    """Issue 17: 7 batches at mean 1e12 / std 1e-2 gave 1.9e-5 and at mean 1e15 / std 1 1.4e-3 (two-pass
    np.cov: 1.2e-4, 2.5e-4): the batches were centred on their mean rounded to float64 (0.06 off at 1e15)."""
    rng = np.random.default_rng(0)
    X = mean + std * rng.standard_normal((7000, 5))
    acc = accumulate([(p, None) for p in np.array_split(X, 7)], how)
    exact = reference.covariance_exact(X)["scatter"]
    err = scaled_error(acc.scatter, exact)
    assert err <= TOL
    assert err <= max(TOL, scaled_error(two_pass_scatter(X, None), exact))


def test_zero_weight_first_row_far_away():
    """The first batch is shifted by its first row of positive weight: a zero-weight row at 1e15 (data
    near 0) would otherwise cost the offsets their digits."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((500, 3))
    X[0] = 1e15
    w = np.ones(500)
    w[0] = 0.0
    acc = netmirror.CovarianceAccumulator(3).update(X, weights=w)
    exact = reference.covariance_exact(X[1:])
    assert scaled_error(acc.scatter, exact["scatter"]) <= TOL
    assert np.abs(acc.mean - exact["mean"]).max() <= TOL


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_far_from_origin(dtype):
    """float32 rows near 1e6 (ulp 0.06) and std 1: their float64 values give the exact covariance."""
    rng = np.random.default_rng(4)
    X = (1e6 + rng.standard_normal((3000, 4))).astype(dtype)
    acc = accumulate([(p, None) for p in np.array_split(X, 5)], "update")
    exact = reference.covariance_exact(X)
    assert scaled_error(acc.scatter, exact["scatter"]) <= TOL
    assert scaled_error(acc.second_moment, exact["second_moment"]) <= TOL


def test_exact_reference_on_a_tiny_case():
    """covariance_exact against fractions written out from the definition."""
    from fractions import Fraction as F
    X = np.array([[1e15 + 0.125, -3.0], [1e15, 2.5], [1e15 + 0.5, 1e-3]])
    w = np.array([1.0, 0.5, 3.0])
    W = sum(F(v) for v in w)
    mu = [sum(F(w[k]) * F(X[k, j]) for k in range(3)) / W for j in range(2)]
    S = [[float(sum(F(w[k]) * (F(X[k, i]) - mu[i]) * (F(X[k, j]) - mu[j]) for k in range(3))) for j in range(2)]
         for i in range(2)]
    exact = reference.covariance_exact(X, w)
    np.testing.assert_array_equal(exact["scatter"], S)
    np.testing.assert_array_equal(exact["mean"], [float(m) for m in mu])


# --------------------------------------------------------------------------------------------------
# one accumulator shared by threads
def _run_threads(targets, timeout=60):
    """Runs the callables in threads started together; re-raises the first error, fails on a hang."""
    barrier = threading.Barrier(len(targets))
    pool = ThreadPoolExecutor(len(targets))
    futures = [pool.submit(lambda fn=fn: (barrier.wait(), fn())) for fn in targets]
    _, pending = wait(futures, timeout)
    pool.shutdown(wait=not pending)
    assert not pending, "deadlock: a thread did not finish"
    for f in futures:
        f.result()


@pytest.mark.parametrize("dim,updates", [(64, 10), (240, 3)])  # 240: long batches, the watched path
def test_concurrent_updates_lose_nothing(dim, updates):
    """Issue 17: 4 threads x 10 updates of 4,000 rows ended with count 40,000 of 160,000. Now every
    row counts and the result equals one serial accumulation to rounding."""
    base = np.random.default_rng(7).standard_normal((4000, dim))
    batches = [[base * (1.0 + 0.1 * k) + (5.0 + t) for k in range(updates)] for t in range(4)]
    shared = netmirror.CovarianceAccumulator(dim)
    _run_threads([lambda mine=mine: [shared.update(X) for X in mine] for mine in batches])
    serial = netmirror.CovarianceAccumulator(dim)
    for mine in batches:
        for X in mine:
            serial.update(X)
    assert shared.count == serial.count == 4 * updates * 4000
    assert_close(shared.scatter, serial.scatter, rtol=1e-13)
    assert_close(shared.mean, serial.mean, rtol=1e-15, scale=8.0)


def test_reads_during_updates_see_whole_states():
    """Every state of an accumulator fed copies of one data set D represents k copies of D: a read (the
    covariance, a pickle) taken while other threads update must give cov(D), never a torn mix."""
    rng = np.random.default_rng(8)
    D = rng.standard_normal((3000, 48)) * 3 + 1e3
    shared = netmirror.CovarianceAccumulator(48).update(D)
    expected = shared.covariance()
    seen = []

    def read():
        for _ in range(30):
            seen.append(shared.covariance())
            seen.append(pickle.loads(pickle.dumps(shared)).covariance())

    _run_threads([lambda: [shared.update(D) for _ in range(8)]] * 2 + [read])
    assert shared.count == 17 * 3000
    for C in seen:
        assert_close(C, expected, rtol=1e-12)


def test_concurrent_merges_do_not_deadlock():
    """a.merge(b) and b.merge(a) at once (each locks both), merges into one target from several threads."""
    rng = np.random.default_rng(9)
    D = rng.standard_normal((50, 30)) - 7.0
    a = netmirror.CovarianceAccumulator(30).update(D)
    b = netmirror.CovarianceAccumulator(30).update(D)
    expected = a.covariance()
    _run_threads([lambda: [a.merge(b) for _ in range(20)], lambda: [b.merge(a) for _ in range(20)]])
    for acc in (a, b):  # every state is k copies of D
        assert acc.count % 50 == 0 and acc.total_weight == acc.count
        assert_close(acc.covariance(), expected, rtol=1e-12)
    target = netmirror.CovarianceAccumulator(30)
    parts = [netmirror.CovarianceAccumulator(30).update(rng.standard_normal((40, 30))) for _ in range(40)]
    _run_threads([lambda k=k: [target.merge(p) for p in parts[k::4]] for k in range(4)])
    serial = netmirror.CovarianceAccumulator(30)
    for p in parts:
        serial.merge(p)
    assert target.count == serial.count == 1600
    assert_close(target.scatter, serial.scatter, rtol=1e-13)


def test_merge_with_itself_doubles_the_data():
    rng = np.random.default_rng(10)
    X = rng.standard_normal((100, 5)) + 1e9
    w = rng.uniform(0, 2, 100)
    acc = netmirror.CovarianceAccumulator(5).update(X, weights=w)
    copy = pickle.loads(pickle.dumps(acc))
    mean, cov = acc.mean.copy(), acc.covariance()
    assert acc.merge(acc) is acc
    assert acc.count == 200 and acc.total_weight == 2 * copy.total_weight
    np.testing.assert_array_equal(acc.mean, mean)
    np.testing.assert_array_equal(acc.covariance(), cov)
    copy.merge(pickle.loads(pickle.dumps(copy)))  # the same as merging a copy, bit for bit
    np.testing.assert_array_equal(acc.scatter, copy.scatter)
    twice = netmirror.CovarianceAccumulator(5).update(np.concatenate([X, X]), weights=np.concatenate([w, w]))
    assert_close(acc.scatter, twice.scatter, rtol=1e-13)
