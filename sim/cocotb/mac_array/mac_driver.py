"""Drives one GEMM job through the mac_array core's three valid/ready streams, cycle by cycle.

One coroutine owns the whole interface: each cycle it drives at the falling edge, waits for the
values to settle (ReadOnly) and counts the handshakes that the next rising edge will perform.
Random gaps on A/B and random not-ready on C model back-pressure; a beat once offered stays
offered until taken (AXI-Stream rule).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from cocotb.handle import HierarchyObject


def pack_lanes(words: np.ndarray) -> int:
    """int16 lanes -> bus integer, lane i in bits [16 i, 16 i + 16)."""
    return int.from_bytes(np.ascontiguousarray(words, dtype="<i2").tobytes(), "little")


def unpack_lanes(value: int, lanes: int) -> np.ndarray:
    return np.frombuffer(int(value).to_bytes(2 * lanes, "little"), dtype="<i2").astype(np.int16)


def operand_beats(
    a: np.ndarray, b: np.ndarray, bias: ArrayLike | None, rows: int, cols: int
) -> tuple[list[int], list[int]]:
    """A and B beats in the core's order: per n-tile, per k-tile: [bias], ROWS B beats, M A beats.

    Padding past N or K is zero (the core masks A lanes past K and ignores columns past N).
    """
    m, k = a.shape
    n = b.shape[0]
    n_tiles, k_tiles = -(-n // cols), -(-k // rows)
    a_pad = np.zeros((m, k_tiles * rows), np.int16)
    a_pad[:, :k] = a
    b_pad = np.zeros((n_tiles * cols, k_tiles * rows), np.int16)
    b_pad[:n, :k] = b
    bias_pad = np.zeros(n_tiles * cols, np.int16)
    if bias is not None:
        bias_pad[:n] = bias
    a_tiles = [[pack_lanes(a_pad[i, kt * rows : (kt + 1) * rows]) for i in range(m)] for kt in range(k_tiles)]
    a_beats, b_beats = [], []
    for nt in range(n_tiles):
        cols_slice = slice(nt * cols, (nt + 1) * cols)
        for kt in range(k_tiles):
            if bias is not None and kt == 0:
                b_beats.append(pack_lanes(bias_pad[cols_slice]))
            for r in range(rows):
                b_beats.append(pack_lanes(b_pad[cols_slice, kt * rows + r]))
            a_beats.extend(a_tiles[kt])
    return a_beats, b_beats


@dataclass
class Stalls:
    """Probabilities, per cycle, of a gap on A, a gap on B and of C not being ready."""

    a: float = 0.0
    b: float = 0.0
    c: float = 0.0
    seed: int = 0


@dataclass
class JobResult:
    c: np.ndarray
    sat_count: int
    cycles: int  # start cycle .. last C handshake, inclusive
    a_beats: int = 0
    b_beats: int = 0
    extra: dict = field(default_factory=dict)


def idle_inputs(dut: HierarchyObject) -> None:
    dut.start.value = 0
    dut.a_valid.value = 0
    dut.b_valid.value = 0
    dut.c_ready.value = 0


async def run_job(
    dut: HierarchyObject,
    a: ArrayLike,
    b: ArrayLike,
    bias: ArrayLike | None = None,
    bias_lshift: int = 0,
    shift: int = 0,
    stalls: Stalls | None = None,
    max_cycles: int | None = None,
    abort_after: int | None = None,
) -> JobResult | None:
    """Runs one job; returns None if aborted after `abort_after` cycles (for reset tests)."""
    rows, cols = int(dut.ROWS.value), int(dut.COLS.value)
    stalls = stalls or Stalls()
    rng = random.Random(stalls.seed)
    a = np.asarray(a, np.int16)
    b = np.asarray(b, np.int16)
    m, n = a.shape[0], b.shape[0]
    a_beats, b_beats = operand_beats(a, b, bias, rows, cols)
    n_tiles = -(-n // cols)
    out = np.zeros((n_tiles * m, cols), np.int16)
    limit = max_cycles or 50 * (len(a_beats) + len(b_beats) + len(out)) + 1000

    await FallingEdge(dut.clk)
    dut.cfg_m.value = m
    dut.cfg_n.value = n
    dut.cfg_k.value = a.shape[1]
    dut.cfg_shift.value = shift
    dut.cfg_bias_en.value = int(bias is not None)
    dut.cfg_bias_lshift.value = bias_lshift
    dut.start.value = 1
    await ReadOnly()
    assert int(dut.busy.value) == 0, "core busy at start"
    ai = bi = ci = 0
    a_hold = b_hold = False
    cycle = 0
    while True:
        await FallingEdge(dut.clk)
        cycle += 1
        dut.start.value = 0
        if abort_after is not None and cycle >= abort_after:
            idle_inputs(dut)
            return None
        if not a_hold and ai < len(a_beats) and rng.random() >= stalls.a:
            a_hold = True
            dut.a_data.value = a_beats[ai]
        if not b_hold and bi < len(b_beats) and rng.random() >= stalls.b:
            b_hold = True
            dut.b_data.value = b_beats[bi]
        dut.a_valid.value = int(a_hold)
        dut.b_valid.value = int(b_hold)
        dut.c_ready.value = int(rng.random() >= stalls.c)
        await ReadOnly()
        if a_hold and int(dut.a_ready.value):
            a_hold, ai = False, ai + 1
        if b_hold and int(dut.b_ready.value):
            b_hold, bi = False, bi + 1
        if int(dut.c_valid.value) and int(dut.c_ready.value):
            if ci >= len(out):
                raise AssertionError(f"core emitted more than {len(out)} result beats")
            out[ci] = unpack_lanes(dut.c_data.value.to_unsigned(), cols)
            ci += 1
            if int(dut.c_last.value):
                break
        if cycle > limit:
            raise AssertionError(
                f"job M={m} N={n} K={a.shape[1]} hung: {ai}/{len(a_beats)} A, "
                f"{bi}/{len(b_beats)} B, {ci}/{len(out)} C beats after {cycle} cycles"
            )
    cycles = cycle + 1
    await FallingEdge(dut.clk)
    idle_inputs(dut)
    await ReadOnly()
    assert ci == len(out), f"c_last after {ci} of {len(out)} beats"
    assert ai == len(a_beats) and bi == len(b_beats), "job ended before all operands were taken"
    assert int(dut.busy.value) == 0, "core still busy after its last result"
    c = np.concatenate([out[nt * m : (nt + 1) * m] for nt in range(n_tiles)], axis=1)[:, :n]
    return JobResult(c=c, sat_count=int(dut.sat_count.value), cycles=cycles, a_beats=len(a_beats), b_beats=len(b_beats))


async def reset(dut: HierarchyObject, cycles: int = 2) -> None:
    await FallingEdge(dut.clk)
    idle_inputs(dut)
    dut.rst.value = 1
    for _ in range(cycles):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
