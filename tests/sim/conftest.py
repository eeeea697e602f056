"""Shared set-up of the bounded-simulation and synthesis-branch tests: engine_builds.py importable, and
the DeiT-Tiny cases and their C-sim reference outputs, made once for both test files."""

import sys
from pathlib import Path

import pytest

from model.torchvision_compat import ensure_torchvision_importable

ensure_torchvision_importable()  # the CPU torchvision shim, before sim.golden imports timm

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)


@pytest.fixture(scope="session")
def cases(tmp_path_factory):
    """The DeiT-Tiny golden cases, written once for every test here."""
    from engine_builds import write_deit_tiny_cases

    root = tmp_path_factory.mktemp("deit_tiny_cases")
    return root, write_deit_tiny_cases(root)


@pytest.fixture(scope="session")
def csim_reference(cases, tmp_path_factory):
    """The ordinary C-sim build's outputs on those cases, the reference of every other build."""
    from engine_builds import build_tb, run_tb

    root, _ = cases
    work = tmp_path_factory.mktemp("ref") / "csim"
    out = run_tb(build_tb("tb_onion_engine", []), root, work)
    assert out.returncode == 0, out.stdout + out.stderr
    return work
