r"""Mixture of experts: a Transformer whose feed-forward block is a routed set of experts
(Shazeer et al. 2017; Fedus, Zoph & Shazeer 2021).

    g(x) = softmax(W_r x),   y = Σ_{e ∈ top-k(g(x))} ĝ_e(x) · FFN_e(x),   ĝ = g renormalised over the top k

Each token is processed by k of E experts, so the parameter count grows with E while the compute
per token grows with k: *total* vs *active* parameters. Each expert takes at most
C = ⌈capacity_factor · k · N / E⌉ of the N tokens in a batch; assignments beyond that are dropped
(the residual connection carries those tokens on). Without help the router tends to collapse onto
a few experts; the load-balancing loss of the Switch Transformer,

    L_aux = α · E · Σ_e f_e · P_e      (f_e: share of assignments to e, P_e: mean router probability of e),

is smallest when both are uniform. ``MoEFFN.forward`` dispatches each expert's tokens in one batch;
``MoEFFN.reference`` routes one token at a time, in token order (the order capacity is granted in),
and is tested to give the same output and load.
"""

from __future__ import annotations

import math

import torch
from pydantic import Field
from torch import nn

from ..errors import ConfigError
from .base import Capabilities, ModelInfo
from .noise import Noise
from .transformer import _INFO, GPT, TransformerOptions, feed_forward


class MoEOptions(TransformerOptions):
    experts: int = Field(4, ge=1, le=64, description="number of experts E per feed-forward block")
    top_k: int = Field(2, ge=1, le=64, description="experts per token k")
    capacity_factor: float = Field(1.25, gt=0, le=64, description="expert capacity = factor · k · tokens / E")
    # α = 0.01 as in Fedus et al. (2021); 0 turns balancing off to show the collapse
    balance: float = Field(0.01, ge=0, le=10, description="weight α of the load-balancing loss (0 = off)")


class MoEFFN(nn.Module):
    def __init__(
        self,
        d: int,
        d_ff: int,
        experts: int,
        top_k: int,
        capacity_factor: float,
        balance: float,
        dropout: float = 0.0,
        noise: Noise | None = None,  # the model's; a block used on its own gets its own
    ):
        super().__init__()
        self.k, self.capacity_factor, self.balance = top_k, capacity_factor, balance
        self.router = nn.Linear(d, experts, bias=False)
        noise = noise or Noise()
        self.experts = nn.ModuleList(feed_forward(d, d_ff, dropout, noise) for _ in range(experts))
        self.aux_loss: torch.Tensor | None = None
        self.last_load: torch.Tensor | None = None  # share of assignments per expert, last forward
        self.last_dropped: float = 0.0

    def capacity(self, tokens: int) -> int:
        return max(1, math.ceil(self.capacity_factor * self.k * tokens / len(self.experts)))

    def route(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (N, d) → router probabilities (N, E), top-k expert ids (N, k), renormalised gates (N, k)."""
        probs = self.router(x).softmax(-1)  # (N, E)
        gate, idx = probs.topk(self.k, dim=-1)  # (N, k)
        return probs, idx, gate / gate.sum(-1, keepdim=True)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        B, T, d = h.shape
        x = h.reshape(B * T, d)  # (N, d)
        probs, idx, gate = self.route(x)
        E, C = len(self.experts), self.capacity(B * T)
        out = torch.zeros_like(x)
        counts = torch.zeros(E, device=x.device)
        for e, expert in enumerate(self.experts):
            token, slot = (idx == e).nonzero(as_tuple=True)  # assignments to e, in token order
            counts[e] = token.numel()
            token, slot = token[:C], slot[:C]  # capacity: later tokens are dropped
            if token.numel():
                out.index_add_(0, token, expert(x[token]) * gate[token, slot, None])
        f = counts / counts.sum()  # (E,) share of assignments before dropping
        self.last_load = f.detach()
        self.last_dropped = float((counts - C).clamp_min(0).sum() / counts.sum())
        self.aux_loss = self.balance * E * (f * probs.mean(0)).sum() if self.balance > 0 else None
        return out.view(B, T, d)

    def reference(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``forward`` one token at a time: token n joins each of its top-k experts e while e has taken
        fewer than C tokens, y_n = Σ_e ĝ_e FFN_e(x_n) over those; returns y (B, T, d) and f (E,)."""
        B, T, d = h.shape
        x = h.reshape(B * T, d)  # (N, d)
        _, idx, gate = self.route(x)
        C, taken = self.capacity(B * T), [0] * len(self.experts)
        ys = []
        for x_n, experts, g in zip(x.unbind(0), idx.tolist(), gate.unbind(0), strict=True):
            y_n = torch.zeros_like(x_n)
            for slot, e in enumerate(experts):
                if taken[e] < C:
                    y_n = y_n + g[slot] * self.experts[e](x_n[None])[0]
                taken[e] += 1
            ys.append(y_n)
        counts = torch.tensor(taken, dtype=h.dtype, device=h.device)
        return torch.stack(ys).view(B, T, d), counts / counts.sum()


class MoE(GPT):
    info = ModelInfo(
        title="Mixture-of-experts Transformer",
        year=2017,
        paper="Shazeer et al. (2017), Outrageously Large Neural Networks: The Sparsely-Gated Mixture-of-Experts "
        "Layer; Fedus, Zoph & Shazeer (2021), Switch Transformers",
        summary="A routed choice of k out of E feed-forward experts per token: more parameters, same compute.",
        equation=r"y = \sum_{e \in \mathrm{top}\text{-}k(g(x))} \hat{g}_e(x)\, \mathrm{FFN}_e(x),"
        r"\quad g(x) = \mathrm{softmax}(W_r x)",
        **_INFO,
    )
    Options = MoEOptions
    capabilities = Capabilities(causal=True, attention_maps=True, expert_load=True)
    batch_linear_flops = False  # expert capacity ⌈factor·k·B·T/E⌉ is rounded up per batch, not per example
    # measured: the router's scores and every expert's dispatched copy on top of a Transformer block
    activation_factor = 36.0
    eval_activation_fraction = 0.4

    def make_block(self, d: int, ffn=None):
        o = self.opts
        return super().make_block(
            d,
            ffn=lambda d_: MoEFFN(
                d_, o.d_ff or 4 * d_, o.experts, o.top_k, o.capacity_factor, o.balance, o.dropout, self.noise
            ),
        )

    @classmethod
    def check(cls, cfg) -> None:
        super().check(cfg)
        opts = MoEOptions.model_validate(cfg.options)
        if opts.top_k > opts.experts:
            raise ConfigError(
                f"top_k = {opts.top_k} experts per token but only {opts.experts} experts exist; "
                "lower --top-k or raise --experts",
                "model.top_k",
            )

    def forward(self, batch, return_attention=None):
        out = super().forward(batch, return_attention)
        out.extras["expert_load"] = self.expert_load()
        return out

    def aux_loss(self) -> torch.Tensor | None:
        losses = [b.ffn.aux_loss for b in self.blocks if b.ffn.aux_loss is not None]
        return sum(losses[1:], losses[0]) if losses else None

    def expert_load(self) -> list[torch.Tensor]:
        return [b.ffn.last_load for b in self.blocks]  # per layer (E,)

    def active_param_count(self) -> int:
        """Parameters used for one token: everything but the (E − k) experts it is not routed to."""
        o = self.opts
        per_expert = sum(p.numel() for p in self.blocks[0].ffn.experts[0].parameters())
        return self.param_count() - len(self.blocks) * (o.experts - o.top_k) * per_expert
