r"""Inside a recurrent cell while the fast fused kernels train.

PyTorch's fused RNN/LSTM/GRU return only the last layer's outputs; ``retain_grad()`` on those gives
the gradient through the output head alone, not the full ∂L/∂h_t (which also flows back through
h_{t+1}, h_{t+2}, …). The probe asks the model for its cell trace (``SeqModel.cell_trace``: the same
weights as an explicit loop over time, every h_t kept) and backpropagates the same loss:

    ∂L/∂h_t = ∂L/∂y_t · ∂y_t/∂h_t + ∂L/∂h_{t+1} · ∂h_{t+1}/∂h_t      (all of it, per time step)

It also records the gates the trace names (LSTM: input, forget, output; GRU: reset, update) — their
mean and how often they saturate (σ < 0.05 or > 0.95), which is where gradients stop flowing. It
runs on a few fixed held-out sequences every ``every`` steps, so its cost is a small fraction of
training.
"""

from __future__ import annotations

import threading

import torch

from ..models.base import SeqModel
from ..tasks.base import Batch
from ..train.observers import Observer

SATURATED = 0.05  # a sigmoid gate below 0.05 or above 0.95 passes (almost) no gradient


def hidden_grads(model: SeqModel, task, batch: Batch) -> dict:
    """‖∂L/∂h_t‖ per time step (mean over the batch) and gate statistics, from the model's cell trace."""
    was_training = model.training
    model.eval()  # no dropout: the probe must see the same function as training
    try:
        with torch.enable_grad():
            trace = model.cell_trace(batch)
            grads = torch.autograd.grad(task.loss(trace.pred, batch), trace.h)
    finally:
        model.train(was_training)
    stats = {}
    for k, v in trace.gates.items():
        g = torch.stack(v, 1)  # (B, T, H)
        stats[k] = {
            "mean": g.mean((0, 2)).tolist(),
            "saturated": ((g < SATURATED) | (g > 1 - SATURATED)).float().mean((0, 2)).tolist(),
        }
    return {"dL_dh": [g.norm(dim=-1).mean().item() for g in grads], "gates": stats}


class HiddenGradProbe(Observer):
    """Every ``every`` logged steps: exact ‖∂L/∂h_t‖ and gate statistics on ``examples`` held-out sequences."""

    name = "hidden"

    def __init__(self, every: int = 50, examples: int = 4):
        self.every, self.examples = every, examples
        self.records: list[dict] = []
        self._lock = threading.Lock()

    def on_start(self, trainer) -> None:
        self.trainer = trainer
        self.active = trainer.model.capabilities.cell_trace
        eb = trainer.eval_batch
        self.batch = Batch(eb.x[: self.examples], eb.y[: self.examples])

    def on_step(self, record) -> None:
        if not self.active or record.step % self.every:
            return
        rec = {"step": record.step, **hidden_grads(self.trainer.model, self.trainer.task, self.batch)}
        with self._lock:
            self.records.append(rec)

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.records)


class ParamGradNorms(Observer):
    """Gradient norm of every parameter tensor (before clipping), every ``every`` logged steps."""

    name = "params"

    def __init__(self, every: int = 10):
        self.every = every
        self.rows: list[dict] = []
        self._lock = threading.Lock()

    def on_start(self, trainer) -> None:
        self.named = [(n, p) for n, p in trainer.model.named_parameters() if p.requires_grad]
        self.max_norm = trainer.max_norm

    def on_step(self, record) -> None:
        if record.step % self.every:
            return
        # the engine has clipped the gradients in place by now; undo clip_grad_norm_'s scale to read them as computed
        scale = min(1.0, self.max_norm / (record.grad_norm + 1e-6))
        rows = [
            {"step": record.step, "param": n, "norm": p.grad.norm().item() / scale}
            for n, p in self.named
            if p.grad is not None
        ]
        with self._lock:
            self.rows.extend(rows)

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.rows)
