"""Tri-Level E-ViT training: ``python -m model.train [--config configs/X.yaml] [--flag value ...]``.

The DeiT recipe through timm's own utilities (AdamW, lr 5e-4 x global batch / 512, weight decay 0.05,
cosine schedule with warm-up, label smoothing, Mixup/CutMix, RandAugment, random erasing, drop-path),
plus the three levels of data-redundancy reduction: an example subset (``model.example_level``), and
token + attention-connection selection inside the model (``model.tri_level``).

With no arguments it trains ``onion_tiny`` on the embedded digits data with Tri-Level sparsity on
(configs/digits_tiny.yaml). Flags override the YAML file; the YAML file overrides the paper defaults
below. Runs under torchrun (DDP) unchanged. See docs/trainer.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np
import torch
import torch.distributed as dist
import yaml

from host import cli_support
from host.atomic_io import atomic_write_text
from host.model_configs import POS_EMBED_INITS
from host.run_dir import check_fresh, check_writable, clear_outputs, find_checkpoint, run_dir_in
from host.validation import (
    check_fraction,
    check_keep_ratio,
    check_non_negative,
    check_positive,
    check_selector_blocks,
    parse_int_list,
)
from model.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint
from model.data import DataBundle, build_digits, build_image_folder, build_synthetic
from model.example_level import EXAMPLE_POLICIES, ExampleLevel, ShardSampler, SubsetSampler, build_policy

if TYPE_CHECKING:  # imports timm: loaded where a model is built, after the torchvision shim
    from model.tri_level import TriLevel

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "configs" / "digits_tiny.yaml"
CHECKPOINT_NAME = "last.pt"
CHECKPOINT_FORMAT = 1


# ----------------------------------------------------------------------------------------- config
def _bool(text: str) -> bool:
    lowered = str(text).lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {text!r}")


def _int_list(text: str) -> list[int]:
    try:
        return parse_int_list(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _optional_float(text: str | None) -> float | None:
    return None if text in (None, "", "none", "None") else float(text)


class Switch(argparse.Action):
    """An on/off switch: ``--x`` / ``--no-x`` (``--x false`` still parses, as YAML files say it)."""

    def __init__(
        self, option_strings: list[str], dest: str, default: bool | None = None, help: str | None = None, **_: object
    ) -> None:
        names = []
        for name in option_strings:
            names += [name, "--no-" + name[2:]]
        super().__init__(names, dest, nargs="?", default=default, help=help, metavar="BOOL")

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | None,
        option_string: str | None = None,
    ) -> None:
        if option_string.startswith("--no-"):
            if values is not None:
                parser.error(f"{option_string} takes no value")
            setattr(namespace, self.dest, False)
        else:
            setattr(namespace, self.dest, True if values is None else _bool(values))

    def format_usage(self) -> str:
        return " | ".join(self.option_strings)


def build_parser() -> argparse.ArgumentParser:
    """The paper's recipe as defaults (DeiT-Tiny on ImageNet, 300 epochs, Tri-Level/0.7)."""
    p = cli_support.CliParser("python -m model.train", __doc__.split("\n")[0])
    p.add_argument(
        "--config",
        default=None,
        help=f"YAML file of defaults (default: configs/{DEFAULT_CONFIG.name}, "
        "whose values the defaults below show; 'none': the paper's DeiT recipe)",
    )
    g = p.add_argument_group("model")
    g.add_argument("--model", default="deit_tiny_patch16_224", help="a name from host/model_configs.py")
    g.add_argument("--drop-path", type=float, default=0.1)
    g.add_argument(
        "--pos-embed-init",
        default=None,
        choices=POS_EMBED_INITS,
        help="how pos_embed starts (default: sincos for the onion_* models, else trunc_normal)",
    )
    g.add_argument("--tri-level", action=Switch, default=True, help="token + attention selection in the model")
    g.add_argument("--selector-blocks", type=_int_list, default=[3, 6, 9], help="0-based blocks with a TA-Selector")
    g.add_argument("--token-keep", type=float, default=0.7, help="R_T")
    g.add_argument("--attn-keep", type=float, default=0.3, help="R_A")
    g.add_argument("--attn-impl", default="mask", help="how sparse attention is computed (see model/tri_level.py)")
    g.add_argument(
        "--dense-selectors",
        type=_bool,
        default=False,
        help="selector blocks attend densely instead of over the previous selector's key lists",
    )
    cli_support.add_keep_warmup_args(g, None, None, parse=_optional_float, note=" (model default when unset)")
    g = p.add_argument_group("example level")
    g.add_argument("--example-keep", type=float, default=0.8, help="r_e; 1 trains on all examples")
    g.add_argument(
        "--example-policy",
        default="forgetting",
        choices=EXAMPLE_POLICIES,
        help="forgetting: the paper's selector; random-swap: the paper's Random baseline (same "
        "swaps, random removal); random: a static random subset; two-phase: Toneva et al.'s "
        "count on all examples for one interval, then remove once",
    )
    g.add_argument("--example-swap", type=int, default=None, help="examples swapped per interval (default 5%%)")
    g.add_argument(
        "--example-rounds",
        type=int,
        default=None,
        help="swap rounds (default: the paper's rule, 3 for r_e 0.9, 5 for 0.8, 7 for 0.7)",
    )
    g = p.add_argument_group("data")
    g.add_argument("--data", default="imagefolder", choices=("digits", "imagefolder", "synthetic"))
    g.add_argument("--data-dir", default=None, help="ImageFolder root with train/ and val/")
    g.add_argument("--synthetic-size", type=int, default=1024, help="training examples of --data synthetic")
    g.add_argument("--num-classes", type=int, default=None, help="synthetic data: classes (default: the model's)")
    g.add_argument("-j", "--workers", type=int, default=8, help="data-loading processes")
    g.add_argument("--aa", default="rand-m9-mstd0.5-inc1", help="RandAugment policy ('' for none)")
    g.add_argument("--reprob", type=float, default=0.25, help="random erasing probability")
    g.add_argument("--color-jitter", type=float, default=0.3)
    g.add_argument("--digits-translate", type=float, default=0.1, help="digits: max shift, fraction of the side")
    g.add_argument("--digits-rotate", type=float, default=10.0, help="digits: max rotation, degrees")
    g.add_argument("--digits-scale", type=float, default=0.1, help="digits: max zoom in/out, fraction")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=300)
    g.add_argument("-b", "--batch-size", type=int, default=128, help="per process")
    g.add_argument("--eval-batch-size", type=int, default=None, help="per process (default: 2 x batch size)")
    g.add_argument("--opt", default="adamw")
    g.add_argument(
        "--lr", type=_optional_float, default=None, help="absolute lr (default: lr-base x global batch / 512)"
    )
    g.add_argument("--lr-base", type=float, default=5e-4)
    g.add_argument("--weight-decay", type=float, default=0.05)
    g.add_argument("--sched", default="cosine")
    g.add_argument("--warmup-epochs", type=float, default=5)
    g.add_argument("--warmup-lr", type=float, default=1e-6)
    g.add_argument("--min-lr", type=float, default=1e-5)
    g.add_argument("--clip-grad", type=_optional_float, default=None)
    g.add_argument("--smoothing", type=float, default=0.1)
    g.add_argument("--mixup", type=float, default=0.8, help="Mixup alpha (0: off)")
    g.add_argument("--cutmix", type=float, default=1.0, help="CutMix alpha (0: off)")
    g.add_argument("--mixup-prob", type=float, default=1.0)
    g.add_argument("--mixup-switch-prob", type=float, default=0.5)
    g.add_argument("--model-ema", action=Switch, default=False)
    g.add_argument("--model-ema-decay", type=float, default=0.99996)
    g = p.add_argument_group("run")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    g.add_argument(
        "--amp",
        default="auto",
        choices=("auto", "none", "bf16", "fp16"),
        help="autocast on CUDA (auto: bf16 where supported); CPU runs in fp32",
    )
    g.add_argument("--compile", action=Switch, default=False, help="torch.compile the model")
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    cli_support.add_run_folder_args(g, "<config name>_s<seed>", CHECKPOINT_NAME, timm_aliases=True)
    g.add_argument(
        "--initial-checkpoint",
        default=None,
        help="start from the model weights of a checkpoint (last.pt of another run); optimiser and "
        "schedule start fresh",
    )
    g.add_argument("--max-steps-per-epoch", type=int, default=None, help="cut epochs short (smoke tests)")
    g.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="stop once this many epochs are done, as if interrupted (resume continues the schedule)",
    )
    g.add_argument(
        "--eval-every",
        type=int,
        default=1,
        help="evaluate every N epochs and after the last (0: never, for timing runs)",
    )
    g.add_argument(
        "--record-selection",
        type=int,
        default=0,
        help="after training, record the TA-Selector's choices on N test images (selections.npz)",
    )
    g.add_argument("--progress", action=Switch, default=True, help="a progress bar for the run")
    for action in p._actions:
        if not action.help:
            action.help = "(default: %(default)s)" if action.default is not None else "(unset)"
    return p


def _yaml_defaults(parser: argparse.ArgumentParser, path: Path) -> dict:
    if not path.is_file():
        raise ValueError(f"config: {str(path)!r} does not exist")
    with open(path) as handle:
        values = yaml.safe_load(handle) or {}
    if not isinstance(values, dict):
        raise ValueError(f"config {str(path)!r}: expected a mapping of option: value")
    known = {a.dest: a for a in parser._actions if a.dest not in ("help", "config")}
    known.update(
        {
            o[2:].replace("-", "_"): a
            for a in parser._actions
            if a.dest not in ("help", "config")
            for o in a.option_strings
            if o.startswith("--") and not o.startswith("--no-")
        }
    )  # old names too
    defaults = {}
    for key, value in values.items():
        dest = str(key).replace("-", "_")
        if dest not in known:
            raise ValueError(f"config {str(path)!r}: unknown option {key!r}")
        action = known[dest]
        dest = action.dest
        # YAML already typed most values; run strings and lists through the flag's own parser.
        if isinstance(action, Switch):
            value = value if isinstance(value, bool) else _bool(value)
        elif action.type is not None and value is not None and not isinstance(value, bool):
            try:
                value = action.type(value)
            except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
                raise ValueError(f"config {str(path)!r}: {key}={value!r}: {exc}") from None
        if action.choices is not None and value not in action.choices:
            raise ValueError(f"config {str(path)!r}: {key}={value!r}; choose one of {list(action.choices)}")
        defaults[dest] = value
    return defaults


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    pre_parser = argparse.ArgumentParser(add_help=False)  # --config first, so --help shows its values
    pre_parser.add_argument("--config", default=None)
    pre, _ = pre_parser.parse_known_args(argv)
    if pre.config in (None, ""):
        config = DEFAULT_CONFIG
    elif pre.config.lower() == "none":
        config = None  # the bare paper defaults
    else:
        config = Path(pre.config)
    if config is not None:
        parser.set_defaults(**_yaml_defaults(parser, config))
    args = parser.parse_args(argv)
    args.config = str(config) if config is not None else None
    args._explicit = cli_support.explicit_dests(parser, argv)
    _validate(args)
    return args


def _validate(args: argparse.Namespace) -> None:
    """Every setting checked before a file is touched (one-line ValueErrors naming the field)."""
    from host.model_configs import CONFIGS

    if args.model not in CONFIGS:
        raise ValueError(f"model={args.model!r}: unknown; known: {', '.join(sorted(CONFIGS))}")
    for name in ("token_keep", "attn_keep", "example_keep"):
        check_keep_ratio(name, getattr(args, name))
    for name in ("epochs", "batch_size", "lr_base"):
        check_positive(name, getattr(args, name))
    if args.lr is not None:
        check_positive("lr", args.lr)
    for name in (
        "weight_decay",
        "warmup_epochs",
        "warmup_lr",
        "min_lr",
        "mixup",
        "cutmix",
        "reprob",
        "color_jitter",
        "digits_translate",
        "digits_rotate",
        "digits_scale",
        "model_ema_decay",
    ):
        check_non_negative(name, getattr(args, name))
    for name in ("drop_path", "smoothing", "mixup_prob", "mixup_switch_prob", "reprob"):
        check_fraction(name, getattr(args, name))
    for name in ("keep_warmup_start", "keep_warmup_end", "clip_grad"):
        if getattr(args, name) is not None:
            (check_positive if name == "clip_grad" else check_fraction)(name, getattr(args, name))
    if args.tri_level:
        check_selector_blocks(args.selector_blocks, CONFIGS[args.model]["depth"])
    for name in ("workers", "synthetic_size", "eval_every", "record_selection"):
        if getattr(args, name) < 0:
            raise ValueError(f"{name}={getattr(args, name)}: must be >= 0")
    for name in ("eval_batch_size", "max_steps_per_epoch", "stop_after", "num_classes", "threads", "example_swap"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise ValueError(f"{name}={getattr(args, name)}: must be positive")
    if (args.mixup > 0 or args.cutmix > 0) and args.batch_size % 2:
        raise ValueError(f"batch_size={args.batch_size}: Mixup/CutMix pair examples, the batch size must be even")
    if args.data_dir and args.data == "digits" and "data" not in getattr(args, "_explicit", ()):
        args.data = "imagefolder"  # --data-dir alone means an ImageFolder tree
    if args.data == "imagefolder" and not args.data_dir:
        raise ValueError("data=imagefolder needs --data-dir (a folder with train/ and val/)")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device={args.device}: this machine has no CUDA device (torch {torch.__version__}); use --device cpu"
        )
    if args.device not in ("auto", "cpu") and not args.device.startswith("cuda"):
        raise ValueError(f"device={args.device!r}: expected auto, cpu, cuda or cuda:N")


def settings_of(args: argparse.Namespace) -> dict:
    """The run's settings as stored in config.yaml and the checkpoint (no private fields)."""
    return {k: v for k, v in vars(args).items() if not k.startswith("_")}


# Flags that say where and how to run, not what to train: not compared on --resume.
RUN_CONTROL = (
    "resume",
    "overwrite",
    "output",
    "experiment",
    "progress",
    "threads",
    "device",
    "amp",
    "compile",
    "workers",
    "stop_after",
    "record_selection",
    "eval_every",
    "eval_batch_size",
)
OUTPUTS = ("config.yaml", CHECKPOINT_NAME, "log.csv", "log.jsonl", "selections.npz")


def locate_checkpoint(args: argparse.Namespace) -> Path:
    candidates = [run_dir_for(args) / CHECKPOINT_NAME]
    if args.experiment is None:
        candidates.append(Path(args.output).expanduser() / CHECKPOINT_NAME)
    return find_checkpoint(args.resume, candidates, CHECKPOINT_NAME)


def read_checkpoint(path: Path) -> dict:
    """A trainer checkpoint, validated like a bundle: one-line errors naming the file or field."""
    import pickle
    import zipfile

    try:
        state = load_checkpoint(path)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, RuntimeError, pickle.UnpicklingError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"checkpoint {str(path)!r}: corrupt, truncated or not a checkpoint ({first[:120]})") from None
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {str(path)!r}: not a checkpoint of python -m model.train")
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint {str(path)!r}: format {state.get('format')!r}, expected {CHECKPOINT_FORMAT}")
    for key in (
        "epoch",
        "model",
        "optimizer",
        "scheduler",
        "example_level",
        "rng",
        "history",
        "config",
        "steps_per_epoch",
        "world_size",
    ):
        if key not in state:
            raise ValueError(f"checkpoint {str(path)!r}: field {key!r} is missing")
    return state


def apply_resume(args: argparse.Namespace) -> tuple[Path, dict]:
    """Reloads the run's stored settings into args; refuses explicit flags that contradict them."""
    path = locate_checkpoint(args)
    state = read_checkpoint(path)
    saved = dict(state["config"])
    saved["output"] = saved.get("output", saved.pop("output_dir", None))
    saved["experiment"] = saved.get("experiment", saved.pop("run_name", None))
    current = settings_of(args)
    explicit = set(getattr(args, "_explicit", ())) - set(RUN_CONTROL)
    cli_support.check_against_checkpoint(saved, current, explicit, str(path))
    for key, value in saved.items():
        if key not in RUN_CONTROL and key in current:
            setattr(args, key, value)
    return path, state


def prepare_run_dir(args: argparse.Namespace, resuming: bool, checkpoint: Path | None) -> Path:
    run_dir = checkpoint.parent if checkpoint is not None else run_dir_for(args)
    if not resuming and int(os.environ.get("RANK", "0")) == 0:  # other ranks would see rank 0's files
        check_fresh(run_dir, args.overwrite, resume_hint=f"--resume {run_dir}")
    check_writable(run_dir, "output")
    return run_dir


# ------------------------------------------------------------------------------------ set-up
class Distributed:
    """torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK); a single process without it."""

    def __init__(self, device_arg: str):
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.enabled = self.world_size > 1
        if device_arg == "auto":
            device_arg = "cuda" if torch.cuda.is_available() else "cpu"
        if device_arg == "cuda" and self.enabled:
            device_arg = f"cuda:{self.local_rank}"
        self.device = torch.device(device_arg)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if self.enabled and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_sum(self, values: list[float]) -> list[float]:
        if not self.enabled:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def gather(self, obj: object) -> list:
        if not self.enabled:
            return [obj]
        parts = [None] * self.world_size
        dist.all_gather_object(parts, obj)
        return parts

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_data(args: argparse.Namespace, model_cfg: dict) -> DataBundle:
    if args.data == "digits":
        return build_digits(
            model_cfg["img_size"], model_cfg["in_chans"], args.digits_translate, args.digits_rotate, args.digits_scale
        )
    if args.data == "imagefolder":
        if model_cfg["in_chans"] != 3 and not args.model.startswith("onion_"):
            raise ValueError(f"model={args.model!r} takes {model_cfg['in_chans']} channel(s); ImageFolder data are RGB")
        return build_image_folder(args.data_dir, model_cfg["img_size"], args.aa, args.reprob, args.color_jitter)
    return build_synthetic(
        model_cfg["img_size"],
        model_cfg["in_chans"],
        args.num_classes or model_cfg["num_classes"],
        args.synthetic_size,
        args.aa,
        args.reprob,
        args.color_jitter,
    )


def build_network(args: argparse.Namespace, num_classes: int, in_chans: int | None = None) -> torch.nn.Module:
    from model.factory import build_model
    from model.tri_level import TriLevelConfig

    if args.tri_level:
        fields = dict(
            selector_blocks=tuple(args.selector_blocks),
            token_keep=args.token_keep,
            attn_keep=args.attn_keep,
            attn_impl=args.attn_impl,
            dense_selectors=args.dense_selectors,
        )
    else:  # dense: no selector; the model still reports MACs and the last [CLS] attention row
        fields = dict(selector_blocks=(), token_keep=1.0, attn_keep=1.0, attn_impl=args.attn_impl)
    if args.keep_warmup_start is not None:
        fields["warmup_start"] = args.keep_warmup_start
    if args.keep_warmup_end is not None:
        fields["warmup_end"] = args.keep_warmup_end
    extra = {"in_chans": in_chans} if in_chans is not None else {}  # the onion_* models follow the data (RGB)
    return build_model(
        args.model,
        tri_level=TriLevelConfig(**fields),
        pos_embed_init=args.pos_embed_init,
        drop_path_rate=args.drop_path,
        num_classes=num_classes,
        **extra,
    )


def autocast_dtype(args: argparse.Namespace, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or args.amp == "none":
        return None
    if args.amp == "fp16":
        return torch.float16
    if args.amp == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def run_dir_for(args: argparse.Namespace) -> Path:
    name = args.experiment or f"{Path(args.config).stem if args.config else args.model}_s{args.seed}"
    return run_dir_in(args.output, name)


# ------------------------------------------------------------------------------------ logging
class RunLog:
    """Per-epoch records as CSV and JSON lines, rewritten whole from the history (resume-safe)."""

    def __init__(self, run_dir: Path):
        self.csv_path = run_dir / "log.csv"
        self.jsonl_path = run_dir / "log.jsonl"

    def write(self, history: list[dict]) -> None:
        if not history:
            return
        fields = list(history[0])
        for path, render in ((self.csv_path, self._csv), (self.jsonl_path, self._jsonl)):
            tmp = path.with_name(f".{path.name}.tmp")
            with open(tmp, "w", newline="") as handle:
                render(handle, fields, history)
            os.replace(tmp, path)

    @staticmethod
    def _csv(handle: TextIO, fields: list[str], history: list[dict]) -> None:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(history)

    @staticmethod
    def _jsonl(handle: TextIO, fields: list[str], history: list[dict]) -> None:
        for record in history:
            handle.write(json.dumps(record) + "\n")


# ------------------------------------------------------------------------------------ training
def _tri_level(net: torch.nn.Module) -> TriLevel | None:
    return getattr(net, "tri_level", None)


def step_macs(net: torch.nn.Module, batch_size: int) -> dict[str, int]:
    """This step's MACs: ``forward``/``backward`` as executed (the ``mask`` attention runs dense
    score matrices), ``*_sparse`` as counted by kept keys (what index-list attention executes)."""
    counter = _tri_level(net)
    if counter is None:
        return dict.fromkeys(MAC_KEYS, 0)
    macs = counter.macs(batch_size)
    return {
        "forward": int(macs.get("forward_executed", macs["forward"])),
        "backward": int(macs.get("backward_executed", macs["backward"])),
        "forward_sparse": int(macs["forward"]),
        "backward_sparse": int(macs["backward"]),
    }


MAC_KEYS = ("forward", "backward", "forward_sparse", "backward_sparse")


def current_keeps(net: torch.nn.Module) -> tuple[float, float]:
    counter = _tri_level(net)
    if counter is None:
        return 1.0, 1.0
    r_t, r_a = counter.current_keep()
    return float(r_t), float(r_a)


@torch.no_grad()
def evaluate(
    net: torch.nn.Module,
    loader: torch.utils.data.DataLoader,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    dist_info: Distributed,
) -> tuple[float, float]:
    net.eval()
    loss_sum, correct, count = 0.0, 0, 0
    for images, targets, _ in loader:
        images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        with _autocast(device, amp_dtype):
            logits = net(images)
        loss_sum += float(torch.nn.functional.cross_entropy(logits.float(), targets, reduction="sum"))
        correct += int((logits.argmax(dim=1) == targets).sum())
        count += len(targets)
    loss_sum, correct, count = dist_info.all_sum([loss_sum, correct, count])
    return loss_sum / max(count, 1), correct / max(count, 1)


def _autocast(device: torch.device, amp_dtype: torch.dtype | None) -> AbstractContextManager:
    return torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()


def _loader(
    dataset: torch.utils.data.Dataset,
    sampler: torch.utils.data.Sampler | None,
    batch_size: int,
    args: argparse.Namespace,
    device: torch.device,
    drop_last: bool = False,
) -> torch.utils.data.DataLoader:
    workers = args.workers if args.data != "digits" else 0  # in-memory tensors: workers only add overhead
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        drop_last=drop_last,
        persistent_workers=False,
    )


def record_selections(
    net: torch.nn.Module, dataset: torch.utils.data.Dataset, count: int, device: torch.device, path: Path
) -> None:
    """The TA-Selector's choices on the first ``count`` test images, at the final keep ratios."""
    counter = _tri_level(net)
    if counter is None:
        return
    images = torch.stack([dataset[i][0] for i in range(min(count, len(dataset)))]).to(device)
    counter.record_selection = True
    net.train()  # selection runs in training forwards
    with torch.no_grad():
        net(images)
    counter.record_selection = False
    arrays = {"images": images.float().cpu().numpy(), "n_patch": np.int64(counter.n_patch)}
    for entry in counter.last_selection:
        block = int(entry["block"])
        arrays[f"block{block}_tokens"] = torch.as_tensor(entry["tokens"]).cpu().numpy()
        if entry.get("keys") is not None:
            arrays[f"block{block}_keys"] = torch.as_tensor(entry["keys"]).cpu().numpy()
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def main(argv: list[str] | None = None, state: dict | None = None) -> dict:
    """Trains; returns the final record (the last line of log.jsonl) plus the run folder. Raises on
    bad input (``cli`` turns that into one line and exit status 2)."""
    state = {} if state is None else state
    args = parse_args(argv)
    checkpoint, resume_state = None, None
    if args.resume is not None:
        checkpoint, resume_state = apply_resume(args)
        _validate(args)
    run_dir = prepare_run_dir(args, checkpoint is not None, checkpoint)
    state["resume"] = cli_support.shell_join([".venv/bin/python", "-m", "model.train", "--resume", run_dir])
    state["checkpointed"] = checkpoint is not None
    if args.threads:
        torch.set_num_threads(args.threads)
    dist_info = Distributed(args.device)
    try:
        return Training(args, dist_info, run_dir, resume_state, state).run()
    finally:
        dist_info.close()


class Training:
    """One run: data, network, optimiser, schedule, example level; ``run`` trains epoch by epoch."""

    def __init__(
        self, args: argparse.Namespace, dist_info: Distributed, run_dir: Path, resume_state: dict | None, state: dict
    ) -> None:
        from timm.data import Mixup
        from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
        from timm.optim import create_optimizer_v2
        from timm.scheduler import create_scheduler_v2
        from timm.utils import ModelEmaV3

        from host.model_configs import get_config

        self.args, self.dist, self.run_dir, self.state = args, dist_info, run_dir, state
        self.device = device = dist_info.device
        seed_everything(args.seed + dist_info.rank)
        model_cfg = get_config(args.model)
        self.data = data = build_data(args, model_cfg)
        in_chans = data.in_chans if data.in_chans != model_cfg["in_chans"] else None
        self.net = net = build_network(args, data.num_classes, in_chans).to(device)
        if args.initial_checkpoint and resume_state is None:
            initial = read_checkpoint(Path(args.initial_checkpoint))
            try:
                net.load_state_dict(initial["model"])
            except RuntimeError as exc:
                raise ValueError(
                    f"initial_checkpoint {args.initial_checkpoint!r}: does not fit model={args.model} "
                    f"({str(exc).splitlines()[0][:120]})"
                ) from None
        self.amp_dtype = autocast_dtype(args, device)

        # Example level: the subset policy is identical on every rank (same seed), the sampler shards it.
        mixup_active = args.mixup > 0 or args.cutmix > 0
        policy = build_policy(
            args.example_policy,
            len(data.train),
            args.example_keep,
            args.epochs,
            args.seed,
            args.example_swap,
            rounds=args.example_rounds,
        )
        self.sampler = SubsetSampler(
            policy.subset, seed=args.seed, num_replicas=dist_info.world_size, rank=dist_info.rank
        )
        self.examples = ExampleLevel(policy, self.sampler)
        self.train_loader = _loader(data.train, self.sampler, args.batch_size, args, device, drop_last=mixup_active)
        self.test_loader = _loader(
            data.test,
            ShardSampler(len(data.test), dist_info.world_size, dist_info.rank),
            args.eval_batch_size or 2 * args.batch_size,
            args,
            device,
        )
        steps = len(self.train_loader)
        self.steps = steps if args.max_steps_per_epoch is None else min(steps, args.max_steps_per_epoch)
        if self.steps == 0:
            raise ValueError(
                f"batch_size={args.batch_size}: larger than the {len(self.sampler)} examples per rank "
                f"(drop_last is on with Mixup/CutMix)"
            )
        self.total_steps = self.steps * args.epochs

        global_batch = args.batch_size * dist_info.world_size
        lr = args.lr if args.lr is not None else args.lr_base * global_batch / 512
        self.optimizer = create_optimizer_v2(net, opt=args.opt, lr=lr, weight_decay=args.weight_decay)
        self.scheduler, _ = create_scheduler_v2(
            self.optimizer,
            sched=args.sched,
            num_epochs=args.epochs,
            warmup_epochs=args.warmup_epochs,
            warmup_lr=args.warmup_lr,
            min_lr=args.min_lr,
            step_on_epochs=False,
            updates_per_epoch=self.steps,
        )
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.ema = ModelEmaV3(net, decay=args.model_ema_decay) if args.model_ema else None

        self.mixup = None
        if mixup_active:
            self.mixup = Mixup(
                mixup_alpha=args.mixup,
                cutmix_alpha=args.cutmix,
                prob=args.mixup_prob,
                switch_prob=args.mixup_switch_prob,
                label_smoothing=args.smoothing,
                num_classes=data.num_classes,
            )
            self.criterion = SoftTargetCrossEntropy()
        elif args.smoothing > 0:
            self.criterion = LabelSmoothingCrossEntropy(smoothing=args.smoothing)
        else:
            self.criterion = torch.nn.CrossEntropyLoss()

        self.start_epoch, self.history = 0, []
        if resume_state is not None:
            self._load(resume_state)

        self.train_net = net
        if dist_info.enabled:
            self.train_net = torch.nn.parallel.DistributedDataParallel(
                net, device_ids=[device.index] if device.type == "cuda" else None
            )
        if args.compile:
            self.train_net = torch.compile(self.train_net)
        self.show = args.progress and dist_info.is_main
        self.bar = None

    def _load(self, state: dict) -> None:
        where = f"checkpoint {str(self.args.resume)!r}"
        if state["world_size"] != self.dist.world_size:
            raise ValueError(
                f"{where} was written by {state['world_size']} processes, this run has {self.dist.world_size}"
            )
        if state["steps_per_epoch"] != self.steps:
            raise ValueError(
                f"{where}: {state['steps_per_epoch']} steps per epoch, this run has {self.steps} "
                f"(batch size or data changed)"
            )
        try:
            self.net.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise ValueError(f"{where}: its weights do not fit this model ({str(exc).splitlines()[0][:120]})") from None
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None:
            if state.get("ema") is None:
                raise ValueError(f"{where} holds no EMA weights but --model-ema is on")
            self.ema.load_state_dict(state["ema"])
        self.examples.load_state_dict(state["example_level"])
        self.start_epoch, self.history = int(state["epoch"]), list(state["history"])
        restore_rng_state(state["rng"][self.dist.rank])

    # ---------------------------------------------------------------------------------------
    def train_one_epoch(self, epoch: int) -> dict:
        """One epoch over the example subset; returns the epoch's sums (all ranks)."""
        args, net, device = self.args, self.net, self.device
        self.sampler.set_epoch(epoch)
        self.train_net.train()
        epoch_start, epoch_cpu_start = time.perf_counter(), time.process_time()
        data_time, loss_sum, correct_sum, seen = 0.0, 0.0, 0, 0
        macs = dict.fromkeys(MAC_KEYS, 0)
        tick = time.perf_counter()
        for step, (images, targets, indices) in enumerate(self.train_loader):
            if step >= self.steps:
                break
            iteration = epoch * self.steps + step
            images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
            data_time += time.perf_counter() - tick
            if _tri_level(net) is not None:
                net.tri_level.set_progress(iteration, self.total_steps)
            labels = targets  # the examples' own labels: the example level judges against these
            if self.mixup is not None:
                images, targets = self.mixup(images, targets)
            with _autocast(device, self.amp_dtype):
                logits = self.train_net(images)
                loss = self.criterion(logits, targets)
            loss_value = loss.item()
            if not math.isfinite(loss_value):  # before the step: no NaN reaches weights or a checkpoint
                raise FloatingPointError(
                    f"training loss is {loss_value} at epoch {epoch + 1}, step {step + 1}; "
                    "no checkpoint was written for this epoch (lower --lr?)"
                )
            self._step(loss, iteration)
            cls_attention = getattr(_tri_level(net), "last_cls_attention", None)
            correct = self.examples.observe(indices, logits, labels, cls_attention)
            for key, value in step_macs(net, len(images)).items():
                macs[key] += value
            loss_sum += loss_value * len(images)
            correct_sum += int(correct.sum())
            seen += len(images)
            if self.bar is not None:
                self.bar.set_postfix(
                    epoch=f"{epoch + 1}/{args.epochs}",
                    loss=f"{loss_value:.3f}",
                    lr=f"{self.optimizer.param_groups[0]['lr']:.2e}",
                )
                self.bar.update()
            tick = time.perf_counter()
        loss_sum, correct_sum, seen, data_time, *mac_sums = self.dist.all_sum(
            [loss_sum, correct_sum, seen, data_time, *(macs[k] for k in MAC_KEYS)]
        )
        return dict(
            loss_sum=loss_sum,
            correct_sum=correct_sum,
            seen=seen,
            data_time=data_time,
            macs={k: int(v) for k, v in zip(MAC_KEYS, mac_sums)},
            time=time.perf_counter() - epoch_start,  # training only, not evaluation
            cpu=time.process_time() - epoch_cpu_start,
        )  # this process, all threads

    def _step(self, loss: torch.Tensor, iteration: int) -> None:
        args, optimizer = self.args, self.optimizer
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if args.clip_grad:
                self.scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(self.net.parameters(), args.clip_grad)
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            loss.backward()
            if args.clip_grad:
                torch.nn.utils.clip_grad_norm_(self.net.parameters(), args.clip_grad)
            optimizer.step()
        self.scheduler.step_update(num_updates=iteration + 1)
        if self.ema is not None:
            self.ema.update(self.net, step=iteration)

    def evaluate(self) -> tuple[float, float, float | None]:
        test_loss, test_top1 = evaluate(self.net, self.test_loader, self.device, self.amp_dtype, self.dist)
        ema_top1 = None
        if self.ema is not None:
            _, ema_top1 = evaluate(self.ema.module, self.test_loader, self.device, self.amp_dtype, self.dist)
        return test_loss, test_top1, ema_top1

    # ---------------------------------------------------------------------------------------
    def banner(self) -> None:
        args, data = self.args, self.data
        resumed = f"  (resumed after epoch {self.start_epoch} of {args.epochs})" if self.start_epoch else ""
        levels = (
            f"r_e {args.example_keep:g}, R_T {args.token_keep:g}, R_A {args.attn_keep:g}, selectors at blocks "
            f"{','.join(map(str, args.selector_blocks))}"
            if args.tri_level
            else f"r_e {args.example_keep:g}, dense model (--no-tri-level)"
        )
        print(
            f"model.train: {args.model} on {self.device} ({self.dist.world_size} process(es))\n"
            f"  data    {args.data}{' ' + str(args.data_dir) if args.data_dir else ''}: {len(data.train)} train / "
            f"{len(data.test)} test images, {data.num_classes} classes\n"
            f"  levels  {levels}\n"
            f"  run     {args.epochs} epochs x {self.steps} steps of {args.batch_size}"
            f" (config {args.config or 'none'})\n"
            f"  output  {self.run_dir}{resumed}",
            flush=True,
        )

    def run(self) -> dict:
        from tqdm import tqdm

        args, dist_info, run_dir = self.args, self.dist, self.run_dir
        if dist_info.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            if args.overwrite and self.start_epoch == 0:
                clear_outputs(run_dir, OUTPUTS)
            atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(settings_of(args), sort_keys=False))
            self.banner()
        log = RunLog(run_dir)
        history = self.history
        cum_macs = history[-1]["cum_macs"] if history else 0
        cum_macs_sparse = history[-1]["cum_macs_sparse"] if history else 0
        cum_time = history[-1]["cum_time_s"] if history else 0.0
        test_loss = test_top1 = test_top1_ema = None  # until the first evaluation
        last_epoch = args.epochs if args.stop_after is None else min(args.epochs, args.stop_after)
        if self.show and self.start_epoch < last_epoch:
            self.bar = tqdm(
                total=self.steps * last_epoch,
                initial=self.steps * self.start_epoch,
                desc="training",
                unit="step",
                dynamic_ncols=True,
            )
        start = time.perf_counter()
        try:
            for epoch in range(self.start_epoch, last_epoch):
                sums = self.train_one_epoch(epoch)
                r_t, r_a = current_keeps(self.net)
                examples_keep = self.examples.keep_ratio
                subset_changed = self.examples.end_epoch(epoch + 1)
                if args.eval_every and ((epoch + 1) % args.eval_every == 0 or epoch + 1 == args.epochs):
                    test_loss, test_top1, test_top1_ema = self.evaluate()
                macs, seen = sums["macs"], sums["seen"]
                cum_macs += macs["forward"] + macs["backward"]
                cum_macs_sparse += macs["forward_sparse"] + macs["backward_sparse"]
                cum_time += sums["time"]
                record = dict(
                    epoch=epoch + 1,
                    iteration=(epoch + 1) * self.steps,
                    train_loss=sums["loss_sum"] / max(seen, 1),
                    train_top1=sums["correct_sum"] / max(seen, 1),
                    test_loss=test_loss,
                    test_top1=test_top1,
                    test_top1_ema=test_top1_ema,
                    lr=self.optimizer.param_groups[0]["lr"],
                    epoch_time_s=sums["time"],
                    epoch_cpu_s=sums["cpu"],
                    data_time_s=sums["data_time"] / dist_info.world_size,
                    examples_used=int(seen),
                    example_keep=examples_keep,
                    token_keep=r_t,
                    attn_keep=r_a,
                    subset_changed=subset_changed,
                    **{f"macs_{k}": v for k, v in macs.items()},
                    cum_macs=cum_macs,
                    cum_macs_sparse=cum_macs_sparse,
                    cum_time_s=cum_time,
                )
                history.append(record)
                self._save(epoch, log)
                if self.show:
                    self.bar.write(
                        f"epoch {epoch + 1}/{args.epochs}  loss {record['train_loss']:.4f}  "
                        f"train {record['train_top1']:.2%}  test {_percent(test_top1)}  "
                        f"{sums['time']:.1f}s  examples {int(seen)}  keep e/t/a "
                        f"{examples_keep:.2f}/{r_t:.2f}/{r_a:.2f}"
                    )
        finally:
            if self.bar is not None:
                self.bar.close()
        if args.record_selection and dist_info.is_main:
            record_selections(self.net, self.data.test, args.record_selection, self.device, run_dir / "selections.npz")
        final = dict(history[-1]) if history else {}
        final["run_dir"] = str(run_dir)
        final["example_subset"] = self.examples.subset.tolist()
        if dist_info.is_main:
            self.summary(time.perf_counter() - start)
        return final

    def _save(self, epoch: int, log: RunLog) -> None:
        rng_states = self.dist.gather(capture_rng_state())
        if not self.dist.is_main:
            return
        log.write(self.history)
        save_checkpoint(
            self.run_dir / CHECKPOINT_NAME,
            dict(
                format=CHECKPOINT_FORMAT,
                epoch=epoch + 1,
                iteration=(epoch + 1) * self.steps,
                steps_per_epoch=self.steps,
                world_size=self.dist.world_size,
                model=self.net.state_dict(),
                optimizer=self.optimizer.state_dict(),
                scheduler=self.scheduler.state_dict(),
                scaler=self.scaler.state_dict() if self.scaler is not None else None,
                ema=self.ema.state_dict() if self.ema is not None else None,
                example_level=self.examples.state_dict(),
                rng=rng_states,
                history=self.history,
                config=settings_of(self.args),
            ),
        )
        self.state["checkpointed"] = True

    def summary(self, wall: float) -> None:
        history = self.history
        if not history:
            return
        tests = [r["test_top1"] for r in history if r.get("test_top1") is not None]
        last = history[-1]
        dense = self.dense_macs_per_epoch() * len(history)
        files = sorted(p.name for p in self.run_dir.iterdir() if p.name in OUTPUTS)
        print(
            f"done: final test top-1 {_percent(tests[-1] if tests else None)}, best "
            f"{_percent(max(tests) if tests else None)} ({len(history)} epochs)\n"
            f"  executed MACs {last['cum_macs'] / 1e9:.2f} G = {last['cum_macs'] / max(dense, 1):.2f} x a dense "
            f"run's {dense / 1e9:.2f} G (dense: all examples and tokens, the model's own MAC counter)\n"
            f"  training time {last['cum_time_s']:.0f} s (this session {wall:.0f} s, evaluation included)\n"
            f"  wrote {self.run_dir}/: {', '.join(files)}",
            flush=True,
        )

    def dense_macs_per_epoch(self) -> int:
        """What the same number of steps would execute on all examples with every token kept."""
        counter = _tri_level(self.net)
        if counter is None:
            return 0
        from model.factory import build_model
        from model.tri_level import TriLevelConfig

        dense = build_model(
            self.args.model,
            tri_level=TriLevelConfig(selector_blocks=(), token_keep=1.0, attn_keep=1.0),
            num_classes=self.data.num_classes,
        ).tri_level
        macs = dense.macs(self.args.batch_size)
        per_step = macs.get("forward_executed", macs["forward"]) + macs.get("backward_executed", macs["backward"])
        full_steps = len(self.data.train) // (self.args.batch_size * self.dist.world_size)
        if self.args.max_steps_per_epoch is not None:
            full_steps = min(full_steps, self.args.max_steps_per_epoch)
        return int(per_step * max(full_steps, 1) * self.dist.world_size)


def cli(argv: list[str] | None = None) -> int:
    """``python -m model.train``: one-line errors (exit 2), Ctrl-C says how to resume."""
    state: dict = {}
    return cli_support.run_cli(
        lambda: (main(argv, state), 0)[1], lambda: state.get("resume") if state.get("checkpointed") else None
    )


if __name__ == "__main__":
    sys.exit(cli())
