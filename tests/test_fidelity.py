"""Lasso fidelity: the optimum over each library equals the optimum over the network's continuous parameters.

Training a net with weight decay is the Lasso  min ½‖Az + ξ1 − y‖² + β̃‖z‖₁  over the library (seed 000 §3,
docs/libraries.md). The library claims to hold every feature that can matter at the optimum, so adding the
network's features over a dense grid of its continuous parameters (breakpoints, deeper biases, all signs;
tests/_grid.py builds them from the network definitions, independently of the library code) must not lower
the optimum. Checked three ways for every family of FAMILY_CASES, on the toy data and on small fixed data
with ties and unsorted inputs, at β̃ ∈ {1e-3, 1e-2, 1e-1}·β_max and β̃ = 0.1:

1. dual: θ = the certified dual point of netmirror.lasso on the library; every grid column must satisfy
   |ãᵀθ| ≤ β̃(1 + 1e-7) (+ ‖ã‖√(2·gap), the distance the certificate allows between θ and the optimum θ*);
2. sharp dual: with the exact θ* (tests/_grid.exact_lasso, an active-set projection in ≤ 6 dimensions), the
   sup over the *continuous* parameters (grid, then zooming in around the best points) is ≤ β̃(1 + 1e-9);
3. primal: P_lib (netmirror.lasso objective) ≤ certified lower bound (objective − gap) of netmirror.lasso on
   [A_lib, grid columns, refined best feature] + 1e-8·max(1, P(0)).

Sign/threshold nets with width: the grid is the exact set of patterns the architecture realises at the data
(tests/_grid.tree_patterns / rectangular_patterns enumerate every threshold function layer by layer; random
weights of the real architecture must land inside it), and the library's pattern set must equal it (this
checks the "≤ K switches, all realisable" claim in both directions). Depth monotonicity: where
library(L) ⊆ library(L + 1) the optimum can only go down with depth.

The random-data test draws new data on every run (NM_FID_EXAMPLES sets its example count, 10 by default).
Missing vertex types these tests found, and the library now enumerates: weighted midpoints, midpoint levels
and three-point first breakpoints of V-shaped units, and the reflected inner kink of symmetrized nets
(docs/libraries.md §1.1, §2).
"""
from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netmirror

import _grid
from conftest import FAMILY_CASES, case_id, x_arrays

# --------------------------------------------------------------------------------------------------
# data: the toy sets of the papers and small fixed sets with ties / unsorted inputs (N ≤ 6)
DATA = {name: (x.copy(), y.copy()) for name, (x, y, _) in netmirror.datasets.TOY.items()}
DATA["ties"] = (np.array([1.5, -0.5, 1.5, 3.0, 0.25, -2.0]),
                np.array([0.0012, 0.2987, -0.2741, -0.8906, -0.4547, -0.9916]))
DATA["mirror"] = (np.array([0.75, -1.0, -1.5, 1.25, 1.0, -0.5]),
                  np.array([1.7313, 1.3859, -1.6858, -0.3778, -2.7285, -0.6464]))
DATA["mirror2"] = (np.array([0.75, -1.0, 1.25, -1.75, 2.0, 1.0]),
                   np.array([0.2132, -0.7508, -1.7254, -0.7996, 1.0796, -0.3287]))
DATA["five"] = (np.array([0.3, -1.2, 2.2, 0.9, -0.1]), np.array([0.5, -1.0, 0.8, 1.5, -0.3]))
DATA["pairs"] = (np.array([2.0, -1.0, 2.0, 0.5, -1.0]), np.array([1.0, 0.2, 0.4, -0.7, -0.1]))
DATA["sym_ties"] = (np.array([0.75, -0.75, -1.75, 1.25, 0.0, -1.75]),
                    np.array([-0.8387, 1.1976, 0.5258, -0.0934, -1.1514, -0.5666]))
DATA["sym5"] = (np.array([-0.25, -1.5, 0.25, -2.0, -1.75]), np.array([-1.0341, -0.5302, -0.7031, 0.1263, 0.6719]))

FRACTIONS = (1e-3, 1e-2, 1e-1)
ABS_BETA = 0.1
UNION_COLUMNS = 300  # grid columns (evenly strided) that go into the primal (union) solve, besides the best ones
UNION_TOP = 100  # and the grid columns nearest to violating the library's dual constraint

def make_lib(x, case):
    act, arch, depth, kw = case
    return netmirror.library(x, act, depth, architecture=arch, **kw)


def make_grid(x, case, size="full"):
    """The network's features over a dense grid of its continuous parameters (independent of the library)."""
    act, arch, depth, kw = case
    if arch == "symmetrized":
        n = 61 if size == "full" else 31
        return _grid.SymmetrizedGrid(x, act, kw.get("slope"), n_ac=n, n_b=n)
    if arch == "deep_narrow":
        H = depth - 1
        if size == "full":
            n_a, n_c = {1: 801, 2: 121, 3: 31, 4: 15}[H], {1: 0, 2: 121, 3: 25, 4: 15}[H]
        else:
            n_a, n_c = {1: 201, 2: 41, 3: 15, 4: 9}[H], {1: 0, 2: 41, 3: 13, 4: 9}[H]
        return _grid.NestedGrid(x, act, depth, kw.get("slope"), n_a=n_a, n_c=n_c)
    widths = kw["widths"]
    exact = (_grid.tree_patterns if arch == "tree" else _grid.rectangular_patterns)(x, act, depth, widths)
    return _grid.PatternGrid(exact.T)


def realised_patterns(x, case):
    act, arch, depth, kw = case
    return (_grid.tree_patterns if arch == "tree" else _grid.rectangular_patterns)(x, act, depth, kw["widths"])


def solve(A, y, beta, fit_intercept):
    """netmirror.lasso's certified solution, warm-started from the exact optimum (tests/_grid.exact_lasso).

    The warm start keeps this file fast and independent of how quickly the compiled solver converges cold on
    these nearly collinear dictionaries; what is used below (objective, gap, dual point) is still the compiled
    solver's own certificate, and it must bracket the exact optimum. Returns (netmirror result, exact)."""
    ex = _grid.exact_lasso(A, y, beta, fit_intercept=fit_intercept)
    with warnings.catch_warnings():
        warnings.simplefilter("error", netmirror.ConvergenceWarning)
        res = netmirror.lasso(np.asfortranarray(A), y, beta, fit_intercept=fit_intercept, tol=1e-12,
                              coef_init=ex.coef)
    tiny = 1e-12 * max(1.0, ex.p0)
    assert res.objective - res.gap - tiny <= ex.objective <= res.objective + tiny, \
        ("certificate does not bracket the exact optimum", beta, res.objective, res.gap, ex.objective)
    return res, ex


def distinct_columns(U, fit_intercept):
    """Drop columns equal to an earlier one up to sign (and a constant with an intercept), and constant ones:
    the Lasso optimum is unchanged (docs/libraries.md §4) and the solver is spared exact ties."""
    D = U - U.mean(axis=0) if fit_intercept else U
    scale = max(float(np.abs(D).max()), 1e-300)
    big = np.abs(D) > 1e-12 * scale
    nonconst = big.any(axis=0)
    first = big.argmax(axis=0)
    flip = np.where(D[first, np.arange(D.shape[1])] < 0, -1.0, 1.0)
    key = np.round(D * flip / (1e-11 * scale))
    _, idx = np.unique(key[:, nonconst], axis=1, return_index=True)
    return U[:, np.flatnonzero(nonconst)[np.sort(idx)]]


def beta_grid(A, y, fit_intercept):
    bmax = netmirror.beta_max(A, y, fit_intercept=fit_intercept)
    return [f * bmax for f in FRACTIONS] + [ABS_BETA]


def fidelity_report(x, y, lib, grid, betas=None):
    """Run the three checks; return a list of failure strings (empty when the library is complete)."""
    fi = lib.fit_intercept
    A = lib.matrix()
    y = np.asarray(y, dtype=np.float64)
    Gc = grid.G - grid.G.mean(axis=0) if fi else grid.G
    gnorm = np.sqrt((Gc * Gc).sum(axis=0))
    stride = max(1, math.ceil(grid.G.shape[1] / UNION_COLUMNS))
    failures = []
    for beta in (beta_grid(A, y, fi) if betas is None else betas):
        res, ex = solve(A, y, beta, fi)
        p0 = max(1.0, ex.p0)
        # 1. dual constraint at the solver's dual point, with the slack its gap allows
        excess = np.abs(Gc.T @ res.dual) - gnorm * math.sqrt(2.0 * max(res.gap, 0.0))
        j = int(np.argmax(excess))
        if excess[j] > beta * (1 + 1e-7):
            failures.append(f"beta={beta:.4g}: grid column {j} has |a~'theta|/beta = {excess[j] / beta:.9f} "
                            f"(solver dual, gap {res.gap:.1e})")
        # 2. sharp: exact dual optimum, sup over continuous parameters
        grid_ratio, ratio, params, col = grid.sup(ex.theta, beta, fit_intercept=fi, Gc=Gc)
        if ratio > 1 + 1e-9:
            failures.append(f"beta={beta:.4g}: sup |a~'theta*|/beta = {ratio:.9f} (grid {grid_ratio:.9f}) "
                            f"at feature {params}")
        # 3. primal: the union optimum is not below the library optimum
        score = np.abs(Gc.T @ ex.theta)
        top = np.argsort(-score)[:UNION_TOP]
        cols = np.unique(np.concatenate([np.arange(0, grid.G.shape[1], stride), top]))
        U = distinct_columns(np.hstack([A, grid.G[:, cols], col[:, None]]), fi)
        ru, _ = solve(U, y, beta, fi)
        lower = ru.objective - ru.gap
        if res.objective > lower + 1e-8 * p0:
            failures.append(f"beta={beta:.4g}: P_lib = {res.objective:.12g} > P_union >= {lower:.12g} "
                            f"(relative drop {(res.objective - lower) / p0:.3e})")
    return failures


def _params(cases, data_names):
    out = []
    for case in cases:
        for name in data_names:
            cid = case_id(case)
            out.append(pytest.param(case, name, id=f"{cid}-{name}"))
    return out


CONTINUOUS = [c for c in FAMILY_CASES if c[1] in ("deep_narrow", "symmetrized")]
SWITCHING = [c for c in FAMILY_CASES if c[1] in ("rectangular", "tree")]


# ==================================================================================================
@pytest.mark.parametrize("case,data", _params(CONTINUOUS, DATA))
def test_library_optimum_equals_grid_optimum(case, data):
    x, y = DATA[data]
    lib = make_lib(x, case)
    grid = make_grid(x, case)
    failures = fidelity_report(x, y, lib, grid)
    assert not failures, f"{case_id(case)} on {data} (x={x.tolist()}): missing features\n" + "\n".join(failures)


@pytest.mark.parametrize("case,data", _params(SWITCHING, DATA))
def test_switching_library_is_what_the_architecture_realises(case, data):
    x, y = DATA[data]
    act, arch, depth, kw = case
    lib = make_lib(x, case)
    realised = realised_patterns(x, case)
    # random weights of the actual architecture land inside the enumerated set
    sampled = _grid.sampled_patterns(x, act, depth, kw["widths"], arch, n_samples=3000)
    keys_real = _grid.pattern_keys(realised)
    assert _grid.pattern_keys(sampled) <= keys_real
    keys_lib = _grid.pattern_keys(lib.matrix().T)
    assert keys_real - keys_lib == set(), f"patterns the net realises but the library lacks: {keys_real - keys_lib}"
    assert keys_lib - keys_real == set(), f"library patterns no net of this architecture realises: {keys_lib - keys_real}"
    failures = fidelity_report(x, y, lib, _grid.PatternGrid(realised.T))
    assert not failures, "\n".join(failures)


def test_threshold_unit_tables_are_complete():
    # numbers of threshold functions of m inputs: 4, 14, 104, 1882
    assert [len(_grid.threshold_units(m)[1]) for m in (1, 2, 3, 4)] == [4, 14, 104, 1882]


@pytest.mark.parametrize("seed", range(4))
def test_angular_sign_library_optimum_equals_grid_optimum(seed):
    rng = np.random.default_rng(seed)
    n = 3 + seed
    ang = rng.uniform(0.1, np.pi - 0.1, n)
    if seed == 3:
        ang[1] = ang[0]  # two points on one ray
    r = rng.uniform(0.3, 3.0, n)
    X = np.stack([r * np.cos(ang), r * np.sin(ang)], axis=1)
    y = rng.standard_normal(n)
    lib = netmirror.library(X, "sign", 2)
    assert not lib.fit_intercept
    G, phi = _grid.angular_columns(X)
    grid = _grid.PatternGrid(G, labels=[f"w angle {p:.6f}" for p in phi])
    failures = fidelity_report(X, y, lib, grid)
    assert not failures, "\n".join(failures)


# ==================================================================================================
# random small data: families with no known gap
RANDOM_CASES = [c for c in FAMILY_CASES if case_id(c) in {
    "relu-deep_narrow-L2", "relu-deep_narrow-L3", "relu-deep_narrow-L4", "leaky_relu-deep_narrow-L3-a0.1",
    "leaky_relu-deep_narrow-L3-a2", "abs-deep_narrow-L3", "abs-deep_narrow-L4", "sign-deep_narrow-L3",
    "threshold-deep_narrow-L4", "leaky_relu-deep_narrow-L4-a2", "sign-tree-L4-w2_2_5",
    "threshold-rectangular-L4-w3x3", "leaky_relu-deep_narrow-L3-a-0.3", "leaky_relu-deep_narrow-L4-a-0.3",
    "relu-symmetrized-L3", "leaky_relu-symmetrized-L3-a2", "leaky_relu-symmetrized-L3-a-0.3"}]


@pytest.mark.parametrize("case", [pytest.param(c, id=case_id(c)) for c in RANDOM_CASES])
@settings(max_examples=int(os.environ.get('NM_FID_EXAMPLES', 10)))
@given(x=x_arrays(min_n=2, max_n=6, grid=True, min_distinct=2, scale=False), seed=st.integers(0, 2**32 - 1))
def test_library_optimum_equals_grid_optimum_random_data(case, x, seed):
    y = np.random.default_rng(seed).standard_normal(len(x))
    lib = make_lib(x, case)
    if case[1] in ("rectangular", "tree"):
        grid = _grid.PatternGrid(realised_patterns(x, case).T)
    else:
        grid = make_grid(x, case, size="small")
    bmax = netmirror.beta_max(lib.matrix(), y)
    if bmax <= 1e-9 * np.linalg.norm(y - y.mean()):
        return  # y is (numerically) constant: nothing to fit
    failures = fidelity_report(x, y, lib, grid, betas=[1e-2 * bmax, 1e-1 * bmax])
    assert not failures, f"{case_id(case)} on x={x.tolist()}, y={y.tolist()}\n" + "\n".join(failures)


# ==================================================================================================
# depth monotonicity where library(L) ⊆ library(L + 1) (docs/libraries.md): the optimum cannot go up
def _chains():
    chains = [[("relu", "deep_narrow", d, {}) for d in (2, 3, 4)],
              [("abs", "deep_narrow", d, {}) for d in (2, 3, 4, 5)]]
    for slope in (0.1, -0.3, 2.0):
        chains.append([("leaky_relu", "deep_narrow", d, {"slope": slope}) for d in (2, 3, 4)])
    for act in ("sign", "threshold"):
        chains.append([(act, "deep_narrow", d, {}) for d in (2, 3, 4)])
        chains.append([(act, "rectangular", d, {"widths": (2,) * (d - 1)}) for d in (2, 3, 4, 16)])
        chains.append([(act, "tree", d, {"widths": (2,) * (d - 1)}) for d in (2, 3, 4, 5)])
    return chains


def _chain_id(chain):
    act, arch, _, kw = chain[0]
    extra = f"-a{kw['slope']:g}" if "slope" in kw else ("-w2" if "widths" in kw else "")
    return f"{act}-{arch}{extra}-L" + "-".join(str(c[2]) for c in chain)


@pytest.mark.parametrize("chain", [pytest.param(c, id=_chain_id(c)) for c in _chains()])
@pytest.mark.parametrize("data", list(DATA))
def test_optimum_does_not_increase_with_depth(chain, data):
    x, y = DATA[data]
    libs = [make_lib(x, case) for case in chain]
    mats = [lib.matrix() for lib in libs]
    bmax = netmirror.beta_max(mats[0], y)
    p0 = max(1.0, 0.5 * float((y - y.mean()) @ (y - y.mean())))
    for beta in [f * bmax for f in FRACTIONS] + [ABS_BETA]:
        prev = None
        for case, A in zip(chain, mats):
            res, _ = solve(A, y, beta, True)
            if prev is not None:
                assert res.objective <= prev.objective - prev.gap + 1e-9 * p0, \
                    (case_id(case), beta, res.objective, prev.objective, prev.gap)
            prev = res
