"""Resource estimate of the RTL MAC array with Yosys (Debian yosys 0.23: synth_xilinx -flatten -family
xcup, UltraScale+ primitives). An estimate from an open-source flow, not Vivado's numbers.

Besides the cell counts it reads the mapped netlist (write_json) for what the DSP-native array
promises: how many DSP48E2 have MREG and PREG set, the PCOUT -> PCIN cascade chains, and the
longest combinational path between registers in logic levels (LUT, CARRY, MUXF cells; Yosys's own
`ltp` cannot see through the mapped flip-flop cells, so the path is measured here).

    python -m sim.yosys_resources                 # default array, writes docs/rtl_resources.md
    python -m sim.yosys_resources --rows 8 --cols 8 --max-m 512 --no-write
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

from sim.cocotb.mac_array import RTL_SYNTH_SOURCES
from sim.toolchain import BUILD, REPO, require_program

# synthesis sources only: the DSP48E2 simulation model (hw/rtl/sim/) must not be read, Yosys maps
# the instances to its DSP48E2 primitive cell
RTL = RTL_SYNTH_SOURCES
REPORT = REPO / "docs" / "rtl_resources.md"
FAMILY = "xcup"  # UltraScale+ (the ZU9EG of the ZCU102)

# Yosys cell types -> the resource columns of the report (BRAM counted in RAMB36 equivalents)
GROUPS = {
    "DSP": (r"^DSP48E2$", 1.0),
    "LUT": (r"^(LUT[1-6]|INV)$", 1.0),
    "FF": (r"^FD[RSCP]E$", 1.0),
    "BRAM36": (r"^RAMB36E2$", 1.0),
    "BRAM18": (r"^RAMB18E2$", 1.0),
    "LUTRAM": (r"^RAM(32|64|128|256)[XM]", 1.0),
    "CARRY": (r"^CARRY[48]$", 1.0),
    "SRL": (r"^SRL(16E|C32E)$", 1.0),
}
COMBINATIONAL = re.compile(r"^(LUT[1-6]|INV|CARRY[48]|MUXF[789])$")


def default_geometry() -> dict[str, int]:
    from host.cycle_model import constants

    c = constants()
    return {"ROWS": c["MAC_ROWS"], "COLS": c["MAC_COLS"], "MAX_M": c["MAC_MAX_M"]}


def synthesise(geometry: dict[str, int], top: str = "mac_array", timeout_s: int = 3600) -> dict:
    """Runs synth_xilinx; returns {'cells': {type: count}, 'groups': {...}, 'dsp': {...},
    'logic_levels': {...}, 'seconds': t}."""
    require_program("yosys", "yosys")
    with tempfile.TemporaryDirectory() as tmp:
        stat_json, netlist = Path(tmp) / "stat.json", Path(tmp) / "netlist.json"
        chparams = " ".join(f"-set {k} {v}" for k, v in geometry.items())
        script = (
            f"read_verilog -sv {' '.join(str(p) for p in RTL)}; chparam {chparams} {top}; "
            f"synth_xilinx -flatten -family {FAMILY} -top {top}; tee -q -o {stat_json} stat -json; "
            f"write_json {netlist}"
        )
        start = time.perf_counter()
        result = subprocess.run(["yosys", "-q", "-p", script], capture_output=True, text=True, timeout=timeout_s)
        if result.returncode != 0:
            raise RuntimeError(f"yosys failed:\n{result.stderr[-4000:]}")
        seconds = time.perf_counter() - start
        stat = json.loads(stat_json.read_text())
        module = json.loads(netlist.read_text())["modules"]
    cells = stat["design"]["num_cells_by_type"]
    groups = {
        name: int(sum(n * w for t, n in cells.items() if re.match(pattern, t))) for name, (pattern, w) in GROUPS.items()
    }
    mapped = next(m for m in module.values() if m.get("attributes", {}).get("top"))["cells"]
    return {
        "cells": cells,
        "groups": groups,
        "dsp": dsp_report(mapped),
        "logic_levels": logic_levels(mapped),
        "seconds": seconds,
    }


def _param(cell: dict, name: str) -> int:
    value = cell["parameters"].get(name, "0")
    return int(value, 2) if isinstance(value, str) and set(value) <= {"0", "1"} else int(value)


def dsp_report(cells: dict) -> dict:
    """DSP48E2 registers and cascade chains of a mapped netlist (yosys write_json cells)."""
    dsps = {name: c for name, c in cells.items() if c["type"] == "DSP48E2"}
    pcout = {}  # net bit -> DSP driving it through PCOUT
    for name, c in dsps.items():
        for bit in c["connections"].get("PCOUT", []):
            if isinstance(bit, int):
                pcout[bit] = name
    upstream = {}  # DSP -> the DSP whose PCOUT feeds all 48 PCIN bits
    for name, c in dsps.items():
        sources = {pcout.get(bit) for bit in c["connections"].get("PCIN", [])}
        if len(sources) == 1 and None not in sources:
            upstream[name] = sources.pop()
    heads = [n for n in dsps if n not in upstream and n in set(upstream.values())]
    downstream = {up: down for down, up in upstream.items()}
    chains = []
    for head in heads:
        length, node = 1, head
        while node in downstream:
            node, length = downstream[node], length + 1
        chains.append(length)
    registered = sum(1 for c in dsps.values() if _param(c, "MREG") == 1 and _param(c, "PREG") == 1)
    operand_regs = sum(1 for c in dsps.values() if _param(c, "AREG") >= 1 and _param(c, "BREG") >= 1)
    return {
        "count": len(dsps),
        "mreg_preg": registered,
        "areg_breg": operand_regs,
        "cascade_links": len(upstream),
        "chains": sorted(chains),
    }


def logic_levels(cells: dict) -> dict:
    """Longest register-to-register path through combinational cells (LUT, INV, CARRY, MUXF), in
    cells; every other cell (flip-flops, DSP, RAM, SRL, I/O buffers) starts or ends a path."""
    driver = {}
    for name, c in cells.items():
        if COMBINATIONAL.match(c["type"]):
            for port, bits in c["connections"].items():
                if c.get("port_directions", {}).get(port) == "output":
                    for bit in bits:
                        if isinstance(bit, int):
                            driver[bit] = name
    depth, via = {}, {}
    for root in (n for n, c in cells.items() if COMBINATIONAL.match(c["type"])):
        stack, active = [root], {root}
        while stack:  # iterative depth-first: long carry chains
            name = stack[-1]
            if name in depth:
                stack.pop()
                active.discard(name)
                continue
            c = cells[name]
            inputs = {
                driver[b]
                for p, bits in c["connections"].items()
                if c.get("port_directions", {}).get(p) == "input"
                for b in bits
                if isinstance(b, int) and b in driver
            }
            pending = [i for i in inputs if i not in depth and i not in active]
            if pending:
                stack.extend(pending)
                active.update(pending)
                continue
            best = max((i for i in inputs if i in depth), key=lambda i: depth[i], default=None)
            depth[name] = 1 + (depth[best] if best else 0)
            via[name] = best
            stack.pop()
            active.discard(name)
    if not depth:
        return {"levels": 0, "path": []}
    end = max(depth, key=depth.get)
    path, where = [], []
    while end:
        path.append(cells[end]["type"])
        where.append(cells[end].get("attributes", {}).get("src", ""))
        end = via[end]
    path.reverse()
    where.reverse()
    return {
        "levels": len(path),
        "luts": sum(1 for t in path if t.startswith(("LUT", "INV"))),
        "carries": sum(1 for t in path if t.startswith("CARRY")),
        "path": path,
        "sources": sorted({w.split("|")[0].rsplit("/", 1)[-1].split(".")[0] for w in where if w}),
    }


def write_report(geometry: dict[str, int], res: dict, path: Path = REPORT, note: str = "") -> None:
    g = res["groups"]
    pes = geometry["ROWS"] * geometry["COLS"]
    bram36 = g["BRAM36"] + g["BRAM18"] / 2
    zu9eg = {"DSP": 2520, "LUT": 274080, "FF": 548160, "BRAM36": 912}
    rows = [
        ("DSP48E2", g["DSP"], zu9eg["DSP"]),
        ("LUT (logic: LUT1-6 + INV)", g["LUT"], zu9eg["LUT"]),
        ("LUT as memory (LUTRAM cells)", g["LUTRAM"], None),
        ("LUT as shift register (SRL cells)", g["SRL"], None),
        ("FF", g["FF"], zu9eg["FF"]),
        ("BRAM (RAMB36 equivalents)", bram36, zu9eg["BRAM36"]),
        ("CARRY4/CARRY8", g["CARRY"], None),
    ]
    dsp, levels = res["dsp"], res["logic_levels"]
    chains = sorted(set(dsp["chains"]))
    lines = [
        "# RTL MAC array: resource estimate (Yosys, not Vivado)",
        "",
        f"`mac_array` with ROWS={geometry['ROWS']}, COLS={geometry['COLS']}, MAX_M={geometry['MAX_M']}, "
        f"synthesised by Yosys {yosys_version()} `synth_xilinx -flatten -family {FAMILY}` (UltraScale+ primitives) "
        f"in {res['seconds']:.0f} s. Regenerate with `python -m sim.yosys_resources`.",
        "",
        "**This is an open-source synthesis estimate, not a Vivado result**: Yosys does not retime, maps",
        "memories by its own rules and has no timing model, so no Fmax is claimed from it. The DSP48E2",
        "slices are instantiated explicitly in the RTL, so their count, registers and cascade are the",
        "design's own; the fabric counts are Yosys's mapping.",
        "",
        *([note, ""] if note else []),
        "| resource | used | ZU9EG has | share | per PE |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, used, avail in rows:
        share = f"{100 * used / avail:.1f}%" if avail else ""
        lines.append(f"| {name} | {used:g} | {avail if avail else ''} | {share} | {used / pes:.2f} |")
    lines += [
        "",
        "## DSP48E2 use and the longest combinational path",
        "",
        f"* DSP48E2 with MREG and PREG set: {dsp['mreg_preg']} of {dsp['count']}; with A and B operand registers: "
        f"{dsp['areg_breg']} of {dsp['count']}.",
        f"* PCOUT -> PCIN cascade: {dsp['cascade_links']} links, {len(dsp['chains'])} chains of "
        f"{', '.join(str(c) for c in chains)} DSPs (one per column).",
        f"* Longest register-to-register combinational path in the mapped netlist: **{levels['levels']} logic levels** "
        f"({levels['luts']} LUT, {levels['carries']} CARRY, the rest MUXF): {' -> '.join(levels['path'])}. "
        "Counted by `sim/yosys_resources.py` over the netlist (every LUT, INV, CARRY4 and MUXF cell is a level; "
        "Yosys's `ltp` cannot see through mapped flip-flop cells). A level count, not a timing analysis.",
        "",
        "All cell types:",
        "",
        "| cell | count |",
        "|---|---:|",
    ]
    lines += [f"| {t} | {n} |" for t, n in sorted(res["cells"].items())]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def yosys_version() -> str:
    out = subprocess.run(["yosys", "-V"], capture_output=True, text=True).stdout
    m = re.search(r"Yosys (\S+)", out)
    return m.group(1) if m else "?"


def main(argv: list[str] | None = None) -> int:
    d = default_geometry()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=d["ROWS"])
    ap.add_argument("--cols", type=int, default=d["COLS"])
    ap.add_argument("--max-m", type=int, default=d["MAX_M"])
    ap.add_argument("--no-write", action="store_true", help="print only, do not write docs/rtl_resources.md")
    args = ap.parse_args(argv)
    geometry = {"ROWS": args.rows, "COLS": args.cols, "MAX_M": args.max_m}
    res = synthesise(geometry)
    print(
        json.dumps(
            {
                "geometry": geometry,
                **res["groups"],
                "dsp": res["dsp"],
                "logic_levels": res["logic_levels"],
                "seconds": round(res["seconds"], 1),
            }
        )
    )
    raw = BUILD / "rtl" / "yosys_{ROWS}x{COLS}_m{MAX_M}.json".format(**geometry)
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps({"geometry": geometry, **res}, indent=1))
    if not args.no_write:
        write_report(geometry, res)
        print(f"wrote {REPORT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
