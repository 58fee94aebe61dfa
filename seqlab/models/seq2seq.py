r"""Encoder–decoder networks: the fixed context vector (2014) and attention (2015).

An encoder RNN reads the source x_1 … x_n into states h_1 … h_n; a decoder RNN writes the target
one token at a time, its state s_i fed the previous output y_{i−1}:

  * ``seq2seq`` (Sutskever, Vinyals & Le 2014; Cho et al. 2014): everything the decoder learns about
    the source is one vector c = h_n. It starts the decoder (s_0 = h_n) and, as in Cho et al., is
    fed at every step: s_i = f(s_{i−1}, [y_{i−1}; c]). Whatever does not fit in d numbers is lost —
    the *bottleneck*, which shows as accuracy falling with source length.
  * ``bahdanau`` (Bahdanau, Cho & Bengio 2015): a fresh context per output step, a weighted average
    of all encoder states, weighted by an additive score of the previous decoder state:
        e_ij = vᵀ tanh(W s_{i−1} + U h_j),   α_ij = softmax_j(e_ij),   c_i = Σ_j α_ij h_j
        s_i = f(s_{i−1}, [y_{i−1}; c_i]),   p(y_i) = softmax(W_o [s_i; c_i])
  * ``luong`` (Luong, Pham & Manning 2015): attend with the *current* state s_i, then combine:
        score(s_i, h_j) = s_iᵀ h_j (dot) | s_iᵀ W h_j (general) | vᵀ tanh(W [s_i; h_j]) (concat)
        h̃_i = tanh(W_c [c_i; s_i]),   p(y_i) = softmax(W_o h̃_i),   s_i = f(s_{i−1}, [y_{i−1}; h̃_{i−1}])
    (h̃ fed back is Luong's "input feeding").

All three share the encoder (a fused GRU or LSTM over the packed source, so padding is never read;
its last state is each example's own h_n; by default bidirectional as in Bahdanau et al., with
h/2 units each way so h_j has the decoder's size and Luong's dot score is defined) and s_0 = h_n,
so the only difference between them is attention. Training feeds the true previous token with
probability ``teacher_forcing`` (Williams & Zipser 1989; 1 = always); in eval mode the decoder feeds
back its own greedy choice. Padded source positions get score −∞, so α_ij = 0 there and outputs do
not depend on what padding holds.

Attention weights go to ``ModelOutput.extras["attention"]`` in the Transformer's layout — a list with
one (B, heads=1, U, T) tensor — so the same recorder, charts and entropy diagnostics read them.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..errors import ConfigError
from ..tasks.base import Batch
from .base import Cost, InputEncoder, ModelInfo, ModelOptions, ModelOutput, SeqModel


class Seq2SeqOptions(ModelOptions):
    cell: Literal["gru", "lstm"] = Field("gru", description="recurrent cell of the encoder and the decoder")
    # Bahdanau et al. (2015) read the source both ways, so h_j also knows what follows x_j
    bidirectional: bool = Field(True, description="encoder reads the source both ways (hidden/2 units each)")
    teacher_forcing: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="training: probability of feeding the true previous token (else the model's own guess)",
    )


class LuongOptions(Seq2SeqOptions):
    score: Literal["dot", "general", "concat"] = Field(
        "general", description="Luong score: dot sᵀh, general sᵀWh, concat vᵀtanh(W[s;h])"
    )


class EncoderDecoder(SeqModel):
    """Shared body: encoder, the decoding loop (teacher forcing or greedy), the output layer.
    Subclasses set how a step reads the source (``prepare`` once, ``step`` per output token)."""

    Options = Seq2SeqOptions
    outputs = frozenset({"sequence"})
    input_kinds = frozenset({"tokens"})
    # measured here: on seq-reverse (L=10) all three learn fastest near 3e-3 with clip 1.0
    default_lr = 3e-3
    activation_factor = 6.0
    feed: ClassVar[str] = "context"  # what joins y_{i-1} at the decoder input: "context" | "attentional"

    def __init__(self, cfg, spec):
        super().__init__(cfg, spec)
        E, H = cfg.embed_dim or cfg.hidden, cfg.hidden
        self.lstm = self.opts.cell == "lstm"
        self.source_embed = InputEncoder(spec, E)
        self.bidirectional = self.opts.bidirectional
        self.encoder = (nn.LSTM if self.lstm else nn.GRU)(
            E, H // 2 if self.bidirectional else H, cfg.layers, batch_first=True, bidirectional=self.bidirectional
        )
        self.target_embed = nn.Embedding(spec.n_outputs + 1, E)  # target classes + BOS
        self.decoder = (nn.LSTMCell if self.lstm else nn.GRUCell)(E + H, H)
        self.build(H)

    @classmethod
    def check(cls, cfg) -> None:
        if cfg.options.get("bidirectional", True) and cfg.hidden % 2:
            raise ConfigError(
                f"must be even with a bidirectional encoder (half the units read each way; got {cfg.hidden})",
                "model.hidden",
            )

    def build(self, H: int) -> None:
        """Family-specific layers."""
        self.out = nn.Linear(2 * H, self.spec.n_outputs)

    # -- the encoder ---------------------------------------------------------------------------------
    def encode(self, batch: Batch):
        x_t = self.source_embed(batch.x)  # (B, T, E)
        B, T = batch.x.shape
        lengths = batch.x_lengths if batch.x_lengths is not None else torch.full((B,), T, dtype=torch.long)
        packed = pack_padded_sequence(x_t, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.encoder(packed)
        h, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, T, H), 0 at padding
        # the top layer's last state per example (packing stops each one at its own length); both
        # directions side by side: forward after x_n, backward after x_1
        k = 2 if self.bidirectional else 1
        s0 = tuple(torch.cat(tuple(part[-k:]), -1) for part in (state if self.lstm else (state,)))  # (B, H)
        return x_t, h, s0 if self.lstm else s0[0], batch.x_mask

    @staticmethod
    def query(s):
        return s[0] if isinstance(s, tuple) else s  # an LSTM's (h, c): attend and read out with h

    # -- one decoding step (overridden) ----------------------------------------------------------------
    def prepare(self, h: torch.Tensor, s0, mask: torch.Tensor) -> dict:
        return {"c": self.query(s0)}  # (B, H) the one fixed context vector

    def step(self, e: torch.Tensor, s, feed: torch.Tensor | None, mem: dict):
        """(embedded y_{i-1}, state, what was fed back) → (new state, logits, α or None, what to feed back)."""
        c = mem["c"]
        s = self.decoder(torch.cat([e, c], -1), s)
        return s, self.out(torch.cat([self.query(s), c], -1)), None, None

    # -- the decoding loop -----------------------------------------------------------------------------
    def forward(self, batch: Batch, return_attention: bool = False) -> ModelOutput:
        x_t, h, s, mask = self.encode(batch)
        mem = self.prepare(h, s, mask)
        B, U = batch.y.shape
        forced = self.training and batch.y_in is not None
        ratio = self.opts.teacher_forcing if forced else 0.0
        gold = batch.y_in.unbind(1) if forced else (None,) * U  # U × (B,)
        gold_e = self.target_embed(batch.y_in).unbind(1) if ratio == 1.0 else None  # U × (B, E), one lookup
        prev = torch.full((B,), self.spec.bos, dtype=torch.long, device=batch.x.device)
        feed = None
        logits, alphas = [], []
        for i, y_prev in enumerate(gold):
            if gold_e is not None:
                e = gold_e[i]
            else:
                if y_prev is not None and ratio > 0.0:
                    prev = torch.where(torch.rand(B, device=prev.device) < ratio, y_prev, prev)
                e = self.target_embed(prev)  # (B, E)
            s, logit, alpha, feed = self.step(e, s, feed, mem)
            logits.append(logit)
            if alpha is not None:
                alphas.append(alpha)
            prev = logit.detach().argmax(-1)  # the greedy choice, fed back when not forced
        pred = torch.stack(logits, 1)  # (B, U, V)
        extras = {"attention": [torch.stack(alphas, 1)[:, None]]} if alphas else {}  # [(B, 1, U, T)]
        return ModelOutput(pred, x_t, extras=extras)

    # -- costs -------------------------------------------------------------------------------------------
    def uncounted_flops(self, batch_size: int) -> float:
        """The fused encoder kernel, counted as in ``Recurrent.uncounted_flops`` (per direction); the
        decoder's cells run as ordinary ops that torch's FLOP counter sees. Assumes full-length sources."""
        k = 2 if self.bidirectional else 1
        h, g, T = self.cfg.hidden // k, 4 if self.lstm else 3, self.spec.length
        d_in = [self.source_embed.dim] + [k * h] * (self.cfg.layers - 1)
        return 3.0 * sum(2 * batch_size * T * g * h * (d + h) * k for d in d_in)

    @classmethod
    def estimate_activation_bytes(cls, cfg, spec, batch_size: int) -> float:
        e = cfg.embed_dim or cfg.hidden
        T, U, H = spec.length, max(1, spec.target_length), cfg.hidden
        encoder = T * (e + cls.activation_factor * cfg.layers * H)
        decoder = U * (2 * e + (cls.activation_factor + 4) * H + 2 * spec.n_outputs)
        attention = U * T * cls.attention_floats_per_pair(cfg)
        return 4.0 * batch_size * (encoder + decoder + attention)

    @classmethod
    def attention_floats_per_pair(cls, cfg) -> float:
        return 0.0


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """softmax over source positions with padding at −∞, so its weight is exactly 0."""
    return scores.masked_fill(~mask, float("-inf")).softmax(-1)  # (B, T)


class Seq2Seq(EncoderDecoder):
    info = ModelInfo(
        title="Seq2seq (fixed context)",
        year=2014,
        paper=(
            "Sutskever, Vinyals & Le (2014), Sequence to Sequence Learning with Neural Networks, NeurIPS; "
            "Cho et al. (2014), Learning Phrase Representations using RNN Encoder–Decoder, EMNLP"
        ),
        summary="An encoder squeezes the whole source into one vector c; a decoder writes the target from it.",
        equation=(
            r"\begin{aligned} h_j &= f_{enc}(h_{j-1}, x_j), \quad c = h_n \\ "
            r"s_i &= f_{dec}(s_{i-1}, [y_{i-1}; c]), \quad s_0 = c \\ "
            r"p(y_i \mid y_{<i}, x) &= \mathrm{softmax}(W_o [s_i; c]) \end{aligned}"
        ),
        time=Cost(1, 2, "O((n+m)·d²)"),
        space=Cost(0, 1, "O(d)"),
        train_memory=Cost(1, 1, "O((n+m)·d)"),
        parallel="none",
    )


class Bahdanau(EncoderDecoder):
    info = ModelInfo(
        title="Bahdanau attention",
        year=2015,
        paper=(
            "Bahdanau, Cho & Bengio (2015), Neural Machine Translation by Jointly Learning to Align and Translate, ICLR"
        ),
        summary="A new context per output step: an additive score picks which encoder states to read.",
        equation=(
            r"\begin{aligned} e_{ij} &= v^\top \tanh(W s_{i-1} + U h_j), \quad "
            r"\alpha_{ij} = \frac{\exp e_{ij}}{\sum_k \exp e_{ik}} \\ "
            r"c_i &= \textstyle\sum_j \alpha_{ij} h_j, \quad s_i = f(s_{i-1}, [y_{i-1}; c_i]) \end{aligned}"
        ),
        # the m·n additive scores each cost O(d): quadratic once the lengths exceed d
        time=Cost(2, 1, "O((n+m)·d² + n·m·d)"),
        space=Cost(1, 1, "O(n·d)"),
        train_memory=Cost(2, 1, "O(n·m·d)"),
        parallel="none",
    )

    def build(self, H):
        super().build(H)
        self.W = nn.Linear(H, H, bias=False)  # decoder state → attention space
        self.U = nn.Linear(H, H)  # encoder states → attention space
        self.v = nn.Linear(H, 1, bias=False)

    def prepare(self, h, s0, mask):
        return {"h": h, "Uh": self.U(h), "mask": mask}  # U h_j once for every step: (B, T, H)

    def step(self, e, s, feed, mem):
        e_ij = self.v(torch.tanh(self.W(self.query(s))[:, None] + mem["Uh"])).squeeze(-1)  # (B, T)
        alpha = masked_softmax(e_ij, mem["mask"])  # (B, T)
        c = torch.bmm(alpha[:, None], mem["h"]).squeeze(1)  # (B, H)
        s = self.decoder(torch.cat([e, c], -1), s)
        return s, self.out(torch.cat([self.query(s), c], -1)), alpha, None

    @classmethod
    def attention_floats_per_pair(cls, cfg):
        return 2.0 * cfg.hidden  # tanh(W s + U h_j) kept for backward at every (i, j)


class Luong(EncoderDecoder):
    info = ModelInfo(
        title="Luong attention",
        year=2015,
        paper="Luong, Pham & Manning (2015), Effective Approaches to Attention-based Neural Machine Translation, EMNLP",
        summary="Attend with the current decoder state; dot, bilinear ('general') or additive ('concat') scores.",
        equation=(
            r"\begin{aligned} \mathrm{score}(s_i, h_j) &= s_i^\top h_j \;|\; s_i^\top W_a h_j \;|\; "
            r"v^\top \tanh(W_a [s_i; h_j]) \\ "
            r"\alpha_{ij} &= \mathrm{softmax}_j\, \mathrm{score}(s_i, h_j), \quad "
            r"c_i = \textstyle\sum_j \alpha_{ij} h_j \\ "
            r"\tilde{h}_i &= \tanh(W_c [c_i; s_i]), \quad p(y_i) = \mathrm{softmax}(W_o \tilde{h}_i) \end{aligned}"
        ),
        # dot and general score in O(d) per pair without storing a d-vector per pair; concat does (as Bahdanau)
        time=Cost(2, 1, "O((n+m)·d² + n·m·d)"),
        space=Cost(1, 1, "O(n·d)"),
        train_memory=Cost(1, 1, "O((n+m)·d + n·m)"),
        parallel="none",
    )
    Options = LuongOptions

    def build(self, H):
        self.score = self.opts.score
        if self.score == "general":
            self.W_a = nn.Linear(H, H, bias=False)
        elif self.score == "concat":
            self.W_s = nn.Linear(H, H, bias=False)  # W_a [s; h] = W_s s + W_h h
            self.W_h = nn.Linear(H, H)
            self.v = nn.Linear(H, 1, bias=False)
        self.W_c = nn.Linear(2 * H, H, bias=False)
        self.out = nn.Linear(H, self.spec.n_outputs)

    def prepare(self, h, s0, mask):
        keys = {"dot": h, "general": self.W_a(h) if self.score == "general" else None}.get(self.score)
        if self.score == "concat":
            keys = self.W_h(h)
        return {"h": h, "keys": keys, "mask": mask}  # keys (B, T, H), computed once

    def step(self, e, s, feed, mem):
        if feed is None:
            feed = torch.zeros_like(self.query(s))  # h̃_0 = 0
        s = self.decoder(torch.cat([e, feed], -1), s)
        q = self.query(s)  # (B, H)
        if self.score == "concat":
            scores = self.v(torch.tanh(self.W_s(q)[:, None] + mem["keys"])).squeeze(-1)  # (B, T)
        else:
            scores = torch.bmm(mem["keys"], q[:, :, None]).squeeze(-1)  # (B, T)
        alpha = masked_softmax(scores, mem["mask"])
        c = torch.bmm(alpha[:, None], mem["h"]).squeeze(1)  # (B, H)
        h_tilde = torch.tanh(self.W_c(torch.cat([c, q], -1)))  # (B, H)
        return s, self.out(h_tilde), alpha, h_tilde

    @classmethod
    def attention_floats_per_pair(cls, cfg):
        # concat keeps tanh(W_s s + W_h h_j) per pair, as Bahdanau; dot and general a score and a weight
        return 2.0 * cfg.hidden if cfg.options.get("score") == "concat" else 2.0
