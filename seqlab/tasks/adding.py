"""The adding problem (Hochreiter & Schmidhuber 1997, experiment 4).

Each step carries two numbers: a value u_t ~ U[0, 1] and a marker m_t in {0, 1}. Exactly two steps
are marked, one in the first half and one in the second half of the sequence, and the target is
the sum of the two marked values. The first marker can be ~T steps before the end, so the model
must carry one number across the whole sequence.

Best input-blind guess: E[y] = 1, whose squared error is Var(u_a + u_b) = 2 * 1/12 = 1/6.
"""

from __future__ import annotations

import torch

from .base import Baseline, Batch, Task, TaskSpec


class Adding(Task):
    name = "adding"
    title = "Adding problem"
    description = "T random values, two of them marked; predict the sum of the marked pair (regression)."
    citation = "Hochreiter & Schmidhuber (1997), Long Short-Term Memory, Neural Computation 9(8)"
    output_kind = "real"
    default_seq_len = 50
    seq_len_meaning = "sequence length T"

    @property
    def spec(self) -> TaskSpec:
        return TaskSpec("real", 2, "real", 1, self.seq_len)

    def validate(self) -> None:
        from ..errors import ConfigError

        if self.seq_len < 2:
            raise ConfigError("the adding problem needs at least 2 steps", "task.seq_len")

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        T, half = self.seq_len, self.seq_len // 2
        values = torch.rand(batch_size, T, generator=generator)  # (B, T)
        first = torch.randint(0, half, (batch_size,), generator=generator)
        second = torch.randint(half, T, (batch_size,), generator=generator)
        marks = torch.zeros(batch_size, T)
        rows = torch.arange(batch_size)
        marks[rows, first] = 1.0
        marks[rows, second] = 1.0
        x = torch.stack([values, marks], dim=-1)  # (B, T, 2)
        y = values[rows, first] + values[rows, second]  # (B,)
        return Batch(x, y)

    def baseline(self) -> Baseline:
        return Baseline(loss=1 / 6, metrics={"mse": 1 / 6})
