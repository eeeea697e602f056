"""The Xilinx Tcl scripts, run under tclsh 8.6 with the vendor commands stubbed: they must call the
right commands with the part, clock, top and blackbox the engine contract and the flags ask for."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from .conftest import REPO, SPEC, STUBS, calls, read_log

SCRIPTS = REPO / "hw" / "scripts"


def tclsh(code: str) -> subprocess.CompletedProcess:
    """Runs code as a script file, so an uncaught error exits non-zero with the message on stderr."""
    with tempfile.NamedTemporaryFile("w", suffix=".tcl", delete=False) as f:
        f.write(code)
    try:
        return subprocess.run(["tclsh", f.name], capture_output=True, text=True, timeout=20)
    finally:
        os.unlink(f.name)


def run_stubbed(stub: str, script: str, work: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    work.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        ["tclsh", str(STUBS / stub), str(SCRIPTS / script), *args],
        cwd=work,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=20,
    )


def expected_period(mhz: float) -> str:
    return f"{1000.0 / mhz:.3f}"


@pytest.mark.parametrize("script", sorted(p.name for p in SCRIPTS.glob("*.tcl")))
def test_script_is_complete_tcl(script):
    text = (SCRIPTS / script).read_text()
    result = tclsh(f"puts [info complete {{{text}}}]")
    assert result.stdout.strip() == "1", result.stderr


# ------------------------------------------------------------- the JSON reader, against Python's
def tcl_json_dump(path: Path, keys: list[list[str]]) -> list[str]:
    lines = " ".join("{" + " ".join(k) + "}" for k in keys)
    code = (
        f"source {SCRIPTS / 'onion_common.tcl'}\n"
        f"set d [::onion::json::read_file {{{path}}}]\n"
        f"foreach k [list {lines}] {{ puts [dict get $d {{*}}$k] }}\n"
    )
    result = tclsh(code)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_json_reader_reads_the_engine_spec_like_python():
    keys = [
        ["part"],
        ["clock_mhz"],
        ["board"],
        ["overlay", "dir"],
        ["overlay", "bitstream"],
        ["overlay", "hwh"],
        ["formats", "weight", "frac"],
        ["formats", "gradient", "doc"],
    ]
    got = tcl_json_dump(REPO / "hw" / "spec" / "engine_spec.json", keys)
    want = []
    for k in keys:
        v = SPEC
        for part in k:
            v = v[part]
        want.append(str(v))
    assert got == want


def test_json_reader_handles_escapes_nesting_and_literals(tmp_path):
    doc = {
        "s": 'a "quoted" \\ back\tslash \u00e9',
        "n": -12.5e3,
        "nested": {"list": [1, [2, 3], {"x": "y"}]},
        "t": True,
        "f": False,
        "z": None,
        "empty": {},
        "arr": [],
    }
    path = tmp_path / "d.json"
    path.write_text(json.dumps(doc, indent=1))
    got = tcl_json_dump(path, [["s"], ["n"], ["t"], ["f"], ["z"]])
    assert got[0] == doc["s"] and float(got[1]) == doc["n"] and got[2:] == ["1", "0", ""]
    code = (
        f"source {SCRIPTS / 'onion_common.tcl'}\n"
        f"set d [::onion::json::read_file {{{path}}}]\n"
        "puts [llength [dict get $d nested list]]\n"
        "puts [dict get [lindex [dict get $d nested list] 2] x]\n"
        "puts [lindex [dict get $d nested list] 1 1]\n"
    )
    assert tclsh(code).stdout.split() == ["3", "y", "3"]


@pytest.mark.parametrize("bad", ['{"a": 1,}', '{"a" 1}', "[1, 2", '{"a": "x}', '{"a": tru}'])
def test_json_reader_rejects_malformed_input(tmp_path, bad):
    path = tmp_path / "bad.json"
    path.write_text(bad)
    result = tclsh(f"source {SCRIPTS / 'onion_common.tcl'}\n::onion::json::read_file {{{path}}}\n")
    assert result.returncode != 0
    assert str(path) in result.stderr and "JSON" in result.stderr


@pytest.mark.parametrize("mhz", [150, 200, 100.5, 333])
def test_clock_period_matches_frequency(mhz):
    result = tclsh(f"source {SCRIPTS / 'onion_common.tcl'}\nputs [::onion::clock_period_ns {mhz}]\n")
    assert result.stdout.strip() == expected_period(mhz)


@pytest.mark.parametrize("bad", ["0", "-5", "fast"])
def test_clock_period_rejects_nonsense(bad):
    result = tclsh(f"source {SCRIPTS / 'onion_common.tcl'}\n::onion::clock_period_ns {bad}\n")
    assert result.returncode != 0 and "clock_mhz" in result.stderr


# ------------------------------------------------------------- Vitis HLS build
def hls_env(repo: Path, tmp: Path, **settings) -> dict:
    env = {"ONION_REPO": str(repo), "ONION_OUT": str(tmp / "out"), "ONION_STUB_LOG": str(tmp / "calls.jsonl")}
    for key in ("ONION_CLOCK_MHZ", "ONION_GEMM", "ONION_CSIM", "ONION_STUB_FAIL"):
        env.pop(key, None)
    env.update({f"ONION_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def test_hls_build_targets_the_spec_part_clock_and_top(fake_repo, tmp_path):
    result = run_stubbed("hls_stubs.tcl", "hls_build.tcl", tmp_path / "work", hls_env(fake_repo, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    log = read_log(tmp_path / "calls.jsonl")
    assert calls(log, "set_part") == [[SPEC["part"]]]
    assert calls(log, "create_clock") == [["-period", expected_period(SPEC["clock_mhz"]), "-name", "default"]]
    assert calls(log, "set_top") == [["onion_engine"]]
    assert calls(log, "open_solution") == [["-reset", "-flow_target", "vivado", "solution1"]]
    bits = str(SPEC["ports"]["wts"]["axi_bits"])  # ports widened to the declared data width
    assert calls(log, "config_interface") == [
        ["-m_axi_max_widen_bitwidth", bits, "-m_axi_alignment_byte_size", str(int(bits) // 8)]
    ]
    order = [c[0] for c in log]
    assert (
        order.index("open_project")
        < order.index("open_solution")
        < order.index("csynth_design")
        < order.index("export_design")
    )
    assert "csim_design" not in order and "cosim_design" not in order
    export = calls(log, "config_export")[0]
    assert export[export.index("-format") + 1] == "ip_catalog" and export[export.index("-rtl") + 1] == "verilog"
    # Engine sources with the include path; test bench with -tb; outputs copied out.
    sources = [c for c in calls(log, "add_files") if "-tb" not in c and "-blackbox" not in c]
    assert [Path(c[0]).name for c in sources] == ["onion_engine.cpp"]
    assert f"-I{fake_repo / 'hw' / 'include'}" in sources[0][sources[0].index("-cflags") + 1]
    # Only the engine's own test bench (and helpers), not other tb_*.cpp programs with a main().
    assert [Path(c[1]).name for c in calls(log, "add_files") if c[0] == "-tb"] == ["tb_onion_engine.cpp"]
    out = tmp_path / "out"
    assert (out / "ip" / "component.xml").exists() and (out / "rtl" / "onion_engine.v").exists()
    assert (out / "reports" / "hls_csynth.rpt").read_text().startswith("== Synthesis Summary")
    info = json.loads((out / "engine_ip.json").read_text())
    assert info["part"] == SPEC["part"] and info["top"] == "onion_engine"
    assert info["vlnv"] == "onion:hls:onion_engine:1.0"


def test_hls_build_uses_the_rtl_blackbox_by_default_with_absolute_paths(fake_repo, tmp_path):
    result = run_stubbed("hls_stubs.tcl", "hls_build.tcl", tmp_path / "work", hls_env(fake_repo, tmp_path))
    assert result.returncode == 0, result.stderr
    log = read_log(tmp_path / "calls.jsonl")
    blackbox = [c for c in calls(log, "add_files") if c[0] == "-blackbox"]
    assert len(blackbox) == 1
    copy = json.loads(Path(blackbox[0][1]).read_text())
    assert copy["rtl_files"] == [str(fake_repo / "hw" / "rtl" / "mac_array.v")]
    assert copy["c_files"][0]["c_file"] == str(fake_repo / "hw" / "rtl" / "mac_array_model.cpp")
    assert copy["rtl_top_module_name"] == "mac_array"
    assert f"-I{fake_repo / 'hw' / 'include'}" in copy["c_files"][0]["cflag"]  # was empty
    assert (tmp_path / "out" / "rtl" / "mac_array.v").exists()  # blackbox RTL next to the engine's
    cflags = [c[c.index("-cflags") + 1] for c in calls(log, "add_files") if "-cflags" in c]
    assert cflags and all("-DONION_USE_RTL_GEMM=1" in f for f in cflags)


def test_hls_build_with_gemm_hls_leaves_the_blackbox_out(fake_repo, tmp_path):
    env = hls_env(fake_repo, tmp_path, gemm="hls", clock_mhz=200)
    result = run_stubbed("hls_stubs.tcl", "hls_build.tcl", tmp_path / "work", env)
    assert result.returncode == 0, result.stderr
    log = read_log(tmp_path / "calls.jsonl")
    assert not [c for c in calls(log, "add_files") if "-blackbox" in c]
    assert not [c for c in calls(log, "add_files") if "ONION_USE_RTL_GEMM" in " ".join(c)]
    assert calls(log, "create_clock")[0][1] == expected_period(200)


def test_hls_build_rejects_gemm_rtl_without_blackbox(tmp_path):
    from .conftest import make_fake_repo

    repo = make_fake_repo(tmp_path / "repo", with_blackbox=False)
    result = run_stubbed("hls_stubs.tcl", "hls_build.tcl", tmp_path / "work", hls_env(repo, tmp_path, gemm="rtl"))
    assert result.returncode != 0 and "mac_array_blackbox.json" in result.stderr
    assert not (tmp_path / "calls.jsonl").exists()  # failed before touching the tool


def test_hls_build_fails_when_a_tool_step_fails(fake_repo, tmp_path):
    env = hls_env(fake_repo, tmp_path, stub_fail="csynth_design")
    result = run_stubbed("hls_stubs.tcl", "hls_build.tcl", tmp_path / "work", env)
    assert result.returncode == 1 and "csynth_design failed" in result.stderr
    assert not (tmp_path / "out").exists()


def test_hls_build_csim_option_runs_c_simulation_first(fake_repo, tmp_path):
    result = run_stubbed("hls_stubs.tcl", "hls_build.tcl", tmp_path / "work", hls_env(fake_repo, tmp_path, csim=1))
    assert result.returncode == 0, result.stderr
    order = [c[0] for c in read_log(tmp_path / "calls.jsonl")]
    assert order.index("csim_design") < order.index("csynth_design")


def test_hls_cosim_runs_csim_csynth_cosim_against_golden(fake_repo, tmp_path):
    result = run_stubbed("hls_stubs.tcl", "hls_cosim.tcl", tmp_path / "work", hls_env(fake_repo, tmp_path))
    assert result.returncode == 0, result.stderr
    log = read_log(tmp_path / "calls.jsonl")
    order = [c[0] for c in log]
    assert order.index("csim_design") < order.index("csynth_design") < order.index("cosim_design")
    golden = str(fake_repo / "build" / "golden")
    assert calls(log, "csim_design") == [["-argv", golden]]
    assert calls(log, "cosim_design") == [["-rtl", "verilog", "-tool", "xsim", "-argv", golden]]
    assert (tmp_path / "out" / "reports" / "hls_cosim.rpt").read_text() == "PASS\n"
    assert f"golden = {fake_repo / 'build' / 'golden'}" in result.stdout


def test_hls_cosim_needs_golden_vectors(fake_repo, tmp_path):
    env = hls_env(fake_repo, tmp_path, golden_dir=tmp_path / "nowhere")
    result = run_stubbed("hls_stubs.tcl", "hls_cosim.tcl", tmp_path / "work", env)
    assert result.returncode != 0 and "python -m sim.golden" in result.stderr


# ------------------------------------------------------------- Vivado block design + bitstream
def hls_output(tmp_path: Path, clock_mhz=150) -> Path:
    hls = tmp_path / "hls"
    (hls / "ip").mkdir(parents=True)
    (hls / "engine_ip.json").write_text(
        json.dumps({"top": "onion_engine", "clock_mhz": str(clock_mhz), "vlnv": "onion:hls:onion_engine:1.0"})
    )
    return hls


def vivado_env(tmp: Path, **extra) -> dict:
    env = {"ONION_STUB_LOG": str(tmp / "calls.jsonl")}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def test_block_design_wires_ps_engine_clock_reset_and_addresses(tmp_path):
    hls = hls_output(tmp_path, clock_mhz=SPEC["clock_mhz"])
    result = run_stubbed(
        "vivado_stubs.tcl",
        "vivado_bd.tcl",
        tmp_path / "work",
        vivado_env(tmp_path),
        "--hls-dir",
        str(hls),
        "--out",
        str(tmp_path / "proj"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    log = read_log(tmp_path / "calls.jsonl")
    create = calls(log, "create_project")[0]
    assert create[create.index("-part") + 1] == SPEC["part"]
    props = calls(log, "set_property")
    assert ["board_part", "xilinx.com:zcu102:part0:3.4", "onion_bd"] in props  # newest installed
    assert ["ip_repo_paths", str(hls / "ip"), "onion_bd"] in props
    cells = {c[-1]: c[c.index("-vlnv") + 1] for c in calls(log, "create_bd_cell")}
    assert cells["zynq_ultra_ps_e_0"] == "xilinx.com:ip:zynq_ultra_ps_e"
    assert cells["onion_engine_0"] == "onion:hls:onion_engine:1.0"
    assert cells["rst_pl0"] == "xilinx.com:ip:proc_sys_reset"
    assert cells["axi_ctrl"] == cells["axi_mem0"] == "xilinx.com:ip:smartconnect"
    automation = calls(log, "apply_bd_automation")[0]
    assert automation[:2] == ["-rule", "xilinx.com:bd_rule:zynq_ultra_ps_e"] and "apply_board_preset" in automation[3]
    ps_config = next(
        dict(zip(p[1].split()[::2], p[1].split()[1::2]))
        for p in props
        if p[0] == "-dict" and p[2] == "/zynq_ultra_ps_e_0"
    )
    assert ps_config["CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ"] == str(SPEC["clock_mhz"])
    assert ps_config["CONFIG.PSU__USE__M_AXI_GP0"] == "1"  # M_AXI_HPM0_FPD
    assert [ps_config.get(f"CONFIG.PSU__USE__S_AXI_GP{i}") for i in (2, 3, 4, 5)] == ["1", "1", "1", None]
    nets = calls(log, "connect_bd_intf_net")
    assert ["/zynq_ultra_ps_e_0/M_AXI_HPM0_FPD", "/axi_ctrl/S00_AXI"] in nets
    assert ["/axi_ctrl/M00_AXI", "/onion_engine_0/s_axi_control"] in nets
    for i in range(3):  # three m_axi masters, one HP port each
        assert [f"/onion_engine_0/m_axi_gmem{i}", f"/axi_mem{i}/S00_AXI"] in nets
        assert [f"/axi_mem{i}/M00_AXI", f"/zynq_ultra_ps_e_0/S_AXI_HP{i}_FPD"] in nets
    clock_net = next(n for n in calls(log, "connect_bd_net") if n[0] == "/zynq_ultra_ps_e_0/pl_clk0")
    assert {
        "/onion_engine_0/ap_clk",
        "/rst_pl0/slowest_sync_clk",
        "/zynq_ultra_ps_e_0/maxihpm0_fpd_aclk",
        "/zynq_ultra_ps_e_0/saxihp2_fpd_aclk",
        "/axi_mem2/aclk",
        "/axi_ctrl/aclk",
    } <= set(clock_net)
    reset_net = next(n for n in calls(log, "connect_bd_net") if n[0] == "/rst_pl0/peripheral_aresetn")
    assert "/onion_engine_0/ap_rst_n" in reset_net
    order = [c[0] for c in log]
    assert order.index("assign_bd_address") < order.index("validate_bd_design") < order.index("make_wrapper")
    assert calls(log, "create_bd_design") == [[Path(SPEC["overlay"]["bitstream"]).stem]]
    assert ["top", "onion_wrapper", "sources_1"] in props


def test_block_design_shares_hp_ports_when_engine_has_many_masters(tmp_path):
    masters = " ".join(f"m_axi_g{i}" for i in range(6))
    result = run_stubbed(
        "vivado_stubs.tcl",
        "vivado_bd.tcl",
        tmp_path / "work",
        vivado_env(tmp_path, ONION_STUB_MASTERS=masters),
        "--hls-dir",
        str(hls_output(tmp_path)),
        "--out",
        str(tmp_path / "proj"),
    )
    assert result.returncode == 0, result.stderr
    log = read_log(tmp_path / "calls.jsonl")
    hp_links = [n for n in calls(log, "connect_bd_intf_net") if "S_AXI_HP" in n[1]]
    assert sorted(n[1] for n in hp_links) == [f"/zynq_ultra_ps_e_0/S_AXI_HP{i}_FPD" for i in range(4)]
    into_smartconnects = [n for n in calls(log, "connect_bd_intf_net") if "/m_axi_g" in n[0]]
    assert len(into_smartconnects) == 6 and len({n[1] for n in into_smartconnects}) == 6


def test_block_design_fails_clearly_without_board_files(tmp_path):
    result = run_stubbed(
        "vivado_stubs.tcl",
        "vivado_bd.tcl",
        tmp_path / "work",
        vivado_env(tmp_path, ONION_STUB_BOARD_PARTS=""),
        "--hls-dir",
        str(hls_output(tmp_path)),
        "--out",
        str(tmp_path / "proj"),
    )
    assert result.returncode == 1 and "board files for 'zcu102'" in result.stderr


def test_block_design_rejects_unknown_arguments(tmp_path):
    result = run_stubbed(
        "vivado_stubs.tcl", "vivado_bd.tcl", tmp_path / "work", vivado_env(tmp_path), "--hls", "x", "--out", "y"
    )
    assert result.returncode == 1 and "unknown argument '--hls'" in result.stderr


def bitstream(tmp_path: Path, **extra) -> subprocess.CompletedProcess:
    proj = tmp_path / "proj"
    gen = proj / "onion_bd.gen" / "sources_1" / "bd" / "onion" / "hw_handoff"
    gen.mkdir(parents=True)
    (gen / "onion.hwh").write_text("<hwh/>")
    (proj / "onion_bd.runs" / "impl_1").mkdir(parents=True)
    return run_stubbed(
        "vivado_stubs.tcl",
        "vivado_bitstream.tcl",
        tmp_path / "work",
        vivado_env(tmp_path, **extra),
        "--project",
        str(proj / "onion_bd.xpr"),
        "--out",
        str(tmp_path / "out"),
        "--jobs",
        "3",
        "--allow-timing-fail",
        "0",
    )


def test_bitstream_runs_synth_impl_and_names_outputs_from_the_spec(tmp_path):
    result = bitstream(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    log = read_log(tmp_path / "calls.jsonl")
    assert calls(log, "launch_runs") == [
        ["synth_1", "-jobs", "3"],
        ["impl_1", "-jobs", "3", "-to_step", "write_bitstream"],
    ]
    out = tmp_path / "out"
    assert (out / SPEC["overlay"]["bitstream"]).read_text() == "BIT\n"
    assert (out / SPEC["overlay"]["hwh"]).read_text() == "<hwh/>"
    assert (out / "reports" / "vivado_utilization.rpt").exists()
    assert (out / "reports" / "vivado_timing_summary.rpt").exists()


def test_bitstream_refuses_failed_timing_unless_allowed(tmp_path):
    result = bitstream(tmp_path, ONION_STUB_WNS="-0.25")
    assert result.returncode == 1 and "worst negative slack -0.25" in result.stderr
    assert not (tmp_path / "out" / SPEC["overlay"]["bitstream"]).exists()


def test_bitstream_reports_a_failed_run(tmp_path):
    result = bitstream(tmp_path, ONION_STUB_PROGRESS="0%")
    assert result.returncode == 1 and "synth_1 failed" in result.stderr
