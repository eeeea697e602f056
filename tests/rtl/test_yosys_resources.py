"""Yosys (synth_xilinx -family xcup) on an 8 x 8 array: the multiply-accumulate lives in the DSP48E2
slices the way a timing-closed FPGA design uses them, and little fabric is left per processing
element. The default size is reported in docs/rtl_resources.md (python -m sim.yosys_resources)."""

from __future__ import annotations

import shutil

import pytest

from sim.yosys_resources import synthesise

ROWS, COLS = 8, 8


@pytest.fixture(scope="module")
def synth():
    if shutil.which("yosys") is None:
        pytest.skip("yosys not installed (make setup installs it)")
    return synthesise({"ROWS": ROWS, "COLS": COLS, "MAX_M": 512})


def test_one_registered_dsp_per_pe(synth):
    dsp = synth["dsp"]
    assert synth["groups"]["DSP"] == dsp["count"] == ROWS * COLS, synth["cells"]
    assert dsp["mreg_preg"] >= 0.9 * dsp["count"], dsp  # MREG and PREG set
    assert dsp["areg_breg"] == dsp["count"], dsp  # operand registers in the slice


def test_every_column_is_a_pcin_cascade(synth):
    dsp = synth["dsp"]
    assert dsp["chains"] == [ROWS] * COLS, dsp  # PCOUT -> PCIN through each column
    assert dsp["cascade_links"] == (ROWS - 1) * COLS


def test_little_fabric_per_pe(synth):
    pes = ROWS * COLS
    g = synth["groups"]
    assert g["CARRY"] <= 3 * pes, g  # no fabric adder trees
    assert g["LUT"] <= 40 * pes, g  # LUT1-6 and INV cells
    assert g["BRAM18"] + 2 * g["BRAM36"] > 0, g  # accumulator memory in block RAM


def test_longest_path_is_short(synth):
    levels = synth["logic_levels"]
    assert 0 < levels["levels"] <= 12, levels
