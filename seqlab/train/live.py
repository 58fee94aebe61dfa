"""Live runs for the app: a Trainer in a worker thread, and a process-wide registry of them.

The worker never touches the UI; it writes records into a ``LiveRun`` under a lock, and the
pages read ``snapshot()`` copies on their own schedule. A page switch, a widget change or a
browser reload therefore cannot kill or duplicate a run: the run belongs to the registry (kept in
``st.cache_resource`` by ``seqlab.ui.state``), not to the script run that started it.

Runs have an ``owner`` (one browser session) and are listed only to it; a run id in a shared
link makes that run visible to whoever opens the link. The registry caps concurrent runs
(``SEQLAB_MAX_RUNS``, default 4) and refuses more with a message that says what to do. The cap is
counted in *slots*, reserved under the registry's lock at admission — before anything is built or
started — and released when the run's thread ends or its start fails; counting live threads
instead let simultaneous Train presses all pass the check before any of them had a thread.

The app's other background work (searches, experiments, complexity sweeps and measurements) is
a ``seqlab.jobs.Job`` admitted here too (``submit``) and holds a slot the same way, so the cap bounds
everything that trains or measures; runs are refused when the slots are full, those jobs queue
(``seqlab.jobs`` says why, and what a queued job shows).

With a run store (``for_server`` opens ``$SEQLAB_HOME``'s) every run is recorded as it trains: a writer
joins its observers, and when it ends the snapshots of its other observers (attention maps, gate traces,
expert load: what the pages draw) are kept with it. A store that cannot be used is logged and the app
trains without recording, rather than not at all.

Threads: a run gets more than one thread only when its training step is big enough to gain from them —
``step_work`` (parameters one token uses × tokens per batch, read once from what the model declares when
the run is built) at least ``PARALLEL_WORK``; every smaller run trains on one thread, whatever its share.
A run that qualifies uses every core alone (``SEQLAB_THREADS``, default all of them); runs that share the
machine split them, ``cores // runs holding a slot`` each, re-read by every run at each logged step
(``_Collector``), so a run speeds up when its neighbour ends; and while other processes keep the machine
busier than its cores (the 1-minute load average) it takes one too. The load alone was not enough: it lags
a minute and misses a browser's bursts, and a small step's threads wait at every operation for each other's
turn — the GRU-vs-LSTM preset's LSTM went from ≈4 to ≈45 ms per step when its neighbour ended and handed it
the second core. Measured ms per step on 1 vs 2 threads (``seqlab bench --thread-gain``, quiet blocks, and
beside one busy loop): ``RunRegistry.threads_per_run``.
What changing a running run's count does and does not do:
  * With torch's OpenMP backend (this build; ``torch.__config__.parallel_info()``) the count that
    ``torch.set_num_threads`` sets is the *calling thread's*: that thread's OpenMP ``nthreads`` and
    MKL's thread-local count (``mkl_set_num_threads_local``). A run's worker therefore changes only
    its own count, never a neighbour's mid-step. One catch, measured: a thread that has not yet asked
    copies the count last set anywhere the first time it does, overwriting its own earlier setting;
    ``_use_threads`` asks (``get_num_threads``) before it sets, so that copy happens first.
  * The count changes a run's numbers at most in float rounding: measured bit-identical for the LSTM,
    while the GPT's loss differs in the 7th digit from step 5 (tests/test_live.py). So a seed
    reproduces a run exactly at the same thread count, and to rounding otherwise (training can
    amplify rounding over many steps, so a long run's curve may drift visibly from its rerun).
Background jobs (searches, measurements) stay on one thread each: the complexity panel's times are
declared single-threaded.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from ..complexity.clock import machine_load
from ..config import RunConfig
from ..errors import SeqlabError
from ..jobs import QUEUED_KINDS, SOLO_KINDS, Job, done_working, start_working, waiting_text
from .engine import Trainer
from .observers import Observer
from .records import EvalRecord, RunResult, StepRecord

log = logging.getLogger(__name__)


class CapacityError(SeqlabError):
    """Too many runs and jobs are training at once in this process."""


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, str(default))))
    except ValueError:
        return default


def default_max_runs() -> int:
    return _env_int("SEQLAB_MAX_RUNS", 4)


# a server lives for a term: ended runs and jobs are forgotten oldest first beyond this many of each
# (their records stay in the run store); and one session may keep only so many jobs waiting
KEEP_ENDED = 64
QUEUED_PER_OWNER = 3


def default_cores() -> int:
    """The cores the runs of this process share: ``SEQLAB_THREADS``, else every core."""
    return _env_int("SEQLAB_THREADS", os.cpu_count() or 1)


# parameters × tokens per batch from which a second thread pays on this 2-core machine: every measured step
# above it ran ≥ 1.46 × faster on two, none below it more than 1.35 × (5 ms a step), small beside the 2.5-5 ×
# two threads lose to anything else running (``RunRegistry.threads_per_run``)
PARALLEL_WORK = 300_000_000


def step_work(trainer: Trainer) -> int:
    """The work of one training step: parameters one token uses × tokens per batch, read from what the model
    declares (``active_param_count``) and the task's length, so it costs nothing at start and times nothing.
    It tracks a step's FLOPs (forward + backward, as the complexity sweep counts them): 5.7-6.7 × it in 13 of
    14 configurations measured, LSTMs and Bahdanau to GPTs, BERT and the MoE; 2.9 × for the S4D SSM, whose
    kernel is built once per batch."""
    return trainer.model.active_param_count() * trainer.config.train.batch_size * trainer.task.spec.length


def _use_threads(n: int) -> None:
    """Set the calling thread's intra-op count (thread-local with OpenMP: see the module docstring)."""
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


@dataclass
class Snapshot:
    """A consistent copy of a run's state for one redraw."""

    id: str
    label: str
    config: RunConfig
    status: str
    steps: int
    total_steps: int
    elapsed: float
    train: list[StepRecord]
    eval: list[EvalRecord]
    baseline_loss: float | None
    baseline_metrics: dict
    params: int | None
    result: RunResult | None
    error: str | None

    @property
    def running(self) -> bool:
        return self.status in ("starting", "running")


class _Collector(Observer):
    def __init__(self, run: LiveRun):
        self.run = run

    def on_start(self, trainer) -> None:
        _use_threads(self.run._threads(self.run.work))
        with self.run._lock:
            self.run.status = "running"
            self.run.t_start = time.monotonic()

    def on_step(self, record: StepRecord) -> None:
        _use_threads(self.run._threads(self.run.work))  # a neighbour started or ended: take this run's new share
        with self.run._lock:
            self.run._train.append(record)

    def on_eval(self, record: EvalRecord) -> None:
        with self.run._lock:
            self.run._eval.append(record)


@dataclass
class LiveRun:
    config: RunConfig
    owner: str
    label: str = ""
    group: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    status: str = "starting"
    error: str | None = None
    result: RunResult | None = None
    created: float = field(default_factory=time.time)
    t_start: float | None = None
    t_end: float | None = None

    def __post_init__(self):
        self._lock = threading.Lock()
        self._on_end: Callable[[LiveRun], None] = lambda run: None
        self._threads: Callable[[int], int] = lambda work: 1  # thread count for a step's work (the registry's)
        self.work = 0  # step_work of its trainer, once built
        self._train: list[StepRecord] = []
        self._eval: list[EvalRecord] = []
        self.trainer: Trainer | None = None
        self.observers: list = []
        self._thread: threading.Thread | None = None
        self.recorder = None
        self.label = self.label or self.config.model.name

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, extra_observers=(), on_end: Callable[[LiveRun], None] | None = None, recorder=None) -> LiveRun:
        """Build the trainer here, in the caller, so a bad config fails loudly before a thread exists;
        ``on_end(run)`` is called from the worker thread as its last act (the registry frees the slot).
        ``recorder`` (a ``seqlab.store.RunWriter``) records the run."""
        if on_end is not None:
            self._on_end = on_end
        self.observers = list(extra_observers)
        self.recorder = recorder
        self.trainer = Trainer(self.config, [_Collector(self), *self.observers, *([recorder] if recorder else [])])
        self.work = step_work(self.trainer)
        self._thread = threading.Thread(target=self._work, name=f"seqlab-run-{self.id}", daemon=True)
        start_working(self, self._thread)  # stopped and joined at interpreter exit (seqlab.jobs.stop_all_at_exit)
        return self

    def _work(self) -> None:
        try:
            result = self.trainer.run()
            with self._lock:
                self.result, self.status = result, result.status
        except Exception as e:  # noqa: BLE001 - the run's history is kept and the error shown to the user
            with self._lock:
                self.status, self.error = "failed", f"{type(e).__name__}: {e}"
            if self.recorder is not None:
                self._record(lambda: self.recorder.close("failed", self.error))
        finally:
            self.t_end = time.monotonic()
            try:
                if self.recorder is not None:
                    self._record(self._keep_snapshots)
                self._on_end(self)
            finally:
                done_working(self)

    def _keep_snapshots(self) -> None:
        for obs in self.observers:
            payload = obs.snapshot()
            if obs.name and payload:
                self.recorder.add_snapshot(obs.name, self.trainer.steps_done, payload)

    def _record(self, write: Callable[[], None]) -> None:
        """A failed write to the run store costs the record, not the run the page shows."""
        try:
            write()
        except SeqlabError as e:
            log.warning("run %s was not fully recorded: %s", self.id, e)

    def stop(self) -> None:
        if self.trainer is not None:
            self.trainer.request_stop()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def snapshot(self) -> Snapshot:
        with self._lock:
            train, ev = list(self._train), list(self._eval)
            status, result, error = self.status, self.result, self.error
        tr = self.trainer
        end = self.t_end or time.monotonic()
        return Snapshot(
            id=self.id,
            label=self.label,
            config=self.config,
            status=status,
            steps=train[-1].step if train else 0,
            total_steps=self.config.train.steps,
            elapsed=(end - self.t_start) if self.t_start else 0.0,
            train=train,
            eval=ev,
            baseline_loss=tr.baseline.loss if tr else None,
            baseline_metrics=dict(tr.baseline.metrics) if tr else {},
            params=tr.model.param_count() if tr else None,
            result=result,
            error=error,
        )


class RunRegistry:
    """All live runs and background jobs of this process, keyed by id, the slots that cap how many
    train at once, and the queue of jobs waiting for one."""

    def __init__(
        self,
        max_running: int | None = None,
        cores: int | None = None,
        keep_ended: int | None = None,
        store=None,
        load: Callable[[], float] | None = None,
        parallel_work: int = PARALLEL_WORK,
    ):
        self.max_running = max_running or default_max_runs()
        self.cores = cores or default_cores()
        self.keep_ended = keep_ended or _env_int("SEQLAB_KEEP_ENDED", KEEP_ENDED)
        self.store = store  # a seqlab.store.RunStore that records every run, or None
        self._load = load or machine_load
        self.parallel_work = parallel_work
        self._runs: dict[str, LiveRun] = {}
        self._jobs: dict[str, Job] = {}
        self._shared: dict[tuple, Job] = {}  # a keyed job (a measurement) by its key, for every session
        self._queue: list[Job] = []  # first come, first admitted
        self._slots: set[str] = set()  # ids of admitted runs and jobs whose thread has not ended
        self._lock = threading.Lock()

    @classmethod
    def for_server(cls) -> RunRegistry:
        """The app's registry: the cap from ``SEQLAB_MAX_RUNS``, the cores from ``SEQLAB_THREADS``, and the run
        store in ``$SEQLAB_HOME`` (none, with a logged warning, when it cannot be used)."""
        from ..store import RunStore

        store = RunStore()
        try:
            store.ensure_writable()
        except SeqlabError as e:
            log.warning("runs will not be recorded: %s", e)
            store = None
        return cls(store=store)

    def threads_per_run(self, work: int) -> int:
        """The thread count of a run whose step does ``work`` (``step_work``): one, unless its step is big
        enough to gain from more (``parallel_work``); then its share of the cores — all of them alone, split
        evenly between the slots taken — and one again while the machine is already busier than its cores.

        Measured on this 2-core machine: ms per step on 1 → 2 threads, medians over interleaved pairs of blocks
        in which other processes kept under 0.3 of a core busy (``seqlab bench --thread-gain``; 5-14 such pairs
        per row, from 2-4 passes at 1-minute loads of 3-13), and "busy" the same beside one busy loop; the step's
        work (parameters × tokens per batch) in brackets.
          Below the threshold at most × 1.35 (5 ms a step), and 2.5-5 × slower beside anything else:
            LSTM parity T=6, the GRU-vs-LSTM preset's (6 M): 2.4 → 2.5, busy 3.0 → 16.6
            selective SSM recall (9 M): 12.6 → 11.8, busy 12.6 → 51
            S4D SSM copy, delay 60 (38 M): 19.9 → 14.9, busy 18.2 → 60
            Bahdanau reverse T=20 (43 M): 47.7 → 49.7, busy 41 → 179
            LSTM adding T=100, batch 64 (112 M): 19.2 → 15.9, busy 22.4 → 67
            LSTM copy, hidden 128 (112 M): 12.7 → 9.3, busy 11.1 → 28.2
            GPT copy and BERT reverse T=40 (130 M): 28.0 → 25.6 and 26.3 → 25.2, busy 27 → 94 and 33 → 108
            LSTM on Dyck, 2 layers (138 M): 19.5 → 15.7, busy 19.9 → 66
            MoE reverse T=40 (215 M): 44.4 → 43.6, busy 52 → 218
          Above it at least × 1.46:
            the char GPT preset, batch 64 (424 M): 84 → 55, busy 82 → 234
            GPT on chars, d=128, 2 layers (827 M): 92 → 62, busy 124 → 704
            LSTM on chars, hidden 256 (1.1 G): 75 → 42, busy 85 → 135
            GPT on chars, d=128, 4 layers (1.6 G): 198 → 126, busy 160 → 931
            LSTM on chars, hidden 512 (4.4 G): 315 → 176, busy 318 → 537
        Beside a busy process two threads lose at every size (a GPT's many short operations most, × 0.17-0.36;
        a big LSTM's least, × 0.6-0.7): that case is the load brake's, a minute late. The work does not rank
        every family alike (what counts is the size of each operation: the MoE's routing splits its work
        into small ones), but the threshold separates every step measured. Under other processes' load (~12 on
        2 cores) a small LSTM alone on 2 threads took 380-1,360 ms per step against 17-38 ms on one."""
        if work < self.parallel_work:
            return 1
        with self._lock:
            share = max(1, self.cores // max(1, len(self._slots)))
        return share if share == 1 or self._load() <= self.cores else 1

    def running(self) -> list[LiveRun]:
        """Runs holding a slot: admitted and not yet ended (still building counts)."""
        with self._lock:
            return [r for r in self._runs.values() if r.id in self._slots]

    def slots_taken(self) -> int:
        with self._lock:
            return len(self._slots)

    def _prune(self) -> None:
        """Forget the oldest ended runs and jobs beyond ``keep_ended`` of each (under the lock), so a server
        that runs all term holds a bounded number of models and results; a session whose run was
        forgotten finds it in the run store."""
        ended_runs = [i for i in self._runs if i not in self._slots]
        for i in ended_runs[: max(0, len(ended_runs) - self.keep_ended)]:
            del self._runs[i]
        ended_jobs = [j for j in self._jobs.values() if j.id not in self._slots and j not in self._queue]
        for job in ended_jobs[: max(0, len(ended_jobs) - self.keep_ended)]:
            del self._jobs[job.id]
            if job.key is not None and self._shared.get(job.key) is job:
                del self._shared[job.key]

    def _solo_running(self, kind: str) -> bool:
        """Whether a job of ``kind``, a kind that runs one at a time, already holds a slot (under the lock)."""
        return kind in SOLO_KINDS and any(i in self._jobs and self._jobs[i].kind == kind for i in self._slots)

    def _fits(self, job: Job) -> bool:
        return len(self._slots) < self.max_running and not self._solo_running(job.kind)

    def _release(self, done: LiveRun | Job) -> None:
        """Free ``done``'s slot and admit queued jobs that now fit, first come first, under the same lock,
        so the slot cannot be taken between the two."""
        with self._lock:
            self._slots.discard(done.id)
            admitted = []
            for job in list(self._queue):
                if self._fits(job):
                    self._queue.remove(job)
                    self._slots.add(job.id)
                    admitted.append(job)
        for job in admitted:
            job.start(on_end=self._release)

    def _refusal(self, busy: int, more: int, owner: str) -> CapacityError:
        """The refusal, naming what of the slots' holders is the asker's own (under the lock): a student who
        left runs training on pages visited earlier learns that they hold the server, and which to stop."""
        mine = [r.label for r in self._runs.values() if r.id in self._slots and r.owner == owner]
        mine += [j.label for j in self._jobs.values() if j.id in self._slots and owner in j.watchers]
        yours = f" {len(mine)} of them yours ({', '.join(mine)}: Stop on its page)." if mine else ""
        return CapacityError(
            f"{busy} run(s) and job(s) are already training or measuring on this server and the limit is "
            f"{self.max_running}; this would start {more} more.{yours} Stop a run (or wait for one to finish) and "
            "try again — the limit is SEQLAB_MAX_RUNS."
        )

    # -- background jobs ---------------------------------------------------------------------------
    def submit(self, kind: str, label: str, owner: str, work, key: tuple | None = None) -> Job:
        """Admit a job (``seqlab.jobs.Job``): it starts now if a slot is free, else waits in the queue
        (kinds in ``QUEUED_KINDS``) or is refused with ``CapacityError``. With ``key`` the job is shared:
        an unfinished or completed job under that key is returned, with ``owner`` added to its watchers."""
        work = _single_threaded(work)
        with self._lock:
            known = self._shared.get(key) if key is not None else None
            if known is not None and known.status not in ("stopped", "failed"):
                known.watchers.add(owner)
                return known
            self._prune()
            job = Job(kind, label, owner, work, key)
            busy = len(self._slots)
            if self._fits(job):
                self._slots.add(job.id)
            elif kind in QUEUED_KINDS:
                waiting = sum(j.owner == owner for j in self._queue)
                if waiting >= QUEUED_PER_OWNER:
                    raise CapacityError(
                        f"you already have {waiting} jobs waiting for a slot on this server; stop one of them "
                        "(or wait for it to start) before queueing another"
                    )
                self._queue.append(job)
            else:
                raise self._refusal(busy, 1, owner)
            self._jobs[job.id] = job
            if key is not None:
                self._shared[key] = job
            queued = job in self._queue
        if not queued:
            job.start(on_end=self._release)
        return job

    def job(self, job_id: str | None) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id) if job_id else None

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def stop_job(self, job_id: str, owner: str) -> None:
        """Stop on behalf of ``owner``: it stops watching; the work stops only when no one watches it."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or owner not in job.watchers:
                return
            job.watchers.discard(owner)
            if job.watchers:
                return
            queued = job in self._queue
            if queued:
                self._queue.remove(job)
        if queued:
            job.cancel()
        job.stop()

    def forget_shared(self, key: tuple) -> None:
        """The next ``submit`` under ``key`` makes a new job (e.g. "Measure again")."""
        with self._lock:
            self._shared.pop(key, None)

    def status_text(self, job: Job) -> str:
        """A queued job's place ("waiting: 4 jobs running — starts when one ends (1st in line)"), else its
        phase and progress."""
        with self._lock:
            if job in self._queue:
                full = len(self._slots) >= self.max_running
                solo = "measurement" if not full and self._solo_running(job.kind) else None
                return waiting_text(len(self._slots), self._queue.index(job) + 1, solo)
        p = job.progress()
        return f"{job.label}: {p.phase or job.status} ({p.done:,} of {p.total:,})"

    def start_group(
        self, configs: list[tuple[str, RunConfig]], owner: str, observers=None, *, tag: str | None = None
    ) -> list[LiveRun]:
        """Start runs that belong together (a comparison): all of them, or none with a clear error.
        ``observers()`` makes extra observers for each run (e.g. an attention recorder); they are
        kept on the run as ``run.observers`` for the page to read. With ``tag`` the store records the runs
        as one group with that tag (``seqlab record``'s recordings); without, app runs stay ungrouped, since
        a group is what seed bands average over."""
        with self._lock:
            self._prune()
            busy = len(self._slots)
            if busy + len(configs) > self.max_running:
                raise self._refusal(busy, len(configs), owner)
            group = uuid.uuid4().hex[:8]
            runs = [LiveRun(cfg, owner, label=label, group=group) for label, cfg in configs]
            for r in runs:
                r._threads = self.threads_per_run
                self._runs[r.id] = r
                self._slots.add(r.id)
        started: list[LiveRun] = []
        try:
            for r in runs:
                recorder = None
                if self.store is not None:
                    grouped = {"group_id": group, "tag": tag, "source": "record"} if tag else {"source": "app"}
                    recorder = self.store.writer(r.id, name=r.label, **grouped)
                r.start(observers() if observers else (), on_end=self._release, recorder=recorder)
                started.append(r)
        except Exception:
            for r in started:
                r.stop()  # their threads free their own slots as they end
            with self._lock:
                for r in runs[len(started) :]:
                    self._slots.discard(r.id)
                for r in runs:
                    self._runs.pop(r.id, None)
            raise
        return runs

    def get(self, run_id: str) -> LiveRun | None:
        with self._lock:
            return self._runs.get(run_id)

    def visible(self, ids: list[str]) -> list[LiveRun]:
        """The runs with these ids that still exist (for a shared link or a session's own list)."""
        with self._lock:
            return [self._runs[i] for i in ids if i in self._runs]

    def owned_by(self, owner: str) -> list[LiveRun]:
        with self._lock:
            return [r for r in self._runs.values() if r.owner == owner]

    def stop(self, ids: list[str]) -> None:
        for r in self.visible(ids):
            r.stop()

    def forget(self, ids: list[str]) -> None:
        """Stop and drop runs (Reset)."""
        for r in self.visible(ids):
            r.stop()
        with self._lock:
            for i in ids:
                self._runs.pop(i, None)


def _single_threaded(work):
    def pinned(job):
        _use_threads(1)
        return work(job)

    return pinned
