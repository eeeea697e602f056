"""The TA-Selector's ranking rules: which tokens survive and which keys each query keeps.

Pure tensor functions (no weights, no module state) so the forward pass, the export and the
tests all use one definition. Index lists are always sorted ascending (the hardware streams
tokens and keys in their original order) and ties in a ranking go to the lower position, as on
the host (host/ta_selector.py).
"""

from __future__ import annotations

import torch

from host.ta_selector import n_keep_tokens
from host.validation import check_keep_ratio


def kept_count(ratio: float, n: int) -> int:
    """How many of `n` candidates a keep ratio keeps: ceil(ratio * n), at least 1, at most n.

    The rule itself (with its slack so that ceil(0.3 * 10) is 3, not 4) lives with the board host,
    host/ta_selector.py, so the reference and the host count alike.
    """
    check_keep_ratio("ratio", ratio)
    return n_keep_tokens(n, ratio)


def top_positions(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k largest scores along the last axis, ascending; ties: lower index wins.

    torch.topk breaks ties arbitrarily, so eager mode takes topk's k-th value as a threshold, keeps
    everything above it and fills up with the lowest-index entries equal to it (the same choice as
    a stable descending sort, without sorting whole rows: masked maps tie at 0 a lot). ONNX's TopK
    already breaks ties towards the lower index, so the exported graph uses it.
    """
    if torch.onnx.is_in_onnx_export():
        return scores.topk(k, dim=-1).indices.sort(dim=-1).values
    # a NaN score (diverged weights) ranks last, so that the step still selects k tokens and the trainer's
    # non-finite-loss check, not a shape error here, reports the divergence
    scores = scores.nan_to_num(nan=float("-inf"))
    kth = scores.topk(k, dim=-1).values[..., -1:]
    above = scores > kth
    tied = scores == kth
    room = k - above.sum(dim=-1, keepdim=True)
    chosen = above | (tied & (tied.cumsum(dim=-1) <= room))
    # every row has exactly k chosen entries; nonzero lists them row by row in ascending order
    return chosen.nonzero()[:, -1].reshape(*scores.shape[:-1], k)


def select_tokens(cls_attention: torch.Tensor, n_keep: int) -> torch.Tensor:
    """Positions (in the current sequence, [CLS] = 0) of the tokens to keep, [CLS] first.

    cls_attention: [B, N_patch] head-averaged attention of the [CLS] query to each patch token.
    Returns LongTensor [B, n_keep + 1]: 0, then the n_keep best patch positions in ascending order.
    """
    patches = top_positions(cls_attention, n_keep) + 1
    cls = torch.zeros_like(patches[:, :1])
    return torch.cat([cls, patches], dim=1)


def select_keys(attention: torch.Tensor, n_keys: int) -> torch.Tensor:
    """Per-query key lists among the kept tokens; every list starts with the [CLS] key (0).

    attention: [B, n, n] head-averaged attention among the kept tokens ([CLS] = 0).
    Returns LongTensor [B, n - 1, n_keys + 1] for the patch queries 1..n-1 (the [CLS] query stays
    dense): key 0, then the n_keys patch keys with the highest attention, ascending.
    """
    patch_scores = attention[:, 1:, 1:]
    keys = top_positions(patch_scores, n_keys) + 1
    cls = torch.zeros_like(keys[..., :1])
    return torch.cat([cls, keys], dim=-1)


def gather_tokens(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """x[b, positions[b]] for [B, N, C] tokens; backward scatters the gradient to the kept rows."""
    return x.gather(1, positions.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def restrict_map(attention: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """The [B, n, n] block of a [B, N, N] map at the kept positions (rows and columns)."""
    n_all = attention.shape[-1]
    rows = attention.gather(1, positions.unsqueeze(-1).expand(-1, -1, n_all))
    return rows.gather(2, positions.unsqueeze(1).expand(-1, positions.shape[1], -1))
