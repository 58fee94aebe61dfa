"""Accuracy by input length: where a fixed context vector runs out of room.

Train on lengths ≤ L, then score fixed held-out batches drawn at single lengths n = 1 … 2L: up to L
the model is interpolating, beyond L it must extrapolate. Without attention the encoder–decoder's
accuracy falls as n grows (everything must pass through d numbers; Cho et al. 2014 measured the
same fall in BLEU with sentence length), with attention it stays up much longer (Bahdanau et al.
2015, Fig. 2).

``accuracy_by_length`` is the measurement; ``LengthProbe`` repeats it at held-out evaluations so a
page can draw the curve while the model trains.
"""

from __future__ import annotations

import threading

import torch

from ..train.observers import Observer

EVAL_SEED = 2_147_483_587  # its own fixed stream, the same for every run and every length
POINTS = 10


def probe_lengths(task, factor: float = 2.0, points: int = POINTS) -> list[int]:
    """About ``points`` lengths from 1 to ``factor`` × the trained length, always including the trained
    length itself, capped at the longest the task can generate."""
    top = int(round(task.seq_len * factor))
    cap = getattr(task, "max_seq_len", None)
    if cap:
        top = min(top, cap)
    step = max(1, round(top / points))
    return sorted({*range(step, top + 1, step), 1, task.seq_len, top})


@torch.no_grad()
def accuracy_by_length(model, task, lengths: list[int] | None = None, size: int = 128, device=None) -> list[dict]:
    """Held-out metrics of ``model`` at each single length: a list of
    ``{"length": n, "accuracy": …, "sequence_accuracy": …, "loss": …}`` (empty if the task cannot
    fix a length). ``length`` is the task's length parameter (see ``Task.seq_len_meaning``)."""
    if task.at_length(task.seq_len) is None:
        return []
    rows = []
    was_training = model.training
    model.eval()
    try:
        for n in lengths or probe_lengths(task):
            t = task.at_length(n)
            batch = t.sample(size, torch.Generator().manual_seed(EVAL_SEED + n))
            if device is not None:
                batch = batch.to(device)
            out = model(batch)
            rows.append({"length": n, **t.evaluate(out.pred, batch), "loss": t.loss(out.pred, batch).item()})
    finally:
        model.train(was_training)
    return rows


class LengthProbe(Observer):
    """Accuracy by length at held-out evaluations (every ``every``-th one), for the pages."""

    name = "lengths"

    def __init__(self, every: int = 2, size: int = 64, factor: float = 2.0):
        self.every, self.size, self.factor = every, size, factor
        self.history: list[tuple[int, list[dict]]] = []  # (step, rows)
        self._lock = threading.Lock()
        self._evals = 0

    def on_start(self, trainer) -> None:
        self.trainer = trainer
        self.trained_length = trainer.task.seq_len
        self.lengths = probe_lengths(trainer.task, self.factor)

    def measure(self, step: int) -> None:
        tr = self.trainer
        rows = accuracy_by_length(tr.model, tr.task, self.lengths, self.size, tr.device)
        if rows:
            with self._lock:
                self.history.append((step, rows))

    def on_eval(self, record) -> None:
        self._evals += 1
        if self._evals % self.every == 0:
            self.measure(record.step)

    def on_end(self, result) -> None:
        with self._lock:
            last = self.history[-1][0] if self.history else None
        if result.steps and last != result.steps and result.status != "diverged":
            self.measure(result.steps)

    def snapshot(self) -> list[tuple[int, list[dict]]]:
        with self._lock:
            return list(self.history)
