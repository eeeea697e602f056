"""Train a ViT with the layer engine doing every forward and backward pass (Tri-Level E-ViT).

    .venv/bin/python host/train_on_board.py                       # onion_micro on digits, csim off the board
    .venv/bin/python host/train_on_board.py --data-dir DIR        # an ImageFolder tree (train/, val/)
    .venv/bin/python host/train_on_board.py --resume              # continue runs/<experiment>
    .venv/bin/python host/train_on_board.py --initial-checkpoint bundle.npz
    .venv/bin/python host/train_on_board.py --report [--json]     # Table 2 from the engine's own counters

The host (this process; the ZCU102's ARM on the board) runs the example selector, the TA-selection
from the engine's attention rows, the loss and AdamW on fp32 master weights; the engine (pynq on
the board, its C++ through ctypes off it) runs the layers. See docs/host.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from host import cli_support, engine_spec, schedules  # noqa: E402
from host.model_configs import POS_EMBED_INITS, default_pos_embed_init  # noqa: E402
from host.run_dir import (  # noqa: E402
    check_fresh,
    check_writable,
    clear_outputs,
    find_checkpoint,
    run_dir_in,
)
from host.validation import check_selector_blocks, parse_int_list  # noqa: E402

if TYPE_CHECKING:
    from host.bundle import Bundle
    from host.engine_lanes import EngineLanes
    from host.trainer import Trainer, TrainSettings
    from host.vit_float import FloatViT

PROG = "host/train_on_board.py"
DEFAULT_MODEL = "onion_tiny"  # the PyTorch reference's model; the defaults below are its demo recipe (docs/host.md)
DEFAULT_SELECTORS = {"onion_micro": [1, 2, 3]}  # every other model: 3, 6, 9 (the paper's)
PAPER_SELECTORS = [3, 6, 9]
CHECKPOINT = "checkpoint.npz"
OUTPUTS = (
    "log.jsonl",
    "log.csv",
    CHECKPOINT,
    "report.json",
    "bundle.npz",
    "curves.png",
    "accuracy_vs_cost.png",
    "kept_patches.png",
)
# Flags that say where and how to run, not what to train: never stored, never compared on resume.
RUN_CONTROL = ("resume", "overwrite", "output", "experiment", "progress", "report", "json")
SETTINGS_FORMAT = 1
DEFAULT_ENGINE_LANES = 2  # C-sim on two cores: ~1.6x (python -m bench csim_train)


def build_parser() -> argparse.ArgumentParser:
    p = cli_support.CliParser(PROG, __doc__.split("\n")[0])
    g = p.add_argument_group("model")
    g.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="host/model_configs.py name (with --initial-checkpoint: must match the bundle's config)",
    )
    g.add_argument(
        "--initial-checkpoint",
        "--bundle",
        dest="initial_checkpoint",
        default=None,
        help="start from an exported bundle (python -m model.export); its sparsity settings apply unless given here",
    )
    g.add_argument(
        "--pos-embed-init",
        default=None,
        choices=POS_EMBED_INITS,
        help="how a fresh pos_embed starts (default: sincos for the onion_* models, else trunc_normal)",
    )
    g.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "csim", "pynq", "float"),
        help="auto: pynq on a board, else csim; float: the numpy float twin, no engine",
    )
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        default=None,
        choices=("digits", "imagefolder"),
        help="digits: scikit-learn's embedded 8x8 digits (default); imagefolder: --data-dir",
    )
    g.add_argument(
        "--data-dir", default=None, help="ImageFolder root with train/ and val/ (implies --data imagefolder)"
    )
    g = p.add_argument_group("sparsity (an --initial-checkpoint bundle's own values replace these defaults)")
    g.add_argument("--token-keep", "--keep", dest="token_keep", type=float, default=0.7, help="R_T token keep ratio")
    g.add_argument("--attn-keep", type=float, default=0.3, help="R_A attention keep ratio")
    g.add_argument("--example-keep", type=float, default=0.8, help="r_e example keep ratio")
    g.add_argument(
        "--selector-blocks",
        type=parse_int_list,
        default=None,
        help="comma-separated 0-based blocks, ascending (default 3,6,9; onion_micro 1,2,3)",
    )
    cli_support.add_keep_warmup_args(g, schedules.DEFAULT_KEEP_START, schedules.DEFAULT_KEEP_END)
    g.add_argument(
        "--example-interval",
        type=int,
        default=None,
        help="epochs between example swaps (default: the paper's 30 of 300, scaled)",
    )
    g.add_argument("--example-swap", type=int, default=None, help="examples per swap (default 5%%)")
    g = p.add_argument_group("optimisation (the names of python -m model.train)")
    g.add_argument("--epochs", type=int, default=13, help="training epochs")
    g.add_argument("-b", "--batch-size", type=int, default=8, help="samples per AdamW step (gradient accumulation)")
    g.add_argument("--lr", type=float, default=5e-4, help="peak AdamW learning rate (cosine schedule)")
    g.add_argument("--min-lr", type=float, default=1e-5, help="learning rate at the end of the cosine")
    g.add_argument("--warmup-lr", type=float, default=1e-6, help="learning rate the linear warm-up starts from")
    g.add_argument("--warmup-epochs", type=float, default=1.0, help="epochs of linear lr warm-up")
    g.add_argument("--weight-decay", type=float, default=0.05, help="AdamW decoupled weight decay")
    g.add_argument("--smoothing", type=float, default=0.1, help="label smoothing")
    g.add_argument(
        "--clip-grad",
        type=float,
        default=None,
        help="max global L2 norm of a step's mean gradient (unset: no clipping)",
    )
    g.add_argument("--seed", type=int, default=0, help="initial weights, sample order, example subset")
    g.add_argument(
        "--engine-lanes",
        type=int,
        default=DEFAULT_ENGINE_LANES,
        help="engine contexts a step's samples are dealt to, each with its own gradient exponents "
        "(host/engine_lanes.py): the board runs them in turn, C-sim on one thread each; "
        "part of the recipe, the same bits either way",
    )
    g = p.add_argument_group("run")
    cli_support.add_run_folder_args(g, "<model>_<data>_s<seed>", CHECKPOINT)
    g.add_argument("--max-samples-per-epoch", type=int, default=None, help="cut epochs short (smoke runs)")
    g.add_argument("--eval-samples", type=int, default=None, help="evaluate on the first N test images")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="a progress bar for the run")
    g.add_argument(
        "--report",
        action="store_true",
        help="print the Table 2 latency report from the engine's own counters (host/latency_report.py: "
        "DeiT-Tiny/Small at the paper's settings, --attn-keep/--example-keep honoured) and exit",
    )
    g.add_argument("--json", action="store_true", help="with --report: one JSON object instead of a table")
    g.add_argument("--quick", action="store_true", help="with --report: onion_micro only (seconds; for tests)")
    return p


# ---------------------------------------------------------------------------------------------
class Run:
    """Everything resolved and validated before the first file is written."""

    def __init__(self, args: argparse.Namespace, explicit: set[str]):
        self.args, self.explicit = args, explicit
        self.checkpoint: Path | None = None
        self.run_dir: Path | None = None


def locate_checkpoint(args: argparse.Namespace, explicit: set[str]) -> Path:
    """--resume's checkpoint: a given run folder or file, else <output>/<experiment>, else <output>."""
    if args.experiment is not None or "experiment" in explicit:
        candidates = [run_dir_in(args.output, args.experiment) / CHECKPOINT]
    else:
        candidates = [
            Path(args.output).expanduser() / CHECKPOINT,
            run_dir_in(args.output, default_experiment(args)) / CHECKPOINT,
        ]
    return find_checkpoint(args.resume, candidates, CHECKPOINT)


def read_checkpoint_meta(path: Path) -> dict:
    """The run settings stored in a host checkpoint; one-line errors for anything else."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            if "run_meta" not in z.files or "settings" not in z.files:
                raise ValueError(f"checkpoint {path}: not a checkpoint of {PROG} (no stored run settings)")
            meta = json.loads(z["run_meta"].tobytes().decode())
            meta["settings"] = json.loads(z["settings"].tobytes().decode())
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as exc:
        raise ValueError(f"checkpoint {path}: corrupt or truncated ({type(exc).__name__})") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"checkpoint {path}: corrupt run settings") from None
    if meta.get("format") != SETTINGS_FORMAT or not isinstance(meta.get("args"), dict):
        raise ValueError(
            f"checkpoint {path}: run settings format {meta.get('format')!r}, this host reads {SETTINGS_FORMAT}"
        )
    return meta


def default_experiment(args: argparse.Namespace) -> str:
    name = (
        args.model
        if args.initial_checkpoint is None or args.model != DEFAULT_MODEL
        else Path(args.initial_checkpoint).stem
    )
    return f"{name}_{data_kind(args)}_s{args.seed}"


def data_kind(args: argparse.Namespace) -> str:
    return args.data or ("imagefolder" if args.data_dir else "digits")


def resolve_run(args: argparse.Namespace, explicit: set[str]) -> Run:
    run = Run(args, explicit)
    if args.resume is not None:
        run.checkpoint = locate_checkpoint(args, explicit)
        meta = read_checkpoint_meta(run.checkpoint)
        from host.trainer import SETTINGS_ADDED_LATER  # same names as their flags' dests

        saved = {**SETTINGS_ADDED_LATER, **meta["args"]}
        meta["settings"] = {**SETTINGS_ADDED_LATER, **meta["settings"]}
        current = {k: v for k, v in vars(args).items() if k not in RUN_CONTROL and not k.startswith("_")}
        cli_support.check_against_checkpoint(saved, current, explicit - set(RUN_CONTROL), str(run.checkpoint))
        for key, value in saved.items():
            if key not in RUN_CONTROL:
                setattr(args, key, value)
        run.run_dir = run.checkpoint.parent
        run.saved_meta = meta
        run.explicit = explicit | set(meta.get("explicit", []))  # the original run's choices still win
    else:
        run.run_dir = run_dir_in(args.output, args.experiment or default_experiment(args))
        check_fresh(run.run_dir, args.overwrite, resume_hint=f"--resume {run.run_dir}")
        run.saved_meta = None
        run.explicit = explicit
    check_writable(run.run_dir, "output")
    return run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The parsed flags; `args._explicit` holds the ones the command line set."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args._explicit = cli_support.explicit_dests(parser, argv)
    return args


def resolve_settings(
    args: argparse.Namespace,
    bundle: Bundle | None,
    explicit: set[str] | None = None,
    data_shape: tuple[int, int] = (1, 10),
) -> tuple[dict, TrainSettings]:
    """(config, TrainSettings): flags over the bundle's sparsity over the defaults."""
    explicit = getattr(args, "_explicit", set()) if explicit is None else explicit
    from host.model_configs import CONFIGS, get_config
    from host.trainer import TrainSettings

    sp = bundle.sparsity if bundle is not None else {}
    if bundle is not None:
        config = dict(bundle.config)
        if "model" in explicit:
            named = get_config(args.model)
            if named != config:
                raise ValueError(
                    f"--model {args.model}: its config differs from the bundle's "
                    f"({', '.join(f'{k}={config[k]}' for k in config if named.get(k) != config[k])})"
                )
    else:
        if args.model not in CONFIGS:
            raise ValueError(f"model={args.model!r}: unknown; known: {', '.join(sorted(CONFIGS))}")
        config = get_config(args.model)
    in_chans, num_classes = data_shape
    if bundle is None and args.model.startswith("onion_"):
        config.update(in_chans=in_chans, num_classes=num_classes)  # the small models follow the data
    if (config["in_chans"], config["num_classes"]) != (in_chans, num_classes):
        raise ValueError(
            f"the data have {in_chans} channel(s) and {num_classes} classes; the model takes "
            f"in_chans={config['in_chans']}, num_classes={config['num_classes']}"
        )

    def pick(dest: str, key: str) -> object:
        return getattr(args, dest) if dest in explicit or key not in sp else sp[key]

    if args.selector_blocks is not None:
        blocks = args.selector_blocks
    elif "selector_blocks" in sp:
        blocks = list(sp["selector_blocks"])
    else:
        blocks = DEFAULT_SELECTORS.get(args.model, PAPER_SELECTORS)
    blocks = check_selector_blocks(blocks, config["depth"])
    settings = TrainSettings(
        epochs=args.epochs,
        batch=args.batch_size,
        lr=args.lr,
        min_lr=args.min_lr,
        warmup_lr=args.warmup_lr,
        warmup_epochs=args.warmup_epochs,
        weight_decay=args.weight_decay,
        smoothing=args.smoothing,
        clip_grad=args.clip_grad,
        engine_lanes=args.engine_lanes,
        token_keep=pick("token_keep", "token_keep"),
        attn_keep=pick("attn_keep", "attn_keep"),
        example_keep=pick("example_keep", "example_keep"),
        keep_warmup_start=args.keep_warmup_start,
        keep_warmup_end=args.keep_warmup_end,
        selector_blocks=blocks,
        example_interval=args.example_interval,
        example_swap=args.example_swap,
        seed=args.seed,
        masks="online",
        max_samples_per_epoch=args.max_samples_per_epoch,
        eval_samples=args.eval_samples,
    )
    settings.validate()
    return config, settings


def scan_data(args: argparse.Namespace) -> tuple[dict | None, str]:
    """(scanned ImageFolder tree or None for digits, description); every image is opened once here."""
    if data_kind(args) == "imagefolder":
        from host import image_folder

        if not args.data_dir:
            raise ValueError("data=imagefolder needs --data-dir (a folder with train/ and val/)")
        scanned = image_folder.scan(args.data_dir)
        return scanned, f"ImageFolder {args.data_dir} ({len(scanned['classes'])} classes)"
    if args.data_dir:
        raise ValueError("--data-dir is for --data imagefolder; digits are embedded")
    return None, "digits (scikit-learn 8x8)"


# ---------------------------------------------------------------------------------------------
def build_model(kind: str, config: dict, lanes: int = 1) -> tuple[EngineLanes | FloatViT, str]:
    """(model, backend kind) for the trainer: the engine's `lanes` on a backend, or the float twin."""
    if kind == "float":
        from host.vit_float import FloatViT

        return FloatViT(config, dtype=np.float32), "float"
    from host.engine_lanes import EngineLanes
    from host.engine_memory import check_config

    check_config(config)  # before a backend is opened or anything is sent
    model = EngineLanes.open(kind, config, lanes)
    return model, model.kind


def latency_probe(kind: str) -> Callable[[EngineLanes | FloatViT, int], dict]:
    """Per-epoch fabric time: measured on the board, the engine's modelled cycles off it."""
    clock = float(engine_spec.load_spec()["clock_mhz"])

    def probe(model: EngineLanes | FloatViT, n_samples: int) -> dict:
        drivers = getattr(model, "drivers", [])
        if not drivers:
            return {}
        out = {
            "engine_calls": sum(d.counters.calls for d in drivers),
            "fabric_cycles": sum(d.counters.cycles for d in drivers),  # one engine runs every lane
            "weight_saturations": model.weight_saturations,
        }
        if kind == "pynq":
            backend = drivers[0].be  # the lanes share the board's one engine
            out.update(fabric_s=backend.busy_s, fabric_label="measured")
            backend.busy_s = 0.0
        else:
            out.update(fabric_s=out["fabric_cycles"] / (clock * 1e6), fabric_label=f"estimate (C-sim) at {clock:g} MHz")
        return out

    return probe


def dense_macs_per_sample(trainer: Trainer) -> int:
    """MACs of one dense forward + backward (all tokens, all connections), counted by the model
    itself on a training image. Run after training: the backward adapts gradient exponents."""
    from host.ta_selector import Selection

    model = trainer.model
    res = model.forward(trainer.x_train[0], Selection(trainer.s.selector_blocks, 1.0, 1.0))
    model.backward(res, np.zeros_like(res.logits))
    return int(res.macs)


def kept_tokens(trainer: Trainer, count: int = 4) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """Test images and the token ids each selector kept on them, at the final keep ratios."""
    images, kept = trainer.x_test[:count], []
    for image in images:
        res = trainer.model.forward(
            image, trainer._selection(None, trainer.s.token_keep, trainer.s.attn_keep), train=False
        )
        kept.append([ids for ids, _ in res.stages])
    return images, kept


def fresh_weights(args: argparse.Namespace, config: dict, seed: int) -> dict[str, np.ndarray]:
    """A new model's weights as this CLI starts them: pos_embed per --pos-embed-init, else the model's
    default (host.model_configs.default_pos_embed_init)."""
    from host.model_init import init_weights

    return init_weights(config, seed, args.pos_embed_init or default_pos_embed_init(args.model))


# ---------------------------------------------------------------------------------------------
def train(args: argparse.Namespace, explicit: set[str], state: dict) -> int:
    from host.atomic_io import atomic_write_text
    from host.backends import resolve_kind
    from host.bundle import read_bundle, write_bundle
    from host.digits import load_digits_split
    from host.run_plots import plot_accuracy_vs_cost, plot_curves, plot_kept_patches
    from host.trainer import Trainer

    # 1. everything validated before a file is touched
    run = resolve_run(args, explicit)
    kind_wanted = args.backend if args.backend == "float" else resolve_kind(args.backend)
    if run.saved_meta is not None and run.saved_meta.get("backend") not in (None, kind_wanted):
        raise ValueError(
            f"--backend: the run being resumed trained on {run.saved_meta['backend']}, this one would use {kind_wanted}"
        )
    bundle = read_bundle(args.initial_checkpoint) if args.initial_checkpoint else None
    scanned, data_text = scan_data(args)
    shape = (1, 10) if scanned is None else (3, len(scanned["classes"]))  # (channels, classes)
    config, settings = resolve_settings(args, bundle, run.explicit, shape)
    if run.saved_meta is not None:  # the resolved settings must be the stored ones, field by field
        for key, value in asdict(settings).items():
            saved = run.saved_meta["settings"].get(key)
            if saved != value and not (isinstance(saved, list) and list(value or []) == saved):
                raise ValueError(
                    f"{key}: the run being resumed trained with {key}={saved}, these settings give "
                    f"{value} (was --initial-checkpoint changed?)"
                )
    if scanned is None:
        data = load_digits_split(config["img_size"])
    else:
        from host import image_folder

        *arrays, _ = image_folder.load_split(args.data_dir, config["img_size"], config["in_chans"], scanned)
        data = tuple(arrays)
    model, kind = build_model(args.backend, config, settings.engine_lanes)
    weights = bundle.weights if bundle is not None else fresh_weights(args, config, settings.seed)

    # 2. now the run folder
    out = run.run_dir
    out.mkdir(parents=True, exist_ok=True)
    if run.checkpoint is None and args.overwrite:
        clear_outputs(out, OUTPUTS)
    stored = {k: v for k, v in vars(args).items() if k not in RUN_CONTROL and not k.startswith("_")}
    meta = {
        "format": SETTINGS_FORMAT,
        "args": stored,
        "explicit": sorted(run.explicit - set(RUN_CONTROL)),
        "backend": kind,
        "config": config,
    }
    trainer = Trainer(
        model,
        config,
        weights,
        data,
        settings,
        run_dir=out,
        latency=latency_probe(kind),
        progress=args.progress,
        run_meta=meta,
    )
    state["resume"] = cli_support.shell_join([".venv/bin/python", PROG, "--resume", out])
    if run.checkpoint is not None:
        trainer.resume(run.checkpoint)
        state["checkpointed"] = True
        trainer.write_logs()
    model_name = args.model if bundle is None or "model" in explicit else f"bundle {args.initial_checkpoint}"
    print(
        f"Onion host: {model_name} ({config['img_size']}x{config['img_size']}, {config['depth']} blocks, "
        f"dim {config['embed_dim']}) on backend {kind}\n"
        f"  data    {data_text}: {len(data[1])} train / {len(data[3])} test images\n"
        f"  levels  r_e {settings.example_keep:g}, R_T {settings.token_keep:g}, R_A {settings.attn_keep:g}, "
        f"selectors at blocks {','.join(map(str, settings.selector_blocks))}\n"
        f"  output  {out}"
        + (f"  (resumed after epoch {trainer.epoch} of {settings.epochs})" if run.checkpoint is not None else ""),
        flush=True,
    )
    start = time.perf_counter()
    original_checkpoint = trainer.checkpoint

    def checkpoint_and_mark() -> None:
        original_checkpoint()
        state["checkpointed"] = True

    trainer.checkpoint = checkpoint_and_mark
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # a NaN loss is reported by the trainer
        history = trainer.fit()
    wall = time.perf_counter() - start

    # 3. outputs
    dense = dense_macs_per_sample(trainer)
    per_epoch = (
        len(trainer.y_train)
        if settings.max_samples_per_epoch is None
        else min(len(trainer.y_train), settings.max_samples_per_epoch)
    )
    executed = sum(e["macs"] for e in history)
    dense_total = dense * per_epoch * len(history)
    final, best = history[-1]["test_acc"], max(e["test_acc"] for e in history)
    report = {
        "config": config,
        "backend": kind,
        "settings": asdict(settings),
        "history": history,
        "final_test_acc": final,
        "best_test_acc": best,
        "executed_macs": executed,
        "dense_macs": dense_total,
        "dense_macs_per_sample": dense,
        "train_wall_s": sum(e["wall_s"] for e in history),
        "wall_s_this_session": wall,
    }
    atomic_write_text(out / "report.json", json.dumps(report, indent=2))
    write_bundle(
        out / "bundle.npz",
        config=config,
        weights=trainer.master,
        sparsity={
            "selector_blocks": settings.selector_blocks,
            "token_keep": settings.token_keep,
            "attn_keep": settings.attn_keep,
            "example_keep": settings.example_keep,
        },
        meta={"trained_by": PROG, "backend": kind, "epochs": trainer.epoch},
    )
    plot_curves(history, out / "curves.png")
    plot_accuracy_vs_cost(history, dense * per_epoch, out / "accuracy_vs_cost.png")
    images, kept = kept_tokens(trainer)
    n_patch = (config["img_size"] // config["patch_size"]) ** 2
    plot_kept_patches(images, kept, settings.selector_blocks, n_patch, out / "kept_patches.png")
    files = sorted(p.name for p in out.iterdir() if p.name in OUTPUTS)
    print(
        f"done: final test accuracy {100 * final:.1f} %, best {100 * best:.1f} % "
        f"({len(history)} epochs)\n"
        f"  executed MACs {executed / 1e9:.2f} G = {executed / max(dense_total, 1):.2f} x a dense run's "
        f"{dense_total / 1e9:.2f} G (dense: all examples, tokens and connections)\n"
        f"  training time {report['train_wall_s']:.0f} s (this session {wall:.0f} s, evaluation included)\n"
        f"  wrote {out}/: {', '.join(files)}"
    )
    return 0


def report(args: argparse.Namespace, explicit: set[str]) -> int:
    """--report: a thin call into host/latency_report.py. The report runs its fixed rows (DeiT-Tiny and
    DeiT-Small, dense and Tri-Level/0.9-0.7 at the paper's token keep ratios); the attention and example keep
    ratios are forwarded, and a flag the report cannot honour is refused, not ignored."""
    from host import latency_report

    for dest in ("model", "token_keep", "initial_checkpoint"):
        if dest in explicit:
            raise ValueError(
                f"--report: --{dest.replace('_', '-')} is not taken; the report covers DeiT-Tiny and "
                "DeiT-Small at the paper's settings (--quick: onion_micro)"
            )
    try:
        latency_report.print_report(
            quick=args.quick,
            as_json=args.json,
            attn_keep=latency_report.DEFAULT_ATTN_KEEP if "attn_keep" not in explicit else args.attn_keep,
            example_keep=latency_report.DEFAULT_EXAMPLE_KEEP if "example_keep" not in explicit else args.example_keep,
        )
    except latency_report.MissingCounterError as exc:  # a backend without the contract's counters
        raise ValueError(str(exc)) from None
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    state: dict = {}

    def body() -> int:
        args = parser.parse_args(argv)
        explicit = cli_support.explicit_dests(parser, argv)
        args._explicit = explicit
        if args.report:
            return report(args, explicit)
        return train(args, explicit, state)

    def resume_hint() -> str | None:
        return state.get("resume") if state.get("checkpointed") else None

    return cli_support.run_cli(body, resume_hint)


if __name__ == "__main__":
    sys.exit(main())
