"""CUDA kernels (netmirror.cuda) against the NumPy reference and the CPU core.

Every test runs twice: on the GPU with CuPy arrays (skipped when netmirror.cuda.is_available() is False) and
under netmirror.cuda.emulation(), where the kernels' per-thread code (cuda/include/netmirror/cuda/*.cuh) runs
over the whole grid on the CPU with NumPy arrays (skipped only when the module was built without nvcc).
"""
from __future__ import annotations

import contextlib
import warnings

import netmirror
import netmirror.cuda as nc
import numpy as np
import pytest
from conftest import (
    FAMILY_CASES,
    case_id,
    eval_points,
    family_params,
    half_plane_points,
    max_n,
    ref_matrix,
    ref_size,
    x_arrays,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from netmirror import reference
from numpy.testing import assert_array_equal

BUILT = nc._cuda is not None


class Backend:
    def __init__(self, name):
        self.name = name
        if name == "gpu":
            import cupy
            self.cp = cupy

    def run(self):
        return nc.emulation() if self.name == "emulated" else contextlib.nullcontext()

    def array(self, a, order="K"):
        a = np.asarray(a)
        return np.array(a, order=order) if self.name == "emulated" else self.cp.array(a, order=order)

    def host(self, a):
        return np.asarray(a) if self.name == "emulated" else self.cp.asnumpy(a)


@pytest.fixture(scope="module", params=["emulated", "gpu"])
def backend(request):
    if not BUILT:
        pytest.skip("netmirror was built without nvcc (no netmirror._cuda)")
    if request.param == "gpu" and not nc.is_available():
        pytest.skip("no CUDA device (netmirror.cuda.is_available() is False)")
    return Backend(request.param)


def make_lib(x, case, dedup=True):
    act, arch, depth, kw = case
    return netmirror.library(x, act, depth, architecture=arch, dedup=dedup, **kw)


# ==================================================================================================
# (1) assembly
@pytest.mark.parametrize("case", family_params())
@settings(max_examples=8)
@given(data=st.data())
def test_assembly_matches_reference_bit_for_bit(backend, case, data):
    x = data.draw(x_arrays(max_n=max_n(case, 3000, cap=12)), label="x")
    t = data.draw(eval_points(x), label="x_eval")
    dtype = data.draw(st.sampled_from([np.float64, np.float32]), label="dtype")
    lib = make_lib(x, case, dedup=False)
    with backend.run():
        A = lib.matrix(device="cuda", dtype=dtype) if backend.name == "gpu" else nc.library_matrix(lib, dtype=dtype)
        At = nc.library_matrix(lib, backend.array(t) if backend.name == "gpu" else t, dtype)
    assert A.shape == (len(x), ref_size(len(x), case)) and A.dtype == dtype and A.flags.f_contiguous
    assert_array_equal(backend.host(A), ref_matrix(x, case).astype(dtype))
    assert_array_equal(backend.host(At), ref_matrix(x, case, t=t).astype(dtype))
    dl = make_lib(x, case)  # kept columns of the deduplicated library, as the CPU assembles them
    with backend.run():
        D = nc.library_matrix(dl, t, dtype)
    assert_array_equal(backend.host(D), dl.matrix(t, dtype))


@settings(max_examples=10)
@given(x=half_plane_points(max_n=12), t=half_plane_points(max_n=9))
def test_assembly_angular_family(backend, x, t):
    lib = netmirror.library(x, "sign", 2, dedup=False)
    with backend.run():
        A = nc.library_matrix(lib, t)
    assert_array_equal(backend.host(A), reference.angular_matrix(x, t))


def test_assembly_into_out_and_bad_input(backend):
    x = np.array([0.0, 4, 5, 7, 10, 11])
    lib = netmirror.library(x, "abs", 3)
    with backend.run():
        out = backend.array(np.zeros((6, len(lib)), dtype=np.float32), order="F")
        assert nc.library_matrix(lib, dtype=np.float32, out=out) is out
        assert_array_equal(backend.host(out), lib.matrix(dtype=np.float32))
        with pytest.raises(ValueError, match="Fortran-ordered"):
            nc.library_matrix(lib, out=backend.array(np.zeros((6, len(lib))), order="C"))
        with pytest.raises(TypeError, match="float64 or float32"):
            nc.library_matrix(lib, dtype=np.int32)
        with pytest.raises(ValueError, match="NaN"):
            nc.library_matrix(lib, np.array([1.0, np.nan]))
        with pytest.raises(TypeError, match="netmirror.Library"):
            nc.library_matrix(lib.matrix())


# ==================================================================================================
# (2) correlations and column statistics
@pytest.mark.parametrize("case", family_params([c for c in FAMILY_CASES if c[1] != "rectangular" or c[2] <= 4]))
@settings(max_examples=5)
@given(data=st.data())
def test_library_correlation_and_stats(backend, case, data):
    x = data.draw(x_arrays(min_n=2, max_n=max_n(case, 2000, cap=10)), label="x")
    v = np.asarray(data.draw(st.lists(st.floats(-3, 3), min_size=len(x), max_size=len(x)), label="v"))
    lib = make_lib(x, case)
    if len(lib) == 0:
        return
    A = lib.matrix()
    with backend.run():
        c_lib = backend.host(nc.correlation(lib, backend.array(v)))
        c_dense = backend.host(nc.correlation(backend.array(A, order="F"), backend.array(v)))
        mean, csq = (backend.host(a) for a in nc.column_stats(lib))
    # the matrix-free pass evaluates the same values in the same order as the dense one
    assert_array_equal(c_lib, c_dense)
    bound = 1e-14 * (np.abs(A).T @ np.abs(v) + 1e-300)
    assert np.all(np.abs(c_lib - A.T @ v) <= 4 * bound)
    ref_mean = A.mean(axis=0)
    assert np.allclose(mean, ref_mean, rtol=1e-13, atol=1e-13 * np.abs(A).max())
    ref_csq = ((A - ref_mean) ** 2).sum(axis=0)
    assert np.allclose(csq, ref_csq, rtol=1e-11, atol=1e-12 * (np.abs(A).max() ** 2 * len(x)))


@settings(max_examples=25)
@given(m=st.integers(1, 70), cols=st.integers(1, 40), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([1e-3, 1.0, 1e6]))
def test_dense_correlation_matches_reference(backend, m, cols, dtype, seed, scale):
    rng = np.random.default_rng(seed)
    A = np.asfortranarray((rng.standard_normal((m, cols)) * scale).astype(dtype))
    v = rng.standard_normal(m)
    with backend.run():
        c = backend.host(nc.correlation(backend.array(A, order="F"), backend.array(v)))
        mean, csq = (backend.host(a) for a in nc.column_stats(backend.array(A, order="F")))
    A64 = A.astype(np.float64)  # float32 entries are exact in float64: the reference is A64^T v
    exact = (A64.astype(np.longdouble).T @ v.astype(np.longdouble)).astype(np.float64)
    assert np.all(np.abs(c - exact) <= 1e-15 * m * (np.abs(A64).T @ np.abs(v)) + 1e-300)
    assert np.allclose(mean, A64.mean(axis=0), rtol=1e-14, atol=1e-15 * scale)
    assert np.allclose(csq, ((A64 - A64.mean(axis=0)) ** 2).sum(axis=0), rtol=1e-12, atol=1e-13 * scale * scale)


def test_correlation_bad_input(backend):
    A = np.asfortranarray(np.ones((4, 3)))
    with backend.run():
        with pytest.raises(ValueError, match="length 4"):
            nc.correlation(backend.array(A, order="F"), backend.array(np.ones(5)))
        with pytest.raises(ValueError, match="Fortran-ordered"):
            nc.correlation(backend.array(np.ones((4, 3)), order="C"), backend.array(np.ones(4)))
        with pytest.raises(TypeError, match="float32 or float64"):
            nc.correlation(backend.array(np.ones((4, 3), dtype=np.int64), order="F"), backend.array(np.ones(4)))
        bad = A.copy(order="F")
        bad[1, 2] = np.nan  # not scanned by the pass: it propagates to its column only
        c = backend.host(nc.correlation(backend.array(bad, order="F"), backend.array(np.ones(4))))
        assert np.isnan(c[2]) and np.all(c[:2] == 4.0)
        with pytest.raises(ValueError, match="NaN"):  # the solver does scan A
            nc.lasso(backend.array(bad, order="F"), np.arange(4.0), 0.1)
        with pytest.raises(ValueError, match="NaN"):
            nc.correlation(backend.array(A, order="F"), backend.array(np.array([1.0, np.inf, 0, 0])))


# ==================================================================================================
# (3) covariance
@st.composite
def batches(draw):
    dim = draw(st.sampled_from([1, 3, 17, 63, 64, 65, 130]))
    n_batches = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    offset = draw(st.sampled_from([0.0, 1e3, 1e6]))
    layout = draw(st.sampled_from(["C", "F", "strided", "reversed"]))
    weighted = draw(st.booleans())
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        n = draw(st.integers(1, 300))
        X = (rng.standard_normal((n, dim)) + offset).astype(dtype)
        if layout == "F":
            X = np.asfortranarray(X)
        elif layout == "strided":
            X = np.ascontiguousarray(np.repeat(X, 2, axis=1))[:, ::2]
        elif layout == "reversed":  # negative strides: rows and columns read backwards
            X = np.ascontiguousarray(X[::-1, ::-1])[::-1, ::-1]
        w = rng.integers(0, 3, n).astype(np.float64) if weighted else None
        out.append((X, w))
    return out


@settings(max_examples=30)
@given(data=batches())
def test_covariance_matches_reference_and_cpu(backend, data):
    dim = data[0][0].shape[1]
    acc, cpu = netmirror.CovarianceAccumulator(dim), netmirror.CovarianceAccumulator(dim)
    with backend.run():
        for X, w in data:
            Xd = backend.array(X)
            if backend.name == "gpu":
                acc.update(Xd, None if w is None else backend.array(w))  # dispatched to the device
            else:
                nc.covariance_update(acc, Xd, w)
            cpu.update(X, w)
    X = np.concatenate([b[0] for b in data])
    w = None if data[0][1] is None else np.concatenate([b[1] for b in data])
    assert acc.count == cpu.count == X.shape[0]
    assert acc.total_weight == cpu.total_weight
    if acc.total_weight == 0:
        return
    ref = reference.covariance_moments(X, w)
    scale = float(np.abs(X - ref["mean"]).max()) ** 2 * acc.total_weight + 1e-300
    assert np.allclose(acc.mean, ref["mean"], rtol=1e-14, atol=1e-12 * np.sqrt(scale / acc.total_weight))
    assert np.all(np.abs(acc.scatter - ref["scatter"]) <= 1e-12 * scale)
    assert np.all(np.abs(acc.scatter - cpu.scatter) <= 1e-12 * scale)
    assert_array_equal(acc.scatter, acc.scatter.T)


@pytest.mark.parametrize("mean,std,drift", [(1e12, 1e-2, 0.0), (1e15, 1.0, 0.0), (0.0, 1.0, 1e3)])
def test_covariance_far_from_origin(backend, mean, std, drift):
    """Issue 17 on the device path: 7 batches at mean 1e12 / std 1e-2 and 1e15 / std 1 (the float64 centre
    is up to 0.06 off the batch mean there), and a drifting stream (the shift far from each batch), against
    the exact covariance; the first row has weight 0 and lies far away."""
    rng = np.random.default_rng(1)
    parts = [mean + k * drift + std * rng.standard_normal((300, 4)) for k in range(7)]
    parts[0][0] = -1e15
    weights = [np.ones(300) for _ in parts]
    weights[0][0] = 0.0
    acc = netmirror.CovarianceAccumulator(4)
    with backend.run():
        for X, w in zip(parts, weights):
            nc.covariance_update(acc, backend.array(X), backend.array(w))
    X, w = np.concatenate(parts), np.concatenate(weights)
    exact = reference.covariance_exact(X, w)
    d = np.sqrt(np.diag(exact["scatter"]))
    assert np.abs(acc.scatter - exact["scatter"]).max() / np.outer(d, d).min() <= 3e-14
    assert np.abs(acc.mean - exact["mean"]).max() <= 2.3e-16 * np.abs(exact["mean"]).max() + 3e-14 * d.min()


def test_covariance_bad_input_leaves_state(backend):
    rng = np.random.default_rng(0)
    acc = netmirror.CovarianceAccumulator(5)
    with backend.run():
        nc.covariance_update(acc, backend.array(rng.standard_normal((10, 5))))
        before = acc.scatter.copy(), acc.count
        bad = rng.standard_normal((4, 5))
        bad[2, 3] = np.nan
        with pytest.raises(ValueError, match="NaN or infinity"):
            nc.covariance_update(acc, backend.array(bad))
        with pytest.raises(ValueError, match="columns"):
            nc.covariance_update(acc, backend.array(np.ones((3, 4))))
        with pytest.raises(TypeError, match="float32 or float64"):
            nc.covariance_update(acc, backend.array(np.ones((3, 5), dtype=np.int32)))
        with pytest.raises(ValueError, match=">= 0"):
            nc.covariance_update(acc, backend.array(np.ones((3, 5))), np.array([1.0, -1.0, 1.0]))
        with pytest.raises(ValueError, match="shape"):
            nc.covariance_update(acc, backend.array(np.ones((3, 5))), np.ones(2))
    assert_array_equal(acc.scatter, before[0])
    assert acc.count == before[1]


# ==================================================================================================
# (4) Lasso: the C++ solver over a device-backed matrix (GPU passes, host coordinate descent), certified
def _check_certificate(A, y, res, beta, fit_intercept, tol):
    """The result's objective and gap, recomputed by the reference: a valid lower bound on the optimum."""
    obj = reference.lasso_objective(A, y, res.coef, res.intercept, beta)
    assert abs(obj - res.objective) <= 1e-10 * max(1.0, obj)
    gap, _ = reference.lasso_dual_gap(A, y, res.coef, beta, fit_intercept, theta=res.dual)
    p0 = reference.lasso_null_objective(y, fit_intercept)
    assert gap <= res.gap + 1e-9 * p0
    assert res.converged and res.gap <= tol * p0


@settings(max_examples=12)
@given(n=st.integers(3, 25), m=st.integers(1, 60), seed=st.integers(0, 2**32 - 1),
       frac=st.sampled_from([0.5, 0.1, 0.01]), fit_intercept=st.booleans(),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_lasso_dense_is_certified_and_matches_cpu(backend, n, m, seed, frac, fit_intercept, dtype):
    rng = np.random.default_rng(seed)
    A = np.asfortranarray(rng.standard_normal((n, m)).astype(dtype))
    y = rng.standard_normal(n)
    bmax = netmirror.beta_max(A, y, fit_intercept)
    if bmax == 0:
        return
    beta = frac * bmax
    with backend.run():
        res = nc.lasso(backend.array(A, order="F"), backend.array(y), beta, fit_intercept=fit_intercept, tol=1e-10,
                       ws_start=4)
    cpu = netmirror.lasso(A, y, beta, fit_intercept=fit_intercept, tol=1e-10)
    _check_certificate(A.astype(np.float64), y, res, beta, fit_intercept, 1e-10)
    # both objectives are within their gaps of the same optimum
    assert abs(res.objective - cpu.objective) <= res.gap + cpu.gap + 1e-12 * max(1.0, cpu.objective)


@pytest.mark.parametrize("case", [("relu", "deep_narrow", 3, {}), ("abs", "deep_narrow", 3, {}),
                                  ("leaky_relu", "symmetrized", 3, {"slope": 0.1}),
                                  ("sign", "tree", 3, {"widths": (3, 1)})], ids=case_id)
def test_lasso_library_matrix_free_matches_cpu(backend, case):
    x, y = netmirror.datasets.toy("opt")
    lib = make_lib(x, case)
    beta = 1e-3 * float(((y - y.mean()) ** 2).sum())
    with backend.run():
        res = nc.lasso(lib, y, beta, tol=1e-12)
    cpu = netmirror.lasso(lib, y, beta, tol=1e-12)
    _check_certificate(lib.matrix(), y, res, beta, True, 1e-12)
    assert abs(res.objective - cpu.objective) <= res.gap + cpu.gap + 1e-12 * max(1.0, cpu.objective)


def test_lasso_screens_and_warm_starts_like_the_cpu_solver(backend, capfd):
    """The GPU Lasso is the C++ solver over a device-backed matrix: Gap Safe screening drops columns (the later
    passes correlate an index subset on the device, the final certificate all of them again), and a warm start
    from the previous beta converges; both certified and equal to the CPU optimum within the gaps."""
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(-2, 2, 40))
    y = np.sin(2 * x) + 0.1 * rng.standard_normal(40)
    lib = netmirror.library(x, "relu", 3)
    A = lib.matrix()
    beta = 1e-2 * netmirror.beta_max(A, y)
    with backend.run():
        free = nc.lasso(lib, y, beta, tol=1e-12, verbose=True)
        dense = nc.lasso(backend.array(A, order="F"), backend.array(y), beta, tol=1e-12)
        warm = nc.lasso(lib, y, 0.8 * beta, tol=1e-12, coef_init=free.coef)
    active = [int(line.rsplit("active", 1)[1]) for line in capfd.readouterr().err.splitlines() if "active" in line]
    assert active[0] == len(lib) and active[-1] < active[0]
    for res, b in ((free, beta), (dense, beta), (warm, 0.8 * beta)):
        _check_certificate(A, y, res, b, True, 1e-12)
        assert not res.interrupted
        cpu = netmirror.lasso(A, y, b, tol=1e-12)
        assert abs(res.objective - cpu.objective) <= res.gap + cpu.gap + 1e-12 * max(1.0, cpu.objective)


def test_lasso_constant_target_and_bad_input(backend):
    A = np.asfortranarray(np.random.default_rng(1).standard_normal((6, 4)))
    with backend.run():
        res = nc.lasso(backend.array(A, order="F"), np.full(6, 2.5), 0.1)
        assert res.converged and res.intercept == 2.5 and not res.coef.any()
        with pytest.raises(ValueError, match="beta"):
            nc.lasso(backend.array(A, order="F"), np.ones(6), -1.0)
        with pytest.raises(ValueError, match="length 6"):
            nc.lasso(backend.array(A, order="F"), np.ones(5), 0.1)
        with pytest.raises(ValueError, match="ws_start"):
            nc.lasso(backend.array(A, order="F"), np.arange(6.0), 0.1, ws_start=0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = nc.lasso(backend.array(A, order="F"), np.arange(6.0) ** 2, 1e-6, tol=0.0, max_iter=1)
        assert not res.converged and any(issubclass(c.category, netmirror.ConvergenceWarning) for c in caught)


# ==================================================================================================
# without a GPU: clear errors, never an import failure
def test_import_and_availability_without_gpu():
    assert isinstance(nc.is_available(), bool)
    info = nc.device_info()
    assert info["built"] == BUILT
    if nc.is_available():
        pytest.skip("a GPU is present")
    lib = netmirror.library(np.array([0.0, 1, 2]), "relu", 2)
    with pytest.raises(RuntimeError, match="CUDA|CuPy|nvcc"):
        lib.matrix(device="cuda")
    with pytest.raises(RuntimeError, match="CUDA|CuPy|nvcc"):
        netmirror.lasso(lib, np.array([0.0, 1, 0]), 0.1, device="cuda")
    class DeviceArray:  # what CovarianceAccumulator.update sends to the GPU path
        __cuda_array_interface__ = {"shape": (2, 3), "typestr": "<f4", "data": (0, False), "version": 3}

    acc = netmirror.CovarianceAccumulator(3)
    with pytest.raises(RuntimeError, match="CUDA|CuPy|nvcc"):
        acc.update(DeviceArray())
    assert acc.count == 0
    with pytest.raises(ValueError, match="device"):
        lib.matrix(device="gpu")
    with pytest.raises(ValueError, match="device"):
        netmirror.lasso(lib, np.array([0.0, 1, 0]), 0.1, device="tpu")


def test_emulation_needs_numpy_arrays(backend):
    if backend.name != "emulated":
        pytest.skip("emulation only")
    with nc.emulation(), pytest.raises(TypeError, match="NumPy"):
        nc.correlation([[1.0]], np.ones(1))


def test_lasso_device_keyword(backend):
    x, y = netmirror.datasets.toy("zshape")
    lib = netmirror.library(x, "relu", 3)
    beta = 1e-3 * float(((y - y.mean()) ** 2).sum())
    with backend.run():
        dense = netmirror.lasso(lib.matrix(), y, beta, device="cuda")  # host A: copied to the device once
        free = netmirror.lasso(lib, y, beta, device="cuda")
        warm = netmirror.lasso(lib, y, 0.9 * beta, device="cuda", coef_init=free.coef)
        with pytest.raises(ValueError, match="coef_init"):
            netmirror.lasso(lib, y, beta, device="cuda", coef_init=np.zeros(len(lib) + 1))
    cpu = netmirror.lasso(lib.matrix(), y, beta)
    assert warm.converged
    warm_cpu = netmirror.lasso(lib.matrix(), y, 0.9 * beta)
    assert abs(warm.objective - warm_cpu.objective) <= warm.gap + warm_cpu.gap + 1e-12 * max(1.0, warm_cpu.objective)
    for res in (dense, free):
        assert res.converged
        assert abs(res.objective - cpu.objective) <= res.gap + cpu.gap + 1e-12 * max(1.0, cpu.objective)


def test_lasso_far_from_the_origin_is_certified(backend):
    """A column of tiny spread against its mean (1e8 + 1e-6 t) is a real column on the GPU path too: the
    correlations shift each column by its mean inside the sums (before: z = 0 returned as converged)."""
    t = np.arange(20.0)
    A = np.asfortranarray(np.column_stack([1e8 + 1e-6 * t, np.full(20, 3.0)]))
    p_star, z_star = reference.lasso_exact(A, t, 1e-8)
    with backend.run():
        res = nc.lasso(backend.array(A, order="F"), backend.array(t), 1e-8)
    assert res.converged and res.coef[1] == 0.0
    assert res.coef[0] == pytest.approx(float(z_star[0]), rel=1e-9)
    assert res.objective == pytest.approx(float(p_star), rel=1e-9)
    assert res.objective - res.gap <= float(p_star) * (1 + 1e-12)


def test_lasso_warm_start_that_overflows_is_refused(backend):
    A = np.asfortranarray(np.random.default_rng(0).standard_normal((6, 3)))
    with backend.run(), pytest.raises(ValueError, match="coef_init is too large"):
        nc.lasso(backend.array(A, order="F"), backend.array(np.arange(6.0)), 0.1, coef_init=np.full(3, 1e300))
