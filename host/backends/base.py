"""The one small interface every engine backend offers, and what every backend shares.

    alloc(port, n_words) -> Region      port: 'wts' | 'act' | 'grd' | 'aux' (word offsets per port)
    call(op, **registers) -> status     one engine op, registers by name (hw/spec/engine_spec.json)
    call_checked(op, **registers)       raises EngineError on a non-zero status
    read_counters() -> dict             the last call's counters (engine_spec.json "counters")
    read_stats(op, region) -> dict      per-tensor (max |word|, saturations) the op wrote
    kind                                'csim' | 'pynq' (what the latency numbers mean)

`csim` is host/backends/csim.py (the engine's C++ on the CPU); `pynq` is
host/backends/pynq_backend.py (the bitstream on the ZCU102). Picking one (open_backend) lives in
host/backends/__init__.py, so this module imports no backend and no backend cycle exists.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from host import engine_spec

PORT_DTYPES = engine_spec.WORD_DTYPES  # word type name (engine_spec.json ports.*.word) -> numpy dtype


class EngineError(RuntimeError):
    """An engine call returned a non-zero status."""

    def __init__(self, op: str, status: int):
        self.op, self.status = op, status
        super().__init__(
            f"engine {op} failed: {engine_spec.status_name(status)} ({status}): {engine_spec.status_doc(status)}"
        )


@dataclass
class Region:
    """A block of words in one port's memory: `offset` goes into the registers, `array` is a view."""

    port: str
    offset: int
    array: np.ndarray


def input_registers() -> dict[str, dict]:
    """The input registers a call may set by name (the port base addresses are the backend's)."""
    return {r["name"]: r for r in engine_spec.registers() if r["dir"] == "in" and not r["name"].endswith("_addr")}


def counter_plan() -> tuple[tuple[str, str | None, tuple[str, ...]], ...]:
    """The counters as engine_spec.json "counters" declares them, flattened once per loaded spec:
    (key, port or None, register names low word first) for "status" (one register), each scalar
    counter and each AXI field of each port."""
    return _counter_plan(id(engine_spec.load_spec()))


@functools.lru_cache(maxsize=4)
def _counter_plan(spec_id: int) -> tuple[tuple[str, str | None, tuple[str, ...]], ...]:
    decl = engine_spec.load_spec()["counters"]
    plan = [("status", None, ("status",))]
    plan += [(k, None, tuple(regs)) for k, regs in decl.items() if not k.startswith("_") and k != "axi"]
    for port in engine_spec.ports():
        plan += [(f, port, tuple(r.format(port=port) for r in regs)) for f, regs in decl["axi"].items()]
    return tuple(plan)


def read_counter_registers(read: Callable[[str], int]) -> dict:
    """The counters of the last call from its output registers (`read(name)`: one 32-bit word), as
    engine_spec.json "counters" declares them: {"status", "macs", "cycles", "saturations",
    "elementwise_cycles", "min_axi_bytes", "axi": {port: {"rd_bytes", "wr_bytes", "rd_bursts",
    "wr_bursts"}}}; a counter spread over _lo/_hi registers is joined, low word first."""
    plan = counter_plan()
    out: dict = {"axi": {port: {} for port in dict.fromkeys(port for _, port, _ in plan if port)}}
    for key, port, regs in plan:
        value = int(read(regs[0]))
        for i, name in enumerate(regs[1:], start=1):
            value |= int(read(name)) << (32 * i)
        if port is None:
            out[key] = value
        else:
            out["axi"][port][key] = value
    return out


def zero_counters(status: int) -> dict:
    """The counters of a call rejected before it ran: nothing done, nothing moved."""
    return read_counter_registers(lambda name: status if name == "status" else 0)


class PortMemoryBackend:
    """What every backend shares: a bump allocator over the four port memories (`self.mem`, one
    array per port), register-name checks, counters and stats of the last call. A subclass sets
    `self.mem`, calls `_init_common()` and implements `call` (setting `self._last`)."""

    PORTS = engine_spec.ports()

    def _init_common(self) -> None:
        self._next = {port: 0 for port in self.PORTS}
        self._inputs = input_registers()
        self._last = None

    def _port_words(self, words: dict[str, int] | None, default: int = 1 << 22) -> dict[str, tuple[int, type]]:
        """{port: (words, numpy dtype)}: `words` per port (default 4 Mi), dtypes from engine_spec.json."""
        words = dict(words or {})
        return {p: (int(words.get(p, default)), engine_spec.port_dtype(p)) for p in self.PORTS}

    # -- memory --
    def alloc(self, port: str, n_words: int) -> Region:
        """Reserves n_words in a port's memory (bump allocator); zero-filled."""
        if port not in self.mem:
            raise ValueError(f"unknown port {port!r}; ports: {', '.join(self.PORTS)}")
        start, n_words = self._next[port], int(n_words)
        if n_words < 0 or start + n_words > self.mem[port].size:
            raise ValueError(f"port {port}: cannot allocate {n_words} words ({self.mem[port].size - start} free)")
        self._next[port] = start + n_words
        view = self.mem[port][start : start + n_words]
        view[:] = 0
        return Region(port, start, view)

    def reset(self, port: str | None = None) -> None:
        """Frees every allocation of a port (or of all ports)."""
        for p in [port] if port else self.PORTS:
            self._next[p] = 0

    # -- calls --
    def _register_values(self, registers: dict) -> dict[str, int]:
        """The named input registers as ints; ValueError for unknown names or values over 32 bits."""
        values = {}
        for name, value in registers.items():
            if name not in self._inputs or name == "opcode":
                raise ValueError(f"unknown input register {name!r}; known: {', '.join(self._inputs)}")
            value = int(value)
            if not 0 <= value < (1 << 32):
                raise ValueError(f"register {name}={value} does not fit 32 bits")
            values[name] = value
        return values

    def call_checked(self, op: str | int, **registers: int) -> dict:
        """call(), raising EngineError on a non-zero status; returns read_counters()."""
        status = self.call(op, **registers)
        if status != 0:
            raise EngineError(str(op), status)
        return self.read_counters()

    def read_counters(self) -> dict:
        """The last call's counters: status, macs, cycles, saturations, elementwise_cycles,
        min_axi_bytes and axi bytes/bursts per port (read_counter_registers)."""
        if self._last is None:
            raise RuntimeError("no engine call yet")
        return {k: ({p: dict(v) for p, v in val.items()} if k == "axi" else val) for k, val in self._last.items()}

    def read_stats(self, op: str, stats: Region) -> dict[str, tuple[int, int]]:
        """Per-tensor (max |word|, saturations) an op wrote at stats_off."""
        names = engine_spec.op_tensors(op)
        values = np.asarray(stats.array[: 2 * len(names)]).reshape(-1, 2)
        return {name: (int(v[0]), int(v[1])) for name, v in zip(names, values)}


@runtime_checkable
class EngineBackend(Protocol):
    def alloc(self, port: str, n_words: int) -> Region: ...
    def call(self, op: str | int, **registers: int) -> int: ...
    def call_checked(self, op: str | int, **registers: int) -> dict: ...
    def read_counters(self) -> dict: ...
    def read_stats(self, op: str, stats: Region) -> dict: ...
