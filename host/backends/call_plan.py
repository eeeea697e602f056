"""What one engine call costs the ARM: the registers it writes and the buffer bytes it must keep coherent.

The pynq backend does exactly this plan (host/backends/pynq_backend.py) and the latency model
charges exactly this plan (host/host_timing.py), so the report cannot drift from the backend.
Everything is derived from hw/spec/engine_spec.json through host/engine_spec.py: the registers
an op declares (ops.<op>.regs), the regions they address (ops.<op>.regions, sized by the call's
registers) and which of them the engine writes (dma.writes): regions it reads are flushed (cleaned
to DDR) before ap_start, regions it writes are invalidated after ap_done.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from host import engine_spec
from host.backends.base import read_counter_registers

CACHE_LINE_BYTES = 64  # Cortex-A53 L1/L2 line: maintenance by virtual address works per line


@dataclass(frozen=True)
class Span:
    """A region of one port's buffer that a call reads or writes."""

    port: str
    register: str
    word_offset: int
    words: int
    itemsize: int

    @property
    def byte_offset(self) -> int:
        return self.word_offset * self.itemsize

    @property
    def nbytes(self) -> int:
        return self.words * self.itemsize

    @property
    def line_bytes(self) -> int:
        """Bytes of the whole cache lines the span touches (buffers start page-aligned)."""
        if self.words == 0:
            return 0
        first = self.byte_offset // CACHE_LINE_BYTES
        last = (self.byte_offset + self.nbytes - 1) // CACHE_LINE_BYTES
        return (last - first + 1) * CACHE_LINE_BYTES


@dataclass(frozen=True)
class CallPlan:
    op: str | None  # None: an opcode the spec does not declare
    writes: tuple[tuple[str, int], ...]  # (register, value) in order, opcode first
    flush: tuple[Span, ...]  # regions the engine reads
    invalidate: tuple[Span, ...]  # regions the engine writes

    @property
    def maintained_bytes(self) -> int:
        return sum(s.line_bytes for s in self.flush + self.invalidate)


def call_dims(registers: dict, aux: np.ndarray | None, op: str) -> dict[str, int]:
    """The layout symbols of a call from its registers; Z (key-list entries) of a SPARSE attention
    is row_ptr[N] of the CSR lists the host wrote at keys_off in `aux`."""
    n = int(registers.get("n_tokens", 0))
    z = n * n
    if int(registers.get("flags", 0)) & engine_spec.flag("SPARSE") and "keys_off" in engine_spec.op(op)["regs"]:
        if aux is None:
            raise ValueError(f"{op}: a SPARSE call's key-list size needs the aux memory")
        at = int(registers["keys_off"]) + n
        if not 0 <= at < aux.size:
            raise ValueError(f"{op}: keys_off={registers['keys_off']} puts row_ptr[{n}] outside the aux memory")
        z = int(aux[at])
    return dict(
        N=n,
        P=max(n - 1, 0),
        K=int(registers.get("n_keep", 0)) or n,
        D=int(registers.get("dim", 0)),
        H=int(registers.get("heads", 0)),
        M=int(registers.get("mlp_dim", 0)),
        I=int(registers.get("in_dim", 0)),
        O=int(registers.get("out_dim", 0)),
        Z=z,
        G=2 if int(registers.get("flags", 0)) & engine_spec.flag("GRAD_ACCUMULATE") else 1,
    )


def register_writes(op: str | int, registers: dict[str, int]) -> tuple[str | None, tuple[tuple[str, int], ...]]:
    """(op name, [(register, value)]): the opcode, then every register the op declares (0 where
    the caller gave none, so no value of an earlier call is left behind). A register the op does
    not declare is a ValueError (the engine would ignore it). An undeclared opcode writes what it
    was given (the engine answers BAD_OPCODE)."""
    name = op if isinstance(op, str) else engine_spec.op_name(int(op))
    code = engine_spec.opcode(name) if isinstance(op, str) else int(op)
    if name is None:
        return None, (("opcode", code),) + tuple(registers.items())
    declared = engine_spec.op(name)["regs"]
    extra = [r for r in registers if r not in declared]
    if extra:
        raise ValueError(f"{name} does not read register(s) {', '.join(extra)}; it reads: {', '.join(declared)}")
    return name, (("opcode", code),) + tuple((r, int(registers.get(r, 0))) for r in declared)


def plan_call(op: str | int, registers: dict[str, int], aux: np.ndarray | None = None) -> CallPlan:
    """The register writes and the flush / invalidate spans of one call."""
    name, writes = register_writes(op, registers)
    if name is None:
        return CallPlan(None, writes, (), ())
    flags = int(registers.get("flags", 0))
    dims = call_dims(registers, aux, name)
    flush, invalidate = [], []
    for reg, port, size, written, needs in engine_spec.op_access(name):
        if needs and not flags & needs:
            continue  # keys_off without SPARSE, keep_off without GATHER: not moved
        span = Span(port, reg, int(registers.get(reg, 0)), engine_spec.region_words(size, **dims), _itemsize(port))
        (invalidate if written else flush).append(span)
    return CallPlan(name, writes, tuple(flush), tuple(invalidate))


@functools.cache
def _itemsize(port: str) -> int:
    return np.dtype(engine_spec.port_dtype(port)).itemsize


@functools.cache
def counter_registers() -> tuple[str, ...]:
    """The output registers the backend reads back after a call (read_counter_registers' own list)."""
    names: list[str] = []
    read_counter_registers(lambda name: names.append(name) or 0)
    return tuple(names)


def register_accesses(plan: CallPlan, polls: int) -> int:
    """AXI-Lite accesses of one call: both words of every port's 64-bit base address, the plan's
    register writes, ap_start, `polls` reads of ctrl, the counter registers."""
    return 2 * len(engine_spec.ports()) + len(plan.writes) + 1 + polls + len(counter_registers())
