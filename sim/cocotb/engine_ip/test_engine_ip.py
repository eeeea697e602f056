"""cocotb bench for the engine RTL that `make hls` exports (hw/build/hls/rtl): replays one op
recorded from the C-sim backend and checks memories, status and counters bit for bit.

The s_axilite control port is driven with cocotbext-axi's AxiLiteMaster at the register offsets of
hw/spec/engine_spec.json; each m_axi port is served by an AxiRam holding that port's memory, at
base address 0 (so the word offsets in the registers are the memories' own indices).
Environment: ONION_ENGINE_IP_CASE (the .npz of linear_case.py), ONION_ENGINE_IP_PERIOD_NS.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.handle import HierarchyObject
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

from host import engine_spec

AP_START, AP_DONE = 0x1, 0x2
DTYPES = {"int16": np.int16, "int32": np.int32}


def reg_offset(name: str) -> int:
    return int(engine_spec.register(name)["offset"])


async def write_register(axil: AxiLiteMaster, name: str, value: int) -> None:
    reg = engine_spec.register(name)
    await axil.write_dword(int(reg["offset"]), value & 0xFFFFFFFF)
    if int(reg["width"]) == 64:
        await axil.write_dword(int(reg["offset"]) + 4, (value >> 32) & 0xFFFFFFFF)


@cocotb.test()
async def op_matches_csim(dut: HierarchyObject) -> None:
    case = np.load(os.environ["ONION_ENGINE_IP_CASE"])
    period_ns = float(os.environ.get("ONION_ENGINE_IP_PERIOD_NS", "6.667"))
    period_ps = 2 * round(period_ns * 500)  # whole, even picoseconds (1 ps precision)
    cocotb.start_soon(Clock(dut.ap_clk, period_ps, unit="ps").start())
    ports = engine_spec.load_spec()["ports"]
    rams = {}
    for port in ("wts", "act", "grd", "aux"):
        words = case[f"before_{port}"]
        size = 1 << max(12, int(words.nbytes - 1).bit_length())
        bus = AxiBus.from_prefix(dut, f"m_axi_{ports[port]['bundle']}")
        rams[port] = AxiRam(bus, dut.ap_clk, dut.ap_rst_n, reset_active_level=False, size=size)
        rams[port].write(0, words.tobytes())
    axil = AxiLiteMaster(
        AxiLiteBus.from_prefix(dut, "s_axi_control"), dut.ap_clk, dut.ap_rst_n, reset_active_level=False
    )

    dut.ap_rst_n.value = 0
    await ClockCycles(dut.ap_clk, 16)
    dut.ap_rst_n.value = 1
    await ClockCycles(dut.ap_clk, 16)

    for port in rams:
        await write_register(axil, f"{port}_addr", 0)
    await write_register(axil, "opcode", int(case["opcode"]))
    for name, value in zip(case["reg_names"], case["reg_values"]):
        await write_register(axil, str(name), int(value))
    await axil.write_dword(reg_offset("ctrl"), AP_START)

    for _ in range(20000):  # x 64 cycles: generous for the small recorded op
        if await axil.read_dword(reg_offset("ctrl")) & AP_DONE:
            break
        await ClockCycles(dut.ap_clk, 64)
    else:
        raise AssertionError("engine never raised ap_done")

    status = await axil.read_dword(reg_offset("status"))
    assert status == int(case["status"]), f"status {status}, C-sim {int(case['status'])}"
    macs = await axil.read_dword(reg_offset("macs_lo")) | (await axil.read_dword(reg_offset("macs_hi")) << 32)
    assert macs == int(case["macs"]), f"macs {macs}, C-sim {int(case['macs'])}"
    assert await axil.read_dword(reg_offset("saturations")) == int(case["saturations"])
    for port, ram in rams.items():
        want = case[f"after_{port}"]
        got = np.frombuffer(ram.read(0, want.nbytes), dtype=DTYPES[ports[port]["word"]])
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, (
            f"{port}: {bad.size} words differ, first at {bad[0]}: RTL {got[bad[0]]}, C-sim {want[bad[0]]}"
        )
