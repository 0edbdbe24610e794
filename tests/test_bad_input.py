"""Bad input raises a clear Python exception (never a crash), and the message names what was asked."""
from __future__ import annotations

import numpy as np
import pytest

import netmirror

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
    with pytest.raises(ValueError, match="dedup=False"):
        netmirror.library(np.arange(3000.0), "relu", 4)


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
    with pytest.raises(MemoryError, match=r"deduplication keeps .* memory budget.*dedup=False.*NETMIRROR_MAX_BYTES"):
        netmirror.library(np.arange(10.0), "relu", 3)
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
