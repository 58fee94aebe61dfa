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
is lost and a scan runs over time instead.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ..errors import ConfigError
from ..tasks.base import Batch
from .base import Cost, InputEncoder, ModelInfo, ModelOptions, ModelOutput, SeqModel, SequenceHead


class SSMOptions(ModelOptions):
    state_size: int = Field(64, ge=2, le=1024, description="state dimension N per channel (even for S4D)")


class SelectiveOptions(ModelOptions):
    # N = 16 as in Mamba (Gu & Dao 2023); the scan's cost and memory grow with N
    state_size: int = Field(16, ge=1, le=1024, description="state dimension N per channel")


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


class SelectiveScan(nn.Module):
    """Δ_t, B_t, C_t computed from x_t (Gu & Dao 2023, Alg. 2, without the hardware-aware fused scan):
    s_t = exp(Δ_t A) s_{t-1} + Δ_t B_t x_t,   y_t = C_t · s_t + D x_t,   gated by SiLU(z_t)."""

    def __init__(self, d: int, state: int):
        super().__init__()
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
        T = x_in.shape[1]
        x = F.silu(self.conv(x_in.transpose(1, 2))[..., :T].transpose(1, 2))  # causal: drop the right padding
        A = -self.A_log.exp()  # (d, N)
        dt = F.softplus(self.to_dt(x))  # (B, T, d)
        Bx = self.to_B(x)  # (B, T, N)
        Cx = self.to_C(x)  # (B, T, N)
        dA = torch.exp(dt[..., None] * A)  # (B, T, d, N)
        dBx = dt[..., None] * Bx[:, :, None, :] * x[..., None]  # (B, T, d, N)
        s = x.new_zeros(x.shape[0], *A.shape)  # (B, d, N)
        ys = []
        for dA_t, dBx_t, C_t in zip(dA.unbind(1), dBx.unbind(1), Cx.unbind(1), strict=True):
            s = dA_t * s + dBx_t
            ys.append((s * C_t[:, None, :]).sum(-1))  # (B, d)
        y = torch.stack(ys, 1) + x * self.D  # (B, T, d)
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
        return SelectiveScan(d, self.opts.state_size)

    @staticmethod
    def layer_parameter_count(d: int, n: int) -> int:
        return 3 * d * n + 2 * d * d + 8 * d  # A, B, C; Δ and z projections; conv (4 taps + bias), D, biases

    def apply_layer(self, layer: SelectiveScan, h: torch.Tensor) -> torch.Tensor:
        return layer(h)
