"""Recorded runs drawn again: the History page's overlays and the classroom replay.

A ``StoredRun`` is a run read back from the run store that quacks like a ``LiveRun`` for the panels
(``id``, ``label``, ``config``, ``alive``, ``observers``, ``snapshot()``) but is read-only: it trains
nothing and holds no model. Its ``snapshot()`` shows the records whose ``elapsed`` is at most the
position of its clock — all of them for a History overlay, a moving cut for a replay.

A ``Replay`` plays a recording (a preset's runs, recorded ahead of class by ``seqlab record``) as the
page's live panels would have drawn it: at ``speed`` × real time, or instantly (``speed=None``).
Its clock is read only when a page redraws — the fragment's polling is what moves it on — so a
replay costs nothing between polls and nothing at all once it has ended::

    recording = latest_recording(store, "recurrent", preset.name)   # [] on a fresh install
    replay = Replay(recording, speed=10.0)                            # clock starts now
    runs = replay.runs                                                # what live_panels draws

``record_preset`` makes recordings: the preset's runs trained together as the page trains them
(its observers, its ``LessonWatch``), recorded as one group tagged ``recording:<page>:<preset slug>``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from .config import RunConfig
from .errors import SeqlabError
from .presets import LESSON_MARGIN_S, Preset, first_hit, slug
from .train.live import Snapshot
from .train.records import EvalRecord, StepRecord

SPEEDS = {"1×": 1.0, "10×": 10.0, "instantly": None}  # what the replay control offers


def recording_tag(page: str, preset_name: str) -> str:
    return f"recording:{page}:{slug(preset_name)}"


class StoredRun:
    """A stored run (``RunStore.load``'s dict) as the panels read a live one. ``position()`` gives the
    recorded seconds visible now (default: every record)."""

    observers: tuple = ()  # a stored run has no live observers; its snapshots are kept in the store

    def __init__(self, run: dict, label: str | None = None, position: Callable[[], float] = lambda: math.inf):
        self.run = run
        self.id = run["id"]
        self.label = label or run["name"] or run["model"]
        self.config = RunConfig.build(run["config"])
        self.position = position
        self.train = [StepRecord(**r) for r in run["history"]["train"]]
        self.eval = [EvalRecord(**r) for r in run["history"]["eval"]]
        result = run.get("result") or {}
        self.baseline_loss = result.get("baseline_loss")
        self.baseline_metrics = result.get("baseline_metrics") or {}
        self.params = result.get("params")
        last = [r.elapsed for r in (*self.train[-1:], *self.eval[-1:])]
        self.duration = max(last, default=0.0)  # the recorded seconds of its last record

    @property
    def alive(self) -> bool:
        """Still replaying: some of its records are not visible yet."""
        return self.position() < self.duration

    def snapshot(self) -> Snapshot:
        pos = self.position()
        train = [r for r in self.train if r.elapsed <= pos]
        ev = [r for r in self.eval if r.elapsed <= pos]
        playing = pos < self.duration
        return Snapshot(
            id=self.id,
            label=self.label,
            config=self.config,
            status="running" if playing else self.run["status"],
            steps=train[-1].step if train else 0,
            total_steps=self.config.train.steps,
            elapsed=min(pos, self.run["seconds"] or self.duration),
            train=train,
            eval=ev,
            baseline_loss=self.baseline_loss,
            baseline_metrics=dict(self.baseline_metrics),
            params=self.params,
            result=None,  # the panels then judge a blow-up from the visible records, as while training
            error=None,
        )


class Replay:
    """A recording played back from the moment it is made: at ``speed`` × the recorded time, or every record
    at once with ``speed=None``. ``clock`` is injectable so a test can move time by hand."""

    def __init__(self, runs: list[dict], speed: float | None = 1.0, clock: Callable[[], float] = time.monotonic):
        if not runs:
            raise SeqlabError("there is no recorded run to replay", "replay")
        self.speed, self.clock = speed, clock
        self.start = clock()
        self.recorded = runs
        self.runs = [StoredRun(r, position=self.position) for r in runs]

    def position(self) -> float:
        """The recorded seconds shown now."""
        if self.speed is None:
            return math.inf
        return (self.clock() - self.start) * self.speed

    @property
    def playing(self) -> bool:
        return any(r.alive for r in self.runs)

    @property
    def label(self) -> str:
        """'recorded 2026-12-03 11:20 on host': when and where the recording was trained."""
        first = self.recorded[0]
        host = (first.get("env") or {}).get("host") or "an unknown machine"
        return f"recorded {time.strftime('%Y-%m-%d %H:%M', time.localtime(first['created']))} on {host}"

    def lesson_seconds(self, preset: Preset) -> float | None:
        """When the preset's lesson first held in the recording (recorded seconds), if it did."""
        if preset.lesson is None:
            return None
        hit = first_hit(
            preset.lesson, {r.label: (r.eval, r.baseline_loss or 0.0, r.baseline_metrics) for r in self.runs}
        )
        return hit.seconds if hit else None


def latest_recording(store, page: str, preset_name: str) -> list[dict]:
    """The newest recorded group of a page's preset (``store.load`` dicts, oldest run first), or []."""
    tag = recording_tag(page, preset_name)
    newest = store.list(tag=tag, limit=1)
    if not newest:
        return []
    group = newest[0]["group_id"]
    members = [s for s in store.group(group) if tag in s["tags"]] if group else newest
    return [store.load(s["id"]) for s in members]


def record_preset(
    page: str, preset: Preset, store, defaults: dict, budget: float = 300.0, margin: float = LESSON_MARGIN_S
) -> dict:
    """Train ``preset``'s runs together as its page does (the page's observers, its ``LessonWatch``
    stopping them ``margin`` s after the lesson) and record them as one tagged group. A lesson that has
    not shown after ``budget`` seconds stops the runs; the recording is kept either way (a replay shows
    what happened)."""
    from .presets import LessonWatch, observers, preset_configs, watched
    from .train.live import RunRegistry

    store.ensure_writable()
    configs = preset_configs(preset, defaults)
    reg = RunRegistry(max_running=len(configs), keep_ended=len(configs), store=store)
    factory = observers(page)
    watch = None
    if preset.lesson is not None:
        watch = LessonWatch(preset.lesson, [label for label, _ in configs], margin)
        factory = watched(factory, watch)
    tag = recording_tag(page, preset.name)
    t0 = time.monotonic()
    runs = reg.start_group(configs, "record", factory, tag=tag)
    for r in runs:
        r.join(max(0.0, t0 + budget - time.monotonic()))
    reg.stop([r.id for r in runs])
    for r in runs:
        r.join()
    hit = watch.hit if watch is not None else None
    return {
        "page": page,
        "preset": preset.name,
        "tag": tag,
        "runs": [{"id": r.id, "label": r.label, "status": r.status, "steps": r.snapshot().steps} for r in runs],
        "seconds": time.monotonic() - t0,
        "lesson_seconds": hit.seconds if hit else None,
    }
