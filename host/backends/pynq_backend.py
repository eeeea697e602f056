"""The board backend: the Onion overlay on the ZCU102 through PYNQ (imported only here).

Thin by design: four `pynq.allocate` buffers (one per m_axi port), registers written at the byte
offsets engine_spec.json declares, ap_start, ap_done polled with a timeout, caches flushed before
and invalidated after every call. Everything the engine computes is decided by the driver.
"""
from __future__ import annotations

import time

import numpy as np

from host import engine_spec
from host.backends.csim import PORT_DTYPES, EngineError, Region

AP_START, AP_DONE = 0x1, 0x2
DEFAULT_IP_NAME = "onion_engine_0"   # hw/scripts/vivado_bd.tcl; engine_spec.json overlay.ip overrides


def _import_pynq():
    try:
        import pynq
    except ImportError as exc:
        raise ImportError("the pynq backend runs on the ZCU102's PYNQ image (pip install pynq==4.0.0 there); "
                          "off the board use --backend csim") from exc
    return pynq


class PynqBackend:
    PORTS = ("wts", "act", "grd", "aux")

    def __init__(self, words: dict[str, int] | None = None, overlay=None, allocate=None,
                 timeout_s: float = 10.0):
        """overlay/allocate: injected by tests (a recording fake device); default: PYNQ's."""
        if overlay is None or allocate is None:
            pynq = _import_pynq()
            from host.backends.base import overlay_paths

            bit, _ = overlay_paths()
            if not bit.exists():
                raise FileNotFoundError(f"overlay bitstream {bit} not found (build it with make bitstream)")
            overlay = overlay or pynq.Overlay(str(bit))
            allocate = allocate or pynq.allocate
        spec = engine_spec.load_spec()
        # the engine's instance name in the block design (hw/scripts/vivado_bd.tcl)
        ip_name = spec["overlay"].get("ip", DEFAULT_IP_NAME)
        self.ip = getattr(overlay, ip_name, None) or overlay
        words = dict(words or {})
        self.mem = {p: allocate(shape=(int(words.get(p, 1 << 22)),),
                                dtype=PORT_DTYPES[spec["ports"][p]["word"]]) for p in self.PORTS}
        self._next = {p: 0 for p in self.PORTS}
        self._inputs = {r["name"]: r for r in engine_spec.registers()
                        if r["dir"] == "in" and not r["name"].endswith("_addr")}
        self.timeout_s = timeout_s
        self.busy_s = 0.0     # measured time the fabric spent on calls
        self._last = None

    # -- memory --
    def alloc(self, port: str, n_words: int) -> Region:
        if port not in self.mem:
            raise ValueError(f"unknown port {port!r}; ports: {', '.join(self.PORTS)}")
        start, n_words = self._next[port], int(n_words)
        if n_words < 0 or start + n_words > self.mem[port].size:
            raise ValueError(f"port {port}: cannot allocate {n_words} words ({self.mem[port].size - start} free)")
        self._next[port] = start + n_words
        view = self.mem[port][start:start + n_words]
        view[:] = 0
        return Region(port, start, view)

    def reset(self, port: str | None = None) -> None:
        for p in [port] if port else self.PORTS:
            self._next[p] = 0

    # -- registers --
    def _write(self, name: str, value: int) -> None:
        self.ip.write(engine_spec.register(name)["offset"], int(value) & 0xFFFFFFFF)

    def _read(self, name: str) -> int:
        return int(self.ip.read(engine_spec.register(name)["offset"]))

    def call(self, op, **registers: int) -> int:
        code = engine_spec.opcode(op) if isinstance(op, str) else int(op)
        values = {name: 0 for name in self._inputs}
        for name, value in registers.items():
            if name not in self._inputs or name == "opcode":
                raise ValueError(f"unknown input register {name!r}; known: {', '.join(self._inputs)}")
            if not 0 <= int(value) < (1 << 32):
                raise ValueError(f"register {name}={value} does not fit 32 bits")
            values[name] = int(value)
        values["opcode"] = code
        for port in self.PORTS:          # 64-bit base addresses: low word, then high word
            addr = int(self.mem[port].device_address)
            offset = engine_spec.register(f"{port}_addr")["offset"]
            self.ip.write(offset, addr & 0xFFFFFFFF)
            self.ip.write(offset + 4, addr >> 32)
        for name, value in values.items():
            self._write(name, value)
        for buf in self.mem.values():
            buf.flush()
        start = time.perf_counter()
        self._write("ctrl", AP_START)
        while not self._read("ctrl") & AP_DONE:
            if time.perf_counter() - start > self.timeout_s:
                raise TimeoutError(f"engine {op}: no ap_done after {self.timeout_s:.1f} s (ctrl="
                                   f"{self._read('ctrl'):#x}); is the overlay loaded and clocked?")
        self.busy_s += time.perf_counter() - start
        for buf in self.mem.values():
            buf.invalidate()
        self._last = {"status": self._read("status"),
                      "macs": self._read("macs_lo") | (self._read("macs_hi") << 32),
                      "cycles": self._read("cycles_lo") | (self._read("cycles_hi") << 32),
                      "saturations": self._read("saturations")}
        return self._last["status"]

    def call_checked(self, op, **registers: int) -> dict:
        status = self.call(op, **registers)
        if status != 0:
            raise EngineError(str(op), status)
        return self.read_counters()

    def read_counters(self) -> dict:
        if self._last is None:
            raise RuntimeError("no engine call yet")
        return dict(self._last)

    def read_stats(self, op: str, stats: Region) -> dict[str, tuple[int, int]]:
        names = engine_spec.op_tensors(op)
        values = np.asarray(stats.array[:2 * len(names)]).reshape(-1, 2)
        return {name: (int(v[0]), int(v[1])) for name, v in zip(names, values)}
