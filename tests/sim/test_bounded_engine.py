"""The whole engine under the bounded-FIFO simulation: DeiT-Tiny ATTN/MLP blocks forward and
backward, dense and pruned + sparse, terminate without deadlock and are bit-identical to the
ordinary C-sim build (every output word, every counter)."""
from __future__ import annotations

import pytest

from engine_builds import build_tb, differing_outputs, run_tb, write_deit_tiny_cases

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    root = tmp_path_factory.mktemp("deit_tiny_cases")
    return root, write_deit_tiny_cases(root)


@pytest.fixture(scope="module")
def csim_reference(cases, tmp_path_factory):
    root, dirs = cases
    work = tmp_path_factory.mktemp("ref") / "csim"
    out = run_tb(build_tb("tb_onion_engine", []), root, work)
    assert out.returncode == 0, out.stdout + out.stderr
    return work


def test_bounded_engine_matches_csim_on_deit_tiny_blocks(cases, csim_reference, tmp_path):
    root, dirs = cases
    out = run_tb(build_tb("tb_onion_engine_bounded", [], bounded=True), root, tmp_path / "bounded")
    assert out.returncode == 0, out.stdout + out.stderr
    # the regions the engine has (part A converts them to ONION_DATAFLOW_*) ran concurrently; on a
    # tree without regions this still checks the bounded build's termination and bit-exactness
    print(out.stderr.strip() or "bounded-sim: the engine has no dataflow region or stream yet")
    assert differing_outputs(csim_reference, tmp_path / "bounded", dirs) == []


@pytest.mark.xfail(reason="main's mac_array_gemm_with fills depth-2 local streams before calling the array "
                          "(issue #10, item 1); part A's producer/array/consumer rewrite fixes it", strict=False,
                   raises=AssertionError)
def test_bounded_engine_with_the_rtl_switch(cases, tmp_path):
    root, dirs = cases
    ref = tmp_path / "rtl_csim"
    out = run_tb(build_tb("tb_onion_engine_rtl", ["-DONION_USE_RTL_GEMM"]), root, ref)
    assert out.returncode == 0, out.stdout + out.stderr
    out = run_tb(build_tb("tb_onion_engine_rtl_bounded", ["-DONION_USE_RTL_GEMM"], bounded=True), root,
                 tmp_path / "rtl_bounded")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert differing_outputs(ref, tmp_path / "rtl_bounded", dirs) == []
