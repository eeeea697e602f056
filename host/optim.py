"""AdamW on fp32 master weights (numpy), the optimizer the host runs on the board's ARM.

Same update as torch.optim.AdamW: decoupled weight decay, bias-corrected moments. As in timm's
DeiT recipe, biases, LayerNorm parameters, cls_token and pos_embed get no weight decay.
"""

from __future__ import annotations

import numpy as np


def decays(name: str, shape: tuple) -> bool:
    return len(shape) > 1 and name not in ("cls_token", "pos_embed")


def clip_grad_norm(grads: dict[str, np.ndarray], max_norm: float) -> float:
    """Scale `grads` in place so that their global L2 norm is at most `max_norm`, as
    torch.nn.utils.clip_grad_norm_ (timm's --clip-grad, mode norm); returns the norm before clipping."""
    total = float(np.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads.values())))
    scale = max_norm / (total + 1e-6)  # torch's epsilon
    if scale < 1.0:
        for g in grads.values():
            g *= np.float32(scale)
    return total


class AdamW:
    def __init__(
        self,
        params: dict[str, np.ndarray],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.05,
    ):
        if lr <= 0:
            raise ValueError(f"lr: must be positive, got {lr!r}")
        self.params = params  # updated in place
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.step_count = 0
        self.m = {k: np.zeros_like(v, dtype=np.float32) for k, v in params.items()}
        self.v = {k: np.zeros_like(v, dtype=np.float32) for k, v in params.items()}

    def step(self, grads: dict[str, np.ndarray], lr: float | None = None) -> None:
        lr = self.lr if lr is None else lr
        self.step_count += 1
        b1, b2 = self.betas
        c1, c2 = 1.0 - b1**self.step_count, 1.0 - b2**self.step_count
        for name, p in self.params.items():
            g = np.asarray(grads[name], dtype=np.float32)
            if decays(name, p.shape):
                p *= np.float32(1.0 - lr * self.weight_decay)
            self.m[name] = b1 * self.m[name] + (1 - b1) * g
            self.v[name] = b2 * self.v[name] + (1 - b2) * g * g
            p -= np.float32(lr) * (self.m[name] / c1) / (np.sqrt(self.v[name] / c2) + np.float32(self.eps))

    def state_dict(self) -> dict[str, np.ndarray]:
        state = {"step_count": np.int64(self.step_count)}
        state.update({"m:" + k: v for k, v in self.m.items()})
        state.update({"v:" + k: v for k, v in self.v.items()})
        return state

    def load_state_dict(self, state: dict) -> None:
        self.step_count = int(state["step_count"])
        for k in self.params:
            self.m[k] = np.asarray(state["m:" + k], dtype=np.float32).copy()
            self.v[k] = np.asarray(state["v:" + k], dtype=np.float32).copy()
