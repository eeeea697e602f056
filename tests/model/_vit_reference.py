"""The independent torch references of the tests (tests/model and tests/host share this one).

Built only from timm's own modules, torch.nn.functional and textbook attention math (explicit
softmax, -inf masks), not from model/ (ta_selector, sparse_attention) or host/:
  - reference_forward: the tri-level forward of a timm ViT by brute force (selection re-done here);
  - torch_vit_loss: a ViT written directly in torch with given selections (autograd gives the
    gradients), the float reference of the engine's forward + backward;
  - timm_logits: timm's own ViT on the same weights (checks torch_vit_loss).
Both forwards build their sparse-attention masks with key_mask.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from model.torchvision_compat import ensure_torchvision_importable  # noqa: E402

ensure_torchvision_importable()  # the CPU torchvision shim, before timm is imported

# isort: split
import timm  # noqa: E402


def tiny_vit(**overrides):
    kw = dict(
        pretrained=False, img_size=16, patch_size=4, in_chans=1, embed_dim=16, depth=4, num_heads=2, num_classes=5
    )
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
        t = net._pos_embed(net.patch_embed(x[s : s + 1]))
        original = list(range(t.shape[1]))
        allowed = None
        toks, keys_per_stage = [], []
        for i, blk in enumerate(net.blocks):
            h = blk.norm1(t)
            n = t.shape[1]
            mask = None if (i in selectors and dense_selectors) else allowed
            if mask is None:
                t = t + blk.attn(h)  # timm's own dense attention
            else:
                t = t + masked_attention(blk.attn, h, mask)
            if i in selectors:
                probs = attention_probs(blk.attn, h, mask).detach().mean(1)[0]  # [N, N]
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
                    lists = []
                    for qi in range(1, len(pos)):
                        row = sub[qi, 1:]
                        top = sorted(range(n_keep), key=lambda j: -float(row[j]))[:n_k]
                        lists.append([0] + sorted(j + 1 for j in top))
                    allowed = key_mask(len(pos), lists)[None]
                    keys_per_stage.append(lists)
                else:
                    allowed = None
                    keys_per_stage.append(None)
            t = t + blk.mlp(blk.norm2(t))
        logits.append(net.forward_head(net.norm(t)))
        all_tokens.append(toks)
        all_keys.append(keys_per_stage)
    return torch.cat(logits), all_tokens, all_keys


# --- shared by both forwards ---------------------------------------------------------------------
def key_mask(n: int, key_lists) -> torch.Tensor:
    """[n, n] bool: the [CLS] row (0) attends to every token, row r >= 1 to key_lists[r - 1]."""
    mask = torch.zeros(n, n, dtype=torch.bool)
    mask[0] = True
    for r in range(1, n):
        mask[r, torch.as_tensor(key_lists[r - 1])] = True
    return mask


# --- a ViT written in torch, with given selections: loss, logits and autograd gradients ---------
def torch_vit_loss(
    weights: dict,
    config: dict,
    image: np.ndarray,
    label: int,
    selector_blocks=(),
    selections=(),
    label_smoothing: float = 0.0,
):
    """Returns (loss, logits, grads) for one sample. Selector block selector_blocks[k] attends
    densely, then keeps selections[k] = (keep positions into its token list, keys|None) after its
    attention residual; the following blocks attend over the keys (positions, CLS row dense)."""
    w = {k: torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for k, v in weights.items()}
    d, nh, p = config["embed_dim"], config["num_heads"], config["patch_size"]
    img = torch.tensor(np.asarray(image, dtype=np.float64))[None]
    emb = F.conv2d(img, w["patch_embed.proj.weight"], w["patch_embed.proj.bias"], stride=p)
    emb = emb.flatten(2).transpose(1, 2)[0]
    x = torch.cat([w["cls_token"][0], emb], 0) + w["pos_embed"][0]
    keys = None
    for i in range(config["depth"]):
        selector = i in selector_blocks
        if selector:
            keys = None
        n = x.shape[0]
        b = f"blocks.{i}."
        h = F.layer_norm(x, (d,), w[b + "norm1.weight"], w[b + "norm1.bias"], eps=1e-6)
        qkv = F.linear(h, w[b + "attn.qkv.weight"], w[b + "attn.qkv.bias"]).reshape(n, 3, nh, d // nh)
        q, k, v = qkv.permute(1, 2, 0, 3)
        s = q @ k.transpose(-1, -2) * (d // nh) ** -0.5
        if keys is not None:
            s = s.masked_fill(~key_mask(n, keys), float("-inf"))
        o = (s.softmax(-1) @ v).permute(1, 0, 2).reshape(n, d)
        x = x + F.linear(o, w[b + "attn.proj.weight"], w[b + "attn.proj.bias"])
        if selector:
            keep, keys = selections[list(selector_blocks).index(i)]
            x = x[torch.as_tensor(keep)]
        h = F.layer_norm(x, (d,), w[b + "norm2.weight"], w[b + "norm2.bias"], eps=1e-6)
        h = F.gelu(F.linear(h, w[b + "mlp.fc1.weight"], w[b + "mlp.fc1.bias"]))
        x = x + F.linear(h, w[b + "mlp.fc2.weight"], w[b + "mlp.fc2.bias"])
    x = F.layer_norm(x[:1], (d,), w["norm.weight"], w["norm.bias"], eps=1e-6)
    logits = F.linear(x, w["head.weight"], w["head.bias"])
    loss = F.cross_entropy(logits, torch.tensor([label]), label_smoothing=label_smoothing)
    loss.backward()
    grads = {k: v.grad.numpy() for k, v in w.items()}
    return float(loss.detach()), logits.detach().numpy()[0], grads


def timm_logits(weights: dict, config: dict, image: np.ndarray) -> np.ndarray:
    """timm's own ViT (float64) on the same weights."""
    net = (
        tiny_vit(
            **{
                k: config[k]
                for k in (
                    "img_size",
                    "patch_size",
                    "in_chans",
                    "embed_dim",
                    "depth",
                    "num_heads",
                    "mlp_ratio",
                    "num_classes",
                )
            }
        )
        .double()
        .eval()
    )
    net.load_state_dict({k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in weights.items()})
    with torch.no_grad():
        return net(torch.tensor(np.asarray(image, dtype=np.float64))[None]).numpy()[0]
