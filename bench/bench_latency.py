"""Table 2 from the engine's own counters: where one training image's time goes, per setting.

Runs host/latency_report.py's full report (DeiT-Tiny and DeiT-Small at 224; dense and
Tri-Level/0.9, /0.8, /0.7 with R_A 0.3; the engine in C-sim, the host's real code around it) and
writes docs/bench/latency.json, docs/bench/latency.md and the stacked-bar breakdown
docs/bench/latency_breakdown.png. Per-image counters are cached under build/latency/ (keyed by the
engine build), so a second run only re-measures the host. `python -m bench latency`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from host import latency_report as lr

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "bench"
PARTS = (
    ("mac_array_s", "MAC array (counted)"),
    ("elementwise_s", "element-wise units (counted)"),
    ("axi_exposed_s", "AXI not overlapped with compute (counted bytes, modelled rate)"),
    ("host_compute_s", "host numpy/Python on the A53 (measured x scale)"),
    ("cache_maintenance_s", "cache flush/invalidate (modelled)"),
    ("ps_pl_s", "PS-PL register path (measured x scale + modelled bus)"),
    ("optimizer_step_s", "AdamW + weight upload per image (measured x scale)"),
)


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["rows"]
    labels = [f"{r['model']}\n{r['setting']}" for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(rows)) + 3.5, 4.5))
    bottom = [0.0] * len(rows)
    for key, name in PARTS:
        ms = [r["per_image"]["seconds"][key] * 1e3 for r in rows]
        ax.bar(labels, ms, bottom=bottom, label=name)
        bottom = [b + m for b, m in zip(bottom, ms)]
    for i, r in enumerate(rows):
        if r["paper_train_hours_per_epoch"]:
            paper_ms = r["paper_train_hours_per_epoch"] * 3600 / (lr.IMAGENET_TRAIN_IMAGES * r["example_keep"]) * 1e3
            ax.plot(
                [i - 0.4, i + 0.4],
                [paper_ms] * 2,
                color="black",
                lw=1.5,
                label="paper (per image, measured on the board)" if i == 0 else None,
            )
    ax.set_ylabel("ms per training image")
    clock = report["clock_mhz"]
    ax.set_title(
        f"Where one training image's time goes\n(ZCU102 model at {clock:g} MHz from the engine's "
        "counters; no board run)",
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def main() -> None:
    try:
        report = lr.build_report()
    except lr.MissingCounterError as exc:
        print(f"bench_latency: not run: {exc}", file=sys.stderr)
        return
    from host.atomic_io import atomic_write_text

    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / "latency.json", json.dumps(report, indent=1))
    atomic_write_text(
        OUT / "latency.md",
        "# Training and inference latency from the engine's counters\n\n"
        "`python -m bench latency` (or `python host/train_on_board.py --report`); see "
        "docs/latency.md for what each column means and what is modelled.\n\n" + lr.format_report(report) + "\n",
    )
    plot(report, OUT / "latency_breakdown.png")
    print(lr.format_report(report))


if __name__ == "__main__":
    main()
