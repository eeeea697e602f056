"""Parameter naming: the engine's parameter layouts (engine_spec.json layouts.*_params) <-> timm
state_dict names and shapes, and the one walk over a layout that packs or unpacks its tensors.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from host import engine_spec as es
from host.model_configs import num_tokens

# engine parameter layouts -> timm state_dict names (per encoder block: prefixed "blocks.<i>.")
_TIMM_NAMES = {
    "patch_params": {
        "w": "patch_embed.proj.weight",
        "b": "patch_embed.proj.bias",
        "cls": "cls_token",
        "pos": "pos_embed",
    },
    "attn_params": {
        "ln_w": "norm1.weight",
        "ln_b": "norm1.bias",
        "qkv_w": "attn.qkv.weight",
        "qkv_b": "attn.qkv.bias",
        "proj_w": "attn.proj.weight",
        "proj_b": "attn.proj.bias",
    },
    "mlp_params": {
        "ln_w": "norm2.weight",
        "ln_b": "norm2.bias",
        "fc1_w": "mlp.fc1.weight",
        "fc1_b": "mlp.fc1.bias",
        "fc2_w": "mlp.fc2.weight",
        "fc2_b": "mlp.fc2.bias",
    },
    "head_params": {"ln_w": "norm.weight", "ln_b": "norm.bias", "w": "head.weight", "b": "head.bias"},
}


def param_names(layout: str, block: int | None = None) -> dict[str, str]:
    """{layout tensor: timm name} of a parameter block (block index for the encoder layers)."""
    prefix = "" if block is None else f"blocks.{block}."
    return {tensor: prefix + name for tensor, name in _TIMM_NAMES[layout].items()}


def timm_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """timm shapes that differ from the engine layout's (the patch conv, [CLS] and pos_embed)."""
    d, p, n = config["embed_dim"], config["patch_size"], num_tokens(config)
    return {
        "patch_embed.proj.weight": (d, config["in_chans"], p, p),
        "cls_token": (1, 1, d),
        "pos_embed": (1, n, d),
    }


@dataclass(frozen=True)
class ParamBlock:
    """One parameter region: its layout, the encoder block (None outside the encoder), the backward
    op that produces its gradients, and {layout tensor: timm name}."""

    layout: str
    block: int | None
    names: dict

    @property
    def backward_op(self) -> str:
        return _BACKWARD_OP[self.layout]

    @property
    def index(self) -> int:
        """The op index of its frac tables (the encoder block, 0 elsewhere)."""
        return 0 if self.block is None else self.block


# layout -> the backward op declaring it as its params (engine_spec.json ops.*.params)
_BACKWARD_OP = {es.op(o)["params"]: o for o in es.op_names() if o.endswith("_BWD") and es.op(o).get("params")}


def param_blocks(depth: int) -> list[ParamBlock]:
    """Every parameter block of a ViT of `depth` encoder blocks, in memory order."""
    blocks = [ParamBlock("patch_params", None, param_names("patch_params"))]
    for i in range(depth):
        blocks.append(ParamBlock("attn_params", i, param_names("attn_params", i)))
        blocks.append(ParamBlock("mlp_params", i, param_names("mlp_params", i)))
    blocks.append(ParamBlock("head_params", None, param_names("head_params")))
    return blocks


def layout_tensors(layout: str, dims: dict, names: dict[str, str]) -> Iterator[tuple[str, str, slice, tuple]]:
    """(layout tensor, timm name, word slice in the region, layout shape) for each tensor of a layout."""
    for tensor, (off, shape) in es.layout(layout, **dims).items():
        yield tensor, names[tensor], slice(off, off + int(np.prod(shape))), shape


def unpack_params(
    words: np.ndarray,
    layout: str,
    dims: dict,
    names: dict[str, str],
    fracs: dict[str, int],
    shapes: dict[str, tuple],
    out: dict[str, np.ndarray],
    dtype: type = np.float32,
) -> None:
    """out[timm name] = the region's words of each tensor times 2^-fracs["d_" + tensor], in its timm
    shape: the gradients one backward op wrote (int16) or the step accumulated (int32)."""
    for tensor, name, span, shape in layout_tensors(layout, dims, names):
        scale = dtype(2.0 ** -int(fracs["d_" + tensor]))
        out[name] = np.multiply(words[span], scale, dtype=dtype).reshape(shapes.get(name, shape))
