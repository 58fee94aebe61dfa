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
