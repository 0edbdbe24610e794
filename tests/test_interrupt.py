"""Ctrl-C during long kernels: the dense Lasso (solve and path), the convex ReLU solver, deduplication, dense
assembly and CovarianceAccumulator.update check for signals while they run and stop with a clear result.

A timer thread interrupts the main thread (as Ctrl-C does) while the call runs. The calls are sized to run
for seconds (or, for the Lasso, cannot finish: tol=0 and 10^9 iterations), so the assertion is on what comes
back, never on elapsed time. Matrix-free solves are covered in test_matrix_free.py.
"""
from __future__ import annotations

import _thread
import threading

import numpy as np
import pytest

import netmirror
from netmirror import _core, reference


class _Interrupter:
    """Interrupts the main thread once, `delay` seconds after entering; on exit waits for the timer so that
    a late interrupt can never hit the next test (it is then caught here and reported)."""

    def __init__(self, delay=0.2):
        self.timer = threading.Timer(delay, _thread.interrupt_main)
        self.late = False

    def __enter__(self):
        self.timer.start()
        return self

    def __exit__(self, *exc):
        try:
            self.timer.join()
            # interrupt_main only sets a flag: give the interpreter a chance to run the handler here
            for _ in range(1000):
                pass
        except KeyboardInterrupt:
            self.late = True
        return False


def _hard_lasso(n=200, m=4000, seed=0):
    rng = np.random.default_rng(seed)
    A = np.asfortranarray(rng.standard_normal((n, m)))
    y = rng.standard_normal(n)
    return A, y, 1e-6 * netmirror.beta_max(A, y)


def test_dense_lasso_returns_the_best_iterate():
    A, y, beta = _hard_lasso()
    with _Interrupter() as ctx:
        out = _core.lasso_solve(A, y, beta, True, 0.0, 10**9, None, None, False)
    assert not ctx.late, "the solve finished before Ctrl-C"
    assert out["interrupted"] and not out["converged"]
    # a genuine certificate for the returned iterate
    obj = reference.lasso_objective(A, y, out["coef"], out["intercept"], beta)
    assert out["objective"] == pytest.approx(obj, rel=1e-9)
    assert 0 <= out["gap"] <= out["objective"]


def test_convex_relu_returns_the_iterate_reached():
    # tol = 0 and 10^6 outer iterations: it cannot finish; the result after Ctrl-C carries its own certificate.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 4))
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2]
    pats = netmirror.relu_patterns(X, samples=3000, seed=0)
    Xa = np.hstack([X, np.ones((120, 1))])
    with _Interrupter(0.5) as ctx:
        out = _core.convex_relu_solve(Xa, y, pats, 0.05, 0.0, 10**6, False)
    assert not ctx.late, "the solve finished before Ctrl-C"
    assert out["interrupted"] and not out["converged"]
    obj = reference.convex_relu_objective(Xa, y, pats, out["V"], out["W"], 0.05)
    assert out["objective"] == pytest.approx(obj, rel=1e-9)
    gap, _ = reference.convex_relu_dual_gap(Xa, y, pats, out["V"], out["W"], 0.05, theta=out["dual"])
    assert out["gap"] == pytest.approx(gap, rel=1e-6, abs=1e-12 * obj)
    with pytest.warns(netmirror.ConvergenceWarning, match="interrupted"):
        with _Interrupter(0.5):
            res = netmirror.convex_relu(X, y, 0.05, patterns=pats, tol=0.0, max_iter=10**6)
    assert res.interrupted


def test_dense_lasso_public_function_warns():
    A, y, beta = _hard_lasso(seed=1)
    with _Interrupter() as ctx, pytest.warns(netmirror.ConvergenceWarning, match="interrupted"):
        res = netmirror.lasso(A.astype(np.float32), y, beta, tol=0.0, max_iter=10**9)
    assert not ctx.late
    assert res.interrupted and not res.converged and np.isfinite(res.objective)


def test_dense_lasso_path_ends_at_the_interrupted_beta():
    A, y, beta = _hard_lasso(seed=2)
    betas = beta * np.array([1.0, 0.5, 0.25])  # tol=0 at a tiny beta: the first solve only ends by Ctrl-C
    with _Interrupter() as ctx, pytest.warns(netmirror.ConvergenceWarning, match="interrupted"):
        path = netmirror.lasso_path(A, y, betas, tol=0.0, max_iter=10**9)
    assert not ctx.late
    assert len(path.betas) == 1 and path.coefs.shape == (A.shape[1], 1) and not path.converged[0]


def test_deduplication_raises_keyboard_interrupt():
    x = np.random.default_rng(3).uniform(-1, 1, 50)  # abs depth 4: 1.5e6 raw features, seconds to deduplicate
    with _Interrupter() as ctx, pytest.raises(KeyboardInterrupt):
        netmirror.library(x, "abs", 4)
    assert not ctx.late


def test_assembly_raises_keyboard_interrupt():
    x = np.random.default_rng(4).uniform(-1, 1, 60)
    lib = netmirror.library(x, "abs", 4, dedup=False)  # 2.6e6 columns
    t = np.linspace(-1, 1, 8)
    with _Interrupter(0.05) as ctx, pytest.raises(KeyboardInterrupt):
        lib.matrix(t, dtype=np.float32)
    assert not ctx.late
    # the same call runs to the end without Ctrl-C, and a small one matches the reference
    small = netmirror.library(x[:6], "abs", 3, dedup=False)
    np.testing.assert_array_equal(small.matrix(t), reference.library_matrix(x[:6], "abs", 3, t=t))


def test_covariance_update_is_undone_by_keyboard_interrupt():
    rng = np.random.default_rng(5)
    acc = netmirror.CovarianceAccumulator(1000)
    first = rng.standard_normal((300, 1000))
    acc.update(first)
    before = (acc.count, acc.mean.copy(), acc.scatter.copy())
    # a 20,000 x 1,000 batch (one row repeated through a zero stride: no memory): about a second of work
    X = np.broadcast_to(rng.standard_normal(1000), (20000, 1000))
    with _Interrupter() as ctx, pytest.raises(KeyboardInterrupt):
        acc.update(X)
    assert not ctx.late
    assert acc.count == before[0]
    np.testing.assert_array_equal(acc.mean, before[1])
    np.testing.assert_array_equal(acc.scatter, before[2])
    # the accumulator still works: one more batch equals a fresh accumulation of both
    second = rng.standard_normal((50, 1000))
    acc.update(second)
    fresh = netmirror.CovarianceAccumulator(1000).update(first).update(second)
    np.testing.assert_array_equal(acc.scatter, fresh.scatter)


def test_watched_calls_equal_unwatched_ones():
    """The watched paths (worker thread, blocks of columns, a copy of the covariance state) give the same
    results as the short in-place calls."""
    rng = np.random.default_rng(6)
    X = rng.standard_normal((2000, 400))
    big = netmirror.CovarianceAccumulator(400).update(X)  # 2000 x 408^2: watched
    parts = netmirror.CovarianceAccumulator(400)
    parts._core.update(X, None, False)  # the same batch in place
    np.testing.assert_array_equal(big.scatter, parts.scatter)
    x = rng.uniform(-1, 1, 30)
    lib = netmirror.library(x, "relu", 4, dedup=False)  # 7.6e5 columns x 30 rows: watched, in blocks
    t = rng.uniform(-1, 1, 30)
    A = lib.matrix(t)
    cols = rng.integers(0, len(lib), 200)
    sub = np.empty((30, 200), order="F")
    lib._family.assemble(np.ascontiguousarray(cols, dtype=np.int64), t, sub)  # short: in place
    np.testing.assert_array_equal(A[:, cols], sub)


# --------------------------------------------------------------------------------------------------
# the command line: Ctrl-C during the solve keeps the iterate reached, records it and exits 130
def _main_until_interrupted(main, timers, argv):
    """(exit status, whether the Ctrl-C came only after main returned) of the CLI run with argv."""
    late = False
    try:
        rc = main(argv)
    finally:
        try:
            for t in timers:
                t.join()
            for _ in range(1000):
                pass
        except KeyboardInterrupt:
            late = True
    return rc, late


def _interrupt_when_solving(monkeypatch, *names, delay=0.3):
    """Wrap the solvers _core.<names> so that Ctrl-C comes `delay` s after a solve has started (inside the
    kernel); returns the list of timers started."""
    timers = []

    def wrap(real):
        def solve(*args, **kwargs):
            timer = threading.Timer(delay, _thread.interrupt_main)
            timers.append(timer)
            timer.start()
            return real(*args, **kwargs)

        return solve

    for name in names:
        monkeypatch.setattr(_core, name, wrap(getattr(_core, name)))
    return timers


@pytest.mark.parametrize("matrix_free", [False, True])
def test_cli_fit_interrupted_writes_the_iterate_and_exits_130(matrix_free, tmp_path, capsys, monkeypatch):
    """Ctrl-C during the CLI's Lasso stage exited 0, and the JSON had no `interrupted` field."""
    import json

    from netmirror.cli import main

    x = np.sort(np.random.default_rng(0).uniform(0, 10, 120))
    (tmp_path / "d.csv").write_text("x,y\n" + "\n".join(f"{a!r},{float(np.sin(a))!r}" for a in x.tolist()))
    if matrix_free:  # the dense dictionary does not fit: the command line solves matrix-free
        lib = netmirror.library(x, "abs", 3)
        monkeypatch.setenv("NETMIRROR_MAX_BYTES", str(lib.nbytes()))
    timers = _interrupt_when_solving(monkeypatch, "lasso_solve", "lasso_solve_library")
    js = tmp_path / "fit.json"
    # tol = 0 and 10^9 iterations: only Ctrl-C ends the solve
    rc, late = _main_until_interrupted(main, timers, ["fit", str(tmp_path / "d.csv"), "--activation", "abs",
                                                      "--depth", "3", "--beta", "1e-6", "--tol", "0",
                                                      "--max-iter", str(10**9), "--json", str(js)])
    out, err = capsys.readouterr()
    assert not late and len(timers) == 1, f"Ctrl-C came after the solve (rc {rc}: {err})"
    assert rc == 130, err
    assert "INTERRUPTED (Ctrl-C)" in out and f"wrote {js}" in out
    assert err.splitlines()[-1].startswith("netmirror: interrupted (Ctrl-C)")
    doc = json.loads(js.read_text())
    assert doc["interrupted"] is True and doc["converged"] is False and doc["matrix_free"] is matrix_free
    # the recorded gap certifies the recorded iterate: objective - gap <= optimum <= objective
    monkeypatch.undo()  # the solver unwrapped, no memory limit
    lib = netmirror.library(x, "abs", 3)
    z = np.zeros(len(lib))
    for c in doc["coef"]:
        z[c["feature"]] = c["coef"]
    obj = reference.lasso_objective(lib.matrix(), np.sin(x), z, doc["intercept"], 1e-6)
    assert doc["objective"] == pytest.approx(obj, rel=1e-9)
    assert 0 <= doc["gap"] <= doc["objective"]
    best = netmirror.lasso(lib.matrix(), np.sin(x), 1e-6, tol=1e-12).objective
    assert doc["objective"] - doc["gap"] <= best * (1 + 1e-9)


def test_cli_fit_convex_relu_interrupted_exits_130(tmp_path, capsys, monkeypatch):
    import json

    from netmirror.cli import main

    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 4))
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2]
    (tmp_path / "t.csv").write_text("a,b,c,d,y\n" + "\n".join(",".join(repr(v) for v in [*r, t])
                                                               for r, t in zip(X.tolist(), y.tolist())))
    timers = _interrupt_when_solving(monkeypatch, "convex_relu_solve", delay=0.5)
    js = tmp_path / "t.json"
    rc, late = _main_until_interrupted(main, timers, ["fit", str(tmp_path / "t.csv"), "--patterns", "3000",
                                                      "--beta", "0.05", "--tol", "0", "--max-iter", str(10**6),
                                                      "--json", str(js)])
    _, err = capsys.readouterr()
    assert not late and rc == 130, err
    doc = json.loads(js.read_text())
    assert doc["interrupted"] is True and doc["converged"] is False and 0 <= doc["gap"] <= doc["objective"]
