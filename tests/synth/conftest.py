"""Fixtures for the Xilinx-flow tests: a throw-away repository with the real hw/ scripts and
Makefile, stub engine sources, and fake vendor tools that run the Tcl under tclsh with stubs."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from host.engine_spec import SPEC_PATH

REPO = Path(__file__).resolve().parents[2]
STUBS = Path(__file__).resolve().parent / "stubs"
SCRIPTS_DIR = REPO / "hw" / "scripts"
SPEC = json.loads(SPEC_PATH.read_text())

BLACKBOX = {
    "c_function_name": "mac_array_rtl",
    "rtl_top_module_name": "mac_array",
    "c_files": [{"c_file": "mac_array_model.cpp", "cflag": ""}],
    "rtl_files": ["mac_array.v"],
    "c_parameters": [],
}


def read_log(path: Path) -> list[list[str]]:
    """The recorded vendor calls: [[command, arg, ...], ...]."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def calls(log: list[list[str]], command: str) -> list[list[str]]:
    return [c[1:] for c in log if c[0] == command]


def make_fake_repo(root: Path, with_blackbox: bool) -> Path:
    """hw/ with the real Makefile, scripts and spec, and stub engine/test-bench/RTL sources."""
    hw = root / "hw"
    (hw / "spec").mkdir(parents=True)
    shutil.copy(REPO / "hw" / "Makefile", hw / "Makefile")
    shutil.copytree(REPO / "hw" / "scripts", hw / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(SPEC_PATH, hw / SPEC_PATH.relative_to(REPO / "hw"))
    for rel, text in {
        "src/onion_engine.cpp": "void onion_engine() {}\n",
        "src/csim_entry.cpp": '#include "onion_engine.cpp"\n',
        "include/onion/fixed.h": "#pragma once\n",
        "tb/tb_onion_engine.cpp": "int main() { return 0; }\n",
        "tb/tb_other_program.cpp": "int main() { return 1; }\n",
        "tb/tb_helpers.h": "#pragma once\n",
    }.items():
        (hw / rel).parent.mkdir(parents=True, exist_ok=True)
        (hw / rel).write_text(text)
    if with_blackbox:
        (hw / "rtl").mkdir()
        (hw / "rtl" / "mac_array.v").write_text("module mac_array(); endmodule\n")
        (hw / "rtl" / "mac_array_model.cpp").write_text("void mac_array_rtl() {}\n")
        (hw / "rtl" / "mac_array_blackbox.json").write_text(json.dumps(BLACKBOX, indent=2))
    (root / "build" / "golden").mkdir(parents=True)
    (root / "build" / "golden" / "case0.bin").write_bytes(b"\0")
    return root


@pytest.fixture(autouse=True)
def spec_env(monkeypatch):
    """The Tcl scripts read the contract at ONION_SPEC (hw/Makefile passes it); scripts run here by
    hand get the repository's, or the fake repository's copy (fake_repo)."""
    monkeypatch.setenv("ONION_SPEC", str(SPEC_PATH))
    return monkeypatch


@pytest.fixture
def fake_repo(tmp_path, spec_env):
    repo = make_fake_repo(tmp_path / "repo", with_blackbox=True)
    spec_env.setenv("ONION_SPEC", str(repo / SPEC_PATH.relative_to(REPO)))
    return repo


FAKE_TOOL = """#!/bin/bash
# Fake {name}: logs its command line, then runs the Tcl script it was given under tclsh + stubs.
printf '%s\\n' "{name} $*" >> "$ONION_FAKE_TOOL_LOG"
script=""; rest=()
while [ $# -gt 0 ]; do
  case "$1" in
    {script_flag}) script="$2"; shift 2;;
    -tclargs) shift; rest=("$@"); break;;
    *) shift;;
  esac
done
exec tclsh {stubs} "$script" "${{rest[@]}}"
"""


def install_fake_tools(bin_dir: Path, names: list[str]) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "vitis-run": ("--tcl", "hls_stubs.tcl"),
        "vitis_hls": ("-f", "hls_stubs.tcl"),
        "vivado": ("-source", "vivado_stubs.tcl"),
    }
    for name in names:
        flag, stub = spec[name]
        path = bin_dir / name
        path.write_text(FAKE_TOOL.format(name=name, script_flag=flag, stubs=STUBS / stub))
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return bin_dir


def base_path() -> str:
    """A PATH with make, tclsh, python3 and coreutils but none of the vendor tools."""
    dirs = [
        d
        for d in os.environ.get("PATH", "").split(os.pathsep)
        if d and not any((Path(d) / t).exists() for t in ("vivado", "vitis_hls", "vitis-run"))
    ]
    return os.pathsep.join(dirs)
