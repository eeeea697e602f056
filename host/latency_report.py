"""`train_on_board.py --report`: Table 2 of the paper from what the engine actually did.

For each model and setting the engine (the csim backend: the engine's own C++) trains one image
(forward + backward) and runs one inference through the real host code (host/trainer.py,
host/engine_driver.py). Every engine call's counters are read back and summed; nothing is
re-derived from a second schedule. Per call:

  MAC array      `cycles`             counted: the RTL-measured cycles of the jobs the engine issued
  element-wise   `elementwise_cycles` counted: trip count x II + depth of every element-wise loop
  AXI            `axi`                counted bytes and bursts per port; time MODELLED at
                                      min(port, 128-bit HP port) x clock x AXI_EFFICIENCY, each
                                      port on its own HP port, bounded by the DDR4's effective rate
  overlap rule   OVERLAP_RULES below; the default follows the engine as written: each call
                 burst-loads its regions, computes on chip, then burst-stores (one after another),
                 and inside the compute the element-wise passes and the MAC array alternate (each
                 pass consumes a finished GEMM result and feeds the next): call = AXI + array +
                 element-wise. 'dataflow' (call = max(array + element-wise, AXI)) is what tile-
                 streamed load/compute/store would give; both totals are in the JSON.
Host (the ZCU102's A53), per image: the trainer's own Python/numpy work around the engine calls
MEASURED here and scaled by host/host_timing.py's A53 factor (a MODEL); AdamW + weight upload per
step, amortised over the batch; cache flush of the regions each call reads and invalidate of those
it writes, the lines the pynq backend itself maintains (host/backends/call_plan.py; time MODELLED:
one pass at the A53's bandwidth); PS-PL register traffic per call (the pynq backend's Python path
MEASURED here and scaled, plus a stated AXI-Lite time per access of that call's own accesses).

The arithmetic is simulated bit-exactly by C-sim; cycles and bytes are counted by the engine;
DDR efficiency, overlap and ARM speed are modelled. No board run exists.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from host import cycle_model, engine_spec, host_timing
from host.backends.call_plan import plan_call
from host.engine_counters import AxiTotals
from host.model_configs import get_config

if TYPE_CHECKING:
    from host.backends.base import EngineBackend, Region

REPO = Path(__file__).resolve().parents[1]
CACHE_DIR = REPO / "build" / "latency"
IMAGENET_TRAIN_IMAGES = 1_281_167
SELECTOR_BLOCKS = (3, 6, 9)
DEFAULT_ATTN_KEEP = 0.3  # R_A of the paper's Tri-Level settings
DEFAULT_EXAMPLE_KEEP = 0.8  # r_e
DEFAULT_BATCH = 1024  # images per AdamW step (the DeiT recipe's batch; gradient accumulation)

# The paper's Table 2 (ZCU102, 150 MHz): (hours per training epoch, ms per inference).
PAPER = {
    ("deit_tiny_patch16_224", 1.0): (13.79, 10.91),
    ("deit_tiny_patch16_224", 0.7): (8.91, 7.36),
    ("deit_small_patch16_224", 1.0): (32.44, 25.68),
    ("deit_small_patch16_224", 0.7): (21.15, 17.61),
}
MODELS = (("DeiT-T", "deit_tiny_patch16_224"), ("DeiT-S", "deit_small_patch16_224"))
TOKEN_KEEPS = (1.0, 0.9, 0.8, 0.7)
QUICK_MODEL = ("micro", "onion_micro", (1, 2, 3))

# The engine's per-call counters this report consumes (host/backends/*.py read_counters()).
COUNTER_KEYS = ("status", "macs", "cycles", "saturations", "elementwise_cycles", "min_axi_bytes", "axi")
AXI_KEYS = ("rd_bytes", "wr_bytes", "rd_bursts", "wr_bursts")


class MissingCounterError(RuntimeError):
    """The backend does not report a counter the report needs (no figure is invented for it)."""


def check_counters(counters: dict, op: str) -> dict:
    """The counters of one call, or MissingCounterError naming what is missing."""
    missing = [k for k in COUNTER_KEYS if k not in counters]
    if not missing:
        ports = engine_spec.ports()
        axi = counters["axi"]
        missing = [f"axi.{p}" for p in ports if p not in axi]
        missing += [f"axi.{p}.{k}" for p in ports if p in axi for k in AXI_KEYS if k not in axi[p]]
    if missing:
        raise MissingCounterError(
            f"engine counter(s) {', '.join(missing)} missing from read_counters() after {op}: the latency "
            f"report needs {', '.join(COUNTER_KEYS)} (axi: {', '.join(AXI_KEYS)} per port) from the engine"
        )
    return counters


# ---------------------------------------------------------------------------------------------
# The ZCU102 memory path (model inputs, stated; see docs/latency.md for the reasoning)
@dataclass(frozen=True)
class MemoryModel:
    hp_port_bits: int = 128  # UG1085: S_AXI_HP{0..3}_FPD are 128-bit AXI slaves
    ddr_mt_s: float = 2666.0  # UG1085: PS DDR controller, DDR4 up to 2666 MT/s
    ddr_bits: int = 64  # ZCU102: 64-bit PS DDR4 component memory
    # Measured on a ZCU102 (Manchester, FPT 2019, "Unexpected Diversity: Quantitative Memory
    # Analysis for Zynq UltraScale+ Systems"): 75 % of the theoretical rate with 128-192 byte
    # bursts; applied to both the HP ports and the DDR.
    axi_efficiency: float = 0.75

    def port_bytes_per_cycle(self, port_bits: int) -> float:
        return min(port_bits, self.hp_port_bits) / 8 * self.axi_efficiency

    def ddr_bytes_per_s(self) -> float:
        return self.ddr_mt_s * 1e6 * self.ddr_bits / 8 * self.axi_efficiency


MEMORY = MemoryModel()

# How one call's AXI transfers and compute combine (calls always run one after another: the host
# waits for ap_done). The MAC array's own operand feed / drain overlap is already in its cycles.
OVERLAP_RULES = {
    "serial": "per call: AXI + MAC array + element-wise (load, compute, store one after another)",
    "dataflow": "per call: max(MAC array + element-wise, AXI) (tile-streamed load/compute/store)",
}
DEFAULT_OVERLAP = "serial"  # hw/include/onion/engine.h run_on_chip: load all regions, compute, store
_WIDTH_KEYS = ("axi_bits", "axi_width_bits", "width_bits", "data_bits", "bits")


def port_width_bits(port: str, spec: dict | None = None) -> int:
    """The AXI data width of an engine port, as hw/spec/engine_spec.json declares it."""
    declared = (spec or engine_spec.load_spec())["ports"].get(port, {})
    for key in _WIDTH_KEYS:
        if key in declared:
            return int(declared[key])
    raise MissingCounterError(
        f"hw/spec/engine_spec.json declares no AXI data width for port {port!r} "
        f"(expected ports.{port}.axi_bits): AXI time cannot be computed"
    )


# ---------------------------------------------------------------------------------------------
# Counting every call
def _aux_memory(backend: EngineBackend | None) -> np.ndarray | None:
    """The aux port memory of a backend, through any wrappers (``.inner``); None when it has none."""
    while backend is not None:
        mem = getattr(backend, "mem", None)
        if mem is not None:
            return mem["aux"]
        backend = getattr(backend, "inner", None)
    return None


@dataclass
class CallRecord(AxiTotals):
    op: str
    phase: str
    macs: int
    array_cycles: int
    elementwise_cycles: int
    min_axi_bytes: int
    axi: dict
    region_bytes: int  # cache lines the pynq backend flushes + invalidates for the call, in bytes
    engine_wall_s: float  # C-sim time of the call on this machine (excluded from host time)
    register_accesses: int = 0  # AXI-Lite accesses the pynq backend makes for the call


class CountingBackend:
    """Wraps a backend: every successful call's counters (checked against COUNTER_KEYS) are kept."""

    def __init__(self, inner: EngineBackend) -> None:
        self.inner = inner
        self.kind = getattr(inner, "kind", "csim")
        self.phase = "train"
        self.records: list[CallRecord] = []
        self.overhead_s = {"train": 0.0, "infer": 0.0}  # this wrapper's own bookkeeping (not host work)

    def __getattr__(self, name: str) -> Any:  # mem, reset, ... of the wrapped backend
        return getattr(self.inner, name)

    def alloc(self, port: str, n_words: int) -> Region:
        return self.inner.alloc(port, n_words)

    def read_counters(self) -> dict:
        return self.inner.read_counters()

    def read_stats(self, op: str, region: Region) -> dict[str, tuple[int, int]]:
        return self.inner.read_stats(op, region)

    def call(self, op: str | int, **regs: int) -> int:
        start = time.perf_counter()
        status = self.inner.call(op, **regs)
        done = time.perf_counter()
        if status == 0:
            c = check_counters(self.inner.read_counters(), str(op))
            plan = plan_call(op, regs, _aux_memory(self.inner))
            self.records.append(
                CallRecord(
                    op=str(op),
                    phase=self.phase,
                    macs=int(c["macs"]),
                    array_cycles=int(c["cycles"]),
                    elementwise_cycles=int(c["elementwise_cycles"]),
                    min_axi_bytes=int(c["min_axi_bytes"]),
                    axi={p: {k: int(c["axi"][p][k]) for k in AXI_KEYS} for p in engine_spec.ports()},
                    region_bytes=host_timing.call_cache_bytes(plan),
                    engine_wall_s=done - start,
                    register_accesses=host_timing.register_accesses(plan),
                )
            )
        self.overhead_s[self.phase] = self.overhead_s.get(self.phase, 0.0) + time.perf_counter() - done
        return status

    def call_checked(self, op: str | int, **regs: int) -> dict:
        from host.backends.base import EngineError

        status = self.call(op, **regs)
        if status != 0:
            raise EngineError(str(op), status)
        return self.inner.read_counters()


# ---------------------------------------------------------------------------------------------
# Counters -> time
def call_axi_cycles(rec: CallRecord, clock_mhz: float, widths: dict[str, int], memory: MemoryModel = MEMORY) -> float:
    """Cycles the call's AXI traffic needs: read and write channels of a port run in parallel, the
    ports in parallel on their own HP ports; all of them share the DDR."""
    per_port = max(
        max(v["rd_bytes"], v["wr_bytes"]) / memory.port_bytes_per_cycle(widths[p]) for p, v in rec.axi.items()
    )
    ddr = rec.axi_bytes / (memory.ddr_bytes_per_s() / (clock_mhz * 1e6))
    return max(per_port, ddr)


def sum_phase(
    records: list[CallRecord],
    phase: str,
    clock_mhz: float,
    widths: dict[str, int],
    memory: MemoryModel = MEMORY,
    overlap: str = DEFAULT_OVERLAP,
) -> dict:
    """Per-phase sums of the counters and the engine time under the overlap rule."""
    if overlap not in OVERLAP_RULES:
        raise ValueError(f"overlap: expected one of {', '.join(OVERLAP_RULES)}, got {overlap!r}")
    recs = [r for r in records if r.phase == phase]
    axi = {p: {k: sum(r.axi[p][k] for r in recs) for k in AXI_KEYS} for p in widths}
    out = dict(
        calls=len(recs),
        macs=sum(r.macs for r in recs),
        array_cycles=sum(r.array_cycles for r in recs),
        elementwise_cycles=sum(r.elementwise_cycles for r in recs),
        min_axi_bytes=sum(r.min_axi_bytes for r in recs),
        axi_bytes=sum(r.axi_bytes for r in recs),
        axi_bursts=sum(r.axi_bursts for r in recs),
        axi=axi,
        region_bytes=sum(r.region_bytes for r in recs),
        register_accesses=sum(r.register_accesses for r in recs),
        engine_wall_s=sum(r.engine_wall_s for r in recs),
    )
    axi_cycles = [call_axi_cycles(r, clock_mhz, widths, memory) for r in recs]
    compute = [r.array_cycles + r.elementwise_cycles for r in recs]
    out["axi_cycles"] = float(sum(axi_cycles))
    out["serial_cycles"] = float(sum(compute) + sum(axi_cycles))
    out["dataflow_cycles"] = float(sum(max(c, a) for c, a in zip(compute, axi_cycles, strict=True)))
    out["total_cycles"] = out[f"{overlap}_cycles"]
    out["exposed_axi_cycles"] = out["total_cycles"] - float(sum(compute))  # AXI not hidden by compute
    return out


# ---------------------------------------------------------------------------------------------
# One image through the real host code
@dataclass
class HostMeasure:
    train_image_s: float = 0.0  # host work per training image (here), engine and step excluded
    step_s: float = 0.0  # AdamW + weight upload per optimizer step (here)
    infer_image_s: float = 0.0  # host work per inference image (here), engine excluded
    step_wts_bytes: int = 0  # weights uploaded per step (flushed once per step)
    # parts of train_image_s (here): the rest is the driver's bookkeeping and gradient accumulation
    items: dict = field(default_factory=dict)


@dataclass
class ImageRun:
    model: str
    config_name: str
    setting: str
    token_keep: float
    attn_keep: float
    records: list = field(default_factory=list)
    host: HostMeasure = field(default_factory=HostMeasure)
    csim_wall_s: float = 0.0


def _setting_name(token_keep: float) -> str:
    return "dense" if token_keep == 1.0 else f"Tri-Level/{token_keep:g}"


def run_image(
    config_name: str,
    token_keep: float,
    attn_keep: float,
    selector_blocks: Sequence[int],
    backend_factory: Callable[[dict[str, int]], EngineBackend] | None = None,
    label: str | None = None,
    seed: int = 0,
    measured_images: int = 2,
) -> ImageRun:
    """After one warm-up image, trains `measured_images` images one by one (each with its own step
    and one inference) through host/trainer.py on the engine; returns the last image's counters of
    every call and the host's own time around them (per part, the fastest image)."""
    from host.engine_driver import EngineDriver
    from host.engine_model import EngineViT
    from host.model_init import init_weights
    from host.trainer import Trainer, TrainSettings

    config = get_config(config_name)
    if backend_factory is None:
        from host.backends import open_backend

        def backend_factory(words: dict[str, int]) -> EngineBackend:
            return open_backend("csim", words)

    wall0 = time.perf_counter()
    be = CountingBackend(backend_factory(EngineDriver.required_words(config)))
    model = EngineViT(EngineDriver(be, config))
    rng = np.random.default_rng(seed)
    shape = (config["in_chans"], config["img_size"], config["img_size"])
    n_train = 10
    data = (
        rng.random((n_train,) + shape, dtype=np.float32),
        rng.integers(0, config["num_classes"], n_train),
        rng.random((1,) + shape, dtype=np.float32),
        rng.integers(0, config["num_classes"], 1),
    )
    r_a = attn_keep if token_keep < 1.0 else 1.0
    settings = TrainSettings(
        epochs=1 + measured_images,
        batch=1,
        token_keep=token_keep,
        attn_keep=r_a,
        example_keep=1.0,
        keep_warmup_start=0.0,
        keep_warmup_end=0.0,
        selector_blocks=list(selector_blocks),
        max_samples_per_epoch=1,
        eval_samples=1,
        seed=seed,
    )
    trainer = Trainer(
        model, config, init_weights(config, seed=seed), data, settings, progress=False, log=lambda *_: None
    )
    timers: dict[str, float] = {}

    def timed(
        key: str, fn: Callable, before: Callable[[], None] | None = None, after: Callable[[], None] | None = None
    ) -> Callable:
        def wrapper(*a: Any, **k: Any) -> Any:
            if before:
                before()
            start = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                timers[key] = timers.get(key, 0.0) + time.perf_counter() - start
                if after:
                    after()

        return wrapper

    def to_phase(phase: str) -> Callable[[], None]:
        def set_phase() -> None:
            be.phase = phase

        return set_phase

    trainer.opt.step = timed("step", trainer.opt.step)
    model.load_weights = timed("step", model.load_weights)
    trainer.evaluate = timed("eval", trainer.evaluate, before=to_phase("infer"), after=to_phase("train"))
    # itemised host work (instance attributes of this run's objects; the loss is a module global
    # of host/trainer.py, restored below)
    items = ("loss", "ta_selector", "grad_readback", "input_quantize", "example_selector")
    drv = model.driver
    drv._read_grads = timed("grad_readback", drv._read_grads)
    drv.load_patches = timed("input_quantize", drv.load_patches)
    trainer.selector.record = timed("example_selector", trainer.selector.record)
    trainer.selector.end_epoch = timed("example_selector", trainer.selector.end_epoch)
    make_selection = trainer._selection

    def selection(*a: Any, **k: Any) -> Any:
        sel = make_selection(*a, **k)
        if be.phase == "train":  # inference selections are part of the eval time
            sel.select = timed("ta_selector", sel.select)
        return sel

    trainer._selection = selection
    import host.trainer as trainer_module

    loss_fn = trainer_module.cross_entropy
    trainer_module.cross_entropy = timed("loss", loss_fn)
    measures, records = [], []
    try:
        trainer.train_epoch()  # warm-up image (first-call costs, frac tables)
        for _ in range(measured_images):  # measured images: forward, loss, backward, step, eval
            be.records.clear()
            be.overhead_s = {"train": 0.0, "infer": 0.0}
            timers.clear()
            start = time.perf_counter()
            trainer.train_epoch()
            epoch_s = time.perf_counter() - start
            records = list(be.records)
            measures.append(_host_measure(epoch_s, timers, records, be.overhead_s, items))
    finally:
        trainer_module.cross_entropy = loss_fn
    wts = sum(np.asarray(region.array).nbytes for region, _ in model.driver.mem.param_regions())
    host = _fastest(measures)
    host.step_wts_bytes = int(wts)
    return ImageRun(
        model=label or config_name,
        config_name=config_name,
        setting=_setting_name(token_keep),
        token_keep=token_keep,
        attn_keep=r_a,
        records=records,
        host=host,
        csim_wall_s=time.perf_counter() - wall0,
    )


def _host_measure(epoch_s: float, timers: dict, records: list, overhead: dict, items: tuple) -> HostMeasure:
    """Host seconds (here) of one measured image: wall time minus the engine calls, minus this
    report's own bookkeeping; the step and the inference apart."""
    engine = {ph: sum(r.engine_wall_s for r in records if r.phase == ph) for ph in ("train", "infer")}
    ev, step = timers.get("eval", 0.0), timers.get("step", 0.0)
    train = max(0.0, epoch_s - ev - step - engine["train"] - overhead.get("train", 0.0))
    parts = {k: timers.get(k, 0.0) for k in items}
    parts["rest"] = max(0.0, train - sum(parts.values()))  # driver bookkeeping, gradient accumulation
    return HostMeasure(
        train_image_s=train,
        step_s=step,
        infer_image_s=max(0.0, ev - engine["infer"] - overhead.get("infer", 0.0)),
        items=parts,
    )


def _fastest(measures: list[HostMeasure]) -> HostMeasure:
    """Per field the fastest of the measured images (timing noise on a shared machine only adds)."""
    best = min(measures, key=lambda m: m.train_image_s)
    return HostMeasure(
        train_image_s=best.train_image_s,
        step_s=min(m.step_s for m in measures),
        infer_image_s=min(m.infer_image_s for m in measures),
        items=dict(best.items),
    )


# ---------------------------------------------------------------------------------------------
# Per-image counters are cached under build/latency/, keyed by the engine build and the setting.
def engine_key() -> str:
    """Hash of the C-sim library (its name carries the hash of the engine sources and flags) and of
    the host code that issues the calls."""
    from host.backends.csim import build_library

    h = hashlib.sha256(build_library().name.encode())
    for name in (
        "engine_driver.py",
        "engine_model.py",
        "trainer.py",
        "ta_selector.py",
        "latency_report.py",
        "backends/call_plan.py",
    ):
        h.update((REPO / "host" / name).read_bytes())
    h.update((REPO / "hw" / "spec" / "engine_spec.json").read_bytes())
    return h.hexdigest()[:16]


def _cache_path(key: str, config_name: str, token_keep: float, attn_keep: float) -> Path:
    return CACHE_DIR / f"{config_name}-t{token_keep:g}-a{attn_keep:g}-{key}.json"


def cached_run(
    config_name: str,
    token_keep: float,
    attn_keep: float,
    selector_blocks: Sequence[int],
    label: str,
    use_cache: bool = True,
) -> ImageRun:
    path = _cache_path(engine_key(), config_name, token_keep, attn_keep) if use_cache else None
    if path is not None and path.exists():
        raw = json.loads(path.read_text())
        raw["records"] = [CallRecord(**r) for r in raw["records"]]
        raw["host"] = HostMeasure(**raw["host"])
        return ImageRun(**raw)
    run = run_image(config_name, token_keep, attn_keep, selector_blocks, label=label)
    if path is not None:
        from host.atomic_io import atomic_write_text

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(asdict(run)))
    return run


# ---------------------------------------------------------------------------------------------
# Rows
@dataclass(frozen=True)
class HostCosts:
    """The scale factor and per-call / per-epoch host costs (measured here, scaled: a model)."""

    scale: host_timing.ArmScale
    register_path_s: float  # Python of one pynq call, here
    selector_epoch_s: float  # example-selector bookkeeping per ImageNet epoch, here

    def as_dict(self) -> dict:
        return {
            "arm_scale": self.scale.as_dict(),
            "register_path_s_here": self.register_path_s,
            "example_selector_epoch_s_here": self.selector_epoch_s,
            "axilite_access_us": host_timing.PS_PL.axilite_access_us,
        }


def measure_host_costs(scale: host_timing.ArmScale | None = None) -> HostCosts:
    return HostCosts(
        scale=scale or host_timing.arm_scale(),
        register_path_s=host_timing.measure_register_path_s(),
        selector_epoch_s=host_timing.example_selector_epoch_s(),
    )


def pspl_seconds(costs: HostCosts, calls: int, register_accesses: int) -> float:
    """PS-PL time on the A53 of `calls` engine calls: the pynq backend's Python path per call
    (measured here, scaled) + their AXI-Lite accesses (the backend's own count per call)."""
    bus = register_accesses * host_timing.PS_PL.axilite_access_us * 1e-6
    return calls * costs.scale.to_a53(costs.register_path_s) + bus


def make_row(
    run: ImageRun,
    costs: HostCosts,
    clock_mhz: float | None = None,
    widths: dict | None = None,
    example_keep: float = DEFAULT_EXAMPLE_KEEP,
    batch: int = DEFAULT_BATCH,
    epoch_images: int = IMAGENET_TRAIN_IMAGES,
    memory: MemoryModel = MEMORY,
    overlap: str = DEFAULT_OVERLAP,
) -> dict:
    clock = float(clock_mhz or engine_spec.load_spec()["clock_mhz"])
    widths = widths or {p: port_width_bits(p) for p in engine_spec.ports()}
    hz = clock * 1e6
    train = sum_phase(run.records, "train", clock, widths, memory, overlap)
    infer = sum_phase(run.records, "infer", clock, widths, memory, overlap)
    a53 = costs.scale.to_a53
    r_e = 1.0 if run.token_keep == 1.0 else example_keep
    images = epoch_images * r_e

    def engine_parts(s: dict) -> dict:
        return {
            "mac_array_s": s["array_cycles"] / hz,
            "elementwise_s": s["elementwise_cycles"] / hz,
            "axi_exposed_s": s["exposed_axi_cycles"] / hz,
        }

    step_s = a53(run.host.step_s) + host_timing.cache_maintenance_seconds(run.host.step_wts_bytes)
    train_parts = dict(
        engine_parts(train),
        host_compute_s=a53(run.host.train_image_s) + a53(costs.selector_epoch_s) / images,
        cache_maintenance_s=host_timing.cache_maintenance_seconds(train["region_bytes"]),
        ps_pl_s=pspl_seconds(costs, train["calls"], train["register_accesses"]),
        optimizer_step_s=step_s / batch,
    )
    infer_parts = dict(
        engine_parts(infer),
        host_compute_s=a53(run.host.infer_image_s),
        cache_maintenance_s=host_timing.cache_maintenance_seconds(infer["region_bytes"]),
        ps_pl_s=pspl_seconds(costs, infer["calls"], infer["register_accesses"]),
        optimizer_step_s=0.0,
    )
    train_s, infer_s = sum(train_parts.values()), sum(infer_parts.values())
    host_s = train_s - train["total_cycles"] / hz
    paper = PAPER.get((run.config_name, run.token_keep))
    dsps = cycle_model.constants()["MAC_DSPS"]
    return {
        "model": run.model,
        "setting": run.setting,
        "token_keep": run.token_keep,
        "attn_keep": run.attn_keep,
        "example_keep": r_e,
        "clock_mhz": clock,
        "train_hours_per_epoch": train_s * images / 3600,
        "inference_ms": infer_s * 1e3,
        "paper_train_hours_per_epoch": paper[0] if paper else None,
        "paper_inference_ms": paper[1] if paper else None,
        "dsp_bound_train_hours_per_epoch": cycle_model.dsp_bound_seconds(train["macs"], dsps, clock) * images / 3600,
        "dsp_bound_inference_ms": cycle_model.dsp_bound_seconds(infer["macs"], dsps, clock) * 1e3,
        "per_image": {
            "array_cycles": train["array_cycles"],
            "axi_bytes": train["axi_bytes"],
            "axi_bursts": train["axi_bursts"],
            "elementwise_cycles": train["elementwise_cycles"],
            "total_cycles": train["total_cycles"],
            "host_seconds": host_s,
            "min_axi_bytes": train["min_axi_bytes"],
            "axi_cycles": train["axi_cycles"],
            "serial_cycles": train["serial_cycles"],
            "dataflow_cycles": train["dataflow_cycles"],
            "macs": train["macs"],
            "engine_calls": train["calls"],
            "axi": train["axi"],
            "cache_region_bytes": train["region_bytes"],
            "register_accesses": train["register_accesses"],
            "mean_burst_bytes": train["axi_bytes"] / train["axi_bursts"] if train["axi_bursts"] else None,
            "seconds": train_parts,
            "seconds_total": train_s,
        },
        "host_items_a53_s": {k: a53(v) for k, v in run.host.items.items()},
        "per_step": {"seconds": step_s, "batch": batch, "weights_bytes": run.host.step_wts_bytes},
        "inference": {
            "array_cycles": infer["array_cycles"],
            "axi_bytes": infer["axi_bytes"],
            "elementwise_cycles": infer["elementwise_cycles"],
            "total_cycles": infer["total_cycles"],
            "engine_calls": infer["calls"],
            "seconds": infer_parts,
        },
        "csim_wall_s": run.csim_wall_s,
    }


def settings(quick: bool = False) -> list[tuple[str, str, float, tuple]]:
    """(label, config, token keep, selector blocks) of every row."""
    if quick:
        label, name, blocks = QUICK_MODEL
        return [(label, name, keep, blocks) for keep in (1.0, 0.7)]
    return [(label, name, keep, SELECTOR_BLOCKS) for label, name in MODELS for keep in TOKEN_KEEPS]


def build_report(
    quick: bool = False,
    attn_keep: float = DEFAULT_ATTN_KEEP,
    example_keep: float = DEFAULT_EXAMPLE_KEEP,
    batch: int = DEFAULT_BATCH,
    use_cache: bool = True,
    runs: list[ImageRun] | None = None,
    costs: HostCosts | None = None,
    widths: dict[str, int] | None = None,
    overlap: str = DEFAULT_OVERLAP,
) -> dict:
    """The whole report as one JSON-able dict (`rows` plus the model inputs it used)."""
    start = time.perf_counter()
    clock = float(engine_spec.load_spec()["clock_mhz"])
    widths = widths or {p: port_width_bits(p) for p in engine_spec.ports()}  # fails before C-sim runs
    if runs is None:
        runs = [
            cached_run(name, keep, attn_keep, blocks, label, use_cache) for label, name, keep, blocks in settings(quick)
        ]
    costs = costs or measure_host_costs()
    rows = [make_row(r, costs, clock, widths, example_keep, batch, overlap=overlap) for r in runs]
    return {
        "rows": rows,
        "clock_mhz": clock,
        "port_width_bits": widths,
        "batch": batch,
        "epoch_images": IMAGENET_TRAIN_IMAGES,
        "memory_model": asdict(MEMORY),
        "host_costs": costs.as_dict(),
        "overlap": overlap,
        "overlap_rule": OVERLAP_RULES[overlap] + "; calls run one after another",
        "labels": {
            "simulated bit-exactly": "arithmetic (C-sim of the engine's C++)",
            "counted": "MAC-array cycles, element-wise cycles, AXI bytes and bursts, engine calls",
            "measured here, scaled to the A53 (model)": "host Python/numpy time, pynq register path",
            "modelled": "DDR/HP-port efficiency, overlap, ARM speed, AXI-Lite access time, cache maintenance rate",
            "not run": "no board run exists; no Vitis/Vivado",
        },
        "wall_s": time.perf_counter() - start,
    }


# ---------------------------------------------------------------------------------------------
def _f(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def format_table(report: dict) -> str:
    lines = [
        "| model | setting | train h/epoch | paper h/epoch | DSP-bound h/epoch | inference ms | paper ms "
        "| DSP-bound ms | MAC array | element-wise | AXI exposed | host | cache | PS-PL | AdamW/img |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        s = r["per_image"]["seconds"]
        ms = {k: v * 1e3 for k, v in s.items()}
        lines.append(
            f"| {r['model']} | {r['setting']} | {r['train_hours_per_epoch']:.2f} | "
            f"{_f(r['paper_train_hours_per_epoch'], '.2f')} | {r['dsp_bound_train_hours_per_epoch']:.2f} | "
            f"{r['inference_ms']:.2f} | {_f(r['paper_inference_ms'], '.2f')} | {r['dsp_bound_inference_ms']:.2f} | "
            f"{ms['mac_array_s']:.2f} | {ms['elementwise_s']:.2f} | {ms['axi_exposed_s']:.2f} | "
            f"{ms['host_compute_s']:.2f} | {ms['cache_maintenance_s']:.2f} | {ms['ps_pl_s']:.2f} | "
            f"{ms['optimizer_step_s']:.2f} |"
        )
    return "\n".join(lines)


def format_report(report: dict) -> str:
    sc = report["host_costs"]["arm_scale"]
    mem = report["memory_model"]
    return "\n".join(
        [
            f"Training / inference latency per image from the engine's own counters at {report['clock_mhz']:g} MHz "
            f"(C-sim run of every call; training = forward + backward of each of {report['epoch_images']:,} "
            f"ImageNet images x r_e, batch 1, AdamW every {report['batch']} images).",
            "Per-image training time split (ms): MAC array and element-wise cycles are COUNTED; AXI exposed = AXI "
            f"time not hidden by compute, rule {report['overlap_rule']}; AXI at min(port, {mem['hp_port_bits']}-bit HP) "
            f"x clock x {mem['axi_efficiency']:g} and DDR4-{mem['ddr_mt_s']:g} x{mem['ddr_bits']} x "
            f"{mem['axi_efficiency']:g} (MODEL).",
            f"Host = the trainer's own code measured here x {sc['factor']:.1f} (A53 MODEL: {sc['here_copy_gb_s']:.1f} "
            f"GB/s here vs {sc['a53_copy_gb_s']:g} GB/s, {sc['source']}); cache = flush of the regions each call "
            f"reads + invalidate of those it writes, the pynq backend's own policy (MODEL: A53 bandwidth); PS-PL = pynq "
            f"register path per call (measured here, scaled) + the backend's AXI-Lite accesses "
            f"({_accesses_per_call(report)}) x {report['host_costs']['axilite_access_us']:g} us (MODEL). "
            f"No board run exists.",
            format_table(report),
            f"(report built in {report['wall_s']:.0f} s)",
        ]
    )


def _accesses_per_call(report: dict) -> str:
    per = [
        r["per_image"]["register_accesses"] / r["per_image"]["engine_calls"]
        for r in report["rows"]
        if r["per_image"]["engine_calls"]
    ]
    return f"{min(per):.0f}-{max(per):.0f} per call" if per else "none"


def print_report(as_json: bool = False, **build_args: Any) -> dict:
    """Prints build_report(**build_args) as the table, or as one JSON object; returns the report."""
    report = build_report(**build_args)
    print(json.dumps(report, indent=1) if as_json else format_report(report))
    return report


__all__ = [
    "COUNTER_KEYS",
    "AXI_KEYS",
    "MissingCounterError",
    "check_counters",
    "MemoryModel",
    "MEMORY",
    "port_width_bits",
    "CallRecord",
    "CountingBackend",
    "call_axi_cycles",
    "sum_phase",
    "run_image",
    "ImageRun",
    "HostMeasure",
    "OVERLAP_RULES",
    "DEFAULT_OVERLAP",
    "HostCosts",
    "measure_host_costs",
    "make_row",
    "build_report",
    "format_table",
    "format_report",
    "print_report",
    "settings",
    "PAPER",
    "IMAGENET_TRAIN_IMAGES",
]
