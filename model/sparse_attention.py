"""Attention of a timm `Attention` module, computed three ways: `dense()`, and `sparse()` over
per-query key lists by `mask` or `gather` (SPARSE_IMPLS).

Both reuse the module's own layers (qkv, q/k norm, proj, dropouts) and return
(output [B, N, C], cls_row [B, N-1] or None, detached (q, k) or None). The maps are head-averaged
and detached: they only rank tokens and keys, they never carry gradients.

* dense: fused SDPA. The [CLS] row for the TA-Selector is a separate q_cls . K^T softmax
  (N * A MACs) so the fused kernel never has to materialise the attention matrix; a selector that
  also picks keys computes, after choosing its tokens, only the kept queries' rows (`kept_map`,
  n * N * A MACs, no gradient).
* mask: reference semantics of sparse attention: fused SDPA with an additive -inf mask outside the
  key lists (the mask is built once per selector, not per block).
* gather: the same result computing only the listed keys: K and V are gathered per query.
A selector block that attends over key lists ranks the next ones from its masked map: masked-out
entries are exactly 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:  # timm is imported after the torchvision shim (model/__init__.py), not here
    from timm.models.vision_transformer import Attention


def _qkv(attn: Attention, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    batch, n_tokens, _ = x.shape
    gate = attn.gate(x).sigmoid() if getattr(attn, "gate", None) is not None else None
    qkv = attn.qkv(x).reshape(batch, n_tokens, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    return attn.q_norm(q), attn.k_norm(k), v, gate


def _project(attn: Attention, heads_out: torch.Tensor, gate: torch.Tensor | None) -> torch.Tensor:
    batch, _, n_tokens, _ = heads_out.shape
    x = heads_out.transpose(1, 2).reshape(batch, n_tokens, attn.num_heads * attn.head_dim)
    x = attn.norm(x)
    if gate is not None:
        x = x * gate
    return attn.proj_drop(attn.proj(x))


def _dropout_p(attn: Attention) -> float:
    return attn.attn_drop.p if attn.training else 0.0


@torch.no_grad()
def _cls_row(attn: Attention, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Head-averaged attention of the [CLS] query to the patch keys: [B, N-1]."""
    scores = (q[:, :, :1] * attn.scale) @ k.transpose(-2, -1)
    return scores.softmax(dim=-1).mean(dim=1)[:, 0, 1:]


AttentionOut = tuple[torch.Tensor, "torch.Tensor | None", "tuple[torch.Tensor, torch.Tensor] | None"]
HeadsOut = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _attend(attn: Attention, x: torch.Tensor, heads_out: HeadsOut, want_cls_row: bool, want_qk: bool) -> AttentionOut:
    """What the three ways share: q, k, v from the module's layers, the way's own per-head outputs
    heads_out(q, k, v) [B, H, N, d], the projection, and on request the [CLS] row and detached (q, k)."""
    q, k, v, gate = _qkv(attn, x)
    out = heads_out(q, k, v)
    cls_row = _cls_row(attn, q, k) if want_cls_row else None
    return _project(attn, out, gate), cls_row, (q.detach(), k.detach()) if want_qk else None


def dense(attn: Attention, x: torch.Tensor, want_cls_row: bool = False, want_qk: bool = False) -> AttentionOut:
    def heads_out(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=_dropout_p(attn), scale=attn.scale)

    return _attend(attn, x, heads_out, want_cls_row, want_qk)


@torch.no_grad()
def kept_map(
    attn: Attention, qk: tuple[torch.Tensor, torch.Tensor], keep: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """Head-averaged attention among the kept tokens, [B, n, n]: the rows of the kept queries,
    normalised over every key of the block (masked by `bias` where lists applied), at the kept
    columns. Only these n x N scores are computed, forward only: a selector needs no more to rank
    the next key lists, and the block's own output stays on the fused kernel."""
    q, k = qk
    batch, heads, n_tokens, head_dim = q.shape
    rows = keep[:, None, :, None]
    q_kept = q.gather(2, rows.expand(-1, heads, -1, head_dim))  # [B, H, n, d]
    scores = (q_kept * attn.scale) @ k.transpose(-2, -1)  # [B, H, n, N]
    if bias is not None:
        scores = scores + bias.gather(2, rows.expand(-1, 1, -1, n_tokens))
    probs = scores.softmax(dim=-1).mean(dim=1)  # [B, n, N]
    return probs.gather(2, keep[:, None, :].expand(-1, keep.shape[1], -1))


def keys_to_mask(keys: torch.Tensor, n_tokens: int) -> torch.Tensor:
    """Boolean [B, 1, N, N] mask (True = attend): [CLS] row all True, patch rows from `keys`."""
    batch = keys.shape[0]
    patch_rows = torch.zeros(batch, n_tokens - 1, n_tokens, dtype=torch.bool, device=keys.device)
    patch_rows = patch_rows.scatter(2, keys, torch.ones_like(keys, dtype=torch.bool))
    cls_row = torch.ones(batch, 1, n_tokens, dtype=torch.bool, device=keys.device)
    return torch.cat([cls_row, patch_rows], dim=1).unsqueeze(1)


def keys_to_bias(keys: torch.Tensor, n_tokens: int, dtype: torch.dtype) -> torch.Tensor:
    """The same mask as an additive [B, 1, N, N] bias (0 = attend, -inf = not): built once per
    selector and shared by every block that attends over its lists (SDPA would otherwise convert a
    boolean mask in every call)."""
    bias = torch.zeros(keys.shape[0], 1, n_tokens, n_tokens, dtype=dtype, device=keys.device)
    return bias.masked_fill_(~keys_to_mask(keys, n_tokens), float("-inf"))


def _masked_heads(attn: Attention, keys: torch.Tensor, bias: torch.Tensor | None) -> HeadsOut:
    """Fused SDPA with an additive mask; `bias` from keys_to_bias (else built here)."""

    def heads_out(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        mask = keys_to_bias(keys, q.shape[2], q.dtype) if bias is None else bias
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask.to(q.dtype), dropout_p=_dropout_p(attn), scale=attn.scale
        )

    return heads_out


def _gathered_heads(attn: Attention, keys: torch.Tensor, bias: torch.Tensor | None) -> HeadsOut:
    """Touches only the listed keys: [B, H, N-1, k] scores, not [N, N] (`bias`, the same lists as a
    mask, is not needed)."""

    def heads_out(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        batch, heads, _, head_dim = q.shape
        n_queries, n_keys = keys.shape[1], keys.shape[2]
        # [CLS] query: dense over every token (fused kernel).
        out_cls = F.scaled_dot_product_attention(q[:, :, :1], k, v, dropout_p=_dropout_p(attn), scale=attn.scale)
        # Patch queries: gather each query's keys/values, [B, H, n_q, k, d].
        index = keys.reshape(batch, 1, n_queries * n_keys, 1).expand(batch, heads, -1, head_dim)
        k_sel = k.gather(2, index).reshape(batch, heads, n_queries, n_keys, head_dim)
        v_sel = v.gather(2, index).reshape(batch, heads, n_queries, n_keys, head_dim)
        q_patch = q[:, :, 1:].unsqueeze(-2) * attn.scale  # [B, H, n_q, 1, d]
        probs = (q_patch @ k_sel.transpose(-2, -1)).softmax(dim=-1)  # [B, H, n_q, 1, k]
        out_patch = (attn.attn_drop(probs) @ v_sel).squeeze(-2)  # [B, H, n_q, d]
        return torch.cat([out_cls, out_patch], dim=2)

    return heads_out


SPARSE_IMPLS = {"mask": _masked_heads, "gather": _gathered_heads}


def sparse(
    attn: Attention,
    x: torch.Tensor,
    keys: torch.Tensor,
    impl: str = "mask",
    want_cls_row: bool = False,
    want_qk: bool = False,
    bias: torch.Tensor | None = None,
) -> AttentionOut:
    """Attention over per-query key lists `keys` [B, N-1, k] ([CLS] attends to every token), computed
    the `impl` way of SPARSE_IMPLS; `bias`: the lists as keys_to_bias made them, once per selector."""
    return _attend(attn, x, SPARSE_IMPLS[impl](attn, keys, bias), want_cls_row, want_qk)
