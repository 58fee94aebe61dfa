r"""The Transformer as Vaswani et al. (2017) built it: an encoder–decoder for source → target tasks.

    encoder layer:  h ← h + SelfAttn(LN(h), keys = real source positions);   h ← h + FFN(LN(h))
    decoder layer:  s ← s + SelfAttn(LN(s), causal);   s ← s + CrossAttn(LN(s), memory = encoder output);
                    s ← s + FFN(LN(s))
    p(y_i | y_<i, x) = softmax(W_o LN(s_i))

Like Bahdanau's attention, every output step reads every source position — but the encoder and the
teacher-forced decoder have no recurrence: all positions of a layer are computed at once, and a
source symbol is a constant number of steps from every output. Training reads ``batch.y_in``
(teacher forcing: BOS, y_1 … y_{U−1}) in one pass behind a causal mask; in eval mode the decoder
writes greedily, one token at a time, feeding back its own choices (re-running the decoder over
the prefix: the causal mask makes each step's outputs identical to the training pass on the same
prefix). Padded source positions are excluded from every attention's keys, so they never change an
output. Cross-attention weights of every layer go to ``extras["attention"]`` as (B, heads, U, T).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..errors import ConfigError
from ..tasks.base import Batch
from .base import Cost, ModelInfo, ModelOutput, SeqModel
from .noise import Dropout, Noise, global_rng
from .transformer import TransformerOptions, feed_forward, rotate, sinusoidal


@functools.cache
def sdpa_hidden_from_counter(device: str = "cpu") -> bool:
    """True when torch's FLOP counter cannot see masked ``scaled_dot_product_attention`` on ``device``
    (probed once: a fused kernel is invisible to it, a decomposed one is counted already)."""
    with global_rng(0):  # may run beside a model build (models/noise.py)
        q = torch.randn(1, 1, 4, 8, device=device, requires_grad=True)
    mask = torch.ones(4, 4, dtype=torch.bool, device=device).tril()
    with FlopCounterMode(display=False) as counter:
        F.scaled_dot_product_attention(q, q, q, attn_mask=mask).sum().backward()
    return counter.get_total_flops() == 0


class Attention(nn.Module):
    """Multi-head attention of queries ``x`` over keys/values ``memory`` with a boolean mask
    (True = may attend), through SDPA or, when the weights are wanted, explicitly."""

    def __init__(self, d: int, heads: int, dropout: float, rope: bool, noise: Noise):
        super().__init__()
        self.heads, self.dropout, self.rope, self.noise = heads, dropout, rope, noise
        self.q, self.kv, self.proj = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)

    def forward(self, x, memory, mask, explicit: bool):
        B, U, D = x.shape
        T, H = memory.shape[1], self.heads
        q = self.q(x).view(B, U, H, D // H).transpose(1, 2)  # (B, H, U, Dh)
        k, v = (z.view(B, T, H, D // H).transpose(1, 2) for z in self.kv(memory).split(D, dim=2))  # (B, H, T, Dh)
        if self.rope:
            q, k = rotate(q), rotate(k)
        p = self.dropout if self.training else 0.0
        if explicit or p > 0.0:  # SDPA's dropout would draw from the global generator (models/noise.py)
            scores = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(~mask, float("-inf"))
            weights = scores.softmax(-1)  # (B, H, U, T), rows sum to 1, 0 where masked
            y = self.noise.dropout(weights, p, self.training) @ v
        else:
            y, weights = F.scaled_dot_product_attention(q, k, v, attn_mask=mask), None
        return self.proj(y.transpose(1, 2).reshape(B, U, D)), weights if explicit else None


class Layer(nn.Module):
    """An encoder layer (self-attention, FFN) or, with ``cross``, a decoder layer (causal self-attention,
    cross-attention over the encoder output, FFN); pre- or post-norm residual sublayers."""

    def __init__(self, d: int, o: TransformerOptions, cross: bool, noise: Noise):
        super().__init__()
        self.pre = o.norm == "pre"
        self.self_attn = Attention(d, o.heads, o.dropout, o.pos == "rope", noise)
        self.cross = Attention(d, o.heads, o.dropout, False, noise) if cross else None
        self.ffn = feed_forward(d, o.d_ff or 4 * d, o.dropout, noise)
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(3 if cross else 2))
        self.drop = Dropout(o.dropout, noise)

    def _sub(self, h, i, fn):
        if self.pre:
            out, w = fn(self.norms[i](h))
            return h + self.drop(out), w
        out, w = fn(h)
        return self.norms[i](h + self.drop(out)), w

    def forward(self, h, self_mask, memory=None, memory_mask=None, explicit=False):
        h, _ = self._sub(h, 0, lambda z: self.self_attn(z, z, self_mask, False))
        w = None
        if self.cross is not None:
            h, w = self._sub(h, 1, lambda z: self.cross(z, memory, memory_mask, explicit))
        h, _ = self._sub(h, len(self.norms) - 1, lambda z: (self.ffn(z), None))
        return h, w


class EncoderDecoderTransformer(SeqModel):
    info = ModelInfo(
        title="Transformer (encoder–decoder)",
        year=2017,
        paper="Vaswani et al. (2017), Attention Is All You Need, NeurIPS",
        summary="Self-attention encoder, causal self-attention decoder with cross-attention: no recurrence at all.",
        equation=(
            r"\begin{aligned} \mathrm{Attention}(Q,K,V) &= "
            r"\mathrm{softmax}\!\left(\frac{QK^T}{\sqrt{d_k}} + M\right)V \\ "
            r"s_i &= \mathrm{Dec}(y_{<i},\ \mathrm{Enc}(x_1 \ldots x_n)) \end{aligned}"
        ),
        time=Cost(2, 1, "O((n² + m² + n·m)·d)"),
        space=Cost(2, 0, "O(n² + n·m)"),
        train_memory=Cost(1, 1, "O((n+m)·d) with fused attention"),
        parallel="full",
    )
    Options = TransformerOptions
    outputs = frozenset({"sequence"})
    input_kinds = frozenset({"tokens"})
    default_lr = 1e-3
    activation_factor = 50.0  # measured: encoder, decoder and cross-attention, ~45 floats per position
    eval_activation_fraction = 0.4
    backward_weight_copies = 0.5  # measured 0.2

    def __init__(self, cfg, spec):
        super().__init__(cfg, spec)
        o, d = self.opts, cfg.hidden
        self.source_embed = nn.Embedding(spec.input_size, d)
        self.target_embed = nn.Embedding(spec.n_outputs + 1, d)  # target classes + BOS
        self.source_pos = nn.Parameter(torch.randn(spec.length, d) * 0.02) if o.pos == "learned" else None
        self.target_pos = nn.Parameter(torch.randn(spec.target_length, d) * 0.02) if o.pos == "learned" else None
        self.encoder = nn.ModuleList(Layer(d, o, cross=False, noise=self.noise) for _ in range(cfg.layers))
        self.decoder = nn.ModuleList(Layer(d, o, cross=True, noise=self.noise) for _ in range(cfg.layers))
        self.ln_enc = nn.LayerNorm(d) if o.norm == "pre" else nn.Identity()
        self.ln_dec = nn.LayerNorm(d) if o.norm == "pre" else nn.Identity()
        self.out = nn.Linear(d, spec.n_outputs)

    @classmethod
    def check(cls, cfg) -> None:
        heads = cfg.options.get("heads", TransformerOptions.model_fields["heads"].default)
        if cfg.hidden % heads:
            raise ConfigError(
                f"hidden size {cfg.hidden} is not divisible by {heads} heads; choose a multiple of the number of heads",
                "model.heads",
            )

    def _positions(self, h: torch.Tensor, learned: torch.Tensor | None) -> torch.Tensor:
        if self.opts.pos == "sinusoidal":
            return h + sinusoidal(h.shape[1], h.shape[-1], h.device)
        if learned is not None:
            return h + learned[: h.shape[1]]
        return h  # rope: inside self-attention

    def encode(self, batch: Batch):
        x_t = self.source_embed(batch.x)  # (B, T, d): the x_t whose gradient the engine reads
        keys = batch.x_mask[:, None, None, :]  # (B, 1, 1, T): padding is never a key
        h = self._positions(x_t, self.source_pos)
        for layer in self.encoder:
            h, _ = layer(h, keys)
        return x_t, self.ln_enc(h), keys

    def decode(self, y_in: torch.Tensor, memory, keys, explicit: bool):
        U = y_in.shape[1]
        causal = torch.ones(U, U, dtype=torch.bool, device=y_in.device).tril()  # (U, U): the past and itself
        s = self._positions(self.target_embed(y_in), self.target_pos)
        maps = []
        for layer in self.decoder:
            s, w = layer(s, causal, memory, keys, explicit)
            if w is not None:
                maps.append(w)
        return self.out(self.ln_dec(s)), maps  # (B, U, V)

    def forward(self, batch: Batch, return_attention: bool | None = None) -> ModelOutput:
        explicit = self.opts.attention == "explicit" if return_attention is None else return_attention
        x_t, memory, keys = self.encode(batch)
        B, U = batch.y.shape
        if self.training and batch.y_in is not None:
            pred, maps = self.decode(batch.y_in, memory, keys, explicit)
        else:  # greedy: feed back the model's own choices
            y_in = torch.full((B, 1), self.spec.bos, dtype=torch.long, device=batch.x.device)
            steps = []
            for i in range(U):
                logits, maps = self.decode(y_in, memory, keys, explicit and i == U - 1)
                steps.append(logits[:, -1])
                y_in = torch.cat([y_in, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
            pred = torch.stack(steps, 1)  # (B, U, V)
        out = ModelOutput(pred, x_t)
        if maps:
            out.extras["attention"] = [m.detach() for m in maps]  # per layer (B, H, U, T)
        return out

    def uncounted_flops(self, batch_size: int) -> float:
        """The fused attention kernels the FLOP counter cannot see (as ``Transformer.uncounted_flops``): per
        layer encoder n×n, decoder m×m and cross m×n scores and weighted sums, forward + backward."""
        if self.opts.attention != "sdpa" or not sdpa_hidden_from_counter(self.out.weight.device.type):
            return 0.0
        n, m, d = self.spec.length, self.spec.target_length, self.cfg.hidden
        return 3.0 * self.cfg.layers * 4.0 * batch_size * d * (n * n + m * m + m * n)
