"""The benchmark report and the C++ microbenchmarks: `bench/run --quick` writes a well-formed report (no
timings are asserted), and bench/cpp configures, builds and runs when Google Benchmark is installed."""
from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _table_blocks(lines):
    """Markdown tables as lists of rows (cells split on '|'), header first."""
    blocks, current = [], []
    for line in lines + [""]:
        if line.startswith("|"):
            current.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif current:
            blocks.append(current)
            current = []
    return blocks


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    if not (BENCH / "run").is_file():
        pytest.skip("bench/ is not part of this checkout")
    assert os.access(BENCH / "run", os.X_OK), "bench/run must be executable (one command)"
    out = tmp_path_factory.mktemp("bench_run")
    proc = subprocess.run([sys.executable, str(BENCH / "run"), "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT, env=dict(os.environ))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return out


def test_quick_run_writes_markdown_with_every_section(quick_report):
    text = (quick_report / "results.md").read_text()
    assert text.startswith("# netmirror: benchmark results")
    for heading in ("## Dictionary assembly vs the NumPy reference", "## Matrix-free Aᵀr vs dense",
                    "## Covariance accumulation vs BLAS", "## Lasso: time to a certified duality gap",
                    "## Scaling with N"):
        assert heading in text
    assert "load average" in text and "bench/run --quick" in text
    blocks = _table_blocks(text.splitlines())
    assert len(blocks) >= 8
    for block in blocks:
        header, rule, *rows = block
        assert all(set(c) <= set("-:") and c for c in rule), rule
        assert rows, header
        assert all(len(r) == len(header) for r in rows), header
    for png in ("scaling_size.png", "scaling_time.png", "lasso_time_to_gap.png"):
        assert f"]({png})" in text


def test_quick_run_writes_json_with_ratios_inputs(quick_report):
    data = json.loads((quick_report / "results.json").read_text())
    meta, results = data["meta"], data["results"]
    assert meta["mode"] == "quick" and meta["load"]["samples"] >= 1
    assert set(results) >= {"libraries", "matrix_free", "covariance", "lasso", "scaling"}
    assert all(r["equal"] for r in results["libraries"]["families"])
    assert all(r["implicit_s"] > 0 and r["numpy_s"] > 0 for r in results["matrix_free"]["rows"])
    assert all(r["errors"]["ours centred"] < 1e-12 for r in results["covariance"]["rows"])
    for name, sc in results["lasso"]["scenarios"].items():
        assert sc["results"]["netmirror"]["summary"]["best_gap"] <= 1e-8, name
    fams = {r["family"] for r in results["scaling"]["rows"]}
    assert len(fams) == len(results["scaling"]["families"])
    assert all(r["kept"] <= r["raw"] for r in results["scaling"]["rows"])


def test_quick_run_writes_png_plots(quick_report):
    import matplotlib.image

    for png in ("scaling_size.png", "scaling_time.png", "lasso_time_to_gap.png"):
        path = quick_report / png
        assert path.read_bytes()[:8] == PNG_MAGIC
        img = matplotlib.image.imread(path)
        assert img.shape[0] > 200 and img.shape[1] > 200


def _benchmark_available():
    return bool(glob.glob("/usr/lib/*/cmake/benchmark/benchmarkConfig.cmake")
                or glob.glob("/usr/lib/cmake/benchmark/benchmarkConfig.cmake")
                or glob.glob("/usr/local/lib*/cmake/benchmark/benchmarkConfig.cmake"))


@pytest.mark.skipif(shutil.which("cmake") is None, reason="needs cmake")
@pytest.mark.skipif(not _benchmark_available(), reason="needs Google Benchmark (Debian libbenchmark-dev)")
def test_microbenchmarks_build_warning_free_and_run(tmp_path):
    """bench/cpp standalone on the source tree's headers, -Werror added; one small benchmark runs."""
    if not (BENCH / "cpp" / "CMakeLists.txt").is_file():
        pytest.skip("bench/cpp is not part of this checkout")
    build = tmp_path / "build"
    cmds = [["cmake", "-S", str(BENCH / "cpp"), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
             "-DCMAKE_DISABLE_FIND_PACKAGE_netmirror=ON", "-DCMAKE_CXX_FLAGS=-Werror"],
            ["cmake", "--build", str(build), "-j", "2"]]
    for cmd in cmds:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    exe = build / "netmirror_microbench"
    listed = subprocess.run([str(exe), "--benchmark_list_tests"], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    names = listed.stdout.split()
    for prefix in ("assemble/", "deduplicate/", "tmul_dense/", "tmul_streaming/", "tmul_structured/", "cd_epoch/",
                   "lasso_solve/", "covariance_update/float32/", "covariance_update/float64/"):
        assert any(n.startswith(prefix) for n in names), prefix
    run = subprocess.run([str(exe), "--benchmark_filter=^(cd_epoch/N:200/k:16|assemble/abs_deep_L3/N:39/threads:1)/",
                          "--benchmark_min_time=0.01", "--benchmark_format=json"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    results = {b["name"]: b for b in json.loads(run.stdout)["benchmarks"]}
    assert len(results) == 2, list(results)
    for b in results.values():
        assert b["bytes_per_second"] > 0 and b["items_per_second"] > 0
    assert any("FLOP/s" in b for b in results.values())
