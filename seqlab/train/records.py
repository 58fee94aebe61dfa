"""What the engine emits. Every consumer (CLI, run store, app) reads the same records."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["running", "completed", "target_reached", "time_budget", "diverged", "stopped", "failed"]
FINAL_STATUSES = ("completed", "target_reached", "time_budget", "diverged", "stopped", "failed")


@dataclass
class StepRecord:
    step: int
    loss: float  # training-batch loss
    grad_norm: float  # global parameter-gradient norm before clipping
    grad_by_time: list[float] | None  # ‖∂L/∂x_t‖ per input time step t, mean over the batch
    elapsed: float  # seconds since the run started
    kind: str = "train"


@dataclass
class EvalRecord:
    step: int
    loss: float  # held-out loss
    metrics: dict[str, float]  # held-out metrics, e.g. {"accuracy": 0.93}
    elapsed: float
    kind: str = "eval"


# a spike of 10 × the starting loss marks a step that threw the weights far off; lr 0.1 on adding
# spikes to 20 × and recovers (so the second condition), lr 1 and 10 spike to 10³-10⁵ × and stay up
BLOWUP_FACTOR = 10.0


@dataclass(frozen=True)
class BlowUp:
    """The training loss blew up: see ``detect_blowup`` for the rule."""

    peak: float  # the highest training loss
    step: int  # where it was
    reference: float  # max(first logged training loss, blind baseline loss)
    recent: float  # mean training loss over the last 10 % of logged steps
    suggested_lr: float

    def __str__(self) -> str:
        return (
            f"the loss blew up (peak {_short(self.peak)} at step {self.step:,}); try a lower learning rate, "
            f"e.g. {self.suggested_lr:g}"
        )


def _short(x: float) -> str:
    """1.6e5 rather than 1.6e+05."""
    text = f"{x:.2g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def detect_blowup(train: list[StepRecord], baseline_loss: float, lr: float, default_lr: float) -> BlowUp | None:
    """A run blew up when its training loss rose above ``BLOWUP_FACTOR`` × the reference — the larger of
    its first logged loss and the blind baseline's — and the recent loss (mean of the last 10 % of
    logged steps) is still above the reference: one bad step the run recovered from is not a blow-up.
    Only finite losses count (a non-finite one already ends the run as "diverged"). The suggested rate
    is the model's recommended one when ``lr`` is above it, else a tenth of ``lr``."""
    losses = [(r.step, r.loss) for r in train if math.isfinite(r.loss)]
    if not losses:
        return None
    reference = max(losses[0][1], baseline_loss)
    step, peak = max(losses, key=lambda sl: sl[1])
    k = max(1, math.ceil(len(losses) * 0.1))
    recent = sum(v for _, v in losses[-k:]) / k
    if peak <= BLOWUP_FACTOR * reference or recent <= reference:
        return None
    return BlowUp(peak, step, reference, recent, default_lr if lr > default_lr else lr / 10)


@dataclass
class RunResult:
    model: str
    task: str
    status: Status
    steps: int
    seconds: float
    params: int
    final_loss: float | None  # held-out loss at the end
    train_loss: float | None  # mean training loss over the last 10 % of logged steps
    baseline_loss: float
    baseline_metrics: dict[str, float]
    metrics: dict[str, float]
    seconds_to_target: float | None
    grad_norm_by_time: list[float]
    config: dict[str, Any]
    error: str | None = None
    history: dict[str, list] = field(default_factory=lambda: {"train": [], "eval": []})
    blowup: BlowUp | None = None  # the loss blew up (a typed flag; the status stays what stopped the run)

    def to_json(self, history: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not history:
            d.pop("history")
        return clean_json(d)


def clean_json(obj):
    """JSON has no NaN/inf: write them as null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: clean_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean_json(v) for v in obj]
    return obj


def tail_mean_vectors(vectors: list[list[float]], fraction: float = 0.1) -> list[float]:
    """Element-wise mean of the last ``fraction`` of the vectors (at least one)."""
    if not vectors:
        return []
    k = max(1, math.ceil(len(vectors) * fraction))
    tail = vectors[-k:]
    return [sum(col) / len(col) for col in zip(*tail, strict=True)]
