"""The engine driver: the op sequence of a ViT's forward and backward on the layer engine.

One class that lays out the buffers in the engine's four memories, writes each op's registers,
starts it, reads back outputs, attention rows, per-tensor stats and counters, and keeps the
gradient exponents (fracs). Register names, op codes, layouts, formats and limits all come from
the engine declaration (host/engine_spec.py, hw/spec/engine_spec.json); docs/engine_interface.md
describes the sequence. The backend (csim, pynq) only moves words and runs one op.

Per sample (N tokens incl. [CLS], shrinking at selector blocks):
  forward : PATCH_EMBED_FWD, per block ATTN_FWD (dense, or SPARSE over CSR key lists)
            [-> host TA-selection from the attention rows] -> MLP_FWD (GATHER when pruning), HEAD_FWD
  backward: HEAD_BWD, per block (reversed) MLP_BWD, ATTN_BWD, then PATCH_EMBED_BWD
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from host import engine_spec as es
from host.model_configs import mlp_hidden, num_tokens, patch_dim

# One bit of range beyond es.next_grad_frac's target (largest word at 2^12..2^13): gradients vary
# from sample to sample, and a clipped weight gradient costs more than one bit of resolution.
EXTRA_HEADROOM_BITS = 1
# [max |word|, saturations] per tensor, twice with GRAD_ACCUMULATE (the accumulators' stats follow;
# the frac table likewise carries the accumulator fracs)
_STATS_WORDS = 4 * es.max_op_tensors()


# engine parameter layouts (engine_spec.json layouts.*_params) -> timm state_dict names
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


AXI_FIELDS = ("rd_bytes", "wr_bytes", "rd_bursts", "wr_bursts")


def _zero_axi() -> dict:
    return {p: {f: 0 for f in AXI_FIELDS} for p in es.ports()}


class AxiTotals:
    """Totals over the ports of an `axi` dict {port: {rd_bytes, wr_bytes, rd_bursts, wr_bursts}}."""

    axi: dict

    @property
    def axi_bytes(self) -> int:
        return sum(v["rd_bytes"] + v["wr_bytes"] for v in self.axi.values())

    @property
    def axi_bursts(self) -> int:
        return sum(v["rd_bursts"] + v["wr_bursts"] for v in self.axi.values())


@dataclass
class OpRecord(AxiTotals):
    """What one engine call did, as its counters say (engine_spec.json "counters"): MACs, MAC-array
    cycles, saturations, element-wise unit cycles, the minimum AXI traffic of the call and the AXI
    bytes/bursts the engine moved per port."""

    op: str
    macs: int
    cycles: int
    saturations: int
    elementwise_cycles: int = 0
    min_axi_bytes: int = 0
    axi: dict = field(default_factory=_zero_axi)

    @classmethod
    def from_counters(cls, op: str, c: dict) -> OpRecord:
        axi = {p: {f: int(fields[f]) for f in AXI_FIELDS} for p, fields in c["axi"].items()}
        return cls(
            op,
            int(c["macs"]),
            int(c["cycles"]),
            int(c["saturations"]),
            int(c["elementwise_cycles"]),
            int(c["min_axi_bytes"]),
            axi,
        )


@dataclass
class _Block:
    n: int = 0  # tokens into the block
    k: int = 0  # tokens out (after GATHER)
    keys: np.ndarray | None = None  # CSR-ready key lists of the patch queries (positions)
    gather: bool = False


@dataclass
class Counters(AxiTotals):
    """Sums of the OpRecords of a run (same field names as the engine's counters)."""

    macs: int = 0
    cycles: int = 0
    saturations: int = 0
    elementwise_cycles: int = 0
    min_axi_bytes: int = 0
    axi: dict = field(default_factory=_zero_axi)
    calls: int = 0
    ops: list = field(default_factory=list)

    def add(self, rec: OpRecord) -> None:
        self.macs += rec.macs
        self.cycles += rec.cycles
        self.saturations += rec.saturations
        self.elementwise_cycles += rec.elementwise_cycles
        self.min_axi_bytes += rec.min_axi_bytes
        for port, fields in rec.axi.items():
            for f, v in fields.items():
                self.axi[port][f] += v
        self.calls += 1
        self.ops.append(rec)


class EngineDriver:
    def __init__(self, backend, config: dict, record_ops: bool = False):
        check_config(config)
        self.be, self.cfg = backend, config
        self.D, self.H = config["embed_dim"], config["num_heads"]
        self.M = mlp_hidden(config)
        self.C, self.p = config["num_classes"], config["patch_size"]
        self.I = patch_dim(config)
        self.N0 = num_tokens(config)
        self.depth = config["depth"]
        self.record_ops = record_ops
        self.f_act = es.format_frac("activation")
        self.f_w = es.format_frac("weight")
        self.f_prob = es.format_frac("attn_prob")
        self.f_grad0 = es.format_frac("gradient")
        g = es.load_spec()["formats"]["gradient"]
        self.f_grad_min, self.f_grad_max = int(g["frac_min"]), int(g["frac_max"])
        self.counters = Counters()
        self._alloc()
        self.fracs: dict[tuple[str, int], np.ndarray] = {}
        # weight-gradient accumulation on the engine (begin_grad_step / backward(accumulate=True) /
        # read_accumulated_grads): per (op, index) its int32 block in aux and accumulator fracs
        self._gacc: dict[tuple[str, int], object] = {}
        self._gacc_fracs: dict[tuple[str, int], np.ndarray] = {}
        self._gacc_images = 0
        self._gacc_step_images = 1
        self.gacc_saturations = 0
        self._blocks = [_Block() for _ in range(self.depth)]
        self._n_last = self.N0

    # ---------------------------------------------------------------------------------------
    # buffers
    @staticmethod
    def required_words(config: dict) -> dict[str, int]:
        """Words each port needs for this model (to size the backend's memories)."""
        d, depth = config["embed_dim"], config["depth"]
        m = mlp_hidden(config)
        i_dim = patch_dim(config)
        n = num_tokens(config)
        h, c = config["num_heads"], config["num_classes"]
        dims = dict(N=n, K=n, D=d, H=h, M=m, I=i_dim, O=c, Z=n * n)
        params = (
            es.layout_size("patch_params", **dims)
            + es.layout_size("head_params", **dims)
            + depth * (es.layout_size("attn_params", **dims) + es.layout_size("mlp_params", **dims))
        )
        biggest_params = max(
            es.layout_size(k, **dims) for k in ("patch_params", "attn_params", "mlp_params", "head_params")
        )
        act = (
            (n - 1) * i_dim
            + (depth + 1) * n * d
            + depth * n * d
            + c
            + depth * (es.layout_size("attn_save", **dims) + es.layout_size("mlp_save", **dims) + n * n)
            + es.layout_size("head_save", **dims)
        )
        scratch = max(es.layout_size(k, **dims) for k in ("attn_scratch", "mlp_scratch", "head_scratch"))
        grd = 2 * n * d + biggest_params + scratch
        aux = depth * (n + 1 + n * n) + depth * n + 2 * _STATS_WORDS
        aux += params  # int32 weight-gradient accumulators (grad_accumulation), allocated on first use
        return {"wts": params + 64, "act": act + 64, "grd": grd + 64, "aux": aux + 64}

    def _alloc(self) -> None:
        be, n, d = self.be, self.N0, self.D
        dims = self._dims(n, n)
        lay = es.layout_size
        self.w_patch = be.alloc("wts", lay("patch_params", **dims))
        self.w_attn = [be.alloc("wts", lay("attn_params", **dims)) for _ in range(self.depth)]
        self.w_mlp = [be.alloc("wts", lay("mlp_params", **dims)) for _ in range(self.depth)]
        self.w_head = be.alloc("wts", lay("head_params", **dims))
        self.a_patches = be.alloc("act", (n - 1) * self.I)
        self.a_x = [be.alloc("act", n * d) for _ in range(self.depth + 1)]  # block inputs / final
        self.a_y = [be.alloc("act", n * d) for _ in range(self.depth)]  # attention outputs
        self.a_attn_save = [be.alloc("act", lay("attn_save", **dims)) for _ in range(self.depth)]
        self.a_mlp_save = [be.alloc("act", lay("mlp_save", **dims)) for _ in range(self.depth)]
        self.a_attn_avg = [be.alloc("act", n * n) for _ in range(self.depth)]
        self.a_head_save = be.alloc("act", lay("head_save", **dims))
        self.a_logits = be.alloc("act", self.C)
        self.g_a = be.alloc("grd", n * d)
        self.g_b = be.alloc("grd", n * d)
        self.g_w = be.alloc(
            "grd", max(lay(k, **dims) for k in ("patch_params", "attn_params", "mlp_params", "head_params"))
        )
        self.g_s = be.alloc("grd", max(lay(k, **dims) for k in ("attn_scratch", "mlp_scratch", "head_scratch")))
        self.x_keys = [be.alloc("aux", n + 1 + n * n) for _ in range(self.depth)]
        self.x_keep = [be.alloc("aux", n) for _ in range(self.depth)]
        self.x_fracs = be.alloc("aux", _STATS_WORDS)
        self.x_stats = be.alloc("aux", _STATS_WORDS)

    def _dims(self, n: int, k: int, z: int | None = None) -> dict:
        return dict(N=n, K=k, D=self.D, H=self.H, M=self.M, I=self.I, O=self.C, Z=n * n if z is None else z)

    # ---------------------------------------------------------------------------------------
    # weights: timm names <-> layout tensors
    def _param_map(self) -> list[tuple[object, str, dict[str, str]]]:
        """(region, layout, {layout tensor: timm name}) for every parameter block."""
        out = [(self.w_patch, "patch_params", param_names("patch_params"))]
        for i in range(self.depth):
            out.append((self.w_attn[i], "attn_params", param_names("attn_params", i)))
            out.append((self.w_mlp[i], "mlp_params", param_names("mlp_params", i)))
        out.append((self.w_head, "head_params", param_names("head_params")))
        return out

    def write_weights(
        self, weights: dict[str, np.ndarray] | None = None, words: dict[str, np.ndarray] | None = None
    ) -> int:
        """Writes fp32 weights (quantized here) or ready int16 words; returns saturated words."""
        dims = self._dims(self.N0, self.N0)
        saturated = 0
        for region, layout, names in self._param_map():
            for tensor, (off, shape) in es.layout(layout, **dims).items():
                name = names[tensor]
                if words is not None:
                    q = np.asarray(words[name], dtype=np.int16)
                else:
                    q, sat = es.quantize(weights[name], self.f_w)
                    saturated += sat
                size = int(np.prod(shape))
                if q.size != size:
                    raise ValueError(
                        f"weights.{name}: {q.size} values, the engine layout {layout}.{tensor} needs {shape}"
                    )
                region.array[off : off + size] = q.reshape(-1)
        return saturated

    def _read_grads(
        self,
        layout: str,
        names: dict[str, str],
        n: int,
        fr: dict[str, int],
        grads: dict[str, np.ndarray],
        shapes: dict[str, tuple],
    ) -> None:
        if self._accumulating:  # summed on the engine; read once per step
            return
        for tensor, (off, shape) in es.layout(layout, **self._dims(n, n)).items():
            size = int(np.prod(shape))
            words = self.g_w.array[off : off + size]
            name = names[tensor]
            value = es.dequantize(words, fr["d_" + tensor]).reshape(shapes.get(name, shape))
            grads[name] = value

    # ---------------------------------------------------------------------------------------
    # one call
    def _call(self, op: str, **regs) -> OpRecord:
        """Writes exactly the registers the op declares (engine_spec.json ops.<op>.regs) and runs it."""
        regs["stats_off"] = self.x_stats.offset
        declared = es.op(op)["regs"]
        missing = [r for r in declared if r not in regs]
        if missing:
            raise RuntimeError(f"driver bug: {op} declares registers {missing} the driver did not set")
        c = self.be.call_checked(op, **{r: regs[r] for r in declared})  # EngineError names the status
        rec = OpRecord.from_counters(op, c)
        self.counters.add(rec)
        return rec

    def _stats(self, op: str) -> dict[str, tuple[int, int]]:
        return self.be.read_stats(op, self.x_stats)

    def reset_counters(self) -> Counters:
        self.counters = Counters()
        return self.counters

    # gradient exponents -------------------------------------------------------------------
    # Every gradient of a backward pass scales with dL/dlogits, whose size varies by orders of
    # magnitude between samples (a confident right answer vs. a wrong one). So the tables hold
    # exponents RELATIVE to the frac of this sample's dL/dlogits; the stats of each call adapt them.
    def _frac_table(self, op: str, index: int, f_logits: int) -> np.ndarray:
        key = (op, index)
        if key not in self.fracs:
            self.fracs[key] = np.full(len(es.op_tensors(op)), self.f_grad0 - f_logits, dtype=np.int32)
        return self.fracs[key]

    def _clip_frac(self, frac: int) -> int:
        return int(min(max(frac, self.f_grad_min), self.f_grad_max))

    def _backward_call(self, op: str, index: int, d_out_frac: int, **regs) -> tuple[dict, int]:
        """Runs a backward op with its frac table; returns (fracs used by name, d_in frac). While
        accumulating (self._accumulating), the op also adds its parameter gradients on the engine."""
        f_logits = self._f_logits
        rel = self._frac_table(op, index, f_logits)
        used = np.array([self._clip_frac(f_logits + r) for r in rel], dtype=np.int32)
        used[0] = d_out_frac
        self.x_fracs.array[: used.size] = used
        if "gacc_off" in es.op(op)["regs"]:
            regs["gacc_off"] = 0
            regs.setdefault("flags", 0)
            if self._accumulating:
                regs.update(self._gacc_regs(op, index, rel, used.size, regs.get("flags", 0)))
        self._call(op, fracs_off=self.x_fracs.offset, **regs)
        if regs.get("gacc_off"):
            self._read_gacc_stats(op)
        stats = self._stats(op)
        names = es.op_tensors(op)
        for j, name in enumerate(names[1:], start=1):  # adapt for the next sample
            max_abs, sats = stats[name]
            rel[j] = es.next_grad_frac(int(used[j]), max_abs, sats) - EXTRA_HEADROOM_BITS - f_logits
        fr = {name: int(used[j]) for j, name in enumerate(names)}
        return fr, fr.get("d_in", d_out_frac)

    def _grad_frac_for(self, values: np.ndarray) -> int:
        """The gradient frac for these values: the one rule, es.grad_frac_for_peak."""
        return es.grad_frac_for_peak(float(np.max(np.abs(values))) if values.size else 0.0)

    # weight-gradient accumulation on the engine ------------------------------------------------
    _accumulating = False

    def begin_grad_step(self, n_images: int) -> None:
        """Starts a step of n_images whose weight gradients the engine sums (int32, in aux)."""
        self._gacc_images, self._gacc_step_images = 0, max(1, int(n_images))
        self._gacc_fracs = {}
        self.gacc_saturations = 0

    def _gacc_regs(self, op: str, index: int, rel: np.ndarray, count: int, flags: int) -> dict:
        """Registers and frac-table half for accumulating this op's parameter gradients."""
        key = (op, index)
        if key not in self._gacc:
            self._gacc[key] = self.be.alloc("aux", es.layout_size(es.op(op)["params"], **self._dims(self.N0, self.N0)))
        clear = key not in self._gacc_fracs
        if clear:  # first image of the step: fix the accumulator fracs from a peak-size image's fracs
            f_peak = self._grad_frac_for(np.ones(1))
            self._gacc_fracs[key] = np.array(
                [es.grad_acc_frac(self._clip_frac(f_peak + r), self._gacc_step_images) for r in rel], dtype=np.int32
            )
        self.x_fracs.array[count : 2 * count] = self._gacc_fracs[key]
        acc_flags = es.flag("GRAD_ACCUMULATE") | (es.flag("GRAD_CLEAR") if clear else 0)
        return {"flags": int(flags) | acc_flags, "gacc_off": self._gacc[key].offset}

    def _read_gacc_stats(self, op: str) -> None:
        names = es.op_tensors(op)
        values = np.asarray(self.x_stats.array[2 * len(names) : 4 * len(names)]).reshape(-1, 2)
        self.gacc_saturations += int(values[:, 1].sum())

    def read_accumulated_grads(self) -> dict[str, np.ndarray]:
        """The step's summed weight gradients (float64, by timm name): one read of the int32
        accumulators per parameter, dequantized at their accumulator fracs."""
        if not self._gacc_fracs:
            raise RuntimeError("read_accumulated_grads: no backward(accumulate=True) since begin_grad_step")
        dims = self._dims(self.N0, self.N0)
        grads: dict[str, np.ndarray] = {}
        blocks = [
            ("HEAD_BWD", 0, "head_params", param_names("head_params"), {}),
            (
                "PATCH_EMBED_BWD",
                0,
                "patch_params",
                param_names("patch_params"),
                {
                    "patch_embed.proj.weight": (self.D, self.cfg["in_chans"], self.p, self.p),
                    "cls_token": (1, 1, self.D),
                    "pos_embed": (1, self.N0, self.D),
                },
            ),
        ]
        for i in range(self.depth):
            blocks += [
                ("MLP_BWD", i, "mlp_params", param_names("mlp_params", i), {}),
                ("ATTN_BWD", i, "attn_params", param_names("attn_params", i), {}),
            ]
        for op, i, layout, names, shapes in blocks:
            fa = dict(zip(es.op_tensors(op), self._gacc_fracs[(op, i)]))
            region = self._gacc[(op, i)]
            for tensor, (off, shape) in es.layout(layout, **dims).items():
                size = int(np.prod(shape))
                words = np.asarray(region.array[off : off + size], dtype=np.float64)
                grads[names[tensor]] = (words * 2.0 ** -int(fa["d_" + tensor])).reshape(
                    shapes.get(names[tensor], shape)
                )
        return grads

    # ---------------------------------------------------------------------------------------
    # forward
    def _write_keys(self, i: int, n: int, keys: np.ndarray) -> int:
        """CSR key lists for block i: the [CLS] row dense, patch rows as given. Returns entries."""
        if keys.shape[0] != n - 1:
            raise ValueError(f"keys: {keys.shape[0]} query rows for {n} tokens (expected {n - 1})")
        if keys.shape[1] > es.limit("max_keys"):
            raise EngineLimitError(f"keys per query = {keys.shape[1]} exceeds max_keys = {es.limit('max_keys')}")
        if keys.size and (keys.min() < 0 or keys.max() >= n):
            raise ValueError(f"keys: positions must lie in [0, {n})")
        if np.any(keys[:, 0] != 0) or np.any(np.diff(keys, axis=1) <= 0):
            raise ValueError("keys: every row must start with [CLS] (0) and be strictly ascending")
        row_ptr = np.concatenate([[0, n], n + np.arange(1, n) * keys.shape[1]]).astype(np.int32)
        flat = np.concatenate([np.arange(n), keys.reshape(-1)]).astype(np.int32)
        buf = self.x_keys[i].array
        buf[: n + 1] = row_ptr
        buf[n + 1 : n + 1 + flat.size] = flat
        return int(flat.size)

    def _attn_rows(self, i: int, n: int, z: int, keys: np.ndarray | None) -> np.ndarray:
        """Head-averaged attention of block i as a dense [n, n] float map (zeros off the lists)."""
        vals = es.dequantize(self.a_attn_avg[i].array[:z], self.f_prob).astype(np.float64)
        if keys is None:
            return vals.reshape(n, n)
        dense = np.zeros((n, n))
        dense[0] = vals[:n]
        rows = np.repeat(np.arange(1, n), keys.shape[1])
        dense[rows, keys.reshape(-1)] = vals[n:]
        return dense

    def load_patches(self, patches: np.ndarray) -> int:
        if patches.shape != (self.N0 - 1, self.I):
            raise ValueError(f"patches: shape {patches.shape}, expected {(self.N0 - 1, self.I)}")
        q, sat = es.quantize(patches, self.f_act)
        self.a_patches.array[:] = q.reshape(-1)
        return sat

    def forward(self, patches: np.ndarray, select=None, selector_blocks=(), dense_selectors=False):
        """Runs the forward pass. `select(stage, attn_avg[n, n])` -> (keep positions, keys|None)
        is called after the attention of each selector block, which attends over the previous
        selector's key lists unless `dense_selectors`. Returns (logits, last attention map)."""
        sat_in = self.load_patches(patches)
        n, d = self.N0, self.D
        self._call(
            "PATCH_EMBED_FWD",
            n_tokens=n,
            dim=d,
            in_dim=self.I,
            x_off=self.a_patches.offset,
            y_off=self.a_x[0].offset,
            w_off=self.w_patch.offset,
        )
        keys = None
        attn = None
        for i in range(self.depth):
            blk = self._blocks[i]
            is_selector = select is not None and i in selector_blocks
            if is_selector and dense_selectors:
                keys = None  # by default a selector block attends over the previous lists too
            z = n * n if keys is None else self._write_keys(i, n, keys)
            flags = es.flag("SPARSE") if keys is not None else 0
            self._call(
                "ATTN_FWD",
                flags=flags,
                n_tokens=n,
                dim=d,
                heads=self.H,
                x_off=self.a_x[i].offset,
                y_off=self.a_y[i].offset,
                w_off=self.w_attn[i].offset,
                save_off=self.a_attn_save[i].offset,
                attn_off=self.a_attn_avg[i].offset,
                keys_off=self.x_keys[i].offset,
            )
            blk.n, blk.keys = n, keys
            attn = None
            if is_selector or i == self.depth - 1:
                attn = self._attn_rows(i, n, z, keys)
            k, gather = n, False
            if is_selector:
                keep, keys = select(list(selector_blocks).index(i), attn)
                keep = np.asarray(keep, dtype=np.int64)
                if keep.size < n:
                    if keep[0] != 0 or np.any(np.diff(keep) <= 0) or keep[-1] >= n:
                        raise ValueError(
                            f"keep: positions must start with [CLS] (0), ascend strictly, and lie in [0, {n})"
                        )
                    self.x_keep[i].array[: keep.size] = keep
                    k, gather = int(keep.size), True
            blk.k, blk.gather = k, gather
            self._call(
                "MLP_FWD",
                flags=es.flag("GATHER") if gather else 0,
                n_tokens=n,
                n_keep=k,
                dim=d,
                mlp_dim=self.M,
                x_off=self.a_y[i].offset,
                y_off=self.a_x[i + 1].offset,
                w_off=self.w_mlp[i].offset,
                save_off=self.a_mlp_save[i].offset,
                keep_off=self.x_keep[i].offset,
            )
            n = k
        self._n_last = n
        self._call(
            "HEAD_FWD",
            n_tokens=n,
            dim=d,
            out_dim=self.C,
            x_off=self.a_x[self.depth].offset,
            y_off=self.a_logits.offset,
            w_off=self.w_head.offset,
            save_off=self.a_head_save.offset,
        )
        logits = es.dequantize(self.a_logits.array, self.f_act).astype(np.float64)
        self.counters.saturations += sat_in
        return logits, attn

    # ---------------------------------------------------------------------------------------
    # backward
    def backward(self, dlogits: np.ndarray, accumulate: bool = False) -> dict[str, np.ndarray]:
        """Backward of the last forward; returns fp32 gradients by timm name. accumulate: the engine
        adds the weight gradients into the step's int32 accumulators (begin_grad_step) instead, and
        nothing is read back per image ({} is returned; read_accumulated_grads after the step)."""
        grads: dict[str, np.ndarray] = {}
        self._accumulating = accumulate
        try:
            self._backward_ops(dlogits, grads)
        finally:
            self._accumulating = False
        if accumulate:
            self._gacc_images += 1
            return {}
        return grads

    def _backward_ops(self, dlogits: np.ndarray, grads: dict) -> None:
        d, n = self.D, self._n_last
        f = self._f_logits = self._grad_frac_for(dlogits)
        q, _ = es.quantize(dlogits, f)
        gy = self.g_a
        gy.array[: self.C] = q
        gx = self.g_b
        fr, f = self._backward_call(
            "HEAD_BWD",
            0,
            f,
            n_tokens=n,
            dim=d,
            out_dim=self.C,
            x_off=self.a_x[self.depth].offset,
            w_off=self.w_head.offset,
            save_off=self.a_head_save.offset,
            gy_off=gy.offset,
            gx_off=gx.offset,
            gw_off=self.g_w.offset,
            gs_off=self.g_s.offset,
        )
        self._read_grads("head_params", param_names("head_params"), n, fr, grads, {})
        gy, gx = gx, gy
        for i in reversed(range(self.depth)):
            blk = self._blocks[i]
            fr, f = self._backward_call(
                "MLP_BWD",
                i,
                f,
                flags=es.flag("GATHER") if blk.gather else 0,
                n_tokens=blk.n,
                n_keep=blk.k,
                dim=d,
                mlp_dim=self.M,
                w_off=self.w_mlp[i].offset,
                save_off=self.a_mlp_save[i].offset,
                keep_off=self.x_keep[i].offset,
                gy_off=gy.offset,
                gx_off=gx.offset,
                gw_off=self.g_w.offset,
                gs_off=self.g_s.offset,
            )
            self._read_grads("mlp_params", param_names("mlp_params", i), blk.n, fr, grads, {})
            gy, gx = gx, gy
            if blk.keys is not None:  # the forward's CSR lists are still in place, rewrite anyway
                self._write_keys(i, blk.n, blk.keys)
            fr, f = self._backward_call(
                "ATTN_BWD",
                i,
                f,
                flags=es.flag("SPARSE") if blk.keys is not None else 0,
                n_tokens=blk.n,
                dim=d,
                heads=self.H,
                x_off=self.a_x[i].offset,
                w_off=self.w_attn[i].offset,
                save_off=self.a_attn_save[i].offset,
                keys_off=self.x_keys[i].offset,
                gy_off=gy.offset,
                gx_off=gx.offset,
                gw_off=self.g_w.offset,
                gs_off=self.g_s.offset,
            )
            self._read_grads("attn_params", param_names("attn_params", i), blk.n, fr, grads, {})
            gy, gx = gx, gy
        fr, _ = self._backward_call(
            "PATCH_EMBED_BWD",
            0,
            f,
            n_tokens=self.N0,
            dim=d,
            in_dim=self.I,
            x_off=self.a_patches.offset,
            w_off=self.w_patch.offset,
            gy_off=gy.offset,
            gw_off=self.g_w.offset,
        )
        shapes = {
            "patch_embed.proj.weight": (self.D, self.cfg["in_chans"], self.p, self.p),
            "cls_token": (1, 1, self.D),
            "pos_embed": (1, self.N0, self.D),
        }
        self._read_grads("patch_params", param_names("patch_params"), self.N0, fr, grads, shapes)
