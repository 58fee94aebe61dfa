"""How much memory a run will need, estimated before anything is allocated.

    training   = weights + gradients + optimizer state + max(activations, optimizer step's temporaries)
    evaluation = weights + activations of one no-grad forward pass

* weights: exact — the model is built on PyTorch's ``meta`` device (shapes, no storage, no random draws).
* gradients: one float per trainable weight.
* optimizer state: torch's Adam keeps two moments per weight (``exp_avg``, ``exp_avg_sq``); plain SGD none.
  Adam's step also makes two weight-sized temporaries (measured in resident memory: 1.9 × the weights on
  top of its state, for a 400 MB weight). They exist after backward has freed the activations, so the
  peak is the larger of the two.
* activations: the family's ``estimate_activation_bytes`` and the weight-sized temporaries of its backward
  pass (``backward_weight_copies``) — for training the larger of a training step at ``batch_size`` and
  the held-out evaluation at ``eval_size``. Each family's factors were set from the measured peak of a
  forward and backward pass (``complexity.counters.StepCounter``), and ``tests/test_memory.py`` holds
  every family within a factor of that measurement, where activations dominate and where weights do.

Not counted: the interpreter and torch's own libraries (about 0.3 GB of resident memory before the
first tensor), so the limit is on what the run adds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch.overrides import TorchFunctionMode

from ..errors import MemoryLimitError

if TYPE_CHECKING:
    from ..config import ModelConfig, TrainConfig
    from ..tasks.base import Task, TaskSpec

MB = 2**20
# floats per trainable weight an optimizer keeps (torch.optim.Adam's two moment estimates; plain SGD
# none) and makes for the length of one step (Adam: sqrt(v) and its quotient)
OPTIMIZER_STATE = {"adam": 2, "sgd": 0}
OPTIMIZER_TEMPORARIES = {"adam": 2, "sgd": 0}


@dataclass(frozen=True, kw_only=True)
class MemoryEstimate:
    """Bytes a run needs, by kind. ``purpose`` is "training" or "evaluation"."""

    weights: int
    gradients: int
    optimizer: int
    activations: float
    purpose: str = "training"
    optimizer_step: int = 0  # temporaries of the optimizer's step
    # the page's names for what the activations grow with, for the refusal's advice
    activation_settings: str = "the sequence length, batch size or hidden size d"

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + max(self.activations, self.optimizer_step)

    def __str__(self) -> str:
        parts = [("weights", self.weights), ("gradients", self.gradients), ("optimizer state", self.optimizer)]
        if self.optimizer_step > self.activations:
            parts.append(("optimizer step", self.optimizer_step))
        else:
            parts.append(("activations", self.activations))
        shown = ", ".join(f"{name} {megabytes(b)}" for name, b in parts if b)
        return f"{megabytes(self.total)} MB ({shown} MB)"

    def check(self, limit_mb: float, field: str) -> None:
        """Raise ``MemoryLimitError`` naming ``field`` when the total exceeds ``limit_mb``. The message says
        what to lower: the model's size when weights and their state dominate, else what the
        activations grow with. It uses the settings' names as the pages show them, never CLI flags."""
        if self.total <= limit_mb * MB:
            return
        state = self.weights + self.gradients + self.optimizer + self.optimizer_step
        if state >= self.activations:
            lower = "the hidden size d or layers"
            if self.optimizer:
                lower += " (or use sgd, which keeps no optimizer state)"
        else:
            lower = self.activation_settings
        raise MemoryLimitError(
            f"{self.purpose} would need an estimated {self} but the limit is {limit_mb:,.0f} MB; "
            f"lower {lower}, or raise max memory mb",
            field,
        )


def megabytes(b: float) -> str:
    """1,025 for large sizes, 0.11 for small ones (never a bare 0 for a part that exists)."""
    return f"{b / MB:,.0f}" if b >= 10 * MB else f"{b / MB:.2g}"


_PARAM_BYTES: dict[str, int] = {}


class _NoRandomFill(TorchFunctionMode):
    """Skips random fills (``Tensor.normal_``, ``nn.init.orthogonal_``, …) of meta tensors and makes
    ``torch.rand``/``randn`` plain empty ones: there is nothing to draw, and torch's meta versions of
    these import torch._dynamo on first use (~3 s, once per process)."""

    FILLS = frozenset(
        ("normal_", "uniform_", "trunc_normal_", "bernoulli_", "random_", "exponential_", "orthogonal_")
        + ("xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "sparse_")
    )
    DRAWS = frozenset(("rand", "randn"))

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        first = args[0] if args else kwargs.get("tensor")  # nn.init passes it by name
        name = getattr(func, "__name__", "")
        if name in self.FILLS and isinstance(first, torch.Tensor) and first.is_meta:
            return first
        if name in self.DRAWS:  # only ever active inside a meta build: an empty meta tensor of that shape
            return torch.empty(*args, **{k: v for k, v in kwargs.items() if k != "generator"})
        return func(*args, **kwargs)


def parameter_bytes(cfg: ModelConfig, task: Task) -> tuple[int, int]:
    """(all, trainable) parameter bytes of the model ``cfg`` builds for ``task``, exactly, without
    allocating: counted by the family if it can, else built once per setting on the meta device and
    cached (a build takes ~10 ms)."""
    from .registry import build_model, model_class

    counted = model_class(cfg.name).parameter_count(cfg, task.spec)
    if counted is not None:
        return 4 * counted, 4 * counted  # float32, all trained
    key = json.dumps([cfg.model_dump(mode="json"), repr(task.spec)], sort_keys=True, default=str)
    if key not in _PARAM_BYTES:
        with torch.device("meta"), _NoRandomFill():
            model = build_model(cfg, task)
        every = sum(p.numel() * p.element_size() for p in model.parameters())
        trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
        _PARAM_BYTES[key] = (every, trainable)
    return _PARAM_BYTES[key]


def training_memory(cfg: ModelConfig, task: Task, train: TrainConfig) -> MemoryEstimate:
    from .registry import model_class

    cls = model_class(cfg.name)
    weights, trainable = parameter_bytes(cfg, task)
    step = cls.estimate_activation_bytes(cfg, task.spec, train.batch_size) + cls.backward_weight_copies * trainable
    held_out = eval_activation_bytes(cls, cfg, task.spec, train.eval_size)
    batch = "batch size" if step >= held_out else "eval size (the held-out batch)"
    return MemoryEstimate(
        weights=weights,
        gradients=trainable,
        optimizer=OPTIMIZER_STATE[train.optimizer] * trainable,
        activations=max(step, held_out),
        optimizer_step=OPTIMIZER_TEMPORARIES[train.optimizer] * trainable,
        activation_settings=f"the {task.seq_len_meaning}, {batch} or hidden size d",
    )


def evaluation_memory(cfg: ModelConfig, task: Task, batch_size: int) -> MemoryEstimate:
    from .registry import model_class

    weights, _ = parameter_bytes(cfg, task)
    activations = eval_activation_bytes(model_class(cfg.name), cfg, task.spec, batch_size)
    return MemoryEstimate(
        weights=weights,
        gradients=0,
        optimizer=0,
        activations=activations,
        purpose="evaluation",
        activation_settings=f"the evaluation {task.seq_len_meaning} or eval size (the held-out batch)",
    )


def eval_activation_bytes(cls, cfg: ModelConfig, spec: TaskSpec, batch_size: int) -> float:
    """A no-grad forward frees what a training step keeps for backward: the family estimates what remains
    (``estimate_eval_activation_bytes``; by default a declared fraction of its training activations)."""
    return cls.estimate_eval_activation_bytes(cfg, spec, batch_size)
