"""`netmirror demo --dims 2`: abs nets on 2-D data trained through their reflection-plane Lasso twins.

Data: scikit-learn's diabetes set (shipped with the package, no download), standardised, reduced to its first
two principal components, a fixed subsample of points; the target is the disease progression, standardised.
Each fit prints its library, optimum and certified gap; the figure draws the learned planes (lines) over the
data and the rebuilt network's prediction.
"""
from __future__ import annotations

import time

import numpy as np

from ._output import save_figure

DEMO_POINTS = 40
# (weight_norm, depth, points): depth-3 libraries grow like n^4 (2n² folds per plane), so they get fewer points
DEMO_FITS = (("l2", 2, 40), ("l1", 2, 40), ("l2", 3, 14), ("l1", 3, 14))


def diabetes_2d(n_points=DEMO_POINTS, seed=0):
    """(X (n, 2), y (n,)): diabetes features standardised, first two principal components, subsampled."""
    from sklearn.datasets import load_diabetes
    from sklearn.decomposition import PCA

    data = load_diabetes()
    Z = (data.data - data.data.mean(axis=0)) / data.data.std(axis=0)
    X = PCA(n_components=2, random_state=0).fit_transform(Z)
    y = (data.target - data.target.mean()) / data.target.std()
    pick = np.sort(np.random.default_rng(seed).choice(len(y), size=n_points, replace=False))
    return np.round(X[pick], 6), y[pick]


def planes_demo(args):
    import netmirror

    print("netmirror demo --dims 2: abs nets on points of the diabetes data (first two principal components); "
          "beta = 2e-2 ||y - mean(y)||^2")
    print("weight_norm l2 (weight decay): planes through 2 points, an upper bound on the net's optimum; "
          "l1 (first layer): exact at depth 2 and 3 in 2-D (docs/libraries.md §6)")
    print(f"{'norm':4} {'L':>2} {'n':>3} {'raw':>9} {'dedup':>7} {'nnz':>4} {'objective':>11} {'gap':>8} {'R^2':>6} "
          f"{'s':>6}")
    panels = []
    for norm, depth, n_points in DEMO_FITS:
        X, y = diabetes_2d(n_points)
        beta = 2e-2 * float((y - y.mean()) @ (y - y.mean()))
        t0 = time.perf_counter()
        lib = netmirror.library(X, "abs", depth, weight_norm=norm)
        res = netmirror.lasso(lib.matrix(), y, beta, tol=1e-10)
        net = lib.reconstruct(res.coef, res.intercept, beta)
        elapsed = time.perf_counter() - t0
        pred = net.predict(X)
        r2 = 1.0 - float((pred - y) @ (pred - y)) / float((y - y.mean()) @ (y - y.mean()))
        print(f"{norm:4} {depth:>2} {n_points:>3} {lib.raw_size:>9,} {len(lib):>7,} {len(net):>4} {res.objective:>11.6g} "
              f"{res.gap:>8.1e} {r2:>6.3f} {elapsed:>6.2f}")
        order = np.argsort(-np.abs(res.coef))[: args.top]
        for j in order:
            if res.coef[j] != 0:
                print(f"              z = {res.coef[j]:+.4f}  {lib.describe(int(j))}")
        panels.append((X, y, f"{norm}, L = {depth}", res.objective, net))
        if (norm, depth) == ("l2", 2):  # the same net over all directions: the library's excess on real data
            t0 = time.perf_counter()
            exact = netmirror.continuous_lasso_2d(X, y, beta)
            net = exact.network()
            elapsed = time.perf_counter() - t0
            pred = net.predict(X)
            r2 = 1.0 - float((pred - y) @ (pred - y)) / float((y - y.mean()) @ (y - y.mean()))
            print(f"{'l2*':4} {depth:>2} {n_points:>3} {'':>9} {len(exact.coef):>7,} {len(net):>4} "
                  f"{exact.objective:>11.6g} {exact.gap:>8.1e} {r2:>6.3f} {elapsed:>6.2f}")
            print(f"              l2*: over all directions (continuous_lasso_2d, {len(exact.types)} units added by "
                  f"column generation); the planes-through-2-points row is "
                  f"{exact.library_objective / exact.lower_bound - 1:.2%} above this certified optimum")
            panels.append((X, y, "l2 all directions, L = 2", exact.objective, net))
    if not args.no_plot:
        plane_figure(panels, args.out)
        print(f"wrote {args.out}")
    return 0


def _kink_lines(unit):
    """(w, c) of the lines wᵀx = c where a unit bends: its first layer's zero set and, at depth 3, the level
    sets |w₁ᵀx + b₁| = −b₂/w₂ where the second layer bends (the folds)."""
    W1, b1 = unit["layers"][0]["W"][0], float(unit["layers"][0]["b"][0])
    lines = [(W1, -b1, True)]
    if len(unit["layers"]) > 1:
        level = -float(unit["layers"][1]["b"][0]) / float(unit["layers"][1]["W"][0, 0])
        lines += [(W1, -b1 + level, False), (W1, -b1 - level, False)]
    return lines


def plane_figure(panels, path):
    from ._plot import _pyplot

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.0 * len(panels), 4.2), squeeze=False)
    for ax, (X, y, title, objective, net) in zip(axes[0], panels):
        lo, hi = X.min(axis=0), X.max(axis=0)
        pad = 0.1 * (hi - lo)
        lo, hi = lo - pad, hi + pad
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 160), np.linspace(lo[1], hi[1], 160))
        grid = np.column_stack([gx.ravel(), gy.ravel()])
        vmax = float(np.abs(y).max())
        ax.contourf(gx, gy, net.predict(grid).reshape(gx.shape), levels=20, cmap="coolwarm", vmin=-vmax,
                    vmax=vmax, alpha=0.55)
        ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", vmin=-vmax, vmax=vmax, edgecolors="k", s=22, zorder=3)
        zmax = max(abs(u["coef"]) for u in net.weights) if len(net) else 1.0
        reach = 2 * float(np.abs(hi - lo).max())
        for unit in net.weights:
            for w, c, main in _kink_lines(unit):
                w2 = float(w @ w)
                if w2 == 0.0:
                    continue
                p0 = w * c / w2  # a point of the line wᵀx = c
                direction = np.array([-w[1], w[0]]) / np.sqrt(w2)
                seg = p0[None, :] + np.array([-reach, reach])[:, None] * direction[None, :]
                ax.plot(seg[:, 0], seg[:, 1], color="k", lw=0.4 + 2.0 * abs(unit["coef"]) / zmax,
                        ls="-" if main else ":", alpha=0.8)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_title(f"{title}, n = {len(y)}: {len(net)} units, objective {objective:.4g}", fontsize=8)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
    fig.suptitle("netmirror demo --dims 2: reflection planes of abs nets on diabetes (PCA, d = 2); "
                 "dotted: folds (depth 3)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)  # atomically: a failure never leaves half a file
    plt.close(fig)
