r"""The Transformer (Vaswani et al. 2017) as a decoder-only GPT and an encoder-only BERT.

    Attention(Q, K, V) = softmax(Q Kᵀ / √d_k + M) V,      M_ij = −∞ where j may not be seen

Every position attends to every other in one matrix product: no recurrence, so all n positions
are computed in parallel and any two are one step apart — at the price of an n × n score matrix
per head, O(n²·d) time. ``gpt`` masks the future (M_ij = −∞ for j > i; Radford et al. 2018/2019),
``bert`` sees both sides (Devlin et al. 2018). One attention module and one block serve both, the
mixture of experts (moe.py) and the encoder–decoder (encdec.py, which adds cross-attention):

    h ← h + Attention(LN(h));   [h ← h + CrossAttention(LN(h), encoder output);]   h ← h + FFN(LN(h))

(pre-norm; post-norm puts LN after each residual sum).

Attention runs through ``scaled_dot_product_attention`` (fused; on CPU it keeps O(n) per head for
backward, not the n × n matrix) unless the maps are wanted: ``attention="explicit"`` computes
softmax(QKᵀ/√d) itself and returns the weights, for the pages that draw them. Both paths agree
(tests/test_transformer.py). Training with attention dropout also takes the explicit path: SDPA's
``dropout_p`` draws from torch's global generator, which a run beside this one would disturb.

To use a different feed-forward block (e.g. a mixture of experts), pass ``ffn=callable(d_model)``
to ``Block``/``Transformer.make_block`` — the callable returns an ``nn.Module`` mapping (B, T, d)
to (B, T, d); a model whose block adds a loss of its own returns it from ``aux_loss()``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ..errors import ConfigError, LengthMismatchError
from ..tasks.base import Batch
from .base import Capabilities, Cost, ModelInfo, ModelOptions, ModelOutput, SeqModel, SequenceHead
from .noise import Dropout, Noise


class TransformerOptions(ModelOptions):
    heads: int = Field(4, ge=1, le=64, description="attention heads (must divide the hidden size)")
    d_ff: int | None = Field(None, ge=1, le=65_536, description="feed-forward width (default 4 × hidden)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on attention weights and residual branches")
    pos: Literal["sinusoidal", "learned", "rope"] = Field("sinusoidal", description="positional encoding")
    norm: Literal["pre", "post"] = Field("pre", description="LayerNorm before (pre) or after (post) each sublayer")
    attention: Literal["sdpa", "explicit"] = Field(
        "sdpa", description="fused scaled-dot-product attention, or explicit softmax(QKᵀ/√d) that keeps the maps"
    )


def sinusoidal(T: int, d: int, device=None) -> torch.Tensor:
    """PE(t, 2i) = sin(t / 10000^{2i/d}), PE(t, 2i+1) = cos(…)  (Vaswani et al. 2017, §3.5)."""
    t = torch.arange(T, device=device, dtype=torch.float32)[:, None]  # (T, 1)
    freq = torch.exp(torch.arange(0, d, 2, device=device, dtype=torch.float32) * (-math.log(10_000.0) / d))
    pe = torch.zeros(T, d, device=device)
    pe[:, 0::2] = torch.sin(t * freq)
    pe[:, 1::2] = torch.cos(t * freq)[:, : d // 2]
    return pe  # (T, d)


def rotate(x: torch.Tensor) -> torch.Tensor:
    """RoPE (Su et al. 2021): rotate each pair of channels by an angle proportional to the position,
    so q·k depends on the positions only through their difference."""
    B, H, T, Dh = x.shape
    half = Dh // 2
    freq = torch.exp(torch.arange(half, device=x.device, dtype=x.dtype) * (-math.log(10_000.0) / half))
    angle = torch.arange(T, device=x.device, dtype=x.dtype)[:, None] * freq  # (T, Dh/2)
    cos, sin = angle.cos(), angle.sin()
    x1, x2 = x[..., :half], x[..., half : 2 * half]
    out = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return torch.cat([out, x[..., 2 * half :]], dim=-1) if Dh % 2 else out


def check_heads(cfg) -> None:
    """Raise ConfigError unless the hidden size splits evenly into the heads (every Transformer family)."""
    heads = cfg.options.get("heads", TransformerOptions.model_fields["heads"].default)
    if cfg.hidden % heads:
        raise ConfigError(
            f"hidden size {cfg.hidden} is not divisible by {heads} heads; choose a hidden size "
            f"that is a multiple of the number of heads",
            "model.heads",
        )


def attention_flops(batch_size: int, queries: int, keys: int, d: int) -> float:
    """QKᵀ and αV of one attention layer, forward + backward: 2·B·queries·keys·d each forward (masked
    entries included), backward about twice that."""
    return 3.0 * 4.0 * batch_size * queries * keys * d


class Attention(nn.Module):
    """Multi-head attention of queries from ``x`` over keys and values from ``memory`` — ``x`` itself
    (self-attention) unless an encoder's output is given (cross-attention). The mask M is −∞ where
    ``causal`` hides the future (j > i) and where ``mask`` is False (e.g. padded keys; broadcast to
    (B, H, queries, keys)). With ``explicit`` the weights α are computed and returned; otherwise SDPA."""

    def __init__(self, d: int, heads: int, dropout: float, noise: Noise, causal: bool = False, rope: bool = False):
        super().__init__()
        self.heads, self.dropout, self.noise, self.causal, self.rope = heads, dropout, noise, causal, rope
        self.qkv = nn.Linear(d, 3 * d)  # W_Q, W_K, W_V stacked: one product for self-attention
        self.proj = nn.Linear(d, d)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        explicit: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, U, D = x.shape
        if memory is None:
            q, k, v = self.qkv(x).split(D, dim=2)  # 3 × (B, U, D)
        else:
            w, b = self.qkv.weight, self.qkv.bias
            q = F.linear(x, w[:D], b[:D])  # (B, U, D)
            k, v = F.linear(memory, w[D:], b[D:]).split(D, dim=2)  # 2 × (B, T, D)
        T, H = k.shape[1], self.heads
        q = q.view(B, U, H, D // H).transpose(1, 2)  # (B, H, U, Dh)
        k, v = (z.view(B, T, H, D // H).transpose(1, 2) for z in (k, v))  # (B, H, T, Dh)
        if self.rope:
            q, k = rotate(q), rotate(k)
        p = self.dropout if self.training else 0.0
        if explicit or p > 0.0:  # SDPA's dropout would draw from the global generator (models/noise.py)
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, U, T)
            if self.causal:
                future = torch.ones(U, T, dtype=torch.bool, device=x.device).triu(1)
                scores = scores.masked_fill(future, float("-inf"))
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(-1)  # α: each row sums to 1, 0 where masked
            y = self.noise.dropout(weights, p, self.training) @ v  # (B, H, U, Dh)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.causal)  # (B, H, U, Dh)
            weights = None
        y = y.transpose(1, 2).reshape(B, U, D)  # (B, U, D)
        return self.proj(y), weights if explicit else None


def feed_forward(d: int, d_ff: int, dropout: float, noise: Noise) -> nn.Module:
    return nn.Sequential(nn.Linear(d, d_ff), nn.GELU(), nn.Linear(d_ff, d), Dropout(dropout, noise))


class Block(nn.Module):
    """One layer of every Transformer here: self-attention (``causal`` or not), with ``cross`` a
    cross-attention over an encoder's output, then the feed-forward block ``ffn(d)`` (default: the
    two-layer GELU FFN), each a residual branch, pre- or post-norm (module docstring). Returns the
    attention weights it shows when ``explicit``: the cross-attention's if it has one, else its own."""

    def __init__(self, d: int, o: TransformerOptions, causal: bool, noise: Noise, cross: bool = False, ffn=None):
        super().__init__()
        self.pre_norm = o.norm == "pre"
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = Attention(d, o.heads, o.dropout, noise, causal=causal, rope=o.pos == "rope")
        self.cross = Attention(d, o.heads, o.dropout, noise) if cross else None
        self.ln_cross = nn.LayerNorm(d) if cross else None
        self.ffn = ffn(d) if ffn is not None else feed_forward(d, o.d_ff or 4 * d, o.dropout, noise)
        self.drop = Dropout(o.dropout, noise)

    def forward(
        self,
        h: torch.Tensor,
        mask: torch.Tensor | None = None,
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        explicit: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        pre = self.pre_norm
        a, w = self.attn(self.ln1(h) if pre else h, mask=mask, explicit=explicit and self.cross is None)
        h = h + self.drop(a) if pre else self.ln1(h + self.drop(a))
        if self.cross is not None:
            a, w = self.cross(self.ln_cross(h) if pre else h, memory, memory_mask, explicit)
            h = h + self.drop(a) if pre else self.ln_cross(h + self.drop(a))
        f = self.ffn(self.ln2(h) if pre else h)
        return (h + f if pre else self.ln2(h + f)), w


class Transformer(SeqModel):
    """Shared body; subclasses declare causal or bidirectional attention in their capabilities."""

    Options = TransformerOptions
    default_lr = 1e-3  # Adam at 1e-3 with clipping trains these small models stably without warm-up
    # measured: ~18 floats per position and width unit (q, k, v, attention output, 4d FFN, norms, residuals)
    activation_factor = 24.0
    eval_activation_fraction = 0.6
    backward_weight_copies = 1.0  # measured 0.5

    def __init__(self, cfg, spec):
        super().__init__(cfg, spec)
        o, d = self.opts, cfg.hidden
        self.tokens = spec.input_kind == "tokens"
        self.embed = nn.Embedding(spec.input_size, d) if self.tokens else nn.Linear(spec.input_size, d)
        self.max_len = spec.length
        self.pos = nn.Parameter(torch.zeros(spec.length, d)) if o.pos == "learned" else None
        if self.pos is not None:
            nn.init.normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList(self.make_block(d) for _ in range(cfg.layers))
        self.ln_f = nn.LayerNorm(d) if o.norm == "pre" else nn.Identity()
        self.head = SequenceHead(spec, d)

    def make_block(self, d: int, ffn=None) -> Block:
        return Block(d, self.opts, self.capabilities.causal, self.noise, ffn=ffn)

    def body_state(self) -> dict[str, torch.Tensor]:
        """Every weight except the task's output head: what pre-training hands to fine-tuning."""
        return {k: v.detach().clone() for k, v in self.state_dict().items() if not k.startswith("head.")}

    def load_body(self, state: dict[str, torch.Tensor]) -> None:
        """Start from pre-trained weights (Devlin et al. 2018, §3.2): copy the embedding and every block
        from ``state`` (a ``body_state()`` of a model with the same shape); the output head keeps its
        fresh initialisation, since the new task has its own outputs."""
        own = {k: v for k, v in self.state_dict().items() if not k.startswith("head.")}
        missing = sorted(set(own) - set(state))
        wrong = sorted(k for k in own if k in state and state[k].shape != own[k].shape)
        if missing or wrong:
            raise ConfigError(
                f"pre-trained weights do not fit this model (missing: {', '.join(missing) or 'none'}; other shape: "
                f"{', '.join(wrong) or 'none'}); use the same hidden size, layers, heads and vocabulary",
                "model",
            )
        with torch.no_grad():
            for k, v in own.items():
                v.copy_(state[k])  # in place: the optimizer already holds these tensors

    def uncounted_flops(self, batch_size: int) -> float:
        """torch's FLOP counter does not see the fused CPU attention kernel: QKᵀ and αV cost
        2·B·n²·d each per layer forward (masked entries included), backward about twice that."""
        if self.opts.attention != "sdpa":
            return 0.0
        n = self.spec.length
        return self.cfg.layers * attention_flops(batch_size, n, n, self.cfg.hidden)

    @classmethod
    def check(cls, cfg) -> None:
        check_heads(cfg)

    def aux_loss(self) -> torch.Tensor | None:
        """A loss the blocks add to the task's, from the last forward pass (e.g. MoE load balancing)."""
        return None

    def attention_maps(self, batch: Batch) -> list[torch.Tensor]:
        return self(batch, return_attention=True).extras["attention"]  # per layer (B, H, T, T)

    def forward(self, batch: Batch, return_attention: bool | None = None) -> ModelOutput:
        x = batch.x
        T = x.shape[1]
        if self.pos is not None and self.max_len < T:
            raise LengthMismatchError(
                f"learned positions exist for lengths up to {self.max_len}, not {T}: position {self.max_len + 1} was "
                "never seen in training. Sinusoidal or rotary positions extend to any length.",
                "model.pos",
            )
        if self.tokens:
            x_t = self.embed(x)  # (B, T, d): the x_t whose gradient the engine reads
            h = x_t
        else:
            x_t = x.detach().requires_grad_(torch.is_grad_enabled())  # (B, T, F)
            h = self.embed(x_t)  # (B, T, d)
        if self.opts.pos == "sinusoidal":
            h = h + sinusoidal(T, h.shape[-1], h.device)
        elif self.pos is not None:
            h = h + self.pos[:T]
        explicit = self.opts.attention == "explicit" if return_attention is None else return_attention
        maps = []
        for block in self.blocks:
            h, w = block(h, explicit=explicit)
            if w is not None:
                maps.append(w.detach())
        out = ModelOutput(self.head(self.ln_f(h)), x_t, aux_loss=self.aux_loss())
        if maps:
            out.extras["attention"] = maps  # per layer (B, H, T, T)
        return out


_INFO = dict(
    time=Cost(2, 1, "O(n²·d)"),
    space=Cost(2, 0, "O(n²)"),
    train_memory=Cost(1, 1, "O(n·d) with fused attention"),
    parallel="full",
)


class GPT(Transformer):
    capabilities = Capabilities(causal=True, attention_maps=True)
    info = ModelInfo(
        title="GPT (decoder-only Transformer)",
        year=2018,
        paper="Radford et al. (2018, 2019), Improving Language Understanding by Generative Pre-Training; "
        "Language Models are Unsupervised Multitask Learners",
        summary="Causal self-attention: each position sees itself and the past, all positions at once.",
        equation=r"\begin{aligned} \mathrm{Attention}(Q,K,V) &= "
        r"\mathrm{softmax}\!\left(\frac{QK^T}{\sqrt{d_k}} + M\right)V \\"
        r" M_{ij} &= -\infty \text{ for } j > i \end{aligned}",
        **_INFO,
    )


class BERT(Transformer):
    capabilities = Capabilities(attention_maps=True)
    info = ModelInfo(
        title="BERT (encoder-only Transformer)",
        year=2018,
        paper="Devlin et al. (2018), BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding",
        summary="Bidirectional self-attention: every position sees the whole sequence.",
        equation=r"\mathrm{Attention}(Q,K,V) = \mathrm{softmax}\!\left(\frac{QK^T}{\sqrt{d_k}}\right)V",
        **_INFO,
    )
