"""Engine backends with one small interface (host/backends/base.py: the protocol) and the factory
that picks one: `csim` (host/backends/csim.py: the engine C++ on the CPU) and, on the board, `pynq`.

    backend = open_backend("auto", words)    # pynq on a board with the overlay, else csim
    backend.alloc(port, n_words) -> Region   # port: 'wts' | 'act' | 'grd' | 'aux'
    backend.call(op, **registers) -> status  # op: name ('ATTN_FWD') or op code
    backend.call_checked(op, **registers)    # raises EngineError on a non-zero status
    backend.read_counters() -> dict          # status, macs, cycles, saturations of the last call
    backend.read_stats(op, region) -> dict   # per-tensor (max |word|, saturations)

The backends import base; base imports no backend; this package's functions import the backends
lazily (so a board without a compiler never builds the C-sim, and the C-sim never imports pynq).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from host.backends.base import PortMemoryBackend

BACKENDS = ("auto", "csim", "pynq")


def board_available() -> bool:
    """True on a PYNQ board with the Onion overlay built: pynq importable and the bitstream present."""
    try:
        import pynq  # noqa: F401
    except ImportError:
        return False
    from host import engine_spec

    bit, hwh = engine_spec.overlay_paths()
    return bit.exists() and hwh.exists()


def resolve_kind(kind: str) -> str:
    if kind not in BACKENDS:
        raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}, got {kind!r}")
    if kind == "auto":
        return "pynq" if board_available() else "csim"
    return kind


def open_backend(kind: str, words: dict[str, int], lane: int = 0) -> PortMemoryBackend:
    """A backend with memories of `words` per port; 'auto' picks pynq on a board, else csim.
    `lane` (csim only): which library instance (host/engine_lanes.py)."""
    kind = resolve_kind(kind)
    if kind == "pynq":
        from host.backends.pynq_backend import PynqBackend

        backend = PynqBackend(words=words)
    else:
        from host.backends.csim import CsimBackend

        backend = CsimBackend(words=words, lane=lane)
    backend.kind = kind
    return backend


def open_lane_backends(kind: str, words: dict[str, int], lanes: int) -> tuple[list[PortMemoryBackend], bool]:
    """(one backend per lane, whether the lanes may run at once). C-sim: a backend and library
    instance per lane, run in parallel. The board has one engine: one backend with room for every
    lane's regions, shared, the lanes run one after another."""
    kind = resolve_kind(kind)
    if kind == "pynq":
        shared = open_backend(kind, {port: n * lanes for port, n in words.items()})
        return [shared] * lanes, False
    return [open_backend(kind, words, lane) for lane in range(lanes)], True
