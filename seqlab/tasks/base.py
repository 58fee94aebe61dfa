"""The task interface: synthetic sequence problems generated on the fly from a seed.

A task knows three things the rest of seqlab needs and nothing about models:
what a batch looks like (``TaskSpec``), how to draw one deterministically from a
``torch.Generator`` (``sample``), and how well the best *input-blind* guess does (``baseline``),
so every chart can draw the chance line.

Output kinds:
  * ``label``  - one class per sequence, cross-entropy, metric ``accuracy``;
  * ``real``   - one real number per sequence, squared error, metric ``mse``;
  * ``tokens`` - a class per input position; positions whose target is ``IGNORE`` are not scored.
    Metrics ``accuracy`` (per scored token) and ``sequence_accuracy`` (every scored token right).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict

IGNORE = -100  # target value of unscored positions (torch's cross-entropy ignore_index)

OutputKind = Literal["label", "real", "tokens"]
InputKind = Literal["tokens", "real"]


@dataclass
class Batch:
    x: torch.Tensor  # (B, T) long tokens or (B, T, F) float features
    y: torch.Tensor  # (B,) long label | (B,) float | (B, T) long with IGNORE

    def to(self, device) -> Batch:
        return Batch(self.x.to(device), self.y.to(device))

    def __len__(self) -> int:
        return self.x.shape[0]


@dataclass(frozen=True)
class TaskSpec:
    """What a model must read and produce. ``length`` is the total input length T."""

    input_kind: InputKind
    input_size: int  # vocabulary size for tokens, feature count for real inputs
    output_kind: OutputKind
    n_outputs: int  # classes for label/tokens, 1 for real
    length: int


@dataclass(frozen=True)
class Baseline:
    """Loss and metrics of the best guess that ignores the input."""

    loss: float
    metrics: dict[str, float] = field(default_factory=dict)


METRICS: dict[str, tuple[str, ...]] = {
    "label": ("accuracy",),
    "real": ("mse",),
    "tokens": ("accuracy", "sequence_accuracy"),
}
LOWER_IS_BETTER = {"mse", "loss"}


class TaskOptions(BaseModel):
    """Base of each task's own options; unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Task:
    """Base class. Subclasses set the class attributes and implement ``spec``/``sample``/``baseline``."""

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    citation: ClassVar[str] = ""
    output_kind: ClassVar[OutputKind]
    Options: ClassVar[type[TaskOptions]] = TaskOptions
    default_seq_len: ClassVar[int] = 20
    # what seq_len means for this task (the CLI and pages show it)
    seq_len_meaning: ClassVar[str] = "sequence length"
    # True when sequences in one batch differ in length (fixed-length models cannot read these)
    variable_length: ClassVar[bool] = False

    def __init__(self, seq_len: int, options: TaskOptions | dict | None = None):
        self.seq_len = seq_len
        if not isinstance(options, TaskOptions):
            options = self.Options.model_validate(options or {})
        self.options = options

    # -- interface -------------------------------------------------------------------------
    @property
    def spec(self) -> TaskSpec:
        raise NotImplementedError

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        raise NotImplementedError

    def baseline(self) -> Baseline:
        raise NotImplementedError

    def validate(self) -> None:
        """Raise ConfigError for option combinations that cannot make a batch."""

    # -- shared by every task --------------------------------------------------------------
    @property
    def metrics(self) -> tuple[str, ...]:
        return METRICS[self.output_kind]

    @property
    def primary_metric(self) -> str:
        return self.metrics[0]

    def loss(self, pred: torch.Tensor, batch: Batch) -> torch.Tensor:
        return loss_for(self.output_kind, pred, batch.y)

    @torch.no_grad()
    def evaluate(self, pred: torch.Tensor, batch: Batch) -> dict[str, float]:
        return metrics_for(self.output_kind, pred, batch.y)


def loss_for(kind: OutputKind, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if kind == "real":
        return F.mse_loss(pred, y)  # pred (B,)
    if kind == "label":
        return F.cross_entropy(pred, y)  # pred (B, C)
    return F.cross_entropy(pred.flatten(0, 1), y.flatten(), ignore_index=IGNORE)  # pred (B, T, V)


def metrics_for(kind: OutputKind, pred: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    if kind == "real":
        return {"mse": F.mse_loss(pred, y).item()}
    if kind == "label":
        return {"accuracy": (pred.argmax(-1) == y).float().mean().item()}
    scored = y != IGNORE  # (B, T)
    right = (pred.argmax(-1) == y) & scored
    acc = right.sum().item() / max(1, scored.sum().item())
    seq_acc = (right.sum(1) == scored.sum(1)).float().mean().item()
    return {"accuracy": acc, "sequence_accuracy": seq_acc}


def uniform_baseline(n_classes: int, scored_per_sequence: int = 1) -> Baseline:
    """Blind guess for uniformly random targets: loss ln C, accuracy 1/C."""
    metrics = {"accuracy": 1.0 / n_classes}
    if scored_per_sequence > 1:
        metrics["sequence_accuracy"] = (1.0 / n_classes) ** scored_per_sequence
    return Baseline(loss=math.log(n_classes), metrics=metrics)


def random_tokens(generator: torch.Generator, shape, low: int, high: int) -> torch.Tensor:
    """Uniform integers in [low, high) from the task's generator."""
    return torch.randint(low, high, shape, generator=generator)
