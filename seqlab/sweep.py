"""Grid sweeps: every combination of a few settings × seeds, on a local process pool or on Ray.

    plan  = plan_sweep(base, grid, seeds)   # points = base × grid × seeds, refused before any training
    sweep = Sweep(plan, backend="local", workers=2)
    out   = sweep.run()                     # one PointResult per point; sweep.stop() ends it early

A plan's ``sweep_id`` is a hash of its base settings, grid and seeds, and each point's run id is
``sweep-<sweep_id>-<hash of its config>``, so running the same sweep again finds the points it already
finished in the run store and skips them (resume). A point the model/task pair cannot train is left
out with a note; a point that raises, or whose worker process dies, is recorded ``failed`` while the
others go on. Stop ends running points as ``stopped`` and starts no more.

Workers are processes ('forkserver', since forking a process that has run torch is unsafe), each
with one torch thread: on a shared 2-core box two one-thread processes beat one two-thread process
because the small per-step ops of these models do not split well across threads. The forkserver imports
torch and seqlab once for all workers (seqlab/sweep_worker.py); while it does, this process trains the
first points itself in one of the ``workers`` slots (``_BootHelper``), and the pool hands out the longest
points first. Ctrl-C is this process's alone (seqlab/pool_server.py): the workers see the stop event.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import multiprocessing as mp
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from itertools import product
from types import SimpleNamespace
from typing import Any

from .config import MODEL_FIELDS, TRAIN_FIELDS, RunConfig, _owners
from .errors import ConfigError, SeqlabError
from .ray_auth import check_token
from .train.observers import Observer

MAX_POINTS = 10_000  # above this a typo (an extra value list) is likelier than intent; refused with the size
FINISHED = ("completed", "target_reached", "time_budget", "diverged")  # resume skips these, retries the rest
RAY_CONNECT_SECONDS = 3.0  # a TCP probe of the Ray head, so an unreachable address fails in seconds, not minutes
RAY_JOIN_SECONDS = 6.0  # then ray.init itself; the two stay under the 10 s


class SweepError(SeqlabError):
    """A sweep cannot start as asked (e.g. Ray unreachable)."""


# -- the plan: grid → points ------------------------------------------------------------------------
def parse_grid(items: Iterable[str]) -> dict[str, list[str]]:
    """``["model=rnn,lstm", "seq_len=10,25"]`` → ``{"model": ["rnn", "lstm"], "seq_len": ["10", "25"]}``."""
    grid: dict[str, list[str]] = {}
    for item in items:
        name, eq, values = item.partition("=")
        name = name.strip()
        if not eq or not name:
            raise ConfigError(f"expected NAME=V1,V2,… such as model=rnn,lstm, got {item!r}", "grid")
        if name in grid:
            raise ConfigError("appears twice in the grid; give all its values in one NAME=V1,V2", name)
        grid[name] = [v.strip() for v in values.split(",") if v.strip()]
    return grid


def parse_seeds(text: str, field: str = "seeds") -> list[int]:
    """``"0-4"`` → 0…4, ``"0,3,7"`` → those, ``"0-2,9"`` → both kinds."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        lo, dash, hi = part.partition("-")
        try:
            if dash and lo:  # "2-5"; a leading "-" is a negative number, refused by the config's bound
                seeds.extend(range(int(lo), int(hi) + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise ConfigError(
                f"expected comma-separated integers, got {text!r} (ranges such as 0-4 too)", field
            ) from None
    if not seeds:
        raise ConfigError("needs at least one value", field)
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:  # the same seed twice is the same run twice: a spread of 0 that measures nothing
        raise ConfigError(f"seed {', '.join(map(str, twice))} appears more than once; give distinct seeds", field)
    return seeds


def _known_names() -> set[str]:
    from .models.registry import MODELS
    from .tasks.registry import TASKS

    options = {f for c in (*MODELS.values(), *TASKS.values()) for f in c.Options.model_fields}
    return {"model", "task", "seq_len", *MODEL_FIELDS, *TRAIN_FIELDS, *options} - {"seed"}


@dataclass(frozen=True)
class Point:
    index: int
    settings: dict[str, Any]  # this point's grid values, seed included (what tells points apart)
    flat: dict[str, Any]  # the whole config, flat
    key: str  # hash of the resolved config: the run id's stem

    def cell(self) -> dict[str, Any]:
        return {k: v for k, v in self.settings.items() if k != "seed"}


@dataclass
class SweepPlan:
    sweep_id: str
    base: dict[str, Any]
    grid: dict[str, list[str]]
    seeds: list[int]
    points: list[Point]
    skipped: list[str]  # one note per model/task pair left out

    def to_json(self) -> dict:
        return {"sweep_id": self.sweep_id, "base": self.base, "grid": self.grid, "seeds": self.seeds}


def grid_size(grid: dict[str, list], seeds: list[int]) -> int:
    return math.prod(len(v) for v in grid.values()) * len(seeds)


def plan_sweep(base: dict[str, Any], grid: dict[str, list], seeds: list[int]) -> SweepPlan:
    """Every point of ``base`` × ``grid`` × ``seeds``, each config validated now so that a bad value
    stops the sweep before its first step (``ConfigError`` naming the field)."""
    from .models.registry import incompatibility, model_class
    from .tasks.registry import task_class

    known = _known_names()
    for name, values in grid.items():
        if name == "seed":
            raise ConfigError("give seeds with --seeds (e.g. 0-4), not in the grid", "seed")
        if name not in known:
            raise ConfigError(f"not a setting seqlab knows; {_owners(name)}", name)
        if not values:
            raise ConfigError("has no values in the grid; give at least one, e.g. NAME=1,2", name)
    n = grid_size(grid, seeds)
    if n > MAX_POINTS:
        sizes = " × ".join(f"{len(v)} {k}" for k, v in grid.items()) + f" × {len(seeds)} seeds"
        raise ConfigError(f"{n:,} points ({sizes}) is more than the {MAX_POINTS:,} a sweep may hold", "grid")
    sweep_id = _digest({"base": base, "grid": grid, "seeds": seeds})
    points, skipped, checked = [], [], {}
    names = list(grid)
    for combo in product(*grid.values()):
        cell = dict(zip(names, combo, strict=True))
        flat = {**base, **cell}
        model, task = flat.get("model", "lstm"), flat.get("task", "adding")
        pair = (model, task)
        if pair not in checked:
            checked[pair] = _pair_problem(model, task, names, model_class, task_class, incompatibility)
            if checked[pair]:
                skipped.append(f"skipped model={model} task={task}: {checked[pair]}")
        if checked[pair]:
            continue
        for seed in seeds:
            config = RunConfig.from_flat({**flat, "seed": seed})
            key, resolved = _digest(config.model_dump()), config.to_flat()
            points.append(Point(len(points), {k: resolved[k] for k in [*names, "seed"]}, resolved, key))
    return SweepPlan(sweep_id, dict(base), {k: list(v) for k, v in grid.items()}, list(seeds), points, skipped)


def _pair_problem(model, task, names, model_class, task_class, incompatibility) -> str | None:
    """Why this model/task pair is left out of the grid (it cannot train, or a grid field is not its
    setting), or None. Names that are no model or task are errors, not skips."""
    m_cls, t_cls = model_class(model), task_class(task)
    why = incompatibility(m_cls, t_cls)
    if why:
        return why
    own = {"model", "task", "seq_len", *MODEL_FIELDS, *TRAIN_FIELDS, *m_cls.Options.model_fields}
    own |= set(t_cls.Options.model_fields)
    foreign = [n for n in names if n not in own]
    return f"{', '.join(foreign)} is not a setting of either" if foreign else None


def _digest(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:10]


# -- running one point (in a worker process, or in this one) -------------------------------------------
@dataclass(frozen=True)
class PointJob:
    """What a worker needs for one point; plain data so it pickles to a process or a Ray task."""

    index: int
    run_id: str
    flat: dict[str, Any]
    store_root: str | None  # None: the worker may be another machine; it returns the history instead
    sweep_id: str


_STOP: Any = None  # the sweep's stop event, set in each pool worker by _init_worker
_STARTED: Any = None  # a queue the worker reports (index, pid) on as a point starts


def _init_worker(stop, started, plugins: list[tuple[str, bytes]]) -> None:
    import torch

    global _STOP, _STARTED
    # Ctrl-C is the pool owner's to act on (seqlab/pool_server.py), also for a forkserver started without it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _STOP, _STARTED = stop, started
    torch.set_num_threads(1)  # see the module docstring
    load_plugins(plugins)


def worker_context():
    """The 'forkserver' context (forking a process that has run torch is unsafe) whose server imports torch
    and seqlab once for every worker it forks (seqlab/sweep_worker.py says what that saves); the preload
    takes effect when the process's forkserver starts, then serves every later pool."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["seqlab.pool_server"])
    return ctx


@contextlib.contextmanager
def worker_pool(ctx, workers: int, stop, started=None) -> Iterator[ProcessPoolExecutor]:
    """A pool of one-thread workers that hold ``stop`` (as ``_STOP``: a training ends when it is set), load
    the parent's plugin models, and report each point they start on ``started`` (a queue, or None).

    Left by an exception (``KeyboardInterrupt`` in a program without the CLI's handler, an error), the pool
    sets ``stop`` first: its shutdown waits for the trainings it runs, which then end at their next step
    instead of their last, and drops those not started."""
    from .plugins import shipped

    pool = ProcessPoolExecutor(workers, ctx, initializer=_init_worker, initargs=(stop, started, shipped()))
    try:
        yield pool
    except BaseException:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def stop_workers(mp_stop, ray_refs: list) -> None:
    """End what runs elsewhere: pool workers see their shared stop event, Ray tasks are cancelled."""
    if mp_stop is not None:
        mp_stop.set()
    if ray_refs:
        import ray

        for ref in list(ray_refs):
            ray.cancel(ref)


def load_plugins(plugins: list[tuple[str, bytes]]) -> None:
    """Register the parent's plugin models (``plugins.shipped()``: paths and texts) in this worker, so a point
    naming one builds it, on this machine or another. One that does not load here is logged; its points then
    fail as unknown models."""
    from .plugins import load_shipped

    for e in load_shipped(plugins)[1]:
        logging.getLogger(__name__).warning("sweep worker: %s", e)


class _StopOn(Observer):
    """Ends the run (status ``stopped``) once the sweep's stop event is set."""

    def __init__(self, event):
        self.event = event

    def on_start(self, trainer) -> None:
        self.trainer = trainer

    def on_step(self, record) -> None:
        if self.event.is_set():
            self.trainer.request_stop()


def run_point(job: PointJob, stop=None) -> dict:
    """Train one point, recorded in the run store; returns the run's summary (``RunResult.to_json``).
    A point that raises is recorded ``failed`` with the error, so the sweep goes on. ``stop``: the
    sweep's stop event when run in its own process (a pool worker has it from ``_init_worker``)."""
    from .store import RunStore
    from .train.engine import Trainer

    stop = stop if stop is not None else _STOP
    if stop is not None and stop.is_set():
        return {"status": "not_started"}
    if _STARTED is not None:
        _STARTED.put((job.index, os.getpid()))
    store = RunStore(job.store_root) if job.store_root is not None else None
    config = RunConfig.from_flat(job.flat)
    try:
        observers = [_writer(store, job)] if store is not None else []
        observers += [_StopOn(stop)] if stop is not None else []
        return Trainer(config, observers).run().to_json(history=store is None)
    except Exception as e:  # noqa: BLE001 - a crashed point is an outcome of the sweep, recorded and shown
        error = f"{type(e).__name__}: {e}"
        if store is None:
            return {"status": "failed", "error": error}
        if job.run_id in store.ids():  # it had started: its records so far stay
            observers[0].close("failed", error)
            return {"status": "failed", "error": error}
        return record_failure(store, job, config, error)


def run_point_ray(job: PointJob, plugins: list[tuple[str, bytes]]) -> dict:
    """``run_point`` in a Ray worker: one torch thread and the parent's plugins, like the pool's workers."""
    import torch

    torch.set_num_threads(1)
    load_plugins(plugins)
    return run_point(job)


def _writer(store, job: PointJob):
    return store.writer(job.run_id, group_id=job.sweep_id, tag="sweep", source="sweep")


def record_failure(store, job: PointJob, config: RunConfig, error: str) -> dict:
    """Record a point that never started training (it raised first, or its worker died) as ``failed``."""
    writer = _writer(store, job)
    writer.on_start(SimpleNamespace(config=config, device="cpu"))
    writer.close("failed", error)
    return {"status": "failed", "error": error, "steps": 0}


def record_remote(store, job: PointJob, out: dict) -> dict:
    """Write a run that trained elsewhere (a Ray worker, maybe on another machine) into this store from its
    summary with history; returns the summary without the history."""
    from .train.records import EvalRecord, RunResult, StepRecord

    config = RunConfig.from_flat(job.flat)
    if "config" not in out:  # it raised on the worker: no run to copy
        return record_failure(store, job, config, out.get("error") or "failed on the Ray worker")
    history = out.pop("history", None) or {"train": [], "eval": []}
    writer = _writer(store, job)
    writer.on_start(SimpleNamespace(config=config, device="cpu"))
    for rec in history["train"]:
        writer.on_step(StepRecord(**rec))
    for rec in history["eval"]:
        writer.on_eval(EvalRecord(**rec))
    names = RunResult.__dataclass_fields__
    writer.on_end(RunResult(**{k: v for k, v in out.items() if k in names}))
    return out


# -- results ------------------------------------------------------------------------------------------
@dataclass
class PointResult:
    point: Point
    run_id: str
    status: str
    result: dict = field(default_factory=dict)  # RunResult.to_json(); empty if the point never ran
    resumed: bool = False  # finished by an earlier run of the same sweep

    @property
    def metrics(self) -> dict[str, float]:
        out = dict(self.result.get("metrics") or {})
        if self.result.get("final_loss") is not None:
            out["final_loss"] = self.result["final_loss"]
        return out

    def to_json(self) -> dict:
        r = self.result
        return {
            "index": self.point.index,
            "settings": self.point.settings,
            "run_id": self.run_id,
            "status": self.status,
            "resumed": self.resumed,
            "steps": r.get("steps"),
            "seconds": r.get("seconds"),
            "final_loss": r.get("final_loss"),
            "metrics": r.get("metrics") or {},
            "error": r.get("error"),
        }


def stats(values: list[float]) -> dict[str, float]:
    mean = sum(values) / len(values)
    sd = (sum((v - mean) ** 2 for v in values) / max(1, len(values) - 1)) ** 0.5
    return {"mean": mean, "std": sd, "min": min(values), "max": max(values), "n": len(values)}


def cells(results: list[PointResult]) -> list[dict]:
    """One row per grid cell (every setting but the seed): mean, std (n − 1), min, max of each metric
    over the cell's finished seeds."""
    groups: dict[str, tuple[dict, list[PointResult]]] = {}
    for r in results:
        groups.setdefault(json.dumps(r.point.cell(), sort_keys=True), (r.point.cell(), []))[1].append(r)
    rows = []
    for cell, members in groups.values():
        done = [m for m in members if m.status in FINISHED]
        keys = sorted({k for m in done for k in m.metrics})
        rows.append(
            {
                "settings": cell,
                "seeds": len(members),
                "finished": len(done),
                "stats": {k: stats(vals) for k in keys if (vals := [m.metrics[k] for m in done if k in m.metrics])},
            }
        )
    return rows


@dataclass
class SweepResult:
    plan: SweepPlan
    backend: str
    workers: int
    results: list[PointResult]
    seconds: float
    stopped: bool = False

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    def to_json(self) -> dict:
        return {
            **self.plan.to_json(),
            "backend": self.backend,
            "workers": self.workers,
            "seconds": self.seconds,
            "stopped": self.stopped,
            "total": len(self.plan.points),
            "counts": self.counts(),
            "resumed": sum(r.resumed for r in self.results),
            "skipped": self.plan.skipped,
            "points": [r.to_json() for r in sorted(self.results, key=lambda r: r.point.index)],
            "cells": cells(self.results),
        }


# -- the sweep ----------------------------------------------------------------------------------------
Runner = Callable[..., dict]  # (job) in a worker process, (job, stop event) in this one
OnPoint = Callable[[PointResult, int, int, float | None], None]  # (result, done, total, eta seconds)


class Sweep:
    """Runs a plan's points on a backend; thread-safe ``stop()`` and ``snapshot()`` for a page."""

    def __init__(
        self,
        plan: SweepPlan,
        backend: str = "local",
        workers: int | None = None,
        address: str | None = None,
        store=None,
        on_point: OnPoint | None = None,
        runner: Runner = run_point,
    ):
        from .store import RunStore

        if backend not in ("local", "ray"):
            raise ConfigError(f"unknown backend {backend!r}; choose local or ray", "backend")
        if workers is not None and not 1 <= workers <= 256:
            raise ConfigError(f"must be between 1 and 256, got {workers}", "workers")
        if address is not None and backend != "ray":
            raise ConfigError("is for --backend ray", "address")
        if address not in (None, "auto"):
            probe_ray(address)  # before anything starts, so a bad address is the only thing said
        self.plan, self.backend, self.address = plan, backend, address
        self.workers = workers or os.cpu_count() or 1
        self.store = store or RunStore()
        self.on_point, self.runner = on_point, runner
        self._results: dict[int, PointResult] = {}
        self._lock = threading.Lock()
        self._queue_lock = threading.Lock()  # a pool's points not yet handed out (see _BootHelper)
        self._stop = threading.Event()
        self._mp_stop = None
        self._ray_refs: list = []
        self._ray_owner: bool | None = None  # True once this sweep started or joined Ray (and must shut it down)
        self._started_at = time.monotonic()
        self._ran = 0

    def stop(self) -> None:
        self._stop.set()
        stop_workers(self._mp_stop, self._ray_refs)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def snapshot(self) -> list[PointResult]:
        with self._lock:
            return list(self._results.values())

    def progress(self) -> tuple[int, int]:
        with self._lock:
            return len(self._results), len(self.plan.points)

    # -- bookkeeping -------------------------------------------------------------------------------
    def _stem(self, point: Point) -> str:
        return f"sweep-{self.plan.sweep_id}-{point.key}"

    def _read_group(self) -> None:
        """The sweep's runs already in the store, by point (one query: the sweep is the run group)."""
        self._earlier: dict[str, list[dict]] = {}
        for summary in self.store.group(self.plan.sweep_id):
            self._earlier.setdefault(summary["id"][: len(f"sweep-{self.plan.sweep_id}-") + 10], []).append(summary)

    def _new_run_id(self, point: Point) -> str:
        n = len(self._earlier.get(self._stem(point), []))
        return self._stem(point) if n == 0 else f"{self._stem(point)}-{n + 1}"

    def _finished_before(self, point: Point) -> PointResult | None:
        for summary in self._earlier.get(self._stem(point), []):
            if summary["status"] in FINISHED:
                return PointResult(point, summary["id"], summary["status"], summary, resumed=True)
        return None

    def _done(self, point: Point, run_id: str, out: dict) -> None:
        status = out.get("status", "failed")
        if status == "not_started":
            return
        r = PointResult(point, run_id, status, out)
        with self._lock:
            self._results[point.index] = r
            self._ran += 1
            done, total = len(self._results), len(self.plan.points)
            rate = (time.monotonic() - self._started_at) / self._ran
        eta = rate * (total - done) if not self._stop.is_set() else None
        if self.on_point:
            self.on_point(r, done, total, eta)

    # -- run ---------------------------------------------------------------------------------------
    def run(self) -> SweepResult:
        self.store.ensure_writable()
        self._read_group()
        todo = []
        for p in self.plan.points:
            earlier = self._finished_before(p)
            if earlier:
                self._results[p.index] = earlier
            else:
                todo.append(p)
        self._started_at = time.monotonic()
        jobs = [PointJob(p.index, self._new_run_id(p), p.flat, str(self.store.path), self.plan.sweep_id) for p in todo]
        by_index = {p.index: p for p in todo}
        if jobs and self.backend == "ray":
            self._run_ray(jobs, by_index)
        elif jobs and (self.workers == 1 or len(jobs) == 1):
            self._run_here(jobs, by_index)
        elif jobs:
            self._run_pool(jobs, by_index)
        return SweepResult(
            self.plan,
            self.backend,
            self.workers,
            self.snapshot(),
            time.monotonic() - self._started_at,
            self._stop.is_set(),
        )

    def _run_here(self, jobs: list[PointJob], by_index: dict[int, Point]) -> None:
        """One after another in this process (``--workers 1``): no start-up cost, the serial baseline.
        The stop event is handed over, not set globally: two sweeps may run in one server process."""
        for job in jobs:
            if self._stop.is_set():
                break
            self._done(by_index[job.index], job.run_id, self.runner(job, self._stop))

    def _run_pool(self, jobs: list[PointJob], by_index: dict[int, Point]) -> None:
        """On a process pool. A worker that dies breaks the whole pool (``BrokenProcessPool``) without
        saying which point it ran, so every worker reports each point it starts: a point that was
        running alone when the pool broke is recorded ``failed``; several that were running together
        are each run again alone, which tells the culprit from its bystanders; the points not yet
        started go on in a new pool."""
        ctx = worker_context()
        self._mp_stop = ctx.Event()
        if self._stop.is_set():
            self._mp_stop.set()
        started = ctx.SimpleQueue()
        # longest first (steps × length as the guess): the pool ends when its last point does, and a
        # short last point leaves the other worker idle for less of the tail
        pending = sorted(jobs, key=lambda j: j.flat.get("steps", 1) * j.flat.get("seq_len", 1), reverse=True)
        alone: list[PointJob] = []
        # a custom runner (tests) may be written for a worker process only
        helps = self.runner is run_point
        while (pending or alone) and not self._stop.is_set():
            batch = [alone.pop(0)] if alone else pending
            width = min(self.workers, len(batch))
            running: set[int] = set()
            queue = list(batch)  # not handed out yet: the pool takes from the front, a _BootHelper from the back
            helper = _BootHelper(self, queue, by_index) if helps and batch is pending and len(batch) > 1 else None
            helps = False  # the first pool only: later ones fork from a server that is already up
            if helper is not None:
                helper.start()  # before the first submit, which waits for the forkserver's preload
            with worker_pool(ctx, width, self._mp_stop, started) as pool:
                futures: dict = {}
                broken, left = False, set()
                while True:
                    # hand out one point per free slot, not all at once: the helper's point holds a slot
                    while not broken and not self._stop.is_set():
                        with self._queue_lock:
                            if not queue or len(left) + (helper is not None and helper.busy) >= width:
                                break
                            job = queue.pop(0)
                        try:
                            f = pool.submit(self.runner, job)
                        except BrokenProcessPool:
                            broken = True
                            break
                        futures[f] = job
                        left.add(f)
                    if helper is not None and broken:
                        helper.enough.set()
                    helping = helper is not None and helper.is_alive()
                    if not left:
                        if not helping:
                            break
                        helper.join(0.1)
                        continue
                    finished, left = wait(left, timeout=0.1 if helping else 0.5, return_when=FIRST_COMPLETED)
                    for f in finished:
                        job = futures[f]
                        try:
                            out = f.result()
                        except BrokenProcessPool:
                            broken = True
                            continue
                        self._done(by_index[job.index], job.run_id, out)
                        running.discard(job.index)
                    while not started.empty():
                        running.add(started.get()[0])
                    if helper is not None and (running or broken):
                        helper.enough.set()
                    running -= set(self._results)
            if helper is not None and helper.error is not None:
                raise helper.error
            unfinished = [j for j in batch if j.index not in self._results]
            if batch is not pending:  # a point run alone
                if broken:
                    self._died(by_index[batch[0].index], batch[0])
                continue
            if not broken:
                break
            unfinished = [self._fresh(j) for j in unfinished]
            suspects = [j for j in unfinished if j.index in running]
            if not suspects and len(unfinished) == len(batch):
                # the pool broke before any point started: the workers cannot start at all
                raise SweepError("the sweep's worker processes died before starting a point", "workers")
            if len(suspects) == 1:
                self._died(by_index[suspects[0].index], suspects[0])
            else:
                alone.extend(suspects)
            pending = [j for j in unfinished if j not in suspects]

    def _fresh(self, job: PointJob) -> PointJob:
        """``job`` under a new run id if a broken pool's worker had begun its run (that row stays, and the
        store marks it ``interrupted`` once it sees the process gone)."""
        self._read_group()
        point = self.plan.points[job.index]
        if job.run_id in {s["id"] for s in self._earlier.get(self._stem(point), [])}:
            return replace(job, run_id=self._new_run_id(point))
        return job

    def _died(self, point: Point, job: PointJob) -> None:
        """Record a point whose worker died as ``failed``."""
        job = self._fresh(job)
        error = "its worker process died (killed, or crashed outside Python)"
        self._done(point, job.run_id, record_failure(self.store, job, RunConfig.from_flat(point.flat), error))

    def prepare(self) -> None:
        """Join (or start) Ray now, so a bad address is reported before anything else is said."""
        if self.backend == "ray" and self._ray_owner is None:
            self._ray_owner = connect_ray(self.address)

    def _run_ray(self, jobs: list[PointJob], by_index: dict[int, Point]) -> None:
        import ray

        from .plugins import shipped

        self.prepare()
        started_here, self._ray_owner = self._ray_owner, None
        try:
            # no retries: a point whose worker dies is recorded failed, as on the local pool
            task = ray.remote(num_cpus=1, max_retries=0)(run_point_ray)
            # workers return the history and this process records it: a cluster's workers cannot reach our disk
            plugins = shipped()
            refs = {task.remote(replace(job, store_root=None), plugins): job for job in jobs}
            self._ray_refs = list(refs)
            if self._stop.is_set():
                self.stop()
            left = list(refs)
            while left:
                finished, left = ray.wait(left, num_returns=1, timeout=0.5)
                for ref in finished:
                    job = refs[ref]
                    try:
                        out = ray.get(ref)
                        if out.get("status") != "not_started":
                            out = record_remote(self.store, job, out)
                    except ray.exceptions.TaskCancelledError:
                        out = {"status": "not_started"}
                    except ray.exceptions.RayError as e:
                        error = f"the Ray task failed: {type(e).__name__}: {str(e).splitlines()[0]}"
                        out = record_failure(self.store, job, RunConfig.from_flat(job.flat), error)
                    self._done(by_index[job.index], job.run_id, out)
        finally:
            self._ray_refs = []
            if started_here:
                ray.shutdown()


class _BootHelper(threading.Thread):
    """Trains points in the sweep's own process while its first pool's workers start, so the core they
    leave idle meanwhile does the sweep's work: the forkserver imports torch and seqlab once
    (seqlab/sweep_worker.py, ≈ 2.5 s of one core) before it can fork a worker. It takes points from the
    short end of the queue, one at a time, holding one of the sweep's ``workers`` slots while it trains
    (never more points at once than ``workers``), and takes no more once a worker has started a point:
    a point that kills its process should kill a worker, not the sweep."""

    def __init__(self, sweep: Sweep, queue: list[PointJob], by_index: dict[int, Point]):
        super().__init__(daemon=True, name="seqlab-sweep-boot")
        self.sweep, self.queue, self.by_index = sweep, queue, by_index
        self.enough = threading.Event()  # set once a worker has started a point, or the pool broke
        # its slot is held from the start, before the pool's first point, until it quits (read under the
        # sweep's queue lock): between two of its points the pool must not take the slot
        self.busy = True
        self.error: BaseException | None = None  # what run_point raised here, re-raised by the sweep's thread

    def run(self) -> None:
        import torch

        # torch's count is this thread's own with OpenMP; asking first keeps a later copy from overwriting it
        if torch.get_num_threads() != 1:
            torch.set_num_threads(1)
        sweep = self.sweep
        try:
            while not self.enough.is_set() and not sweep.stopping:
                with sweep._queue_lock:
                    if not self.queue:
                        return
                    job = self.queue.pop()
                sweep._done(self.by_index[job.index], job.run_id, run_point(job, sweep._stop))
        except BaseException as e:  # as in _run_here, the exception is the sweep's: its own thread raises it
            self.error = e
        finally:
            with sweep._queue_lock:
                self.busy = False


def connect_ray(address: str | None) -> bool:
    """Join the Ray cluster at ``address`` ('auto' or HOST:PORT), or start a local one (2 CPUs, no
    dashboard) when None. True if a Ray was started or joined here (so the caller shuts it down);
    False if this process was already connected. (Not RAY_BACKEND_LOG_LEVEL: Ray's core says "Set ray log level
    from environment variable ..." on stderr whenever it is set, and it does not quiet the GCS client's retry
    warnings of a failed join, logged before it is read.)"""
    import ray

    if ray.is_initialized():
        return False
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where `import seqlab` finds this copy
    if address is None:
        _start_local_ray(root)
        return True
    env = {"env_vars": {"PYTHONPATH": root}}
    # ray.init retries a silent head for a minute: wait for it in a thread, and give up first
    outcome: list = []

    def join() -> None:
        try:
            resolved = _resolved(address)
            problem = resolved and check_token(resolved, RAY_JOIN_SECONDS)
            if problem:
                raise SweepError(problem, "address")
            ray.init(address=address, log_to_driver=False, runtime_env=env, logging_level=logging.ERROR)
            outcome.append(None)
        except Exception as e:  # noqa: BLE001 - handed to the caller's thread and reported there
            outcome.append(e)

    worker = threading.Thread(target=join, daemon=True, name="seqlab-ray-init")
    worker.start()
    worker.join(RAY_JOIN_SECONDS)
    if not outcome:
        raise SweepError(f"no Ray head answered at {address} within {RAY_JOIN_SECONDS:g} s", "address")
    if isinstance(outcome[0], SweepError):
        raise outcome[0]
    if outcome[0] is not None:
        why = str(outcome[0]).strip().splitlines()[0] if str(outcome[0]).strip() else type(outcome[0]).__name__
        raise SweepError(f"cannot join the Ray cluster at {address!r}: {why}", "address")
    return True


def _start_local_ray(root: str) -> None:
    """A local Ray of 2 CPUs, no dashboard. Its workers find seqlab through the environment they inherit
    (this process's, via the raylet) rather than a ``runtime_env``: a job with a runtime_env cannot use the
    workers Ray starts with ``ray.init`` and waits for new ones (measured: the first two tasks began
    4–5 s later, machine loaded). Its workers import torch and seqlab as they start (Ray's
    ``preload_python_modules``, the pool's preload: seqlab/sweep_worker.py), not in their first task."""
    import ray

    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, before) if p)
    try:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
            _system_config={"preload_python_modules": ["seqlab.sweep_worker"]},
        )
    finally:  # the raylet took its copy; this process's environment is left as it was
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


# a Ray head's port (GCS) speaks gRPC, i.e. HTTP/2: to the client preface and an empty SETTINGS frame, a
# server answers with its own SETTINGS frame (type 0x4 in the 4th byte of the 9-byte frame header)
_H2_HELLO = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def probe_ray(address: str, timeout: float = RAY_CONNECT_SECONDS) -> None:
    """Refuse a HOST:PORT where no gRPC server (a Ray head) answers within ``timeout`` seconds. The
    handshake, not just a TCP connect: a proxy or firewall may accept a connection for any address."""
    host, colon, port = address.rpartition(":")
    if not colon or not host or not port.isdigit():
        raise SweepError(f"expected auto or HOST:PORT such as 10.0.0.5:6379, got {address!r}", "address")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as conn:
            conn.sendall(_H2_HELLO)
            reply = conn.recv(9)
        why = None if len(reply) == 9 and reply[3] == 4 else "it answers, but not as a Ray head"
    except OSError as e:
        why = "no answer" if isinstance(e, TimeoutError) else (e.strerror or str(e))
    if why:
        raise SweepError(
            f"cannot reach a Ray head at {address} ({why} within {timeout:g} s); start one with `ray start --head`",
            "address",
        )
    problem = check_token(address, timeout)  # the head answers; does it want a token this process lacks?
    if problem:
        raise SweepError(problem, "address")


def _resolved(address: str) -> str | None:
    """HOST:PORT for ``auto`` (RAY_ADDRESS, else the cluster last started here) as ray.init finds it; None
    when there is none (ray.init then says so)."""
    if address != "auto":
        return address
    from ray._private.services import canonicalize_bootstrap_address

    try:
        return canonicalize_bootstrap_address(address)
    except (ConnectionError, ValueError):
        return None
