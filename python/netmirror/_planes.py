"""Reflection-plane libraries of deep-narrow absolute-value nets on inputs in d dimensions, and their networks.

docs/libraries.md §6 derives the construction: a unit's first layer |uᵀx − a| sees only the projection uᵀx, so
for each direction u the library is the 1-D abs library on the projected data; the directions are the unit
normals of the hyperplanes through d affinely independent training points. Under ℓ2 weight decay this is an
inner approximation of the net's problem: the Lasso optimum over the library is an upper bound on the optimal
training objective (equal for d = 1; the gap is measured in tests/test_reflection_planes.py).
"""
from __future__ import annotations

import fractions
import math
import numbers

import numpy as np

from . import _core, reference
from ._library import _check_points, frame_origin, memory_budget

PLANE_DEPTHS = range(2, 5)
_MAX_DEDUP_WORK = 2 * 10**11
_ABS_CODE = reference.ACTIVATIONS.index("abs")
_DEEP_NARROW_CODE = reference.ARCHITECTURES.index("deep_narrow")


def check_plane_points(X, name="x"):
    """Validated (n, d) float64 inputs: finite, 1 <= d <= 16, at least one point."""
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d) for plane libraries; got shape {arr.shape}")
    if arr.shape[1] < 1 or arr.shape[1] > 16:
        raise ValueError(f"{name} must have 1 to 16 columns (input dimensions), got {arr.shape[1]}; "
                         "reduce the dimension first (e.g. PCA)")
    # _check_points validates dtype, emptiness, finiteness and range on the flattened coordinates
    flat = _check_points(arr.reshape(-1) if arr.size else arr.reshape(0), name)
    return np.ascontiguousarray(flat.reshape(arr.shape), dtype=np.float64)


def _size_text(nbytes):
    return f"{nbytes / 2**30:.2f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.2f} MiB"


def affine_hull(X):
    """Origin, orthonormal basis (r, d) and rank r of the affine hull of the rows of X (SVD, relative 1e-12)."""
    mu = X.mean(axis=0)
    _, s, vt = np.linalg.svd(X - mu, full_matrices=False)
    if s.size == 0 or s[0] == 0.0:
        return mu, vt[:0], 0
    rank = int(np.count_nonzero(s > 1e-12 * s[0]))
    return mu, vt[:rank], rank


WEIGHT_NORMS = ("l2", "l1")


def count_planes(n, d, weight_norm="l2"):
    """C(n, d) planes through d points (l2); Σ_{q=1..d} C(d, q) C(n, q) with the q-coordinate subspaces (l1)."""
    if weight_norm == "l2":
        return math.comb(n, d)
    return sum(math.comb(d, q) * math.comb(n, q) for q in range(1, d + 1))


# Breakpoint points per 1-D abs type, summed over the modes (reference.abs_breakpoint_forms): n^(depth-1) types
# of each mode, so d = 2 has FOLD_POINTS[depth] · n^depth fold lines.
FOLD_POINTS = {3: 2, 4: 102}


def count_fold_directions(n, d, depth, weight_norm="l2"):
    """Extra directions, one feature each (docs/libraries.md §6): for d = 2 at depths 3 and 4 the fold lines
    through a data point and a breakpoint point of a 1-D type, 2n³ and 102n⁴; for d = 3 at depth 3, 2n² fold
    types times 3n² + n(n - 1)/2 pairs of star differences, plus 2n² · 3n coordinate-plane directions for l1."""
    if d == 2 and depth in FOLD_POINTS:
        return FOLD_POINTS[depth] * n**depth
    if depth != 3 or d != 3:
        return 0
    return 2 * n * n * (3 * n * n + n * (n - 1) // 2) + (6 * n**3 if weight_norm == "l1" else 0)


def plane_library_size(n, d, depth, weight_norm="l2"):
    """Raw number of features of the d-D abs library: planes (count_planes) times the 1-D abs library size of
    that depth on n points (1 at depth 2, 2n² at depth 3, 12n³ at depth 4), plus the fold directions
    (count_fold_directions: 2n³ and 102n⁴ lines for d = 2 at depths 3 and 4, about 7n⁴ directions for d = 3 at
    depth 3)."""
    if weight_norm not in WEIGHT_NORMS:
        raise ValueError(f"weight_norm must be 'l2' or 'l1', got {weight_norm!r}")
    # validated before counting: C(n, d) with an unbounded d would run for ever
    for name, v, lo, hi in (("n", n, 1, None), ("d", d, 1, 16), ("depth", depth, PLANE_DEPTHS[0], PLANE_DEPTHS[-1])):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo or (hi is not None and v > hi):
            span = f"an integer >= {lo}" if hi is None else f"an integer in {lo}..{hi}"
            raise ValueError(f"{name} must be {span}, got {v!r}")
    n, d, depth = int(n), int(d), int(depth)
    modes = 1 if depth == 2 else reference.library_size(n, "abs", depth)
    return count_planes(n, d, weight_norm) * modes + count_fold_directions(n, d, depth, weight_norm)


def _form_text(coef, slots):
    """'2 x[0] - x[1]', '1/2 x[0] + 1/2 x[2]' for the point sum_k coef[k] x[slots[k]] (dyadic coefficients)."""
    text = ""
    for c, j in zip(coef, slots):
        if c == 0:
            continue
        mag = fractions.Fraction(abs(c))
        term = f"x[{j}]" if mag == 1 else f"{mag} x[{j}]"
        text += ((" - " if c < 0 else " + ") if text else ("-" if c < 0 else "")) + term
    return text


class PlaneLibrary:
    """Reflection-plane library of an abs deep-narrow net on inputs X of shape (n, d) (docs/libraries.md §6).

    Built by :func:`netmirror.library` for X of shape (n, d), d >= 2. Feature columns are distances to
    hyperplanes through d training points (depth 2), folded about parallel planes at depth 3 and 4 (the 1-D abs
    features of the projections on the plane's unit normal). Data whose affine hull has dimension r < d are
    handled in r coordinates of that hull (a normal component outside it never changes a feature).
    ``frame_shift`` (d,): the kernels see x − frame_shift, per coordinate 0 or a data value when the data sit far
    from 0 relative to their spread (:func:`netmirror._library.frame_origin`: the shift is exact), so that
    deduplication and the features keep their digits at any offset; features are translation invariant.
    """

    activation = "abs"
    architecture = "deep_narrow"
    slope = None
    widths = None
    fit_intercept = True
    beta_scale = 1.0

    def __init__(self, X, depth, dedup=True, weight_norm="l2"):
        self.x = X
        self.weight_norm = weight_norm
        self.depth = int(depth)
        self.dedup = bool(dedup)
        self.input_dim = X.shape[1]
        self.frame_shift = np.array([frame_origin(X[:, k], "abs") for k in range(X.shape[1])])
        self.frame_shift.flags.writeable = False
        Xf = X - self.frame_shift  # exact per coordinate
        self.origin, self.basis, self.rank = affine_hull(Xf)  # origin: the mean of x - frame_shift
        if self.rank == 0:
            raise ValueError("all points coincide: every feature is constant, there is nothing to fit")
        if weight_norm == "l1":  # ℓ1 is not rotation invariant: the coordinate subspaces already cover flat data
            self.rank = self.input_dim
        # coordinates the kernels see: X itself when it spans R^d, else coordinates in its affine hull
        self._coords = self._eval_coords(X)
        raw = plane_library_size(len(X), self.rank, self.depth, weight_norm)
        if raw >= 2**63:
            raise ValueError(f"the raw library has {raw:.3e} features, more than can be indexed; "
                             "use fewer points or a shallower net")
        # checked before anything is built: the stored planes (normal, points, subspace) and the work or index list
        n_folds = count_fold_directions(len(X), self.rank, self.depth, weight_norm)
        n_planes = count_planes(len(X), self.rank, weight_norm) + n_folds
        plane_bytes = n_planes * (self.rank * 16 + 1) + n_folds * 8  # normal, points, subspace, flag; fold type
        budget = memory_budget()
        if plane_bytes > budget:
            raise MemoryError(f"the {n_planes:,} planes of {len(X)} points in {self.rank} dimensions "
                              f"need {_size_text(plane_bytes)}, more than the memory budget of {_size_text(budget)} "
                              "(NETMIRROR_MAX_BYTES or available memory); use fewer points or reduce the dimension")
        if self.dedup and raw * len(X) > _MAX_DEDUP_WORK:
            raise ValueError(f"deduplicating {raw:,} raw features on {len(X)} points is too much work "
                             f"({raw * len(X):.2e} evaluations); use fewer points or a shallower net")
        if not self.dedup and raw * 8 > budget:
            raise MemoryError(f"the index list of {raw:,} raw features needs {_size_text(raw * 8)}, more than the "
                              f"memory budget of {_size_text(budget)}; use dedup=True, fewer points or a shallower net")
        self._family = _core.PlaneFamily(self._coords, self.depth, WEIGHT_NORMS.index(weight_norm))
        self.raw_size = int(self._family.size)
        self.tolerance = float(self._family.default_tolerance())
        if self.dedup:
            try:
                kept = self._family.deduplicate(self.tolerance, float(budget))
            except ValueError as err:  # std::length_error
                raise MemoryError(f"{err} ({_size_text(budget)}); use fewer points or a shallower net, "
                                  "or raise NETMIRROR_MAX_BYTES") from None
        else:  # degenerate d-tuples determine no plane: never part of the library
            kept = self._family.nondegenerate()
        kept.flags.writeable = False
        self._raw_index = kept
        self._features = None

    # -- size and scaling ---------------------------------------------------------------------------
    @property
    def raw_index(self):
        """Raw indices of the kept features (read-only int64 array)."""
        return self._raw_index

    def raw_indices(self):
        return self._raw_index

    def __len__(self):
        return int(self._raw_index.size)

    @property
    def planes(self):
        """Number of d-subsets of the points (C(n, r), r the dimension of the data's affine hull)."""
        return int(self._family.planes)

    @property
    def penalty_power(self):
        return self.depth

    def nbytes(self, dtype=np.float64, n_points=None):
        rows = len(self.x) if n_points is None else int(n_points)
        return rows * len(self) * np.dtype(dtype).itemsize

    def _eval_coords(self, t):
        """Coordinates the kernels see: t − frame_shift, in the r coordinates of the affine hull when r < d."""
        t = t - self.frame_shift if np.any(self.frame_shift) else t
        return np.ascontiguousarray(t if self.rank == self.input_dim else (t - self.origin) @ self.basis.T)

    def _points(self, x_eval, name="x_eval"):
        t = check_plane_points(x_eval, name)
        if t.shape[1] != self.input_dim:
            raise ValueError(f"{name} must have {self.input_dim} columns like the training inputs, got shape {t.shape}")
        return t

    # -- assembly ---------------------------------------------------------------------------------
    def matrix(self, x_eval=None, dtype=np.float64, *, out=None):
        """Dense dictionary, shape (len(x_eval), len(self)), Fortran order; x_eval (m, d) defaults to X."""
        dtype = np.dtype(dtype)
        if dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise TypeError(f"dtype must be float64 or float32, got {dtype}")
        t = self.x if x_eval is None else self._points(x_eval)
        shape = (t.shape[0], len(self))
        if out is None:
            need = shape[0] * shape[1] * dtype.itemsize
            budget = memory_budget()
            if need > budget:
                raise MemoryError(
                    f"the {shape[0]} x {shape[1]:,} {dtype} dictionary needs {_size_text(need)}, more than the "
                    f"{_size_text(budget)} allowed (NETMIRROR_MAX_BYTES or available memory); solve it "
                    "matrix-free with netmirror.lasso(lib, y, beta) (O(N + M) memory), or use fewer points, "
                    "float32, or a shallower net")
            out = np.empty(shape, dtype=dtype, order="F")
        elif not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != dtype \
                or not out.flags.f_contiguous or not out.flags.writeable:
            raise ValueError(f"out must be a writeable Fortran-ordered {dtype} array of shape {shape}")
        self._family.assemble(self._raw_index, self._eval_coords(t), out)
        return out

    # -- description --------------------------------------------------------------------------------
    def _inner(self, normal_r, points):
        """1-D abs family on the projections of the data on one plane's normal (its levels a1, c2, ...)."""
        c = self._coords
        proj = np.array([sum(normal_r[k] * (c[i, k] - c[points[0], k]) for k in range(c.shape[1]))
                         for i in range(len(c))])
        return _core.Family(proj, _ABS_CODE, _DEEP_NARROW_CODE, self.depth, 0.0, 1)

    @property
    def features(self):
        """Structured array, one row per kept feature: raw index, the data indices the plane passes through
        (-1 pads), its normal u (in input coordinates, unit in the weight norm), the offset uᵀx[points[0]], the
        1-D raw index of its fold type and the levels (a1, c2, c3) of the folded feature in the projected
        coordinate s = uᵀ(x − x[points[0]]). Depth ≥ 3 decodes one 1-D family per feature: use
        feature_rows(indices) for a few features of a large library."""
        if self._features is None:
            self._features = self.feature_rows(np.arange(len(self)))
        return self._features

    def feature_rows(self, columns):
        """The rows of :attr:`features` for the given library columns only."""
        raw = self._raw_index[np.asarray(columns, dtype=np.int64)]
        normals_r, points, _coords, inner = self._family.decode(raw)
        normals = normals_r if self.rank == self.input_dim else normals_r @ self.basis
        dt = np.dtype([("raw_index", np.int64), ("points", np.int32, (self.rank,)),
                       ("normal", np.float64, (self.input_dim,)), ("offset", np.float64),
                       ("inner_index", np.int64), ("levels", np.float64, (3,))])
        f = np.zeros(raw.size, dtype=dt)
        f["raw_index"], f["points"], f["normal"], f["inner_index"] = raw, points, normals, inner
        if raw.size:
            f["offset"] = np.einsum("ij,ij->i", normals, self.x[points[:, 0]])
        if self.depth > 2:
            for c in range(raw.size):
                fam = self._inner(normals_r[c], points[c])
                levels = fam.decode(np.array([inner[c]], dtype=np.int64))[9][0]
                f["levels"][c] = levels[:3]
        return f

    def describe(self, j):
        """Readable formula of kept feature j: the plane, its normal and the folds."""
        n = len(self)
        if not isinstance(j, numbers.Integral) or not -n <= j < n:
            raise IndexError(f"feature index {j!r} out of range for a library of {n} features")
        f = (self._features if self._features is not None else self.feature_rows([int(j) % n]))[
            int(j) % n if self._features is not None else 0]
        u = ", ".join(f"{v:.6g}" for v in f["normal"])
        pts = ", ".join(f"x[{int(i)}]" for i in f["points"] if i >= 0)
        i0 = int(f["points"][0])

        def minus(v):
            return f"- {v:.6g}" if v >= 0 else f"+ {-v:.6g}"

        e = f"|u·(x - x[{i0}])|" if self.depth == 2 else f"|u·(x - x[{i0}]) {minus(f['levels'][0])}|"
        for h in range(1, self.depth - 1):
            e = f"|{e} {minus(f['levels'][h])}|"
        where = f"plane through {pts}"
        main = self.planes * int(self._family.modes)
        if f["raw_index"] >= main:  # a fold direction
            extra = int(f["raw_index"]) - main
            if self.rank == 2:
                _, _, coef, slots = self._family.fold_line(extra)
                where = f"line through {pts} and the breakpoint point {_form_text(coef, slots)}"
            else:
                n, r1 = len(self.x), int(f["inner_index"])
                j1, j2, fold = r1 % n, (r1 // n) % n, r1 // n**2
                fp = f"2x[{j1}] - x[{j2}]" if fold == 0 else f"(x[{j1}] + x[{j2}])/2"
                where = "normal orthogonal to " + self._star_pair(extra, n, (f"x[{j1}]", f"x[{j2}]", fp))
        return f"{e}  [{where}; u = ({u}), ‖u‖{self.weight_norm[1]} = 1]"

    @staticmethod
    def _star_pair(e, n, centres):
        """d = 3 fold direction e (raw index past the planes' features): which star differences u is orthogonal to
        (the encoding of PlaneFamily::extra_lines in reflection_planes.hpp)."""
        Q = 3 * n * n + n * (n - 1) // 2
        if e >= 2 * n * n * Q:  # l1: a coordinate plane
            e2 = e - 2 * n * n * Q
            plane = ("x1, x2", "x1, x3", "x2, x3")[(e2 // n) % 3]
            return f"x[{e2 % n}] - {centres[2]} in the ({plane}) coordinate plane"
        q = e % Q
        if q < 3 * n * n:
            s, t = ((0, 1), (0, 2), (1, 2))[q // (n * n)]
            i, k = (q % (n * n)) % n, (q % (n * n)) // n
        else:
            s = t = 2
            i, k = [(a, b) for a in range(n) for b in range(a + 1, n)][q - 3 * n * n]
        return f"x[{i}] - {centres[s]} and x[{k}] - {centres[t]}"

    def reconstruct(self, coef, intercept, beta):
        """The abs net behind a Lasso solution on this library: see :class:`PlaneNetwork`."""
        return PlaneNetwork(self, coef, intercept, beta)

    def __repr__(self):
        return (f"<netmirror.PlaneLibrary abs deep_narrow depth={self.depth}, d={self.input_dim}, "
                f"weight_norm={self.weight_norm}: {len(self):,} "
                f"features ({self.raw_size:,} raw, {self.planes:,} planes) on {len(self.x)} points>")


class PlaneNetwork:
    """Deep-narrow abs network on d-dimensional inputs rebuilt from a Lasso solution (z, ξ) on a PlaneLibrary.

    One unit per nonzero z_j: γ = |z_j|^{1/L}, first layer W = γ u (1 x d), b = −γ (uᵀx[i1] + a1); layer l ≥ 2
    W = γ, b = −γ^l c_l; output weight sign(z_j) γ. Then the unit outputs z_j · feature_j(x), and its weight
    decay (β/L)(‖W₁‖₂^L + Σ_l |W_l|^L + |output|^L) = β|z_j|, so ``loss(X, y)`` equals the Lasso objective.
    ``weights``: one dict per unit with ``layers`` [{"W", "b"}, ...], ``output`` and the library ``feature``.
    """

    def __init__(self, lib, coef, intercept, beta):
        coef = np.asarray(coef, dtype=np.float64)
        if coef.shape != (len(lib),):
            raise ValueError(f"coef must have shape ({len(lib)},) like the library, got {coef.shape}")
        if not np.all(np.isfinite(coef)) or not math.isfinite(float(intercept)):
            raise ValueError("coef and intercept must be finite")
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not beta >= 0 or not math.isfinite(beta):
            raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
        self.library, self.depth, self.input_dim = lib, lib.depth, lib.input_dim
        self.beta, self.intercept, self.penalty_power = float(beta), float(intercept), lib.depth
        self.weight_norm = lib.weight_norm
        self.input_shift = lib.frame_shift  # the first layer reads x − input_shift (exact; 0 near the origin)
        selected = np.flatnonzero(coef)
        feats = lib.feature_rows(selected)
        xf = lib.x - lib.frame_shift
        self.weights = [self._unit(int(j), float(coef[j]), f["normal"], float(f["normal"] @ xf[f["points"][0]]),
                                   f["levels"]) for f, j in zip(feats, selected)]

    def _unit(self, feature, z, u, offset, levels):
        """Balanced weights of the unit z · feature(x), feature = |…||uᵀx − offset − a1| − c2| …|."""
        L = self.depth
        g = abs(z) ** (1.0 / L)
        layers = [{"W": (g * np.asarray(u, dtype=np.float64))[None, :],
                   "b": np.array([-g * (offset + (levels[0] if L > 2 else 0.0))])}]
        for h in range(1, L - 1):
            layers.append({"W": np.array([[g]]), "b": np.array([-(g ** (h + 1)) * levels[h]])})
        return {"feature": feature, "coef": z, "layers": layers, "output": math.copysign(g, z)}

    def __len__(self):
        return len(self.weights)

    def forward(self, X):
        t = check_plane_points(X, "X")
        if t.shape[1] != self.input_dim:
            raise ValueError(f"X must have {self.input_dim} columns like the training inputs, got shape {t.shape}")
        out = np.full(t.shape[0], self.intercept)
        if np.any(self.input_shift):
            t = t - self.input_shift
        for u in self.weights:
            h = t
            for layer in u["layers"]:
                h = np.abs(h @ layer["W"].T + layer["b"])
            out += u["output"] * h[:, 0]
        return out

    def predict(self, X):
        return self.forward(X)

    def penalty(self):
        """(β/L) Σ_units (‖W₁‖^L + Σ_{l≥2} |W_l|^L + |output|^L), ‖·‖ the library's weight_norm (ℓ2 or ℓ1)."""
        L = self.penalty_power
        total = 0.0
        for u in self.weights:
            total += float(np.linalg.norm(u["layers"][0]["W"][0], ord=1 if self.weight_norm == "l1" else 2)) ** L
            total += sum(abs(float(layer["W"][0, 0])) ** L for layer in u["layers"][1:])
            total += abs(u["output"]) ** L
        return self.beta / L * total

    def loss(self, X, y):
        """½‖f(X) − y‖² + penalty(): the training objective, equal to the Lasso objective at (z, ξ)."""
        r = self.forward(X) - np.asarray(y, dtype=np.float64)
        return 0.5 * float(r @ r) + self.penalty()

    def __repr__(self):
        return f"<netmirror.PlaneNetwork abs depth={self.depth}, d={self.input_dim}: {len(self)} units>"


def plane_library(X, depth, dedup=True, weight_norm="l2"):
    """Validated entry point behind netmirror.library(X, "abs", depth) for X of shape (n, d), d >= 2."""
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral):
        raise TypeError(f"depth must be an integer number of weight layers, got {depth!r}")
    if int(depth) not in PLANE_DEPTHS:
        raise ValueError(f"depth={depth} is out of range for abs nets on d-dimensional inputs; supported depths "
                         f"(weight layers) are {PLANE_DEPTHS[0]}..{PLANE_DEPTHS[-1]}")
    if weight_norm not in WEIGHT_NORMS:
        raise ValueError(f"weight_norm must be 'l2' (weight decay) or 'l1' (ℓ1 penalty on the first layer), "
                         f"got {weight_norm!r}")
    return PlaneLibrary(X, int(depth), dedup, weight_norm)


# --------------------------------------------------------------------------------------------------
# the exact ℓ2 problem for d = 2, depths 2 to 4: column generation with an exact dual oracle
class ContinuousPlaneResult:
    """Optimum of an abs net (depth 2 to 4) with weight decay on 2-D inputs over *all* unit directions.

    ``objective``: the Lasso objective on the library plus the generated units; ``gap``: certified against the
    continuous problem (``objective - gap`` ≤ the net's optimal training objective); ``library_objective``:
    the optimum over the library alone (an upper bound); generated units: ``directions`` u (K, 2), ``types``
    (K,) their 1-D abs type (raw index of the 1-D library; depth 2: the anchor point) and ``levels`` (K, L − 1)
    at u, the unit being ``|…||uᵀx' − a1| − c2| … |`` with x' = x − library.frame_shift (x itself unless the
    data sit far from the origin); ``coef`` over [library columns, generated columns];
    ``rounds``: Lasso solves; ``network()`` the rebuilt net.
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def network(self):
        """The abs net of this solution (library units, then generated ones); its loss with weight decay equals
        ``objective``."""
        lib, m = self.library, len(self.library)
        net = PlaneNetwork(lib, self.coef[:m], self.intercept, self.beta)
        for g in np.flatnonzero(self.coef[m:]):
            levels = tuple(float(v) for v in self.levels[g])
            offset, levels = (levels[0], (0.0,)) if lib.depth == 2 else (0.0, levels)
            net.weights.append(net._unit(m + int(g), float(self.coef[m + g]), self.directions[g], offset, levels))
        return net

    def predict(self, X):
        return self.network().predict(X)

    def __repr__(self):
        return (f"<ContinuousPlaneResult objective={self.objective:.10g} gap={self.gap:.2e} "
                f"library_objective={self.library_objective:.10g} generated={len(self.types)} "
                f"rounds={self.rounds}>")


def dual_sup_2d(X, theta, depth=2):
    """max over unit u ∈ R² and 1-D abs types t of |Σ_i θ_i f_t(uᵀx_i)|, exactly (C++:
    continuous_planes.hpp; NumPy reference: reference.plane_dual_sup_2d): (value, u, t, levels of t at u).
    Depth 2: t is the anchor point, f = |uᵀ(x − x_t)|."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    theta = np.ascontiguousarray(theta, dtype=np.float64)
    return _core.plane_dual_sup_2d(X, theta, int(depth))


def _unit_column(X, u, levels):
    """Values at X of the unit |…||uᵀx − a1| − c2| … | (levels = a1, c2, …)."""
    v = np.abs(X @ u - levels[0])
    for c in levels[1:]:
        v = np.abs(v - c)
    return v


def continuous_lasso_2d(X, y, beta, *, depth=2, tol=1e-9, max_rounds=300):
    """Exact optimum of an abs net of depth 2 to 4 with weight decay (ℓ2) on 2-D inputs, with a certificate.

    Starts from the reflection-plane library (an inner approximation) and adds, round by round, the unit that
    violates the dual constraint most (found exactly by :func:`dual_sup_2d`), until no unit violates it by more
    than a relative ``tol``. The certificate scales the last dual point into the continuous problem's dual
    feasible set, so ``objective - gap`` bounds the net's optimum from below whatever the number of rounds.
    """
    from ._lasso import lasso

    X = check_plane_points(X, "X")
    if X.shape[1] != 2:
        raise ValueError(f"continuous_lasso_2d takes 2-D inputs of shape (n, 2), got shape {X.shape}")
    if isinstance(depth, bool) or depth not in (2, 3, 4):
        raise ValueError(f"continuous_lasso_2d solves depths 2, 3 and 4, got depth={depth!r}")
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (len(X),) or not np.all(np.isfinite(y)):
        raise ValueError(f"y must be a finite array of shape ({len(X)},)")
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not beta > 0 or not math.isfinite(beta):
        raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
    lib = plane_library(X, depth)
    X = X - lib.frame_shift  # the library's frame (exact): generated units and their levels live there too
    A = lib.matrix()
    res = lasso(A, y, beta, tol=1e-12)
    library_objective = res.objective

    dirs, types, levels = [], [], []
    rounds = 1
    while True:
        value, u, t, lev = dual_sup_2d(X, res.dual, depth)
        if value <= beta * (1.0 + tol) or rounds >= max_rounds:
            break
        dirs.append(u)
        types.append(t)
        levels.append(lev)
        A = np.asfortranarray(np.hstack([A, _unit_column(X, u, lev)[:, None]]))
        res = lasso(A, y, beta, tol=1e-12, coef_init=np.concatenate([res.coef, [0.0]]))
        rounds += 1
    theta = res.dual
    value = dual_sup_2d(X, theta, depth)[0]
    theta = theta * min(1.0, beta / max(value, float(np.abs((A - A.mean(axis=0)).T @ theta).max()), 1e-300))
    lower = float(theta @ (y - y.mean()) - 0.5 * theta @ theta)
    return ContinuousPlaneResult(library=lib, beta=float(beta), objective=res.objective,
                                 gap=max(0.0, res.objective - lower), lower_bound=lower,
                                 library_objective=library_objective, coef=res.coef, intercept=res.intercept,
                                 directions=np.array(dirs).reshape(-1, 2), types=np.array(types, dtype=np.int64),
                                 levels=np.array(levels).reshape(-1, depth - 1), rounds=rounds)
