"""Command line of netmirror.

  netmirror demo        fit the embedded 1-D data with every activation at depths 2-4; table and figure
  netmirror fit F.csv   fit your own 1-D data (x, y columns) with one architecture; summary, JSON, figure
  netmirror libraries   library sizes (raw and deduplicated) and build times on the embedded data
  netmirror align       CRH alignments per layer of a small MLP trained with weight decay (needs PyTorch)

Errors in the input or options print one line on stderr and exit with status 2; Ctrl-C exits with 130.
Output files are checked before any work (never an input file, never two outputs alike) and written
atomically: a failure leaves any existing file as it was.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings

import numpy as np

from . import _memory, _output, datasets
from ._checks import INT64_MAX, integer_text
from ._library import library
from ._plot import feature_points, selected_points

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C

# -------------------------------------------------------------------------------------------------
# `netmirror libraries`
# (activation, architecture, depths, extra keyword arguments)
FAMILIES = [
    ("relu", "deep_narrow", (2, 3, 4), {}),
    ("leaky_relu", "deep_narrow", (2, 3, 4), {"slope": 0.1}),
    ("abs", "deep_narrow", (2, 3, 4, 5), {}),
    ("relu", "symmetrized", (3,), {}),
    ("leaky_relu", "symmetrized", (3,), {"slope": 0.1}),
    ("sign", "deep_narrow", (2, 3, 4), {}),
    ("threshold", "deep_narrow", (2, 3, 4), {}),
    ("sign", "rectangular", (3, 4, 5), {"width": 2}),
    ("sign", "tree", (3, 4, 5), {"width": 2}),
    ("threshold", "tree", (3, 4), {"width": 2}),
]


def libraries_report(x, out=None):
    out = sys.stdout if out is None else out
    print(f"{'activation':<11} {'architecture':<12} {'L':>2} {'raw':>10} {'dedup':>8} {'build ms':>9}", file=out)
    for activation, architecture, depths, extra in FAMILIES:
        for depth in depths:
            kw = dict(extra)
            width = kw.pop("width", None)
            if width is not None:
                kw["widths"] = [width] * (depth - 1)
            t0 = time.perf_counter()
            lib = library(x, activation, depth, architecture=architecture, **kw)
            lib.matrix()
            ms = 1e3 * (time.perf_counter() - t0)
            print(f"{activation:<11} {architecture:<12} {depth:>2} {lib.raw_size:>10,} {len(lib):>8,} {ms:>9.2f}",
                  file=out)


def _cmd_libraries(args):
    x = datasets.sine(args.n)[0] if args.data == "sine" else datasets.toy(args.data)[0]
    print(f"netmirror libraries on '{args.data}' (n = {len(x)}): x = {' '.join(f'{v:g}' for v in x)}")
    libraries_report(x)
    return 0


# -------------------------------------------------------------------------------------------------
# shared helpers
class CliError(Exception):
    """A problem with the user's input or options: one line on stderr, exit status 2."""


def _progress(total, desc):
    """tqdm bar on stderr, shown only when stderr is a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, disable=not sys.stderr.isatty(), leave=False,
                dynamic_ncols=True)


def _family_label(activation, architecture, slope=None):
    name = activation if slope is None else f"{activation}({slope:g})"
    return name if architecture == "deep_narrow" else f"{name} {architecture}"


def _short(formula, width):
    """Shorten a feature formula to about `width` characters, keeping its [reflection ...] note whole."""
    text, sep, note = formula.partition("  [")
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text + (sep + note if sep else "")


def _top_features(coef, k):
    nz = np.flatnonzero(coef)
    return nz[np.argsort(-np.abs(coef[nz]), kind="stable")][:k]


def _reflection_count(lib, coef):
    return sum(1 for j in np.flatnonzero(coef) if feature_points(lib, int(j))[1])


def _dur(seconds):
    return f"{seconds:.2f} s" if seconds >= 1.0 else f"{1e3 * seconds:.1f} ms"


def _warning_text(caught):
    return "; ".join(str(w.message) for w in caught)


def _check_out_path(path, what, option="--out", inputs=()):
    """One output path, checked before any work (see netmirror._output.check_outputs)."""
    _check_outputs([(option, path, what)], inputs)


def _check_outputs(outputs, inputs=()):
    try:
        _output.check_outputs(outputs, inputs)
    except _output.OutputError as exc:
        raise CliError(str(exc)) from None


def _int_option(lo, hi=INT64_MAX):
    """argparse type: an integer lo <= v <= hi, else one line saying so (nothing overflows further on)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise ValueError(text) from None  # argparse says: invalid int value: 'text'
        if not lo <= value <= hi:
            shown = text if len(text) <= 30 else text[:27] + "..."
            raise argparse.ArgumentTypeError(f"must be {integer_text(lo, hi)}, got {shown}")
        return value

    parse.__name__ = "int"
    return parse


# -------------------------------------------------------------------------------------------------
# `netmirror demo`
# (activation, architecture, depths, extra keyword arguments): the figure's columns
DEMO_FAMILIES = [
    ("relu", "deep_narrow", (2, 3, 4), {}),
    ("leaky_relu", "deep_narrow", (2, 3, 4), {"slope": 0.1}),
    ("abs", "deep_narrow", (2, 3, 4), {}),
    ("sign", "deep_narrow", (2, 3, 4), {}),
    ("threshold", "deep_narrow", (2, 3, 4), {}),
    ("relu", "symmetrized", (3,), {}),
]
DEMO_DATA = ("three_points", "zshape", "bounce", "opt", "noisy")
# beta = DEMO_BETA * ||y - mean(y)||^2: a small penalty (near-interpolation) on the exact toy data, a
# larger one on the noisy set so that the fit smooths the noise instead of interpolating it
DEMO_BETA = {"noisy": 2e-2, "sine": 2e-2}
DEMO_BETA_DEFAULT = 1e-3


def demo_beta(name, y):
    scale = float(np.sum((y - np.mean(y)) ** 2)) or 1.0
    return DEMO_BETA.get(name, DEMO_BETA_DEFAULT) * scale


def _cmd_demo(args):
    from ._estimator import ConvexNet

    names = args.data or list(DEMO_DATA)
    if not args.no_plot:
        _check_out_path(args.out, "figure")
    if args.dims == 2:  # abs nets on 2-D data: reflection planes (docs/libraries.md §6)
        if args.data:
            raise CliError("--data picks 1-D data sets; --dims 2 uses the diabetes data (PCA to 2-D)")
        from ._planes_demo import planes_demo
        return planes_demo(args)
    jobs = [(name, fam, depth) for name in names for fam in DEMO_FAMILIES for depth in fam[2]]
    header = (f"{'data':<12} {'activation':<22} {'L':>1} {'raw':>8} {'dedup':>6} {'nnz':>3} {'refl':>4} "
              f"{'beta':>8} {'objective':>10} {'gap':>8} {'ms':>6}")
    print("netmirror demo: each row is one network trained exactly, as the Lasso twin "
          "min 1/2||Az + xi - y||^2 + beta~||z||_1")
    print("  raw/dedup: library size before/after deduplication; nnz: selected features (= units); refl: "
          "selected features that bend at a reflection of the data (off the data points)")
    print("  gap: certified duality gap (objective - gap <= optimum); the top features by |z| follow each row")
    panels = {}
    t_all = time.perf_counter()
    bar = _progress(len(jobs), "demo fits")
    current = None
    try:
        for name, (activation, architecture, depths, extra), depth in jobs:
            x, y = datasets.load(name)
            if name != current:
                current = name
                print(f"\n{name} (n = {len(x)}): x = {' '.join(f'{v:g}' for v in x[:12])}"
                      f"{' …' if len(x) > 12 else ''}")
                print(header)
            beta = demo_beta(name, y)
            model = ConvexNet(activation, depth, beta, architecture=architecture, **extra)
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model.fit(x, y)
            ms = 1e3 * (time.perf_counter() - t0)
            lib, coef = model.library_, model.coef_
            label = _family_label(activation, architecture, extra.get("slope"))
            nnz = int(np.count_nonzero(coef))
            print(f"{name:<12} {label:<22} {depth:>1} {lib.raw_size:>8,} {len(lib):>6,} {nnz:>3} "
                  f"{_reflection_count(lib, coef):>4} {beta:>8.2g} {model.objective_:>10.5g} {model.gap_:>8.1e} "
                  f"{ms:>6.1f}" + ("  (not converged)" if not model.converged_ else ""))
            for j in _top_features(coef, args.top):
                print(f"{'':14}z = {coef[j]:+9.4g}  {_short(lib.describe(int(j)), 90)}")
            if caught:
                print(f"{'':14}warning: {_warning_text(caught)}")
            key = (name, label)
            if key not in panels:
                panels[key] = (x, y, [], label)
            panels[key][2].append((f"L = {depth}", depth, model.network_, lib, coef))
            bar.update()
    finally:
        bar.close()
    elapsed = time.perf_counter() - t_all
    print(f"\n{len(jobs)} fits in {elapsed:.2f} s (library + certified Lasso + network reconstruction)")
    if not args.no_plot:
        from ._plot import demo_figure

        cols = [_family_label(a, arch, kw.get("slope")) for a, arch, _, kw in DEMO_FAMILIES]
        demo_figure(panels, names, cols, args.out,
                    suptitle="netmirror demo: networks trained exactly via their Lasso twins")
        print(f"wrote {args.out}")
    return 0


# -------------------------------------------------------------------------------------------------
# `netmirror fit`
def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return obj


def _parse_widths(text):
    """--widths: comma-separated positive integers (blanks around them allowed), nothing else."""
    if text is None:
        return None
    bad = CliError(f"--widths must be comma-separated positive integers below 2**63 (e.g. 2,2), got {text!r}")
    parts = text.split(",")
    widths = []
    for part in parts:
        part = part.strip()
        if not part.isdigit() or not part.isascii():  # empty (2,,2 or a trailing comma), signed, or not a number
            raise bad
        w = int(part)
        if not 1 <= w <= INT64_MAX:
            raise bad
        widths.append(w)
    return widths


def _read_input(path):
    """("xy", x, y) or ("table", X, y) from the CSV file, errors as one line (bounded read: datasets.read_data)."""
    try:
        return datasets.read_data(path)
    except FileNotFoundError:
        raise CliError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise CliError(f"{path} is a folder, not a CSV file") from None
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None


def _default_beta(beta, y):
    scale = float(np.sum((y - y.mean()) ** 2))
    return beta if beta is not None else (1e-3 * scale if scale > 0 else 1e-3)


def _dictionary_route(lib):
    """False: assemble the dense dictionary; True: solve matrix-free (it does not fit the memory limit, like
    ConvexNet(matrix_free="auto")). A MemoryError when neither fits, with advice the command line can follow."""
    n, m = len(lib.x), len(lib)
    limit = _memory.get_memory_limit()
    if lib.nbytes() + _memory.lasso_bytes(n, m) <= limit:
        return False
    from ._library import _raw_solve_bytes, _smaller_library

    _memory.check(_raw_solve_bytes(n, m), f"the Lasso on {n:,} points and {m:,} features (even matrix-free)",
                  _memory.advice(*_smaller_library(lib)))
    return True


def _cmd_fit(args):
    from ._lasso import lasso
    from ._network import reconstruct

    if args.beta is not None and not (math.isfinite(args.beta) and args.beta > 0):
        raise CliError(f"--beta must be a finite positive number, got {args.beta:g}")
    if not (math.isfinite(args.tol) and args.tol >= 0):
        raise CliError(f"--tol must be a finite non-negative number, got {args.tol:g}")
    widths = _parse_widths(args.widths)
    # every output before any work: writable, not the input, not each other, a figure format for --plot
    _check_outputs([("--json", args.json, "JSON"), ("--plot", args.plot, "figure")], inputs=[args.csv])
    kind, x, y = _read_input(args.csv)
    if kind == "table":  # inputs in d >= 2 dimensions: the convex two-layer ReLU program
        return _fit_convex_relu(args, x, y)
    beta = _default_beta(args.beta, y)

    label = _family_label(args.activation, args.architecture, args.slope)
    caught = []
    stages = {}
    bar = _progress(4, "fit")
    try:
        t0 = t = time.perf_counter()
        bar.set_postfix_str("library (enumerate + deduplicate)")
        lib = library(x, args.activation, args.depth, architecture=args.architecture, slope=args.slope,
                      widths=widths, dedup=not args.no_dedup)
        stages["library"], t = time.perf_counter() - t, time.perf_counter()
        bar.update()
        if len(lib) == 0:
            raise CliError("every feature of this library is constant on the data; use more distinct x values")
        matrix_free = _dictionary_route(lib)
        if matrix_free:
            A = lib
        else:
            bar.set_postfix_str(f"dictionary {len(x)} x {len(lib):,}")
            A = lib.matrix()
            stages["dictionary"], t = time.perf_counter() - t, time.perf_counter()
        bar.update()
        bar.set_postfix_str("certified Lasso" + (" (matrix-free)" if matrix_free else ""))
        beta_t = beta * lib.beta_scale
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = lasso(A, y, beta_t, fit_intercept=lib.fit_intercept, tol=args.tol, max_iter=args.max_iter)
        del A
        stages["lasso"], t = time.perf_counter() - t, time.perf_counter()
        bar.update()
        bar.set_postfix_str("network")
        net = reconstruct(lib, res.coef, res.intercept, beta)
        stages["network"] = time.perf_counter() - t
        bar.update()
        elapsed = time.perf_counter() - t0
    finally:
        bar.close()
    for w in caught:
        print(f"netmirror: warning: {w.message}", file=sys.stderr)

    coef = res.coef
    order = _top_features(coef, np.count_nonzero(coef))
    selected = []
    raw_index = lib.raw_index
    for j in order:
        bps, refls = feature_points(lib, int(j))
        selected.append({"feature": int(j), "raw_index": int(j if raw_index is None else raw_index[j]), "coef": float(coef[j]),
                         "formula": lib.describe(int(j)), "breakpoints": bps, "reflection_points": refls})
    loss = net.loss(x, y)
    print(f"netmirror fit {args.csv}: n = {len(x)} points, x in [{x.min():g}, {x.max():g}]")
    print(f"{label} L = {args.depth}: library {lib.raw_size:,} raw -> {len(lib):,} features"
          f"{' (deduplicated)' if lib.dedup else ''}"
          + (f"; solved matrix-free (the dense dictionary needs {_memory._fmt(lib.nbytes())})" if matrix_free else ""))
    default_note = "" if args.beta is not None else " [default: 1e-3 * ||y - mean(y)||^2]"
    print(f"beta = {beta:.6g} (Lasso beta~ = {beta_t:.6g}){default_note}"
          f"; fitted in {_dur(elapsed)} (" + ", ".join(f"{k} {_dur(v)}" for k, v in stages.items())
          + f"), {res.n_iter} solver iteration(s)")
    status = "INTERRUPTED (Ctrl-C)" if res.interrupted else ("converged" if res.converged else "NOT converged")
    print(f"objective {res.objective:.10g}  certified gap {res.gap:.2e} (relative {res.relative_gap:.2e})  {status}")
    print(f"intercept {res.intercept:.6g}; {len(selected)} selected feature(s) of {len(lib):,} "
          f"({_reflection_count(lib, coef)} with a reflection breakpoint)")
    for item in selected[: args.top]:
        print(f"  z = {item['coef']:+10.4g}  {item['formula']}")
    if len(selected) > args.top:
        print(f"  … {len(selected) - args.top} more (--top N shows more, --json writes all)")
    print(f"network: {len(net)} unit(s), penalty {net.penalty():.6g}, training loss {loss:.10g}")

    if args.json is not None:
        bps, refls = selected_points(lib, coef)
        payload = {
            "data": {"path": os.path.abspath(args.csv), "n": len(x)},
            "model": {"activation": args.activation, "architecture": args.architecture, "depth": args.depth,
                      "slope": args.slope, "widths": widths, "dedup": lib.dedup},
            "library": {"raw_size": lib.raw_size, "size": len(lib)},
            "matrix_free": matrix_free,
            "beta": beta, "beta_tilde": beta_t,
            "intercept": res.intercept, "objective": res.objective, "gap": res.gap,
            "relative_gap": res.relative_gap, "converged": res.converged, "interrupted": res.interrupted,
            "n_iter": res.n_iter, "time_s": elapsed, "stage_time_s": stages,
            "coef": selected,
            "breakpoints": bps, "reflection_points": refls,
            "network": {"units": net.weights, "intercept": net.intercept, "penalty": net.penalty(),
                        "loss": loss, "penalty_power": net.penalty_power},
        }
        _write_json(args.json, payload)
    if args.plot is not None:
        from ._plot import fit_figure

        fit_figure(x, y, (f"L = {args.depth}", args.depth, net, lib, coef), args.plot,
                   title=f"{os.path.basename(args.csv)}: {label} L = {args.depth}, beta = {beta:.3g}, "
                         f"objective {res.objective:.4g}")
        print(f"wrote {args.plot}")
    return _interrupted_exit(res)


def _write_json(path, payload):
    _output.write_text(path, json.dumps(_jsonable(payload), indent=1) + "\n")
    print(f"wrote {path}")


def _interrupted_exit(res):
    """0, or 130 after Ctrl-C stopped the solver: what was printed and written is its best certified iterate
    so far (JSON "interrupted": true), not the optimum."""
    if not res.interrupted:
        return 0
    print(f"netmirror: interrupted (Ctrl-C): the results are the solver's iterate after {res.n_iter} iteration(s), "
          f"certified gap {res.gap:.3e} (relative {res.relative_gap:.3e}), not the optimum", file=sys.stderr)
    return EXIT_INTERRUPTED


def _fit_convex_relu(args, X, y):
    """`netmirror fit` on multi-column data: a two-layer ReLU net with weight decay, globally optimal via its
    convex program (docs/convex_relu.md)."""
    from ._convex_relu import convex_relu

    if args.activation != "relu" or args.depth != 2 or args.architecture != "deep_narrow":
        raise CliError(f"{args.csv} has {X.shape[1]} input columns: d-dimensional inputs are fitted by two-layer "
                       "ReLU networks only (--activation relu --depth 2)")
    if args.plot is not None:
        raise CliError("--plot draws 1-D fits only; drop it for multi-column input")
    patterns = args.patterns
    if patterns not in ("auto", "exact"):
        try:
            patterns = _int_option(1)(patterns)
        except (ValueError, argparse.ArgumentTypeError) as exc:
            why = str(exc) if isinstance(exc, argparse.ArgumentTypeError) else f"got {patterns!r}"
            raise CliError(f"--patterns must be auto, exact or a number of sampled directions: {why}") from None
    beta = _default_beta(args.beta, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = convex_relu(X, y, beta, patterns=patterns, tol=args.tol, max_iter=args.max_iter)
    for w in caught:
        print(f"netmirror: warning: {w.message}", file=sys.stderr)
    net = res.network
    print(f"netmirror fit {args.csv}: n = {X.shape[0]} points in d = {X.shape[1]} dimensions")
    kind = "every chamber of the arrangement" if res.exact else "sampled directions"
    print(f"two-layer ReLU, convex program over {len(res.patterns):,} activation patterns ({kind})")
    print(f"beta = {beta:.6g}{'' if args.beta is not None else ' [default: 1e-3 * ||y - mean(y)||^2]'}; "
          f"fitted in {_dur(res.time)}, {res.n_iter} solver iteration(s)")
    status = "INTERRUPTED (Ctrl-C)" if res.interrupted else ("converged" if res.converged else "NOT converged")
    print(f"objective {res.objective:.10g}  certified gap {res.gap:.2e} (relative {res.relative_gap:.2e})  {status}")
    if res.exact:
        print(f"global certificate: no ReLU network of any width has a loss below {res.lower_bound:.10g}")
    print(f"network: {net.width} unit(s), penalty {net.penalty():.6g}, training loss {res.network_objective:.10g}")
    if args.json is not None:
        payload = {"data": {"path": os.path.abspath(args.csv), "n": int(X.shape[0]), "d": int(X.shape[1])},
                   "model": {"activation": "relu", "depth": 2, "bias": True, "patterns": len(res.patterns),
                             "exact": res.exact},
                   "beta": beta, "objective": res.objective, "gap": res.gap, "relative_gap": res.relative_gap,
                   "lower_bound": res.lower_bound, "converged": res.converged, "interrupted": res.interrupted,
                   "n_iter": res.n_iter, "time_s": res.time,
                   "network": {"weights": net.weights, "biases": net.biases, "output": net.output,
                               "penalty": net.penalty(), "loss": res.network_objective}}
        _write_json(args.json, payload)
    return _interrupted_exit(res)


# -------------------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (raised, so that main() can return 2 instead of exiting)."""

    def error(self, message):
        raise CliError(f"{message} (see '{self.prog} --help')")


def _parser():
    parser = _Parser(prog="netmirror", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{demo,fit,libraries,align}")

    p = sub.add_parser("demo", help="fit the embedded data with every activation at depths 2-4 (table + PNG)",
                       description="Fit the embedded toy data and a noisy regression set with relu, "
                                   "leaky_relu(0.1), abs, sign, threshold at depths 2-4 and symmetrized relu "
                                   "(depth 3); print a table and write a figure.")
    p.add_argument("--out", default="netmirror-demo.png",
                   help="figure path, .png/.pdf/.svg/... (default: netmirror-demo.png); written once complete")
    p.add_argument("--data", nargs="+", choices=list(DEMO_DATA) + ["sine"], metavar="NAME",
                   help=f"data sets to fit (default: {' '.join(DEMO_DATA)}; also: sine)")
    p.add_argument("--no-plot", action="store_true", help="skip the figure")
    p.add_argument("--top", type=_int_option(0), default=2, help="selected features printed per fit (default: 2)")
    p.add_argument("--dims", type=int, choices=(1, 2), default=1,
                   help="1: the 1-D data above (default); 2: abs nets on 2-D data (diabetes, PCA), "
                        "drawing the learned reflection planes")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("fit", help="fit your own 1-D data from a CSV file (x, y)",
                       description="Train a network on 1-D data exactly, via its Lasso twin. The CSV has "
                                   "columns x and y (header optional; with a header the columns named x and y "
                                   "are used, else the only two columns). Files up to "
                                   f"{datasets.MAX_CSV_BYTES // 2**20} MiB are read (regular files and pipes); "
                                   "a dictionary that does not fit the memory limit (NETMIRROR_MAX_BYTES) is "
                                   "solved matrix-free. Ctrl-C during the solve writes the iterate reached "
                                   "(JSON \"interrupted\": true) and exits with status 130.")
    p.add_argument("csv", help="CSV file with x, y columns (more input columns: a two-layer ReLU net, globally "
                                "optimal via its convex program; the column named y, or the last, is the target)")
    p.add_argument("--activation", default="relu", help="relu, leaky_relu (needs --slope), abs, sign, threshold "
                                                         "(default: relu)")
    p.add_argument("--depth", type=_int_option(1), default=2, help="number of weight layers L (default: 2)")
    p.add_argument("--beta", type=float, default=None,
                   help="weight-decay strength (default: 1e-3 * ||y - mean(y)||^2)")
    p.add_argument("--architecture", default="deep_narrow",
                   help="deep_narrow (default), symmetrized (depth 3), rectangular, tree (sign/threshold)")
    p.add_argument("--slope", type=float, default=None, help="negative-side slope of leaky_relu")
    p.add_argument("--widths", default=None, help="hidden widths of rectangular/tree nets, e.g. 2,2")
    p.add_argument("--tol", type=float, default=1e-10, help="relative duality-gap tolerance (default: 1e-10)")
    p.add_argument("--max-iter", type=_int_option(1), default=None,
                   help="solver outer iterations, below 2**63 (default: 500; 200 for multi-column input)")
    p.add_argument("--no-dedup", action="store_true", help="keep duplicate library columns")
    p.add_argument("--patterns", default="auto",
                   help="multi-column input: activation patterns, auto | exact | number of sampled directions")
    p.add_argument("--top", type=_int_option(0), default=10, help="selected features printed (default: 10)")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="write a figure of the fit (.png, .pdf, .svg, ...; never the input file)")
    p.add_argument("--json", default=None, metavar="JSON",
                   help="write the fit (features, weights) as JSON (never the input file; written once complete)")
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser("libraries", help="library sizes (raw and deduplicated) and build times on toy data")
    p.add_argument("--data", default="opt", choices=sorted(datasets.TOY) + ["sine"],
                   help="embedded data set (default: opt, x = 0 4 5 7 10 11)")
    p.add_argument("--n", type=_int_option(2, 1000), default=12, help="points for --data sine (2 to 1000)")
    p.set_defaults(func=_cmd_libraries)

    from ._align import add_parser as add_align_parser  # CRH alignments of a small MLP (needs PyTorch)
    add_align_parser(sub)
    return parser


def _one_line(exc):
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def main(argv=None):
    """Run the command line; returns the exit status (0 ok, 2 bad input or options, 1 internal error)."""
    try:
        args = _parser().parse_args(argv)
    except CliError as exc:
        print(f"netmirror: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    try:
        with _memory.command_line():  # advice names this command line's flags, not Python keywords
            return args.func(args)
    except BrokenPipeError:  # stdout closed early (e.g. `| head`): stop quietly, like other Unix tools
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 141
    except (CliError, ValueError, TypeError, MemoryError, OSError) as exc:
        print(f"netmirror: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # outside a solve (which returns its iterate): nothing was written
        print("netmirror: interrupted (Ctrl-C); no output written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: still one line, but say so
        if os.environ.get("NETMIRROR_DEBUG"):
            raise
        print(f"netmirror: internal error ({type(exc).__name__}): {_one_line(exc)} "
              "(set NETMIRROR_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
