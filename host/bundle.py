"""The Onion bundle: one versioned .npz (no pickles) that carries a model to the board.

Contents: the model config, fp32 master weights (timm state_dict names), the int16 weights the
engine receives with the fixed-point format of each, the sparsity settings and optional recorded
per-sample selections (masks). `model/` writes bundles through `write_bundle`; the host reads them
with `read_bundle`, which validates everything so nothing from a bad bundle reaches the engine.

File layout (every member a plain array, loaded with allow_pickle=False):
  __version__            int64 [1]
  __config__, __sparsity__, __meta__, __formats__   uint8 JSON text
  weight:<name>          float32 master weight
  qweight:<name>         int16 engine weight = quantize(weight, formats[name])
  mask:<name>            int16/int32/int64 recorded selections (see validate_masks)
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from host import engine_spec
from host.atomic_io import atomic_savez
from host.model_configs import SHAPE_KEYS, mlp_hidden, num_tokens  # noqa: F401 (num_tokens: re-exported)
from host.validation import check_keep_ratio

BUNDLE_VERSION = 1

_WEIGHT = "weight:"
_QWEIGHT = "qweight:"
_MASK = "mask:"
_REQUIRED_CONFIG = SHAPE_KEYS
_MASK_INT_DTYPES = (np.int16, np.int32, np.int64)


class BundleError(ValueError):
    """A bundle (or what would be written as one) is malformed; the message names the field."""


@dataclass
class Bundle:
    version: int
    config: dict
    weights: dict[str, np.ndarray]
    weights_q: dict[str, np.ndarray]
    formats: dict[str, int]
    sparsity: dict
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# What the config implies


def validate_config(config: dict) -> dict:
    if not isinstance(config, dict):
        raise BundleError(f"config: expected a dict, got {type(config).__name__}")
    for key in _REQUIRED_CONFIG:
        if key not in config:
            raise BundleError(f"config.{key}: missing")
    for key in _REQUIRED_CONFIG:
        value = config[key]
        if key == "mlp_ratio":
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise BundleError(f"config.mlp_ratio: expected a positive number, got {value!r}")
        elif not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise BundleError(f"config.{key}: expected a positive int, got {value!r}")
    if config["img_size"] % config["patch_size"]:
        raise BundleError(
            f"config.img_size: {config['img_size']} is not a multiple of patch_size {config['patch_size']}"
        )
    if config["embed_dim"] % config["num_heads"]:
        raise BundleError(
            f"config.embed_dim: {config['embed_dim']} is not a multiple of num_heads {config['num_heads']}"
        )
    return config


def expected_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """timm VisionTransformer state_dict names and shapes for a config (class token, no fc_norm)."""
    validate_config(config)
    d, c, p = config["embed_dim"], config["in_chans"], config["patch_size"]
    hidden = mlp_hidden(config)
    shapes: dict[str, tuple[int, ...]] = {
        "cls_token": (1, 1, d),
        "pos_embed": (1, num_tokens(config), d),
        "patch_embed.proj.weight": (d, c, p, p),
        "patch_embed.proj.bias": (d,),
    }
    for i in range(config["depth"]):
        b = f"blocks.{i}."
        shapes.update(
            {
                b + "norm1.weight": (d,),
                b + "norm1.bias": (d,),
                b + "attn.qkv.weight": (3 * d, d),
                b + "attn.qkv.bias": (3 * d,),
                b + "attn.proj.weight": (d, d),
                b + "attn.proj.bias": (d,),
                b + "norm2.weight": (d,),
                b + "norm2.bias": (d,),
                b + "mlp.fc1.weight": (hidden, d),
                b + "mlp.fc1.bias": (hidden,),
                b + "mlp.fc2.weight": (d, hidden),
                b + "mlp.fc2.bias": (d,),
            }
        )
    shapes.update(
        {
            "norm.weight": (d,),
            "norm.bias": (d,),
            "head.weight": (config["num_classes"], d),
            "head.bias": (config["num_classes"],),
        }
    )
    return shapes


# ---------------------------------------------------------------------------------------------
# Validators (used by both the writer and the reader)


def _keep_ratio(sparsity: dict, key: str) -> None:
    if key not in sparsity:
        return
    try:
        check_keep_ratio(f"sparsity.{key}", sparsity[key])
    except ValueError as exc:
        raise BundleError(str(exc)) from None


def validate_sparsity(sparsity: dict, config: dict) -> dict:
    if not isinstance(sparsity, dict):
        raise BundleError(f"sparsity: expected a dict, got {type(sparsity).__name__}")
    for key in ("token_keep", "attn_keep", "example_keep"):
        _keep_ratio(sparsity, key)
    blocks = sparsity.get("selector_blocks", [])
    if not isinstance(blocks, (list, tuple)) or not all(isinstance(b, int) and not isinstance(b, bool) for b in blocks):
        raise BundleError(f"sparsity.selector_blocks: expected a list of ints, got {blocks!r}")
    for b in blocks:
        if not 0 <= b < config["depth"]:
            raise BundleError(f"sparsity.selector_blocks: block {b} out of range [0, {config['depth']})")
    if list(blocks) != sorted(set(blocks)):
        raise BundleError(f"sparsity.selector_blocks: must be strictly increasing, got {list(blocks)}")
    return sparsity


def validate_weights(weights: dict, config: dict, name_kind: str = "weights") -> None:
    shapes = expected_shapes(config)
    missing = sorted(set(shapes) - set(weights))
    extra = sorted(set(weights) - set(shapes))
    if missing:
        raise BundleError(f"{name_kind}: missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    if extra:
        raise BundleError(f"{name_kind}: unexpected {extra[:5]}{' ...' if len(extra) > 5 else ''}")
    for name, shape in shapes.items():
        w = weights[name]
        if not isinstance(w, np.ndarray):
            raise BundleError(f"{name_kind}.{name}: expected a numpy array, got {type(w).__name__}")
        if tuple(w.shape) != shape:
            raise BundleError(f"{name_kind}.{name}: shape {tuple(w.shape)}, config implies {shape}")


def _check_fp32(weights: dict) -> None:
    for name, w in weights.items():
        if w.dtype != np.float32:
            raise BundleError(f"weights.{name}: dtype {w.dtype}, expected float32")
        if not np.all(np.isfinite(w)):
            raise BundleError(f"weights.{name}: {int(np.count_nonzero(~np.isfinite(w)))} non-finite values")


def validate_masks(masks: dict, config: dict, sparsity: dict) -> None:
    """Recorded selections, in the original token numbering (CLS = 0).

    tokens_s{k}: [n_samples, n_keep+1] kept tokens at selector stage k (block selector_blocks[k]):
                 CLS first, strictly increasing, within [0, num_tokens); each stage a subset of
                 the previous one.
    keys_s{k}:   [n_samples, n_keep, n_key] for each kept patch query (rows in the order of
                 tokens_s{k}[:, 1:]) the positions of its kept keys in that stage's kept-token
                 list, within [0, n_keep+1), no duplicates in a row. CLS row/column stay dense.
    sample_index:[n_samples] data-set index of each recorded sample, non-negative, unique.
    """
    if not masks:
        return
    n_tokens = num_tokens(config)
    stages = len(sparsity.get("selector_blocks", []))
    n_samples = None
    for name, m in masks.items():
        if not isinstance(m, np.ndarray):
            raise BundleError(f"masks.{name}: expected a numpy array, got {type(m).__name__}")
        if m.dtype not in _MASK_INT_DTYPES:
            raise BundleError(f"masks.{name}: dtype {m.dtype}, expected int16/int32/int64")
        if n_samples is None:
            n_samples = m.shape[0] if m.ndim else None
        if m.ndim == 0 or m.shape[0] != n_samples:
            raise BundleError(
                f"masks.{name}: {m.shape[0] if m.ndim else 'scalar'} samples, other masks have {n_samples}"
            )
    previous = None
    for k in range(stages):
        tok_name, key_name = f"tokens_s{k}", f"keys_s{k}"
        if tok_name not in masks:
            if key_name in masks:
                raise BundleError(f"masks.{key_name}: present without masks.{tok_name}")
            continue
        tokens = masks[tok_name].astype(np.int64)
        if tokens.ndim != 2 or tokens.shape[1] < 1:
            raise BundleError(f"masks.{tok_name}: expected [n_samples, n_keep+1], got {tokens.shape}")
        if tokens.min() < 0 or tokens.max() >= n_tokens:
            raise BundleError(f"masks.{tok_name}: index out of range [0, {n_tokens})")
        if np.any(tokens[:, 0] != 0):
            raise BundleError(f"masks.{tok_name}: first entry of every row must be CLS (0)")
        steps = np.diff(tokens, axis=1)
        if np.any(steps == 0):
            raise BundleError(f"masks.{tok_name}: duplicate token indices")
        if np.any(steps < 0):
            raise BundleError(f"masks.{tok_name}: token indices must be sorted (increasing)")
        if previous is not None:
            for s in range(tokens.shape[0]):
                if not np.all(np.isin(tokens[s], previous[s])):
                    raise BundleError(f"masks.{tok_name}: sample {s} keeps tokens the previous stage dropped")
        previous = tokens
        if key_name in masks:
            keys = masks[key_name].astype(np.int64)
            n_kept = tokens.shape[1]
            if keys.ndim != 3 or keys.shape[1] != n_kept - 1 or not 1 <= keys.shape[2] <= n_kept:
                raise BundleError(
                    f"masks.{key_name}: expected [n_samples, {n_kept - 1}, 1..{n_kept}], got {keys.shape}"
                )
            if keys.min() < 0 or keys.max() >= n_kept:
                raise BundleError(f"masks.{key_name}: key position out of range [0, {n_kept})")
            srt = np.sort(keys, axis=2)
            if np.any(np.diff(srt, axis=2) == 0):
                raise BundleError(f"masks.{key_name}: duplicate keys within a query row")
    for name in masks:
        if name == "sample_index":
            idx = masks[name].astype(np.int64)
            if idx.ndim != 1 or idx.min(initial=0) < 0:
                raise BundleError("masks.sample_index: expected non-negative [n_samples]")
            if np.unique(idx).size != idx.size:
                raise BundleError("masks.sample_index: duplicate sample indices")
        elif not any(name == f"{p}_s{k}" for p in ("tokens", "keys") for k in range(stages)):
            raise BundleError(
                f"masks.{name}: unknown mask (stages 0..{stages - 1} declared by sparsity.selector_blocks)"
            )


def _validate_formats(formats: dict, weights: dict) -> None:
    frac = engine_spec.format_frac("weight")
    if set(formats) != set(weights):
        raise BundleError("formats: must name exactly the weights")
    for name, f in formats.items():
        if f != frac:
            raise BundleError(f"formats.{name}: frac {f!r}, the engine declares weight frac {frac}")


# ---------------------------------------------------------------------------------------------
# Writer / reader


def _json_array(obj: object) -> np.ndarray:
    try:
        text = json.dumps(obj, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BundleError(f"cannot store as JSON: {exc}") from None
    return np.frombuffer(text.encode(), dtype=np.uint8).copy()


def _parse_json(arr: np.ndarray, field_name: str) -> object:
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise BundleError(f"{field_name}: expected uint8 JSON text, got {arr.dtype} {arr.shape}")
    try:
        return json.loads(arr.tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{field_name}: invalid JSON ({exc})") from None


def quantize_weights(weights: dict[str, np.ndarray]) -> tuple[dict, dict, int]:
    """fp32 -> int16 with the declared weight format; returns (words, formats, saturations)."""
    frac = engine_spec.format_frac("weight")
    words, formats, saturated = {}, {}, 0
    for name, w in weights.items():
        words[name], sat = engine_spec.quantize(w, frac)
        formats[name] = frac
        saturated += sat
    return words, formats, saturated


def write_bundle(
    path: str | Path,
    *,
    config: dict,
    weights: dict[str, np.ndarray],
    sparsity: dict,
    masks: dict[str, np.ndarray] | None = None,
    meta: dict | None = None,
) -> None:
    """Validates, quantizes and writes a bundle atomically (temp file + os.replace)."""
    config = validate_config(dict(config))
    weights = {k: np.asarray(v) for k, v in weights.items()}
    validate_weights(weights, config)
    for name, w in weights.items():
        if not np.issubdtype(w.dtype, np.floating):
            raise BundleError(f"weights.{name}: dtype {w.dtype}, expected floating point")
    weights = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
    _check_fp32(weights)
    sparsity = validate_sparsity(dict(sparsity), config)
    masks = {k: np.asarray(v) for k, v in (masks or {}).items()}
    validate_masks(masks, config, sparsity)
    words, formats, saturated = quantize_weights(weights)
    meta = dict(meta or {})
    meta.setdefault("weight_saturations", saturated)

    arrays = {
        "__version__": np.array([BUNDLE_VERSION], dtype=np.int64),
        "__config__": _json_array(config),
        "__sparsity__": _json_array(sparsity),
        "__meta__": _json_array(meta),
        "__formats__": _json_array(formats),
    }
    for name in weights:
        arrays[_WEIGHT + name] = weights[name]
        arrays[_QWEIGHT + name] = words[name]
    for name, m in masks.items():
        arrays[_MASK + name] = m

    atomic_savez(Path(path), arrays)


def _load_members(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise BundleError(f"bundle file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise BundleError(f"corrupt or truncated bundle file {path}: {exc}") from None


def read_bundle(path: str | Path) -> Bundle:
    """Loads and validates a bundle; raises BundleError naming the first bad field."""
    path = Path(path)
    members = _load_members(path)
    for key in ("__version__", "__config__", "__sparsity__", "__formats__"):
        if key not in members:
            raise BundleError(f"{key.strip('_')}: missing from {path}")
    version_arr = members["__version__"]
    if version_arr.shape != (1,) or not np.issubdtype(version_arr.dtype, np.integer):
        raise BundleError(f"version: malformed ({version_arr.dtype} {version_arr.shape})")
    version = int(version_arr[0])
    if version != BUNDLE_VERSION:
        raise BundleError(f"version: bundle has version {version}, this host reads {BUNDLE_VERSION}")
    config = validate_config(_parse_json(members["__config__"], "config"))
    sparsity = validate_sparsity(_parse_json(members["__sparsity__"], "sparsity"), config)
    meta = _parse_json(members["__meta__"], "meta") if "__meta__" in members else {}
    formats = _parse_json(members["__formats__"], "formats")

    weights = {k[len(_WEIGHT) :]: v for k, v in members.items() if k.startswith(_WEIGHT)}
    words = {k[len(_QWEIGHT) :]: v for k, v in members.items() if k.startswith(_QWEIGHT)}
    masks = {k[len(_MASK) :]: v for k, v in members.items() if k.startswith(_MASK)}
    unknown = [
        k
        for k in members
        if not k.startswith((_WEIGHT, _QWEIGHT, _MASK))
        and k not in ("__version__", "__config__", "__sparsity__", "__meta__", "__formats__")
    ]
    if unknown:
        raise BundleError(f"unknown members: {unknown[:5]}")

    validate_weights(weights, config, "weights")
    _check_fp32(weights)
    validate_weights(words, config, "weights_q")
    _validate_formats(formats, weights)
    for name, w in words.items():
        if w.dtype != np.int16:
            raise BundleError(f"weights_q.{name}: dtype {w.dtype}, expected int16")
        expected, _ = engine_spec.quantize(weights[name], formats[name])
        if not np.array_equal(w, expected):
            n = int(np.count_nonzero(w != expected))
            raise BundleError(f"weights_q.{name}: {n} words differ from quantize(weights.{name})")
    validate_masks(masks, config, sparsity)
    return Bundle(
        version=version,
        config=config,
        weights=weights,
        weights_q=words,
        formats=formats,
        sparsity=sparsity,
        masks=masks,
        meta=meta,
    )
