"""What every block does for given keep ratios: token counts, keys per query, extra maps.

The forward pass follows this plan and the MAC counter counts it, so the two cannot disagree
about how many tokens or keys a block sees.

Rules (see docs/model_reference.md):
* A selector block attends over the previous selector's key lists, as every block after that
  selector does (the paper: "each token only calculates the attention with R_T R_A N tokens in the
  following layers"; the authors' models_attn_tok.py passes the mask into the next selector block);
  `dense_selectors=True` makes selector blocks attend densely instead. It then keeps
  kept_count(R_T, N_patch) patch tokens before its MLP.
* With R_A < 1 a selector also gives each kept patch query exactly kept_count(R_A, n_kept_patches)
  patch keys plus the [CLS] key, ranked on its own (masked) attention map; the blocks after it, the
  next selector included, attend over those lists. Lists that would cover every key are dropped
  (dense attention).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from model.ta_selector import kept_count


@dataclass(frozen=True)
class BlockPlan:
    index: int
    tokens_in: int  # tokens the attention sees, [CLS] included
    tokens_out: int  # tokens the MLP sees (fewer after a pruning selector)
    keys: int | None  # keys per patch query ([CLS] key included); None = dense
    selector: bool = False
    prune: bool = False  # the selector gathers tokens away
    next_keys: int | None = None  # keys per patch query this selector chooses for later blocks
    cls_row: bool = False  # the separate q_cls . K^T softmax is computed
    kept_map: bool = False  # the kept queries' attention rows are computed to rank the next keys


def plan_blocks(
    depth: int,
    n_patch: int,
    selector_blocks: Sequence[int],
    token_keep: float,
    attn_keep: float,
    *,
    last_cls_row: bool,
    record: bool = False,
    dense_selectors: bool = False,
) -> list[BlockPlan]:
    """One BlockPlan per block. `last_cls_row`: the last block's [CLS] row is wanted (training);
    `record`: selectors produce their [CLS] row and lists even when they keep everything;
    `dense_selectors`: selector blocks ignore the previous selector's key lists."""
    selectors = set(selector_blocks)
    plans: list[BlockPlan] = []
    tokens = n_patch + 1
    keys: int | None = None
    for index in range(depth):
        is_selector = index in selectors
        is_last = index == depth - 1
        if not is_selector:
            cls_row = is_last and last_cls_row
            plans.append(BlockPlan(index, tokens, tokens, keys, cls_row=cls_row))
            continue
        patches = tokens - 1
        kept = kept_count(token_keep, patches)
        prune = kept < patches
        chosen = kept_count(attn_keep, kept)
        next_keys = chosen + 1 if chosen < kept else None
        kept_map = next_keys is not None
        wants_row = prune or record or kept_map or (is_last and last_cls_row)
        plans.append(
            BlockPlan(
                index,
                tokens,
                kept + 1,
                None if dense_selectors else keys,
                selector=True,
                prune=prune,
                next_keys=next_keys,
                cls_row=wants_row,
                kept_map=kept_map,
            )
        )
        tokens, keys = kept + 1, next_keys
    return plans
