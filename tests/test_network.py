"""Networks rebuilt from Lasso solutions: forward pass == A z + xi at training and new points, penalty ==
beta~ ||z||_1, loss == Lasso objective, for every family; the construction's weights; bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netmirror
from netmirror import reference
from netmirror._network import _switching

from conftest import FAMILY_CASES, eval_points, family_params, half_plane_points, max_n, x_arrays

BINARY = ("sign", "threshold")


def make_lib(x, case, dedup=True):
    act, arch, depth, kw = case
    return netmirror.library(x, act, depth, architecture=arch, dedup=dedup, **kw)


def sparse_coef(rng, m, density=None):
    """Random sparse z: mixed signs, magnitudes 1e-8 .. 1e8, some exact zeros."""
    if density is None:
        density = rng.choice([0.0, 0.1, 0.5, 1.0])
    z = rng.choice([-1.0, 1.0], size=m) * 10.0 ** rng.uniform(-8, 8, size=m)
    z[rng.random(m) >= density] = 0.0
    return z


def check_network(lib, z, xi, beta, points):
    """The invariants reconstruct promises, at the training points and at `points`."""
    net = netmirror.reconstruct(lib, z, xi, beta)
    nz = np.flatnonzero(z)
    assert len(net) == nz.size == len(net.weights)
    np.testing.assert_array_equal(net.features, nz)
    np.testing.assert_array_equal(net.coef, z[nz])
    beta_t = beta * lib.beta_scale
    l1 = float(np.abs(z).sum())
    assert net.penalty() == pytest.approx(beta_t * l1, rel=1e-12, abs=1e-300)
    binary = lib.activation in BINARY
    tols = []
    for t in (lib.x, points):
        A = lib.matrix(t)
        f = net.forward(t)
        want = A @ z + xi
        if binary:  # units reproduce +-1 / 0-1 columns exactly: only the final sums round
            tol = 1e-13 * (abs(xi) + l1)
        else:  # rounding of x - a1 etc. scales with the input magnitude
            span = float(np.abs(t).max()) + float(np.abs(lib.x).max())
            tol = 1e-10 * (abs(xi) + float(np.abs(z) @ (np.abs(A).max(axis=0) + span)))
        assert np.abs(f - want).max(initial=0.0) <= tol
        tols.append(tol)
    # loss at the training data is the Lasso objective with beta~; a forward error e moves ½‖r‖² by at
    # most ‖r‖·‖e‖ + ½‖e‖²
    n = len(lib.x)
    y = lib.matrix() @ z + xi + np.linspace(-1.0, 1.0, n)
    obj = reference.lasso_objective(lib.matrix(), y, z, xi, beta_t)
    e = math.sqrt(n) * tols[0]
    r = math.sqrt(float(np.sum(np.linspace(-1.0, 1.0, n) ** 2)))
    assert abs(net.loss(lib.x, y) - obj) <= r * e + e * e + 1e-12 * obj + 1e-300
    return net


# ==================================================================================================
# every family: forward == A z + xi, penalty == beta~ ||z||_1, loss == objective
@pytest.mark.parametrize("case", family_params())
@settings(max_examples=8)
@given(data=st.data())
def test_network_matches_lasso(case, data):
    x = data.draw(x_arrays(max_n=min(9, max_n(case, 4000))), label="x")
    t = data.draw(eval_points(x), label="x_eval")
    dedup = data.draw(st.booleans(), label="dedup")
    lib = make_lib(x, case, dedup=dedup)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    z = sparse_coef(rng, len(lib))
    xi = data.draw(st.sampled_from([0.0, 1.5, -3e4, 1e-7]), label="xi")
    beta = data.draw(st.sampled_from([1e-6, 0.3, 1.0, 250.0]), label="beta")
    net = check_network(lib, z, xi, beta, t)
    # layer count: depth - 1 hidden layers in every unit
    assert all(len(u["layers"]) == case[2] - 1 for u in net.weights)


@pytest.mark.parametrize("case", family_params())
def test_each_unit_is_its_column(case):
    """One unit per column on small data: binary units exactly, piecewise-linear ones to rounding."""
    x = np.array([0.0, 2.0, 6.0, 7.0, 7.0, -3.5])[: max_n(case, 3000, cap=6)]
    lib = make_lib(x, case, dedup=False)
    t = np.concatenate([x, np.linspace(-6, 10, 41), np.nextafter(x, -np.inf), np.nextafter(x, np.inf)])
    A = lib.matrix(t)
    step = max(1, len(lib) // 100)
    for j in range(0, len(lib), step):
        e = np.zeros(len(lib))
        e[j] = -0.25 if j % 2 else 4.0  # squares: sqrt|z| splits exactly
        f = netmirror.reconstruct(lib, e, 0.0, 1.0).forward(t)
        if case[0] in BINARY:
            np.testing.assert_array_equal(f, e[j] * A[:, j])
        else:
            np.testing.assert_allclose(f, e[j] * A[:, j], rtol=0, atol=1e-12 * (1 + np.abs(A[:, j]).max()) * 10)


@settings(max_examples=40)
@given(x=half_plane_points(max_n=15), data=st.data())
def test_angular_sign_network(x, data):
    lib = netmirror.library(x, "sign", 2)
    assert not lib.fit_intercept
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    t = np.concatenate([x, rng.normal(size=(20, 2)), -2.0 * x])
    z = sparse_coef(rng, len(lib))
    net = check_network(lib, z, 0.0, 0.7, t)
    for u in net.weights:  # Lemma C.4: first-layer weight R_{pi/2} x_j, no bias
        j = int(lib.features["index"][u["feature"]][0])
        np.testing.assert_array_equal(u["layers"][0]["W"], [[-x[j, 1], x[j, 0]]])
        assert u["layers"][0]["b"][0] == 0.0


@pytest.mark.parametrize("act", BINARY)
@pytest.mark.parametrize("arch,widths", [("tree", (3, 3, 1)), ("tree", (2, 3, 2, 1)), ("tree", (1, 3, 1, 2, 1)),
                                         ("rectangular", (3, 3, 3, 3))])
def test_every_switching_pattern_with_odd_widths(act, arch, widths):
    """Every <= K-switch pattern (odd widths, ties included) is realised within the widths."""
    x = np.array([0.3, -1.2, 2.0, 0.3, 5.5, -4.0, 1.1])
    lib = netmirror.library(x, act, len(widths) + 1, architecture=arch, widths=widths, dedup=False)
    t = np.concatenate([x, np.linspace(-5, 6, 89), np.nextafter(x, -np.inf)])
    A = lib.matrix(t)
    z = np.random.default_rng(1).normal(size=len(lib))
    net = netmirror.reconstruct(lib, z, 0.25, 1.0)
    np.testing.assert_allclose(net.forward(t), A @ z + 0.25, rtol=0, atol=1e-12 * np.abs(z).sum())
    for u in net.weights:
        sizes = [layer["W"].shape[0] for layer in u["layers"]]
        assert sizes[-1] == 1
        if arch == "rectangular":
            assert all(s <= w for s, w in zip(sizes, widths))
        for li in range(1, len(sizes)):  # fan-in of a neuron at hidden layer li+1 <= widths[li-1]
            fan = np.count_nonzero(u["layers"][li]["W"], axis=1)
            assert fan.max() <= (widths[li - 1] if arch == "tree" else widths[0])
        one = np.zeros(len(lib))
        one[u["feature"]] = 1.0
        np.testing.assert_array_equal(netmirror.reconstruct(lib, one, 0.0, 1.0).forward(t), A[:, u["feature"]])


def test_switching_unit_too_wide_raises():
    lib = netmirror.library([0.0, 1.0, 2.0, 3.0], "sign", 3, architecture="tree", widths=(2, 1))
    with pytest.raises(ValueError, match="at most 2 switches"):
        _switching(lib, "sign", 0, 0, 1.0, 1, (0, 1, 2))


# ==================================================================================================
# the construction's weights
def test_relu_weights_are_authors_construction():
    x = np.array([0.0, 2.0, 6.0, 7.0])
    lib = netmirror.library(x, "relu", 4, dedup=False)
    prm = reference.nested_parameters(x, "relu", 4)
    rng = np.random.default_rng(3)
    z = sparse_coef(rng, len(lib), density=0.2)
    net = netmirror.reconstruct(lib, z, 0.0, 1.0)
    for u in net.weights:
        r, zr = u["raw_index"], u["coef"]
        g = abs(zr) ** (1 / 4)
        s, j = prm["s"][r], prm["j"][r]
        # the authors' construction: a1 = x[j1] or its reflection 2 x[j2] - x[j1]; anchors p_l = x[j_l]
        a1, p = (2 * x[j[1]] - x[j[0]] if prm["reflected"][r] else x[j[0]]), x[j]
        # kinks c_l in layer-l input units: c_1 = a1, c_l = g_{l-1}(p_l)
        c = [a1]
        for h in range(1, 3):
            v = max(s[0] * (p[h] - a1), 0.0)
            for k in range(1, h):
                v = max(s[k] * (v - c[k]), 0.0)
            c.append(v)
        for l, layer in enumerate(u["layers"]):
            assert layer["W"][0, 0] == pytest.approx(s[l] * g, rel=1e-14)
            assert layer["b"][0] == pytest.approx(-s[l] * c[l] * g ** (l + 1), rel=1e-12, abs=1e-12 * g ** (l + 1))
        assert u["output"][0] == pytest.approx(math.copysign(g, zr), rel=1e-14)
        assert u["amplitude"] == 1.0
        assert list(u["theta_w"]) == ["w1", "w2", "w3", "alpha"]
        assert sum(abs(q) ** 4 for q in u["theta_w"].values()) / 4 == pytest.approx(abs(zr), rel=1e-13)


def test_symmetrized_weights_are_tied_twins():
    x = np.array([0.0, 2.0, 6.0, 7.0])
    lib = netmirror.library(x, "leaky_relu", 3, architecture="symmetrized", slope=-0.3)
    assert lib.beta_scale == 0.5
    z = np.zeros(len(lib))
    z[[0, 3]] = [2.0, -16.0]
    net = netmirror.reconstruct(lib, z, 0.0, 3.0)
    for u in net.weights:
        g = (abs(u["coef"]) / 2) ** (1 / 3)
        W1, W2 = u["layers"][0]["W"], u["layers"][1]["W"]
        np.testing.assert_allclose(W1[:, 0], [g, -g], rtol=1e-14)
        assert W2.shape == (2, 2) and np.all(W2 == W2[0, 0]) and abs(W2[0, 0]) == pytest.approx(g, rel=1e-14)
        assert u["layers"][1]["b"][0] == u["layers"][1]["b"][1]
        np.testing.assert_allclose(u["output"], [math.copysign(g, u["coef"])] * 2, rtol=1e-14)
        assert set(u["theta_w"]) == {"w", "v", "alpha"}  # tied weights count once
    assert net.penalty() == pytest.approx(3.0 / 2 * 18.0, rel=1e-13)


@pytest.mark.parametrize("case", [c for c in FAMILY_CASES if c[0] in BINARY][:6])
def test_binary_units_split_z_between_amplitude_and_output(case):
    lib = make_lib(np.array([0.0, 1.0, 3.0, 4.5]), case)
    z = np.linspace(-3.0, 5.0, len(lib))
    net = netmirror.reconstruct(lib, z, 0.0, 2.0)
    assert net.penalty_power == 2
    for u in net.weights:
        a, alpha = u["theta_w"]["amplitude"], u["theta_w"]["alpha"]
        assert a == u["amplitude"] > 0 and alpha == u["output"][0]
        assert a == pytest.approx(abs(alpha), rel=1e-15) and a * alpha == pytest.approx(u["coef"], rel=1e-14)


def test_rebalanced_weights_cost_more():
    """Moving scale between layers keeps the function (positive homogeneity) but not the penalty: the
    rebuilt net sits at the AM-GM optimum."""
    lib = netmirror.library([0.0, 2.0, 6.0, 7.0], "relu", 3)
    z = np.zeros(len(lib))
    z[[1, 4]] = [3.0, -0.5]
    net = netmirror.reconstruct(lib, z, 0.2, 1.0)
    t = np.linspace(-1, 8, 31)
    u = net.weights[0]
    c = 1.7
    W1, b1 = u["layers"][0]["W"] * c, u["layers"][0]["b"] * c
    W2 = u["layers"][1]["W"] / c
    h = reference.activate("relu", W1[0, 0] * t + b1[0])
    h = reference.activate("relu", W2[0, 0] * h + u["layers"][1]["b"][0])
    f0 = netmirror.reconstruct(lib, np.where(np.arange(len(lib)) == 1, 3.0, 0.0), 0.0, 1.0).forward(t)
    np.testing.assert_allclose(u["output"][0] * h, f0, rtol=1e-12, atol=1e-12)
    rebalanced = (abs(W1[0, 0]) ** 3 + abs(W2[0, 0]) ** 3 + abs(u["output"][0]) ** 3) / 3
    assert rebalanced > abs(u["coef"]) * 1.01


def test_seed_toy_lasso_solution_is_a_network():
    x, y = netmirror.datasets.toy("zshape")
    for case in [("relu", "deep_narrow", 3, {}), ("abs", "deep_narrow", 4, {}),
                 ("relu", "symmetrized", 3, {}), ("sign", "tree", 4, {"widths": (2, 2, 2)})]:
        lib = make_lib(x, case)
        beta = 0.05
        sol = reference.lasso_cd(lib.matrix(), y, beta * lib.beta_scale)
        net = netmirror.reconstruct(lib, sol["coef"], sol["intercept"], beta)
        assert net.loss(x, y) == pytest.approx(sol["objective"], rel=1e-10)
        assert "unit 0" in net.describe() or len(net) == 0
        assert repr(net).startswith("<netmirror.Network")


def test_weights_layout_and_read_only():
    lib = netmirror.library([0.0, 2.0, 6.0, 7.0], "sign", 3, architecture="rectangular", widths=(2, 2))
    z = np.zeros(len(lib))
    z[-1] = -4.0
    net = netmirror.reconstruct(lib, z, 1.0, 1.0)
    (u,) = net.weights
    assert set(u) == {"feature", "raw_index", "coef", "layers", "amplitude", "output", "theta_w"}
    assert u["feature"] == len(lib) - 1 and u["coef"] == -4.0
    assert u["raw_index"] == int(lib.raw_indices()[-1])
    with pytest.raises(ValueError):
        u["layers"][0]["W"][0, 0] = 5.0
    assert net(lib.x).shape == (4,)
    assert "W =" in net.describe()


def test_zero_and_empty_solutions():
    lib = netmirror.library([0.0, 2.0, 6.0], "relu", 2)
    net = netmirror.reconstruct(lib, np.zeros(len(lib)), 1.5, 1.0)
    assert len(net) == 0 and net.penalty() == 0.0
    np.testing.assert_array_equal(net.forward([0.0, 9.0]), [1.5, 1.5])
    empty = netmirror.library([3.0, 3.0], "relu", 2)  # every column constant: nothing kept
    assert len(empty) == 0
    net = netmirror.reconstruct(empty, [], -2.0, 1.0)
    assert len(net) == 0 and net.loss([3.0, 3.0], [0.0, 0.0]) == 4.0


# ==================================================================================================
# bad input
def test_bad_input():
    lib = netmirror.library([0.0, 2.0, 6.0, 7.0], "relu", 2)
    m = len(lib)
    ok = np.ones(m)
    with pytest.raises(ValueError, match="entries but the library has"):
        netmirror.reconstruct(lib, np.ones(m + 1), 0.0, 1.0)
    with pytest.raises(ValueError, match="1-D"):
        netmirror.reconstruct(lib, np.ones((m, 1)), 0.0, 1.0)
    for bad in (np.nan, np.inf, -np.inf):
        z = ok.copy()
        z[1] = bad
        with pytest.raises(ValueError, match="NaN or infinite"):
            netmirror.reconstruct(lib, z, 0.0, 1.0)
    for bad in (["a"] * m, np.ones(m, dtype=complex), np.ones(m, dtype=bool)):
        with pytest.raises(ValueError, match="real numbers"):
            netmirror.reconstruct(lib, bad, 0.0, 1.0)
    for beta in (0.0, -1.0, np.nan, np.inf, "1", None, True):
        with pytest.raises(ValueError, match="beta must be a positive finite number"):
            netmirror.reconstruct(lib, ok, 0.0, beta)
    for xi in (np.nan, np.inf, "0", None):
        with pytest.raises(ValueError, match="intercept must be a finite real number"):
            netmirror.reconstruct(lib, ok, xi, 1.0)
    with pytest.raises(TypeError, match="netmirror.Library"):
        netmirror.reconstruct(lib.matrix(), ok, 0.0, 1.0)
    lib2 = netmirror.library(np.array([[1.0, 1.0], [-1.0, 2.0]]), "sign", 2)
    with pytest.raises(ValueError, match="intercept must be 0"):
        netmirror.reconstruct(lib2, np.ones(len(lib2)), 0.5, 1.0)
    net = netmirror.reconstruct(lib, ok, 0.0, 1.0)
    with pytest.raises(ValueError, match="1-D"):
        net.forward(np.ones((3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        net.forward([0.0, np.nan])
    with pytest.raises(ValueError, match="one value per point"):
        net.loss([0.0, 1.0], [1.0, 2.0, 3.0])
    net2 = netmirror.reconstruct(lib2, np.ones(len(lib2)), 0.0, 1.0)
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        net2.forward([0.0, 1.0])
