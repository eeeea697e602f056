"""The TA-Selector on the host: token and attention-connection selection from attention maps.

The one rule, shared with the PyTorch reference (model/ta_selector.py is its torch twin, tested
equal; model/block_plan.py plans the same blocks). A selector block b attends over the previous
selector's key lists, like the blocks before it (the paper and the authors' models_attn_tok.py;
``Selection(dense_selectors=True)`` makes it attend densely); the host takes the head-averaged
attention probabilities of that block (the engine returns them with the block's attention; zero
off the key lists) and
  tokens: keeps ceil(R_T * n_patch) patch tokens with the largest [CLS] row entries (ties: lower
          position first); [CLS] stays first; kept positions sorted. The tokens are gathered
          after the attention residual, so block b's MLP already sees only the kept tokens.
  keys:   each kept patch query keeps [CLS] (the dense column) plus exactly ceil(R_A * n_kept_patch)
          of its strongest kept patch keys, as sorted positions into the kept list (a query with
          fewer surviving keys than that fills up with the lowest positions; the authors' `>=`
          threshold would make such a row dense); lists that would cover every key are dropped
          (dense). The [CLS] query row stays dense.
Blocks after b, the next selector block included, attend only over these key lists.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass
class StageSelection:
    keep: np.ndarray  # [n_kept] positions into the previous token list, 0 first, sorted
    keys: np.ndarray | None  # [n_kept-1, n_key] positions into the kept list, or None (dense)


def n_keep_tokens(n_patch: int, ratio: float) -> int:
    """Patch tokens a keep ratio keeps: ceil(ratio * n_patch), at least 1, at most n_patch (with a
    little slack so that ceil(0.3 * 10) is 3, not 4). The one counting rule for tokens and keys."""
    return max(1, min(n_patch, math.ceil(ratio * n_patch - 1e-9)))


def n_keep_keys(n_kept_patch: int, ratio: float) -> int:
    """Patch keys per query ([CLS] comes on top): the same count as n_keep_tokens."""
    return n_keep_tokens(n_kept_patch, ratio)


def _top_positions(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores along the last axis (ties: lower index first), sorted."""
    order = np.argsort(-scores, axis=-1, kind="stable")[..., :k]
    return np.sort(order, axis=-1)


def select_stage(attn_avg: np.ndarray, token_keep: float, attn_keep: float) -> StageSelection:
    """attn_avg: [n, n] head-averaged attention probabilities of the selector block (CLS = 0)."""
    attn_avg = np.asarray(attn_avg, dtype=np.float64)
    n = attn_avg.shape[0]
    if attn_avg.shape != (n, n) or n < 2:
        raise ValueError(f"attn_avg: expected a square [n, n] map with n >= 2, got {attn_avg.shape}")
    k_tok = n_keep_tokens(n - 1, token_keep)
    keep = np.concatenate([[0], _top_positions(attn_avg[0, 1:], k_tok) + 1]).astype(np.int64)
    n_kept = keep.size
    n_key = n_keep_keys(n_kept - 1, attn_keep)
    if n_key >= n_kept - 1:
        return StageSelection(keep=keep, keys=None)
    sub = attn_avg[np.ix_(keep[1:], keep[1:])]  # kept patch queries x kept patch keys
    patch_keys = _top_positions(sub, n_key) + 1
    keys = np.concatenate([np.zeros((n_kept - 1, 1), dtype=np.int64), patch_keys], axis=1)
    return StageSelection(keep=keep, keys=keys)


def key_mask(n_kept: int, keys: np.ndarray | None) -> np.ndarray:
    """[n, n] boolean mask of attended (query, key) pairs; CLS row dense."""
    mask = np.ones((n_kept, n_kept), dtype=bool)
    if keys is not None:
        mask[1:] = False
        rows = np.repeat(np.arange(1, n_kept), keys.shape[1])
        mask[rows, keys.reshape(-1)] = True
    return mask


def cls_attention_variance(attn_avg: np.ndarray) -> float:
    """Variance of the head-averaged [CLS] row over the patch tokens (example selector tie-break)."""
    return float(np.var(np.asarray(attn_avg, dtype=np.float64)[0, 1:]))


class Selection:
    """One sample's selection plan: online from the attention maps at the current keep ratios, or
    replayed from recorded masks ({stage: (kept original token ids, keys)})."""

    def __init__(
        self,
        selector_blocks: Iterable[int],
        token_keep: float = 1.0,
        attn_keep: float = 1.0,
        recorded: dict[int, tuple[np.ndarray, np.ndarray | None]] | None = None,
        dense_selectors: bool = False,
    ) -> None:
        self.blocks = list(selector_blocks)
        self.token_keep = token_keep
        self.attn_keep = attn_keep
        self.recorded = recorded  # {stage: (tokens_original_ids, keys)} for one sample, or None
        self.dense_selectors = bool(dense_selectors)  # selector blocks ignore the previous key lists

    def active(self) -> bool:
        return self.recorded is not None or self.token_keep < 1.0 or self.attn_keep < 1.0

    def select(self, stage: int, attn_avg: np.ndarray, ids: np.ndarray) -> StageSelection:
        if self.recorded is not None:
            tokens, keys = self.recorded[stage]
            keep = np.searchsorted(ids, tokens)
            if np.any(keep >= ids.size) or np.any(ids[np.minimum(keep, ids.size - 1)] != tokens):
                raise ValueError(f"recorded masks: stage {stage} keeps tokens dropped earlier")
            return StageSelection(keep=keep.astype(np.int64), keys=keys)
        return select_stage(attn_avg, self.token_keep, self.attn_keep)
