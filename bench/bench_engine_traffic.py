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
from host.engine_driver import Counters, EngineDriver
from host.model_configs import get_config
from host.model_init import init_weights
from host.ta_selector import select_stage
from hw.gen import spec as gen_spec

REPO = Path(__file__).resolve().parents[1]
OUT_MD = REPO / "docs" / "bench" / "engine_traffic.md"
CONFIG = "deit_tiny_patch16_224"
SELECTOR_BLOCKS = (3, 6, 9)
BEAT_BYTES = {p: es.load_spec()["ports"][p]["axi_bits"] // 8 for p in es.ports()}


def run_image(config: str, tri_level: bool, seed: int = 0) -> Counters:
    """Forward + backward of one random image; returns the driver's Counters (one OpRecord per call)."""
    cfg = get_config(config)
    driver = EngineDriver(CsimBackend(words=EngineDriver.required_words(cfg)), cfg, record_ops=True)
    driver.write_weights(init_weights(cfg, seed=seed))
    rng = np.random.default_rng(seed)
    patches = rng.normal(0.0, 0.5, (driver.N0 - 1, driver.I))
    select = None
    if tri_level:

        def select(_stage: int, attn: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
            s = select_stage(attn, 0.7, 0.3)
            return s.keep, s.keys

    driver.reset_counters()
    logits, _ = driver.forward(patches, select=select, selector_blocks=SELECTOR_BLOCKS if tri_level else ())
    dlogits = rng.normal(0.0, 0.05, logits.shape)
    driver.backward(dlogits)
    return driver.counters


def summarize(counters: Counters) -> dict:
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


# ---- on-chip buffers against the ZU9EG's BRAM (computed from the spec, nothing copied) ----
ZU9EG_RAMB36 = 912
RAMB36_WORDS16, RAMB36_WORDS32 = 2048, 1024
# DeiT-Tiny limits: the compiled spec's, cut to DeiT-Tiny's dims (LINEAR in_dim to the model dim)
TINY_LIMITS = {"max_dim": 192, "max_heads": 3, "max_mlp": 768, "max_in_dim": 192}


def _ramb36(words: int, per_block: int, banks: int) -> int:
    """RAMB36 of an array of `words` split cyclically into `banks` banks, each rounded up on its own."""
    per_bank = -(-words // banks)  # ceil
    return banks * -(-per_bank // per_block)


def _mac_cols() -> int:
    from host import cycle_model

    return cycle_model.constants()["MAC_COLS"]


def bram_budget(limits: dict | None = None) -> dict:
    """Per op: the 16-bit words and int32 aux words of one call's regions at the limits (the pool the
    generator sizes, hw/gen/spec.py pool_words), and the engine's RAMB36 with its buffers as
    partitioned (pool and attention stage cyclic by the element-wise lanes; aux whole) and unpartitioned."""
    spec = json.loads(json.dumps(es.load_spec()))
    if limits:
        spec["limits"].update(limits)
    lanes = int(spec["compute"]["elementwise_lanes"])
    lim = spec["limits"]
    per_op = {}
    for name in gen_spec._public(spec["ops"]):
        one = dict(spec, ops={name: spec["ops"][name]})
        pw = gen_spec.pool_words(one)
        per_op[name] = {"words": pw["words"], "aux": pw["aux"], "ramb36": _ramb36(pw["words"], RAMB36_WORDS16, 1)}
    pools = gen_spec.pool_words(spec)
    lds = -(-lim["max_tokens"] // _mac_cols()) * _mac_cols()
    stage_words = lim["max_tokens"] * lds  # AttnStage: s, p, ds
    core = int(json.loads((REPO / "hw" / "rtl" / "mac_array_blackbox.json").read_text())["rtl_resource_usage"]["BRAM"])
    total = {}
    for banks, label in ((1, "unpartitioned"), (lanes, f"cyclic by {lanes}")):
        parts = {
            "pool": _ramb36(pools["words"], RAMB36_WORDS16, banks),
            "aux (one word per cycle: never partitioned)": _ramb36(pools["aux"], RAMB36_WORDS32, 1),
            "attention stage": 3 * _ramb36(stage_words, RAMB36_WORDS16, banks),
            "RTL MAC array (its JSON)": core,
        }
        parts["total"] = sum(parts.values())
        total[label] = parts
    return {
        "limits": dict(lim),
        "per_op": per_op,
        "pool_words": pools["words"],
        "aux_words": pools["aux"],
        "budget": total,
    }


def bram_lines(title: str, b: dict) -> list[str]:
    lines = [
        f"### {title}",
        "",
        "| op | 16-bit words | RAMB36 (unpartitioned) | aux int32 words |",
        "|---|---:|---:|---:|",
    ]
    for op, r in b["per_op"].items():
        lines.append(f"| {op} | {r['words']:,} | {r['ramb36']:,} | {r['aux']:,} |")
    labels = list(b["budget"])
    lines += ["", "| buffer | " + " | ".join(f"RAMB36, {x}" for x in labels) + " |", "|---|" + "---:|" * len(labels)]
    for part in b["budget"][labels[0]]:
        lines.append(f"| {part} | " + " | ".join(f"{b['budget'][x][part]:,}" for x in labels) + " |")
    fits = {x: b["budget"][x]["total"] <= ZU9EG_RAMB36 for x in labels}
    lines += [
        "",
        "Against the ZU9EG's "
        + f"{ZU9EG_RAMB36} RAMB36: "
        + "; ".join(
            f"{x}: {'fits' if fits[x] else 'does NOT fit'} "
            f"({b['budget'][x]['total']:,}, {b['budget'][x]['total'] - ZU9EG_RAMB36:+,})"
            for x in labels
        )
        + ".",
        "",
    ]
    return lines


def main() -> None:
    results = {label: summarize(run_image(CONFIG, tri)) for label, tri in (("dense", False), ("Tri-Level/0.7", True))}
    OUT_MD.parent.mkdir(parents=True, exist_ok=True)
    (OUT_MD.with_suffix(".json")).write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Engine memory traffic and array cycles: one DeiT-Tiny training image",
        "",
        "`python -m bench engine_traffic` (bench/bench_engine_traffic.py). Every number is read from the "
        "engine's output registers after each call (host.backends.csim runs the engine C++: the burst DMA "
        "units count bytes and AXI4 bursts as they move them, gemm counts the MAC array's cycles per job "
        "with the RTL's exact cycle model, element-wise loops count ceil(trip count / lanes) x II + pipeline "
        f"depth, lanes = {es.elementwise_lanes()} (compute.elementwise_lanes) for every loop over consecutive "
        "words, 1 for the few with data-dependent addresses). "
        "Ports are 128 bit wide; a burst holds at most 256 beats and never crosses 4 KB. The minimum is "
        "each operand region read once and each result region written once, in whole beats. "
        "Forward + backward of one random 224x224 image with random weights; both variants in one run.",
        "",
    ]
    dense_total = results["dense"]["total"]
    for label, res in results.items():
        t = res["total"]
        lines += [
            f"## {label}",
            "",
            "| op | calls | AXI MB | minimum MB | AXI / minimum | mean burst (beats) | array cycles | "
            "element-wise cycles | MACs |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for op, r in res["per_op"].items():
            lines.append(
                f"| {op} | {r['calls']} | {r['axi_bytes'] / 1e6:.2f} | {r['min_axi_bytes'] / 1e6:.2f} | "
                f"{r['axi_bytes'] / r['min_axi_bytes']:.4f} | {r['beats'] / max(r['bursts'], 1):.1f} | "
                f"{r['cycles']:,} | {r['elementwise_cycles']:,} | {r['macs']:,} |"
            )
        lines.append(
            f"| **image** | {t['calls']} | {t['axi_bytes'] / 1e6:.2f} | {t['min_axi_bytes'] / 1e6:.2f} | "
            f"{t['axi_bytes'] / t['min_axi_bytes']:.4f} | {t['beats'] / max(t['bursts'], 1):.1f} | "
            f"{t['cycles']:,} | {t['elementwise_cycles']:,} | {t['macs']:,} |"
        )
        lines.append("")
    tri = results["Tri-Level/0.7"]["total"]
    lines += ["## Tri-Level/0.7 vs dense (same run)", "", "| | dense | Tri-Level/0.7 | ratio |", "|---|---:|---:|---:|"]
    for key, name in (
        ("axi_bytes", "AXI bytes"),
        ("cycles", "array cycles"),
        ("elementwise_cycles", "element-wise cycles"),
        ("macs", "MACs"),
    ):
        lines.append(f"| {name} | {dense_total[key]:,} | {tri[key]:,} | {tri[key] / dense_total[key]:.3f} |")
    lines.append(
        f"| attention array cycles (ATTN_FWD + ATTN_BWD) | {attention_cycles(results['dense']):,} | "
        f"{attention_cycles(results['Tri-Level/0.7']):,} | "
        f"{attention_cycles(results['Tri-Level/0.7']) / attention_cycles(results['dense']):.3f} |"
    )
    lines += [
        "",
        "Tri-Level's attention-level saving on the array alone (key-listed vs dense attention over the "
        "same kept tokens) is measured by tests/hw/test_engine_traffic.py; its ceiling is discussed in "
        "docs/engine.md.",
        "",
    ]
    budgets = {"compiled limits": bram_budget(), "DeiT-Tiny limits": bram_budget(TINY_LIMITS)}
    results["bram"] = budgets
    (OUT_MD.with_suffix(".json")).write_text(json.dumps(results, indent=2) + "\n")
    lines += [
        "## On-chip buffers against the ZU9EG's BRAM (computed from the spec)",
        "",
        "One call's regions are staged whole in the pool (hw/gen/spec.py `pool_words`, each region in whole "
        "128-bit beats; the pool is sized by the largest op), plus aux, the attention stage (3 x max_tokens x "
        "the stage row of whole MAC_COLS tiles) and the RTL core's declared BRAM. A RAMB36 holds 2048 16-bit "
        "or 1024 int32 words; a cyclic partition rounds every bank up on its own (aux is not partitioned). Counted from the declared "
        "sizes, not a synthesis report: Vitis may map differently (URAM: none on the ZU9EG).",
        "",
    ]
    for title, b in budgets.items():
        lines += bram_lines(
            f"{title} ({', '.join(f'{k} {v}' for k, v in b['limits'].items() if not k.startswith('_'))})", b
        )
    OUT_MD.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
