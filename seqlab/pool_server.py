"""The process pool's forkserver preload (``seqlab.sweep.worker_context``): Ctrl-C ignored, then what the
workers need (seqlab/sweep_worker.py).

A terminal's Ctrl-C reaches every process of its foreground group: the pool's owner, its forkserver and
every worker. Only the owner decides what it means (``Sweep.stop``/``Search.stop``: a stop event its workers
see between steps). A worker that took it itself raised ``KeyboardInterrupt`` mid-training and handed it back
as its point's result, a traceback for the owner to print; a forkserver that took it while importing torch
(seconds, before it ignores Ctrl-C on its own) died. So the server ignores it from its first line, and the
workers it forks inherit that. Ray's workers preload seqlab/sweep_worker.py without this: ``ray.cancel``
stops a running task with a Ctrl-C of its own.
"""

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)

from . import sweep_worker  # noqa: E402, F401
