"""The engine's one GEMM routine is bit-identical to onion::gemm_model (the RTL core's specification),
in each of its build variants, and the ONION_USE_RTL_GEMM switch (the RTL MAC array's blackbox,
C-simulated through its stream model) changes no bit of a whole encoder layer."""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from host import engine_spec as es
from sim import golden
from sim.cxx import compile_cxx

REPO = Path(__file__).resolve().parents[2]
TB = REPO / "hw" / "tb" / "tb_gemm_equivalence.cpp"


@pytest.mark.parametrize("variant", [[], ["-DONION_STREAMING_GEMM"]], ids=["csim-packed", "streaming"])
def test_engine_gemm_matches_gemm_model_bit_for_bit(variant):
    exe = compile_cxx([TB], "tb_gemm_equivalence", extra_flags=variant)
    out = subprocess.run([str(exe), "300", "7"], capture_output=True, text=True)
    jobs, mismatches, saturations = map(int, out.stdout.split())
    assert jobs == 300
    assert mismatches == 0, out.stdout + out.stderr
    assert saturations > 0  # the random jobs did exercise saturation


def test_rtl_gemm_switch_is_bit_identical_on_a_layer():
    from host.backends.csim import CsimBackend

    build = es.load_spec()["csim_build"]
    sources = [REPO / s for s in build["sources"] + build["rtl_gemm_sources"]]
    lib = compile_cxx(sources, "onion_engine_rtl_gemm", shared=True, extra_flags=["-O2", "-DONION_USE_RTL_GEMM"])
    case = golden.block_case("onion_tiny", keep_ratio=0.7, r_a=0.3, sparse=True, n_tokens=33, seed=41)
    words = {p: max(case.sizes[p], 1) for p in golden.PORTS}
    ref, ref_counts = golden.run_case_csim(case, CsimBackend(words=words))
    got, got_counts = golden.run_case_csim(case, CsimBackend(words=words, lib_path=lib))
    for p in golden.PORTS:
        assert np.array_equal(ref[p], got[p]), f"port {p} differs with ONION_USE_RTL_GEMM"
    assert ref_counts == got_counts
