"""The bounded-FIFO dataflow simulation (sim/bounded/, docs/bounded_sim.md): every dataflow process
runs concurrently and every hls::stream blocks at its declared depth; a deadlock ends the program
with a report. It passes correct regions, catches the old fill-then-call pattern, runs the
Verilated RTL MAC array in the loop, and runs whole DeiT-Tiny layers bit-identical to C-sim."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sim.cocotb.mac_array import RTL_SIM_SOURCES  # the core + the DSP48E2 simulation model
from sim.cxx import build_verilated, compile_cxx

TB = Path(__file__).resolve().parents[2] / "hw" / "tb"  # every C++ test program lives there
DEADLOCK_EXIT = 86  # ONION_BOUNDED_DEADLOCK_EXIT
RTL_GEOMETRY = {"ROWS": 4, "COLS": 8, "MAX_M": 64}  # small, so Verilator builds in seconds


@pytest.fixture(scope="module")
def regions_exe() -> Path:
    return compile_cxx([TB / "tb_bounded_regions.cpp"], "bounded_regions", bounded=True)


def run(exe: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout)


def test_correct_regions_pass_at_depth_2_flat_and_nested(regions_exe):
    out = run(regions_exe, "pass")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("ok sum")


@pytest.mark.parametrize(
    "mode,blocked",
    [
        ("fill_then_call", "FIFO 'job_in' (depth 2) is full (write) outside any dataflow process"),
        ("fill_in_process", "process fill_then_call               blocked on FIFO 'job_in' (depth 2): full (write)"),
        ("cycle", "blocked on FIFO 'y' (depth 2): empty (read)"),
    ],
)
def test_deadlock_is_reported_with_the_blocked_fifo(regions_exe, mode, blocked):
    out = run(regions_exe, mode)
    assert out.returncode == DEADLOCK_EXIT, out.stdout + out.stderr
    assert "bounded-sim DEADLOCK" in out.stderr and blocked in out.stderr
    assert "finished" not in out.stdout


def test_wall_clock_watchdog_ends_a_livelock(regions_exe):
    out = subprocess.run(
        [str(regions_exe), "livelock"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, ONION_BOUNDED_TIMEOUT_S="2"),
    )
    assert out.returncode == DEADLOCK_EXIT, out.stdout + out.stderr
    assert "did not finish within 2.0" in out.stderr and "process consume" in out.stderr


def test_unbounded_csim_hides_the_fill_then_call_deadlock():
    """Why the bounded build exists: ordinary C-sim streams are unbounded, so the same code passes."""
    exe = compile_cxx([TB / "tb_bounded_regions.cpp"], "bounded_regions_unbounded")
    out = run(exe, "fill_then_call")
    assert out.returncode == 0 and "finished: no deadlock detected" in out.stdout
    out = run(exe, "pass")  # the macros are plain sequential calls there, same result
    assert (
        out.returncode == 0
        and out.stdout
        == run(compile_cxx([TB / "tb_bounded_regions.cpp"], "bounded_regions", bounded=True), "pass").stdout
    )


@pytest.fixture(scope="module")
def rtl_gemm_exe() -> Path:
    g = RTL_GEOMETRY
    return build_verilated(
        RTL_SIM_SOURCES,
        "mac_array",
        g,
        TB / "tb_bounded_rtl_gemm.cpp",
        "bounded_rtl_gemm",
        cxx_flags=[f"-DMAC_TEST_{k}={v}" for k, v in g.items()],
    )


def test_verilated_mac_array_in_the_loop_is_bit_exact_and_on_the_cycle_model(rtl_gemm_exe):
    out = run(rtl_gemm_exe, "pass")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("gemm ")]
    assert len(lines) == 7 and all("mismatches 0" in ln and "FAIL" not in ln for ln in lines)
    for ln in lines:  # measured cycles == gemm_cycles (the producer and consumer never starve the core)
        words = ln.split()
        assert words[words.index("cycles") + 1] == words[words.index("model") + 1], ln


@pytest.mark.slow
def test_deit_tiny_qkv_gemm_through_the_verilated_core(rtl_gemm_exe):
    """A whole DeiT-Tiny QKV GEMM (197 x 576 x 192, bias) streamed through depth-2 FIFOs."""
    out = run(rtl_gemm_exe, "shape", "197", "576", "192", "1")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "mismatches 0" in out.stdout and "FAIL" not in out.stdout


@pytest.mark.slow
@pytest.mark.slow
def test_default_geometry_core_in_the_loop_on_deit_tiny_gemms():
    """The engine's own 32x64 array (geometry from engine_spec.json; Verilator needs ~3 min on 2 cores):
    the unit shapes and DeiT-Tiny's QKV and projection GEMMs, bit-exact and on the cycle model."""
    from host import engine_spec as es

    mac = es.load_spec()["mac_array"]
    g = {"ROWS": mac["rows"], "COLS": mac["cols"], "MAX_M": mac["max_m"]}
    exe = build_verilated(
        RTL_SIM_SOURCES,
        "mac_array",
        g,
        TB / "tb_bounded_rtl_gemm.cpp",
        "bounded_rtl_gemm_default",
        cxx_flags=[f"-DMAC_TEST_{k}={v}" for k, v in g.items()],
    )
    for args in (("pass",), ("shape", "197", "576", "192", "1"), ("shape", "197", "192", "192", "1")):
        out = run(exe, *args)
        assert out.returncode == 0 and "FAIL" not in out.stdout, out.stdout + out.stderr


def test_verilated_mac_array_behind_fill_then_call_deadlocks(rtl_gemm_exe):
    out = run(rtl_gemm_exe, "fill_then_call")
    assert out.returncode == DEADLOCK_EXIT, out.stdout + out.stderr
    assert "blocked on FIFO 'b_stream' (depth 2): full (write)" in out.stderr
