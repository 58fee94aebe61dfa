"""Point runners for the sweep tests (module-level so a pool worker can import them by name), and a CLI
run interrupted mid-pool."""

import contextlib
import os
import signal
from pathlib import Path

from seqlab.sweep import PointJob, run_point


def killed_on_seed_1(job: PointJob) -> dict:
    """Seed 1's worker is killed outright (SIGKILL, as the OOM killer would) as its training starts: no
    Python error, no result. The patch lives only in that worker, which dies with it."""
    if job.flat["seed"] == 1:
        from seqlab.train.engine import Trainer

        Trainer.run = lambda self: os.kill(os.getpid(), signal.SIGKILL)
    return run_point(job)


def waits_for_stop() -> bool:
    """Says it started, then waits up to a minute for the pool's stop event: True if it came."""
    from seqlab import sweep

    sweep._STARTED.put(os.getpid())
    return sweep._STOP.wait(60)


def _pool_workers(session: int) -> list[int]:
    """Processes of ``session`` whose parent is a multiprocessing forkserver: the pool's workers."""
    procs: dict[int, tuple[int, int, str]] = {}  # pid -> (parent, session, command line)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:  # ended meanwhile
            continue
        procs[int(entry)] = (int(fields[1]), int(fields[3]), cmd)
    return [
        pid
        for pid, (parent, sid, _) in procs.items()
        if sid == session and "multiprocessing.forkserver" in procs.get(parent, (0, 0, ""))[2]
    ]


def interrupt_cli(argv: list[str], sig: int, whole_group: bool, timeout: float = 120) -> tuple[int, str, str]:
    """Run ``python -m seqlab *argv`` in its own session, send ``sig`` once a pool worker exists — to the whole
    group as a terminal's Ctrl-C does, or to the process alone as ``kill`` does — and return (exit code,
    stdout, stderr). stdout and stderr are read to their end, which every process of the session holds
    open: a worker left running makes this time out (and is killed with its session)."""
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "seqlab", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while not _pool_workers(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if whole_group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        return proc.returncode, out, err
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
