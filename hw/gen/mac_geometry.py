"""Writes the MAC array's geometry (ROWS, COLS, MAX_M) from its one source, hw/spec/engine_spec.json
("mac_array", read through host.cycle_model.constants), into the parameter defaults of the RTL files,
between the `BEGIN/END generated geometry` markers.

    python -m hw.gen.mac_geometry           # rewrite the blocks
    python -m hw.gen.mac_geometry --check   # exit 1 if a block differs from the header
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from sim.toolchain import REPO

TARGETS = [REPO / "hw" / "rtl" / "mac_array.v", REPO / "hw" / "rtl" / "mac_array_hls.v"]
BLOCK = re.compile(r"(// BEGIN generated geometry[^\n]*\n)(.*?)(\s*// END generated geometry)", re.S)
PARAMS = {"ROWS": "MAC_ROWS", "COLS": "MAC_COLS", "MAX_M": "MAC_MAX_M"}


def render(text: str, constants: dict[str, int], path: Path) -> str:
    match = BLOCK.search(text)
    if not match:
        raise ValueError(f"{path}: no 'BEGIN generated geometry' block")
    body = match.group(2)
    for param, const in PARAMS.items():
        body, n = re.subn(rf"(parameter\s+integer\s+{param}\s*=\s*)\d+", rf"\g<1>{constants[const]}", body)
        if n != 1:
            raise ValueError(f"{path}: parameter {param} not found once in the generated block")
    return text[: match.start(2)] + body + text[match.end(2) :]


def main(argv: list[str] | None = None) -> int:
    from host.cycle_model import constants

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = ap.parse_args(argv)
    stale = []
    for path in TARGETS:
        text = path.read_text()
        new = render(text, constants(), path)
        if new != text:
            stale.append(path)
            if not args.check:
                path.write_text(new)
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'}: {path.relative_to(REPO)}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
