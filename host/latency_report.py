"""`train_on_board.py --report`: a table like the paper's Table 2, from the cycle model.

Per-epoch training latency (ImageNet-1k, 1,281,167 images; forward + backward of every image)
and batch-1 inference latency of DeiT-Tiny and DeiT-Small, dense and Tri-Level at token keep
ratios 0.9/0.8/0.7, at the engine's declared clock, beside the paper's measured figures and the
DSP-bound limit (every DSP48E2 doing one MAC per cycle). Only MAC-array work is modelled
(host/cycle_model.py), so these are lower bounds of a real run.
"""
from __future__ import annotations

from host import cycle_model, engine_spec

IMAGENET_TRAIN_IMAGES = 1_281_167
# The paper's Table 2 (ZCU102, 150 MHz): (hours per training epoch, ms per inference).
PAPER = {("deit_tiny_patch16_224", 1.0): (13.79, 10.91), ("deit_tiny_patch16_224", 0.7): (8.91, 7.36),
         ("deit_small_patch16_224", 1.0): (32.44, 25.68), ("deit_small_patch16_224", 0.7): (21.15, 17.61)}
MODELS = (("DeiT-T", "deit_tiny_patch16_224"), ("DeiT-S", "deit_small_patch16_224"))
SELECTOR_BLOCKS = (3, 6, 9)


def rows(attn_keep: float = 0.3, example_keep: float = 0.8, clock_mhz: float | None = None) -> list[dict]:
    clock = clock_mhz or float(engine_spec.load_spec()["clock_mhz"])
    out = []
    for label, name in MODELS:
        for keep in (1.0, 0.9, 0.8, 0.7):
            r_a = 1.0 if keep == 1.0 else attn_keep
            train = cycle_model.model_latency(name, keep, r_a, SELECTOR_BLOCKS, clock, training=True)
            infer = cycle_model.model_latency(name, keep, r_a, SELECTOR_BLOCKS, clock, training=False)
            macs_t = cycle_model.model_macs(name, keep, r_a, SELECTOR_BLOCKS, training=True)
            macs_i = cycle_model.model_macs(name, keep, r_a, SELECTOR_BLOCKS, training=False)
            paper = PAPER.get((name, keep))
            out.append(dict(model=label, setting="dense" if keep == 1.0 else f"Tri-Level/{keep:g}",
                            token_keep=keep, attn_keep=r_a, clock_mhz=clock,
                            train_h_epoch=train * IMAGENET_TRAIN_IMAGES / 3600,
                            train_h_epoch_examples=(train * IMAGENET_TRAIN_IMAGES / 3600
                                                    * (1.0 if keep == 1.0 else example_keep)),
                            infer_ms=infer * 1e3,
                            dsp_train_h=cycle_model.dsp_bound_seconds(macs_t, clock_mhz=clock)
                            * IMAGENET_TRAIN_IMAGES / 3600,
                            dsp_infer_ms=cycle_model.dsp_bound_seconds(macs_i, clock_mhz=clock) * 1e3,
                            paper_train_h=paper[0] if paper else None, paper_infer_ms=paper[1] if paper else None))
    return out


def format_table(table: list[dict], example_keep: float) -> str:
    def f(v, fmt):
        return "-" if v is None else format(v, fmt)

    lines = ["| model | setting | R_T / R_A | train h/epoch (model) | with r_e="
             f"{example_keep:g} | paper h/epoch | DSP-bound h/epoch | inference ms (model) | paper ms "
             "| DSP-bound ms |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in table:
        lines.append(f"| {r['model']} | {r['setting']} | {r['token_keep']:g} / {r['attn_keep']:g} | "
                     f"{r['train_h_epoch']:.2f} | {r['train_h_epoch_examples']:.2f} | {f(r['paper_train_h'], '.2f')} | "
                     f"{r['dsp_train_h']:.2f} | {r['infer_ms']:.2f} | {f(r['paper_infer_ms'], '.2f')} | "
                     f"{r['dsp_infer_ms']:.2f} |")
    return "\n".join(lines)


def print_report(attn_keep: float = 0.3, example_keep: float = 0.8) -> None:
    table = rows(attn_keep, example_keep)
    clock = table[0]["clock_mhz"]
    c = cycle_model.constants()
    print(f"Estimated fabric latency at {clock:g} MHz from the MAC-array cycle model "
          f"({c['MAC_ROWS']}x{c['MAC_COLS']} PEs; MAC-array work only, no data movement or nonlinear units);")
    print(f"training = forward + backward of each of {IMAGENET_TRAIN_IMAGES:,} ImageNet images, batch 1. "
          f"The paper's figures are measured on the ZCU102.")
    print(format_table(table, example_keep))
