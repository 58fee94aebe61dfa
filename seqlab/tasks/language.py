r"""A tiny generated "language" corpus and three tasks on it: language modelling, masked-token
pre-training, and identifying which language a sequence is in.

The corpus. There are C languages over one vocabulary of V tokens; language c is a first-order
Markov chain with transition matrix

    P_c = Σ_{j=1..m} w_{c,j} Π_{c,j},      w_c ~ Dirichlet(1, …, 1),  Π_{c,j} random permutation matrices

so after a token only ≤ m next tokens are likely (m = ``branching``). A mixture of permutation
matrices is doubly stochastic, so every language has the *same uniform* token frequencies: one
cannot tell the languages apart by counting tokens, only by which token follows which. A sequence
picks a language uniformly, its first token uniformly, then follows P_c. The grammar (the w and Π)
is fixed by ``grammar_seed``, the same for every run, every seed, training and held-out data.

Tasks (token ids 0..V-1; id V is [MASK], part of every task's input vocabulary so a pre-trained
embedding table fits the fine-tuning model unchanged):

  * ``lm``      — next-token prediction (GPT's objective, Radford et al. 2018): y_t = x_{t+1}.
    Its loss has a floor above zero that no model can beat: ``bayes`` computes the exact
    Bayes-optimal prediction (posterior over languages × that language's row) on any batch.
  * ``mlm``     — masked-token prediction (BERT's objective, Devlin et al. 2018, §3.1): 15 % of the
    positions are chosen; of those 80 % become [MASK], 10 % a random token, 10 % stay; the model
    predicts the original token at the chosen positions only.
  * ``langid``  — which language is this sequence in? One label of C. The labelled task for
    fine-tuning (``seqlab.experiments.pretrain``).

Blind baselines are exact: uniform token frequencies give ln V for ``lm`` and ``mlm``; uniform
languages give ln C for ``langid``.
"""

from __future__ import annotations

import functools

import torch
from pydantic import Field

from ..errors import ConfigError
from .base import IGNORE, Baseline, Batch, Task, TaskOptions, TaskSpec, uniform_baseline


class LanguageOptions(TaskOptions):
    vocab_size: int = Field(16, ge=2, le=4096, description="tokens in the corpus vocabulary V")
    languages: int = Field(4, ge=1, le=256, description="number of languages C in the corpus")
    branching: int = Field(2, ge=1, le=64, description="permutations mixed per language: likely next tokens m")
    grammar_seed: int = Field(0, ge=0, le=2**31 - 1, description="seed of the corpus grammar (fixed across runs)")


class MLMOptions(LanguageOptions):
    # 15 % of positions, 80/10/10 [MASK]/random/same (Devlin et al. 2018, §3.1)
    mask_rate: float = Field(0.15, gt=0, le=1, description="share of positions chosen for prediction")


@functools.lru_cache(maxsize=32)
def grammar(vocab_size: int, languages: int, branching: int, seed: int) -> torch.Tensor:
    """(C, V, V) transition matrices P_c[i, j] = p(x_{t+1} = j | x_t = i, language c); rows sum to 1,
    columns too (doubly stochastic). Cached: every batch of a run uses the same grammar."""
    g = torch.Generator().manual_seed(seed)
    V, C, m = vocab_size, languages, branching
    w = -torch.log(torch.rand(C, m, generator=g))  # Exp(1) draws …
    w = w / w.sum(1, keepdim=True)  # … normalised: Dirichlet(1, …, 1), (C, m)
    perms = torch.rand(C, m, V, generator=g).argsort(-1)  # (C, m, V): Π_{c,j} maps i → perms[c, j, i]
    P = torch.zeros(C, V, V)
    rows = torch.arange(V)
    for c in range(C):
        for j in range(m):
            P[c, rows, perms[c, j]] += w[c, j]
    return P


class _Language(Task):
    Options = LanguageOptions
    default_seq_len = 32
    seq_len_meaning = "tokens per sequence T"
    citation = (
        "a generated Markov-chain corpus (this project); objectives after Radford et al. 2018, Devlin et al. 2018"
    )

    @property
    def P(self) -> torch.Tensor:
        o = self.options
        return grammar(o.vocab_size, o.languages, o.branching, o.grammar_seed)

    @property
    def mask_token(self) -> int:
        return self.options.vocab_size

    def validate(self) -> None:
        if self.options.branching > self.options.vocab_size:
            raise ConfigError(
                f"a token can have at most vocab_size={self.options.vocab_size} successors "
                f"(got branching={self.options.branching})",
                "task.branching",
            )

    def corpus(self, batch_size: int, length: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``length`` tokens per sequence (B, length) and each sequence's language (B,)."""
        V, C = self.options.vocab_size, self.options.languages
        lang = torch.randint(0, C, (batch_size,), generator=generator)  # (B,)
        u = torch.rand(batch_size, length, generator=generator)  # (B, L) one uniform draw per token
        cum = self.P.cumsum(-1)[lang]  # (B, V, V): row-wise CDFs of each sequence's language
        cum[..., -1] = 1.0  # guard against rounding below u
        x = torch.empty(batch_size, length, dtype=torch.long)
        x[:, 0] = (u[:, 0] * V).long().clamp(max=V - 1)
        rows = torch.arange(batch_size)
        u_t = u.t().contiguous()  # (L, B): each step's draws contiguous for searchsorted
        for t in range(1, length):
            cdf = cum[rows, x[:, t - 1]]  # (B, V)
            x[:, t] = torch.searchsorted(cdf, u_t[t][:, None]).squeeze(1).clamp(max=V - 1)
        return x, lang

    def posterior(self, x: torch.Tensor) -> torch.Tensor:
        """log p(language c | x_1 … x_t) for every prefix: (B, T, C), exact (Bayes' rule, uniform prior)."""
        logP = self.P.clamp(min=1e-30).log()  # (C, V, V)
        step = logP[:, x[:, :-1], x[:, 1:]].permute(1, 2, 0)  # (B, T-1, C) log p(x_{t+1} | x_t, c)
        ll = torch.cat([torch.zeros_like(step[:, :1]), step.cumsum(1)], dim=1)  # (B, T, C)
        return ll.log_softmax(-1)


class LanguageModel(_Language):
    name = "lm"
    title = "Language modelling (generated corpus)"
    description = "Predict the next token of a sequence from a small generated Markov-chain language corpus."
    output_kind = "tokens"

    @property
    def spec(self) -> TaskSpec:
        V = self.options.vocab_size
        return TaskSpec("tokens", V + 1, "tokens", V, self.seq_len)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        s, _ = self.corpus(batch_size, self.seq_len + 1, generator)  # (B, T+1)
        return Batch(s[:, :-1], s[:, 1:].clone())

    def baseline(self) -> Baseline:
        return uniform_baseline(self.options.vocab_size, self.seq_len)

    def bayes(self, batch: Batch) -> dict[str, float]:
        """The best any model can do on ``batch``: cross-entropy and accuracy of the exact predictive
        p(x_{t+1} | x_≤t) = Σ_c p(c | x_≤t) P_c[x_t, x_{t+1}] — the irreducible loss of this task."""
        x, y = batch.x, batch.y
        post = self.posterior(x).exp()  # (B, T, C)
        rows = self.P[:, x].permute(1, 2, 0, 3)  # (B, T, C, V) each language's next-token row
        pred = (post[..., None] * rows).sum(2)  # (B, T, V)
        nll = -pred.gather(-1, y[..., None]).clamp(min=1e-30).log().mean().item()
        acc = (pred.argmax(-1) == y).float().mean().item()
        return {"loss": nll, "accuracy": acc}

    def entropy_rate(self) -> float:
        """H(x_{t+1} | x_t, c): the loss floor once the language is known (nats per token)."""
        P = self.P
        return float(-(P * P.clamp(min=1e-30).log()).sum(-1).mean())


class MaskedLM(_Language):
    name = "mlm"
    title = "Masked-token prediction (generated corpus)"
    description = "BERT's pre-training objective: recover the 15 % of tokens that were masked or corrupted."
    Options = MLMOptions
    output_kind = "tokens"

    @property
    def spec(self) -> TaskSpec:
        V = self.options.vocab_size
        return TaskSpec("tokens", V + 1, "tokens", V, self.seq_len)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        V = self.options.vocab_size
        s, _ = self.corpus(batch_size, self.seq_len, generator)  # (B, T)
        r = torch.rand(batch_size, self.seq_len, 2, generator=generator)  # (B, T, 2)
        chosen = r[..., 0] < self.options.mask_rate
        how = r[..., 1]  # < 0.8: [MASK]; 0.8–0.9: a random token; ≥ 0.9: unchanged
        noise = torch.randint(0, V, s.shape, generator=generator)
        x = torch.where(chosen & (how < 0.8), torch.full_like(s, self.mask_token), s)
        x = torch.where(chosen & (how >= 0.8) & (how < 0.9), noise, x)
        y = torch.where(chosen, s, torch.full_like(s, IGNORE))
        return Batch(x, y)

    def baseline(self) -> Baseline:
        expected = max(1, round(self.options.mask_rate * self.seq_len))
        return uniform_baseline(self.options.vocab_size, expected)


class LanguageID(_Language):
    name = "langid"
    title = "Which language? (generated corpus)"
    description = "Name the language a sequence was generated from; token counts cannot tell, only token pairs."
    output_kind = "label"
    default_seq_len = 16

    @property
    def spec(self) -> TaskSpec:
        return TaskSpec("tokens", self.options.vocab_size + 1, "label", self.options.languages, self.seq_len)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        x, lang = self.corpus(batch_size, self.seq_len, generator)
        return Batch(x, lang)

    def baseline(self) -> Baseline:
        return uniform_baseline(self.options.languages)

    def bayes(self, batch: Batch) -> dict[str, float]:
        """Accuracy and loss of the exact posterior over languages given the whole sequence."""
        post = self.posterior(batch.x)[:, -1]  # (B, C)
        return {
            "loss": -post.gather(1, batch.y[:, None]).mean().item(),
            "accuracy": (post.argmax(-1) == batch.y).float().mean().item(),
        }
