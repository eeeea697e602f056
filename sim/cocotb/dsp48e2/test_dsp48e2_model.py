"""The DSP48E2 simulation model against the slice's arithmetic as UG579 describes it, re-implemented
here cycle by cycle: A2, B1 -> B2, C (enable, synchronous reset), M = A2[26:0] * B2 (27 x 18 signed),
P = W + M + Z with W in {0, C} and Z in {0, PCIN}, 48-bit wrap-around. Random operands (full
ranges, so products and sums wrap), random enables and resets, the three OPMODEs mac_array.v uses."""

from __future__ import annotations

import random

import cocotb
from cocotb.clock import Clock
from cocotb.handle import HierarchyObject
from cocotb.triggers import FallingEdge, ReadOnly

OPMODES = (0b11_000_0101, 0b00_001_0101, 0b11_001_0101)  # C + M, PCIN + M, PCIN + M + C
MASK48 = (1 << 48) - 1


def signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


@cocotb.test()
async def matches_ug579_arithmetic(dut: HierarchyObject) -> None:
    dut.OPMODE.value = OPMODES[0]  # before the first edge: the model stops on an OPMODE outside its subset
    cocotb.start_soon(Clock(dut.CLK, 10, unit="ns").start())
    rng = random.Random(7)
    for name in (
        "D",
        "ACIN",
        "BCIN",
        "CARRYCASCIN",
        "MULTSIGNIN",
        "CARRYIN",
        "CARRYINSEL",
        "ALUMODE",
        "INMODE",
        "CEA1",
        "CED",
        "CEAD",
        "CECTRL",
        "CEALUMODE",
        "CEINMODE",
        "CECARRYIN",
        "RSTA",
        "RSTB",
        "RSTD",
        "RSTM",
        "RSTP",
        "RSTCTRL",
        "RSTALUMODE",
        "RSTINMODE",
        "RSTALLCARRYIN",
    ):
        getattr(dut, name).value = 0
    dut.CEA2.value = dut.CEM.value = dut.CEP.value = 1
    state = {"a2": 0, "b1": 0, "b2": 0, "c": 0, "m": 0, "p": None}
    checked = 0
    for cycle in range(3000):
        await FallingEdge(dut.CLK)
        ins = {
            "A": rng.getrandbits(30),
            "B": rng.getrandbits(18),
            "C": rng.getrandbits(48),
            "PCIN": rng.getrandbits(48),
            "CEB1": rng.random() < 0.5,
            "CEB2": rng.random() < 0.5,
            "CEC": rng.random() < 0.5,
            "RSTC": rng.random() < 0.1,
            "OPMODE": rng.choice(OPMODES),
        }
        if cycle < 3:  # warm-up: load every register once, so nothing holds X
            ins.update(CEB1=True, CEB2=True, CEC=True, RSTC=True)
        for k, v in ins.items():
            getattr(dut, k).value = int(v)
        await ReadOnly()
        if state["p"] is not None:
            assert dut.P.value.to_unsigned() == state["p"] and dut.PCOUT.value.to_unsigned() == state["p"], (
                f"cycle {cycle}: P {dut.P.value.to_unsigned():#x} != {state['p']:#x}"
            )
            checked += 1
        # the rising edge that follows, per UG579 (every register samples its old inputs)
        op = ins["OPMODE"]
        w = state["c"] if op >> 7 == 0b11 else 0
        z = ins["PCIN"] if (op >> 4) & 0b111 == 0b001 else 0
        new_p = (w + state["m"] + z) & MASK48
        new_m = (signed(state["a2"], 27) * signed(state["b2"], 18)) & MASK48
        new_c = 0 if ins["RSTC"] else (ins["C"] if ins["CEC"] else state["c"])
        new_b2 = state["b1"] if ins["CEB2"] else state["b2"]
        new_b1 = ins["B"] if ins["CEB1"] else state["b1"]
        ready = cycle >= 3  # P is defined from the fourth edge on
        state.update(a2=ins["A"], b1=new_b1, b2=new_b2, c=new_c, m=new_m, p=new_p if ready else None)
    assert checked > 2900
