"""Accuracy on the embedded digits data (configs/digits_tiny.yaml), several seeds each: dense vs
Tri-Level/0.9, /0.8, /0.7 vs random example removal at the same example keep ratio.

Tri-Level/x (keep ratios r_e, R_T, R_A): /0.7 is the paper's (0.8, 0.7, 0.3); /0.9 = (0.9, 0.9, 0.5) and
/0.8 = (0.9, 0.8, 0.4) are this project's interpolations. "random" keeps the same R_T/R_A but replaces the
forgetting-based example selector with a static random subset of the same size.

Writes docs/bench/model_accuracy.{md,json} and model_accuracy_cost.png (test top-1 vs executed MACs,
first seed of each variant), plus model_selection_overlay.png (the patches Tri-Level/0.7 kept).

    python -m bench.bench_model_accuracy            # 3 seeds, the digits config's full epochs
    python -m bench.bench_model_accuracy --quick    # 1 seed: dense / Tri-Level/0.7 / random /0.7
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from bench.trainer_runs import OUT_DIR, train_flags, write_results
from model.plots import load_history, plot_accuracy_vs_cost, plot_selection_overlay
from model.train import main as train_main

VARIANTS = {
    "dense": dict(tri_level=False, example_keep=1.0),
    "Tri-Level/0.9": dict(tri_level=True, example_keep=0.9, token_keep=0.9, attn_keep=0.5),
    "Tri-Level/0.8": dict(tri_level=True, example_keep=0.9, token_keep=0.8, attn_keep=0.4),
    "Tri-Level/0.7": dict(tri_level=True, example_keep=0.8, token_keep=0.7, attn_keep=0.3),
}
for _name in ("Tri-Level/0.9", "Tri-Level/0.8", "Tri-Level/0.7"):
    VARIANTS[f"random {_name[len('Tri-Level') :]}"] = dict(VARIANTS[_name], example_policy="random")
QUICK_VARIANTS = ("dense", "Tri-Level/0.7", "random /0.7")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_model_accuracy", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None, help="default: the digits config's")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(sys.argv[1:] if argv is None and __name__ == "__main__" else (argv or []))
    seeds = args.seeds or (1 if args.quick else 3)
    names = QUICK_VARIANTS if args.quick else tuple(VARIANTS)
    epochs = args.epochs
    common = ["--progress", "false"] + (["--epochs", str(epochs)] if epochs else [])
    common += ["--threads", str(args.threads)] if args.threads else []
    results: dict[str, list[dict]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="bench_acc_") as tmp:
        histories = {}
        for seed in range(seeds):
            for i, name in enumerate(names):
                run = f"v{i}_s{seed}"
                extra = ["--record-selection", "4"] if (name == "Tri-Level/0.7" and seed == 0) else []
                record = train_main(
                    [
                        *common,
                        *train_flags(VARIANTS[name]),
                        "--seed",
                        str(seed),
                        "--output-dir",
                        tmp,
                        "--run-name",
                        run,
                        *extra,
                    ]
                )
                results[name].append(record)
                print(
                    f"seed {seed} {name}: test top-1 {record['test_top1']:.2%}, "
                    f"{record['cum_macs'] / 1e12:.2f} TMACs, {record['cum_time_s']:.0f} s",
                    flush=True,
                )
                if seed == 0:
                    histories[name] = load_history(Path(tmp) / run)
                if extra:
                    plot_selection_overlay(Path(tmp) / run / "selections.npz", OUT_DIR / "model_selection_overlay.png")
        plot_accuracy_vs_cost(
            histories,
            OUT_DIR / "model_accuracy_cost.png",
            x="macs",
            title="digits, onion_tiny: test top-1 vs training cost",
        )
    return report(results, dict(seeds=seeds, quick=args.quick, epochs=epochs or "config"))


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def report(results: dict[str, list[dict]], setup: dict) -> dict:
    dense_macs = statistics.mean(r["cum_macs"] for r in results["dense"])
    dense_time = statistics.mean(r["cum_time_s"] for r in results["dense"])
    rows = []
    for name, runs in results.items():
        acc, acc_std = _mean_std([r["test_top1"] for r in runs])
        rows.append(
            dict(
                variant=name,
                keep=VARIANTS[name],
                test_top1_mean=acc,
                test_top1_std=acc_std,
                test_top1=[r["test_top1"] for r in runs],
                macs_ratio=statistics.mean(r["cum_macs"] for r in runs) / dense_macs,
                macs_sparse_ratio=statistics.mean(r["cum_macs_sparse"] for r in runs) / dense_macs,
                time_ratio=statistics.mean(r["cum_time_s"] for r in runs) / dense_time,
            )
        )
    result = dict(setup=setup, rows=rows)
    lines = [
        f"# Digits accuracy: dense vs Tri-Level vs random example removal "
        f"({'quick' if setup['quick'] else 'full'} run)",
        "",
        f"onion_tiny, configs/digits_tiny.yaml, epochs: {setup['epochs']}, {setup['seeds']} seed(s) per variant. "
        "Cost ratios are relative to dense, summed over the whole run.",
        "",
        "| variant | r_e / R_T / R_A | test top-1 (mean ± std) | executed MACs | sparse MACs | wall time |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        keep = row["keep"]
        ratios = f"{keep['example_keep']} / {keep.get('token_keep', 1.0)} / {keep.get('attn_keep', 1.0)}"
        lines.append(
            f"| {row['variant']} | {ratios} | {100 * row['test_top1_mean']:.2f} ± "
            f"{100 * row['test_top1_std']:.2f} % | {row['macs_ratio']:.3f}x | {row['macs_sparse_ratio']:.3f}x | "
            f"{row['time_ratio']:.3f}x |"
        )
    lines += [
        "",
        "![accuracy vs cost](model_accuracy_cost.png)",
        "",
        "![patches kept by each TA-Selector](model_selection_overlay.png)",
        "",
    ]
    write_results("model_accuracy", result, lines)
    return result


if __name__ == "__main__":
    main()
