"""Source → target transduction with variable lengths: the tasks of the encoder–decoder era.

Each example has its own source length m, drawn uniformly from [min_len, seq_len], and a target
with its own length and alphabet that ends in an end token (format: ``seqlab.tasks.base``).

  * ``seq-reverse`` — x_1 … x_m  →  x_m … x_1 EOS. Sutskever, Vinyals & Le (2014) reversed the
    *source* to shorten the path between the first words; reversing the target is the adversarial
    version: the first output needs the last input and the last output the first, so a single
    context vector must hold everything at once.
  * ``seq-sort`` — x_1 … x_m  →  the same symbols ascending, EOS (Vinyals, Bengio & Kudlur 2016).
  * ``numbers`` — spelled-out English numbers  →  digits: "three hundred twelve thousand five" →
    312005 EOS. Source words and target digits have different alphabets and lengths, and the
    alignment is monotone but not one-to-one (a "hundred" writes nothing, a missing group writes
    zeros) — a small stand-in for translation.

Source symbols start at 1; 0 is PAD. Blind baselines are measured (``blind_sequence_baseline``).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field

from ..errors import ConfigError
from .base import (
    IGNORE,
    Baseline,
    Batch,
    Task,
    TaskOptions,
    TaskSpec,
    blind_sequence_baseline,
    decoder_input,
    random_tokens,
)

PAD = 0


class TransductionOptions(TaskOptions):
    min_len: int = Field(1, ge=1, le=100_000, description="shortest source (lengths are uniform in [min_len, seq_len])")


class _Transduction(Task):
    output_kind = "sequence"
    variable_length = True
    Options = TransductionOptions
    max_seq_len: ClassVar[int] = 100_000

    def validate(self) -> None:
        if self.options.min_len > self.seq_len:
            raise ConfigError(
                f"must be ≤ the length parameter seq_len={self.seq_len} (got {self.options.min_len})", "task.min_len"
            )
        if self.seq_len > self.max_seq_len:
            raise ConfigError(
                f"{self.name} supports lengths up to {self.max_seq_len} (got {self.seq_len})", "task.seq_len"
            )

    def lengths(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randint(self.options.min_len, self.seq_len + 1, (batch_size,), generator=generator)  # (B,)

    def finish(self, x: torch.Tensor, x_lengths: torch.Tensor, y: torch.Tensor) -> Batch:
        spec = self.spec
        return Batch(x, y, x_lengths, decoder_input(y, spec.bos, spec.eos))

    def baseline(self) -> Baseline:
        return blind_sequence_baseline(self)


class SymbolOptions(TransductionOptions):
    vocab_size: int = Field(8, ge=2, le=1000, description="number of distinct symbols")


class _Symbols(_Transduction):
    """Sources of random symbols 1..V; targets are a rearrangement of them, classes 0..V-1, EOS = V."""

    Options = SymbolOptions
    default_seq_len = 10
    seq_len_meaning = "longest source L (symbols)"
    length_label = "source length n (symbols)"

    @property
    def spec(self) -> TaskSpec:
        V, L = self.options.vocab_size, self.seq_len
        return TaskSpec("tokens", V + 1, "sequence", V + 1, L, target_length=L + 1, eos=V)

    def rearrange(self, symbols: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, L) symbols (PAD beyond each length) → (B, L) rearranged, PAD beyond each length."""
        raise NotImplementedError

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        L, V = self.seq_len, self.options.vocab_size
        m = self.lengths(batch_size, generator)  # (B,)
        real = torch.arange(L) < m[:, None]  # (B, L)
        x = random_tokens(generator, (batch_size, L), 1, V + 1).masked_fill(~real, PAD)  # (B, L)
        y = torch.full((batch_size, L + 1), IGNORE, dtype=torch.long)  # (B, L+1)
        y[:, :L] = torch.where(real, self.rearrange(x, m) - 1, IGNORE)
        y[torch.arange(batch_size), m] = V  # EOS right after the last symbol
        return self.finish(x, m, y)

    def source_text(self, tokens) -> list[str]:
        return ["·" if int(t) == PAD else str(int(t)) for t in tokens]

    def target_text(self, classes) -> list[str]:
        V = self.options.vocab_size
        return ["<eos>" if int(c) == V else str(int(c) + 1) for c in classes]


class SeqReverse(_Symbols):
    name = "seq-reverse"
    title = "Reverse (seq2seq)"
    description = "Variable-length source → the same symbols reversed, then an end token."
    citation = "Sutskever, Vinyals & Le (2014), Sequence to Sequence Learning with Neural Networks"

    def rearrange(self, symbols, lengths):
        L = symbols.shape[1]
        idx = (lengths[:, None] - 1 - torch.arange(L)).clamp(min=0)  # (B, L): position m-1-k
        return symbols.gather(1, idx)


class SeqSort(_Symbols):
    name = "seq-sort"
    title = "Sort (seq2seq)"
    description = "Variable-length source → the same symbols sorted ascending, then an end token."
    citation = "Vinyals, Bengio & Kudlur (2016), Order Matters: Sequence to Sequence for Sets"

    def rearrange(self, symbols, lengths):
        big = self.options.vocab_size + 1  # PAD sorts last
        return symbols.masked_fill(symbols == PAD, big).sort(1).values


# fmt: off
_ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
)
# fmt: on
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SCALES = ("", "thousand", "million", "billion", "trillion")
WORDS = (*_ONES, *_TENS[2:], "hundred", *_SCALES[1:])  # source tokens 1..len(WORDS)
_INDEX = {w: i + 1 for i, w in enumerate(WORDS)}


def spell(n: int) -> list[str]:
    """English words for 0 ≤ n < 10¹⁵, short scale, no "and": 312005 → three hundred twelve thousand five."""
    if n == 0:
        return ["zero"]
    groups = []
    while n:
        n, g = divmod(n, 1000)
        groups.append(g)
    words: list[str] = []
    for scale in range(len(groups) - 1, -1, -1):
        g = groups[scale]
        if g == 0:
            continue
        hundreds, rest = divmod(g, 100)
        if hundreds:
            words += [_ONES[hundreds], "hundred"]
        if 0 < rest < 20:
            words.append(_ONES[rest])
        elif rest:
            words.append(_TENS[rest // 10])
            if rest % 10:
                words.append(_ONES[rest % 10])
        if scale:
            words.append(_SCALES[scale])
    return words


def longest_spelling(digits: int) -> int:
    """Words in the longest spelling of a ``digits``-digit number (every group "x hundred y z")."""
    groups = -(-digits // 3)
    first = {1: 1, 2: 2, 3: 4}[digits - 3 * (groups - 1)]
    return first + 5 * (groups - 1)


class Numbers(_Transduction):
    name = "numbers"
    title = "Spelled-out numbers → digits"
    description = "English number words → the digits they name ('four hundred two' → 402), then an end token."
    citation = "a synthetic stand-in for translation; the setting of Bahdanau, Cho & Bengio (2015)"
    default_seq_len = 6
    seq_len_meaning = "most digits D"
    length_label = "digits in the number"
    max_seq_len = 15  # up to trillions

    @property
    def spec(self) -> TaskSpec:
        D = self.seq_len
        return TaskSpec("tokens", len(WORDS) + 1, "sequence", 11, longest_spelling(D), target_length=D + 1, eos=10)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        D, T = self.seq_len, self.spec.length
        m = self.lengths(batch_size, generator)  # (B,) digits per number
        digits = torch.randint(0, 10, (batch_size, D), generator=generator)  # (B, D)
        lead = torch.randint(1, 10, (batch_size,), generator=generator)
        digits[:, 0] = torch.where(m > 1, lead, digits[:, 0])  # no leading zero in a number of ≥ 2 digits
        x = torch.full((batch_size, T), PAD, dtype=torch.long)
        y = torch.full((batch_size, D + 1), IGNORE, dtype=torch.long)
        lengths = torch.empty(batch_size, dtype=torch.long)
        for b, (row, k) in enumerate(zip(digits.tolist(), m.tolist(), strict=True)):
            words = spell(int("".join(map(str, row[:k]))))
            x[b, : len(words)] = torch.tensor([_INDEX[w] for w in words])
            lengths[b] = len(words)
            y[b, :k] = torch.tensor(row[:k])
            y[b, k] = 10
        return self.finish(x, lengths, y)

    def source_text(self, tokens) -> list[str]:
        return ["·" if int(t) == PAD else WORDS[int(t) - 1] for t in tokens]

    def target_text(self, classes) -> list[str]:
        return ["<eos>" if int(c) == 10 else str(int(c)) for c in classes]
