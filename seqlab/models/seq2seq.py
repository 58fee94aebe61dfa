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

All three share the encoder (fused GRU or LSTM layers; by default bidirectional as in Bahdanau et
al., h/2 units each way so h_j has the decoder's size and Luong's dot score is defined; no real
position's state ever reads padding) and s_0 = h_n, so the only difference between them is
attention. Training feeds the true previous token with probability ``teacher_forcing`` (Williams &
Zipser 1989; 1 = always); in eval mode the decoder feeds back its own greedy choice. Padded source
positions get score −∞, so α_ij = 0 there and outputs do not depend on what padding holds.

Attention weights go to ``ModelOutput.extras["attention"]`` in the Transformer's layout — a list with
one (B, heads=1, U, T) tensor — so the same recorder, charts and entropy diagnostics read them.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from ..errors import ConfigError
from ..tasks.base import Batch
from .base import Capabilities, Cost, InputEncoder, ModelInfo, ModelOptions, ModelOutput, SeqModel
from .recurrent import counter_misses, recurrent_flops


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
    activation_factor = 12.0  # measured against StepCounter, with the decoder's per-step cells below
    eval_activation_fraction = 0.25
    backward_weight_copies = 2.0  # measured 1.0: the decoder's cells run once per target step
    feed: ClassVar[str] = "context"  # what joins y_{i-1} at the decoder input: "context" | "attentional"

    def __init__(self, cfg, spec):
        super().__init__(cfg, spec)
        E, H = cfg.embed_dim or cfg.hidden, cfg.hidden
        self.lstm = self.opts.cell == "lstm"
        self.source_embed = InputEncoder(spec, E)
        self.bidirectional = self.opts.bidirectional
        rnn, k = (nn.LSTM if self.lstm else nn.GRU), (2 if self.bidirectional else 1)
        # one fused single-layer module per layer and direction: dense (unpacked) fused loops are several
        # times faster than packed ones on CPU, and reading each source reversed *within its own length*
        # keeps padding out of every real position's state (see ``encode``)
        self.encoder = nn.ModuleList(
            nn.ModuleList(rnn(E if layer == 0 else H, H // k, batch_first=True) for _ in range(k))
            for layer in range(cfg.layers)
        )
        self.target_embed = nn.Embedding(spec.n_outputs + 1, E)  # target classes + BOS
        self.decoder = self.make_decoder(E + H, H)
        self.build(H)

    def make_decoder(self, d_in: int, H: int) -> nn.Module:
        return (nn.LSTMCell if self.lstm else nn.GRUCell)(d_in, H)

    def forced(self, e: torch.Tensor, s0, mem: dict) -> torch.Tensor | None:
        """Every step's features at once when each decoder input is known in advance (teacher forcing
        with ratio 1) and nothing depends on the previous state but the recurrence; None = step by step."""
        return None

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
        n = batch.x_lengths if batch.x_lengths is not None else torch.full((B,), T, dtype=torch.long)
        n = n.to(x_t.device)
        inp = x_t
        for directions in self.encoder:
            outs = [directions[0](inp)[0]]  # (B, T, H/k): causal, so padding after x_n never reaches h_1 … h_n
            if self.bidirectional:
                outs.append(within(directions[1](within(inp, n))[0], n))  # reads x_n … x_1, then padding
            inp = torch.cat(outs, -1)
        h = inp  # (B, T, H); positions ≥ n hold junk that attention masks out
        last = h.gather(1, (n - 1).view(B, 1, 1).expand(B, 1, h.shape[-1])).squeeze(1)  # (B, H) at x_n
        # the forward half after x_n, the backward half after x_1
        s0 = torch.cat([last[:, : h.shape[-1] // 2], h[:, 0, h.shape[-1] // 2 :]], -1) if self.bidirectional else last
        # an LSTM decoder starts from h_n with an empty cell
        return x_t, h, (s0, torch.zeros_like(s0)) if self.lstm else s0, batch.x_mask

    @staticmethod
    def query(s):
        return s[0] if isinstance(s, tuple) else s  # an LSTM's (h, c): attend and read out with h

    # -- one decoding step (overridden) ----------------------------------------------------------------
    def prepare(self, h: torch.Tensor, s0, mask: torch.Tensor) -> dict:
        return {"c": self.query(s0)}  # (B, H) the one fixed context vector

    def step(self, e: torch.Tensor, s, feed: torch.Tensor | None, mem: dict):
        """(embedded y_{i-1}, state, what was fed back) → (new state, the features ``self.out`` reads,
        α or None, what to feed back next step)."""
        c = mem["c"]
        s = self.decoder(torch.cat([e, c], -1), s)
        return s, torch.cat([self.query(s), c], -1), None, None

    # -- the decoding loop -----------------------------------------------------------------------------
    def forward(self, batch: Batch, return_attention: bool = False) -> ModelOutput:
        x_t, h, s, mask = self.encode(batch)
        mem = self.prepare(h, s, mask)
        B, U = batch.y.shape
        forced = self.training and batch.y_in is not None
        ratio = self.opts.teacher_forcing if forced else 0.0
        gold = batch.y_in.unbind(1) if forced else (None,) * U  # U × (B,)
        if ratio == 1.0:
            e_all = self.target_embed(batch.y_in)  # (B, U, E), one lookup
            feats = self.forced(e_all, s, mem)
            if feats is not None:  # (B, U, F)
                return ModelOutput(self.out(feats), x_t)
        gold_e = e_all.unbind(1) if ratio == 1.0 else None  # U × (B, E)
        prev = torch.full((B,), self.spec.bos, dtype=torch.long, device=batch.x.device)
        feed = None
        feats, logits, alphas = [], [], []
        for i, y_prev in enumerate(gold):
            if gold_e is not None:
                e = gold_e[i]
            else:
                if y_prev is not None and ratio > 0.0:
                    prev = torch.where(self.noise.rand(B, device=prev.device) < ratio, y_prev, prev)
                e = self.target_embed(prev)  # (B, E)
            s, feat, alpha, feed = self.step(e, s, feed, mem)
            if alpha is not None:
                alphas.append(alpha)
            if gold_e is None:  # the greedy choice is fed back (always, or when the coin says so)
                logits.append(self.out(feat))
                prev = logits[-1].detach().argmax(-1)
            else:  # fully forced: one output projection for all steps after the loop
                feats.append(feat)
        pred = torch.stack(logits, 1) if logits else self.out(torch.stack(feats, 1))  # (B, U, V)
        extras = {"attention": [torch.stack(alphas, 1)[:, None]]} if alphas else {}  # [(B, 1, U, T)]
        return ModelOutput(pred, x_t, extras=extras)

    # -- costs -------------------------------------------------------------------------------------------
    def uncounted_flops(self, batch_size: int) -> float:
        """The fused encoder kernel, counted as in ``Recurrent.uncounted_flops`` (per direction); the
        decoder's cells run as ordinary ops that torch's FLOP counter sees. Every position, padding too, is computed.
        Nothing when the counter sees the kernel (``counter_misses``)."""
        layer = self.encoder[0][0]
        if not counter_misses(type(layer), layer.weight_hh_l0.device.type):
            return 0.0
        k = 2 if self.bidirectional else 1
        h, g = self.cfg.hidden // k, 4 if self.lstm else 3
        d_in = [self.source_embed.dim] + [k * h] * (self.cfg.layers - 1)
        return recurrent_flops(batch_size, self.spec.length, h, g, d_in, directions=k)

    @classmethod
    def estimate_activation_bytes(cls, cfg, spec, batch_size: int) -> float:
        e = cfg.embed_dim or cfg.hidden
        T, U, H = spec.length, max(1, spec.target_length), cfg.hidden
        encoder = T * (e + cls.activation_factor * cfg.layers * H)
        decoder = U * (2 * e + (cls.activation_factor + 4) * H + 4 * spec.n_outputs)
        attention = U * T * cls.attention_floats_per_pair(cfg)
        return 4.0 * batch_size * (encoder + decoder + attention)

    @classmethod
    def attention_floats_per_pair(cls, cfg) -> float:
        return 0.0


def within(x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first n_b positions, leaving its padding where it is: (B, T, …) → (B, T, …).
    Its own inverse."""
    t = torch.arange(x.shape[1], device=x.device)
    idx = n[:, None] - 1 - t  # (B, T)
    idx = torch.where(idx >= 0, idx, t)
    return x.gather(1, idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x))


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

    def make_decoder(self, d_in, H):
        # without attention the recurrence is all a step needs, so a forced decoder runs as one fused loop
        return (nn.LSTM if self.lstm else nn.GRU)(d_in, H, batch_first=True)

    def uncounted_flops(self, batch_size: int) -> float:
        """The encoder, plus the forced decoder's fused loop when the counter cannot see it (an LSTM on CPU)."""
        flops = super().uncounted_flops(batch_size)
        if self.opts.teacher_forcing == 1.0 and counter_misses(
            type(self.decoder), self.decoder.weight_hh_l0.device.type
        ):
            H, E = self.cfg.hidden, self.target_embed.embedding_dim
            # input [y; c] is E + H wide; the state starts from the encoder's, which has a gradient
            flops += recurrent_flops(
                batch_size, self.spec.target_length, H, 4 if self.lstm else 3, [E + H], zero_start=False
            )
        return flops

    def forced(self, e, s0, mem):
        c = mem["c"][:, None].expand(-1, e.shape[1], -1)  # (B, U, H)
        out, _ = self.decoder(torch.cat([e, c], -1), tuple(x[None] for x in s0) if self.lstm else s0[None])
        return torch.cat([out, c], -1)  # (B, U, 2H)

    def step(self, e, s, feed, mem):
        c = mem["c"]
        state = tuple(x[None] for x in s) if self.lstm else s[None]
        _, state = self.decoder(torch.cat([e, c], -1)[:, None], state)
        s = tuple(x[0] for x in state) if self.lstm else state[0]
        return s, torch.cat([self.query(s), c], -1), None, None


class Attentive(EncoderDecoder):
    """An encoder–decoder whose steps attend: α of every step is in ``extras["attention"]``."""

    capabilities = Capabilities(attention_maps=True)

    def attention_maps(self, batch: Batch) -> list[torch.Tensor]:
        return self(batch).extras["attention"]  # [(B, 1, U, T)]


class Bahdanau(Attentive):
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
        return s, torch.cat([self.query(s), c], -1), alpha, None

    @classmethod
    def attention_floats_per_pair(cls, cfg):
        return 1.0 * cfg.hidden  # tanh(W s + U h_j) kept for backward at every (i, j)


class Luong(Attentive):
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
        return s, h_tilde, alpha, h_tilde

    @classmethod
    def attention_floats_per_pair(cls, cfg):
        # concat keeps tanh(W_s s + W_h h_j) per pair, as Bahdanau; dot and general a score and a weight
        return 1.0 * cfg.hidden if cfg.options.get("score") == "concat" else 2.0
