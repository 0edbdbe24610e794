"""Scalar arguments, checked once: real numbers and integers as Python, NumPy scalar or 0-d array values.

The C++ core takes doubles and int64: an integer of 2**63 or more would reach pybind11 as a type mismatch
(its error lists every overload), so integers are bounded here, before any call into the core.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

INT64_MAX = 2**63 - 1


def scalar(v):
    """v itself, or the element of a 0-d NumPy array (``np.array(0.1)``); bools stay bools."""
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return v[()]  # a NumPy scalar of the array's dtype
    return v


def _is_bool(v):
    return isinstance(v, (bool, np.bool_))


def real(name, v, *, lo=None, hi=None, lo_open=False, hi_open=False, what=None):
    """float(v) for a finite real number v in [lo, hi] (open ends with lo_open/hi_open), else ValueError.

    Accepts Python int/float, NumPy integer/floating scalars and 0-d arrays of those; rejects bool, complex,
    strings, arrays with elements. ``what`` names the requirement in the message (default: from the bounds)."""
    s = scalar(v)
    ok = not _is_bool(s) and isinstance(s, numbers.Real)
    value = math.nan
    if ok:
        try:
            value = float(s)
        except (OverflowError, ValueError):  # an int beyond the float range
            ok = False
    if ok and math.isfinite(value):
        if lo is not None and (value <= lo if lo_open else value < lo):
            ok = False
        if hi is not None and (value >= hi if hi_open else value > hi):
            ok = False
    else:
        ok = False
    if not ok:
        raise ValueError(f"{name} must be {what or _range_text(lo, hi, lo_open, hi_open)}, got {_short(v)}")
    return value


def _range_text(lo, hi, lo_open, hi_open):
    if hi is None:
        if lo is None:
            return "a finite real number"
        if lo == 0:
            return "a finite positive number" if lo_open else "a finite non-negative number"
        return f"a finite number {'>' if lo_open else '>='} {lo:g}"
    if lo is None:
        return f"a finite number {'<' if hi_open else '<='} {hi:g}"
    return f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def positive(name, v, allow_zero=False):
    """float(v) for a finite positive (or, allow_zero, non-negative) real number."""
    return real(name, v, lo=0.0, lo_open=not allow_zero)


def integer(name, v, lo=1, hi=INT64_MAX, what=None):
    """int(v) for an integer lo <= v <= hi (Python int, NumPy integer, 0-d integer array), else ValueError
    with one line. Floats are refused even when integral (2.0): a count is an integer."""
    s = scalar(v)
    ok = not _is_bool(s) and isinstance(s, numbers.Integral)
    if ok:
        value = int(s)
        ok = lo <= value and (hi is None or value <= hi)
    if not ok:
        raise ValueError(f"{name} must be {what or integer_text(lo, hi)}, got {_short(v)}")
    return value


def integer_text(lo, hi):
    if hi == INT64_MAX:
        base = {0: "a non-negative integer", 1: "a positive integer"}.get(lo, f"an integer >= {lo}")
        return f"{base} below 2**63"
    if hi is None:
        return {0: "a non-negative integer", 1: "a positive integer"}.get(lo, f"an integer >= {lo}")
    return f"an integer from {lo:,} to {hi:,}"


def _short(v):
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."
