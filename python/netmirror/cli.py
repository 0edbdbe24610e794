"""Command line: `netmirror libraries` prints library sizes and build times on the embedded data."""
from __future__ import annotations

import argparse
import sys
import time

from . import datasets
from ._library import library

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


def libraries_report(x, out=sys.stdout):
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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="netmirror", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("libraries", help="library sizes (raw and deduplicated) and build times on toy data")
    p.add_argument("--data", default="opt", choices=sorted(datasets.TOY) + ["sine"],
                   help="embedded data set (default: opt, x = 0 4 5 7 10 11)")
    p.add_argument("--n", type=int, default=12, help="points for --data sine")
    args = parser.parse_args(argv)
    if args.command == "libraries":
        x = datasets.sine(args.n)[0] if args.data == "sine" else datasets.toy(args.data)[0]
        print(f"netmirror libraries on '{args.data}' (n = {len(x)}): x = {' '.join(f'{v:g}' for v in x)}")
        libraries_report(x)
    return 0


if __name__ == "__main__":
    sys.exit(main())
