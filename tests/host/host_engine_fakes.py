"""Test doubles for the engine backends: a recording proxy and a fake PYNQ device.

The fake device records every register write the pynq backend makes and, on ap_start, runs the
op by handing the register image and its four buffers to the C-sim library: so the pynq adapter's
register writes are checked against the engine declaration by the engine itself.
"""

from __future__ import annotations

import ctypes

import numpy as np

from host import engine_spec
from host.backends.call_plan import plan_call
from host.backends.csim import build_library


class RecordingBackend:
    """Wraps a backend; records (op, registers) of every call."""

    def __init__(self, inner):
        self.inner = inner
        self.calls: list[tuple[str, dict]] = []
        self.kind = "csim"

    def alloc(self, port, n_words):
        return self.inner.alloc(port, n_words)

    def call(self, op, **regs):
        self.calls.append((op, dict(regs)))
        return self.inner.call(op, **regs)

    def call_checked(self, op, **regs):
        self.calls.append((op, dict(regs)))
        return self.inner.call_checked(op, **regs)

    def read_counters(self):
        return self.inner.read_counters()

    def read_stats(self, op, region):
        return self.inner.read_stats(op, region)


class FakeBuffer(np.ndarray):
    """What pynq.allocate returns, with the A53's cache between it and DDR made explicit.

    The array is what the CPU sees (its cache); `ddr` (on the allocation) is what the engine sees.
    flush() copies a view's bytes to DDR, invalidate() copies DDR back over them: the most
    pessimistic cache (nothing reaches DDR or comes back without maintenance). A view keeps its
    byte offset into the allocation and its device address, as PynqBuffer does; every
    flush/invalidate is logged on the allocation as (index of the engine call it serves, byte
    offset, bytes): flushes before a call, invalidations after it.
    """

    def __array_finalize__(self, obj):
        root = getattr(obj, "root", None)
        self.root = root
        if root is not None:
            self.byte_offset = self.ctypes.data - root.ctypes.data
            self.device_address = root.device_address + self.byte_offset

    def _range(self) -> slice:
        if self.root is None or not 0 <= self.byte_offset <= self.root.nbytes - self.nbytes:
            raise AssertionError("cache maintenance on memory outside the allocation")
        return slice(self.byte_offset, self.byte_offset + self.nbytes)

    def _bytes(self) -> np.ndarray:
        return self.view(np.ndarray).reshape(-1).view(np.uint8)

    def flush(self):
        r = self._range()
        self.root.ddr[r] = self._bytes()
        self.root.flushed.append((self.root.allocator.calls, r.start, r.stop - r.start))

    def invalidate(self):
        r = self._range()
        self._bytes()[:] = self.root.ddr[r]
        self.root.invalidated.append((self.root.allocator.calls - 1, r.start, r.stop - r.start))


class FakeAllocator:
    def __init__(self):
        self.buffers = []
        self.calls = 0  # engine runs so far (the fake IP counts them)
        self._next_address = 0x4000_0000

    def __call__(self, shape, dtype):
        buf = np.zeros(shape, dtype=dtype).view(FakeBuffer)
        buf.root, buf.byte_offset, buf.allocator = buf, 0, self
        buf.device_address = self._next_address
        buf.ddr = np.zeros(buf.nbytes, dtype=np.uint8)
        buf.flushed, buf.invalidated = [], []
        self._next_address += 0x1000_0000
        self.buffers.append(buf)
        return buf


class FakeEngineIP:
    """s_axilite register file of the engine; ap_start runs the op through the C-sim library on
    the buffers' DDR side. `changed[i]`: {port: byte indices} call i changed in DDR."""

    def __init__(self, allocator: FakeAllocator):
        self.allocator = allocator
        self.writes: list[tuple[int, int]] = []
        self.regs: dict[int, int] = {}
        self.changed: list[dict[str, np.ndarray]] = []
        lib = ctypes.CDLL(str(build_library()))
        self._entry = getattr(lib, engine_spec.load_spec()["csim_build"]["entry"])
        self._entry.restype = ctypes.c_int
        self._entry.argtypes = [ctypes.c_void_p] * 5
        self.ctrl_offset = engine_spec.register("ctrl")["offset"]

    def write(self, offset, value):
        self.writes.append((offset, value))
        self.regs[offset] = value
        if offset == self.ctrl_offset and value & 1:
            self._run()

    def read(self, offset):
        return self.regs.get(offset, 0)

    def _buffer(self, port):
        off = engine_spec.register(f"{port}_addr")["offset"]
        addr = self.regs.get(off, 0) | (self.regs.get(off + 4, 0) << 32)
        for buf in self.allocator.buffers:
            if buf.device_address == addr:
                return buf
        raise AssertionError(f"{port}_addr = {addr:#x} is no allocated buffer")

    def _run(self):
        size = max(r["offset"] for r in engine_spec.registers()) // 4 + 2
        image = np.zeros(size, dtype=np.uint32)
        for off, value in self.regs.items():
            if off % 4 == 0 and off // 4 < size and off != self.ctrl_offset:
                image[off // 4] = value
        ports = engine_spec.ports()
        bufs = [self._buffer(p) for p in ports]
        before = [b.ddr.copy() for b in bufs]
        self._entry(image.ctypes.data, *(b.ddr.ctypes.data for b in bufs))
        self.changed.append({p: np.flatnonzero(b.ddr != old) for p, b, old in zip(ports, bufs, before, strict=True)})
        self.allocator.calls += 1
        for r in engine_spec.registers():
            if r["dir"] == "out":
                self.regs[r["offset"]] = int(image[r["offset"] // 4])
        self.regs[self.ctrl_offset] = 0x2 | 0x4  # ap_done | ap_idle


_BEAT_BYTES = 16  # a 128-bit port
_BURST_BYTES = 256  # 16 beats


class ContractCountersBackend:
    """Wraps a backend and adds the counters of the engine-architecture contract to each call's
    read_counters() - elementwise_cycles, min_axi_bytes and axi {port: rd/wr bytes/bursts} -
    made up deterministically from the regions the op reads and writes (host/backends/call_plan.py):
    each region read or written once in 256-byte bursts of 16-byte beats. A stand-in until the
    engine reports them; `drop` removes counters (tests of the missing-counter error)."""

    def __init__(self, inner, drop=()):
        self.inner = inner
        self.kind = getattr(inner, "kind", "csim")
        self.drop = tuple(drop)
        self.history: list[tuple[str, dict]] = []  # (op, counters) of every call, as returned
        self._extra = None

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def alloc(self, port, n_words):
        return self.inner.alloc(port, n_words)

    def read_stats(self, op, region):
        return self.inner.read_stats(op, region)

    def call(self, op, **regs):
        status = self.inner.call(op, **regs)
        self._extra = self._contract(str(op), regs) if status == 0 else None
        if status == 0:
            self.history.append((str(op), self.read_counters()))
        return status

    def call_checked(self, op, **regs):
        from host.backends.base import EngineError

        status = self.call(op, **regs)
        if status != 0:
            raise EngineError(str(op), status)
        return self.read_counters()

    def read_counters(self):
        c = dict(self.inner.read_counters())
        if self._extra is not None:
            c.update(self._extra)
        for key in self.drop:
            if "." in key:
                _, port, field = key.split(".")
                c["axi"] = {p: dict(v) for p, v in c["axi"].items()}
                c["axi"][port].pop(field, None)
            else:
                c.pop(key, None)
        return c

    def _contract(self, op, regs):
        plan = plan_call(op, regs, self.inner.mem["aux"])
        axi = {p: {"rd_bytes": 0, "wr_bytes": 0, "rd_bursts": 0, "wr_bursts": 0} for p in engine_spec.ports()}
        minimum, elementwise = 0, 0
        for side, spans in (("rd", plan.flush), ("wr", plan.invalidate)):
            for span in spans:
                beats = -(-span.nbytes // _BEAT_BYTES) * _BEAT_BYTES
                axi[span.port][f"{side}_bytes"] += beats
                axi[span.port][f"{side}_bursts"] += -(-beats // _BURST_BYTES)
                minimum += beats
                elementwise += span.words // 8 + 12  # a made-up II=1 pass over 8 lanes + depth
        return {"elementwise_cycles": elementwise, "min_axi_bytes": minimum, "axi": axi}
