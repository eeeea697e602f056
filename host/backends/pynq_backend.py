"""The board backend: the Onion overlay on the ZCU102 through PYNQ (imported only here).

Thin by design: four `pynq.allocate` buffers (one per m_axi port); per call the 64-bit port base
addresses, the opcode and exactly the registers the op declares are written, the regions the op
reads are flushed and the regions it writes invalidated (host/backends/call_plan.py, from
engine_spec.json), ap_start, ap_done polled with a timeout, the counter registers read back.
Everything the engine computes is decided by the driver.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import ModuleType

from host import engine_spec
from host.backends.base import PortMemoryBackend, Region, read_counter_registers
from host.backends.call_plan import plan_call

AP_START, AP_DONE = 0x1, 0x2
DEFAULT_IP_NAME = "onion_engine_0"  # hw/scripts/vivado_bd.tcl; engine_spec.json overlay.ip overrides


def _import_pynq() -> ModuleType:
    try:
        import pynq
    except ImportError as exc:
        raise ImportError(
            "the pynq backend runs on the ZCU102's PYNQ image (pip install pynq==4.0.0 there); "
            "off the board use --backend csim"
        ) from exc
    return pynq


class PynqBackend(PortMemoryBackend):
    def __init__(
        self,
        words: dict[str, int] | None = None,
        overlay: object | None = None,
        allocate: Callable | None = None,
        timeout_s: float = 10.0,
    ):
        """overlay/allocate: injected by tests (a recording fake device); default: PYNQ's."""
        if overlay is None or allocate is None:
            pynq = _import_pynq()

            bit, _ = engine_spec.overlay_paths()
            if not bit.exists():
                raise FileNotFoundError(f"overlay bitstream {bit} not found (build it with make bitstream)")
            overlay = overlay or pynq.Overlay(str(bit))
            allocate = allocate or pynq.allocate
        spec = engine_spec.load_spec()
        # the engine's instance name in the block design (hw/scripts/vivado_bd.tcl)
        ip_name = spec["overlay"].get("ip", DEFAULT_IP_NAME)
        self.ip = getattr(overlay, ip_name, None) or overlay
        self.mem = {p: allocate(shape=(n,), dtype=dtype) for p, (n, dtype) in self._port_words(words).items()}
        self._init_common()
        self.timeout_s = timeout_s
        self.busy_s = 0.0  # measured time the fabric spent on calls

    # -- memory --
    def alloc(self, port: str, n_words: int) -> Region:
        """As PortMemoryBackend.alloc; the zero fill is cleaned to DDR at once, so no dirty line of
        it can be evicted over what the engine later writes there (per-call maintenance flushes
        only the regions a call reads)."""
        region = super().alloc(port, n_words)
        region.array.flush()
        return region

    # -- registers --
    def _write(self, name: str, value: int) -> None:
        self.ip.write(engine_spec.register_offset(name), int(value) & 0xFFFFFFFF)

    def _read(self, name: str) -> int:
        return int(self.ip.read(engine_spec.register_offset(name)))

    def call(self, op: str | int, **registers: int) -> int:
        self._register_values(registers)  # names and 32-bit ranges, as every backend
        plan = plan_call(op, registers, self.mem["aux"])
        for span in plan.flush + plan.invalidate:
            if span.word_offset + span.words > self.mem[span.port].size:
                raise ValueError(
                    f"engine {op}: {span.register}={span.word_offset} + {span.words} words overruns "
                    f"the {span.port} memory ({self.mem[span.port].size} words)"
                )
        for port in self.PORTS:  # 64-bit base addresses: low word, then high word
            addr = int(self.mem[port].device_address)
            offset = engine_spec.register_offset(f"{port}_addr")
            self.ip.write(offset, addr & 0xFFFFFFFF)
            self.ip.write(offset + 4, addr >> 32)
        for name, value in plan.writes:
            self._write(name, value)
        for span in plan.flush:  # what the engine reads must be in DDR
            self.mem[span.port][span.word_offset : span.word_offset + span.words].flush()
        start = time.perf_counter()
        self._write("ctrl", AP_START)
        while not self._read("ctrl") & AP_DONE:
            if time.perf_counter() - start > self.timeout_s:
                raise TimeoutError(
                    f"engine {op}: no ap_done after {self.timeout_s:.1f} s (ctrl="
                    f"{self._read('ctrl'):#x}); is the overlay loaded and clocked?"
                )
        self.busy_s += time.perf_counter() - start
        for span in plan.invalidate:  # drop stale lines of what the engine wrote
            self.mem[span.port][span.word_offset : span.word_offset + span.words].invalidate()
        self._last = read_counter_registers(self._read)
        return self._last["status"]
