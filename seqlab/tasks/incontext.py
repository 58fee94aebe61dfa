r"""Few-shot learning in context: k key→value examples of a mapping that is new in every sequence,
then queries.

Input:  k_1 v_1 k_2 v_2 … k_k v_k  SEP  q_1 … q_M  PAD …      (k varies: uniform in [min_len, seq_len])
Target: at query position j, the value of q_j's group.

Which value each key (or group of keys) has is drawn afresh for every sequence, so every pair the
model is scored on is new: the mapping can only be read from the examples in context, never from
the weights. The query keys are uniform over all K keys, shown or not, so more examples answer more
queries and accuracy should rise with k — a toy version of the few-shot setting of Brown et al.
(2020), where demonstrations in the prompt, not gradient steps, define the task. The mechanism a
Transformer learns for it is associative recall (Ba et al. 2016; the ``recall`` task) through an
induction head (Olsson et al. 2022).

With ``groups`` G < K, keys form G fixed groups (group = key mod G) that share one value per
sequence: an example then also answers the *unshown* keys of its group, and the model must
generalise from the examples, not just copy them (harder; it needs longer training).

The ideal in-context learner reads every example: it is right whenever a shown key shares the
query's group, and guesses (1/V) otherwise. ``ideal`` computes its accuracy on any batch, so the
measured curve can be drawn next to the best possible one: with G = K it is k/K + (1 − k/K)/V.

Tokens: keys 0..K-1, values K..K+V-1, SEP = K+V, PAD = K+V+1 (padding only follows the queries, so
a causal model's answers never see it). Blind guess: uniform over V values.
"""

from __future__ import annotations

import torch
from pydantic import Field

from ..errors import ConfigError
from .base import IGNORE, Baseline, Batch, Task, TaskOptions, TaskSpec, uniform_baseline


class FewShotOptions(TaskOptions):
    key_vocab: int = Field(16, ge=2, le=10_000, description="number of distinct keys K")
    groups: int | None = Field(
        None, ge=1, le=10_000, description="key groups G sharing one value (group = key mod G; default: G = K)"
    )
    value_vocab: int = Field(8, ge=2, le=10_000, description="number of distinct values")
    queries: int = Field(4, ge=1, le=1000, description="queries per sequence")
    min_len: int = Field(1, ge=1, le=10_000, description="fewest examples k (k is uniform in [min_len, seq_len])")


class FewShot(Task):
    name = "fewshot"
    title = "Few-shot rule in context"
    description = "k key→value examples of a fresh mapping, then queries: more examples answer more of them."
    citation = "Brown et al. (2020), Language Models are Few-Shot Learners; Olsson et al. (2022), induction heads"
    output_kind = "tokens"
    Options = FewShotOptions
    default_seq_len = 8
    seq_len_meaning = "most in-context examples k"
    variable_length = True
    length_label = "in-context examples k"

    @property
    def max_seq_len(self) -> int:
        return self.options.key_vocab  # shown keys are distinct

    @property
    def groups(self) -> int:
        return self.options.groups or self.options.key_vocab

    @property
    def sep(self) -> int:
        return self.options.key_vocab + self.options.value_vocab

    @property
    def spec(self) -> TaskSpec:
        o = self.options
        return TaskSpec(
            "tokens", o.key_vocab + o.value_vocab + 2, "tokens", o.value_vocab, 2 * self.seq_len + 1 + o.queries
        )

    def validate(self) -> None:
        o = self.options
        if self.seq_len > self.max_seq_len:
            raise ConfigError(
                f"{self.seq_len} examples need {self.seq_len} distinct keys but key vocab is {o.key_vocab}; "
                f"raise key vocab or lower {self.seq_len_meaning}",
                "task.seq_len",
            )
        if o.min_len > self.seq_len:
            raise ConfigError(f"must be ≤ the most examples seq_len={self.seq_len} (got {o.min_len})", "task.min_len")
        if o.groups is not None and o.groups > o.key_vocab:
            raise ConfigError(f"must be ≤ key_vocab={o.key_vocab} (got {o.groups})", "task.groups")

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        o, n = self.options, self.seq_len
        B, K, G, V, M = batch_size, o.key_vocab, self.groups, o.value_vocab, o.queries
        k = torch.randint(o.min_len, n + 1, (B, 1), generator=generator)  # (B, 1) examples per sequence
        shown = torch.rand(B, K, generator=generator).argsort(1)[:, :n]  # (B, n) distinct; the first k are used
        value_of_group = torch.randint(0, V, (B, G), generator=generator)  # (B, G) this sequence's mapping
        q = torch.randint(0, K, (B, M), generator=generator)  # (B, M) query keys, shown or not
        pairs = torch.stack([shown, K + value_of_group.gather(1, shown % G)], dim=2).flatten(1)  # (B, 2n)
        T = 2 * n + 1 + M
        c = torch.arange(T)[None, :]  # (1, T) column index
        start = 2 * k  # (B, 1) where SEP goes
        x = torch.full((B, T), self.sep + 1, dtype=torch.long)  # PAD
        x = torch.where(c < start, pairs.gather(1, c.clamp(max=2 * n - 1).expand(B, T)), x)
        x = torch.where(c == start, torch.full_like(x, self.sep), x)
        in_q = (c > start) & (c <= start + M)
        j = (c - start - 1).clamp(0, M - 1).expand(B, T)  # which query sits at column c
        x = torch.where(in_q, q.gather(1, j), x)
        answer = value_of_group.gather(1, q % G)  # (B, M)
        y = torch.where(in_q, answer.gather(1, j), torch.full_like(x, IGNORE))
        return Batch(x, y)

    def baseline(self) -> Baseline:
        return uniform_baseline(self.options.value_vocab, self.options.queries)

    def ideal(self, batch: Batch) -> float:
        """Accuracy of the ideal in-context learner on ``batch``: 1 where a shown key shares the query's
        group, 1/V elsewhere, averaged over the queries."""
        G, V = self.groups, self.options.value_vocab
        x, y = batch.x, batch.y
        B, T = x.shape
        c = torch.arange(T)[None, :]
        start = (x == self.sep).long().argmax(1, keepdim=True)  # (B, 1) = 2k
        is_key = (c < start) & (c % 2 == 0)  # (B, T)
        covered = torch.zeros(B, G + 1, dtype=torch.bool)  # column G collects the non-keys
        covered.scatter_(1, torch.where(is_key, x % G, torch.full_like(x, G)), True)
        scored = y != IGNORE
        group = torch.where(scored, x % G, torch.full_like(x, G))
        hit = covered.gather(1, group)[scored].float()
        return float((hit + (1 - hit) / V).mean())
