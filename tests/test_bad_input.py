"""Bad input raises a clear Python exception (never a crash), and the message names what was asked."""
from __future__ import annotations

import warnings
from fractions import Fraction

import netmirror
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

X = np.array([0.0, 4.0, 5.0, 7.0, 10.0])


# --------------------------------------------------------------------------------------------------
# training inputs x
@pytest.mark.parametrize("bad,n_bad", [
    ([1.0, np.nan, 2.0], 1),
    ([np.inf, 1.0], 1),
    ([-np.inf, np.nan, 3.0, np.inf], 3),
])
def test_non_finite_x(bad, n_bad):
    with pytest.raises(ValueError, match=rf"x contains {n_bad} NaN or infinite"):
        netmirror.library(bad, "relu", 2)


def test_non_finite_x_2d():
    x = np.array([[1.0, 1.0], [np.nan, 2.0]])
    with pytest.raises(ValueError, match="NaN or infinite"):
        netmirror.library(x, "sign", 2)


@pytest.mark.parametrize("empty", [[], np.zeros(0), np.zeros((0, 2)), np.zeros((0, 1))])
def test_empty_x(empty):
    with pytest.raises(ValueError, match="empty"):
        netmirror.library(empty, "sign", 2)


@pytest.mark.parametrize("shape", [(2, 2, 2), (4, 3), (3, 4), (1, 1, 5)])
def test_wrong_shape_x(shape):
    with pytest.raises(ValueError, match=r"shape") as info:
        netmirror.library(np.ones(shape), "sign", 2)
    assert str(shape).replace(" ", "") in str(info.value).replace(" ", "")


@pytest.mark.parametrize("x", [
    np.array([1.0, 2.0]) + 1j,
    np.array([1 + 0j, 2 + 0j]),
    np.array(["a", "b"]),
    ["1.0", "2.0"],
    np.array([b"a", b"b"]),
    np.array([1.0, None], dtype=object),
    np.array(["2020-01-01"], dtype="datetime64[D]"),
])
def test_non_real_dtype_x(x):
    with pytest.raises(TypeError, match=r"x must be (real|numeric)"):
        netmirror.library(x, "relu", 2)


def test_integer_and_bool_x_are_accepted():
    a = netmirror.library(np.array([0, 3, 1], dtype=np.int16), "relu", 3, dedup=False).matrix()
    b = netmirror.library(np.array([0.0, 3.0, 1.0]), "relu", 3, dedup=False).matrix()
    np.testing.assert_array_equal(a, b)
    assert len(netmirror.library(np.array([True, False, True]), "sign", 2)) == 1


# --------------------------------------------------------------------------------------------------
# family arguments
@pytest.mark.parametrize("act,arch,depth,kw,supported", [
    ("relu", "deep_narrow", 1, {}, "2..4"),
    ("relu", "deep_narrow", 5, {}, "2..4"),
    ("relu", "deep_narrow", -3, {}, "2..4"),
    ("leaky_relu", "deep_narrow", 5, {"slope": 0.1}, "2..4"),
    ("abs", "deep_narrow", 6, {}, "2..5"),
    ("abs", "deep_narrow", 1, {}, "2..5"),
    ("sign", "deep_narrow", 5, {}, "2..4"),
    ("threshold", "deep_narrow", 0, {}, "2..4"),
    ("relu", "symmetrized", 2, {}, "3"),
    ("relu", "symmetrized", 4, {}, "3"),
    ("leaky_relu", "symmetrized", 4, {"slope": 0.5}, "3"),
    ("sign", "rectangular", 17, {"widths": [2] * 16}, "2..16"),
    ("threshold", "tree", 1, {"widths": []}, "2..16"),
])
def test_depth_out_of_range(act, arch, depth, kw, supported):
    with pytest.raises(ValueError, match=rf"depth={depth} is out of range") as info:
        netmirror.library(X, act, depth, architecture=arch, **kw)
    assert supported in str(info.value)
    with pytest.raises(ValueError, match="out of range"):
        netmirror.library_size(5, act, depth, architecture=arch, widths=kw.get("widths"))


@pytest.mark.parametrize("depth", [2.0, 2.5, "3", None, True, [3], np.float64(3.0)])
def test_non_integer_depth(depth):
    with pytest.raises(TypeError, match="depth must be an integer"):
        netmirror.library(X, "relu", depth)
    with pytest.raises(TypeError, match="depth must be an integer"):
        netmirror.library_size(5, "relu", depth)


def test_numpy_integer_depth_is_accepted():
    lib = netmirror.library(X, "relu", np.int32(3), dedup=False)
    assert lib.depth == 3 and isinstance(lib.depth, int)
    assert lib.raw_size == 4 * len(X)**2


@pytest.mark.parametrize("act", ["tanh", "ReLU", "", None, 3, "leaky"])
def test_unknown_activation(act):
    with pytest.raises(ValueError, match="unknown activation") as info:
        netmirror.library(X, act, 2)
    assert repr(act) in str(info.value)
    assert "relu, leaky_relu, abs, sign, threshold" in str(info.value)
    with pytest.raises(ValueError, match="unknown activation"):
        netmirror.library_size(5, act, 2)


@pytest.mark.parametrize("arch", ["wide", "deep-narrow", "", None, "Tree"])
def test_unknown_architecture(arch):
    with pytest.raises(ValueError, match="unknown architecture") as info:
        netmirror.library(X, "relu", 2, architecture=arch)
    assert repr(arch) in str(info.value)
    assert "deep_narrow" in str(info.value)


@pytest.mark.parametrize("act,arch,depth,kw", [
    ("relu", "rectangular", 3, {"widths": [2, 2]}),
    ("relu", "tree", 3, {"widths": [2, 2]}),
    ("abs", "symmetrized", 3, {}),
    ("abs", "tree", 3, {"widths": [2, 2]}),
    ("sign", "symmetrized", 3, {}),
    ("threshold", "symmetrized", 3, {}),
    ("leaky_relu", "rectangular", 3, {"slope": 0.1, "widths": [2, 2]}),
])
def test_architecture_not_defined_for_activation(act, arch, depth, kw):
    with pytest.raises(ValueError, match=rf"architecture '{arch}' is not defined for activation '{act}'"):
        netmirror.library(X, act, depth, architecture=arch, **kw)


def test_leaky_relu_needs_slope():
    with pytest.raises(ValueError, match="leaky_relu needs slope="):
        netmirror.library(X, "leaky_relu", 2)
    with pytest.raises(ValueError, match="leaky_relu needs slope="):
        netmirror.library(X, "leaky_relu", 3, architecture="symmetrized")


@pytest.mark.parametrize("slope", [1, 1.0, np.float64(1.0)])
def test_leaky_relu_slope_one(slope):
    with pytest.raises(ValueError, match="slope=1 makes leaky_relu linear"):
        netmirror.library(X, "leaky_relu", 2, slope=slope)


@pytest.mark.parametrize("slope", [float("nan"), float("inf"), -float("inf"), "0.1", True, [0.1], 1 + 1j])
def test_leaky_relu_bad_slope(slope):
    with pytest.raises(ValueError, match="slope"):
        netmirror.library(X, "leaky_relu", 2, slope=slope)


@pytest.mark.parametrize("act", ["relu", "abs", "sign", "threshold"])
@pytest.mark.parametrize("slope", [0.1, 0.0, -1.0])
def test_slope_only_for_leaky_relu(act, slope):
    with pytest.raises(ValueError, match=rf"slope applies to leaky_relu only; drop slope= for {act}"):
        netmirror.library(X, act, 2, slope=slope)


@pytest.mark.parametrize("arch", ["rectangular", "tree"])
@pytest.mark.parametrize("act", ["sign", "threshold"])
def test_widths_missing(arch, act):
    with pytest.raises(ValueError, match=rf"{arch} nets need widths="):
        netmirror.library(X, act, 3, architecture=arch)
    with pytest.raises(ValueError, match="widths"):
        netmirror.library_size(5, act, 3, architecture=arch)


@pytest.mark.parametrize("arch", ["rectangular", "tree"])
@pytest.mark.parametrize("depth,widths", [(3, [2]), (3, [2, 2, 2]), (2, []), (4, [1, 1]), (2, [1, 1])])
def test_widths_wrong_length(arch, depth, widths):
    with pytest.raises(ValueError, match=rf"widths must give {depth - 1} positive hidden-layer widths"):
        netmirror.library(X, "sign", depth, architecture=arch, widths=widths)


@pytest.mark.parametrize("arch", ["rectangular", "tree"])
@pytest.mark.parametrize("widths", [[0, 2], [2, -1], [-3, -3]])
def test_widths_not_positive(arch, widths):
    with pytest.raises(ValueError, match="positive hidden-layer widths"):
        netmirror.library(X, "sign", 3, architecture=arch, widths=widths)


@pytest.mark.parametrize("widths", [2, "ab", [None, 2], [[2], [2]], object()])
def test_widths_not_integers(widths):
    with pytest.raises(ValueError, match="widths must be a sequence of positive integers"):
        netmirror.library(X, "sign", 3, architecture="tree", widths=widths)


@pytest.mark.parametrize("widths", [[2, 3], [3, 2, 2][:2], [1, 4]])
def test_rectangular_unequal_widths(widths):
    with pytest.raises(ValueError, match="rectangular nets have equal hidden widths") as info:
        netmirror.library(X, "sign", 3, architecture="rectangular", widths=widths)
    assert "tree" in str(info.value)
    # the same widths are fine for a tree
    netmirror.library(X, "sign", 3, architecture="tree", widths=widths)


def test_widths_for_deep_narrow():
    with pytest.raises(ValueError, match="widths= applies to rectangular and tree nets only"):
        netmirror.library(X, "sign", 3, widths=[2, 2])


@pytest.mark.parametrize("act,depth,arch,kw", [
    ("relu", 2, "deep_narrow", {}),  # abs nets take (n, d) inputs: tests/test_reflection_planes.py
    ("threshold", 2, "deep_narrow", {}),
    ("sign", 3, "deep_narrow", {}),
    ("sign", 2, "rectangular", {"widths": [2]}),
    ("leaky_relu", 2, "deep_narrow", {"slope": 0.1}),
])
def test_2d_input_only_for_two_layer_sign(act, depth, arch, kw):
    x = np.array([[1.0, 1.0], [0.0, 2.0], [-1.0, 0.5]])
    with pytest.raises(ValueError, match=r"2-D inputs \(shape \(n, 2\)\) are supported for 2-layer sign nets only"):
        netmirror.library(x, act, depth, architecture=arch, **kw)


def test_tree_with_huge_widths_builds():
    """A tree's switch budget prod(widths[:-1]) is capped by the number of points (library_size does this);
    library() must not hand an unbounded Python int to the C++ core."""
    x = np.arange(5.0)
    for widths in ([10**6] * 5, [10**7] * 7):
        depth = len(widths) + 1
        expect = netmirror.library_size(len(x), "sign", depth, architecture="tree", widths=widths)
        assert expect == 2 * (2**5 - 1)
        lib = netmirror.library(x, "sign", depth, architecture="tree", widths=widths)
        assert lib.raw_size == expect
    lib = netmirror.library(x, "threshold", 3, architecture="rectangular", widths=[2**70, 2**70])
    assert lib.raw_size == 2 * (2**5 - 1)


def test_too_many_raw_features():
    with pytest.raises(ValueError, match="more than can be indexed"):
        netmirror.library(np.arange(2.0e6), "relu", 4, dedup=False)


def test_dedup_too_much_work():
    """The advice to skip deduplication comes only when the raw features can then be solved matrix-free."""
    with pytest.raises(ValueError, match="too much work.*use fewer points or a shallower net") as info:
        netmirror.library(np.arange(3000.0), "relu", 4)  # 4.3e11 raw features: no memory solves them
    assert "dedup=False" not in str(info.value)
    previous = netmirror.set_memory_limit(2**60)
    try:
        with pytest.raises(ValueError, match=r"pass dedup=False \(the 432,000,000,000 raw features are then solved"):
            netmirror.library(np.arange(3000.0), "relu", 4)
    finally:
        netmirror.set_memory_limit(previous)


# --------------------------------------------------------------------------------------------------
# memory budget
def test_matrix_exceeding_memory_budget(monkeypatch):
    lib = netmirror.library(np.arange(20.0), "relu", 3, dedup=False)  # 20 x 1600
    monkeypatch.setenv("NETMIRROR_MAX_BYTES", str(20 * 1600 * 8 - 1))
    with pytest.raises(MemoryError, match="NETMIRROR_MAX_BYTES"):
        lib.matrix()
    # float32 halves the size and fits
    assert lib.matrix(dtype=np.float32).shape == (20, 1600)
    monkeypatch.setenv("NETMIRROR_MAX_BYTES", str(20 * 1600 * 8))
    assert lib.matrix().shape == (20, 1600)
    # a preallocated out is not limited
    monkeypatch.setenv("NETMIRROR_MAX_BYTES", "64")
    out = np.empty((20, 1600), order="F")
    assert lib.matrix(out=out) is out
    with pytest.raises(MemoryError, match="dictionary needs"):
        lib.matrix(np.linspace(0, 1, 100))


def test_dedup_exceeding_memory_budget(monkeypatch):
    # the kernel's block buffers fit; its hash table and index list get 1000 bytes
    fixed = netmirror._library._dedup_scratch_bytes(10) + 8 * 10
    monkeypatch.setenv("NETMIRROR_MAX_BYTES", str(fixed + 2000))
    with pytest.raises(MemoryError, match=r"deduplication keeps .* memory budget.*NETMIRROR_MAX_BYTES") as info:
        netmirror.library(np.arange(10.0), "relu", 3)
    # skipping deduplication is suggested only when the 400 raw features can then be solved
    solve = netmirror._library._raw_solve_bytes(10, 400)
    assert ("dedup=False" in str(info.value)) == (solve <= fixed + 2000)
    assert netmirror.library(np.arange(10.0), "relu", 3, dedup=False).raw_size == 400


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1e-3"])
def test_bad_memory_budget_env(monkeypatch, value):
    monkeypatch.setenv("NETMIRROR_MAX_BYTES", value)
    with pytest.raises(ValueError, match="NETMIRROR_MAX_BYTES"):
        netmirror.memory_budget()


def test_memory_budget_env(monkeypatch):
    monkeypatch.setenv("NETMIRROR_MAX_BYTES", "1e6")
    assert netmirror.memory_budget() == 10**6
    monkeypatch.delenv("NETMIRROR_MAX_BYTES")
    assert netmirror.memory_budget() > 0


# --------------------------------------------------------------------------------------------------
# evaluation points and matrix arguments
@pytest.fixture(scope="module")
def lib1d():
    return netmirror.library(X, "relu", 3)


@pytest.fixture(scope="module")
def lib2d():
    x = np.array([[1.0, 1.0], [0.0, 2.0], [-1.0, 0.5]])
    return netmirror.library(x, "sign", 2)


@pytest.mark.parametrize("t", [[np.nan], [1.0, np.inf], np.array([0.0, -np.inf, np.nan])])
def test_non_finite_x_eval(lib1d, t):
    with pytest.raises(ValueError, match="x_eval contains .* NaN or infinite"):
        lib1d.matrix(t)


def test_non_finite_x_eval_2d(lib2d):
    with pytest.raises(ValueError, match="x_eval contains 1 NaN or infinite"):
        lib2d.matrix(np.array([[1.0, np.nan]]))


def test_x_eval_wrong_dimension(lib1d, lib2d):
    with pytest.raises(ValueError, match="x_eval must be a 1-D array"):
        lib1d.matrix(np.ones((3, 2)))
    with pytest.raises(ValueError, match="x_eval must be a 1-D array"):
        lib1d.matrix(np.ones((3, 2, 1)))
    with pytest.raises(ValueError, match=r"x_eval must have the same dimension as the training inputs \(2-D\)"):
        lib2d.matrix(np.ones(3))
    with pytest.raises(ValueError, match=r"x_eval must be 1-D, or of shape \(n, 2\)"):
        lib2d.matrix(np.ones((3, 3)))


def test_x_eval_empty(lib1d):
    with pytest.raises(ValueError, match="x_eval is empty"):
        lib1d.matrix([])


@pytest.mark.parametrize("t", [np.array(["a"]), np.array([1j]), np.array([None], dtype=object)])
def test_x_eval_bad_dtype(lib1d, t):
    with pytest.raises(TypeError, match="x_eval must be"):
        lib1d.matrix(t)


@pytest.mark.parametrize("dtype", [int, np.int32, np.float16, np.complex128, bool, np.longdouble])
def test_matrix_bad_dtype(lib1d, dtype):
    if np.dtype(dtype) == np.dtype(np.float64):
        pytest.skip("longdouble is float64 on this platform")
    with pytest.raises(TypeError, match="dtype must be float64 or float32"):
        lib1d.matrix(dtype=dtype)


def test_matrix_dtype_by_name(lib1d):
    assert lib1d.matrix(dtype="float32").dtype == np.float32
    assert lib1d.matrix(dtype="f8").dtype == np.float64


def test_library_size_bad_n():
    for n in (0, -1, 2.0, True, "5", None):
        with pytest.raises(ValueError, match="n must be a positive integer number of data points"):
            netmirror.library_size(n, "relu", 2)
    assert netmirror.library_size(np.int64(3), "relu", 2) == 6


def test_describe_bad_index(lib1d):
    n = len(lib1d)
    for j in (n, -n - 1, 2**40):
        with pytest.raises(IndexError, match=f"out of range for a library of {n} features"):
            lib1d.describe(j)
    for j in ("0", None, 1.5):
        with pytest.raises((IndexError, TypeError)):
            lib1d.describe(j)


def test_dedup_budget_counts_kept_features_not_raw_ones(monkeypatch):
    """A budget far below 32 bytes per raw feature is fine when few features survive deduplication."""
    x = np.repeat(np.arange(3.0), 40)  # 120 points, 3 distinct values: 57,600 raw relu L3 features, few classes
    # the kernel's block buffers plus 1 MiB for the table: 1 MiB < 32 B x 57,600 raw = 1.8 MiB
    fixed = netmirror._library._dedup_scratch_bytes(120) + 8 * 120
    monkeypatch.setenv("NETMIRROR_MAX_BYTES", str(fixed + 2 * 2**20))
    lib = netmirror.library(x, "relu", 3)
    assert lib.raw_size == 4 * 120**2 and len(lib) < 50


# --------------------------------------------------------------------------------------------------
# memory advice: only ways that exist and fit, never one that leads back to its opposite
def test_dictionary_advice_depends_on_the_library(monkeypatch):
    """lib.matrix() said "dedup=True" for a deduplicated library, and float32 or matrix-free whether or not they
    fit."""
    x = np.arange(200.0)  # relu depth 3: 160,000 raw features, a 256 MB dense dictionary
    for dedup in (True, False):
        lib = netmirror.library(x, "relu", 3, dedup=dedup)
        n, m = len(x), len(lib)
        dense = 8 * n * m
        free = netmirror._library._raw_solve_bytes(n, m)
        for limit in (dense // 2 - 1, dense - 1, min(free, dense // 2) - 1, 30 * 2**20, 2**20):
            netmirror.set_memory_limit(limit)
            try:
                with pytest.raises(MemoryError) as info:
                    lib.matrix()
                dedup_fits = netmirror._library._dedup_fits(lib)  # its buffers and table, at most
            finally:
                netmirror.set_memory_limit(None)
            text = str(info.value)
            assert ("dedup=True" in text) == (not dedup and dedup_fits), text
            assert ("float32" in text) == (4 * n * m <= limit), text
            assert ("matrix-free" in text) == (free <= limit), text
            assert "a shallower net" in text and "dedup=False" not in text


def test_solver_advice_names_what_shrinks_the_solver():
    rng = np.random.default_rng(0)
    A = np.asfortranarray(rng.standard_normal((50, 8000)))
    netmirror.set_memory_limit(10**6)
    try:
        with pytest.raises(MemoryError, match="use fewer rows or columns of A") as info:
            netmirror.lasso(A, rng.standard_normal(50), 1.0)
    finally:
        netmirror.set_memory_limit(None)
    assert "float32" not in str(info.value) and "dedup" not in str(info.value)  # neither shrinks the solver


def test_depth_two_advice_has_no_shallower_net():
    x = np.arange(3000.0)
    lib = netmirror.library(x, "relu", 2)
    netmirror.set_memory_limit(1000)
    try:
        with pytest.raises(MemoryError) as info:
            lib.matrix()
    finally:
        netmirror.set_memory_limit(None)
    assert "shallower" not in str(info.value) and "fewer points" in str(info.value)


# --------------------------------------------------------------------------------------------------
# scalars: NumPy scalars and 0-d arrays are numbers; integers reaching the core's int64 are bounded
REALS = [np.array(0.25), np.float32(0.25), np.float64(0.25), np.array(0.25, dtype=np.float32)]


@pytest.fixture(scope="module")
def opt_data():
    x = np.array([0.0, 4.0, 5.0, 7.0, 10.0, 11.0])
    y = np.array([0.0, 0.0, 0.0, 2.0, 3.0, 3.0])
    lib = netmirror.library(x, "relu", 3)
    return x, y, lib, lib.matrix()


@pytest.mark.parametrize("value", REALS)
def test_real_parameters_accept_numpy_scalars_and_0d_arrays(value, opt_data):
    """beta=np.array(0.1) was rejected ("beta must be a finite positive number, got array(0.1)")."""
    x, y, lib, A = opt_data
    ref = netmirror.lasso(A, y, 0.25, tol=1e-12)
    assert netmirror.lasso(A, y, value, tol=1e-12).objective == pytest.approx(ref.objective, rel=1e-6)
    assert netmirror.lasso(lib, y, value).objective == pytest.approx(ref.objective, rel=1e-6)
    assert netmirror.lasso(A, y, 0.25, tol=value).converged
    path = netmirror.lasso_path(A, y, n_betas=3, eps=value)
    assert np.all(np.diff(path.betas) < 0)
    model = netmirror.ConvexNet("relu", 3, beta=value, tol=np.array(1e-10)).fit(x, y)
    assert model.objective_ == pytest.approx(netmirror.ConvexNet("relu", 3, beta=0.25).fit(x, y).objective_,
                                             rel=1e-6)
    net = netmirror.reconstruct(lib, ref.coef, np.array(ref.intercept), value)
    assert net.beta == pytest.approx(0.25, rel=1e-6)
    X = np.random.default_rng(0).standard_normal((12, 2))
    assert netmirror.convex_relu(X, X[:, 0], value, patterns=50).converged


def test_integer_scalars_and_0d_arrays_are_integers(opt_data):
    x, y, _, A = opt_data
    for v in (np.array(7), np.int8(7), np.uint64(7)):
        assert netmirror.lasso(A, y, 0.25, max_iter=v).n_iter <= 7
        assert len(netmirror.lasso_path(A, y, n_betas=v).betas) == 7
    for depth in (np.array(3), np.int16(3)):
        assert netmirror.library(x, "relu", depth).depth == 3
        assert netmirror.ConvexNet("relu", depth, 0.25).fit(x, y).library_.depth == 3
    assert netmirror.library(x, "leaky_relu", 2, slope=np.array(0.5)).slope == 0.5


@pytest.mark.parametrize("bad", [True, np.bool_(True), np.array(True), np.array([0.25]), "0.25", 1j, None,
                                 float("nan"), float("inf"), 10**400, -0.25, -1])
def test_bad_beta_is_one_clear_line(bad, opt_data):
    x, y, lib, A = opt_data
    for call in (lambda: netmirror.lasso(A, y, bad), lambda: netmirror.ConvexNet("relu", 3, beta=bad).fit(x, y),
                 lambda: netmirror.reconstruct(lib, np.zeros(len(lib)), 0.0, bad)):
        with pytest.raises(ValueError, match="beta must be a") as info:
            call()
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("max_iter", [2**63, 2**64, 99999999999999999999999, -1, 0, 2.0, np.array(2.5), True])
def test_max_iter_beyond_int64_is_one_clear_line(max_iter, opt_data):
    """max_iter >= 2**63 reached pybind11, whose TypeError listed every overload with the whole matrix."""
    x, y, lib, A = opt_data
    X = np.random.default_rng(0).standard_normal((12, 2))
    calls = [lambda: netmirror.lasso(A, y, 0.25, max_iter=max_iter),
             lambda: netmirror.lasso(lib, y, 0.25, max_iter=max_iter),
             lambda: netmirror.lasso_path(A, y, n_betas=2, max_iter=max_iter),
             lambda: netmirror.ConvexNet("relu", 3, 0.25, max_iter=max_iter).fit(x, y),
             lambda: netmirror.convex_relu(X, X[:, 0], 0.1, patterns=20, max_iter=max_iter)]
    for call in calls:
        with pytest.raises(ValueError, match="max_iter must be a positive integer below 2\\*\\*63") as info:
            call()
        assert "incompatible function arguments" not in str(info.value) and len(str(info.value)) < 200


def test_largest_max_iter_is_accepted(opt_data):
    _, y, _, A = opt_data
    assert netmirror.lasso(A, y, 0.25, max_iter=2**63 - 1).converged


@pytest.mark.parametrize("n_betas", [2**63, -3, 0, 2.0])
def test_n_betas_is_bounded(n_betas, opt_data):
    _, y, _, A = opt_data
    with pytest.raises(ValueError, match="n_betas must be a positive integer"):
        netmirror.lasso_path(A, y, n_betas=n_betas)


@pytest.mark.parametrize("eps", [10, 1, 1.0 + 1e-12, 0, -0.5, float("nan"), np.array(2.0)])
def test_lasso_path_eps_must_be_below_one(eps, opt_data):
    """lasso_path(eps=10) built an increasing grid (from beta_max up to 10 beta_max)."""
    _, y, _, A = opt_data
    with pytest.raises(ValueError, match="0 < eps < 1"):
        netmirror.lasso_path(A, y, eps=eps)


@pytest.mark.parametrize("eps", [1e-12, 0.5, 1 - 1e-12])
def test_lasso_path_grid_decreases(eps, opt_data):
    _, y, _, A = opt_data
    path = netmirror.lasso_path(A, y, n_betas=4, eps=eps)
    assert np.all(np.diff(path.betas) < 0) and path.betas[-1] == pytest.approx(eps * path.betas[0])


# --------------------------------------------------------------------------------------------------
# warm starts
@pytest.mark.parametrize("scale", [1e300, 1e200, -1e160])
def test_warm_start_whose_objective_overflows_is_refused(scale, opt_data):
    """coef_init = 1e300 was accepted and came back after 500 iterations as objective = gap = inf."""
    _, y, lib, A = opt_data
    z0 = np.full(len(lib), scale)
    for design in (A, A.astype(np.float32), lib):
        with pytest.raises(ValueError, match="coef_init is too large.*overflows float64"):
            netmirror.lasso(design, y, 0.25, coef_init=z0)


@pytest.mark.parametrize("scale", [1e150, 1e50, -1e10, 1.0])
def test_huge_but_finite_warm_start_converges(scale, opt_data):
    _, y, lib, A = opt_data
    ref = netmirror.lasso(A, y, 0.25, tol=1e-12)
    z0 = np.zeros(len(lib))
    z0[::3] = scale
    for design in (A, lib):
        res = netmirror.lasso(design, y, 0.25, coef_init=z0, tol=1e-12)
        assert np.isfinite(res.objective) and res.converged
        assert res.objective == pytest.approx(ref.objective, rel=1e-9)


def test_warm_start_check_uses_the_true_objective():
    """The objective at coef_init is evaluated (A z0 in blocks), not bounded: cancelling columns are fine."""
    A = np.asfortranarray(np.array([[1.0, 1.0 + 2**-40], [2.0, 2.0], [0.0, 1.0]]))
    y = np.array([1.0, 2.0, 0.5])
    z0 = np.array([1e153, -1e153])  # |A| ||z0||_1 ~ 4e153, but A z0 is ~1e141: its square is finite
    res = netmirror.lasso(A, y, 1e-3, coef_init=z0, fit_intercept=False, tol=1e-12)
    assert np.isfinite(res.objective) and res.converged


# --------------------------------------------------------------------------------------------------
# evaluation at huge inputs: the true output, or a ValueError when it is beyond float64 -- never NaN
def _exact_forward(net, x):
    """The network's output at a scalar x in exact rational arithmetic on its float64 weights."""
    act, slope = net.activation, None if net.slope is None else Fraction(net.slope)

    def sigma(u):
        if act == "relu":
            return max(u, Fraction(0))
        if act == "leaky_relu":
            return u if u > 0 else slope * u
        if act == "abs":
            return abs(u)
        if act == "sign":
            return Fraction(1) if u >= 0 else Fraction(-1)
        return Fraction(1) if u >= 0 else Fraction(0)

    total = Fraction(net.intercept)
    for u in net.weights:
        h = [Fraction(x)]
        for layer in u["layers"]:
            W, b = layer["W"], layer["b"]
            h = [sigma(sum((Fraction(W[r, c]) * h[c] for c in range(W.shape[1])), Fraction(b[r])))
                 for r in range(W.shape[0])]
        total += Fraction(u["amplitude"]) * sum(Fraction(a) * v for a, v in zip(u["output"], h))
    return total


HUGE_FAMILIES = [("relu", {}), ("leaky_relu", {"slope": 0.1}), ("leaky_relu", {"slope": -0.5}), ("abs", {}),
                 ("sign", {}), ("threshold", {})]


@pytest.fixture(scope="module")
def fitted_nets():
    x = np.array([0.0, 4.0, 5.0, 7.0, 10.0, 11.0])
    y = np.array([0.0, 0.0, 0.0, 2.0, 3.0, 3.0])
    return {(act, depth, kw.get("slope")): netmirror.ConvexNet(act, depth, 1e-3, **kw).fit(x, y)
            for act, kw in HUGE_FAMILIES for depth in (2, 3)}


@settings(max_examples=60, deadline=None)
@given(exponent=st.floats(0, 308.23), sign=st.sampled_from([-1.0, 1.0]), key=st.sampled_from(range(12)))
@example(exponent=308.23, sign=1.0, key=2)  # leaky_relu(0.1), depth 2, at 1.7e308: was NaN
@example(exponent=308.23, sign=-1.0, key=7)  # leaky_relu(-0.5), depth 3
def test_predict_at_huge_inputs_is_the_networks_value(fitted_nets, exponent, sign, key):
    """Leaky predict(1.7e308) returned NaN with numpy warnings: unit outputs overflowed and cancelled as inf - inf.
    Outputs now equal the exact value of the float64 network to rounding of its largest unit output."""
    model = list(fitted_nets.values())[key]
    x = sign * 10.0**exponent
    exact = _exact_forward(model.network_, x)
    # the largest unit output bounds the rounding of the sum
    size = max(abs(_exact_forward(_one_unit(model.network_, i), x) - Fraction(model.network_.intercept))
               for i in range(len(model.network_))) + abs(Fraction(model.network_.intercept))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid-value warnings either
        if abs(exact) > Fraction(np.finfo(np.float64).max):
            with pytest.raises(ValueError, match="beyond the float64 range"):
                model.predict([x])
            return
        for value in (model.predict([x])[0], model.network_.forward(np.array([x]))[0]):
            assert np.isfinite(value)
            assert abs(Fraction(value) - exact) <= Fraction(1e-12) * size + Fraction(1e-300)


def _one_unit(net, i):
    import copy

    one = copy.copy(net)
    one._units = [net._units[i]]
    return one


def test_leaky_predict_at_the_float64_limit(fitted_nets):
    model = fitted_nets[("leaky_relu", 2, 0.1)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = np.concatenate([model.predict([v]) for v in (1.7e308, -1.7e308, 1e300)])
    assert np.isfinite(out).all()
    assert out[0] == pytest.approx(float(_exact_forward(model.network_, 1.7e308)), rel=1e-12)


def test_output_beyond_float64_is_a_value_error():
    x = np.array([0.0, 1.0, 2.0])
    lib = netmirror.library(x, "relu", 2, dedup=False)  # one unit of slope 1e100: 1e400 at x = 1e300
    net = netmirror.reconstruct(lib, np.full(len(lib), 1e100), 0.0, 1.0)
    for x in (1e300, -1e300):
        with pytest.raises(ValueError, match="beyond the float64 range"):
            net.forward([x])
    assert np.isfinite(net.forward([1e200, -1e200])).all()


@pytest.mark.parametrize("point", [[1.7e308, 1.7e308], [1e308, -1e307], [-1.7e308, 1e-300]])
def test_two_d_sign_nets_at_huge_inputs(point):
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(-1, 1, 8), rng.uniform(0.1, 1, 8)]) * 3
    model = netmirror.ConvexNet("sign", 2, 1e-3).fit(X, rng.standard_normal(8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = np.array([point])
        scaled = p / 2.0**1000  # sign features are scale-free: the same output
        np.testing.assert_array_equal(model.predict(p), model.predict(scaled))
        np.testing.assert_array_equal(model.network_.forward(p), model.network_.forward(scaled))


def test_metric_parameters_accept_numpy_scalars_and_0d_arrays():
    """sigma, power, tol, rtol and ddof take np.array(0.5)-style values like every other real parameter."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((12, 3)), rng.standard_normal((12, 2))
    assert netmirror.cka(X, Y, kernel="rbf", sigma=np.array(0.5)) == netmirror.cka(X, Y, kernel="rbf", sigma=0.5)
    W, agop = rng.standard_normal((4, 3)), np.cov(rng.standard_normal((3, 30)))
    assert netmirror.nfa_correlation(W, agop, power=np.float32(0.5)) == pytest.approx(
        netmirror.nfa_correlation(W, agop, power=0.5))
    assert netmirror.effective_rank(X, method="threshold", tol=np.array(0.1)) == netmirror.effective_rank(
        X, method="threshold", tol=0.1)
    acc = netmirror.CovarianceAccumulator(3).update(X)
    np.testing.assert_array_equal(acc.covariance(ddof=np.array(1)), acc.covariance(ddof=1))
    H = rng.standard_normal((3, 3))
    Z = H @ H.T + 3 * np.eye(3)
    assert netmirror.pah_exponents(Z, Z, Z, rtol=np.array(1e-10)).alpha == pytest.approx(1.0)
    for bad in (True, np.array([0.5]), "0.5", np.nan):
        with pytest.raises(ValueError, match="sigma must be"):
            netmirror.cka(X, Y, kernel="rbf", sigma=bad)


def test_unpickled_arrays_are_accepted():
    """An array sent to a worker process arrives with an equal but distinct dtype object: it is float64 all the
    same (the bindings compared dtypes by identity and refused it)."""
    import pickle
    rng = np.random.default_rng(0)
    A = rng.standard_normal((20, 6))
    y = rng.standard_normal(20)
    for dtype in (np.float64, np.float32):
        B = pickle.loads(pickle.dumps(A.astype(dtype)))
        assert netmirror.beta_max(B, y) == pytest.approx(netmirror.beta_max(A.astype(dtype), y))
        r = netmirror.lasso(B, y, 0.5)
        assert r.converged
