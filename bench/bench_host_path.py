"""`python -m bench host_path`: what the ARM does around the engine for one DeiT-Tiny training image.

Side by side in one run, on this machine (no board, no A53):
  - cache maintenance per training image: the pynq backend's per-region plan (host/backends/
    call_plan.py: flush what each call reads, invalidate what it writes) against flushing and
    invalidating all four port buffers on every call (what the backend did before), in bytes and in
    the A53 model's milliseconds (host/host_timing.py);
  - AXI-Lite accesses per call and the Python time of one pynq call with a device that finishes at
    once (host_timing.measure_register_path_s);
  - host CPU time (process_time) of one training image through host/trainer.py with an engine that
    returns at once (the C-sim's time excluded by construction), fastest of several images, dense and
    Tri-Level/0.7; the batch-1 AdamW step + weight upload is part of each image here.
Writes docs/bench/host_path.md and .json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from host import host_timing
from host.atomic_io import atomic_write_text
from host.backends.call_plan import CallPlan, plan_call
from host.backends.csim import CsimBackend
from host.engine_driver import EngineDriver
from host.engine_model import EngineViT
from host.loss import cross_entropy
from host.model_configs import get_config
from host.model_init import init_weights
from host.ta_selector import Selection

OUT = Path(__file__).resolve().parents[1] / "docs" / "bench"
CONFIG = "deit_tiny_patch16_224"
SELECTOR_BLOCKS = [3, 6, 9]
IMAGES = 6


class _Planning(CsimBackend):
    """The C-sim backend that keeps the pynq backend's plan of every call."""

    def __init__(self, words: dict[str, int]) -> None:
        super().__init__(words=words)
        self.plans: list[CallPlan] = []

    def call(self, op: str | int, **registers: int) -> int:
        status = super().call(op, **registers)
        self.plans.append(plan_call(op, registers, self.mem["aux"]))
        return status


class _NullEngine(CsimBackend):
    """Port memories and register checks of a backend, but every call returns at once."""

    def call(self, op: str | int, **registers: int) -> int:
        self._register_values(registers)
        self._last = {"status": 0, "macs": 0, "cycles": 0, "saturations": 0}
        return 0


def cache_per_image(token_keep: float) -> dict:
    cfg = get_config(CONFIG)
    words = EngineDriver.required_words(cfg)
    be = _Planning(words)
    model = EngineViT(EngineDriver(be, cfg))
    model.load_weights(init_weights(cfg, seed=0))
    image = np.random.default_rng(0).random((cfg["in_chans"], cfg["img_size"], cfg["img_size"]), dtype=np.float32)
    sel = Selection(SELECTOR_BLOCKS, token_keep=token_keep, attn_keep=0.5 if token_keep < 1 else 1.0)
    r = model.forward(image, sel)
    model.backward(r, cross_entropy(r.logits, 1)[1])
    whole = sum(int(buf.nbytes) for buf in be.mem.values())
    plan_bytes = sum(p.maintained_bytes for p in be.plans)
    accesses = [host_timing.register_accesses(p) for p in be.plans]
    return {
        "calls": len(be.plans),
        "plan_bytes": plan_bytes,
        "whole_buffer_bytes": 2 * whole * len(be.plans),
        "plan_a53_ms": host_timing.cache_maintenance_seconds(plan_bytes) * 1e3,
        "whole_buffer_a53_ms": host_timing.cache_maintenance_seconds(2 * whole * len(be.plans)) * 1e3,
        "register_accesses_per_call": sum(accesses) / len(accesses),
    }


def host_cpu_per_image(token_keep: float, images: int = IMAGES) -> float:
    from host.trainer import Trainer, TrainSettings

    cfg = get_config(CONFIG)
    model = EngineViT(EngineDriver(_NullEngine(words=EngineDriver.required_words(cfg)), cfg))
    rng = np.random.default_rng(0)
    shape = (cfg["in_chans"], cfg["img_size"], cfg["img_size"])
    data = (
        rng.random((4,) + shape, dtype=np.float32),
        rng.integers(0, cfg["num_classes"], 4),
        rng.random((1,) + shape, dtype=np.float32),
        rng.integers(0, cfg["num_classes"], 1),
    )
    settings = TrainSettings(
        epochs=images + 1,
        batch=1,
        token_keep=token_keep,
        attn_keep=0.5 if token_keep < 1 else 1.0,
        example_keep=1.0,
        keep_warmup_start=0.0,
        keep_warmup_end=0.0,
        selector_blocks=SELECTOR_BLOCKS if token_keep < 1 else [],
        max_samples_per_epoch=1,
        eval_samples=0,
        seed=0,
    )
    trainer = Trainer(model, cfg, init_weights(cfg, seed=0), data, settings, progress=False, log=lambda *_: None)
    trainer.train_epoch()  # warm-up
    best = float("inf")
    for _ in range(images):
        start = time.process_time()
        trainer.train_epoch()
        best = min(best, time.process_time() - start)
    return best


def main() -> dict:
    rows = []
    for keep, name in ((1.0, "dense"), (0.7, "Tri-Level/0.7")):
        row = {"setting": name, **cache_per_image(keep), "host_cpu_ms_per_image": host_cpu_per_image(keep) * 1e3}
        rows.append(row)
        print(json.dumps(row), flush=True)
    path_us = host_timing.measure_register_path_s() * 1e6
    result = {
        "model": CONFIG,
        "rows": rows,
        "register_path_us_here": path_us,
        "axilite_access_us_model": host_timing.PS_PL.axilite_access_us,
    }
    lines = [
        "# Host path around the engine (DeiT-Tiny, one training image)",
        "",
        "`python -m bench host_path` (bench/bench_host_path.py). Measured on this machine, no board: the",
        "cache bytes are counted from the pynq backend's own plan (host/backends/call_plan.py); the ms",
        "columns are the A53 MODEL (one pass over the lines at 2.448 GB/s). Host CPU: process time of one",
        "training image through host/trainer.py with an engine that returns at once, fastest of "
        f"{IMAGES}, batch-1 AdamW step included.",
        "",
        "| setting | calls | cache per region (MB) | A53 ms | all four buffers per call (MB) | A53 ms | "
        "AXI-Lite accesses / call | host CPU ms / image here |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['setting']} | {r['calls']} | {r['plan_bytes'] / 1e6:.1f} | {r['plan_a53_ms']:.1f} | "
            f"{r['whole_buffer_bytes'] / 1e6:.0f} | {r['whole_buffer_a53_ms']:.0f} | "
            f"{r['register_accesses_per_call']:.1f} | {r['host_cpu_ms_per_image']:.1f} |"
        )
    lines += [
        "",
        f"Python time of one pynq call with a device that finishes at once: {path_us:.1f} us here "
        "(register writes, polls, counter reads, flush()/invalidate() calls).",
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / "host_path.md", "\n".join(lines) + "\n")
    atomic_write_text(OUT / "host_path.json", json.dumps(result, indent=1) + "\n")
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main()
