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
import itertools
import os

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


# -- reading CSV files ------------------------------------------------------------------------------
# The most a CSV file may hold: the command line's fits build a dictionary that grows with the square of the
# points, so a file beyond this is never fittable; its values are parsed into float64 arrays as they stream
# in (8 bytes per value, never the whole text at once), and the memory that takes answers to the memory limit.
MAX_CSV_BYTES = 256 * 2**20
# The longest line read: a file without line breaks (or /dev/zero) stops here instead of filling memory.
MAX_LINE_CHARS = 2**20


def _size_text(nbytes):
    return f"{nbytes / 2**20:.0f} MiB" if nbytes >= 2**20 else f"{nbytes:,} bytes"


def _open_csv(path):
    """The file opened for reading UTF-8 text, refused when it is not a regular file or pipe or is too big."""
    import stat

    st = os.stat(path)  # FileNotFoundError, PermissionError: the caller reports them
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(21, "Is a directory", path)
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
        raise ValueError(f"{path} is not a regular file (a device or socket, which may never end); "
                         "netmirror reads CSV files")
    if stat.S_ISREG(st.st_mode):
        if st.st_size > MAX_CSV_BYTES:
            raise ValueError(f"{path} is {_size_text(st.st_size)}, more than the {_size_text(MAX_CSV_BYTES)} netmirror "
                             "reads: a fit's dictionary grows with the square of the points; subsample the rows")
        _check_parse_memory(path, st.st_size)
    return open(path, encoding="utf-8-sig")


def _check_parse_memory(path, nbytes):
    # at most one value per two characters (a digit and a separator), 8 bytes each, in a buffer that grows by
    # at most an eighth
    from . import _memory

    _memory.check(nbytes // 2 * 9, f"reading {path} ({_size_text(nbytes)})", "subsample the rows")


def _batches(path):
    """(line numbers, lines) of the non-blank, non-comment lines of a CSV file, read about 1 MiB at a time:
    the text is never held whole, and a line may not exceed MAX_LINE_CHARS. Lines are stripped of quotes
    and surrounding blanks where they have any."""
    k, read, rest = 0, 0, ""
    with _open_csv(path) as fh:
        while True:
            try:
                chunk = fh.read(1 << 18)
            except UnicodeDecodeError:
                raise ValueError(f"{path} is not a UTF-8 text file") from None
            read += len(chunk)
            if read > MAX_CSV_BYTES:  # a pipe: no size known up front
                raise ValueError(f"{path} holds more than the {_size_text(MAX_CSV_BYTES)} netmirror reads: a fit's "
                                 "dictionary grows with the square of the points; subsample the rows")
            text = rest + chunk
            lines = text.split("\n")
            rest = lines.pop() if chunk else ""
            if len(rest) > MAX_LINE_CHARS:
                raise ValueError(f"{path}: line {k + len(lines) + 1} is longer than {MAX_LINE_CHARS:,} characters; "
                                 "is it a CSV file?")
            if lines and all(lines) and not any(c in text for c in "#\"'"):  # no blank, comment or quote
                yield range(k + 1, k + 1 + len(lines)), lines
                k += len(lines)
            else:
                numbers, kept = [], []
                for line in lines:
                    k += 1
                    line = line.strip()
                    if line and line[0] != "#":
                        numbers.append(k)
                        kept.append(line)
                if kept:
                    yield numbers, kept
            if not chunk:
                return


def _separator(first):
    return next((s for s in (",", ";", "\t") if s in first), None)


def _cells(line, sep):
    return [c.strip().strip('"').strip("'").strip() for c in (line.split(sep) if sep else line.split())]


def _number(cell):
    try:
        return float(cell)
    except ValueError:
        return None


def _shown(cell):
    return repr(cell) if len(cell) <= 40 else repr(cell[:37] + "...")


def _finite_value(path, k, cell):
    """The number in one cell of line k, or a ValueError that says what is wrong with it."""
    if cell == "":
        raise ValueError(f"{path}: line {k} has a missing value; remove the row or fill it in")
    v = _number(cell)
    if v is None:
        raise ValueError(f"{path}: line {k}: cannot read {_shown(cell)} as a number")
    if not np.isfinite(v):
        raise ValueError(f"{path}: line {k} has a NaN or infinite value ({_shown(cell)}); remove the row first")
    return v


def _header_names(path, head):
    """Lower-cased header names; a ValueError naming any name given to two columns."""
    names = [c.lower() for c in head]
    dup = sorted({name for name in names if name and names.count(name) > 1})
    if dup:
        cols = "; ".join(f"{name!r} in columns {', '.join(str(i + 1) for i, v in enumerate(names) if v == name)}"
                         for name in dup)
        raise ValueError(f"{path}: the header names two columns alike ({cols}); give each column its own name")
    return names


def _layout(path, k, head, mode):
    """How to read the table whose first data line k has cells `head`: (kind "xy" or "table", header row
    present, width, the columns read, target column). mode: "xy" (read_xy), "table" (read_table), "any"."""
    width = len(head)
    header = any(_number(c) is None for c in head)
    names = _header_names(path, head) if header else None
    one_d = width <= 2 or (header and "x" in names and "y" in names)
    if mode == "xy" or (one_d and mode == "any"):
        if header:
            if "x" in names and "y" in names:
                cols = [names.index("x"), names.index("y")]
            elif width == 2:
                cols = [0, 1]
            else:
                raise ValueError(f"{path}: header has {width} columns ({', '.join(head)}); name two of them "
                                 "x and y, or give exactly two columns")
        elif width == 2:
            cols = [0, 1]
        else:
            raise ValueError(f"{path}: line {k} has {width} values; expected 2 columns (x, y), or a "
                             "header naming the x and y columns")
        return "xy", header, width, cols, 1
    if one_d:  # read_table on 1-D data
        return None
    target = width - 1
    if header:
        if "y" not in names:
            raise ValueError(f"{path}: header has {width} columns ({', '.join(head)}); name the target column y"
                             + (" (or, for 1-D data, the input column x and the target y)" if mode == "any" else ""))
        target = names.index("y")
    return "table", header, width, list(range(width)), target


def _parse(path, batch, sep, width, cols, values):
    """Append the values of columns `cols` of a batch (line numbers, lines) to `values` (array of float64)."""
    numbers, lines = batch
    split = [line.split(sep) for line in lines] if sep else [line.split() for line in lines]
    if all(len(v) == width for v in split):
        flat = [v[c] for v in split for c in cols] if len(cols) < width else [c for v in split for c in v]
        try:
            parsed = np.array(flat, dtype=np.float64)  # float() of each cell (blanks around a number are fine)
        except ValueError:
            parsed = None
        if parsed is not None and np.isfinite(parsed).all():
            values.frombytes(parsed.tobytes())
            return
    parsed = []
    for k, line in zip(numbers, lines):  # something is wrong in this batch: find the line and say what
        vals = _cells(line, sep)
        if len(vals) != width:
            raise ValueError(f"{path}: line {k} has {len(vals)} values, expected {width}")
        parsed += [_finite_value(path, k, vals[c]) for c in cols]
    values.extend(parsed)  # every cell was fine after all (quotes, blanks inside cells)


def _read(path, mode):
    """(kind, float64 array (n, columns read), target column) of a CSV file, parsed as it streams in."""
    import array

    batches = _batches(path)
    batch = next(batches, None)
    if batch is None:
        raise ValueError(f"{path} has no data rows")
    k, first = batch[0][0], batch[1][0].strip()
    sep = _separator(first)
    layout = _layout(path, k, _cells(first, sep), mode)
    if layout is None:
        return None
    kind, header, width, cols, target = layout
    values = array.array("d")
    pipe = not os.path.isfile(path)
    head = (batch[0][1:], batch[1][1:]) if header else batch
    for part in itertools.chain([head], batches):
        if part[1]:
            _parse(path, part, sep, width, cols, values)
        if pipe:  # its size was not checked up front
            from . import _memory
            _memory.check(16 * len(values), f"reading {path} ({len(values) // len(cols):,} rows so far)",
                          "subsample the rows")
    count = len(values) // len(cols)
    if count < 2:
        raise ValueError(f"{path}: need at least 2 data points, found {count}")
    return kind, np.frombuffer(values, dtype=np.float64).reshape(count, len(cols)), target


def read_xy(path):
    """(x, y) float64 arrays from a CSV file of 1-D regression data.

    Accepts a header row (optional; the columns named x and y are used, or the only two columns), comma,
    semicolon, tab or whitespace separators, blank lines and ``#`` comments. Raises ValueError naming the
    line for ragged rows, values that are not numbers, missing, NaN or infinite values, for a header naming two
    columns alike, and for fewer than 2 points or fewer than 2 distinct x; also for files that are not regular
    files or pipes (devices such as /dev/zero), larger than MAX_CSV_BYTES (256 MiB) or with a line longer than
    MAX_LINE_CHARS; OSError if the file cannot be read. The file is parsed as it is read: memory is the
    float64 values, not the text.
    """
    _, table, _ = _read(path, "xy")
    return _xy(path, table)


def _xy(path, table):
    x, y = table[:, 0].copy(), table[:, 1].copy()
    if np.unique(x).size < 2:
        raise ValueError(f"{path}: every x equals {x[0]:g}; need at least 2 distinct x values to fit a curve")
    return x, y


def read_table(path):
    """(X (n, d), y) float64 from a CSV file of d-dimensional regression data, or None for 1-D data (two
    columns, or a header naming columns x and y: use read_xy).

    A header is optional: with one, the column named y is the target and the others are the inputs; without
    one, the last column is y. Separators, comments, limits and the errors raised are as in read_xy.
    """
    out = _read(path, "table")
    if out is None:
        return None
    _, table, target = out
    return np.delete(table, target, axis=1), table[:, target].copy()


def read_data(path):
    """One pass over a CSV file for ``netmirror fit``: ("xy", x, y) for 1-D data (as read_xy), else
    ("table", X, y) (as read_table)."""
    kind, table, target = _read(path, "any")
    if kind == "xy":
        return ("xy", *_xy(path, table))
    return "table", np.delete(table, target, axis=1), table[:, target].copy()
