"""The command line: `netmirror demo`, `netmirror fit`, `netmirror libraries`; every error path exits 2."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import netmirror
from netmirror import datasets
from netmirror.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _write_csv(path, x, y, header="x,y", sep=","):
    lines = ([header] if header else []) + [f"{float(a)!r}{sep}{float(b)!r}" for a, b in zip(x, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def noisy_csv(tmp_path):
    x, y = datasets.noisy(20, seed=1)
    return _write_csv(tmp_path / "data.csv", x, y), x, y


# --------------------------------------------------------------------------------------------------
# demo
def test_demo_subprocess_writes_png(tmp_path):
    out = tmp_path / "demo.png"
    proc = subprocess.run([sys.executable, "-m", "netmirror", "demo", "--out", str(out)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert out.read_bytes()[:8] == PNG_MAGIC and out.stat().st_size > 50_000
    text = proc.stdout
    for name in ("three_points", "zshape", "bounce", "opt", "noisy"):
        assert f"\n{name} (n = " in text
    for label in ("relu", "leaky_relu(0.1)", "abs", "sign", "threshold", "relu symmetrized"):
        assert f" {label} " in text
    assert "80 fits in" in text and f"wrote {out}" in text
    assert "reflection 2*x[" in text  # selected features are printed with their reflection points
    assert "(not converged)" not in text and "warning" not in text


def test_demo_in_process_table_matches_estimator(capsys):
    assert main(["demo", "--data", "opt", "--no-plot", "--top", "1"]) == 0
    out, err = capsys.readouterr()
    assert err == ""  # no progress bar when stderr is not a terminal
    rows = [line.split() for line in out.splitlines() if line.startswith("opt ") and "(n =" not in line]
    assert len(rows) == 16  # 5 activations x depths 2-4, and symmetrized relu
    row = next(r for r in rows if r[1] == "abs" and r[2] == "3")
    x, y = datasets.toy("opt")
    beta = 1e-3 * float(np.sum((y - y.mean()) ** 2))
    model = netmirror.ConvexNet("abs", 3, beta).fit(x, y)
    raw, dedup, nnz = (int(v.replace(",", "")) for v in row[3:6])
    assert (raw, dedup, nnz) == (model.library_.raw_size, len(model.library_), np.count_nonzero(model.coef_))
    assert float(row[8]) == pytest.approx(model.objective_, rel=1e-4)
    assert "wrote" not in out


def test_demo_writes_png_in_process(tmp_path, capsys):
    out = tmp_path / "sub" / "d.png"
    out.parent.mkdir()
    assert main(["demo", "--data", "three_points", "zshape", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert "32 fits in" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------
# fit
def test_fit_json_matches_lasso(noisy_csv, tmp_path, capsys):
    path, x, y = noisy_csv
    js, png = tmp_path / "fit.json", tmp_path / "fit.png"
    rc = main(["fit", str(path), "--activation", "abs", "--depth", "3", "--beta", "0.1", "--json", str(js),
               "--plot", str(png)])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    assert png.read_bytes()[:8] == PNG_MAGIC
    doc = json.loads(js.read_text())
    for key in ("data", "model", "library", "beta", "beta_tilde", "intercept", "objective", "gap", "relative_gap",
                "converged", "n_iter", "coef", "breakpoints", "reflection_points", "network"):
        assert key in doc
    lib = netmirror.library(x, "abs", 3)
    res = netmirror.lasso(lib.matrix(), y, 0.1)
    assert doc["objective"] == pytest.approx(res.objective, rel=1e-12)
    assert doc["intercept"] == pytest.approx(res.intercept, rel=1e-9, abs=1e-12)
    assert doc["gap"] <= 1e-9 and doc["converged"] is True
    assert doc["library"] == {"raw_size": lib.raw_size, "size": len(lib)}
    nz = np.flatnonzero(res.coef)
    assert sorted(c["feature"] for c in doc["coef"]) == sorted(nz.tolist())
    for c in doc["coef"]:
        assert c["coef"] == pytest.approx(res.coef[c["feature"]], rel=1e-9, abs=1e-12)
        assert c["formula"] == lib.describe(c["feature"])
    # sorted by |coef|
    mags = [abs(c["coef"]) for c in doc["coef"]]
    assert mags == sorted(mags, reverse=True)
    net = doc["network"]
    assert len(net["units"]) == nz.size and net["loss"] == pytest.approx(res.objective, rel=1e-9)
    unit = net["units"][0]
    assert {"feature", "coef", "layers", "output", "theta_w"} <= set(unit)
    assert len(unit["layers"]) == 2 and {"W", "b"} <= set(unit["layers"][0])
    assert f"objective {res.objective:.10g}" in out and f"wrote {js}" in out


def test_fit_symmetrized_and_leaky(noisy_csv, tmp_path, capsys):
    path, x, y = noisy_csv
    js = tmp_path / "s.json"
    assert main(["fit", str(path), "--activation", "relu", "--architecture", "symmetrized", "--depth", "3",
                 "--beta", "0.2", "--json", str(js)]) == 0
    doc = json.loads(js.read_text())
    lib = netmirror.library(x, "relu", 3, architecture="symmetrized")
    res = netmirror.lasso(lib.matrix(), y, 0.1)  # beta~ = beta / 2
    assert doc["beta_tilde"] == 0.1 and doc["objective"] == pytest.approx(res.objective, rel=1e-12)
    assert main(["fit", str(path), "--activation", "leaky_relu", "--slope", "0.1", "--depth", "2"]) == 0
    assert main(["fit", str(path), "--activation", "sign", "--architecture", "tree", "--depth", "3",
                 "--widths", "2,2", "--top", "0"]) == 0
    capsys.readouterr()


def test_fit_default_beta_and_csv_variants(tmp_path, capsys):
    x, y = datasets.toy("opt")
    variants = {
        "plain.csv": "\n".join(f"{a},{b}" for a, b in zip(x, y)),
        "semi.csv": "x;y\n" + "\n".join(f"{a};{b}" for a, b in zip(x, y)),
        "tabs.tsv": "\n".join(f"{a}\t{b}" for a, b in zip(x, y)),
        "spaces.txt": "# comment\n\n" + "\n".join(f"  {a}   {b} " for a, b in zip(x, y)),
        "named.csv": "id,Y,X\n" + "\n".join(f"{i},{b},{a}" for i, (a, b) in enumerate(zip(x, y))),
        "bom.csv": "\ufeff\"x\",\"y\"\r\n" + "\r\n".join(f"{a},{b}" for a, b in zip(x, y)),
    }
    expected = netmirror.lasso(netmirror.library(x, "relu", 2).matrix(), y,
                               1e-3 * float(np.sum((y - y.mean()) ** 2))).objective
    for name, text in variants.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        js = tmp_path / (name + ".json")
        assert main(["fit", str(tmp_path / name), "--json", str(js)]) == 0, name
        assert json.loads(js.read_text())["objective"] == pytest.approx(expected, rel=1e-12), name
    assert "[default: 1e-3 * ||y - mean(y)||^2]" in capsys.readouterr().out


def test_fit_not_converged_warns_but_succeeds(noisy_csv, tmp_path, capsys):
    path, _, _ = noisy_csv
    js = tmp_path / "w.json"
    rc = main(["fit", str(path), "--activation", "abs", "--depth", "4", "--beta", "1e-4", "--tol", "0",
               "--max-iter", "1", "--json", str(js)])
    out, err = capsys.readouterr()
    assert rc == 0
    assert err.startswith("netmirror: warning: Lasso did not converge") and err.count("\n") == 1
    assert "NOT converged" in out and json.loads(js.read_text())["converged"] is False


def test_libraries_still_works(capsys):
    assert main(["libraries", "--data", "zshape"]) == 0
    out = capsys.readouterr().out
    assert "netmirror libraries on 'zshape'" in out and "symmetrized" in out


def test_help_exits_zero(capsys):
    assert main(["--help"]) == 0
    assert main(["fit", "--help"]) == 0
    out = capsys.readouterr().out
    assert "demo" in out and "--activation" in out


# --------------------------------------------------------------------------------------------------
# error paths: one line on stderr, exit status 2, never a traceback
def _bad_csvs(tmp_path):
    files = {
        "empty.csv": "",
        "comments.csv": "# nothing here\n\n",
        "header_only.csv": "x,y\n",
        "one_point.csv": "x,y\n1,2\n",
        "same_x.csv": "1,2\n1,3\n1,4\n",
        "word.csv": "x,y\n1,2\n2,abc\n3,4\n",
        "nan.csv": "x,y\n1,2\nnan,3\n3,4\n",
        "nan_y.csv": "1,2\n2,NaN\n3,4\n",
        "inf.csv": "1,2\n2,inf\n3,4\n",
        "missing.csv": "x,y\n1,2\n2,\n3,4\n",
        "ragged.csv": "x,y\n1,2\n2,3,4\n3,4\n",
        "three_cols.csv": "1,2,3\n4,5\n",  # three columns are 2-D inputs (convex ReLU fit): here ragged
        "bad_header.csv": "a,b,c\n1,2,3\n4,5,6\n",
        "one_col.csv": "1\n2\n3\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00\x81garbage\x00\xc3")
    return sorted(files) + ["binary.csv"]


def _assert_one_line_error(rc, capsys, *fragments):
    out, err = capsys.readouterr()
    assert rc == 2
    assert "Traceback" not in err and "Traceback" not in out
    assert err.startswith("netmirror: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    for frag in fragments:
        assert frag in err, err
    return err


def test_bad_csv_files_exit_2(tmp_path, capsys):
    expect = {
        "empty.csv": "no data rows", "comments.csv": "no data rows", "header_only.csv": "at least 2 data points",
        "one_point.csv": "at least 2 data points", "same_x.csv": "distinct x", "word.csv": "line 3",
        "nan.csv": "NaN", "nan_y.csv": "line 2", "inf.csv": "infinite", "missing.csv": "missing value",
        "ragged.csv": "line 3 has 3 values", "three_cols.csv": "line 2 has 2 values", "bad_header.csv": "header",
        "one_col.csv": "expected 2 columns", "binary.csv": "UTF-8",
    }
    for name in _bad_csvs(tmp_path):
        rc = main(["fit", str(tmp_path / name), "--depth", "2"])
        _assert_one_line_error(rc, capsys, expect[name])


@pytest.mark.parametrize("args, fragment", [
    (["fit", "{missing}"], "no such file"),
    (["fit", "{dir}"], "is a folder"),
    (["fit", "{csv}", "--depth", "9"], "depth=9 is out of range"),
    (["fit", "{csv}", "--depth", "two"], "invalid int value"),
    (["fit", "{csv}", "--activation", "tanh"], "unknown activation 'tanh'"),
    (["fit", "{csv}", "--beta", "-1"], "--beta must be a finite positive number"),
    (["fit", "{csv}", "--beta", "0"], "--beta must be a finite positive number"),
    (["fit", "{csv}", "--beta", "nan"], "--beta must be a finite positive number"),
    (["fit", "{csv}", "--beta", "abc"], "invalid float value"),
    (["fit", "{csv}", "--tol", "-1"], "--tol"),
    (["fit", "{csv}", "--max-iter", "0"], "--max-iter"),
    (["fit", "{csv}", "--top", "-1"], "--top"),
    (["fit", "{csv}", "--slope", "0.1"], "slope applies to leaky_relu only"),
    (["fit", "{csv}", "--activation", "leaky_relu"], "needs slope"),
    (["fit", "{csv}", "--activation", "leaky_relu", "--slope", "1"], "slope=1"),
    (["fit", "{csv}", "--architecture", "symmetrized"], "out of range"),
    (["fit", "{csv}", "--architecture", "pyramid"], "unknown architecture"),
    (["fit", "{csv}", "--activation", "sign", "--architecture", "tree", "--depth", "3"], "widths"),
    (["fit", "{csv}", "--activation", "sign", "--architecture", "tree", "--depth", "3", "--widths", "2,x"],
     "--widths"),
    (["fit", "{csv}", "--json", "{nodir}/out.json"], "does not exist"),
    (["fit", "{csv}", "--plot", "{nodir}/out.png"], "does not exist"),
    (["fit", "{csv}", "--json", "{dir}"], "is a folder"),
    (["fit", "{csv}", "--frobnicate"], "unrecognized arguments"),
    (["fit"], "required: csv"),
    ([], "required: {demo,fit,libraries"),
    (["train"], "invalid choice"),
    (["demo", "--data", "mnist"], "invalid choice"),
    (["demo", "--out", "{nodir}/x.png"], "does not exist"),
    (["demo", "--top", "-2", "--no-plot"], "--top"),
])
def test_bad_options_exit_2(args, fragment, noisy_csv, tmp_path, capsys):
    path, _, _ = noisy_csv
    (tmp_path / "adir").mkdir()
    subs = {"{csv}": str(path), "{missing}": str(tmp_path / "nope.csv"), "{dir}": str(tmp_path / "adir"),
            "{nodir}": str(tmp_path / "no" / "such")}
    argv = []
    for a in args:
        for k, v in subs.items():
            a = a.replace(k, v)
        argv.append(a)
    _assert_one_line_error(main(argv), capsys, fragment)


def test_subprocess_error_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "netmirror", "fit", str(tmp_path / "missing.csv")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("netmirror: error: no such file") and proc.stderr.count("\n") == 1
    assert proc.stdout == ""
