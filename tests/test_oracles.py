"""Exact dual oracles (oracles.hpp) against NumPy enumeration and against the enumerated library itself."""
import netmirror as nm
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netmirror import _core, reference


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 40), ties=st.booleans(),
       offset=st.sampled_from([0.0, 1e6, -1e12]))
def test_relu_depth3_oracle_matches_enumeration(seed, n, ties, offset):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, n)
    if ties:
        x = np.round(x, 1)
    theta = rng.standard_normal(n)
    xs = x + offset  # the data as stored; xs - offset is exact (Sterbenz), and the oracle is shift-invariant
    value, kind, a, b = _core.relu_depth3_max_correlation(xs, theta)
    ref = reference.relu_depth3_max_correlation(xs - offset, theta)
    assert value == pytest.approx(ref, rel=1e-9, abs=1e-12 * np.abs(theta).sum())
    # the argmax is a feature with that correlation
    t = theta - theta.mean()
    feature = {0: np.maximum(xs - a, 0.0), 1: np.maximum(a - xs, 0.0),
               2: np.clip(xs - a, 0.0, b - a)}[kind]
    assert abs(feature @ t) == pytest.approx(value, rel=1e-9, abs=1e-12 * np.abs(theta).sum())


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(3, 30))
def test_relu_depth3_oracle_is_the_library_maximum(seed, n):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-1, 1, n))
    theta = rng.standard_normal(n)
    A = nm.library(x, "relu", 3).matrix()
    t = theta - theta.mean()
    value, *_ = _core.relu_depth3_max_correlation(x, theta)
    assert value == pytest.approx(np.abs(A.T @ t).max(), rel=1e-9)
