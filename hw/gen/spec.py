"""`python -m hw.gen.spec`: derives the C++ side of the engine contract from hw/spec/engine_spec.json.

Writes hw/include/onion/spec.h (constants, op codes, status codes, register offsets, the Args /
Outputs structs, the per-port AXI counters and their output registers, region layouts) and the generated interface block of hw/src/onion_engine.cpp
(the top function's signature and its `#pragma HLS INTERFACE ... offset=0x..` lines). Both are
committed; tests/hw/test_spec.py fails when either is stale. `--check` exits 1 when stale.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from host import engine_spec
from host.engine_spec import SPEC_PATH as SPEC_JSON

REPO = Path(__file__).resolve().parents[2]
SPEC_H = REPO / "hw" / "include" / "onion" / "spec.h"
TOP_CPP = REPO / "hw" / "src" / "onion_engine.cpp"
BEGIN = "// ---- BEGIN GENERATED INTERFACE (python -m hw.gen.spec; do not edit) ----"
END = "// ---- END GENERATED INTERFACE ----"
LAYOUT_SYMBOLS = ["N", "K", "D", "H", "M", "I", "O", "Z"]
PORT_C_TYPE = {"int16": "word_t", "int32": "int32_t"}
MAXI_DEPTH = 1 << 20  # for C/RTL co-simulation only; the board maps the real buffers


def _public(section: dict) -> dict:
    return {k: v for k, v in section.items() if not k.startswith("_")}


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _scalar_regs(spec: dict, direction: str) -> list[dict]:
    return [r for r in spec["registers"] if r["dir"] == direction and not r["name"].endswith("_addr")]


def _extent_cxx(expr: str) -> str:
    for factor in expr.split("*"):
        factor = factor.strip()
        if not (factor.isdigit() or factor in LAYOUT_SYMBOLS):
            raise ValueError(f"layout extent {expr!r}: unknown symbol {factor!r} (known: {LAYOUT_SYMBOLS})")
    return "*".join(f"d.{f.strip()}" if not f.strip().isdigit() else f.strip() for f in expr.split("*"))


def _size_cxx(size: str, layouts: dict) -> str:
    """A region size as C++: a layout name (its generated size) or a sum of products of symbols."""
    if size in layouts:
        return f"{size}_layout(d).size"
    terms = []
    for term in size.split("+"):
        factors = [f.strip() for f in term.split("*")]
        for f in factors:
            if not (f.isdigit() or f in LAYOUT_SYMBOLS or f == "P"):
                raise ValueError(f"region size {size!r}: unknown symbol {f!r}")
        terms.append("*".join(f if f.isdigit() else f"d.{f}" if f != "P" else "(d.N - 1)" for f in factors))
    return " + ".join(f"({t})" for t in terms)


def _op_region_list(spec: dict, name: str) -> list[tuple[str, str, str, bool, str]]:
    """(register, port, size expression, written?, condition) of every region an op moves."""
    o = spec["ops"][name]
    dma = spec["dma"]
    forward = not name.endswith("_BWD")
    writes = set(dma["writes"]) | (set(dma["writes_in_forward"]) if forward else set())
    out = []
    for reg, (port, size) in o.get("regions", {}).items():
        if reg == "gacc_off":  # the gradient accumulators stream through in chunks (grad_accum.h), not the pool
            continue
        cond = "a.flags & FLAG_SPARSE" if reg == "keys_off" else "a.flags & FLAG_GATHER" if reg == "keep_off" else ""
        out.append((reg, port, size, reg in writes, cond))
    count = len(o["tensors"])
    if "fracs_off" in o["regs"]:
        out.append(("fracs_off", "aux", str(count), False, ""))
    out.append(("stats_off", "aux", str(2 * count), True, ""))
    return out


def _eval_size(size: str, dims: dict, layouts: dict) -> int:
    if size in layouts:
        total = 0
        for _tensor, shape in layouts[size]:
            n = 1
            for e in shape:
                n *= _eval_size(e, dims, layouts)
            total += n
        return total
    total = 0
    for term in size.split("+"):
        n = 1
        for f in term.split("*"):
            f = f.strip()
            n *= int(f) if f.isdigit() else dims[f]
        total += n
    return total


def pool_words(spec: dict) -> dict[str, int]:
    """The on-chip copy's size at the compile-time limits, each region rounded up to whole beats:
    "words": the most 16-bit words one call's regions occupy (wts, act and grd share one pool),
    "aux": the most int32 words of aux; also per port (the most that port moves in one call)."""
    lim = spec["limits"]
    layouts = _public(spec["layouts"])
    ports = _public(spec["ports"])
    best = {p: 0 for p in ports}
    for name in _public(spec["ops"]):
        n = lim["max_tokens"]
        patch, head, linear = name.startswith("PATCH"), name.startswith("HEAD"), name.startswith("LINEAR")
        dims = {
            "N": n,
            "P": n - 1,
            "K": n,
            "D": lim["max_dim"],
            "H": lim["max_heads"],
            "M": lim["max_mlp"],
            "I": lim["max_patch_dim"] if patch else lim["max_in_dim"],
            "O": lim["max_classes"] if head else lim["max_out_dim"],
            "Z": n * lim["max_keys"],
        }
        if linear:
            dims["D"] = 0
        used = {p: 0 for p in ports}
        for _reg, port, size, _w, _c in _op_region_list(spec, name):
            beat_words = ports[port]["axi_bits"] // (16 if ports[port]["word"] == "int16" else 32)
            words = _eval_size(size, dims, layouts)
            used[port] += -(-words // beat_words) * beat_words
        for p in ports:
            best[p] = max(best[p], used[p])
        best["words"] = max(best.get("words", 0), sum(used[p] for p in ports if ports[p]["word"] == "int16"))
        if name.startswith("ATTN"):  # a dense call builds its row pointers (no key list) after its aux regions
            dense_aux = used["aux"] - -(-(n + 1 + n * lim["max_keys"]) // 4) * 4
            best["aux"] = max(best["aux"], dense_aux + n + 1)
    return best


def render_dma(spec: dict) -> list[str]:
    ports = _public(spec["ports"])
    dma = spec["dma"]
    regs = sorted({reg for name in _public(spec["ops"]) for reg, *_ in _op_region_list(spec, name)})
    pools = pool_words(spec)
    lines = [
        "",
        "// ---- memory system: ports, bursts, the regions each op moves (section dma) ----",
        "enum Port { "
        + " ".join(f"PORT_{p.upper()} = {i}," for i, p in enumerate(ports))
        + f" PORT_COUNT = {len(ports)} }};",
    ]
    for p, d in ports.items():
        lines.append(f"const int AXI_BITS_{p.upper()} = {int(d['axi_bits'])};  // data width of the {p} port")
    lines.append(
        f"const int EW_LANES = {int(spec['compute']['elementwise_lanes'])};  "
        "// words per cycle of every laned element-wise loop (compute.elementwise_lanes)"
    )
    lines += [
        f"const int AXI_MAX_BURST_BEATS = {int(dma['max_burst_beats'])};",
        f"const int AXI_BOUNDARY_BYTES = {int(dma['burst_boundary_bytes'])};",
        "inline int axi_beat_bytes(int port) {",
        "    switch (port) {",
    ]
    lines += [f"    case PORT_{p.upper()}: return AXI_BITS_{p.upper()} / 8;" for p in ports]
    lines += [
        "    default: return 16;",
        "    }",
        "}",
        "",
    ]
    lines += _axi_counter_lines(spec)
    lines += [
        "",
        "// the on-chip copy of a call's regions, in words: one pool for the 16-bit ports (the most one",
        "// call moves at the limits, whole beats per region) and one for aux",
    ]
    lines.append(f"const long POOL_WORDS = {pools['words']};")
    lines.append(f"const long POOL_WORDS_AUX = {pools['aux']};")
    lines += [
        "",
        "// the offset registers that address regions",
        "enum RegionReg { " + " ".join(f"RG_{r.upper()}," for r in regs) + " RG_COUNT };",
        "",
        "struct Region {",
        "    int reg;         // RegionReg",
        "    int port;        // Port",
        "    bool write;      // the op writes it (else reads it)",
        "    uint32_t off;    // word offset in the port (the register's value)",
        "    long words;",
        "};",
        f"const int MAX_REGIONS = {max(len(_op_region_list(spec, n)) for n in _public(spec['ops']))};",
        "",
        "// The regions one call moves (ops.<op>.regions, plus fracs/stats); Z = key-list entries.",
        "inline int op_regions(const Args &a, long Z, Region *r) {",
        "    const long N = a.n_tokens;",
        "    const long K = (a.flags & FLAG_GATHER) ? (long)a.n_keep : N;",
        "    const Dims d = {N, K, (long)a.dim, (long)a.heads, (long)a.mlp_dim, (long)a.in_dim, (long)a.out_dim, Z};",
        "    int c = 0;",
        "    switch (a.opcode) {",
    ]
    layouts = _public(spec["layouts"])
    for name in _public(spec["ops"]):
        lines.append(f"    case OP_{name}:")
        for reg, port, size, write, cond in _op_region_list(spec, name):
            body = (
                f"r[c].reg = RG_{reg.upper()}; r[c].port = PORT_{port.upper()}; r[c].write = "
                f"{'true' if write else 'false'}; r[c].off = a.{reg}; r[c].words = {_size_cxx(size, layouts)}; ++c;"
            )
            lines.append(f"        if ({cond}) {{ {body} }}" if cond else f"        {{ {body} }}")
        lines.append("        break;")
    lines += [
        "    default:",
        "        break;",
        "    }",
        "    (void)d;",
        "    return c;",
        "}",
        "",
        "// points an offset register at a new word offset (the region's place in the on-chip copy)",
        "inline void set_region_offset(Args &a, int reg, uint32_t off) {",
        "    switch (reg) {",
    ]
    lines += [f"    case RG_{r.upper()}: a.{r} = off; break;" for r in regs]
    lines += ["    default: break;", "    }", "}"]
    return lines


def _axi_counter_lines(spec: dict) -> list[str]:
    """AxiCount (one field per counters.axi entry, 32 bits per register) and the copy of each port's
    counts into its output registers (the templates' {port} = each of ports, low word first)."""
    axi = _public(spec["counters"]["axi"])
    ports = _public(spec["ports"])
    ctype = {1: "uint32_t", 2: "uint64_t"}
    for field, regs in axi.items():
        if len(regs) not in ctype:
            raise ValueError(f"counters.axi.{field}: 1 or 2 registers (32 or 64 bits), not {len(regs)}")
        if not all(r.startswith("{port}_") for r in regs):
            raise ValueError(f"counters.axi.{field}: register templates start with '{{port}}_': {regs}")
    lines = [
        "// what one AXI port did in a call (counters.axi), counted by the burst load/store units",
        "// (axi_burst.h) as they run; bytes are whole beats of the port's width",
        "struct AxiCount {",
        *[f"    {ctype[len(regs)]} {field};" for field, regs in axi.items()],
        "};",
        "",
        "// one port's counts into its registers (counters.axi order, low word first)",
    ]
    regs = [(field, word, reg.replace("{port}_", "")) for field, names in axi.items() for word, reg in enumerate(names)]
    lines.append(
        "inline void axi_count_to_registers(const AxiCount &c, "
        + ", ".join(f"uint32_t &{name}" for _f, _w, name in regs)
        + ") {"
    )
    for field, word, name in regs:
        value = f"(uint32_t)(c.{field} >> {32 * word})" if word else f"(uint32_t)c.{field}"
        lines.append(f"    {name} = {value};")
    lines += [
        "}",
        "",
        "// each port's counts into its output registers ({port} = each of ports)",
        "inline void axi_counts_to_outputs(const AxiCount *axi, Outputs &o) {",
    ]
    for port in ports:
        outs = ", ".join(f"o.{reg.format(port=port)}" for names in axi.values() for reg in names)
        lines.append(f"    axi_count_to_registers(axi[PORT_{port.upper()}], {outs});")
    lines.append("}")
    return lines


TRIP_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def trip_counts(spec: dict) -> dict[str, int]:
    """trip_counts: name -> value of its expression over the limits (+ max_op_tensors)."""
    names = {k: int(v) for k, v in _public(spec["limits"]).items()}
    names["max_op_tensors"] = max(len(o["tensors"]) for o in _public(spec["ops"]).values())
    names["max_regions"] = max(len(_op_region_list(spec, n)) for n in _public(spec["ops"]))
    mac = _public(spec["mac_array"])
    names.update(mac_rows=int(mac["rows"]), mac_cols=int(mac["cols"]), mac_max_m=int(mac["max_m"]))
    names["ew_lanes"] = int(spec["compute"]["elementwise_lanes"])
    out = {}
    for name, expr in _public(spec["trip_counts"]).items():
        if not TRIP_NAME.match(name):
            raise ValueError(f"trip count name {name!r}: lower_snake_case expected")
        tokens = re.findall(r"[A-Za-z_]\w*|\d+|[+*/()-]|\S", expr)
        for t in tokens:
            if re.match(r"[A-Za-z_]", t) and t not in names:
                raise ValueError(f"trip count {name}: unknown name {t!r} (known: {sorted(names)})")
            if not re.match(r"[A-Za-z_]\w*$|\d+$|[+*/()-]$", t):
                raise ValueError(f"trip count {name}: unexpected {t!r} in {expr!r}")
        value = eval(
            " ".join(str(names.get(t, "//" if t == "/" else t)) for t in tokens),  # checked tokens only
            {"__builtins__": {}},
        )
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"trip count {name} = {expr!r} is not a positive integer")
        out[name] = value
    return out


def _mac_array_lines(spec: dict) -> list[str]:
    mac = _public(spec["mac_array"])
    return [
        "// RTL MAC-array geometry and clock (mac_array_timing.h and host/cycle_model.py use these)",
        f"const int MAC_ROWS = {int(mac['rows'])};",
        f"const int MAC_COLS = {int(mac['cols'])};",
        f"const int MAC_MAX_M = {int(mac['max_m'])};",
        f"const int MAC_CLOCK_MHZ = {int(spec['clock_mhz'])};",
        f"const int MAC_DSPS = {int(mac['dsps'])};",
        f"const int MAC_SWAP_CYCLES = {int(mac['swap_cycles'])};",
        f"const int MAC_TAIL_CYCLES = {int(mac['tail_cycles'])};",
    ]


def _param_grad_lines(spec: dict) -> list[str]:
    """param_grad_slices(op, dims, out): where each parameter-gradient tensor of a backward op lies in
    its params layout (the gw_off block and the gacc_off accumulators share that layout)."""
    lines = [
        "// weight-gradient accumulation (grad_accumulation): per backward op with parameters, the",
        "// parameter-gradient tensors (index into the op's frac/stats tables) and their place in the",
        "// params layout",
        f"const int GACC_FRAC_MIN = {int(spec['grad_accumulation']['frac_min'])};",
        f"const int GACC_FRAC_MAX = {int(spec['grad_accumulation']['frac_max'])};",
        "struct ParamGradSlice { int tensor; long offset; long size; };",
    ]
    ops = {k: o for k, o in _public(spec["ops"]).items() if k.endswith("_BWD") and o.get("params")}
    most = max(len(spec["layouts"][o["params"]]) for o in ops.values())
    lines += [
        f"const int MAX_PARAM_SLICES = {most};",
        f"const int OP_TENSORS_MAX = {max(len(o['tensors']) for o in _public(spec['ops']).values())};"
        "  // longest per-op tensor list (frac / stats tables)",
        "inline int param_grad_slices(uint32_t op, const Dims &d, ParamGradSlice *out) {",
        "    switch (op) {",
    ]
    for name, o in ops.items():
        lay = o["params"]
        lines.append(f"    case OP_{name}: {{")
        lines.append(f"        const {_camel(lay)}Layout l = {lay}_layout(d);")
        for i, (tensor, shape) in enumerate(spec["layouts"][lay]):
            t = "d_" + tensor
            if t not in o["tensors"]:
                raise ValueError(f"op {name}: params tensor {tensor!r} has no gradient {t!r} in its tensor list")
            size = " * ".join(f"({_extent_cxx(e)})" for e in shape)
            lines.append(
                f"        out[{i}].tensor = {o['tensors'].index(t)}; out[{i}].offset = l.{tensor}; "
                f"out[{i}].size = {size};"
            )
        lines += [f"        return {len(spec['layouts'][lay])};", "    }"]
    lines += ["    default:", "        return 0;", "    }", "}", ""]
    return lines


def render_header(spec: dict) -> str:
    fmt = spec["formats"]
    lines = [
        "// GENERATED by `python -m hw.gen.spec` from hw/spec/engine_spec.json — do not edit.",
        "// The C++ view of the engine contract: formats, limits, op codes, status codes, registers,",
        "// per-op tensor lists and region layouts.",
        "#ifndef ONION_SPEC_H",
        "#define ONION_SPEC_H",
        "",
        "#include <stdint.h>",
        "",
        '#include "onion/fixed.h"',
        "",
        "// LOOP_TRIPCOUNT max values (macros: Vitis HLS expands them inside pragmas)",
        *[f"#define ONION_TRIP_{k.upper()} {v}  // {spec['trip_counts'][k]}" for k, v in trip_counts(spec).items()],
        "",
        "namespace onion {",
        "namespace spec {",
        "",
        f"const int VERSION = {int(spec['version'])};",
        f"const int WORD_BITS = {int(spec['word_bits'])};",
        f"const int ACC_BITS = {int(spec['acc_bits'])};",
        "",
        "// formats: fractional bits (value = word * 2^-frac)",
    ]
    for kind, f in fmt.items():
        lines.append(f"const int FRAC_{kind.upper()} = {int(f['frac'])};")
    grad = fmt["gradient"]
    lines += [
        f"const int GRAD_FRAC_MIN = {int(grad['frac_min'])};",
        f"const int GRAD_FRAC_MAX = {int(grad['frac_max'])};",
        "",
        "// op-internal precisions",
    ]
    for key, value in _public(spec["internal"]).items():
        if isinstance(value, int):
            lines.append(f"const int {key.upper()} = {value};")
    lines += ["", "// compile-time limits"]
    for key, value in _public(spec["limits"]).items():
        lines.append(f"const int {key.upper()} = {int(value)};")
    lines += [""] + _mac_array_lines(spec)
    lines += ["", "enum Opcode {"]
    ops = _public(spec["ops"])
    lines += [f"    OP_{name} = {int(o['opcode'])}," for name, o in ops.items()]
    lines += ["};", "", "enum Status {"]
    lines += [f"    ST_{name} = {int(code)}," for name, code in spec["status_codes"].items()]
    lines += ["};", "", "enum Flag {"]
    lines += [f"    FLAG_{name} = {int(bit)}," for name, bit in spec["flags"].items()]
    lines += ["};", "", "// s_axilite register byte offsets"]
    for reg in spec["registers"]:
        lines.append(
            f"const uint32_t REG_{reg['name'].upper()} = {reg['offset']};  // {reg['width']} bit, {reg['dir']}"
        )
    lines += ["", "// per-op tensor lists: index into the stats (and, for backward ops, frac) tables"]
    for name, o in ops.items():
        lines.append(
            f"namespace {name.lower()} {{ enum {{ "
            + " ".join(f"{t.upper()} = {i}," for i, t in enumerate(o["tensors"]))
            + f" COUNT = {len(o['tensors'])} }}; }}"
        )
    lines += ["", "// the call's arguments (input registers) and results (output registers)", "struct Args {"]
    lines += [f"    uint32_t {r['name']};" for r in _scalar_regs(spec, "in")]
    lines += ["};", "", "struct Outputs {"]
    lines += [f"    uint32_t {r['name']};" for r in _scalar_regs(spec, "out")]
    lines += [
        "};",
        "",
        "// register image (uint32 words indexed by byte offset / 4) <-> Args / Outputs (C-sim entry)",
        "inline Args args_from_image(const uint32_t *img) {",
        "    Args a;",
    ]
    lines += [f"    a.{r['name']} = img[{r['offset']} / 4];" for r in _scalar_regs(spec, "in")]
    lines += ["    return a;", "}", "", "inline void outputs_to_image(const Outputs &o, uint32_t *img) {"]
    lines += [f"    img[{r['offset']} / 4] = o.{r['name']};" for r in _scalar_regs(spec, "out")]
    lines += [
        "}",
        "",
        "// calls the top function with an Args / Outputs pair (C-sim entry and test bench)",
        "#define ONION_ENGINE_CALL(a, o, wts, act, grd, aux) \\",
        "    onion_engine(wts, act, grd, aux, "
        + ", ".join(f"(a).{r['name']}" for r in _scalar_regs(spec, "in"))
        + ", "
        + ", ".join(f"(o).{r['name']}" for r in _scalar_regs(spec, "out"))
        + ")",
        "",
        "// region layouts: word offsets of each tensor from the region start",
        "struct Dims { long " + ", ".join(LAYOUT_SYMBOLS) + "; };",
        "",
    ]
    for lname, entries in _public(spec["layouts"]).items():
        sname = _camel(lname) + "Layout"
        lines.append(f"struct {sname} {{ long " + ", ".join(t for t, _ in entries) + ", size; };")
        lines.append(f"inline {sname} {lname}_layout(const Dims &d) {{")
        lines.append(f"    {sname} l;")
        lines.append("    long at = 0;")
        for tensor, shape in entries:
            lines.append(f"    l.{tensor} = at; at += " + " * ".join(f"({_extent_cxx(e)})" for e in shape) + ";")
        lines += ["    l.size = at;", "    (void)d;", "    return l;", "}", ""]
    lines += _param_grad_lines(spec)
    lines += render_dma(spec)
    lines += [
        "",
        "}  // namespace spec",
        "}  // namespace onion",
        "",
        "// the HLS top function (hw/src/onion_engine.cpp), for the test bench and the C-sim entry",
        "void onion_engine(" + ", ".join(_top_params(spec, qualified=True)) + ");",
        "",
        "#endif",
        "",
    ]
    return "\n".join(lines)


def _top_params(spec: dict, qualified: bool = False) -> list[str]:
    ports = _public(spec["ports"])
    prefix = "onion::" if qualified else ""
    params = [
        f"{prefix if PORT_C_TYPE[p['word']] == 'word_t' else ''}{PORT_C_TYPE[p['word']]} *{name}"
        for name, p in ports.items()
    ]
    params += [f"uint32_t {r['name']}" for r in _scalar_regs(spec, "in")]
    params += [f"uint32_t &{r['name']}" for r in _scalar_regs(spec, "out")]
    return params


def render_top_block(spec: dict) -> str:
    ports = _public(spec["ports"])
    regs = {r["name"]: r for r in spec["registers"]}
    params = _top_params(spec)
    lines = [BEGIN, "void onion_engine(" + ",\n                  ".join(params) + ") {"]
    for name, p in ports.items():
        lines.append(
            f"#pragma HLS INTERFACE m_axi port={name} offset=slave bundle={p['bundle']} depth={MAXI_DEPTH} "
            f"max_widen_bitwidth={int(p['axi_bits'])} max_read_burst_length={int(spec['dma']['max_burst_beats'])} "
            f"max_write_burst_length={int(spec['dma']['max_burst_beats'])}"
        )
        lines.append(
            f"#pragma HLS INTERFACE s_axilite port={name} offset={regs[name + '_addr']['offset']} bundle=control"
        )
    for r in _scalar_regs(spec, "in") + _scalar_regs(spec, "out"):
        lines.append(f"#pragma HLS INTERFACE s_axilite port={r['name']} offset={r['offset']} bundle=control")
    lines.append("#pragma HLS INTERFACE s_axilite port=return bundle=control")
    lines.append("    onion::spec::Args args;")
    lines += [f"    args.{r['name']} = {r['name']};" for r in _scalar_regs(spec, "in")]
    lines.append("    onion::spec::Outputs out;")
    lines.append("    onion::run_engine(args, " + ", ".join(ports) + ", out);")
    lines += [f"    {r['name']} = out.{r['name']};" for r in _scalar_regs(spec, "out")]
    lines += ["}", END]
    return "\n".join(lines)


def _check_registers(spec: dict) -> None:
    seen = {}
    for reg in spec["registers"]:
        off = int(reg["offset"], 16)
        if off % 4:
            raise ValueError(f"register {reg['name']}: offset {reg['offset']} not 32-bit aligned")
        if reg["name"] != "ctrl" and off < 0x10:
            raise ValueError(f"register {reg['name']}: offsets below 0x10 belong to ap_ctrl")
        for word in range(off, off + reg["width"] // 8, 4):
            if word in seen:
                raise ValueError(f"register {reg['name']} overlaps {seen[word]} at {hex(word)}")
            seen[word] = reg["name"]
    for name in _public(spec["ports"]):
        if not any(r["name"] == name + "_addr" for r in spec["registers"]):
            raise ValueError(f"port {name} has no {name}_addr register")


def generate(spec_path: Path = SPEC_JSON) -> dict[Path, str]:
    """Returns {path: expected full text} for every generated file."""
    spec = engine_spec.load_spec(str(spec_path))  # the one reader of the contract
    _check_registers(spec)
    top_text = TOP_CPP.read_text() if TOP_CPP.exists() else f"{BEGIN}\n{END}\n"
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pattern.search(top_text):
        raise ValueError(f"{TOP_CPP} lacks the generated-interface markers")
    new_top = pattern.sub(lambda _m: render_top_block(spec), top_text)
    return {SPEC_H: render_header(spec), TOP_CPP: new_top}


def stale_files() -> list[Path]:
    return [p for p, text in generate().items() if not p.exists() or p.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--check" in argv:
        stale = stale_files()
        for p in stale:
            print(f"stale: {p.relative_to(REPO)} (run python -m hw.gen.spec)")
        return 1 if stale else 0
    for path, text in generate().items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
