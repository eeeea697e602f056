"""Resource estimate of the RTL MAC array with Yosys (Debian yosys 0.23: synth_xilinx -family xcup,
UltraScale+ primitives). An estimate from an open-source flow, not Vivado's numbers.

    python -m sim.yosys_resources                 # default array, writes docs/rtl_resources.md
    python -m sim.yosys_resources --rows 4 --cols 8 --max-m 64 --no-write
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

from sim.toolchain import REPO, require_program

RTL = [REPO / "hw" / "rtl" / "mac_array.v", REPO / "hw" / "rtl" / "mac_requant.v"]
REPORT = REPO / "docs" / "rtl_resources.md"
FAMILY = "xcup"   # UltraScale+ (the ZU9EG of the ZCU102)

# Yosys cell types -> the resource columns of the report (BRAM counted in RAMB36 equivalents)
GROUPS = {
    "DSP": (r"^DSP48E2$", 1.0),
    "LUT": (r"^LUT[1-6]$", 1.0),
    "FF": (r"^FD[RSCP]E$", 1.0),
    "BRAM36": (r"^RAMB36E2$", 1.0),
    "BRAM18": (r"^RAMB18E2$", 1.0),
    "LUTRAM": (r"^RAM(32|64|128|256)[XM]", 1.0),
    "CARRY": (r"^CARRY[48]$", 1.0),
}


def default_geometry() -> dict[str, int]:
    from host.cycle_model import constants

    c = constants()
    return {"ROWS": c["MAC_ROWS"], "COLS": c["MAC_COLS"], "MAX_M": c["MAC_MAX_M"]}


def synthesise(geometry: dict[str, int], top: str = "mac_array", timeout_s: int = 3600) -> dict:
    """Runs synth_xilinx; returns {'cells': {type: count}, 'groups': {...}, 'seconds': t}."""
    require_program("yosys", "yosys")
    with tempfile.TemporaryDirectory() as tmp:
        stat_json = Path(tmp) / "stat.json"
        chparams = " ".join(f"-set {k} {v}" for k, v in geometry.items())
        script = (f"read_verilog -sv {' '.join(str(p) for p in RTL)}; chparam {chparams} {top}; "
                  f"synth_xilinx -family {FAMILY} -top {top}; tee -q -o {stat_json} stat -json")
        start = time.perf_counter()
        result = subprocess.run(["yosys", "-q", "-p", script], capture_output=True, text=True, timeout=timeout_s)
        if result.returncode != 0:
            raise RuntimeError(f"yosys failed:\n{result.stderr[-4000:]}")
        stat = json.loads(stat_json.read_text())
    cells = stat["design"]["num_cells_by_type"]
    groups = {name: int(sum(n * w for t, n in cells.items() if re.match(pattern, t)))
              for name, (pattern, w) in GROUPS.items()}
    return {"cells": cells, "groups": groups, "seconds": time.perf_counter() - start}


def write_report(geometry: dict[str, int], res: dict, path: Path = REPORT) -> None:
    g = res["groups"]
    bram36 = g["BRAM36"] + g["BRAM18"] / 2
    zu9eg = {"DSP": 2520, "LUT": 274080, "FF": 548160, "BRAM36": 912}
    rows = [("DSP48E2", g["DSP"], zu9eg["DSP"]), ("LUT (logic)", g["LUT"], zu9eg["LUT"]),
            ("LUT as memory (LUTRAM cells)", g["LUTRAM"], None), ("FF", g["FF"], zu9eg["FF"]),
            ("BRAM (RAMB36 equivalents)", bram36, zu9eg["BRAM36"]), ("CARRY4/CARRY8", g["CARRY"], None)]
    lines = [
        "# RTL MAC array: resource estimate (Yosys, not Vivado)",
        "",
        f"`mac_array` with ROWS={geometry['ROWS']}, COLS={geometry['COLS']}, MAX_M={geometry['MAX_M']}, "
        f"synthesised by Yosys {yosys_version()} `synth_xilinx -family {FAMILY}` (UltraScale+ primitives) in "
        f"{res['seconds']:.0f} s. Regenerate with `python -m sim.yosys_resources`.",
        "",
        "**This is an open-source synthesis estimate, not a Vivado result**: Yosys does not retime, packs",
        "DSP48E2 features (pre-adder, cascades, P-register accumulation) less aggressively than Vivado and",
        "maps memories by its own rules. Treat LUT/FF counts as an upper-bound-ish indication and the DSP",
        "count as the real architectural number (one DSP48E2 per multiplier).",
        "",
        "| resource | used | ZU9EG has | share |",
        "|---|---:|---:|---:|",
    ]
    for name, used, avail in rows:
        share = f"{100 * used / avail:.1f}%" if avail else ""
        lines.append(f"| {name} | {used:g} | {avail if avail else ''} | {share} |")
    lines += ["", "All cell types:", "", "| cell | count |", "|---|---:|"]
    lines += [f"| {t} | {n} |" for t, n in sorted(res["cells"].items())]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def yosys_version() -> str:
    out = subprocess.run(["yosys", "-V"], capture_output=True, text=True).stdout
    m = re.search(r"Yosys (\S+)", out)
    return m.group(1) if m else "?"


def main(argv=None) -> int:
    d = default_geometry()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=d["ROWS"])
    ap.add_argument("--cols", type=int, default=d["COLS"])
    ap.add_argument("--max-m", type=int, default=d["MAX_M"])
    ap.add_argument("--no-write", action="store_true", help="print only, do not write docs/rtl_resources.md")
    args = ap.parse_args(argv)
    geometry = {"ROWS": args.rows, "COLS": args.cols, "MAX_M": args.max_m}
    res = synthesise(geometry)
    print(json.dumps({"geometry": geometry, **res["groups"], "seconds": round(res["seconds"], 1)}))
    if not args.no_write:
        write_report(geometry, res)
        print(f"wrote {REPORT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
