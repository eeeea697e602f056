"""Shared set-up of the RTL tests: the C++ reference library and the bench's case files."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.cocotb.mac_array import RTL_SIM_SOURCES
from sim.toolchain import BUILD, REPO

BENCH_DIR = REPO / "sim" / "cocotb" / "mac_array"
# the core + the DSP48E2 simulation model (synthesis uses the primitive instead)
RTL_SOURCES = list(RTL_SIM_SOURCES)
# the small array the unit tests simulate (the default 32x64 runs in `make bench`)
# (small broadcast groups, so the per-group copies of the A lanes, B beat and controls are exercised)
TEST_GEOMETRY = {"ROWS": 4, "COLS": 8, "MAX_M": 256, "COL_GROUP": 4, "ROW_GROUP": 2}


@pytest.fixture(scope="session")
def geometry() -> dict:
    return dict(TEST_GEOMETRY)


@pytest.fixture(scope="session")
def rtl_sources() -> list[Path]:
    return list(RTL_SOURCES)


@pytest.fixture(scope="session")
def bench_dir() -> Path:
    return BENCH_DIR


@pytest.fixture(scope="session")
def ref_lib() -> Path:
    from sim.cocotb.mac_array import mac_reference as reference

    return reference.build_library()


@pytest.fixture(scope="session")
def bench_cases():
    """(cases, path of their .npz): corner cases first, then the PyTorch layer products."""
    from sim.cocotb.mac_array import mac_torch_vectors as torch_vectors
    from sim.cocotb.mac_array import mac_vectors as vectors

    g = TEST_GEOMETRY
    cases = vectors.corner_cases(g["ROWS"], g["COLS"], g["MAX_M"]) + torch_vectors.test_cases(g["ROWS"], g["COLS"])
    out_dir = BUILD / "rtl"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "cases_{ROWS}x{COLS}.npz".format(**g)
    vectors.save_cases(cases, path)
    return cases, path
