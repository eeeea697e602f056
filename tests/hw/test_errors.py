"""Out-of-range requests are rejected with the declared status code, and nothing is written."""

import numpy as np
import pytest

from host import engine_spec as es
from host.backends.csim import EngineError
from sim import golden


def _attn_call(case):
    return dict(next(c for c in case.calls if c["op"] == "ATTN_FWD"))


def _run_expect(engine, case, op, regs, status_name):
    for p in golden.PORTS:
        engine.reset(p)
        engine.alloc(p, max(case.sizes[p], 1)).array[:] = case.image(p)
    before = {p: engine.mem[p][: max(case.sizes[p], 1)].copy() for p in golden.PORTS}
    status = engine.call(op, **regs)
    assert es.status_name(status) == status_name
    for p in golden.PORTS:
        assert np.array_equal(engine.mem[p][: max(case.sizes[p], 1)], before[p]), f"{p} written on error"
    assert engine.read_counters()["macs"] == 0


@pytest.fixture(scope="module")
def sparse_case():
    return golden.block_case("onion_tiny", keep_ratio=0.7, r_a=0.3, sparse=True, seed=21)


@pytest.mark.parametrize(
    "field,value,status",
    [
        ("n_tokens", es.limit("max_tokens") + 1, "BAD_TOKENS"),
        ("n_tokens", 0, "BAD_TOKENS"),
        ("dim", es.limit("max_dim") + 64, "BAD_DIM"),
        ("heads", es.limit("max_heads") + 1, "BAD_HEADS"),
        ("heads", 3, "BAD_HEADS"),  # 64 / 3 is not an integer
        ("heads", 2, "BAD_HEADS"),  # head_dim 32 is not a power of 4
        ("flags", 4, "BAD_FLAGS"),
    ],
)
def test_attn_limits(engine, sparse_case, field, value, status):
    regs = {k: v for k, v in _attn_call(sparse_case).items() if k != "op"}
    regs[field] = value
    _run_expect(engine, sparse_case, "ATTN_FWD", regs, status)


def _corrupt_keys(case, how):
    c = golden.Case(case.name, meta=case.meta)
    c.words = {p: [(o, a.copy()) for o, a in case.words[p]] for p in golden.PORTS}
    c.sizes = dict(case.sizes)
    call = _attn_call(case)
    n = case.meta["n_tokens"]
    aux = c.image("aux")
    rp = aux[call["keys_off"] : call["keys_off"] + n + 1]
    keys = aux[call["keys_off"] + n + 1 :]
    row = 5
    lo = rp[row]
    if how == "unsorted":
        keys[lo + 1], keys[lo + 2] = keys[lo + 2], keys[lo + 1]
    elif how == "no_cls":
        keys[lo] = keys[lo + 1] - 1 if keys[lo + 1] > 1 else n - 1
    elif how == "out_of_range":
        keys[rp[row + 1] - 1] = n
    c.words["aux"] = [(0, aux)]
    return c


@pytest.mark.parametrize("how", ["unsorted", "no_cls", "out_of_range"])
def test_bad_key_lists(engine, sparse_case, how):
    bad = _corrupt_keys(sparse_case, how)
    regs = {k: v for k, v in _attn_call(sparse_case).items() if k != "op"}
    _run_expect(engine, bad, "ATTN_FWD", regs, "BAD_KEYS")


def test_bad_keep_list_and_mlp(engine, sparse_case):
    call = dict(next(c for c in sparse_case.calls if c["op"] == "MLP_FWD"))
    regs = {k: v for k, v in call.items() if k != "op"}
    _run_expect(engine, sparse_case, "MLP_FWD", dict(regs, mlp_dim=es.limit("max_mlp") + 1), "BAD_MLP")
    _run_expect(engine, sparse_case, "MLP_FWD", dict(regs, n_keep=regs["n_tokens"] + 1), "BAD_TOKENS")
    _run_expect(engine, sparse_case, "MLP_FWD", dict(regs, flags=0), "BAD_KEEP")  # n_keep != n without GATHER
    _run_expect(engine, sparse_case, "MLP_FWD", dict(regs, keep_off=regs["keep_off"] + 1), "BAD_KEEP")  # first != 0


def test_bad_frac_and_opcode(engine, sparse_case):
    call = dict(next(c for c in sparse_case.calls if c["op"] == "ATTN_BWD"))
    regs = {k: v for k, v in call.items() if k != "op"}
    case = golden.Case("fracs", meta=sparse_case.meta)
    case.words = {p: list(sparse_case.words[p]) for p in golden.PORTS}
    case.sizes = dict(sparse_case.sizes)
    aux = case.image("aux")
    aux[regs["fracs_off"] + 3] = es.load_spec()["formats"]["gradient"]["frac_max"] + 1
    case.words["aux"] = [(0, aux)]
    _run_expect(engine, case, "ATTN_BWD", regs, "BAD_FRAC")
    _run_expect(engine, sparse_case, 99, regs, "BAD_OPCODE")


def test_head_and_patch_limits(engine):
    case = golden.head_case()
    call = {k: v for k, v in case.calls[0].items() if k != "op"}
    _run_expect(engine, case, "HEAD_FWD", dict(call, out_dim=es.limit("max_classes") + 1), "BAD_OUT_DIM")
    case = golden.patch_case()
    call = {k: v for k, v in case.calls[0].items() if k != "op"}
    _run_expect(engine, case, "PATCH_EMBED_FWD", dict(call, in_dim=es.limit("max_patch_dim") + 1), "BAD_IN_DIM")


def test_call_checked_names_the_error(engine, sparse_case):
    regs = {k: v for k, v in _attn_call(sparse_case).items() if k != "op"}
    with pytest.raises(EngineError, match="BAD_TOKENS"):
        engine.call_checked("ATTN_FWD", **dict(regs, n_tokens=es.limit("max_tokens") + 1))
    with pytest.raises(ValueError, match="unknown input register"):
        engine.call("ATTN_FWD", n_tokenz=3)


def test_backend_rejects_buffers_past_the_memory(engine, sparse_case):
    """The C-sim backend refuses offsets whose regions overrun a memory (instead of corrupting it)."""
    for p in golden.PORTS:
        engine.reset(p)
        engine.alloc(p, max(sparse_case.sizes[p], 1)).array[:] = sparse_case.image(p)
    regs = {k: v for k, v in _attn_call(sparse_case).items() if k != "op"}
    with pytest.raises(ValueError, match="save_off"):
        engine.call("ATTN_FWD", **dict(regs, save_off=engine.mem["act"].size - 10))
    with pytest.raises(ValueError, match="keys_off"):
        engine.call("ATTN_FWD", **dict(regs, keys_off=engine.mem["aux"].size - 3))
