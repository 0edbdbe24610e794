"""beta = 0 (the minimum-l1 least-squares fit, an LP) and tiny beta: against HiGHS, with basic supports,
duplicates, tied rows and data spread over many orders of magnitude (_limit.py, basis_pursuit.hpp,
dual_active_set.hpp)."""
import warnings

import netmirror as nm
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netmirror import _limit
from scipy.optimize import linprog


def highs_basis_pursuit(A, y):
    """min ||z||_1 s.t. P A z = P y (P: centring), by HiGHS on the split LP."""
    Ac = A - A.mean(0)
    yc = y - y.mean()
    m = A.shape[1]
    res = linprog(np.ones(2 * m), A_eq=np.hstack([Ac, -Ac]), b_eq=yc, bounds=(0, None), method="highs")
    assert res.status == 0
    return res.x[:m] - res.x[m:], res.fun


def lasso_certificate(A, y, z, beta, theta=None):
    """Duality gap of z recomputed from scratch (intercept fitted): primal - the best dual value of two points
    made feasible here, the residual whose part in the columns' span is rescaled into |A^T theta| <= beta (the
    part orthogonal to it has zero correlations) and, when given, the solver's dual point (centred and rescaled
    here: its feasibility is checked, not assumed)."""
    Ac = A - A.mean(0)
    yc = y - y.mean()
    r = yc - Ac @ z
    rperp = yc - Ac @ np.linalg.lstsq(Ac, yc, rcond=None)[0]
    rpar = r - rperp
    cperp, cpar = np.abs(Ac.T @ rperp), np.abs(Ac.T @ rpar)
    if (cperp < beta).all():
        th = rperp + rpar / max(1.0, (cpar / (beta - cperp)).max())
    else:
        th = r / max(1.0, np.abs(Ac.T @ r).max() / beta)
    primal = 0.5 * r @ r + beta * np.abs(z).sum()
    dual = yc @ th - 0.5 * th @ th
    if theta is not None:
        t = np.asarray(theta, dtype=np.float64) - np.mean(theta)
        t = t / max(1.0, np.abs(Ac.T @ t).max() / beta)
        dual = max(dual, yc @ t - 0.5 * t @ t)
    return primal, primal - dual


def support_rank(A, z):
    nz = np.flatnonzero(z)
    X = A[:, nz] - A[:, nz].mean(0)
    return nz.size, (np.linalg.matrix_rank(X) if nz.size else 0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(4, 24), activation=st.sampled_from(["relu", "abs", "leaky_relu"]),
       depth=st.integers(2, 3))
def test_beta_zero_matches_highs_and_is_basic(seed, n, activation, depth):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-2, 2, n))
    if np.unique(x).size < n:
        return
    y = rng.standard_normal(n)
    lib = nm.library(x, activation, depth, slope=0.3 if activation == "leaky_relu" else None)
    A = lib.matrix()
    res = nm.lasso(A, y, 0.0)
    _, l1_highs = highs_basis_pursuit(A, y)
    assert res.converged
    l1 = np.abs(res.coef).sum()
    assert l1 == pytest.approx(l1_highs, rel=1e-7, abs=1e-9)
    # interpolates (the library spans every function on distinct points) ...
    assert np.abs(A @ res.coef + res.intercept - y).max() <= 1e-8 * max(1.0, np.abs(y).max(), l1)
    # ... with a basic solution: independent support columns, at most N - 1 of them
    k, rank = support_rank(A, res.coef)
    assert k == rank <= n - 1
    # the certificate: a dual-feasible u with y^T u = ||z||_1 - gap
    u = res.dual
    assert np.abs((A - A.mean(0)).T @ u).max() <= 1 + 1e-9
    assert (y - y.mean()) @ u == pytest.approx(l1 - res.gap, rel=1e-9, abs=1e-9)


def test_beta_zero_tall_full_rank_is_least_squares():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((60, 8))
    y = A @ rng.standard_normal(8) + 0.1 * rng.standard_normal(60) + 5.0
    res = nm.lasso(A, y, 0.0)
    Ac = A - A.mean(0)
    z_ls = np.linalg.lstsq(Ac, y - y.mean(), rcond=None)[0]
    np.testing.assert_allclose(res.coef, z_ls, rtol=1e-9, atol=1e-12)
    assert res.converged


def test_tiny_beta_tall_full_rank_converges():
    rng = np.random.default_rng(4)
    A = rng.standard_normal((200, 20))
    y = A @ rng.standard_normal(20) + rng.standard_normal(200)
    bmax = nm.beta_max(A, y)
    res = nm.lasso(A, y, 1e-12 * bmax)
    assert res.converged
    _, gap = lasso_certificate(A, y, res.coef, 1e-12 * bmax, res.dual)
    assert gap <= 1e-10 * 0.5 * np.sum((y - y.mean()) ** 2)


@pytest.mark.parametrize("f", [1e-7, 1e-9, 1e-12])
def test_tiny_beta_relu_depth3_certified_and_sparse(f):
    rng = np.random.default_rng(0)
    n = 60
    x = np.sort(rng.uniform(-1, 1, n))
    y = np.sin(3 * x) + 0.3 * rng.standard_normal(n)
    A = nm.library(x, "relu", 3).matrix()
    p0 = 0.5 * np.sum((y - y.mean()) ** 2)
    beta = f * p0
    res = nm.lasso(A, y, beta)
    assert res.converged
    primal, gap = lasso_certificate(A, y, res.coef, beta, res.dual)
    assert primal == pytest.approx(res.objective, rel=1e-9)
    assert gap <= 2e-10 * p0
    # l1 norm below the limit's (the Lasso's l1 grows to the basis pursuit optimum as beta -> 0)
    _, l1_bp = highs_basis_pursuit(A, y)
    assert np.abs(res.coef).sum() <= l1_bp * (1 + 1e-8)
    k, rank = support_rank(A, res.coef)
    assert k == rank <= n + 1


def test_duplicate_columns():
    rng = np.random.default_rng(5)
    x = np.sort(rng.uniform(-1, 1, 15))
    y = rng.standard_normal(15)
    A = nm.library(x, "relu", 3).matrix()
    A2 = np.asfortranarray(np.hstack([A, A, 2.0 * A[:, :5] + 1.0]))  # exact and scaled-shifted duplicates
    for beta in (0.0, 1e-8):
        r1 = nm.lasso(A, y, beta)
        r2 = nm.lasso(A2, y, beta)
        assert r2.converged
        if beta == 0.0:
            # the scaled copies (2a + 1) are cheaper in l1: the optimum can only fall
            assert np.abs(r2.coef).sum() <= np.abs(r1.coef).sum() * (1 + 1e-9)
        k, rank = support_rank(A2, r2.coef)
        assert k == rank


def test_tied_rows_are_merged_exactly():
    rng = np.random.default_rng(6)
    xu = np.sort(rng.uniform(-1, 1, 12))
    x = np.repeat(xu, rng.integers(1, 4, 12))
    y = np.sin(2 * x) + 0.2 * rng.standard_normal(x.size)
    lib = nm.library(x, "relu", 3)
    A = lib.matrix()
    assert _limit.merge_rows(A, y) is not None
    # beta = 0: the fit is the group means (least squares), with minimum l1
    res = nm.lasso(lib, y, 0.0)
    means = np.array([y[x == v].mean() for v in xu])
    fit = A @ res.coef + res.intercept
    np.testing.assert_allclose([fit[x == v][0] for v in xu], means, atol=1e-9)
    Au = nm.library(xu, "relu", 3).matrix()
    # the same problem on the merged rows (HiGHS) - columns of lib on the distinct points
    first = np.unique(x, return_index=True)[1]
    _, l1 = highs_basis_pursuit(A[first], means)
    assert np.abs(res.coef).sum() == pytest.approx(l1, rel=1e-7)
    assert Au.shape[0] == xu.size
    # tiny beta: the certificate on the original (unmerged) rows
    p0 = 0.5 * np.sum((y - y.mean()) ** 2)
    beta = 1e-8 * p0
    r2 = nm.lasso(lib, y, beta)
    assert r2.converged
    _, gap = lasso_certificate(A, y, r2.coef, beta, r2.dual)
    assert gap <= 2e-10 * p0


@pytest.mark.parametrize("x, activation, slope", [(np.logspace(0, 8, 8), "relu", None),
                                                  (np.array([0.0, 1.0, 1e10]), "leaky_relu", -0.5)])
def test_data_over_many_orders_of_magnitude(x, activation, slope):
    from netmirror import reference
    y = np.sin(np.arange(x.size, dtype=float)) + np.arange(x.size)
    lib = nm.library(x, activation, 3, slope=slope)
    A = lib.matrix()
    p0 = 0.5 * np.sum((y - y.mean()) ** 2)
    for f in (0.0, 1e-8, 1e-4):
        if f == 0.0 and x.size == 3:
            continue  # the LP limit fits y only through cancellations of 1e10-sized terms: no float64 certificate
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            # beta = 0: the LP certificate's floor is the rounding of y^T u with columns spread over 1e8 (2e-10)
            res = nm.lasso(lib, y, f * p0, tol=1e-9 if f == 0 else 1e-10)
        assert res.converged
        if f > 0 and A.shape[1] <= 5:
            # features that differ by 1e-10 relative: certified in rational arithmetic (_limit.exact_certificate);
            # here against the exact optimum of the same float64 data
            p_star, _ = reference.lasso_exact(A, y, f * p0)
            assert res.objective - float(p_star) <= 1e-10 * p0
            k, rank = support_rank(A, res.coef)
            assert k == rank
        elif f > 0:
            _, gap = lasso_certificate(A, y, res.coef, f * p0, res.dual)
            assert gap <= 1e-9 * p0


def test_beta_zero_refuses_what_it_cannot_assemble(monkeypatch):
    from netmirror import _lasso
    monkeypatch.setattr(_lasso, "_LIMIT_MAX_ENTRIES", 10)
    x = np.linspace(0, 1, 10)
    with pytest.raises(ValueError, match="beta = 0 needs the dense"):
        nm.lasso(nm.library(x, "relu", 2), np.sin(x), 0.0)


def test_negative_beta_still_refused():
    with pytest.raises(ValueError):
        nm.lasso(np.eye(3), np.ones(3), -1.0)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(3, 7), m=st.integers(1, 5), log_f=st.floats(-12, 0),
       duplicate_column=st.booleans(), tied_rows=st.booleans(), offset=st.sampled_from([0.0, 1e6]))
def test_dual_active_set_matches_exact_rational_lasso(seed, n, m, log_f, duplicate_column, tied_rows, offset):
    """The kernel behind tiny beta (dual_active_set.hpp, via _limit.solve) against reference.lasso_exact: the
    optimal objective to rounding, a basic support, and a certified gap over every column."""
    from netmirror import reference
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, m)) + offset
    if duplicate_column and m > 1:
        A[:, -1] = A[:, 0]
    if tied_rows:
        A[-1] = A[0]
    y = rng.standard_normal(n)
    yc = y - y.mean()
    Ac = A - A.mean(0)
    bmax = np.abs(Ac.T @ yc).max()
    if not bmax > 0:
        return
    beta = 10.0**log_f * bmax
    p_star, _ = reference.lasso_exact(A, y, beta)
    p0 = 0.5 * float(yc @ yc)
    out = _limit.solve(np.asfortranarray(A), y, beta, True, 1e-12, None)
    z = out["coef"]
    primal, gap = lasso_certificate(A, y, z, beta)
    assert primal - float(p_star) <= 1e-9 * p0 + 1e-12 * abs(float(p_star))
    k, rank = support_rank(A, z)
    assert k == rank
    res = nm.lasso(A, y, beta)
    assert res.converged
    primal, gap = lasso_certificate(A, y, res.coef, beta, res.dual)
    assert gap <= 1e-9 * p0
    assert primal - float(p_star) <= 1e-9 * p0


def test_lasso_path_ends_at_zero_and_starts_tiny_betas_from_the_limit():
    rng = np.random.default_rng(3)
    x = np.sort(rng.uniform(-1, 1, 40))
    y = np.sin(3 * x) + 0.1 * rng.standard_normal(40)
    lib = nm.library(x, "relu", 3)
    A = lib.matrix()
    bmax = nm.beta_max(lib, y)
    betas = np.r_[bmax * np.logspace(0, -10, 6), 0.0]
    for design in (lib, A):
        path = nm.lasso_path(design, y, betas=betas)
        assert path.converged.all()
        assert path.betas[-1] == 0.0
        last = path.coefs[:, [-1]].toarray().ravel()
        _, l1 = highs_basis_pursuit(A, y)
        assert np.abs(last).sum() == pytest.approx(l1, rel=1e-8)
        for k, beta in enumerate(path.betas[:-1]):
            z = path.coefs[:, [k]].toarray().ravel()
            _, gap = lasso_certificate(A, y, z, beta)
            assert gap <= 1e-9 * 0.5 * np.sum((y - y.mean()) ** 2)
    with pytest.raises(ValueError, match="non-negative"):
        nm.lasso_path(A, y, betas=[1.0, -1.0])
