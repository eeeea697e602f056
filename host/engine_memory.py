"""Memory layout of a ViT on the engine: which regions of the four port memories hold what.

`check_config` rejects a model the engine cannot run (before anything is sent);
`EngineMemory.required_words` sizes a backend's memories; `EngineMemory(backend, config)`
allocates every region once (weights, activations saved for backward, gradient scratch, key
lists, keep lists, frac and stats tables). Sizes come from the layouts of engine_spec.json.
"""

from __future__ import annotations

from host import engine_spec as es
from host.backends.base import EngineBackend
from host.engine_params import ParamBlock, param_blocks
from host.model_configs import mlp_hidden, num_tokens, patch_dim

# [max |word|, saturations] per tensor, twice with GRAD_ACCUMULATE (the accumulators' stats follow;
# the frac table likewise carries the accumulator fracs)
STATS_WORDS = 4 * es.max_op_tensors()
_SLACK_WORDS = 64  # per port, past the last region


class EngineLimitError(ValueError):
    """A model or request does not fit the engine's declared limits (raised before any call)."""


def _is_power_of_4(v: int) -> bool:
    return v > 0 and (v & (v - 1)) == 0 and (v.bit_length() - 1) % 2 == 0


def check_config(config: dict) -> None:
    """Rejects a model the engine cannot run, naming the limit; nothing has been sent yet."""
    n = num_tokens(config)
    d, h = config["embed_dim"], config["num_heads"]
    checks = [
        ("max_tokens", n, "tokens (incl. [CLS])"),
        ("max_dim", d, "embed_dim"),
        ("max_heads", h, "num_heads"),
        ("max_head_dim", d // h, "head dim"),
        ("max_mlp", mlp_hidden(config), "MLP hidden dim"),
        ("max_patch_dim", patch_dim(config), "patch dim (C*p*p)"),
        ("max_classes", config["num_classes"], "num_classes"),
        ("max_keys", n, "keys per query (dense)"),
    ]
    for limit_name, value, what in checks:
        if value > es.limit(limit_name):
            raise EngineLimitError(f"{what} = {value} exceeds the engine limit {limit_name} = {es.limit(limit_name)}")
    if d % h or not _is_power_of_4(d // h):
        raise EngineLimitError(
            f"head dim = embed_dim/num_heads = {d / h:g}: the engine needs a power "
            f"of 4 (16, 64) so 1/sqrt(head_dim) is a shift"
        )


def layout_dims(config: dict, n: int, k: int, z: int | None = None) -> dict[str, int]:
    """The layout symbols of engine_spec.json for n tokens in, k kept, z key-list entries (dense n*n)."""
    return dict(
        N=n,
        K=k,
        D=config["embed_dim"],
        H=config["num_heads"],
        M=mlp_hidden(config),
        I=patch_dim(config),
        O=config["num_classes"],
        Z=n * n if z is None else z,
    )


class EngineMemory:
    """The regions of one model in a backend's memories (allocated once, at full token count)."""

    def __init__(self, backend: EngineBackend, config: dict):
        check_config(config)
        self.config, self.depth = config, config["depth"]
        n, d = num_tokens(config), config["embed_dim"]
        dims = layout_dims(config, n, n)
        size = lambda name: es.layout_size(name, **dims)  # noqa: E731
        alloc = backend.alloc
        # wts: the parameters
        self.w_patch = alloc("wts", size("patch_params"))
        self.w_attn = [alloc("wts", size("attn_params")) for _ in range(self.depth)]
        self.w_mlp = [alloc("wts", size("mlp_params")) for _ in range(self.depth)]
        self.w_head = alloc("wts", size("head_params"))
        # act: the image's patches, block inputs/outputs and what backward needs
        self.a_patches = alloc("act", (n - 1) * patch_dim(config))
        self.a_x = [alloc("act", n * d) for _ in range(self.depth + 1)]  # block inputs / final
        self.a_y = [alloc("act", n * d) for _ in range(self.depth)]  # attention outputs
        self.a_attn_save = [alloc("act", size("attn_save")) for _ in range(self.depth)]
        self.a_mlp_save = [alloc("act", size("mlp_save")) for _ in range(self.depth)]
        self.a_attn_avg = [alloc("act", n * n) for _ in range(self.depth)]
        self.a_head_save = alloc("act", size("head_save"))
        self.a_logits = alloc("act", config["num_classes"])
        # grd: two ping-pong activation gradients, one op's weight gradients, one op's scratch
        self.g_a = alloc("grd", n * d)
        self.g_b = alloc("grd", n * d)
        self.g_w = alloc("grd", self.largest_params(dims))
        self.g_s = alloc("grd", self.largest_scratch(dims))
        # aux: CSR key lists and keep lists per block, the frac and stats tables
        self.x_keys = [alloc("aux", n + 1 + n * n) for _ in range(self.depth)]
        self.x_keep = [alloc("aux", n) for _ in range(self.depth)]
        self.x_fracs = alloc("aux", STATS_WORDS)
        self.x_stats = alloc("aux", STATS_WORDS)

    @staticmethod
    def largest_params(dims: dict) -> int:
        return max(es.layout_size(k, **dims) for k in ("patch_params", "attn_params", "mlp_params", "head_params"))

    @staticmethod
    def largest_scratch(dims: dict) -> int:
        return max(es.layout_size(k, **dims) for k in ("attn_scratch", "mlp_scratch", "head_scratch"))

    def param_regions(self) -> list[tuple[object, ParamBlock]]:
        """(region, ParamBlock) for every parameter block, in memory order."""
        regions = {"patch_params": [self.w_patch], "head_params": [self.w_head]}
        regions["attn_params"], regions["mlp_params"] = self.w_attn, self.w_mlp
        return [(regions[b.layout][b.index], b) for b in param_blocks(self.depth)]

    @staticmethod
    def required_words(config: dict) -> dict[str, int]:
        """Words each port needs for this model (to size the backend's memories): what __init__
        allocates, plus the int32 weight-gradient accumulators allocated on first use."""
        depth, n, d = config["depth"], num_tokens(config), config["embed_dim"]
        dims = layout_dims(config, n, n)
        size = lambda name: es.layout_size(name, **dims)  # noqa: E731
        params = sum(size(b.layout) for b in param_blocks(depth))
        act = (
            (n - 1) * patch_dim(config)
            + (2 * depth + 1) * n * d
            + config["num_classes"]
            + depth * (size("attn_save") + size("mlp_save") + n * n)
            + size("head_save")
        )
        grd = 2 * n * d + EngineMemory.largest_params(dims) + EngineMemory.largest_scratch(dims)
        aux = depth * (n + 1 + n * n) + depth * n + 2 * STATS_WORDS + params
        words = {"wts": params, "act": act, "grd": grd, "aux": aux}
        return {port: words[port] + _SLACK_WORDS for port in es.ports()}
