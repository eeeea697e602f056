"""cocotb bench of the MAC-array core: every job bit-exact against onion::gemm_model (C++, ctypes).

Environment (set by tests/rtl and bench/bench_rtl.py through sim.cocotb_runner):
  MAC_CASES    .npz of cases written by vectors.save_cases
  MAC_REF_LIB  shared library built from gemm_ref.cpp
  MAC_RESULTS  .npz this bench writes: per case the core's C, saturations and measured cycles
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly

from sim.cocotb.mac_array import mac_reference as reference
from sim.cocotb.mac_array.mac_driver import Stalls, idle_inputs, reset, run_job
from sim.cocotb.mac_array.mac_vectors import load_cases

if TYPE_CHECKING:
    from cocotb.handle import HierarchyObject


async def setup(dut: HierarchyObject) -> None:
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    idle_inputs(dut)
    await reset(dut)


def expected(case: dict) -> tuple[np.ndarray, int]:
    return reference.gemm_ref(case["a"], case["b"], case.get("bias"), case["bias_lshift"], case["shift"])


async def run_and_check(dut: HierarchyObject, case: dict) -> dict:
    stalls = Stalls(**case["stalls"]) if case.get("stalls") else Stalls()
    res = await run_job(dut, case["a"], case["b"], case.get("bias"), case["bias_lshift"], case["shift"], stalls)
    want, want_sat = expected(case)
    bad = np.argwhere(res.c != want)
    assert bad.size == 0, (
        f"{case['name']}: {len(bad)} mismatches, first at {tuple(bad[0])}: "
        f"core {res.c[tuple(bad[0])]} != model {want[tuple(bad[0])]}"
    )
    assert res.sat_count == want_sat, f"{case['name']}: sat_count {res.sat_count} != model {want_sat}"
    return {"c": res.c, "sat": res.sat_count, "cycles": res.cycles}


@cocotb.test()
async def gemm_cases(dut: HierarchyObject) -> None:
    """All cases of MAC_CASES, in order; results (and cycles) go to MAC_RESULTS."""
    await setup(dut)
    cases = load_cases(os.environ["MAC_CASES"])
    results, meta = {}, []
    for i, case in enumerate(cases):
        r = await run_and_check(dut, case)
        results[f"c{i}"] = r["c"]
        meta.append({"name": case["name"], "cycles": r["cycles"], "sat": r["sat"]})
        dut._log.info(
            "%-40s M=%4d N=%4d K=%4d cycles=%6d",
            case["name"],
            *case["a"].shape[:1],
            case["b"].shape[0],
            case["a"].shape[1],
            r["cycles"],
        )
    out = os.environ.get("MAC_RESULTS")
    if out:
        np.savez(out, meta=np.array(json.dumps(meta)), **results)


@cocotb.test()
async def reset_mid_tile(dut: HierarchyObject) -> None:
    """A reset in the middle of a tile (and in the middle of the result stream) leaves no trace."""
    await setup(dut)
    rng = np.random.default_rng(11)
    rows, cols = int(dut.ROWS.value), int(dut.COLS.value)
    a = rng.integers(-2000, 2000, (9, 3 * rows + 1), dtype=np.int16)
    b = rng.integers(-2000, 2000, (2 * cols + 3, 3 * rows + 1), dtype=np.int16)
    bias = rng.integers(-500, 500, 2 * cols + 3, dtype=np.int16)
    case = {
        "name": "after_reset",
        "a": a,
        "b": b,
        "bias": bias,
        "bias_lshift": 4,
        "shift": 9,
        "stalls": {"a": 0.3, "b": 0.3, "c": 0.3, "seed": 5},
    }
    for abort_after in (rows + 5, 2 * (rows + 9) + 3, 60):  # inside the first tiles / the output
        await run_job(dut, a, b, bias, 4, 9, Stalls(0.2, 0.2, 0.4, abort_after), abort_after=abort_after)
        await reset(dut, cycles=1)
        await ReadOnly()
        assert int(dut.busy.value) == 0 and int(dut.c_valid.value) == 0
        await run_and_check(dut, case)


@cocotb.test()
async def rejects_bad_config(dut: HierarchyObject) -> None:
    """Out-of-range fields raise cfg_error and start nothing; the next good job still runs."""
    await setup(dut)
    max_m = int(dut.MAX_M.value)
    for field, value in (
        ("cfg_m", 0),
        ("cfg_m", max_m + 1),
        ("cfg_n", 0),
        ("cfg_k", 0),
        ("cfg_shift", -17),
        ("cfg_shift", 48),
        ("cfg_bias_lshift", 33),
    ):
        await FallingEdge(dut.clk)
        dut.cfg_m.value, dut.cfg_n.value, dut.cfg_k.value = 3, 3, 3
        dut.cfg_shift.value, dut.cfg_bias_lshift.value, dut.cfg_bias_en.value = 0, 0, 0
        getattr(dut, field).value = value
        dut.start.value = 1
        await FallingEdge(dut.clk)
        dut.start.value = 0
        await ReadOnly()
        assert int(dut.cfg_error.value) == 1, f"{field}={value} accepted"
        assert int(dut.busy.value) == 0
    rng = np.random.default_rng(3)
    case = {
        "name": "after_error",
        "a": rng.integers(-99, 99, (3, 5), dtype=np.int16),
        "b": rng.integers(-99, 99, (6, 5), dtype=np.int16),
        "bias_lshift": 0,
        "shift": 2,
    }
    await run_and_check(dut, case)
    assert int(dut.cfg_error.value) == 0
