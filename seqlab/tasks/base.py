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
  * ``sequence`` - source → target transduction: the target has its own length and alphabet, so it
    cannot be read off the input positions; an encoder–decoder writes it one token at a time.
    Loss and metrics are those of ``tokens`` (padding is ``IGNORE``, never scored).

The ``sequence`` format, for anyone writing such a task or a model for it::

    spec.length         T   the longest source; every batch's x is padded to width T with PAD = 0
    spec.input_size         source vocabulary, PAD included
    spec.n_outputs      V   target classes, the end-of-sequence class ``spec.eos`` included
    spec.target_length  U   the longest target, its end token included; y is (B, U)
    spec.bos                = V: the decoder's start token (decoder inputs are 0..V)

    batch.x          (B, T)  source tokens, PAD after each example's length
    batch.x_lengths  (B,)    how many source positions are real; ``batch.x_mask`` is (B, T), True there
    batch.y          (B, U)  target classes: y_1 … y_m, EOS, then IGNORE
    batch.y_in       (B, U)  decoder input for teacher forcing: BOS, y_1 … y_{U-1} (EOS where y is padding)

A decoder emits U = y.shape[1] steps. In training it may read ``y_in`` (teacher forcing); in eval
mode it must feed back its own greedy choices, so held-out metrics measure real decoding.
Whole-sequence accuracy requires the end token in the right place, so the length must be right too.
Padding never changes the outputs: models mask source positions ≥ x_lengths.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict

IGNORE = -100  # target value of unscored positions (torch's cross-entropy ignore_index)

OutputKind = Literal["label", "real", "tokens", "sequence"]
InputKind = Literal["tokens", "real"]


@dataclass
class Batch:
    x: torch.Tensor  # (B, T) long tokens or (B, T, F) float features
    y: torch.Tensor  # (B,) long label | (B,) float | (B, T) or (B, U) long with IGNORE
    x_lengths: torch.Tensor | None = None  # (B,) real source positions; None = all T are real
    y_in: torch.Tensor | None = None  # (B, U) decoder input for teacher forcing ("sequence" tasks)

    def to(self, device) -> Batch:
        return Batch(*(None if v is None else v.to(device) for v in (self.x, self.y, self.x_lengths, self.y_in)))

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def x_mask(self) -> torch.Tensor:
        """(B, T) bool: True at real source positions, False at padding."""
        B, T = self.x.shape[:2]
        if self.x_lengths is None:
            return torch.ones(B, T, dtype=torch.bool, device=self.x.device)
        return torch.arange(T, device=self.x.device) < self.x_lengths[:, None]

    @property
    def y_lengths(self) -> torch.Tensor:
        """(B,) scored target positions per example (for "sequence": the target with its end token)."""
        return (self.y != IGNORE).sum(1) if self.y.dim() > 1 else torch.ones_like(self.y, dtype=torch.long)

    def take(self, index, trim: bool = False) -> Batch:
        """The examples at ``index`` (a slice, list or tensor). With ``trim`` the padding shared by all of
        them is cut off, so a single probe example has exactly its own source and target length."""
        x, y = self.x[index], self.y[index]
        lengths = None if self.x_lengths is None else self.x_lengths[index]
        y_in = None if self.y_in is None else self.y_in[index]
        if trim and lengths is not None:
            x = x[:, : int(lengths.max())]
            u = int((y != IGNORE).sum(1).max())
            y = y[:, :u]
            y_in = None if y_in is None else y_in[:, :u]
        return Batch(x, y, lengths, y_in)


@dataclass(frozen=True)
class TaskSpec:
    """What a model must read and produce. ``length`` is the total input length T."""

    input_kind: InputKind
    input_size: int  # vocabulary size for tokens, feature count for real inputs
    output_kind: OutputKind
    n_outputs: int  # classes for label/tokens/sequence, 1 for real
    length: int
    target_length: int = 0  # "sequence": longest target U, end token included
    eos: int = -1  # "sequence": the end-of-sequence class (one of the n_outputs)

    @property
    def bos(self) -> int:
        """ "sequence": the decoder's start token, one past the target classes."""
        return self.n_outputs


@dataclass(frozen=True)
class Baseline:
    """Loss and metrics of the best guess that ignores the input."""

    loss: float
    metrics: dict[str, float] = field(default_factory=dict)


METRICS: dict[str, tuple[str, ...]] = {
    "label": ("accuracy",),
    "real": ("mse",),
    "tokens": ("accuracy", "sequence_accuracy"),
    "sequence": ("accuracy", "sequence_accuracy"),
}
LOWER_IS_BETTER = {"mse", "loss"}
# the values each metric can take: a fraction of examples right, or a mean of squared errors or
# cross-entropies (never negative, no upper bound); a stop target outside its range is never reached
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "accuracy": (0.0, 1.0),
    "sequence_accuracy": (0.0, 1.0),
    "mse": (0.0, math.inf),
    "loss": (0.0, math.inf),
}


class TaskOptions(BaseModel):
    """Base of each task's own options; unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


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
    # the x axis of accuracy-by-length charts (variable-length tasks)
    length_label: ClassVar[str] = "input length n"

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

    def sample_heldout(self, batch_size: int, generator: torch.Generator) -> Batch:
        """The held-out batch. Generated tasks draw it like training batches (from another stream);
        a task over a fixed text draws it from its held-out part."""
        return self.sample(batch_size, generator)

    def validate(self) -> None:
        """Raise ConfigError for option combinations that cannot make a batch."""

    def at_length(self, n: int) -> Task | None:
        """This task drawing only examples whose length parameter is exactly ``n`` (for accuracy by
        length), or None when it cannot: variable-length tasks get this from a ``min_len`` option."""
        if not self.variable_length or "min_len" not in type(self.options).model_fields:
            return None
        from .registry import make_task

        return make_task(self.name, n, {**self.options.model_dump(), "min_len": n})

    def source_text(self, tokens) -> list[str]:
        """Display form of source tokens (e.g. words), for axis labels."""
        return [str(int(t)) for t in tokens]

    def target_text(self, classes) -> list[str]:
        """Display form of target classes."""
        return [str(int(c)) for c in classes]

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


BASELINE_SEED = 1_234_577
BASELINE_DRAWS = 20_000


def blind_sequence_baseline(task: Task, draws: int = BASELINE_DRAWS) -> Baseline:
    """The best input-blind guess for a task with variable-length targets, measured: per target
    position, the class frequencies over ``draws`` examples (a fixed stream). Predicting those
    frequencies gives the loss (their entropy, weighted by how often the position is scored),
    predicting the most frequent class gives the accuracies. Exact formulas exist for some tasks
    (see ``order.Sort``); this works for any generator, to about ±0.01 at 20,000 draws. Cached per
    task setting (drawing 20,000 spelled-out numbers takes most of a second)."""
    key = (task.name, task.seq_len, json.dumps(task.options.model_dump(), sort_keys=True), draws)
    if key not in _BASELINES:
        _BASELINES[key] = _measure_blind_baseline(task, draws)
    return _BASELINES[key]


_BASELINES: dict[tuple, Baseline] = {}


def _measure_blind_baseline(task: Task, draws: int) -> Baseline:
    y = task.sample(draws, torch.Generator().manual_seed(BASELINE_SEED)).y  # (N, U)
    scored = y != IGNORE
    U, V = y.shape[1], task.spec.n_outputs
    pos = torch.arange(U).expand_as(y)[scored]
    counts = torch.zeros(U, V).index_put_((pos, y[scored]), torch.ones(pos.numel()), accumulate=True)  # (U, V)
    total = counts.sum(1, keepdim=True).clamp(min=1)
    p = counts / total
    n = scored.sum().item()
    loss = -(counts * torch.log(p.clamp(min=1e-30))).sum().item() / n
    acc = counts.max(1).values.sum().item() / n
    guess = counts.argmax(1)  # (U,) the per-position mode
    seq = ((y == guess) | ~scored).all(1).float().mean().item()
    return Baseline(loss=loss, metrics={"accuracy": acc, "sequence_accuracy": seq})


def decoder_input(y: torch.Tensor, bos: int, eos: int) -> torch.Tensor:
    """Teacher-forcing input: the target shifted right behind BOS; padding becomes EOS (never scored)."""
    shifted = torch.cat([torch.full_like(y[:, :1], bos), y[:, :-1]], dim=1)  # (B, U)
    return shifted.masked_fill(shifted == IGNORE, eos)


def random_tokens(generator: torch.Generator, shape, low: int, high: int) -> torch.Tensor:
    """Uniform integers in [low, high) from the task's generator."""
    return torch.randint(low, high, shape, generator=generator)
