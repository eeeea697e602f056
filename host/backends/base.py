"""The one small interface every engine backend offers, and the factory that picks one.

    alloc(port, n_words) -> Region      port: 'wts' | 'act' | 'grd' | 'aux' (word offsets per port)
    call(op, **registers) -> status     one engine op, registers by name (hw/spec/engine_spec.json)
    call_checked(op, **registers)       raises EngineError on a non-zero status
    read_counters() -> dict             status, macs, cycles, saturations of the last call
    read_stats(op, region) -> dict      per-tensor (max |word|, saturations) the op wrote
    kind                                'csim' | 'pynq' (what the latency numbers mean)

`csim` is host/backends/csim.py (the engine's C++ on the CPU); `pynq` is
host/backends/pynq_backend.py (the bitstream on the ZCU102).
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from host import engine_spec

REPO = Path(__file__).resolve().parents[2]
BACKENDS = ("auto", "csim", "pynq")


@runtime_checkable
class EngineBackend(Protocol):
    def alloc(self, port: str, n_words: int): ...
    def call(self, op, **registers: int) -> int: ...
    def call_checked(self, op, **registers: int) -> dict: ...
    def read_counters(self) -> dict: ...
    def read_stats(self, op: str, stats) -> dict: ...


def overlay_paths() -> tuple[Path, Path]:
    """Bitstream and .hwh paths, as engine_spec.json's "overlay" section declares them."""
    ov = engine_spec.load_spec()["overlay"]
    base = REPO / ov["dir"]
    return base / ov["bitstream"], base / ov["hwh"]


def board_available() -> bool:
    """True on a PYNQ board with the Onion overlay built: pynq importable and the bitstream present."""
    try:
        import pynq  # noqa: F401
    except ImportError:
        return False
    bit, hwh = overlay_paths()
    return bit.exists() and hwh.exists()


def resolve_kind(kind: str) -> str:
    if kind not in BACKENDS:
        raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}, got {kind!r}")
    if kind == "auto":
        return "pynq" if board_available() else "csim"
    return kind


def open_backend(kind: str, words: dict[str, int]):
    """A backend with memories of `words` per port; 'auto' picks pynq on a board, else csim."""
    kind = resolve_kind(kind)
    if kind == "pynq":
        from host.backends.pynq_backend import PynqBackend

        backend = PynqBackend(words=words)
    else:
        from host.backends.csim import CsimBackend

        backend = CsimBackend(words=words)
    backend.kind = kind
    return backend
