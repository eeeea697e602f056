"""`make bench`: runs every bench/bench_*.py module's main(), or those named on the command line.

    .venv/bin/python -m bench                 # all of them (hours on 2 cores)
    .venv/bin/python -m bench csim_train      # one: bench/bench_csim_train.py

Each benchmark measures its variants side by side in one run and writes its results under
docs/bench/ (a Markdown table the README links, plus JSON). An unknown name is a one-line error
(exit status 2) listing the known ones.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def known() -> list[str]:
    return sorted(p.stem[len("bench_") :] for p in HERE.glob("bench_*.py"))


def main(argv: list[str]) -> int:
    from host.cli_support import run_cli

    def body() -> int:
        if any(a in ("-h", "--help") for a in argv):
            print(__doc__.strip())
            print("\nbenchmarks: " + ", ".join(known()))
            return 0
        names = [a[len("bench_") :] if a.startswith("bench_") else a for a in argv if not a.startswith("--")] or known()
        unknown = [n for n in names if n not in known()]
        if unknown:
            raise ValueError(f"unknown benchmark {unknown[0]!r}; known: {', '.join(known())}")
        for name in names:
            module = importlib.import_module(f"bench.bench_{name}")
            print(f"== {module.__name__} ==", flush=True)
            start = time.perf_counter()
            module.main()
            print(f"== {module.__name__} done in {time.perf_counter() - start:.1f} s ==", flush=True)
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
