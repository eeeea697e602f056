"""The engine's MAC counters prove the work token pruning and sparse attention save.

Per call the counters must equal the analytic count of the layer's GEMMs (written here from the
layer's shapes, independent of the engine): N tokens into attention, Z key-list entries, K tokens
into the MLP, D dim, M MLP dim:
  ATTN_FWD 4 N D^2 + 2 Z D       ATTN_BWD 8 N D^2 + 4 Z D
  MLP_FWD  2 K D M               MLP_BWD  4 K D M
Over onion_tiny's 12 blocks with the Tri-Level schedule (TA-Selector at blocks 3, 6, 9: the MLP
of a selecting block gathers the kept tokens; later blocks run on them with R_A = 0.3 key lists),
keep ratios 0.9 / 0.8 / 0.7 must cut the counted MACs by the analytic amount.
"""

import math

import pytest

from host.model_configs import get_config, num_tokens
from sim import golden

CFG = get_config("onion_tiny")
D, M, DEPTH = CFG["embed_dim"], int(CFG["embed_dim"] * CFG["mlp_ratio"]), CFG["depth"]
SELECT_AT = (3, 6, 9)
R_A = 0.3


def kept(n: int, ratio: float) -> int:
    return 1 + math.ceil(ratio * (n - 1))


def key_entries(n: int, sparse: bool) -> int:
    return n * n if not sparse else n + (n - 1) * (1 + math.ceil(R_A * (n - 1)))


def analytic(n: int, z: int, k: int) -> dict:
    return {
        "ATTN_FWD": 4 * n * D * D + 2 * z * D,
        "MLP_FWD": 2 * k * D * M,
        "MLP_BWD": 4 * k * D * M,
        "ATTN_BWD": 8 * n * D * D + 4 * z * D,
    }


def schedule(keep_ratio: float | None) -> list[tuple[int, bool, int]]:
    """Per block: (tokens into attention, sparse attention?, tokens into the MLP)."""
    n, sparse, blocks = num_tokens(CFG), False, []
    for b in range(DEPTH):
        k = kept(n, keep_ratio) if keep_ratio is not None and b in SELECT_AT else n
        blocks.append((n, sparse, k))
        if keep_ratio is not None and b in SELECT_AT:
            n, sparse = k, True
    return blocks


_cache: dict = {}


def engine_block_macs(engine, n, sparse, k) -> dict:
    key = (n, sparse, k)
    if key not in _cache:
        case = golden.block_case(
            "onion_tiny", keep_ratio=None if k == n else (k - 1) / (n - 1), r_a=R_A, sparse=sparse, n_tokens=n, seed=31
        )
        _, counters = golden.run_case_csim(case, engine)
        assert case.meta["n_keep"] == k
        _cache[key] = {c["op"]: c["macs"] for c in counters}
    return _cache[key]


@pytest.mark.parametrize("n,sparse,k", [(65, False, 65), (65, False, 46), (46, True, 46), (33, True, 33)])
def test_counters_equal_the_layer_shapes(engine, n, sparse, k):
    assert engine_block_macs(engine, n, sparse, k) == analytic(n, key_entries(n, sparse), k)


def test_pruning_reduces_counted_macs(engine):
    totals = {}
    for ratio in (None, 0.9, 0.8, 0.7):
        blocks = schedule(ratio)
        counted = sum(sum(engine_block_macs(engine, n, s, k).values()) for n, s, k in blocks)
        expected = sum(sum(analytic(n, key_entries(n, s), k).values()) for n, s, k in blocks)
        assert counted == expected
        totals[ratio] = counted
    assert totals[0.7] < totals[0.8] < totals[0.9] < totals[None]
    # tokens shrink geometrically after each selection: 0.7 leaves 46 -> 33 -> 24 tokens
    assert totals[0.7] / totals[None] < 0.65
