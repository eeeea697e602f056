"""The whole engine under the bounded-FIFO simulation: DeiT-Tiny ATTN/MLP blocks forward and
backward, dense and pruned + sparse, run every GEMM as the GEMM unit's dataflow region (feeder ->
MAC array -> drain as three concurrent SystemC processes over FIFOs of their declared depths),
terminate without deadlock and are bit-identical to the ordinary C-sim build (every output word,
every counter), with the default array and with the ONION_USE_RTL_GEMM blackbox."""

from __future__ import annotations

import re

import pytest
from engine_builds import build_tb, differing_outputs, run_tb

pytestmark = pytest.mark.slow


def test_bounded_engine_matches_csim_on_deit_tiny_blocks(cases, csim_reference, tmp_path):
    root, dirs = cases
    out = run_tb(build_tb("tb_onion_engine_bounded", [], bounded=True), root, tmp_path / "bounded")
    assert out.returncode == 0, out.stdout + out.stderr
    assert_regions_ran(out.stderr)
    assert differing_outputs(csim_reference, tmp_path / "bounded", dirs) == []


def assert_regions_ran(stderr: str) -> None:
    """The runtime's own count (ONION_BOUNDED_STATS): GEMM-unit regions ran, three processes each."""
    m = re.search(r"bounded-sim: (\d+) dataflow region\(s\) run, (\d+) process\(es\)", stderr)
    assert m, stderr[-2000:]
    regions, processes = int(m.group(1)), int(m.group(2))
    print(m.group(0))
    # one region per GEMM job (<= MAC_MAX_M = 512 rows); a dense DeiT-Tiny block (3 heads) has
    # ATTN_FWD 1 + 3 x 2 + 1, MLP_FWD 2, MLP_BWD 4 + 1 (fc1 weight gradient: 768 rows, two jobs),
    # ATTN_BWD 2 + 3 x 4 + 2 + 1 (qkv weight gradient: 576 rows) = 32 jobs; a masked schedule only
    # splits jobs into query blocks, so two cases run at least 64 regions
    assert regions >= 2 * 32
    assert processes == 3 * regions  # feeder, MAC array, drain per GEMM job


def test_bounded_engine_with_the_rtl_switch(cases, tmp_path):
    root, dirs = cases
    ref = tmp_path / "rtl_csim"
    out = run_tb(build_tb("tb_onion_engine_rtl", ["-DONION_USE_RTL_GEMM"]), root, ref)
    assert out.returncode == 0, out.stdout + out.stderr
    out = run_tb(
        build_tb("tb_onion_engine_rtl_bounded", ["-DONION_USE_RTL_GEMM"], bounded=True), root, tmp_path / "rtl_bounded"
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert_regions_ran(out.stderr)
    assert differing_outputs(ref, tmp_path / "rtl_bounded", dirs) == []
