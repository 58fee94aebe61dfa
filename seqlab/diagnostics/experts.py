"""Expert utilisation over training for mixture-of-experts models (an engine observer).

Every ``every`` logged steps it reads, for each layer, the share of routing assignments each
expert received in that step's forward pass (``SeqModel.expert_load``, for models whose capabilities
declare it). A collapsed router shows as one expert taking most of the share; the load-balancing
loss keeps the shares near 1/E."""

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
        self.model = trainer.model if trainer.model.capabilities.expert_load else None

    def on_step(self, record) -> None:
        if self.model is None or record.step % self.every:
            return
        rows = [
            {"step": record.step, "layer": i + 1, "expert": e + 1, "share": float(v)}
            for i, load in enumerate(self.model.expert_load())
            if load is not None
            for e, v in enumerate(load.tolist())
        ]
        with self._lock:
            self.rows.extend(rows)

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.rows)
