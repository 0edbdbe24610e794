"""`netmirror demo --dims 2`: abs nets on 2-D data trained through their reflection-plane Lasso twins.

Data: scikit-learn's diabetes set (shipped with the package, no download), standardised, reduced to its first
two principal components, a fixed subsample of points; the target is the disease progression, standardised.
Each fit prints its library, optimum and certified gap; the figure draws the learned planes (lines) over the
data and the rebuilt network's prediction.
"""
from __future__ import annotations

import time

import numpy as np

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
        panels.append((X, y, norm, depth, lib, res, net))
    if not args.no_plot:
        plane_figure(panels, args.out)
        print(f"wrote {args.out}")
    return 0


def _fold_offsets(f, depth):
    """Offsets (in s = uᵀx − offset) of the kink lines of one feature: the plane and its folds."""
    if depth == 2:
        return [0.0]
    a1, c2 = float(f["levels"][0]), float(f["levels"][1])
    return [a1, a1 - c2, a1 + c2]


def plane_figure(panels, path):
    from ._plot import _pyplot

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    for ax, (X, y, norm, depth, lib, res, net) in zip(axes[0], panels):
        lo, hi = X.min(axis=0), X.max(axis=0)
        pad = 0.1 * (hi - lo)
        lo, hi = lo - pad, hi + pad
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 160), np.linspace(lo[1], hi[1], 160))
        grid = np.column_stack([gx.ravel(), gy.ravel()])
        vmax = float(np.abs(y).max())
        ax.contourf(gx, gy, net.predict(grid).reshape(gx.shape), levels=20, cmap="coolwarm", vmin=-vmax,
                    vmax=vmax, alpha=0.55)
        ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", vmin=-vmax, vmax=vmax, edgecolors="k", s=22, zorder=3)
        selected = np.flatnonzero(res.coef)
        feats = lib.feature_rows(selected)
        zmax = float(np.abs(res.coef).max()) or 1.0
        for f, j in zip(feats, selected):
            u, off = f["normal"], float(f["offset"])
            t = np.array([-1.0, 1.0]) * 2 * float(np.abs(hi - lo).max())
            direction = np.array([-u[1], u[0]]) / max(float(np.hypot(u[0], u[1])), 1e-300)
            scale = float(u @ u)
            for k, shift in enumerate(_fold_offsets(f, depth)):
                p0 = u * (off + shift) / scale  # a point of the line uᵀx = offset + shift
                seg = p0[None, :] + t[:, None] * direction[None, :]
                ax.plot(seg[:, 0], seg[:, 1], color="k", lw=0.4 + 2.0 * abs(res.coef[j]) / zmax,
                        ls="-" if k == 0 else ":", alpha=0.8)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_title(f"{norm}, L = {depth}, n = {len(y)}: {len(net)} units, objective {res.objective:.4g}",
                     fontsize=9)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
    fig.suptitle("netmirror demo --dims 2: reflection planes of abs nets on diabetes (PCA, d = 2); "
                 "dotted: folds (depth 3)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
