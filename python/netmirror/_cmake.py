"""Locations of the installed C++ core, for C++ projects that build against a pip-installed netmirror."""
from __future__ import annotations

from pathlib import Path

_ROOT = Path(__file__).resolve().parent


def get_include() -> str:
    """Directory holding ``netmirror/*.hpp`` (the header-only C++17 core): add it to the include path."""
    path = _ROOT / "include"
    if not (path / "netmirror" / "netmirror.hpp").is_file():
        raise FileNotFoundError(f"netmirror's C++ headers are not installed under {path}; reinstall with pip")
    return str(path)


def get_cmake_dir() -> str:
    """Directory of ``netmirrorConfig.cmake``: ``cmake -Dnetmirror_DIR=<this>`` then
    ``find_package(netmirror CONFIG REQUIRED)`` and link ``netmirror::core``."""
    path = _ROOT / "share" / "cmake" / "netmirror"
    if not (path / "netmirrorConfig.cmake").is_file():
        raise FileNotFoundError(f"netmirror's CMake package is not installed under {path}; reinstall with pip")
    return str(path)
