"""Host-side time on the ZCU102's ARM: measured here with the host's own code, scaled to a Cortex-A53.

Nothing here runs on a board. What is measured on this machine:
  - the host's Python/numpy work per image and per optimizer step (host/latency_report.py times
    the real Trainer around the engine calls; this module only supplies the scaling),
  - the example selector's per-epoch bookkeeping at ImageNet size (1,281,167 examples),
  - the Python cost of the pynq backend's register path per engine call (a null device).
Per call, the register accesses and the bytes of cache maintenance are the pynq backend's own
policy (host/backends/call_plan.py), so the model charges what the backend does.
What is modelled (stated constants, A53_REFERENCE / PS_PL below):
  - the A53's speed: this machine's numpy copy bandwidth against a published A53 STREAM copy
    figure; the host's work is large-array numpy passes (quantize, dequantize, gradient sums,
    AdamW), i.e. memory-bound, so a bandwidth ratio is the scale factor,
  - the AXI-Lite bus time per register access, and cache maintenance at the A53's bandwidth.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from host import engine_spec
from host.backends import call_plan
from host.backends.call_plan import CACHE_LINE_BYTES, CallPlan


@dataclass(frozen=True)
class A53Reference:
    """The published figure the scale factor is taken against (a model input, not a measurement)."""

    copy_gb_s: float = 2.448
    source: str = "Cortex-A53 STREAM copy bandwidth, TI SPRAD45 (AM62x benchmarks) Table 3-2: 2448 MB/s"
    clock_ghz: float = 1.2  # the ZCU102 PYNQ image's APU clock (the ZU9EG -2 allows up to 1.33 GHz)


@dataclass(frozen=True)
class PsPlModel:
    """PS-PL control costs per engine call that C-sim cannot see (model inputs, stated)."""

    # An assumption, not a measurement: an uncached AXI-Lite read from the A53 through
    # M_AXI_HPM0_FPD to a PL slave is a round trip through the interconnect and a clock crossing
    # (~45 cycles of the 150 MHz PL clock); writes are posted and cost less, but we charge the same.
    axilite_access_us: float = 0.3
    # ap_done is polled; one poll beyond the first on average (the engine is busy for >= 10 us).
    polls_per_call: int = 2


A53_REFERENCE = A53Reference()
PS_PL = PsPlModel()


def measure_copy_gb_s(n_bytes: int = 64 << 20, repeats: int = 5) -> float:
    """numpy copy bandwidth on this machine (read + write counted, as STREAM does), best of repeats."""
    n = n_bytes // 4
    src = np.ones(n, dtype=np.float32)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2 * n * 4 / best / 1e9


@dataclass(frozen=True)
class ArmScale:
    """Seconds here x factor = seconds modelled on the A53."""

    factor: float
    here_copy_gb_s: float
    a53_copy_gb_s: float
    source: str

    def to_a53(self, seconds_here: float) -> float:
        return seconds_here * self.factor

    def as_dict(self) -> dict:
        return {
            "factor": self.factor,
            "here_copy_gb_s": self.here_copy_gb_s,
            "a53_copy_gb_s": self.a53_copy_gb_s,
            "source": self.source,
            "label": "model: this machine's numpy copy bandwidth / the A53 reference",
        }


def arm_scale(reference: A53Reference = A53_REFERENCE, here_copy_gb_s: float | None = None) -> ArmScale:
    here = measure_copy_gb_s() if here_copy_gb_s is None else float(here_copy_gb_s)
    if here <= 0 or reference.copy_gb_s <= 0:
        raise ValueError(f"copy bandwidths must be positive (here {here}, A53 {reference.copy_gb_s})")
    # never below 1: the A53 is not faster than this machine at anything the host does
    return ArmScale(max(1.0, here / reference.copy_gb_s), here, reference.copy_gb_s, reference.source)


def cache_maintenance_seconds(n_bytes: int, reference: A53Reference = A53_REFERENCE) -> float:
    """Flush or invalidate of n_bytes by virtual address (DC CIVAC / DC IVAC per 64-byte line),
    modelled as one pass over the lines at the A53's copy bandwidth (dirty lines are written back
    at most that fast; clean lines cost less, so this errs high). The per-sync system-call cost of
    PYNQ's flush()/invalidate() is not modelled."""
    lines = -(-int(n_bytes) // CACHE_LINE_BYTES)
    return lines * CACHE_LINE_BYTES / (reference.copy_gb_s * 1e9)


def call_cache_bytes(plan: CallPlan) -> int:
    """Bytes of whole cache lines the pynq backend flushes and invalidates for this call: the
    regions the op reads and writes (call_plan.plan_call, the backend's own policy)."""
    return plan.maintained_bytes


def register_accesses(plan: CallPlan, model: PsPlModel = PS_PL) -> int:
    """AXI-Lite accesses host/backends/pynq_backend.py makes for this call: both words of every
    port's base address, the opcode and the op's declared registers, ap_start, the ap_done polls,
    the counter registers (call_plan.register_accesses)."""
    return call_plan.register_accesses(plan, model.polls_per_call)


class _NullDevice:
    """An engine register file that is done at once: times only the host's register path."""

    def __init__(self):
        self.ctrl = engine_spec.register("ctrl")["offset"]

    def write(self, offset: int, value: int) -> None:
        pass

    def read(self, offset: int) -> int:
        return 0x2 if offset == self.ctrl else 0


class _NullBuffer(np.ndarray):
    device_address = 0x4000_0000

    def flush(self) -> None:
        pass

    def invalidate(self) -> None:
        pass


def measure_register_path_s(calls: int = 50, repeats: int = 5) -> float:
    """Seconds here of one PynqBackend.call with a device that finishes at once (Python cost of
    the call plan, register writes, polls, counter reads and flush()/invalidate() calls; no fabric
    time, no cache maintenance itself); the
    fastest of `repeats` batches (contention on a shared machine only adds time)."""
    from host.backends.pynq_backend import PynqBackend

    def allocate(shape: int | tuple[int, ...], dtype: np.dtype | type) -> _NullBuffer:
        return np.zeros(shape, dtype=dtype).view(_NullBuffer)

    be = PynqBackend(words={p: 64 for p in engine_spec.ports()}, overlay=_NullDevice(), allocate=allocate)
    regs = {"n_tokens": 2, "in_dim": 4, "out_dim": 4, "x_off": 0, "y_off": 0, "w_off": 0, "stats_off": 0}
    be.call("LINEAR_FWD", **regs)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            be.call("LINEAR_FWD", **regs)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def example_selector_epoch_s(num_examples: int = 1_281_167, keep: float = 0.8, seed: int = 0) -> float:
    """Seconds here of one epoch's example-selector bookkeeping at ImageNet size: record every
    presentation of the subset, then a swap round (the trainer does both once per epoch)."""
    from host.example_selector import ExampleSelector

    sel = ExampleSelector(num_examples, keep, interval=1, seed=seed)
    rng = np.random.default_rng(seed)
    subset = sel.subset
    correct = rng.random(subset.size) < 0.7
    var = rng.random(subset.size)
    start = time.perf_counter()
    sel.record(subset, correct, var)
    sel.end_epoch(1)
    return time.perf_counter() - start


__all__ = [
    "A53Reference",
    "PsPlModel",
    "A53_REFERENCE",
    "PS_PL",
    "ArmScale",
    "arm_scale",
    "measure_copy_gb_s",
    "cache_maintenance_seconds",
    "call_cache_bytes",
    "register_accesses",
    "measure_register_path_s",
    "example_selector_epoch_s",
]
