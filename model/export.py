"""Exports a (tri-level) ViT: a bundle for the board (host/bundle.py) and an ONNX inference graph.

    python -m model.export --checkpoint runs/x/checkpoint.pt --out-dir export/
    python -m model.export --random --model onion_tiny --token-keep 0.7 --out-dir export/ \
        --record digits-test --record-count 64

Writes OUT/bundle.npz (config, fp32 + int16 weights, sparsity, optionally the TA-Selector's
recorded per-sample token/key lists), OUT/model.onnx (eval-mode graph with the token pruning as
TopK + Gather, attention lists as masks or gathers) and OUT/export_report.json, which carries the
largest |onnxruntime - PyTorch| logit difference on a check batch.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from timm.models.vision_transformer import VisionTransformer
from tqdm import tqdm

from host.atomic_io import atomic_write_text
from host.bundle import write_bundle
from host.cli_support import CliParser
from model.factory import build_model
from model.tri_level import ATTN_IMPLS, TriLevelConfig

RECORD_SPLITS = ("digits-test",)


# ------------------------------------------------------------------------------------ model
def bundle_config(net: VisionTransformer, name: str) -> dict:
    """The bundle's model config, read off the network itself."""
    pe = net.patch_embed
    hidden = net.blocks[0].mlp.fc1.out_features
    return dict(
        model=name,
        img_size=int(pe.img_size[0]),
        patch_size=int(pe.patch_size[0]),
        in_chans=int(pe.proj.in_channels),
        embed_dim=int(net.embed_dim),
        depth=len(net.blocks),
        num_heads=int(net.blocks[0].attn.num_heads),
        mlp_ratio=hidden / net.embed_dim,
        num_classes=int(net.num_classes),
    )


def load_from_checkpoint(path: str | Path, use_ema: bool = False) -> tuple[VisionTransformer, str]:
    """Rebuilds the trainer's network (model/train.py checkpoint: 'model' + 'config' or 'args')."""
    import pickle
    import zipfile

    from model.checkpoint import load_checkpoint

    try:
        state = load_checkpoint(path)
    except (zipfile.BadZipFile, EOFError, RuntimeError, pickle.UnpicklingError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"checkpoint {str(path)!r}: corrupt, truncated or not a checkpoint ({first[:100]})") from None
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {str(path)!r}: not a checkpoint of python -m model.train")
    args = state.get("config") or state.get("args")
    if isinstance(args, argparse.Namespace):
        args = vars(args)
    if not isinstance(args, dict) or "model" not in args:
        raise ValueError(f"checkpoint {path}: no 'config'/'args' dict naming the model")
    weights = state.get("ema") if use_ema else state.get("model")
    if weights is None:
        raise ValueError(f"checkpoint {path}: no {'ema' if use_ema else 'model'} state_dict")
    # timm's ModelEmaV3 (and DDP) prefix names with "module."
    weights = {k.removeprefix("module."): torch.as_tensor(v) for k, v in weights.items()}
    if args.get("tri_level", True):
        fields = {
            k: args[k]
            for k in ("selector_blocks", "token_keep", "attn_keep", "attn_impl", "dense_selectors")
            if k in args
        }
        fields["selector_blocks"] = tuple(fields.get("selector_blocks", (3, 6, 9)))
    else:
        fields = dict(selector_blocks=(), token_keep=1.0, attn_keep=1.0)
    for key, field in (("keep_warmup_start", "warmup_start"), ("keep_warmup_end", "warmup_end")):
        if args.get(key) is not None:
            fields[field] = args[key]
    num_classes = int(weights["head.weight"].shape[0])
    net = build_model(args["model"], tri_level=TriLevelConfig(**fields), num_classes=num_classes)
    try:
        net.load_state_dict(weights)
    except RuntimeError as exc:
        raise ValueError(
            f"checkpoint {path}: its weights do not fit model={args['model']} "
            f"({str(exc).strip().splitlines()[0][:120]})"
        ) from None
    return net.eval(), args["model"]


# ------------------------------------------------------------------------------------ records
def record_images(split: str, config: dict, count: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(images, data-set indices) of a split the model can take."""
    if split != "digits-test":
        raise ValueError(f"record: unknown split {split!r}; known: {', '.join(RECORD_SPLITS)}")
    if config["in_chans"] != 1:
        raise ValueError(f"record: digits are grey-scale; the model has in_chans={config['in_chans']}")
    from host.digits import load_digits_split

    images = load_digits_split(config["img_size"])[2]
    n = len(images) if count is None else min(count, len(images))
    return images[:n], np.arange(n, dtype=np.int64)


@torch.no_grad()
def record_selections(net: VisionTransformer, images: np.ndarray, batch_size: int = 64) -> dict[str, np.ndarray]:
    """The TA-Selector's eval-mode choices per sample: tokens_s{k} (original numbering, [CLS] = 0)
    and keys_s{k} (positions in stage k's kept-token list), as host/bundle.py stores them."""
    ctl = net.tri_level
    ctl.record_selection = True
    stages: dict[str, list[np.ndarray]] = {}
    try:
        for start in tqdm(range(0, len(images), batch_size), desc="record selections", leave=False):
            net(torch.from_numpy(images[start : start + batch_size]))
            for k, stage in enumerate(ctl.last_selection):
                stages.setdefault(f"tokens_s{k}", []).append(stage["tokens"].numpy())
                if stage["keys"] is not None:
                    stages.setdefault(f"keys_s{k}", []).append(stage["keys"].numpy())
    finally:
        ctl.record_selection = False
    dtype = np.int16 if ctl.n_patch + 1 <= np.iinfo(np.int16).max else np.int32
    return {name: np.concatenate(parts).astype(dtype) for name, parts in stages.items()}


def sparsity_of(net: VisionTransformer) -> dict:
    ctl = net.tri_level
    plans = ctl.plan(training=False)
    selectors = [p for p in plans if p.selector]
    return dict(
        ctl.config.to_dict(),
        tokens_per_stage=[p.tokens_out for p in selectors],
        keys_per_stage=[p.next_keys for p in selectors],
    )


# ------------------------------------------------------------------------------------ ONNX
class _InferenceGraph(torch.nn.Module):
    def __init__(self, net: VisionTransformer) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)


def export_onnx(net: VisionTransformer, path: Path, example: torch.Tensor, opset: int = 17) -> None:
    net.eval()
    ctl = net.tri_level
    ctl.record_selection = False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with warnings.catch_warnings():  # the tracer warns that static shapes stay static: intended
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                _InferenceGraph(net),
                (example,),
                str(tmp),
                dynamo=False,
                opset_version=opset,
                input_names=["image"],
                output_names=["logits"],
                dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            )
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def onnx_max_abs_diff(net: VisionTransformer, path: Path, images: torch.Tensor) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"image": images.numpy()})
    with torch.no_grad():
        want = net.eval()(images).numpy()
    return float(np.abs(got - want).max())


def onnx_op_types(path: Path) -> list[str]:
    import onnx

    return sorted({node.op_type for node in onnx.load(str(path)).graph.node})


# ------------------------------------------------------------------------------------ CLI
OUTPUTS = ("bundle.npz", "model.onnx", "export_report.json")


def build_parser() -> argparse.ArgumentParser:
    p = CliParser("python -m model.export", __doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="a checkpoint written by model/train.py")
    src.add_argument("--random", action="store_true", help="a freshly initialised model instead")
    p.add_argument("--ema", action="store_true", help="export the checkpoint's EMA weights")
    p.add_argument("--model", default="onion_tiny", help="model name (with --random)")
    p.add_argument("--selector-blocks", type=int, nargs="*", default=[3, 6, 9], help="with --random")
    p.add_argument("--token-keep", type=float, default=0.7)
    p.add_argument("--attn-keep", type=float, default=1.0)
    p.add_argument("--attn-impl", choices=ATTN_IMPLS, default="mask")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--output",
        "--out-dir",
        dest="out_dir",
        required=True,
        help="folder for bundle.npz, model.onnx, export_report.json",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a previous export in that folder")
    p.add_argument("--record", choices=RECORD_SPLITS, help="record per-sample selections on this split")
    p.add_argument("--record-count", type=int, default=None, help="first N samples only")
    p.add_argument("--no-onnx", action="store_true")
    p.add_argument("--check-batch", type=int, default=4, help="images for the ONNX comparison")
    return p


def validate(args: argparse.Namespace) -> None:
    """Everything checked before a file is written."""
    from host.model_configs import CONFIGS
    from host.run_dir import check_writable
    from host.validation import check_keep_ratio, check_selector_blocks

    check_keep_ratio("token_keep", args.token_keep)
    check_keep_ratio("attn_keep", args.attn_keep)
    if args.random and args.model in CONFIGS:
        check_selector_blocks(args.selector_blocks, CONFIGS[args.model]["depth"])
    if args.record_count is not None and args.record_count <= 0:
        raise ValueError(f"record_count={args.record_count}: must be positive")
    if args.check_batch <= 0:
        raise ValueError(f"check_batch={args.check_batch}: must be positive")
    out = Path(args.out_dir)
    if not args.overwrite and any((out / name).exists() for name in OUTPUTS):
        raise ValueError(f"output {str(out)!r} already holds an export; pass --overwrite to replace it")
    check_writable(out, "output")


def export(args: argparse.Namespace) -> dict:
    validate(args)
    torch.manual_seed(args.seed)
    if args.checkpoint:
        net, name = load_from_checkpoint(args.checkpoint, args.ema)
    else:
        cfg = TriLevelConfig(
            selector_blocks=tuple(args.selector_blocks),
            token_keep=args.token_keep,
            attn_keep=args.attn_keep,
            attn_impl=args.attn_impl,
        )
        net, name = build_model(args.model, tri_level=cfg).eval(), args.model
    out = Path(args.out_dir)
    config = bundle_config(net, name)
    masks = None
    if args.record:
        images, index = record_images(args.record, config, args.record_count)
        masks = dict(record_selections(net, images), sample_index=index)
    weights = {k: v.detach().float().cpu().numpy() for k, v in net.state_dict().items()}
    source = str(args.checkpoint) if args.checkpoint else f"random(seed={args.seed})"
    bundle_path = out / "bundle.npz"
    write_bundle(
        bundle_path,
        config=config,
        weights=weights,
        sparsity=sparsity_of(net),
        masks=masks,
        meta=dict(source=source, record=args.record or None, exporter="model.export"),
    )
    report = dict(
        bundle=str(bundle_path),
        config=config,
        sparsity=sparsity_of(net),
        recorded_samples=0 if masks is None else int(len(masks["sample_index"])),
    )
    if not args.no_onnx:
        example = torch.randn(
            args.check_batch,
            config["in_chans"],
            config["img_size"],
            config["img_size"],
            generator=torch.Generator().manual_seed(args.seed + 1),
        )
        onnx_path = out / "model.onnx"
        export_onnx(net, onnx_path, example[:1])
        report.update(
            onnx=str(onnx_path),
            onnx_ops=onnx_op_types(onnx_path),
            onnx_max_abs_diff=onnx_max_abs_diff(net, onnx_path, example),
        )
    atomic_write_text(out / "export_report.json", json.dumps(report, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    """Exports; raises on bad input (``cli`` turns that into one line and exit status 2)."""
    args = build_parser().parse_args(argv)
    report = export(args)
    print(f"bundle: {report['bundle']}  recorded samples: {report['recorded_samples']}")
    if "onnx" in report:
        print(f"onnx: {report['onnx']}  max |onnxruntime - torch| = {report['onnx_max_abs_diff']:.3g}")
    return 0


def cli(argv: list[str] | None = None) -> int:
    """``python -m model.export``: one-line errors naming the field or file, exit status 2."""
    from host.cli_support import run_cli

    return run_cli(lambda: main(argv))


if __name__ == "__main__":
    sys.exit(cli())
