"""The copy-memory task (Hochreiter & Schmidhuber 1997; in this form Arjovsky et al. 2016).

Input:  s_1 … s_K, then ``delay`` blanks, a marker, then K-1 blanks  (length T = 2K + delay)
Target: s_1 … s_K at the K positions from the marker on; nothing is scored before.

Symbols are 1..V, 0 is the blank and V+1 the marker. Without memory the best guess is uniform
over V symbols: loss ln V, accuracy 1/V.
"""

from __future__ import annotations

import torch
from pydantic import Field

from .base import IGNORE, Baseline, Batch, Task, TaskOptions, TaskSpec, random_tokens, uniform_baseline


class CopyOptions(TaskOptions):
    vocab_size: int = Field(8, ge=2, le=1000, description="number of distinct symbols to memorise")
    delay: int = Field(20, ge=0, le=100_000, description="blank steps between the symbols and the marker")


class Copy(Task):
    name = "copy"
    title = "Copy memory"
    description = "Memorise K symbols, wait through a delay of blanks, reproduce them after a marker."
    citation = "Hochreiter & Schmidhuber (1997); Arjovsky, Shah & Bengio (2016), Unitary Evolution RNNs"
    output_kind = "tokens"
    Options = CopyOptions
    default_seq_len = 3
    seq_len_meaning = "number of symbols K to copy"

    @property
    def spec(self) -> TaskSpec:
        o = self.options
        return TaskSpec("tokens", o.vocab_size + 2, "tokens", o.vocab_size, 2 * self.seq_len + o.delay)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        K, V, D = self.seq_len, self.options.vocab_size, self.options.delay
        symbols = random_tokens(generator, (batch_size, K), 1, V + 1)  # (B, K)
        x = torch.zeros(batch_size, 2 * K + D, dtype=torch.long)  # (B, T), 0 = blank
        x[:, :K] = symbols
        x[:, K + D] = V + 1  # the marker: "now write"
        y = torch.full_like(x, IGNORE)
        y[:, K + D :] = symbols - 1  # classes 0..V-1
        return Batch(x, y)

    def baseline(self) -> Baseline:
        return uniform_baseline(self.options.vocab_size, self.seq_len)
