"""An independent, loop-free-of-our-code reference of the tri-level forward for the tests.

Built only from timm's own modules and textbook attention math (explicit softmax, -inf masks),
not from model/ta_selector.py or model/sparse_attention.py.
"""
from __future__ import annotations

import math

import torch

import model  # noqa: F401
import timm


def tiny_vit(**overrides):
    kw = dict(pretrained=False, img_size=16, patch_size=4, in_chans=1, embed_dim=16, depth=4,
              num_heads=2, num_classes=5)
    kw.update(overrides)
    return timm.create_model("vit_tiny_patch16_224", **kw)


def attention_probs(attn, h, allowed=None):
    """[B, H, N, N] softmax(q k^T / sqrt(d)) of a timm Attention on normed tokens h (entries where
    allowed[b, i, j] is False get -inf first, so they come out exactly 0)."""
    b, n, _ = h.shape
    qkv = attn.qkv(h).reshape(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    q, k, _ = qkv.unbind(0)
    scores = q @ k.transpose(-2, -1) / math.sqrt(attn.head_dim)
    if allowed is not None:
        scores = scores.masked_fill(~allowed[:, None], float("-inf"))
    return torch.softmax(scores, dim=-1)


def masked_attention(attn, h, allowed):
    """Output of a timm Attention where allowed[b, i, j] == False gets -inf before the softmax."""
    b, n, _ = h.shape
    qkv = attn.qkv(h).reshape(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    scores = q @ k.transpose(-2, -1) / math.sqrt(attn.head_dim)
    scores = scores.masked_fill(~allowed[:, None], float("-inf"))
    out = torch.softmax(scores, dim=-1) @ v
    return attn.proj(out.transpose(1, 2).reshape(b, n, -1))


def reference_forward(net, x, selectors, token_keep, attn_keep, dense_selectors=False):
    """Logits, kept tokens (original numbering) and key lists, by brute force, one sample at a time.
    A selector block attends over the previous selector's lists (the paper) unless dense_selectors."""
    logits, all_tokens, all_keys = [], [], []
    for s in range(x.shape[0]):
        t = net._pos_embed(net.patch_embed(x[s:s + 1]))
        original = list(range(t.shape[1]))
        allowed = None
        toks, keys_per_stage = [], []
        for i, blk in enumerate(net.blocks):
            h = blk.norm1(t)
            n = t.shape[1]
            mask = None if (i in selectors and dense_selectors) else allowed
            if mask is None:
                t = t + blk.attn(h)       # timm's own dense attention
            else:
                t = t + masked_attention(blk.attn, h, mask)
            if i in selectors:
                probs = attention_probs(blk.attn, h, mask).detach().mean(1)[0]   # [N, N]
                n_keep = min(n - 1, math.ceil(round(token_keep * (n - 1), 9)))
                cls_row = probs[0, 1:]
                best = sorted(range(n - 1), key=lambda j: -float(cls_row[j]))[:n_keep]
                pos = [0] + sorted(j + 1 for j in best)
                t = t[:, pos]
                original = [original[p] for p in pos]
                toks.append(original)
                sub = probs[pos][:, pos]
                n_k = math.ceil(round(attn_keep * n_keep, 9))
                if n_k < n_keep:
                    allowed = torch.zeros(1, len(pos), len(pos), dtype=torch.bool)
                    allowed[:, 0] = True
                    lists = []
                    for qi in range(1, len(pos)):
                        row = sub[qi, 1:]
                        top = sorted(range(n_keep), key=lambda j: -float(row[j]))[:n_k]
                        lst = [0] + sorted(j + 1 for j in top)
                        allowed[0, qi, lst] = True
                        lists.append(lst)
                    keys_per_stage.append(lists)
                else:
                    allowed = None
                    keys_per_stage.append(None)
            t = t + blk.mlp(blk.norm2(t))
        logits.append(net.forward_head(net.norm(t)))
        all_tokens.append(toks)
        all_keys.append(keys_per_stage)
    return torch.cat(logits), all_tokens, all_keys
