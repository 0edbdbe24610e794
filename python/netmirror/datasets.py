"""Embedded 1-D data: the toy examples of the Lasso-twin papers and two synthetic noisy regression sets.

Sources
-------
- ``three_points``: seed 000, section 3.7 (x = 2, 3, 8).
- ``zshape``, ``bounce``, ``opt``: the 4- and 6-point examples of the authors' figures.
- ``sine``: synthetic, sin(3x) plus Gaussian noise on uniform x in [-1, 1].
- ``noisy``: synthetic, the ramp-and-plateau shape of ``opt`` (0 up to x = 5, slope 1 to x = 8, then 3)
  plus Gaussian noise on uniform x in [0, 11].

Everything is deterministic: the synthetic sets draw from ``numpy.random.default_rng(seed)``.
"""
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


def noisy(n=30, seed=0, noise=0.25):
    """n sorted points in [0, 11] with a noisy ramp-and-plateau response (deterministic for a given seed).

    y = clip(x - 5, 0, 3) + noise * N(0, 1): the ``opt`` toy's shape, so a good fit has kinks near 5 and 8.
    x is rounded to 2 decimals, which keeps the points distinct for the default seed and the formulas short.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0.0, 11.0, int(n))).round(2)
    y = np.clip(x - 5.0, 0.0, 3.0) + noise * rng.standard_normal(int(n))
    return x, y


def load(name):
    """(x, y) of any embedded data set by name: a toy set, 'sine' or 'noisy' (default sizes)."""
    if name not in NAMES:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(NAMES)}")
    if name == "sine":
        return sine()
    if name == "noisy":
        return noisy()
    return toy(name)


NAMES = tuple(TOY) + ("sine", "noisy")


def _read_rows(path):
    """Numbered non-blank, non-comment lines of a UTF-8 text file and a cell splitter for its separator."""
    with open(path, encoding="utf-8-sig") as fh:
        try:
            text = fh.read()
        except UnicodeDecodeError:
            raise ValueError(f"{path} is not a UTF-8 text file") from None
    rows = [(k, line.strip()) for k, line in enumerate(text.splitlines(), start=1)]
    rows = [(k, line) for k, line in rows if line and not line.startswith("#")]
    if not rows:
        raise ValueError(f"{path} has no data rows")
    sep = next((s for s in (",", ";", "\t") if s in rows[0][1]), None)

    def cells(line):
        return [c.strip().strip('"').strip("'").strip() for c in (line.split(sep) if sep else line.split())]

    return rows, cells


def _number(cell):
    try:
        return float(cell)
    except ValueError:
        return None


def _finite_value(path, k, cell):
    """The number in one cell of line k, or a ValueError that says what is wrong with it."""
    if cell == "":
        raise ValueError(f"{path}: line {k} has a missing value; remove the row or fill it in")
    v = _number(cell)
    if v is None:
        raise ValueError(f"{path}: line {k}: cannot read {cell!r} as a number")
    if not np.isfinite(v):
        raise ValueError(f"{path}: line {k} has a NaN or infinite value ({cell}); remove the row first")
    return v


def read_xy(path):
    """(x, y) float64 arrays from a CSV file of 1-D regression data.

    Accepts a header row (optional; the columns named x and y are used, or the only two columns), comma,
    semicolon, tab or whitespace separators, blank lines and ``#`` comments. Raises ValueError naming the
    line for ragged rows, values that are not numbers, missing, NaN or infinite values, and for fewer than
    2 points or fewer than 2 distinct x; OSError if the file cannot be read.
    """
    rows, cells = _read_rows(path)
    first = rows[0][1]
    head = cells(first)
    cols = (0, 1)
    if any(_number(c) is None for c in head):  # a header row
        names = [c.lower() for c in head]
        if "x" in names and "y" in names:
            cols = (names.index("x"), names.index("y"))
        elif len(names) != 2:
            raise ValueError(f"{path}: header has {len(names)} columns ({', '.join(head)}); name two of them "
                             "x and y, or give exactly two columns")
        width = len(names)
        rows = rows[1:]
    else:
        width = len(head)
        if width != 2:
            raise ValueError(f"{path}: line {rows[0][0]} has {width} values; expected 2 columns (x, y), or a "
                             "header naming the x and y columns")
    xs, ys = [], []
    for k, line in rows:
        vals = cells(line)
        if len(vals) != width:
            raise ValueError(f"{path}: line {k} has {len(vals)} values, expected {width}")
        pair = [_finite_value(path, k, vals[c]) for c in cols]
        xs.append(pair[0])
        ys.append(pair[1])
    if len(xs) < 2:
        raise ValueError(f"{path}: need at least 2 data points, found {len(xs)}")
    x, y = np.array(xs), np.array(ys)
    if np.unique(x).size < 2:
        raise ValueError(f"{path}: every x equals {x[0]:g}; need at least 2 distinct x values to fit a curve")
    return x, y


def read_table(path):
    """(X (n, d), y) float64 from a CSV file of d-dimensional regression data, or None for 1-D data (two
    columns, or a header naming columns x and y: use read_xy).

    A header is optional: with one, the column named y is the target and the others are the inputs; without
    one, the last column is y. Separators, comments and the errors raised are as in read_xy.
    """
    rows, cells = _read_rows(path)
    head = cells(rows[0][1])
    width = len(head)
    if width <= 2:
        return None
    target = width - 1
    if any(_number(c) is None for c in head):
        names = [c.lower() for c in head]
        if "x" in names and "y" in names:  # 1-D data with named columns among others: read_xy's case
            return None
        if "y" not in names:
            raise ValueError(f"{path}: header has {width} columns ({', '.join(head)}); name the target column y")
        target = names.index("y")
        rows = rows[1:]
    data = []
    for k, line in rows:
        vals = cells(line)
        if len(vals) != width:
            raise ValueError(f"{path}: line {k} has {len(vals)} values, expected {width}")
        data.append([_finite_value(path, k, cell) for cell in vals])
    if len(data) < 2:
        raise ValueError(f"{path}: need at least 2 data points, found {len(data)}")
    table = np.array(data)
    return np.delete(table, target, axis=1), table[:, target]
