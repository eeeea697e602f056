"""The synthesis branch of the engine (-D__SYNTHESIS__, sim/synth_check) compiles with g++, with and
without the RTL switch, links, and runs whole DeiT-Tiny blocks (ATTN/MLP forward and backward,
dense and pruned + sparse) bit-identical to the C-sim build: every output word and counter."""

from __future__ import annotations

import pytest
from engine_builds import build_tb, differing_outputs, run_tb

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("rtl", [False, True], ids=["hls_gemm", "rtl_gemm"])
def test_synthesis_branch_matches_csim(cases, csim_reference, tmp_path, rtl):
    root, dirs = cases
    flags = ["-DONION_USE_RTL_GEMM"] if rtl else []
    exe = build_tb("tb_onion_engine_synth" + ("_rtl" if rtl else ""), flags, synth_check=True)
    out = run_tb(exe, root, tmp_path / "synth")
    assert out.returncode == 0, out.stdout + out.stderr
    assert differing_outputs(csim_reference, tmp_path / "synth", dirs) == []


def test_the_shim_only_hides_the_macro_from_ap_types(tmp_path):
    """Without the shim the open ap_types refuse __SYNTHESIS__; with it the engine still sees the macro."""
    import subprocess

    from sim.cxx import SIM_INCLUDE, SYNTH_CHECK_INCLUDE
    from sim.toolchain import ap_types_include

    src = tmp_path / "probe.cpp"
    src.write_text(
        '#include "ap_int.h"\n#ifndef __SYNTHESIS__\n#error "macro lost"\n#endif\n'
        "int main() { ap_int<128> x = 3; return (int)(x * x - 9); }\n"
    )
    base = ["g++", "-std=c++17", "-fsyntax-only", "-D__SYNTHESIS__", "-I", str(SIM_INCLUDE)]
    bare = subprocess.run([*base, "-isystem", str(ap_types_include()), str(src)], capture_output=True, text=True)
    assert bare.returncode != 0 and "does not support synthesis" in bare.stderr
    shim = subprocess.run(
        [*base, "-I", str(SYNTH_CHECK_INCLUDE), "-isystem", str(ap_types_include()), str(src)],
        capture_output=True,
        text=True,
    )
    assert shim.returncode == 0, shim.stderr
