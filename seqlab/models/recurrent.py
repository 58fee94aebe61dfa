r"""Recurrent networks: Elman RNN (1990), LSTM (1997), GRU (2014), on PyTorch's fused kernels.

One weight set is applied at every step, so any length can be read, but step t must wait for
step t-1: O(n·d²) time with no parallelism over time. The cells, with a_t = W_ih x_t + b_ih and
b_t = W_hh h_{t-1} + b_hh split into PyTorch's gate chunks:

    Elman:  h_t = tanh(a_t + b_t)                                  (relu for the IRNN)
    LSTM:   i, f, g, o = σ, σ, tanh, σ (a_t + b_t);   C_t = f ⊙ C_{t-1} + i ⊙ g;   h_t = o ⊙ tanh(C_t)
    GRU:    r, z = σ(a_r + b_r), σ(a_z + b_z);   n = tanh(a_n + r ⊙ b_n);   h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}

Training runs the fused kernel; ``cell`` writes each equation out and ``unrolled`` loops it over time
with the same weights — the trace the diagnostics read (every h_t and gate) and the graph the
complexity tracer walks, tested to agree with the kernel. Backpropagation through time multiplies
one Jacobian per step, ∂h_t/∂h_{t-1}; for the tanh RNN its norm is usually < 1, so ‖∂L/∂x_t‖
shrinks geometrically with the distance to the loss (Bengio, Simard & Frasconi 1994) — the
vanishing gradient the grad-by-time panel shows. The LSTM's additive cell update
C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t gives the gradient a path that is only scaled by f_t.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..errors import ConfigError
from ..tasks.base import Batch
from .base import (
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


def recurrent_flops(
    batch: int, steps: int, hidden: int, gates: int, inputs: Sequence[int], directions: int = 1, zero_start: bool = True
) -> float:
    """Forward + backward FLOPs of a stack of recurrent layers (``inputs``: each layer's input width) run
    for ``steps`` steps: per step, layer and direction, ``gates`` matrix products of (d_in + H) × H at
    2 FLOPs per multiply-add; backward computes gradients for both inputs and weights (twice the
    forward), except that no gradient flows into a zero initial state (``zero_start``)."""
    forward = sum(2 * batch * steps * gates * hidden * (d + hidden) * directions for d in inputs)
    start = len(inputs) * directions * 2 * batch * gates * hidden * hidden if zero_start else 0
    return 3.0 * forward - start


class _Zeros(torch.autograd.Function):
    """Stands in for a recurrent module whose FLOPs a formula counts: zeros of its output's shape in
    forward, zeros for its input in backward, so everything around it runs (and is counted) as usual."""

    @staticmethod
    def forward(ctx, x, width: int):
        ctx.shape = x.shape
        return x.new_zeros(*x.shape[:-1], width)

    @staticmethod
    def backward(ctx, grad):
        return grad.new_zeros(ctx.shape), None


class _ZerosModule(nn.Module):
    def __init__(self, inner: nn.RNNBase):
        super().__init__()
        self.width = inner.hidden_size * (2 if inner.bidirectional else 1)

    def forward(self, x):
        return _Zeros.apply(x, self.width), None


_RECURRENT_COST = dict(
    time=Cost(1, 2, "O(n·d²)"),
    space=Cost(0, 1, "O(d)"),
    train_memory=Cost(1, 1, "O(n·d)"),
    parallel="none",
)


class Recurrent(SeqModel):
    """Shared body: encoder → fused recurrent stack → head. Subclasses choose the module and write its
    ``cell``."""

    module: ClassVar[type[nn.RNNBase]]
    capabilities = Capabilities(causal=True, cell_trace=True)
    # measured here: LSTM solves adding (T=100) and copy (delay 20) fastest near 5e-3 with clip 1.0
    default_lr = 5e-3
    gates: ClassVar[int]  # chunks stacked in weight_hh (1 RNN, 3 GRU, 4 LSTM)
    _stepwise = False

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
        h = self.unrolled(x_t)[0] if self._stepwise else self.rnn(x_t)[0]  # (B, T, H)
        return ModelOutput(self.head(h), x_t)

    # -- the cell, step by step ------------------------------------------------------------------------
    def cell(self, a: torch.Tensor, b: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        """One step: a = W_ih x_t + b_ih, b = W_hh h_{t-1} + b_hh, the previous h and cell state c (B, H)
        → (h_t, c_t, gate activations by name)."""
        raise NotImplementedError

    def unrolled(self, x_t: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], dict[str, list[torch.Tensor]]]:
        """The fused module's forward as an explicit loop of ``cell``: the last layer's outputs (B, T, H),
        its h_t (each (B, H)) and its gate activations per step."""
        inp, hs, gates = x_t, [], {}
        for layer, (w_ih, w_hh, b_ih, b_hh) in enumerate(self.rnn.all_weights):
            h = x_t.new_zeros(x_t.shape[0], self.cfg.hidden)
            c = torch.zeros_like(h)
            outs, last = [], layer == self.cfg.layers - 1
            for x in inp.unbind(1):  # (B, E): never x[:, t], which makes backward O(T²)
                h, c, named = self.cell(F.linear(x, w_ih, b_ih), F.linear(h, w_hh, b_hh), h, c)
                if last:
                    hs.append(h)
                    for k, v in named.items():
                        gates.setdefault(k, []).append(v.detach())
                outs.append(h)
            inp = torch.stack(outs, 1)  # (B, T, H)
        return inp, hs, gates

    def cell_trace(self, batch: Batch) -> CellTrace:
        out, hs, gates = self.unrolled(self.encoder(batch.x))
        return CellTrace(self.head(out), hs, gates)

    @contextlib.contextmanager
    def reference_mode(self):
        """Within: the forward runs ``unrolled``, so the graph shows the n steps the fused kernel hides."""
        self._stepwise = True
        try:
            yield
        finally:
            self._stepwise = False

    # -- costs ---------------------------------------------------------------------------------------------
    def uncounted_flops(self, batch_size: int) -> float:
        """What the FLOP counter cannot see: the recurrent kernel, if it is fused (``counter_misses``)."""
        if not counter_misses(type(self.rnn), self.rnn.weight_hh_l0.device.type):
            return 0.0
        return self.kernel_flops(batch_size)

    def kernel_flops(self, batch_size: int) -> float:
        """The recurrent kernel, forward + backward (``recurrent_flops``; it starts from a zero state)."""
        H = self.cfg.hidden
        return recurrent_flops(
            batch_size, self.spec.length, H, self.gates, [self.encoder.dim] + [H] * (self.cfg.layers - 1)
        )

    @contextlib.contextmanager
    def formula_counted(self, batch_size: int):
        """The kernel does not run: zeros stand in and ``kernel_flops`` counts it — RNN and GRU on CPU run as
        thousands of small matrix products, each a trip through Python under a dispatch mode (seconds at
        n = 2048), and the LSTM's fused kernel is invisible to the counter anyway."""
        rnn = self.rnn
        self.rnn = _ZerosModule(rnn)
        try:
            yield self.kernel_flops(batch_size)
        finally:
            self.rnn = rnn

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

    def cell(self, a, b, h, c):
        """h_t = tanh(a_t + b_t), or relu (IRNN)."""
        act = torch.tanh if self.opts.nonlinearity == "tanh" else torch.relu
        return act(a + b), c, {}

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

    def cell(self, a, b, h, c):
        """i, f, g, o = σ, σ, tanh, σ of a_t + b_t (PyTorch's gate order: input, forget, cell, output);
        C_t = f ⊙ C_{t-1} + i ⊙ g,  h_t = o ⊙ tanh(C_t)."""
        i, f, g, o = (a + b).chunk(4, 1)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        c = f * c + i * g
        return o * c.tanh(), c, {"input": i, "forget": f, "output": o}

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

    def cell(self, a, b, h, c):
        """r, z = σ(a_r + b_r), σ(a_z + b_z);  n = tanh(a_n + r ⊙ b_n);  h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}
        (PyTorch's chunk order: reset, update, new)."""
        ar, az, an = a.chunk(3, 1)
        br, bz, bn = b.chunk(3, 1)
        r, z = (ar + br).sigmoid(), (az + bz).sigmoid()
        n = (an + r * bn).tanh()
        return (1 - z) * n + z * h, c, {"reset": r, "update": z}
