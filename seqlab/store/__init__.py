"""The run store: every record of a run, on disk as it happens, so nothing is lost.

Layout, one folder per run under the store root (default ``runs/``, or ``$SEQLAB_RUNS``):

    <run_id>/config.json     the full RunConfig, written before the first step
    <run_id>/records.jsonl   one JSON object per train/eval record, appended as they stream in
    <run_id>/result.json     the final RunResult summary (absent while running or after a crash)

The writer is an engine observer, like the CLI's progress bar and the app's live view, so all three
consume the same stream. Lines are flushed at most once a second (and at the end) to keep the
training step cheap; a crash loses at most the last second of records.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict
from pathlib import Path

from ..train.observers import Observer
from ..train.records import EvalRecord, RunResult, StepRecord, clean_json


def default_root() -> Path:
    return Path(os.environ.get("SEQLAB_RUNS", "runs"))


def new_run_id(model: str, task: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{model}-{task}-{uuid.uuid4().hex[:6]}"


class StoreWriter(Observer):
    def __init__(self, folder: Path, flush_every: float = 1.0):
        self.folder = folder
        self.flush_every = flush_every
        self._lines: list[str] = []
        self._last_flush = time.monotonic()

    def on_start(self, trainer) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "config.json").write_text(json.dumps(trainer.config.model_dump(), indent=1))
        self._file = open(self.folder / "records.jsonl", "a")  # noqa: SIM115 - closed in on_end

    def _add(self, record: StepRecord | EvalRecord) -> None:
        self._lines.append(json.dumps(clean_json(asdict(record))))
        if time.monotonic() - self._last_flush >= self.flush_every:
            self._flush()

    def _flush(self) -> None:
        if self._lines:
            self._file.write("\n".join(self._lines) + "\n")
            self._file.flush()
            self._lines.clear()
        self._last_flush = time.monotonic()

    on_step = _add
    on_eval = _add

    def on_end(self, result: RunResult) -> None:
        self._flush()
        self._file.close()
        (self.folder / "result.json").write_text(json.dumps(result.to_json(), indent=1))


class RunStore:
    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_root()

    def writer(self, run_id: str) -> StoreWriter:
        return StoreWriter(self.root / run_id)

    def ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "config.json").exists())

    def summary(self, run_id: str) -> dict:
        folder = self.root / run_id
        result = folder / "result.json"
        if result.exists():
            return {"id": run_id, **json.loads(result.read_text())}
        cfg = json.loads((folder / "config.json").read_text())
        return {"id": run_id, "model": cfg["model"]["name"], "task": cfg["task"]["name"], "status": "incomplete"}

    def load(self, run_id: str) -> dict:
        """Config, whole history and (if finished) result of a stored run."""
        from ..errors import ConfigError

        folder = self.root / run_id
        if not (folder / "config.json").exists():
            raise ConfigError(f"no stored run {run_id!r} in {self.root}/", "run")
        history: dict[str, list] = {"train": [], "eval": []}
        records = folder / "records.jsonl"
        if records.exists():
            for line in records.read_text().splitlines():
                if line.strip():
                    rec = json.loads(line)
                    history[rec["kind"]].append(rec)
        result = folder / "result.json"
        return {
            "id": run_id,
            "config": json.loads((folder / "config.json").read_text()),
            "history": history,
            "result": json.loads(result.read_text()) if result.exists() else None,
        }
