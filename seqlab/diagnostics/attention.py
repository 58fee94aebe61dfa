"""Attention maps of a fixed probe input, recorded as training goes (an engine observer).

At every held-out evaluation the recorder runs the model once more on the first example of the
held-out batch (``SeqModel.attention_maps``) and keeps α for every layer and head, so a page can
show the maps forming (a slider over training steps). Models whose capabilities declare no attention
maps record nothing.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from ..train.observers import Observer


class AttentionRecorder(Observer):
    name = "attention"

    def __init__(self, max_maps: int = 60):
        self.max_maps = max_maps
        self.steps: list[int] = []
        self.maps: list[np.ndarray] = []  # each (layers, heads, T, T)
        self.tokens: list[int] = []
        self.source_text: list[str] = []  # display form of the probe's tokens (the map's columns)
        self.target_text: list[str] = []  # "sequence" tasks: the probe's target (the map's rows)
        self._lock = threading.Lock()

    def on_start(self, trainer) -> None:
        self.trainer = trainer
        # trimmed: a variable-length probe keeps exactly its own source and target positions
        self.probe = trainer.eval_batch.take(slice(0, 1), trim=True)
        if self.probe.x.dtype == torch.long:
            self.tokens = self.probe.x[0].tolist()
            self.source_text = trainer.task.source_text(self.tokens)
        if trainer.task.output_kind == "sequence":  # an encoder–decoder's rows are its output steps
            self.target_text = trainer.task.target_text(self.probe.y[0].tolist())
        self.record(0)

    @torch.no_grad()
    def record(self, step: int) -> None:
        model = self.trainer.model
        if not model.capabilities.attention_maps:
            return
        model.eval()
        try:
            maps = model.attention_maps(self.probe)
        finally:
            model.train()
        stacked = torch.stack([m[0] for m in maps]).cpu().numpy()  # (layers, heads, T, T) or (…, U, T)
        with self._lock:
            self.steps.append(step)
            self.maps.append(stacked)
            if len(self.maps) > self.max_maps:  # keep the first and the latest, drop every other one between
                keep = [0, *range(1, len(self.maps) - 1, 2), len(self.maps) - 1]
                self.steps = [self.steps[i] for i in keep]
                self.maps = [self.maps[i] for i in keep]

    def on_eval(self, record) -> None:
        self.record(record.step)

    def snapshot(self) -> tuple[list[int], list[np.ndarray]]:
        with self._lock:
            return list(self.steps), list(self.maps)
