"""The C++ unit tests (tests/cpp, doctest) built from the source tree and run under ctest."""
from __future__ import annotations

import glob
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _doctest_available():
    return bool(glob.glob("/usr/include/doctest/doctest.h") or glob.glob("/usr/local/include/doctest/doctest.h")
                or glob.glob("/usr/lib/cmake/doctest") or glob.glob("/usr/local/lib/cmake/doctest"))


@pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("ctest") is None, reason="needs cmake and ctest")
@pytest.mark.skipif(not _doctest_available(), reason="needs doctest (Debian doctest-dev; .ci/run installs it)")
def test_cpp_unit_tests_pass_under_ctest(tmp_path):
    build = tmp_path / "build"
    cmds = [["cmake", "-S", str(ROOT), "-B", str(build), "-DNETMIRROR_PYTHON=OFF", "-DNETMIRROR_CUDA=OFF",
             "-DNETMIRROR_TESTS=ON", "-DCMAKE_BUILD_TYPE=Release"],
            ["cmake", "--build", str(build), "-j", "2"],
            ["ctest", "--test-dir", str(build), "--output-on-failure"]]
    for cmd in cmds:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
