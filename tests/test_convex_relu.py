"""Convex two-layer ReLU networks: pattern kernels and cone projection against the NumPy reference, the
certified solver, the rebuilt network, the global certificate against networks trained by gradient descent
(PyTorch, skipped without it), real data and bad input."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netmirror
from netmirror import _core, reference


def design(X, bias=True):
    X = np.asarray(X, dtype=np.float64)
    return np.hstack([X, np.ones((X.shape[0], 1))]) if bias else X


@st.composite
def point_sets(draw, max_n=8, dims=(1, 2, 3)):
    """Points with ties, duplicate rows, zero rows and magnitudes 1e-4 .. 1e4 (grid values times 10**e)."""
    n = draw(st.integers(1, max_n))
    d = draw(st.sampled_from(dims))
    grid = st.integers(-8, 8).map(lambda v: v / 4.0)
    rows = draw(st.lists(st.lists(grid, min_size=d, max_size=d), min_size=n, max_size=n))
    X = np.array(rows, dtype=np.float64)
    if n > 1 and draw(st.booleans()):
        X[-1] = X[0]  # a duplicate point
    return X * 10.0 ** draw(st.integers(-4, 4))


def pattern_set(P):
    return {row.tobytes() for row in np.asarray(P, dtype=bool)}


# --------------------------------------------------------------------------------------------------
# patterns
@given(point_sets(), st.booleans(), st.integers(0, 2**31 - 1))
def test_sampled_patterns_equal_reference(X, bias, seed):
    Xa = design(X, bias)
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((60, Xa.shape[1]))
    U[5] = 0.0                      # u = 0: every point ties, pattern all ones
    U[7] = U[3]                     # repeated direction
    U[9] = -U[3]
    pats, first = _core.relu_patterns(Xa, U)
    ref_pats, ref_first = reference.distinct_patterns(Xa, U)
    np.testing.assert_array_equal(pats, ref_pats)
    np.testing.assert_array_equal(first, ref_first)


@pytest.mark.parametrize("n, d, bias", [(6, 1, True), (9, 2, True), (12, 2, True), (8, 3, False), (7, 3, True),
                                        (10, 2, False)])
def test_exact_patterns_count_and_reference(n, d, bias):
    # Gaussian points are in general position: 2 sum_{i<k} C(n-1, i) chambers, less the all-negative one
    # (it exists with a bias: u = (0, ..., 0, -1)).
    rng = np.random.default_rng(n * 10 + d)
    X = rng.standard_normal((n, d))
    pats = netmirror.relu_patterns(X, bias=bias)
    k = d + bias
    count = reference.general_position_chambers(n, k)
    if bias:
        assert len(pats) == count - 1
    else:  # the all-negative chamber exists iff the points lie in an open half-space
        assert len(pats) in (count, count - 1)
    assert pattern_set(pats) == pattern_set(reference.exact_patterns(design(X, bias))[0])
    # Every pattern a random direction produces is a chamber pattern (Gaussian directions avoid the faces).
    U = rng.standard_normal((20000, k))
    sampled = (design(X, bias) @ U.T >= 0).T
    assert {r.tobytes() for r in sampled if r.any()} <= pattern_set(pats)


@given(point_sets(max_n=7, dims=(1, 2)), st.booleans())
@settings(max_examples=40)
def test_exact_patterns_cover_sampled_directions(X, bias):
    # Ties, duplicates and zero rows: the enumeration still finds the pattern of every generic direction.
    Xa = design(X, bias)
    pats = _core.relu_patterns(Xa, _core.relu_arrangement_points(Xa, 1e-12))[0]
    U = np.random.default_rng(0).standard_normal((3000, Xa.shape[1]))
    sampled = _core.relu_patterns(Xa, U)[0]
    assert pattern_set(sampled) <= pattern_set(pats)
    assert len(pats) <= reference.general_position_chambers(len(reference.arrangement_hyperplanes(Xa)), Xa.shape[1])


# --------------------------------------------------------------------------------------------------
# cone projection
@given(point_sets(max_n=8), st.booleans(), st.integers(0, 2**31 - 1))
def test_cone_projection_equals_reference(X, bias, seed):
    Xa = design(X, bias)
    rng = np.random.default_rng(seed)
    pattern = rng.random(Xa.shape[0]) < 0.5
    z = rng.standard_normal(Xa.shape[1]) * 10.0 ** rng.integers(-3, 4)
    p, nrm = _core.relu_cone_project(Xa, pattern, z)
    G = np.where(pattern, 1.0, -1.0)[:, None] * Xa
    unit = G / np.maximum(np.linalg.norm(Xa, axis=1), 1e-300)[:, None]
    ref_p, _ = reference.cone_projection(G, z)
    scale = np.linalg.norm(z)
    assert nrm == pytest.approx(np.linalg.norm(p), rel=1e-14, abs=0)
    assert nrm <= scale * (1 + 1e-12)
    # ||p|| bounds max_{u in K, ||u|| <= 1} z^T u from above by construction (p = z + G^T lam, lam >= 0); any
    # feasible u bounds it from below. The kernel's p is feasible and closes the bracket, to rounding amplified
    # by nearly parallel constraint normals (QR: eps / sin of their angle; these grids reach 2.5e-5 rad).
    assert (unit @ p >= -1e-10 * scale).all()
    lower = max(0.0, float(z @ p) / nrm) if nrm > 0 else 0.0  # u = 0 is feasible
    assert nrm - lower <= 1e-10 * scale
    if (unit @ ref_p >= 0).all() and np.linalg.norm(ref_p) > 0:  # scipy's NNLS, when it is feasible
        assert nrm >= float(z @ ref_p) / np.linalg.norm(ref_p) - 1e-12 * scale
    np.testing.assert_allclose(p, ref_p, atol=1e-6 * scale)


@given(point_sets(max_n=8), st.booleans(), st.integers(0, 2**31 - 1), st.booleans())
def test_cone_interior_equals_reference(X, bias, seed, chamber):
    # The largest-margin direction (least-distance programming) of chamber patterns (interior exists) and of
    # random ones (often empty interior), against scipy's NNLS on the same LDP.
    Xa = design(X, bias)
    rng = np.random.default_rng(seed)
    if chamber:
        pats = _core.relu_patterns(Xa, rng.standard_normal((8, Xa.shape[1])))[0]
        pattern = pats[rng.integers(len(pats))] if len(pats) else np.ones(Xa.shape[0], bool)
    else:
        pattern = rng.random(Xa.shape[0]) < 0.5
    u, margin = _core.relu_cone_interior(Xa, pattern)
    ref_u, ref_margin = reference.cone_interior_direction(Xa, pattern)
    assert margin == pytest.approx(ref_margin, rel=1e-8, abs=1e-10)
    norms = np.linalg.norm(Xa, axis=1)
    G = np.where(pattern, 1.0, -1.0)[norms > 0, None] * Xa[norms > 0] / norms[norms > 0, None]
    if margin > 0:
        assert np.linalg.norm(u) == pytest.approx(1.0, rel=1e-14)
        assert (G @ u >= margin * (1 - 1e-12)).all()
        if ref_margin > 1e-6:  # a unique maximiser: the directions agree
            np.testing.assert_allclose(u, ref_u, atol=1e-7)
    else:
        np.testing.assert_array_equal(u, 0.0)


@given(point_sets(max_n=6, dims=(1, 2)), st.booleans(), st.floats(0.05, 0.9), st.integers(0, 2**31 - 1))
@settings(max_examples=25, deadline=None)
def test_barrier_equals_reference(X, bias, frac, seed):
    # The interior-point kernel against its NumPy transcription, in the well-conditioned part of the central
    # path (nu / tau down to 1e-3 of 1/2 ||y||^2), and the central path's certificate: theta = r is dual
    # feasible for every group (all patterns are in), so the gap is at most nu / tau.
    Xa = design(X, bias)
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(Xa.shape[0]) * 10.0 ** rng.integers(-2, 3)
    pats = netmirror.relu_patterns(X, bias=bias)
    P = len(pats)
    beta = frac * float(np.abs(Xa.T @ y).sum())  # below beta_max for most draws
    groups = np.concatenate([pats, pats])
    signs = np.concatenate([np.ones(P), -np.ones(P)])
    target = 1e-3 * 0.5 * float(y @ y)
    got = _core.convex_relu_barrier(Xa, y, groups, signs, beta, target, 400)
    ref = reference.convex_relu_barrier(Xa, y, groups, signs, beta, target)
    assert got["nu"] == ref["nu"]
    assert got["reached"] == ref["reached"]
    if not got["reached"]:
        return
    assert got["tau"] == pytest.approx(ref["tau"], rel=1e-12)
    if got["newton"] == ref["newton"]:  # the same path, step for step
        assert got["objective"] == pytest.approx(ref["objective"], rel=1e-8)
        scale = max(np.abs(ref["coef"]).max(), 1e-300)
        np.testing.assert_allclose(got["coef"], ref["coef"], atol=1e-6 * scale)
    else:
        # A line-search test decided by rounding took a different branch (seen on duplicated zero rows: 40 vs 32
        # Newton steps): both are still central points of the same tau, so both objectives lie within the
        # central path's bound nu / tau of the optimum, hence of each other.
        assert abs(got["objective"] - ref["objective"]) <= got["nu"] / got["tau"]
    V, W = got["coef"][:P], got["coef"][P:]
    assert reference.convex_relu_cone_violation(Xa, pats, V, W) == 0.0  # strictly feasible
    gap, _ = reference.convex_relu_dual_gap(Xa, y, pats, V, W, beta)
    assert gap <= 1.05 * got["nu"] / got["tau"] + 1e-12 * float(y @ y)


# --------------------------------------------------------------------------------------------------
# solver and certificate
def small_problem(seed, n=12, d=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, -1] + 0.1 * rng.standard_normal(n)
    return X, y


@pytest.mark.parametrize("seed", [1, 2])
def test_solution_certified_by_reference(seed):
    X, y = small_problem(seed)
    beta = 0.3
    res = netmirror.convex_relu(X, y, beta, patterns="exact", tol=1e-10)
    assert res.exact and res.converged
    Xa = design(X)
    obj = reference.convex_relu_objective(Xa, y, res.patterns, res.V, res.W, beta)
    assert obj == pytest.approx(res.objective, rel=1e-12)
    assert reference.convex_relu_cone_violation(Xa, res.patterns, res.V, res.W) <= 1e-12 * np.abs(res.V).max()
    gap, _ = reference.convex_relu_dual_gap(Xa, y, res.patterns, res.V, res.W, beta, theta=res.dual)
    assert 0.0 <= res.gap <= 1e-10 * 0.5 * float(y @ y)
    assert gap == pytest.approx(res.gap, abs=1e-12 * obj)
    # The rebuilt network: one unit per nonzero group, its regularised loss is the convex objective.
    net = res.network
    assert net.width == int((np.linalg.norm(res.V, axis=1) > 0).sum() + (np.linalg.norm(res.W, axis=1) > 0).sum())
    assert res.network_objective == pytest.approx(res.objective, rel=1e-12)
    U = np.hstack([net.weights, net.biases[:, None]])
    assert reference.relu_network_loss(U, net.output, Xa, y, beta) == pytest.approx(res.objective, rel=1e-12)
    assert res.global_gap == pytest.approx(res.gap, abs=1e-12 * obj)


@pytest.mark.parametrize("seed, n, beta", [(0, 12, 0.03), (3, 8, 0.03), (3, 12, 0.2), (4, 12, 0.1)])
def test_small_beta_converges(seed, n, beta):
    # Fits of the convergence sweep (bench/bench_convex_relu.py --sweep) that block CD alone left at gaps of
    # 1e-5 .. 2e-4 after 30 outer iterations; the interior-point solve of the working set finds their face.
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.standard_normal(n)
    res = netmirror.convex_relu(X, y, beta, patterns="exact", tol=1e-10, max_iter=30)
    assert res.converged and res.relative_gap <= 1e-10
    gap, _ = reference.convex_relu_dual_gap(design(X), y, res.patterns, res.V, res.W, beta, theta=res.dual)
    assert gap == pytest.approx(res.gap, abs=1e-12 * res.objective)
    assert res.network_objective == pytest.approx(res.objective, rel=1e-12)


def test_warm_start_at_the_optimum():
    X, y = small_problem(4)
    res = netmirror.convex_relu(X, y, 0.1, patterns="exact", tol=1e-11)
    out = _core.convex_relu_solve(design(X), y, res.patterns, 0.1, 1e-11, 50, False, np.vstack([res.V, res.W]))
    assert out["n_iter"] == 0 and out["converged"]
    assert out["objective"] == pytest.approx(res.objective, rel=1e-13)
    with pytest.raises(ValueError, match="init must have shape"):
        _core.convex_relu_solve(design(X), y, res.patterns, 0.1, 1e-11, 50, False, res.V)


def test_agrees_with_reference_proximal_gradient():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((5, 1))
    y = rng.standard_normal(5)
    beta = 0.2
    res = netmirror.convex_relu(X, y, beta, patterns="exact", tol=1e-12)
    ref = reference.convex_relu_pgd(design(X), y, res.patterns, beta, tol=1e-7, max_iter=20000)
    # Both are certified: each optimum lies within the other's gap.
    assert res.objective - res.gap <= ref["objective"] + 1e-12
    assert ref["objective"] - ref["gap"] <= res.objective + 1e-12
    assert ref["objective"] == pytest.approx(res.objective, abs=ref["gap"] + res.gap + 1e-12)


@given(point_sets(max_n=7, dims=(1, 2)), st.booleans(), st.floats(0.25, 0.9), st.integers(0, 2**31 - 1))
@settings(max_examples=25)
def test_lower_bound_below_every_network(X, bias, frac, seed):
    # The dual value over every chamber bounds the loss of any ReLU net, of any width: random nets and the
    # rebuilt one included. beta is a fraction of the smallest beta with the zero network optimal.
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    y = rng.standard_normal(n) * np.abs(X).max() if np.abs(X).max() > 0 else rng.standard_normal(n)
    Xa = design(X, bias)
    pats = netmirror.relu_patterns(X, bias=bias)
    if len(pats) == 0:
        return
    beta_max = reference.convex_relu_dual_bound(Xa, pats, y)
    if not beta_max > 0:
        return
    beta = frac * beta_max
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", netmirror.ConvergenceWarning)
        res = netmirror.convex_relu(X, y, beta, patterns=pats, bias=bias, tol=1e-8, max_iter=20)
    assert res.gap >= 0.0
    assert res.lower_bound <= res.objective + 1e-12 * res.objective
    scale = max(res.objective, 1e-300)
    assert res.network_objective == pytest.approx(res.objective, rel=1e-9, abs=1e-12 * scale)
    for width in (1, 3, 8):
        for _ in range(5):
            U = rng.standard_normal((width, Xa.shape[1])) * np.sqrt(beta_max) / max(np.abs(Xa).max(), 1e-300) ** 0.5
            alpha = rng.standard_normal(width) * np.sqrt(beta_max) / max(np.abs(Xa).max(), 1e-300) ** 0.5
            loss = reference.relu_network_loss(U, alpha, Xa, y, beta)
            assert loss >= res.lower_bound - 1e-12 * max(loss, scale)


def test_sampled_patterns_are_not_exact():
    X, y = small_problem(1, n=20, d=3)
    res = netmirror.convex_relu(X, y, 0.5, patterns=200, seed=1, tol=1e-7)
    assert not res.exact and res.global_gap is None
    assert res.converged and res.gap <= 1e-7 * 0.5 * float(y @ y)
    assert res.patterns.shape[1] == 20 and len(res.patterns) <= 200
    # More patterns can only lower the optimum: the exact problem's optimum is below the sampled one.
    full = netmirror.convex_relu(X, y, 0.5, patterns="exact", tol=1e-7)
    assert full.objective - full.gap <= res.objective + 1e-12


def test_zero_network_above_beta_max():
    X, y = small_problem(2, n=8)
    Xa = design(X)
    pats = netmirror.relu_patterns(X)
    beta = 1.01 * reference.convex_relu_dual_bound(Xa, pats, y)
    res = netmirror.convex_relu(X, y, beta, patterns="exact")
    assert res.network.width == 0 and res.objective == pytest.approx(0.5 * float(y @ y))
    np.testing.assert_array_equal(res.predict(X), np.zeros(8))


def test_no_bias_and_one_dimensional_input():
    rng = np.random.default_rng(5)
    x = rng.standard_normal(9)
    y = np.abs(x) + 0.05 * rng.standard_normal(9)
    res = netmirror.convex_relu(x, y, 0.1, bias=False, patterns="exact", tol=1e-10)
    assert res.converged and res.exact and len(res.patterns) == 2  # u > 0 and u < 0
    assert np.all(res.network.biases == 0.0) and not res.network.bias
    assert res.network_objective == pytest.approx(res.objective, rel=1e-12)


# --------------------------------------------------------------------------------------------------
# gradient descent never beats the certificate (PyTorch)
def _train_torch(X, y, beta, width, seed, steps=600):
    import torch

    torch.manual_seed(seed)
    Xt = torch.tensor(X, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64)
    W1 = (torch.randn(width, X.shape[1], dtype=torch.float64) * 0.5).requires_grad_()
    b1 = (torch.randn(width, dtype=torch.float64) * 0.5).requires_grad_()
    a = (torch.randn(width, dtype=torch.float64) * 0.5).requires_grad_()

    def loss_fn():
        pred = torch.relu(Xt @ W1.T + b1) @ a
        return 0.5 * ((pred - yt) ** 2).sum() + 0.5 * beta * ((W1 ** 2).sum() + (b1 ** 2).sum() + (a ** 2).sum())

    opt = torch.optim.Adam([W1, b1, a], lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(loss_fn())


@pytest.mark.parametrize("seed", [1, 2])
def test_gradient_descent_never_beats_the_convex_optimum(seed):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    X, y = small_problem(seed, n=10)
    beta = 0.3
    res = netmirror.convex_relu(X, y, beta, patterns="exact", tol=1e-10)
    assert res.exact and res.converged
    losses = [_train_torch(X, y, beta, width, 100 * seed + s) for width in (2, 6, 24) for s in range(2)]
    tol = 1e-9 * res.objective
    assert min(losses) >= res.lower_bound - tol, (losses, res.lower_bound)
    # The rebuilt network, evaluated by PyTorch, reaches the optimum.
    net = res.network
    with torch.no_grad():
        pred = torch.relu(torch.tensor(X) @ torch.tensor(net.weights).T + torch.tensor(net.biases)) @ torch.tensor(
            net.output)
        loss = 0.5 * float(((pred - torch.tensor(y)) ** 2).sum()) + beta * net.penalty()
    assert loss == pytest.approx(res.objective, rel=1e-12)
    assert loss - res.lower_bound <= 1e-10 * 0.5 * float(y @ y)


def _train_numpy(X, y, beta, width, seed, steps=2000, lr=0.02):
    """Adam on the same regularised loss as _train_torch, gradients by hand (runs without PyTorch)."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((width, X.shape[1])) * 0.5, rng.standard_normal(width) * 0.5,
              rng.standard_normal(width) * 0.5]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]

    def loss_and_grad(W1, b1, a):
        z = X @ W1.T + b1
        h = np.maximum(z, 0.0)
        r = h @ a - y
        loss = 0.5 * r @ r + 0.5 * beta * ((W1 ** 2).sum() + (b1 ** 2).sum() + (a ** 2).sum())
        dz = np.outer(r, a) * (z > 0)
        return loss, [dz.T @ X + beta * W1, dz.sum(axis=0) + beta * b1, h.T @ r + beta * a]

    for t in range(1, steps + 1):
        _, grads = loss_and_grad(*params)
        for p, g, mi, vi in zip(params, grads, m, v):
            mi *= 0.9
            mi += 0.1 * g
            vi *= 0.999
            vi += 0.001 * g * g
            p -= lr * (mi / (1 - 0.9 ** t)) / (np.sqrt(vi / (1 - 0.999 ** t)) + 1e-8)
    return float(loss_and_grad(*params)[0])


@pytest.mark.parametrize("seed, beta", [(1, 0.3), (2, 0.1), (3, 0.03)])
def test_adam_from_many_starts_never_beats_the_convex_optimum(seed, beta):
    # Without PyTorch too: 24 Adam runs (widths 2 to 60, 2,000 steps) on the non-convex training loss never go
    # below the certified lower bound over all ReLU nets, and the best of them comes within 1% of it (measured
    # 0.0-0.4%: the bound is tight), while the rebuilt network reaches it.
    X, y = small_problem(seed, n=10)
    res = netmirror.convex_relu(X, y, beta, patterns="exact", tol=1e-10)
    assert res.exact and res.converged
    losses = [_train_numpy(X, y, beta, width, 1000 * seed + s) for width in (2, 6, 24, 60) for s in range(6)]
    assert min(losses) >= res.lower_bound - 1e-9 * res.objective, (min(losses), res.lower_bound)
    assert min(losses) <= 1.01 * res.lower_bound, (min(losses), res.lower_bound)
    assert res.global_gap <= 1e-10 * 0.5 * float(y @ y)


# --------------------------------------------------------------------------------------------------
# real data: scikit-learn's diabetes set, reduced by PCA
def test_diabetes_pca():
    from sklearn.datasets import load_diabetes
    from sklearn.decomposition import PCA

    X, y = load_diabetes(return_X_y=True)
    Z = PCA(2, random_state=0).fit_transform(X[:60])
    Z /= Z.std(axis=0)
    t = (y[:60] - y[:60].mean()) / y[:60].std()
    res = netmirror.convex_relu(Z, t, 2.0, patterns="exact", tol=1e-8)
    assert res.exact and res.converged
    assert res.network_objective == pytest.approx(res.objective, rel=1e-10)
    r2 = 1.0 - float(((res.predict(Z) - t) ** 2).sum()) / float((t ** 2).sum())
    assert 0.0 < r2 < 1.0


# --------------------------------------------------------------------------------------------------
# few samples in many dimensions: the program is solved in the row space of the design (rank r <= N)
def _unreduced(Xa, y, pats, beta, tol):
    """The solver on the full design (k = d + bias columns), as convex_relu ran it before the reduction."""
    return _core.convex_relu_solve(Xa, y, pats, beta, tol, 200, False)


def _check_same_solution(res, X, y, beta, bias, rel):
    """res (reduced) against the unreduced solve on the same patterns and the NumPy reference certificate."""
    Xa = design(X, bias)
    p0 = 0.5 * float(y @ y)
    full = _unreduced(Xa, y, res.patterns, beta, 1e-13)
    slack = rel * p0 + res.gap + full["gap"]
    assert abs(res.objective - full["objective"]) <= slack
    assert abs(res.lower_bound - full["dual_objective"]) <= slack
    assert res.V.shape == (len(res.patterns), Xa.shape[1]) and res.Vr.shape[1] == res.rank
    # The groups in the input coordinates: the NumPy reference recomputes objective, feasibility and gap.
    obj = reference.convex_relu_objective(Xa, y, res.patterns, res.V, res.W, beta)
    assert obj == pytest.approx(res.objective, rel=1e-10, abs=1e-13 * p0)
    top = max(np.abs(res.V).max(), np.abs(res.W).max(), 1e-300)
    assert reference.convex_relu_cone_violation(Xa, res.patterns, res.V, res.W) <= 1e-10 * top * np.abs(Xa).max()
    gap, _ = reference.convex_relu_dual_gap(Xa, y, res.patterns, res.V, res.W, beta, theta=res.dual)
    assert gap == pytest.approx(res.gap, abs=1e-10 * p0)
    assert res.network_objective == pytest.approx(res.objective, rel=1e-10, abs=1e-13 * p0)
    if res.exact:
        assert res.global_gap <= res.gap + 1e-10 * p0


@pytest.mark.parametrize("n, d, bias", [(5, 8, True), (5, 8, False), (4, 4, True), (6, 17, True)])
def test_rank_reduction_matches_the_unreduced_solve(n, d, bias):
    rng = np.random.default_rng(10 * n + d)
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    res = netmirror.convex_relu(X, y, 0.1, patterns="exact", bias=bias, tol=1e-13)
    assert res.rank == n and res.basis.shape == (d + bias, n)  # rows independent: r = N < k
    np.testing.assert_allclose(res.basis.T @ res.basis, np.eye(n), atol=1e-14)
    # Independent rows: every sign vector is a chamber (2^N - 1 patterns without the dead one).
    assert len(res.patterns) == 2 ** n - 1
    assert pattern_set(res.patterns) == pattern_set(reference.exact_patterns(design(X, bias))[0])
    _check_same_solution(res, X, y, 0.1, bias, 1e-10)


@st.composite
def wide_problems(draw):
    """N <= 6 points in d in [N, 3N] dimensions, sometimes of lower rank (X = A B), with a duplicated point,
    a scale 10^-3 .. 10^3 and targets of either sign."""
    n = draw(st.integers(1, 6))
    d = draw(st.integers(n, 3 * n))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    inner = draw(st.integers(1, n))
    X = rng.standard_normal((n, inner)) @ rng.standard_normal((inner, d)) if draw(st.booleans()) else \
        rng.standard_normal((n, d))
    if n > 1 and draw(st.booleans()):
        X[-1] = X[0]
    X *= 10.0 ** draw(st.integers(-3, 3))
    y = rng.standard_normal(n)
    return X, y


@given(wide_problems(), st.booleans(), st.floats(0.05, 0.9))
@settings(max_examples=30, deadline=None)
def test_rank_reduction_hypothesis(problem, bias, frac):
    X, y = problem
    Xa = design(X, bias)
    beta = frac * float(np.abs(Xa.T @ y).max()) + 1e-12
    res = netmirror.convex_relu(X, y, beta, patterns="exact", bias=bias, tol=1e-12)
    assert res.rank == np.linalg.matrix_rank(Xa)
    assert pattern_set(res.patterns) == pattern_set(reference.exact_patterns(Xa)[0])
    _check_same_solution(res, X, y, beta, bias, 1e-9)


def test_rank_reduction_invariant_under_rotation_and_feature_permutation():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((5, 9))
    y = rng.standard_normal(5)
    R = np.linalg.qr(rng.standard_normal((9, 9)))[0]
    base = netmirror.convex_relu(X, y, 0.05, patterns="exact", tol=1e-13)
    p0 = 0.5 * float(y @ y)
    for Xt in (X @ R, X[:, rng.permutation(9)]):
        other = netmirror.convex_relu(Xt, y, 0.05, patterns="exact", tol=1e-13)
        assert pattern_set(other.patterns) == pattern_set(base.patterns)  # the same chambers
        for name in ("objective", "lower_bound", "network_objective"):
            assert abs(getattr(other, name) - getattr(base, name)) <= 1e-10 * p0, name
        # the optimal fit is unique (strictly convex loss): within sqrt(gap) of each other
        fit_gap = np.sqrt(8 * (base.gap + other.gap + 1e-13 * p0))
        assert np.abs(other.predict(Xt) - base.predict(X)).max() <= fit_gap + 1e-9


def test_many_features_fast_within_a_small_memory_limit():
    # 5 x 12,000 ran out of memory (4.5 GB before std::bad_alloc under a 1 GiB limit: a 12,001^2 basis per
    # level of the chamber recursion and a 12,001^2 Gram per pattern) and 5 x 1,000 took minutes: both are
    # 5-dimensional problems.
    rng = np.random.default_rng(0)
    y = rng.standard_normal(5)
    previous = netmirror.set_memory_limit(64 * 2**20)
    try:
        for d in (1000, 12000):
            X = rng.standard_normal((5, d))
            res = netmirror.convex_relu(X, y, 0.1)
            assert res.exact and res.converged and res.rank == 5 and len(res.patterns) == 31
            assert res.network.weights.shape[1] == d
            assert res.network_objective == pytest.approx(res.objective, rel=1e-9)
            assert res.global_gap <= 1e-8 * 0.5 * float(y @ y) + 1e-12
    finally:
        netmirror.set_memory_limit(previous)


def test_sampled_patterns_unchanged_by_the_reduction():
    # Directions are drawn in the input coordinates (the same stream as before) and projected on the basis.
    rng = np.random.default_rng(2)
    X = rng.standard_normal((6, 11))
    pats = netmirror.relu_patterns(X, samples=3000, seed=5)
    U = np.random.default_rng(5).standard_normal((3000, 12))
    np.testing.assert_array_equal(pats, _core.relu_patterns(design(X), U)[0])


def test_exact_patterns_for_low_rank_data_in_many_dimensions():
    # 30 points on a 3-D subspace of R^50: the arrangement lives in the row space of [X, 1] (rank 4), where it
    # has at most 2 sum_{i<4} C(29, i) chambers; in R^51 the bound was 2^30 and "exact" was refused.
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 3)) @ rng.standard_normal((3, 50))
    pats = netmirror.relu_patterns(X)
    assert len(pats) == reference.general_position_chambers(30, 4) - 1
    sampled = netmirror.relu_patterns(X, samples=20000, seed=0)
    assert pattern_set(sampled) <= pattern_set(pats)


def test_exact_refused_when_the_enumeration_is_too_long():
    # 82,452 chambers at most (under the 2,000,000 cap), but the recursion over the hyperplanes visits
    # 18!/10! flats: refused up front (it used to run out of memory: 2^8 18!/10! candidate points).
    X = np.random.default_rng(0).standard_normal((18, 7))
    with pytest.raises(ValueError, match=r"costs about .*samples=m"):
        netmirror.relu_patterns(X)


def test_memory_limit_names_the_estimate_and_a_way_around():
    X, y = small_problem(0, n=400, d=3)
    previous = netmirror.set_memory_limit(2 * 2**20)
    try:
        with pytest.raises(MemoryError, match=r"needs about .*patterns=m with a smaller m"):
            netmirror.convex_relu(X[:40], y[:40], 0.1, patterns=np.random.default_rng(0).random((6000, 40)) < 0.5)
        with pytest.raises(MemoryError, match="pattern array .*pass fewer patterns"):
            netmirror.convex_relu(X, y, 0.1, patterns=np.random.default_rng(0).random((6000, 400)) < 0.5)
        with pytest.raises(MemoryError, match="sample fewer directions"):
            netmirror.convex_relu(X, y, 0.1, patterns=200_000)
    finally:
        netmirror.set_memory_limit(previous)


@pytest.mark.skipif(bool(os.environ.get("NETMIRROR_SANITIZED")),
                    reason="ASan aborts on an impossible allocation instead of throwing std::bad_alloc")
def test_bad_alloc_is_a_memory_error_that_says_what_to_do():
    # A C++ allocation failure (here forced by an address-space limit in a child process) reaches Python as a
    # MemoryError with a message, never as 'std::bad_alloc' (which `netmirror fit` would print as is).
    import subprocess
    import sys

    code = """
import resource, numpy as np
from netmirror import _core
X = np.ones((2, 10000)); y = np.ones(2); pats = np.ones((10**6, 2), dtype=bool)
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, hard))
try:
    _core.convex_relu_solve(X, y, pats, 0.1, 1e-8, 10, False)
except MemoryError as err:
    print("MemoryError:", err)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                         env={**os.environ, "NETMIRROR_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    assert "MemoryError: out of memory" in out.stdout, out.stdout + out.stderr
    assert "bad_alloc" not in out.stdout and "set_memory_limit" in out.stdout


class _Interrupter:
    """Interrupts the main thread once, `delay` seconds in (as Ctrl-C does); waits for the timer on exit."""

    def __init__(self, delay):
        import _thread
        import threading

        self.timer = threading.Timer(delay, _thread.interrupt_main)

    def __enter__(self):
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.join()
        return False


def test_ctrl_c_inside_long_steps_of_the_unreduced_solve():
    # The full 5 x 1,001 design (as convex_relu solved it before the reduction): each 1,001 x 1,001 Jacobi sweep
    # and Newton polish ran for seconds without looking at the stop flag (Ctrl-C took 137 s). It cannot finish
    # here (tol = 0); the iterate comes back interrupted with its own certificate.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 1000))
    y = rng.standard_normal(5)
    Xa = design(X)
    pats = netmirror.relu_patterns(X)
    with _Interrupter(0.3):
        out = _core.convex_relu_solve(Xa, y, pats, 0.1, 0.0, 10**6, False)
    assert out["interrupted"] and not out["converged"]
    obj = reference.convex_relu_objective(Xa, y, pats, out["V"], out["W"], 0.1)
    assert out["objective"] == pytest.approx(obj, rel=1e-9)
    gap, _ = reference.convex_relu_dual_gap(Xa, y, pats, out["V"], out["W"], 0.1, theta=out["dual"])
    assert out["gap"] == pytest.approx(gap, rel=1e-6, abs=1e-12 * obj)


def test_ctrl_c_stops_pattern_sampling():
    # 3,000,000 directions on 128 points: the pattern kernel now watches for Ctrl-C and raises
    # KeyboardInterrupt without finishing (it used to run to the end first).
    rng = np.random.default_rng(0)
    Xa = design(rng.standard_normal((128, 2)))
    U = rng.standard_normal((3_000_000, 3))
    result = None
    with pytest.raises(KeyboardInterrupt), _Interrupter(0.2):
        result = _core.relu_patterns(Xa, U)
    assert result is None


# --------------------------------------------------------------------------------------------------
# bad input
@pytest.mark.parametrize("kwargs, error, match", [
    ({"X": np.array([[0.0, np.nan]] * 3)}, ValueError, "NaN"),
    ({"X": np.zeros((3, 2, 1))}, ValueError, "shape"),
    ({"X": np.array([["a", "b"]] * 3)}, TypeError, "numeric"),
    ({"y": np.ones(4)}, ValueError, "length 3"),
    ({"y": np.array([1.0, np.inf, 0.0])}, ValueError, "NaN or inf"),
    ({"beta": 0.0}, ValueError, "beta"),
    ({"beta": -1.0}, ValueError, "beta"),
    ({"patterns": "all"}, ValueError, "'auto', 'exact'"),
    ({"patterns": 0}, ValueError, "samples"),
    ({"patterns": np.ones((2, 5), dtype=bool)}, ValueError, r"\(P, 3\)"),
    ({"patterns": np.zeros((2, 3), dtype=bool)}, ValueError, "all zero"),
    ({"patterns": np.full((2, 3), 2)}, ValueError, "0/1"),
    ({"max_iter": 0}, ValueError, "max_iter"),
    ({"tol": -1.0}, ValueError, "tol"),
    ({"seed": "x", "patterns": 10}, TypeError, "seed"),
])
def test_bad_input(kwargs, error, match):
    args = {"X": np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]]), "y": np.array([1.0, 0.0, 2.0]), "beta": 0.1}
    args.update(kwargs)
    X, y, beta = args.pop("X"), args.pop("y"), args.pop("beta")
    with pytest.raises(error, match=match):
        netmirror.convex_relu(X, y, beta, **args)


def test_exact_refused_when_too_many_chambers():
    X = np.random.default_rng(0).standard_normal((3000, 5))
    with pytest.raises(ValueError, match="samples=m"):
        netmirror.relu_patterns(X)


# --------------------------------------------------------------------------------------------------
# netmirror fit on multi-column CSV input
def test_cli_fit_multi_column(tmp_path, capsys):
    import json

    from netmirror import cli

    X, y = small_problem(1, n=10)
    path = tmp_path / "data.csv"
    np.savetxt(path, np.column_stack([y, X]), delimiter=",", header="y,a,b", comments="")
    out = tmp_path / "fit.json"
    assert cli.main(["fit", str(path), "--beta", "0.3", "--tol", "1e-9", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "d = 2 dimensions" in text and "global certificate" in text
    fit = json.loads(out.read_text())
    res = netmirror.convex_relu(X, y, 0.3, tol=1e-9)
    assert fit["objective"] == pytest.approx(res.objective, rel=1e-9)
    net = netmirror.ReluNetwork(np.array(fit["network"]["weights"]).reshape(-1, 2), np.array(fit["network"]["biases"]),
                                np.array(fit["network"]["output"]))
    assert net.loss(X, y, 0.3) == pytest.approx(fit["objective"], rel=1e-9)


@pytest.mark.parametrize("content, extra, match", [
    ("a,b,c\n1,2,3\n4,5,6\n", [], "name the target column y"),
    ("1,2,3\n4,5\n", [], "line 2 has 2 values"),
    ("1,2,3\n4,x,6\n", [], "cannot read 'x'"),
    ("1,2,3\n4,5,6\n", ["--activation", "abs"], "two-layer ReLU"),
    ("1,2,3\n4,5,6\n", ["--patterns", "many"], "--patterns"),
    ("1,2,3\n4,5,6\n", ["--plot", "f.png"], "--plot"),
])
def test_cli_fit_multi_column_bad_input(tmp_path, capsys, content, extra, match):
    from netmirror import cli

    path = tmp_path / "data.csv"
    path.write_text(content)
    assert cli.main(["fit", str(path), *extra]) == 2
    assert match in capsys.readouterr().err


def test_pattern_memory_budget(monkeypatch):
    monkeypatch.setenv("NETMIRROR_MAX_BYTES", "100000")
    X = np.random.default_rng(0).standard_normal((500, 2))
    with pytest.raises(MemoryError, match="sample fewer directions"):
        netmirror.relu_patterns(X, samples=10_000)
