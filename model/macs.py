"""Analytic multiply-accumulates of a (tri-level) ViT training step, as the forward executes.

Counted: every GEMM (patch embedding, qkv, optional gate, QK^T, AV, proj, MLP, head) and the
TA-Selector's separate [CLS]-row product and, when it picks keys, its kept queries' score rows. Not counted: softmax, norms, GELU, gathers (no MACs).

Attention: a dense block does N*N*A for QK^T and the same for AV (A = heads * head_dim); a block
with key lists does N*A for the dense [CLS] query plus (N-1)*k*A for the patch queries, k keys
each. That is what the `gather` implementation and the hardware execute; the `mask`
implementation computes the dense product and throws the masked part away, so its
`*_executed` numbers count dense attention.

Backward = 2 x forward for every GEMM (one product for the input gradient, one for the weight
gradient; for QK^T and AV: dQ and dK, dA and dV), except the patch embedding (no input gradient:
the image needs none, 1 x) and the selector's [CLS] row and ranking rows (no gradient, 0 x).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from model.block_plan import BlockPlan

if TYPE_CHECKING:  # timm: imported where a model is built
    from timm.models.vision_transformer import VisionTransformer


@dataclass(frozen=True)
class VitDims:
    n_patch: int
    patch_dim: int  # in_chans * patch_size**2
    embed_dim: int
    attn_dim: int  # heads * head_dim
    mlp_hidden: int
    num_classes: int  # 0 without a classifier
    gated: bool = False


def dims_of(net: VisionTransformer) -> VitDims:
    proj = net.patch_embed.proj
    attn = net.blocks[0].attn
    head = getattr(net, "head", None)
    return VitDims(
        n_patch=net.patch_embed.num_patches,
        patch_dim=proj.in_channels * proj.kernel_size[0] * proj.kernel_size[1],
        embed_dim=net.embed_dim,
        attn_dim=attn.num_heads * attn.head_dim,
        mlp_hidden=net.blocks[0].mlp.fc1.out_features,
        num_classes=getattr(head, "out_features", 0),
        gated=getattr(attn, "gate", None) is not None,
    )


def _attention_macs(dims: VitDims, tokens: int, keys: int | None, dense: bool) -> int:
    if keys is None or dense:
        return 2 * tokens * tokens * dims.attn_dim
    return 2 * (tokens + (tokens - 1) * keys) * dims.attn_dim


def _block_macs(dims: VitDims, plan: BlockPlan, dense_attention: bool) -> tuple[int, int]:
    """(gradient-carrying forward MACs, selector-only MACs) of one block for one sample."""
    c, a, n_in, n_out = dims.embed_dim, dims.attn_dim, plan.tokens_in, plan.tokens_out
    linear = n_in * c * 3 * a + n_in * a * c + (n_in * c * a if dims.gated else 0)
    attention = _attention_macs(dims, n_in, plan.keys, dense_attention)
    mlp = 2 * n_out * c * dims.mlp_hidden
    selector_only = n_in * a if plan.cls_row else 0
    if plan.kept_map:  # the kept queries' score rows that rank the next key lists (no gradient)
        selector_only += n_out * n_in * a
    return linear + attention + mlp, selector_only


def count_macs(dims: VitDims, plans: list[BlockPlan], batch_size: int, *, mask_impl: bool = False) -> dict[str, int]:
    """forward/backward MACs for `batch_size` examples (attention counted by kept keys), plus
    forward_executed/backward_executed (= the same unless the `mask` implementation runs)."""
    if batch_size < 0:
        raise ValueError(f"batch_size: must be >= 0, got {batch_size!r}")
    patch_embed = dims.n_patch * dims.patch_dim * dims.embed_dim
    head = dims.embed_dim * dims.num_classes
    result = {}
    for suffix, dense in (("", False), ("_executed", mask_impl)):
        grad_blocks = selector = 0
        for plan in plans:
            g, s = _block_macs(dims, plan, dense)
            grad_blocks += g
            selector += s
        forward = patch_embed + grad_blocks + selector + head
        backward = patch_embed + 2 * (grad_blocks + head)
        result["forward" + suffix] = batch_size * forward
        result["backward" + suffix] = batch_size * backward
    return result
