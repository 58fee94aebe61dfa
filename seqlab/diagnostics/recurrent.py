r"""Inside a recurrent cell while the fast fused kernels train.

PyTorch's fused RNN/LSTM/GRU return only the last layer's outputs; ``retain_grad()`` on those gives
the gradient through the output head alone, not the full ∂L/∂h_t (which also flows back through
h_{t+1}, h_{t+2}, …). The probe re-runs the same weights as an explicit loop over time (one step per
``unbind`` slice), keeps every h_t, and backpropagates the same loss:

    ∂L/∂h_t = ∂L/∂y_t · ∂y_t/∂h_t + ∂L/∂h_{t+1} · ∂h_{t+1}/∂h_t      (all of it, per time step)

It also records the gates (LSTM: input, forget, output; GRU: reset, update) — their mean and how
often they saturate (σ < 0.05 or > 0.95), which is where gradients stop flowing. It runs on a
few fixed held-out sequences every ``every`` steps, so its cost is a small fraction of training.
"""

from __future__ import annotations

import threading

import torch
import torch.nn.functional as F

from ..models.recurrent import GRU, LSTM, ElmanRNN, Recurrent
from ..tasks.base import Batch
from ..train.observers import Observer

SATURATED = 0.05  # a sigmoid gate below 0.05 or above 0.95 passes (almost) no gradient


def _cell(model: Recurrent, layer: int):
    rnn = model.rnn
    w_ih, w_hh = getattr(rnn, f"weight_ih_l{layer}"), getattr(rnn, f"weight_hh_l{layer}")
    b_ih, b_hh = getattr(rnn, f"bias_ih_l{layer}"), getattr(rnn, f"bias_hh_l{layer}")
    return w_ih, w_hh, b_ih, b_hh


def unrolled(model: Recurrent, x_t: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], dict]:
    """The fused module's forward as an explicit loop. Returns the last layer's outputs (B, T, H),
    the last layer's hidden states h_t (each (B, H), grads retained) and gate activations."""
    H = model.cfg.hidden
    inp, gates, hs = x_t, {}, []
    for layer in range(model.cfg.layers):
        w_ih, w_hh, b_ih, b_hh = _cell(model, layer)
        h = x_t.new_zeros(x_t.shape[0], H)
        c = torch.zeros_like(h)
        outs, record = [], layer == model.cfg.layers - 1
        for x in inp.unbind(1):  # (B, E): never x[:, t], which makes backward O(T²)
            gi, gh = F.linear(x, w_ih, b_ih), F.linear(h, w_hh, b_hh)
            if isinstance(model, LSTM):  # PyTorch gate order: input, forget, cell, output
                i, f, g, o = (gi + gh).chunk(4, 1)
                i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
                c = f * c + i * g
                h = o * c.tanh()
                named = {"input": i, "forget": f, "output": o}
            elif isinstance(model, GRU):  # reset, update, new
                ir, iz, in_ = gi.chunk(3, 1)
                hr, hz, hn = gh.chunk(3, 1)
                r, z = (ir + hr).sigmoid(), (iz + hz).sigmoid()
                n = (in_ + r * hn).tanh()
                h = (1 - z) * n + z * h
                named = {"reset": r, "update": z}
            else:  # Elman
                act = torch.tanh if model.opts.nonlinearity == "tanh" else torch.relu
                h = act(gi + gh)
                named = {}
            if record:
                h.retain_grad()
                hs.append(h)
                for k, v in named.items():
                    gates.setdefault(k, []).append(v.detach())
            outs.append(h)
        inp = torch.stack(outs, 1)  # (B, T, H)
    return inp, hs, gates


def hidden_grads(model: Recurrent, task, batch: Batch) -> dict:
    """‖∂L/∂h_t‖ per time step (mean over the batch) and gate statistics, from the unrolled copy."""
    was_training = model.training
    model.eval()  # no dropout: the probe must see the same function as training
    try:
        with torch.enable_grad():
            x_t = model.encoder(batch.x)
            out, hs, gates = unrolled(model, x_t)
            loss = task.loss(model.head(out), batch)
            grads = torch.autograd.grad(loss, hs)
    finally:
        model.train(was_training)
    stats = {}
    for k, v in gates.items():
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
        self.active = isinstance(trainer.model, ElmanRNN | LSTM | GRU)
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
