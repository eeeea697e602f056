"""Lets PyPI's torchvision import on a CPU-only torch build.

PyPI's torchvision 0.28 wheel is a CUDA build: on the CPU wheel of torch its compiled extension
does not load, so the operator schemas ``torchvision::nms`` and ``torchvision::qnms`` are never
defined, and torchvision's import dies where it registers fake kernels for them. We define those
two schemas (no kernels: calling nms still fails loudly) before anything imports torchvision or
timm. When torchvision's extension loads normally (GPU machines, the board), this does nothing.
"""

from __future__ import annotations

import importlib.util
import os

import torch

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_library = None  # keeps the schema definitions alive for the life of the process


def _has_schema(name: str) -> bool:
    return bool(torch._C._jit_get_schemas_for_operator(f"torchvision::{name}"))


def _try_load_extension() -> None:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return
    for folder in spec.submodule_search_locations:
        lib = os.path.join(folder, "_C.so")
        if os.path.exists(lib):
            try:
                torch.ops.load_library(lib)
            except OSError:
                pass  # the CUDA build on a CPU torch: fall back to bare schemas
            return


def ensure_torchvision_importable() -> bool:
    """Defines the missing schemas if needed; returns True when it had to."""
    global _library
    if all(_has_schema(n) for n in _SCHEMAS):
        return False
    _try_load_extension()
    missing = [n for n in _SCHEMAS if not _has_schema(n)]
    if not missing:
        return False
    _library = torch.library.Library("torchvision", "DEF")
    for name in missing:
        _library.define(_SCHEMAS[name])
    return True
