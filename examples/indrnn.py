r"""IndRNN (Li, Li, Cook, Zhu & Gao 2018) as a seqlab plugin: ``python -m seqlab --plugin examples/indrnn.py list``.

Each hidden unit has its own recurrent weight instead of a full matrix:

    h_t = relu(W x_t + u ⊙ h_{t-1} + b)

so the units do not mix across time, only across layers. ∂h_t/∂h_{t-1} is the diagonal diag(u ⊙ relu'),
and the gradient reaching k steps back is scaled by u^k per unit; keeping |u| ≤ ``recurrent_max``
(the paper's clip, here ≤ 1) lets it neither explode nor — for u near 1 — vanish on long sequences.

This file is the whole integration: the class below declares what it is (``info``), what it can train on
(the defaults of ``SeqModel``: any input, labels, numbers or tokens) and what it can show
(``capabilities``: it is causal and can trace its cell, so the Recurrent page draws ‖∂L/∂h_t‖ for it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from seqlab.models.base import (
    Capabilities,
    CellTrace,
    Cost,
    InputEncoder,
    ModelInfo,
    ModelOptions,
    ModelOutput,
    SeqModel,
    SequenceHead,
)
from seqlab.tasks.base import Batch


class IndRNNOptions(ModelOptions):
    # Li et al. 2018, §3.1: |u| is clipped so the gradient over T steps stays bounded; 1 keeps it ≤ 1 per step
    recurrent_max: float = Field(1.0, gt=0, le=2, description="IndRNN: clip |u| to this (≤ 1 cannot explode)")


class IndRNN(SeqModel):
    name = "indrnn"
    info = ModelInfo(
        title="IndRNN",
        year=2018,
        paper="Li, Li, Cook, Zhu & Gao, Independently Recurrent Neural Network (IndRNN), CVPR 2018",
        summary="an RNN whose units each keep their own scalar recurrence, so the gradient over time is per unit",
        equation=r"h_t = \mathrm{relu}(W x_t + u \odot h_{t-1} + b)",
        time=Cost(1, 2, "O(n·d²)"),  # W x_t dominates; the recurrence itself is O(n·d)
        space=Cost(0, 1, "O(d)"),
        train_memory=Cost(1, 1, "O(n·d)"),
        parallel="none",
        url="https://arxiv.org/abs/1803.04831",
    )
    Options = IndRNNOptions
    capabilities = Capabilities(causal=True, cell_trace=True)
    default_lr = 3e-3

    def __init__(self, cfg, spec):
        super().__init__(cfg, spec)
        self.encoder = InputEncoder(spec, cfg.embed_dim or cfg.hidden)
        widths = [self.encoder.dim] + [cfg.hidden] * cfg.layers
        self.W = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:], strict=False))
        # u ~ U(0, 1): every unit starts somewhere between forgetting at once and holding its value
        self.u = nn.ParameterList(nn.Parameter(torch.rand(cfg.hidden)) for _ in range(cfg.layers))
        self.head = SequenceHead(spec, cfg.hidden)

    def layer(self, x: torch.Tensor, i: int) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Layer ``i`` over the sequence x (B, T, D_in): its outputs (B, T, H), every h_t and relu's on/off."""
        a = self.W[i](x)  # (B, T, H): the input part for all steps in one product
        u = self.u[i].clamp(-self.opts.recurrent_max, self.opts.recurrent_max)  # (H,)
        h = a.new_zeros(a.shape[0], a.shape[2])  # (B, H)
        hs, on = [], []
        for a_t in a.unbind(1):  # (B, H); unbind, not a[:, t], keeps backward linear in T
            pre = a_t + u * h
            h = F.relu(pre)
            hs.append(h)
            on.append((pre > 0).float())
        return torch.stack(hs, 1), hs, on

    def unrolled(self, x_t: torch.Tensor):
        hs, on = [], []
        for i in range(len(self.W)):
            x_t, hs, on = self.layer(x_t, i)
        return x_t, hs, on  # the last layer's h_t and relu states

    def forward(self, batch: Batch) -> ModelOutput:
        x_t = self.encoder(batch.x)  # (B, T, E)
        return ModelOutput(self.head(self.unrolled(x_t)[0]), x_t)

    def cell_trace(self, batch: Batch) -> CellTrace:
        out, hs, on = self.unrolled(self.encoder(batch.x))
        # relu's on/off pattern stands where an LSTM shows its gates: a unit at 0 passes no gradient back
        return CellTrace(self.head(out), hs, {"relu on": [o.detach() for o in on]})
