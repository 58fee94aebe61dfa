r"""The Transformer (Vaswani et al. 2017) as a decoder-only GPT and an encoder-only BERT.

    Attention(Q, K, V) = softmax(Q Kᵀ / √d_k + M) V,      M_ij = −∞ where j may not be seen

Every position attends to every other in one matrix product: no recurrence, so all n positions
are computed in parallel and any two are one step apart — at the price of an n × n score matrix
per head, O(n²·d) time. ``gpt`` masks the future (M_ij = −∞ for j > i; Radford et al. 2018/2019),
``bert`` sees both sides (Devlin et al. 2018). One block implementation serves both:

    h ← h + Attention(LN(h));   h ← h + FFN(LN(h))          (pre-norm; post-norm puts LN after)

Attention runs through ``scaled_dot_product_attention`` (fused; on CPU it keeps O(n) per head for
backward, not the n × n matrix) unless the maps are wanted: ``attention="explicit"`` computes
softmax(QKᵀ/√d) itself and returns the weights, for the pages that draw them. Both paths agree
(tests/test_transformer.py). Training with attention dropout also takes the explicit path: SDPA's
``dropout_p`` draws from torch's global generator, which a run beside this one would disturb.

To use a different feed-forward block (e.g. a mixture of experts), pass ``ffn=callable(d_model)``
to ``Block``/``Transformer.make_block`` — the callable returns an ``nn.Module`` mapping (B, T, d)
to (B, T, d); if the module sets ``self.aux_loss`` after its forward, it is added to the loss.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ..errors import ConfigError, LengthMismatchError
from ..tasks.base import Batch
from .base import Cost, ModelInfo, ModelOptions, ModelOutput, SeqModel, SequenceHead
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


class SelfAttention(nn.Module):
    def __init__(self, d: int, heads: int, causal: bool, dropout: float, rope: bool, noise: Noise):
        super().__init__()
        self.heads, self.causal, self.dropout, self.rope, self.noise = heads, causal, dropout, rope, noise
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x: torch.Tensor, explicit: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=2)  # 3 × (B, T, D)
        q, k, v = (z.view(B, T, self.heads, D // self.heads).transpose(1, 2) for z in (q, k, v))  # (B, H, T, Dh)
        if self.rope:
            q, k = rotate(q), rotate(k)
        p = self.dropout if self.training else 0.0
        if not explicit and p == 0.0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)  # (B, H, T, Dh)
            weights = None
        else:
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, T, T)
            if self.causal:
                future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
                scores = scores.masked_fill(future, float("-inf"))
            weights = scores.softmax(-1)  # α: each row sums to 1
            y = self.noise.dropout(weights, p, self.training) @ v  # (B, H, T, Dh)
        y = y.transpose(1, 2).reshape(B, T, D)  # (B, T, D)
        return self.proj(y), weights if explicit else None


def feed_forward(d: int, d_ff: int, dropout: float, noise: Noise) -> nn.Module:
    return nn.Sequential(nn.Linear(d, d_ff), nn.GELU(), nn.Linear(d_ff, d), Dropout(dropout, noise))


class Block(nn.Module):
    def __init__(
        self,
        d: int,
        heads: int,
        d_ff: int,
        causal: bool,
        dropout: float,
        rope: bool,
        pre_norm: bool,
        noise: Noise,
        ffn=None,
    ):
        super().__init__()
        self.pre_norm = pre_norm
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = SelfAttention(d, heads, causal, dropout, rope, noise)
        self.ffn = ffn(d) if ffn is not None else feed_forward(d, d_ff, dropout, noise)
        self.drop = Dropout(dropout, noise)

    def forward(self, h: torch.Tensor, explicit: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.pre_norm:
            a, w = self.attn(self.ln1(h), explicit)
            h = h + self.drop(a)
            return h + self.ffn(self.ln2(h)), w
        a, w = self.attn(h, explicit)
        h = self.ln1(h + self.drop(a))
        return self.ln2(h + self.ffn(h)), w


class Transformer(SeqModel):
    """Shared body; subclasses choose causal or bidirectional attention."""

    Options = TransformerOptions
    causal: ClassVar[bool]
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
        o = self.opts
        return Block(
            d, o.heads, o.d_ff or 4 * d, self.causal, o.dropout, o.pos == "rope", o.norm == "pre", self.noise, ffn
        )

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
        n, d = self.spec.length, self.cfg.hidden
        return 3.0 * self.cfg.layers * 4.0 * batch_size * n * n * d

    @classmethod
    def check(cls, cfg) -> None:
        heads = cfg.options.get("heads", TransformerOptions.model_fields["heads"].default)
        if cfg.hidden % heads:
            raise ConfigError(
                f"hidden size {cfg.hidden} is not divisible by {heads} heads; choose a hidden size "
                f"that is a multiple of the number of heads",
                "model.heads",
            )

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
        maps, aux = [], None
        for block in self.blocks:
            h, w = block(h, explicit)
            if w is not None:
                maps.append(w.detach())
            block_aux = getattr(block.ffn, "aux_loss", None)
            if block_aux is not None:
                aux = block_aux if aux is None else aux + block_aux
        out = ModelOutput(self.head(self.ln_f(h)), x_t, aux_loss=aux)
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
    causal = True
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
    causal = False
    info = ModelInfo(
        title="BERT (encoder-only Transformer)",
        year=2018,
        paper="Devlin et al. (2018), BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding",
        summary="Bidirectional self-attention: every position sees the whole sequence.",
        equation=r"\mathrm{Attention}(Q,K,V) = \mathrm{softmax}\!\left(\frac{QK^T}{\sqrt{d_k}}\right)V",
        **_INFO,
    )
