"""cocotb bench for fixed_mul: random and corner operands against Python integers."""

from __future__ import annotations

import random

import cocotb
from cocotb.clock import Clock
from cocotb.handle import HierarchyObject
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge


def expected(a: int, b: int) -> int:
    return max(-32768, min(32767, (a * b + (1 << 15)) >> 16))


@cocotb.test()
async def multiply_matches_python(dut: HierarchyObject) -> None:
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    rng = random.Random(7)
    cases = [(-32768, -32768), (32767, 32767), (0, 0), (1, -1)]
    cases += [(rng.randint(-32768, 32767), rng.randint(-32768, 32767)) for _ in range(200)]
    for a, b in cases:
        await FallingEdge(dut.clk)  # drive away from the sampling edge
        dut.a.value = a
        dut.b.value = b
        await RisingEdge(dut.clk)
        await ReadOnly()
        assert dut.p.value.to_signed() == expected(a, b), (a, b)
