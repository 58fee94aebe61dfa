"""Associative recall: read key–value pairs, then answer queries by key.

Input:  k_1 v_1 k_2 v_2 … k_N v_N  SEP  q_1 … q_M      (length T = 2N + 1 + M)
Target: at query position j, the value paired with key q_j (several queries per sequence, as in
the multi-query associative recall of Arora et al. 2023, "Zoology").

Keys are distinct within a sequence. Tokens: keys 0..K-1, values K..K+V-1, SEP = K+V.
Blind guess: uniform over V values.
"""

from __future__ import annotations

import torch
from pydantic import Field

from ..errors import ConfigError
from .base import IGNORE, Baseline, Batch, Task, TaskOptions, TaskSpec, random_tokens, uniform_baseline


class RecallOptions(TaskOptions):
    key_vocab: int = Field(16, ge=2, le=10_000, description="number of distinct keys")
    value_vocab: int = Field(8, ge=2, le=10_000, description="number of distinct values")
    queries: int = Field(4, ge=1, le=10_000, description="queries per sequence")


class Recall(Task):
    name = "recall"
    title = "Associative recall"
    description = "Key–value pairs, then several queries: answer each with the value stored under its key."
    citation = "Ba et al. (2016), Using Fast Weights; Arora et al. (2023), Zoology (MQAR)"
    output_kind = "tokens"
    Options = RecallOptions
    default_seq_len = 6
    seq_len_meaning = "number of key–value pairs N"

    @property
    def spec(self) -> TaskSpec:
        o = self.options
        vocab = o.key_vocab + o.value_vocab + 1
        return TaskSpec("tokens", vocab, "tokens", o.value_vocab, 2 * self.seq_len + 1 + o.queries)

    def validate(self) -> None:
        if self.seq_len > self.options.key_vocab:
            raise ConfigError(
                f"{self.seq_len} pairs need at least {self.seq_len} distinct keys but key vocab is "
                f"{self.options.key_vocab}; raise key vocab or lower {self.seq_len_meaning}",
                "task.seq_len",
            )

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        N, K, V, M = self.seq_len, self.options.key_vocab, self.options.value_vocab, self.options.queries
        keys = torch.rand(batch_size, K, generator=generator).argsort(1)[:, :N]  # (B, N) distinct
        values = random_tokens(generator, (batch_size, N), 0, V)  # (B, N)
        pick = random_tokens(generator, (batch_size, M), 0, N)  # (B, M) which pair each query asks
        x = torch.empty(batch_size, 2 * N + 1 + M, dtype=torch.long)  # (B, T)
        x[:, 0 : 2 * N : 2] = keys
        x[:, 1 : 2 * N : 2] = values + K
        x[:, 2 * N] = K + V  # SEP
        x[:, 2 * N + 1 :] = keys.gather(1, pick)
        y = torch.full_like(x, IGNORE)
        y[:, 2 * N + 1 :] = values.gather(1, pick)
        return Batch(x, y)

    def baseline(self) -> Baseline:
        return uniform_baseline(self.options.value_vocab, self.options.queries)
