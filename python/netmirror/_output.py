"""Files the command line writes: every output path checked before any work, and written atomically.

A result is written to a temporary file in the target's folder and moved over the target with os.replace
only once it is complete, so a failure (or Ctrl-C) never leaves a half-written file and never destroys the
file that was there before. An output may not be one of the command's input files, nor another output of the
same command.
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile


class OutputError(ValueError):
    """An output path that cannot or must not be written."""


def figure_formats():
    """File extensions matplotlib's Agg canvas writes (pgf is left out: it needs a LaTeX installation)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    return sorted(set(FigureCanvasAgg(Figure()).get_supported_filetypes()) - {"pgf"})


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare the resolved paths
        return os.path.realpath(a) == os.path.realpath(b)


def check_outputs(outputs, inputs=()):
    """Refuse, before any work, outputs that cannot be written or would overwrite something they must not.

    outputs: (option, path, kind) with kind "figure" (an extension matplotlib writes) or "JSON" (any name);
    None paths are skipped. inputs: paths the command reads. Raises OutputError with one line."""
    seen = []
    formats = None
    for option, path, kind in outputs:
        if path is None:
            continue
        if not str(path).strip():
            raise OutputError(f"{option} needs a file name")
        what = f"the {kind} ({option} {path})"
        real = os.path.realpath(path)
        folder = os.path.dirname(real)
        if not os.path.isdir(folder):
            raise OutputError(f"cannot write {what}: folder {os.path.dirname(os.path.abspath(path))} does not exist")
        if os.path.isdir(real):
            raise OutputError(f"cannot write {what}: {path} is a folder")
        if os.path.exists(real):
            mode = os.stat(real).st_mode
            if not stat.S_ISREG(mode):
                raise OutputError(f"cannot write {what}: {path} exists and is not a regular file (a device, pipe or "
                                  "socket); name a file")
            if not os.access(real, os.W_OK):
                raise OutputError(f"cannot write {what}: {path} is read-only")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write {what}: folder {folder} is not writable")
        for source in inputs:
            if source is not None and _same_file(source, path):
                raise OutputError(f"refusing to write {what}: it is the input file {source}; choose another name")
        for other_option, other in seen:
            if _same_file(other, path):
                raise OutputError(f"{other_option} and {option} name the same file {path}; give each its own")
        if kind == "figure":
            ext = os.path.splitext(path)[1].lower().lstrip(".")
            formats = formats or figure_formats()
            if ext not in formats:
                why = f".{ext} is not a figure format" if ext else "the name has no extension"
                raise OutputError(f"cannot write {what}: {why}; end the name with one of "
                                  f"{', '.join('.' + f for f in formats)}")
        seen.append((option, path))


def _mode_for(real):
    """Permissions of the written file: those of the file it replaces, else the usual ones (0666 & ~umask)."""
    try:
        return stat.S_IMODE(os.stat(real).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path (same folder and extension as `path`) to write; moved over `path` when the block
    ends without an exception, removed otherwise. Symbolic links are followed: the link stays, its target
    is replaced."""
    real = os.path.realpath(path)
    folder, name = os.path.split(real)
    ext = os.path.splitext(name)[1]
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=f".tmp{ext}", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _mode_for(real))
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path, text):
    """Write text to path atomically (UTF-8)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def save_figure(fig, path, **kwargs):
    """fig.savefig to path atomically, in the format of path's extension."""
    fmt = os.path.splitext(path)[1].lower().lstrip(".") or None
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, **kwargs)
