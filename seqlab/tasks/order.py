"""Reverse and sort: read L symbols, then write them reversed / in ascending order.

Input:  s_1 … s_L  SEP  blank × (L-1)        (length T = 2L)
Target: the L output symbols at positions L … 2L-1 (from SEP on).

Symbols are 1..V, 0 is the blank, V+1 the separator. Reversal's blind guess is uniform. For sort,
position k holds the k-th order statistic of L uniform draws, whose distribution is known
exactly, so the blind baseline is the entropy of that distribution (computed below), not ln V.
"""

from __future__ import annotations

import math

import torch
from pydantic import Field

from .base import IGNORE, Baseline, Batch, Task, TaskOptions, TaskSpec, random_tokens, uniform_baseline


class OrderOptions(TaskOptions):
    vocab_size: int = Field(8, ge=2, le=1000, description="number of distinct symbols")


class _Order(Task):
    output_kind = "tokens"
    Options = OrderOptions
    default_seq_len = 8
    seq_len_meaning = "number of symbols L"

    @property
    def spec(self) -> TaskSpec:
        V = self.options.vocab_size
        return TaskSpec("tokens", V + 2, "tokens", V, 2 * self.seq_len)

    def transform(self, symbols: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        L, V = self.seq_len, self.options.vocab_size
        symbols = random_tokens(generator, (batch_size, L), 1, V + 1)  # (B, L)
        x = torch.zeros(batch_size, 2 * L, dtype=torch.long)  # (B, 2L)
        x[:, :L] = symbols
        x[:, L] = V + 1
        y = torch.full_like(x, IGNORE)
        y[:, L:] = self.transform(symbols) - 1
        return Batch(x, y)


class Reverse(_Order):
    name = "reverse"
    title = "Reverse"
    description = "Output the input symbols in reverse order (a token per position)."
    citation = "Sutskever, Vinyals & Le (2014), Sequence to Sequence Learning"

    def transform(self, symbols):
        return symbols.flip(1)

    def baseline(self) -> Baseline:
        return uniform_baseline(self.options.vocab_size, self.seq_len)


class Sort(_Order):
    name = "sort"
    title = "Sort"
    description = "Output the input symbols sorted ascending (a token per position)."
    citation = "Vinyals, Bengio & Kudlur (2016), Order Matters: Sequence to Sequence for Sets"

    def transform(self, symbols):
        return symbols.sort(1).values

    def baseline(self) -> Baseline:
        L, V = self.seq_len, self.options.vocab_size

        def cdf(k: int, v: int) -> float:  # P(k-th smallest of L draws <= v), v in 0..V
            p = v / V
            return sum(math.comb(L, j) * p**j * (1 - p) ** (L - j) for j in range(k, L + 1))

        loss = acc = 0.0
        modes = []
        for k in range(1, L + 1):
            pmf = [cdf(k, v) - cdf(k, v - 1) for v in range(1, V + 1)]
            loss -= sum(p * math.log(p) for p in pmf if p > 0)
            acc += max(pmf)
            modes.append(max(range(V), key=pmf.__getitem__))
        # the whole-sequence blind guess (per-position modes) is right with the multinomial
        # probability of its symbol counts
        counts = [modes.count(v) for v in range(V)]
        seq = math.factorial(L) / math.prod(math.factorial(c) for c in counts) / V**L
        return Baseline(loss=loss / L, metrics={"accuracy": acc / L, "sequence_accuracy": seq})
