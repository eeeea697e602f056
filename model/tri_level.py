"""Token- and attention-level sparsity (the TA-Selector) patched into a timm ViT.

    cfg = TriLevelConfig(selector_blocks=(3, 6, 9), token_keep=0.7, attn_keep=1.0)
    net = model.factory.build_model("onion_tiny", tri_level=cfg)   # or patch_model(timm_net, cfg)
    net.tri_level.set_progress(it, total_its)               # keep-ratio warm-up
    net.tri_level.record_selection = True; net(x); net.tri_level.last_selection

Patching swaps the model's class for a subclass whose forward_features runs the blocks through
`TriLevel.run_blocks`; parameters, state_dict names and the blocks' own modules stay timm's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from timm.models.vision_transformer import Block, VisionTransformer

from host.validation import check_keep_ratio
from model import sparse_attention
from model.block_plan import BlockPlan, plan_blocks
from model.keep_schedule import DEFAULT_WARMUP_END, DEFAULT_WARMUP_START, KeepSchedule
from model.macs import count_macs, dims_of
from model.ta_selector import gather_tokens, kept_count, select_keys, select_tokens

ATTN_IMPLS = tuple(sparse_attention.SPARSE_IMPLS)


@dataclass(frozen=True)
class TriLevelConfig:
    selector_blocks: tuple[int, ...] = (3, 6, 9)
    token_keep: float = 0.7
    attn_keep: float = 1.0
    attn_impl: str = "mask"
    dense_selectors: bool = False  # True: selector blocks ignore the previous selector's key lists
    warmup_start: float = DEFAULT_WARMUP_START  # fractions of the total iterations
    warmup_end: float = DEFAULT_WARMUP_END

    def __post_init__(self) -> None:
        blocks = tuple(int(b) for b in self.selector_blocks)
        object.__setattr__(self, "selector_blocks", blocks)
        if len(set(blocks)) != len(blocks) or list(blocks) != sorted(blocks) or any(b < 0 for b in blocks):
            raise ValueError(f"selector_blocks: need distinct ascending block indices >= 0, got {blocks!r}")
        for name in ("token_keep", "attn_keep"):
            check_keep_ratio(name, getattr(self, name))
        if not isinstance(self.dense_selectors, bool):
            raise ValueError(f"dense_selectors: expected true or false, got {self.dense_selectors!r}")
        if self.attn_impl not in ATTN_IMPLS:
            raise ValueError(f"attn_impl: expected one of {ATTN_IMPLS}, got {self.attn_impl!r}")
        KeepSchedule(self.token_keep, self.warmup_start, self.warmup_end)  # validates start/end

    def to_dict(self) -> dict:
        return dict(
            selector_blocks=list(self.selector_blocks),
            token_keep=self.token_keep,
            attn_keep=self.attn_keep,
            attn_impl=self.attn_impl,
            dense_selectors=self.dense_selectors,
            warmup_start=self.warmup_start,
            warmup_end=self.warmup_end,
        )

    @classmethod
    def from_dict(cls, d: dict) -> TriLevelConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class TriLevel:
    """Per-model sparsity state: config, warm-up progress, the last forward's selections."""

    def __init__(self, config: TriLevelConfig, depth: int, n_patch: int) -> None:
        if any(b >= depth for b in config.selector_blocks):
            raise ValueError(f"selector_blocks: {config.selector_blocks} out of range for a {depth}-block model")
        self.config = config
        self.depth = depth
        self.n_patch = n_patch
        self._token_schedule = KeepSchedule(config.token_keep, config.warmup_start, config.warmup_end)
        self._attn_schedule = KeepSchedule(config.attn_keep, config.warmup_start, config.warmup_end)
        self.progress: float | None = None  # None: no schedule set, the final ratios apply
        self.record_selection = False
        self.last_selection: list[dict] | None = None
        self.last_cls_attention: torch.Tensor | None = None
        self._dims = None

    # -- keep ratios -------------------------------------------------------------------------
    def set_progress(self, iteration: int, total_iterations: int) -> None:
        if total_iterations <= 0:
            raise ValueError(f"total_iterations: must be > 0, got {total_iterations!r}")
        self.progress = min(max(iteration / total_iterations, 0.0), 1.0)

    def current_keep(self) -> tuple[float, float]:
        """(R_T, R_A) the next training forward uses."""
        if self.progress is None:
            return self.config.token_keep, self.config.attn_keep
        return self._token_schedule.at(self.progress), self._attn_schedule.at(self.progress)

    def final_keep(self) -> tuple[float, float]:
        return self.config.token_keep, self.config.attn_keep

    def keep_for(self, training: bool) -> tuple[float, float]:
        return self.current_keep() if training else self.final_keep()

    def plan(self, training: bool, keep: tuple[float, float] | None = None) -> list[BlockPlan]:
        token_keep, attn_keep = keep if keep is not None else self.keep_for(training)
        return plan_blocks(
            self.depth,
            self.n_patch,
            self.config.selector_blocks,
            token_keep,
            attn_keep,
            last_cls_row=training or self.record_selection,
            record=self.record_selection,
            dense_selectors=self.config.dense_selectors,
        )

    # -- MACs ---------------------------------------------------------------------------------
    def macs(self, batch_size: int, training: bool = True, keep: tuple[float, float] | None = None) -> dict[str, int]:
        """MACs of one forward/backward over `batch_size` examples at the current ratios."""
        return count_macs(self._dims, self.plan(training, keep), batch_size, mask_impl=self.config.attn_impl == "mask")

    # -- forward ------------------------------------------------------------------------------
    def run_blocks(self, blocks: Iterable[Block], x: torch.Tensor, training: bool) -> torch.Tensor:
        plans = self.plan(training)
        record = self.record_selection
        batch, n_tokens, _ = x.shape
        if n_tokens != self.n_patch + 1:
            raise ValueError(f"input: expected {self.n_patch + 1} tokens, got {n_tokens}")
        original = torch.arange(n_tokens, device=x.device).expand(batch, -1) if record else None
        keys = bias = None
        selection = []
        last_row = None
        for block, plan in zip(blocks, plans):
            h = block.norm1(x)
            if plan.keys is None:
                out, cls_row, qk = sparse_attention.dense(
                    block.attn, h, want_cls_row=plan.cls_row, want_qk=plan.kept_map
                )
            else:
                out, cls_row, qk = sparse_attention.sparse(
                    block.attn,
                    h,
                    keys,
                    self.config.attn_impl,
                    want_cls_row=plan.cls_row,
                    want_qk=plan.kept_map,
                    bias=bias,
                )
            x = x + block.drop_path1(block.ls1(out))
            if plan.index == self.depth - 1:
                last_row = cls_row
            if plan.selector:
                keep = select_tokens(cls_row, plan.tokens_out - 1) if cls_row is not None else None
                if plan.prune:
                    x = gather_tokens(x, keep)
                next_keys = next_bias = None
                if plan.next_keys is not None:
                    ranked = sparse_attention.kept_map(block.attn, qk, keep, bias if plan.keys is not None else None)
                    next_keys = select_keys(ranked, plan.next_keys - 1)
                    next_bias = sparse_attention.keys_to_bias(next_keys, x.shape[1], x.dtype)  # once per selector
                keys, bias = next_keys, next_bias
                if record:
                    if plan.prune:
                        original = original.gather(1, keep)
                    selection.append(
                        dict(block=plan.index, tokens=original.clone(), keys=None if keys is None else keys.clone())
                    )
            x = x + block.drop_path2(block.ls2(block.mlp(block.norm2(x))))
        if training or record:
            self.last_cls_attention = last_row
        if record:
            self.last_selection = selection
        return x


class TriLevelVisionTransformer(VisionTransformer):
    """A timm VisionTransformer whose blocks run through its `tri_level` (set by patch_model)."""

    def forward_features(
        self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, is_causal: bool = False
    ) -> torch.Tensor:
        if attn_mask is not None or is_causal:
            raise ValueError("attn_mask/is_causal: not supported by the tri-level forward")
        x = self.patch_embed(x)
        x = self._pos_embed(x)
        x = self.patch_drop(x)
        x = self.norm_pre(x)
        x = self.tri_level.run_blocks(self.blocks, x, training=self.training)
        return self.norm(x)


_PATCHED_CLASSES: dict[type, type] = {VisionTransformer: TriLevelVisionTransformer}


def _patched_class(cls: type) -> type:
    if issubclass(cls, TriLevelVisionTransformer):
        return cls
    if cls not in _PATCHED_CLASSES:
        _PATCHED_CLASSES[cls] = type(
            f"TriLevel{cls.__name__}",
            (cls,),
            {"forward_features": TriLevelVisionTransformer.forward_features, "__module__": __name__},
        )
    return _PATCHED_CLASSES[cls]


_BLOCK_PARTS = ("norm1", "attn", "ls1", "drop_path1", "norm2", "mlp", "ls2", "drop_path2")
_ATTN_PARTS = ("qkv", "q_norm", "k_norm", "norm", "proj", "attn_drop", "proj_drop", "num_heads", "head_dim", "scale")


def check_patchable(net: torch.nn.Module) -> None:
    """ValueError naming what stops `net` from carrying the TA-Selector."""
    if not isinstance(net, VisionTransformer):
        raise ValueError(f"model: expected a timm VisionTransformer, got {type(net).__name__}")
    if getattr(net, "cls_token", None) is None:
        raise ValueError(
            "model: has no class token (class_token=False); the TA-Selector ranks tokens by the [CLS] attention row"
        )
    if net.num_prefix_tokens != 1:
        raise ValueError(
            f"model: {net.num_prefix_tokens - 1} register token(s); only the [CLS] prefix token is supported"
        )
    if not isinstance(net.patch_drop, torch.nn.Identity):
        raise ValueError("model: patch_drop_rate > 0 reorders tokens; not supported with the TA-Selector")
    for i, block in enumerate(net.blocks):
        missing = [p for p in _BLOCK_PARTS if not hasattr(block, p)]
        missing += [f"attn.{p}" for p in _ATTN_PARTS if not hasattr(getattr(block, "attn", None), p)]
        if missing:
            raise ValueError(
                f"blocks[{i}]: {type(block).__name__} is not a pre-norm timm Block (missing {', '.join(missing)})"
            )


def patch_model(net: VisionTransformer, config: TriLevelConfig | None = None) -> VisionTransformer:
    """Add the TA-Selector to a timm ViT in place and return it (re-patching replaces the config)."""
    config = config if config is not None else TriLevelConfig()
    check_patchable(net)
    controller = TriLevel(config, depth=len(net.blocks), n_patch=net.patch_embed.num_patches)
    controller._dims = dims_of(net)
    net.__class__ = _patched_class(type(net))
    net.tri_level = controller
    return net


__all__ = ["TriLevelConfig", "TriLevel", "patch_model", "check_patchable", "kept_count", "ATTN_IMPLS"]
