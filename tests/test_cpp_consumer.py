"""C++ users: the pip-installed core is a CMake package. A small consumer project finds it with
find_package(netmirror CONFIG), builds with -Wall -Wextra -Werror, and its Lasso result matches Python's."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import netmirror

HERE = Path(__file__).resolve().parent / "cpp_consumer"


def test_get_include_and_cmake_dir_point_at_installed_files():
    inc = Path(netmirror.get_include())
    assert (inc / "netmirror" / "lasso.hpp").is_file() and (inc / "netmirror" / "libraries.hpp").is_file()
    cmake_dir = Path(netmirror.get_cmake_dir())
    assert (cmake_dir / "netmirrorConfig.cmake").is_file()
    assert (cmake_dir / "netmirrorConfigVersion.cmake").is_file()
    assert (cmake_dir / "netmirrorTargets.cmake").is_file()


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed (the test extra installs it)")
def test_consumer_project_builds_and_matches_python(tmp_path):
    build = tmp_path / "build"
    configure = ["cmake", "-S", str(HERE), "-B", str(build), f"-Dnetmirror_DIR={netmirror.get_cmake_dir()}",
                 "-DCMAKE_BUILD_TYPE=Release"]
    for cmd in (configure, ["cmake", "--build", str(build), "-j", "2"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    exe = next(p for p in build.rglob("consumer*") if p.is_file() and p.suffix in ("", ".exe"))
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = dict(line.split(" ", 1) for line in proc.stdout.strip().splitlines())

    x, y = netmirror.datasets.load("opt")
    lib = netmirror.library(x, "relu", 3, dedup=False)
    res = netmirror.lasso(lib.matrix(), y, 0.1, tol=1e-12)
    assert int(out["size"]) == lib.raw_size
    assert float(out["gap"]) <= 1e-12 * max(1.0, res.objective)
    np.testing.assert_allclose(float(out["objective"]), res.objective, rtol=1e-12)


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed (the test extra installs it)")
def test_plain_cmake_install_from_source_is_found(tmp_path):
    """Without Python: `cmake --install` of the source tree gives <prefix>/lib/cmake/netmirror."""
    root = HERE.parent.parent
    if not (root / "CMakeLists.txt").is_file():
        pytest.skip("source tree not available")
    prefix, build, cbuild = tmp_path / "prefix", tmp_path / "core", tmp_path / "consumer"
    cmds = [["cmake", "-S", str(root), "-B", str(build), "-DNETMIRROR_PYTHON=OFF", "-DNETMIRROR_CUDA=OFF"],
            ["cmake", "--install", str(build), "--prefix", str(prefix)],
            ["cmake", "-S", str(HERE), "-B", str(cbuild), f"-DCMAKE_PREFIX_PATH={prefix}"],
            ["cmake", "--build", str(cbuild)]]
    for cmd in cmds:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    assert list(prefix.rglob("netmirrorConfig.cmake"))
    exe = next(p for p in cbuild.rglob("consumer*") if p.is_file() and p.suffix in ("", ".exe"))
    assert subprocess.run([str(exe)], capture_output=True, timeout=60).returncode == 0
