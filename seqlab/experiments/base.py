"""What the experiments share: configs with readable errors, and building the engine's runs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ..config import RunConfig, describe_validation_error
from ..errors import ConfigError, SeqlabError
from ..train.observers import Observer

Observers = Callable[[str], Iterable[Observer]]  # a run's label → observers for it (e.g. a progress bar)


def no_observers(label: str) -> list[Observer]:
    return []


class ExperimentConfig(BaseModel):
    """Base of each experiment's config; errors name the field as ``<section>.<field>``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    section: ClassVar[str]

    @classmethod
    def build(cls, data: dict[str, Any] | None = None):
        """Validate ``data`` (None values mean: the default); raise ``ConfigError`` naming the field."""
        data = {k: v for k, v in (data or {}).items() if v is not None}
        try:
            config = cls.model_validate(data)
        except ValidationError as e:
            text = describe_validation_error(e, prefix=cls.section)
            field, _, msg = text.partition(": ")
            raise ConfigError(msg or text, field if msg else None) from None
        config.check()
        return config

    def check(self) -> None:
        """Raise ``ConfigError`` for combinations of fields that cannot run (override)."""

    def total_steps(self) -> int:
        """Training steps of the whole experiment, for progress bars (override)."""
        raise NotImplementedError

    def error(self, message: str, name: str) -> ConfigError:
        return ConfigError(message, f"{self.section}.{name}")

    def run_config(self, flat: dict[str, Any]) -> RunConfig:
        """A RunConfig for one of the experiment's runs; its errors are renamed to this config's fields
        (``model.heads`` → ``<section>.heads``), since those are the settings the user gave."""
        try:
            return RunConfig.from_flat(flat)
        except SeqlabError as e:
            name = (e.field or "").rsplit(".", 1)[-1]
            field = f"{self.section}.{name}" if name in type(self).model_fields else e.field
            message = str(e).removeprefix(f"{e.field}: ") if e.field else str(e)
            raise ConfigError(message, field) from None


def history(trainer, max_points: int = 500) -> dict[str, list[dict]]:
    """A finished trainer's curves: training loss per logged step (every n-th, at most ``max_points``, the
    last one kept), held-out loss and metrics per evaluation."""
    train = trainer.train_history
    every = max(1, -(-len(train) // max_points))
    kept = train[::every] + ([train[-1]] if train and (len(train) - 1) % every else [])
    return {
        "train": [{"step": r.step, "loss": r.loss} for r in kept],
        "eval": [{"step": r.step, "loss": r.loss, **r.metrics} for r in trainer.eval_history],
    }


class LiveProgress:
    """Progress of an experiment running in a worker thread, read by a page from another thread.

    Pass ``live.observers`` as the experiment's ``observers``; the page reads ``snapshot()`` (phase,
    steps done of the planned total, held-out records per phase so far) and may call ``stop()``: the
    training under way stops before its next step and any later one stops before its first, so the
    experiment returns early with what it has (``stopped`` is then True)."""

    def __init__(self, total_steps: int):
        self.total_steps = max(1, total_steps)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._trainer = None
        self._done_before = 0  # steps of finished trainings
        self._step = 0  # steps of the current one
        self.phase = ""
        self.evals: dict[str, list[dict]] = {}

    def observers(self, label: str) -> list[Observer]:
        return [_LiveObserver(self, label)]

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            if self._trainer is not None:
                self._trainer.request_stop()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def snapshot(self) -> dict:
        with self._lock:
            done = self._done_before + self._step
            return {
                "phase": self.phase,
                "steps": done,
                "total_steps": self.total_steps,
                "fraction": min(1.0, done / self.total_steps),
                "stopped": self.stopped,
                "evals": {k: list(v) for k, v in self.evals.items()},
            }


class _LiveObserver(Observer):
    def __init__(self, live: LiveProgress, label: str):
        self.live, self.label = live, label

    def on_start(self, trainer) -> None:
        with self.live._lock:
            self.live._trainer, self.live._step, self.live.phase = trainer, 0, self.label
            self.live.evals.setdefault(self.label, [])
        if self.live.stopped:
            trainer.request_stop()

    def on_step(self, record) -> None:
        with self.live._lock:
            self.live._step = record.step

    def on_eval(self, record) -> None:
        with self.live._lock:
            self.live.evals[self.label].append({"step": record.step, "loss": record.loss, **record.metrics})

    def on_end(self, result) -> None:
        with self.live._lock:
            self.live._done_before += result.steps
            self.live._step, self.live._trainer = 0, None
