"""Engine backends with one small interface (host/backends/base.py: the protocol and open_backend):
`csim` (host/backends/csim.py: the engine C++ on the CPU) and, on the board, `pynq`.

    backend.alloc(port, n_words) -> Region   # port: 'wts' | 'act' | 'grd' | 'aux'
    backend.call(op, **registers) -> status  # op: name ('ATTN_FWD') or op code
    backend.call_checked(op, **registers)    # raises EngineError on a non-zero status
    backend.read_counters() -> dict          # status, macs, cycles, saturations of the last call
    backend.read_stats(op, region) -> dict   # per-tensor (max |word|, saturations)
"""
