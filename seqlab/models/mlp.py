r"""Multi-layer perceptron on the flattened sequence (Rumelhart, Hinton & Williams 1986).

    y = σ(W x + b),   x = [x_1; x_2; …; x_T]   (the whole window as one vector)

The network has a separate weight for every input position, so it is built for one length T and
cannot read any other: that refusal is the lesson that motivated recurrent networks.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import nn

from ..errors import LengthMismatchError
from ..tasks.base import Batch
from .base import Cost, InputEncoder, ModelInfo, ModelOptions, ModelOutput, SeqModel

_ACT = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


class MLPOptions(ModelOptions):
    activation: Literal["relu", "tanh", "sigmoid"] = Field("relu", description="hidden nonlinearity σ")


class MLP(SeqModel):
    info = ModelInfo(
        title="MLP + backprop",
        year=1986,
        paper="Rumelhart, Hinton & Williams (1986), Learning representations by back-propagating errors, Nature 323",
        summary="A fixed window flattened into one vector; every position has its own weights.",
        equation=r"y = \sigma(Wx + b), \quad x = [x_1; x_2; \dots; x_T]",
        time=Cost(1, 2, "O(n·d²)"),
        space=Cost(0, 2, "O(d²)"),
        train_memory=Cost(1, 1, "O(n·d)"),
        parallel="full",
    )
    Options = MLPOptions
    fixed_length = True
    activation_factor = 0.0  # the hidden layers hold B·H floats, not B·T·H
    backward_weight_copies = 0.0  # its transposed first-layer weight is in the estimate below

    def __init__(self, cfg, spec):
        super().__init__(cfg, spec)
        self.length = spec.length
        self.encoder = InputEncoder(spec, cfg.embed_dim or cfg.hidden)
        layers, width = [], self.encoder.dim * spec.length
        for _ in range(cfg.layers):
            layers += [nn.Linear(width, cfg.hidden), _ACT[self.opts.activation]()]
            width = cfg.hidden
        self.body = nn.Sequential(*layers)
        per_position = spec.output_kind == "tokens"
        self.head = nn.Linear(cfg.hidden, spec.n_outputs * (spec.length if per_position else 1))

    def forward(self, batch: Batch) -> ModelOutput:
        T = batch.x.shape[1]
        if self.length != T:
            raise LengthMismatchError(
                f"this MLP was built for {self.length} input positions and cannot read {T}: "
                f"it has one block of weights per input position ({self.length} blocks). "
                "A recurrent network reuses one set of weights at every step, so it can.",
                "task.seq_len",
            )
        x_t = self.encoder(batch.x)  # (B, T, E)
        h = self.body(x_t.flatten(1))  # (B, T·E) -> (B, H)
        out = self.head(h)
        if self.spec.output_kind == "tokens":
            out = out.view(-1, T, self.spec.n_outputs)  # (B, T, V)
        elif self.spec.output_kind == "real":
            out = out.squeeze(-1)  # (B,)
        return ModelOutput(out, x_t)

    @classmethod
    def estimate_activation_bytes(cls, cfg, spec, batch_size):
        # activations, and a transposed copy of the first layer's (T·E × H) weight in forward and in
        # backward (measured)
        e = cfg.embed_dim or cfg.hidden
        per_example = spec.length * (e + 4 * spec.n_outputs) + 4 * cfg.layers * cfg.hidden
        return 4.0 * (batch_size * per_example + 2 * spec.length * e * cfg.hidden)
