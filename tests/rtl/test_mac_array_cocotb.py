"""The MAC-array RTL on Icarus and Verilator: bit-exact against onion::gemm_model (checked inside the
bench), within the rounding bound of PyTorch float, cycle counts equal to the cycle model, and the
two simulators agree."""

from __future__ import annotations

import json

import numpy as np
import pytest

from host import cycle_model
from sim.cocotb_runner import SIMULATORS, run_cocotb
from sim.toolchain import BUILD

_results: dict[str, list] = {}


def _run(simulator, ref_lib, cases_path, geometry, rtl_sources, bench_dir):
    out = BUILD / "rtl" / f"results_{simulator}.npz"
    out.unlink(missing_ok=True)
    ran, failed = run_cocotb(
        simulator,
        "mac_array",
        rtl_sources,
        "test_mac_array",
        bench_dir,
        parameters=geometry,
        extra_env={"MAC_CASES": str(cases_path), "MAC_REF_LIB": str(ref_lib), "MAC_RESULTS": str(out)},
    )
    assert (ran, failed) == (3, 0), f"{failed} of {ran} cocotb tests failed on {simulator} (see its log above)"
    data = np.load(out)
    meta = json.loads(str(data["meta"]))
    return [dict(m, c=data[f"c{i}"]) for i, m in enumerate(meta)]


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.slow
def test_mac_array_bench(simulator, ref_lib, bench_cases, geometry, rtl_sources, bench_dir):
    cases, path = bench_cases
    results = _run(simulator, ref_lib, path, geometry, rtl_sources, bench_dir)
    _results[simulator] = results
    assert len(results) == len(cases)
    g = geometry
    for case, res in zip(cases, results):
        m, k = case["a"].shape
        n = case["b"].shape[0]
        if not case.get("stalls"):  # without back-pressure the cycle model is exact
            model = cycle_model.gemm_cycles(
                m, n, k, bias=case.get("bias") is not None, rows=g["ROWS"], cols=g["COLS"], max_m=g["MAX_M"]
            )
            assert res["cycles"] == model, f"{case['name']}: RTL took {res['cycles']} cycles, model says {model}"
        if case.get("ref") is not None:  # PyTorch float reference, within the worst-case rounding bound
            got = res["c"].astype(np.float64) * 2.0 ** -case["frac_out"]
            err = np.abs(got - case["ref"])
            assert (err <= case["bound"] + 1e-12).all(), (
                f"{case['name']}: max error {err.max():.3g} exceeds bound at {np.unravel_index(np.argmax(err - case['bound']), err.shape)}"
            )


def test_simulators_agree():
    if len(_results) < 2:
        pytest.skip("needs both simulator runs in this session")
    for a, b in zip(_results["icarus"], _results["verilator"]):
        assert np.array_equal(a["c"], b["c"]) and a["cycles"] == b["cycles"], a["name"]


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.slow
def test_hls_blackbox_wrapper(simulator, ref_lib, geometry, rtl_sources, bench_dir):
    wrapper = rtl_sources[0].parent / "mac_array_hls.v"
    wrapper_geometry = {k: geometry[k] for k in ("ROWS", "COLS", "MAX_M")}  # the wrapper's parameters
    ran, failed = run_cocotb(
        simulator,
        "mac_array_hls",
        [wrapper, *rtl_sources],
        "test_mac_array_hls",
        bench_dir,
        parameters=wrapper_geometry,
        extra_env={"MAC_REF_LIB": str(ref_lib)},
    )
    assert (ran, failed) == (1, 0), f"HLS wrapper bench failed on {simulator} (see its log above)"
