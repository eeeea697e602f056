"""Test doubles for the engine backends: a recording proxy and a fake PYNQ device.

The fake device records every register write the pynq backend makes and, on ap_start, runs the
op by handing the register image and its four buffers to the C-sim library: so the pynq adapter's
register writes are checked against the engine declaration by the engine itself.
"""
from __future__ import annotations

import ctypes

import numpy as np

from host import engine_spec
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
    """What pynq.allocate returns: an ndarray with a device address and cache maintenance."""

    def __array_finalize__(self, obj):
        self.device_address = getattr(obj, "device_address", 0)
        self.flushes = 0
        self.invalidates = 0

    def flush(self):
        self.flushes += 1

    def invalidate(self):
        self.invalidates += 1


class FakeAllocator:
    def __init__(self):
        self.buffers = []
        self._next_address = 0x4000_0000

    def __call__(self, shape, dtype):
        buf = np.zeros(shape, dtype=dtype).view(FakeBuffer)
        buf.device_address = self._next_address
        self._next_address += 0x1000_0000
        self.buffers.append(buf)
        return buf


class FakeEngineIP:
    """s_axilite register file of the engine; ap_start runs the op through the C-sim library."""

    def __init__(self, allocator: FakeAllocator):
        self.allocator = allocator
        self.writes: list[tuple[int, int]] = []
        self.regs: dict[int, int] = {}
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
        bufs = [self._buffer(p) for p in ("wts", "act", "grd", "aux")]
        self._entry(image.ctypes.data, *(b.ctypes.data for b in bufs))
        for r in engine_spec.registers():
            if r["dir"] == "out":
                self.regs[r["offset"]] = int(image[r["offset"] // 4])
        self.regs[self.ctrl_offset] = 0x2 | 0x4   # ap_done | ap_idle


# Registers whose region an op writes (the rest it reads); backward ops also write their scratch.
_WRITTEN = ("y_off", "gx_off", "gw_off", "gs_off", "attn_off", "stats_off")
_BEAT_BYTES = 16      # a 128-bit port
_BURST_BYTES = 256    # 16 beats


class ContractCountersBackend:
    """Wraps a backend and adds the counters of the engine-architecture contract to each call's
    read_counters() - elementwise_cycles, min_axi_bytes and axi {port: rd/wr bytes/bursts} -
    made up deterministically from the regions the op addresses (engine_spec.json ops.*.regions):
    each region read or written once in 256-byte bursts of 16-byte beats. A stand-in until the
    engine reports them; `drop` removes counters (tests of the missing-counter error)."""

    def __init__(self, inner, drop=()):
        self.inner = inner
        self.kind = getattr(inner, "kind", "csim")
        self.drop = tuple(drop)
        self.history: list[tuple[str, dict]] = []   # (op, counters) of every call, as returned
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
        n = int(regs.get("n_tokens", 0))
        flags = int(regs.get("flags", 0))
        z = n * n
        if op.startswith("ATTN") and flags & engine_spec.flag("SPARSE"):
            z = int(self.inner.mem["aux"][int(regs["keys_off"]) + n])
        dims = dict(N=n, P=max(n - 1, 0), K=int(regs.get("n_keep", 0)) or n, D=int(regs.get("dim", 0)),
                    H=int(regs.get("heads", 0)), M=int(regs.get("mlp_dim", 0)), I=int(regs.get("in_dim", 0)),
                    O=int(regs.get("out_dim", 0)), Z=z)
        axi = {p: {"rd_bytes": 0, "wr_bytes": 0, "rd_bursts": 0, "wr_bursts": 0} for p in engine_spec.ports()}
        minimum, elementwise = 0, 0
        for reg, (port, words) in engine_spec.op_regions(op, **dims).items():
            if (reg == "keys_off" and not flags & engine_spec.flag("SPARSE")) or \
                    (reg == "keep_off" and not flags & engine_spec.flag("GATHER")):
                continue
            raw = words * np.dtype(engine_spec.port_dtype(port)).itemsize
            beats = -(-raw // _BEAT_BYTES) * _BEAT_BYTES
            side = "wr" if reg in _WRITTEN else "rd"
            axi[port][f"{side}_bytes"] += beats
            axi[port][f"{side}_bursts"] += -(-beats // _BURST_BYTES)
            minimum += beats
            elementwise += words // 8 + 12        # a made-up II=1 pass over 8 lanes + depth
        return {"elementwise_cycles": elementwise, "min_axi_bytes": minimum, "axi": axi}
