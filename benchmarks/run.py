"""Run the benchmarks: ``python -m benchmarks.run [NAME ...] [--repeats N] [--threads N]``.

NAME selects ``benchmarks/bench_NAME.py`` modules (default: all). Each prints
``name: ratio=X (A=... ms, B=... ms; paired q1-q3 ...)`` lines; run nothing else on the machine
meanwhile.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from pathlib import Path


def available() -> list[str]:
    folder = Path(__file__).parent
    return sorted(
        m.name[len("bench_") :] for m in pkgutil.iter_modules([str(folder)]) if m.name.startswith("bench_")
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {', '.join(available())})")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (pinned)")
    args = parser.parse_args(argv)
    names = args.names or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available())}")
    for name in names:
        importlib.import_module(f"benchmarks.bench_{name}").run(repeats=args.repeats, threads=args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
