"""Figures of fitted Lasso twins: data, fitted curves, breakpoints and reflection points (matplotlib Agg).

Also :func:`feature_points`, the breakpoints and reflection points of one library feature, which the CLI
uses for its tables too. matplotlib is imported only when a figure is drawn.
"""
from __future__ import annotations

import numpy as np

from ._output import save_figure

# colours per depth L (curves and their markers)
_DEPTH_COLORS = {2: "tab:blue", 3: "tab:orange", 4: "tab:green", 5: "tab:purple"}


def _level_set(f, kinks, c, scale):
    """Isolated solutions of f(x) = c for a continuous piecewise-linear f whose kinks are all in `kinks`."""
    edges = [-np.inf] + sorted(kinks) + [np.inf]
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        u = hi - scale if lo == -np.inf else lo
        v = lo + scale if hi == np.inf else hi
        if lo == -np.inf and hi == np.inf:
            u, v = 0.0, scale
        fu, fv = f(u), f(v)
        if fu == fv:  # constant piece: no isolated solution inside
            continue
        t = u + (c - fu) * (v - u) / (fv - fu)
        tol = 1e-12 * scale
        if lo - tol <= t <= hi + tol:
            out.append(float(t))
    return out


def _true_kinks(f, candidates, scale):
    """The candidates where f's slope really changes (piecewise-linear f, all kinks among candidates)."""
    ks = sorted(set(candidates))
    keep = []
    for i, k in enumerate(ks):
        left = (k - ks[i - 1]) / 2 if i > 0 else scale
        right = (ks[i + 1] - k) / 2 if i + 1 < len(ks) else scale
        if left <= 0 or right <= 0:
            continue
        fk = f(k)
        sl, sr = (fk - f(k - left)) / left, (f(k + right) - fk) / right
        if abs(sl - sr) > 1e-9 * (1.0 + abs(sl) + abs(sr)):
            keep.append(k)
    return keep


def _snap(values, points, scale):
    """Replace values within rounding of a data point (or of each other) by that point; sorted, unique."""
    out = []
    for v in values:
        hit = points[np.isclose(points, v, rtol=0.0, atol=1e-9 * scale)]
        v = float(hit[0]) if hit.size else float(v)
        if not any(abs(v - w) <= 1e-9 * scale for w in out):
            out.append(v)
    return sorted(out)


def feature_points(lib, j):
    """(breakpoints, reflection_points) of kept feature j of a 1-D library, as sorted lists of floats.

    breakpoints: every point where the feature bends (relu, leaky_relu, abs: computed exactly by following
    each layer's level set) or jumps (sign, threshold).
    reflection_points: the breakpoints that are not data points -- reflections such as 2 x_j - x_i and
    x_i + x_j - x_k that no 2-layer net can place -- except (weighted) midpoint breakpoints and anchors, which are
    not a reflection. 2-D (angular) features have none.
    """
    f = lib.features[j]
    x = np.asarray(lib.x, dtype=np.float64)
    kind = str(f["kind"])
    if kind == "angular" or x.ndim != 1:
        return [], []
    scale = max(1.0, float(np.ptp(x)), float(np.abs(x).max()))
    if kind == "switching":
        return sorted(float(x[i]) for i in f["thresholds"]), []
    act, slope = lib.activation, lib.slope
    binary = act in ("sign", "threshold")
    from .reference import activate

    def sig(u):
        return float(activate(act, u, slope))

    if kind == "symmetrized":
        a, c, b = float(f["a1"]), float(f["anchors"][0]), float(f["anchors"][1])

        def h(t):
            return sig(t - a) + sig(c - t)

        first = [a, c]
        level = _level_set(h, first, h(b), scale)
        kinks = _true_kinks(lambda t: sig(float(f["signs"][0]) * (h(t) - h(b))), first + level, scale)
        midpoints = []
    else:  # nested: g_1 = sig(s_1 (x - a1)), g_l = sig(s_l (g_{l-1}(x) - c_l)), levels = (a1, c_2, ...)
        layers, a1 = int(f["layers"]), float(f["a1"])
        signs = [float(s) for s in f["signs"]]
        levels = [float(v) for v in f["levels"]]

        def g(t, upto):
            e = sig(signs[0] * (t - a1))
            for l in range(1, upto):
                e = sig(signs[l] * (e - levels[l]))
            return e

        if binary:  # jumps of g_l are among the jumps of g_{l-1}: only a1
            return [a1], ([] if np.isclose(x, a1, rtol=0.0, atol=1e-9 * scale).any() else [a1])
        kinks = [a1]
        midpoints = [a1] if f["partners"][0] >= 0 else []  # kinks at (weighted) midpoint levels
        for l in range(1, layers):
            new = _level_set(lambda t, l=l: g(t, l), kinks, levels[l], scale)
            if f["partners"][l] >= 0:
                midpoints += new
            kinks = kinks + new
        kinks = _true_kinks(lambda t: g(t, layers), kinks, scale)
    kinks = _snap(kinks, x, scale)
    on_data = lambda v: np.isclose(x, v, rtol=0.0, atol=1e-9 * scale).any()  # noqa: E731
    refls = [v for v in kinks if not on_data(v) and all(abs(v - m) > 1e-9 * scale for m in midpoints)]
    return kinks, refls


def selected_points(lib, coef):
    """Union of feature_points over the features with nonzero coefficients: (breakpoints, reflections)."""
    bps, refls = set(), set()
    for j in np.flatnonzero(coef):
        b, r = feature_points(lib, int(j))
        bps.update(b)
        refls.update(r)
    return sorted(bps), sorted(refls)


def _grid(x, extra=(), n=600, pad=0.15, reach=0.6):
    """Fine grid over the data range padded by `pad`, widened to show `extra` points up to `reach`."""
    lo, hi = float(np.min(x)), float(np.max(x))
    span = hi - lo if hi > lo else max(1.0, abs(lo))
    a, b = lo - pad * span, hi + pad * span
    for p in extra:
        if lo - reach * span <= p < a:
            a = p - 0.05 * span
        if b < p <= hi + reach * span:
            b = p + 0.05 * span
    return np.linspace(a, b, n)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def draw_fits(ax, x, y, fits, title=None):
    """Draw data and fitted curves on ax. fits: list of (label, depth, network, library, coef)."""
    marks = []
    per_fit = []
    for label, depth, net, lib, coef in fits:
        bps, refls = selected_points(lib, coef)
        per_fit.append((bps, refls))
        marks += bps + refls
    grid = _grid(x, marks)
    ax.scatter(x, y, s=18, color="black", zorder=5, label="data")
    for (label, depth, net, lib, coef), (bps, refls) in zip(fits, per_fit):
        color = _DEPTH_COLORS.get(depth, "tab:gray")
        ax.plot(grid, net.forward(grid), color=color, lw=1.4, label=label, zorder=3)
        inside = [p for p in bps if grid[0] <= p <= grid[-1]]
        if inside:
            ax.plot(inside, net.forward(np.asarray(inside)), "|", color=color, ms=9, mew=1.5, zorder=4)
        inside = [p for p in refls if grid[0] <= p <= grid[-1]]
        if inside:
            ax.plot(inside, net.forward(np.asarray(inside)), "v", color="red", mfc=color, ms=6, zorder=6)
    if title:
        ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.set_xlim(grid[0], grid[-1])


def _legend_handles(depths=(2, 3, 4)):
    from matplotlib.lines import Line2D

    return [
        Line2D([], [], ls="", marker="o", color="black", ms=4, label="data"),
        *[Line2D([], [], color=_DEPTH_COLORS.get(d, "tab:gray"), lw=1.4, label=f"L = {d}") for d in depths],
        Line2D([], [], ls="", marker="|", color="gray", ms=9, mew=1.5, label="breakpoints of selected features"),
        Line2D([], [], ls="", marker="v", color="red", mfc="white", ms=6,
               label="reflection points (not data points)"),
    ]


def demo_figure(panels, rows, cols, path, suptitle=None):
    """Grid of panels: panels[(row, col)] = (x, y, fits, title). Writes a PNG to path."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(2.9 * len(cols), 2.3 * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        for c, col in enumerate(cols):
            ax = axes[r][c]
            panel = panels.get((row, col))
            if panel is None:
                ax.set_visible(False)
                continue
            x, y, fits, title = panel
            draw_fits(ax, x, y, fits, title=title if r == 0 else None)
            if c == 0:
                ax.set_ylabel(row, fontsize=9)
    fig.legend(handles=_legend_handles(), loc="lower center", ncol=6, fontsize=8, frameon=False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97 if suptitle else 1))
    save_figure(fig, path, dpi=90)  # atomically: a failure never leaves half a file
    plt.close(fig)


def fit_figure(x, y, fit, path, title):
    """One panel: data, the fitted curve, breakpoints and reflection points. fit = (label, depth, net, lib, coef)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    draw_fits(ax, x, y, [fit], title=title)
    ax.legend(handles=_legend_handles((fit[1],)), fontsize=8)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
