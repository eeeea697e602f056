"""Train a ViT with the layer engine doing every forward and backward pass (Tri-Level E-ViT).

    python host/train_on_board.py                      # onion_micro on digits, csim off the board
    python host/train_on_board.py --bundle model.npz --masks recorded
    python host/train_on_board.py --report [--json]    # Table 2 from the engine's counters

The host (this process; the ZCU102's ARM on the board) runs the example selector, the TA-selection
from the engine's attention rows, the loss and AdamW on fp32 master weights; the engine (pynq on
the board, its C++ through ctypes off it) runs the layers. See docs/host.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from host import engine_spec, schedules  # noqa: E402
from host.model_configs import get_config  # noqa: E402

DEFAULT_MODEL = "onion_micro"
DEFAULT_SELECTORS = {"onion_micro": [1, 2, 3]}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("model")
    g.add_argument("--model", default=None, help=f"host/model_configs.py name (default {DEFAULT_MODEL}; "
                                                  "with --bundle: the bundle's config)")
    g.add_argument("--bundle", default=None, help="start from an exported bundle (host/bundle.py)")
    g.add_argument("--backend", default="auto", choices=("auto", "csim", "pynq", "float"),
                   help="auto: pynq on a board, else csim; float: the numpy float twin, no engine")
    g = p.add_argument_group("sparsity (default: the bundle's, else Tri-Level/0.7)")
    g.add_argument("--keep", type=float, default=None, help="R_T token keep ratio (default 0.7)")
    g.add_argument("--attn-keep", type=float, default=None, help="R_A attention keep ratio (default 0.3)")
    g.add_argument("--example-keep", type=float, default=None, help="r_e example keep ratio (default 0.8)")
    g.add_argument("--selector-blocks", default=None, help="comma-separated 0-based blocks")
    g.add_argument("--keep-warmup-start", type=float, default=schedules.DEFAULT_KEEP_START,
                   help="fraction of the run where R_T/R_A start to shrink from 1.0")
    g.add_argument("--keep-warmup-end", type=float, default=schedules.DEFAULT_KEEP_END,
                   help="fraction of the run where they reach the target")
    g.add_argument("--example-interval", type=int, default=None,
                   help="epochs between example swaps (default: the paper's 30 of 300, scaled)")
    g.add_argument("--example-swap", type=int, default=None, help="examples per swap (default 5%%)")
    g.add_argument("--masks", default="online", choices=("online", "recorded"),
                   help="recorded: replay the per-sample selections recorded in the bundle")
    g = p.add_argument_group("optimisation (mirrors model.train)")
    g.add_argument("--epochs", type=int, default=10)
    g.add_argument("--batch-size", type=int, default=8, help="samples per AdamW step (gradient accumulation)")
    g.add_argument("--lr", type=float, default=1e-3)
    g.add_argument("--min-lr", type=float, default=1e-5)
    g.add_argument("--warmup-lr", type=float, default=1e-6)
    g.add_argument("--warmup-epochs", type=float, default=0.5)
    g.add_argument("--weight-decay", type=float, default=0.05)
    g.add_argument("--smoothing", type=float, default=0.1)
    g.add_argument("--seed", type=int, default=0)
    g = p.add_argument_group("run")
    g.add_argument("--out", default="runs/board", help="run directory (log.jsonl, checkpoint, report)")
    g.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.npz")
    g.add_argument("--max-samples-per-epoch", type=int, default=None, help="cut epochs short (smoke runs)")
    g.add_argument("--eval-samples", type=int, default=None, help="evaluate on the first N test images")
    g.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    g.add_argument("--report", action="store_true",
                   help="Table 2 latency report from the engine's own counters (host/latency_report.py) and exit")
    g.add_argument("--json", action="store_true", help="--report: print one JSON object")
    g.add_argument("--quick", action="store_true", help="--report: onion_micro only (seconds; for tests)")
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------
def build_model(kind: str, config: dict):
    """(model, backend kind) for the trainer: the engine on a backend, or the float twin."""
    if kind == "float":
        from host.vit_float import FloatViT

        return FloatViT(config, dtype=np.float32), "float"
    from host.backends.base import open_backend
    from host.engine_driver import EngineDriver, check_config
    from host.engine_model import EngineViT

    check_config(config)  # before a backend is opened or anything is sent
    backend = open_backend(kind, EngineDriver.required_words(config))
    return EngineViT(EngineDriver(backend, config)), backend.kind


def latency_probe(kind: str):
    """Per-epoch fabric time: measured on the board, the engine's modelled cycles off it."""
    clock = float(engine_spec.load_spec()["clock_mhz"])

    def probe(model, n_samples: int) -> dict:
        driver = getattr(model, "driver", None)
        if driver is None:
            return {}
        out = {"engine_calls": driver.counters.calls, "fabric_cycles": driver.counters.cycles,
               "weight_saturations": model.weight_saturations}
        if kind == "pynq":
            out.update(fabric_s=driver.be.busy_s, fabric_label="measured")
            driver.be.busy_s = 0.0
        else:
            out.update(fabric_s=driver.counters.cycles / (clock * 1e6),
                       fabric_label=f"estimate (C-sim) at {clock:g} MHz")
        return out
    return probe


def resolve_settings(args, bundle):
    from host.trainer import TrainSettings

    sp = bundle.sparsity if bundle is not None else {}
    name = args.model or (None if bundle is not None else DEFAULT_MODEL)
    config = bundle.config if bundle is not None and name is None else get_config(name)
    if bundle is not None and config != bundle.config:
        raise ValueError(f"--model {name}: differs from the bundle's config {bundle.config}")
    if args.selector_blocks:
        blocks = [int(b) for b in args.selector_blocks.split(",")]
    elif "selector_blocks" in sp:
        blocks = list(sp["selector_blocks"])
    else:
        blocks = DEFAULT_SELECTORS.get(name, [3, 6, 9])
    if any(not 0 <= b < config["depth"] for b in blocks):
        raise ValueError(f"--selector-blocks {blocks}: out of range for depth {config['depth']}")

    def pick(flag, key, default):
        return flag if flag is not None else sp.get(key, default)

    settings = TrainSettings(
        epochs=args.epochs, batch=args.batch_size, lr=args.lr, min_lr=args.min_lr, warmup_lr=args.warmup_lr,
        warmup_epochs=args.warmup_epochs, weight_decay=args.weight_decay, smoothing=args.smoothing,
        token_keep=pick(args.keep, "token_keep", 0.7), attn_keep=pick(args.attn_keep, "attn_keep", 0.3),
        example_keep=pick(args.example_keep, "example_keep", 0.8), keep_warmup_start=args.keep_warmup_start,
        keep_warmup_end=args.keep_warmup_end, selector_blocks=blocks, example_interval=args.example_interval,
        example_swap=args.example_swap, seed=args.seed, masks=args.masks,
        max_samples_per_epoch=args.max_samples_per_epoch, eval_samples=args.eval_samples)
    settings.validate()
    return config, settings


def check_digits_config(config: dict) -> None:
    if config["in_chans"] != 1 or config["num_classes"] != 10:
        raise ValueError(f"the digits data need in_chans=1 and num_classes=10; the model has "
                         f"in_chans={config['in_chans']}, num_classes={config['num_classes']}")


def train(args) -> dict:
    from host.atomic_io import atomic_write_text
    from host.bundle import read_bundle, write_bundle
    from host.digits import load_digits_split
    from host.model_init import init_weights
    from host.trainer import Trainer

    bundle = read_bundle(args.bundle) if args.bundle else None   # validated before anything runs
    config, settings = resolve_settings(args, bundle)
    check_digits_config(config)
    if settings.masks == "recorded":
        if bundle is None or not bundle.masks:
            raise ValueError("--masks recorded needs --bundle with recorded masks")
        if list(bundle.sparsity.get("selector_blocks", [])) != settings.selector_blocks:
            raise ValueError(f"--masks recorded: masks were recorded at selector blocks "
                             f"{bundle.sparsity.get('selector_blocks')}, not {settings.selector_blocks}")
    model, kind = build_model(args.backend, config)
    weights = bundle.weights if bundle is not None else init_weights(config, seed=settings.seed)
    data = load_digits_split(config["img_size"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(model, config, weights, data, settings, run_dir=out,
                      recorded_masks=bundle.masks if bundle is not None else None,
                      latency=latency_probe(kind), progress=not args.no_progress)
    checkpoint = out / "checkpoint.npz"
    if args.resume:
        if not checkpoint.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {checkpoint}")
        trainer.resume(checkpoint)
        print(f"resumed from {checkpoint} after epoch {trainer.epoch}")
        atomic_write_text(out / "log.jsonl", "".join(json.dumps(e) + "\n" for e in trainer.history))
    elif (out / "log.jsonl").exists():
        (out / "log.jsonl").unlink()     # a fresh run starts a fresh log
    print(f"Onion host: {args.model or (DEFAULT_MODEL if bundle is None else 'bundle model')} "
          f"{config}, backend {kind}, {len(data[1])} train / {len(data[3])} test digits, "
          f"{settings.epochs} epochs")
    start = time.perf_counter()
    history = trainer.fit()
    report = {"config": config, "backend": kind, "settings": asdict(settings), "history": history,
              "final_test_acc": history[-1]["test_acc"] if history else None,
              "wall_s_this_session": time.perf_counter() - start}
    atomic_write_text(out / "report.json", json.dumps(report, indent=2))
    write_bundle(out / "bundle.npz", config=config, weights=trainer.master,
                 sparsity={"selector_blocks": settings.selector_blocks, "token_keep": settings.token_keep,
                           "attn_keep": settings.attn_keep, "example_keep": settings.example_keep},
                 meta={"trained_by": "host/train_on_board.py", "backend": kind, "epochs": trainer.epoch})
    plot(history, out / "curves.png")
    print(f"final test accuracy {100 * report['final_test_acc']:.1f}%; run dir {out}")
    return report


def plot(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    epochs = [e["epoch"] for e in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(epochs, [e["loss"] for e in history], marker="o")
    a.set_xlabel("epoch"), a.set_ylabel("training loss")
    b.plot(epochs, [100 * e["train_acc"] for e in history], marker="o", label="train")
    b.plot(epochs, [100 * e["test_acc"] for e in history], marker="o", label="test")
    b.set_xlabel("epoch"), b.set_ylabel("accuracy (%)"), b.legend()
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.report:
        from host import latency_report as lr

        try:
            lr.print_report(quick=args.quick, as_json=args.json,
                            attn_keep=lr.DEFAULT_ATTN_KEEP if args.attn_keep is None else args.attn_keep,
                            example_keep=lr.DEFAULT_EXAMPLE_KEEP if args.example_keep is None else args.example_keep)
        except (lr.MissingCounterError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    try:
        train(args)
    except (ValueError, FileNotFoundError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
