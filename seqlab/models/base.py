"""The model interface every family implements.

A model is built from a ``ModelConfig`` and the task's ``TaskSpec`` and maps a ``Batch`` to a
``ModelOutput``. The rest of seqlab never branches on the model's type: which tasks a model can
train on is declared in class attributes (``outputs``, ``input_kinds``, ``fixed_length``, ``inits``),
what it can show beyond its forward in ``capabilities`` (each flag promises the typed method of the
same name below; the base methods raise ``CapabilityError``), and what it is (paper, year, equation,
cost) in ``info``. A new model — a family file or a plugin — gets every diagnostic its capabilities
declare without any other file knowing its class.

Randomness during training (dropout, teacher forcing) is drawn from the run's generator, handed
over once through ``use_generator``; no model draws from torch's global generator while it trains.

``ModelOutput.embedded`` is the input representation x_t the engine differentiates against:
the gradient-by-time diagnostic is ‖∂L/∂x_t‖ read off ``embedded.grad`` after the ordinary
backward pass, so it costs one small reduction, not a second backward.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, ValidationError
from torch import nn

from ..errors import CapabilityError, ConfigError
from ..tasks.base import Batch, TaskSpec
from .noise import Noise

if TYPE_CHECKING:
    from ..config import ModelConfig


@dataclass(frozen=True)
class Cost:
    """A cost n^a · d^b, with its textbook form for display."""

    n: float
    d: float
    text: str

    def __call__(self, n: float, d: float) -> float:
        return float(n) ** self.n * float(d) ** self.d


@dataclass(frozen=True)
class ModelInfo:
    title: str
    year: int
    paper: str  # authors, title, venue
    summary: str  # one line, the project's own words
    equation: str  # LaTeX, in the seed's notation
    time: Cost  # per sequence, forward
    space: Cost  # the seed's complexity-table claim (inference state)
    train_memory: Cost  # activations stored for backward while training
    parallel: str  # over time steps: "full" | "none"
    url: str = ""

    @property
    def sequential(self) -> Cost:
        """Vaswani et al. (2017), Table 1: minimum sequential operations (and, for these layer types, the
        maximum path length): O(1) when every position is computed at once, O(n) for a recurrence."""
        return Cost(0, 0, "O(1)") if self.parallel == "full" else Cost(1, 0, "O(n)")


@dataclass(frozen=True)
class Capabilities:
    """What a model can show beyond its forward. A True flag (all but ``causal``) promises the ``SeqModel``
    method of the same name, checked when the class is defined; diagnostics, complexity, sampling and
    pages read the flags and call the methods, nothing else. A model in a file of its own declares e.g.

        class MyModel(SeqModel):
            capabilities = Capabilities(causal=True, attention_maps=True)
            def attention_maps(self, batch): ...   # per layer (B, heads, T, T)
    """

    causal: bool = False  # output t reads x_≤t only, so text can be sampled one token at a time
    attention_maps: bool = False  # attention_maps(batch): α of every layer, (B, heads, rows, T)
    cell_trace: bool = False  # cell_trace(batch): the recurrence as an explicit loop, with h_t and gates
    expert_load: bool = False  # expert_load(): each layer's share of routing assignments per expert
    conv_kernel: bool = False  # conv_kernel(length): each layer's convolution kernel K, (channels, length)


@dataclass
class CellTrace:
    """A recurrent forward run one step at a time (``SeqModel.cell_trace``)."""

    pred: torch.Tensor  # what the fused forward predicts, computed through the loop
    h: list[torch.Tensor]  # the last layer's h_t, each (B, H), in the graph of ``pred``
    gates: dict[str, list[torch.Tensor]]  # the last layer's gate activations by name, per step (B, H), detached


@dataclass
class ModelOutput:
    pred: torch.Tensor  # (B, C) | (B,) | (B, T, V) depending on the task's output kind
    embedded: torch.Tensor  # (B, T, E) the input representation x_t
    aux_loss: torch.Tensor | None = None  # added to the task loss (e.g. MoE load balancing)
    extras: dict = field(default_factory=dict)


class ModelOptions(BaseModel):
    """Base of each family's own options."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class SeqModel(nn.Module):
    info: ClassVar[ModelInfo]
    # the registry name a plugin's model asks for (seqlab/plugins.py; default: its class name in lower
    # case); built-in models are named where they are registered, in registry.MODELS
    name: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities] = Capabilities()
    Options: ClassVar[type[ModelOptions]] = ModelOptions
    inits: ClassVar[tuple[str, ...]] = ("default",)
    default_init: ClassVar[str] = "default"
    outputs: ClassVar[frozenset[str]] = frozenset({"label", "real", "tokens"})
    input_kinds: ClassVar[frozenset[str]] = frozenset({"tokens", "real"})
    fixed_length: ClassVar[bool] = False
    default_lr: ClassVar[float] = 3e-3  # Adam learning rate used when the config leaves lr unset
    # floats stored for backward per (example, time step, layer, hidden unit); see estimate below
    activation_factor: ClassVar[float] = 4.0
    # how much of that a no-grad forward still holds at its peak (models/memory.py); 1 = all of it
    eval_activation_fraction: ClassVar[float] = 1.0
    # weight-sized temporaries alive during backward, e.g. per-time-step weight gradients being summed;
    # 3 is the most measured (RNN, GRU, SSMs: a loop over time); a family that measured fewer says so
    backward_weight_copies: ClassVar[float] = 3.5
    # a training step's FLOPs are batch_size × one example's: every counted operation grows with the batch
    # alone (the complexity sweep counts one example and multiplies); False where shapes depend on the batch
    batch_linear_flops: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        promised = [f.name for f in fields(Capabilities) if f.name != "causal" and getattr(cls.capabilities, f.name)]
        own = cls.__mro__[: cls.__mro__.index(SeqModel)]  # the subclasses between cls and SeqModel
        missing = [name for name in promised if not any(name in vars(k) for k in own)]
        if missing:
            raise CapabilityError(
                f"{cls.__name__} declares {', '.join(missing)} in its capabilities but does not define "
                f"{' or '.join(f'{m}()' for m in missing)}",
                "model.capabilities",
            )

    def __init__(self, cfg: ModelConfig, spec: TaskSpec):
        super().__init__()
        self.cfg = cfg
        self.spec = spec
        self.opts = self.Options.model_validate(cfg.options)
        # every random draw of a forward pass (dropout, teacher forcing) comes from here; layers that
        # draw receive this object when they are built (seqlab/models/noise.py)
        self.noise = Noise()

    def use_generator(self, generator: torch.Generator) -> None:
        """Draw all training-time randomness from ``generator`` (the engine calls this once per run)."""
        self.noise.generator = generator

    def forward(self, batch: Batch) -> ModelOutput:
        raise NotImplementedError

    def param_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def active_param_count(self) -> int:
        """Parameters one token's forward uses: all of them, unless routing skips some (mixture of experts)."""
        return self.param_count()

    # -- what the model can show, as its ``capabilities`` declare ---------------------------------------
    def _lacks(self, capability: str) -> CapabilityError:
        return CapabilityError(
            f"{self.info.title} does not provide {capability.replace('_', ' ')} "
            f"(its capabilities declare {capability}=False)",
            "model.name",
        )

    def attention_maps(self, batch: Batch) -> list[torch.Tensor]:
        """The attention weights α of one forward pass on ``batch``, per layer (B, heads, rows, T)."""
        raise self._lacks("attention_maps")

    def cell_trace(self, batch: Batch) -> CellTrace:
        """The forward pass as an explicit loop over time, keeping every h_t and gate."""
        raise self._lacks("cell_trace")

    def expert_load(self) -> list[torch.Tensor]:
        """Each layer's share of routing assignments per expert in the last forward pass, (E,) per layer."""
        raise self._lacks("expert_load")

    def conv_kernel(self, length: int) -> list[torch.Tensor]:
        """Each layer's convolution kernel K over ``length`` steps, (channels, length) per layer."""
        raise self._lacks("conv_kernel")

    # -- class-level helpers used by config validation -------------------------------------
    @classmethod
    def validate_options(cls, options: dict) -> dict:
        try:
            return cls.Options.model_validate(options or {}).model_dump()
        except ValidationError as e:
            from ..config import describe_validation_error

            raise ConfigError(describe_validation_error(e, prefix="model")) from None

    def uncounted_flops(self, batch_size: int) -> float:
        """FLOPs of forward + backward that torch's FLOP counter cannot see (fused kernels)."""
        return 0.0

    def formula_counted(self, batch_size: int) -> contextlib.AbstractContextManager[float]:
        """A context for counting FLOPs only: kernels whose FLOPs a formula counts may return zeros of their
        output's shape instead of running (no count depends on values); it yields the FLOPs of forward +
        backward that the counter will not see within it. By default nothing is replaced and that is
        ``uncounted_flops`` (fused attention is skipped by the counter itself: ``complexity.counters``)."""
        return contextlib.nullcontext(self.uncounted_flops(batch_size))

    def reference_mode(self) -> contextlib.AbstractContextManager:
        """A context in which the model computes with its step-by-step reference instead of a kernel or scan
        that hides its n steps in one graph node (``complexity.graph``); most models have nothing to switch."""
        return contextlib.nullcontext()

    @classmethod
    def check(cls, cfg: ModelConfig) -> None:
        """Raise ConfigError for combinations of ModelConfig fields this family cannot build."""

    @classmethod
    def resolve_init(cls, init: str, options: dict) -> str:
        init = cls.default_init if init == "auto" else init
        if init not in cls.inits:
            raise ConfigError(
                f"'{init}' is not an init scheme of this model; choose one of: {', '.join(cls.inits)}",
                "model.init",
            )
        return init

    @classmethod
    def parameter_count(cls, cfg: ModelConfig, spec: TaskSpec) -> int | None:
        """How many parameters (all trained) the model will have, for a family that counts them rather
        than having them counted on a meta-device build (``models/memory.py``); None = build."""
        return None

    @classmethod
    def estimate_activation_bytes(cls, cfg: ModelConfig, spec: TaskSpec, batch_size: int) -> float:
        """Bytes a training step holds beyond the weights: what is kept for backward plus the step's
        temporaries, used to refuse runs before allocating (``models/memory.py``). Per (example,
        position): the input x_t, ``activation_factor`` floats per layer and hidden unit, and the
        logits with their softmax and gradients."""
        e = cfg.embed_dim or cfg.hidden
        per_step = e + cls.activation_factor * cfg.layers * cfg.hidden
        out = spec.n_outputs if spec.output_kind == "tokens" else 0
        return 4.0 * batch_size * spec.length * (per_step + 4 * out)  # logits, log-softmax, their gradients

    @classmethod
    def estimate_eval_activation_bytes(cls, cfg: ModelConfig, spec: TaskSpec, batch_size: int) -> float:
        """Bytes a no-grad forward holds at its peak: it frees what a training step keeps for backward, so
        by default ``eval_activation_fraction`` of the training estimate."""
        return cls.eval_activation_fraction * cls.estimate_activation_bytes(cfg, spec, batch_size)


class InputEncoder(nn.Module):
    """x → x_t: an embedding for tokens; real-valued features are used as they are."""

    def __init__(self, spec: TaskSpec, embed_dim: int):
        super().__init__()
        self.tokens = spec.input_kind == "tokens"
        self.dim = embed_dim if self.tokens else spec.input_size
        self.embed = nn.Embedding(spec.input_size, embed_dim) if self.tokens else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.tokens:
            return self.embed(x)  # (B, T) -> (B, T, E)
        # a fresh leaf, so ∂L/∂x_t exists for real inputs too
        return x.detach().requires_grad_(torch.is_grad_enabled())  # (B, T, F)


class SequenceHead(nn.Module):
    """Reads per-position features (B, T, H): the last position for a label or a number,
    every position for tokens."""

    def __init__(self, spec: TaskSpec, hidden: int):
        super().__init__()
        self.kind = spec.output_kind
        self.proj = nn.Linear(hidden, spec.n_outputs)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.kind == "tokens":
            return self.proj(h)  # (B, T, V)
        out = self.proj(h[:, -1])  # (B, C)
        return out.squeeze(-1) if self.kind == "real" else out  # (B,) for real
