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

import difflib
import json
import os
import re
import time
import uuid
from dataclasses import asdict
from pathlib import Path

from ..errors import SeqlabError
from ..train.observers import Observer
from ..train.records import EvalRecord, RunResult, StepRecord, clean_json


def default_root() -> Path:
    return Path(os.environ.get("SEQLAB_RUNS", "runs"))


def new_run_id(model: str, task: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{model}-{task}-{uuid.uuid4().hex[:6]}"


class StoreWriter(Observer):
    def __init__(self, folder: Path, flush_every: float = 1.0, group_id: str | None = None, tag: str | None = None):
        self.folder = folder
        self.meta = {"group_id": group_id, "tag": tag}
        self.flush_every = flush_every
        self._lines: list[str] = []
        self._last_flush = time.monotonic()

    def on_start(self, trainer) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "config.json").write_text(json.dumps(trainer.config.model_dump(), indent=1))
        (self.folder / "meta.json").write_text(json.dumps(self.meta))
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


class StoreError(SeqlabError):
    """The run store cannot be used as asked: a bad run id, or a store folder that cannot be read or made."""


# what new_run_id makes, loosened to any single path component: no separators, no leading dot (so no '..')
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def check_run_id(run_id: str) -> str:
    if not RUN_ID.match(run_id):
        raise StoreError(
            f"{run_id!r} is not a run id: ids are folder names inside the run store, such as "
            "20250101-120000-lstm-adding-1a2b3c (`seqlab runs` lists them)",
            "run",
        )
    return run_id


def _read_json(folder: Path, name: str) -> tuple[dict | None, str | None]:
    """(object, None), (None, None) when the file is absent, or (None, why it cannot be read)."""
    path = folder / name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as e:
        return None, f"{name} unreadable ({e.strerror})"
    if not raw.strip():
        return None, f"{name} is empty (cut mid-write?)"
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as e:
        return None, f"{name} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
    except ValueError:  # bytes that are not UTF-8
        return None, f"{name} is not UTF-8 text"
    if not isinstance(obj, dict):
        return None, f"{name} holds a JSON {type(obj).__name__}, not an object"
    return obj, None


def _config_shape(cfg: dict) -> str | None:
    for part in ("model", "task"):
        if not isinstance(cfg.get(part), dict) or not isinstance(cfg[part].get("name"), str):
            return f"config.json has no {part} name"
    return None


def _read_records(path: Path) -> tuple[dict[str, list], str | None]:
    """Every readable record, and one sentence on the lines that were not (None if all were)."""
    history: dict[str, list] = {"train": [], "eval": []}
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return history, None
    except OSError as e:
        return history, f"records.jsonl unreadable ({e.strerror}) — no history"
    lines = raw.split(b"\n")
    bad = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            history[rec["kind"]].append(rec)
        except (ValueError, KeyError, TypeError):
            bad.append(number)
    if not bad:
        return history, None
    # a crash mid-write leaves exactly one partial last line (the file does not end in a newline)
    cut = bad == [len(lines)] and not raw.endswith(b"\n")
    if len(bad) == 1:
        return history, f"records.jsonl line {bad[0]} unreadable{' (cut mid-write?)' if cut else ''} — skipped"
    shown = ", ".join(map(str, bad[:5])) + (", …" if len(bad) > 5 else "")
    return history, f"records.jsonl: {len(bad)} lines unreadable (lines {shown}) — skipped"


class RunStore:
    """Reads tolerantly: a corrupt file costs only what is in it, and each loss is reported as a
    sentence in ``problems`` (``run <id>: …``) instead of failing the whole store."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_root()

    def _root_error(self, what: str) -> StoreError:
        return StoreError(
            f"the run store {str(self.root)!r} {what}; set SEQLAB_RUNS to a folder you can write "
            "(it is created when missing)",
            "SEQLAB_RUNS",
        )

    def ensure_writable(self) -> None:
        """Create the store folder now, so a bad one is refused before training, not after."""
        if self.root.exists() and not self.root.is_dir():
            raise self._root_error("is a file, not a folder")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise self._root_error(f"cannot be created ({e.strerror})") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise self._root_error("is not writable")

    def writer(self, run_id: str, *, group_id: str | None = None, tag: str | None = None) -> StoreWriter:
        """``group_id`` joins the run to a seed or sweep group; ``tag`` labels it (the run database keeps both)."""
        return StoreWriter(self.root / check_run_id(run_id), group_id=group_id, tag=tag)

    def ids(self) -> list[str]:
        if not self.root.exists():
            return []
        if not self.root.is_dir():
            raise self._root_error("is a file, not a folder")
        try:
            entries = list(self.root.iterdir())
        except OSError as e:
            raise self._root_error(f"cannot be read ({e.strerror})") from None
        return sorted(
            p.name
            for p in entries
            if RUN_ID.match(p.name) and ((p / "config.json").exists() or (p / "result.json").exists())
        )

    def _folder(self, run_id: str) -> Path:
        folder = self.root / check_run_id(run_id)
        if not ((folder / "config.json").exists() or (folder / "result.json").exists()):
            near = difflib.get_close_matches(run_id, self.ids() if self.root.is_dir() else [], n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else " (`seqlab runs` lists them)"
            raise StoreError(f"no stored run {run_id!r} in {self.root}/{hint}", "run")
        return folder

    def _config_and_result(self, run_id: str, folder: Path) -> tuple[dict | None, dict | None, list[str]]:
        problems = []
        config, why = _read_json(folder, "config.json")
        why = why or (_config_shape(config) if config is not None else None)
        if why:
            config = None
            problems.append(why)
        result, why_result = _read_json(folder, "result.json")
        if result is not None and not isinstance(result.get("status"), str):
            result, why_result = None, "result.json has no status"
        if why_result:
            problems.append(why_result + (" — the run is shown as incomplete" if config is not None else ""))
        if config is None and result is not None and isinstance(result.get("config"), dict):
            config = result["config"]
            if why:
                problems[0] += " — using the copy in result.json"
        return config, result, [f"run {run_id}: {p}" for p in problems]

    def summary(self, run_id: str) -> dict:
        """One line's worth of a run; status ``unreadable`` (with ``reason``) when nothing is readable."""
        config, result, problems = self._config_and_result(run_id, self._folder(run_id))
        extra = {"problems": problems} if problems else {}
        if result is not None:
            return {"id": run_id, **result, **extra}
        if config is not None:
            return {
                "id": run_id,
                "model": config["model"]["name"],
                "task": config["task"]["name"],
                "status": "incomplete",
                **extra,
            }
        reason = "; ".join(p.removeprefix(f"run {run_id}: ") for p in problems)
        return {"id": run_id, "status": "unreadable", "reason": reason, **extra}

    def load(self, run_id: str) -> dict:
        """Config, whole history and (if finished) result of a stored run, with ``problems``: what
        could not be read and was skipped."""
        folder = self._folder(run_id)
        config, result, problems = self._config_and_result(run_id, folder)
        history, why = _read_records(folder / "records.jsonl")
        if why:
            problems.append(f"run {run_id}: {why}")
        return {"id": run_id, "config": config, "history": history, "result": result, "problems": problems}
