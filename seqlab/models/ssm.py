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
(a₂, b₂) ∘ (a₁, b₁) = (a₂a₁, a₂b₁ + b₂) — associative, so the n prefixes can be computed as a tree
(Blelloch 1990) instead of a chain. ``selective_scan`` cuts time into chunks of L (a power of two)
and, within all chunks at once, runs the work-efficient scan in place: an up-sweep combines
neighbours 1, 2, 4, … apart until each chunk's last entry holds the whole chunk, then a down-sweep
hands every half-block the prefix before it — 2 log₂ L rounds of a few elementwise operations.
What is left is one state per chunk boundary, carried across the n/L chunks,

    h_c = A_c h_{c-1} + S_c   (A_c, S_c: the chunk's composed map),   s_t = S_t + A_t h_{c-1},

so a training step runs ~n/L + 4 log₂ L tensor operations instead of ~3n. Only decays a ≤ 1 are
multiplied and nothing is divided, so no exponential or product can overflow at any length; a
product that underflows to 0 is the correct limit of a state that has forgotten. The gradient is
the same recurrence run backwards, G_t = C_t ∂L/∂y_t + a_{t+1} G_{t+1}, with ∂L/∂b_t = G_t and
∂L/∂a_t = G_t s_{t-1}; it is written out (``_SelectiveScanFn.backward``) so that only the states s
are kept for backward, not every round of the tree. ``selective_scan_sequential`` is the plain loop:
the reference the tests hold the scan to, and the recurrent step mode.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import nn

from ..errors import ConfigError
from ..tasks.base import Batch
from .base import Capabilities, Cost, InputEncoder, ModelInfo, ModelOptions, ModelOutput, SeqModel, SequenceHead


class SSMOptions(ModelOptions):
    state_size: int = Field(64, ge=2, le=1024, description="state dimension N per channel (even for S4D)")


class SelectiveOptions(ModelOptions):
    # N = 16 as in Mamba (Gu & Dao 2023); the scan's cost and memory grow with N
    state_size: int = Field(16, ge=1, le=1024, description="state dimension N per channel")
    # 16…128 measured within 5 % of each other at n = 256, d = 64 (``seqlab bench --ssm``)
    scan_chunk: int = Field(
        64, ge=1, le=4096, description="chunk length L of the parallel selective scan (a power of two)"
    )
    scan: Literal["chunked", "sequential"] = Field(
        "chunked", description="chunked parallel scan, or the step-by-step reference loop (slow; for comparison)"
    )

    @field_validator("scan_chunk")
    @classmethod
    def _power_of_two(cls, v: int) -> int:
        if v & (v - 1):
            raise ValueError(f"must be a power of two (1, 2, 4, …, 4096), got {v}")
        return v


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


def _sweep_(a: torch.Tensor, b: torch.Tensor, reverse: bool) -> None:
    """In place along dim 1 (length L, a power of two): b_t ← s_t and a_t ← a_t⋯a_0 (from t = 0, or from
    the end with ``reverse``). Blelloch's up-sweep and down-sweep, each step on strided views."""
    rows, L, rest = a.shape[0], a.shape[1], a.shape[2:]

    def combine(k: int, dst, src) -> None:  # blocks of 2k: entry dst ← dst ∘ src (src comes first in time)
        av, bv = a.view(rows, L // (2 * k), 2 * k, *rest), b.view(rows, L // (2 * k), 2 * k, *rest)
        bv[dst].addcmul_(av[dst], bv[src])  # b ← a_dst b_src + b_dst, before a_dst changes
        av[dst].mul_(av[src])

    k = 1
    while k < L:  # up-sweep: each block's last entry (first, reversed) absorbs its other half
        if reverse:
            combine(k, (slice(None), slice(None), 0), (slice(None), slice(None), k))
        else:
            combine(k, (slice(None), slice(None), 2 * k - 1), (slice(None), slice(None), k - 1))
        k *= 2
    k = L // 4
    while k >= 1:  # down-sweep: the end of each block's first half takes the complete prefix before it
        if reverse:
            combine(k, (slice(None), slice(None, -1), k), (slice(None), slice(1, None), 0))
        else:
            combine(k, (slice(None), slice(1, None), k - 1), (slice(None), slice(None, -1), 2 * k - 1))
        k //= 2


def _linear_scan_(a: torch.Tensor, b: torch.Tensor, L: int, reverse: bool = False) -> None:
    """s_t = a_t s_{t-1} + b_t (s_{-1} = 0; or s_t = a_t s_{t+1} + b_t from the end) written into b, in
    chunks of L along dim 1 (its length a multiple of L); a is used up."""
    n_chunks = a.shape[1] // L
    rest = a.shape[2:]
    _sweep_(a.view(-1, L, *rest), b.view(-1, L, *rest), reverse)  # every chunk at once
    if n_chunks == 1:
        return
    A_c = a.view(a.shape[0], n_chunks, L, *rest)  # (B, chunks, L, d, N)
    S_c = b.view(a.shape[0], n_chunks, L, *rest)
    last = 0 if reverse else L - 1
    h = a.new_zeros(a.shape[0], *rest)
    h_in = a.new_zeros(a.shape[0], n_chunks, *rest)  # (B, chunks, d, N): the state entering each chunk
    for c in range(n_chunks - 1, 0, -1) if reverse else range(n_chunks - 1):
        h = torch.addcmul(S_c[:, c, last], A_c[:, c, last], h)  # h_c = A_c h_{c-1} + S_c
        h_in[:, c - 1 if reverse else c + 1] = h
    S_c.addcmul_(A_c, h_in[:, :, None])  # s_t = S_t + A_t h_{c-1}


def _padded(t: torch.Tensor, T_pad: int, fill: float) -> torch.Tensor:
    """An uninitialised (B, T_pad, …) buffer whose steps from t's length on hold ``fill``; t's part is
    left for the caller to write (saves a pass over the largest tensors of the step)."""
    buf = t.new_empty(t.shape[0], T_pad, *t.shape[2:])
    buf[:, t.shape[1] :] = fill
    return buf


class _SelectiveScanFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, dt, A, B, C, x, chunk: int):
        T = dt.shape[1]
        L = min(chunk, 1 << (T - 1).bit_length())  # no longer than the sequence needs
        T_pad = -(-T // L) * L  # padded steps (a = 1, b = 0) only repeat the last state
        dA = torch.mul(dt[..., None], A).exp_()  # a_t = e^{Δ_t A}: (B, T, d, N)
        a = _padded(dA, T_pad, 1.0)
        a[:, :T] = dA
        b = _padded(dA, T_pad, 0.0)
        torch.mul((dt * x)[..., None], B[:, :, None, :], out=b[:, :T])  # b_t = Δ_t B_t x_t
        _linear_scan_(a, b, L)
        s = b[:, :T]  # (B, T, d, N)
        ctx.save_for_backward(dt, A, B, C, x, dA, s)
        ctx.L = L
        return torch.linalg.vecdot(s, C[:, :, None, :])  # y_t = Σ_n C_t s_t: (B, T, d)

    @staticmethod
    def backward(ctx, g_y):
        dt, A, B, C, x, dA, s = ctx.saved_tensors
        T, T_pad = dt.shape[1], -(-dt.shape[1] // ctx.L) * ctx.L
        # G_t = C_t g_t + a_{t+1} G_{t+1}: the same scan, from the end
        G = _padded(dA, T_pad, 0.0)
        torch.mul(g_y[..., None], C[:, :, None, :], out=G[:, :T])
        a_next = _padded(dA, T_pad, 1.0)
        a_next[:, : T - 1] = dA[:, 1:]
        a_next[:, T - 1] = 1.0
        _linear_scan_(a_next, G, ctx.L, reverse=True)
        G = G[:, :T]  # ∂L/∂s_t, all paths: (B, T, d, N)
        dtx = dt * x
        g_dtx = torch.linalg.vecdot(G, B[:, :, None, :])  # ∂L/∂(Δ_t x_t) = Σ_n G_t B_t: (B, T, d)
        g_B = torch.matmul(dtx[:, :, None, :], G).squeeze(2)  # Σ_d G_t Δ_t x_t: (B, T, N)
        g_C = torch.matmul(g_y[:, :, None, :], s).squeeze(2)  # Σ_d g_t s_t
        # ∂L/∂(Δ_t A) = G_t s_{t-1} a_t (zero at t = 0, where s_{-1} = 0)
        P = torch.mul(dA[:, 1:], G[:, 1:]).mul_(s[:, :-1])  # (B, T-1, d, N)
        g_dt = g_dtx * x
        g_dt[:, 1:] += torch.linalg.vecdot(P, A)
        g_A = P.mul_(dt[:, 1:, :, None]).sum((0, 1))
        return g_dt, g_A, g_B, g_C, g_dtx * dt, None


def selective_scan(dt, A, B, C, x, chunk: int = 64):
    """y_t = Σ_n C_t s_t with s_t = e^{Δ_t A} s_{t-1} + Δ_t B_t x_t, by the chunked parallel scan (module
    docstring). dt, x: (B, T, d); A: (d, N); B, C: (B, T, N); chunk: a power of two → y: (B, T, d)."""
    if chunk < 1 or chunk & (chunk - 1):
        raise ConfigError(f"the scan's chunk length must be a power of two, got {chunk}", "model.scan_chunk")
    return _SelectiveScanFn.apply(dt, A, B, C, x, chunk)


class SelectiveScan(nn.Module):
    """Δ_t, B_t, C_t computed from x_t (Gu & Dao 2023, Alg. 2, without the hardware-aware fused scan):
    s_t = exp(Δ_t A) s_{t-1} + Δ_t B_t x_t,   y_t = C_t · s_t + D x_t,   gated by SiLU(z_t)."""

    def __init__(self, d: int, state: int, chunk: int | None = 64):
        super().__init__()
        self.chunk = chunk  # None: the sequential reference
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
        return self._mix(x_in, self.chunk)

    def step(self, x_in: torch.Tensor) -> torch.Tensor:
        """Recurrent mode, one step at a time: the same map as ``forward``. x_in: (B, T, d)."""
        return self._mix(x_in, None)

    def _mix(self, x_in: torch.Tensor, chunk: int | None) -> torch.Tensor:
        T = x_in.shape[1]
        x = F.silu(self.conv(x_in.transpose(1, 2))[..., :T].transpose(1, 2))  # causal: drop the right padding
        A = -self.A_log.exp()  # (d, N)
        dt = F.softplus(self.to_dt(x))  # (B, T, d)
        Bx = self.to_B(x)  # (B, T, N)
        Cx = self.to_C(x)  # (B, T, N)
        scan = selective_scan_sequential if chunk is None else functools.partial(selective_scan, chunk=chunk)
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
        """The scan keeps exp(Δ_t A), Δ_t B_t x_t, s_t and C_t·s_t — (d × N) each — at every step for
        backward (measured: ~7 N floats per position and channel), plus the projections around it."""
        n = cfg.options.get("state_size", SelectiveOptions.model_fields["state_size"].default)
        e = cfg.embed_dim or cfg.hidden
        per_step = e + cfg.layers * cfg.hidden * (8 * n + 12)
        out = spec.n_outputs if spec.output_kind == "tokens" else 0
        return 4.0 * batch_size * spec.length * (per_step + 4 * out)

    def make_layer(self, d: int) -> nn.Module:
        return SelectiveScan(d, self.opts.state_size, None if self.opts.scan == "sequential" else self.opts.scan_chunk)

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
