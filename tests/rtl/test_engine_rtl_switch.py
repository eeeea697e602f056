"""The engine's GEMM with ONION_USE_RTL_GEMM compiles against the blackbox header and stays
bit-exact with onion::gemm_model (row gathers, transposed operands, shifts down to -20)."""

from __future__ import annotations

import subprocess

import pytest

from sim.cxx import compile_cxx
from sim.toolchain import REPO

ENGINE_GEMM = REPO / "hw" / "include" / "onion" / "engine_gemm.h"


@pytest.mark.skipif(not ENGINE_GEMM.exists(), reason="the HLS engine (engine_gemm.h) is not in this tree")
def test_engine_gemm_through_the_blackbox():
    exe = compile_cxx(
        [REPO / "hw" / "tb" / "tb_engine_rtl_switch.cpp", REPO / "hw" / "rtl" / "mac_array_model.cpp"],
        "engine_rtl_switch",
        extra_flags=["-Wno-unknown-pragmas", "-Wno-maybe-uninitialized"],
    )
    result = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
