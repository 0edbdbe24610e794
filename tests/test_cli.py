"""The command line: `netmirror demo`, `netmirror fit`, `netmirror libraries`; every error path exits 2."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

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


# --------------------------------------------------------------------------------------------------
# outputs: checked before any work, never an input, never two alike, written atomically
def _csv_named(tmp_path, name):
    x, y = datasets.toy("opt")
    return _write_csv(tmp_path / name, x, y)


def test_output_that_is_the_input_is_refused(tmp_path, capsys):
    """`fit data.csv --json data.csv` overwrote the data with the JSON and exited 0."""
    data = _csv_named(tmp_path, "data.csv")
    figure_named_data = _csv_named(tmp_path, "table.png")  # a CSV under a figure's name: --plot would accept it
    (tmp_path / "link.csv").symlink_to(data)
    os.link(data, tmp_path / "hard.csv")
    cases = [(data, ["--json", str(data)]), (data, ["--json", str(tmp_path / "sub" / ".." / "data.csv")]),
             (data, ["--json", str(tmp_path / "link.csv")]), (data, ["--json", str(tmp_path / "hard.csv")]),
             (tmp_path / "link.csv", ["--json", str(data)]),
             (figure_named_data, ["--plot", str(figure_named_data)])]
    (tmp_path / "sub").mkdir()
    for source, opts in cases:
        before = source.read_bytes()
        rc = main(["fit", str(source), *opts])
        err = _assert_one_line_error(rc, capsys, "it is the input file", opts[0])
        assert source.read_bytes() == before, (opts, err)


def test_outputs_are_checked_before_fitting(noisy_csv, tmp_path, capsys):
    path, _, _ = noisy_csv
    (tmp_path / "adir").mkdir()
    cases = [(["--plot", str(tmp_path / "fig.txt")], ".txt is not a figure format"),
             (["--plot", str(tmp_path / "fig")], "no extension"),
             (["--json", str(tmp_path / "same.png"), "--plot", str(tmp_path / "same.png")], "name the same file"),
             (["--json", "/dev/null"], "not a regular file"),
             (["--plot", str(tmp_path / "adir")], "is a folder"),
             (["--json", ""], "needs a file name")]
    for opts, fragment in cases:
        rc = main(["fit", str(path), "--activation", "abs", "--depth", "4", *opts])
        out, err = capsys.readouterr()
        assert rc == 2 and fragment in err and err.count("\n") == 1, err
        assert out == "", "the fit ran before its outputs were checked"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "data.csv"]
    for argv in (["demo", "--out", str(tmp_path / "demo.txt")], ["align", "--out", str(tmp_path / "a.json")]):
        rc = main(argv)
        out, err = capsys.readouterr()
        assert rc == 2 and "not a figure format" in err and out == "", err


def test_a_failed_write_leaves_the_existing_file(noisy_csv, tmp_path, capsys, monkeypatch):
    import matplotlib.figure

    path, _, _ = noisy_csv
    js, png = tmp_path / "old.json", tmp_path / "old.png"
    js.write_text('{"kept": true}')
    png.write_bytes(PNG_MAGIC + b"old figure")

    def broken_jsonable(obj):
        raise RuntimeError("disk full")

    monkeypatch.setattr("netmirror.cli._jsonable", broken_jsonable)
    assert main(["fit", str(path), "--json", str(js)]) == 1  # an internal error, reported in one line
    assert js.read_text() == '{"kept": true}'
    monkeypatch.undo()

    def broken_savefig(self, fname, **kwargs):
        with open(fname, "wb") as fh:
            fh.write(b"half a figure")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken_savefig)
    assert main(["fit", str(path), "--plot", str(png)]) == 2
    assert png.read_bytes() == PNG_MAGIC + b"old figure"
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "old.json", "old.png"]  # no temporary left


def test_outputs_replace_files_and_keep_links(noisy_csv, tmp_path, capsys):
    path, _, _ = noisy_csv
    target = tmp_path / "target.json"
    target.write_text("old")
    target.chmod(0o640)
    (tmp_path / "link.json").symlink_to(target)
    assert main(["fit", str(path), "--json", str(tmp_path / "link.json")]) == 0
    assert (tmp_path / "link.json").is_symlink() and json.loads(target.read_text())["converged"] is True
    assert (target.stat().st_mode & 0o777) == 0o640
    capsys.readouterr()


# --------------------------------------------------------------------------------------------------
# input: bounded reads, one pass, clear refusals
_LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # an unbounded read fails here instead of the machine
from netmirror.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_devices_and_huge_files_are_refused_unread(tmp_path):
    """`fit /dev/zero` read without bound (killed after 101 s); a file above the cap is refused before reading."""
    sparse = tmp_path / "huge.csv"
    with open(sparse, "wb") as fh:
        fh.truncate(datasets.MAX_CSV_BYTES + 1)  # sparse: no disk used
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "NETMIRROR_NUM_THREADS": "1"}
    for path, fragment in (("/dev/zero", "not a regular file"), (str(sparse), "more than the 256 MiB")):
        proc = subprocess.run([sys.executable, "-c", _LIMITED, "fit", path], capture_output=True, text=True,
                              timeout=120, env=env, check=False)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and fragment in proc.stderr, proc.stderr


def _feed_fifo(path, chunk, total):
    def write():
        try:
            with open(path, "wb") as fh:
                fh.writelines(chunk for _ in range(total // len(chunk) + 1))
        except (BrokenPipeError, OSError):
            pass

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def _main_within(argv, fifo, seconds=60):
    """main(argv) in a thread: a reader that opens the pipe a second time would wait forever for a writer."""
    box = {}
    thread = threading.Thread(target=lambda: box.update(rc=main(argv)), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():  # release it: a writer that closes at once gives the reader end-of-file
        with open(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), "wb"):
            pass
        thread.join(seconds)
        pytest.fail("the reader blocked on the pipe (it opened it twice)")
    return box["rc"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_pipes_are_read_once_with_caps(tmp_path, capsys, monkeypatch):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    x, y = datasets.toy("opt")
    thread = _feed_fifo(fifo, "".join(f"{a},{b}\n" for a, b in zip(x, y)).encode(), 1)  # a pipe of data: fine
    assert _main_within(["fit", str(fifo)], fifo) == 0
    thread.join(10)
    capsys.readouterr()
    thread = _feed_fifo(fifo, b"\0" * 65536, 8 << 20)  # /dev/zero through a pipe: one endless line
    _assert_one_line_error(_main_within(["fit", str(fifo)], fifo), capsys, "line 1 is longer than")
    thread.join(10)
    monkeypatch.setattr(datasets, "MAX_CSV_BYTES", 100_000)
    thread = _feed_fifo(fifo, b"1,2\n3,4\n" * 1000, 1 << 20)  # endless rows
    _assert_one_line_error(_main_within(["fit", str(fifo)], fifo), capsys, "holds more than")
    thread.join(10)


def test_reading_holds_the_values_not_the_text(tmp_path):
    """A 95 MB CSV took 1.45 GB (the text, its lines and a Python float per cell, read twice). The file is now
    parsed as it streams in: the peak is the float64 values (and their copies), plus a bounded batch."""
    import tracemalloc

    rng = np.random.default_rng(0)
    n = 100_000
    x, y = rng.uniform(0, 10, n), rng.standard_normal(n)
    path = _write_csv(tmp_path / "rows.csv", x, y)
    values = 16 * n
    tracemalloc.start()
    try:
        kind, xr, yr = datasets.read_data(str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert kind == "xy"
    np.testing.assert_array_equal(xr, x)
    np.testing.assert_array_equal(yr, y)
    assert peak < 3 * values + (4 << 20), f"reading {path.stat().st_size:,} bytes peaked at {peak:,} bytes"


@pytest.mark.parametrize("text, fragment", [
    ("x,y,x\n1,2,3\n2,3,4\n", "'x' in columns 1, 3"),
    ("X,x,y\n1,2,3\n2,3,4\n", "'x' in columns 1, 2"),
    ("x,y,Y\n1,2,3\n2,3,4\n", "'y' in columns 2, 3"),
    ("a,a,y\n1,2,3\n2,3,4\n3,1,1\n", "'a' in columns 1, 2"),
])
def test_duplicate_header_names_are_refused(text, fragment, tmp_path, capsys):
    path = tmp_path / "dup.csv"
    path.write_text(text)
    _assert_one_line_error(main(["fit", str(path)]), capsys, "two columns alike", fragment)
    with pytest.raises(ValueError, match="two columns alike"):
        datasets.read_xy(str(path))


# --------------------------------------------------------------------------------------------------
# integer options: bounded by argparse with one clear line (2**63 reached pybind11 as a type mismatch)
INT_OPTIONS = [
    (["fit", "{csv}", "--max-iter"], 1), (["fit", "{csv}", "--depth"], 1), (["fit", "{csv}", "--top"], 0),
    (["demo", "--no-plot", "--top"], 0), (["libraries", "--n"], 2),
    (["align", "--epochs"], 1), (["align", "--record-every"], 1), (["align", "--depth"], 1),
    (["align", "--width"], 1), (["align", "--batch"], 1), (["align", "--n"], 1), (["align", "--seed"], 0),
]


@pytest.mark.parametrize("argv, lo", INT_OPTIONS)
@pytest.mark.parametrize("value", ["99999999999999999999999", str(2**63), "-1"])
def test_integer_options_are_bounded(argv, lo, value, noisy_csv):
    """Parsing alone refuses the value (a command that ran would train for 10^23 epochs)."""
    from netmirror.cli import CliError, _parser

    path, _, _ = noisy_csv
    argv = [a.replace("{csv}", str(path)) for a in argv]
    with pytest.raises(CliError, match=f"argument {argv[-1]}: must be") as info:
        _parser().parse_args([*argv, value])
    assert "\n" not in str(info.value)


def test_max_iter_beyond_int64_exits_2(noisy_csv, capsys):
    """`--max-iter 99999999999999999999999` dumped pybind11's signature listing (with the whole matrix)."""
    path, _, _ = noisy_csv
    err = _assert_one_line_error(main(["fit", str(path), "--max-iter", "99999999999999999999999"]), capsys,
                                 "--max-iter", "below 2**63")
    assert "incompatible function arguments" not in err and "Invoked with" not in err


def test_patterns_count_is_bounded(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 3))
    path = tmp_path / "table.csv"
    path.write_text("a,b,c,y\n" + "\n".join(",".join(f"{v!r}" for v in [*row, sum(row)]) for row in X.tolist()))
    for value in ("99999999999999999999999", str(2**63), "0", "-5"):
        _assert_one_line_error(main(["fit", str(path), "--patterns", value]), capsys, "--patterns", value)
    rc = main(["fit", str(path), "--max-iter", str(2**63)])
    _assert_one_line_error(rc, capsys, "--max-iter")


@pytest.mark.parametrize("widths", ["2,,2", "2,2,", ",2,2", "2;2", "+2,2", "2,-1", "0,2", "2,2.0", "٢,2", " , ",
                                    "99999999999999999999999,2"])
def test_malformed_widths_are_refused(widths, noisy_csv, capsys):
    path, _, _ = noisy_csv
    rc = main(["fit", str(path), "--activation", "sign", "--architecture", "tree", "--depth", "3",
               "--widths", widths])
    _assert_one_line_error(rc, capsys, "--widths")


def test_widths_with_blanks_are_accepted(noisy_csv, capsys):
    path, _, _ = noisy_csv
    assert main(["fit", str(path), "--activation", "sign", "--architecture", "tree", "--depth", "3",
                 "--widths", " 2 , 2 "]) == 0
    capsys.readouterr()


# --------------------------------------------------------------------------------------------------
# memory: advice names the command line's flags, and what does not fit densely is solved matrix-free
_PYTHON_ONLY = ("dedup=False", "dedup=True", "matrix_free", "ConvexNet", "set_memory_limit", "float32",
                "netmirror.lasso", "dtype=")


def _spread_csv(tmp_path, n=120):
    x = np.sort(np.random.default_rng(0).uniform(0, 10, n))
    return _write_csv(tmp_path / "spread.csv", x, np.sin(x))


@pytest.mark.parametrize("limit, no_dedup, fragments", [
    (3_000_000, False, ["deduplication", "use fewer points or a shallower net"]),
    (3_000_000, True, ["even matrix-free", "use fewer points or a shallower net"]),
])
def test_memory_advice_names_command_line_options(limit, no_dedup, fragments, tmp_path, capsys, monkeypatch):
    """With dedup the advice said "pass dedup=False", with --no-dedup "dedup=True", and it suggested
    ConvexNet(matrix_free=True): none of which the command line has."""
    path = _spread_csv(tmp_path, 300)
    monkeypatch.setenv("NETMIRROR_MAX_BYTES", str(limit))
    argv = ["fit", str(path), "--activation", "abs", "--depth", "3"] + (["--no-dedup"] if no_dedup else [])
    err = _assert_one_line_error(main(argv), capsys, "NETMIRROR_MAX_BYTES=<bytes>", *fragments)
    for word in _PYTHON_ONLY:
        assert word not in err, err


def test_no_dedup_advice_suggests_deduplication_only_when_it_fits(tmp_path, capsys, monkeypatch):
    path = _spread_csv(tmp_path, 30)  # relu depth 4: 432,000 raw features, 6,421 after deduplication
    x, _ = datasets.read_xy(str(path))
    raw = netmirror.library(x, "relu", 4, dedup=False).raw_size
    solve = netmirror._library._raw_solve_bytes(len(x), raw)  # what --no-dedup needs, matrix-free
    dedup = netmirror._library._dedup_scratch_bytes(len(x)) + 8 * len(x) + 64 * raw  # deduplication, at most
    assert dedup < solve
    argv = ["fit", str(path), "--depth", "4", "--no-dedup"]
    monkeypatch.setenv("NETMIRROR_MAX_BYTES", str(solve - 1))  # the raw solve does not fit, deduplication does
    _assert_one_line_error(main(argv), capsys, "drop --no-dedup", "even matrix-free")
    monkeypatch.setenv("NETMIRROR_MAX_BYTES", str(dedup - 1))  # neither fits: deduplicating would not help
    err = _assert_one_line_error(main(argv), capsys, "use fewer points")
    assert "--no-dedup" not in err
    monkeypatch.setenv("NETMIRROR_MAX_BYTES", str(solve - 1))
    assert main(argv[:-1]) == 0  # following the advice works
    capsys.readouterr()


def test_dense_dictionary_beyond_the_limit_is_solved_matrix_free(tmp_path, capsys, monkeypatch):
    path = _spread_csv(tmp_path)
    x, y = datasets.read_xy(str(path))
    lib = netmirror.library(x, "abs", 3)
    expected = netmirror.lasso(lib.matrix(), y, 0.01)
    need = lib.nbytes() + netmirror._memory.lasso_bytes(len(x), len(lib))
    monkeypatch.setenv("NETMIRROR_MAX_BYTES", str(need - 1))
    js = tmp_path / "mf.json"
    assert main(["fit", str(path), "--activation", "abs", "--depth", "3", "--beta", "0.01", "--json", str(js)]) == 0
    out = capsys.readouterr().out
    doc = json.loads(js.read_text())
    assert doc["matrix_free"] is True and "solved matrix-free" in out
    assert doc["objective"] == pytest.approx(expected.objective, rel=1e-9) and doc["converged"]
