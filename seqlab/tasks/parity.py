"""Parity of a bit string: y = x_1 ⊕ x_2 ⊕ … ⊕ x_T.

Every bit matters to the answer, so no shortcut exists; a classic hard case for gradient
descent and for fixed-window models. Blind guess: loss ln 2, accuracy 1/2.
"""

from __future__ import annotations

import torch

from .base import Baseline, Batch, Task, TaskSpec, random_tokens, uniform_baseline


class Parity(Task):
    name = "parity"
    title = "Parity"
    description = "Is the number of ones in a bit string odd? (one label per sequence)"
    citation = "Minsky & Papert (1969), Perceptrons; Hochreiter & Schmidhuber (1997)"
    output_kind = "label"
    default_seq_len = 10
    seq_len_meaning = "number of bits T"

    @property
    def spec(self) -> TaskSpec:
        return TaskSpec("tokens", 2, "label", 2, self.seq_len)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        x = random_tokens(generator, (batch_size, self.seq_len), 0, 2)  # (B, T)
        return Batch(x, x.sum(1) % 2)

    def baseline(self) -> Baseline:
        return uniform_baseline(2)
