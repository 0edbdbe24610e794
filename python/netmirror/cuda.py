"""CUDA kernels: library assembly, correlations Aᵀv, column statistics, batched covariance and a GPU-scored Lasso.

Inputs are CuPy arrays, or anything CuPy can view without a copy (``__cuda_array_interface__``, or DLPack
from a CUDA device: PyTorch, JAX, ...). Outputs are CuPy arrays on the inputs' device; kernels run on
CuPy's current stream (``cupy.cuda.get_current_stream()``; wrap a call in ``with cupy.cuda.Stream():`` or
``cupy.cuda.ExternalStream(ptr)`` to use another one) and are not synchronised, like CuPy's own kernels.
Outputs are allocated by CuPy, so they come from its memory pool.

- :func:`library_matrix` (``lib.matrix(device="cuda")``): the dense dictionary, float32 or float64, Fortran
  order. Every kept feature is decoded once on the host into a row of 8 doubles (switching features add their
  sorted thresholds) and cached on the library per device; the kernel evaluates every entry from it with the
  C++ core's per-point functions, so entries equal ``lib.matrix()`` bit for bit.
- :func:`correlation`: ``Aᵀv`` in float64 for a dense device matrix (float32 or float64) or a
  :class:`netmirror.Library` (matrix-free: columns evaluated on the fly, never stored), one warp per column.
- :func:`column_stats`: column means and centred squared norms, the statistics the Lasso needs.
- :func:`covariance_update` (``CovarianceAccumulator.update`` with a device array): float32 or float64 rows,
  float64 arithmetic (a tiled SYRK-like kernel), merged into the accumulator exactly like a CPU batch.
- :func:`lasso` (``netmirror.lasso(..., device="cuda")``): the C++ Lasso solver of the CPU path over a
  device-backed matrix: its full correlation passes, column statistics and working-set gathers are kernel
  launches, its coordinate descent runs on the host. The certificate is the CPU solver's: ``objective - gap``
  is a lower bound on the optimum, the gap in float64 over every column.

:func:`is_available` says whether the kernels were built (nvcc found at install time) and a GPU is present.
Without a GPU, ``with netmirror.cuda.emulation():`` runs the same per-thread kernel code over the whole grid
on the CPU, with NumPy arrays in and out (slow; it is how the kernels are tested without a GPU).
"""
from __future__ import annotations

import contextlib
import contextvars
import time
import weakref

import numpy as np

try:
    from . import _cuda
except ImportError:  # built without nvcc: every entry point says so
    _cuda = None

__all__ = ["is_available", "device_info", "emulation", "is_device_array", "library_matrix", "correlation",
           "column_stats", "covariance_update", "lasso"]

_emulating = contextvars.ContextVar("netmirror_cuda_emulation", default=False)


# --------------------------------------------------------------------------------------------------
# availability
def _cupy():
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def is_available():
    """True when netmirror._cuda was built, CuPy is installed and a CUDA device is present (never raises)."""
    if _cuda is None or _cuda.device_count() == 0:
        return False
    try:
        cupy = _cupy()
        return cupy is not None and cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # CuPy without a driver raises CUDARuntimeError; a broken CuPy install anything
        return False


def device_info():
    """What the kernels would run on: build, runtime version, devices (for bug reports and benches)."""
    if _cuda is None:
        return {"built": False}
    n = _cuda.device_count()
    return {"built": True, "runtime_version": _cuda.runtime_version(), "devices": n,
            "names": [_cuda.device_name(i) for i in range(n)], "cupy": _cupy() is not None}


@contextlib.contextmanager
def emulation():
    """Run the kernels on the CPU (NumPy arrays in and out) with the same per-thread code as on the GPU.

    For tests and debugging on machines without a GPU; much slower than both the GPU and the CPU path."""
    _require_built()
    token = _emulating.set(True)
    try:
        yield
    finally:
        _emulating.reset(token)


def _require_built():
    if _cuda is None:
        raise RuntimeError("netmirror was built without its CUDA kernels (no nvcc at install time); reinstall on a "
                           "machine with the CUDA toolkit (NETMIRROR_CUDA=ON makes a missing nvcc an error)")


# --------------------------------------------------------------------------------------------------
# backends: CuPy arrays on a device, or NumPy arrays under emulation()
class _Backend:
    """Where one call runs: xp is cupy (device kernels) or numpy (host emulation)."""

    def __init__(self, xp, device=None):
        self.xp = xp
        self.device = device
        self.emulated = xp is np

    def ptr(self, a):
        if a is None:
            return 0
        return a.ctypes.data if self.emulated else a.data.ptr

    def call(self, name, *args, **kwargs):
        if self.emulated:
            return getattr(_cuda, "emulate_" + name)(*args, **kwargs)
        stream = self.xp.cuda.get_current_stream().ptr
        return getattr(_cuda, name)(*args, self.device, stream, **kwargs)

    def on_device(self):
        return contextlib.nullcontext() if self.emulated else self.xp.cuda.Device(self.device)

    def to_host(self, a):
        return np.asarray(a) if self.emulated else a.get()

    def asarray(self, a, dtype=None):
        with self.on_device():
            return self.xp.asarray(a, dtype=dtype)


def _backend():
    _require_built()
    if _emulating.get():
        return _Backend(np)
    cupy = _cupy()
    if cupy is None:
        raise RuntimeError("netmirror.cuda needs CuPy: pip install 'netmirror[cuda]' (cupy-cuda13x)")
    if _cuda.device_count() == 0:
        raise RuntimeError("no CUDA device is available (netmirror.cuda.is_available() is False); "
                           "use the CPU functions, or netmirror.cuda.emulation() to test the kernels on the CPU")
    return _Backend(cupy, cupy.cuda.Device().id)


def _device_array(bk, a, name):
    """a as an array of bk (CuPy zero-copy view of a device array; NumPy under emulation)."""
    if bk.emulated:
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name}: netmirror.cuda.emulation() runs on NumPy arrays, got {type(a).__name__}")
        return a
    cupy = bk.xp
    if isinstance(a, cupy.ndarray):
        return a
    if hasattr(a, "__cuda_array_interface__"):
        return cupy.asarray(a)
    if hasattr(a, "__dlpack__") and hasattr(a, "__dlpack_device__"):
        if a.__dlpack_device__()[0] in (2, 13):  # kDLCUDA, kDLCUDAManaged
            return cupy.from_dlpack(a)
    raise TypeError(f"{name} must be a CUDA device array (CuPy, or anything with __cuda_array_interface__ or DLPack "
                    f"on a CUDA device), got {type(a).__name__}; move it with cupy.asarray(...)")


def _upload_matrix(A):
    """A host matrix (validated by the CPU path) as a Fortran-ordered array of the current backend."""
    bk = _backend()
    with bk.on_device():
        return bk.xp.asfortranarray(bk.xp.asarray(A))


def _same_device(bk, *arrays):
    """Every device array on one device: the call runs there."""
    if bk.emulated:
        return bk
    ids = {a.device.id for a in arrays if a is not None}
    if len(ids) > 1:
        raise ValueError(f"the arrays live on different devices {sorted(ids)}; move them to one device first")
    if ids:
        bk.device = ids.pop()
    return bk


def is_device_array(a):
    """True for arrays that the device path takes (CuPy, __cuda_array_interface__, CUDA DLPack)."""
    if isinstance(a, np.ndarray):
        return False
    if hasattr(a, "__cuda_array_interface__"):
        return True
    if hasattr(a, "__dlpack_device__"):
        try:
            return a.__dlpack_device__()[0] in (2, 13)
        except Exception:
            return False
    return False


# --------------------------------------------------------------------------------------------------
# library columns
class _Columns:
    """A library's packed parameter rows on one device (or host arrays under emulation)."""

    def __init__(self, bk, lib):
        from ._library import _ACTIVATION_CODES, _ARCHITECTURE_CODES
        from . import reference

        switches = 1
        if lib.architecture in ("rectangular", "tree"):
            switches = min(reference.switch_budget(lib.architecture, lib.depth, lib.widths), len(lib.x))
        params, offsets, thresholds, kind, layers, slope = _cuda.pack_library(
            lib._coords, _ACTIVATION_CODES[lib.activation], _ARCHITECTURE_CODES[lib.architecture], lib.depth,
            0.0 if lib.slope is None else lib.slope, switches, lib.raw_index)
        self.cols = params.shape[0]
        self.params = bk.asarray(params)
        self.offsets = bk.asarray(offsets)
        self.thresholds = bk.asarray(thresholds)
        self.x = bk.asarray(np.ascontiguousarray(lib._coords, dtype=np.float64))
        self.kind, self.layers, self.slope = kind, layers, slope
        self.activation = _ACTIVATION_CODES[lib.activation]

    def args(self, bk, t, m):
        """The (kind, activation, slope, layers, params, offsets, thresholds, t, m) tuple of the launchers."""
        return (self.kind, self.activation, self.slope, self.layers, bk.ptr(self.params), bk.ptr(self.offsets),
                bk.ptr(self.thresholds), bk.ptr(t), int(m))


# Packed columns per library and device, dropped with the library (never pickled with it).
_column_cache = weakref.WeakKeyDictionary()


def _columns(bk, lib):
    """Packed columns of lib for bk's device, built once per library and device (64 bytes per column)."""
    cache = _column_cache.setdefault(lib, {})
    key = "emulated" if bk.emulated else bk.device
    if key not in cache:
        cache[key] = _Columns(bk, lib)
    return cache[key]


def _is_library(A):
    from ._library import Library
    return isinstance(A, Library)


def library_matrix(lib, x_eval=None, dtype=np.float64, *, out=None):
    """Dense dictionary of ``lib`` on the GPU: shape (len(x_eval), len(lib)), Fortran order, float32/float64.

    Equals ``lib.matrix(x_eval, dtype)`` bit for bit. ``x_eval`` (NumPy or device array) defaults to the
    training inputs; ``out`` may be a preallocated Fortran-ordered device array of that shape and dtype.
    The array is on CuPy's current device unless x_eval or out is a device array (then on theirs)."""
    from ._library import Library, _check_points

    if not isinstance(lib, Library):
        raise TypeError(f"lib must be a netmirror.Library, got {type(lib).__name__}")
    bk = _backend()
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise TypeError(f"dtype must be float64 or float32, got {dtype}")
    if out is not None:
        out = _device_array(bk, out, "out")
    if x_eval is not None and not isinstance(x_eval, np.ndarray) and is_device_array(x_eval):
        x_dev = _device_array(bk, x_eval, "x_eval")
        _same_device(bk, x_dev, out)
        x_eval = bk.to_host(x_dev)  # points are few: validated on the host like the CPU path
    else:
        _same_device(bk, out)
    t = lib.x if x_eval is None else _check_points(x_eval, "x_eval", allow_2d=lib.input_dim == 2)
    if t.ndim != lib.x.ndim:
        raise ValueError(f"x_eval must have the same dimension as the training inputs ({lib.input_dim}-D)")
    shape = (t.shape[0], len(lib))
    with bk.on_device():
        if out is None:
            out = bk.xp.empty(shape, dtype=dtype, order="F")
        elif out.shape != shape or out.dtype != dtype or not out.flags.f_contiguous:
            raise ValueError(f"out must be a Fortran-ordered {dtype} device array of shape {shape}, "
                             f"got {out.dtype} {out.shape}")
        cols = _columns(bk, lib)
        t_dev = bk.xp.asarray(np.ascontiguousarray(lib._frame(t), dtype=np.float64))
        bk.call("assemble", cols.args(bk, t_dev, shape[0]), shape[1], bk.ptr(out), dtype == np.float32)
    return out


# --------------------------------------------------------------------------------------------------
# correlations and column statistics
class _Design:
    """A dense device matrix or a library on one backend: the operations the Lasso needs."""

    def __init__(self, bk, A, check_finite=True):
        self.bk = bk
        self.library = _is_library(A)
        if self.library:
            if len(A) == 0:
                raise ValueError("the library has no features (every column is constant on x): nothing to fit")
            self.lib = A
            self.cols_ = _columns(bk, A)
            self.shape = (len(A.x), len(A))
        else:
            A = _device_array(bk, A, "A")
            _same_device(bk, A)
            if A.ndim != 2:
                raise ValueError(f"A must be 2-D (n_samples, n_features), got shape {A.shape}")
            if A.dtype not in (np.float32, np.float64):
                raise TypeError(f"A must be float32 or float64, got {A.dtype}; convert it with A.astype(cupy.float64)")
            if A.shape[0] == 0 or A.shape[1] == 0:
                raise ValueError(f"A is empty (shape {A.shape}): need at least one sample and one feature")
            if not A.flags.f_contiguous:
                raise ValueError("A must be Fortran-ordered (column-major), as lib.matrix() returns it; "
                                 "convert it once with cupy.asfortranarray(A)")
            if check_finite:  # one extra read of A: done by the solver, not by every correlation pass
                with bk.on_device():
                    if not bool(bk.xp.isfinite(A).all()):
                        raise ValueError("A contains NaN or inf; remove or impute it")
            self.A = A
            self.shape = A.shape

    def _launch(self, name, *tail, **kwargs):
        bk = self.bk
        if self.library:
            c = self.cols_
            return bk.call(name + "_library", c.args(bk, c.x, self.shape[0]), self.shape[1], *tail, **kwargs)
        A = self.A
        ld = A.strides[1] // A.itemsize if A.shape[1] > 1 else A.shape[0]
        return bk.call(name + "_dense", bk.ptr(A), A.dtype == np.float32, A.shape[0], ld, self.shape[1], *tail,
                       **kwargs)

    def correlation(self, v, shift=None):
        """Aᵀv, or (A - 1 shiftᵀ)ᵀv with a device vector of per-column shifts (the column means)."""
        with self.bk.on_device():
            out = self.bk.xp.empty(self.shape[1], dtype=np.float64)
            kwargs = {} if shift is None else {"shift": self.bk.ptr(shift)}
            self._launch("correlation", self.bk.ptr(v), self.bk.ptr(out), **kwargs)
        return out

    def column_stats(self):
        with self.bk.on_device():
            mean = self.bk.xp.empty(self.shape[1], dtype=np.float64)
            csq = self.bk.xp.empty(self.shape[1], dtype=np.float64)
            self._launch("column_stats", self.bk.ptr(mean), self.bk.ptr(csq))
        return mean, csq

    def lasso(self, y, *args):
        """The C++ Lasso solver over this matrix on its device (netmirror._cuda.lasso_dense / lasso_library)."""
        with self.bk.on_device():
            return self._launch("lasso", y, *args)

    def gather(self, idx):
        """Columns idx as a host float64 Fortran matrix (the warm-start check)."""
        n = self.shape[0]
        out = np.empty((n, len(idx)), dtype=np.float64, order="F")
        if len(idx) == 0:
            return out
        if self.library:
            raw = idx if self.lib.raw_index is None else self.lib.raw_index[idx]
            self.lib._family.assemble(np.ascontiguousarray(raw, dtype=np.int64), self.lib._coords, out)
        else:
            with self.bk.on_device():
                sub = self.A[:, self.bk.xp.asarray(idx)]
            out[:] = self.bk.to_host(sub)
        return out


def _vector(bk, v, n, name):
    if bk.emulated or isinstance(v, (np.ndarray, list, tuple)):
        v = np.asarray(v)
    else:
        v = _device_array(bk, v, name)
        _same_device(bk, v)
    if v.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be real numbers, got dtype {v.dtype}")
    if v.ndim != 1 or v.shape[0] != n:
        raise ValueError(f"{name} must be a vector of length {n} (the rows of A), got shape {v.shape}")
    with bk.on_device():
        v = bk.xp.ascontiguousarray(bk.xp.asarray(v, dtype=np.float64))
        if not bool(bk.xp.isfinite(v).all()):
            raise ValueError(f"{name} contains NaN or inf")
    return v


def correlation(A, v):
    """``Aᵀv`` in float64: A a Fortran-ordered float32/float64 device matrix (N, M) or a Library (matrix-free,
    columns evaluated on the fly at the training points); v of length N (host or device). Returns (M,).

    A is not scanned for NaN/inf (that would double the cost of the pass): they propagate into the result,
    as in ``A.T @ v``."""
    bk = _backend()
    design = _Design(bk, A, check_finite=False)
    v = _vector(bk, v, design.shape[0], "v")
    return design.correlation(v)


def column_stats(A):
    """(mean, centred squared norm) of every column of A (device matrix or Library), float64 device arrays.
    NaN/inf in A propagate into the statistics of their columns."""
    bk = _backend()
    return _Design(bk, A, check_finite=False).column_stats()


# --------------------------------------------------------------------------------------------------
# covariance
_TARGET_BLOCKS = 1024  # enough blocks to fill the largest GPUs (132 SMs x several blocks)
_MAX_SLICES = 65535    # gridDim.y


def _offset_slices(n, dim):
    col_blocks = -(-dim // 256)
    return int(max(1, min(-(-n // 64), max(1, _TARGET_BLOCKS // col_blocks), _MAX_SLICES)))


def _scatter_slices(n, dim):
    t = -(-dim // 64)
    tiles = t * (t + 1) // 2
    return int(max(1, min(-(-n // 256), -(-_TARGET_BLOCKS // tiles), _MAX_SLICES)))


def covariance_update(acc, X, weights=None):
    """Add the rows of device array X (n, dim), float32 or float64, any strides, to a CovarianceAccumulator.

    The batch mean (shifted by the running mean), the centred scatter (float64, tiled kernel) and the
    frequency weights are computed on the device; the dim x dim result is merged on the host with Chan's
    formula, exactly as a CPU batch. Raises like ``acc.update`` and leaves acc unchanged then. Returns acc."""
    from ._covariance import CovarianceAccumulator
    from . import _core

    if not isinstance(acc, CovarianceAccumulator):
        raise TypeError(f"acc must be a netmirror.CovarianceAccumulator, got {type(acc).__name__}")
    bk = _backend()
    X = _device_array(bk, X, "X")
    if X.dtype not in (np.float32, np.float64):
        raise TypeError(f"X must be float32 or float64 (got {X.dtype}); convert it explicitly")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n, {acc.dim}), got shape {X.shape}")
    n, dim = X.shape
    if dim != acc.dim:
        raise ValueError(f"X has {dim} columns but the accumulator has dim={acc.dim}")
    if any(s % X.itemsize for s in X.strides):
        raise ValueError("X has strides that are not a multiple of its item size; copy it first")
    xp = bk.xp
    w = w_dev = None
    if weights is not None:
        if bk.emulated or isinstance(weights, (np.ndarray, list, tuple)):
            w = np.asarray(weights)
        else:
            w = w_dev = _device_array(bk, weights, "weights")
        if w.dtype.kind not in "fiub":
            raise TypeError(f"weights must be real numbers, got {w.dtype}")
        if w.shape != (n,):
            raise ValueError(f"weights must have shape ({n},), got {w.shape}")
    _same_device(bk, X, w_dev)
    if n == 0:
        return acc
    core = acc._core
    rs, cs = X.strides[0] // X.itemsize, X.strides[1] // X.itemsize
    f32 = X.dtype == np.float32
    with bk.on_device():
        if w is not None:
            w = xp.ascontiguousarray(xp.asarray(w, dtype=np.float64))
            if not bool(xp.isfinite(w).all()):
                raise ValueError("weights contain NaN or infinity")
            if bool((w < 0).any()):
                raise ValueError("weights must be >= 0")
            batch_weight = float(w.sum())
        else:
            batch_weight = float(n)
        core_weight = core.total_weight
        if core_weight > 0:  # a stale read (another thread updating) only moves the shift
            shift_host = np.asarray(core.mean_hi, dtype=np.float64)
        else:  # the first row of positive weight (a zero-weight row may lie anywhere)
            first = int(xp.argmax(w > 0)) if w is not None else 0
            shift_host = bk.to_host(X[first]).astype(np.float64)
        shift = xp.asarray(shift_host)
        slices = _offset_slices(n, dim)
        partial = xp.empty((slices, dim), dtype=np.float64)
        bk.call("covariance_offsets", bk.ptr(X), f32, n, dim, rs, cs, bk.ptr(shift), bk.ptr(w), slices,
                bk.ptr(partial))
        offset = partial.sum(axis=0)
        if not bool(xp.isfinite(offset).all()):
            if not bool(xp.isfinite(X).all()):
                raise ValueError("X contains NaN or infinity")
            raise ValueError("X is too large: its column sums overflow float64")
        tmp = _core.CovarianceAccumulatorCore(dim)
        zeros = np.zeros(dim)
        if batch_weight == 0.0:  # all weights zero: only the row count changes
            tmp.set_state(n, 0.0, zeros, zeros, np.zeros((dim, dim)))
            core.merge(tmp)
            return acc
        # The batch mean shift + offset as center + residual exactly (TwoSum): the kernel centres on the
        # float64 center, and the scatter around it exceeds the one around the mean by W r rᵀ (at mean 1e15,
        # r is up to 0.06), which is subtracted below.
        offset_host = bk.to_host(offset) / batch_weight
        center_host = shift_host + offset_host
        bv = center_host - shift_host
        residual = (shift_host - (center_host - bv)) + (offset_host - bv)
        center = xp.asarray(center_host)
        scatter = xp.zeros((dim, dim), dtype=np.float64)
        row_scale = xp.sqrt(w) if w is not None else None
        slices = _scatter_slices(n, dim)
        bk.call("covariance_scatter", bk.ptr(X), f32, n, dim, rs, cs, bk.ptr(center), bk.ptr(row_scale), slices,
                bk.ptr(scatter))
        scatter_host = bk.to_host(scatter)  # upper triangle, row-major: what set_state reads
        # As on the CPU: a shift (the running mean) far from the batch compared with its spread leaves the
        # offset with rounding of order eps |offset|, which Chan's term takes linearly; a second pass then
        # sums the batch mean - center from deviations of the size of the spread.
        mean_lo = residual
        if core_weight > 0 and np.any(16.0 * offset_host**2 > np.diag(scatter_host) / batch_weight):
            bk.call("covariance_offsets", bk.ptr(X), f32, n, dim, rs, cs, bk.ptr(center), bk.ptr(w),
                    partial.shape[0], bk.ptr(partial))
            mean_lo = bk.to_host(partial.sum(axis=0)) / batch_weight
    scatter_host = scatter_host - batch_weight * np.outer(mean_lo, mean_lo)  # from the center to the mean
    tmp.set_state(n, batch_weight, center_host, mean_lo, np.ascontiguousarray(scatter_host))
    core.merge(tmp)  # under the accumulator's lock, like a CPU update
    return acc


# --------------------------------------------------------------------------------------------------
# Lasso: the C++ solver over a device-backed matrix
def lasso(A, y, beta, *, fit_intercept=True, tol=1e-10, max_iter=None, coef_init=None, ws_start=16, verbose=False):
    """Solve ``min 1/2 ||A z + xi 1 - y||^2 + beta ||z||_1`` to a certified relative duality gap ``tol``.

    A : Fortran-ordered float32/float64 device matrix (N, M), or a :class:`netmirror.Library` (matrix-free
        on the GPU; use ``fit_intercept=lib.fit_intercept``).
    y : (N,) targets (host or device).  beta, tol, max_iter, coef_init : as :func:`netmirror.lasso`.
    ws_start : first working-set size.

    The solver is the C++ one of :func:`netmirror.lasso` (the same working-set driver, screening, coordinate
    descent, exact finish and certificate) over a matrix whose columns stay on the GPU: each full correlation
    pass over the M columns, the column statistics and the gathers of the working set's columns are one kernel
    launch each, on CuPy's current stream; the coordinate descent runs on the host on the gathered columns.
    The residual, primal, dual and gap are computed in float64 from scratch; the gap covers every column.
    Ctrl-C stops it with the best certified iterate (``interrupted=True``).
    Returns a :class:`netmirror.LassoResult` with NumPy arrays; warns ConvergenceWarning if not converged.
    """
    from . import _checks, _memory
    from ._lasso import (_check_max_iter, _check_positive, _check_target, _refuse_overflowing_warm_start, _result,
                         _solver_advice, _warn_unconverged)

    t0 = time.perf_counter()
    bk = _backend()
    design = _Design(bk, A)
    n, m = design.shape
    y_host = y if bk.emulated or isinstance(y, (np.ndarray, list, tuple)) else bk.to_host(_device_array(bk, y, "y"))
    y_host = _check_target(y_host, n)
    beta = _check_positive("beta", beta)
    tol = _check_positive("tol", tol, allow_zero=True)
    max_iter = _check_max_iter(max_iter)
    ws_start = _checks.integer("ws_start", ws_start)
    fit_intercept = bool(fit_intercept)
    if coef_init is not None:
        coef_init = np.array(bk.to_host(coef_init) if is_device_array(coef_init) else coef_init, dtype=np.float64)
        if coef_init.shape != (m,) or not np.isfinite(coef_init).all():
            raise ValueError(f"coef_init must be a finite vector of length {m}, got shape {coef_init.shape}")
        support0 = np.flatnonzero(coef_init)
        with np.errstate(over="ignore", invalid="ignore"):  # as netmirror.lasso: never start from inf
            _refuse_overflowing_warm_start(y_host - design.gather(support0) @ coef_init[support0], coef_init, beta,
                                          fit_intercept)
    # the solver's own arrays live on the host, as for a CPU solve (the device holds A and a few M-vectors)
    _memory.check(_memory.lasso_bytes(n, m), f"the GPU Lasso solve on a {n:,} x {m:,} dictionary (host memory)",
                  _solver_advice(A))
    out = design.lasso(np.ascontiguousarray(y_host, dtype=np.float64), beta, fit_intercept, tol, max_iter, ws_start,
                       coef_init, bool(verbose))
    return _warn_unconverged(_result(out, beta, time.perf_counter() - t0), tol)
