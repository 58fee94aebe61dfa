"""Expert utilisation over training for mixture-of-experts models (an engine observer).

Every ``every`` logged steps it reads, for each layer, the share of routing assignments each
expert received in that step's forward pass (``MoEFFN.last_load``). A collapsed router shows as one
expert taking most of the share; the load-balancing loss keeps the shares near 1/E."""

from __future__ import annotations

import threading

from ..train.observers import Observer


class ExpertLoadRecorder(Observer):
    name = "experts"

    def __init__(self, every: int = 10):
        self.every = every
        self.rows: list[dict] = []
        self._lock = threading.Lock()

    def on_start(self, trainer) -> None:
        self.blocks = [b for b in getattr(trainer.model, "blocks", []) if hasattr(b.ffn, "last_load")]

    def on_step(self, record) -> None:
        if not self.blocks or record.step % self.every:
            return
        rows = [
            {"step": record.step, "layer": i + 1, "expert": e + 1, "share": float(v)}
            for i, b in enumerate(self.blocks)
            if b.ffn.last_load is not None
            for e, v in enumerate(b.ffn.last_load.tolist())
        ]
        with self._lock:
            self.rows.extend(rows)

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.rows)
