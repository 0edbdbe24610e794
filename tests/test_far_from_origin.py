"""Data far from the origin: libraries and Lasso certificates that must not depend on where the data sit.

Libraries of relu / leaky_relu / abs nets are functions of differences of inputs, so translating x (exactly,
on a dyadic grid) must keep every feature, the deduplicated size and the optimum; a Lasso column of tiny spread
against its mean (A = 1e8 + 1e-6 t) is a real column, and the certificate must account for it. Optima are
compared with reference.lasso_exact (rational arithmetic on the same float64 data).
"""
from __future__ import annotations

import math

import netmirror
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netmirror import reference

PIECEWISE_LINEAR = [("relu", 2, {}), ("relu", 3, {}), ("abs", 3, {}), ("leaky_relu", 3, {"slope": 0.25}),
                    ("leaky_relu", 2, {"slope": -0.5})]


def _grid_points(draw, n_min=2, n_max=9):
    """Points k/64 with |k| <= 640 (exact after adding an integer offset below 2^46)."""
    ks = draw(st.lists(st.integers(-640, 640), min_size=n_min, max_size=n_max))
    return np.asarray(ks, dtype=np.float64) / 64.0


# --------------------------------------------------------------------------------------------------
# libraries
@pytest.mark.parametrize("offset", [1e13, 1e15])
def test_relu_library_on_large_integers_keeps_every_feature(offset):
    """x = offset + arange(10): before, depth-2 ReLU kept 10 of 20 features at 1e13 (optimum 0.4536 instead of
    0.4370) and none at 1e15 ("every column is constant")."""
    t = np.arange(10.0)
    y = np.sin(t)
    base = netmirror.library(t, "relu", 2)
    lib = netmirror.library(offset + t, "relu", 2)
    assert len(lib) == len(base) == 17
    np.testing.assert_array_equal(lib.raw_index, base.raw_index)
    np.testing.assert_array_equal(lib.matrix(), base.matrix())
    beta = 1e-2
    r0 = netmirror.lasso(base.matrix(), y, beta)
    r1 = netmirror.lasso(lib.matrix(), y, beta)
    assert r1.objective == pytest.approx(r0.objective, rel=1e-12)
    net = netmirror.reconstruct(lib, r1.coef, r1.intercept, beta)
    assert net.loss(offset + t, y) == pytest.approx(r1.objective, rel=1e-9)
    # matrix-free on the shifted library: the same optimum
    r2 = netmirror.lasso(lib, y, beta)
    assert r2.objective == pytest.approx(r0.objective, rel=1e-10)


@pytest.mark.parametrize("act,depth,kw", PIECEWISE_LINEAR)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_library_is_translation_invariant(act, depth, kw, data):
    """Translating the data by an integer up to 1e12 (exact on the 1/64 grid) keeps the kept features, the columns
    (to rounding of the range) and the Lasso optimum."""
    x = _grid_points(data.draw)
    c = float(data.draw(st.integers(-10**12, 10**12), label="offset"))
    y = np.asarray(data.draw(st.lists(st.integers(-20, 20), min_size=x.size, max_size=x.size)), float) / 4
    base = netmirror.library(x, act, depth, **kw)
    lib = netmirror.library(x + c, act, depth, **kw)
    assert len(lib) == len(base)
    origin = getattr(lib, "frame_shift", 0.0)
    assert origin == 0.0 or np.any(x + c == origin)  # the frame's origin is a data point
    span = max(float(np.ptp(x)), 1.0)
    np.testing.assert_allclose(lib.matrix(), base.matrix(), rtol=0, atol=1e-12 * span)
    t = np.arange(-704, 705, 37) / 64.0  # grid points: t + c is exact too
    np.testing.assert_allclose(lib.matrix(t + c), base.matrix(t), rtol=0, atol=1e-12 * span)
    if len(base) == 0 or np.ptp(y) == 0:
        return
    beta = 0.05 * netmirror.beta_max(base.matrix(), y)
    r0 = netmirror.lasso(base.matrix(), y, beta)
    r1 = netmirror.lasso(lib.matrix(), y, beta)
    p0 = reference.lasso_null_objective(y)
    assert abs(r1.objective - r0.objective) <= 1e-9 * p0
    net = netmirror.reconstruct(lib, r1.coef, r1.intercept, beta)
    assert abs(net.loss(x + c, y) - r1.objective) <= 1e-8 * p0


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_library_frame_origin(data):
    """The frame's origin is 0 when the data straddle their spread, else a data point within a factor 2 of every
    point, so that x - origin is exact (Sterbenz)."""
    x = _grid_points(data.draw, n_min=1)
    c = float(data.draw(st.integers(-10**12, 10**12)))
    z = x + c
    o = netmirror._library.frame_origin(z, "relu")
    assert o == reference.frame_origin(z, "relu")
    if o == 0.0:
        assert max(abs(z.min()), abs(z.max())) <= 2 * np.ptp(z)
    else:
        assert o in z
        d = z - o
        np.testing.assert_array_equal(d + o, z)  # exact: no digits lost
    assert netmirror._library.frame_origin(z, "sign") == 0.0  # comparisons are exact in the original frame


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_plane_library_is_translation_invariant(data):
    """d-D abs libraries (reflection planes) translated by integer offsets up to 1e12 per coordinate: the same kept
    features (before: 24 of 28 planes and 804 of 1589 depth-3 features at 1e12), columns and optimum; the rebuilt
    network's loss is the Lasso objective."""
    d = data.draw(st.integers(2, 3), label="d")
    n = data.draw(st.integers(d + 1, 6), label="n")
    depth = data.draw(st.integers(2, 3), label="depth") if d == 2 else 2
    ks = data.draw(st.lists(st.integers(-320, 320), min_size=n * d, max_size=n * d, unique=True), label="grid")
    X = np.asarray(ks, dtype=np.float64).reshape(n, d) / 64.0
    c = np.array([float(data.draw(st.integers(-10**12, 10**12), label="offset")) for _ in range(d)])
    y = np.asarray(data.draw(st.lists(st.integers(-8, 8), min_size=n, max_size=n), label="y"), float)
    base = netmirror.library(X, "abs", depth)
    lib = netmirror.library(X + c, "abs", depth)
    assert len(lib) == len(base)
    np.testing.assert_allclose(lib.matrix(), base.matrix(), rtol=0, atol=1e-11)
    if np.ptp(y) == 0:
        return
    beta = 0.1
    r0, r1 = netmirror.lasso(base, y, beta), netmirror.lasso(lib, y, beta)
    p0 = reference.lasso_null_objective(y)
    assert abs(r1.objective - r0.objective) <= 1e-9 * p0
    net = lib.reconstruct(r1.coef, r1.intercept, beta)
    assert abs(net.loss(X + c, y) - r1.objective) <= 1e-8 * p0


def test_describe_and_features_name_original_positions():
    x = 1e9 + np.array([0.0, 4, 5, 7, 10, 11])
    lib = netmirror.library(x, "abs", 3)
    base = netmirror.library(x - 1e9, "abs", 3)
    assert lib.frame_shift != 0.0
    np.testing.assert_allclose(lib.features["a1"], base.features["a1"] + 1e9, rtol=0, atol=1e-6)
    assert "1e+09" in lib.describe(0) or "100000" in lib.describe(0)


# --------------------------------------------------------------------------------------------------
# the Lasso certificate
def _beta_max_exact(A, y):
    """||Ac^T yc||_inf in rational arithmetic on the float64 data."""
    from fractions import Fraction as F
    n = A.shape[0]
    yy = [F(float(v)) for v in y]
    yc = [v - sum(yy) / n for v in yy]
    best = 0.0
    for j in range(A.shape[1]):
        col = [F(float(v)) for v in A[:, j]]
        mc = sum(col) / n
        best = max(best, float(abs(sum((a - mc) * b for a, b in zip(col, yc)))))
    return best


def test_tiny_spread_column_is_not_dropped():
    """A = 1e8 + 1e-6 t, y = t, beta = 1e-8: before, z = 0 came back 'converged' with gap 0 and objective 332.5,
    while the optimum is 0.0101588 at z = 999825.29."""
    t = np.arange(20.0)
    A = (1e8 + 1e-6 * t)[:, None]
    beta = 1e-8
    p_star, z_star = reference.lasso_exact(A, t, beta)
    assert netmirror.beta_max(A, t) > beta
    res = netmirror.lasso(A, t, beta)
    assert res.converged
    assert res.coef[0] == pytest.approx(float(z_star[0]), rel=1e-9)
    assert res.objective == pytest.approx(float(p_star), rel=1e-9)
    assert res.objective - res.gap <= float(p_star) * (1 + 1e-12)


def test_exactly_constant_columns_are_absorbed():
    A = np.column_stack([np.full(6, 0.1), np.arange(6.0), np.full(6, 3e12)])
    y = np.array([0.0, 1, 0, 2, 1, 3])
    res = netmirror.lasso(A, y, 0.1)
    assert res.coef[0] == 0.0 and res.coef[2] == 0.0 and res.converged


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_certificate_holds_for_columns_far_from_the_origin(data):
    """Random small problems whose columns sit at offsets up to 1e12 with spreads from 1e-6 to 1e3 and betas from
    1e-9 to 1 x beta_max: objective - gap never exceeds the exact optimum, and the objective is within tol of it."""
    n = data.draw(st.integers(3, 8), label="n")
    m = data.draw(st.integers(1, 3), label="m")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    offsets = [data.draw(st.sampled_from([0.0, 1.0, 1e4, -1e8, 1e12, -3e11]), label="offset") for _ in range(m)]
    spreads = [10.0 ** data.draw(st.integers(-6, 3), label="spread") for _ in range(m)]
    A = np.column_stack([o + s * rng.standard_normal(n) for o, s in zip(offsets, spreads)])
    y = rng.standard_normal(n) * 10.0 ** data.draw(st.integers(-3, 3), label="y scale")
    bmax = _beta_max_exact(A, y)
    if not bmax > 0:
        return
    beta = bmax * 10.0 ** data.draw(st.integers(-9, 0), label="beta exponent")
    p_star, _ = reference.lasso_exact(A, y, beta)
    p_star = float(p_star)
    res = netmirror.lasso(A, y, beta, tol=1e-10, max_iter=2000)
    p0 = reference.lasso_null_objective(y)
    slack = 1e-13 * max(p0, abs(p_star))  # float64 rounding of the objective itself
    assert res.objective - res.gap <= p_star + slack, (res.objective, res.gap, p_star)
    if res.converged:
        assert res.objective <= p_star + 1e-10 * p0 + slack
        assert math.isfinite(res.intercept)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_beta_max_far_from_the_origin(data):
    """beta_max = ||Ac^T yc||_inf computed exactly, for columns at offsets up to 1e12."""
    n = data.draw(st.integers(2, 10))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    o = data.draw(st.sampled_from([0.0, 1e6, -1e9, 1e12]))
    A = o + rng.standard_normal((n, 2)) * 10.0 ** data.draw(st.integers(-6, 2))
    y = rng.standard_normal(n)
    assert netmirror.beta_max(A, y) == pytest.approx(_beta_max_exact(A, y), rel=1e-9, abs=1e-300)


def test_constant_target_far_from_the_origin_is_fitted():
    """y = 1e12 + 1e-3 t varies: before, the solver treated it as constant (p0 <= 1e-28 ybar^2 n)."""
    t = np.arange(20.0)
    A = t[:, None]
    y = 1e12 + 1e-3 * t
    res = netmirror.lasso(A, y, 1e-9)
    assert res.coef[0] == pytest.approx(1e-3, rel=1e-3)


@pytest.mark.parametrize("make", [lambda c: netmirror.library(c + np.array([0.0, 4, 5, 7, 10, 11]), "abs", 3),
                                  lambda c: netmirror.library(c + np.array([[0.0, 1], [2, 0], [1, 3], [4, 4]]), "abs",
                                                              2)])
def test_warm_start_check_evaluates_the_library_in_its_frame(make):
    """The warm-start check computes A z from the library's kernel coordinates: the same as lib.matrix() @ z,
    also when the library works in a shifted frame."""
    from netmirror._lasso import _apply
    lib = make(1e12)
    assert np.any(lib.frame_shift)
    z = np.random.default_rng(0).standard_normal(len(lib))
    np.testing.assert_allclose(_apply(lib, z), lib.matrix() @ z, rtol=1e-12, atol=1e-12)
