"""Backend selection: auto falls back to csim without a board; pynq off the board fails clearly."""

import importlib.util

import pytest
from host_fixtures import TINY

from host.backends import open_backend, resolve_kind
from host.backends.base import EngineBackend
from host.backends.pynq_backend import PynqBackend
from host.engine_driver import EngineDriver


@pytest.mark.skipif(importlib.util.find_spec("pynq") is not None, reason="pynq installed here")
def test_auto_picks_csim_without_a_board_and_pynq_explains():
    assert resolve_kind("auto") == "csim"
    with pytest.raises(ImportError, match="--backend csim"):
        PynqBackend(words={"wts": 8, "act": 8, "grd": 8, "aux": 8})


def test_open_backend_gives_the_common_interface():
    backend = open_backend("csim", EngineDriver.required_words(TINY))
    assert isinstance(backend, EngineBackend) and backend.kind == "csim"
    with pytest.raises(ValueError, match="backend"):
        resolve_kind("gpu")


# --- the pynq backend against a fake device with a modelled cache (tests/host/host_engine_fakes.py) ---
import json  # noqa: E402

import numpy as np  # noqa: E402
from host_engine_fakes import FakeAllocator, FakeEngineIP, RecordingBackend  # noqa: E402
from spec_reading import call_layout_dims  # noqa: E402

from host import engine_spec  # noqa: E402
from host.backends.csim import CsimBackend  # noqa: E402
from host.engine_model import EngineViT  # noqa: E402
from host.loss import cross_entropy  # noqa: E402
from host.model_init import init_weights  # noqa: E402
from host.ta_selector import Selection  # noqa: E402


def _raw_spec() -> dict:
    with open(engine_spec.SPEC_PATH) as f:
        return json.load(f)


def _fake_pynq(words):
    alloc = FakeAllocator()
    ip = FakeEngineIP(alloc)
    return PynqBackend(words=words, overlay=ip, allocate=alloc), alloc, ip


def _log(alloc, kind: str, call: int) -> set:
    """{(port, byte offset, bytes)} flushed or invalidated for one call, by port."""
    return {
        (port, off, n)
        for port, buf in zip(engine_spec.ports(), alloc.buffers, strict=True)
        for c, off, n in getattr(buf, kind)
        if c == call
    }


def test_pynq_linear_maintains_exactly_its_regions_and_returns_the_csim_result():
    words = {p: 256 for p in engine_spec.ports()}
    be, alloc, ip = _fake_pynq(words)
    ref = CsimBackend(words=words)
    rng = np.random.default_rng(0)
    n, i, o = 3, 8, 5
    regs = {}
    for backend in (be, ref):
        pad = backend.alloc("act", 3)  # regions start off any alignment
        x, y = backend.alloc("act", n * i), backend.alloc("act", n * o)
        w = backend.alloc("wts", engine_spec.layout_size("linear_params", I=i, O=o))
        st = backend.alloc("aux", 8)
        x.array[:] = rng.integers(-900, 900, x.array.size)
        w.array[:] = rng.integers(-900, 900, w.array.size)
        y.array[:] = 7  # stale host data the engine overwrites
        regs = dict(
            n_tokens=n, in_dim=i, out_dim=o, x_off=x.offset, y_off=y.offset, w_off=w.offset, stats_off=st.offset
        )
        if backend is be:
            assert alloc.buffers[1].flushed[-1] == (0, 2 * y.offset, 2 * y.array.size)  # zero fill cleaned
            for buf in alloc.buffers:
                buf.flushed.clear()
        assert pad.offset == 0 and backend.call("LINEAR_FWD", **regs) == 0
        rng = np.random.default_rng(0)
    # x [N, I] and the parameter block are read; y [N, O] and 2 stats words per tensor are written
    tensors = len(_raw_spec()["ops"]["LINEAR_FWD"]["tensors"])
    w_words = engine_spec.layout_size("linear_params", I=i, O=o)
    assert _log(alloc, "flushed", 0) == {("act", 2 * regs["x_off"], 2 * n * i), ("wts", 2 * regs["w_off"], 2 * w_words)}
    assert _log(alloc, "invalidated", 0) == {
        ("act", 2 * regs["y_off"], 2 * n * o),
        ("aux", 4 * regs["stats_off"], 4 * 2 * tensors),
    }
    for port in engine_spec.ports():
        np.testing.assert_array_equal(be.mem[port], ref.mem[port])
    assert be.read_counters()["macs"] == ref.read_counters()["macs"] == n * i * o


def test_pynq_writes_only_the_declared_registers_and_rejects_others():
    be, alloc, ip = _fake_pynq({p: 64 for p in engine_spec.ports()})
    ip.writes.clear()
    be.call("GELU_FWD", n_tokens=1, dim=4, x_off=0, y_off=8, stats_off=0)
    offsets = {off for off, _ in ip.writes}
    declared = set(_raw_spec()["ops"]["GELU_FWD"]["regs"]) | {"opcode", "ctrl"}
    addr = {engine_spec.register(f"{p}_addr")["offset"] + k for p in engine_spec.ports() for k in (0, 4)}
    assert offsets - addr == {engine_spec.register(r)["offset"] for r in declared}
    with pytest.raises(ValueError, match="does not read register"):
        be.call("GELU_FWD", n_tokens=1, dim=4, heads=2)
    with pytest.raises(ValueError, match="overruns the act memory"):
        be.call("GELU_FWD", n_tokens=4, dim=32, x_off=0, y_off=0, stats_off=0)


def _expected_spans(op: str, regs: dict, aux: np.ndarray) -> tuple[set, set]:
    """The regions of one call from the raw JSON: sizes by op_regions, directions by dma.writes."""
    spec = _raw_spec()
    writes = set(spec["dma"]["writes"]) | (set(spec["dma"]["writes_in_forward"]) if op.endswith("_FWD") else set())
    dims, sparse, gather = call_layout_dims(op, regs, aux, spec["flags"])
    read, written = set(), set()
    for reg, (port, words) in engine_spec.op_regions(op, **dims).items():
        if (reg == "keys_off" and not sparse) or (reg == "keep_off" and not gather):
            continue
        size = 4 if port == "aux" else 2
        (written if reg in writes else read).add((port, size * regs[reg], size * words))
    return read, written


def test_pynq_training_image_keeps_the_cache_coherent_with_per_region_maintenance():
    """A sparse forward + backward through the driver with a cache that keeps nothing coherent by
    itself: per call, the flushed / invalidated ranges are the op's regions, every byte the engine
    changed was invalidated, and logits and gradients equal the C-sim backend's bit for bit."""
    weights = init_weights(TINY, 3)
    patches = np.random.default_rng(4).normal(size=(1, 16, 16))
    sel = Selection([1], token_keep=0.7, attn_keep=0.3)
    out = []
    for backend in (
        CsimBackend(words=EngineDriver.required_words(TINY)),
        _fake_pynq(EngineDriver.required_words(TINY)),
    ):
        pynq = isinstance(backend, tuple)
        be, alloc, ip = backend if pynq else (backend, None, None)
        rec = RecordingBackend(be)
        model = EngineViT(EngineDriver(rec, TINY))
        model.load_weights(weights)
        if pynq:
            start = alloc.calls
            for buf in alloc.buffers:
                buf.flushed.clear()
        r = model.forward(patches, sel)
        g = model.backward(r, cross_entropy(r.logits, 3)[1])
        out.append((r.logits, g))
    for k, (op, regs) in enumerate(rec.calls):
        call = start + k
        read, written = _expected_spans(op, regs, be.mem["aux"])
        assert _log(alloc, "flushed", call) == read, op
        assert _log(alloc, "invalidated", call) == written, op
        for port, changed in ip.changed[call].items():
            covered = np.zeros(be.mem[port].nbytes, dtype=bool)
            for p, off, n in written:
                if p == port:
                    covered[off : off + n] = True
            assert covered[changed].all(), f"{op} wrote {port} bytes it does not declare"
    assert any(regs.get("flags", 0) & 1 for op, regs in rec.calls if op == "ATTN_FWD")
    np.testing.assert_array_equal(out[0][0], out[1][0])
    for name in out[0][1]:
        np.testing.assert_array_equal(out[0][1][name], out[1][1][name])


def test_call_plan_maintains_the_gradient_accumulators_only_when_accumulating():
    """GRAD_ACCUMULATE: the int32 accumulators at gacc_off are read-modify-written by the engine, so
    the pynq plan flushes and invalidates them, and the frac / stats tables are twice as long."""
    from host.backends.call_plan import plan_call

    regs = dict(
        n_tokens=4,
        in_dim=8,
        out_dim=3,
        x_off=0,
        w_off=0,
        gy_off=64,
        gx_off=128,
        gw_off=256,
        gacc_off=1000,
        fracs_off=100,
        stats_off=200,
    )
    count = len(engine_spec.op_tensors("LINEAR_BWD"))
    params = 3 * 8 + 3
    plain = plan_call("LINEAR_BWD", regs)
    acc = plan_call("LINEAR_BWD", dict(regs, flags=engine_spec.flag("GRAD_ACCUMULATE")))
    spans = lambda seq: {(s.register, s.word_offset, s.words) for s in seq}  # noqa: E731
    assert ("gacc_off", 1000, params) not in spans(plain.flush) | spans(plain.invalidate)
    assert ("gacc_off", 1000, params) in spans(acc.flush) and ("gacc_off", 1000, params) in spans(acc.invalidate)
    assert ("fracs_off", 100, count) in spans(plain.flush) and ("fracs_off", 100, 2 * count) in spans(acc.flush)
    assert ("stats_off", 200, 4 * count) in spans(acc.invalidate)
