"""The clock a complexity point's time is read from: the measuring thread's CPU time.

A timed step at one torch thread runs entirely on the thread that times it: the intra-op count is one (this
build's OpenMP count is the calling thread's: ``seqlab.train.live``), and autograd runs a CPU graph's
backward on the thread that calls ``backward``. Measured over steps of rnn, lstm, gru and gpt at n = 64 …
2048: the thread's CPU time equals the whole process's to four digits. So that CPU time is the step's work,
and a thread that waits for a core — other processes keeping the machine busier than its cores — does not
add to it, where the wall clock does. Measured at load 4–11 on 2 cores, the same steps on both clocks: the
quick panel's LSTM at n = 16 … 256 was 14.1, 14.7, 15.5, 23.6, 9.6 ms wall (exponent −0.04) and 2.3, 2.7,
3.5, 6.5, 9.5 ms CPU (0.54). Of 21 such curves (rnn, lstm, gru × 7 runs), 9 fell somewhere as n grew on the
wall clock, by up to 3.7×; 2 on CPU time, by at most 1.3× from n = 16 to 32, where their wall times dipped
too. Where the thread has a core to itself the two agree to 0.1 %, so a quiet machine's numbers and fitted
exponents are unchanged. What CPU time still counts is slower work: neighbours that thrash the caches and
memory bus stretched an RNN step at n = 2048 from 106 to 174 ms CPU.

With more torch threads (a caller that set them) the other threads' work would be missed, and where the
platform has no thread CPU clock there is none to read: both time with the wall clock, and the point
says so (``Timer.clock``), with the load it was measured at.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

THREAD_CPU, WALL = "thread-cpu", "wall"


def _thread_clock() -> Callable[[], float] | None:
    try:
        time.thread_time()
    except (AttributeError, OSError):  # a platform without CLOCK_THREAD_CPUTIME_ID
        return None
    return time.thread_time


@dataclass(frozen=True)
class Timer:
    """Milliseconds of one call on ``clock``."""

    clock: str
    now: Callable[[], float]

    def ms(self, fn: Callable[[], object]) -> float:
        t = self.now()
        fn()
        return (self.now() - t) * 1000


def timer() -> Timer:
    """The thread's CPU clock if this thread runs torch on one thread and the platform has the clock, else
    the wall clock (asked per measurement: the count is per thread)."""
    import torch

    thread_cpu = _thread_clock()
    if thread_cpu is not None and torch.get_num_threads() == 1:
        return Timer(THREAD_CPU, thread_cpu)
    return Timer(WALL, time.perf_counter)


def machine_load() -> float:
    """The 1-minute load average (runnable threads, ours included); 0 where the OS has none (Windows). The one
    reading of it: the live registry's thread rule and the benchmarks use it too."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def stamp(t: Timer) -> dict:
    """What a point's ``ms`` was measured with, kept beside it on disk: the clock and the machine's load."""
    return {"ms_clock": t.clock, "ms_load": round(machine_load(), 2)}


def bent_by_load(point: dict) -> bool:
    """A wall-clock time measured while more threads were runnable than the machine has cores (the cache
    key names the machine, so they are this machine's): other processes' load is in it, where a thread CPU
    time does not count that wait."""
    return point.get("ms_clock") == WALL and point.get("ms_load", 0.0) > (os.cpu_count() or 1)


def time_kept(point: dict) -> bool:
    """Whether a stored point's time is reused: not if it has none, nor if it is bent by load and the
    machine is quiet now (a later quiet visit measures it again; while still loaded, it is kept and noted)."""
    return "ms" in point and not (bent_by_load(point) and machine_load() <= (os.cpu_count() or 1))


def note(rows: list[dict]) -> str | None:
    """One sentence on what the rows' times are, for the CLI and the panels: thread CPU time, or how many
    are wall times and whether load bent them. None if no row has a time."""
    timed = [r for r in rows if r.get("ms") is not None]
    walls = [r for r in timed if r.get("ms_clock") == WALL]
    bent = [r for r in walls if bent_by_load(r)]
    cores = os.cpu_count() or 1
    if bent:
        load = max(r["ms_load"] for r in bent)
        return (
            f"{len(bent)} of {len(timed)} times are wall times measured at load {load:.1f} on {cores} cores, so "
            f"other processes' load is in them; the first measurement that finds the load below {cores} replaces them"
        )
    if walls:
        return (
            f"{len(walls)} of {len(timed)} times are wall times (no thread CPU clock on this platform, or torch "
            "ran more than one thread), measured while the machine was not busier than its cores"
        )
    if timed:
        return "times are the measuring thread's CPU time (1 torch thread): other processes' load does not add to it"
    return None
