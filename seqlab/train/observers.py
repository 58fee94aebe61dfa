"""Observers receive the engine's records. Subclass and override what you need."""

from __future__ import annotations

from .records import EvalRecord, RunResult, StepRecord


class Observer:
    name = ""  # a recorder's name: what the run store keeps its snapshot under

    def on_start(self, trainer) -> None:
        """Called once the model and data exist, before the first step."""

    def on_step(self, record: StepRecord) -> None:
        """Called every ``log_every`` steps."""

    def on_eval(self, record: EvalRecord) -> None:
        """Called after each held-out evaluation."""

    def on_end(self, result: RunResult) -> None:
        """Called once with the final result, whatever the status."""

    def snapshot(self):
        """What a page draws from this observer (JSON-able values and numpy arrays), or None: the run store
        keeps it with the run when the run ends."""
        return None
