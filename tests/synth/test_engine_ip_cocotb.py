"""cocotb on the engine RTL exported by `make hls` (needs Vitis HLS): one op replayed against the
C-sim backend. Skips when the exported RTL is absent, as everywhere without the Xilinx tools."""

from __future__ import annotations

import json
import os

import pytest

from sim.toolchain import BUILD, REPO

HLS_OUT = REPO / "hw" / "build" / "hls"
RTL_DIR = HLS_OUT / "rtl"
BENCH = REPO / "sim" / "cocotb" / "engine_ip"


def bench_env(case) -> dict:
    return {"ONION_ENGINE_IP_CASE": str(case)}


def test_exported_engine_rtl_matches_csim():
    info_path = HLS_OUT / "engine_ip.json"
    top_file = RTL_DIR / "onion_engine.v"
    if not (top_file.exists() and info_path.exists()):
        pytest.skip(f"exported engine RTL not found at {top_file}; run make hls with Vitis HLS")
    from sim.cocotb.engine_ip.linear_case import build_case
    from sim.cocotb_runner import run_cocotb

    info = json.loads(info_path.read_text())
    case = build_case(BUILD / "engine_ip_case.npz")
    simulator = os.environ.get("ONION_ENGINE_IP_SIM", "verilator")
    sources = sorted(RTL_DIR.glob("*.v")) + sorted(RTL_DIR.glob("*.sv"))
    ran, failed = run_cocotb(
        simulator,
        info["top"],
        sources,
        "test_engine_ip",
        BENCH,
        extra_env={**bench_env(case), "ONION_ENGINE_IP_PERIOD_NS": info["period_ns"]},
        build_name="engine_ip",
    )
    assert ran == 1 and failed == 0


def test_reference_case_is_a_real_op(tmp_path):
    """The replayed case must exercise the engine: y = x w^T + b within one LSB of float math."""
    import numpy as np

    from host import engine_spec
    from sim.cocotb.engine_ip.linear_case import build_case

    n, i, o = 5, 16, 8
    case = np.load(build_case(tmp_path / "case.npz", seed=3, n_tokens=n, in_dim=i, out_dim=o))
    regs = dict(zip(map(str, case["reg_names"]), map(int, case["reg_values"])))
    assert int(case["status"]) == 0 and int(case["macs"]) == n * i * o
    act_frac, w_frac = engine_spec.format_frac("activation"), engine_spec.format_frac("weight")
    layout = engine_spec.layout("linear_params", I=i, O=o)
    params = case["before_wts"][regs["w_off"] :].astype(np.float64)
    w = params[layout["w"][0] : layout["w"][0] + o * i].reshape(o, i) * 2.0**-w_frac
    b = params[layout["b"][0] : layout["b"][0] + o] * 2.0**-w_frac
    x = case["before_act"][regs["x_off"] : regs["x_off"] + n * i].reshape(n, i) * 2.0**-act_frac
    y_words = case["after_act"][regs["y_off"] : regs["y_off"] + n * o].reshape(n, o).astype(np.float64)
    assert np.abs(y_words - (x @ w.T + b) * 2.0**act_frac).max() <= 1.0
    assert np.count_nonzero(y_words) > n * o // 2
    untouched = np.ones(case["after_act"].size, bool)
    untouched[regs["y_off"] : regs["y_off"] + n * o] = False
    assert np.array_equal(case["after_act"][untouched], case["before_act"][untouched])


def test_bench_drives_a_vitis_style_top_correctly(tmp_path):
    """The bench itself (AXI-lite register writes, ap_start/ap_done, AxiRam per m_axi port, the
    comparison) against a mock with Vitis port names whose effect numpy states independently."""
    import numpy as np

    from host import engine_spec
    from sim.cocotb.engine_ip.mock_engine import parameters, write_mock
    from sim.cocotb_runner import run_cocotb

    rng = np.random.default_rng(11)
    ports = engine_spec.load_spec()["ports"]
    dtypes = {"int16": np.int16, "int32": np.int32}
    before = {p: rng.integers(-30000, 30000, 96).astype(dtypes[ports[p]["word"]]) for p in ("wts", "act", "grd", "aux")}
    regs = {"n_tokens": 3, "in_dim": 5, "x_off": 7, "y_off": 50}
    n = regs["n_tokens"] * regs["in_dim"]
    after = {p: a.copy() for p, a in before.items()}
    after["act"][50 : 50 + n] = (-before["act"][7 : 7 + n].astype(np.int32)).astype(np.int16)
    case = tmp_path / "case.npz"
    np.savez(
        case,
        opcode=engine_spec.opcode("LINEAR_FWD"),
        status=0,
        macs=n,
        saturations=0,
        reg_names=np.array(list(regs)),
        reg_values=np.array(list(regs.values()), dtype=np.int64),
        **{f"before_{p}": a for p, a in before.items()},
        **{f"after_{p}": a for p, a in after.items()},
    )
    mock = write_mock(BUILD / "engine_ip_mock" / "onion_engine.v")
    ran, failed = run_cocotb(
        "icarus",
        "onion_engine",
        [mock],
        "test_engine_ip",
        BENCH,
        parameters=parameters(),
        extra_env=bench_env(case),
        build_name="engine_ip_mock",
    )
    assert ran == 1 and failed == 0
