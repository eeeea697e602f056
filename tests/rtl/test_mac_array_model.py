"""The C++ side of the core: blackbox C model and engine entry against onion::gemm_model, the C++
and Python cycle models against each other, and the contracts that tie RTL, header and JSON."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from host import cycle_model
from sim.toolchain import REPO

RTL_DIR = REPO / "hw" / "rtl"
HEADER = REPO / "hw" / "include" / "onion" / "mac_array_blackbox.h"


def test_blackbox_model_matches_gemm_model(ref_lib, bench_cases, geometry):
    from sim.cocotb.mac_array import mac_reference as reference

    cases, _ = bench_cases
    g = geometry
    for case in cases:
        args = (case["a"], case["b"], case.get("bias"), case["bias_lshift"], case["shift"])
        want, want_sat = reference.gemm_ref(*args)
        for rows, cols in ((g["ROWS"], g["COLS"]), (32, 64)):
            got, sat = reference.gemm_blackbox(rows, cols, *args, max_m=64)
            assert np.array_equal(got, want) and sat == want_sat, f"{case['name']} on {rows}x{cols}"


def test_engine_entry_gathers_rows_and_splits_m(ref_lib):
    from sim.cocotb.mac_array import mac_reference as reference

    rng = np.random.default_rng(4)
    a = rng.integers(-30000, 30000, (700, 70)).astype(np.int16)
    b = rng.integers(-30000, 30000, (130, 70)).astype(np.int16)
    bias = rng.integers(-30000, 30000, 130).astype(np.int16)
    rows = rng.integers(0, 700, 1100)  # more rows than one job holds (MAC_MAX_M)
    got, sat = reference.gemm_engine_entry(a, b, bias, 5, 18, a_rows=rows)
    want, want_sat = reference.gemm_ref(a[rows], b, bias, 5, 18)
    assert np.array_equal(got, want) and sat == want_sat and sat > 0


def test_cycle_models_agree(ref_lib):
    from sim.cocotb.mac_array import mac_reference as reference

    rng = np.random.default_rng(8)
    shapes = [
        (1, 1, 1),
        (197, 576, 192),
        (197, 197, 64),
        (197, 64, 197),
        (576, 192, 197),
        (600, 70, 33),
        (1025, 5, 3),
        (0, 4, 4),
        (4, 0, 4),
    ] + [tuple(rng.integers(1, 700, 3)) for _ in range(40)]
    for rows, cols, max_m in ((32, 64, 512), (4, 8, 256), (4, 4, 16), (16, 128, 300)):
        for m, n, k in shapes:
            for bias in (False, True):
                py = cycle_model.gemm_cycles(int(m), int(n), int(k), bias, rows=rows, cols=cols, max_m=max_m)
                assert py == reference.cycles_cxx(rows, cols, max_m, int(m), int(n), int(k), bias), (
                    rows,
                    cols,
                    m,
                    n,
                    k,
                )
    for m, n, k in shapes:
        assert cycle_model.gemm_cycles(int(m), int(n), int(k), True) == reference.cycles_cxx_default(
            int(m), int(n), int(k), True
        )


def _verilog_defaults(path) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"parameter integer (\w+)\s*=\s*(\d+)", path.read_text())}


@pytest.mark.parametrize("module", ["mac_array.v", "mac_array_hls.v"])
def test_rtl_defaults_are_the_header_constants(module):
    c = cycle_model.constants()
    got = _verilog_defaults(RTL_DIR / module)
    assert (got["ROWS"], got["COLS"], got["MAX_M"]) == (c["MAC_ROWS"], c["MAC_COLS"], c["MAC_MAX_M"])
    assert c["MAC_ROWS"] * c["MAC_COLS"] <= c["MAC_DSPS"]


def test_rtl_geometry_is_generated_from_the_header():
    """The RTL defaults are written by hw/gen/mac_geometry.py, and it rewrites a stale block."""
    from hw.gen import mac_geometry as gen

    assert gen.main(["--check"]) == 0
    c = cycle_model.constants()
    stale = (
        "module m #(\n    // BEGIN generated geometry\n    parameter integer ROWS = 4,\n"
        "    parameter integer COLS = 4,\n    parameter integer MAX_M = 16,\n    // END generated geometry\n"
    )
    fresh = gen.render(stale, c, RTL_DIR / "stale.v")
    assert _defaults_of(fresh) == {"ROWS": c["MAC_ROWS"], "COLS": c["MAC_COLS"], "MAX_M": c["MAC_MAX_M"]}


def _defaults_of(text: str) -> dict:
    return {k: int(v) for k, v in re.findall(r"parameter integer (\w+)\s*=\s*(\d+)", text)}


def test_blackbox_json_matches_rtl_and_c_model():
    desc = json.loads((RTL_DIR / "mac_array_blackbox.json").read_text())
    for f in desc["rtl_files"] + [e["c_file"] for e in desc["c_files"]]:
        assert (RTL_DIR / f).exists(), f
    hls = (RTL_DIR / "mac_array_hls.v").read_text()
    ports = set(re.findall(r"^\s*(?:input|output)\s+(?:wire|reg)\s*(?:signed\s*)?(?:\[[^\]]+\]\s*)?(\w+)", hls, re.M))
    named = [p for c in desc["c_parameters"] for p in c["rtl_ports"].values()]
    named += list(desc["c_return"]["rtl_ports"].values())
    named += [v for v in desc["rtl_common_signal"].values() if v]
    assert set(named) <= ports, set(named) - ports
    assert desc["rtl_top_module_name"] == "mac_array_hls"
    signature = re.search(rf"{desc['c_function_name']}\(([^)]*)\)", HEADER.read_text()).group(1)
    c_args = [re.findall(r"(\w+)\s*$", arg.strip())[0] for arg in signature.split(",")]
    assert [c["c_name"] for c in desc["c_parameters"]] == c_args
    assert int(desc["rtl_performance"]["latency"]) == cycle_model.gemm_cycles(1, 1, 1)


def test_layer_macs_match_the_reference_mac_counter():
    """host.cycle_model's block plan and GEMM list against model/macs.py (independent, torch side)."""
    from host.model_configs import get_config, num_tokens
    from model.block_plan import plan_blocks
    from model.macs import VitDims, count_macs

    for name, keep in (("deit_tiny_patch16_224", 1.0), ("deit_tiny_patch16_224", 0.7), ("onion_tiny", 0.5)):
        cfg = get_config(name)
        d = cfg["embed_dim"]
        dims = VitDims(
            n_patch=num_tokens(cfg) - 1,
            patch_dim=cfg["in_chans"] * cfg["patch_size"] ** 2,
            embed_dim=d,
            attn_dim=d,
            mlp_hidden=int(d * cfg["mlp_ratio"]),
            num_classes=cfg["num_classes"],
        )
        plans = plan_blocks(cfg["depth"], dims.n_patch, (3, 6, 9), keep, 1.0, last_cls_row=False)
        ref = count_macs(dims, plans, 1)
        selector_only = sum(p.tokens_in * d for p in plans if p.cls_row)  # not a MAC-array GEMM here
        ours = cycle_model.model_macs(name, keep, 1.0, (3, 6, 9), training=True)
        assert ours == ref["forward"] + ref["backward"] - selector_only, name
        assert cycle_model.model_macs(name, keep, 1.0, (3, 6, 9), training=False) == ref["forward"] - selector_only


def test_cycle_model_behaviour():
    deit = "deit_tiny_patch16_224"
    full = cycle_model.model_latency(deit)
    pruned = cycle_model.model_latency(deit, token_keep=0.7)
    assert pruned < full
    assert cycle_model.model_latency(deit, training=False) < full / 2.5
    assert cycle_model.dsp_bound_seconds(cycle_model.model_macs(deit)) < full
    for g in cycle_model.layer_gemms(deit, 197):
        assert 0 < cycle_model.utilisation(g.m, g.n, g.k, g.bias) <= 1
    with pytest.raises(ValueError, match="keys_per_query"):
        cycle_model.layer_cycles(deit, 50, keys_per_query=60)
