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

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..tasks.base import Batch
from .base import Capabilities, Cost, ModelInfo, ModelOutput, SeqModel
from .noise import global_rng
from .transformer import Block, TransformerOptions, attention_flops, check_heads, sinusoidal


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
    capabilities = Capabilities(attention_maps=True)
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
        # the decoder is causal through an explicit mask (``decode``): every attention here then runs the
        # masked SDPA kernel whose FLOP visibility ``sdpa_hidden_from_counter`` probes
        self.encoder = nn.ModuleList(Block(d, o, causal=False, noise=self.noise) for _ in range(cfg.layers))
        self.decoder = nn.ModuleList(Block(d, o, causal=False, noise=self.noise, cross=True) for _ in range(cfg.layers))
        self.ln_enc = nn.LayerNorm(d) if o.norm == "pre" else nn.Identity()
        self.ln_dec = nn.LayerNorm(d) if o.norm == "pre" else nn.Identity()
        self.out = nn.Linear(d, spec.n_outputs)

    @classmethod
    def check(cls, cfg) -> None:
        check_heads(cfg)

    def attention_maps(self, batch: Batch) -> list[torch.Tensor]:
        return self(batch, return_attention=True).extras["attention"]  # per layer (B, H, U, T)

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
            h, _ = layer(h, mask=keys)
        return x_t, self.ln_enc(h), keys

    def decode(self, y_in: torch.Tensor, memory, keys, explicit: bool):
        U = y_in.shape[1]
        causal = torch.ones(U, U, dtype=torch.bool, device=y_in.device).tril()  # (U, U): the past and itself
        s = self._positions(self.target_embed(y_in), self.target_pos)
        maps = []
        for layer in self.decoder:
            s, w = layer(s, mask=causal, memory=memory, memory_mask=keys, explicit=explicit)
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
        return self.cfg.layers * sum(attention_flops(batch_size, q, k, d) for q, k in ((n, n), (m, m), (m, n)))
