r"""Recurrent networks: Elman RNN (1990), LSTM (1997), GRU (2014), on PyTorch's fused kernels.

One weight set is applied at every step, so any length can be read, but step t must wait for
step t-1: O(n·d²) time with no parallelism over time. Backpropagation through time multiplies
one Jacobian per step, ∂h_t/∂h_{t-1}; for the tanh RNN its norm is usually < 1, so ‖∂L/∂x_t‖
shrinks geometrically with the distance to the loss (Bengio, Simard & Frasconi 1994) — the
vanishing gradient the grad-by-time panel shows. The LSTM's additive cell update
C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t gives the gradient a path that is only scaled by f_t.
"""

from __future__ import annotations

import functools
from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..errors import ConfigError
from ..tasks.base import Batch
from .base import Cost, InputEncoder, ModelInfo, ModelOptions, ModelOutput, SeqModel, SequenceHead
from .noise import global_rng


@functools.cache
def counter_misses(kind: type[nn.RNNBase], device: str = "cpu") -> bool:
    """True when torch's FLOP counter cannot see ``kind``'s kernel on ``device`` (probed once). On CPU in
    torch 2.13 only the LSTM runs as one fused oneDNN kernel; RNN and GRU run as ordinary matrix
    products the counter sees, so adding a formula for them would count them twice."""
    with global_rng(0):  # may run beside a model build (models/noise.py)
        module = kind(4, 4, batch_first=True).to(device)
        x = torch.randn(1, 2, 4, device=device, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        module(x)[0].sum().backward()
    return counter.get_total_flops() == 0


_RECURRENT_COST = dict(
    time=Cost(1, 2, "O(n·d²)"),
    space=Cost(0, 1, "O(d)"),
    train_memory=Cost(1, 1, "O(n·d)"),
    parallel="none",
)


class Recurrent(SeqModel):
    """Shared body: encoder → fused recurrent stack → head. Subclasses choose the module."""

    module: ClassVar[type[nn.RNNBase]]
    # measured here: LSTM solves adding (T=100) and copy (delay 20) fastest near 5e-3 with clip 1.0
    default_lr = 5e-3
    gates: ClassVar[int]  # chunks stacked in weight_hh (1 RNN, 3 GRU, 4 LSTM)

    def __init__(self, cfg, spec):
        super().__init__(cfg, spec)
        self.encoder = InputEncoder(spec, cfg.embed_dim or cfg.hidden)
        self.rnn = self.make_module(self.encoder.dim, cfg.hidden, cfg.layers)
        self.head = SequenceHead(spec, cfg.hidden)
        self.initialise(cfg.init)

    def make_module(self, d_in: int, hidden: int, layers: int) -> nn.RNNBase:
        return self.module(d_in, hidden, layers, batch_first=True)

    def forward(self, batch: Batch) -> ModelOutput:
        x_t = self.encoder(batch.x)  # (B, T, E)
        h, _ = self.rnn(x_t)  # (B, T, H)
        return ModelOutput(self.head(h), x_t)

    def uncounted_flops(self, batch_size: int) -> float:
        """What the FLOP counter cannot see: the recurrent kernel, if it is fused (``counter_misses``)."""
        if not counter_misses(type(self.rnn), self.rnn.weight_hh_l0.device.type):
            return 0.0
        return self.kernel_flops(batch_size)

    def kernel_flops(self, batch_size: int) -> float:
        """The recurrent kernel, forward + backward: per step and layer, ``gates`` matrix products of
        (d_in + H) × H at 2 FLOPs per multiply-add; backward computes gradients for both inputs and
        weights (twice the forward), except that no gradient flows into the zero initial state."""
        T, H, B, g = self.spec.length, self.cfg.hidden, batch_size, self.gates
        d_in = [self.encoder.dim] + [H] * (self.cfg.layers - 1)
        forward = sum(2 * B * T * g * H * (d + H) for d in d_in)
        return 3.0 * forward - self.cfg.layers * 2 * B * g * H * H

    def recurrent_weights(self):
        for name, p in self.rnn.named_parameters():
            if name.startswith("weight_hh"):
                yield p

    def initialise(self, scheme: str) -> None:
        if scheme == "orthogonal":
            # one orthogonal matrix per gate, so each gate's Jacobian starts norm-preserving
            # (Saxe, McClelland & Ganguli 2014)
            with torch.no_grad():
                for w in self.recurrent_weights():
                    for chunk in w.chunk(self.gates, 0):
                        nn.init.orthogonal_(chunk)
                for name, p in self.rnn.named_parameters():
                    if name.startswith("bias"):
                        p.zero_()


class RNNOptions(ModelOptions):
    nonlinearity: Literal["tanh", "relu"] = Field("tanh", description="h_t = σ(…): tanh (Elman) or relu (IRNN)")


class ElmanRNN(Recurrent):
    info = ModelInfo(
        title="Elman RNN",
        year=1990,
        paper="Elman (1990), Finding Structure in Time, Cognitive Science 14(2)",
        summary="A hidden state carried from step to step; one weight set for every position.",
        equation=r"h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b)",
        **_RECURRENT_COST,
    )
    Options = RNNOptions
    module = nn.RNN
    gates = 1
    inits = ("default", "orthogonal", "identity")
    activation_factor = 2.5  # measured (StepCounter): h_t and its pre-activation, plus temporaries

    def make_module(self, d_in, hidden, layers):
        return nn.RNN(d_in, hidden, layers, nonlinearity=self.opts.nonlinearity, batch_first=True)

    @classmethod
    def resolve_init(cls, init, options):
        init = super().resolve_init(init, options)
        if init == "identity" and options.get("nonlinearity") != "relu":
            raise ConfigError(
                "init 'identity' is the IRNN recipe of Le, Jaitly & Hinton (2015) and needs --nonlinearity relu",
                "model.init",
            )
        return init

    def initialise(self, scheme):
        super().initialise(scheme)
        if scheme == "identity":
            # IRNN: W_hh = I and zero biases, so the state is copied forward at initialisation
            with torch.no_grad():
                for w in self.recurrent_weights():
                    w.copy_(torch.eye(w.shape[0]))
                for name, p in self.rnn.named_parameters():
                    if name.startswith("bias"):
                        p.zero_()


class LSTMOptions(ModelOptions):
    # 1.0 following Gers, Schmidhuber & Cummins (2000) and Jozefowicz, Zaremba & Sutskever (2015)
    forget_bias: float = Field(1.0, ge=-10, le=10, description="forget-gate bias for init 'forget_bias'")


class LSTM(Recurrent):
    info = ModelInfo(
        title="LSTM",
        year=1997,
        paper="Hochreiter & Schmidhuber (1997), Long Short-Term Memory, Neural Computation 9(8)",
        summary="A gated cell state updated additively, so gradients can flow across long gaps.",
        equation=(
            r"\begin{aligned} f_t, i_t, o_t &= \sigma(W_{\{f,i,o\}}[h_{t-1}, x_t] + b) \\ "
            r"\tilde{C}_t &= \tanh(W_C[h_{t-1}, x_t] + b_C) \\ "
            r"C_t &= f_t \odot C_{t-1} + i_t \odot \tilde{C}_t \\ h_t &= o_t \odot \tanh(C_t) \end{aligned}"
        ),
        **_RECURRENT_COST,
    )
    Options = LSTMOptions
    module = nn.LSTM
    gates = 4
    inits = ("default", "orthogonal", "forget_bias")
    default_init = "forget_bias"
    # measured: torch's fused LSTM keeps its four gates, c_t and h_t per step, with workspace (~17 floats)
    activation_factor = 20.0
    eval_activation_fraction = 0.25  # without autograd the fused kernel keeps only its output
    backward_weight_copies = 0.5  # measured 0.1: the fused kernel sums weight gradients in place

    def initialise(self, scheme):
        super().initialise(scheme)
        if scheme == "forget_bias":
            H = self.cfg.hidden
            with torch.no_grad():  # PyTorch gate order: input, forget, cell, output
                for name, p in self.rnn.named_parameters():
                    if name.startswith("bias_ih"):
                        p.zero_()
                        p[H : 2 * H] = self.opts.forget_bias
                    elif name.startswith("bias_hh"):
                        p.zero_()


class GRU(Recurrent):
    info = ModelInfo(
        title="GRU",
        year=2014,
        paper="Cho et al. (2014), Learning Phrase Representations using RNN Encoder–Decoder, EMNLP",
        summary="Two gates instead of three and no separate cell: often LSTM's accuracy with fewer parameters.",
        equation=(
            r"\begin{aligned} z_t &= \sigma(W_z[h_{t-1}, x_t]), \quad r_t = \sigma(W_r[h_{t-1}, x_t]) \\ "
            r"\tilde{h}_t &= \tanh(W[r_t \odot h_{t-1}, x_t]) \\ "
            r"h_t &= (1 - z_t) \odot h_{t-1} + z_t \odot \tilde{h}_t \end{aligned}"
        ),
        **_RECURRENT_COST,
    )
    module = nn.GRU
    gates = 3
    inits = ("default", "orthogonal")
    activation_factor = 12.0  # measured: ~10 floats per step (three gates, candidate, h_t, workspace)
    eval_activation_fraction = 0.6
