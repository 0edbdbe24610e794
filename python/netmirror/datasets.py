"""Embedded toy data: the 1-D examples of the Lasso-twin papers (seed 000 and the authors' figures)."""
import numpy as np

# name -> (x, y, where it comes from)
TOY = {
    "three_points": (np.array([2.0, 3.0, 8.0]), np.array([0.0, 1.0, 0.0]), "seed 000 section 3.7 (x = 2, 3, 8)"),
    "zshape": (np.array([0.0, 2.0, 6.0, 7.0]), np.array([0.0, 0.0, 3.0, 3.0]), "authors' figures"),
    "bounce": (np.array([0.0, 2.0, 6.0, 7.0]), np.array([0.0, 0.0, 3.0, 7.0]), "authors' figures"),
    "opt": (np.array([0.0, 4.0, 5.0, 7.0, 10.0, 11.0]), np.array([0.0, 0.0, 0.0, 2.0, 3.0, 3.0]), "authors' figures"),
}


def toy(name="opt"):
    """(x, y) of an embedded toy data set: three_points, zshape, bounce or opt."""
    if name not in TOY:
        raise ValueError(f"unknown toy data set {name!r}; choose one of {', '.join(TOY)}")
    x, y, _ = TOY[name]
    return x.copy(), y.copy()


def sine(n=40, seed=0):
    """n sorted points in [-1, 1] with a noisy sine response (deterministic for a given seed)."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-1.0, 1.0, n))
    return x, np.sin(3.0 * x) + 0.1 * rng.standard_normal(n)
