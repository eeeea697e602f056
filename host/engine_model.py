"""The trainer's model interface on the engine: load_weights / forward / backward per sample.

Token bookkeeping (original token ids, recorded-mask replay) and the TA-selection callback live
here; the op sequence lives in host/engine_driver.py.
"""

from __future__ import annotations

import numpy as np

from host import ta_selector
from host.engine_driver import Counters, EngineDriver
from host.ta_selector import Selection
from host.vit_float import SampleResult, patchify


class EngineViT:
    def __init__(self, driver: EngineDriver):
        self.driver = driver
        self.cfg = driver.cfg
        self.weight_saturations = 0

    def load_weights(self, weights: dict[str, np.ndarray]) -> None:
        self.weight_saturations = self.driver.write_weights(weights)

    def state_dict(self) -> dict[str, np.ndarray]:
        """The gradient exponents the driver adapted (a resumed run must continue with them)."""
        return {f"frac:{op}:{i}": t.copy() for (op, i), t in self.driver.fracs.items()}

    def load_state_dict(self, state: dict) -> None:
        self.driver.fracs = {}
        for key, table in state.items():
            _, op, i = key.split(":")
            self.driver.fracs[(op, int(i))] = np.asarray(table, dtype=np.int32).copy()

    def reset_counters(self) -> Counters:
        return self.driver.reset_counters()

    def forward(self, image: np.ndarray, selection: Selection, train: bool = True) -> SampleResult:
        ids = np.arange(self.driver.N0)
        stages = []
        before = (self.driver.counters.macs, self.driver.counters.saturations)

        def select(stage: int, attn: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
            nonlocal ids
            sel = selection.select(stage, attn, ids)
            ids = ids[sel.keep]
            stages.append((ids.copy(), None if sel.keys is None else sel.keys.copy()))
            return sel.keep, sel.keys

        active = selection.active()
        logits, attn = self.driver.forward(
            patchify(np.asarray(image), self.cfg["patch_size"]),
            select if active else None,
            selection.blocks if active else (),
            dense_selectors=selection.dense_selectors,
        )
        macs = self.driver.counters.macs - before[0]
        sats = self.driver.counters.saturations - before[1]
        return SampleResult(
            logits=logits,
            cls_attn_var=ta_selector.cls_attention_variance(attn),
            stages=stages,
            macs=macs,
            saturations=sats,
        )

    # weight gradients summed on the engine over a step (host/trainer.py uses these when present)
    def begin_grad_step(self, n_images: int) -> None:
        self.driver.begin_grad_step(n_images)

    def read_accumulated_grads(self) -> dict[str, np.ndarray]:
        return self.driver.read_accumulated_grads()

    def backward(self, result: SampleResult, dlogits: np.ndarray, accumulate: bool = False) -> dict[str, np.ndarray]:
        before = (self.driver.counters.macs, self.driver.counters.saturations)
        grads = self.driver.backward(dlogits, accumulate=accumulate)
        result.macs += self.driver.counters.macs - before[0]
        result.saturations += self.driver.counters.saturations - before[1]
        return grads
