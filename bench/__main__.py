"""`make bench`: runs every bench/bench_*.py module's main(), or those named on the command line.

Each benchmark measures its variants side by side in one run and writes its results under
docs/bench/ (a Markdown table the README links, plus JSON).
"""
from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem for p in HERE.glob("bench_*.py"))
    if not names:
        print("no benchmarks found under bench/", file=sys.stderr)
        return 1
    for name in names:
        module = importlib.import_module(f"bench.{name if name.startswith('bench_') else 'bench_' + name}")
        print(f"== {module.__name__} ==", flush=True)
        start = time.perf_counter()
        module.main()
        print(f"== {module.__name__} done in {time.perf_counter() - start:.1f} s ==", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
