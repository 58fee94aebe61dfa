r"""State-space models: a diagonal S4D layer (Gu, Gupta, Goel & Ré 2022) and a selective scan in the
style of Mamba (Gu & Dao 2023).

A linear time-invariant state space, per channel,

    s'(t) = A s(t) + B u(t),   y(t) = C s(t) + D u(t),

discretised with step Δ (zero-order hold) becomes a linear recurrence

    s_k = Ā s_{k-1} + B̄ u_k,   y_k = C s_k + D u_k,    Ā = e^{ΔA},  B̄ = (e^{ΔA} − 1) A^{-1} B,

which unrolls into one long convolution y = K ∗ u + D u with kernel K_l = C Ā^l B̄. With A diagonal
the kernel costs O(N·L) to build and the convolution O(L log L) with an FFT — so training is
parallel over time, while generation can run the recurrence one step at a time with O(N) state.
Both modes are here (``SSMKernel.forward`` and ``SSMKernel.step``) and agree to float precision.

The selective SSM makes Δ, B and C functions of the input, so the model can choose per token what
to write into and read from its state (which a time-invariant kernel cannot); the convolution view
is lost and a scan runs over time instead. Per channel d and state entry n,

    s_t = a_t s_{t-1} + b_t,   a_t = e^{Δ_t A} ∈ (0, 1],   b_t = Δ_t B_t x_t,   y_t = Σ_n C_t s_t.

Each step is an affine map s ↦ a s + b, and composing two of them is again one:
(a₂, b₂) ∘ (a₁, b₁) = (a₂a₁, a₂b₁ + b₂), so time can be cut into K chunks of L steps and scanned on two
levels (``selective_scan``). Step j of every chunk is one slice (B, K, N, d), and the recurrence runs over
the L slices for all chunks at once: first from h = 0, which leaves each chunk's end state; then a carry
over the K chunk ends,

    h_k = P_{k-1} h_{k-1} + (chunk k−1's end state from 0),   P_k = e^{A Σ Δ} (the chunk's whole decay),

gives the true state entering every chunk, and a second pass over the L slices starting there writes the
states and y_t. That is ~2L + K Python-level steps instead of n (fewest at L ≈ √n, the default), each on a
slice big enough to amortise the interpreter but small enough to stay in cache — the plain loop is
dominated by per-step overhead on (B, d, N) pieces, a tree scan over whole (B, n, d, N) tensors by memory
traffic. Only decays a ≤ 1 are multiplied (a chunk's product is one exponential of a summed exponent ≤ 0)
and nothing is divided, so nothing can overflow at any length; a product that underflows to 0 is the
correct limit of a state that has forgotten. The gradient is the same recurrence run backwards,
G_t = C_t ∂L/∂y_t + a_{t+1} G_{t+1}, with ∂L/∂b_t = G_t and ∂L/∂a_t = G_t s_{t-1}, on the same two levels
(``_SelectiveScanFn.backward``): written out, it keeps only a and s (as L slices) and makes every
other temporary one slice; autograd through the same forward takes twice as long as the loop. The decays use
exp2 (about 3× faster than exp on the CPUs measured). ``selective_scan_sequential`` is the plain loop: the
reference the tests hold the scan to, and the recurrent step mode.

What bounds it: every slice operation costs ~0.2 ns per state entry (B·d·N of them per step; exp2 ~0.45 ns)
whatever the slice size, and forward plus backward need ~20 of them per entry (a_t, the two passes, y_t; the
backward's two passes and five gradient sums) plus ~2.5 ms of interpreter at n = 256 — so at batch 8, d = 64,
N = 16 the scan costs ~13 ms where the rest of the training step costs ~9 ms. Measured and slower (issue 18):
whole (L, B, K, N, d) tensors instead of slices (2.6×), the masked (L × L) segment-sum form of
Mamba-2 (30× at L = 4: with A per channel and state it holds B·n·L·d·N decays, and its masked exponentials give
NaN gradients at n = 4096); torch.compile of one chunk's forward fuses it 2.2× faster but compiles for ~50 s.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ..errors import ConfigError
from ..tasks.base import Batch
from .base import Capabilities, Cost, InputEncoder, ModelInfo, ModelOptions, ModelOutput, SeqModel, SequenceHead


class SSMOptions(ModelOptions):
    state_size: int = Field(64, ge=2, le=1024, description="state dimension N per channel (even for S4D)")


class SelectiveOptions(ModelOptions):
    # N = 16 as in Mamba (Gu & Dao 2023); the scan's cost and memory grow with N
    state_size: int = Field(16, ge=1, le=1024, description="state dimension N per channel")
    # None: L ≈ √n, which runs the fewest Python-level steps (``seqlab bench --ssm`` compares fixed L)
    scan_chunk: int | None = Field(
        None, ge=1, le=4096, description="chunk length L of the two-level selective scan (default ≈ √n)"
    )
    scan: Literal["chunked", "sequential"] = Field(
        "chunked", description="two-level chunked scan, or the step-by-step reference loop (slow; for comparison)"
    )


class SSMKernel(nn.Module):
    """S4D-Lin (Gu et al. 2022): A_n = −½ + iπn, Δ log-uniform in [1e-3, 1e-1], C complex normal."""

    def __init__(self, channels: int, state: int, dt_min: float = 1e-3, dt_max: float = 1e-1):
        super().__init__()
        H, N2 = channels, state // 2
        self.log_dt = nn.Parameter(torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        self.C = nn.Parameter(torch.view_as_real(torch.randn(H, N2, dtype=torch.cfloat) * 0.5**0.5))
        self.log_A_real = nn.Parameter(torch.log(0.5 * torch.ones(H, N2)))
        self.A_imag = nn.Parameter(math.pi * torch.arange(N2, dtype=torch.float).repeat(H, 1))
        self.D = nn.Parameter(torch.randn(H))

    def discrete(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        dt = self.log_dt.exp()  # (H,)
        A = -self.log_A_real.exp() + 1j * self.A_imag  # (H, N/2)
        dtA = A * dt[:, None]
        C = torch.view_as_complex(self.C)
        return dtA, C * (torch.exp(dtA) - 1.0) / A, torch.exp(dtA)  # ΔA, C·B̄ (B = 1), Ā

    def kernel(self, L: int) -> torch.Tensor:
        dtA, CB, _ = self.discrete()
        powers = torch.exp(dtA[:, :, None] * torch.arange(L, device=dtA.device))  # Ā^l: (H, N/2, L)
        return 2 * torch.einsum("hn,hnl->hl", CB, powers).real  # (H, L); ×2 and Re: conjugate pairs

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """Convolution mode. u: (B, H, L) → (B, H, L)."""
        L = u.shape[-1]
        k_f = torch.fft.rfft(self.kernel(L), n=2 * L)  # (H, L+1)
        u_f = torch.fft.rfft(u, n=2 * L)  # (B, H, L+1)
        y = torch.fft.irfft(u_f * k_f, n=2 * L)[..., :L]  # causal: keep the first L
        return y + u * self.D[:, None]

    def step(self, u: torch.Tensor) -> torch.Tensor:
        """Recurrent mode, one step at a time: the same map, for generation. u: (B, H, L)."""
        dtA, CB, A_bar = self.discrete()
        s = torch.zeros(u.shape[0], *A_bar.shape, dtype=A_bar.dtype, device=u.device)  # (B, H, N/2)
        ys = []
        for u_k in u.unbind(-1):  # (B, H)
            s = A_bar * s + u_k[..., None]  # s_k = Ā s_{k-1} + B̄ u_k (B̄ folded into C·B̄ below)
            ys.append(2 * (CB * s).sum(-1).real + self.D * u_k)
        return torch.stack(ys, -1)


class _SSMBase(SeqModel):
    Options = SSMOptions
    capabilities = Capabilities(causal=True)
    default_lr = 3e-3
    eval_activation_fraction = 0.6

    def __init__(self, cfg, spec):
        super().__init__(cfg, spec)
        d = cfg.hidden
        self.encoder = InputEncoder(spec, cfg.embed_dim or d)
        self.proj_in = nn.Linear(self.encoder.dim, d)
        self.layers = nn.ModuleList(self.make_layer(d) for _ in range(cfg.layers))
        self.mix = nn.ModuleList(nn.Linear(d, d) for _ in range(cfg.layers))
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(cfg.layers))
        self.head = SequenceHead(spec, d)

    @classmethod
    def parameter_count(cls, cfg, spec) -> int:
        """Counted: the layers' initialisation does tensor arithmetic, which on the meta device imports
        torch._dynamo (~3 s, once per process)."""
        d, tokens = cfg.hidden, spec.input_kind == "tokens"
        width = (cfg.embed_dim or d) if tokens else spec.input_size
        n = cfg.options.get("state_size", cls.Options.model_fields["state_size"].default)
        embed = spec.input_size * width if tokens else 0
        mix_and_norm = d * d + d + 2 * d
        return (
            embed
            + width * d
            + d
            + cfg.layers * (mix_and_norm + cls.layer_parameter_count(d, n))
            + (d + 1) * spec.n_outputs
        )

    def forward(self, batch: Batch) -> ModelOutput:
        x_t = self.encoder(batch.x)  # (B, T, E)
        h = self.proj_in(x_t)  # (B, T, d)
        for layer, mix, norm in zip(self.layers, self.mix, self.norms, strict=True):
            h = norm(h + mix(F.gelu(self.apply_layer(layer, h))))  # residual block, post-norm
        return ModelOutput(self.head(h), x_t)


class S4D(_SSMBase):
    batch_linear_flops = False  # the kernel K is built once per batch, whatever its size
    info = ModelInfo(
        title="State-space model (S4D)",
        year=2022,
        paper="Gu, Gupta, Goel & Ré (2022), On the Parameterization and Initialization of Diagonal State Space "
        "Models, NeurIPS",
        summary="A linear recurrence trained as one long FFT convolution: parallel in training, O(1) state per step.",
        equation=r"s_k = \bar{A} s_{k-1} + \bar{B} u_k,\quad y_k = C s_k + D u_k"
        r"\;\Longleftrightarrow\; y = K * u,\; K_l = C\bar{A}^l\bar{B}",
        time=Cost(1, 2, "O(n·d² + n log n·d)"),
        space=Cost(0, 1, "O(N·d)"),
        train_memory=Cost(1, 1, "O(n·d)"),
        parallel="full",
    )
    capabilities = Capabilities(causal=True, conv_kernel=True)

    @classmethod
    def check(cls, cfg) -> None:
        n = cfg.options.get("state_size", SSMOptions.model_fields["state_size"].default)
        if n % 2:
            raise ConfigError(
                f"S4D keeps complex-conjugate pairs, so the state size must be even (got {n})", "model.state_size"
            )

    def make_layer(self, d: int) -> nn.Module:
        return SSMKernel(d, self.opts.state_size)

    @staticmethod
    def layer_parameter_count(d: int, n: int) -> int:
        return 4 * d * (n // 2) + 2 * d  # C (complex), log A_real, A_imag per pair; log Δ and D per channel

    # measured: the FFT convolution's transforms at length 2L, ~12 floats per position and channel
    activation_factor = 12.0

    @classmethod
    def estimate_activation_bytes(cls, cfg, spec, batch_size: int) -> float:
        """The batch's activations, plus the kernel K built per layer once per step whatever the batch:
        Ā^l for every channel, state pair and lag (complex, (H, N/2, L)), its exponent and its gradient."""
        n = cfg.options.get("state_size", SSMOptions.model_fields["state_size"].default)
        kernel = cfg.layers * 3 * cfg.hidden * (n // 2) * spec.length * 8
        return super().estimate_activation_bytes(cfg, spec, batch_size) + kernel

    def apply_layer(self, layer: SSMKernel, h: torch.Tensor) -> torch.Tensor:
        return layer(h.transpose(1, 2)).transpose(1, 2)  # (B, T, d) → (B, d, T) → back

    def conv_kernel(self, length: int) -> list[torch.Tensor]:
        return [layer.kernel(length) for layer in self.layers]  # per layer (d, L)


def selective_scan_sequential(dt, A, B, C, x):
    """The recurrence one step at a time: the reference for ``selective_scan`` and the step mode.
    dt, x: (B, T, d); A: (d, N); B, C: (B, T, N) → y: (B, T, d)."""
    dA = torch.exp(dt[..., None] * A)  # a_t: (B, T, d, N)
    dBx = (dt * x)[..., None] * B[:, :, None, :]  # b_t: (B, T, d, N)
    s = x.new_zeros(x.shape[0], *A.shape)  # (B, d, N)
    ys = []
    for dA_t, dBx_t, C_t in zip(dA.unbind(1), dBx.unbind(1), C.unbind(1), strict=True):
        s = dA_t * s + dBx_t
        ys.append((s * C_t[:, None, :]).sum(-1))  # (B, d)
    return torch.stack(ys, 1)


_LOG2E = 1.4426950408889634  # e^z = 2^{z·log₂e}: torch's exp2 runs ~3× faster than exp on this CPU


def _by_position(t: torch.Tensor, K: int, L: int) -> torch.Tensor:
    """(B, T, …) → (L, B, K, …), zero-padded to K·L steps: entry [j, :, k] is step k·L + j, so the step j of
    every chunk is one contiguous slice (the unit all the scan's operations work on)."""
    T = t.shape[1]
    if K * L != T:
        t = F.pad(t, (0, 0) * (t.dim() - 2) + (0, K * L - T))
    return t.view(t.shape[0], K, L, *t.shape[2:]).movedim(2, 0).contiguous()


def _by_time(t: torch.Tensor, T: int) -> torch.Tensor:
    """The inverse of ``_by_position``: (L, B, K, …) → (B, T, …)."""
    L, Bsz, K = t.shape[:3]
    return t.movedim(0, 2).reshape(Bsz, K * L, *t.shape[3:])[:, :T]


def auto_chunk(T: int) -> int:
    """L ≈ √T: forward and backward each run ~2L + T/L Python-level steps, so both terms stay small."""
    return max(1, round(math.sqrt(T)))


class _SelectiveScanFn(torch.autograd.Function):
    # The state of a step is kept as (N, d), d contiguous: the sums over N (y_t, ∂L/∂(Δ_t x_t), ∂L/∂Δ_t) are
    # then a batched vector-matrix product or a sum over an outer dimension (22-30 µs a slice at batch 8, d = 64,
    # N = 16) instead of a sum over a 16-float inner dimension (55-87 µs); only the two sums over d, which are
    # cheap either way, pay for it. Each input's L step views are taken at once by ``unbind`` (one call, not L
    # index operations: ~600 fewer calls of ~2 µs a forward and backward at n = 256).
    @staticmethod
    def forward(ctx, dt, A, B, C, x, L: int):
        T = dt.shape[1]
        L = min(L, T)
        K = -(-T // L)  # padded steps (Δ = 0: a = 1, b = 0) only repeat the last state
        dtj, dtxj, Bj, Cj = (_by_position(t, K, L) for t in (dt, dt * x, B, C))
        A2 = (A * _LOG2E).T.contiguous()  # (N, d)
        dtxc, Bc = dtxj[..., None, :], Bj[..., None]  # (L, B, K, 1, d), (L, B, K, N, 1): b_t = Δ_t x_t ⊗ B_t
        # a_t = e^{Δ_t A} and below the states s_t, one (B, K, N, d) tensor per step j of a chunk: whole
        # (B, n, N, d) tensors pass glibc's mmap threshold (32 MB, n ≳ 1000 here) and are then page-faulted
        # afresh on every call, which made the scan 2× slower at n = 1024
        a = [torch.mul(dt_j, A2).exp2_() for dt_j in dtj[..., None, :].unbind(0)]
        if K > 1:
            # each chunk's own end state from h = 0 (the last chunk's is not needed; b_t never formed whole) ...
            dtx_h, B_h = dtxc[:, :, :-1].unbind(0), Bc[:, :, :-1].unbind(0)
            h = torch.mul(dtx_h[0], B_h[0])
            for j in range(1, L):
                h.mul_(a[j][:, :-1]).addcmul_(dtx_h[j], B_h[j])
            # ... and its whole decay, one exponential of the summed Δ (exponent ≤ 0: no overflow)
            P = torch.mul(dtj[:, :, :-1].sum(0)[..., None, :], A2).exp2_()
            h_in = torch.zeros_like(a[0])  # (B, K, N, d): the state entering each chunk
            h_k, P_k, h_in_k = h.unbind(1), P.unbind(1), h_in.unbind(1)
            for k in range(1, K):
                torch.addcmul(h_k[k - 1], P_k[k - 1], h_in_k[k - 1], out=h_in_k[k])
        s = [torch.empty_like(a[0]) for _ in range(L)]  # the true states, kept for backward
        y = torch.empty_like(dtj)
        steps = zip(dtxc.unbind(0), Bc.unbind(0), Cj[..., None, :].unbind(0), y[..., None, :].unbind(0), strict=True)
        for j, (dtx_j, B_j, C_j, y_j) in enumerate(steps):
            if j:
                torch.mul(a[j], s[j - 1], out=s[j]).addcmul_(dtx_j, B_j)
            elif K > 1:
                torch.mul(a[0], h_in, out=s[0]).addcmul_(dtx_j, B_j)
            else:
                torch.mul(dtx_j, B_j, out=s[0])
            torch.matmul(C_j, s[j], out=y_j)  # y_t = Σ_n C_t s_t
        ctx.save_for_backward(dt, x, dtj, dtxj, A, Bj, Cj, *a, *s)
        return _by_time(y, T)

    @staticmethod
    def backward(ctx, g_y):
        dt, x, dtj, dtxj, A, Bj, Cj, *a_s = ctx.saved_tensors
        L, _, K = dtj.shape[:3]
        a, s = a_s[:L], a_s[L:]
        T = dt.shape[1]
        gc = _by_position(g_y, K, L)[..., None, :]  # (L, B, K, 1, d)
        Cc = Cj[..., None]  # (L, B, K, N, 1)
        A_T = A.T.contiguous()  # (N, d)
        # G_t = ∂L/∂s_t = C_t g_t + a_{t+1} G_{t+1}: the same two levels, from the end
        if K > 1:
            g_l, C_l = gc[:, :, 1:].unbind(0), Cc[:, :, 1:].unbind(0)
            Gl = torch.mul(g_l[L - 1], C_l[L - 1])  # each chunk's G at its first step, from G = 0 after it
            for j in range(L - 2, -1, -1):
                Gl.mul_(a[j + 1][:, 1:]).addcmul_(g_l[j], C_l[j])
            Q = torch.mul(dtj[1:, :, 1:].sum(0)[..., None, :], A_T * _LOG2E).exp2_()  # a_1⋯a_{L-1} of each chunk
            E = torch.zeros_like(a[0])  # (B, K, N, d): a_{t+1} G_{t+1} entering each chunk's last step
            a0_k, Gl_k, Q_k, E_k = a[0][:, 1:].unbind(1), Gl.unbind(1), Q.unbind(1), E.unbind(1)
            for k in range(K - 2, -1, -1):
                torch.mul(a0_k[k], torch.addcmul(Gl_k[k], Q_k[k], E_k[k + 1]), out=E_k[k])
        g_dtx, g_dt, g_B, g_C = (torch.empty_like(t) for t in (dtj, dtj, Bj, Cj))
        g_A = torch.zeros_like(a[0])
        g_j, C_j = gc.unbind(0), Cc.unbind(0)
        steps = zip(
            dtj[..., None, :].unbind(0),
            dtxj[..., None, :].unbind(0),
            Bj[..., None, :].unbind(0),
            g_dtx[..., None, :].unbind(0),
            g_dt.unbind(0),
            g_B.unbind(0),
            g_C.unbind(0),
            strict=True,
        )
        aG, g_dtA, tmp = (torch.empty_like(a[0]) for _ in range(3))
        G = torch.addcmul(E, g_j[L - 1], C_j[L - 1]) if K > 1 else torch.mul(g_j[L - 1], C_j[L - 1])
        for j, (dt_j, dtx_j, B_j, g_dtx_j, g_dt_j, g_B_j, g_C_j) in reversed(list(enumerate(steps))):
            torch.matmul(B_j, G, out=g_dtx_j)  # ∂L/∂(Δ_t x_t) = Σ_n G_t B_t
            torch.sum(torch.mul(G, dtx_j, out=tmp), -1, out=g_B_j)  # Σ_d G_t Δ_t x_t
            torch.sum(torch.mul(s[j], g_j[j], out=tmp), -1, out=g_C_j)  # Σ_d g_t s_t
            if j:
                prev = s[j - 1]
            else:  # a chunk's first step follows the previous chunk's last (s_{-1} = 0)
                prev = torch.zeros_like(G)
                prev[:, 1:] = s[L - 1][:, :-1]
            torch.mul(G, a[j], out=aG)
            torch.mul(aG, prev, out=g_dtA)  # ∂L/∂(Δ_t A) = G_t a_t s_{t-1}
            torch.sum(torch.mul(g_dtA, A_T, out=tmp), -2, out=g_dt_j)
            g_A.addcmul_(g_dtA, dt_j)
            if j:
                G, aG = aG.addcmul_(g_j[j - 1], C_j[j - 1]), G  # G_{t-1} = a_t G_t + C_{t-1} g_{t-1}
        g_dtx = _by_time(g_dtx, T)
        g_A = g_A.sum((0, 1)).T
        return _by_time(g_dt, T) + g_dtx * x, g_A, _by_time(g_B, T), _by_time(g_C, T), g_dtx * dt, None


def selective_scan(dt, A, B, C, x, chunk: int | None = None):
    """y_t = Σ_n C_t s_t with s_t = e^{Δ_t A} s_{t-1} + Δ_t B_t x_t, by the two-level scan (module docstring).
    dt, x: (B, T, d); A: (d, N); B, C: (B, T, N); chunk: its length L (None: ≈ √T) → y: (B, T, d)."""
    if chunk is not None and chunk < 1:
        raise ConfigError(f"the scan's chunk length must be at least 1, got {chunk}", "model.scan_chunk")
    return _SelectiveScanFn.apply(dt, A, B, C, x, auto_chunk(dt.shape[1]) if chunk is None else chunk)


class SelectiveScan(nn.Module):
    """Δ_t, B_t, C_t computed from x_t (Gu & Dao 2023, Alg. 2, without the hardware-aware fused scan):
    s_t = exp(Δ_t A) s_{t-1} + Δ_t B_t x_t,   y_t = C_t · s_t + D x_t,   gated by SiLU(z_t)."""

    def __init__(self, d: int, state: int, chunk: int | None = None, sequential: bool = False):
        super().__init__()
        self.chunk = chunk  # None: ≈ √n
        self.sequential = sequential  # the step-by-step reference loop in forward too
        # A_n = −(n+1): the S4D-Real initialisation used by Mamba
        self.A_log = nn.Parameter(torch.log(torch.arange(1, state + 1, dtype=torch.float)).repeat(d, 1))  # (d, N)
        self.to_dt = nn.Linear(d, d)
        self.to_B = nn.Linear(d, state, bias=False)
        self.to_C = nn.Linear(d, state, bias=False)
        self.to_z = nn.Linear(d, d)
        # a short causal depthwise convolution before the scan, as in Mamba: it lets a token see its
        # neighbours, e.g. a value the key just before it (the binding associative recall needs)
        self.conv = nn.Conv1d(d, d, kernel_size=4, groups=d, padding=3)
        self.D = nn.Parameter(torch.ones(d))
        with torch.no_grad():  # Δ starts in [1e-3, 1e-1] as in Mamba
            dt = torch.exp(torch.rand(d) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
            self.to_dt.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus

    def forward(self, x_in: torch.Tensor) -> torch.Tensor:  # (B, T, d)
        return self._mix(x_in, self.sequential)

    def step(self, x_in: torch.Tensor) -> torch.Tensor:
        """Recurrent mode, one step at a time: the same map as ``forward``. x_in: (B, T, d)."""
        return self._mix(x_in, True)

    def causal_conv(self, x_in: torch.Tensor) -> torch.Tensor:
        """``self.conv`` over time, causal (the output at t sees steps ≤ t), as k shifted multiply-adds in the
        (B, T, d) layout: the same numbers as the depthwise Conv1d, whose transposes and backward took ~2 ms
        forward + backward at batch 8, n = 256, d = 64, against ~1 ms here."""
        T, k = x_in.shape[1], self.conv.kernel_size[0]
        padded = F.pad(x_in, (0, 0, k - 1, 0))
        w = self.conv.weight[:, 0, :].T  # (k, d): w[k-1] weighs the current step
        out = torch.addcmul(self.conv.bias, padded[:, k - 1 :], w[k - 1])
        for i in range(k - 1):
            out = torch.addcmul(out, padded[:, i : i + T], w[i])
        return out

    def _mix(self, x_in: torch.Tensor, sequential: bool) -> torch.Tensor:
        x = F.silu(self.causal_conv(x_in))
        A = -self.A_log.exp()  # (d, N)
        dt = F.softplus(self.to_dt(x))  # (B, T, d)
        Bx = self.to_B(x)  # (B, T, N)
        Cx = self.to_C(x)  # (B, T, N)
        scan = selective_scan_sequential if sequential else functools.partial(selective_scan, chunk=self.chunk)
        y = scan(dt, A, Bx, Cx, x) + x * self.D  # (B, T, d)
        return y * F.silu(self.to_z(x_in))


class SelectiveSSM(_SSMBase):
    info = ModelInfo(
        title="Selective SSM (Mamba-style)",
        year=2023,
        paper="Gu & Dao (2023), Mamba: Linear-Time Sequence Modeling with Selective State Spaces",
        summary="The state update depends on the input, so the model chooses what to remember; a scan over time.",
        equation=r"s_t = e^{\Delta_t A} s_{t-1} + \Delta_t B_t x_t,\quad y_t = C_t s_t + D x_t,"
        r"\quad (\Delta_t, B_t, C_t) = f(x_t)",
        time=Cost(1, 1, "O(n·d·N)"),
        space=Cost(0, 1, "O(N·d)"),
        train_memory=Cost(1, 1, "O(n·d·N)"),
        parallel="none",
    )
    Options = SelectiveOptions

    @classmethod
    def estimate_activation_bytes(cls, cfg, spec, batch_size: int) -> float:
        """Per layer, the scan keeps a_t and s_t, (N × d) each, at every one of its K·L ≥ n steps (the last
        chunk padded), and the layer ~21 d-sized tensors and B_t, C_t per position (convolution, projections,
        gates, norm, residual); backward adds ~9 (B, K, N, d) chunk-level tensors (carries, gradient sums),
        one layer at a time. The reference loop keeps ~2 (N × d) per step and layer, and its backward ~3 more.
        Measured peaks in floats per position, batch 8, d = 64, N = 16 (this estimate): 3,780 at n = 256 (4,064),
        5,442 at n = 16 (5,792), 11,701 with N = 64 (12,032), 9,754 with 3 layers (10,912); the loop 5,836 at
        n = 64 (6,560), 8,802 with 2 layers (9,984)."""
        n, N, d, L, K, sequential = cls._scan_sizes(cfg, spec)
        if sequential:
            per_layer, backward = 2 * N * d + 2 * N + 21 * d, 3 * N * d
        else:
            per_layer, backward = 2 * N * d * K * L / n + 2 * N + 21 * d, 9 * N * d * K / n
        out = spec.n_outputs if spec.output_kind == "tokens" else 0
        per_step = (cfg.embed_dim or d) + cfg.layers * per_layer + backward + 4 * out
        return 4.0 * batch_size * n * per_step

    @classmethod
    def estimate_eval_activation_bytes(cls, cfg, spec, batch_size: int) -> float:
        """Without autograd the scan still builds one layer's a_t and s_t (and the carries h, P, h_in) before
        it returns, but nothing of a layer outlives it: unlike the training estimate this does not grow with
        the layers. Measured peaks, as above: 2,809 floats per position at n = 256 (this: 3,008), 9,700 with
        N = 64 (9,920), 4,352 at n = 7 (4,718); the loop 2,482 at n = 64 (2,816)."""
        n, N, d, L, K, sequential = cls._scan_sizes(cfg, spec)
        scan = 2 * N * d if sequential else 2 * N * d * K * L / n + 3 * N * d * K / n
        out = spec.n_outputs if spec.output_kind == "tokens" else 0
        return 4.0 * batch_size * n * ((cfg.embed_dim or d) + scan + 4 * N + 10 * d + 2 * out)

    @staticmethod
    def _scan_sizes(cfg, spec) -> tuple[int, int, int, int, int, bool]:
        """n, N, d, the scan's chunk length L and chunk count K, and whether the reference loop runs."""
        opts = SelectiveOptions.model_validate(cfg.options)
        n = spec.length
        L = min(n, opts.scan_chunk or auto_chunk(n))
        return n, opts.state_size, cfg.hidden, L, -(-n // L), opts.scan == "sequential"

    def make_layer(self, d: int) -> nn.Module:
        return SelectiveScan(d, self.opts.state_size, self.opts.scan_chunk, sequential=self.opts.scan == "sequential")

    @staticmethod
    def layer_parameter_count(d: int, n: int) -> int:
        return 3 * d * n + 2 * d * d + 8 * d  # A, B, C; Δ and z projections; conv (4 taps + bias), D, biases

    def apply_layer(self, layer: SelectiveScan, h: torch.Tensor) -> torch.Tensor:
        return layer.step(h) if self._stepwise else layer(h)

    _stepwise = False

    @contextlib.contextmanager
    def reference_mode(self):
        """Within: every layer runs its step-by-step recurrence, so the graph shows the n steps the
        chunked scan computes in one node (``complexity.graph``)."""
        self._stepwise = True
        try:
            yield
        finally:
            self._stepwise = False
