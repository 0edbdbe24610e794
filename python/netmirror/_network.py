"""The optimal neural network behind a Lasso solution, rebuilt weight by weight.

Seed 000 §3.2.2: training a net with ½‖f(X) − y‖² + (β/L̃) Σ_{q∈θ_w} ‖q‖^L̃ is equivalent to the Lasso
min ½‖Az + ξ1 − y‖² + β̃‖z‖₁. :func:`reconstruct` goes the other way: from (z, ξ) it builds a parallel
network, one unit per nonzero z_j, whose forward pass runs explicit layers (weights, biases, activations;
never the dictionary kernels) and equals A z + ξ at every input, and whose penalty equals β̃‖z‖₁, so its
training loss is the Lasso objective. docs/reconstruction.md derives each family's weights.
"""
from __future__ import annotations

import math

import numpy as np

from . import _checks, _memory, reference
from ._library import _KINDS, Library, _check_points

# Elements of the largest intermediate array (points x units x neurons) that forward() materialises.
_BLOCK_ELEMENTS = 1 << 22


# --------------------------------------------------------------------------------------------------
# layer arithmetic shared by construction and forward pass
def _preact(W, h):
    """Pre-activations without bias: h (n, U, n_in), W (U, n_out, n_in) -> (n, U, n_out).

    Accumulated input by input with elementwise products (never a BLAS matmul, which may fuse
    multiply-adds): biases computed here at an anchor point then cancel the forward pass exactly, so a
    kink placed on a data point stays on it and sign(0) = +1 is hit exactly where the library hits it.
    """
    u = W[None, :, :, 0] * h[:, :, None, 0]
    for k in range(1, W.shape[2]):
        u = u + W[None, :, :, k] * h[:, :, None, k]
    return u


def _layer(W, b, h, activation, slope):
    return reference.activate(activation, _preact(W, h) + b[None], slope)


def _run(layers, h, activation, slope):
    """Run a list of (W, b) layers of one unit on h (n, n_in); returns the last hidden layer (n, n_out)."""
    h = h[:, None, :]
    for W, b in layers:
        h = _layer(W[None], b[None], h, activation, slope)
    return h[:, 0, :]


def _anchored_bias(W, h_anchor):
    """Bias that makes the pre-activation exactly zero where the previous layer outputs h_anchor."""
    return -_preact(W[None], h_anchor[None, None, :])[0, 0]


def _frozen(a):
    a = np.array(a, dtype=np.float64)
    a.flags.writeable = False
    return a


# --------------------------------------------------------------------------------------------------
class Network:
    """A parallel network: ``intercept + Σ_units output · (amplitude · last hidden layer of the unit)``.

    Built by :func:`reconstruct`. ``weights`` is a list with one dict per unit (one per nonzero Lasso
    coefficient), all arrays float64 and read-only:

    - ``feature``, ``raw_index``, ``coef``: the library column j, its raw index and z_j the unit realises;
    - ``layers``: the hidden layers from the input on, each ``{"W": (n_out, n_in), "b": (n_out,)}``;
      layer l computes σ(W h + b) from the previous layer's output h (the input x for l = 1, with
      n_in = 2 for 2-D sign nets); there are ``depth - 1`` of them;
    - ``amplitude``: scale of the last hidden layer's outputs (the amplitude of sign/threshold units;
      1.0 for relu, leaky_relu and abs, whose scale lives in the weights);
    - ``output``: (n_last,) output weights on the last hidden layer;
    - ``theta_w``: the penalised parameters {name: value}; a weight tied across mirror-twin neurons
      (symmetrized nets) is one parameter and appears once. Biases are never penalised.

    ``penalty()`` is (β/L̃) Σ_units Σ_{q ∈ theta_w} |q|^L̃ with L̃ = ``penalty_power``.

    ``input_shift``: the first layer reads x − input_shift (the library's ``frame_shift``: 0.0 unless the data sit
    far from 0 relative to their spread, where the shifted frame keeps the breakpoints' digits exactly).
    """

    def __init__(self, lib, units, intercept, beta):
        self.library = lib
        self.activation = lib.activation
        self.slope = lib.slope
        self.depth = lib.depth
        self.architecture = lib.architecture
        self.widths = lib.widths
        self.input_dim = lib.input_dim
        self.beta = float(beta)
        self.beta_scale = float(lib.beta_scale)
        self.penalty_power = int(lib.penalty_power)
        self.intercept = float(intercept)
        self.input_shift = float(getattr(lib, "frame_shift", 0.0))
        self._units = units

    # -- parameters ---------------------------------------------------------------------------------
    @property
    def weights(self):
        """Per-unit parameter dicts (see the class docstring for the layout)."""
        return self._units

    @property
    def features(self):
        """Library column index of each unit (int64 array)."""
        return np.array([u["feature"] for u in self._units], dtype=np.int64)

    @property
    def coef(self):
        """Lasso coefficient z_j each unit realises (float64 array)."""
        return np.array([u["coef"] for u in self._units], dtype=np.float64)

    def __len__(self):
        return len(self._units)

    # -- evaluation ---------------------------------------------------------------------------------
    def _points(self, x):
        t = _check_points(x, "x", allow_2d=self.input_dim == 2)
        if (t.ndim == 2) != (self.input_dim == 2):
            raise ValueError(f"x must be {'of shape (n, 2)' if self.input_dim == 2 else '1-D'} for this "
                             f"{self.input_dim}-D network, got shape {t.shape}")
        return t.reshape(t.shape[0], self.input_dim)

    def forward(self, x):
        """Network output at the points x (1-D array, or shape (n, 2) for 2-D sign nets).

        A ValueError if an output is beyond the float64 range; huge inputs whose output is finite are fine."""
        t = self._points(x)
        if self.input_shift != 0.0:
            t = t - self.input_shift
        n = t.shape[0]
        widest = max((max(max(layer["W"].shape) for layer in u["layers"]) for u in self._units), default=1)
        # a block holds up to _BLOCK_ELEMENTS // (n widest) units (at least one): a few (n, units, widest) arrays
        units = min(len(self._units), max(1, _BLOCK_ELEMENTS // max(1, n * widest)))
        _memory.check(8 * n + 40 * n * units * max(widest, self.input_dim),
                      f"the forward pass on {n:,} points", "evaluate fewer points at a time")
        # Each row runs at scale c = 2^k >= 1 with |x / c| < 2: relu, leaky_relu and abs have σ(u / c) = σ(u) / c, so
        # f(x) = ξ + c F(x / c) where F divides every bias by c; sign and threshold have σ(u / c) = σ(u), so only the
        # first layer is scaled. Dividing by a power of two is exact: outputs equal the unscaled computation
        # wherever that one does not overflow, and at inputs like 1e308 no unit's output overflows (units whose
        # sum is finite cancel instead of giving inf - inf), nor does w·x of a 2-D sign unit.
        c = np.ldexp(1.0, np.maximum(np.frexp(np.abs(t).max(axis=1))[1] - 1, 0))
        ts = t / c[:, None]
        homogeneous = self.activation not in ("sign", "threshold")
        total = np.zeros(n, dtype=np.float64)
        groups = {}  # units with equal layer shapes run together
        for u in self._units:
            groups.setdefault(tuple(layer["W"].shape for layer in u["layers"]), []).append(u)
        with np.errstate(over="ignore", invalid="ignore"):
            for shapes, members in groups.items():
                widest = max(max(s) for s in shapes)
                step = max(1, _BLOCK_ELEMENTS // max(1, n * widest))
                for start in range(0, len(members), step):
                    block = members[start:start + step]
                    h = np.broadcast_to(ts[:, None, :], (n, len(block), self.input_dim))
                    for li in range(len(shapes)):
                        W = np.stack([u["layers"][li]["W"] for u in block])
                        b = np.stack([u["layers"][li]["b"] for u in block])[None]
                        if homogeneous or li == 0:
                            b = b / c[:, None, None]
                        h = reference.activate(self.activation, _preact(W, h) + b, self.slope)
                    amp = np.array([u["amplitude"] for u in block])
                    alpha = np.stack([u["output"] for u in block])
                    total += ((amp[None, :, None] * h) * alpha[None]).sum(axis=(1, 2))
            out = self.intercept + (c * total if homogeneous else total)
        bad = ~np.isfinite(out)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"the network output at x[{i}] = {t[i] if self.input_dim == 2 else t[i, 0]!r} is beyond "
                             f"the float64 range (|f| > 1.8e308) at {int(bad.sum())} point(s); evaluate it at smaller "
                             "inputs")
        return out

    __call__ = forward

    def penalty(self):
        """(β/L̃) Σ_{q∈θ_w} |q|^L̃ over every unit's penalised parameters (seed 000 §3.2.2)."""
        p = self.penalty_power
        total = math.fsum(abs(q) ** p for u in self._units for q in u["theta_w"].values())
        return self.beta / p * total

    def loss(self, x, y):
        """Regularised training loss ½‖forward(x) − y‖² + penalty()."""
        f = self.forward(x)
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"y must hold real numbers, got dtype {y.dtype}")
        y = y.astype(np.float64)
        if y.shape != f.shape:
            raise ValueError(f"y must have one value per point: expected shape {f.shape}, got {y.shape}")
        if not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinity")
        with np.errstate(over="ignore", invalid="ignore"):
            r = f - y
            loss = 0.5 * float(r @ r) + self.penalty()
        if not np.isfinite(loss):
            raise ValueError("the loss overflows float64 (residuals or weights near 1e154 or beyond); rescale y and "
                             "the network's output")
        return loss

    # -- description --------------------------------------------------------------------------------
    def _family(self):
        if self.input_dim == 2:
            return f"{self.activation} 2-D"
        text = f"{self.activation}"
        if self.slope is not None:
            text += f"({self.slope:g})"
        text += f" {self.architecture}"
        if self.widths is not None:
            text += f" widths={list(self.widths)}"
        return text

    def __repr__(self):
        return (f"<netmirror.Network {self._family()} depth={self.depth}: {len(self)} unit(s), "
                f"beta={self.beta:g}, L~={self.penalty_power}, intercept={self.intercept:.6g}>")

    def describe(self):
        """Readable listing of the units: coefficient, feature formula, layer sizes and weights."""
        lines = [repr(self), f"  penalty (beta/{self.penalty_power}) sum |q|^{self.penalty_power} = "
                 f"{self.penalty():.6g} = {self.beta * self.beta_scale:.6g} * ||z||_1"]
        for i, u in enumerate(self._units):
            sizes = " -> ".join([str(self.input_dim)] + [str(layer["W"].shape[0]) for layer in u["layers"]] + ["1"])
            lines.append(f"  unit {i}: z = {u['coef']:+.6g} on feature {u['feature']}: "
                         f"{self.library.describe(u['feature'])}")
            lines.append(f"    sizes {sizes}; theta_w = "
                         + ", ".join(f"{k}={v:.6g}" for k, v in u["theta_w"].items()))
            for li, layer in enumerate(u["layers"], start=1):
                W, b = layer["W"], layer["b"]
                if W.size <= 16:
                    lines.append(f"    layer {li}: W = {np.array2string(W, precision=6, separator=', ')}, "
                                 f"b = {np.array2string(b, precision=6, separator=', ')}")
                else:
                    lines.append(f"    layer {li}: W {W.shape} ({np.count_nonzero(W)} nonzero), b {b.shape}")
            lines.append(f"    amplitude = {u['amplitude']:.6g}, output = "
                         f"{np.array2string(u['output'], precision=6, separator=', ')}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# construction, one family at a time
def _unit(j, raw, z, layers, amplitude, output, theta_w):
    return {
        "feature": int(j), "raw_index": int(raw), "coef": float(z),
        "layers": [{"W": _frozen(W), "b": _frozen(b)} for W, b in layers],
        "amplitude": float(amplitude), "output": _frozen(output),
        "theta_w": {k: float(v) for k, v in theta_w.items()},
    }


def _binary_scales(z):
    """Sign/threshold units: amplitude a and output weight α with a·α = z and a = |α| (AM-GM optimum of
    (β/2)(a² + α²) ≥ β|aα|)."""
    r = math.sqrt(abs(z))
    return r, math.copysign(r, z)


def _nested(lib, act, slope, j, raw, z, H, signs, levels):
    """Deep narrow: g1 = σ(s1(x − a1)), g_l = σ(s_l(g_{l−1}(x) − c_l)), one neuron per layer; levels = (a1, c_2, …)."""
    binary = act in ("sign", "threshold")
    # relu/leaky/abs: σ(γu) = γσ(u) for γ > 0, so weights of magnitude γ = |z|^(1/L) give the unit
    # γ^L g = |z| g and (β/L)·L·γ^L = β|z|. Sign/threshold units are scale-free: unit weights.
    gamma = 1.0 if binary else abs(z) ** (1.0 / lib.depth)
    layers = []
    for l in range(H):
        W = np.array([[signs[l] * gamma]])
        # layer l's kink sits where its input reaches the level: x = a1, or g_{l-1} = c_l; the scaled
        # network's layer-l input is γ^l g_{l-1} (σ(γu) = γσ(u); binary units have γ = 1)
        layers.append((W, _anchored_bias(W, np.array([gamma**l * levels[l]]))))
    if binary:
        amplitude, alpha = _binary_scales(z)
        theta = {"amplitude": amplitude, "alpha": alpha}
    else:
        amplitude, alpha = 1.0, math.copysign(gamma, z)
        theta = {f"w{l + 1}": layers[l][0][0, 0] for l in range(H)}
        theta["alpha"] = alpha
    return _unit(j, raw, z, layers, amplitude, [alpha], theta)


def _symmetrized(lib, act, slope, j, raw, z, s2, a, c, b):
    """3-layer symmetrized unit: every hidden layer is a pair of mirror twins with one shared weight.

    Layer 1: n₊ = σ(w(x − a)), n₋ = σ(w(c − x)) (mirror images under x ↦ a + c − x), so n₊ + n₋ = w·h(x).
    Layer 2: twins m = m' = σ(v(n₊ + n₋) + b₂) (h is mirror-symmetric, so the mirror image of m is m).
    Output α(m + m') = 2αvw·g. θ_w = {w, v, α}, one copy of each tied weight: (β/3)(|w|³+|v|³+|α|³) ≥
    β|αvw| = (β/2)|z|, with equality at |w| = |v| = |α| = (|z|/2)^(1/3).
    """
    gamma = (abs(z) / 2.0) ** (1.0 / 3.0)
    W1 = np.array([[gamma], [-gamma]])
    b1 = np.array([-(gamma * a), gamma * c])  # n₊ kinks at a, n₋ at c
    v = s2 * gamma
    W2 = np.full((2, 2), v)
    h_b = _run([(W1, b1)], np.array([[b]]), act, slope)[0]  # first layer at the anchor point b
    bias2 = _anchored_bias(W2, h_b)
    alpha = math.copysign(gamma, z)
    return _unit(j, raw, z, [(W1, b1), (W2, bias2)], 1.0, [alpha, alpha],
                 {"w": gamma, "v": v, "alpha": alpha})


def _fanout(lib):
    """Most children a neuron at hidden layer l (2 <= l <= depth-1) may have within one unit."""
    H, w = lib.depth - 1, lib.widths
    if lib.architecture == "tree":
        return {l: int(w[l - 2]) for l in range(2, H + 1)}
    # rectangular: every layer has at most m neurons; the unit uses up to m steps, one parity neuron, then
    # one neuron per layer
    return {l: (int(w[0]) if l == 2 else 1) for l in range(2, H + 1)}


def _switching(lib, act, j, raw, z, sign0, thresholds):
    """Switching set σ(sign0 · Π_k sign(x − t_k)) as a tree of parity neurons.

    Leaves (layer 1) are steps σ(x − t_k), +1 (or 1) exactly when x ≥ t_k, as in the library. Every
    deeper neuron covers a consecutive run of sorted thresholds and outputs the parity
    p = (−1)^{#thresholds of its run above x} of the runs of its children (docs/reconstruction.md).
    """
    H = lib.depth - 1
    taus = np.sort(np.asarray(lib.x, dtype=np.float64)[list(thresholds)])
    k = taus.size
    fan = _fanout(lib)
    cap = {1: 1}
    for l in range(2, H + 1):
        cap[l] = cap[l - 1] * fan[l]
    if k > cap[H]:
        raise ValueError(f"feature {j} switches {k} times but a {lib.architecture} unit with widths "
                         f"{list(lib.widths)} realises at most {cap[H]} switches")

    # y = (1 − p)/2 ∈ {0, 1} ("odd count above x") is affine in a child's output o:
    # sign outputs o = p, so y = ½ − ½o; threshold outputs o = (1 + p)/2, so y = 1 − o.
    y0, y1 = (0.5, -0.5) if act == "sign" else (1.0, -1.0)

    levels = {l: [] for l in range(1, H + 1)}  # per layer: list of (weights {child: w}, bias)

    def build(lo, hi, layer, eps):
        """Neuron at `layer` for taus[lo:hi]; eps = ±1 flips its output (only the root: sign0).
        Returns (position in its layer, number of thresholds covered)."""
        if layer == 1:
            tau = taus[lo]
            if eps > 0:
                levels[1].append(({None: 1.0}, -tau))
            else:  # one-layer root with sign0 = −1: on exactly when x < τ; the largest float below τ
                levels[1].append(({None: -1.0}, float(np.nextafter(tau, -np.inf))))
            return len(levels[1]) - 1, 1
        size = cap[layer - 1]
        kids = [build(i, min(i + size, hi), layer - 1, 1) for i in range(lo, hi, size)]
        # f = Σ_c (−1)^{P_c} y_c with P_c the number of odd-sized runs after child c is the parity of
        # the count above x on every reachable state (one run partly above x, lower runs all below,
        # higher runs all above); the neuron outputs σ(eps(½ − f)), pre-activations ±½.
        weights, bias, odd_after = {}, 0.5 * eps, 0
        for pos, count in reversed(kids):
            wc = -1.0 if odd_after % 2 else 1.0
            weights[pos] = -eps * wc * y1
            bias -= eps * wc * y0
            odd_after += count % 2
        levels[layer].append((weights, bias))
        return len(levels[layer]) - 1, hi - lo

    build(0, k, H, int(sign0))
    layers = []
    n_prev = 1
    for l in range(1, H + 1):
        rows = levels[l]
        W = np.zeros((len(rows), n_prev))
        b = np.empty(len(rows))
        for r, (weights, bias) in enumerate(rows):
            for pos, w in weights.items():
                W[r, 0 if pos is None else pos] = w
            b[r] = bias
        if lib.architecture == "rectangular" and len(rows) > int(lib.widths[l - 1]):
            raise ValueError(f"feature {j} needs {len(rows)} neurons in layer {l}, more than the width "
                             f"{lib.widths[l - 1]}")
        layers.append((W, b))
        n_prev = len(rows)
    amplitude, alpha = _binary_scales(z)
    return _unit(j, raw, z, layers, amplitude, [alpha], {"amplitude": amplitude, "alpha": alpha})


def _angular(lib, j, raw, z, i):
    """2-D sign unit sign(w·x), w = R_{π/2} x_i = (−x_i2, x_i1), no bias (Lemma C.4 of seed 000)."""
    p = np.asarray(lib.x, dtype=np.float64)[i]
    W = np.array([[-p[1], p[0]]])
    amplitude, alpha = _binary_scales(z)
    return _unit(j, raw, z, [(W, np.zeros(1))], amplitude, [alpha], {"amplitude": amplitude, "alpha": alpha})


# --------------------------------------------------------------------------------------------------
def _check_inputs(lib, coef, intercept, beta):
    if not isinstance(lib, Library):
        raise TypeError(f"lib must be a netmirror.Library (from netmirror.library), got {type(lib).__name__}")
    z = np.asarray(coef)
    if z.dtype == object or z.dtype == bool or not np.issubdtype(z.dtype, np.number) \
            or np.issubdtype(z.dtype, np.complexfloating):
        raise ValueError(f"coef must be a vector of real numbers, got dtype {z.dtype}")
    if z.ndim != 1:
        raise ValueError(f"coef must be 1-D with one entry per library feature, got shape {z.shape}")
    if z.shape[0] != len(lib):
        raise ValueError(f"coef has {z.shape[0]} entries but the library has {len(lib)} features")
    z = z.astype(np.float64)
    if not np.all(np.isfinite(z)):
        raise ValueError(f"coef contains {int(np.count_nonzero(~np.isfinite(z)))} NaN or infinite value(s)")
    xi = _checks.real("intercept", intercept)
    if not lib.fit_intercept and xi != 0.0:
        raise ValueError(f"this library has no intercept (2-D sign nets have no biases, xi = 0); "
                         f"intercept must be 0, got {intercept!r}")
    beta = _checks.real("beta", beta, lo=0.0, lo_open=True,
                        what="a positive finite number (the network's weight-penalty strength)")
    return z, xi, beta


def reconstruct(lib, coef, intercept, beta):
    """The network whose training problem the Lasso twin solves, at the Lasso point (coef, intercept).

    Parameters
    ----------
    lib : Library the Lasso dictionary came from (``lib.matrix()``).
    coef : (len(lib),) Lasso coefficients z; only features with z_j != 0 become units.
    intercept : ξ, the network's output bias (must be 0 when ``lib.fit_intercept`` is False).
    beta : β > 0 of the network's penalty (β/L̃) Σ ‖q‖^L̃; the Lasso penalty is β̃ = β·lib.beta_scale.

    Returns a :class:`Network` with ``forward(x) == lib.matrix(x) @ coef + intercept`` at every x (up to
    rounding) and ``penalty() == beta * lib.beta_scale * ||coef||_1``, so ``loss(x, y)`` is the Lasso
    objective with β̃ when x is the training data.
    """
    z, xi, beta = _check_inputs(lib, coef, intercept, beta)
    nz = np.flatnonzero(z)
    # one unit per nonzero: a dict of small read-only arrays (a few hundred bytes of Python objects)
    _memory.check(2048 * nz.size + 300 * nz.size, f"a network of {nz.size:,} units",
                  "use a larger beta (fewer nonzero coefficients)")
    units = []
    if nz.size:
        raw = nz.astype(np.int64) if lib.raw_index is None else lib.raw_index[nz]
        kind, n_layers, signs, a1, anchors, index, _refl, _mid, thresholds, levels, _partners, _pattern = \
            lib._family.decode(np.ascontiguousarray(raw, dtype=np.int64))
        act, slope = lib.activation, lib.slope
        for u, j in enumerate(nz):
            zj, kd = float(z[j]), _KINDS[int(kind[u])]
            if kd == "angular":
                units.append(_angular(lib, j, raw[u], zj, int(index[u][0])))
            elif kd == "symmetrized":
                units.append(_symmetrized(lib, act, slope, j, raw[u], zj, float(signs[u][0]), float(a1[u]),
                                          float(anchors[u][0]), float(anchors[u][1])))
            elif kd == "switching":
                units.append(_switching(lib, act, j, raw[u], zj, int(signs[u][0]), thresholds[u]))
            else:
                units.append(_nested(lib, act, slope, j, raw[u], zj, int(n_layers[u]),
                                     [float(s) for s in signs[u]], [float(v) for v in levels[u]]))
    return Network(lib, units, xi, beta)
