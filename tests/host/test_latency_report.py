"""host/latency_report.py: the report is the sum of the engine's own counters, nothing else.

The engine calls run on the C-sim library; the counters of the engine-architecture contract that
the C-sim does not report yet (element-wise cycles, AXI bytes/bursts, min AXI bytes) come from
ContractCountersBackend, a deterministic stand-in (tests/host/host_engine_fakes.py).
"""

from __future__ import annotations

import json

import pytest

from host import cycle_model, engine_spec, host_timing
from host import latency_report as lr
from host.backends.csim import CsimBackend
from host.model_configs import get_config, mlp_hidden, patch_dim

from .host_engine_fakes import ContractCountersBackend, FakeAllocator, FakeEngineIP, RecordingBackend

MICRO = "onion_micro"
BLOCKS = (1, 2, 3)
WIDTHS = {p: 128 for p in engine_spec.ports()}


class _Stack:
    """Counting -> Recording -> ContractCounters -> C-sim; keeps handles on the inner layers."""

    def __init__(self, drop=()):
        self.drop = drop
        self.fake = self.recording = None

    def __call__(self, words):
        self.fake = ContractCountersBackend(CsimBackend(words=words), drop=self.drop)
        self.recording = RecordingBackend(self.fake)
        return self.recording


def _run(token_keep):
    stack = _Stack()
    run = lr.run_image(MICRO, token_keep, 0.3, BLOCKS, backend_factory=stack, label="micro")
    return run, stack


@pytest.fixture(scope="module")
def dense():
    return _run(1.0)


@pytest.fixture(scope="module")
def sparse():
    return _run(0.5)


def _costs():
    scale = host_timing.ArmScale(10.0, 20.0, 2.0, "test")
    return lr.HostCosts(scale=scale, register_path_s=2e-5, selector_epoch_s=0.5)


def test_report_sums_are_the_engine_counters(sparse):
    run, stack = sparse
    assert {r.phase for r in run.records} == {"train", "infer"}
    returned = stack.fake.history[-len(run.records) :]  # the measured image's calls
    assert [op for op, _ in returned] == [r.op for r in run.records]
    assert any(r.op == "ATTN_FWD" for r in run.records)
    row = lr.make_row(run, _costs(), widths=WIDTHS)
    train = [c for (_, c), r in zip(returned, run.records) if r.phase == "train"]
    per = row["per_image"]
    assert per["array_cycles"] == sum(c["cycles"] for c in train)
    assert per["macs"] == sum(c["macs"] for c in train)
    assert per["elementwise_cycles"] == sum(c["elementwise_cycles"] for c in train)
    assert per["min_axi_bytes"] == sum(c["min_axi_bytes"] for c in train)
    assert per["axi_bytes"] == sum(v["rd_bytes"] + v["wr_bytes"] for c in train for v in c["axi"].values())
    assert per["axi_bursts"] == sum(v["rd_bursts"] + v["wr_bursts"] for c in train for v in c["axi"].values())
    for port in engine_spec.ports():
        assert per["axi"][port]["wr_bytes"] == sum(c["axi"][port]["wr_bytes"] for c in train)
    infer = [c for (_, c), r in zip(returned, run.records) if r.phase == "infer"]
    assert row["inference"]["array_cycles"] == sum(c["cycles"] for c in infer)
    assert row["inference"]["engine_calls"] == len(infer) == 2 + 2 * get_config(MICRO)["depth"]


def _dense_gemms(op: str, r: dict) -> list[tuple[int, int, int, bool]]:
    """(M, N, K, bias) of the GEMMs a dense engine op issues, from the op's math (dW = dY^T X)."""
    n, d = r.get("n_tokens", 0), r.get("dim", 0)
    if op == "PATCH_EMBED_FWD":
        return [(n - 1, d, r["in_dim"], True)]
    if op == "PATCH_EMBED_BWD":
        return [(d, r["in_dim"], n - 1, False)]
    if op in ("ATTN_FWD", "ATTN_BWD"):
        h = r["heads"]
        hd = d // h
        if op == "ATTN_FWD":
            return [(n, 3 * d, d, True)] + h * [(n, n, hd, False), (n, hd, n, False)] + [(n, d, d, True)]
        return (
            [(d, d, n, False), (n, d, d, False)]
            + h * [(n, n, hd, False)]
            + h * 3 * [(n, hd, n, False)]
            + [(3 * d, d, n, False), (n, d, 3 * d, False)]
        )
    if op in ("MLP_FWD", "MLP_BWD"):
        k, m = r["n_keep"], r["mlp_dim"]
        if op == "MLP_FWD":
            return [(k, m, d, True), (k, d, m, True)]
        return [(d, m, k, False), (k, m, d, False), (m, d, k, False), (k, d, m, False)]
    if op == "HEAD_FWD":
        return [(1, r["out_dim"], d, True)]
    if op == "HEAD_BWD":
        return [(r["out_dim"], d, 1, False), (1, d, r["out_dim"], False)]
    raise AssertionError(f"no reference GEMM list for {op}")


def test_mac_array_column_is_the_rtl_cycle_formula_on_the_same_gemms(dense):
    """Dense model: the report's MAC-array cycles and MACs equal host/cycle_model.py's RTL-measured
    formula summed over the GEMMs each call issued (taken from the registers the driver wrote)."""
    run, stack = dense
    calls = stack.recording.calls[-len(run.records) :]
    assert [op for op, _ in calls] == [r.op for r in run.records]
    for phase, key in (("train", "per_image"), ("infer", "inference")):
        gemms = [g for (op, regs), rec in zip(calls, run.records) if rec.phase == phase for g in _dense_gemms(op, regs)]
        row = lr.make_row(run, _costs(), widths=WIDTHS)
        assert row[key]["array_cycles"] == sum(cycle_model.gemm_cycles(m, n, k, b) for m, n, k, b in gemms)
    train = [g for (op, regs), rec in zip(calls, run.records) if rec.phase == "train" for g in _dense_gemms(op, regs)]
    assert row["per_image"]["macs"] == sum(m * n * k for m, n, k, _ in train)
    cfg = get_config(MICRO)
    assert any(m == cfg["embed_dim"] and n == patch_dim(cfg) for m, n, _, _ in train)
    assert any(n == mlp_hidden(cfg) for _, n, _, _ in train)


def test_overlap_rule_and_axi_model_by_hand():
    def rec(array, ew, rd, wr, phase="train"):
        axi = {p: {"rd_bytes": 0, "wr_bytes": 0, "rd_bursts": 0, "wr_bursts": 0} for p in engine_spec.ports()}
        axi["wts"].update(rd_bytes=rd, rd_bursts=1)
        axi["act"].update(wr_bytes=wr, wr_bursts=1)
        return lr.CallRecord("X", phase, 0, array, ew, 0, axi, 0, 0.0)

    mem = lr.MemoryModel(hp_port_bits=128, ddr_mt_s=2666, ddr_bits=64, axi_efficiency=0.5)
    # 16 B/cycle x 0.5 = 8 B/cycle per port and channel: 8000 B read = 1000 cycles
    compute_bound = rec(1500, 500, 8000, 800)
    axi_bound = rec(100, 0, 16000, 0)
    assert lr.call_axi_cycles(compute_bound, 150, WIDTHS, mem) == pytest.approx(1000)
    s = lr.sum_phase([compute_bound, axi_bound], "train", 150, WIDTHS, mem, overlap="dataflow")
    assert s["total_cycles"] == s["dataflow_cycles"] == pytest.approx(2000 + 2000)  # max(2000, 1000) + max(100, 2000)
    assert s["exposed_axi_cycles"] == pytest.approx(1900)
    assert s["serial_cycles"] == pytest.approx(2100 + 3000)
    serial = lr.sum_phase([compute_bound, axi_bound], "train", 150, WIDTHS, mem)  # the default rule
    assert lr.DEFAULT_OVERLAP == "serial"
    assert serial["total_cycles"] == pytest.approx(2100 + 3000)
    assert serial["exposed_axi_cycles"] == pytest.approx(3000)
    with pytest.raises(ValueError, match="overlap"):
        lr.sum_phase([], "train", 150, WIDTHS, mem, overlap="guess")
    narrow = {p: 32 for p in engine_spec.ports()}  # a 32-bit port: 2 B/cycle at 0.5
    assert lr.call_axi_cycles(axi_bound, 150, narrow, mem) == pytest.approx(8000)
    # the DDR bounds the sum of all ports: 4 ports x 16 B at 300 MHz exceed 2666 MT/s x 8 B x 0.5
    many = rec(0, 0, 0, 0)
    for p in many.axi:
        many.axi[p]["rd_bytes"] = 16000
    ddr_cycles = 64000 / (2666e6 * 8 * 0.5 / 300e6)
    assert lr.call_axi_cycles(many, 300, WIDTHS, mem) == pytest.approx(max(2000, ddr_cycles))


@pytest.mark.parametrize(
    "drop, named",
    [
        (("elementwise_cycles",), "elementwise_cycles"),
        (("axi",), "axi"),
        (("axi.grd.wr_bursts",), "axi.grd.wr_bursts"),
        (("min_axi_bytes",), "min_axi_bytes"),
    ],
)
def test_missing_counter_fails_naming_it(drop, named):
    with pytest.raises(lr.MissingCounterError, match=named.replace(".", r"\.")):
        lr.run_image(MICRO, 1.0, 0.3, BLOCKS, backend_factory=_Stack(drop=drop))


def test_missing_port_width_fails_naming_it():
    with pytest.raises(lr.MissingCounterError, match="ports.wts.axi_bits"):
        lr.port_width_bits("wts", {"ports": {"wts": {"word": "int16"}}})
    assert lr.port_width_bits("act", {"ports": {"act": {"axi_bits": 256}}}) == 256


def test_json_report_schema(dense, sparse, monkeypatch, capsys):
    report = lr.build_report(runs=[dense[0], sparse[0]], costs=_costs(), widths=WIDTHS)
    monkeypatch.setattr(lr, "build_report", lambda **_: report)
    from host import train_on_board

    assert train_on_board.main(["--report", "--json", "--quick"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["setting"] for r in out["rows"]] == ["dense", "Tri-Level/0.5"]
    for row in out["rows"]:
        for key in (
            "model",
            "setting",
            "train_hours_per_epoch",
            "inference_ms",
            "paper_train_hours_per_epoch",
            "paper_inference_ms",
            "per_image",
        ):
            assert key in row
        per = row["per_image"]
        for key in (
            "array_cycles",
            "axi_bytes",
            "axi_bursts",
            "elementwise_cycles",
            "total_cycles",
            "host_seconds",
            "min_axi_bytes",
        ):
            assert isinstance(per[key], (int, float)) and per[key] >= 0, key
        parts = per["seconds"]
        assert sum(parts.values()) == pytest.approx(per["seconds_total"])
        hours = per["seconds_total"] * lr.IMAGENET_TRAIN_IMAGES * row["example_keep"] / 3600
        assert row["train_hours_per_epoch"] == pytest.approx(hours)
        assert per["host_seconds"] == pytest.approx(per["seconds_total"] - per["total_cycles"] / 150e6)
        assert row["dsp_bound_train_hours_per_epoch"] < row["train_hours_per_epoch"]
    assert out["rows"][0]["example_keep"] == 1.0 and out["rows"][1]["example_keep"] == 0.8
    # pruning removes MAC-array work
    assert out["rows"][1]["per_image"]["macs"] < out["rows"][0]["per_image"]["macs"]
    assert "Tri-Level/0.5" in lr.format_report(report)


def test_cli_reports_a_missing_counter_as_one_line(monkeypatch, capsys):
    def fail(**_):
        raise lr.MissingCounterError("engine counter(s) axi missing")

    monkeypatch.setattr(lr, "build_report", fail)
    from host import train_on_board

    assert train_on_board.main(["--report"]) == 2
    assert capsys.readouterr().err.strip() == "error: engine counter(s) axi missing"


def test_register_accesses_and_cache_bytes_match_the_pynq_backend():
    """The per-call PS-PL count and cache bytes the report charges are what
    host/backends/pynq_backend.py does on the fake device: its register accesses and the lines
    of the ranges it flushes and invalidates."""
    from host.backends.call_plan import plan_call
    from host.backends.pynq_backend import PynqBackend

    alloc = FakeAllocator()
    ip = FakeEngineIP(alloc)
    be = PynqBackend(words={p: 4096 for p in engine_spec.ports()}, overlay=ip, allocate=alloc)
    x = be.alloc("act", 2 * 4)
    w = be.alloc("wts", 4 * 4 + 4)
    y = be.alloc("act", 2 * 4)
    st = be.alloc("aux", 8)
    ip.writes.clear()
    for buf in alloc.buffers:
        buf.flushed.clear()
    regs = dict(n_tokens=2, in_dim=4, out_dim=4, x_off=x.offset, y_off=y.offset, w_off=w.offset, stats_off=st.offset)
    assert be.call("LINEAR_FWD", **regs) == 0
    outputs = sum(1 for r in engine_spec.registers() if r["dir"] == "out")  # status and the counters
    expected = len(ip.writes) + host_timing.PS_PL.polls_per_call + outputs
    plan = plan_call("LINEAR_FWD", regs, be.mem["aux"])
    assert host_timing.register_accesses(plan) == expected
    lines = sum(
        (off + n - 1) // 64 - off // 64 + 1
        for buf in alloc.buffers
        for log in (buf.flushed, buf.invalidated)
        for _, off, n in log
    )
    assert host_timing.call_cache_bytes(plan) == 64 * lines


def test_cache_maintenance_and_scale_are_monotone():
    assert host_timing.cache_maintenance_seconds(1) == host_timing.cache_maintenance_seconds(64) > 0
    one_mb = host_timing.cache_maintenance_seconds(1 << 20)
    assert host_timing.cache_maintenance_seconds(2 << 20) == pytest.approx(2 * one_mb)
    scale = host_timing.arm_scale(here_copy_gb_s=24.48)
    assert scale.factor == pytest.approx(10.0) and scale.to_a53(0.5) == pytest.approx(5.0)


def test_breakdown_plot_is_written(dense, sparse, tmp_path):
    from bench import bench_latency

    report = lr.build_report(runs=[dense[0], sparse[0]], costs=_costs(), widths=WIDTHS)
    out = tmp_path / "latency_breakdown.png"
    bench_latency.plot(report, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {k for k, _ in bench_latency.PARTS} == set(report["rows"][0]["per_image"]["seconds"])


def test_real_csim_counters_feed_the_report_or_are_named_missing():
    """No stand-in: the C-sim's own read_counters(). Before the engine reports the full contract
    the report must stop naming what is missing; once it does, the sums must be its counters."""

    class Keep:
        backend = None

        def __call__(self, words):
            self.backend = RecordingBackend(CsimBackend(words=words))
            return self.backend

    keep = Keep()
    try:
        run = lr.run_image(MICRO, 0.5, 0.3, BLOCKS, backend_factory=keep)
    except lr.MissingCounterError as exc:
        have = set(keep.backend.read_counters())
        missing = [k for k in lr.COUNTER_KEYS if k not in have]
        assert missing and all(k in str(exc) for k in missing)
        return
    row = lr.make_row(run, _costs(), widths={p: lr.port_width_bits(p) for p in engine_spec.ports()})
    assert row["per_image"]["array_cycles"] == sum(r.array_cycles for r in run.records if r.phase == "train")
    assert row["per_image"]["axi_bytes"] >= row["per_image"]["min_axi_bytes"] > 0
    assert row["per_image"]["elementwise_cycles"] > 0


def test_host_time_excludes_engine_calls_and_bookkeeping():
    axi = {p: {k: 0 for k in lr.AXI_KEYS} for p in engine_spec.ports()}
    recs = [
        lr.CallRecord("A", "train", 0, 0, 0, 0, axi, 0, 0.30),
        lr.CallRecord("B", "infer", 0, 0, 0, 0, axi, 0, 0.05),
    ]
    timers = {"eval": 0.08, "step": 0.10, "loss": 0.01, "grad_readback": 0.04}
    m = lr._host_measure(0.60, timers, recs, {"train": 0.02, "infer": 0.01}, ("loss", "grad_readback"))
    assert m.train_image_s == pytest.approx(0.60 - 0.08 - 0.10 - 0.30 - 0.02)
    assert m.infer_image_s == pytest.approx(0.08 - 0.05 - 0.01)
    assert m.items["rest"] == pytest.approx(m.train_image_s - 0.05)
    slow = lr.HostMeasure(train_image_s=1.0, step_s=0.05, infer_image_s=0.5, items={"rest": 1.0})
    best = lr._fastest([slow, m])
    assert (best.train_image_s, best.step_s, best.infer_image_s) == (m.train_image_s, 0.05, m.infer_image_s)
