"""The engine driver: the op sequence of a ViT's forward and backward on the layer engine.

EngineDriver writes each op's registers, starts it, reads back outputs, attention rows, per-tensor
stats and counters, and keeps the gradient exponents (fracs). Where things live in the four
memories is host/engine_memory.py; which timm parameter is which layout tensor is
host/engine_params.py; what the counters say is host/engine_counters.py. Register names, op codes,
layouts, formats and limits all come from the engine declaration (host/engine_spec.py,
hw/spec/engine_spec.json); docs/engine_interface.md describes the sequence. The backend (csim,
pynq) only moves words and runs one op.

Per sample (N tokens incl. [CLS], shrinking at selector blocks):
  forward : PATCH_EMBED_FWD, per block ATTN_FWD (dense, or SPARSE over CSR key lists)
            [-> host TA-selection from the attention rows] -> MLP_FWD (GATHER when pruning), HEAD_FWD
  backward: HEAD_BWD, per block (reversed) MLP_BWD, ATTN_BWD, then PATCH_EMBED_BWD
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from host import engine_spec as es
from host.backends.base import EngineBackend
from host.engine_counters import Counters, OpRecord
from host.engine_memory import EngineLimitError, EngineMemory, layout_dims
from host.engine_params import layout_tensors, param_blocks, timm_shapes, unpack_params
from host.model_configs import mlp_hidden, num_tokens, patch_dim

# One bit of range beyond es.next_grad_frac's target (largest word at 2^12..2^13): gradients vary
# from sample to sample, and a clipped weight gradient costs more than one bit of resolution.
EXTRA_HEADROOM_BITS = 1


@dataclass
class _Block:
    n: int = 0  # tokens into the block
    k: int = 0  # tokens out (after GATHER)
    keys: np.ndarray | None = None  # key lists of the patch queries (positions)
    csr: np.ndarray | None = None  # the same as written to aux (EngineDriver._csr)
    gather: bool = False


class EngineDriver:
    """The op sequences of one model on one backend (see the module doc)."""

    def __init__(self, backend: EngineBackend, config: dict, record_ops: bool = False):
        """record_ops: keep every call's OpRecord in self.counters.ops (benchmarks, tests)."""
        self.mem = EngineMemory(backend, config)  # checks the config against the engine's limits first
        self.be, self.cfg = backend, config
        self.D, self.H = config["embed_dim"], config["num_heads"]
        self.M = mlp_hidden(config)
        self.C = config["num_classes"]
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
        self.fracs: dict[tuple[str, int], np.ndarray] = {}
        self._shapes = timm_shapes(config)
        self._param_blocks = {(b.backward_op, b.index): b for b in param_blocks(self.depth)}
        # weight-gradient accumulation on the engine (begin_grad_step / backward(accumulate=True) /
        # read_accumulated_grads): per (op, index) its int32 block in aux and accumulator fracs
        self._gacc: dict[tuple[str, int], object] = {}
        self._gacc_fracs: dict[tuple[str, int], np.ndarray] = {}
        self._gacc_images = 0
        self._gacc_step_images = 1
        self.gacc_saturations = 0
        self._blocks = [_Block() for _ in range(self.depth)]
        self._d_bufs = (self.mem.g_a, self.mem.g_b)  # (d_out, d_in) of the next backward op
        self._n_last = self.N0

    required_words = staticmethod(EngineMemory.required_words)

    def _dims(self, n: int, k: int, z: int | None = None) -> dict[str, int]:
        return layout_dims(self.cfg, n, k, z)

    # ---------------------------------------------------------------------------------------
    # weights and gradients by timm name
    def write_weights(
        self, weights: dict[str, np.ndarray] | None = None, words: dict[str, np.ndarray] | None = None
    ) -> int:
        """Writes fp32 weights (quantized here) or ready int16 words; returns saturated words."""
        dims = self._dims(self.N0, self.N0)
        saturated = 0
        for region, block in self.mem.param_regions():
            for tensor, name, span, shape in layout_tensors(block.layout, dims, block.names):
                if words is not None:
                    q = np.asarray(words[name], dtype=np.int16)
                else:
                    q, sat = es.quantize(weights[name], self.f_w)
                    saturated += sat
                if q.size != span.stop - span.start:
                    raise ValueError(
                        f"weights.{name}: {q.size} values, the engine layout {block.layout}.{tensor} needs {shape}"
                    )
                region.array[span] = q.reshape(-1)
        return saturated

    def copy_weights(self, source: EngineDriver) -> None:
        """The weight words `source` holds (same config, another lane): a copy, not a second quantize."""
        if source.cfg != self.cfg:
            raise ValueError("copy_weights: the source driver has another model config")
        for (mine, _), (theirs, _) in zip(self.mem.param_regions(), source.mem.param_regions()):
            mine.array[:] = theirs.array

    def _read_grads(self, op: str, index: int, n: int, fr: dict[str, int], grads: dict[str, np.ndarray]) -> None:
        """The weight gradients one backward op wrote at gw_off (not while accumulating: the engine
        sums those, read once per step)."""
        if self._accumulating:
            return
        block = self._param_blocks[(op, index)]
        unpack_params(self.mem.g_w.array, block.layout, self._dims(n, n), block.names, fr, self._shapes, grads)

    # ---------------------------------------------------------------------------------------
    # one call
    def _call(self, op: str, **regs) -> OpRecord:
        """Writes exactly the registers the op declares (engine_spec.json ops.<op>.regs) and runs it."""
        regs["stats_off"] = self.mem.x_stats.offset
        declared = es.op(op)["regs"]
        missing = [r for r in declared if r not in regs]
        if missing:
            raise RuntimeError(f"driver bug: {op} declares registers {missing} the driver did not set")
        c = self.be.call_checked(op, **{r: regs[r] for r in declared})  # EngineError names the status
        rec = OpRecord.from_counters(op, c)
        self.counters.add(rec, keep=self.record_ops)
        return rec

    def _stats(self, op: str) -> dict[str, tuple[int, int]]:
        return self.be.read_stats(op, self.mem.x_stats)

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
        self.mem.x_fracs.array[: used.size] = used
        if "gacc_off" in es.op(op)["regs"]:
            regs["gacc_off"] = 0
            regs.setdefault("flags", 0)
            if self._accumulating:
                regs.update(self._gacc_regs(op, index, rel, used.size, regs.get("flags", 0)))
        self._call(op, fracs_off=self.mem.x_fracs.offset, **regs)
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

    @property
    def step_images(self) -> int:
        """Images whose weight gradients were accumulated since begin_grad_step."""
        return self._gacc_images

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
        self.mem.x_fracs.array[count : 2 * count] = self._gacc_fracs[key]
        acc_flags = es.flag("GRAD_ACCUMULATE") | (es.flag("GRAD_CLEAR") if clear else 0)
        return {"flags": int(flags) | acc_flags, "gacc_off": self._gacc[key].offset}

    def _read_gacc_stats(self, op: str) -> None:
        names = es.op_tensors(op)
        values = np.asarray(self.mem.x_stats.array[2 * len(names) : 4 * len(names)]).reshape(-1, 2)
        self.gacc_saturations += int(values[:, 1].sum())

    def read_accumulated_grads(self) -> dict[str, np.ndarray]:
        """The step's summed weight gradients (float64, by timm name): one read of the int32
        accumulators per parameter, dequantized at their accumulator fracs."""
        if not self._gacc_fracs:
            raise RuntimeError("read_accumulated_grads: no backward(accumulate=True) since begin_grad_step")
        dims = self._dims(self.N0, self.N0)
        grads: dict[str, np.ndarray] = {}
        for key, block in self._param_blocks.items():
            fracs = dict(zip(es.op_tensors(block.backward_op), self._gacc_fracs[key]))
            words = self._gacc[key].array
            unpack_params(words, block.layout, dims, block.names, fracs, self._shapes, grads, dtype=np.float64)
        return grads

    # ---------------------------------------------------------------------------------------
    # forward
    @staticmethod
    def _csr(n: int, keys: np.ndarray) -> np.ndarray:
        """Checked CSR key lists of n tokens (row_ptr[n + 1] then the entries): the [CLS] row dense,
        the patch rows as given. Built once per selection, written for every block that uses it."""
        if keys.shape[0] != n - 1:
            raise ValueError(f"keys: {keys.shape[0]} query rows for {n} tokens (expected {n - 1})")
        if keys.shape[1] > es.limit("max_keys"):
            raise EngineLimitError(f"keys per query = {keys.shape[1]} exceeds max_keys = {es.limit('max_keys')}")
        if keys.size and (keys.min() < 0 or keys.max() >= n):
            raise ValueError(f"keys: positions must lie in [0, {n})")
        if np.any(keys[:, 0] != 0) or np.any(np.diff(keys, axis=1) <= 0):
            raise ValueError("keys: every row must start with [CLS] (0) and be strictly ascending")
        row_ptr = np.concatenate([[0, n], n + np.arange(1, n) * keys.shape[1]])
        return np.concatenate([row_ptr, np.arange(n), keys.reshape(-1)]).astype(np.int32)

    def _write_keys(self, i: int, n: int, csr: np.ndarray) -> int:
        """Block i's key lists into aux; returns the entries (Z)."""
        self.mem.x_keys[i].array[: csr.size] = csr
        return csr.size - (n + 1)

    def _attn_rows(self, i: int, n: int, z: int, keys: np.ndarray | None) -> np.ndarray:
        """Head-averaged attention of block i as a dense [n, n] float map (zeros off the lists)."""
        vals = es.dequantize(self.mem.a_attn_avg[i].array[:z], self.f_prob).astype(np.float64)
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
        self.mem.a_patches.array[:] = q.reshape(-1)
        return sat

    # the registers a layer's forward and backward share: its shape and where its block lives
    def _patch_regs(self) -> dict[str, int]:
        return dict(n_tokens=self.N0, dim=self.D, in_dim=self.I, x_off=self.mem.a_patches.offset)

    def _attn_regs(self, i: int, n: int, sparse: bool) -> dict[str, int]:
        m = self.mem
        return dict(
            flags=es.flag("SPARSE") if sparse else 0,
            n_tokens=n,
            dim=self.D,
            heads=self.H,
            x_off=m.a_x[i].offset,
            w_off=m.w_attn[i].offset,
            save_off=m.a_attn_save[i].offset,
            keys_off=m.x_keys[i].offset,
        )

    def _mlp_regs(self, i: int, n: int, k: int, gather: bool) -> dict[str, int]:
        m = self.mem
        return dict(
            flags=es.flag("GATHER") if gather else 0,
            n_tokens=n,
            n_keep=k,
            dim=self.D,
            mlp_dim=self.M,
            w_off=m.w_mlp[i].offset,
            save_off=m.a_mlp_save[i].offset,
            keep_off=m.x_keep[i].offset,
        )

    def _head_regs(self, n: int) -> dict[str, int]:
        m = self.mem
        return dict(
            n_tokens=n,
            dim=self.D,
            out_dim=self.C,
            x_off=m.a_x[self.depth].offset,
            w_off=m.w_head.offset,
            save_off=m.a_head_save.offset,
        )

    def forward(
        self,
        patches: np.ndarray,
        select: Callable[[int, np.ndarray], tuple[np.ndarray, np.ndarray | None]] | None = None,
        selector_blocks: Sequence[int] = (),
        dense_selectors: bool = False,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Runs the forward pass. `select(stage, attn_avg[n, n])` -> (keep positions, keys|None)
        is called after the attention of each selector block, which attends over the previous
        selector's key lists unless `dense_selectors`. Returns (logits, last attention map)."""
        m = self.mem
        sat_in = self.load_patches(patches)
        n = self.N0
        self._call("PATCH_EMBED_FWD", **self._patch_regs(), y_off=m.a_x[0].offset, w_off=m.w_patch.offset)
        keys = None
        csr = csr_keys = None  # the checked CSR form of `keys`
        attn = None
        for i in range(self.depth):
            blk = self._blocks[i]
            is_selector = select is not None and i in selector_blocks
            if is_selector and dense_selectors:
                keys = None  # by default a selector block attends over the previous lists too
            if keys is not None and (csr is None or csr_keys is not keys):
                csr, csr_keys = self._csr(n, keys), keys
            z = n * n if keys is None else self._write_keys(i, n, csr)
            regs = self._attn_regs(i, n, keys is not None)
            self._call("ATTN_FWD", **regs, y_off=m.a_y[i].offset, attn_off=m.a_attn_avg[i].offset)
            blk.n, blk.keys, blk.csr = n, keys, csr if keys is not None else None
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
                    m.x_keep[i].array[: keep.size] = keep
                    k, gather = int(keep.size), True
            blk.k, blk.gather = k, gather
            regs = self._mlp_regs(i, n, k, gather)
            self._call("MLP_FWD", **regs, x_off=m.a_y[i].offset, y_off=m.a_x[i + 1].offset)
            n = k
        self._n_last = n
        self._call("HEAD_FWD", **self._head_regs(n), y_off=m.a_logits.offset)
        logits = es.dequantize(m.a_logits.array, self.f_act).astype(np.float64)
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

    def _grad_step(self, op: str, index: int, n: int, f: int, grads: dict, **regs: int) -> int:
        """One backward op of the chain: d_out and d_in in the two activation-gradient buffers (swapped
        after the op: its d_in is the next op's d_out), weight gradients at g_w, scratch at g_s (each
        only if the op declares it; _call writes declared registers only); reads the weight
        gradients; returns the frac of d_in."""
        m = self.mem
        d_out, d_in = self._d_bufs
        grd = dict(gy_off=d_out.offset, gx_off=d_in.offset, gw_off=m.g_w.offset, gs_off=m.g_s.offset)
        fr, f_in = self._backward_call(op, index, f, **grd, **regs)
        self._read_grads(op, index, n, fr, grads)
        self._d_bufs = (d_in, d_out)
        return f_in

    def _backward_ops(self, dlogits: np.ndarray, grads: dict) -> None:
        m, n = self.mem, self._n_last
        f = self._f_logits = self._grad_frac_for(dlogits)
        q, _ = es.quantize(dlogits, f)
        self._d_bufs = (m.g_a, m.g_b)  # d_out, d_in of the first op (HEAD_BWD)
        m.g_a.array[: self.C] = q
        f = self._grad_step("HEAD_BWD", 0, n, f, grads, **self._head_regs(n))
        for i in reversed(range(self.depth)):
            blk = self._blocks[i]
            regs = self._mlp_regs(i, blk.n, blk.k, blk.gather)
            f = self._grad_step("MLP_BWD", i, blk.n, f, grads, **regs)
            if blk.csr is not None:  # the forward's CSR lists are still in place, rewrite anyway
                self._write_keys(i, blk.n, blk.csr)
            regs = self._attn_regs(i, blk.n, blk.keys is not None)
            f = self._grad_step("ATTN_BWD", i, blk.n, f, grads, **regs)
        self._grad_step("PATCH_EMBED_BWD", 0, self.N0, f, grads, **self._patch_regs())
