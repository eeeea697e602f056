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
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import yaml

import model  # noqa: F401  (torchvision shim before timm)
from model.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint
from model.data import build_digits, build_image_folder, build_synthetic
from model.example_level import (EXAMPLE_POLICIES, ExampleLevel, ShardSampler, SubsetSampler, build_policy)

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


def _int_list(text) -> list[int]:
    if isinstance(text, (list, tuple)):
        return [int(v) for v in text]
    return [int(v) for v in str(text).replace(",", " ").split()]


def _optional_float(text):
    return None if text in (None, "", "none", "None") else float(text)


def build_parser() -> argparse.ArgumentParser:
    """The paper's recipe as defaults (DeiT-Tiny on ImageNet, 300 epochs, Tri-Level/0.7)."""
    p = argparse.ArgumentParser(prog="python -m model.train", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", default=None, help=f"YAML file of defaults (default: configs/{DEFAULT_CONFIG.name}; 'none': the paper defaults below)")
    g = p.add_argument_group("model")
    g.add_argument("--model", default="deit_tiny_patch16_224", help="a name from host/model_configs.py")
    g.add_argument("--drop-path", type=float, default=0.1)
    g.add_argument("--tri-level", type=_bool, default=True, help="token + attention selection in the model")
    g.add_argument("--selector-blocks", type=_int_list, default=[3, 6, 9], help="0-based blocks with a TA-Selector")
    g.add_argument("--token-keep", type=float, default=0.7, help="R_T")
    g.add_argument("--attn-keep", type=float, default=0.3, help="R_A")
    g.add_argument("--attn-impl", default="mask", help="how sparse attention is computed (see model/tri_level.py)")
    g.add_argument("--dense-selectors", type=_bool, default=False,
                   help="selector blocks attend densely instead of over the previous selector's key lists")
    g.add_argument("--keep-warmup-start", type=_optional_float, default=None,
                   help="fraction of the run where R_T/R_A start shrinking (model default when unset)")
    g.add_argument("--keep-warmup-end", type=_optional_float, default=None,
                   help="fraction of the run where R_T/R_A reach their targets (model default when unset)")
    g = p.add_argument_group("example level")
    g.add_argument("--example-keep", type=float, default=0.8, help="r_e; 1 trains on all examples")
    g.add_argument("--example-policy", default="forgetting", choices=EXAMPLE_POLICIES,
                   help="forgetting: the paper's selector; random-swap: the paper's Random baseline (same "
                        "swaps, random removal); random: a static random subset; two-phase: Toneva et al.'s "
                        "count on all examples for one interval, then remove once")
    g.add_argument("--example-swap", type=int, default=None, help="examples swapped per interval (default 5%%)")
    g.add_argument("--example-rounds", type=int, default=None,
                   help="swap rounds (default: the paper's rule, 3 for r_e 0.9, 5 for 0.8, 7 for 0.7)")
    g = p.add_argument_group("data")
    g.add_argument("--data", default="imagefolder", choices=("digits", "imagefolder", "synthetic"))
    g.add_argument("--data-dir", default=None, help="ImageFolder root with train/ and val/")
    g.add_argument("--synthetic-size", type=int, default=1024, help="training examples of --data synthetic")
    g.add_argument("--num-classes", type=int, default=None, help="synthetic data: classes (default: the model's)")
    g.add_argument("--workers", type=int, default=8)
    g.add_argument("--aa", default="rand-m9-mstd0.5-inc1", help="RandAugment policy ('' for none)")
    g.add_argument("--reprob", type=float, default=0.25, help="random erasing probability")
    g.add_argument("--color-jitter", type=float, default=0.3)
    g.add_argument("--digits-translate", type=float, default=0.1, help="digits: max shift, fraction of the side")
    g.add_argument("--digits-rotate", type=float, default=10.0, help="digits: max rotation, degrees")
    g.add_argument("--digits-scale", type=float, default=0.1, help="digits: max zoom in/out, fraction")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=300)
    g.add_argument("--batch-size", type=int, default=128, help="per process")
    g.add_argument("--eval-batch-size", type=int, default=None, help="per process (default: 2 x batch size)")
    g.add_argument("--opt", default="adamw")
    g.add_argument("--lr", type=_optional_float, default=None, help="absolute lr (default: lr-base x global batch / 512)")
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
    g.add_argument("--model-ema", type=_bool, default=False)
    g.add_argument("--model-ema-decay", type=float, default=0.99996)
    g = p.add_argument_group("run")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    g.add_argument("--amp", default="auto", choices=("auto", "none", "bf16", "fp16"),
                   help="autocast on CUDA (auto: bf16 where supported); CPU runs in fp32")
    g.add_argument("--compile", type=_bool, default=False, help="torch.compile the model")
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    g.add_argument("--output-dir", default="runs")
    g.add_argument("--run-name", default=None, help="default: <config name>_s<seed>")
    g.add_argument("--resume", default=None, help="checkpoint path, or 'auto' for <run dir>/last.pt if present")
    g.add_argument("--max-steps-per-epoch", type=int, default=None, help="cut epochs short (smoke tests)")
    g.add_argument("--stop-after", type=int, default=None,
                   help="stop once this many epochs are done, as if interrupted (resume continues the schedule)")
    g.add_argument("--eval-every", type=int, default=1,
                   help="evaluate every N epochs and after the last (0: never, for timing runs)")
    g.add_argument("--record-selection", type=int, default=0,
                   help="after training, record the TA-Selector's choices on N test images (selections.npz)")
    g.add_argument("--progress", type=_bool, default=True, help="tqdm progress bars")
    return p


def _yaml_defaults(parser: argparse.ArgumentParser, path: Path) -> dict:
    if not path.is_file():
        raise ValueError(f"config: {str(path)!r} does not exist")
    with open(path) as handle:
        values = yaml.safe_load(handle) or {}
    if not isinstance(values, dict):
        raise ValueError(f"config {str(path)!r}: expected a mapping of option: value")
    known = {a.dest: a for a in parser._actions if a.dest not in ("help", "config")}
    defaults = {}
    for key, value in values.items():
        dest = str(key).replace("-", "_")
        if dest not in known:
            raise ValueError(f"config {str(path)!r}: unknown option {key!r}")
        action = known[dest]
        # YAML already typed most values; run strings and lists through the flag's own parser.
        if action.type is not None and value is not None and not isinstance(value, bool):
            value = action.type(value)
        elif action.type is _bool and isinstance(value, bool):
            pass
        if action.choices is not None and value not in action.choices:
            raise ValueError(f"config {str(path)!r}: {key}={value!r}; choose one of {list(action.choices)}")
        defaults[dest] = value
    return defaults


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    pre, _ = parser.parse_known_args(argv)
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
    _validate(args)
    return args


def _validate(args: argparse.Namespace) -> None:
    from host.model_configs import CONFIGS

    if args.model not in CONFIGS:
        raise ValueError(f"model={args.model!r}; known: {', '.join(sorted(CONFIGS))}")
    for name in ("token_keep", "attn_keep", "example_keep"):
        value = getattr(args, name)
        if not 0.0 < value <= 1.0:
            raise ValueError(f"{name}={value}: a keep ratio must be in (0, 1]")
    for name in ("epochs", "batch_size"):
        if getattr(args, name) <= 0:
            raise ValueError(f"{name}={getattr(args, name)}: must be positive")
    if (args.mixup > 0 or args.cutmix > 0) and args.batch_size % 2:
        raise ValueError(f"batch_size={args.batch_size}: Mixup/CutMix pair examples, the batch size must be even")
    if args.eval_every < 0:
        raise ValueError(f"eval_every={args.eval_every}: must be >= 0")
    if args.data == "imagefolder" and not args.data_dir:
        raise ValueError("data=imagefolder needs --data-dir (a folder with train/ and val/)")


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

    def gather(self, obj) -> list:
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


def build_data(args: argparse.Namespace, model_cfg: dict):
    if args.data == "digits":
        return build_digits(model_cfg["img_size"], model_cfg["in_chans"], args.digits_translate,
                            args.digits_rotate, args.digits_scale)
    if args.data == "imagefolder":
        if model_cfg["in_chans"] != 3:
            raise ValueError(f"model={args.model!r} takes {model_cfg['in_chans']} channel(s); ImageFolder data are RGB")
        return build_image_folder(args.data_dir, model_cfg["img_size"], args.aa, args.reprob, args.color_jitter)
    return build_synthetic(model_cfg["img_size"], model_cfg["in_chans"], args.num_classes or model_cfg["num_classes"],
                           args.synthetic_size, args.aa, args.reprob, args.color_jitter)


def build_network(args: argparse.Namespace, num_classes: int):
    from model.tri_level import TriLevelConfig, build_model

    if args.tri_level:
        fields = dict(selector_blocks=tuple(args.selector_blocks), token_keep=args.token_keep,
                      attn_keep=args.attn_keep, attn_impl=args.attn_impl, dense_selectors=args.dense_selectors)
    else:  # dense: no selector; the model still reports MACs and the last [CLS] attention row
        fields = dict(selector_blocks=(), token_keep=1.0, attn_keep=1.0, attn_impl=args.attn_impl)
    if args.keep_warmup_start is not None:
        fields["warmup_start"] = args.keep_warmup_start
    if args.keep_warmup_end is not None:
        fields["warmup_end"] = args.keep_warmup_end
    return build_model(args.model, tri_level=TriLevelConfig(**fields), drop_path_rate=args.drop_path, num_classes=num_classes)


def autocast_dtype(args: argparse.Namespace, device: torch.device):
    if device.type != "cuda" or args.amp == "none":
        return None
    if args.amp == "fp16":
        return torch.float16
    if args.amp == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def run_dir_for(args: argparse.Namespace) -> Path:
    name = args.run_name or f"{Path(args.config).stem if args.config else args.model}_s{args.seed}"
    return Path(args.output_dir) / name


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
    def _csv(handle, fields, history):
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(history)

    @staticmethod
    def _jsonl(handle, fields, history):
        for record in history:
            handle.write(json.dumps(record) + "\n")


# ------------------------------------------------------------------------------------ training
def _tri_level(net):
    return getattr(net, "tri_level", None)


def step_macs(net, batch_size: int) -> dict[str, int]:
    """This step's MACs: ``forward``/``backward`` as executed (the ``mask`` attention runs dense
    score matrices), ``*_sparse`` as counted by kept keys (what index-list attention executes)."""
    counter = _tri_level(net)
    if counter is None:
        return dict.fromkeys(MAC_KEYS, 0)
    macs = counter.macs(batch_size)
    return {"forward": int(macs.get("forward_executed", macs["forward"])),
            "backward": int(macs.get("backward_executed", macs["backward"])),
            "forward_sparse": int(macs["forward"]), "backward_sparse": int(macs["backward"])}


MAC_KEYS = ("forward", "backward", "forward_sparse", "backward_sparse")


def current_keeps(net) -> tuple[float, float]:
    counter = _tri_level(net)
    if counter is None:
        return 1.0, 1.0
    r_t, r_a = counter.current_keep()
    return float(r_t), float(r_a)


@torch.no_grad()
def evaluate(net, loader, device, amp_dtype, dist_info: Distributed) -> tuple[float, float]:
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


def _autocast(device: torch.device, amp_dtype):
    return torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()


def _loader(dataset, sampler, batch_size, args, device, drop_last=False):
    workers = args.workers if args.data != "digits" else 0  # in-memory tensors: workers only add overhead
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                                       pin_memory=device.type == "cuda", drop_last=drop_last,
                                       persistent_workers=False)


def record_selections(net, dataset, count: int, device, path: Path) -> None:
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


def _percent(value) -> str:
    return "-" if value is None else f"{value:.2%}"


def main(argv: list[str] | None = None) -> dict:
    """Trains; returns the final record (the last line of log.jsonl) plus the run folder."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dist_info = Distributed(args.device)
    device = dist_info.device
    try:
        return _train(args, dist_info, device)
    finally:
        dist_info.close()


def _train(args: argparse.Namespace, dist_info: Distributed, device: torch.device) -> dict:
    from host.model_configs import get_config
    from timm.data import Mixup
    from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
    from timm.optim import create_optimizer_v2
    from timm.scheduler import create_scheduler_v2
    from timm.utils import ModelEmaV3
    from tqdm import tqdm

    seed_everything(args.seed + dist_info.rank)
    model_cfg = get_config(args.model)
    data = build_data(args, model_cfg)
    net = build_network(args, data.num_classes).to(device)
    amp_dtype = autocast_dtype(args, device)

    run_dir = run_dir_for(args)
    if dist_info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(run_dir / "config.yaml", "w") as handle:
            yaml.safe_dump({k: v for k, v in vars(args).items()}, handle, sort_keys=False)

    # Example level: the subset policy is identical on every rank (same seed), the sampler shards it.
    mixup_active = args.mixup > 0 or args.cutmix > 0
    policy = build_policy(args.example_policy, len(data.train), args.example_keep, args.epochs, args.seed,
                          args.example_swap, rounds=args.example_rounds)
    sampler = SubsetSampler(policy.subset, seed=args.seed, num_replicas=dist_info.world_size, rank=dist_info.rank)
    examples = ExampleLevel(policy, sampler)
    train_loader = _loader(data.train, sampler, args.batch_size, args, device, drop_last=mixup_active)
    test_loader = _loader(data.test, ShardSampler(len(data.test), dist_info.world_size, dist_info.rank),
                          args.eval_batch_size or 2 * args.batch_size, args, device)
    steps = len(train_loader) if args.max_steps_per_epoch is None else min(len(train_loader), args.max_steps_per_epoch)
    if steps == 0:
        raise ValueError(f"batch_size={args.batch_size}: larger than the {len(sampler)} examples per rank "
                         f"(drop_last is on with Mixup/CutMix)")
    total_steps = steps * args.epochs

    global_batch = args.batch_size * dist_info.world_size
    lr = args.lr if args.lr is not None else args.lr_base * global_batch / 512
    optimizer = create_optimizer_v2(net, opt=args.opt, lr=lr, weight_decay=args.weight_decay)
    scheduler, _ = create_scheduler_v2(optimizer, sched=args.sched, num_epochs=args.epochs,
                                       warmup_epochs=args.warmup_epochs, warmup_lr=args.warmup_lr,
                                       min_lr=args.min_lr, step_on_epochs=False, updates_per_epoch=steps)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    ema = ModelEmaV3(net, decay=args.model_ema_decay) if args.model_ema else None

    mixup = None
    if mixup_active:
        mixup = Mixup(mixup_alpha=args.mixup, cutmix_alpha=args.cutmix, prob=args.mixup_prob,
                      switch_prob=args.mixup_switch_prob, label_smoothing=args.smoothing,
                      num_classes=data.num_classes)
        criterion = SoftTargetCrossEntropy()
    elif args.smoothing > 0:
        criterion = LabelSmoothingCrossEntropy(smoothing=args.smoothing)
    else:
        criterion = torch.nn.CrossEntropyLoss()

    start_epoch, history = 0, []
    resume = args.resume
    if resume == "auto":
        resume = run_dir / CHECKPOINT_NAME if (run_dir / CHECKPOINT_NAME).is_file() else None
    if resume:
        state = load_checkpoint(resume)
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"checkpoint {str(resume)!r}: format {state.get('format')!r}, expected {CHECKPOINT_FORMAT}")
        if state["world_size"] != dist_info.world_size:
            raise ValueError(f"checkpoint {str(resume)!r} was written by {state['world_size']} processes, "
                             f"this run has {dist_info.world_size}")
        if state["steps_per_epoch"] != steps:
            raise ValueError(f"checkpoint {str(resume)!r}: {state['steps_per_epoch']} steps per epoch, "
                             f"this run has {steps} (batch size or data changed)")
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        if ema is not None:
            if state.get("ema") is None:
                raise ValueError(f"checkpoint {str(resume)!r} holds no EMA weights but --model-ema is on")
            ema.load_state_dict(state["ema"])
        examples.load_state_dict(state["example_level"])
        start_epoch, history = int(state["epoch"]), list(state["history"])
        restore_rng_state(state["rng"][dist_info.rank])

    train_net = net
    if dist_info.enabled:
        train_net = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None)
    if args.compile:
        train_net = torch.compile(train_net)

    log = RunLog(run_dir)
    show = args.progress and dist_info.is_main
    cum_macs = history[-1]["cum_macs"] if history else 0
    cum_macs_sparse = history[-1]["cum_macs_sparse"] if history else 0
    cum_time = history[-1]["cum_time_s"] if history else 0.0
    test_loss = test_top1 = test_top1_ema = None  # until the first evaluation
    last_epoch = args.epochs if args.stop_after is None else min(args.epochs, args.stop_after)
    for epoch in range(start_epoch, last_epoch):
        sampler.set_epoch(epoch)
        train_net.train()
        epoch_start, epoch_cpu_start = time.perf_counter(), time.process_time()
        data_time, loss_sum, correct_sum, seen = 0.0, 0.0, 0, 0
        macs = dict.fromkeys(MAC_KEYS, 0)
        bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{args.epochs}", disable=not show, leave=False)
        tick = time.perf_counter()
        for step, (images, targets, indices) in enumerate(train_loader):
            if step >= steps:
                break
            iteration = epoch * steps + step
            images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
            data_time += time.perf_counter() - tick
            if _tri_level(net) is not None:
                net.tri_level.set_progress(iteration, total_steps)
            labels = targets  # the examples' own labels: the example level judges against these
            if mixup is not None:
                images, targets = mixup(images, targets)
            with _autocast(device, amp_dtype):
                logits = train_net(images)
                loss = criterion(logits, targets)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise FloatingPointError(f"loss is {loss_value} at epoch {epoch + 1}, step {step}")
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                if args.clip_grad:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(net.parameters(), args.clip_grad)
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                if args.clip_grad:
                    torch.nn.utils.clip_grad_norm_(net.parameters(), args.clip_grad)
                optimizer.step()
            scheduler.step_update(num_updates=iteration + 1)
            if ema is not None:
                ema.update(net, step=iteration)

            cls_attention = getattr(_tri_level(net), "last_cls_attention", None)
            correct = examples.observe(indices, logits, labels, cls_attention)
            for key, value in step_macs(net, len(images)).items():
                macs[key] += value
            loss_sum += loss_value * len(images)
            correct_sum += int(correct.sum())
            seen += len(images)
            bar.set_postfix(loss=f"{loss_value:.3f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}")
            bar.update()
            tick = time.perf_counter()
        bar.close()
        r_t, r_a = current_keeps(net)
        examples_keep = examples.keep_ratio
        subset_changed = examples.end_epoch(epoch + 1)
        loss_sum, correct_sum, seen, data_time, *mac_sums = dist_info.all_sum(
            [loss_sum, correct_sum, seen, data_time, *(macs[k] for k in MAC_KEYS)])
        macs = {k: int(v) for k, v in zip(MAC_KEYS, mac_sums)}
        epoch_time = time.perf_counter() - epoch_start  # training only; evaluation is not training cost
        epoch_cpu = time.process_time() - epoch_cpu_start  # this process, all threads: robust on a shared CPU
        if args.eval_every and ((epoch + 1) % args.eval_every == 0 or epoch + 1 == args.epochs):
            test_loss, test_top1 = evaluate(net, test_loader, device, amp_dtype, dist_info)
            if ema is not None:
                _, test_top1_ema = evaluate(ema.module, test_loader, device, amp_dtype, dist_info)
        cum_macs += macs["forward"] + macs["backward"]
        cum_macs_sparse += macs["forward_sparse"] + macs["backward_sparse"]
        cum_time += epoch_time
        record = dict(epoch=epoch + 1, iteration=(epoch + 1) * steps, train_loss=loss_sum / max(seen, 1),
                      train_top1=correct_sum / max(seen, 1), test_loss=test_loss, test_top1=test_top1,
                      test_top1_ema=test_top1_ema, lr=optimizer.param_groups[0]["lr"],
                      epoch_time_s=epoch_time, epoch_cpu_s=epoch_cpu, data_time_s=data_time / dist_info.world_size,
                      examples_used=int(seen), example_keep=examples_keep, token_keep=r_t, attn_keep=r_a,
                      subset_changed=subset_changed, **{f"macs_{k}": v for k, v in macs.items()},
                      cum_macs=cum_macs, cum_macs_sparse=cum_macs_sparse, cum_time_s=cum_time)
        history.append(record)
        rng_states = dist_info.gather(capture_rng_state())
        if dist_info.is_main:
            log.write(history)
            save_checkpoint(run_dir / CHECKPOINT_NAME, dict(
                format=CHECKPOINT_FORMAT, epoch=epoch + 1, iteration=(epoch + 1) * steps, steps_per_epoch=steps,
                world_size=dist_info.world_size, model=net.state_dict(), optimizer=optimizer.state_dict(),
                scheduler=scheduler.state_dict(), scaler=scaler.state_dict() if scaler is not None else None,
                ema=ema.state_dict() if ema is not None else None, example_level=examples.state_dict(),
                rng=rng_states, history=history, config=vars(args)))
            if show:
                tqdm.write(f"epoch {epoch + 1}/{args.epochs}  loss {record['train_loss']:.4f}  "
                           f"train {record['train_top1']:.2%}  test {_percent(test_top1)}  "
                           f"{epoch_time:.1f}s  examples {int(seen)}  keep e/t/a "
                           f"{examples_keep:.2f}/{r_t:.2f}/{r_a:.2f}")
    if args.record_selection and dist_info.is_main:
        record_selections(net, data.test, args.record_selection, device, run_dir / "selections.npz")
    final = dict(history[-1]) if history else {}
    final["run_dir"] = str(run_dir)
    final["example_subset"] = examples.subset.tolist()
    return final


if __name__ == "__main__":
    result = main()
    result.pop("example_subset")
    print(json.dumps(result))
