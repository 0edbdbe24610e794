"""Matrix-free libraries: the implicit operator against the dense dictionary, and solves through it.

Reference for the operator: ``reference.library_matrix(...)`` (pure NumPy), ``.T @ v`` for correlations.
Correlations are compared normwise, |a_j^T v - ref| <= 1e-12 s_j ||v||_1 with s_j = max(max|a_j|, 0.01 ptp(x)):
the scale of the dense dot product's own rounding (the floor covers columns that are rounding noise of
size eps * ptp(x), e.g. a level computed as a midpoint that should equal a data value); columns must be bitwise equal to ``lib.matrix()``'s, statistics equal to the NumPy
two-pass formula to rounding.
"""
from __future__ import annotations

import _thread
import threading
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netmirror
from netmirror import _core, reference
from conftest import FAMILY_CASES, family_params, half_plane_points, max_n, ref_matrix, x_arrays

PIECEWISE_LINEAR = [c for c in FAMILY_CASES if c[1] == "deep_narrow" and c[0] in ("relu", "leaky_relu", "abs")]


def build(x, case, dedup):
    act, arch, depth, kw = case
    return netmirror.library(x, act, depth, architecture=arch, dedup=dedup, **kw)


@st.composite
def shifted_x(draw, case, budget=3000, cap=12):
    """x_arrays (unsorted, ties, magnitudes 1e-6..1e6) plus, sometimes, an offset far larger than the range."""
    x = draw(x_arrays(min_n=1, max_n=max_n(case, budget, cap)))
    k = draw(st.sampled_from([None, None, 3, 6, 9]))
    if k is not None:
        x = x + (10.0 ** k) * max(float(np.ptp(x)), 1e-3)
    return x


@st.composite
def vectors(draw, n):
    seed = draw(st.integers(0, 2**32 - 1))
    scale = 10.0 ** draw(st.integers(-100, 100))
    v = np.random.default_rng(seed).standard_normal(n) * scale
    if draw(st.booleans()):
        v -= v.mean()  # residual-like: centered
    return v


def close_normwise(got, R, x, v):
    """|got - R^T v| <= 1e-12 s_j ||v||_1 for every column j of R."""
    scale = np.maximum(np.abs(R).max(axis=0), 0.01 * np.ptp(x)) * np.abs(v).sum()
    err = np.abs(got - R.T @ v)
    bad = np.flatnonzero(err > 1e-12 * scale + 1e-300)
    assert bad.size == 0, f"columns {bad[:5]}: error {err[bad[:5]]} vs scale {scale[bad[:5]]}"


def check_operator(lib, op, x, case, v, idx):
    raw = lib.raw_indices()
    R = ref_matrix(x, case)[:, raw]
    A = lib.matrix()
    # correlations over an arbitrary subset (unsorted, repeated) and over all columns
    close_normwise(op.tmul(v, idx), R[:, idx], x, v)
    full = op.tmul(v)
    assert full.shape == (len(lib),)
    close_normwise(full, R, x, v)
    # columns: the same kernel as the dense assembly, bit for bit
    for j in idx[:5]:
        assert np.array_equal(op.column(int(j)), A[:, j])
    # statistics: two-pass mean and centered squared norm
    mean, csq = op.column_stats()
    amax = np.abs(A).max(axis=0)
    assert np.all(np.abs(mean - A.mean(axis=0)) <= 1e-14 * amax + 1e-300)
    ref_csq = ((A - A.mean(axis=0)) ** 2).sum(axis=0)
    assert np.all(np.abs(csq - ref_csq) <= 1e-12 * (ref_csq + len(x) * amax**2 * 1e-2) + 1e-300)


@pytest.mark.parametrize("case", family_params())
@settings(max_examples=20)
@given(data=st.data())
def test_operator_matches_dense(case, data):
    x = data.draw(shifted_x(case))
    lib = build(x, case, dedup=data.draw(st.booleans()))
    if len(lib) == 0:
        return
    routes = ["auto", "streaming"] + (["structured"] if case in PIECEWISE_LINEAR else [])
    route = data.draw(st.sampled_from(routes))
    op = _core.LibraryOperator(lib._family, lib.raw_index, route)
    assert op.rows == len(x) and op.cols == len(lib)
    assert op.structured == (route == "structured")  # auto: structured from 16 * 2^H points on
    v = data.draw(vectors(len(x)))
    idx = np.asarray(data.draw(st.lists(st.integers(0, len(lib) - 1), min_size=1, max_size=40)), dtype=np.int64)
    check_operator(lib, op, x, case, v, idx)


@pytest.mark.parametrize("case", family_params(PIECEWISE_LINEAR))
def test_structured_route_on_larger_data(case):
    """Prefix sums on unsorted data with ties and far offsets match the dense correlations; a random subset
    of at most 20,000 raw features keeps the dense reference small."""
    rng = np.random.default_rng(7)
    act, arch, depth, kw = case
    n = 300 if depth == 2 else (64 if depth < 5 else 24)
    x = np.round(rng.standard_normal(n), 2) * 1e3 + 1e9 * rng.integers(0, 2)
    x[: n // 5] = x[n // 5: 2 * (n // 5)]  # ties
    lib = build(x, case, dedup=False)
    raw = np.sort(rng.choice(lib.raw_size, min(lib.raw_size, 20_000), replace=False)).astype(np.int64)
    op = _core.LibraryOperator(lib._family, raw, "structured")
    assert op.structured
    v = rng.standard_normal(n)
    A = np.empty((n, raw.size), order="F")
    lib._family.assemble(raw, x, A)
    close_normwise(op.tmul(v), A, x, v)
    # the accuracy guard streams only a small share of the columns
    assert op.streamed_fallbacks <= 0.25 * raw.size


def test_auto_route():
    """auto: prefix sums where they pay (relu from 16 * 2^H points, V-shaped units from 48 * 2^H)."""
    for act, depth, n, structured in [("relu", 2, 31, False), ("relu", 2, 32, True), ("relu", 3, 64, True),
                                      ("relu", 4, 127, False), ("relu", 4, 128, True), ("abs", 3, 191, False),
                                      ("abs", 2, 96, True), ("sign", 2, 130, False)]:
        lib = netmirror.library(np.linspace(-1, 1, n), act, depth, dedup=False)
        assert _core.LibraryOperator(lib._family, np.arange(4), "auto").structured == structured, (act, depth, n)


@settings(max_examples=10)
@given(x=half_plane_points(max_n=12), seed=st.integers(0, 2**32 - 1))
def test_operator_angular(x, seed):
    lib = netmirror.library(x, "sign", 2)
    if len(lib) == 0:
        return
    op = _core.LibraryOperator(lib._family, lib.raw_index)
    v = np.random.default_rng(seed).standard_normal(len(x))
    R = reference.library_matrix(x, "sign", 2)[:, lib.raw_indices()]
    assert np.all(np.abs(op.tmul(v) - R.T @ v) <= 1e-12 * np.abs(v).sum())
    mean, csq = op.column_stats()
    np.testing.assert_allclose(mean, R.mean(axis=0), rtol=0, atol=1e-14)


# --------------------------------------------------------------------------------------------------
# solves: matrix-free and dense reach the same certified optimum
SOLVE_CASES = [
    ("relu", "deep_narrow", 2, {}), ("relu", "deep_narrow", 3, {}), ("relu", "deep_narrow", 4, {}),
    ("leaky_relu", "deep_narrow", 3, {"slope": -0.3}), ("abs", "deep_narrow", 4, {}),
    ("relu", "symmetrized", 3, {}), ("sign", "tree", 3, {"widths": (3, 1)}), ("threshold", "deep_narrow", 3, {}),
]


@pytest.mark.parametrize("case", family_params(SOLVE_CASES))
@pytest.mark.parametrize("dedup", [True, False])
def test_solve_matches_dense(case, dedup):
    rng = np.random.default_rng(3)
    n = max_n(case, 20_000, cap=70)
    x = rng.uniform(-2, 2, n)
    y = np.sin(2 * x) + 0.1 * rng.standard_normal(n)
    lib = build(x, case, dedup)
    beta = 0.02 * netmirror.beta_max(lib.matrix(), y)
    assert netmirror.beta_max(lib, y) == pytest.approx(netmirror.beta_max(lib.matrix(), y), rel=1e-12)
    dense = netmirror.lasso(lib.matrix(), y, beta, tol=1e-12)
    free = netmirror.lasso(lib, y, beta, tol=1e-12)
    assert dense.converged and free.converged and not free.interrupted
    assert abs(free.objective - dense.objective) <= 1e-10 * dense.objective + free.gap + dense.gap
    # fitted values are unique at the optimum (z and xi need not be, with duplicate columns):
    # 1/2 ||u_free - u_dense||^2 <= gap_free + gap_dense
    A = lib.matrix()
    du = (A @ free.coef + free.intercept) - (A @ dense.coef + dense.intercept)
    assert 0.5 * du @ du <= 2 * (free.gap + dense.gap) + 1e-12 * dense.objective


def test_path_and_estimator_match_dense():
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, 80)
    y = np.abs(x) - 0.5 * np.maximum(x - 0.3, 0) + 0.05 * rng.standard_normal(80)
    lib = netmirror.library(x, "abs", 3)
    free = netmirror.lasso_path(lib, y, n_betas=6, tol=1e-12)
    dense = netmirror.lasso_path(lib.matrix(), y, n_betas=6, tol=1e-12)
    np.testing.assert_allclose(free.betas, dense.betas, rtol=1e-12)
    assert np.all(np.abs(free.objectives - dense.objectives) <= 1e-10 * dense.objectives + free.gaps + dense.gaps)
    m_free = netmirror.ConvexNet("relu", 3, 1e-3, matrix_free=True).fit(x, y)
    m_dense = netmirror.ConvexNet("relu", 3, 1e-3, matrix_free=False).fit(x, y)
    assert m_free.matrix_free_ and not m_dense.matrix_free_
    assert m_free.objective_ == pytest.approx(m_dense.objective_, rel=1e-10)
    t = np.linspace(-1.5, 1.5, 50)
    np.testing.assert_allclose(m_free.predict(t), m_free.network_.forward(t), rtol=1e-9, atol=1e-9)


def test_auto_switches_on_the_memory_budget(monkeypatch):
    rng = np.random.default_rng(5)
    x, y = rng.uniform(-1, 1, 30), rng.standard_normal(30)
    # dedup=False: deduplication's hash table (up to 32 bytes per raw feature) answers to the same budget
    lib = netmirror.library(x, "relu", 3, dedup=False)
    dense = lib.nbytes() + netmirror._memory.lasso_bytes(len(x), len(lib))  # the dictionary and the solver
    monkeypatch.setenv("NETMIRROR_MAX_BYTES", str(dense - 1))
    small = netmirror.ConvexNet("relu", 3, 0.1, dedup=False).fit(x, y)
    monkeypatch.setenv("NETMIRROR_MAX_BYTES", str(dense))
    fits = netmirror.ConvexNet("relu", 3, 0.1, dedup=False).fit(x, y)
    assert small.matrix_free_ and not fits.matrix_free_
    assert small.objective_ == pytest.approx(fits.objective_, rel=1e-10)


# --------------------------------------------------------------------------------------------------
# Ctrl-C and progress
def _interrupt_after(seconds):
    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    return timer


def test_ctrl_c_returns_the_best_iterate():
    rng = np.random.default_rng(6)
    x = rng.uniform(-1, 1, 200)
    y = np.sin(5 * x) + 0.1 * rng.standard_normal(200)
    lib = netmirror.library(x, "abs", 3)
    op = _core.LibraryOperator(lib._family, lib.raw_index)
    beta = 1e-4 * op.beta_max(y, True)
    timer = _interrupt_after(0.3)
    # tol 0 and 10^9 iterations: the call can only come back through the interrupt (no timed assertion needed)
    out = _core.lasso_solve_library(op, y, beta, True, 0.0, 10**9, None, None, False, None)
    timer.join()
    assert out["interrupted"] and not out["converged"]
    # a genuine certificate for the returned iterate
    A = lib.matrix()
    z, xi = out["coef"], out["intercept"]
    assert out["objective"] == pytest.approx(reference.lasso_objective(A, y, z, xi, beta), rel=1e-9)
    assert 0 <= out["gap"] <= out["objective"]

    # the public function: a warning and the best iterate (or, if Ctrl-C hit the statistics pass, a clear
    # KeyboardInterrupt; both come back fast)
    timer = _interrupt_after(0.3)
    try:
        with pytest.warns(netmirror.ConvergenceWarning, match="interrupted"):
            res = netmirror.lasso(lib, y, beta, tol=0.0, max_iter=10**9)
        assert res.interrupted and np.isfinite(res.objective)
    except KeyboardInterrupt:
        pass
    timer.join()

    # a path ends at the interrupted beta
    timer = _interrupt_after(0.3)
    try:
        with pytest.warns(netmirror.ConvergenceWarning, match="interrupted"):
            path = netmirror.lasso_path(lib, y, n_betas=20, tol=0.0, max_iter=10**9)
        assert 1 <= len(path.betas) < 20 and path.coefs.shape == (len(lib), len(path.betas))
    except KeyboardInterrupt:
        pass
    timer.join()


def test_ctrl_c_during_statistics_raises_keyboard_interrupt():
    x = np.random.default_rng(8).uniform(-1, 1, 80)
    lib = netmirror.library(x, "abs", 4, dedup=False)  # 6.1e6 columns: statistics take ~1 s
    timer = _interrupt_after(0.05)
    with pytest.raises(KeyboardInterrupt):
        _core.LibraryOperator(lib._family, None, "streaming")
    timer.join()


def test_progress_callback():
    rng = np.random.default_rng(9)
    x, y = rng.uniform(-1, 1, 40), rng.standard_normal(40)
    lib = netmirror.library(x, "relu", 3)
    seen = []
    op = _core.LibraryOperator(lib._family, lib.raw_index, "auto", seen.append)
    assert seen and seen[-1] == len(lib) == op.columns_evaluated  # statistics: every column once
    seen.clear()
    out = _core.lasso_solve_library(op, y, 0.1, True, 1e-10, 500, None, None, False, seen.append)
    assert out["converged"] and seen[-1] >= 3 * len(lib)  # at least two correlation passes
    assert seen == sorted(seen) and seen[-1] == op.columns_evaluated

    def boom(_):
        raise RuntimeError("progress failed")

    with pytest.raises(RuntimeError, match="progress failed"):
        _core.LibraryOperator(lib._family, None, "streaming", boom)
    netmirror.lasso(lib, y, 0.1, verbose=True)  # the tqdm bar path (stderr)


# --------------------------------------------------------------------------------------------------
# bad input
def test_bad_input():
    x = np.linspace(0, 1, 10)
    lib = netmirror.library(x, "relu", 3)
    y = np.sin(x)
    with pytest.raises(ValueError, match="length 10"):
        netmirror.lasso(lib, y[:-1], 0.1)
    with pytest.raises(ValueError, match="NaN"):
        netmirror.lasso(lib, np.where(x > 0.5, np.nan, y), 0.1)
    with pytest.raises(ValueError, match="beta"):
        netmirror.lasso(lib, y, -0.1)
    with pytest.raises(ValueError, match="coef_init"):
        netmirror.lasso(lib, y, 0.1, coef_init=np.zeros(3))
    with pytest.raises(ValueError, match="no features"):
        netmirror.lasso(netmirror.library(np.ones(5), "relu", 2), np.arange(5.0), 0.1)
    with pytest.raises(ValueError, match="length 10"):
        netmirror.beta_max(lib, y[:3])
    with pytest.raises(ValueError, match="matrix_free"):
        netmirror.ConvexNet("relu", 2, 0.1, matrix_free="yes").fit(x, y)
    with pytest.raises(ValueError, match="route"):
        _core.LibraryOperator(lib._family, None, "fast")
    with pytest.raises(ValueError, match="structured"):
        _core.LibraryOperator(netmirror.library(x, "sign", 2)._family, None, "structured")
    with pytest.raises(IndexError):
        _core.LibraryOperator(lib._family, np.array([0, lib.raw_size]))
    with pytest.raises(IndexError):
        _core.LibraryOperator(lib._family, np.array([-1]))
    op = _core.LibraryOperator(lib._family, lib.raw_index)
    with pytest.raises(ValueError, match="length"):
        op.tmul(np.ones(3))
    with pytest.raises(IndexError):
        op.tmul(y, np.array([len(lib)]))
    with pytest.raises(IndexError):
        op.column(-1)
    with pytest.raises(ValueError, match="y length"):
        _core.lasso_solve_library(op, y[:2], 0.1, True, 1e-10, 10, None, None, False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert netmirror.lasso(lib, y, 0.1).converged
