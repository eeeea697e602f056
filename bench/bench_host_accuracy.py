"""Fixed-point training through the engine vs the same model trained in float, same settings.

For each seed: onion_micro on the digits with the recipe it was the demo with (host/train_on_board.py
--model onion_micro, 10 epochs, lr 1e-3, 0.5 warm-up epochs, one engine lane; Tri-Level/0.7 = R_T 0.7,
R_A 0.3, r_e 0.8) once through the engine's C-sim (16-bit
fixed point, every forward and backward on the engine) and once with the numpy float twin
(host/vit_float.py), with identical initial weights, sample order, schedules and optimizer.
Writes docs/bench/host_accuracy.md and .json. Seeds: ONION_BENCH_SEEDS (default 3).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT_MD = REPO / "docs" / "bench" / "host_accuracy.md"
OUT_JSON = REPO / "docs" / "bench" / "host_accuracy.json"
TOLERANCE_POINTS = 2.0
# onion_micro's recipe from when it was the demo model (the CLI's defaults are onion_tiny's now)
ONION_MICRO_RECIPE = [
    *("--model", "onion_micro", "--epochs", "10"),
    *("--lr", "1e-3", "--warmup-epochs", "0.5", "--engine-lanes", "1"),
]


def run_one(backend: str, seed: int) -> dict:
    from host.digits import load_digits_split
    from host.train_on_board import build_model, fresh_weights, parse_args, resolve_settings
    from host.trainer import Trainer

    args = parse_args([*ONION_MICRO_RECIPE, "--backend", backend, "--seed", str(seed), "--no-progress"])
    config, settings = resolve_settings(args, None)
    model, kind = build_model(backend, config, settings.engine_lanes)
    trainer = Trainer(
        model,
        config,
        fresh_weights(args, config, seed),
        load_digits_split(config["img_size"]),
        settings,
        progress=False,
        log=lambda *_: None,
    )
    start = time.perf_counter()
    history = trainer.fit()
    return {
        "backend": kind,
        "seed": seed,
        "test_acc": history[-1]["test_acc"],
        "train_acc": history[-1]["train_acc"],
        "saturations": sum(e["saturations"] for e in history),
        "wall_s": time.perf_counter() - start,
        "epochs": settings.epochs,
        "config": config,
        "settings": {
            k: getattr(settings, k)
            for k in ("token_keep", "attn_keep", "example_keep", "lr", "batch", "selector_blocks")
        },
    }


def main() -> None:
    seeds = list(range(int(os.environ.get("ONION_BENCH_SEEDS", "3"))))
    results = []
    for seed in seeds:
        for backend in ("csim", "float"):
            r = run_one(backend, seed)
            print(f"seed {seed} {backend:5s}: test {100 * r['test_acc']:.1f}%  ({r['wall_s']:.0f} s)", flush=True)
            results.append(r)
    rows, gaps = [], []
    for seed in seeds:
        eng = next(r for r in results if r["seed"] == seed and r["backend"] == "csim")
        flt = next(r for r in results if r["seed"] == seed and r["backend"] == "float")
        gap = 100 * (flt["test_acc"] - eng["test_acc"])
        gaps.append(gap)
        rows.append(
            f"| {seed} | {100 * eng['test_acc']:.1f} | {100 * flt['test_acc']:.1f} | {gap:+.1f} | "
            f"{eng['saturations']} | {eng['wall_s']:.0f} | {flt['wall_s']:.0f} |"
        )
    mean_eng = 100 * sum(r["test_acc"] for r in results if r["backend"] == "csim") / len(seeds)
    mean_flt = 100 * sum(r["test_acc"] for r in results if r["backend"] == "float") / len(seeds)
    ok = abs(mean_flt - mean_eng) <= TOLERANCE_POINTS
    s = results[0]["settings"]
    md = [
        "# Fixed-point training through the engine vs float (host)",
        "",
        "`python -m bench bench_host_accuracy` (ONION_BENCH_SEEDS seeds, default 3). Model "
        f"`onion_micro` {results[0]['config']}, digits (1437 train / 360 test), {results[0]['epochs']} epochs, "
        f"Tri-Level R_T={s['token_keep']}, R_A={s['attn_keep']}, r_e={s['example_keep']}, selector blocks "
        f"{s['selector_blocks']}, AdamW lr {s['lr']}, {s['batch']} samples per step. Engine side: every forward "
        "and backward on the engine's C-sim (16-bit fixed point); float side: the numpy float twin "
        "(host/vit_float.py) with the same initial weights, sample order, schedules and optimizer.",
        "",
        "| seed | engine test acc (%) | float test acc (%) | float - engine (points) | engine saturations | "
        "engine wall (s) | float wall (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"Mean: engine {mean_eng:.1f} %, float {mean_flt:.1f} %, difference {mean_flt - mean_eng:+.1f} points "
        f"({'within' if ok else 'OUTSIDE'} the {TOLERANCE_POINTS:g}-point target).",
        "",
    ]
    OUT_MD.parent.mkdir(parents=True, exist_ok=True)
    OUT_MD.write_text("\n".join(md))
    OUT_JSON.write_text(
        json.dumps(
            {"results": results, "mean_engine": mean_eng, "mean_float": mean_flt, "within_tolerance": ok}, indent=2
        )
    )
    print("\n".join(md))


if __name__ == "__main__":
    main()
