"""hw/Makefile: tool detection, the error path without the tools, the chosen entry points and their
arguments, and stamps that make a rerun redo only what changed. Runs in a throw-away repository
with fake vitis-run / vitis_hls / vivado that execute the real Tcl under tclsh with stubs."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from .conftest import SPEC, base_path, calls, install_fake_tools, read_log

OVERLAY = SPEC["overlay"]


def make(repo: Path, goal: str, tools: Path | None, *variables: str, **env) -> subprocess.CompletedProcess:
    path = base_path() if tools is None else f"{tools}{os.pathsep}{base_path()}"
    full_env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    full_env.update(
        {
            "PATH": path,
            "ONION_FAKE_TOOL_LOG": str(repo.parent / "tools.log"),
            "ONION_STUB_LOG": str(repo.parent / "calls.jsonl"),
        }
    )
    for key in ("ONION_STUB_FAIL", "ONION_STUB_WNS", "CLOCK_MHZ", "GEMM", "HLS_TOOL"):
        full_env.pop(key, None)
    full_env.update(env)
    return subprocess.run(
        ["make", "-C", str(repo / "hw"), goal, *variables], capture_output=True, text=True, env=full_env, timeout=60
    )


def tool_lines(repo: Path) -> list[str]:
    log = repo.parent / "tools.log"
    return log.read_text().splitlines() if log.exists() else []


def snapshot(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*")}


def overlay_dir(repo: Path) -> Path:
    return repo / OVERLAY["dir"]


def test_without_tools_synth_fails_early_names_programs_and_writes_nothing(fake_repo):
    before = snapshot(fake_repo)
    result = make(fake_repo, "synth", None)
    assert result.returncode != 0
    for program in ("vitis-run", "vitis_hls", "vivado"):
        assert f"'{program}'" in result.stderr
    assert "2023.2" in result.stderr and "2024.2" in result.stderr
    assert snapshot(fake_repo) == before


def test_hls_needs_only_an_hls_tool(fake_repo, tmp_path):
    result = make(fake_repo, "bd", install_fake_tools(tmp_path / "bin", ["vitis_hls"]))
    assert result.returncode != 0 and "'vivado' was not found" in result.stderr
    assert "vitis_hls" not in result.stderr and not (fake_repo / "hw" / "build").exists()
    result = make(fake_repo, "hls", tmp_path / "bin")
    assert result.returncode == 0, result.stdout + result.stderr
    script = fake_repo / "hw" / "scripts" / "hls_build.tcl"
    assert tool_lines(fake_repo) == [f"vitis_hls -f {script}"]  # the 2023.x entry point
    hls = fake_repo / "hw" / "build" / "hls"
    assert (hls / "ip" / "component.xml").exists() and (hls / "rtl" / "onion_engine.v").exists()
    assert not (fake_repo / "hw" / "build" / "hls.tmp").exists()


def test_synth_prefers_vitis_run_builds_the_overlay_and_reruns_nothing(fake_repo, tmp_path):
    tools = install_fake_tools(tmp_path / "bin", ["vitis-run", "vitis_hls", "vivado"])
    result = make(fake_repo, "synth", tools)
    assert result.returncode == 0, result.stdout + result.stderr
    hw = fake_repo / "hw"
    lines = tool_lines(fake_repo)
    assert lines[0] == f"vitis-run --mode hls --tcl {hw / 'scripts' / 'hls_build.tcl'}"
    assert lines[1].startswith("vivado -mode batch") and f"-source {hw / 'scripts' / 'vivado_bd.tcl'}" in lines[1]
    assert f"-tclargs --hls-dir {hw / 'build' / 'hls'} --out " in lines[1]
    assert f"-source {hw / 'scripts' / 'vivado_bitstream.tcl'}" in lines[2]
    assert f"--project {hw / 'build' / 'vivado' / 'onion_bd.xpr'}" in lines[2]
    assert len(lines) == 3
    out = overlay_dir(fake_repo)
    assert (out / OVERLAY["bitstream"]).read_text() == "BIT\n"
    assert (out / OVERLAY["hwh"]).read_text() == "<hwh/>\n"
    assert sorted(p.name for p in (out / "reports").iterdir()) == [
        "hls_csynth.rpt",
        "vivado_timing_summary.rpt",
        "vivado_utilization.rpt",
    ]
    assert sorted(p.name for p in out.iterdir()) == sorted([OVERLAY["bitstream"], OVERLAY["hwh"], "reports"])
    assert not list((hw / "build").glob("*.tmp"))
    log = read_log(fake_repo.parent / "calls.jsonl")
    assert calls(log, "set_part") == [[SPEC["part"]]]

    again = make(fake_repo, "synth", tools)
    assert again.returncode == 0 and tool_lines(fake_repo) == lines  # nothing redone


def test_stages_rerun_only_downstream_of_a_change(fake_repo, tmp_path):
    tools = install_fake_tools(tmp_path / "bin", ["vitis-run", "vivado"])
    assert make(fake_repo, "synth", tools).returncode == 0
    hw = fake_repo / "hw"

    def touched_then_synth(path: Path, *variables: str) -> list[str]:
        before = len(tool_lines(fake_repo))
        if path is not None:
            time.sleep(0.01)
            os.utime(path, None)
        result = make(fake_repo, "synth", tools, *variables)
        assert result.returncode == 0, result.stdout + result.stderr
        return [
            line.split()[0] + ("" if "-source" not in line else " " + Path(line.split("-source ")[1].split()[0]).name)
            for line in tool_lines(fake_repo)[before:]
        ]

    assert touched_then_synth(hw / "scripts" / "vivado_bitstream.tcl") == ["vivado vivado_bitstream.tcl"]
    assert touched_then_synth(hw / "scripts" / "vivado_bd.tcl") == [
        "vivado vivado_bd.tcl",
        "vivado vivado_bitstream.tcl",
    ]
    assert touched_then_synth(hw / "src" / "onion_engine.cpp") == [
        "vitis-run",
        "vivado vivado_bd.tcl",
        "vivado vivado_bitstream.tcl",
    ]
    assert touched_then_synth(hw / "rtl" / "mac_array.v")[0] == "vitis-run"
    # A new clock is a setting change: everything reruns, and the PS clock follows the IP's clock.
    assert touched_then_synth(None, "CLOCK_MHZ=200") == [
        "vitis-run",
        "vivado vivado_bd.tcl",
        "vivado vivado_bitstream.tcl",
    ]
    log = read_log(fake_repo.parent / "calls.jsonl")
    assert calls(log, "create_clock")[-1] == ["-period", "5.000", "-name", "default"]
    ps = [c for c in calls(log, "set_property") if c[0] == "-dict" and c[-1] == "/zynq_ultra_ps_e_0"][-1]
    assert "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ 200" in ps[1]
    assert touched_then_synth(None, "CLOCK_MHZ=200") == []
    assert json.loads((hw / "build" / "hls" / "engine_ip.json").read_text())["clock_mhz"] == "200"


def test_failed_hls_leaves_nothing_behind(fake_repo, tmp_path):
    tools = install_fake_tools(tmp_path / "bin", ["vitis-run", "vivado"])
    result = make(fake_repo, "synth", tools, ONION_STUB_FAIL="csynth_design")
    assert result.returncode != 0 and "csynth_design failed" in result.stdout + result.stderr
    build = fake_repo / "hw" / "build"
    assert not (build / "hls").exists() and not list(build.glob("*.tmp"))
    assert not overlay_dir(fake_repo).exists()
    assert len(tool_lines(fake_repo)) == 1  # vivado never started


def test_failed_timing_keeps_old_overlay_untouched(fake_repo, tmp_path):
    tools = install_fake_tools(tmp_path / "bin", ["vitis-run", "vivado"])
    assert make(fake_repo, "synth", tools).returncode == 0
    bit = overlay_dir(fake_repo) / OVERLAY["bitstream"]
    stamp = bit.stat().st_mtime
    os.utime(fake_repo / "hw" / "scripts" / "vivado_bitstream.tcl", None)
    result = make(fake_repo, "synth", tools, ONION_STUB_WNS="-1.5")
    assert result.returncode != 0 and "timing not met" in result.stderr
    assert bit.stat().st_mtime == stamp
    assert sorted(p.name for p in overlay_dir(fake_repo).iterdir()) == sorted(
        [OVERLAY["bitstream"], OVERLAY["hwh"], "reports"]
    )
    ok = make(fake_repo, "synth", tools, "ALLOW_TIMING_FAIL=1", ONION_STUB_WNS="-1.5")
    assert ok.returncode == 0 and "WARNING: timing not met" in ok.stdout


def test_cosim_runs_the_cosim_script_and_stamps(fake_repo, tmp_path):
    tools = install_fake_tools(tmp_path / "bin", ["vitis_hls"])
    result = make(fake_repo, "cosim", tools)
    assert result.returncode == 0, result.stdout + result.stderr
    assert tool_lines(fake_repo) == [f"vitis_hls -f {fake_repo / 'hw' / 'scripts' / 'hls_cosim.tcl'}"]
    assert (fake_repo / "hw" / "build" / "cosim" / "reports" / "hls_cosim.rpt").exists()
    assert make(fake_repo, "cosim", tools).returncode == 0 and len(tool_lines(fake_repo)) == 1


def test_gemm_switch_is_validated_before_anything_runs(fake_repo, tmp_path):
    tools = install_fake_tools(tmp_path / "bin", ["vitis-run"])
    result = make(fake_repo, "hls", tools, "GEMM=verilog")
    assert result.returncode != 0 and "GEMM must be rtl or hls" in result.stderr
    assert tool_lines(fake_repo) == [] and not (fake_repo / "hw" / "build").exists()


def test_tool_versions_agree_between_makefile_tcl_and_docs():
    import re

    from .conftest import REPO

    makefile = (REPO / "hw" / "Makefile").read_text()
    make_versions = re.search(r"^TESTED_VERSIONS := (.+)$", makefile, re.M).group(1).split(" and ")
    tcl = (REPO / "hw" / "scripts" / "onion_common.tcl").read_text()
    tcl_versions = re.search(r"variable tested_versions \{([^}]*)\}", tcl).group(1).split()
    assert make_versions == tcl_versions == ["2023.2", "2024.2"]
    docs = (REPO / "docs" / "synth.md").read_text()
    for v in make_versions:
        assert f"Vivado {v}" in docs
    assert "NOT run in this project's CI" in docs


def test_hls_tool_choice_is_honoured_and_validated(fake_repo, tmp_path):
    tools = install_fake_tools(tmp_path / "bin", ["vitis-run", "vitis_hls"])
    bad = make(fake_repo, "hls", tools, "HLS_TOOL=vivado_hls")
    assert bad.returncode != 0 and "HLS_TOOL must be vitis-run or vitis_hls" in bad.stderr
    ok = make(fake_repo, "hls", tools, "HLS_TOOL=vitis_hls")
    assert ok.returncode == 0, ok.stderr
    assert tool_lines(fake_repo) == [f"vitis_hls -f {fake_repo / 'hw' / 'scripts' / 'hls_build.tcl'}"]


def test_failed_block_design_leaves_hls_result_but_no_project(fake_repo, tmp_path):
    tools = install_fake_tools(tmp_path / "bin", ["vitis-run", "vivado"])
    result = make(fake_repo, "synth", tools, ONION_STUB_FAIL="validate_bd_design")
    assert result.returncode != 0 and "validate_bd_design failed" in result.stderr
    build = fake_repo / "hw" / "build"
    assert (build / "hls" / ".built").exists()
    assert not (build / "vivado").exists() and not list(build.glob("*.tmp"))
    assert not overlay_dir(fake_repo).exists()
