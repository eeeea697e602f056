"""Independent float reference for the host tests: a ViT written directly in torch (autograd gives
the gradients), with given token selections and key lists; checked against timm itself."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def torch_vit_loss(weights: dict, config: dict, image: np.ndarray, label: int, selector_blocks=(),
                   selections=(), label_smoothing: float = 0.0):
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
            mask = torch.zeros(n, n, dtype=torch.bool)
            mask[0] = True
            for r in range(1, n):
                mask[r, torch.as_tensor(keys[r - 1])] = True
            s = s.masked_fill(~mask, float("-inf"))
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
    import model  # noqa: F401  (torchvision shim before timm)
    import timm

    net = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=config["img_size"],
                            patch_size=config["patch_size"], in_chans=config["in_chans"],
                            embed_dim=config["embed_dim"], depth=config["depth"],
                            num_heads=config["num_heads"], mlp_ratio=config["mlp_ratio"],
                            num_classes=config["num_classes"]).double().eval()
    net.load_state_dict({k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in weights.items()})
    with torch.no_grad():
        return net(torch.tensor(np.asarray(image, dtype=np.float64))[None]).numpy()[0]
