"""Reads the engine contract, hw/spec/engine_spec.json: formats, limits, op codes, registers.

numpy-only host code and the export quantizer both go through here, so no constant is copied.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np

SPEC_PATH = Path(__file__).resolve().parents[1] / "hw" / "spec" / "engine_spec.json"


@functools.cache
def load_spec(path: str | None = None) -> dict:
    with open(path or SPEC_PATH) as f:
        return json.load(f)


def overlay_paths() -> tuple[Path, Path]:
    """Bitstream and .hwh paths, as the "overlay" section declares them (relative to the repository)."""
    ov = load_spec()["overlay"]
    base = SPEC_PATH.parents[2] / ov["dir"]
    return base / ov["bitstream"], base / ov["hwh"]


def format_frac(kind: str) -> int:
    """Fractional bits of a tensor kind's declared format (e.g. 'weight')."""
    formats = load_spec()["formats"]
    if kind not in formats:
        raise KeyError(f"no fixed-point format declared for {kind!r}; declared: {', '.join(formats)}")
    return int(formats[kind]["frac"])


def quantize(values: np.ndarray, frac: int) -> tuple[np.ndarray, int]:
    """float -> int16 words (round half up, saturate), as the engine's requantize does.

    Returns the words and the number of saturated elements.
    """
    bits = int(load_spec()["word_bits"])
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    scaled = np.asarray(np.multiply(values, 2.0**frac, dtype=np.float64))  # one temporary, reused
    scaled += 0.5
    np.floor(scaled, out=scaled)
    saturated = int(np.count_nonzero(scaled < lo)) + int(np.count_nonzero(scaled > hi))
    return np.clip(scaled, lo, hi, out=scaled).astype(np.int16), saturated


def dequantize(words: np.ndarray, frac: int) -> np.ndarray:
    """int16 words -> float32 values in one pass (exact: a word times a power of two)."""
    return np.multiply(words, np.float32(2.0**-frac), dtype=np.float32)


# --- memory ports: names (in the engine's argument order) and word types ---

WORD_DTYPES = {"int16": np.int16, "int32": np.int32}


def ports() -> tuple[str, ...]:
    """The engine's m_axi ports in declaration order ('wts', 'act', 'grd', 'aux')."""
    return tuple(k for k in load_spec()["ports"] if not k.startswith("_"))


def port_dtype(port: str) -> type:
    """numpy dtype of one word of a port's memory."""
    declared = {p: load_spec()["ports"][p] for p in ports()}
    return WORD_DTYPES[_declared(declared, port, "engine port")["word"]]


# --- engine interface: op codes, registers, limits, layouts (all read from the same JSON) ---

_SECTIONS: dict[str, tuple[dict, dict]] = {}  # name -> (spec it was read from, section); callers never mutate it


def _section(name: str) -> dict:
    spec = load_spec()
    cached = _SECTIONS.get(name)
    if cached is None or cached[0] is not spec:  # hot path of every engine call: built once per spec
        cached = _SECTIONS[name] = (spec, {k: v for k, v in spec[name].items() if not k.startswith("_")})
    return cached[1]


def _declared(table: dict, name: str, what: str) -> object:
    """table[name], or a KeyError naming `what` and the declared names."""
    if name not in table:
        raise KeyError(f"unknown {what} {name!r}; known: {', '.join(table)}")
    return table[name]


def opcode(name: str) -> int:
    """Op code of an engine operation, e.g. opcode('ATTN_FWD')."""
    return int(_declared(_section("ops"), name, "engine op")["opcode"])


def op_names() -> list[str]:
    return list(_section("ops"))


def op(name: str) -> dict:
    """The op's declaration: opcode, regs, params/save/scratch layout names, tensors."""
    opcode(name)
    return dict(_section("ops")[name])


def op_tensors(name: str) -> list[str]:
    """Per-tensor list of an op: the order of its stats (all ops) and gradient frac table (backward ops)."""
    return list(op(name)["tensors"])


def max_op_tensors() -> int:
    """The longest per-op tensor list (spec.h's OP_TENSORS_MAX): sizes the stats and frac tables."""
    return max(len(op_tensors(n)) for n in op_names())


def register(name: str) -> dict:
    """A register's declaration with its byte offset as an int: {name, offset, width, dir, doc}."""
    table = _register_table(id(load_spec()))
    if name not in table:
        raise KeyError(f"unknown engine register {name!r}")
    return dict(table[name])


def registers() -> list[dict]:
    return [dict(r) for r in _register_table(id(load_spec())).values()]


@functools.lru_cache(maxsize=4)
def _register_table(spec_id: int) -> dict[str, dict]:
    """{name: declaration with an int offset}, built once per loaded spec (spec_id: which one)."""
    return {r["name"]: dict(r, offset=int(r["offset"], 16)) for r in load_spec()["registers"]}


def elementwise_lanes() -> int:
    """Words per cycle of the engine's laned element-wise loops (compute.elementwise_lanes)."""
    return int(_declared(_section("compute"), "elementwise_lanes", "compute parameter"))


def limit(name: str) -> int:
    """A compile-time size limit, e.g. limit('max_tokens')."""
    return int(_declared(_section("limits"), name, "engine limit"))


def status_code(name: str) -> int:
    return int(_declared(load_spec()["status_codes"], name, "status"))


def status_name(code: int) -> str:
    for name, value in load_spec()["status_codes"].items():
        if value == code:
            return name
    return f"UNKNOWN_STATUS_{code}"


def status_doc(code: int) -> str:
    return load_spec().get("status_doc", {}).get(status_name(code), "")


def flag(name: str) -> int:
    return int(_declared(load_spec()["flags"], name, "flag"))


def internal_frac(name: str) -> int:
    return int(load_spec()["internal"][name])


# --- which regions an op reads and which it writes (section dma), looked up once per op ---
# The engine burst-loads every region it reads and burst-stores every region it writes; the pynq
# backend's cache maintenance and the latency model's cost of it follow the same declaration.


@functools.cache
def op_access(name: str) -> tuple[tuple[str, str, str, bool, int], ...]:
    """(offset register, port, size expression, written?, flag it needs or 0) of every region the
    op moves: its declared regions, then its gradient frac table (read) and its stats (written)."""
    o = op(name)
    dma = load_spec()["dma"]
    writes = set(dma["writes"]) | (set(dma["writes_in_forward"]) if not name.endswith("_BWD") else set())
    needs = {"keys_off": flag("SPARSE"), "keep_off": flag("GATHER")}
    out = [
        (reg, port, size, reg in writes, needs.get(reg, 0))
        for reg, (port, size) in o.get("regions", {}).items()
        if reg != "gacc_off"
    ]
    count = len(o["tensors"])
    # GRAD_ACCUMULATE: the accumulators are read-modify-written (read skipped with GRAD_CLEAR: still
    # flushed, harmless), and the frac / stats tables double (size symbol G: 2 with the flag, else 1)
    if "gacc_off" in o.get("regions", {}):
        port, size = o["regions"]["gacc_off"]
        out += [
            ("gacc_off", port, size, False, flag("GRAD_ACCUMULATE")),
            ("gacc_off", port, size, True, flag("GRAD_ACCUMULATE")),
        ]
    tables = "*G" if "gacc_off" in o["regs"] else ""
    if "fracs_off" in o["regs"]:
        out.append(("fracs_off", "aux", f"{count}{tables}", "fracs_off" in writes, 0))
    out.append(("stats_off", "aux", f"{2 * count}{tables}", "stats_off" in writes, 0))
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def region_words(size: str, **dims: int) -> int:
    """Words of a region whose size is a layout name or a sum of products of layout symbols."""
    return layout_size(size, **dims) if size in _section("layouts") else _eval_extent(size, dims)


@functools.cache
def op_name(code: int) -> str | None:
    """The op with this opcode, or None."""
    return next((n for n in op_names() if opcode(n) == int(code)), None)


@functools.cache
def register_offset(name: str) -> int:
    """A register's byte offset (the hot path of every register access)."""
    return register(name)["offset"]


def _eval_extent(expr: str, dims: dict[str, int]) -> int:
    """Evaluates a size: a sum of products of integers and layout symbols ('N+1+Z', '3*D')."""
    total = 0
    for term in expr.split("+"):
        value = 1
        for factor in term.split("*"):
            factor = factor.strip()
            if factor.isdigit():
                value *= int(factor)
            elif factor in dims:
                value *= int(dims[factor])
            else:
                raise ValueError(f"size {expr!r} needs dimension {factor!r}; given: {', '.join(dims) or 'none'}")
        total += value
    return total


def layout(name: str, **dims: int) -> dict[str, tuple[int, tuple[int, ...]]]:
    """Word offset (relative to the region start) and shape of every tensor of a region layout.

    dims use the layout symbols: N, K, D, H, M, I, O, Z (see engine_spec.json layouts._doc).
    """
    return dict(_layout(name, **dims))


@functools.lru_cache(maxsize=4096)
def _layout(name: str, **dims: int) -> dict[str, tuple[int, tuple[int, ...]]]:
    """layout(), computed once per (layout, dims): the driver asks for the same few every call."""
    layouts = _section("layouts")
    if name not in layouts:
        raise KeyError(f"unknown layout {name!r}; known: {', '.join(layouts)}")
    out, offset = {}, 0
    for tensor, shape_exprs in layouts[name]:
        shape = tuple(_eval_extent(e, dims) for e in shape_exprs)
        out[tensor] = (offset, shape)
        offset += math.prod(shape)
    return out


def op_regions(name: str, **dims: int) -> dict[str, tuple[str, int]]:
    """{offset register: (port, words)} an op reads or writes, for the given layout symbols (the
    GRAD_ACCUMULATE accumulators at gacc_off are not among them: op_access has them, by flag)."""
    regions = {}
    for reg, (port, size) in op(name).get("regions", {}).items():
        if reg == "gacc_off":
            continue
        words = layout_size(size, **dims) if size in _section("layouts") else _eval_extent(size, dims)
        regions[reg] = (port, words)
    count = len(op_tensors(name))
    regions["stats_off"] = ("aux", 2 * count)
    if "fracs_off" in op(name)["regs"]:
        regions["fracs_off"] = ("aux", count)
    return regions


def layout_size(name: str, **dims: int) -> int:
    """Words a region of this layout occupies."""
    entries = _layout(name, **dims)
    if not entries:
        return 0
    offset, shape = list(entries.values())[-1]
    return offset + math.prod(shape)


GRAD_WORD_TARGET = 2**14 - 1  # the largest gradient word a frac aims at: one spare bit of headroom


def _clip_grad_frac(frac: int) -> int:
    g = load_spec()["formats"]["gradient"]
    return int(min(max(frac, int(g["frac_min"])), int(g["frac_max"])))


def grad_frac_for_peak(peak: float) -> int:
    """THE gradient-frac rule (engine driver, golden vectors and next_grad_frac all use it): the
    largest frac at which the largest |value| stays at or below 2^14 - 1 words (one spare bit),
    inside the declared [frac_min, frac_max]; the declared default frac for an all-zero tensor."""
    if not peak > 0:
        return int(load_spec()["formats"]["gradient"]["frac"])
    frac = math.floor(math.log2(GRAD_WORD_TARGET / peak))
    while peak * 2.0 ** (frac + 1) <= GRAD_WORD_TARGET:  # guard the float log2 at the boundaries
        frac += 1
    while peak * 2.0**frac > GRAD_WORD_TARGET:
        frac -= 1
    return _clip_grad_frac(frac)


def next_grad_frac(frac: int, max_abs: int, saturations: int) -> int:
    """Adapts a gradient tensor's exponent from the engine's stats of the last call.

    Saturated -> one bit more range (frac - 1). Otherwise move to grad_frac_for_peak of the value the
    largest word stood for (largest word at 2^13..2^14), never to a coarser frac. All-zero tensors
    keep their frac. Stays inside the declared [frac_min, frac_max].
    """
    if saturations > 0:
        return _clip_grad_frac(frac - 1)
    if max_abs <= 0:
        return _clip_grad_frac(frac)
    g = load_spec()["formats"]["gradient"]
    finer = frac + math.floor(math.log2(GRAD_WORD_TARGET / int(max_abs)))  # exact for integer words
    return _clip_grad_frac(max(frac, min(finer, int(g["frac_max"]))))


def grad_acc_frac(peak_frac: int, n_images: int) -> int:
    """Accumulator frac of a parameter gradient for a step of n_images (grad_accumulation): the
    frac of a peak-size image (peak_frac) plus the bits an int32 has left after n_images int16 words
    and one spare bit, inside the declared range. A smaller image (finer frac) then still adds exactly
    as long as its frac is at most this."""
    acc = load_spec()["grad_accumulation"]
    headroom = 31 - 15 - max(0, math.ceil(math.log2(max(1, n_images)))) - 1
    return int(min(max(peak_frac + headroom, int(acc["frac_min"])), int(acc["frac_max"])))
