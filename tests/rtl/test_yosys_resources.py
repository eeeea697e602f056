"""Yosys maps the array onto UltraScale+ primitives with exactly one DSP48E2 per multiply-accumulate
unit (a small array; the default size is reported in docs/rtl_resources.md)."""
from __future__ import annotations

import shutil

import pytest

from sim.yosys_resources import synthesise


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed (make setup installs it)")
def test_small_array_uses_one_dsp_per_pe():
    res = synthesise({"ROWS": 4, "COLS": 4, "MAX_M": 16})
    groups = res["groups"]
    assert groups["DSP"] == 4 * 4, res["cells"]
    assert groups["FF"] > 0 and groups["LUT"] > 0
