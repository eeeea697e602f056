"""`python -m bench engine_traffic`: what the engine's memory system and MAC array did for one
DeiT-Tiny training image (forward + backward), dense vs Tri-Level (R_T 0.7, R_A 0.3 at blocks 3, 6,
9), measured side by side in one run from the engine's own counters (host.backends.csim: the engine
C++ with its burst DMA and counters, the C-sim compute kernel for the products).

Per op (summed over the image's calls of that op): AXI bytes the burst units moved vs the op's
minimum (each operand region read once, each result region written once, whole 128-bit beats),
mean burst length in beats, MAC-array cycles (gemm_cycles of every job issued) and element-wise
unit cycles. Writes docs/bench/engine_traffic.md (+ .json).
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from host import engine_spec as es
from host.backends.csim import CsimBackend
from host.engine_driver import EngineDriver
from host.model_configs import get_config
from host.model_init import init_weights
from host.ta_selector import select_stage

REPO = Path(__file__).resolve().parents[1]
OUT_MD = REPO / "docs" / "bench" / "engine_traffic.md"
CONFIG = "deit_tiny_patch16_224"
SELECTOR_BLOCKS = (3, 6, 9)
BEAT_BYTES = {p: es.load_spec()["ports"][p]["axi_bits"] // 8 for p in es.ports()}


def run_image(config: str, tri_level: bool, seed: int = 0):
    """Forward + backward of one random image; returns the driver's Counters (one OpRecord per call)."""
    cfg = get_config(config)
    driver = EngineDriver(CsimBackend(words=EngineDriver.required_words(cfg)), cfg)
    driver.write_weights(init_weights(cfg, seed=seed))
    rng = np.random.default_rng(seed)
    patches = rng.normal(0.0, 0.5, (driver.N0 - 1, driver.I))
    select = None
    if tri_level:
        def select(_stage, attn):
            s = select_stage(attn, 0.7, 0.3)
            return s.keep, s.keys
    driver.reset_counters()
    logits, _ = driver.forward(patches, select=select, selector_blocks=SELECTOR_BLOCKS if tri_level else ())
    dlogits = rng.normal(0.0, 0.05, logits.shape)
    driver.backward(dlogits)
    return driver.counters


def summarize(counters) -> dict:
    per_op = defaultdict(lambda: defaultdict(int))
    for rec in counters.ops:
        row = per_op[rec.op]
        row["calls"] += 1
        row["axi_bytes"] += rec.axi_bytes
        row["min_axi_bytes"] += rec.min_axi_bytes
        row["bursts"] += rec.axi_bursts
        row["beats"] += sum((v["rd_bytes"] + v["wr_bytes"]) // BEAT_BYTES[p] for p, v in rec.axi.items())
        row["cycles"] += rec.cycles
        row["elementwise_cycles"] += rec.elementwise_cycles
        row["macs"] += rec.macs
    total = defaultdict(int)
    for row in per_op.values():
        for k, v in row.items():
            total[k] += v
    return {"per_op": {op: dict(r) for op, r in per_op.items()}, "total": dict(total)}


def attention_cycles(summary: dict) -> int:
    return sum(r["cycles"] for op, r in summary["per_op"].items() if op.startswith("ATTN"))


def main() -> None:
    results = {label: summarize(run_image(CONFIG, tri)) for label, tri in (("dense", False), ("Tri-Level/0.7", True))}
    OUT_MD.parent.mkdir(parents=True, exist_ok=True)
    (OUT_MD.with_suffix(".json")).write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# Engine memory traffic and array cycles: one DeiT-Tiny training image", "",
             "`python -m bench engine_traffic` (bench/bench_engine_traffic.py). Every number is read from the "
             "engine's output registers after each call (host.backends.csim runs the engine C++: the burst DMA "
             "units count bytes and AXI4 bursts as they move them, gemm counts the MAC array's cycles per job "
             "with the RTL's exact cycle model, element-wise loops count ceil(trip count / lanes) x II + pipeline "
             f"depth, lanes = {es.elementwise_lanes()} (compute.elementwise_lanes) for every loop over consecutive "
             "words, 1 for the few with data-dependent addresses). "
             "Ports are 128 bit wide; a burst holds at most 256 beats and never crosses 4 KB. The minimum is "
             "each operand region read once and each result region written once, in whole beats. "
             "Forward + backward of one random 224x224 image with random weights; both variants in one run.", ""]
    dense_total = results["dense"]["total"]
    for label, res in results.items():
        t = res["total"]
        lines += [f"## {label}", "",
                  "| op | calls | AXI MB | minimum MB | AXI / minimum | mean burst (beats) | array cycles | "
                  "element-wise cycles | MACs |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for op, r in res["per_op"].items():
            lines.append(f"| {op} | {r['calls']} | {r['axi_bytes'] / 1e6:.2f} | {r['min_axi_bytes'] / 1e6:.2f} | "
                         f"{r['axi_bytes'] / r['min_axi_bytes']:.4f} | {r['beats'] / max(r['bursts'], 1):.1f} | "
                         f"{r['cycles']:,} | {r['elementwise_cycles']:,} | {r['macs']:,} |")
        lines.append(f"| **image** | {t['calls']} | {t['axi_bytes'] / 1e6:.2f} | {t['min_axi_bytes'] / 1e6:.2f} | "
                     f"{t['axi_bytes'] / t['min_axi_bytes']:.4f} | {t['beats'] / max(t['bursts'], 1):.1f} | "
                     f"{t['cycles']:,} | {t['elementwise_cycles']:,} | {t['macs']:,} |")
        lines.append("")
    tri = results["Tri-Level/0.7"]["total"]
    lines += ["## Tri-Level/0.7 vs dense (same run)", "",
              "| | dense | Tri-Level/0.7 | ratio |", "|---|---:|---:|---:|"]
    for key, name in (("axi_bytes", "AXI bytes"), ("cycles", "array cycles"),
                      ("elementwise_cycles", "element-wise cycles"), ("macs", "MACs")):
        lines.append(f"| {name} | {dense_total[key]:,} | {tri[key]:,} | {tri[key] / dense_total[key]:.3f} |")
    lines.append(f"| attention array cycles (ATTN_FWD + ATTN_BWD) | {attention_cycles(results['dense']):,} | "
                 f"{attention_cycles(results['Tri-Level/0.7']):,} | "
                 f"{attention_cycles(results['Tri-Level/0.7']) / attention_cycles(results['dense']):.3f} |")
    lines += ["", "Tri-Level's attention-level saving on the array alone (key-listed vs dense attention over the "
              "same kept tokens) is measured by tests/hw/test_engine_traffic.py; its ceiling is discussed in "
              "docs/engine.md.", ""]
    OUT_MD.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
