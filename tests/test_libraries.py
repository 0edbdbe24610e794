"""Feature libraries: the C++ kernels against the NumPy reference, the authors' construction, sizes,
deduplication (including its Lasso claim), library freezing and the Library object's API."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

import netmirror
from netmirror import reference

from conftest import (FAMILY_CASES, case_id, eval_points, family_params, half_plane_points, max_n, ref_matrix,
                      ref_size, ref_tolerance, x_arrays)


def make_lib(x, case, dedup=True):
    act, arch, depth, kw = case
    return netmirror.library(x, act, depth, architecture=arch, dedup=dedup, **kw)


def budget(case, columns):
    """Column budget for a case: the switching reference loops over columns in Python."""
    return columns // 6 if case[1] in ("rectangular", "tree") else columns


def key_set(A, tol, intercept=True):
    keys = set()
    for j in range(A.shape[1]):
        key = reference.canonical_column(A[:, j], tol, intercept)
        if key is not None:
            keys.add(key)
    return keys


def canonical_forms(A, tol, intercept=True):
    """Columns minus their first entry (with an intercept), flipped so the first entry beyond tol is positive.
    Returns (C, nonconstant)."""
    D = A - A[:1] if intercept else A.astype(np.float64)
    big = np.abs(D) > tol
    nonconstant = big.any(axis=0)
    first = big.argmax(axis=0)
    flip = np.sign(D[first, np.arange(D.shape[1])])
    flip[~nonconstant] = 1.0
    return D * flip, nonconstant


def min_distance(C1, C2, chunk=256):
    """For each column of C1: min over columns of C2 of the max-norm distance."""
    out = np.empty(C1.shape[1])
    if C2.shape[1] == 0:
        out[:] = np.inf
        return out
    for lo in range(0, C1.shape[1], chunk):
        blk = C1[:, lo:lo + chunk]
        out[lo:lo + chunk] = np.abs(blk[:, :, None] - C2[:, None, :]).max(axis=0).min(axis=1)
    return out


# ==================================================================================================
# C++ dictionaries == reference, bit for bit
@pytest.mark.parametrize("case", family_params())
@settings(max_examples=25)
@given(data=st.data())
def test_matrix_matches_reference(case, data):
    x = data.draw(x_arrays(max_n=max_n(case, budget(case, 20000))), label="x")
    t = data.draw(eval_points(x), label="x_eval")
    lib = make_lib(x, case, dedup=False)
    assert lib.raw_index is None
    B = ref_matrix(x, case)
    A = lib.matrix()
    assert A.shape == (len(x), ref_size(len(x), case)) == B.shape
    assert A.dtype == np.float64 and A.flags.f_contiguous
    assert_array_equal(A, B)
    # float32: the double result rounded once
    assert_array_equal(lib.matrix(dtype=np.float32), B.astype(np.float32))
    # evaluation at other points, inside and outside the data range
    Bt = ref_matrix(x, case, t=t)
    At = lib.matrix(t)
    assert At.shape == (len(t), lib.raw_size)
    assert_array_equal(At, Bt)
    assert_array_equal(lib.matrix(t, dtype=np.float32), Bt.astype(np.float32))
    # the deduplicated library assembles the kept raw columns
    dl = make_lib(x, case)
    assert_array_equal(dl.matrix(), B[:, dl.raw_indices()])
    assert_array_equal(dl.matrix(t), Bt[:, dl.raw_indices()])
    assert_array_equal(dl.matrix(t, np.float32), Bt[:, dl.raw_indices()].astype(np.float32))


@pytest.mark.parametrize("case", family_params())
def test_matrix_matches_reference_toy_data(case):
    for name in netmirror.datasets.TOY:
        x, _ = netmirror.datasets.toy(name)
        if ref_size(len(x), case) > 50000:
            continue
        lib = make_lib(x, case, dedup=False)
        assert_array_equal(lib.matrix(), ref_matrix(x, case))
        t = np.linspace(x.min() - 3, x.max() + 3, 17)
        assert_array_equal(lib.matrix(t), ref_matrix(x, case, t=t))


# ==================================================================================================
# deduplication
@pytest.mark.parametrize("case", family_params())
@settings(max_examples=20)
@given(data=st.data())
def test_dedup_matches_reference(case, data):
    act = case[0]
    x = data.draw(x_arrays(max_n=max_n(case, budget(case, 8000))), label="x")
    lib = make_lib(x, case)
    B = ref_matrix(x, case)
    tol = ref_tolerance(x, act)
    assert lib.tolerance == tol
    kept = reference.deduplicate(B, tol, True)
    assert lib.raw_index is not None and lib.raw_index.dtype == np.int64
    assert_array_equal(lib.raw_index, kept)
    assert len(lib) == kept.size
    # as sets of canonical columns
    assert key_set(lib.matrix(), tol) == key_set(B, tol)


@pytest.mark.parametrize("case", family_params())
@settings(max_examples=15)
@given(data=st.data())
def test_dedup_properties(case, data):
    """Every raw column is (within tol) a kept column up to sign and constant; kept columns are pairwise
    inequivalent, non-constant, and listed by increasing raw index."""
    x = data.draw(x_arrays(max_n=max_n(case, budget(case, 4000)), grid=True), label="x")
    lib = make_lib(x, case)
    tol = lib.tolerance
    B = make_lib(x, case, dedup=False).matrix()
    kept = lib.raw_indices()
    assert np.all(np.diff(kept) > 0)
    assert kept.size == 0 or (kept[0] >= 0 and kept[-1] < lib.raw_size)
    C, nonconstant = canonical_forms(B, tol)
    assert nonconstant[kept].all(), "a constant column was kept"
    Ck = C[:, kept]
    dist = min_distance(C[:, nonconstant], Ck)
    assert np.all(dist <= tol), f"raw column not represented: distance {dist.max()} > tol {tol}"
    # the first raw column of each class is the one kept
    first_nonconstant = np.flatnonzero(nonconstant)
    if first_nonconstant.size:
        assert kept[0] == first_nonconstant[0]
    # pairwise inequivalent
    if kept.size > 1:
        for i in range(kept.size - 1):
            d = np.abs(Ck[:, i + 1:] - Ck[:, i:i + 1]).max(axis=0)
            assert d.min() > tol, f"kept columns {kept[i]} and another are equivalent"


def test_dedup_collapses_ties_and_permutations():
    x = np.array([3.0, -1.0, 3.0, 7.0, -1.0, 0.5])
    for case in FAMILY_CASES:
        if ref_size(len(x), case) > 20000:
            continue
        lib = make_lib(x, case)
        lib_unique = make_lib(np.unique(x), case)
        tol = lib.tolerance
        # repeated points do not create new classes: same class count as on the distinct points
        assert len(lib) == len(lib_unique), case_id(case)
        # reversing the data gives the same classes (columns permuted by rows consistently)
        lib_rev = make_lib(x[::-1], case)
        assert len(lib_rev) == len(lib), case_id(case)
        assert key_set(lib_rev.matrix()[::-1], tol) == key_set(lib.matrix(), tol), case_id(case)


# ==================================================================================================
# Library.matrix layout and `out=`
@pytest.mark.parametrize("case", family_params())
def test_matrix_layout_and_out(case):
    x = np.array([0.0, 4.0, 5.0, 7.0, 10.0, 11.0, 4.0])
    t = np.array([-3.0, 0.0, 4.5, 20.0])
    for dedup in (False, True):
        lib = make_lib(x, case, dedup=dedup)
        A = lib.matrix()
        assert A.shape == (len(x), len(lib))
        assert A.flags.f_contiguous and A.dtype == np.float64
        for dtype in (np.float64, np.float32):
            out = np.full((len(t), len(lib)), np.nan, dtype=dtype, order="F")
            res = lib.matrix(t, dtype=dtype, out=out)
            assert res is out
            assert_array_equal(out, lib.matrix(t, dtype=dtype))
            assert lib.matrix(t, dtype).dtype == dtype
            assert lib.matrix(t, dtype).flags.f_contiguous
        bad_outs = [
            np.empty((len(x), len(lib)), order="C") if len(lib) > 1 else np.empty((len(x) + 1, len(lib))),
            np.empty((len(x) + 1, len(lib)), order="F"),
            np.empty((len(x), len(lib) + 1), order="F"),
            np.empty((len(x), len(lib)), dtype=np.float32, order="F"),
            [[0.0] * len(lib)] * len(x),
        ]
        ro = np.empty((len(x), len(lib)), order="F")
        ro.flags.writeable = False
        bad_outs.append(ro)
        for bad in bad_outs:
            with pytest.raises(ValueError, match="out must be"):
                lib.matrix(out=bad)
        assert lib.nbytes() == len(x) * len(lib) * 8
        assert lib.nbytes(np.float32) == len(x) * len(lib) * 4
        assert lib.nbytes(np.float64, n_points=len(t)) == len(t) * len(lib) * 8
        assert lib.nbytes() == A.nbytes


def test_matrix_accepts_column_and_list_inputs():
    x = [0.0, 1.0, 3.0]
    lib = netmirror.library(np.array(x)[:, None], "relu", 2, dedup=False)
    assert lib.x.shape == (3,)
    assert_array_equal(lib.matrix(), reference.library_matrix(x, "relu", 2))
    assert_array_equal(lib.matrix([[0.5], [2.0]]), lib.matrix(np.array([0.5, 2.0])))
    lib_int = netmirror.library(np.array([0, 1, 3]), "relu", 3, dedup=False)
    assert_array_equal(lib_int.matrix(), reference.library_matrix(np.array(x), "relu", 3))
    assert_array_equal(lib_int.matrix(np.array([1, 2], dtype=np.int32)), lib_int.matrix(np.array([1.0, 2.0])))


# ==================================================================================================
# sizes
def _family_size(n, case):
    act, arch, depth, kw = case
    return netmirror.library_size(n, act, depth, architecture=arch, widths=kw.get("widths"), slope=kw.get("slope"))


@pytest.mark.parametrize("case", family_params())
def test_raw_size_formula(case):
    act, arch, depth, kw = case
    for n in list(range(1, 13)) + [17, 40, 101, 250]:
        expect = ref_size(n, case)
        assert _family_size(n, case) == expect
        assert isinstance(_family_size(n, case), int)
        lib = make_lib(np.linspace(-1.0, 1.0, n), case, dedup=False)
        assert lib.raw_size == expect
        assert len(lib) == expect
        if expect <= 10**6:
            assert_array_equal(lib.raw_indices(), np.arange(expect))


def test_raw_size_explicit_values():
    for n in (1, 2, 3, 5, 10, 37):
        assert netmirror.library_size(n, "relu", 2) == 2 * n
        assert netmirror.library_size(n, "relu", 3) == 4 * n**2
        assert netmirror.library_size(n, "relu", 4) == 16 * n**3
        assert netmirror.library_size(n, "leaky_relu", 4) == 16 * n**3
        assert netmirror.library_size(n, "sign", 3) == 4 * n**2
        assert netmirror.library_size(n, "threshold", 4) == 8 * n**3
        assert netmirror.library_size(n, "relu", 3, architecture="symmetrized") == 6 * n**3
        assert netmirror.library_size(n, "leaky_relu", 3, slope=-0.5) == 8 * n**2
        assert netmirror.library_size(n, "leaky_relu", 4, slope=-0.5) == 96 * n**3  # 8 N^3 x (3! + 6) modes
        assert netmirror.library_size(n, "abs", 4) == 12 * n**3
        assert netmirror.library_size(n, "abs", 5) == 24 * n**4
        assert netmirror.library_size(n, "abs", 3) == 2 * n**2
        assert netmirror.library_size(n, "sign", 2, architecture="rectangular", widths=[7]) == 2 * n
        assert netmirror.library_size(n, "sign", 2, architecture="tree", widths=[7]) == 2 * n
        k = min(3, n)
        assert netmirror.library_size(n, "sign", 5, architecture="rectangular", widths=[3] * 4) == \
            2 * sum(math.comb(n, i) for i in range(1, k + 1))
        k = min(12, n)
        assert netmirror.library_size(n, "threshold", 4, architecture="tree", widths=[3, 4, 2]) == \
            2 * sum(math.comb(n, i) for i in range(1, k + 1))
        # K >= n: every +-1 pattern except the constants... 2 * (2^n - 1) switching sets
        assert netmirror.library_size(n, "sign", 3, architecture="rectangular", widths=[n, n]) == 2 * (2**n - 1)
    for n in (3, 8):
        for depth, expect in ((2, 2 * n), (3, 4 * n**2), (4, 16 * n**3)):
            lib = netmirror.library(np.arange(float(n)), "relu", depth, dedup=False)
            assert lib.raw_size == expect


def test_raw_size_near_int64_limit():
    # relu depth 4: 16 n^3 < 2^63  <=>  n <= 832255
    n_ok = 832255
    assert 16 * n_ok**3 < 2**63 <= 16 * (n_ok + 1) ** 3
    x = np.linspace(0.0, 1.0, n_ok)
    lib = netmirror.library(x, "relu", 4, dedup=False)
    assert lib.raw_size == 16 * n_ok**3 == netmirror.library_size(n_ok, "relu", 4)
    assert netmirror.library_size(n_ok + 1, "relu", 4) == 16 * (n_ok + 1) ** 3  # exact Python integer
    with pytest.raises(ValueError, match="more than can be indexed"):
        netmirror.library(np.linspace(0.0, 1.0, n_ok + 1), "relu", 4, dedup=False)
    # switching sets: 2 (2^n - 1) with K >= n; n = 62 fits, n = 63 does not
    for n, fits in ((62, True), (63, False)):
        xs = np.arange(float(n))
        if fits:
            lib = netmirror.library(xs, "sign", 3, architecture="rectangular", widths=[n, n], dedup=False)
            assert lib.raw_size == 2 * (2**n - 1)
            assert lib.nbytes() == n * lib.raw_size * 8
        else:
            with pytest.raises(ValueError, match="more than can be indexed"):
                netmirror.library(xs, "sign", 3, architecture="rectangular", widths=[n, n], dedup=False)


# ==================================================================================================
# ReLU deep narrow: the authors' construction, column order included
def authors_relu_matrix(x, depth, t):
    """Plain-Python re-implementation of the authors' recursion, point by point."""
    x = [float(v) for v in x]
    n, H = len(x), depth - 1
    size = (2 * n) ** H * (2 if depth == 4 else 1)
    cols = []
    for r in range(size):
        rem = r
        j = []
        for _ in range(H):
            j.append(rem % n)
            rem //= n
        s = []
        for _ in range(H):
            s.append(2 * (rem % 2) - 1)
            rem //= 2
        k = rem
        assert k in (0, 1) and (k == 0 or depth == 4)
        a1 = 2 * x[j[1]] - x[j[0]] if (depth == 4 and k == 1) else x[j[0]]

        def g(level, u):
            if level == 1:
                return max(s[0] * (u - a1), 0.0)
            return max(s[level - 1] * (g(level - 1, u) - g(level - 1, x[j[level - 1]])), 0.0)

        cols.append([g(H, u) for u in t])
    return np.array(cols, dtype=np.float64).T.reshape(len(t), size)


@pytest.mark.parametrize("depth,nmax", [(2, 20), (3, 9), (4, 5)])
@settings(max_examples=12)
@given(data=st.data())
def test_relu_deep_narrow_is_authors_construction(depth, nmax, data):
    x = data.draw(x_arrays(max_n=nmax), label="x")
    t = data.draw(eval_points(x, max_m=5), label="x_eval")
    lib = netmirror.library(x, "relu", depth, dedup=False)
    assert lib.raw_size == (2 * len(x)) ** (depth - 1) * (2 if depth == 4 else 1)
    scale = max(float(np.abs(x).max()), float(np.abs(t).max()), 1e-300)
    for pts, A in ((x, lib.matrix()), (t, lib.matrix(t))):
        expect = authors_relu_matrix(x, depth, pts)
        assert A.shape == expect.shape
        np.testing.assert_allclose(A, expect, rtol=0, atol=1e-12 * scale)


def test_three_point_example_seed000():
    """Seed 000 section 3.7: x = 2, 3, 8, two-layer ReLU."""
    lib = netmirror.library([2.0, 3.0, 8.0], "relu", 2, dedup=False)
    A = np.array([[0, 0, 0, 0, 1, 6], [1, 0, 0, 0, 0, 5], [6, 5, 0, 0, 0, 0]], dtype=float)
    M = lib.matrix()
    assert M.shape == (3, 6)
    # as multisets of columns
    assert sorted(map(tuple, M.T)) == sorted(map(tuple, A.T))
    # raw order: j fastest, then the sign digit (s = -1 first)
    expect = np.array([[0, 0, 0], [1, 0, 0], [6, 5, 0], [0, 1, 6], [0, 0, 5], [0, 0, 0]], dtype=float).T
    assert_array_equal(M, expect)
    # dedup: the zero columns are dropped and (8 - x)+ = 6 - (x - 2)+ on the data is merged
    d = netmirror.library([2.0, 3.0, 8.0], "relu", 2)
    assert len(d) == 3
    assert_array_equal(d.raw_index, [1, 2, 4])


# ==================================================================================================
# leaky relu special slopes
@pytest.mark.parametrize("arch,depth", [("deep_narrow", 2), ("deep_narrow", 3), ("deep_narrow", 4),
                                        ("symmetrized", 3)])
@settings(max_examples=15)
@given(data=st.data())
def test_leaky_slope_zero_is_relu(arch, depth, data):
    case = ("relu", arch, depth, {})
    x = data.draw(x_arrays(max_n=max_n(case, 8000)), label="x")
    t = data.draw(eval_points(x), label="x_eval")
    relu = netmirror.library(x, "relu", depth, architecture=arch, dedup=False)
    leaky = netmirror.library(x, "leaky_relu", depth, architecture=arch, slope=0.0, dedup=False)
    assert leaky.raw_size == relu.raw_size
    assert_array_equal(leaky.matrix(), relu.matrix())
    assert_array_equal(leaky.matrix(t), relu.matrix(t))
    assert_array_equal(netmirror.library(x, "leaky_relu", depth, architecture=arch, slope=0.0).raw_index,
                       netmirror.library(x, "relu", depth, architecture=arch).raw_index)


def _abs_keys(x, depth, tol):
    lib = netmirror.library(x, "abs", depth, dedup=False)
    return key_set(lib.matrix(), tol)


@pytest.mark.parametrize("depth", [2, 3, 4])
@settings(max_examples=15)
@given(data=st.data())
def test_leaky_slope_minus_one_is_abs(depth, data):
    x = data.draw(x_arrays(max_n={2: 30, 3: 14, 4: 6}[depth], grid=True), label="x")
    leaky = netmirror.library(x, "leaky_relu", depth, slope=-1.0, dedup=False)
    tol = leaky.tolerance
    lk = key_set(leaky.matrix(), tol)
    ak = _abs_keys(x, depth, tol)
    if depth <= 3:  # the V-shaped leaky library has abs's midpoints (k = 1): the same features
        assert lk == ak
        assert len(netmirror.library(x, "leaky_relu", depth, slope=-1.0)) == len(ak)
    else:
        # depth 4: leaky_relu with slope < 0 also has the reflection and anchor-midpoint modes (abs passes its
        # fidelity tests without them), so leaky(-1) contains abs.
        assert ak <= lk


# ==================================================================================================
# library freezing
def keys_of(x, act, depth, arch="deep_narrow", **kw):
    lib = netmirror.library(x, act, depth, architecture=arch, **kw)
    return key_set(lib.matrix(), lib.tolerance, lib.fit_intercept)


@pytest.mark.parametrize("act", ["sign", "threshold"])
@settings(max_examples=15)
@given(x=x_arrays(max_n=9))
def test_deep_narrow_binary_nets_freeze(act, x):
    k2 = keys_of(x, act, 2)
    assert keys_of(x, act, 3) == k2
    assert keys_of(x, act, 4) == k2
    # the one-switch set: one class per gap between distinct values
    assert len(k2) == np.unique(x).size - 1


@pytest.mark.parametrize("act", ["sign", "threshold"])
@pytest.mark.parametrize("m", [1, 2, 3])
@settings(max_examples=10)
@given(x=x_arrays(max_n=11))
def test_rectangular_binary_nets_freeze(act, m, x):
    k3 = keys_of(x, act, 3, "rectangular", widths=[m] * 2)
    assert keys_of(x, act, 4, "rectangular", widths=[m] * 3) == k3
    assert keys_of(x, act, 5, "rectangular", widths=[m] * 4) == k3
    # at most m switches among the g = (distinct - 1) gaps: sum_{k=1..m} C(g, k) classes
    g = np.unique(x).size - 1
    assert len(k3) == sum(math.comb(g, k) for k in range(1, m + 1))
    if m == 1:
        assert keys_of(x, act, 2, "rectangular", widths=[1]) == k3


@pytest.mark.parametrize("act", ["sign", "threshold"])
@settings(max_examples=10)
@given(x=x_arrays(min_distinct=6, max_n=10))
def test_tree_binary_nets_grow(act, x):
    k3 = keys_of(x, act, 3, "tree", widths=[2, 2])
    k4 = keys_of(x, act, 4, "tree", widths=[2, 2, 2])
    assert k3 < k4  # strictly larger
    g = np.unique(x).size - 1
    assert len(k3) == sum(math.comb(g, k) for k in range(1, 3))
    assert len(k4) == sum(math.comb(g, k) for k in range(1, 5))


@settings(max_examples=20)
@given(x=x_arrays(min_distinct=4, max_n=12, grid=True))
def test_abs_deep_narrow_does_not_freeze(x):
    k2 = keys_of(x, "abs", 2)
    k3 = keys_of(x, "abs", 3)
    assert k2 < k3  # depth 3 strictly richer


@settings(max_examples=10)
@given(x=x_arrays(min_distinct=2, max_n=12, grid=True))
def test_relu_deep_narrow_libraries_nest(x):
    # deeper relu nets contain the shallower library (a ramp passes through unchanged)
    k2, k3 = keys_of(x, "relu", 2), keys_of(x, "relu", 3)
    assert k2 <= k3
    if len(x) <= 7:
        assert k3 <= keys_of(x, "relu", 4)


# ==================================================================================================
# describe, features, scalars
@pytest.mark.parametrize("case", family_params())
def test_describe_and_features(case):
    x = np.array([0.0, 4.0, 5.0, 7.0, 10.0])
    if ref_size(len(x), case) > 6000:
        x = x[:3]
    for dedup in (True, False):
        lib = make_lib(x, case, dedup=dedup)
        n = len(lib)
        f = lib.features
        assert f.shape == (n,)
        assert_array_equal(f["raw_index"], lib.raw_indices())
        act, arch, depth, _ = case
        kinds = set(f["kind"])
        expect_kind = {"deep_narrow": "nested", "symmetrized": "symmetrized", "rectangular": "switching",
                       "tree": "switching"}[arch]
        assert kinds <= {expect_kind}
        step = max(1, n // 200)
        for j in range(0, n, step):
            s = lib.describe(j)
            assert isinstance(s, str) and s
            if f["reflected"][j]:
                assert "reflection" in s
            if "midpoint" in f.dtype.names and f["midpoint"][j]:
                assert "midpoint" in s
        if n:
            assert lib.describe(-1) == lib.describe(n - 1)
            assert lib.describe(np.int64(0)) == lib.describe(0)
        for bad in (n, -n - 1, 10**9):
            with pytest.raises(IndexError, match="out of range"):
                lib.describe(bad)
        with pytest.raises((IndexError, TypeError)):
            lib.describe(0.5)
        assert lib.beta_scale == (0.5 if arch == "symmetrized" else 1.0)
        assert lib.penalty_power == (2 if act in ("sign", "threshold") else depth)
        assert lib.fit_intercept is True
        assert lib.nbytes() == len(x) * n * 8
        assert lib.nbytes(np.float32) == len(x) * n * 4
        assert repr(lib).startswith("<netmirror.Library")


def test_features_of_relu_depth4_reflections():
    x = np.array([0.0, 4.0, 5.0, 7.0])
    lib = netmirror.library(x, "relu", 4, dedup=False)
    f = lib.features
    n, H = len(x), 3
    block = (2 * n) ** H
    assert not f["reflected"][:block].any()
    assert f["reflected"][block:].all()
    for j in (block, block + 1, block + 7, 2 * block - 1, 0, 5, block - 1):
        j1, j2 = int(f["index"][j][0]), int(f["index"][j][1])
        if f["reflected"][j]:
            assert f["a1"][j] == 2 * x[j2] - x[j1]
            assert "reflection" in lib.describe(j)
        else:
            assert f["a1"][j] == x[j1]
        assert f["layers"][j] == H
        assert set(f["signs"][j][:H]) <= {-1, 1}
    # the deduplicated library still has reflected features, and they are described as such
    d = netmirror.library(np.array([0.0, 4.0, 5.0, 7.0, 10.0, 11.0]), "relu", 4)
    refl = np.flatnonzero(d.features["reflected"])
    assert refl.size > 0
    for j in refl[:20]:
        assert "reflection" in d.describe(int(j))


def test_features_of_switching_and_symmetrized():
    x = np.array([3.0, 1.0, 2.0, 0.0])
    lib = netmirror.library(x, "sign", 4, architecture="tree", widths=[2, 2, 1], dedup=False)
    f = lib.features
    params = reference.switching_parameters(len(x), 4)
    assert len(params) == len(lib)
    for row, (sign, subset) in zip(f, params):
        assert row["kind"] == "switching"
        assert row["signs"][0] == sign
        assert tuple(sorted(row["thresholds"])) == tuple(sorted(subset))
    sym = netmirror.library(x, "relu", 3, architecture="symmetrized", dedup=False)
    prm = reference.symmetrized_parameters(x)
    fs = sym.features
    assert_array_equal(fs["a1"], prm["a"])
    assert_array_equal(fs["anchors"][:, 0], prm["c"])
    assert_array_equal(fs["anchors"][:, 1], prm["b"])
    assert_array_equal(fs["signs"][:, 0], prm["s"])
    for j in range(0, len(sym), 7):
        assert "reflection" in sym.describe(j)


@pytest.mark.parametrize("case", family_params([c for c in FAMILY_CASES if c[1] == "deep_narrow"]))
def test_nested_features_match_reference_parameters(case):
    act, _, depth, kw = case
    x = np.array([2.0, -1.0, 5.5, 0.25])
    lib = make_lib(x, case, dedup=False)
    prm = reference.nested_parameters(x, act, depth, kw.get("slope"))
    f = lib.features
    H = depth - 1
    assert_array_equal(f["index"][:, :H], prm["j"])
    assert_array_equal(f["signs"][:, :H], prm["s"])
    level = reference.nested_levels(x, act, prm, kw.get("slope"))
    assert_array_equal(f["a1"], level[:, 0])
    assert_array_equal(f["levels"][:, :H], level)
    assert_array_equal(f["partners"][:, :H], prm["partner"])
    assert_array_equal(f["anchors"][:, 1:H], x[prm["j"][:, 1:]])
    assert_array_equal(f["reflected"], prm["reflected"])
    assert_array_equal(f["midpoint"], prm["midpoint"])


# ==================================================================================================
# 2-D sign nets (angular)
@settings(max_examples=30)
@given(x=half_plane_points(), t=half_plane_points(max_n=8))
def test_angular_sign_matches_reference(x, t):
    lib = netmirror.library(x, "sign", 2, dedup=False)
    assert lib.fit_intercept is False
    assert lib.raw_size == len(x) == len(lib)
    assert lib.input_dim == 2
    A = lib.matrix()
    assert A.shape == (len(x), len(x)) and A.flags.f_contiguous
    assert_array_equal(A, reference.angular_matrix(x))
    assert_array_equal(A, reference.library_matrix(x, "sign", 2))
    assert_array_equal(lib.matrix(t), reference.angular_matrix(x, t))
    assert_array_equal(lib.matrix(t, np.float32), reference.angular_matrix(x, t).astype(np.float32))
    d = netmirror.library(x, "sign", 2)
    assert d.fit_intercept is False
    assert d.tolerance == 0.25 == reference.dedup_tolerance(x, "sign")
    kept = reference.deduplicate(reference.angular_matrix(x), 0.25, intercept=False)
    assert_array_equal(d.raw_index, kept)
    assert_array_equal(d.matrix(), A[:, kept])
    assert d.penalty_power == 2 and d.beta_scale == 1.0
    for j in range(len(d)):
        assert isinstance(d.describe(j), str)
    assert set(d.features["kind"]) <= {"angular"}


def test_angular_sign_distinct_angles():
    ang = np.array([0.3, 1.0, 1.7, 2.5, 2.9])
    r = np.array([1.0, 2.0, 0.5, 3.0, 1.5])
    x = np.stack([r * np.cos(ang), r * np.sin(ang)], axis=1)
    lib = netmirror.library(x, "sign", 2)
    # no intercept: constants are kept, only exact sign flips merge; distinct angles -> all distinct
    assert len(lib) == len(x)
    A = lib.matrix()
    # column j is +1 exactly at points whose angle is at least x_j's angle
    assert_array_equal(A, np.where(ang[:, None] >= ang[None, :], 1.0, -1.0))


# ==================================================================================================
# the dedup claim: the Lasso optimum is the same on the raw and on the deduplicated dictionary
def lasso_optimum(A, y, beta, intercept=True):
    """min_{z, xi} 0.5 ||A z + xi 1 - y||^2 + beta ||z||_1 (xi = 0 without intercept).
    Returns (primal value, dual value): a certified bracket of the optimum."""
    from scipy.optimize import minimize

    A = np.asarray(A, dtype=np.float64)
    if intercept:
        Ac, yc = A - A.mean(axis=0), y - y.mean()
    else:
        Ac, yc = A, y.astype(np.float64)
    m = Ac.shape[1]

    def dual_bracket(z):
        r = yc - Ac @ z
        primal = 0.5 * r @ r + beta * np.abs(z).sum()
        corr = np.abs(Ac.T @ r).max() if m else 0.0
        u = r * (min(1.0, beta / corr) if corr > 0 else 1.0)
        dual = 0.5 * yc @ yc - 0.5 * (yc - u) @ (yc - u)
        return primal, dual

    if m == 0 or not np.any(Ac):
        return dual_bracket(np.zeros(m))

    def fg(w):
        z = w[:m] - w[m:]
        r = Ac @ z - yc
        g = Ac.T @ r
        return 0.5 * r @ r + beta * w.sum(), np.concatenate([g + beta, -g + beta])

    w = np.zeros(2 * m)
    best = dual_bracket(np.zeros(m))
    for _ in range(6):
        res = minimize(fg, w, jac=True, method="L-BFGS-B", bounds=[(0, None)] * (2 * m),
                       options={"maxiter": 20000, "maxcor": 30, "ftol": 1e-16, "gtol": 1e-13})
        w = res.x
        p, d = dual_bracket(w[:m] - w[m:])
        best = (min(best[0], p), max(best[1], d))
        if best[0] - best[1] <= 1e-10 * max(abs(best[0]), 1e-300):
            break
    if best[0] - best[1] > 1e-10 * max(abs(best[0]), 1e-300):
        # ill-conditioned dictionaries (abs depth 4): also bracket the compiled solver's point; the bracket is
        # this function's own, so it certifies whichever candidate is better
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            zc = netmirror.lasso(A, y, beta, fit_intercept=intercept, tol=1e-13).coef
        p, d = dual_bracket(zc)
        best = (min(best[0], p), max(best[1], d))
    # FISTA polish on z with restarts
    z = w[:m] - w[m:]
    L = np.linalg.norm(Ac, 2) ** 2
    zk, v, tk = z.copy(), z.copy(), 1.0
    for it in range(20000):
        if best[0] - best[1] <= 1e-10 * max(abs(best[0]), 1e-300):
            break
        g = Ac.T @ (Ac @ v - yc)
        u = v - g / L
        znew = np.sign(u) * np.maximum(np.abs(u) - beta / L, 0.0)
        tnew = 0.5 * (1 + math.sqrt(1 + 4 * tk * tk))
        v = znew + ((tk - 1) / tnew) * (znew - zk)
        if (znew - zk) @ (v - znew) > 0:  # adaptive restart
            v, tnew = znew.copy(), 1.0
        zk, tk = znew, tnew
        if it % 50 == 0:
            p, d = dual_bracket(zk)
            best = (min(best[0], p), max(best[1], d))
    return best


LASSO_CASES = [
    ("relu", "deep_narrow", 2, {}),
    ("relu", "deep_narrow", 3, {}),
    ("relu", "deep_narrow", 4, {}),
    ("leaky_relu", "deep_narrow", 3, {"slope": 0.1}),
    ("leaky_relu", "deep_narrow", 3, {"slope": -0.3}),
    ("abs", "deep_narrow", 3, {}),
    ("abs", "deep_narrow", 4, {}),
    ("relu", "symmetrized", 3, {}),
    ("leaky_relu", "symmetrized", 3, {"slope": 2.0}),
    ("sign", "deep_narrow", 3, {}),
    ("threshold", "deep_narrow", 2, {}),
    ("sign", "rectangular", 3, {"widths": (3, 3)}),
    ("threshold", "tree", 4, {"widths": (2, 2, 2)}),
]


@pytest.mark.parametrize("case", family_params(LASSO_CASES))
@settings(max_examples=4)
@given(data=st.data())
def test_dedup_preserves_lasso_optimum(case, data):
    nmax = 5 if case[2] == 4 and case[0] == "relu" else 6
    x = data.draw(x_arrays(min_n=2, max_n=nmax, grid=True, min_distinct=2), label="x")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    y = np.random.default_rng(seed).standard_normal(len(x))
    raw = make_lib(x, case, dedup=False).matrix()
    lib = make_lib(x, case)
    ded = lib.matrix()
    yc = y - y.mean()
    beta_max = np.abs((raw - raw.mean(axis=0)).T @ yc).max()
    assume(beta_max > 1e-8 * np.linalg.norm(yc) * max(np.abs(raw).max(), 1e-300))
    beta = 0.1 * beta_max
    p_raw, d_raw = lasso_optimum(raw, y, beta)
    p_ded, d_ded = lasso_optimum(ded, y, beta)
    scale = max(p_raw, p_ded, 1e-300)
    assert p_raw - d_raw <= 1e-7 * scale, "reference solver did not converge (raw)"
    assert p_ded - d_ded <= 1e-7 * scale, "reference solver did not converge (dedup)"
    assert abs(p_raw - p_ded) <= 1e-6 * scale
    # the deduplicated dictionary is a subset of raw columns: its optimum is never below the raw one
    assert d_raw <= p_ded * (1 + 1e-9)


@settings(max_examples=6)
@given(x=half_plane_points(min_n=2, max_n=6), seed=st.integers(0, 2**32 - 1))
def test_dedup_preserves_lasso_optimum_angular(x, seed):
    y = np.random.default_rng(seed).standard_normal(len(x))
    raw = netmirror.library(x, "sign", 2, dedup=False).matrix()
    lib = netmirror.library(x, "sign", 2)
    beta = 0.1 * np.abs(raw.T @ y).max()
    p_raw, d_raw = lasso_optimum(raw, y, beta, intercept=False)
    p_ded, d_ded = lasso_optimum(lib.matrix(), y, beta, intercept=False)
    scale = max(p_raw, p_ded)
    assert p_raw - d_raw <= 1e-7 * scale and p_ded - d_ded <= 1e-7 * scale
    assert abs(p_raw - p_ded) <= 1e-6 * scale


# ==================================================================================================
# larger inputs: several dedup blocks, threads
@pytest.mark.parametrize("case,n", [
    (("relu", "deep_narrow", 2, {}), 2500),          # 5000 raw columns, blocks of 1677
    (("abs", "deep_narrow", 3, {}), 120),             # 14400 raw columns, blocks of 8192
    (("sign", "rectangular", 3, {"widths": (2, 2)}), 90),
])
def test_dedup_matches_reference_large(case, n):
    rng = np.random.default_rng(n)
    x = np.round(rng.normal(size=n) * 50.0) / 4.0  # ties on a grid, unsorted
    lib = make_lib(x, case)
    B = ref_matrix(x, case)
    assert_array_equal(lib.raw_index, reference.deduplicate(B, ref_tolerance(x, case[0]), True))
    assert_array_equal(lib.matrix(), B[:, lib.raw_index])


@pytest.mark.parametrize("case", family_params([("relu", "deep_narrow", 4, {}), ("leaky_relu", "symmetrized", 3,
                                                {"slope": -0.3}), ("threshold", "tree", 4, {"widths": (2, 2, 5)}),
                                                ("abs", "deep_narrow", 5, {})]))
def test_results_do_not_depend_on_threads(case, monkeypatch):
    x = np.array([0.5, -2.0, 3.0, 3.0, 7.25, 1.0, -0.75])
    t = np.linspace(-5.0, 10.0, 9)
    results = []
    for threads in ("1", "2", "5"):
        monkeypatch.setenv("NETMIRROR_NUM_THREADS", threads)
        lib = make_lib(x, case)
        raw = make_lib(x, case, dedup=False)
        results.append((lib.raw_index, lib.matrix(t), raw.matrix(), raw.matrix(t, np.float32)))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert_array_equal(a, b)
