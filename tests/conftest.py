"""Shared hypothesis strategies and family cases for the netmirror test suite.

Data strategies cover unsorted inputs, ties and repeated values, negatives, integer-valued data and
magnitudes from 1e-6 to 1e6 (a base array scaled by 10**k). `grid=True` restricts base values to a grid
(multiples of 1/64 or 1/1000), so that distinct feature values are far apart compared with the dedup
tolerance: tests that reason "within tolerance" use it; bit-exactness tests use arbitrary floats too.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from netmirror import reference

settings.register_profile(
    "netmirror",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    print_blob=True,
)
settings.load_profile("netmirror")


# --------------------------------------------------------------------------------------------------
# family cases: (activation, architecture, depth, kwargs)
LEAKY_SLOPES = (0.1, -0.3, 2.0)


def _family_cases():
    cases = []
    for depth in (2, 3, 4):
        cases.append(("relu", "deep_narrow", depth, {}))
        for slope in LEAKY_SLOPES:
            cases.append(("leaky_relu", "deep_narrow", depth, {"slope": slope}))
    for depth in (2, 3, 4, 5):
        cases.append(("abs", "deep_narrow", depth, {}))
    for act in ("sign", "threshold"):
        for depth in (2, 3, 4):
            cases.append((act, "deep_narrow", depth, {}))
    cases.append(("relu", "symmetrized", 3, {}))
    for slope in LEAKY_SLOPES:
        cases.append(("leaky_relu", "symmetrized", 3, {"slope": slope}))
    for act in ("sign", "threshold"):
        cases += [
            (act, "rectangular", 2, {"widths": (3,)}),
            (act, "rectangular", 3, {"widths": (2, 2)}),
            (act, "rectangular", 4, {"widths": (3, 3, 3)}),
            (act, "rectangular", 16, {"widths": (2,) * 15}),
            (act, "tree", 2, {"widths": (4,)}),
            (act, "tree", 3, {"widths": (3, 1)}),
            (act, "tree", 4, {"widths": (2, 2, 5)}),
            (act, "tree", 5, {"widths": (1, 2, 1, 7)}),
        ]
    return cases


FAMILY_CASES = _family_cases()


def case_id(case):
    act, arch, depth, kw = case
    extra = ""
    if "slope" in kw:
        extra = f"-a{kw['slope']:g}"
    if "widths" in kw:
        w = kw["widths"]
        extra = f"-w{w[0]}x{len(w)}" if len(set(w)) == 1 else "-w" + "_".join(map(str, w))
    return f"{act}-{arch}-L{depth}{extra}"


def family_params(cases=None):
    return [pytest.param(c, id=case_id(c)) for c in (FAMILY_CASES if cases is None else cases)]


def ref_size(n, case):
    act, arch, depth, kw = case
    return reference.library_size(n, act, depth, arch, kw.get("widths"), slope=kw.get("slope"))


def max_n(case, budget, cap=40):
    """Largest N <= cap whose raw library has at most `budget` columns (at least 1)."""
    n = 1
    while n < cap and ref_size(n + 1, case) <= budget:
        n += 1
    return n


def ref_matrix(x, case, t=None):
    """The reference dictionary in the library's frame (features of x - origin, reference.frame_origin)."""
    act, arch, depth, kw = case
    o = reference.frame_origin(x, act)
    return reference.library_matrix(x - o, act, depth, arch, kw.get("slope"), kw.get("widths"),
                                    t=None if t is None else t - o)


def ref_tolerance(x, act):
    """The reference deduplication tolerance in the library's frame."""
    return reference.dedup_tolerance(np.asarray(x) - reference.frame_origin(x, act), act)


# --------------------------------------------------------------------------------------------------
# data strategies
def _grid_value():
    return st.one_of(
        st.integers(-640, 640).map(lambda v: v / 64.0),
        st.integers(-10_000, 10_000).map(lambda v: v / 1000.0),
    )


def _any_value():
    return st.one_of(
        _grid_value(),
        st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False, allow_subnormal=False),
    )


@st.composite
def x_arrays(draw, min_n=1, max_n=40, grid=False, min_distinct=1, scale=True):
    """1-D float64 inputs of length in [min_n, max_n] with at least `min_distinct` distinct values."""
    max_n = max(max_n, min_n, min_distinct)
    n = draw(st.integers(max(min_n, min_distinct), max_n))
    value = _grid_value() if grid else _any_value()
    mode = draw(st.sampled_from(["float", "int", "pool"]))
    if mode == "int":
        value = st.integers(-50, 50).map(float)
    if min_distinct > 1:
        distinct = draw(st.lists(value, min_size=min_distinct, max_size=min_distinct, unique=True))
    else:
        distinct = []
    if mode == "pool":  # ties: draw from a small pool of values
        pool = draw(st.lists(value, min_size=1, max_size=4)) + distinct
        rest = draw(st.lists(st.sampled_from(pool), min_size=n - len(distinct), max_size=n - len(distinct)))
    else:
        rest = draw(st.lists(value, min_size=n - len(distinct), max_size=n - len(distinct)))
    vals = distinct + rest
    order = draw(st.sampled_from(["as_drawn", "sorted", "reversed", "shuffled"]))
    if order == "sorted":
        vals = sorted(vals)
    elif order == "reversed":
        vals = sorted(vals, reverse=True)
    elif order == "shuffled":
        vals = draw(st.permutations(vals))
    x = np.asarray(vals, dtype=np.float64)
    if scale:
        k = draw(st.integers(-6, 6))
        x = x * (10.0 ** k)
    return x


@st.composite
def eval_points(draw, x, max_m=12):
    """Evaluation points for data x: data points, points in between and points outside the data range."""
    lo, hi = float(x.min()), float(x.max())
    span = max(hi - lo, float(np.abs(x).max()), 1e-6)
    m = draw(st.integers(1, max_m))
    us = draw(st.lists(st.floats(-1.5, 2.5, allow_nan=False, allow_infinity=False), min_size=m, max_size=m))
    t = [lo + u * span for u in us]
    t += draw(st.lists(st.sampled_from(list(x)), max_size=4))
    t += [lo - 0.75 * span, hi + 0.5 * span]
    t = draw(st.permutations(t))
    return np.asarray(t, dtype=np.float64)


@st.composite
def half_plane_points(draw, min_n=1, max_n=20):
    """2-D points (n, 2) in the open upper half plane."""
    n = draw(st.integers(min_n, max_n))
    ang = st.one_of(st.integers(1, 63).map(lambda k: k * np.pi / 64),
                    st.floats(1e-3, np.pi - 1e-3, allow_nan=False))
    angles = draw(st.lists(ang, min_size=n, max_size=n))
    radii = draw(st.lists(st.floats(0.1, 10.0, allow_nan=False), min_size=n, max_size=n))
    pts = np.array([[r * np.cos(a), r * np.sin(a)] for r, a in zip(radii, angles)], dtype=np.float64)
    return pts
