"""Feature libraries of Lasso twins: validation (once, here) and the Library object over the C++ kernels."""
from __future__ import annotations

import math
import numbers
import os

import numpy as np

from . import _checks, _core, _memory, reference

_ACTIVATION_CODES = {name: i for i, name in enumerate(reference.ACTIVATIONS)}
_ARCHITECTURE_CODES = {name: i for i, name in enumerate(reference.ARCHITECTURES)}
_KINDS = ("nested", "symmetrized", "switching", "angular")

# Supported (activation, architecture) -> depths. docs/libraries.md says why each family stops where it does.
SUPPORTED_DEPTHS = {
    ("relu", "deep_narrow"): range(2, 5),
    ("leaky_relu", "deep_narrow"): range(2, 5),
    ("abs", "deep_narrow"): range(2, 6),
    ("sign", "deep_narrow"): range(2, 5),
    ("threshold", "deep_narrow"): range(2, 5),
    ("relu", "symmetrized"): range(3, 4),
    ("leaky_relu", "symmetrized"): range(3, 4),
    ("sign", "rectangular"): range(2, 17),
    ("threshold", "rectangular"): range(2, 17),
    ("sign", "tree"): range(2, 17),
    ("threshold", "tree"): range(2, 17),
}

# Work allowed for deduplication (raw columns x points evaluated) before we refuse it (_dedup_advice says what to do).
_MAX_DEDUP_WORK = 2 * 10**11


def _dedup_scratch_bytes(n):
    """Block buffers of netmirror::deduplicate on n points (quantised columns, hashes, per-thread columns)."""
    block = max(64, min(8192, 2**22 // max(n, 1)))
    return 8 * (block * n + block + 4 * n * max(_core_threads(), 1)) + 8 * 2**12 * 2


def _core_threads():
    try:
        return min(256, int(os.environ.get("NETMIRROR_NUM_THREADS") or os.cpu_count() or 1))
    except ValueError:
        return os.cpu_count() or 1


def frame_origin(x, activation):
    """Origin of the frame a 1-D piecewise-linear library is computed in: 0.0, or a data point when the data
    sit far from 0 relative to their spread.

    relu, leaky_relu and abs features depend on x only through differences x - a of inputs and breakpoints
    (reflections 2b - a included), so they are the same functions of x - origin. When max|x| > 2 (max - min),
    every x lies within a factor 2 of the chosen data point, so x - origin is exact (Sterbenz) and the
    library (breakpoints, columns, deduplication) keeps the digits that x = 1e13 + arange(10) would lose
    in the original frame. Sign and threshold features compare x with data points exactly and keep 0.0.
    """
    if activation not in ("relu", "leaky_relu", "abs") or x.ndim != 1 or x.size == 0:
        return 0.0
    lo, hi = float(x.min()), float(x.max())
    if max(abs(lo), abs(hi)) <= 2.0 * (hi - lo):
        return 0.0
    return float(np.partition(x, x.size // 2)[x.size // 2])  # the median data point: an exact input


def _depth_text(depths):
    return f"{depths[0]}" if len(depths) == 1 else f"{depths[0]}..{depths[-1]}"


def memory_budget():
    """The memory limit in bytes: :func:`netmirror.set_memory_limit`'s value if set, else NETMIRROR_MAX_BYTES,
    else 80% of available memory (same as :func:`netmirror.get_memory_limit`)."""
    return _memory.get_memory_limit()


def _check_points(x, name="x", allow_2d=False):
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be numeric (real numbers), got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{name} must be an array of points, got the scalar {arr.item()!r}; wrap it as [{arr.item()!r}]")
    if arr.dtype != np.float64 or not arr.flags.c_contiguous:  # a float64 copy is made
        _memory.check(8 * arr.size, f"{name} as float64 ({arr.size:,} values)", "use fewer points")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0].copy()
    if arr.ndim == 2 and allow_2d:
        if arr.shape[1] != 2:
            raise ValueError(f"{name} must be 1-D, or of shape (n, 2) for 2-D sign nets, (n, d) for abs nets; "
                             f"got shape {arr.shape}")
    elif arr.ndim != 1:
        shape_hint = " or (n, 2) for 2-D sign nets, (n, d) for abs nets" if allow_2d else ""
        raise ValueError(f"{name} must be a 1-D array of inputs (shape (n,){shape_hint}); got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: a library needs at least one data point")
    flat = arr.reshape(-1)
    bad = sum(int(flat[i:i + 2**22].size - np.count_nonzero(np.isfinite(flat[i:i + 2**22])))
              for i in range(0, flat.size, 2**22))  # in slices: no array-sized boolean temporary
    if bad:
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); remove or impute them first")
    if not np.isfinite(float(arr.max()) - float(arr.min())):
        raise ValueError(f"{name} spans more than the float64 range (max - min overflows); rescale it first")
    return arr


def _check_family(activation, depth, architecture, slope, widths, input_dim):
    depth, slope = _checks.scalar(depth), _checks.scalar(slope)  # 0-d arrays (np.array(3)) are their element
    if not isinstance(activation, str):
        raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(reference.ACTIVATIONS)}")
    if not isinstance(architecture, str):
        raise ValueError(
            f"unknown architecture {architecture!r}; choose one of {', '.join(reference.ARCHITECTURES)}")
    if activation not in _ACTIVATION_CODES:
        raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(reference.ACTIVATIONS)}")
    if architecture not in _ARCHITECTURE_CODES:
        raise ValueError(
            f"unknown architecture {architecture!r}; choose one of {', '.join(reference.ARCHITECTURES)}")
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral):
        raise TypeError(f"depth must be an integer number of weight layers, got {depth!r}")
    depth = int(depth)
    if input_dim == 2:
        if activation != "sign" or depth != 2 or architecture != "deep_narrow":
            raise ValueError("2-D inputs (shape (n, 2)) are supported for 2-layer sign nets only "
                             "(activation='sign', depth=2, architecture='deep_narrow'), and inputs of shape (n, d) "
                             "for abs nets (activation='abs', architecture='deep_narrow')")
    else:
        depths = SUPPORTED_DEPTHS.get((activation, architecture))
        if depths is None:
            ok = sorted({a for (act, a) in SUPPORTED_DEPTHS if act == activation})
            raise ValueError(f"architecture {architecture!r} is not defined for activation {activation!r}; "
                             f"use one of {', '.join(ok)}")
        if depth not in depths:
            raise ValueError(f"depth={depth} is out of range for {activation} {architecture} nets; "
                             f"supported depths (weight layers) are {_depth_text(depths)}")
    if activation == "leaky_relu":
        if slope is None:
            raise ValueError("leaky_relu needs slope= (the negative-side slope alpha, a finite number != 1)")
        if isinstance(slope, bool) or not isinstance(slope, numbers.Real) or not math.isfinite(slope):
            raise ValueError(f"slope must be a finite real number, got {slope!r}")
        if float(slope) == 1.0:
            raise ValueError("slope=1 makes leaky_relu linear; use a slope != 1 (0 is relu, -1 is abs)")
        slope = float(slope)
    elif slope is not None:
        raise ValueError(f"slope applies to leaky_relu only; drop slope= for {activation}")
    switches = 1
    if architecture in ("rectangular", "tree"):
        if widths is None:
            raise ValueError(f"{architecture} nets need widths=: the {depth - 1} hidden-layer widths")
        given = widths
        try:
            ok = all(isinstance(w, numbers.Integral) and not isinstance(w, bool) for w in widths)
            widths = tuple(int(w) for w in widths)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"widths must be a sequence of positive integers, got {given!r}")
        if len(widths) != depth - 1 or any(w < 1 for w in widths):
            raise ValueError(f"widths must give {depth - 1} positive hidden-layer widths for depth={depth}, "
                             f"got {widths}")
        if architecture == "rectangular" and len(set(widths)) > 1:
            raise ValueError(f"rectangular nets have equal hidden widths, got {widths}; "
                             "use architecture='tree' for varying widths")
        switches = reference.switch_budget(architecture, depth, widths)
    elif widths is not None:
        raise ValueError(f"widths= applies to rectangular and tree nets only, not {architecture}")
    return depth, slope, widths, switches


def library_size(n, activation, depth, *, architecture="deep_narrow", widths=None, slope=None):
    """Raw number of features of a library on n points, from the count formula (nothing is built).

    Exact Python integer, so astronomically large libraries can be sized before deciding what to build.
    leaky_relu sizes depend on the sign of slope (negative slopes make V-shaped units with midpoint
    features); slope=None sizes the usual positive-slope library.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer number of data points, got {n!r}")
    if activation == "leaky_relu" and slope is None:
        slope = 0.5
    depth, slope, widths, _ = _check_family(activation, depth, architecture, slope, widths, 1)
    return reference.library_size(int(n), activation, depth, architecture, widths, slope=slope)


class Library:
    """A feature library (the columns of a Lasso twin's dictionary) over training inputs x.

    Built by :func:`library`. ``len(lib)`` is the number of kept features; ``lib.raw_size`` the raw count
    before deduplication. Columns evaluate lazily: ``lib.matrix()`` assembles the dense dictionary.
    """

    def __init__(self, x, activation, depth, architecture, slope, widths, dedup, switches):
        self.x = x
        self.activation = activation
        self.depth = depth
        self.architecture = architecture
        self.slope = slope
        self.widths = widths
        self.dedup = bool(dedup)
        self.input_dim = 1 if x.ndim == 1 else 2
        self.fit_intercept = self.input_dim == 1  # 2-D sign nets have no biases and xi = 0 (Theorem C.3)
        self.frame_shift = frame_origin(x, activation)
        self._coords = self._frame(x)  # the points the kernels see (as PlaneLibrary._coords)
        n_points = x.shape[0]
        # The family copies x; switching families also keep a binomial table of (n + 1) x (switches + 1) entries.
        fixed = 8 * x.size + (8 * (n_points + 1) * (min(switches, n_points) + 1)
                              if architecture in ("rectangular", "tree") else 0)
        _memory.check(fixed, f"the {activation} {architecture} library on {n_points:,} points",
                      _memory.advice("use fewer points", ("smaller widths", "smaller --widths")
                                     if architecture in ("rectangular", "tree") else None))
        self._family = _core.Family(self._coords, _ACTIVATION_CODES[activation], _ARCHITECTURE_CODES[architecture],
                                    depth, 0.0 if slope is None else slope, min(switches, n_points))
        self.raw_size = int(self._family.size)
        self._raw_index = None  # None: every raw feature is kept, in raw order
        self.tolerance = float(self._family.default_tolerance())
        if self.dedup:
            work = self.raw_size * max(n_points, 1)
            if work > _MAX_DEDUP_WORK:
                raise ValueError(
                    f"deduplicating {self.raw_size:,} raw features on {n_points} points is too much work "
                    f"({work:.2e} evaluations); {_dedup_advice(self)}")
            # The kernel's block buffers, then the kept indices copied out: the hash table and index list
            # get what is left of the limit.
            scratch = _dedup_scratch_bytes(n_points)
            hint = _dedup_advice(self)
            limit = _memory.check(fixed + scratch, f"deduplication on {n_points:,} points", hint)
            budget = (limit - fixed - scratch) // 2 * 1.0  # the kept list is copied once into NumPy
            try:  # memory grows with the kept count only; the kernel stops at the budget
                kept = self._family.deduplicate(self.tolerance, self.fit_intercept, budget)
            except ValueError as err:  # std::length_error
                raise MemoryError(
                    f"{err} (the memory limit is {_memory._fmt(limit)}, {_memory._source()}); {hint}, or "
                    f"{_memory.raise_limit_text()}") from None
            kept.flags.writeable = False  # the kernels trust these indices: keep them read-only
            self._raw_index = kept
        self._features = None

    def _frame(self, t):
        """Points t in the library's frame, t - origin (see :func:`frame_origin`); t itself when origin is 0."""
        return t if self.frame_shift == 0.0 else t - self.frame_shift

    def _decode(self, raw):
        """Decoded parameters of raw features with positions (a1, anchors, levels[0]) in the original frame."""
        out = list(self._family.decode(raw))
        if self.frame_shift != 0.0:
            kind, index = out[0], out[5]
            nested = kind == _KINDS.index("nested")
            sym = kind == _KINDS.index("symmetrized")
            out[3] = out[3] + self.frame_shift                                     # a1
            anchors = out[4].copy()
            anchors[sym, :2] += self.frame_shift                                   # symmetrized: c, b
            anchors[:, 1:][nested[:, None] & (index[:, 1:] >= 0)] += self.frame_shift  # nested: anchor points
            out[4] = anchors
            levels = out[9].copy()
            levels[nested, 0] += self.frame_shift                                  # level[0] = a1
            out[9] = levels
        return tuple(out)

    @property
    def raw_index(self):
        """Raw indices of the kept features (read-only int64 array), or None when nothing was dropped."""
        return self._raw_index

    # -- size and scaling ---------------------------------------------------------------------------
    def __len__(self):
        return self.raw_size if self._raw_index is None else int(self._raw_index.size)

    @property
    def beta_scale(self):
        """beta~ / beta: 1/2 for 3-layer symmetrized nets, else 1 (seed 000, section 3.2.2)."""
        return 0.5 if self.architecture == "symmetrized" else 1.0

    @property
    def penalty_power(self):
        """L~ of the weight penalty (beta/L~) sum ||q||^L~: depth for relu/leaky/abs, 2 for sign/threshold."""
        return 2 if self.activation in ("sign", "threshold") else self.depth

    def nbytes(self, dtype=np.float64, n_points=None):
        """Bytes of the dense dictionary for n_points evaluation points (default: the training points)."""
        if n_points is not None and (isinstance(n_points, bool) or not isinstance(n_points, numbers.Integral)
                                     or n_points < 0):
            raise ValueError(f"n_points must be a non-negative integer number of points, got {n_points!r}")
        rows = len(self.x) if n_points is None else int(n_points)
        return rows * len(self) * np.dtype(dtype).itemsize

    def raw_indices(self):
        """Raw indices of the kept features (int64 array)."""
        if self._raw_index is None:
            _memory.check(8 * self.raw_size, f"the raw indices of {self.raw_size:,} features",
                          _memory.advice(*_smaller_library(self)))
        return np.arange(self.raw_size, dtype=np.int64) if self._raw_index is None else self._raw_index

    # -- assembly ---------------------------------------------------------------------------------
    def matrix(self, x_eval=None, dtype=np.float64, *, out=None, device="cpu"):
        """Dense dictionary, shape (len(x_eval), len(self)), Fortran order; x_eval defaults to training x.

        ``out`` may be a preallocated Fortran-ordered array of that shape and dtype (float32 or float64).
        ``device="cuda"`` assembles it on the GPU and returns a CuPy array (:func:`netmirror.cuda.library_matrix`).
        """
        if device == "cuda":
            from . import cuda
            return cuda.library_matrix(self, x_eval, dtype, out=out)
        if device != "cpu":
            raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
        dtype = np.dtype(dtype)
        if dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise TypeError(f"dtype must be float64 or float32, got {dtype}")
        t = self.x if x_eval is None else _check_points(x_eval, "x_eval", allow_2d=self.input_dim == 2)
        if t.ndim != self.x.ndim:
            raise ValueError(f"x_eval must have the same dimension as the training inputs ({self.input_dim}-D)")
        shape = (t.shape[0], len(self))
        if out is None:
            _memory.check(shape[0] * shape[1] * dtype.itemsize,
                          f"the {shape[0]:,} x {shape[1]:,} {dtype} dictionary",
                          _dictionary_advice(self, shape[0], dtype, x_eval is None))
            out = np.empty(shape, dtype=dtype, order="F")
        else:
            if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != dtype \
                    or not out.flags.f_contiguous or not out.flags.writeable:
                raise ValueError(f"out must be a writeable Fortran-ordered {dtype} array of shape {shape}")
        self._family.assemble(self._raw_index, self._frame(t), out)
        return out

    # -- description --------------------------------------------------------------------------------
    @property
    def features(self):
        """Structured array, one row per kept feature: kind, raw index, layers, signs, breakpoint a1,
        anchors (points whose values set deeper biases), data indices, reflection / midpoint flags of a1, switch
        thresholds."""
        if self._features is None:
            # decoded columns (~110 bytes) and the structured row (~160 bytes) per feature, plus raw indices
            _memory.check(300 * len(self), f"the description table of {len(self):,} features",
                          _memory.advice(("use describe(j) for single features", None), *_smaller_library(self)))
            raw = self.raw_indices()
            kind, layers, signs, a1, anchors, index, reflected, midpoint, thresholds, levels, partners, pattern = \
                self._decode(raw)
            dt = np.dtype([("kind", "U11"), ("raw_index", np.int64), ("layers", np.int8), ("signs", np.int8, 4),
                           ("a1", np.float64), ("anchors", np.float64, 4), ("index", np.int32, 4),
                           ("reflected", np.bool_), ("midpoint", np.bool_), ("levels", np.float64, 4),
                           ("partners", np.int8, 4), ("pattern", np.int8), ("thresholds", object)])
            f = np.empty(raw.size, dtype=dt)
            f["kind"] = np.asarray(_KINDS)[kind]
            f["raw_index"], f["layers"], f["signs"], f["a1"] = raw, layers, signs, a1
            f["anchors"], f["index"], f["reflected"] = anchors, index, reflected.astype(bool)
            f["midpoint"] = midpoint.astype(bool)
            f["levels"], f["partners"], f["pattern"] = levels, partners, pattern
            if thresholds:
                f["thresholds"] = [tuple(int(v) for v in t) for t in thresholds]
            else:
                f["thresholds"] = None
            self._features = f
        return self._features

    def describe(self, j):
        """Readable formula of kept feature j, naming reflection points."""
        n = len(self)
        if not isinstance(j, numbers.Integral) or not -n <= j < n:
            raise IndexError(f"feature index {j!r} out of range for a library of {n} features")
        j = int(j) % n
        raw = np.array([j], dtype=np.int64) if self._raw_index is None else self._raw_index[j : j + 1]
        kind, layers, signs, a1, anchors, index, reflected, _mid, thresholds, levels, partners, pattern = \
            self._decode(raw)
        return _describe(self, _KINDS[kind[0]], int(layers[0]), signs[0], float(a1[0]), anchors[0], index[0],
                         bool(reflected[0]), levels[0], partners[0], int(pattern[0]),
                         thresholds[0] if thresholds else None)

    def __repr__(self):
        arch = self.architecture if self.input_dim == 1 else "2-D"
        return (f"<netmirror.Library {self.activation} {arch} depth={self.depth}: {len(self):,} features "
                f"({self.raw_size:,} raw) on {len(self.x)} points>")


def _num(v):
    return f"{v:.6g}"


def _act(activation, inner, slope):
    if activation == "abs":
        return f"|{inner}|"
    if activation == "leaky_relu":
        return f"leaky{_num(slope)}({inner})"
    if activation == "threshold":
        return f"step({inner})"
    return f"{activation}({inner})"


def _signed(activation, s, expr):
    return expr if activation == "abs" else f"{'+' if s > 0 else '-'}({expr})"


def _describe(lib, kind, layers, signs, a1, anchors, index, reflected, levels, partners, pattern, thresholds):
    act, sl, x = lib.activation, lib.slope, lib.x
    if kind == "angular":
        j = int(index[0])
        return f"sign(x[{j}] × x) with x[{j}] = ({_num(x[j, 0])}, {_num(x[j, 1])})"
    if kind == "switching":
        pts = sorted(float(x[i]) for i in thresholds)
        return (f"{_act(act, ('+' if signs[0] > 0 else '-') + 'prod_k sign(x - t_k)', sl)}: "
                f"{len(pts)} switch(es) at t = {', '.join(_num(p) for p in pts)}")
    if kind == "symmetrized":
        a, c, b = a1, float(anchors[0]), float(anchors[1])

        def h(arg):
            return f"{_act(act, f'{arg}-{_num(a)}', sl)} + {_act(act, f'{_num(c)}-{arg}', sl)}"

        text = _act(act, _signed(act, signs[0], f"{h('x')} - ({h(_num(b))})"), sl)
        j1, j2, j3 = (int(v) for v in index[:3])
        if reflected:  # outer kinks on x[j2], x[j3]; one inner kink x[j1], the other reflected
            return (f"{text}  [inner kink x[{j2}] + x[{j3}] - x[{j1}] = {_num(x[j2] + x[j3] - x[j1])}: "
                    f"generalized reflection, outer kinks at x[{j2}] and x[{j3}]]")
        if j1 == j2:
            note = f"reflection 2*x[{j1}] - x[{j3}] = {_num(2 * a - b)}"
        else:
            note = f"generalized reflection x[{j1}] + x[{j2}] - x[{j3}] = {_num(a + c - b)}"
        return f"{text}  [{note}]"

    # nested recursion, written out layer by layer with its levels (a1, c_2, ...)
    e = _act(act, _signed(act, signs[0], f"x-{_num(a1)}"), sl)
    for h in range(1, layers):
        e = _act(act, _signed(act, signs[h], f"{e} - {_num(levels[h])}"), sl)
    notes = []
    if reflected:
        j1, j2 = int(index[0]), int(index[1])
        notes.append(f"a1 = 2*x[{j2}] - x[{j1}] = {_num(a1)}: reflection of x[{j1}] about x[{j2}]")
    k = 1.0 if act == "abs" else -float(sl or 0.0)
    if pattern >= 0:
        jp, jq, jr = int(index[2]), int(index[0]), int(index[1])
        kk = "" if k == 1.0 else f"{_num(k)}*"
        notes.append(f"a1 = {_num(a1)} solves (1 + {_num(k)})*g1(x[{jr}]) = g1(x[{jp}]) + {kk}g1(x[{jq}]): "
                     f"layer-3 kinks at x[{jp}] and x[{jq}] on both sides of layer 2's kink at x[{jr}]")
    for h in range(layers):
        m = int(partners[h])
        if m < 0:
            if h > 0:
                notes.append(f"c{h + 1} = g{h}(x[{int(index[h])}])")
            continue
        ji, jm = int(index[h]), int(index[m])
        what = "a1" if h == 0 else f"c{h + 1}"
        val = "x" if h == 0 else f"g{h}(x"
        close = "" if h == 0 else ")"
        form = (f"({val}[{ji}]{close} + {val}[{jm}]{close})/2" if k == 1.0 else
                f"({val}[{ji}]{close} + {_num(k)}*{val}[{jm}]{close})/(1 + {_num(k)})")
        notes.append(f"{what} = {form} = {_num(levels[h])}: {'weighted ' if k != 1.0 else ''}midpoint, "
                     f"layer-{m + 1} kinks at x[{ji}] and x[{jm}]")
    if act == "abs" and layers >= 2 and pattern < 0 and all(int(m) < 0 for m in partners[:layers]):
        j1, j2 = int(index[0]), int(index[1])
        notes.append(f"reflection 2*x[{j1}] - x[{j2}] = {_num(2 * x[j1] - x[j2])}")
    return e + ("  [" + "; ".join(notes) + "]" if notes else "")


# -- memory advice: only ways that exist for the caller (Python keywords, or the command line's flags) and
# that fit the limit, so that following one piece of advice never leads to its opposite
def _raw_solve_bytes(n, raw):
    """Working memory of a matrix-free Lasso solve over raw library columns (operator + solver)."""
    return _memory.lasso_bytes(n, raw) + _memory.operator_bytes(n, raw)


def _shallower(activation, architecture, depth):
    """"a shallower net" when the family has a smaller supported depth, else None."""
    depths = SUPPORTED_DEPTHS.get((activation, architecture))
    return "a shallower net" if depths is not None and depth > depths[0] else None


def _dedup_advice(lib):
    """Ways around deduplication's memory or work: skipping it only if the raw features can then be solved."""
    n, raw = len(lib.x), lib.raw_size
    need = _raw_solve_bytes(n, raw)
    skip = None
    if need <= _memory.get_memory_limit():
        python = (f"pass dedup=False (the {raw:,} raw features are then solved matrix-free in about "
                  f"{_memory._fmt(need)}: ConvexNet(dedup=False), or netmirror.lasso on library(..., dedup=False))")
        cli = f"pass --no-dedup (the {raw:,} raw features are then solved matrix-free in about {_memory._fmt(need)})"
        skip = (python, cli)
    return _memory.advice(skip, "use fewer points", _shallower(lib.activation, lib.architecture, lib.depth))


def _dedup_fits(lib):
    """Whether deduplicating lib's raw features surely fits the limit and the work cap: its hash table holds at
    most 32 bytes per raw feature and gets half of what the block buffers leave (Library.__init__)."""
    n, raw = len(lib.x), lib.raw_size
    need = _dedup_scratch_bytes(n) + 8 * np.size(lib.x) + 2 * 32 * raw
    return raw * max(n, 1) <= _MAX_DEDUP_WORK and need <= _memory.get_memory_limit()


def _smaller_library(lib):
    """Advice options for a smaller library of a Library or PlaneLibrary: deduplication when it is off and
    would fit, fewer points, a shallower net when there is one."""
    dedup = None
    if not lib.dedup and (not isinstance(lib, Library) or _dedup_fits(lib)):
        dedup = ("deduplicate (dedup=True)", "drop --no-dedup")
    return dedup, "use fewer points", _shallower(lib.activation, lib.architecture, lib.depth)


def _dictionary_advice(lib, rows, dtype, training_points):
    """Ways around a dense dictionary that does not fit: the matrix-free solve and float32 when they fit."""
    limit = _memory.get_memory_limit()
    n, m = len(lib.x), len(lib)
    free = None
    if training_points and _raw_solve_bytes(n, m) <= limit:
        free = ("solve matrix-free (netmirror.lasso(lib, y, beta) or ConvexNet(matrix_free=True))", None)
    half = None
    if np.dtype(dtype) == np.float64 and 4 * rows * m <= limit:
        half = ("assemble it as float32 (dtype=np.float32)", None)
    fewer = "evaluate fewer points at a time" if not training_points else None
    return _memory.advice(free, half, fewer, *_smaller_library(lib))


def _check_raw_size(raw):
    if raw >= 2**63:
        raise ValueError(f"the raw library has {raw:.3e} features, more than can be indexed; "
                         "use fewer points, a shallower net or smaller widths")


def library(x, activation, depth, *, architecture="deep_narrow", slope=None, widths=None, dedup=True,
            weight_norm="l2"):
    """Feature library of the Lasso twin of a network trained on inputs x.

    Parameters
    ----------
    x : array_like, shape (n,) (or (n, 2) for 2-layer sign nets on 2-D data)
    activation : "relu", "leaky_relu" (needs slope), "abs", "sign" or "threshold"
    depth : number of weight layers L (L = 2 is one hidden layer)
    architecture : "deep_narrow", "symmetrized" (3 layers), "rectangular" or "tree" (sign/threshold; need widths)
    dedup : keep one feature per class of columns equal up to sign and an additive constant (the Lasso
        optimum is unchanged) and drop constant columns.
    weight_norm : abs nets on x of shape (n, d) only: "l2" (weight decay; reflection planes through d points,
        an inner approximation for d >= 2) or "l1" (ℓ1 penalty on the first layer; exact at depth 2).
        Returns a PlaneLibrary (docs/libraries.md §6).
    """
    if activation == "abs" and np.ndim(x) == 2 and np.shape(x)[1] > 1:  # d-D inputs: reflection planes
        from ._planes import check_plane_points, plane_library
        if architecture != "deep_narrow" or slope is not None or widths is not None:
            raise ValueError("abs nets on inputs of shape (n, d) are deep_narrow only; drop architecture=, "
                             "slope= and widths=")
        return plane_library(check_plane_points(x), depth, dedup, weight_norm)
    if weight_norm not in ("l2", "l1"):  # on scalar inputs both norms are |w|: the same library
        raise ValueError(f"weight_norm must be 'l2' or 'l1', got {weight_norm!r}")
    peek = x if isinstance(x, np.ndarray) else None
    if peek is not None and peek.ndim in (1, 2) and peek.shape[0] > 0 and (peek.ndim == 1 or peek.shape[1] == 1) \
            and peek.dtype.kind in "biuf":
        # 1-D points: size the library before converting x (10^9 points are refused without a copy)
        d, sl, w, _ = _check_family(activation, depth, architecture, slope, widths, 1)
        _check_raw_size(reference.library_size(peek.shape[0], activation, d, architecture, w, slope=sl))
    arr = _check_points(x, "x", allow_2d=True)
    depth, slope, widths, switches = _check_family(activation, depth, architecture, slope, widths,
                                                   1 if arr.ndim == 1 else 2)
    if arr.ndim == 1:
        _check_raw_size(reference.library_size(len(arr), activation, depth, architecture, widths, slope=slope))
    return Library(arr, activation, depth, architecture, slope, widths, dedup, switches)
