"""The DSP48E2 simulation model that stands in for the primitive in every RTL simulation, checked
against the slice's arithmetic (sim/cocotb/dsp48e2) on both simulators."""

from __future__ import annotations

import pytest

from sim.cocotb_runner import SIMULATORS, run_cocotb
from sim.toolchain import REPO

MODEL = REPO / "hw" / "rtl" / "sim" / "dsp48e2_model.v"
BENCH = REPO / "sim" / "cocotb" / "dsp48e2"


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_dsp48e2_model_arithmetic(simulator):
    ran, failed = run_cocotb(
        simulator,
        "DSP48E2",
        [MODEL],
        "test_dsp48e2_model",
        BENCH,
        parameters={
            "AREG": 1,
            "BREG": 2,
            "CREG": 1,
            "MREG": 1,
            "PREG": 1,
            "OPMODEREG": 0,
            "ALUMODEREG": 0,
            "INMODEREG": 0,
        },
        build_name="dsp48e2_model",
    )
    assert (ran, failed) == (1, 0), f"DSP48E2 model bench failed on {simulator} (see its log above)"
