"""What the experiments share: configs with readable errors, and building the engine's runs."""

from __future__ import annotations

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

    model_config = ConfigDict(extra="forbid")
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
