"""A trivial cocotb bench runs on both simulators and checks a real fixed-point result."""

import pytest

from sim.cocotb_runner import SIMULATORS, run_cocotb
from sim.toolchain import REPO

BENCH = REPO / "sim" / "cocotb" / "smoke"


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_fixed_mul_bench(simulator):
    ran, failed = run_cocotb(simulator, "fixed_mul", [BENCH / "fixed_mul.v"], "test_fixed_mul", BENCH)
    assert ran == 1 and failed == 0
