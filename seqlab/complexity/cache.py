"""Complexity points kept on disk, so a page or a second run draws at once.

One small JSON file, ``$SEQLAB_HOME/complexity-cache.json`` (``SEQLAB_HOME`` defaults to
``~/.seqlab``; the run database will live beside it, separately):

    {"format": 2, "points": {key: {"ms": …, "ms_clock": "thread-cpu", "ms_load": …, "flops": …, …}}}

A key names everything a measurement depends on — the model and its options, the task, n, d, the
batch size, the torch version and the machine — so a number measured under other conditions is never
reused; a point gains metrics as they are measured. A time is kept with what it was measured with
(``seqlab.complexity.clock``): its clock and the machine's load then. Format 1 kept wall times alone, which
other processes' load had inflated and nothing could tell apart; format 2's times are the thread's CPU
time, so a format-1 file is not read and its points are measured again. Each write re-reads the file,
merges, writes a temporary file and renames it over the old one (atomic on POSIX), so a reader never sees
half a file and two writers lose at most each other's newest points. A file that cannot be read (corrupt,
or of another format) is ignored with a logged warning and replaced by the next write; so is a point that
is not a measurement (a value that is not a finite number ≥ 0, a time without its clock), which is
measured again.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import tempfile
import threading
from pathlib import Path

from ..home import home
from .clock import THREAD_CPU, WALL

FORMAT = 2
FILENAME = "complexity-cache.json"
log = logging.getLogger(__name__)
_lock = threading.Lock()  # the pages measure in worker threads of one process


def cache_path() -> Path:
    return home() / FILENAME


def machine() -> str:
    """What a timing depends on besides the code: host, processor and core count."""
    return f"{platform.node()}/{platform.machine()}/{platform.processor() or '?'}/{os.cpu_count()}cpu"


def point_key(model: str, options: dict, task: str | None, n: int, d: int, batch_size: int) -> str:
    import torch

    return json.dumps(
        {
            "model": model,
            "options": options,
            "task": task,
            "n": n,
            "d": d,
            "batch": batch_size,
            "torch": torch.__version__,
            "machine": machine(),
        },
        sort_keys=True,
    )


def _read(path: Path) -> dict[str, dict]:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.warning("ignoring the complexity cache %s: it cannot be read (%s)", path, e)
        return {}
    if isinstance(raw, dict) and raw.get("format") == 1:
        log.warning(
            "ignoring the complexity cache %s: format 1 kept wall times, which other processes' load inflates; "
            "its points are measured again (as thread CPU time) and stored as format %d",
            path,
            FORMAT,
        )
        return {}
    if not isinstance(raw, dict) or raw.get("format") != FORMAT or not isinstance(raw.get("points"), dict):
        log.warning("ignoring the complexity cache %s: not format %d", path, FORMAT)
        return {}
    points = {k: v for k, v in raw["points"].items() if _valid(v)}
    if len(points) < len(raw["points"]):
        log.warning(
            "ignoring %d of %d points in the complexity cache %s: not a measurement (they are measured again)",
            len(raw["points"]) - len(points),
            len(raw["points"]),
            path,
        )
    return points


def _valid(values) -> bool:
    """A stored point is metric → a finite number ≥ 0, with a time's clock named beside it (a hand edit or
    another version may have left anything)."""
    if not isinstance(values, dict) or ("ms" in values and values.get("ms_clock") not in (THREAD_CPU, WALL)):
        return False
    return all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
        for k, v in values.items()
        if k != "ms_clock"
    )


def load() -> dict[str, dict]:
    """Every stored point (empty if there is no readable cache)."""
    with _lock:
        return _read(cache_path())


def get(key: str) -> dict:
    return load().get(key, {})


def _write(path: Path, points: dict[str, dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".complexity-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({"format": FORMAT, "points": points}, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def store(points: dict[str, dict]) -> None:
    """Merge ``points`` (key → metrics) into the file, atomically."""
    path = cache_path()
    with _lock:
        merged = _read(path)
        for key, values in points.items():
            merged[key] = {**merged.get(key, {}), **values}
        _write(path, merged)


def forget(keys) -> None:
    """Drop these points, so they are measured again."""
    path = cache_path()
    with _lock:
        points = _read(path)
        if any(k in points for k in keys):
            _write(path, {k: v for k, v in points.items() if k not in set(keys)})
