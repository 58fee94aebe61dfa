"""Background jobs beside the live runs: searches, experiments, complexity sweeps and measurements.

A ``Job`` is one piece of work in its own thread, with an owner (a browser session), a kind, a
label, progress (done of total, and a phase), a Stop, a status, a typed result and an error. Jobs
are admitted by the same ``RunRegistry`` as training runs (``seqlab.train.live``) and take one of
its ``SEQLAB_MAX_RUNS`` slots at admission, under its lock, so the cap bounds everything that trains
or measures in the process, not just the runs.

What happens when no slot is free depends on the kind (``QUEUED_KINDS``): a run is refused at once
(its page is live curves; a run that starts minutes later, unseen, would surprise), while a search,
an experiment or a measurement waits in a first-come queue and says so — "waiting: 4 jobs running —
starts when one ends (1st in line)" — since its result, not its start, is what the user waits for.
A queued job starts in the thread that frees a slot, still under the lock, so no one can take the
slot in between. Measurements run one at a time (``SOLO_KINDS``): timings taken side by side distort
each other, and the measurements a page asks for when it opens must not fill the slots its Train needs.
So a queued job waits either for a slot or for the measurement ahead of it, and says which.

A job made under a ``key`` (a measurement: a fact about the machine, the same for every session) is
shared: a second session asking for it gets the same job and becomes one of its *watchers*. Stop
from one session only removes that watcher; the work stops when no watcher is left, so one session
can never stop what another still waits for.

At interpreter exit (the server stopped, the CLI interrupted) every run and job still working is asked
to stop and waited for, up to ``EXIT_WAIT_SECONDS`` in all (``stop_all_at_exit``). Their threads are
daemons so that they never hold the process open, but a daemon thread still inside a torch op when the
interpreter finalizes is unwound by ``pthread_exit`` through torch's C++ frames and the process aborts
("terminate called without an active exception", exit 134) — after losing the run's last records.
"""

from __future__ import annotations

import atexit
import concurrent.futures.process  # noqa: F401 - their exit hooks (join the pools) must be registered before ours
import concurrent.futures.thread  # noqa: F401
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# a stopped run ends at its next step; a step of a big model on a loaded machine took ~1.4 s here, so
# this leaves room for several while a server's stop stays prompt
EXIT_WAIT_SECONDS = 10.0

# kinds that wait for a slot; any other kind (a "run") is refused when the server is full
QUEUED_KINDS = frozenset({"search", "experiment", "sweep", "measure"})
# kinds of which at most one runs at a time; the next waits in the queue even when slots are free
SOLO_KINDS = frozenset({"measure"})


class Stopped(Exception):  # noqa: N818 - an outcome, not an error: the job ends as "stopped"
    """Raised by ``Job.check()`` inside work that has no result worth keeping once stopped."""


@dataclass(frozen=True)
class Progress:
    done: int = 0
    total: int = 1
    phase: str = ""

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / max(1, self.total))


class Job:
    """One background job. ``work(job)`` runs in the job's thread and returns its result; it reports
    with ``job.report(done, total, phase)`` (or hands a reader to ``progress_from``), and ``on_stop``
    registers what Stop must call (e.g. ``search.stop``); ``job.stopping`` tells it to wrap up."""

    def __init__(self, kind: str, label: str, owner: str, work: Callable[[Job], Any], key: tuple | None = None):
        self.id = uuid.uuid4().hex[:10]
        self.kind, self.label, self.owner, self.key = kind, label, owner, key
        self.watchers = {owner}
        self.status = "queued"
        self.result: Any = None
        self.error: str | None = None
        self.created = time.time()
        self._work = work
        self._lock = threading.Lock()
        self._ended = threading.Event()
        self._stop = threading.Event()
        self._on_stop: list[Callable[[], None]] = []
        self._progress = Progress()
        self._reader: Callable[[], Progress] | None = None
        self._thread: threading.Thread | None = None

    # -- called from the work ------------------------------------------------------------------
    def report(self, done: int, total: int, phase: str = "") -> None:
        with self._lock:
            self._progress = Progress(done, total, phase)

    def progress_from(self, reader: Callable[[], Progress]) -> None:
        """Read progress from ``reader()`` instead (e.g. an experiment's own step counter)."""
        self._reader = reader

    def on_stop(self, fn: Callable[[], None]) -> None:
        with self._lock:
            self._on_stop.append(fn)
            stopping = self._stop.is_set()
        if stopping:
            fn()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def check(self) -> None:
        """Raise ``Stopped`` if Stop was pressed (for work that checks between its pieces)."""
        if self._stop.is_set():
            raise Stopped

    # -- called by the registry and the pages --------------------------------------------------
    def progress(self) -> Progress:
        reader = self._reader
        if reader is not None:
            return reader()
        with self._lock:
            return self._progress

    def stop(self) -> None:
        """Ask the work to stop (a queued job never starts; the registry drops it from the queue)."""
        self._stop.set()
        with self._lock:
            hooks = list(self._on_stop)
        for fn in hooks:
            fn()

    def start(self, on_end: Callable[[Job], None]) -> None:
        self.status = "running"
        self._thread = threading.Thread(target=self._run, args=(on_end,), name=f"seqlab-{self.kind}-{self.id}")
        self._thread.daemon = True
        start_working(self, self._thread)

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, on_end: Callable[[Job], None]) -> None:
        try:
            result = self._work(self)
            with self._lock:
                self.result, self.status = result, "stopped" if self._stop.is_set() else "completed"
        except Stopped:
            with self._lock:
                self.status = "stopped"
        except Exception as e:  # noqa: BLE001 - the error is the job's outcome, shown on its page
            with self._lock:
                self.status, self.error = "failed", f"{type(e).__name__}: {e}"
        finally:
            self._end(on_end)

    def _end(self, on_end: Callable[[Job], None] | None = None) -> None:
        try:
            if on_end is not None:
                on_end(self)
        finally:
            self._ended.set()
            done_working(self)

    def cancel(self) -> None:
        """End a job that never started (stopped while queued)."""
        self.status = "stopped"
        self._ended.set()

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has ended (True) or ``timeout`` passed (False)."""
        return self._ended.wait(timeout)


# runs and jobs whose thread was started and has not ended, by id() (a LiveRun, a dataclass, has no hash);
# each has stop() and join(timeout)
_working: dict[int, Any] = {}
_working_lock = threading.Lock()
_closing = threading.Event()  # set at exit: work started from then on (a queued job given a freed slot) stops at once


def working(worker) -> None:
    """Count ``worker`` (a run or a job) among those ``stop_all_at_exit`` stops; call before its thread starts."""
    with _working_lock:
        _working[id(worker)] = worker
    if _closing.is_set():
        worker.stop()


def start_working(worker, thread: threading.Thread) -> None:
    """Start ``worker``'s ``thread``, counted among those ``stop_all_at_exit`` stops from before it runs."""
    working(worker)
    try:
        thread.start()
    except BaseException:
        done_working(worker)
        raise


def done_working(worker) -> None:
    """The last act of a worker's thread (or of a start that failed)."""
    with _working_lock:
        _working.pop(id(worker), None)


def stop_all_at_exit(timeout: float | None = None) -> list:
    """Stop every run and job still working and wait for them, ``timeout`` seconds in all (default
    ``EXIT_WAIT_SECONDS``), so their threads are out of torch and their ends recorded before the
    interpreter finalizes. Returns those still working after the wait (logged: they may abort the exit)."""
    wait = EXIT_WAIT_SECONDS if timeout is None else timeout
    deadline = time.monotonic() + wait
    _closing.set()
    stopped: set[int] = set()
    while True:
        with _working_lock:
            workers = list(_working.values())
        for w in workers:
            if id(w) not in stopped:
                stopped.add(id(w))
                w.stop()
        remaining = deadline - time.monotonic()
        if not workers or remaining <= 0:
            break
        # one at a time, then look again: an ending run may have started a queued job in its slot
        workers[0].join(min(remaining, 0.5))
    for w in workers:
        log.warning(
            "%s %r (%s) still working %g s after it was asked to stop at exit", type(w).__name__, w.label, w.id, wait
        )
    return workers


# threading's exit hooks run, last registered first, before Python joins the non-daemon threads — a
# search's trial pool among them, which would otherwise finish every trial in flight first; atexit's
# hooks run only after that join. So ours goes with threading's, after the pools' own hook.
try:
    threading._register_atexit(stop_all_at_exit)
except AttributeError:  # a Python without the hook (it is CPython's, 3.9+)
    atexit.register(stop_all_at_exit)


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def waiting_text(busy: int, position: int, behind_solo: str | None = None) -> str:
    """What a queued job shows instead of a bare "pending"; ``behind_solo`` names the kind it waits on
    when slots are free but one of its kind already runs (measurements go one at a time)."""
    if behind_solo:
        return f"waiting: another {behind_solo} is running — one at a time ({ordinal(position)} in line)"
    jobs = "job" if busy == 1 else "jobs"
    return f"waiting: {busy} {jobs} running — starts when one ends ({ordinal(position)} in line)"
