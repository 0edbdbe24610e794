"""The memory limit: the most bytes one netmirror call may allocate, checked up front from an estimate.

The limit is, in order: the value given to :func:`set_memory_limit`, else ``NETMIRROR_MAX_BYTES``, else 80%
of the memory available when asked. Every entry point estimates what it is about to allocate (its peak
working memory, not counting the arrays the caller already holds) and raises a :class:`MemoryError` naming
the estimate, the limit and ways around it before any large allocation happens.
"""
from __future__ import annotations

import contextlib
import contextvars
import numbers
import os
import threading

_lock = threading.Lock()
_limit = None  # set_memory_limit's value; None: NETMIRROR_MAX_BYTES, else 80% of available memory
# True while netmirror.cli runs a command: advice then names its flags, not Python keywords
_command_line = contextvars.ContextVar("netmirror_command_line", default=False)


def _available_bytes():
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def _default_limit():
    env = os.environ.get("NETMIRROR_MAX_BYTES")
    if env:
        try:
            value = int(float(env))
        except (ValueError, OverflowError):
            raise ValueError(f"NETMIRROR_MAX_BYTES={env!r} is not a number of bytes") from None
        if value <= 0:
            raise ValueError(f"NETMIRROR_MAX_BYTES must be positive, got {env!r}")
        return value
    return int(0.8 * _available_bytes())


def set_memory_limit(nbytes):
    """Set the most bytes one netmirror call may allocate (a positive integer); None restores the default
    (``NETMIRROR_MAX_BYTES`` if set, else 80% of available memory). Returns the previous explicit limit
    (None if there was none), so ``set_memory_limit(set_memory_limit(n))`` restores it."""
    global _limit
    if nbytes is not None:
        if isinstance(nbytes, bool) or not isinstance(nbytes, numbers.Real):
            raise TypeError(f"the memory limit must be a positive number of bytes or None, got {nbytes!r}")
        if nbytes != nbytes or nbytes in (float("inf"), float("-inf")):
            raise ValueError(f"the memory limit must be a finite number of bytes, got {nbytes!r}")
        if isinstance(nbytes, numbers.Integral):
            value = int(nbytes)
        else:
            value = int(float(nbytes))
            if value != float(nbytes):
                raise ValueError(f"the memory limit must be a whole number of bytes, got {nbytes!r}")
        if value <= 0:
            raise ValueError(f"the memory limit must be positive, got {nbytes!r}")
        nbytes = value
    with _lock:
        previous, _limit = _limit, nbytes
    return previous


def get_memory_limit():
    """The most bytes one netmirror call may allocate: the value given to :func:`set_memory_limit`, else
    ``NETMIRROR_MAX_BYTES``, else 80% of the memory available now."""
    limit = _limit
    return _default_limit() if limit is None else limit


def _fmt(nbytes):
    nbytes = float(nbytes)
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size:
            return f"{nbytes / size:.3g} {unit}"
    return f"{nbytes:.0f} bytes"


def _source():
    if _limit is not None:
        return "set by netmirror.set_memory_limit"
    if os.environ.get("NETMIRROR_MAX_BYTES"):
        return "NETMIRROR_MAX_BYTES"
    return "80% of available memory"


@contextlib.contextmanager
def command_line():
    """Within this block, advice (:func:`advice`, :func:`check`) names the command line's flags: netmirror.cli
    runs its commands here, so that nothing suggests a Python keyword the user cannot pass."""
    token = _command_line.set(True)
    try:
        yield
    finally:
        _command_line.reset(token)


def from_command_line():
    return _command_line.get()


def advice(*options):
    """Ways around a limit that exist for the caller, joined as "a, b or c".

    Each option is a text, or a pair (Python API text, command-line text); a None text (an option the caller
    does not have) is left out."""
    cli = _command_line.get()
    texts = []
    for opt in options:
        if isinstance(opt, tuple):
            opt = opt[1] if cli else opt[0]
        if opt:
            texts.append(opt)
    if not texts:
        return ""
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " or " + texts[-1]


def raise_limit_text():
    """How to raise the limit, for the caller at hand."""
    if _command_line.get():
        return "raise the limit with NETMIRROR_MAX_BYTES=<bytes>"
    return "raise the limit with netmirror.set_memory_limit(nbytes) or NETMIRROR_MAX_BYTES"


def check(nbytes, what, hint):
    """Raise MemoryError when ``nbytes`` (an estimate, any real >= 0, possibly huge) exceeds the limit.

    what: the allocation, e.g. "the 200 x 10,000 float64 dictionary"; hint: ways around it, without the
    limit itself (that one is always appended)."""
    limit = get_memory_limit()
    if nbytes > limit:
        hint = f"{hint}, or " if hint else ""
        raise MemoryError(
            f"{what} needs about {_fmt(nbytes)}, more than the memory limit of {_fmt(limit)} ({_source()}); "
            f"{hint}{raise_limit_text()}")
    return limit


# -- estimates shared by several modules ------------------------------------------------------------
# Coordinate-descent Lasso (cpp/include/netmirror/lasso.hpp), measured on random and library dictionaries:
# ~85 bytes per column (coefficients, correlations, best dual correlations, column means and norms, the
# active set, working-set priority pairs), a few vectors per row, and the working set gathered into a
# dense n x k block with the exact finish's QR (n x min(n, k) and its R). The working set follows twice
# the support (at most ~n columns) and doubles when an outer iteration stalls: k <= min(M, 16 n) covers
# what we measured (up to ~10 n) with room to spare.
LASSO_BYTES_PER_COLUMN = 100
LASSO_BYTES_PER_ROW = 200
# Matrix-free operator (implicit.hpp): column means and centred squared norms per column, prefix sums per row.
OPERATOR_BYTES_PER_COLUMN = 16
OPERATOR_BYTES_PER_ROW = 128


def lasso_bytes(n, m):
    """Peak working memory (bytes) of one Lasso solve on an n x m dictionary (besides the dictionary)."""
    n, m = int(n), int(m)
    k = min(m, max(64, 16 * n))
    r = min(n, k)
    return LASSO_BYTES_PER_COLUMN * m + LASSO_BYTES_PER_ROW * n + 16 * n * k + 8 * (n * r + r * r)


def operator_bytes(n, m):
    """Matrix-free operator of an n-point, m-column library (its column statistics and row buffers)."""
    return OPERATOR_BYTES_PER_COLUMN * int(m) + OPERATOR_BYTES_PER_ROW * int(n)
